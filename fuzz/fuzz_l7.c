/* libFuzzer target: the whole L7 request path (SPEC REL-2), not only the
 * message parser. One http_proxy per input on an in-memory seam (mem_io.h),
 * with routes to an upstream the harness plays, text handlers, a file and a
 * directory handler over a small tree made once per process (links out of
 * the root among them); two or three client connections send pipelined
 * requests in chunks the fuzzer picks, with time passing, half-closes,
 * resets, slow readers, a handler change, a drain and an abort in between.
 *
 * Input: sections split by 0xff: control bytes, then the bytes of each
 * client connection (up to three), then one section per upstream answer
 * (first byte: '!' reset, '.' silent, '^' answer then close, '@' answer
 * as soon as the head arrives, anything else: answer after the request).
 *
 * Marks are single bytes from 0xf0 up, which the harness removes from all
 * the fuzzer supplies (so a mark split by re-chunking is still seen): the
 * requests of connection i carry its secret 0xf0+i (Authorization and
 * Cookie headers the harness adds after each request line); the upstream's
 * answers to connection i carry 0xf8+i wherever the script has 0xf8 (and in
 * the default answer); the file outside the root holds 0xfe. Invariants:
 *  - a response on connection i holds no mark but 0xf8+i: no secret of any
 *    request (its own headers included), no other connection's answer,
 *    nothing of the file outside the root;
 *  - every request the upstream receives parses, and carries only the
 *    secret of the client named by its X-Forwarded-For;
 *  - no event carries a mark, and every event's fields are valid JSON;
 *  - no op on a closed handle (mem_io), no livelock; after http_proxy_free
 *    no handle, timer or file descriptor is left, and nothing leaks (ASan).
 */
#define _GNU_SOURCE
#include "fuzz/fuzz.h"
#include "fuzz/mem_io.h"

#include "lib/wire/http_msg.h"
#include "proxy/l7/http_proxy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define L7_CONNS     3
#define L7_UPS       64     /* upstream connections per input; later ones are reset */
#define L7_STEPS     200000 /* callbacks in one settle; more is a livelock */
#define L7_MARK      0xf0   /* bytes from here up are marks */
#define L7_SECRET    0xf0   /* + connection: in its requests */
#define L7_ANSWER    0xf8   /* + connection: in the upstream's answers to it */
#define L7_FREE      0xef   /* what a mark in the fuzzer's bytes becomes */
#define L7_SEP       0xff
#define L7_OUTSIDE   "OUTSIDE\xfeTHE\xfeROOT\n"
#define L7_UP_PORT   8080
#define L7_DOWN_PORT 8081

/* The served tree, made once per process. */
static char l7_tree[64];

static void l7_rm_tree(void)
{
	char cmd[128];

	if (l7_tree[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", l7_tree);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz_l7: could not remove %s\n", l7_tree);
	}
}

static void l7_put(const char *rel, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", l7_tree, rel);
	FILE *f = fopen(p, "w");
	FUZZ_ASSERT(f);
	fputs(text, f);
	fclose(f);
}

static void l7_dir(const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", l7_tree, rel);
	FUZZ_ASSERT(mkdir(p, 0755) == 0);
}

static void l7_link(const char *target, const char *rel)
{
	char p[PATH_MAX], t[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", l7_tree, rel);
	if (target[0] == '@') /* absolute, in the tree */
		snprintf(t, sizeof(t), "%s/%s", l7_tree, target + 1);
	else
		snprintf(t, sizeof(t), "%s", target);
	FUZZ_ASSERT(symlink(t, p) == 0);
}

static void l7_make_tree(void)
{
	char p[PATH_MAX], big[20001];

	snprintf(l7_tree, sizeof(l7_tree), "/tmp/fuzz-l7-XXXXXX");
	FUZZ_ASSERT(mkdtemp(l7_tree));
	atexit(l7_rm_tree);
	l7_put("outside.txt", L7_OUTSIDE);
	l7_dir("outdir");
	l7_put("outdir/index.html", L7_OUTSIDE);
	l7_put("outdir/x.txt", L7_OUTSIDE);
	l7_dir("root");
	l7_put("root/a.txt", "alpha\n");
	l7_put("root/b&<\"'>.html", "<p>b</p>\n");
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	l7_put("root/big.bin", big);
	l7_dir("root/sub");
	l7_put("root/sub/index.html", "<h1>sub</h1>\n");
	l7_dir("root/list");
	l7_put("root/list/one", "1\n");
	l7_dir("root/list/a&b<c>");
	l7_link("@outside.txt", "root/escape");
	l7_link("@outdir", "root/escdir");
	l7_link("../outside.txt", "root/rel");
	l7_dir("root/evil");
	l7_link("@outside.txt", "root/evil/index.html");
	l7_dir("root/evil2");
	l7_link("../../outside.txt", "root/evil2/index.html");
	l7_dir("root/evil3");
	l7_link("../../outdir", "root/evil3/index.html");
	l7_link("a.txt", "root/inlink");
	l7_link("sub", "root/dirlink");
	l7_link("loop", "root/loop");
	l7_dir("root/idxdir");
	l7_dir("root/idxdir/index.html");
	snprintf(p, sizeof(p), "%s/root/fifo", l7_tree);
	FUZZ_ASSERT(mkfifo(p, 0644) == 0);
}

/* --- one run ---------------------------------------------------------------------- */

struct l7_client {
	int peer;
	struct io_addr addr;
	char *data; /* what it sends: the fuzzer's bytes with the secrets added */
	size_t len, off;
	bool eager; /* reads whenever it can (else only when told, and at the end) */
	bool done;  /* closed by the harness */
	uint64_t got;
};

struct l7_up {
	int peer;
	struct http_head *head;
	struct http_parser parser;
	int conn;      /* the client of the request being received, -1 before its head */
	bool answered; /* the current request has its answer (or none coming) */
	bool close_after;
	bool silent;
	char *out;
	size_t out_len, out_off;
};

struct l7_run {
	struct mem_io *m;
	struct http_proxy *proxy;
	struct l7_client cl[L7_CONNS];
	size_t n_cl;
	struct l7_up up[L7_UPS];
	size_t n_up;
	const uint8_t *script[256]; /* upstream answers */
	size_t script_len[256], n_script, next_script;
};

static bool l7_is_mark(char ch)
{
	return (unsigned char)ch >= L7_MARK;
}

/* The fuzzer's bytes for connection `i`, marks removed, with the secret
 * headers added after every request line. */
static char *l7_client_bytes(const uint8_t *d, size_t n, int i, size_t *out_len)
{
	static const char *const lines[] = {" HTTP/1.1\r\n", " HTTP/1.0\r\n"};
	char hdr[96];
	int hl = snprintf(hdr, sizeof(hdr), "Authorization: Bearer tok%c%c\r\nCookie: k=%c\r\n",
	                  L7_SECRET + i, L7_SECRET + i, L7_SECRET + i);
	/* A request line ends every 11 bytes at most. */
	char *out = malloc(n + (n / 11 + 1) * (size_t)hl + 1);
	size_t o = 0;

	FUZZ_ASSERT(out);
	for (size_t k = 0; k < n; k++) {
		out[o++] = l7_is_mark((char)d[k]) ? (char)L7_FREE : (char)d[k];
		for (size_t j = 0; j < 2; j++) {
			size_t ll = strlen(lines[j]);
			if (o >= ll && memcmp(out + o - ll, lines[j], ll) == 0) {
				memcpy(out + o, hdr, (size_t)hl);
				o += (size_t)hl;
			}
		}
	}
	*out_len = o;
	return out;
}

/* Response bytes on client `i` hold no mark but that of its own answers;
 * else say what leaked. */
static void l7_check_response(int i, const char *d, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		unsigned char ch = (unsigned char)d[k];
		if (ch < L7_MARK || ch == L7_ANSWER + i)
			continue;
		size_t from = k > 60 ? k - 60 : 0, to = n - k > 60 ? k + 60 : n;
		fprintf(stderr, "fuzz_l7: response on connection %d holds mark %#x: %.*s\n", i, ch,
		        (int)(to - from), d + from);
		FUZZ_ASSERT(ch != 0xfe);          /* the file outside the root */
		FUZZ_ASSERT(ch != L7_SECRET + i); /* this request's own headers */
		FUZZ_ASSERT(ch >= L7_ANSWER);     /* another connection's secret */
		FUZZ_ASSERT(!"another connection's answer");
	}
}

static void l7_client_read(struct l7_run *r, size_t i, size_t max)
{
	struct l7_client *c = &r->cl[i];
	char buf[4096];

	while (!c->done && max > 0) {
		ssize_t n =
		    mem_io_peer_read(r->m, c->peer, buf, max < sizeof(buf) ? max : sizeof(buf));
		if (n <= 0)
			break;
		l7_check_response((int)i, buf, (size_t)n);
		c->got += (uint64_t)n;
		max -= (size_t)n;
	}
}

static void l7_client_send(struct l7_run *r, size_t i, size_t n)
{
	struct l7_client *c = &r->cl[i];

	if (c->done)
		return;
	if (n > c->len - c->off)
		n = c->len - c->off;
	if (n == 0)
		return;
	ssize_t w = mem_io_peer_write(r->m, c->peer, c->data + c->off, n);
	if (w > 0)
		c->off += (size_t)w;
}

/* --- the upstream the harness plays ------------------------------------------------------ */

static void l7_up_out(struct l7_up *u, const void *d, size_t n)
{
	u->out = realloc(u->out, u->out_len + n + 1);
	FUZZ_ASSERT(u->out);
	memcpy(u->out + u->out_len, d, n);
	u->out_len += n;
}

/* Bytes the upstream received for client `conn` hold only its secret. */
static void l7_up_marks(int conn, const char *d, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		unsigned char ch = (unsigned char)d[k];
		if (ch >= L7_MARK)
			FUZZ_ASSERT(conn >= 0 && ch == L7_SECRET + conn); /* another client's */
	}
}

static int l7_up_body(void *ctx, const char *d, size_t n)
{
	struct l7_up *u = ctx;

	l7_up_marks(u->conn, d, n);
	return 0;
}

/* The client a forwarded head speaks for, from its X-Forwarded-For. */
static int l7_up_client(const struct http_head *h)
{
	size_t len;
	const char *v = http_head_get(h, "x-forwarded-for", &len);

	FUZZ_ASSERT(v && http_head_count(h, "x-forwarded-for") == 1);
	FUZZ_ASSERT(len == 10 && memcmp(v, "100.64.0.", 9) == 0 && v[9] >= '1' && v[9] <= '3');
	return v[9] - '1';
}

/* Answers the request of client u->conn from the script (or with a default
 * answer), its mark put where the script has L7_ANSWER. */
static void l7_up_answer(struct l7_run *r, struct l7_up *u)
{
	char mark = (char)(L7_ANSWER + u->conn);

	FUZZ_ASSERT(u->conn >= 0);
	u->answered = true;
	if (r->next_script >= r->n_script) {
		bool head = u->head->method == HTTP_HEAD;
		const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok";
		l7_up_out(u, ok, strlen(ok) - (head ? 2 : 0));
		if (!head)
			l7_up_out(u, &mark, 1);
		return;
	}
	const uint8_t *s = r->script[r->next_script];
	size_t n = r->script_len[r->next_script++];
	char mode = n ? (char)s[0] : 'A';
	if (mode == '!' || mode == '.' || mode == '^' || mode == '@')
		s++, n--;
	if (mode == '!') {
		mem_io_peer_close(r->m, u->peer, true);
		u->peer = -1;
		return;
	}
	if (mode == '.') {
		u->silent = true;
		return;
	}
	u->close_after = mode == '^';
	for (size_t k = 0; k < n; k++) {
		char ch = s[k] == L7_ANSWER        ? mark
		          : l7_is_mark((char)s[k]) ? (char)L7_FREE
		                                   : (char)s[k];
		l7_up_out(u, &ch, 1);
	}
}

static void l7_up_feed(struct l7_run *r, struct l7_up *u, const char *d, size_t n)
{
	size_t off = 0;

	while (u->peer >= 0 && !u->silent) {
		size_t used;
		enum http_parse_status st = http_parser_feed(&u->parser, d + off, n - off, &used);
		off += used;
		if (st == HTTP_PARSE_ERROR) {
			fprintf(stderr, "fuzz_l7: the upstream got a request it cannot parse: %s\n",
			        u->parser.why);
			FUZZ_ASSERT(!"the proxy forwarded a malformed request");
		}
		if (st == HTTP_PARSE_HEAD) {
			u->conn = l7_up_client(u->head);
			u->answered = false;
			l7_up_marks(u->conn, u->head->text.data, u->head->text.len);
			if (r->next_script < r->n_script && r->script_len[r->next_script] > 0 &&
			    r->script[r->next_script][0] == '@')
				l7_up_answer(r, u);
			http_parser_resume(&u->parser);
		} else if (st == HTTP_PARSE_DONE) {
			if (!u->answered)
				l7_up_answer(r, u);
			u->conn = -1;
			if (u->peer >= 0)
				http_parser_resume(&u->parser);
		} else if (off == n) {
			break;
		}
	}
}

static void l7_up_close(struct l7_run *r, struct l7_up *u, bool abort)
{
	if (u->peer >= 0)
		mem_io_peer_close(r->m, u->peer, abort);
	u->peer = -1;
}

/* One pass over the upstream's connections: take new ones, answer, read. */
static bool l7_up_step(struct l7_run *r)
{
	bool moved = false;
	int p;

	while ((p = mem_io_take(r->m)) >= 0) {
		if (r->n_up == L7_UPS) {
			mem_io_peer_close(r->m, p, true);
			continue;
		}
		struct l7_up *u = &r->up[r->n_up++];
		memset(u, 0, sizeof(*u));
		u->peer = p;
		u->conn = -1;
		u->head = http_head_new(HTTP_MSG_LIMIT_HEAD_BYTES, HTTP_MSG_LIMIT_HEADERS);
		FUZZ_ASSERT(u->head);
		http_parser_init(&u->parser, true, u->head, l7_up_body, u);
		moved = true;
	}
	for (size_t i = 0; i < r->n_up; i++) {
		struct l7_up *u = &r->up[i];
		char buf[4096];

		while (u->peer >= 0 && u->out_off < u->out_len) {
			ssize_t w = mem_io_peer_write(r->m, u->peer, u->out + u->out_off,
			                              u->out_len - u->out_off);
			if (w <= 0)
				break;
			u->out_off += (size_t)w;
			moved = true;
		}
		if (u->peer >= 0 && u->close_after && u->out_off == u->out_len) {
			l7_up_close(r, u, false);
			moved = true;
		}
		while (u->peer >= 0) {
			ssize_t n = mem_io_peer_read(r->m, u->peer, buf, sizeof(buf));
			if (n == -EAGAIN)
				break;
			moved = true;
			if (n <= 0) {
				/* The proxy closed (mid-request too: its client left). */
				if (n == 0 && !u->silent && !u->parser.paused)
					http_parser_finish(&u->parser);
				l7_up_close(r, u, n < 0);
				break;
			}
			l7_up_feed(r, u, buf, (size_t)n);
		}
	}
	return moved;
}

static void l7_up_free(struct l7_run *r)
{
	for (size_t i = 0; i < r->n_up; i++) {
		l7_up_close(r, &r->up[i], false);
		http_head_free(r->up[i].head);
		free(r->up[i].out);
	}
}

/* --- driving it ---------------------------------------------------------------------- */

/* Runs callbacks and the harness's parties until nothing moves. */
static void l7_settle(struct l7_run *r)
{
	for (int rounds = 0;; rounds++) {
		FUZZ_ASSERT(rounds < 10000); /* a livelock */
		size_t steps = mem_io_run(r->m, L7_STEPS);
		FUZZ_ASSERT(steps < L7_STEPS);
		bool moved = l7_up_step(r);
		for (size_t i = 0; i < r->n_cl; i++) {
			uint64_t before = r->cl[i].got;
			if (r->cl[i].eager)
				l7_client_read(r, i, SIZE_MAX);
			moved |= r->cl[i].got != before;
		}
		if (!moved && steps == 0)
			return;
	}
}

static void l7_emit(void *ctx, const char *type, const char *fields)
{
	char *json;
	size_t n = strlen(fields);

	(void)ctx;
	for (size_t k = 0; k < n; k++) {
		if (l7_is_mark(fields[k]))
			fprintf(stderr, "fuzz_l7: event %s holds a mark: %s\n", type, fields);
		FUZZ_ASSERT(!l7_is_mark(fields[k]));
	}
	if (n == 0)
		return;
	json = malloc(n + 3);
	FUZZ_ASSERT(json);
	json[0] = '{';
	memcpy(json + 1, fields, n);
	memcpy(json + 1 + n, "}", 2);
	cJSON *j = cJSON_Parse(json);
	if (!j)
		fprintf(stderr, "fuzz_l7: event %s is not JSON: %s\n", type, json);
	FUZZ_ASSERT(j);
	cJSON_Delete(j);
	free(json);
}

static bool l7_whois(void *ctx, const struct io_addr *client, char *login, size_t login_len,
                     char *name, size_t name_len)
{
	(void)ctx;
	if (client->ip[3] != 1) /* the first client is a user, the others tagged */
		return false;
	snprintf(login, login_len, "alice@example.com");
	snprintf(name, name_len, "Alice \"<&>\" Ästrand");
	return true;
}

static void l7_handlers(struct serve_port *port, struct serve_handler *h, char paths[2][PATH_MAX])
{
	static const struct {
		const char *mount;
		enum serve_handler_kind kind;
		const char *value;
	} table[] = {
	    {"/", SERVE_HANDLER_TEXT, "root\n"},
	    {"/t", SERVE_HANDLER_TEXT, "t<&>\n"},
	    {"/api/", SERVE_HANDLER_PROXY, "http://127.0.0.1:8080"},
	    {"/deep/", SERVE_HANDLER_PROXY, "http://127.0.0.1:8080/base/"},
	    {"/down/", SERVE_HANDLER_PROXY, "http://127.0.0.1:8081"},
	    {"/nohost/", SERVE_HANDLER_PROXY, "http://upstream.invalid"},
	    {"/files/", SERVE_HANDLER_PATH, NULL},
	    {"/one", SERVE_HANDLER_PATH, NULL},
	};
	size_t n = sizeof(table) / sizeof(table[0]);

	snprintf(paths[0], PATH_MAX, "%s/root", l7_tree);
	snprintf(paths[1], PATH_MAX, "%s/root/a.txt", l7_tree);
	for (size_t i = 0; i < n; i++) {
		h[i].mount = (char *)table[i].mount;
		h[i].kind = table[i].kind;
		h[i].value = (char *)(table[i].value ? table[i].value : paths[i == n - 1]);
	}
	port->type = SERVE_TYPE_HTTP;
	port->port = 80;
	port->handlers = h;
	port->n_handlers = n;
}

/* Splits the input at 0xff: control, up to three connections, answers. */
static size_t l7_split(const uint8_t *d, size_t n, const uint8_t **sec, size_t *len, size_t max)
{
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n && k < max; i++) {
		if (i == n || d[i] == L7_SEP) {
			sec[k] = d + start;
			len[k++] = i - start;
			start = i + 1;
		}
	}
	return k;
}

/* Sizes a control byte picks for a chunk or a read. */
static size_t l7_size(unsigned v)
{
	static const size_t sizes[32] = {1,   2,   3,    4,    5,    7,    9,    12,
	                                 16,  20,  25,   32,   40,   50,   64,   80,
	                                 100, 128, 160,  200,  256,  320,  400,  512,
	                                 700, 900, 1200, 1600, 2048, 4096, 8192, SIZE_MAX};
	return sizes[v & 31];
}

static void l7_op(struct l7_run *r, unsigned b, bool *drained)
{
	static const uint64_t waits_us[8] = {1000,    100000,   1000000,  5000000,
	                                     9000000, 11000000, 16000000, 61000000};
	size_t i = (b >> 3) % (r->n_cl ? r->n_cl : 1);

	switch (b & 7) {
	case 0:
	case 1:
	case 2:
		if ((b & 7) < r->n_cl)
			l7_client_send(r, b & 7, l7_size(b >> 3));
		break;
	case 3:
		if (r->n_cl)
			l7_client_read(r, i, l7_size(b >> 3));
		break;
	case 4:
		mem_io_advance(r->m, waits_us[(b >> 3) & 7], L7_STEPS);
		break;
	case 5:
		if (r->n_cl && !r->cl[i].done)
			mem_io_peer_shutdown(r->m, r->cl[i].peer);
		break;
	case 6:
		if (r->n_cl && !r->cl[i].done) {
			mem_io_peer_close(r->m, r->cl[i].peer, true);
			r->cl[i].done = true;
		}
		break;
	case 7:
		switch ((b >> 3) & 7) {
		case 0:
		case 1:
			for (size_t k = 0; k < r->n_up; k++)
				if (r->up[k].peer >= 0) {
					l7_up_close(r, &r->up[k], (b >> 3) & 1);
					break;
				}
			break;
		case 2: {
			struct serve_port port;
			struct serve_handler h[8];
			char paths[2][PATH_MAX];
			l7_handlers(&port, h, paths);
			FUZZ_ASSERT(http_proxy_set_handlers(r->proxy, &port) == 0);
			break;
		}
		case 3:
			if (!*drained)
				http_proxy_stop_accepting(r->proxy);
			*drained = true;
			break;
		case 4:
			http_proxy_abort_all(r->proxy);
			break;
		default:
			break;
		}
		break;
	}
}

/* The lowest free descriptor: a file left open by a request raises it. */
static int l7_lowest_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	FUZZ_ASSERT(fd >= 0);
	close(fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sec[4 + 256];
	size_t len[4 + 256];
	struct l7_run r;
	struct serve_port port;
	struct serve_handler h[8];
	char paths[2][PATH_MAX];
	bool drained = false;

	if (!l7_tree[0])
		l7_make_tree();
	int fd0 = l7_lowest_fd();
	memset(&r, 0, sizeof(r));
	size_t n_sec = l7_split(data, size, sec, len, sizeof(sec) / sizeof(sec[0]));
	const uint8_t *ctl = sec[0];
	size_t n_ctl = len[0];
	unsigned flags = n_ctl ? ctl[0] : 0, windows = n_ctl > 1 ? ctl[1] : 0;
	r.n_cl = n_sec > 1 ? (n_sec - 1 < L7_CONNS ? n_sec - 1 : L7_CONNS) : 0;
	for (size_t k = 1 + r.n_cl; k < n_sec; k++) {
		r.script[r.n_script] = sec[k];
		r.script_len[r.n_script++] = len[k];
	}

	r.m = mem_io_new(l7_emit, &r);
	struct io *io = mem_io_io(r.m);
	struct io_addr at, up;
	io_addr_v4(&up, 0x7f000001u, L7_UP_PORT);
	mem_io_serve(r.m, &up);
	l7_handlers(&port, h, paths);
	static const size_t pools[4] = {0, HTTP_PROXY_NO_IDLE_UPSTREAMS, 1, 2};
	const struct http_proxy_config cfg = {
	    .name = "svc:fuzz:80",
	    .handlers = &port,
	    .whois = l7_whois,
	    .max_conns = flags & 4 ? 2 : 0,
	    .max_head_bytes = flags & 8 ? 1024 : 4096,
	    .max_headers = flags & 8 ? 8 : 32,
	    .max_idle_upstreams = pools[flags & 3],
	};
	FUZZ_ASSERT(http_proxy_new(&r.proxy, io, &cfg) == 0);
	io_addr_v4(&at, 0x64640001u, 80); /* 100.100.0.1:80 */
	FUZZ_ASSERT(http_proxy_listen(r.proxy, &at, NULL) == 0);

	for (size_t i = 0; i < r.n_cl; i++) {
		struct l7_client *c = &r.cl[i];
		io_addr_v4(&c->addr, 0x64400001u + (uint32_t)i, (uint16_t)(50000 + i));
		c->data = l7_client_bytes(sec[1 + i], len[1 + i], (int)i, &c->len);
		c->eager = !(flags & (16u << i));
		c->peer = mem_io_connect(r.m, &c->addr, &at);
		FUZZ_ASSERT(c->peer >= 0);
		/* A slow reader holds 16 KB down to 256 bytes unread. */
		mem_io_peer_window(r.m, c->peer, (size_t)16384 >> ((windows >> (2 * i)) & 3) * 2);
	}
	l7_settle(&r);
	for (size_t k = 2; k < n_ctl; k++) {
		l7_op(&r, ctl[k], &drained);
		l7_settle(&r);
	}
	/* Then everything left goes out, every answer is read, and time runs
	 * past every timeout. */
	for (size_t i = 0; i < r.n_cl; i++)
		r.cl[i].eager = true;
	for (int round = 0; round < 8; round++) {
		for (size_t i = 0; i < r.n_cl; i++)
			l7_client_send(&r, i, SIZE_MAX);
		l7_settle(&r);
	}
	for (int s = 0; s < 70; s++) {
		mem_io_advance(r.m, 1000000, L7_STEPS);
		l7_settle(&r);
	}

	http_proxy_free(r.proxy);
	l7_settle(&r);
	FUZZ_ASSERT(mem_io_code_handles(r.m) == 0);
	FUZZ_ASSERT(mem_io_armed_timers(r.m) == 0);
	FUZZ_ASSERT(l7_lowest_fd() == fd0); /* no file left open */
	for (size_t i = 0; i < r.n_cl; i++) {
		if (!r.cl[i].done) {
			l7_client_read(&r, i, SIZE_MAX);
			mem_io_peer_close(r.m, r.cl[i].peer, false);
		}
		free(r.cl[i].data);
	}
	l7_up_free(&r);
	mem_io_free(r.m);
	return 0;
}
