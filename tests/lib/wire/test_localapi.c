/* The local API wire format (lib/wire/localapi.h): framing, request parsing
 * with its precise errors and limits, and the round trips svcctl relies on. */
#include "lib/wire/localapi.h"

#include "tests/support/nested.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *line, struct localapi_request *r, char *err, size_t err_len)
{
	return localapi_request_parse(line, strlen(line), r, err, err_len);
}

Test(localapi, frame_finds_a_whole_line_and_waits_for_an_incomplete_one)
{
	cr_assert_eq(localapi_frame("{}\n{", 4, 16), 3);
	cr_assert_eq(localapi_frame("{\"op\"", 5, 16), -2);
	cr_assert_eq(localapi_frame("", 0, 16), -2);
}

Test(localapi, rel5_json_nested_deeper_than_1000_is_refused_by_the_parser)
{
	struct localapi_request req;
	char err[256];
	char *deep = test_nested_brackets("{\"op\": \"serve\", \"args\": ", 1000, "}");

	cr_assert_eq(localapi_request_parse(deep, strlen(deep), &req, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "not valid JSON"), "%s", err);
	free(deep);
}

Test(localapi, frame_refuses_a_line_over_the_limit)
{
	char buf[40];
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(localapi_frame(buf, 16, 16), -2, "exactly the limit may still end");
	cr_assert_eq(localapi_frame(buf, 17, 16), -1);
	buf[16] = '\n';
	cr_assert_eq(localapi_frame(buf, 40, 16), 17, "a newline right after the limit is fine");
}

Test(localapi, serve_request_round_trips_through_format_and_parse)
{
	char *argv[] = {"serve", "--service=svc:web", "--https=443", "text:a \"quoted\" text\n",
	                NULL};
	struct localapi_request in = {.op = LOCALAPI_OP_SERVE, .argc = 4}, out;
	bool too_big;
	char err[LOCALAPI_ERR_LEN];

	memcpy(in.argv, argv, sizeof(argv));
	char *line = localapi_request_format(&in, &too_big);
	cr_assert_not_null(line);
	cr_assert_eq(line[strlen(line) - 1], '\n');
	cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "one line, newlines escaped");
	cr_assert_eq(localapi_request_parse(line, strlen(line), &out, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(out.op, LOCALAPI_OP_SERVE);
	cr_assert_eq(out.argc, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_str_eq(out.argv[i], argv[i]);
	cr_assert_null(out.argv[4]);
	localapi_request_free(&out);
	free(line);
}

Test(localapi, document_and_status_requests_parse)
{
	struct localapi_request r;
	char err[LOCALAPI_ERR_LEN];

	cr_assert_eq(
	    parse("{\"op\":\"netmap\",\"document\":\"{\\\"version\\\":1}\"}", &r, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(r.op, LOCALAPI_OP_NETMAP);
	cr_assert_str_eq(r.document, "{\"version\":1}");
	cr_assert_eq(r.doc_len, 13);
	localapi_request_free(&r);
	cr_assert_eq(parse("{\"op\":\"serve-config\",\"document\":\"{}\"}\n", &r, err, sizeof(err)),
	             0);
	cr_assert_eq(r.op, LOCALAPI_OP_SERVE_CONFIG);
	localapi_request_free(&r);
	cr_assert_eq(parse("{\"op\":\"status\",\"json\":true}", &r, err, sizeof(err)), 0);
	cr_assert(r.json);
	localapi_request_free(&r);
	cr_assert_eq(parse("{\"op\":\"status\"}", &r, err, sizeof(err)), 0);
	cr_assert_not(r.json);
	localapi_request_free(&r);
}

struct bad_case {
	const char *line;
	int rc;
	const char *msg;
};

Test(localapi, bad_requests_get_precise_errors)
{
	static const struct bad_case cases[] = {
	    {"", -EINVAL, "empty request"},
	    {"{\"op\":", -EINVAL, "not valid JSON"},
	    {"[1,2]", -EINVAL, "must be a JSON object"},
	    {"{}", -EINVAL, "no \"op\" string"},
	    {"{\"op\":7}", -EINVAL, "no \"op\" string"},
	    {"{\"op\":\"reboot\"}", -EINVAL, "unknown op \"reboot\""},
	    {"{\"op\":\"serve\"}", -EINVAL, "\"argv\" must be an array"},
	    {"{\"op\":\"serve\",\"argv\":[]}", -EINVAL, "argv is empty"},
	    {"{\"op\":\"serve\",\"argv\":[\"serve\",3]}", -EINVAL, "argv[1] is not a string"},
	    {"{\"op\":\"netmap\"}", -EINVAL, "needs a \"document\" string"},
	    {"{\"op\":\"serve-config\",\"document\":{}}", -EINVAL, "needs a \"document\" string"},
	    {"{\"op\":\"status\",\"json\":\"yes\"}", -EINVAL, "\"json\" must be true or false"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct localapi_request r;
		char err[LOCALAPI_ERR_LEN] = "";
		int rc = parse(cases[i].line, &r, err, sizeof(err));
		cr_assert_eq(rc, cases[i].rc, "%s: rc %d", cases[i].line, rc);
		cr_assert(strstr(err, cases[i].msg), "%s: error \"%s\" lacks \"%s\"", cases[i].line,
		          err, cases[i].msg);
		cr_assert_eq(r.op, LOCALAPI_OP_NONE, "empty after an error");
	}
}

Test(localapi, limits_on_argv_words_word_length_and_request_size)
{
	struct localapi_request r;
	char err[LOCALAPI_ERR_LEN];
	size_t cap = LOCALAPI_MAX_REQUEST_BYTES + 64;
	char *line = malloc(cap);
	size_t o;

	/* one word too many */
	o = (size_t)snprintf(line, cap, "{\"op\":\"serve\",\"argv\":[");
	for (int i = 0; i <= LOCALAPI_MAX_ARGS; i++)
		o += (size_t)snprintf(line + o, cap - o, "%s\"w\"", i ? "," : "");
	snprintf(line + o, cap - o, "]}");
	cr_assert_eq(parse(line, &r, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "more than 32 words"), "%s", err);

	/* one word too long */
	o = (size_t)snprintf(line, cap, "{\"op\":\"serve\",\"argv\":[\"");
	memset(line + o, 'a', LOCALAPI_MAX_ARG_LEN + 1);
	o += LOCALAPI_MAX_ARG_LEN + 1;
	snprintf(line + o, cap - o, "\"]}");
	cr_assert_eq(parse(line, &r, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "argv[0] is longer than"), "%s", err);

	/* the whole request over 1 MiB */
	o = (size_t)snprintf(line, cap, "{\"op\":\"netmap\",\"document\":\"");
	memset(line + o, 'a', LOCALAPI_MAX_REQUEST_BYTES);
	o += LOCALAPI_MAX_REQUEST_BYTES;
	snprintf(line + o, cap - o, "\"}");
	cr_assert_eq(parse(line, &r, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "longer than 1048576 bytes"), "%s", err);

	/* and the client side refuses to format it */
	struct localapi_request big = {.op = LOCALAPI_OP_NETMAP, .document = line, .doc_len = o};
	bool too_big;
	cr_assert_null(localapi_request_format(&big, &too_big));
	cr_assert(too_big);
	free(line);
}

Test(localapi, responses_round_trip_and_bad_ones_are_refused)
{
	char *line = localapi_response_format(LOCALAPI_STATUS_FAILED, "svc:web: no\n\"x\"");
	char *out, err[LOCALAPI_ERR_LEN];
	int status;

	cr_assert_not_null(line);
	cr_assert_eq(localapi_response_parse(line, strlen(line), &status, &out, err, sizeof(err)),
	             0);
	cr_assert_eq(status, 1);
	cr_assert_str_eq(out, "svc:web: no\n\"x\"");
	free(out);
	free(line);
	cr_assert_eq(localapi_response_parse("nope", 4, &status, &out, err, sizeof(err)), -EINVAL);
	cr_assert_eq(
	    localapi_response_parse("{\"output\":\"\"}", 13, &status, &out, err, sizeof(err)),
	    -EINVAL);
	cr_assert(strstr(err, "status"), "%s", err);
}

/* A request line is one JSON object: a second object, garbage or a NUL
 * after it is refused, with where it starts; blanks are not. */
Test(localapi, rel6_bytes_after_the_request_object_are_refused_with_their_place)
{
	static const struct {
		const char *line;
		size_t len;
		const char *msg;
	} cases[] = {
	    {"{\"op\":\"status\"}x\n", 17,
	     "unexpected bytes after the request object (at byte 15)"},
	    {"{\"op\":\"status\"} {\"op\":\"serve\"}\n", 32, "(at byte 16)"},
	    {"{\"op\":\"status\"}\0junk\n", 21, "(at byte 15)"},
	    {"{\"op\":\"status\"}\t\x01\n", 18, "(at byte 16)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct localapi_request r;
		char err[LOCALAPI_ERR_LEN] = "";
		int rc = localapi_request_parse(cases[i].line, cases[i].len, &r, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "case %zu accepted", i);
		cr_assert(strstr(err, cases[i].msg), "case %zu: \"%s\" lacks \"%s\"", i, err,
		          cases[i].msg);
		cr_assert_eq(r.op, LOCALAPI_OP_NONE);
	}
	struct localapi_request r;
	char err[LOCALAPI_ERR_LEN] = "";
	const char ok[] = "{\"op\":\"status\",\"json\":true} \t\r\n";
	cr_assert_eq(localapi_request_parse(ok, strlen(ok), &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(r.json);
	localapi_request_free(&r);
}
