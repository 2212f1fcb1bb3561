/* Peers and their liveness (see dataplane.h, "Local failover" and "Dead
 * hosts end their connections"): the numbering of peer slots (the
 * netmap's peers, then the departed ones awaiting a verdict), the probe
 * timer with its PINGs and PONGs (STR-4, STR-5), the dead verdict that
 * re-steers pending flows and schedules the STR-7 reset, the verdict on a
 * peer that left the map, and the administrative marks. */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/check.h"
#include "lib/base/mutant.h"

#include <errno.h>
#include <string.h>

/* ---- peer slots ---------------------------------------------------------- */

/* Peer indexes: 0..nm->n_peers-1 are the netmap's peers, the
 * n_departed after them peers that left it awaiting a verdict. */
size_t dp_n_slots(const struct dataplane *dp)
{
	return dp->nm ? dp->nm->n_peers + dp->n_departed : 0;
}

struct dp_departed *dp_departed_of(const struct dataplane *dp, int32_t peer)
{
	if (!dp->nm || peer < 0 || (size_t)peer < dp->nm->n_peers || (size_t)peer >= dp_n_slots(dp))
		return NULL;
	return &dp->departed[(size_t)peer - dp->nm->n_peers];
}

const char *dp_peer_name(const struct dataplane *dp, int32_t peer)
{
	const struct dp_departed *d = dp_departed_of(dp, peer);

	if (d)
		return d->waiting ? d->name : "?";
	return dp->nm && peer >= 0 && (size_t)peer < dp->nm->n_peers ? dp->nm->peers[peer].name
	                                                             : "?";
}

const struct io_addr *dp_peer_endpoint(const struct dataplane *dp, int32_t peer)
{
	const struct dp_departed *d = dp_departed_of(dp, peer);

	CHECK(d || ((size_t)peer < dp->nm->n_peers && peer >= 0));
	return d ? &d->endpoint : &dp->nm->peers[peer].endpoint;
}

/* ---- probing and verdicts ------------------------------------------------ */

void dp_probe_arm(struct dataplane *dp, uint64_t deadline_us)
{
	dp_timer_by(dp, &dp->probe, &dp->probe_deadline_us,
	            deadline_us < dp->now_us ? dp->now_us : deadline_us);
}

static void dp_activate(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->active)
		return;
	p->active = true;
	dp->active[dp->n_active++] = (uint32_t)peer;
}

/* A DATA datagram went to `peer`: start the suspicion clock unless one
 * is running or the peer is dead (then it is probed anyway). */
void dp_peer_sent(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->dead || p->unanswered_since_us)
		return;
	p->unanswered_since_us = dp->now_us ? dp->now_us : 1;
	p->pings = 0;
	dp_activate(dp, peer);
	dp_probe_arm(dp, dp->now_us + dp->probe_after_us);
}

/* A valid datagram came from `peer`'s endpoint: it lives. */
void dp_peer_heard(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->dead) {
		p->dead = false;
		dp->stats.peers_marked_alive++;
		io_event(dp->io, "peer_alive", IO_STR("peer", dp_peer_name(dp, peer)),
		         IO_U64("silent_ms", (dp->now_us - p->last_rx_us) / 1000));
	}
	p->last_rx_us = dp->now_us;
	p->heard = true;
	p->reset_due = false;
	p->unanswered_since_us = 0;
	p->pings = 0;
	if (dp_departed_of(dp, peer))
		dp->stats.flows_dropped_by_netmap += dp_departed_release(dp, peer, true);
}

void dp_ping(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	p->ping_seq++;
	p->ping_sent_us = dp->now_us;
	if (dp_send(dp, DATAPLANE_MSG_PING, NULL, 0, p->nonce_base + p->ping_seq,
	            dp_peer_endpoint(dp, peer)) == 0)
		dp->stats.pings_sent++;
	else
		dp_drop(dp, DATAPLANE_DROP_SEND_FAILED, NULL);
}

/* Re-pins the outbound VIP flows of `peer` that never saw a reply to the
 * next live ranked host and re-sends their kept packet there. Visits only
 * the pending pool (flows awaiting a first reply). Returns how many moved. */
static uint64_t dp_resteer(struct dataplane *dp, int32_t peer)
{
	uint64_t moved = 0;

	for (uint32_t i = 0; i < dp->pend_cap; i++) {
		struct dp_pending *e = &dp->pend[i];
		if (e->flow == DP_NONE)
			continue;
		struct dp_flow *f = &dp->flows[e->flow];
		if (f->peer != peer || (f->flags & DP_FLOW_REPLIED) || !(f->flags & DP_FLOW_VIP))
			continue;
		struct io_addr vip = {.family = f->key.family};
		bool a_opened = f->flags & DP_FLOW_A_OPENED;
		memcpy(vip.ip, a_opened ? f->key.ip_b : f->key.ip_a, 16);
		const struct netmap_service *svc = netmap_service_by_vip(dp->nm, &vip);
		int32_t to = svc ? dp_pick_host(dp, svc) : -1;
		if (to < 0 || to == peer)
			continue;
		f->peer = to;
		moved++;
		dp->stats.flows_resteered++;
		if (moved <= DATAPLANE_RESTEER_EVENTS && !dp->io->events_off) {
			char d[IO_ADDR_STRLEN];
			vip.port = a_opened ? f->key.port_b : f->key.port_a;
			io_event(dp->io, "flow_resteered", IO_U64("proto", f->key.proto),
			         IO_STR("dst", io_addr_format(&vip, true, d, sizeof(d))),
			         IO_STR("from", dp_peer_name(dp, peer)),
			         IO_STR("to", dp->nm->peers[to].name),
			         IO_BOOL("resent", e->len != 0));
		}
		if (!e->len)
			continue;
		if (dp_send(dp, DATAPLANE_MSG_DATA, e->data, e->len, 0,
		            &dp->nm->peers[to].endpoint) < 0) {
			dp_drop(dp, DATAPLANE_DROP_SEND_FAILED, NULL);
			continue;
		}
		dp_peer_sent(dp, to);
	}
	return moved;
}

/* Probing's verdict: `peer` is dead. */
static void dp_peer_dead(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];
	uint64_t unanswered_us = dp->now_us - p->unanswered_since_us;
	bool departed = dp_departed_of(dp, peer) != NULL;

	p->dead = true;
	p->pings = 0;
	p->unanswered_since_us = 0;
	p->next_probe_us = dp->now_us + DATAPLANE_DEAD_PROBE_US;
	dp->stats.peers_marked_dead++;
	uint64_t moved = dp_resteer(dp, peer);
	io_event(dp->io, "peer_dead", IO_STR("peer", dp_peer_name(dp, peer)),
	         p->heard ? IO_U64("silent_ms", (dp->now_us - p->last_rx_us) / 1000)
	                  : IO_JSON("silent_ms", "null"),
	         IO_U64("unanswered_ms", unanswered_us / 1000), IO_U64("flows_resteered", moved));
	/* Control said it is gone and it stayed silent: reset now. Silence
	 * alone may be a live host whose path just got slower (a latency step
	 * with nothing in flight to show it): new flows avoid it from now on,
	 * but open ones are reset only if it is still silent at the next dead
	 * PING, DATAPLANE_DEAD_PROBE_US on, so a host answering within about
	 * 1.5 s of the request keeps its connections. */
	if (departed) {
		dp_reset_flows(dp, peer, "left_map");
		dp->stats.flows_dropped_by_netmap += dp_departed_release(dp, peer, false);
	} else {
		p->reset_due = true;
	}
}

/* The verdict on a departed peer is in: its held flows were reset (dead)
 * or, when it answered, are dropped as for any peer that left the map
 * (their next packet is steered afresh). The slot stays unused until the
 * next netmap renumbers the departed. Returns the flows dropped. */
uint64_t dp_departed_release(struct dataplane *dp, int32_t peer, bool answered)
{
	struct dp_departed *d = dp_departed_of(dp, peer);
	uint64_t dropped = 0;

	CHECK(d && d->waiting);
	for (uint32_t i = 0; i < dp->cap; i++) {
		struct dp_flow *f = &dp->flows[i];
		if (f->cls == DP_CLASS_FREE || f->peer != peer)
			continue;
		dp_flow_remove(dp, f);
		dropped++;
	}
	if (answered)
		io_event(dp->io, "host_left_alive", IO_STR("peer", d->name),
		         IO_U64("flows_dropped", dropped));
	d->waiting = false;
	dp->peers[peer].unanswered_since_us = 0;
	dp->peers[peer].dead = false;
	dp->peers[peer].reset_due = false;
	return dropped;
}

/* Time between two PINGs: a far peer's answer may take longer than the
 * interval. */
static uint64_t dp_probe_gap(const struct dp_peer *p)
{
	uint64_t gap = DATAPLANE_PROBE_INTERVAL_US;

	if (2 * p->rtt_us > gap)
		gap = 2 * p->rtt_us < DATAPLANE_DEAD_PROBE_US ? 2 * p->rtt_us
		                                              : DATAPLANE_DEAD_PROBE_US;
	return gap;
}

/* One peer's probing step; returns when it next needs the timer, or 0
 * when it has nothing outstanding (it leaves the active list). */
static uint64_t dp_peer_step(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];
	const struct dp_departed *d = dp_departed_of(dp, peer);

	if (d && !d->waiting)
		return 0; /* judged already */
	if (p->dead) {
		if (dp->now_us >= p->next_probe_us) {
			if (p->reset_due)
				dp_reset_flows(dp, peer, "probes");
			dp_ping(dp, peer);
			p->next_probe_us = dp->now_us + DATAPLANE_DEAD_PROBE_US;
		}
		return p->next_probe_us;
	}
	if (!p->unanswered_since_us)
		return 0;
	if (p->pings == 0) {
		uint64_t due = p->unanswered_since_us + dp->probe_after_us;
		if (dp->now_us < due)
			return due;
	} else if (dp->now_us < p->next_probe_us) {
		return p->next_probe_us;
	}
	if (p->pings >= DATAPLANE_PROBE_COUNT && MUTANT("failover-ignores-probes"))
		p->pings = 0; /* the verdict never comes: probing starts over */
	if (p->pings >= DATAPLANE_PROBE_COUNT) {
		dp_peer_dead(dp, peer);
		return d ? 0 : p->next_probe_us;
	}
	dp_ping(dp, peer);
	p->pings++;
	p->next_probe_us = dp->now_us + dp_probe_gap(p);
	return p->next_probe_us;
}

/* The probe timer: visits the active peers only. */
void dp_probe_fn(struct io_timer *timer)
{
	struct dataplane *dp = container_of(timer, struct dataplane, probe);
	uint64_t next = UINT64_MAX;

	dp->now_us = dp->io->ops->now_us(dp->io);
	for (size_t k = 0; k < dp->n_active;) {
		int32_t peer = (int32_t)dp->active[k];
		uint64_t due = dp->nm ? dp_peer_step(dp, peer) : 0;
		if (!due) {
			dp->peers[peer].active = false;
			dp->active[k] = dp->active[--dp->n_active];
			continue;
		}
		if (due < next)
			next = due;
		k++;
	}
	if (next != UINT64_MAX)
		dp_probe_arm(dp, next);
}

/* ---- PING and PONG from the underlay ------------------------------------- */

/* The departed peer (awaiting a verdict) at `endpoint`, or -1. */
static int32_t dp_departed_by_endpoint(const struct dataplane *dp, const struct io_addr *endpoint)
{
	for (size_t k = 0; k < dp->n_departed; k++)
		if (dp->departed[k].waiting &&
		    io_addr_equal(&dp->departed[k].endpoint, endpoint, true))
			return (int32_t)(dp->nm->n_peers + k);
	return -1;
}

static uint64_t dp_get_nonce(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* A PING or PONG from the underlay (header already checked). */
void dp_probe_rx(struct dataplane *dp, const uint8_t *data, size_t len, const struct io_addr *src)
{
	if (len != DATAPLANE_PROBE_LEN) {
		dp_drop(dp, DATAPLANE_DROP_BAD_PROBE, NULL);
		return;
	}
	if (!dp->nm) {
		dp_drop(dp, DATAPLANE_DROP_NO_NETMAP, NULL);
		return;
	}
	int32_t peer = netmap_peer_by_endpoint(dp->nm, src);
	/* A departed peer's PONG is its verdict; it is no peer to answer. */
	if (peer < 0 && data[2] == DATAPLANE_MSG_PONG)
		peer = dp_departed_by_endpoint(dp, src);
	if (peer < 0) {
		dp_drop(dp, DATAPLANE_DROP_UNKNOWN_PEER, NULL);
		return;
	}
	uint64_t nonce = dp_get_nonce(data + DATAPLANE_HDR_LEN);
	if (data[2] == DATAPLANE_MSG_PING) {
		if (dp_send(dp, DATAPLANE_MSG_PONG, NULL, 0, nonce, src) == 0)
			dp->stats.pongs_sent++;
		else
			dp_drop(dp, DATAPLANE_DROP_SEND_FAILED, NULL);
		dp_peer_heard(dp, peer);
		return;
	}
	struct dp_peer *p = &dp->peers[peer];
	uint64_t seq = nonce - p->nonce_base;
	if (seq == 0 || seq > p->ping_seq || p->ping_seq - seq >= DATAPLANE_NONCE_WINDOW) {
		dp_drop(dp, DATAPLANE_DROP_BAD_PROBE, NULL);
		return;
	}
	dp->stats.pongs_received++;
	if (seq == p->ping_seq)
		p->rtt_us = dp->now_us - p->ping_sent_us;
	dp_peer_heard(dp, peer);
}

/* ---- administrative marks ------------------------------------------------ */

static int dp_mark(struct dataplane *dp, const char *name, bool dead)
{
	int i = dp->nm ? netmap_peer_by_name(dp->nm, name) : -1;

	if (i < 0 || !dp->peers)
		return -ENOENT;
	dp->now_us = dp->io->ops->now_us(dp->io);
	if (dp->peers[i].admin_dead != dead)
		io_event(dp->io, dead ? "peer_marked_dead" : "peer_marked_alive",
		         IO_STR("peer", dp->nm->peers[i].name));
	dp->peers[i].admin_dead = dead;
	if (dead)
		dp_resteer(dp, i);
	return 0;
}

bool dataplane_peer_is_dead(const struct dataplane *dp, const char *name)
{
	int i = dp->nm ? netmap_peer_by_name(dp->nm, name) : -1;

	return i >= 0 && dp->peers && dp_peer_skipped(dp, i);
}

int dataplane_mark_peer_dead(struct dataplane *dp, const char *name)
{
	return dp_mark(dp, name, true);
}

int dataplane_mark_peer_alive(struct dataplane *dp, const char *name)
{
	return dp_mark(dp, name, false);
}
