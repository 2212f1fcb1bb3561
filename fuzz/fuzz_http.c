/* libFuzzer target: the request-head parser (llhttp plus the proxy's own
 * checks) and the forwarding rewrite. Any input must be parsed or refused
 * without a crash, and every accepted head must rewrite into a head that
 * parses again with the client's forwarding headers gone. */
#include "fuzz/fuzz.h"
#include "lib/wire/http_msg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fuzz_body(void *ctx, const char *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	return 0;
}

/* Parses `len` bytes in steps of `step`; returns the head on HEAD, else NULL. */
static struct http_head *fuzz_parse(const char *text, size_t len, size_t step, size_t max_headers,
                                    struct http_parser *p)
{
	/* The rewrite adds up to 8 headers and HTTP_MSG_REWRITE_SLACK bytes. */
	struct http_head *h =
	    http_head_new(8192 + (max_headers > 32 ? HTTP_MSG_REWRITE_SLACK : 0), max_headers);
	size_t off = 0;

	FUZZ_ASSERT(h);
	http_parser_init(p, true, h, fuzz_body, NULL);
	while (off < len) {
		size_t used, n = len - off < step ? len - off : step;
		enum http_parse_status st = http_parser_feed(p, text + off, n, &used);
		off += used;
		if (st == HTTP_PARSE_ERROR)
			break;
		if (st == HTTP_PARSE_HEAD)
			return h;
		FUZZ_ASSERT(st == HTTP_PARSE_MORE || st == HTTP_PARSE_DONE);
		if (st == HTTP_PARSE_DONE)
			http_parser_resume(p);
		else
			FUZZ_ASSERT(used == n);
	}
	http_head_free(h);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_parser p, p2;
	size_t step = size ? (size_t)(data[0] % 17) + 1 : 1;
	struct http_head *h = fuzz_parse((const char *)data, size, step, 32, &p);
	char *out;

	if (!h)
		return 0;
	out = malloc(8192 + HTTP_MSG_REWRITE_SLACK);
	FUZZ_ASSERT(out);
	struct http_forward fw = {
	    .target = http_head_target(h),
	    .target_len = h->target_len,
	    .client_ip = "100.64.0.9",
	    .tls = size & 1,
	    .user_login = "u@example.com",
	    .user_name = "Ü ser",
	    .body = h->body,
	    .content_length = h->content_length,
	};
	int n = http_msg_write_request(h, &fw, out, 8192 + HTTP_MSG_REWRITE_SLACK);
	FUZZ_ASSERT(n > 0);
	/* What the proxy sends must parse, with one of each forwarding header. */
	struct http_head *h2 = fuzz_parse(out, (size_t)n, 4096, 40, &p2);
	FUZZ_ASSERT(h2);
	FUZZ_ASSERT(http_head_count(h2, "x-forwarded-for") == 1);
	FUZZ_ASSERT(http_head_count(h2, "tailscale-user-login") == 1);
	FUZZ_ASSERT(http_head_count(h2, "connection") == 0);
	FUZZ_ASSERT(h2->body == h->body);
	http_head_free(h2);
	http_head_free(h);
	free(out);
	return 0;
}
