/* Link quality in the ns-3 wrapper (EXP-1): jitter lets packets overtake
 * each other, reorder holds a share of them back, duplicate delivers a
 * share twice (and the receiver's pcap shows both copies); with all three
 * at 0 a link times packets exactly as a plain link. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/ns3w/ns3w.h"

#define MS    1000ull
#define N_PKT 50
#define GAP   100ull /* us between two sends */
#define PORT  7000

static const struct ns3w_world_config cfg = {.seed = 11, .run = 1};

/* What the receiver saw: each datagram's sequence number and its delay. */
struct rx {
	struct ns3w_world *w;
	uint64_t sent_us[N_PKT];
	uint32_t seq[4 * N_PKT];
	uint64_t delay_us[4 * N_PKT];
	int n;
};

static void tx_fn(void *ctx, struct ns3w_sock *s, const uint8_t *data, size_t len, uint32_t ip,
                  uint16_t port)
{
	(void)ctx, (void)s, (void)data, (void)len, (void)ip, (void)port;
	cr_assert_fail("the sender gets nothing back");
}

static void rx_fn(void *ctx, struct ns3w_sock *s, const uint8_t *data, size_t len, uint32_t ip,
                  uint16_t port)
{
	struct rx *r = ctx;
	uint32_t seq;

	(void)s, (void)ip, (void)port;
	cr_assert_eq(len, 64);
	memcpy(&seq, data, sizeof(seq));
	cr_assert_lt(seq, N_PKT);
	cr_assert_lt(r->n, 4 * N_PKT);
	r->seq[r->n] = seq;
	r->delay_us[r->n++] = ns3w_now_us(r->w) - r->sent_us[seq];
}

/* Two regions 10 ms apart, a host on each (1 ms access links); the region
 * link gets `q`'s jitter, reorder and duplicate. N_PKT datagrams from host
 * 0 to host 1, GAP apart; host 1's underlay captured to `pcap` if given. */
static void run(const struct ns3w_link_params *q, struct rx *r, const char *pcap)
{
	struct ns3w_world *w = ns3w_world_new(&cfg);
	struct ns3w_link_params rl = *q, acc = {.latency_us = 1 * MS};
	int err;

	cr_assert_not_null(w);
	rl.latency_us = 10 * MS;
	cr_assert_eq(ns3w_region_add(w), 0);
	cr_assert_eq(ns3w_region_add(w), 1);
	cr_assert_geq(ns3w_region_link(w, 0, 1, &rl), 0);
	cr_assert_eq(ns3w_node_add(w, 0, &acc, false), 0);
	cr_assert_eq(ns3w_node_add(w, 1, &acc, false), 1);
	cr_assert_eq(ns3w_finalize(w), 0);
	if (pcap)
		cr_assert_eq(ns3w_pcap_underlay(w, 1, pcap), 0);
	memset(r, 0, sizeof(*r));
	r->w = w;
	struct ns3w_sock *tx = ns3w_udp_open(w, 0, 0, 0, tx_fn, NULL, &err);
	struct ns3w_sock *rxs = ns3w_udp_open(w, 1, 0, PORT, rx_fn, r, &err);
	cr_assert(tx && rxs);
	for (uint32_t i = 0; i < N_PKT; i++) {
		uint8_t buf[64] = {0};
		memcpy(buf, &i, sizeof(i));
		r->sent_us[i] = ns3w_now_us(w);
		cr_assert_eq(ns3w_udp_send(tx, buf, sizeof(buf), ns3w_node_underlay_ip(w, 1), PORT),
		             0);
		ns3w_run(w, r->sent_us[i] + GAP);
	}
	ns3w_run(w, ns3w_now_us(w) + 1000 * MS);
	ns3w_sock_close(tx, false);
	ns3w_sock_close(rxs, false);
	ns3w_pcap_close_all(w, NULL, NULL);
	ns3w_world_free(w);
}

static int inversions(const struct rx *r)
{
	int n = 0;

	for (int i = 1; i < r->n; i++)
		n += r->seq[i] < r->seq[i - 1];
	return n;
}

/* Records in a pcap file (16-byte record headers after a 24-byte header). */
static int pcap_records(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char hdr[16];
	int n = 0;

	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 24, SEEK_SET), 0);
	while (fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) {
		uint32_t incl;
		memcpy(&incl, hdr + 8, sizeof(incl));
		cr_assert_eq(fseek(f, (long)incl, SEEK_CUR), 0);
		n++;
	}
	fclose(f);
	return n;
}

Test(ns3w_quality, without_jitter_reorder_or_duplicate_every_packet_takes_the_plain_delay)
{
	struct ns3w_link_params plain = {0};
	static struct rx r;

	run(&plain, &r, NULL);
	cr_assert_eq(r.n, N_PKT);
	for (int i = 0; i < r.n; i++) {
		cr_assert_eq(r.seq[i], (uint32_t)i);
		cr_assert_eq(r.delay_us[i], 12 * MS, "packet %d: %llu us", i,
		             (unsigned long long)r.delay_us[i]);
	}
}

Test(ns3w_quality, jitter_spreads_delays_and_lets_packets_overtake_each_other)
{
	struct ns3w_link_params q = {.jitter_us = 5 * MS};
	static struct rx r, again;
	uint64_t lo = UINT64_MAX, hi = 0;

	run(&q, &r, NULL);
	cr_assert_eq(r.n, N_PKT);
	for (int i = 0; i < r.n; i++) {
		cr_assert_geq(r.delay_us[i], 12 * MS);
		cr_assert_leq(r.delay_us[i], 17 * MS);
		lo = r.delay_us[i] < lo ? r.delay_us[i] : lo;
		hi = r.delay_us[i] > hi ? r.delay_us[i] : hi;
	}
	cr_assert_gt(hi - lo, 3 * MS, "delays spread over the jitter");
	cr_assert_gt(inversions(&r), 5, "packets GAP apart overtake each other");
	/* the same seed gives the same packets */
	run(&q, &again, NULL);
	cr_assert_eq(memcmp(r.seq, again.seq, sizeof(r.seq)), 0);
	cr_assert_eq(memcmp(r.delay_us, again.delay_us, sizeof(r.delay_us)), 0);
}

Test(ns3w_quality, reorder_holds_a_share_back_by_one_more_latency)
{
	struct ns3w_link_params q = {.reorder = 0.3};
	static struct rx r;
	int held = 0;

	run(&q, &r, NULL);
	cr_assert_eq(r.n, N_PKT);
	for (int i = 0; i < r.n; i++) {
		cr_assert(r.delay_us[i] == 12 * MS || r.delay_us[i] == 22 * MS, "%llu",
		          (unsigned long long)r.delay_us[i]);
		held += r.delay_us[i] == 22 * MS;
	}
	cr_assert(held >= 5 && held <= 25, "%d of %d held back at 30%%", held, N_PKT);
	cr_assert_gt(inversions(&r), 0);
}

Test(ns3w_quality, duplicate_100_percent_delivers_every_packet_twice_and_the_pcap_shows_both)
{
	struct ns3w_link_params q = {.duplicate = 1.0};
	char path[] = "/tmp/ns3w-quality-XXXXXX";
	int fd = mkstemp(path);
	static struct rx r;
	int count[N_PKT] = {0};

	cr_assert_geq(fd, 0);
	close(fd);
	run(&q, &r, path);
	cr_assert_eq(r.n, 2 * N_PKT);
	for (int i = 0; i < r.n; i++) {
		count[r.seq[i]]++;
		cr_assert_eq(r.delay_us[i], 12 * MS);
	}
	for (int i = 0; i < N_PKT; i++)
		cr_assert_eq(count[i], 2, "packet %d arrived %d times", i, count[i]);
	cr_assert_eq(pcap_records(path), 2 * N_PKT);
	unlink(path);
}

Test(ns3w_quality, parameters_out_of_range_are_refused)
{
	struct ns3w_world *w = ns3w_world_new(&cfg);
	struct ns3w_link_params ok = {.latency_us = MS, .jitter_us = NS3W_JITTER_MAX_US};
	struct ns3w_link_params bad[] = {
	    {.latency_us = MS, .jitter_us = NS3W_JITTER_MAX_US + 1},
	    {.latency_us = MS, .reorder = 1.01},
	    {.latency_us = MS, .reorder = -0.1},
	    {.latency_us = MS, .duplicate = 2.0},
	};

	cr_assert_eq(ns3w_region_add(w), 0);
	cr_assert_eq(ns3w_region_add(w), 1);
	int link = ns3w_region_link(w, 0, 1, &ok);
	cr_assert_geq(link, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(ns3w_region_link(w, 0, 1, &bad[i]), -EINVAL, "case %zu", i);
		cr_assert_eq(ns3w_link_set_params(w, link, &bad[i]), -EINVAL, "case %zu", i);
	}
	ns3w_world_free(w);
}
