/* The data plane's flow table, timers, drop accounting and wire format,
 * against a scripted seam (a fake `struct io` with a hand-driven clock), so
 * minutes of idle time pass in microseconds. */
#include "lib/wire/netmap.h"
#include "lib/wire/packet.h"
#include "proxy/dataplane/dataplane.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_TIMERS 4

struct fake_io {
	struct io io;
	uint64_t now_us;
	struct io_timer *timers[FAKE_TIMERS];
	io_dgram_fn dgram_fn;
	void *dgram_ctx;
	io_packet_fn tun_fn;
	void *tun_ctx;
	unsigned sent, tun_written;
	uint8_t last_written[2048]; /* the last packet handed to the stack */
	size_t last_written_len;
	unsigned sent_type[4];  /* by wire message type (0: other) */
	unsigned pings_to[256]; /* by the last byte of the destination */
	uint8_t last_sent[2048];
	size_t last_sent_len;
	struct io_addr last_dst;
	int addrs_added, addrs_deleted;
	unsigned events;
	char last_event[256];
	char event_log[16384];
	size_t log_len;
};

static struct fake_io *fio(struct io *io)
{
	return (struct fake_io *)io;
}

static int f_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	(void)local;
	fio(io)->dgram_fn = fn;
	fio(io)->dgram_ctx = ctx;
	return 1;
}

static int f_udp_send(struct io *io, int h, const void *data, size_t len, const struct io_addr *dst)
{
	struct fake_io *f = fio(io);
	(void)h;
	f->sent++;
	f->sent_type[len >= 3 && ((const uint8_t *)data)[2] < 4 ? ((const uint8_t *)data)[2] : 0]++;
	if (len >= 3 && ((const uint8_t *)data)[2] == DATAPLANE_MSG_PING)
		f->pings_to[dst->ip[3]]++;
	f->last_sent_len = len < sizeof(f->last_sent) ? len : sizeof(f->last_sent);
	memcpy(f->last_sent, data, f->last_sent_len);
	f->last_dst = *dst;
	return (int)len;
}

static int f_sock_name(struct io *io, int h, bool peer, struct io_addr *out)
{
	(void)io, (void)h, (void)peer;
	io_addr_v4(out, 0x0a000001u, DATAPLANE_DEFAULT_PORT);
	return 0;
}

static int f_close(struct io *io, int h, bool abort_)
{
	(void)io, (void)h, (void)abort_;
	return 0;
}

static int f_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	fio(io)->tun_fn = fn;
	fio(io)->tun_ctx = ctx;
	return 0;
}

static int f_tun_write(struct io *io, const void *pkt, size_t len)
{
	struct fake_io *f = fio(io);
	f->tun_written++;
	f->last_written_len = len < sizeof(f->last_written) ? len : sizeof(f->last_written);
	memcpy(f->last_written, pkt, f->last_written_len);
	return 0;
}

static int f_addr_add(struct io *io, const struct io_addr *a, int bits)
{
	(void)bits;
	if (a->family == IO_AF_INET6)
		return -EAFNOSUPPORT; /* like the sim */
	fio(io)->addrs_added++;
	return 0;
}

static int f_addr_del(struct io *io, const struct io_addr *a, int bits)
{
	(void)a, (void)bits;
	fio(io)->addrs_deleted++;
	return 0;
}

static void f_timer_arm(struct io *io, struct io_timer *t, uint64_t delay_us)
{
	struct fake_io *f = fio(io);
	for (int i = 0; i < FAKE_TIMERS; i++)
		if (!f->timers[i]) {
			f->timers[i] = t;
			t->backend_ref = t;
			t->deadline_us = f->now_us + delay_us;
			return;
		}
	cr_assert_fail("more timers than the fake seam holds");
}

static void f_timer_disarm(struct io *io, struct io_timer *t)
{
	struct fake_io *f = fio(io);
	for (int i = 0; i < FAKE_TIMERS; i++)
		if (f->timers[i] == t)
			f->timers[i] = NULL;
	t->backend_ref = NULL;
}

static uint64_t f_now(struct io *io)
{
	return fio(io)->now_us;
}

static uint64_t f_wall(struct io *io)
{
	return IO_SIM_EPOCH_S * 1000000u + fio(io)->now_us;
}

static uint64_t f_random(struct io *io)
{
	(void)io;
	return 0x1234567890abcdefull;
}

static void f_random_secret(struct io *io, void *buf, size_t len)
{
	(void)io;
	memset(buf, 0x5a, len);
}

static void f_emit(struct io *io, const char *type, const char *fields)
{
	struct fake_io *f = fio(io);
	size_t n = f->log_len;
	f->events++;
	snprintf(f->last_event, sizeof(f->last_event), "%s {%s}", type, fields);
	if (n + 300 < sizeof(f->event_log)) {
		int w =
		    snprintf(f->event_log + n, sizeof(f->event_log) - n, "%s {%s}\n", type, fields);
		if (w > 0)
			f->log_len += (size_t)w;
	}
}

static const struct io_ops fake_ops = {
    .udp_open = f_udp_open,
    .udp_send = f_udp_send,
    .sock_name = f_sock_name,
    .close = f_close,
    .tun_attach = f_tun_attach,
    .tun_write = f_tun_write,
    .tun_addr_add = f_addr_add,
    .tun_addr_del = f_addr_del,
    .timer_arm = f_timer_arm,
    .timer_disarm = f_timer_disarm,
    .now_us = f_now,
    .wall_us = f_wall,
    .random_u64 = f_random,
    .random_secret = f_random_secret,
    .emit = f_emit,
};

/* Moves the clock forward, firing due timers in deadline order. */
static void advance(struct fake_io *f, uint64_t us)
{
	uint64_t end = f->now_us + us;
	for (;;) {
		struct io_timer *next = NULL;
		int slot = -1;
		for (int i = 0; i < FAKE_TIMERS; i++)
			if (f->timers[i] && f->timers[i]->deadline_us <= end &&
			    (!next || f->timers[i]->deadline_us < next->deadline_us)) {
				next = f->timers[i];
				slot = i;
			}
		if (!next)
			break;
		f->timers[slot] = NULL;
		next->backend_ref = NULL;
		if (next->deadline_us > f->now_us)
			f->now_us = next->deadline_us;
		next->fn(next);
	}
	f->now_us = end;
}

/* ---- packets ------------------------------------------------------------- */

static size_t mk(uint8_t *b, uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst,
                 uint16_t dport, uint8_t flags)
{
	size_t l4 = proto == PACKET_PROTO_TCP ? 20 : 8, n = 20 + l4;
	memset(b, 0, n);
	b[0] = 0x45;
	b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
	b[8] = 64;
	b[9] = proto;
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		b[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	b[20] = (uint8_t)(sport >> 8), b[21] = (uint8_t)sport;
	b[22] = (uint8_t)(dport >> 8), b[23] = (uint8_t)dport;
	if (proto == PACKET_PROTO_TCP) {
		b[32] = 5 << 4;
		b[33] = flags;
	} else {
		b[25] = 8;
	}
	return n;
}

#define SELF   0x64400001u /* 100.64.0.1 */
#define PEER_P 0x64400002u /* 100.64.0.2 */
#define PEER_Q 0x64400003u
#define VIP    0x64640005u /* 100.100.0.5 */

static const char map_pq[] =
    "{\"version\":1,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
    "[\"100.64.0.1\"]},\"peers\":[{\"name\":\"p\",\"addresses\":[\"100.64.0.2\"],"
    "\"endpoint\":\"10.0.0.2:41641\"},{\"name\":\"q\",\"addresses\":[\"100.64.0.3\"],"
    "\"endpoint\":\"10.0.0.3:41641\"}],\"services\":[{\"name\":\"svc:web\",\"addresses\":"
    "[\"100.100.0.5\"],\"hosts\":[\"p\",\"q\"]}]}";
/* q moved to index 0, p is gone. */
static const char map_q_only[] =
    "{\"version\":2,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
    "[\"100.64.0.1\"]},\"peers\":[{\"name\":\"q\",\"addresses\":[\"100.64.0.3\"],"
    "\"endpoint\":\"10.0.0.3:41641\"}],\"services\":[{\"name\":\"svc:web\",\"addresses\":"
    "[\"100.100.0.5\"],\"hosts\":[\"q\"]}]}";

struct unit {
	struct fake_io f;
	struct dataplane *dp;
	struct netmap nm, nm2;
};

static void unit_init(struct unit *u, uint32_t max_flows)
{
	char err[NETMAP_ERR_LEN];
	struct dataplane_config cfg = {.max_flows = max_flows};
	int rc;

	memset(u, 0, sizeof(*u));
	u->f.io.ops = &fake_ops;
	u->f.io.node_name = "me";
	u->f.now_us = 1000000;
	u->dp = dataplane_new(&u->f.io, &cfg, &rc);
	cr_assert_not_null(u->dp, "%d", rc);
	cr_assert_eq(netmap_from_json(map_pq, sizeof(map_pq) - 1, &u->nm, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(dataplane_set_netmap(u->dp, &u->nm), 0);
}

static void unit_fini(struct unit *u)
{
	dataplane_free(u->dp);
	netmap_free(&u->nm);
	netmap_free(&u->nm2);
}

static void tun(struct unit *u, const uint8_t *pkt, size_t n)
{
	u->f.tun_fn(u->f.tun_ctx, pkt, n);
}

static struct dataplane_stats stats(struct unit *u)
{
	struct dataplane_stats st;
	dataplane_stats(u->dp, &st);
	return st;
}

static const char *host_of(struct unit *u, uint8_t proto, uint32_t src, uint16_t sport,
                           uint32_t dst, uint16_t dport)
{
	struct dataplane_tuple tp = {.proto = proto};
	io_addr_v4(&tp.src, src, sport);
	io_addr_v4(&tp.dst, dst, dport);
	return dataplane_flow_host(u->dp, &tp);
}

Test(dataplane_unit, a_packet_leaves_with_the_wire_header_to_the_peer_endpoint)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	size_t n = mk(b, PACKET_PROTO_UDP, SELF, 1000, PEER_P, 53, 0);
	tun(&u, b, n);
	cr_assert_eq(u.f.sent, 1);
	cr_assert_eq(u.f.last_sent_len, DATAPLANE_HDR_LEN + n);
	cr_assert_eq(u.f.last_sent[0], 0x54);
	cr_assert_eq(u.f.last_sent[1], 1);
	cr_assert_eq(u.f.last_sent[2], 1);
	cr_assert_eq(u.f.last_sent[3], 0);
	cr_assert_eq(memcmp(u.f.last_sent + 4, b, n), 0, "the packet travels unmodified");
	struct io_addr ep;
	io_addr_v4(&ep, 0x0a000002u, 41641);
	cr_assert(io_addr_equal(&u.f.last_dst, &ep, true));
	cr_assert_eq(u.f.addrs_added, 1, "self address put on the device");
	unit_fini(&u);
	cr_assert_eq(u.f.addrs_deleted, 1, "and taken off when freed");
}

Test(dataplane_unit, udp_flows_expire_after_60_s_idle_with_one_timer)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	for (uint16_t p = 0; p < 100; p++)
		tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, (uint16_t)(1000 + p), PEER_P, 53, 0));
	cr_assert_eq(stats(&u).flows_active, 100);
	int armed = 0;
	for (int i = 0; i < FAKE_TIMERS; i++)
		armed += u.f.timers[i] != NULL;
	cr_assert_eq(armed, 2, "one sweep and one probe timer, not one per flow");
	advance(&u.f, DATAPLANE_UDP_IDLE_US - 1000000);
	cr_assert_eq(stats(&u).flows_active, 100);
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 1000, PEER_P, 53, 0)); /* keeps one alive */
	advance(&u.f, 2000000);
	cr_assert_eq(stats(&u).flows_active, 1);
	cr_assert_eq(stats(&u).flows_expired, 99);
	advance(&u.f, DATAPLANE_UDP_IDLE_US);
	cr_assert_eq(stats(&u).flows_active, 0);
	unit_fini(&u);
}

Test(dataplane_unit, tcp_flows_live_5_min_idle_and_30_s_after_fins_both_ways)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 2000, PEER_P, 80, PACKET_TCP_SYN));
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 2001, PEER_P, 80, PACKET_TCP_SYN));
	advance(&u.f, DATAPLANE_UDP_IDLE_US * 2);
	cr_assert_eq(stats(&u).flows_active, 2, "TCP outlives the UDP timeout");
	/* 2001 closes: FIN out, FIN back (as a datagram from p). */
	tun(&u, b,
	    mk(b, PACKET_PROTO_TCP, SELF, 2001, PEER_P, 80, PACKET_TCP_FIN | PACKET_TCP_ACK));
	uint8_t d[128] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};
	size_t n =
	    mk(d + 4, PACKET_PROTO_TCP, PEER_P, 80, SELF, 2001, PACKET_TCP_FIN | PACKET_TCP_ACK);
	struct io_addr from;
	io_addr_v4(&from, 0x0a000002u, 41641);
	u.f.dgram_fn(u.f.dgram_ctx, 1, d, n + 4, &from);
	cr_assert_eq(u.f.tun_written, 1, "the peer's FIN on our flow passes");
	advance(&u.f, DATAPLANE_TCP_CLOSING_US + 1000000);
	cr_assert_null(host_of(&u, PACKET_PROTO_TCP, SELF, 2001, PEER_P, 80));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, PEER_P, 80, SELF, 2000), "p",
	                 "either direction finds the flow");
	advance(&u.f, DATAPLANE_TCP_IDLE_US);
	cr_assert_eq(stats(&u).flows_active, 0);
	unit_fini(&u);
}

Test(dataplane_unit, a_full_table_evicts_the_least_recently_used_flow_with_an_event)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 4);
	for (uint16_t p = 0; p < 4; p++) {
		tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, (uint16_t)(1000 + p), PEER_P, 53, 0));
		advance(&u.f, 10);
	}
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 1000, PEER_P, 53, 0)); /* 1000 is fresh again */
	advance(&u.f, 10);
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 2000, PEER_P, 53, 0));
	struct dataplane_stats st = stats(&u);
	cr_assert_eq(st.flows_active, 4);
	cr_assert_eq(st.flows_evicted, 1);
	cr_assert_null(host_of(&u, PACKET_PROTO_UDP, SELF, 1001, PEER_P, 53), "LRU went first");
	cr_assert_not_null(host_of(&u, PACKET_PROTO_UDP, SELF, 1000, PEER_P, 53));
	cr_assert_not_null(host_of(&u, PACKET_PROTO_UDP, SELF, 2000, PEER_P, 53));
	cr_assert(strstr(u.f.event_log, "flow_evicted {\"count\":1,\"max_flows\":4}"), "%s",
	          u.f.event_log);
	unit_fini(&u);
}

Test(dataplane_unit, drop_events_come_at_most_once_a_second_per_reason_with_a_count)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	unsigned before = u.f.events;
	for (int i = 0; i < 100; i++)
		tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 1000, 0x64400063u, 53, 0));
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_NO_ROUTE], 100);
	cr_assert_eq(u.f.events - before, 1);
	cr_assert(strstr(u.f.last_event, "no_route {\"count\":1,"), "%s", u.f.last_event);
	advance(&u.f, DATAPLANE_EVENT_GAP_US);
	cr_assert_eq(u.f.events - before, 2, "the sweep reports the rest");
	cr_assert_str_eq(u.f.last_event, "no_route {\"count\":99}");
	advance(&u.f, 10 * DATAPLANE_EVENT_GAP_US);
	cr_assert_eq(u.f.events - before, 2, "nothing more to say");
	unit_fini(&u);
}

Test(dataplane_unit, str6_a_new_netmap_keeps_flows_by_peer_name_and_drops_those_of_gone_peers)
{
	struct unit u;
	uint8_t b[64];
	char err[NETMAP_ERR_LEN];

	unit_init(&u, 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 3000, VIP, 443, PACKET_TCP_SYN));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 3000, VIP, 443), "p");
	/* The flow saw a reply: it is established and stays where it is. */
	uint8_t d[128] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};
	size_t dn =
	    mk(d + 4, PACKET_PROTO_TCP, VIP, 443, SELF, 3000, PACKET_TCP_SYN | PACKET_TCP_ACK);
	struct io_addr from;
	io_addr_v4(&from, 0x0a000002u, 41641);
	u.f.dgram_fn(u.f.dgram_ctx, 1, d, dn + 4, &from);
	cr_assert_eq(u.f.tun_written, 1);
	cr_assert_eq(dataplane_mark_peer_dead(u.dp, "p"), 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 3001, VIP, 443, PACKET_TCP_SYN));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 3001, VIP, 443), "q");
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 3000, VIP, 443, PACKET_TCP_ACK));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 3000, VIP, 443), "p",
	                 "a dead mark does not move open flows");

	cr_assert_eq(netmap_from_json(map_q_only, sizeof(map_q_only) - 1, &u.nm2, err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm2), 0);
	cr_assert_null(host_of(&u, PACKET_PROTO_TCP, SELF, 3000, VIP, 443), "p left the map");
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 3001, VIP, 443), "q",
	                 "q kept its flow though its index changed");
	struct dataplane_stats st = stats(&u);
	cr_assert_eq(st.flows_dropped_by_netmap, 1);
	cr_assert(strstr(u.f.last_event, "\"flows_kept\":1,\"flows_dropped\":1"), "%s",
	          u.f.last_event);
	/* The next packet of the dropped flow is steered afresh. */
	u.f.sent = 0;
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 3000, VIP, 443, PACKET_TCP_ACK));
	cr_assert_eq(u.f.sent, 1);
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 3000, VIP, 443), "q");
	unit_fini(&u);
}

Test(dataplane_unit, oversized_and_malformed_packets_from_the_stack_are_dropped)
{
	struct unit u;
	uint8_t b[DATAPLANE_MTU + 100];

	unit_init(&u, 0);
	memset(b, 0, sizeof(b));
	size_t n = mk(b, PACKET_PROTO_UDP, SELF, 1, PEER_P, 2, 0);
	tun(&u, b, DATAPLANE_MTU + 1);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_TUN_OVERSIZED], 1);
	tun(&u, b, n - 1);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_TUN_MALFORMED], 1);
	cr_assert_eq(u.f.sent, 0);
	dataplane_set_netmap(u.dp, NULL);
	tun(&u, b, n);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_NO_NETMAP], 1);
	unit_fini(&u);
}

static double elapsed_ns(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e9 + (double)(b->tv_nsec - a->tv_nsec);
}

/* Not a timed assertion: prints the per-packet cost for the report. */
Test(dataplane_unit, per_packet_cost_is_printed_for_pinned_and_new_flows)
{
	struct unit u;
	uint8_t b[64];
	struct timespec t0, t1;
	enum { N = 1000000, FLOWS = 50000 };

	unit_init(&u, 0);
	size_t n = mk(b, PACKET_PROTO_TCP, SELF, 4000, VIP, 443, PACKET_TCP_ACK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		tun(&u, b, n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double pinned = elapsed_ns(&t0, &t1) / N;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < FLOWS; i++) {
		mk(b, PACKET_PROTO_TCP, SELF, (uint16_t)(i % 60000 + 1), VIP,
		   (uint16_t)(1 + i / 60000), PACKET_TCP_SYN);
		tun(&u, b, n);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double fresh = elapsed_ns(&t0, &t1) / FLOWS;
	cr_assert_eq(stats(&u).flows_active, FLOWS + 1);
	/* Lookups in a table of FLOWS flows. */
	mk(b, PACKET_PROTO_TCP, SELF, 77, VIP, 1, PACKET_TCP_ACK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++)
		tun(&u, b, n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double full = elapsed_ns(&t0, &t1) / N;
	fprintf(stderr,
	        "dataplane TUN->underlay: %.0f ns/packet on a pinned flow, %.0f ns/packet with "
	        "%d flows, %.0f ns per new flow (flow_new event included)\n",
	        pinned, full, FLOWS, fresh);
	unit_fini(&u);
}

Test(dataplane_unit, an_ipv6_address_the_backend_cannot_hold_is_no_error)
{
	struct unit u;
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	const char *doc = "{\"version\":1,\"tailnet\":\"t\",\"self\":{\"name\":\"me\","
	                  "\"addresses\":[\"100.64.0.1\",\"fd7a:115c:a1e0::1\"]},"
	                  "\"host_services\":[{\"name\":\"svc:a\",\"addresses\":"
	                  "[\"100.100.0.9\",\"fd7a:115c:a1e0:ab12::9\"]}]}";

	unit_init(&u, 0);
	cr_assert_eq(netmap_from_json(doc, strlen(doc), &nm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dataplane_set_netmap(u.dp, &nm), 0);
	cr_assert_eq(stats(&u).tun_addrs, 2, "the IPv4 halves are on the device");
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm), 0);
	cr_assert_eq(stats(&u).tun_addrs, 1);
	netmap_free(&nm);
	unit_fini(&u);
}

/* ---- local failover (STR-4, STR-5, STR-6) --------------------------------- */

#define EP_P   0x0a000002u
#define EP_Q   0x0a000003u
#define EP_BAD 0x0a000063u

static void underlay(struct unit *u, uint32_t ep, const uint8_t *d, size_t n)
{
	struct io_addr from;
	io_addr_v4(&from, ep, 41641);
	u->f.dgram_fn(u->f.dgram_ctx, 1, d, n, &from);
}

static size_t probe(uint8_t *d, uint8_t type, uint64_t nonce)
{
	d[0] = DATAPLANE_MAGIC, d[1] = DATAPLANE_VERSION, d[2] = type, d[3] = 0;
	for (int i = 0; i < 8; i++)
		d[4 + i] = (uint8_t)(nonce >> (56 - 8 * i));
	return DATAPLANE_PROBE_LEN;
}

static uint64_t sent_nonce(struct unit *u)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | u->f.last_sent[4 + i];
	return v;
}

static int armed_timers(struct unit *u)
{
	int n = 0;
	for (int i = 0; i < FAKE_TIMERS; i++)
		n += u->f.timers[i] != NULL;
	return n;
}

/* Answers the last PING the data plane sent (to p) as p would. */
static void answer_last_ping(struct unit *u, uint32_t ep)
{
	uint8_t d[16];
	cr_assert_eq(u->f.last_sent[2], DATAPLANE_MSG_PING);
	underlay(u, ep, d, probe(d, DATAPLANE_MSG_PONG, sent_nonce(u)));
}

Test(dataplane_unit, str4_a_silent_host_is_pinged_then_dead_and_a_pending_syn_moves_at_once)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	size_t n = mk(b, PACKET_PROTO_TCP, SELF, 5000, VIP, 443, PACKET_TCP_SYN);
	tun(&u, b, n);
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 5000, VIP, 443), "p");
	cr_assert_eq(stats(&u).pending_copies, 1, "the SYN is kept until a reply");
	advance(&u.f, DATAPLANE_PROBE_AFTER_US - 1000);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 0, "no probe before 250 ms of silence");
	advance(&u.f, 1000);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 1);
	cr_assert_eq(u.f.last_sent_len, DATAPLANE_PROBE_LEN);
	struct io_addr ep_p;
	io_addr_v4(&ep_p, EP_P, 41641);
	cr_assert(io_addr_equal(&u.f.last_dst, &ep_p, true));
	advance(&u.f, 2 * DATAPLANE_PROBE_INTERVAL_US);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 3);
	cr_assert_not(dataplane_peer_is_dead(u.dp, "p"));
	unsigned data_before = u.f.sent_type[DATAPLANE_MSG_DATA];
	advance(&u.f, DATAPLANE_PROBE_INTERVAL_US);
	/* 250 ms + 3 x 100 ms after the SYN: dead, and the SYN went to q. */
	cr_assert(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 5000, VIP, 443), "q");
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_DATA], data_before + 1);
	cr_assert_eq(u.f.last_sent_len, DATAPLANE_HDR_LEN + n);
	cr_assert_eq(memcmp(u.f.last_sent + DATAPLANE_HDR_LEN, b, n), 0, "the very SYN is re-sent");
	struct io_addr ep_q;
	io_addr_v4(&ep_q, EP_Q, 41641);
	cr_assert(io_addr_equal(&u.f.last_dst, &ep_q, true));
	struct dataplane_stats st = stats(&u);
	cr_assert_eq(st.pings_sent, 3);
	cr_assert_eq(st.peers_marked_dead, 1);
	cr_assert_eq(st.flows_resteered, 1);
	cr_assert(strstr(u.f.event_log, "peer_dead {\"peer\":\"p\",\"silent_ms\":null,"
	                                "\"unanswered_ms\":550,\"flows_resteered\":1}"),
	          "%s", u.f.event_log);
	cr_assert(strstr(u.f.event_log, "flow_resteered {\"proto\":6,\"dst\":\"100.100.0.5:443\","
	                                "\"from\":\"p\",\"to\":\"q\",\"resent\":true}"),
	          "%s", u.f.event_log);
	/* New flows skip p now. */
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 5001, VIP, 443, PACKET_TCP_SYN));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 5001, VIP, 443), "q");
	/* q answers the SYN: the copy is released. */
	uint8_t d[128] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};
	size_t dn =
	    mk(d + 4, PACKET_PROTO_TCP, VIP, 443, SELF, 5000, PACKET_TCP_SYN | PACKET_TCP_ACK);
	underlay(&u, EP_Q, d, dn + 4);
	cr_assert_eq(u.f.tun_written, 1);
	cr_assert_eq(stats(&u).pending_copies, 1, "only 5001's SYN is still held");
	unit_fini(&u);
}

Test(dataplane_unit, str5_a_dead_host_is_pinged_once_a_second_and_comes_back_on_its_pong)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 6000, VIP, 53, 0));
	advance(&u.f,
	        DATAPLANE_PROBE_AFTER_US + DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US);
	cr_assert(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 6000, VIP, 53), "q",
	                 "a UDP flow without an answer moves too");
	unsigned pings = u.f.pings_to[2];
	advance(&u.f, 5 * DATAPLANE_DEAD_PROBE_US - 1000);
	cr_assert_eq(u.f.pings_to[2], pings + 4, "one ping a second");
	advance(&u.f, 1000);
	cr_assert_eq(u.f.pings_to[2], pings + 5);
	/* A PONG with a nonce we never sent proves nothing. */
	uint8_t d[16];
	underlay(&u, EP_P, d, probe(d, DATAPLANE_MSG_PONG, sent_nonce(&u) + 1000));
	cr_assert(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_BAD_PROBE], 1);
	/* p's last ping was to p: answer it. */
	cr_assert_eq(u.f.last_sent[2], DATAPLANE_MSG_PING);
	answer_last_ping(&u, EP_P);
	cr_assert_not(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert(strstr(u.f.event_log, "peer_alive {\"peer\":\"p\""), "%s", u.f.event_log);
	cr_assert_eq(stats(&u).pongs_received, 1);
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 6001, VIP, 53, 0));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 6001, VIP, 53), "p",
	                 "new flows return to the first ranked host");
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 6000, VIP, 53), "q",
	                 "the moved flow stays where it is");
	unit_fini(&u);
}

/* STR-6 keeps it on its host while that lives; STR-7 ends it when it dies. */
Test(dataplane_unit,
     str6_str7_a_flow_that_saw_a_reply_is_never_moved_and_is_reset_when_its_host_dies)
{
	struct unit u;
	uint8_t b[64], d[128] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};

	unit_init(&u, 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7000, VIP, 443, PACKET_TCP_SYN));
	size_t dn =
	    mk(d + 4, PACKET_PROTO_TCP, VIP, 443, SELF, 7000, PACKET_TCP_SYN | PACKET_TCP_ACK);
	underlay(&u, EP_P, d, dn + 4);
	cr_assert_eq(stats(&u).pending_copies, 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7000, VIP, 443, PACKET_TCP_ACK));
	unsigned to_q = u.f.sent_type[DATAPLANE_MSG_DATA];
	advance(&u.f, 2 * DATAPLANE_DEAD_PROBE_US);
	cr_assert(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert_eq(stats(&u).flows_resteered, 0);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_DATA], to_q, "nothing of it went to q");
	cr_assert_null(host_of(&u, PACKET_PROTO_TCP, SELF, 7000, VIP, 443), "it ended");
	cr_assert_eq(stats(&u).flows_reset, 1);
	cr_assert_eq(u.f.tun_written, 2, "the SYN-ACK, then the RST");
	cr_assert(strstr(u.f.event_log, "\"silent_ms\":550,\"unanswered_ms\":550"), "%s",
	          u.f.event_log);
	unit_fini(&u);
}

Test(dataplane_unit, str4_an_answered_ping_clears_suspicion_and_the_timer_stops_when_idle)
{
	struct unit u;
	uint8_t b[64];

	unit_init(&u, 0);
	int base = armed_timers(&u);
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 8000, PEER_P, 53, 0));
	cr_assert_eq(armed_timers(&u), base + 2, "sweep and probe timers");
	advance(&u.f, DATAPLANE_PROBE_AFTER_US);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 1);
	advance(&u.f, 50000);
	answer_last_ping(&u, EP_P);
	cr_assert_eq(stats(&u).pongs_received, 1);
	advance(&u.f, DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 1, "no more probes after the pong");
	cr_assert_not(dataplane_peer_is_dead(u.dp, "p"));
	int probe_armed = 0;
	for (int i = 0; i < FAKE_TIMERS; i++)
		probe_armed += u.f.timers[i] && u.f.timers[i]->deadline_us < u.f.now_us + 10000000;
	cr_assert_eq(probe_armed, 0, "only the 60 s sweep is left");
	/* Any datagram from the peer clears suspicion as well. */
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 8000, PEER_P, 53, 0));
	advance(&u.f, 100000);
	uint8_t d[128] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};
	size_t dn = mk(d + 4, PACKET_PROTO_UDP, PEER_P, 53, SELF, 8000, 0);
	underlay(&u, EP_P, d, dn + 4);
	advance(&u.f, DATAPLANE_PROBE_AFTER_US);
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PING], 1);
	unit_fini(&u);
}

Test(dataplane_unit, a_ping_from_a_peer_is_answered_and_from_a_stranger_dropped)
{
	struct unit u;
	uint8_t d[32];

	unit_init(&u, 0);
	underlay(&u, EP_Q, d, probe(d, DATAPLANE_MSG_PING, 0x0102030405060708ull));
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PONG], 1);
	cr_assert_eq(u.f.last_sent_len, DATAPLANE_PROBE_LEN);
	cr_assert_eq(sent_nonce(&u), 0x0102030405060708ull, "the pong echoes the nonce");
	struct io_addr ep_q;
	io_addr_v4(&ep_q, EP_Q, 41641);
	cr_assert(io_addr_equal(&u.f.last_dst, &ep_q, true));
	cr_assert_eq(stats(&u).pongs_sent, 1);

	underlay(&u, EP_BAD, d, probe(d, DATAPLANE_MSG_PING, 1));
	cr_assert_eq(u.f.sent, 1, "no pong to an unknown endpoint");
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_UNKNOWN_PEER], 1);
	/* Wrong lengths. */
	underlay(&u, EP_Q, d, probe(d, DATAPLANE_MSG_PING, 1) - 1);
	underlay(&u, EP_Q, d, probe(d, DATAPLANE_MSG_PING, 1) + 1);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_BAD_PROBE], 2);
	cr_assert_eq(u.f.sent, 1);
	/* An unsolicited pong. */
	underlay(&u, EP_Q, d, probe(d, DATAPLANE_MSG_PONG, 7));
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_BAD_PROBE], 3);
	cr_assert_eq(stats(&u).pongs_received, 0);
	/* Unknown types stay unsupported. */
	d[2] = 9;
	underlay(&u, EP_Q, d, DATAPLANE_PROBE_LEN);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_UNSUPPORTED_TYPE], 1);
	unit_fini(&u);
}

Test(dataplane_unit, pending_copies_are_bounded_by_max_flows_and_probe_after_is_configurable)
{
	struct unit u;
	uint8_t b[DATAPLANE_PENDING_MAX + 64];

	unit_init(&u, 4);
	for (uint16_t p = 0; p < 20; p++)
		tun(&u, b,
		    mk(b, PACKET_PROTO_TCP, SELF, (uint16_t)(9000 + p), VIP, 443, PACKET_TCP_SYN));
	cr_assert_eq(stats(&u).flows_active, 4);
	cr_assert_eq(stats(&u).pending_copies, 4);
	unit_fini(&u);

	/* A packet above DATAPLANE_PENDING_MAX is not kept, but its flow still moves. */
	unit_init(&u, 0);
	memset(b, 0, sizeof(b));
	size_t n = mk(b, PACKET_PROTO_UDP, SELF, 9100, VIP, 53, 0);
	size_t big = DATAPLANE_PENDING_MAX + 1;
	b[2] = (uint8_t)(big >> 8), b[3] = (uint8_t)big;
	b[24] = (uint8_t)((big - 20) >> 8), b[25] = (uint8_t)(big - 20);
	(void)n;
	tun(&u, b, big);
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 9100, VIP, 53), "p");
	unsigned data_before = u.f.sent_type[DATAPLANE_MSG_DATA];
	advance(&u.f, 2 * DATAPLANE_DEAD_PROBE_US);
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 9100, VIP, 53), "q");
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_DATA], data_before, "nothing to re-send");
	cr_assert(strstr(u.f.event_log, "\"resent\":false"), "%s", u.f.event_log);
	unit_fini(&u);

	struct fake_io f;
	struct dataplane_config cfg = {.probe_after_us = DATAPLANE_PROBE_AFTER_MAX_US + 1};
	int rc;
	memset(&f, 0, sizeof(f));
	f.io.ops = &fake_ops;
	f.io.node_name = "me";
	f.now_us = 1000000;
	cr_assert_null(dataplane_new(&f.io, &cfg, &rc));
	cr_assert_eq(rc, -EINVAL);
	cfg.probe_after_us = 50000;
	struct dataplane *dp = dataplane_new(&f.io, &cfg, &rc);
	cr_assert_not_null(dp);
	struct netmap nm;
	char err[NETMAP_ERR_LEN];
	cr_assert_eq(netmap_from_json(map_pq, sizeof(map_pq) - 1, &nm, err, sizeof(err)), 0);
	cr_assert_eq(dataplane_set_netmap(dp, &nm), 0);
	f.tun_fn(f.tun_ctx, b, mk(b, PACKET_PROTO_UDP, SELF, 1, PEER_P, 2, 0));
	advance(&f, 50000);
	cr_assert_eq(f.sent_type[DATAPLANE_MSG_PING], 1, "probing after the configured 50 ms");
	dataplane_free(dp);
	netmap_free(&nm);
}

Test(dataplane_unit, failover_state_survives_a_netmap_swap_by_name)
{
	struct unit u;
	uint8_t b[64];
	char err[NETMAP_ERR_LEN];
	/* p and q swap places in peers[]. */
	static const char map_qp[] =
	    "{\"version\":2,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
	    "[\"100.64.0.1\"]},\"peers\":[{\"name\":\"q\",\"addresses\":[\"100.64.0.3\"],"
	    "\"endpoint\":\"10.0.0.3:41641\"},{\"name\":\"p\",\"addresses\":[\"100.64.0.2\"],"
	    "\"endpoint\":\"10.0.0.2:41641\"}],\"services\":[{\"name\":\"svc:web\",\"addresses\":"
	    "[\"100.100.0.5\"],\"hosts\":[\"p\",\"q\"]}]}";

	unit_init(&u, 0);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 5000, VIP, 443, PACKET_TCP_SYN));
	advance(&u.f, DATAPLANE_PROBE_AFTER_US + DATAPLANE_PROBE_INTERVAL_US);
	cr_assert_eq(netmap_from_json(map_qp, sizeof(map_qp) - 1, &u.nm2, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm2), 0);
	advance(&u.f, 2 * DATAPLANE_PROBE_INTERVAL_US);
	cr_assert(dataplane_peer_is_dead(u.dp, "p"), "the suspicion carried over");
	cr_assert_not(dataplane_peer_is_dead(u.dp, "q"));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 5000, VIP, 443), "q");
	unit_fini(&u);
}

/* ---- STR-7: a dead host's connections end at once ------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* An IPv4 TCP segment with sequence number `seq` and `payload` bytes. */
static size_t mk_seg(uint8_t *b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                     uint8_t flags, uint32_t seq, size_t payload)
{
	size_t n = mk(b, PACKET_PROTO_TCP, src, sport, dst, dport, flags);
	memset(b + n, 'x', payload);
	n += payload;
	b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
	put32(b + 24, seq);
	put32(b + 28, 77); /* whatever it acknowledges */
	return n;
}

/* The same over IPv6 (addresses as text). */
static size_t mk_seg6(uint8_t *b, const char *src, uint16_t sport, const char *dst, uint16_t dport,
                      uint8_t flags, uint32_t seq, size_t payload)
{
	struct io_addr s, d;
	cr_assert_eq(io_addr_parse(&s, src, sport), 0);
	cr_assert_eq(io_addr_parse(&d, dst, dport), 0);
	memset(b, 0, 60 + payload);
	b[0] = 0x60;
	b[4] = (uint8_t)((20 + payload) >> 8), b[5] = (uint8_t)(20 + payload);
	b[6] = PACKET_PROTO_TCP;
	b[7] = 64;
	memcpy(b + 8, s.ip, 16);
	memcpy(b + 24, d.ip, 16);
	b[40] = (uint8_t)(sport >> 8), b[41] = (uint8_t)sport;
	b[42] = (uint8_t)(dport >> 8), b[43] = (uint8_t)dport;
	put32(b + 44, seq);
	b[52] = 5 << 4;
	b[53] = flags;
	memset(b + 60, 'x', payload);
	return 60 + payload;
}

/* `pkt` arrives from peer endpoint `ep` as a DATA datagram. */
static void from_peer(struct unit *u, uint32_t ep, const uint8_t *pkt, size_t n)
{
	uint8_t d[2048] = {DATAPLANE_MAGIC, DATAPLANE_VERSION, DATAPLANE_MSG_DATA, 0};
	memcpy(d + 4, pkt, n);
	underlay(u, ep, d, n + 4);
}

/* The node's stack opens SELF:port -> VIP:443 and p answers the SYN with
 * initial sequence number isn. */
static void tcp_open(struct unit *u, uint8_t *b, uint16_t port, uint32_t isn)
{
	tun(u, b, mk(b, PACKET_PROTO_TCP, SELF, port, VIP, 443, PACKET_TCP_SYN));
	from_peer(u, EP_P, b,
	          mk_seg(b, VIP, 443, SELF, port, PACKET_TCP_SYN | PACKET_TCP_ACK, isn, 0));
}

/* RFC 1071, computed here rather than by the code under test. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

/* pkt is a bare RST from `from` to `to` with sequence number `seq`, both
 * checksums right. */
static void assert_rst(const uint8_t *pkt, size_t len, const char *from, uint16_t from_port,
                       const char *to, uint16_t to_port, uint32_t seq)
{
	struct io_addr s, d;
	cr_assert_eq(io_addr_parse(&s, from, from_port), 0);
	cr_assert_eq(io_addr_parse(&d, to, to_port), 0);
	bool v4 = s.family == IO_AF_INET;
	size_t alen = v4 ? 4 : 16, ip = v4 ? 20 : 40;
	const uint8_t *tcp = pkt + ip;

	cr_assert_eq(len, ip + 20, "a bare RST: %zu bytes", len);
	if (v4) {
		cr_assert_eq(pkt[0], 0x45);
		cr_assert_eq(pkt[2] << 8 | pkt[3], 40, "IPv4 total length");
		cr_assert_eq(pkt[9], PACKET_PROTO_TCP);
		cr_assert_gt(pkt[8], 0, "TTL");
		cr_assert_eq(memcmp(pkt + 12, s.ip, 4), 0, "from the far end");
		cr_assert_eq(memcmp(pkt + 16, d.ip, 4), 0, "to the local end");
		cr_assert_eq(sum16(0, pkt, 20), 0xffff, "IPv4 header checksum");
	} else {
		cr_assert_eq(pkt[0] >> 4, 6);
		cr_assert_eq(pkt[4] << 8 | pkt[5], 20, "IPv6 payload length");
		cr_assert_eq(pkt[6], PACKET_PROTO_TCP);
		cr_assert_gt(pkt[7], 0, "hop limit");
		cr_assert_eq(memcmp(pkt + 8, s.ip, 16), 0, "from the far end");
		cr_assert_eq(memcmp(pkt + 24, d.ip, 16), 0, "to the local end");
	}
	cr_assert_eq(tcp[0] << 8 | tcp[1], from_port, "the far end's port");
	cr_assert_eq(tcp[2] << 8 | tcp[3], to_port, "the local port");
	uint32_t got =
	    (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	cr_assert_eq(got, seq, "sequence number %u, the local stack expects %u", got, seq);
	cr_assert_eq(tcp[12] >> 4, 5, "no options");
	cr_assert_eq(tcp[13], PACKET_TCP_RST, "RST alone: flags 0x%02x", tcp[13]);
	uint32_t pseudo = sum16(sum16(0, s.ip, alen), d.ip, alen) + PACKET_PROTO_TCP + 20;
	cr_assert_eq(sum16(pseudo, tcp, 20), 0xffff, "TCP checksum over the pseudo-header");
}

Test(dataplane_unit, str7_a_host_found_dead_by_probes_has_its_open_flows_reset_with_a_valid_rst)
{
	struct unit u;
	uint8_t b[512];

	unit_init(&u, 0);
	/* An open connection: SYN, SYN-ACK (ISN 1000), 100 bytes from the host,
	 * then an old retransmitted segment that must not pull the number back. */
	tcp_open(&u, b, 7100, 1000);
	from_peer(&u, EP_P, b, mk_seg(b, VIP, 443, SELF, 7100, PACKET_TCP_ACK, 1001, 100));
	from_peer(&u, EP_P, b, mk_seg(b, VIP, 443, SELF, 7100, PACKET_TCP_ACK, 1001, 40));
	/* One that wrapped around: 0xfffffff0 + 0x20 bytes ends at 0x10. */
	tcp_open(&u, b, 7101, 0xffffffefu);
	from_peer(&u, EP_P, b, mk_seg(b, VIP, 443, SELF, 7101, PACKET_TCP_ACK, 0xfffffff0u, 0x20));
	/* Not reset: a closed connection (FINs both ways), a UDP flow. */
	tcp_open(&u, b, 7102, 5);
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7102, VIP, 443, PACKET_TCP_FIN | PACKET_TCP_ACK));
	from_peer(&u, EP_P, b,
	          mk_seg(b, VIP, 443, SELF, 7102, PACKET_TCP_FIN | PACKET_TCP_ACK, 6, 0));
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 7103, VIP, 53, 0));
	from_peer(&u, EP_P, b, mk(b, PACKET_PROTO_UDP, VIP, 53, SELF, 7103, 0));
	unsigned written = u.f.tun_written;
	cr_assert_eq(written, 8);

	/* The application sends a request; p stays silent. */
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7100, VIP, 443, PACKET_TCP_ACK));
	advance(&u.f, DATAPLANE_PROBE_AFTER_US +
	                  DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US - 1000);
	cr_assert_not(dataplane_peer_is_dead(u.dp, "p"));
	cr_assert_eq(u.f.tun_written, written, "nothing before the verdict");
	advance(&u.f, 1000);
	cr_assert(dataplane_peer_is_dead(u.dp, "p"));
	/* Still silent at the next dead PING: now the connections end. */
	cr_assert_eq(u.f.tun_written, written, "a slow host gets one more second");
	advance(&u.f, DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(u.f.tun_written, written + 2, "one RST per open connection");
	cr_assert_eq(stats(&u).flows_reset, 2);
	cr_assert_null(host_of(&u, PACKET_PROTO_TCP, SELF, 7100, VIP, 443));
	cr_assert_null(host_of(&u, PACKET_PROTO_TCP, SELF, 7101, VIP, 443));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 7102, VIP, 443), "p");
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_UDP, SELF, 7103, VIP, 53), "p");
	cr_assert(
	    strstr(u.f.event_log, "flows_reset {\"peer\":\"p\",\"count\":2,\"reason\":\"probes\"}"),
	    "%s", u.f.event_log);
	/* The flows sit in table order; the last RST is one of the two. */
	const uint8_t *w = u.f.last_written;
	uint16_t port = (uint16_t)(w[22] << 8 | w[23]);
	cr_assert(port == 7100 || port == 7101, "%u", port);
	assert_rst(w, u.f.last_written_len, "100.100.0.5", 443, "100.64.0.1", port,
	           port == 7100 ? 1101u : 0x10u);
	cr_assert_eq(stats(&u).tun_out_packets, written + 2);
	/* The next packet of the application (there should be none) is a new
	 * flow to q, the live host. */
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7100, VIP, 443, PACKET_TCP_ACK));
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 7100, VIP, 443), "q");
	unit_fini(&u);
}

/* A live host whose path got slower (a latency step: RTT 80 ms -> 700 ms)
 * with a request outstanding is judged dead at ~550 ms, before its answer
 * can arrive: new connections avoid it, but the open ones are not reset;
 * its answer arrives, and they go on. Evidence: what the data plane writes
 * into the local stack (no RST, the host's segment delivered). */
Test(dataplane_unit, str7_a_live_host_whose_path_turned_slow_keeps_its_open_connections)
{
	struct unit u;
	uint8_t b[512];

	unit_init(&u, 0);
	tcp_open(&u, b, 7300, 1000);
	from_peer(&u, EP_P, b, mk_seg(b, VIP, 443, SELF, 7300, PACKET_TCP_ACK, 1001, 100));
	unsigned written = u.f.tun_written;
	cr_assert_eq(written, 2);

	/* A request; the answer takes 700 ms. */
	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7300, VIP, 443, PACKET_TCP_ACK));
	advance(&u.f,
	        DATAPLANE_PROBE_AFTER_US + DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US);
	cr_assert(dataplane_peer_is_dead(u.dp, "p"), "judged dead at the usual pace");
	cr_assert_eq(u.f.tun_written, written, "no RST at the verdict: %u packets written",
	             u.f.tun_written - written);
	advance(&u.f, 700000 - DATAPLANE_PROBE_AFTER_US -
	                  DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US);
	from_peer(&u, EP_P, b, mk_seg(b, VIP, 443, SELF, 7300, PACKET_TCP_ACK, 1101, 50));
	cr_assert_eq(u.f.tun_written, written + 1, "the answer reaches the application");
	cr_assert_not(dataplane_peer_is_dead(u.dp, "p"));
	advance(&u.f, 3 * DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(u.f.tun_written, written + 1, "nothing written later: no RST");
	cr_assert_eq(stats(&u).flows_reset, 0);
	cr_assert_str_eq(host_of(&u, PACKET_PROTO_TCP, SELF, 7300, VIP, 443), "p");
	cr_assert_null(strstr(u.f.event_log, "flows_reset"), "%s", u.f.event_log);
	unit_fini(&u);
}

static const char map6_pq[] =
    "{\"version\":1,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
    "[\"100.64.0.1\",\"fd7a:115c:a1e0::1\"]},\"peers\":[{\"name\":\"p\",\"addresses\":"
    "[\"100.64.0.2\",\"fd7a:115c:a1e0::2\"],\"endpoint\":\"10.0.0.2:41641\"},{\"name\":\"q\","
    "\"addresses\":[\"100.64.0.3\",\"fd7a:115c:a1e0::3\"],\"endpoint\":\"10.0.0.3:41641\"}],"
    "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"100.100.0.5\","
    "\"fd7a:115c:a1e0:ab12::5\"],\"hosts\":[\"p\",\"q\"]}]}";
/* Control no longer lists p at all (it died, or this node may no longer
 * reach it). */
static const char map6_q[] =
    "{\"version\":2,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
    "[\"100.64.0.1\",\"fd7a:115c:a1e0::1\"]},\"peers\":[{\"name\":\"q\",\"addresses\":"
    "[\"100.64.0.3\",\"fd7a:115c:a1e0::3\"],\"endpoint\":\"10.0.0.3:41641\"}],"
    "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"100.100.0.5\","
    "\"fd7a:115c:a1e0:ab12::5\"],\"hosts\":[\"q\"]}]}";
/* p drains: still a peer, no longer a host for new connections. */
static const char map6_p_draining[] =
    "{\"version\":2,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\",\"addresses\":"
    "[\"100.64.0.1\",\"fd7a:115c:a1e0::1\"]},\"peers\":[{\"name\":\"p\",\"addresses\":"
    "[\"100.64.0.2\",\"fd7a:115c:a1e0::2\"],\"endpoint\":\"10.0.0.2:41641\"},{\"name\":\"q\","
    "\"addresses\":[\"100.64.0.3\",\"fd7a:115c:a1e0::3\"],\"endpoint\":\"10.0.0.3:41641\"}],"
    "\"services\":[{\"name\":\"svc:web\",\"addresses\":[\"100.100.0.5\","
    "\"fd7a:115c:a1e0:ab12::5\"],\"hosts\":[\"q\"]}]}";

#define SELF6 "fd7a:115c:a1e0::1"
#define VIP6  "fd7a:115c:a1e0:ab12::5"

static const char *host6_of(struct unit *u, uint16_t sport)
{
	struct dataplane_tuple tp = {.proto = PACKET_PROTO_TCP};
	cr_assert_eq(io_addr_parse(&tp.src, SELF6, sport), 0);
	cr_assert_eq(io_addr_parse(&tp.dst, VIP6, 443), 0);
	return dataplane_flow_host(u->dp, &tp);
}

/* A data plane on map6_pq with an open IPv6 connection from port 7200 to
 * the VIP on p (the host's ISN 0x80000000, 10 bytes sent), then `next`. */
static void unit6_open(struct unit *u, const char *next)
{
	char err[NETMAP_ERR_LEN];
	uint8_t b[512];

	unit_init(u, 0);
	netmap_free(&u->nm2);
	cr_assert_eq(netmap_from_json(map6_pq, sizeof(map6_pq) - 1, &u->nm2, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_eq(dataplane_set_netmap(u->dp, &u->nm2), 0);
	netmap_free(&u->nm);
	tun(u, b, mk_seg6(b, SELF6, 7200, VIP6, 443, PACKET_TCP_SYN, 1, 0));
	cr_assert_str_eq(host6_of(u, 7200), "p");
	from_peer(
	    u, EP_P, b,
	    mk_seg6(b, VIP6, 443, SELF6, 7200, PACKET_TCP_SYN | PACKET_TCP_ACK, 0x80000000u, 0));
	from_peer(u, EP_P, b, mk_seg6(b, VIP6, 443, SELF6, 7200, PACKET_TCP_ACK, 0x80000001u, 10));
	cr_assert_eq(u->f.tun_written, 2);
	cr_assert_eq(netmap_from_json(next, strlen(next), &u->nm, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dataplane_set_netmap(u->dp, &u->nm), 0);
}

Test(dataplane_unit, str7_a_host_gone_from_the_map_is_probed_and_its_ipv6_flows_reset_when_silent)
{
	struct unit u;
	uint8_t b[512];

	unit6_open(&u, map6_q);
	cr_assert(strstr(u.f.event_log, "host_left {\"peer\":\"p\",\"flows_held\":1}"), "%s",
	          u.f.event_log);
	cr_assert(strstr(u.f.last_event, "\"flows_kept\":0,\"flows_dropped\":0,\"flows_held\":1"),
	          "%s", u.f.last_event);
	cr_assert_str_eq(host6_of(&u, 7200), "p", "held, pinned to p until the verdict");
	cr_assert_eq(u.f.pings_to[2], 1, "one PING at once");
	/* The application's packets wait: nothing goes anywhere. */
	unsigned sent = u.f.sent;
	tun(&u, b, mk_seg6(b, SELF6, 7200, VIP6, 443, PACKET_TCP_ACK, 2, 5));
	cr_assert_eq(u.f.sent, sent);
	cr_assert_eq(stats(&u).drops[DATAPLANE_DROP_AWAITING_VERDICT], 1);
	/* A PING from p is no answer (p is no peer now). */
	uint8_t d[16];
	underlay(&u, EP_P, d, probe(d, DATAPLANE_MSG_PING, 5));
	cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_PONG], 0);
	/* Then judged at the pace of a host that stopped answering data: a
	 * slow one has as long as ever to answer. */
	uint64_t verdict_us =
	    DATAPLANE_PROBE_AFTER_US + DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US;
	advance(&u.f, verdict_us - 1000);
	cr_assert_eq(u.f.pings_to[2], 1 + DATAPLANE_PROBE_COUNT);
	cr_assert_eq(u.f.tun_written, 2);
	advance(&u.f, 1000);
	cr_assert_eq(u.f.tun_written, 3, "the RST, %llu ms after the map",
	             (unsigned long long)(verdict_us / 1000));
	assert_rst(u.f.last_written, u.f.last_written_len, VIP6, 443, SELF6, 7200, 0x8000000bu);
	cr_assert_null(host6_of(&u, 7200));
	cr_assert(strstr(u.f.event_log,
	                 "flows_reset {\"peer\":\"p\",\"count\":1,\"reason\":\"left_map\"}"),
	          "%s", u.f.event_log);
	advance(&u.f, 5 * DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(u.f.pings_to[2], 1 + DATAPLANE_PROBE_COUNT, "judged: no more probes");
	/* A new connection goes to q. */
	tun(&u, b, mk_seg6(b, SELF6, 7201, VIP6, 443, PACKET_TCP_SYN, 1, 0));
	cr_assert_str_eq(host6_of(&u, 7201), "q");
	unit_fini(&u);
}

Test(dataplane_unit, str7_a_host_gone_from_the_map_that_answers_is_not_reset)
{
	struct unit u;
	uint8_t b[512];

	unit6_open(&u, map6_q);
	cr_assert_eq(u.f.pings_to[2], 1);
	/* A far host: its answer to the early PING comes after 400 ms (a
	 * later PING went out meanwhile; the window takes either answer). */
	uint8_t early[16];
	memcpy(early, u.f.last_sent, DATAPLANE_PROBE_LEN);
	advance(&u.f, 400000);
	cr_assert_eq(u.f.pings_to[2], 3);
	uint8_t d[16];
	memcpy(d, early, DATAPLANE_PROBE_LEN);
	d[2] = DATAPLANE_MSG_PONG;
	underlay(&u, EP_P, d, DATAPLANE_PROBE_LEN);
	cr_assert_eq(u.f.tun_written, 2, "no RST to a host that lives");
	cr_assert_eq(stats(&u).flows_reset, 0);
	cr_assert_null(host6_of(&u, 7200), "dropped, as for any peer that left the map");
	cr_assert(strstr(u.f.event_log, "host_left_alive {\"peer\":\"p\",\"flows_dropped\":1}"),
	          "%s", u.f.event_log);
	advance(&u.f, 5 * DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(u.f.pings_to[2], 3, "judged: no more probes");
	cr_assert_eq(u.f.tun_written, 2);
	/* Its next packet is steered afresh. */
	tun(&u, b, mk_seg6(b, SELF6, 7200, VIP6, 443, PACKET_TCP_ACK, 2, 0));
	cr_assert_str_eq(host6_of(&u, 7200), "q");
	unit_fini(&u);
}

Test(dataplane_unit, str7_drn2_a_draining_host_keeps_its_open_flows_and_is_not_probed_for_it)
{
	struct unit u;
	uint8_t b[512];

	unit6_open(&u, map6_p_draining);
	cr_assert_eq(u.f.pings_to[2], 0, "a drain is no reason to probe");
	cr_assert(strstr(u.f.last_event, "\"flows_kept\":1,\"flows_dropped\":0,\"flows_held\":0"),
	          "%s", u.f.last_event);
	/* The open connection goes on to p, answered, for minutes. */
	for (int i = 0; i < 10; i++) {
		unsigned to_p = u.f.sent_type[DATAPLANE_MSG_DATA];
		tun(&u, b, mk_seg6(b, SELF6, 7200, VIP6, 443, PACKET_TCP_ACK, 2, 5));
		cr_assert_eq(u.f.sent_type[DATAPLANE_MSG_DATA], to_p + 1);
		struct io_addr ep_p;
		io_addr_v4(&ep_p, EP_P, 41641);
		cr_assert(io_addr_equal(&u.f.last_dst, &ep_p, true), "to p");
		advance(&u.f, 50000);
		from_peer(&u, EP_P, b,
		          mk_seg6(b, VIP6, 443, SELF6, 7200, PACKET_TCP_ACK, 0x8000000bu, 0));
		advance(&u.f, 20 * 1000000);
	}
	cr_assert_str_eq(host6_of(&u, 7200), "p");
	cr_assert_eq(u.f.tun_written, 12, "only p's segments, no RST");
	cr_assert_eq(stats(&u).flows_reset, 0);
	cr_assert_eq(u.f.pings_to[2], 0);
	/* New connections go to q. */
	tun(&u, b, mk_seg6(b, SELF6, 7201, VIP6, 443, PACKET_TCP_SYN, 1, 0));
	cr_assert_str_eq(host6_of(&u, 7201), "q");
	unit_fini(&u);
}

/* A peer judged dead before control drops it is reset with the map. */
Test(dataplane_unit, str7_a_host_already_judged_dead_is_reset_when_the_map_drops_it)
{
	struct unit u;
	uint8_t b[512];

	unit6_open(&u, map6_pq);
	cr_assert_eq(dataplane_mark_peer_dead(u.dp, "p"), 0);
	cr_assert_eq(u.f.tun_written, 2, "an administrative mark resets nothing");
	netmap_free(&u.nm2);
	char err[NETMAP_ERR_LEN];
	cr_assert_eq(netmap_from_json(map6_q, sizeof(map6_q) - 1, &u.nm2, err, sizeof(err)), 0);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm2), 0);
	cr_assert_eq(u.f.tun_written, 3);
	assert_rst(u.f.last_written, u.f.last_written_len, VIP6, 443, SELF6, 7200, 0x8000000bu);
	cr_assert(strstr(u.f.last_event, "\"flows_kept\":0,\"flows_dropped\":1,\"flows_held\":0"),
	          "%s", u.f.last_event);
	cr_assert_eq(u.f.pings_to[2], 0);
	(void)b;
	unit_fini(&u);
}

/* At most DATAPLANE_DEPARTED_MAX peers wait for a verdict; flows of the
 * others are dropped as before, with an event. */
Test(dataplane_unit, str7_departed_hosts_are_bounded)
{
	enum { N = DATAPLANE_DEPARTED_MAX + 6 };
	struct unit u;
	char *doc = malloc(64 * 1024), err[NETMAP_ERR_LEN];
	uint8_t b[512];
	size_t o;

	cr_assert_not_null(doc);
	unit_init(&u, 0);
	o = (size_t)sprintf(doc,
	                    "{\"version\":1,\"tailnet\":\"t.ts.net\",\"self\":{\"name\":\"me\","
	                    "\"addresses\":[\"100.64.0.1\"]},\"peers\":[");
	for (int i = 0; i < N; i++)
		o += (size_t)sprintf(doc + o,
		                     "%s{\"name\":\"h%d\",\"addresses\":[\"100.64.1.%d\"],"
		                     "\"endpoint\":\"10.0.1.%d:41641\"}",
		                     i ? "," : "", i, i + 1, i + 1);
	sprintf(doc + o, "]}");
	netmap_free(&u.nm2);
	cr_assert_eq(netmap_from_json(doc, strlen(doc), &u.nm2, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm2), 0);
	for (int i = 0; i < N; i++) {
		uint32_t h = 0x64400100u + (uint32_t)i + 1;
		tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 9000, h, 22, PACKET_TCP_SYN));
		from_peer(&u, 0x0a000100u + (uint32_t)i + 1, b,
		          mk_seg(b, h, 22, SELF, 9000, PACKET_TCP_SYN | PACKET_TCP_ACK, 1, 0));
	}
	cr_assert_eq(stats(&u).flows_active, N);
	netmap_free(&u.nm);
	cr_assert_eq(netmap_from_json(map_pq, sizeof(map_pq) - 1, &u.nm, err, sizeof(err)), 0);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm), 0);
	cr_assert_eq(stats(&u).flows_active, DATAPLANE_DEPARTED_MAX);
	cr_assert(strstr(u.f.event_log, "host_left_limit {\"flows_dropped\":6,\"limit\":64}"), "%s",
	          u.f.event_log);
	advance(&u.f,
	        DATAPLANE_PROBE_AFTER_US + DATAPLANE_PROBE_COUNT * DATAPLANE_PROBE_INTERVAL_US);
	cr_assert_eq(stats(&u).flows_reset, DATAPLANE_DEPARTED_MAX);
	cr_assert_eq(stats(&u).flows_active, 0);
	free(doc);
	unit_fini(&u);
}

/* Control's maps flap: p leaves, comes back before the verdict, leaves
 * again. Its flow follows it by name; a live p is never reset. */
Test(dataplane_unit, str7_a_host_that_leaves_and_returns_before_the_verdict_keeps_its_flow)
{
	struct unit u;
	char err[NETMAP_ERR_LEN];
	struct netmap again;

	unit6_open(&u, map6_q);
	cr_assert_eq(u.f.pings_to[2], 1);
	advance(&u.f, 100000);
	cr_assert_eq(netmap_from_json(map6_pq, sizeof(map6_pq) - 1, &again, err, sizeof(err)), 0);
	cr_assert_eq(dataplane_set_netmap(u.dp, &again), 0);
	netmap_free(&u.nm2);
	cr_assert_str_eq(host6_of(&u, 7200), "p", "back on p");
	cr_assert(strstr(u.f.last_event, "\"flows_kept\":1,\"flows_dropped\":0,\"flows_held\":0"),
	          "%s", u.f.last_event);
	cr_assert_eq(netmap_from_json(map6_q, sizeof(map6_q) - 1, &u.nm2, err, sizeof(err)), 0);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm2), 0);
	netmap_free(&again);
	cr_assert_eq(u.f.pings_to[2], 1, "the suspicion under way goes on, no new burst");
	advance(&u.f, DATAPLANE_PROBE_AFTER_US - 100000 + 50000);
	answer_last_ping(&u, EP_P);
	cr_assert_eq(stats(&u).flows_reset, 0);
	cr_assert_eq(u.f.tun_written, 2);
	cr_assert(strstr(u.f.event_log, "host_left_alive {\"peer\":\"p\",\"flows_dropped\":1}"),
	          "%s", u.f.event_log);
	advance(&u.f, 3 * DATAPLANE_DEAD_PROBE_US);
	cr_assert_eq(stats(&u).flows_reset, 0);
	cr_assert_eq(stats(&u).flows_active, 0);
	unit_fini(&u);
}

/* ---- the owner's deliver hook (svcd's LIM-1) ----------------------------- */

struct deliver_seen {
	unsigned calls;
	uint8_t last_proto;
};

/* Refuses everything but TCP, as svcd does for a non-L3 service's VIP. */
static bool tcp_only(void *ctx, const uint8_t *pkt, size_t len, const struct packet_info *pi)
{
	struct deliver_seen *seen = ctx;

	(void)pkt;
	(void)len;
	seen->calls++;
	seen->last_proto = pi->proto;
	return pi->proto == PACKET_PROTO_TCP;
}

Test(dataplane_unit, lim1_the_deliver_hook_has_the_last_word_before_the_tun_device)
{
	char err[NETMAP_ERR_LEN];
	struct deliver_seen seen = {0};
	struct dataplane_config cfg = {.deliver = tcp_only, .deliver_ctx = &seen};
	struct unit u;
	uint8_t b[64];
	int rc;

	memset(&u, 0, sizeof(u));
	u.f.io.ops = &fake_ops;
	u.f.io.node_name = "me";
	u.f.now_us = 1000000;
	u.dp = dataplane_new(&u.f.io, &cfg, &rc);
	cr_assert_not_null(u.dp, "%d", rc);
	cr_assert_eq(netmap_from_json(map_pq, sizeof(map_pq) - 1, &u.nm, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(dataplane_set_netmap(u.dp, &u.nm), 0);

	/* Replies on flows this node opened (the filter admits those). */
	tun(&u, b, mk(b, PACKET_PROTO_UDP, SELF, 1000, PEER_P, 53, 0));
	from_peer(&u, EP_P, b, mk(b, PACKET_PROTO_UDP, PEER_P, 53, SELF, 1000, 0));
	cr_assert_eq(seen.calls, 1);
	cr_assert_eq(seen.last_proto, PACKET_PROTO_UDP);
	cr_assert_eq(u.f.tun_written, 0, "a refused packet never reaches the stack");

	tun(&u, b, mk(b, PACKET_PROTO_TCP, SELF, 7100, PEER_P, 80, PACKET_TCP_SYN));
	from_peer(&u, EP_P, b,
	          mk(b, PACKET_PROTO_TCP, PEER_P, 80, SELF, 7100, PACKET_TCP_SYN | PACKET_TCP_ACK));
	cr_assert_eq(seen.calls, 2);
	cr_assert_eq(u.f.tun_written, 1, "an allowed packet does");
	unit_fini(&u);
}
