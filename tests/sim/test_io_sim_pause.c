/* The sim seam's pause (sim/io_sim.h, "Pause"; EXP-1): a paused daemon's
 * view is handed nothing (its timers and datagrams wait) while the node's
 * other programs run on; on resume the overdue timer fires late and the
 * datagrams follow in the order they came; what a closed handle or a
 * disarmed timer held is dropped; a node freed while paused leaves
 * nothing behind. */
#include "lib/base/check.h"
#include "sim/io_sim.h"
#include "sim/ns3w/ns3w.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define PORT 5000

struct rec {
	struct io *io;
	struct io_timer daemon_timer, node_timer, send_timer;
	uint64_t daemon_fired_us, node_fired_us;
	uint64_t got_us[8];
	uint8_t got[8];
	size_t n_got;
	int order[16]; /* 1: the daemon's timer, 2: a datagram */
	size_t n_order;
	/* the sender */
	struct io *peer;
	int peer_sock;
	struct io_addr to;
	uint8_t next;
};

struct world2 {
	struct ns3w_world *w;
	struct io *a, *b;
};

static void world2_new(struct world2 *x)
{
	const struct ns3w_world_config wc = {.seed = 1, .run = 1};
	const struct ns3w_link_params access = {.latency_us = 1000};
	int err = 0;

	x->w = ns3w_world_new(&wc);
	cr_assert_not_null(x->w);
	int region = ns3w_region_add(x->w);
	cr_assert_geq(region, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(ns3w_node_add(x->w, region, &access, false), i);
	cr_assert_eq(ns3w_finalize(x->w), 0);
	const struct io_sim_config ca = {.world = x->w, .node = 0, .name = "a", .seed = 1};
	const struct io_sim_config cb = {.world = x->w, .node = 1, .name = "b", .seed = 1};
	x->a = io_sim_new(&ca, &err);
	x->b = io_sim_new(&cb, &err);
	cr_assert(x->a && x->b);
}

static void world2_free(struct world2 *x)
{
	io_sim_free(x->a);
	io_sim_free(x->b);
	ns3w_world_free(x->w);
}

static void on_daemon_timer(struct io_timer *t)
{
	struct rec *r = container_of(t, struct rec, daemon_timer);

	r->daemon_fired_us = r->io->ops->now_us(r->io);
	r->order[r->n_order++] = 1;
}

static void on_node_timer(struct io_timer *t)
{
	struct rec *r = container_of(t, struct rec, node_timer);

	r->node_fired_us = r->io->ops->now_us(r->io);
}

static void on_dgram(void *ctx, int handle, const uint8_t *data, size_t len,
                     const struct io_addr *src)
{
	struct rec *r = ctx;

	(void)handle;
	(void)src;
	cr_assert_eq(len, 1);
	r->got_us[r->n_got] = r->io->ops->now_us(r->io);
	r->got[r->n_got++] = data[0];
	r->order[r->n_order++] = 2;
}

/* The peer sends one datagram (1, 2, 3, ...) every 10 ms from 20 ms. */
static void on_send(struct io_timer *t)
{
	struct rec *r = container_of(t, struct rec, send_timer);
	uint8_t b = ++r->next;

	cr_assert_geq(r->peer->ops->udp_send(r->peer, r->peer_sock, &b, 1, &r->to), 0);
	if (r->next < 3)
		r->peer->ops->timer_arm(r->peer, &r->send_timer, 10000);
}

static void noop_dgram(void *ctx, int handle, const uint8_t *data, size_t len,
                       const struct io_addr *src)
{
	(void)ctx, (void)handle, (void)data, (void)len, (void)src;
}

/* A daemon socket on a, a timer of the daemon's at 10 ms and one of the
 * node's at 30 ms, datagrams from b at 20, 30, 40 ms; a paused from 5 ms. */
static int setup(struct world2 *x, struct rec *r, struct io *d)
{
	struct io_addr local = {.family = IO_AF_NONE, .port = PORT};

	memset(r, 0, sizeof(*r));
	r->io = x->a;
	r->peer = x->b;
	int h = d->ops->udp_open(d, &local, on_dgram, r);
	cr_assert_gt(h, 0);
	r->peer_sock = x->b->ops->udp_open(x->b, NULL, noop_dgram, NULL);
	cr_assert_gt(r->peer_sock, 0);
	io_addr_v4(&r->to, ns3w_node_underlay_ip(x->w, 0), PORT);
	r->daemon_timer.fn = on_daemon_timer;
	r->node_timer.fn = on_node_timer;
	r->send_timer.fn = on_send;
	d->ops->timer_arm(d, &r->daemon_timer, 10000);
	x->a->ops->timer_arm(x->a, &r->node_timer, 30000);
	x->b->ops->timer_arm(x->b, &r->send_timer, 20000);
	ns3w_run(x->w, 5000);
	cr_assert_eq(io_sim_pause(x->a), 0);
	cr_assert_eq(io_sim_pause(x->a), -EALREADY);
	return h;
}

Test(io_sim_pause, exp_1_a_paused_daemon_gets_its_timer_late_then_its_datagrams_in_order)
{
	struct world2 x;
	struct rec r;
	uint64_t held = 0, dropped = 0;

	world2_new(&x);
	struct io *d = io_sim_daemon_io(x.a);
	setup(&x, &r, d);
	ns3w_run(x.w, 100000);
	cr_assert_eq(r.node_fired_us, 30000, "the node's own timer runs on");
	cr_assert_eq(r.daemon_fired_us, 0, "the paused daemon's timer fired");
	cr_assert_eq(r.n_got, 0, "the paused daemon got a datagram");
	cr_assert(io_timer_armed(&r.daemon_timer), "a held timer is still armed to its owner");
	cr_assert_eq(io_sim_resume(x.a, &held, &dropped), 0);
	cr_assert_eq(io_sim_resume(x.a, NULL, NULL), -EALREADY);
	cr_assert_eq(held, 4, "the timer and three datagrams");
	cr_assert_eq(dropped, 0);
	cr_assert_eq(r.n_got, 0, "delivered inside the resume call");
	ns3w_run(x.w, 200000);
	cr_assert_eq(r.daemon_fired_us, 100000);
	cr_assert_eq(r.n_got, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(r.got[i], i + 1, "datagram %zu out of order", i);
		cr_assert_eq(r.got_us[i], 100000);
	}
	cr_assert_eq(r.order[0], 1, "the timer came due first");
	cr_assert(!io_timer_armed(&r.daemon_timer));
	world2_free(&x);
}

Test(io_sim_pause, exp_1_what_a_closed_handle_or_disarmed_timer_held_is_dropped)
{
	struct world2 x;
	struct rec r;
	uint64_t held = 0;

	world2_new(&x);
	struct io *d = io_sim_daemon_io(x.a);
	int h = setup(&x, &r, d);
	ns3w_run(x.w, 100000);
	/* a crash frees the daemon: it closes and disarms what it held */
	cr_assert_eq(d->ops->close(d, h, false), 0);
	d->ops->timer_disarm(d, &r.daemon_timer);
	cr_assert(!io_timer_armed(&r.daemon_timer));
	cr_assert_eq(io_sim_resume(x.a, &held, NULL), 0);
	ns3w_run(x.w, 200000);
	cr_assert_eq(r.n_got, 0);
	cr_assert_eq(r.daemon_fired_us, 0);
	world2_free(&x);
}

Test(io_sim_pause, exp_1_a_node_freed_while_paused_leaves_nothing_behind)
{
	struct world2 x;
	struct rec r;

	world2_new(&x);
	setup(&x, &r, io_sim_daemon_io(x.a));
	ns3w_run(x.w, 100000);
	x.a->ops->timer_disarm(x.a, &r.node_timer);
	io_sim_free(x.a);
	x.a = NULL;
	ns3w_run(x.w, 200000); /* no held timer or datagram may run now */
	cr_assert_eq(r.n_got, 0);
	world2_free(&x);
}
