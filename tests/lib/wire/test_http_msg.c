/* HTTP head handling for the L7 proxy: parsing under limits, smuggling
 * refusals and the forwarding rewrite (SPEC L7-1, L7-4). Pure code. */
#include "lib/wire/http_msg.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

struct parsed {
	struct http_head *head;
	struct http_parser p;
	enum http_parse_status last;
	int heads, dones;
	char body[256];
	size_t body_len;
};

static int collect_body(void *ctx, const char *data, size_t len)
{
	struct parsed *x = ctx;
	if (x->body_len + len < sizeof(x->body)) {
		memcpy(x->body + x->body_len, data, len);
		x->body_len += len;
	}
	return 0;
}

/* Feeds `text` in pieces of `step` bytes, resuming after heads and
 * messages; stops at the first error or after `max_msgs` messages. */
static void parse(struct parsed *x, const char *text, size_t step, size_t max_head, size_t max_hdrs,
                  int max_msgs)
{
	size_t len = strlen(text), off = 0;

	memset(x, 0, sizeof(*x));
	x->head = http_head_new(max_head, max_hdrs);
	cr_assert(x->head);
	http_parser_init(&x->p, true, x->head, collect_body, x);
	bool kick = false;
	while ((off < len || kick) && x->dones < max_msgs) {
		size_t n = len - off < step ? len - off : step, used;
		kick = false;
		x->last = http_parser_feed(&x->p, text + off, n, &used);
		off += used;
		if (x->last == HTTP_PARSE_ERROR)
			return;
		if (x->last == HTTP_PARSE_HEAD) {
			x->heads++;
			http_parser_resume(&x->p);
			kick = true;
		} else if (x->last == HTTP_PARSE_DONE) {
			x->dones++;
			if (x->dones < max_msgs)
				http_parser_resume(&x->p);
		}
	}
}

static void parsed_free(struct parsed *x)
{
	http_head_free(x->head);
}

static const char *hv(struct parsed *x, const char *name)
{
	static char buf[512];
	size_t n;
	const char *v = http_head_get(x->head, name, &n);
	if (!v)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", (int)n, v);
	return buf;
}

Test(http_msg, parses_a_request_fed_one_byte_at_a_time)
{
	struct parsed x;
	parse(&x,
	      "POST /a/b?c=d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Y:  v  \r\n\r\nhello", 1,
	      4096, 10, 1);
	cr_assert_eq(x.dones, 1);
	cr_assert_eq(x.head->method, HTTP_POST);
	cr_assert_eq(x.head->target_len, 8);
	cr_assert(strncmp(http_head_target(x.head), "/a/b?c=d", 8) == 0);
	cr_assert_eq(x.head->body, HTTP_BODY_LENGTH);
	cr_assert_eq(x.head->content_length, 5);
	cr_assert_str_eq(hv(&x, "x-y"), "v");
	cr_assert_eq(x.body_len, 5);
	parsed_free(&x);
}

Test(http_msg, decodes_chunked_bodies)
{
	struct parsed x;
	parse(&x,
	      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
	      7, 4096, 10, 1);
	cr_assert_eq(x.dones, 1);
	cr_assert_eq(x.head->body, HTTP_BODY_CHUNKED);
	cr_assert_eq(x.body_len, 5);
	cr_assert(memcmp(x.body, "abcde", 5) == 0);
	parsed_free(&x);
}

Test(http_msg, pipelined_requests_come_one_at_a_time)
{
	struct parsed x;
	parse(&x, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 1000,
	      4096, 10, 1);
	/* The parser paused after the first message; the second waits. */
	cr_assert_eq(x.dones, 1);
	cr_assert_eq(x.heads, 1);
	cr_assert(strncmp(http_head_target(x.head), "/1", 2) == 0);
	parsed_free(&x);
}

static void expect_refused(const char *req, int status)
{
	struct parsed x;
	parse(&x, req, 1000, 4096, 10, 1);
	cr_assert_eq(x.last, HTTP_PARSE_ERROR, "accepted: %s", req);
	cr_assert_eq(x.p.error_status, status, "%s: status %d (%s)", req, x.p.error_status,
	             x.p.why);
	parsed_free(&x);
}

Test(http_msg, refuses_request_smuggling_attempts)
{
	expect_refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	               "Transfer-Encoding: chunked\r\n\r\n",
	               400);
	expect_refused(
	    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400);
	expect_refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400);
	expect_refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	               501);
	expect_refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	               "Transfer-Encoding: chunked\r\n\r\n",
	               400);
	expect_refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc", 400);
	expect_refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\nHost: h\n\n", 400);
	expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_refused("GET / HTTP/1.1\r\n\r\n", 400);
	expect_refused("GET http://other/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_refused("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_refused("GET /a/%2e%2E/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_refused("GET /a%2fb HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	expect_refused("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 405);
	expect_refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	expect_refused("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400);
}

Test(http_msg, head_over_the_byte_limit_is_431)
{
	char req[8192];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	memset(req + n, 'x', 5000);
	strcpy(req + n + 5000, "\r\n\r\n");
	expect_refused(req, 431);
}

Test(http_msg, too_many_headers_is_431)
{
	char req[4096];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < 12; i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, "X-%d: v\r\n", i);
	strcpy(req + n, "\r\n");
	struct parsed x;
	parse(&x, req, 1000, 65536, 10, 1);
	cr_assert_eq(x.p.error_status, 431);
	parsed_free(&x);
}

Test(http_msg, padding_counts_towards_the_head_limit)
{
	/* Whitespace after the colon is not stored but is still head. */
	char req[8192];
	int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: h\r\nX:");
	memset(req + n, ' ', 5000);
	strcpy(req + n + 5000, "v\r\n\r\n");
	struct parsed x;
	parse(&x, req, 512, 2048, 10, 1);
	cr_assert_eq(x.p.error_status, 431, "status %d", x.p.error_status);
	parsed_free(&x);
}

static const char *rewrite(const char *req, bool tls, const char *login, const char *name)
{
	static char out[8192];
	struct parsed x;
	parse(&x, req, 1000, 8192, 50, 1);
	cr_assert_eq(x.p.error_status, 0, "%s", x.p.why);
	const char *t = http_head_target(x.head);
	struct http_forward fw = {
	    .target = t,
	    .target_len = x.head->target_len,
	    .client_ip = "100.64.0.2",
	    .tls = tls,
	    .user_login = login,
	    .user_name = name,
	    .body = x.head->body,
	    .content_length = x.head->content_length,
	};
	int n = http_msg_write_request(x.head, &fw, out, sizeof(out));
	cr_assert_gt(n, 0);
	out[n] = '\0';
	parsed_free(&x);
	return out;
}

Test(http_msg, rewrite_removes_client_sent_forwarding_and_identity_headers_L7_4)
{
	const char *out = rewrite("GET /x HTTP/1.1\r\nHost: web.ts.net\r\n"
	                          "X-Forwarded-For: 1.2.3.4\r\nX-FORWARDED-HOST: evil\r\n"
	                          "x-forwarded-proto: https\r\nTailscale-User-Login: eve\r\n"
	                          "Tailscale-User-Name: Eve\r\nTailscale-User-Profile-Pic: p\r\n"
	                          "Tailscale-Headers-Info: i\r\nAccept: */*\r\n\r\n",
	                          false, "alice@example.com", "Alice");
	cr_assert(strstr(out, "GET /x HTTP/1.1\r\n") == out, "%s", out);
	cr_assert(strstr(out, "Host: web.ts.net\r\n"), "%s", out);
	cr_assert(strstr(out, "Accept: */*\r\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-For: 100.64.0.2\r\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Host: web.ts.net\r\n"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Proto: http\r\n"), "%s", out);
	cr_assert(strstr(out, "Tailscale-User-Login: alice@example.com\r\n"), "%s", out);
	cr_assert(strstr(out, "Tailscale-User-Name: Alice\r\n"), "%s", out);
	const char *gone[] = {"1.2.3.4", "evil", "eve", "Eve", "Profile-Pic", ": i\r\n"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		cr_assert_null(strstr(out, gone[i]), "%s survived:\n%s", gone[i], out);
}

Test(http_msg, rewrite_without_identity_sets_no_user_headers_L7_4)
{
	const char *out = rewrite("GET / HTTP/1.1\r\nHost: h\r\nTailscale-User-Login: eve\r\n\r\n",
	                          true, NULL, NULL);
	cr_assert_null(strstr(out, "Tailscale-"), "%s", out);
	cr_assert(strstr(out, "X-Forwarded-Proto: https\r\n"), "%s", out);
}

Test(http_msg, rewrite_encodes_non_ascii_names)
{
	const char *out = rewrite("GET / HTTP/1.1\r\nHost: h\r\n\r\n", false, "a@b", "Zoë Ü_x=?");
	cr_assert(strstr(out, "Tailscale-User-Name: =?utf-8?q?Zo=C3=AB_=C3=9C=5Fx=3D=3F?=\r\n"),
	          "%s", out);
}

Test(http_msg, rewrite_drops_hop_by_hop_headers)
{
	const char *out =
	    rewrite("POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, host\r\n"
	            "X-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: ws\r\n"
	            "Proxy-Authorization: p\r\nTransfer-Encoding: chunked\r\n\r\n"
	            "0\r\n\r\n",
	            false, NULL, NULL);
	const char *gone[] = {"Connection", "X-Secret", "Keep-Alive",
	                      "TE:",        "Upgrade",  "Proxy-Authorization"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		cr_assert_null(strstr(out, gone[i]), "%s survived:\n%s", gone[i], out);
	cr_assert(strstr(out, "Host: h\r\n"), "Connection removed Host:\n%s", out);
	/* Framing is the proxy's own: chunked again, exactly once. */
	cr_assert(strstr(out, "Transfer-Encoding: chunked\r\n"), "%s", out);
}

Test(http_msg, response_rewrite_reframes_and_keeps_head_lengths)
{
	struct http_head *h = http_head_new(4096, 20);
	struct http_parser p;
	size_t used;
	char out[1024];
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n"
	                   "X-Up: 1\r\n\r\n";

	http_parser_init(&p, false, h, NULL, NULL);
	http_parser_expect_no_body(&p, true); /* answering HEAD */
	cr_assert_eq(http_parser_feed(&p, resp, strlen(resp), &used), HTTP_PARSE_HEAD);
	cr_assert_eq(h->body, HTTP_BODY_NONE);
	int n = http_msg_write_response(h, HTTP_BODY_NONE, 0, false, out, sizeof(out));
	cr_assert_gt(n, 0);
	out[n] = '\0';
	cr_assert(strstr(out, "Content-Length: 10\r\n"), "%s", out);
	cr_assert_null(strstr(out, "Connection"), "%s", out);
	cr_assert(strstr(out, "X-Up: 1\r\n"), "%s", out);
	http_parser_resume(&p);
	cr_assert_eq(http_parser_feed(&p, "", 0, &used), HTTP_PARSE_DONE);
	http_head_free(h);
}

Test(http_msg, close_delimited_response_ends_at_eof)
{
	struct http_head *h = http_head_new(4096, 20);
	struct http_parser p;
	size_t used;
	const char *resp = "HTTP/1.1 200 OK\r\n\r\nabc";

	http_parser_init(&p, false, h, NULL, NULL);
	cr_assert_eq(http_parser_feed(&p, resp, strlen(resp), &used), HTTP_PARSE_HEAD);
	cr_assert_eq(h->body, HTTP_BODY_EOF);
	http_parser_resume(&p);
	cr_assert_eq(http_parser_feed(&p, resp + used, strlen(resp) - used, &used),
	             HTTP_PARSE_MORE);
	cr_assert_eq(http_parser_finish(&p), HTTP_PARSE_DONE);
	http_head_free(h);
}

Test(http_msg, path_cleanliness)
{
	cr_assert(http_msg_path_is_clean("/", 1));
	cr_assert(http_msg_path_is_clean("/a/b.c/..d/", 11));
	cr_assert(http_msg_path_is_clean("/a%20b", 6));
	cr_assert_not(http_msg_path_is_clean("/a/.", 4));
	cr_assert_not(http_msg_path_is_clean("/./a", 4));
	cr_assert_not(http_msg_path_is_clean("/a/%2E/b", 8));
	cr_assert_not(http_msg_path_is_clean("/a\\b", 4));
	cr_assert_not(http_msg_path_is_clean("/a%00", 5));
	cr_assert_not(http_msg_path_is_clean("/a%2", 4));
	cr_assert_not(http_msg_path_is_clean("a", 1));
}

/* RFC 9110 section 15's reason phrases (and RFC 6585's 429 and 431), as
 * this test knows them: not read from the table under test. */
static const struct {
	int status;
	const char *phrase;
} rfc_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

static const char *rfc_reason(int status)
{
	for (size_t i = 0; i < sizeof(rfc_reasons) / sizeof(rfc_reasons[0]); i++)
		if (rfc_reasons[i].status == status)
			return rfc_reasons[i].phrase;
	return NULL;
}

/* The status line http_msg_write_simple puts on the wire for `status`
 * carries its RFC reason phrase. */
static void assert_status_line(int status, const char *where)
{
	char head[256], want[96];
	const char *phrase = rfc_reason(status);

	cr_assert_not_null(phrase, "%s sends %d: add its RFC phrase to this test", where, status);
	cr_assert_gt(http_msg_write_simple(status, NULL, 0, false, NULL, false, head, sizeof(head)),
	             0);
	snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", status, phrase);
	cr_assert_eq(strncmp(head, want, strlen(want)), 0, "%s: %d: got \"%.40s\", want \"%s\"",
	             where, status, head, want);
}

/* Every status literal on a line of `file` that sends an answer (the
 * reply helpers of the admin API and the L7 proxy, or a status
 * assignment) goes through assert_status_line; seen[s - 100] marks it. */
static void walk_source(const char *file, bool seen[500])
{
	static const char *const senders[] = {"ctl_admin_error(",
	                                      "ctl_admin_reply(",
	                                      "ctl_admin_json(",
	                                      "http_msg_write_simple(",
	                                      "http_msg_write_interim(",
	                                      "hp_local_error(",
	                                      "hp_local_mem(",
	                                      "hp_up_fail(",
	                                      "hp_error(",
	                                      "status",
	                                      "return 4",
	                                      "return 5",
	                                      "return 2"};
	char path[512], line[1024];

	snprintf(path, sizeof(path), "%s/%s", SOURCE_DIR, file);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	while (fgets(line, sizeof(line), f)) {
		bool sends = false;
		for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]) && !sends; i++)
			sends = strstr(line, senders[i]) != NULL;
		if (!sends || strstr(line, "#define") || strstr(line, "CHECK("))
			continue;
		for (const char *p = line; *p; p++) {
			bool digit3 = p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
			              p[2] >= '0' && p[2] <= '9';
			bool before = p > line && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '_' ||
			                           p[-1] == '.' || p[-1] == 'x');
			bool after = (p[3] >= '0' && p[3] <= '9') || p[3] == '.';
			if (!digit3 || before || after)
				continue;
			int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
			assert_status_line(status, file);
			seen[status - 100] = true;
			p += 2;
		}
	}
	fclose(f);
}

/* walk_source over every .c file directly in `folder`. */
static void walk_folder(const char *folder, bool seen[500])
{
	char path[512], file[768];

	snprintf(path, sizeof(path), "%s/%s", SOURCE_DIR, folder);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	size_t files = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t len = strlen(e->d_name);
		if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", folder, e->d_name);
		walk_source(file, seen);
		files++;
	}
	closedir(d);
	cr_assert_gt(files, 0, "no C files in %s", path);
}

Test(http_msg, l7_1_svc_6_every_status_the_admin_api_and_the_l7_proxy_send_has_its_reason_phrase)
{
	bool seen[500] = {false};

	/* Whole folders, so a file split off later is still read. */
	walk_folder("control", seen);
	walk_folder("proxy/l7", seen);
	walk_source("lib/wire/http_msg.c", seen);
	/* The walk found the answers it must (a broken scan passes nothing). */
	static const int must[] = {100, 200, 301, 400, 401, 403, 404, 405,
	                           408, 409, 413, 431, 500, 502, 503, 504};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		cr_assert(seen[must[i] - 100], "the source walk missed %d", must[i]);
	/* The whole RFC list, and the interim response control writes. */
	for (size_t i = 0; i < sizeof(rfc_reasons) / sizeof(rfc_reasons[0]); i++) {
		cr_assert_str_eq(http_msg_reason(rfc_reasons[i].status), rfc_reasons[i].phrase);
		assert_status_line(rfc_reasons[i].status, "the RFC list");
	}
	char cont[64];
	cr_assert_eq(http_msg_write_interim(100, cont, sizeof(cont)), 25);
	cr_assert_str_eq(cont, "HTTP/1.1 100 Continue\r\n\r\n");
	/* Unregistered codes still get a phrase: their class's name. */
	cr_assert_str_eq(http_msg_reason(599), "Server Error");
	cr_assert_str_eq(http_msg_reason(499), "Client Error");
}
