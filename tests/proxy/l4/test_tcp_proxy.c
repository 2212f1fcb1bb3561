/* The L4 Service Proxy (SPEC L4-1, DRN-2, DRN-4, CFG-6) and the backend
 * programs, with the same code on both backends (compiled once with
 * tests/lib/io/fixture_epoll.c and once with fixture_sim.c, like the seam
 * contract suite).
 *
 * The world: the proxy runs on node0 and listens on node0's underlay
 * address; its target is a backend on node0's 127.0.0.1, which node1
 * cannot reach directly; the client runs on node1. In real mode the two
 * nodes are network namespaces joined by a veth pair. Node0's seam is
 * wrapped in an io_tap so the tests check the events as well. */
#include "apps/backend_apps.h"
#include "lib/base/hash.h"
#include "lib/wire/tls.h"
#include "proxy/l4/tcp_proxy.h"
#include "tests/lib/io/fixture.h"
#include "tests/lib/io/io_tap.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TCP_SUITE
#define TCP_SUITE tcp_proxy
#endif

/* Bytes pushed through for the big transfer (L4-1). */
#ifndef TCP_TEST_BIG_BYTES
#define TCP_TEST_BIG_BYTES (4u * 1024u * 1024u)
#endif
/* Enough bytes that every buffer on the way fills when the client stops
 * reading (kernel socket buffers autotune to several MB on loopback). */
#ifndef TCP_TEST_STALL_BYTES
#define TCP_TEST_STALL_BYTES (64u * 1024u * 1024u)
#endif

#define WORLD_TIMEOUT_US (60ull * 1000 * 1000)
#define CHUNK            16384u
#define CLIENTS_MAX      8

#define tt_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct tt_world {
	struct fixture *f;
	struct io_tap *tap; /* node0 as the proxy and backends see it */
	struct io *io0, *io1;
	struct backend_tcp *echo;
	struct io_addr echo_addr;
	struct tcp_proxy *proxy;
	struct io_addr proxy_addr;
	bool drained;
};

static struct tt_world world;

static void tt_teardown(void)
{
	tcp_proxy_free(world.proxy);
	backend_tcp_free(world.echo);
	if (world.f)
		fixture_free(world.f);
	io_tap_free(world.tap);
	memset(&world, 0, sizeof(world));
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_for(uint64_t us)
{
	fixture_run_until(world.f, never, NULL, us);
}

static bool flag_set(void *arg)
{
	return *(const bool *)arg;
}

static void tt_on_drained(void *ctx, struct tcp_proxy *p)
{
	struct tt_world *w = ctx;

	cr_assert_eq(p, w->proxy);
	w->drained = true;
}

static struct io_addr tt_loopback(uint16_t port)
{
	struct io_addr a;

	io_addr_v4(&a, 0x7f000001u, port);
	return a;
}

/* Two nodes, a tcp-echo on node0's loopback, and (unless `cfg` is NULL) a
 * proxy on node0's underlay forwarding to it with `cfg`'s limits. */
static void tt_setup(struct tcp_proxy_config *cfg)
{
	const char *reason = NULL;
	struct io_addr lo = tt_loopback(0);
	int rc;

	memset(&world, 0, sizeof(world));
	world.f = fixture_new(true, &reason);
	if (!world.f)
		prereq_missing("fixture unavailable: %s", reason ? reason : "(no reason)");
	world.tap = io_tap_new(world.f->node[0].io);
	cr_assert_not_null(world.tap);
	world.io0 = &world.tap->io;
	world.io1 = world.f->node[1].io;
	rc = backend_tcp_echo_start(world.io0, &lo, &world.echo);
	cr_assert_eq(rc, 0, "echo start: %d", rc);
	backend_tcp_local_addr(world.echo, &world.echo_addr);
	cr_assert_neq(world.echo_addr.port, 0);
	if (!cfg)
		return;
	cfg->label = cfg->label ? cfg->label : "svc:echo:7";
	if (!cfg->target.family)
		cfg->target = world.echo_addr;
	cfg->on_drained = tt_on_drained;
	cfg->on_drained_ctx = &world;
	rc = tcp_proxy_new(&world.proxy, world.io0, cfg);
	cr_assert_eq(rc, 0, "tcp_proxy_new: %d", rc);
	struct io_addr listen_at = world.f->node[0].underlay;
	listen_at.port = 0;
	rc = tcp_proxy_listen(world.proxy, &listen_at);
	cr_assert_eq(rc, 0, "tcp_proxy_listen: %d", rc);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);
	cr_assert_neq(world.proxy_addr.port, 0);
}

/* ---- a client on node1 ------------------------------------------------- */

static uint8_t pattern_byte(uint64_t i)
{
	return (uint8_t)(i * 131u + (i >> 9) + (i >> 17));
}

struct tclient {
	struct io *io;
	int h;
	struct tls_conn *tls; /* a TLS client over h, or NULL */
	uint64_t total;       /* bytes to send */
	uint64_t sent, received;
	bool shut_when_sent, shut;
	bool reading; /* false: leave received bytes queued (backpressure) */
	bool verify;  /* received bytes must be the echo of the pattern */
	bool connected, eof, error, write_failed, done;
	ssize_t err;
	uint64_t hash_sent, hash_recv;
	bool mismatch;
	uint64_t mismatch_at;
};

static void tclient_pump(struct tclient *c)
{
	uint8_t buf[CHUNK];

	while (c->connected && !c->write_failed && c->sent < c->total) {
		size_t n = c->total - c->sent < CHUNK ? (size_t)(c->total - c->sent) : CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern_byte(c->sent + i);
		ssize_t w = c->tls ? tls_conn_write(c->tls, buf, n)
		                   : c->io->ops->tcp_write(c->io, c->h, buf, n);
		if (w == -EAGAIN || w == 0)
			break;
		if (w < 0) {
			c->write_failed = true;
			c->err = w;
			break;
		}
		c->hash_sent = hash_fnv1a(c->hash_sent, buf, (size_t)w);
		c->sent += (uint64_t)w;
		if ((size_t)w < n && !c->tls)
			break;
	}
	if (c->connected && c->sent == c->total && c->shut_when_sent && !c->shut &&
	    !c->write_failed) {
		int rc = c->tls ? tls_conn_shutdown(c->tls) : c->io->ops->tcp_shutdown(c->io, c->h);
		if (rc == 0)
			c->shut = true;
	}
	while (c->reading && !c->eof && !c->error) {
		ssize_t r = c->tls ? tls_conn_read(c->tls, buf, sizeof(buf))
		                   : c->io->ops->tcp_read(c->io, c->h, buf, sizeof(buf));
		if (r == -EAGAIN)
			break;
		if (r == 0) {
			c->eof = true;
			break;
		}
		if (r < 0) {
			c->error = true;
			c->err = r;
			break;
		}
		if (c->verify && !c->mismatch)
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != pattern_byte(c->received + (uint64_t)i)) {
					c->mismatch = true;
					c->mismatch_at = c->received + (uint64_t)i;
					break;
				}
		c->hash_recv = hash_fnv1a(c->hash_recv, buf, (size_t)r);
		c->received += (uint64_t)r;
	}
	if (c->eof || c->error)
		c->done = true;
}

static void tclient_cb(void *ctx, int handle, unsigned events)
{
	struct tclient *c = ctx;

	cr_assert_eq(handle, c->h);
	if (events & IO_ERROR) {
		uint8_t b;
		c->error = true;
		c->done = true;
		c->err = c->io->ops->tcp_read(c->io, handle, &b, 1);
		return;
	}
	if (events & IO_WRITABLE)
		c->connected = true;
	if (c->tls) {
		int rc = tls_conn_on_event(c->tls, events);
		if (rc < 0) {
			c->error = true;
			c->done = true;
			c->err = rc;
			return;
		}
	}
	tclient_pump(c);
}

static void tclient_start_on(struct tclient *c, struct io *io, const struct io_addr *to,
                             uint64_t total, bool shut_when_sent)
{
	memset(c, 0, sizeof(*c));
	c->io = io;
	c->total = total;
	c->shut_when_sent = shut_when_sent;
	c->reading = true;
	c->verify = true;
	c->hash_sent = c->hash_recv = HASH_FNV1A_INIT;
	c->h = c->io->ops->tcp_connect(c->io, to, NULL, tclient_cb, c);
	cr_assert_geq(c->h, 0, "client connect: %d", c->h);
}

/* Starts a client on node1 towards the proxy sending `total` bytes. */
static void tclient_start(struct tclient *c, uint64_t total, bool shut_when_sent)
{
	tclient_start_on(c, world.io1, &world.proxy_addr, total, shut_when_sent);
}

static void tclient_close(struct tclient *c, bool abort_conn)
{
	tls_conn_free(c->tls);
	c->tls = NULL;
	if (c->h >= 0)
		cr_assert_eq(c->io->ops->close(c->io, c->h, abort_conn), 0);
	c->h = -1;
}

static bool tclient_done(void *arg)
{
	return ((struct tclient *)arg)->done;
}

struct wait_bytes {
	struct tclient *c;
	uint64_t bytes;
};

static bool tclient_received_at_least(void *arg)
{
	struct wait_bytes *w = arg;
	return w->c->received >= w->bytes || w->c->done;
}

static bool proxy_idle(void *arg)
{
	(void)arg;
	return tcp_proxy_open_connections(world.proxy) == 0;
}

static void expect_event(const char *type, const char *needle)
{
	cr_expect_geq(io_tap_count(world.tap, type, needle), 1, "no %s event with %s", type,
	              needle ? needle : "(anything)");
}

/* ---- L4-1: bytes unchanged both ways ------------------------------------ */

Test(TCP_SUITE, l4_1_forwards_megabytes_unchanged_both_ways, .fini = tt_teardown, .timeout = 120)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	struct tcp_proxy_stats st;

	tt_setup(&cfg);
	tclient_start(&c, TCP_TEST_BIG_BYTES, false);
	struct wait_bytes w = {&c, TCP_TEST_BIG_BYTES};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US),
	          "sent %llu received %llu", (unsigned long long)c.sent,
	          (unsigned long long)c.received);
	cr_assert_not(c.error, "client error %zd", c.err);
	cr_assert_not(c.mismatch, "echo differs at byte %llu", (unsigned long long)c.mismatch_at);
	cr_assert_eq(c.received, TCP_TEST_BIG_BYTES);
	cr_assert_eq(c.hash_sent, c.hash_recv, "checksums differ");

	/* A graceful close from the client ends the connection normally. */
	tclient_close(&c, false);
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	tcp_proxy_get_stats(world.proxy, &st);
	cr_assert_eq(st.accepted, 1);
	cr_assert_eq(st.closed_normal, 1);
	cr_assert_eq(st.bytes_up, TCP_TEST_BIG_BYTES);
	cr_assert_eq(st.bytes_down, TCP_TEST_BIG_BYTES);
	expect_event("conn_accepted", "\"service\":\"svc:echo:7\"");
	expect_event("conn_closed", "\"how\":\"normal\"");
	char needle[64];
	snprintf(needle, sizeof(needle), "\"bytes_up\":%u,\"bytes_down\":%u", TCP_TEST_BIG_BYTES,
	         TCP_TEST_BIG_BYTES);
	expect_event("conn_closed", needle);
}

Test(TCP_SUITE, l4_1_half_close_delivers_rest_of_echo_then_eof, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	const uint64_t total = 300 * 1000;

	tt_setup(&cfg);
	/* The client sends, then shuts its sending side at once: the echo of
	 * bytes still in flight must arrive before EOF. */
	tclient_start(&c, total, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US),
	          "no EOF: received %llu", (unsigned long long)c.received);
	cr_assert(c.shut, "client never shut down");
	cr_assert(c.eof, "client saw an error (%zd) instead of EOF", c.err);
	cr_assert_eq(c.received, total);
	cr_assert_not(c.mismatch);
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US),
	          "the proxy kept the finished connection");
	expect_event("conn_closed", "\"how\":\"normal\"");
	tclient_close(&c, false);
}

/* L4-1 with bytes still queued in the proxy when the client's FIN arrives:
 * the client sends and shuts its side at once, before the proxy's dial to
 * the target is up, so the bytes wait in the proxy behind the FIN. The
 * target's own count is the evidence that none was dropped. */
Test(TCP_SUITE, l4_1_bytes_sent_before_a_half_close_all_reach_a_target_still_connecting,
     .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	struct backend_tcp *sink;
	struct io_addr lo = tt_loopback(0), sink_addr;
	struct backend_tcp_stats st;

	tt_setup(&cfg);
	cr_assert_eq(backend_tcp_sink_start(world.io0, &lo, &sink), 0);
	backend_tcp_local_addr(sink, &sink_addr);
	tcp_proxy_set_target(world.proxy, &sink_addr);
	tclient_start(&c, 7777, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.shut && c.eof, "client: shut %d eof %d err %zd", c.shut, c.eof, c.err);
	backend_tcp_get_stats(sink, &st);
	cr_assert_eq(st.bytes_in, 7777, "L4-1: the target got %llu of 7777 bytes",
	             (unsigned long long)st.bytes_in);
	tclient_close(&c, false);
	tcp_proxy_free(world.proxy);
	world.proxy = NULL;
	backend_tcp_free(sink);
}

Test(TCP_SUITE, l4_1_target_that_speaks_after_client_eof_is_still_relayed, .fini = tt_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;

	tt_setup(&cfg);
	/* Zero bytes and an immediate FIN: the proxy must still connect,
	 * forward the FIN, and relay the echo's FIN back. */
	tclient_start(&c, 0, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.eof);
	cr_assert_eq(c.received, 0);
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	tclient_close(&c, false);
}

/* ---- failures ----------------------------------------------------------- */

Test(TCP_SUITE, l4_1_refused_target_resets_the_client_promptly, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;

	tt_setup(NULL);
	cfg.target = world.echo_addr;
	backend_tcp_free(world.echo); /* nothing listens there any more */
	world.echo = NULL;
	cfg.label = "svc:gone:1";
	cfg.on_drained = tt_on_drained;
	cfg.on_drained_ctx = &world;
	cr_assert_eq(tcp_proxy_new(&world.proxy, world.io0, &cfg), 0);
	struct io_addr at = world.f->node[0].underlay;
	cr_assert_eq(tcp_proxy_listen(world.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);

	tclient_start(&c, 1000, false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, 2 * 1000 * 1000),
	          "client not told within 2 s");
	cr_assert(c.error, "client saw EOF, not a reset");
	cr_assert_eq(c.err, -ECONNRESET, "client read %zd", c.err);
	expect_event("conn_upstream_failed", "\"reason\":\"refused\"");
	expect_event("conn_closed", "\"how\":\"aborted\"");
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 0);
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_1_target_reset_propagates_to_the_client, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	struct backend_tcp *faulty;
	const struct backend_tcp_config bc = {
	    .kind = BACKEND_TCP_ECHO, .local = tt_loopback(0), .reset_after_bytes = 10000};

	tt_setup(NULL);
	cr_assert_eq(backend_tcp_start(world.io0, &bc, &faulty), 0);
	backend_tcp_local_addr(faulty, &cfg.target);
	/* Reuse the echo slot so teardown frees it. */
	backend_tcp_free(world.echo);
	world.echo = faulty;
	cfg.label = "svc:faulty:1";
	cr_assert_eq(tcp_proxy_new(&world.proxy, world.io0, &cfg), 0);
	struct io_addr at = world.f->node[0].underlay;
	cr_assert_eq(tcp_proxy_listen(world.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);

	tclient_start(&c, 100000, false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.error || c.write_failed, "client did not see the reset");
	cr_assert_eq(c.err, -ECONNRESET, "client got %zd", c.err);
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	expect_event("conn_closed", "\"reason\":\"upstream_reset\"");
	expect_event("backend_conn_closed", "\"how\":\"fault_reset\"");
	tclient_close(&c, false);
}

static bool echo_idle(void *arg)
{
	struct backend_tcp_stats st;

	(void)arg;
	backend_tcp_get_stats(world.echo, &st);
	return st.accepted > 0 && st.open == 0;
}

Test(TCP_SUITE, l4_1_client_reset_propagates_to_the_target, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;

	tt_setup(&cfg);
	tclient_start(&c, 5000, false);
	struct wait_bytes w = {&c, 5000};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	tclient_close(&c, true);
	cr_assert(fixture_run_until(world.f, echo_idle, NULL, WORLD_TIMEOUT_US),
	          "the target never saw the connection end");
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	expect_event("conn_closed", "\"how\":\"reset\",\"reason\":\"client_reset\"");
	expect_event("backend_conn_closed", "\"how\":\"reset\"");
}

Test(TCP_SUITE, l4_1_unanswered_connect_times_out, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {.connect_timeout_us = 300 * 1000};
	struct tclient c;

	tt_setup(NULL);
	/* A listener whose backlog is never accepted still completes the
	 * handshake, so aim at an address nobody holds on node0's link. */
	cfg.target = world.f->node[0].underlay;
	cfg.target.ip[3] = (uint8_t)(cfg.target.ip[3] + 77);
	cfg.target.port = 9;
	cfg.label = "svc:void:9";
	cr_assert_eq(tcp_proxy_new(&world.proxy, world.io0, &cfg), 0);
	struct io_addr at = world.f->node[0].underlay;
	cr_assert_eq(tcp_proxy_listen(world.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);

	tclient_start(&c, 10, false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.error);
	const struct io_tap_event *e = io_tap_last(world.tap, "conn_upstream_failed", NULL);
	cr_assert_not_null(e);
	/* The kernel may give up first (no route / ARP failure) on some
	 * links; either way the client is told and the event names it. */
	cr_assert(strstr(e->fields, "\"reason\":\"timeout\"") ||
	              strstr(e->fields, "\"reason\":\"unreachable\""),
	          "unexpected: %s", e->fields);
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 0);
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_1_idle_connection_is_closed_after_idle_timeout, .fini = tt_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {.idle_timeout_us = 400 * 1000};
	struct tclient c;

	tt_setup(&cfg);
	tclient_start(&c, 100, false);
	struct wait_bytes w = {&c, 100};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	/* Still open well within the timeout. */
	run_for(200 * 1000);
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 1);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, 5 * 1000 * 1000));
	cr_assert(c.error, "expected a reset");
	expect_event("conn_closed", "\"how\":\"aborted\",\"reason\":\"idle_timeout\"");
	tclient_close(&c, false);
}

/* ---- limits ------------------------------------------------------------- */

Test(TCP_SUITE, l4_limit_connections_over_max_are_refused_and_reported, .fini = tt_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {.max_conns = 2};
	static struct tclient c[4];

	tt_setup(&cfg);
	for (int i = 0; i < 2; i++) {
		tclient_start(&c[i], 10, false);
		struct wait_bytes w = {&c[i], 10};
		cr_assert(
		    fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	}
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 2);
	tclient_start(&c[2], 10, false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c[2], WORLD_TIMEOUT_US));
	cr_assert(c[2].error, "third connection was not reset");
	expect_event("limit_hit", "\"limit\":\"tcp_proxy_conns_max\",\"max\":2");
	/* The two open ones are undisturbed, and a slot freed is usable. */
	cr_assert_not(c[0].done);
	cr_assert_not(c[1].done);
	tclient_close(&c[0], false);
	tclient_close(&c[2], false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c[1], 300 * 1000) == false);
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 1);
	tclient_start(&c[3], 10, false);
	struct wait_bytes w3 = {&c[3], 10};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w3, WORLD_TIMEOUT_US));
	cr_assert_eq(c[3].received, 10);
	cr_assert_not(c[3].error);
	tclient_close(&c[1], false);
	tclient_close(&c[3], false);
}

/* REL-1: a flood of refused connections writes one limit_hit a second
 * with its count, not a line each; the counts add up to every connection
 * the clients saw reset. */
Test(TCP_SUITE, rel1_refused_connections_are_reported_a_line_a_second_with_their_count,
     .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {.max_conns = 1};
	enum { FLOOD = 12 };
	static struct tclient first, c[FLOOD];

	tt_setup(&cfg);
	tclient_start(&first, 10, false);
	struct wait_bytes w = {&first, 10};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	for (int i = 0; i < FLOOD; i++)
		tclient_start(&c[i], 10, false);
	for (int i = 0; i < FLOOD; i++) {
		cr_assert(fixture_run_until(world.f, tclient_done, &c[i], WORLD_TIMEOUT_US));
		cr_assert(c[i].error, "connection %d was not reset", i);
	}
	run_for(1500 * 1000); /* past the gap: what was held is reported */
	unsigned long long total = 0;
	size_t lines = 0;
	for (size_t i = 0; i < world.tap->count; i++) {
		const struct io_tap_event *e = &world.tap->events[i];
		const char *n = strstr(e->fields, "\"count\":");
		if (strcmp(e->type, "limit_hit") != 0 || !strstr(e->fields, "tcp_proxy_conns_max"))
			continue;
		cr_assert_not_null(n, "limit_hit without a count: %s", e->fields);
		total += strtoull(n + 8, NULL, 10);
		lines++;
	}
	cr_assert_eq(total, FLOOD, "counts add up to %llu, not the %d refused", total, FLOOD);
	cr_assert_leq(lines, 3, "%zu limit_hit lines for %d refusals within a second", lines,
	              FLOOD);
	tclient_close(&first, false);
	for (int i = 0; i < FLOOD; i++)
		tclient_close(&c[i], false);
}

Test(TCP_SUITE, l4_limit_backpressure_bounds_buffering_when_client_stops_reading,
     .fini = tt_teardown, .timeout = 300)
{
	struct tcp_proxy_config cfg = {0};
	static struct tclient c;

	tt_setup(&cfg);
	tclient_start(&c, TCP_TEST_STALL_BYTES, false);
	c.reading = false;
	/* Until every buffer on the way is full, the client can write; then it
	 * must stall well short of the total (and stay stalled). */
	uint64_t last = (uint64_t)-1;
	for (int i = 0; i < 40 && c.sent != last; i++) {
		last = c.sent;
		run_for(300 * 1000);
	}
	cr_assert_eq(c.sent, last, "still sending after 12 s: no backpressure");
	cr_assert_lt(c.sent, TCP_TEST_STALL_BYTES, "nothing pushed back: sent everything");
	cr_assert_lt(c.received, c.sent);
	/* Resuming reading lets everything through, unchanged. */
	c.reading = true;
	tclient_pump(&c);
	struct wait_bytes w = {&c, TCP_TEST_STALL_BYTES};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US * 4),
	          "received %llu", (unsigned long long)c.received);
	cr_assert_eq(c.received, TCP_TEST_STALL_BYTES);
	cr_assert_not(c.mismatch);
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_limit_config_out_of_bounds_is_rejected, .fini = tt_teardown)
{
	struct tcp_proxy_config cfg = {0};
	struct tcp_proxy *p = NULL;
	char long_label[TCP_PROXY_LABEL_MAX + 2];

	tt_setup(NULL);
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL, "no target accepted");
	cfg.target = world.echo_addr;
	cfg.max_conns = TCP_PROXY_CONNS_MAX_LIMIT + 1;
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL);
	cfg.max_conns = 0;
	cfg.buf_bytes = TCP_PROXY_BUF_BYTES_MIN - 1;
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL);
	cfg.buf_bytes = TCP_PROXY_BUF_BYTES_MAX + 1;
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL);
	cfg.buf_bytes = 0;
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	cfg.label = long_label;
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL);
	cfg.label = "ok";
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), 0);
	struct io_addr at = world.f->node[0].underlay;
	for (unsigned i = 0; i < TCP_PROXY_LISTENERS_MAX; i++) {
		at.port = 0;
		cr_assert_eq(tcp_proxy_listen(p, &at), 0);
	}
	cr_assert_eq(tcp_proxy_listen(p, &at), -ENOSPC);
	tcp_proxy_stop_accepting(p);
	cr_assert_eq(tcp_proxy_listen(p, &at), -EBUSY);
	tcp_proxy_free(p);
}

/* ---- CFG-6, drain and abort -------------------------------------------- */

Test(TCP_SUITE, cfg_6_new_target_applies_to_new_connections_only, .fini = tt_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient a, b;
	struct backend_tcp *sink;
	struct io_addr lo = tt_loopback(0), sink_addr;
	struct backend_tcp_stats st;

	tt_setup(&cfg);
	tclient_start(&a, 1000, false);
	struct wait_bytes wa = {&a, 1000};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &wa, WORLD_TIMEOUT_US));

	cr_assert_eq(backend_tcp_sink_start(world.io0, &lo, &sink), 0);
	backend_tcp_local_addr(sink, &sink_addr);
	tcp_proxy_set_target(world.proxy, &sink_addr);
	tclient_start(&b, 7777, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &b, WORLD_TIMEOUT_US));
	cr_assert(b.eof);
	cr_assert_eq(b.received, 0, "the sink does not answer");
	backend_tcp_get_stats(sink, &st);
	cr_assert_eq(st.bytes_in, 7777);

	/* The old connection still reaches the echo. */
	a.total = 3000;
	tclient_pump(&a);
	struct wait_bytes wa2 = {&a, 3000};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &wa2, WORLD_TIMEOUT_US));
	cr_assert_not(a.mismatch);
	expect_event("tcp_proxy_target_changed", NULL);
	tclient_close(&a, false);
	tclient_close(&b, false);
	tcp_proxy_free(world.proxy);
	world.proxy = NULL;
	backend_tcp_free(sink);
}

struct refused_probe {
	int h;
	bool done, connected, error;
};

static void probe_cb(void *ctx, int handle, unsigned events)
{
	struct refused_probe *p = ctx;

	(void)handle;
	if (events & IO_ERROR)
		p->error = true;
	else if (events & IO_WRITABLE)
		p->connected = true;
	p->done = true;
}

Test(TCP_SUITE, drn_2_open_connection_survives_stop_accepting, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient a;
	struct refused_probe probe = {0};

	tt_setup(&cfg);
	tclient_start(&a, 2000, false);
	struct wait_bytes w = {&a, 2000};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));

	tcp_proxy_stop_accepting(world.proxy);
	expect_event("tcp_proxy_stopped_accepting", "\"open\":1");
	probe.h = world.io1->ops->tcp_connect(world.io1, &world.proxy_addr, NULL, probe_cb, &probe);
	cr_assert_geq(probe.h, 0);
	cr_assert(fixture_run_until(world.f, flag_set, &probe.done, WORLD_TIMEOUT_US));
	cr_assert(probe.error, "a new connection was accepted while draining");
	world.io1->ops->close(world.io1, probe.h, false);
	run_for(50 * 1000);
	cr_assert_not(world.drained, "drained reported while a connection is open");

	/* The open one keeps flowing, then ends normally; the drain ends. */
	a.total = 500 * 1000;
	a.shut_when_sent = true;
	tclient_pump(&a);
	cr_assert(fixture_run_until(world.f, tclient_done, &a, WORLD_TIMEOUT_US));
	cr_assert(a.eof);
	cr_assert_eq(a.received, 500 * 1000);
	cr_assert_not(a.mismatch);
	cr_assert(fixture_run_until(world.f, flag_set, &world.drained, WORLD_TIMEOUT_US));
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 0);
	expect_event("tcp_proxy_drained", "\"service\":\"svc:echo:7\"");
	cr_assert_eq(io_tap_count(world.tap, "conn_closed", "\"how\":\"normal\""), 1);
	tclient_close(&a, false);
}

Test(TCP_SUITE, drn_2_stop_accepting_with_nothing_open_reports_drained_at_once, .fini = tt_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};

	tt_setup(&cfg);
	tcp_proxy_stop_accepting(world.proxy);
	cr_assert_not(world.drained, "on_drained ran inside stop_accepting");
	cr_assert(fixture_run_until(world.f, flag_set, &world.drained, WORLD_TIMEOUT_US));
	tcp_proxy_stop_accepting(world.proxy);
	run_for(10 * 1000);
	cr_assert_eq(io_tap_count(world.tap, "tcp_proxy_drained", NULL), 1);
}

Test(TCP_SUITE, drn_4_abort_all_resets_every_open_connection, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	static struct tclient c[3];

	tt_setup(&cfg);
	for (int i = 0; i < 3; i++) {
		tclient_start(&c[i], 1000, false);
		struct wait_bytes w = {&c[i], 1000};
		cr_assert(
		    fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	}
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 3);
	tcp_proxy_abort_all(world.proxy);
	cr_assert_eq(tcp_proxy_open_connections(world.proxy), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert(fixture_run_until(world.f, tclient_done, &c[i], WORLD_TIMEOUT_US));
		cr_assert(c[i].error, "client %d saw EOF, not a reset", i);
		cr_assert_eq(c[i].err, -ECONNRESET);
	}
	cr_assert(fixture_run_until(world.f, echo_idle, NULL, WORLD_TIMEOUT_US),
	          "the target's side stayed open");
	cr_assert_eq(
	    io_tap_count(world.tap, "conn_closed", "\"how\":\"aborted\",\"reason\":\"abort_all\""),
	    3);
	/* The listener still works (abort is not drain). */
	struct tclient d;
	tclient_start(&d, 10, false);
	struct wait_bytes w = {&d, 10};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	cr_assert_eq(d.received, 10);
	for (int i = 0; i < 3; i++)
		tclient_close(&c[i], false);
	tclient_close(&d, false);
}

Test(TCP_SUITE, many_concurrent_connections_each_get_their_own_bytes, .fini = tt_teardown,
     .timeout = 120)
{
	struct tcp_proxy_config cfg = {0};
	static struct tclient c[CLIENTS_MAX];

	tt_setup(&cfg);
	for (int i = 0; i < CLIENTS_MAX; i++)
		tclient_start(&c[i], 50000u + 1000u * (unsigned)i, true);
	for (int i = 0; i < CLIENTS_MAX; i++) {
		cr_assert(fixture_run_until(world.f, tclient_done, &c[i], WORLD_TIMEOUT_US));
		cr_assert(c[i].eof);
		cr_assert_eq(c[i].received, c[i].total);
		cr_assert_not(c[i].mismatch);
	}
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	cr_assert_eq(io_tap_count(world.tap, "conn_closed", "\"how\":\"normal\""), CLIENTS_MAX);
	for (int i = 0; i < CLIENTS_MAX; i++)
		tclient_close(&c[i], false);
}

#ifndef TCP_TEST_SIM
/* IPv6 paths exist in real mode only (the simulator is IPv4-only). */
Test(TCP_SUITE, l4_1_ipv6_listener_forwards_to_ipv4_target, .fini = tt_teardown, .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct io_addr v6;
	struct tclient c;

	tt_setup(&cfg);
	cr_assert_eq(io_addr_parse(&v6, "[::1]:0", 0), 0);
	int rc = tcp_proxy_listen(world.proxy, &v6);
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT)
		prereq_missing("no IPv6 loopback here (%d)", rc);
	cr_assert_eq(rc, 0, "listen on [::1]: %d", rc);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 1, &v6), 0);
	cr_assert_eq(v6.family, IO_AF_INET6);
	tclient_start_on(&c, world.io0, &v6, 200000, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.eof);
	cr_assert_eq(c.received, 200000);
	cr_assert_not(c.mismatch);
	expect_event("conn_accepted", "\"peer\":\"[::1]:");
	tclient_close(&c, false);
}
#endif

/* ---- backend programs --------------------------------------------------- */

Test(TCP_SUITE, backend_tcp_sink_counts_and_discards, .fini = tt_teardown, .timeout = 60)
{
	struct backend_tcp *sink;
	struct backend_tcp_stats st;
	struct tcp_proxy_config cfg = {0};
	struct tclient c;

	tt_setup(NULL);
	const struct backend_tcp_config bc = {.kind = BACKEND_TCP_SINK, .local = tt_loopback(0)};
	cr_assert_eq(backend_tcp_start(world.io0, &bc, &sink), 0);
	backend_tcp_local_addr(sink, &cfg.target);
	cfg.label = "svc:sink:1";
	cr_assert_eq(tcp_proxy_new(&world.proxy, world.io0, &cfg), 0);
	struct io_addr at = world.f->node[0].underlay;
	cr_assert_eq(tcp_proxy_listen(world.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);
	tclient_start(&c, 1234567, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(c.eof);
	backend_tcp_get_stats(sink, &st);
	cr_assert_eq(st.bytes_in, 1234567);
	cr_assert_eq(st.bytes_out, 0);
	cr_assert_eq(st.accepted, 1);
	tclient_close(&c, false);
	tcp_proxy_free(world.proxy);
	world.proxy = NULL;
	backend_tcp_free(sink);
}

Test(TCP_SUITE, backend_tcp_over_max_conns_is_reset, .fini = tt_teardown, .timeout = 60)
{
	struct backend_tcp *small;
	const struct backend_tcp_config bc = {
	    .kind = BACKEND_TCP_ECHO, .local = {0}, .max_conns = 1};
	struct backend_tcp_config bcfg = bc;
	static struct tclient c[2];

	tt_setup(NULL);
	bcfg.local = world.f->node[0].underlay;
	cr_assert_eq(backend_tcp_start(world.io0, &bcfg, &small), 0);
	backend_tcp_local_addr(small, &world.proxy_addr); /* clients dial it directly */
	tclient_start(&c[0], 10, false);
	struct wait_bytes w = {&c[0], 10};
	cr_assert(fixture_run_until(world.f, tclient_received_at_least, &w, WORLD_TIMEOUT_US));
	tclient_start(&c[1], 10, false);
	cr_assert(fixture_run_until(world.f, tclient_done, &c[1], WORLD_TIMEOUT_US));
	cr_assert(c[1].error);
	expect_event("limit_hit", "\"limit\":\"backend_conns_max\"");
	tclient_close(&c[0], false);
	tclient_close(&c[1], false);
	backend_tcp_free(small);
}

struct udp_test {
	int h;
	size_t got;
	uint8_t buf[2048];
	bool done;
};

static void udp_client_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                          const struct io_addr *src)
{
	struct udp_test *t = ctx;

	(void)src;
	cr_assert_eq(handle, t->h);
	cr_assert_leq(len, sizeof(t->buf));
	memcpy(t->buf, data, len);
	t->got = len;
	t->done = true;
}

Test(TCP_SUITE, backend_udp_echo_returns_the_datagram, .fini = tt_teardown, .timeout = 60)
{
	struct backend_udp_echo *ue;
	struct io_addr ue_addr, any = {0};
	struct udp_test t = {0};
	struct backend_udp_stats st;
	uint8_t msg[1200];

	tt_setup(NULL);
	cr_assert_eq(backend_udp_echo_start(world.io0, &world.f->node[0].underlay, &ue), 0);
	backend_udp_echo_local_addr(ue, &ue_addr);
	cr_assert_neq(ue_addr.port, 0);
	any = world.f->node[1].underlay;
	t.h = world.io1->ops->udp_open(world.io1, &any, udp_client_cb, &t);
	cr_assert_geq(t.h, 0);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = pattern_byte(i);
	cr_assert_geq(world.io1->ops->udp_send(world.io1, t.h, msg, sizeof(msg), &ue_addr), 0);
	cr_assert(fixture_run_until(world.f, flag_set, &t.done, WORLD_TIMEOUT_US));
	cr_assert_eq(t.got, sizeof(msg));
	cr_assert_eq(memcmp(t.buf, msg, sizeof(msg)), 0);
	backend_udp_echo_get_stats(ue, &st);
	cr_assert_eq(st.datagrams, 1);
	world.io1->ops->close(world.io1, t.h, false);
	backend_udp_echo_free(ue);
}

/* ---- L4-2: TLS-terminated TCP ------------------------------------------ */

#define TLS_NAME "db.example.ts.net"

struct tls_world {
	char dir[64];
	struct tls_ctx *server, *client;
};

static struct tls_world tlsw;

static void tls_teardown(void)
{
	char cmd[128];

	tt_teardown();
	tls_ctx_free(tlsw.server);
	tls_ctx_free(tlsw.client);
	if (tlsw.dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tlsw.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tlsw.dir);
	}
	memset(&tlsw, 0, sizeof(tlsw));
}

/* A throwaway CA and a server certificate for TLS_NAME signed by it, made
 * with the openssl command; then a server and a client context. */
static void tls_setup(void)
{
	char cmd[1024], cert[96], key[96], ca[96], err[TLS_ERR_LEN];
	int rc;

	memset(&tlsw, 0, sizeof(tlsw));
	snprintf(tlsw.dir, sizeof(tlsw.dir), "/tmp/tcp-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(tlsw.dir));
	snprintf(cmd, sizeof(cmd),
	         "(cd %s && printf 'subjectAltName=DNS:%s\n' > ext && "
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "-keyout ca.key -out ca.crt -days 2 -subj /CN=tailsim-test-ca && "
	         "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	         "-keyout srv.key -out srv.csr -subj /CN=%s && "
	         "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	         "-out srv.crt -days 2 -extfile ext) >/dev/null 2>&1",
	         tlsw.dir, TLS_NAME, TLS_NAME);
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		prereq_missing("the openssl command is not installed");
	cr_assert_eq(system(cmd), 0, "making test certificates failed");
	snprintf(cert, sizeof(cert), "%s/srv.crt", tlsw.dir);
	snprintf(key, sizeof(key), "%s/srv.key", tlsw.dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tlsw.dir);
	const struct tls_ctx_config sc = {.server = true, .cert_file = cert, .key_file = key};
	rc = tls_ctx_new(&tlsw.server, world.io0, &sc, err, sizeof(err));
	cr_assert_eq(rc, 0, "server ctx: %s", err);
	const struct tls_ctx_config cc = {.server = false, .ca_file = ca};
	rc = tls_ctx_new(&tlsw.client, world.io1, &cc, err, sizeof(err));
	cr_assert_eq(rc, 0, "client ctx: %s", err);
}

/* The world, certificates, and a TLS-terminating proxy in front of the
 * echo. */
static void tls_proxy_setup(struct tcp_proxy_config *cfg)
{
	int rc;

	tt_setup(NULL);
	tls_setup();
	cfg->label = "svc:db:5432";
	cfg->target = world.echo_addr;
	cfg->tls = tlsw.server;
	rc = tcp_proxy_new(&world.proxy, world.io0, cfg);
	cr_assert_eq(rc, 0, "tcp_proxy_new: %d", rc);
	struct io_addr at = world.f->node[0].underlay;
	cr_assert_eq(tcp_proxy_listen(world.proxy, &at), 0);
	cr_assert_eq(tcp_proxy_local_addr(world.proxy, 0, &world.proxy_addr), 0);
}

static void tclient_start_tls(struct tclient *c, uint64_t total, bool shut_when_sent)
{
	tclient_start(c, total, shut_when_sent);
	c->tls = tls_conn_new_client(tlsw.client, c->io, c->h, TLS_NAME);
	cr_assert_not_null(c->tls);
}

Test(TCP_SUITE, l4_2_tls_client_reaches_plaintext_target_through_proxy, .fini = tls_teardown,
     .timeout = 120)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	struct backend_tcp_stats st;
	const uint64_t total = 1024 * 1024;

	tls_proxy_setup(&cfg);
	tclient_start_tls(&c, total, true);
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US),
	          "received %llu of %llu", (unsigned long long)c.received,
	          (unsigned long long)total);
	cr_assert(c.eof, "TLS client error %zd (%s)", c.err, tls_conn_error(c.tls));
	cr_assert(tls_conn_handshake_done(c.tls));
	cr_assert_eq(c.received, total);
	cr_assert_not(c.mismatch);
	cr_assert_eq(c.hash_sent, c.hash_recv);
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	/* The target saw exactly the plaintext bytes (ciphertext is longer). */
	backend_tcp_get_stats(world.echo, &st);
	cr_assert_eq(st.bytes_in, total);
	cr_assert_eq(st.bytes_out, total);
	expect_event("conn_closed", "\"how\":\"normal\"");
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_2_plaintext_client_is_reset_and_target_never_dialled, .fini = tls_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {0};
	struct tclient c;
	struct backend_tcp_stats st;

	tls_proxy_setup(&cfg);
	tclient_start(&c, 4000, false); /* not TLS: garbage to the server */
	cr_assert(fixture_run_until(world.f, tclient_done, &c, WORLD_TIMEOUT_US));
	cr_assert(fixture_run_until(world.f, proxy_idle, NULL, WORLD_TIMEOUT_US));
	expect_event("tls_failed", "\"service\":\"svc:db:5432\"");
	expect_event("conn_closed", "\"reason\":\"tls_error\"");
	backend_tcp_get_stats(world.echo, &st);
	cr_assert_eq(st.accepted, 0, "the target was dialled before TLS succeeded");
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_2_silent_client_is_dropped_after_handshake_timeout, .fini = tls_teardown,
     .timeout = 60)
{
	struct tcp_proxy_config cfg = {.handshake_timeout_us = 300 * 1000};
	struct tclient c;

	tls_proxy_setup(&cfg);
	tclient_start(&c, 0, false); /* connects, says nothing */
	cr_assert(fixture_run_until(world.f, tclient_done, &c, 5 * 1000 * 1000));
	cr_assert(c.error);
	expect_event("conn_closed", "\"how\":\"aborted\",\"reason\":\"tls_handshake_timeout\"");
	tclient_close(&c, false);
}

Test(TCP_SUITE, l4_2_client_ctx_is_refused_as_server_context, .fini = tls_teardown)
{
	struct tcp_proxy_config cfg = {0};
	struct tcp_proxy *p = NULL;

	tt_setup(NULL);
	tls_setup();
	cfg.target = world.echo_addr;
	cfg.tls = tlsw.client;
	cr_assert_eq(tcp_proxy_new(&p, world.io0, &cfg), -EINVAL);
}
