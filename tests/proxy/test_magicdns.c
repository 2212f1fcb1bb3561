/* MagicDNS (SVC-3, ACL-1): magicdns_answer on crafted queries and on the
 * bytes a real resolver tool sends, and one round trip through
 * magicdns_new on the sim backend. */
#include "lib/wire/netmap.h"
#include "proxy/magicdns.h"
#include "tests/proxy/dp_fixture.h"
#include "tests/support/dns_query.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_A    1
#define T_MX   15
#define T_AAAA 28
#define T_ANY  255

#define RC_NOERROR  0
#define RC_FORMERR  1
#define RC_NXDOMAIN 3
#define RC_NOTIMP   4
#define RC_REFUSED  5

static const char map_doc[] =
    "{\"version\":1,\"tailnet\":\"Example.ts.net\","
    "\"self\":{\"name\":\"client\",\"addresses\":[\"100.64.0.1\"]},"
    "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"100.100.0.5\","
    "\"fd7a:115c:a1e0:ab12::5\"],\"ports\":[\"tcp:443\"]},"
    "{\"name\":\"svc:db\",\"addresses\":[\"100.100.0.6\"],\"ports\":[\"tcp:5432\"]}],"
    "\"dns\":[{\"name\":\"web.example.ts.net\",\"addresses\":[\"100.100.0.5\","
    "\"fd7a:115c:a1e0:ab12::5\"]},{\"name\":\"v4only.example.ts.net\",\"addresses\":"
    "[\"100.100.0.7\"]}]}";

static struct netmap nm;

static void setup(void)
{
	char err[NETMAP_ERR_LEN];
	cr_assert_eq(netmap_from_json(map_doc, strlen(map_doc), &nm, err, sizeof(err)), 0, "%s",
	             err);
}

static void teardown(void)
{
	netmap_free(&nm);
}

/* A query for `name` (dotted) of `qtype`, id 0xbeef, RD set. */
static size_t query(uint8_t *q, const char *name, uint16_t qtype)
{
	return dns_query_build(q, 0xbeef, name, qtype);
}

struct reply {
	ssize_t len;
	uint8_t b[MAGICDNS_MAX_REPLY];
	int rcode, qd, an;
	bool aa, tc, qr, rd;
};

static struct reply ask(const uint8_t *q, size_t n)
{
	struct reply r = {0};
	r.len = magicdns_answer(&nm, q, n, r.b, sizeof(r.b));
	if (r.len >= 12) {
		r.rcode = r.b[3] & 0x0f;
		r.qd = r.b[4] << 8 | r.b[5];
		r.an = r.b[6] << 8 | r.b[7];
		r.aa = r.b[2] & 0x04;
		r.tc = r.b[2] & 0x02;
		r.qr = r.b[2] & 0x80;
		r.rd = r.b[2] & 0x01;
	}
	return r;
}

static struct reply ask_name(const char *name, uint16_t qtype)
{
	uint8_t q[600];
	return ask(q, query(q, name, qtype));
}

/* The rdata of answer i (the answers follow the echoed question). */
static const uint8_t *answer(const struct reply *r, int i, uint16_t *type, uint32_t *ttl,
                             uint16_t *rdlen)
{
	size_t o = 12;
	while (r->b[o])
		o += 1 + r->b[o];
	o += 5;
	for (int k = 0;; k++) {
		cr_assert_lt(o + 12, (size_t)r->len);
		cr_assert_eq(r->b[o], 0xc0, "answers name the question by pointer");
		cr_assert_eq(r->b[o + 1], 12);
		*type = (uint16_t)(r->b[o + 2] << 8 | r->b[o + 3]);
		cr_assert_eq(r->b[o + 4] << 8 | r->b[o + 5], 1, "class IN");
		*ttl = (uint32_t)r->b[o + 6] << 24 | (uint32_t)r->b[o + 7] << 16 |
		       (uint32_t)r->b[o + 8] << 8 | r->b[o + 9];
		*rdlen = (uint16_t)(r->b[o + 10] << 8 | r->b[o + 11]);
		if (k == i)
			return r->b + o + 12;
		o += 12 + *rdlen;
	}
}

TestSuite(magicdns, .init = setup, .fini = teardown);

Test(magicdns, svc3_an_a_query_gets_the_services_ipv4_vip)
{
	struct reply r = ask_name("web.example.ts.net", T_A);
	uint16_t type, rdlen;
	uint32_t ttl;

	cr_assert_gt(r.len, 12);
	cr_assert_eq(r.b[0], 0xbe);
	cr_assert_eq(r.b[1], 0xef, "the id is echoed");
	cr_assert(r.qr && r.aa && r.rd && !r.tc);
	cr_assert_eq(r.b[3] & 0x80, 0, "no recursion available");
	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.qd, 1);
	cr_assert_eq(r.an, 1);
	const uint8_t *rd = answer(&r, 0, &type, &ttl, &rdlen);
	cr_assert_eq(type, T_A);
	cr_assert_eq(ttl, MAGICDNS_TTL_S);
	cr_assert_eq(rdlen, 4);
	cr_assert_eq(memcmp(rd, (uint8_t[]){100, 100, 0, 5}, 4), 0);
	cr_assert_eq((size_t)r.len, 12 + 20 + 4 + 16, "nothing after the answer");
}

Test(magicdns, svc3_an_aaaa_query_gets_the_ipv6_vip_and_any_gets_both)
{
	struct reply r = ask_name("web.example.ts.net", T_AAAA);
	uint16_t type, rdlen;
	uint32_t ttl;

	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 1);
	const uint8_t *rd = answer(&r, 0, &type, &ttl, &rdlen);
	cr_assert_eq(type, T_AAAA);
	cr_assert_eq(rdlen, 16);
	static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0xab, 0x12,
	                               0,    0,    0,    0,    0,    0,    0,    5};
	cr_assert_eq(memcmp(rd, v6, 16), 0);

	r = ask_name("web.example.ts.net", T_ANY);
	cr_assert_eq(r.an, 2);
	answer(&r, 0, &type, &ttl, &rdlen);
	cr_assert_eq(type, T_A);
	answer(&r, 1, &type, &ttl, &rdlen);
	cr_assert_eq(type, T_AAAA);

	/* AAAA for a name with only an IPv4 VIP, or MX: NOERROR, no answer. */
	r = ask_name("v4only.example.ts.net", T_AAAA);
	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 0);
	r = ask_name("web.example.ts.net", T_MX);
	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 0);
	cr_assert(r.aa);
}

Test(magicdns, acl1_names_the_netmap_does_not_list_are_nxdomain)
{
	/* svc:db exists, but this node's records do not include it. */
	struct reply r = ask_name("db.example.ts.net", T_A);
	cr_assert_eq(r.rcode, RC_NXDOMAIN);
	cr_assert_eq(r.an, 0);
	cr_assert(r.aa, "authoritative for the tailnet");
	cr_assert_eq(r.qd, 1, "the question is echoed");
	r = ask_name("nosuch.example.ts.net", T_AAAA);
	cr_assert_eq(r.rcode, RC_NXDOMAIN);
	r = ask_name("deep.web.example.ts.net", T_A);
	cr_assert_eq(r.rcode, RC_NXDOMAIN);
	r = ask_name("example.ts.net", T_A);
	cr_assert_eq(r.rcode, RC_NXDOMAIN);
	/* A label holding a dot cannot smuggle a record name in. */
	uint8_t q[128];
	size_t n = query(q, "x", T_A) - 7; /* the header only */
	memcpy(q + n, "\x0bweb.example\x02ts\x03net\x00\x00\x01\x00\x01", 24);
	r = ask(q, n + 24);
	cr_assert_eq(r.rcode, RC_NXDOMAIN);
}

Test(magicdns, names_outside_the_tailnet_are_refused)
{
	static const char *const outside[] = {"google.com", "example.ts.net.evil.com",
	                                      "xexample.ts.net", "ts.net", "com"};
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		struct reply r = ask_name(outside[i], T_A);
		cr_assert_eq(r.rcode, RC_REFUSED, "%s", outside[i]);
		cr_assert_eq(r.an, 0);
		cr_assert_not(r.aa);
	}
	/* The root name. */
	uint8_t q[64];
	size_t n = query(q, "", T_A);
	cr_assert_eq(ask(q, n).rcode, RC_REFUSED);
	/* Without a netmap nothing is ours. */
	uint8_t resp[512];
	n = query(q, "web.example.ts.net", T_A);
	ssize_t l = magicdns_answer(NULL, q, n, resp, sizeof(resp));
	cr_assert_gt(l, 12);
	cr_assert_eq(resp[3] & 0x0f, RC_REFUSED);
	/* A class other than IN/ANY. */
	n = query(q, "web.example.ts.net", T_A);
	q[n - 1] = 3; /* CHAOS */
	cr_assert_eq(ask(q, n).rcode, RC_REFUSED);
}

Test(magicdns, names_match_case_insensitively_and_the_question_keeps_its_case)
{
	uint8_t q[64];
	size_t n = query(q, "WeB.ExAmPlE.Ts.NeT", T_A);
	struct reply r = ask(q, n);

	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 1);
	cr_assert_eq(memcmp(r.b + 12, q + 12, n - 12), 0, "the question is echoed as asked");
	/* A trailing empty label is the root: same thing. */
	r = ask_name("web.example.ts.net", T_A);
	cr_assert_eq(r.an, 1);
}

Test(magicdns, malformed_queries_get_formerr_when_the_header_is_readable)
{
	uint8_t q[600];
	size_t n;
	struct reply r;

	/* No header: no answer at all. */
	n = query(q, "web.example.ts.net", T_A);
	cr_assert_eq(ask(q, 11).len, 0);
	cr_assert_eq(ask(q, 0).len, 0);

	/* QDCOUNT 0 and 2. */
	q[5] = 0;
	r = ask(q, n);
	cr_assert_eq(r.len, 12);
	cr_assert_eq(r.rcode, RC_FORMERR);
	cr_assert_eq(r.b[0], 0xbe, "the id is echoed even so");
	cr_assert(r.qr);
	q[5] = 2;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	q[5] = 1;

	/* A response sent to us. */
	q[2] |= 0x80;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	q[2] &= 0x7f;

	/* Another opcode (NOTIFY = 4): not implemented. */
	q[2] |= 4 << 3;
	cr_assert_eq(ask(q, n).rcode, RC_NOTIMP);
	q[2] &= (uint8_t) ~(0x0f << 3);

	/* Truncated: inside the name, and before QTYPE/QCLASS. */
	for (size_t cut = 13; cut < n; cut++)
		cr_assert_eq(ask(q, cut).rcode, RC_FORMERR, "cut at %zu", cut);
	cr_assert_eq(ask(q, n).rcode, RC_NOERROR);

	/* A label length with the reserved 01/10 bits. */
	n = query(q, "web.example.ts.net", T_A);
	q[12] = 0x43;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	q[12] = 0x83;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);

	/* A name over 255 bytes: five labels of 63. */
	n = 12;
	memset(q, 0, 12);
	q[5] = 1;
	for (int i = 0; i < 5; i++) {
		q[n++] = 63;
		memset(q + n, 'a', 63);
		n += 63;
	}
	memcpy(q + n, "\x00\x00\x01\x00\x01", 5);
	n += 5;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	/* Four labels of 63 (and the root) are 257 bytes: still too long;
	 * three of 63 and one of 61 are exactly 255: a name (not ours). */
	n = 12;
	for (int i = 0; i < 4; i++) {
		int l = i == 3 ? 61 : 63;
		q[n++] = (uint8_t)l;
		memset(q + n, 'a', (size_t)l);
		n += (size_t)l;
	}
	memcpy(q + n, "\x00\x00\x01\x00\x01", 5);
	n += 5;
	cr_assert_eq(ask(q, n).rcode, RC_REFUSED);
}

Test(magicdns, compression_loops_and_forward_pointers_are_formerr)
{
	uint8_t q[64];
	size_t n;

	/* A pointer to itself. */
	n = query(q, "web.example.ts.net", T_A);
	q[12] = 0xc0, q[13] = 12;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	/* A label, then a pointer back to it: a loop through a label. */
	n = query(q, "web.example.ts.net", T_A);
	q[16] = 0xc0, q[17] = 12;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	/* A pointer forward, and one into the header. */
	n = query(q, "web.example.ts.net", T_A);
	q[12] = 0xc0, q[13] = 20;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	q[12] = 0xc0, q[13] = 2;
	cr_assert_eq(ask(q, n).rcode, RC_FORMERR);
	/* A pointer cut in half. */
	q[12] = 0xc0;
	cr_assert_eq(ask(q, 13).rcode, RC_FORMERR);
}

Test(magicdns, oversized_queries_are_formerr_and_edns_is_ignored)
{
	uint8_t q[MAGICDNS_MAX_QUERY + 16];
	size_t n = query(q, "web.example.ts.net", T_A);

	memset(q + n, 0, sizeof(q) - n);
	cr_assert_eq(ask(q, MAGICDNS_MAX_QUERY).rcode, RC_NOERROR, "trailing bytes are ignored");
	struct reply r = ask(q, MAGICDNS_MAX_QUERY + 1);
	cr_assert_eq(r.len, 12);
	cr_assert_eq(r.rcode, RC_FORMERR);

	/* An OPT record in the additional section. */
	n = query(q, "web.example.ts.net", T_A);
	q[11] = 1;
	memcpy(q + n, "\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00", 11);
	r = ask(q, n + 11);
	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 1);
	cr_assert_eq(r.b[11], 0, "no additional records in the reply");
}

Test(magicdns, a_small_buffer_gets_enospc)
{
	uint8_t q[64], resp[512];
	size_t n = query(q, "web.example.ts.net", T_ANY);
	ssize_t full = magicdns_answer(&nm, q, n, resp, sizeof(resp));

	cr_assert_eq(full, 12 + 20 + 4 + 16 + 28);
	for (size_t cap = 0; cap < (size_t)full; cap++)
		cr_assert_eq(magicdns_answer(&nm, q, n, resp, cap), -ENOSPC, "cap %zu", cap);
	cr_assert_eq(magicdns_answer(&nm, q, n, resp, (size_t)full), full);
	q[5] = 0;
	cr_assert_eq(magicdns_answer(&nm, q, n, resp, 11), -ENOSPC);
	cr_assert_eq(magicdns_answer(&nm, q, n, resp, 12), 12);
}

/* The bytes `dig web.example.ts.net A` sends (BIND 9.18): RD and AD set,
 * an EDNS OPT record (UDP size 1232) carrying an 8-byte client cookie. */
static const uint8_t dig_query[] = {
    0x5d, 0x1f, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 'w',  'e',
    'b',  0x07, 'e',  'x',  'a',  'm',  'p',  'l',  'e',  0x02, 't',  's',  0x03, 'n',  'e',
    't',  0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x8a, 0x3c, 0x61, 0x02, 0x9e, 0x55, 0x0d, 0xf3};

Test(magicdns, a_query_laid_out_as_dig_sends_it_is_answered)
{
	struct reply r = ask(dig_query, sizeof(dig_query));
	uint16_t type, rdlen;
	uint32_t ttl;

	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.b[0], 0x5d);
	cr_assert_eq(r.b[1], 0x1f);
	cr_assert(r.rd);
	cr_assert_eq(r.an, 1);
	const uint8_t *rd = answer(&r, 0, &type, &ttl, &rdlen);
	cr_assert_eq(memcmp(rd, (uint8_t[]){100, 100, 0, 5}, 4), 0);

	/* And one built by Python's struct module the way resolvers lay it out. */
	FILE *p = popen("python3 -c \"import struct,sys;"
	                "n=b''.join(bytes([len(l)])+l for l in b'WEB.example.ts.net'.split(b'.'))"
	                "+b'\\\\0';"
	                "sys.stdout.buffer.write(struct.pack('>HHHHHH',0x1234,0x0100,1,0,0,0)"
	                "+n+struct.pack('>HH',28,1))\" 2>/dev/null",
	                "r");
	if (!p)
		return;
	uint8_t q[128];
	size_t n = fread(q, 1, sizeof(q), p);
	if (pclose(p) != 0 || n == 0) {
		cr_log_warn("python3 unavailable: the struct-built query was skipped");
		return;
	}
	r = ask(q, n);
	cr_assert_eq(r.rcode, RC_NOERROR);
	cr_assert_eq(r.an, 1);
	answer(&r, 0, &type, &ttl, &rdlen);
	cr_assert_eq(type, T_AAAA);
}

/* ---- the server on the sim backend ------------------------------------------ */

struct sink {
	int count;
	uint8_t data[MAGICDNS_MAX_REPLY];
	size_t len;
	struct io_addr src;
};

static void sink_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                    const struct io_addr *src)
{
	struct sink *s = ctx;
	(void)handle;
	s->count++;
	s->len = len < sizeof(s->data) ? len : sizeof(s->data);
	memcpy(s->data, data, s->len);
	s->src = *src;
}

static bool got(void *arg)
{
	return ((struct sink *)arg)->count > 0;
}

Test(magicdns, svc3_a_query_over_udp_on_the_sim_gets_its_answer)
{
	const char *reason = NULL;
	struct dpf *f = dpf_new(&reason);
	int err;

	cr_assert_not_null(f, "%s", reason ? reason : "");
	struct io *sio = f->node[1].io, *cio = f->node[0].io;
	struct io_addr listen = f->node[1].underlay, from = f->node[0].underlay;
	listen.port = MAGICDNS_PORT;
	from.port = 5300;
	struct magicdns *m = magicdns_new(sio, &listen, &err);
	cr_assert_not_null(m, "magicdns_new: %d", err);
	struct sink s = {0};
	int cu = cio->ops->udp_open(cio, &from, sink_cb, &s);
	cr_assert_geq(cu, 0);

	/* Before a netmap: refused. */
	uint8_t q[64];
	size_t n = query(q, "web.example.ts.net", T_A);
	cr_assert_geq(cio->ops->udp_send(cio, cu, q, n, &listen), 0);
	cr_assert(dpf_run_until(f, got, &s, 1000000));
	cr_assert_eq(s.data[3] & 0x0f, RC_REFUSED);

	magicdns_set_netmap(m, &nm);
	s.count = 0;
	cr_assert_geq(cio->ops->udp_send(cio, cu, q, n, &listen), 0);
	cr_assert(dpf_run_until(f, got, &s, 1000000));
	cr_assert(io_addr_equal(&s.src, &listen, true), "the answer comes from port 53");
	cr_assert_eq(s.len, 12 + 20 + 4 + 16);
	cr_assert_eq(s.data[3] & 0x0f, RC_NOERROR);
	cr_assert_eq(memcmp(s.data + s.len - 4, (uint8_t[]){100, 100, 0, 5}, 4), 0);

	/* Garbage gets no answer; a header-only query gets FORMERR. */
	s.count = 0;
	cr_assert_geq(cio->ops->udp_send(cio, cu, "xx", 2, &listen), 0);
	dpf_run_until(f, got, &s, 200000);
	cr_assert_eq(s.count, 0);
	q[5] = 0;
	cr_assert_geq(cio->ops->udp_send(cio, cu, q, 12, &listen), 0);
	cr_assert(dpf_run_until(f, got, &s, 1000000));
	cr_assert_eq(s.data[3] & 0x0f, RC_FORMERR);

	/* Counts come as one event per second at most. */
	for (int i = 0; i < 20; i++)
		cr_assert_geq(cio->ops->udp_send(cio, cu, q, n, &listen), 0);
	dpf_run_until(f, got, &(struct sink){0}, 2000000);
	char line[1024];
	int events = 0;
	fflush(f->events);
	rewind(f->events);
	while (fgets(line, sizeof(line), f->events))
		events += strstr(line, "\"type\":\"dns_query\"") != NULL;
	cr_assert_geq(events, 2);
	cr_assert_leq(events, 4, "%d dns_query events for 23 queries", events);

	cio->ops->close(cio, cu, false);
	magicdns_free(m);
	dpf_free(f);
}
