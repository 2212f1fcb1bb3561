/* Unit tests for the seam's pure helpers: addresses (lib/io/io_addr.c) and
 * the JSON-lines event format (lib/io/io_event.c). */
#include "lib/io/io.h"
#include "lib/io/io_event.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static struct io_addr parse_ok(const char *text, uint16_t default_port)
{
	struct io_addr a;
	int rc = io_addr_parse(&a, text, default_port);
	cr_assert_eq(rc, 0, "io_addr_parse(\"%s\") = %d", text, rc);
	return a;
}

Test(io_addr, parses_ipv4_with_and_without_port)
{
	struct io_addr a = parse_ok("10.1.2.3:8080", 1);
	cr_assert_eq(a.family, IO_AF_INET);
	cr_assert_eq(a.port, 8080);
	cr_assert_eq(io_addr_v4_host(&a), 0x0a010203u);

	a = parse_ok("100.64.0.1", 443);
	cr_assert_eq(a.family, IO_AF_INET);
	cr_assert_eq(a.port, 443, "missing port takes the default");
	cr_assert_eq(io_addr_v4_host(&a), 0x64400001u);

	a = parse_ok("0.0.0.0:0", 9);
	cr_assert_eq(a.port, 0, "explicit port 0 is kept");
	a = parse_ok("255.255.255.255:65535", 0);
	cr_assert_eq(a.port, 65535);
}

Test(io_addr, parses_ipv6_bare_and_bracketed)
{
	static const uint8_t loop6[16] = {[15] = 1};
	struct io_addr a = parse_ok("::1", 53);
	cr_assert_eq(a.family, IO_AF_INET6);
	cr_assert_eq(a.port, 53);
	cr_assert_eq(memcmp(a.ip, loop6, 16), 0);

	a = parse_ok("[fd7a:115c:a1e0::1]:80", 0);
	cr_assert_eq(a.family, IO_AF_INET6);
	cr_assert_eq(a.port, 80);
	cr_assert_eq(a.ip[0], 0xfd);
	cr_assert_eq(a.ip[1], 0x7a);
	cr_assert_eq(a.ip[15], 1);

	a = parse_ok("[::1]", 7);
	cr_assert_eq(a.port, 7);
}

Test(io_addr, rejects_malformed_text)
{
	static const char *const bad[] = {
	    "",
	    ":80",
	    "1.2.3.4:",
	    "1.2.3.4:65536",
	    "1.2.3.4:99999999999999999999",
	    "1.2.3.4:80x",
	    "1.2.3.4:-1",
	    "1.2.3",
	    "300.1.1.1",
	    "1.2.3.4.5",
	    "example.com:80",
	    "[::1",
	    "[::1]x",
	    "[::1]:",
	    "[]:80",
	    "::g",
	    "[fd7a:115c:a1e0::1:80",
	    "1.2.3.4:80:90:100",
	    "11111111111111111111111111111111111111111111111111111111111111111111:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct io_addr a;
		cr_expect_eq(io_addr_parse(&a, bad[i], 1), -EINVAL, "accepted \"%s\"", bad[i]);
	}
}

Test(io_addr, rejects_port_with_sign_or_space)
{
	struct io_addr a;

	/* strtoul would take these; an address is not a number with a sign. */
	cr_expect_eq(io_addr_parse(&a, "1.2.3.4:+80", 1), -EINVAL);
	cr_expect_eq(io_addr_parse(&a, "1.2.3.4: 80", 1), -EINVAL);
	cr_expect_eq(io_addr_parse(&a, "[::1]:+80", 1), -EINVAL);
}

Test(io_addr, formats_with_and_without_port)
{
	char buf[IO_ADDR_STRLEN];
	struct io_addr a;

	io_addr_v4(&a, 0x64400002u, 41641);
	cr_assert_str_eq(io_addr_format(&a, true, buf, sizeof(buf)), "100.64.0.2:41641");
	cr_assert_str_eq(io_addr_format(&a, false, buf, sizeof(buf)), "100.64.0.2");

	a = parse_ok("[fd7a:115c:a1e0::2]:443", 0);
	cr_assert_str_eq(io_addr_format(&a, true, buf, sizeof(buf)), "[fd7a:115c:a1e0::2]:443");
	cr_assert_str_eq(io_addr_format(&a, false, buf, sizeof(buf)), "fd7a:115c:a1e0::2");

	/* The longest IPv6 text with a port fits IO_ADDR_STRLEN. */
	a = parse_ok("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", 0);
	io_addr_format(&a, true, buf, sizeof(buf));
	cr_assert_lt(strlen(buf), sizeof(buf) - 1);
	struct io_addr back = parse_ok(buf, 0);
	cr_assert(io_addr_equal(&a, &back, true), "round trip through \"%s\"", buf);
}

Test(io_addr, format_truncates_into_small_buffers)
{
	char buf[8];
	struct io_addr a;

	io_addr_v4(&a, 0x64400002u, 41641);
	memset(buf, 'x', sizeof(buf));
	io_addr_format(&a, true, buf, sizeof(buf));
	cr_assert_eq(buf[sizeof(buf) - 1], '\0', "output always terminated");
}

Test(io_addr, format_then_parse_round_trips)
{
	static const char *const texts[] = {"1.2.3.4:5", "[::]:0", "[2001:db8::8:800:200c:417a]:1",
	                                    "100.127.255.254:65535"};
	char buf[IO_ADDR_STRLEN];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct io_addr a = parse_ok(texts[i], 0);
		cr_assert_str_eq(io_addr_format(&a, true, buf, sizeof(buf)), texts[i]);
	}
}

Test(io_addr, equality_respects_family_and_optionally_port)
{
	struct io_addr a, b, c;

	io_addr_v4(&a, 0x7f000001u, 80);
	io_addr_v4(&b, 0x7f000001u, 81);
	cr_assert(io_addr_equal(&a, &a, true));
	cr_assert_not(io_addr_equal(&a, &b, true));
	cr_assert(io_addr_equal(&a, &b, false));

	c = parse_ok("[::7f00:1]:80", 0); /* same bytes at the end, other family */
	cr_assert_not(io_addr_equal(&a, &c, false));
	io_addr_v4(&b, 0x7f000002u, 80);
	cr_assert_not(io_addr_equal(&a, &b, false));
}

Test(io_addr, v4_helpers_round_trip_host_order)
{
	struct io_addr a;

	io_addr_v4(&a, 0xc0a80101u, 9);
	cr_assert_eq(a.family, IO_AF_INET);
	cr_assert_eq(a.ip[0], 192);
	cr_assert_eq(a.ip[3], 1);
	cr_assert_eq(io_addr_v4_host(&a), 0xc0a80101u);
	for (int i = 4; i < 16; i++)
		cr_assert_eq(a.ip[i], 0, "unused bytes are zero so memcmp-based equality holds");
}

/* ---- events ------------------------------------------------------------ */

Test(io_event, escapes_quotes_backslashes_and_control_bytes)
{
	char out[64];

	cr_assert_eq(io_json_escape(out, sizeof(out), "plain"), 5);
	cr_assert_str_eq(out, "plain");
	int n = io_json_escape(out, sizeof(out), "a\"b\\c\nd\x01");
	cr_assert_str_eq(out, "a\\\"b\\\\c\\u000ad\\u0001");
	cr_assert_eq(n, (int)strlen(out));
	cr_assert_eq(io_json_escape(out, sizeof(out), ""), 0);
	cr_assert_str_eq(out, "");
	/* UTF-8 passes through untouched. */
	cr_assert_eq(io_json_escape(out, sizeof(out), "caf\xc3\xa9"), 5);
}

Test(io_event, escape_reports_truncation_and_stays_terminated)
{
	char out[6];

	memset(out, 'x', sizeof(out));
	cr_assert_eq(io_json_escape(out, sizeof(out), "abcdefgh"), -ENOSPC);
	cr_assert_eq(out[sizeof(out) - 1], '\0');
	cr_assert_lt(strlen(out), sizeof(out));
	/* An escape never splits: "ab\"" needs 4 chars plus NUL. */
	cr_assert_eq(io_json_escape(out, 5, "ab\""), 4);
	cr_assert_eq(io_json_escape(out, 4, "ab\""), -ENOSPC);
	cr_assert_str_eq(out, "ab");
	cr_assert_eq(io_json_escape(out, 0, "a"), -ENOSPC);
}

Test(io_event, formats_one_json_line)
{
	char buf[IO_EVENT_LINE_MAX];

	int n = io_event_format(buf, sizeof(buf), 1234, "web-us", "conn_accepted",
	                        "\"port\":443,\"peer\":\"100.64.0.2\"");
	cr_assert_str_eq(buf, "{\"t_us\":1234,\"node\":\"web-us\",\"type\":\"conn_accepted\","
	                      "\"port\":443,\"peer\":\"100.64.0.2\"}\n");
	cr_assert_eq(n, (int)strlen(buf));

	n = io_event_format(buf, sizeof(buf), 0, "n", "tick", "");
	cr_assert_str_eq(buf, "{\"t_us\":0,\"node\":\"n\",\"type\":\"tick\"}\n");
	cr_assert_eq(n, (int)strlen(buf));

	io_event_format(buf, sizeof(buf), UINT64_MAX, NULL, "x", "");
	cr_assert_str_eq(buf, "{\"t_us\":18446744073709551615,\"node\":\"\",\"type\":\"x\"}\n");
}

Test(io_event, escapes_node_and_type)
{
	char buf[IO_EVENT_LINE_MAX];

	io_event_format(buf, sizeof(buf), 5, "we\"ird\n", "t\\y", "");
	cr_assert_str_eq(buf, "{\"t_us\":5,\"node\":\"we\\\"ird\\u000a\",\"type\":\"t\\\\y\"}\n");
}

Test(io_event, too_long_fields_keep_whole_members_and_are_marked)
{
	char buf[IO_EVENT_LINE_MAX];
	char fields[2 * IO_EVENT_LINE_MAX];
	char node[400];

	/* One giant member: nothing of it survives, the mark does. */
	memset(fields, 'a', sizeof(fields) - 1);
	fields[sizeof(fields) - 1] = '\0';
	fields[0] = '"';
	int n = io_event_format(buf, sizeof(buf), 1, "n", "t", fields);
	cr_assert_str_eq(buf, "{\"t_us\":1,\"node\":\"n\",\"type\":\"t\",\"truncated\":true}\n");
	cr_assert_eq(n, (int)strlen(buf));

	/* Many members, with commas and braces inside strings and objects:
	 * whole leading members are kept, the line is full and ends marked. */
	size_t o = 0;
	for (int i = 0; o < sizeof(fields) - 80; i++)
		o += (size_t)snprintf(fields + o, sizeof(fields) - o,
		                      "%s\"m%03d\":{\"s\":\"a,b}\\\",c\",\"v\":[1,2]}",
		                      i ? "," : "", i);
	n = io_event_format(buf, sizeof(buf), 1, "n", "t", fields);
	cr_assert_gt(n, (int)sizeof(buf) - 64, "the line is nearly full: %d", n);
	cr_assert_eq(n, (int)strlen(buf));
	const char *tail = ",\"truncated\":true}\n";
	cr_assert_str_eq(buf + n - strlen(tail), tail);
	size_t kept =
	    (size_t)n - strlen("{\"t_us\":1,\"node\":\"n\",\"type\":\"t\",") - strlen(tail);
	cr_assert_eq(memcmp(buf + n - strlen(tail) - kept, fields, kept), 0);
	cr_assert_eq(fields[kept], ',', "cut at a member boundary, not inside one");

	memset(node, 'n', sizeof(node) - 1);
	node[sizeof(node) - 1] = '\0';
	cr_assert_eq(io_event_format(buf, sizeof(buf), 1, node, "t", ""), -ENOSPC,
	             "a node name past IO_EVENT_NODE_MAX is refused, not cut");

	/* Exactly fitting works; one byte less cuts the member and marks it. */
	n = io_event_format(buf, sizeof(buf), 1, "n", "t", "\"k\":1,\"kk\":22222222222222222222");
	cr_assert_gt(n, 0);
	char small[96];
	cr_assert_eq(io_event_format(small, (size_t)n + 1, 1, "n", "t",
	                             "\"k\":1,\"kk\":22222222222222222222"),
	             n);
	cr_assert_str_eq(small, buf);
	io_event_format(small, (size_t)n, 1, "n", "t", "\"k\":1,\"kk\":22222222222222222222");
	cr_assert_str_eq(small,
	                 "{\"t_us\":1,\"node\":\"n\",\"type\":\"t\",\"k\":1,\"truncated\":true}\n");
	cr_assert_eq(io_event_format(small, 40, 1, "n", "t", "\"k\":1"), -ENOSPC,
	             "no room for the head and the mark");
}

Test(io_event, fields_fit_the_documented_maximum)
{
	char buf[IO_EVENT_LINE_MAX];
	char fields[IO_EVENT_FIELDS_MAX];

	/* The largest payload an event may carry still makes a line. */
	memset(fields, 'a', sizeof(fields) - 1);
	fields[sizeof(fields) - 1] = '\0';
	int n = io_event_format(buf, sizeof(buf), UINT64_MAX, "a-long-node-name-of-sixty-chars",
	                        "a_long_event_type_name", fields);
	cr_assert_gt(n, 0, "IO_EVENT_LINE_MAX too small for IO_EVENT_FIELDS_MAX fields");
}

Test(io_event, typed_fields_format_each_kind)
{
	char buf[IO_EVENT_FIELDS_MAX];
	const struct io_field f[] = {
	    IO_STR("service", "svc:web"),  IO_U64("port", 443),     IO_I64("errno", -11),
	    IO_BOOL("draining", true),     IO_STR("null_is", NULL), IO_JSON("ports", "[80,443]"),
	    IO_STR("quoted", "a\"b\\c\n"),
	};
	size_t n = io_fields_format(buf, sizeof(buf), f, sizeof(f) / sizeof(f[0]));
	cr_assert_str_eq(buf,
	                 "\"service\":\"svc:web\",\"port\":443,\"errno\":-11,\"draining\":true,"
	                 "\"null_is\":\"\",\"ports\":[80,443],\"quoted\":\"a\\\"b\\\\c\\u000a\"");
	cr_assert_eq(n, strlen(buf));
	cr_assert_eq(io_fields_format(buf, sizeof(buf), NULL, 0), 0);
	cr_assert_str_eq(buf, "");
	/* Extremes of the number kinds. */
	const struct io_field g[] = {IO_U64("u", UINT64_MAX), IO_I64("i", INT64_MIN)};
	io_fields_format(buf, sizeof(buf), g, 2);
	cr_assert_str_eq(buf, "\"u\":18446744073709551615,\"i\":-9223372036854775808");
}

/* HAR-2: a payload that fits the buffer whole (up to IO_EVENT_FIELDS_MAX - 1
 * bytes) is never cut, as io_emitf never cut one: the room for the
 * truncation mark is kept only when something is left out. Past that, the
 * cut is where io_emitf made it: the whole members that leave room for
 * the mark. */
Test(io_event, fields_that_fit_whole_are_never_cut_however_near_the_maximum)
{
	char buf[IO_EVENT_FIELDS_MAX], s[IO_EVENT_FIELDS_MAX];

	for (size_t total = IO_EVENT_FIELDS_MAX - 40; total < IO_EVENT_FIELDS_MAX + 8; total++) {
		/* "a":1,"s":"xx...x" is 12 bytes around the x's. */
		size_t nx = total - 12;
		memset(s, 'x', nx);
		s[nx] = '\0';
		const struct io_field f[] = {IO_U64("a", 1), IO_STR("s", s)};
		size_t n = io_fields_format(buf, sizeof(buf), f, 2);
		if (total < IO_EVENT_FIELDS_MAX) {
			cr_assert_eq(n, total, "%zu bytes fit whole, got %zu: %.40s", total, n,
			             buf);
			cr_assert_null(strstr(buf, "truncated"), "%zu bytes", total);
		} else {
			cr_assert_str_eq(buf, "\"a\":1,\"truncated\":true", "%zu bytes", total);
		}
	}
	/* Members that leave room for the mark are kept before it. */
	char a[601];
	memset(a, 'y', 600);
	a[600] = '\0';
	memset(s, 'x', 500);
	s[500] = '\0';
	const struct io_field g[] = {IO_STR("a", a), IO_STR("s", s)};
	size_t n = io_fields_format(buf, sizeof(buf), g, 2);
	cr_assert_eq(n, 6 + 600 + 1 + strlen("\"truncated\":true"), "%s", buf);
}

/* HAR-2: the caller's buffer bounds a member, not IO_EVENT_FIELDS_MAX: the
 * simulator's timeline lines (IO_EVENT_LINE_MAX) carry a detail of
 * WORLD_DETAIL_MAX bytes whose escaped form is longer than an event
 * payload, whole, as they did when the detail was escaped by hand. */
Test(io_event, a_member_is_bounded_by_the_callers_buffer_only)
{
	char fields[IO_EVENT_LINE_MAX], detail[513];

	memset(detail, '"', 512);
	detail[512] = '\0';
	const struct io_field f[] = {IO_STR("action", "admin"), IO_STR("target", "t"),
	                             IO_STR("detail", detail)};
	size_t n = io_fields_format(fields, sizeof(fields), f, 3);
	cr_assert_null(strstr(fields, "truncated"), "%.80s", fields);
	cr_assert_eq(n, strlen("\"action\":\"admin\",\"target\":\"t\",\"detail\":\"\"") + 1024);
	cr_assert_eq(memcmp(fields + n - 5, "\\\"\\\"\"", 5), 0, "%s", fields + n - 10);
}

Test(io_event, typed_fields_that_do_not_fit_are_left_out_whole_and_marked)
{
	char buf[56]; /* the three members take 58 bytes, the first one and the mark 23 */
	char big[2 * IO_EVENT_FIELDS_MAX];

	const struct io_field f[] = {IO_U64("a", 1),
	                             IO_STR("b", "0123456789012345678901234567890123456789"),
	                             IO_U64("c", 3)};
	size_t n = io_fields_format(buf, sizeof(buf), f, 3);
	cr_assert_str_eq(buf, "\"a\":1,\"truncated\":true");
	cr_assert_eq(n, strlen(buf));
	/* A first member too long for any buffer: the mark alone. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char full[IO_EVENT_FIELDS_MAX];
	const struct io_field g[] = {IO_STR("s", big), IO_U64("after", 1)};
	io_fields_format(full, sizeof(full), g, 2);
	cr_assert_str_eq(full, "\"truncated\":true");
	/* Many small members fill the payload up to its maximum, then stop. */
	struct io_field many[200];
	for (size_t i = 0; i < 200; i++)
		many[i] = IO_STR("member", "a value of some length");
	n = io_fields_format(full, sizeof(full), many, 200);
	cr_assert_lt(n, sizeof(full));
	cr_assert_gt(n, sizeof(full) - 64, "filled nearly to the maximum: %zu", n);
	const char *tail = ",\"truncated\":true";
	cr_assert_str_eq(full + n - strlen(tail), tail);
	char line[IO_EVENT_LINE_MAX];
	cr_assert_gt(io_event_format(line, sizeof(line), 1, "n", "t", full), 0);
}
