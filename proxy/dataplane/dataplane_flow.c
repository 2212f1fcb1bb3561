/* The flow table (see dataplane.h, "Flow table"): flows keyed by the
 * normalised 5-tuple, each pinned to one peer, in one LRU list per timeout
 * class with a single sweep timer for expiry; the pool of pending-packet
 * copies a flow keeps until its first reply; steering (which ranked host a
 * new flow to a VIP is pinned to); and the STR-7 resets that end a dead
 * host's open TCP flows with a RST towards the node's stack. */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/check.h"
#include "lib/base/hash.h"
#include "lib/base/mutant.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t dp_class_timeout_us[DP_CLASS_COUNT] = {
    [DP_CLASS_TCP] = DATAPLANE_TCP_IDLE_US,
    [DP_CLASS_CLOSING] = DATAPLANE_TCP_CLOSING_US,
    [DP_CLASS_OTHER] = DATAPLANE_UDP_IDLE_US,
};

/* ---- flow table ---------------------------------------------------------- */

/* Builds the normalised key; *src_is_a tells which end the source is. */
void dp_key(const struct packet_info *pi, struct dp_flow_key *k, bool *src_is_a)
{
	int c = memcmp(pi->src.ip, pi->dst.ip, 16);

	memset(k, 0, sizeof(*k));
	k->family = pi->family;
	k->proto = pi->proto;
	*src_is_a = c < 0 || (c == 0 && pi->src.port <= pi->dst.port);
	const struct io_addr *a = *src_is_a ? &pi->src : &pi->dst;
	const struct io_addr *b = *src_is_a ? &pi->dst : &pi->src;
	memcpy(k->ip_a, a->ip, 16);
	memcpy(k->ip_b, b->ip, 16);
	if (pi->has_ports) {
		k->port_a = a->port;
		k->port_b = b->port;
	}
}

/* The key's five words folded into the data plane's own seed. */
static uint64_t dp_hash(const struct dataplane *dp, const struct dp_flow_key *k)
{
	uint64_t w[5], h = dp->hash_seed;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++)
		h = hash_word(h, w[i]);
	return h;
}

static bool dp_flow_key_eq(const void *ctx, size_t idx, const void *key)
{
	return memcmp(&((const struct dp_flow *)ctx)[idx].key, key, sizeof(struct dp_flow_key)) ==
	       0;
}

_Static_assert(sizeof(struct dp_flow_key) == 40, "flow key is five 64-bit words");

struct dp_flow *dp_flow_find(struct dataplane *dp, const struct dp_flow_key *k)
{
	long i = htab_find(&dp->index, dp_hash(dp, k), dp_flow_key_eq, dp->flows, k);

	return i < 0 ? NULL : &dp->flows[i];
}

static void dp_lru_unlink(struct dataplane *dp, struct dp_flow *f)
{
	if (f->prev != DP_NONE)
		dp->flows[f->prev].next = f->next;
	else
		dp->lru_head[f->cls] = f->next;
	if (f->next != DP_NONE)
		dp->flows[f->next].prev = f->prev;
	else
		dp->lru_tail[f->cls] = f->prev;
	f->prev = f->next = DP_NONE;
}

static void dp_lru_push(struct dataplane *dp, struct dp_flow *f, uint8_t cls)
{
	uint32_t idx = (uint32_t)(f - dp->flows);

	f->cls = cls;
	f->prev = DP_NONE;
	f->next = dp->lru_head[cls];
	if (f->next != DP_NONE)
		dp->flows[f->next].prev = idx;
	else
		dp->lru_tail[cls] = idx;
	dp->lru_head[cls] = idx;
}

/* ---- pending-packet copies ----------------------------------------------- */

/* Frees the flow's copy, if any. */
void dp_pend_release(struct dataplane *dp, struct dp_flow *f)
{
	if (f->pend == DP_NONE)
		return;
	struct dp_pending *e = &dp->pend[f->pend];
	e->flow = DP_NONE;
	e->next = dp->pend_free;
	dp->pend_free = f->pend;
	f->pend = DP_NONE;
	dp->stats.pending_copies--;
}

/* The capacity after doubling `cap` (from `first`), at most max_flows;
 * 0 when it cannot grow. */
static uint32_t dp_next_cap(const struct dataplane *dp, uint32_t cap, uint32_t first)
{
	uint32_t ncap = cap ? cap * 2 : first;

	if (ncap > dp->max_flows)
		ncap = dp->max_flows;
	return ncap > cap ? ncap : 0;
}

/* Doubles the pool of pending copies, its new slots on the free list. */
static int dp_pend_grow(struct dataplane *dp)
{
	uint32_t ncap = dp_next_cap(dp, dp->pend_cap, DP_INITIAL_PENDING);

	if (!ncap)
		return -ENOSPC;
	struct dp_pending *np = realloc(dp->pend, (size_t)ncap * sizeof(*np));
	if (!np)
		return -ENOMEM;
	dp->pend = np;
	for (uint32_t i = ncap; i-- > dp->pend_cap;) {
		np[i].flow = DP_NONE;
		np[i].next = dp->pend_free;
		dp->pend_free = i;
	}
	dp->pend_cap = ncap;
	return 0;
}

/* Keeps `pkt` as flow f's packet to re-send (the previous copy stays when
 * `pkt` is too large, or len 0 marks "nothing to re-send"). The pool
 * doubles when empty, up to max_flows slots: no allocation per packet. */
void dp_pend_store(struct dataplane *dp, struct dp_flow *f, const uint8_t *pkt, size_t len)
{
	if (f->pend == DP_NONE) {
		if (dp->pend_free == DP_NONE && dp_pend_grow(dp) < 0)
			return;
		f->pend = dp->pend_free;
		dp->pend_free = dp->pend[f->pend].next;
		dp->pend[f->pend].flow = (uint32_t)(f - dp->flows);
		dp->pend[f->pend].len = 0;
		dp->stats.pending_copies++;
	}
	if (len <= DATAPLANE_PENDING_MAX) {
		memcpy(dp->pend[f->pend].data, pkt, len);
		dp->pend[f->pend].len = (uint16_t)len;
	}
}

/* ---- adding, removing, growing ------------------------------------------- */

void dp_flow_remove(struct dataplane *dp, struct dp_flow *f)
{
	uint32_t idx = (uint32_t)(f - dp->flows);

	CHECK(f->cls != DP_CLASS_FREE);
	htab_remove(&dp->index, dp_hash(dp, &f->key), idx);
	dp_lru_unlink(dp, f);
	dp_pend_release(dp, f);
	f->cls = DP_CLASS_FREE;
	f->free_next = dp->free_head;
	dp->free_head = idx;
	dp->used--;
}

/* Doubles the table (up to max_flows), its index reserved to match.
 * Allocation happens here only, at most log2(max_flows) times over a data
 * plane's life. */
int dp_grow(struct dataplane *dp)
{
	uint32_t ncap = dp_next_cap(dp, dp->cap, DP_INITIAL_FLOWS);

	if (!ncap)
		return -ENOSPC;
	if (htab_reserve(&dp->index, ncap))
		return -ENOMEM;
	struct dp_flow *nf = realloc(dp->flows, (size_t)ncap * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	dp->flows = nf;
	for (uint32_t i = ncap; i-- > dp->cap;) {
		nf[i].cls = DP_CLASS_FREE;
		nf[i].free_next = dp->free_head;
		dp->free_head = i;
	}
	dp->cap = ncap;
	return 0;
}

/* The least recently used flow over all classes. */
static struct dp_flow *dp_lru_victim(struct dataplane *dp)
{
	struct dp_flow *victim = NULL;

	for (int c = 0; c < DP_CLASS_COUNT; c++) {
		uint32_t t = dp->lru_tail[c];
		if (t != DP_NONE && (!victim || dp->flows[t].last_us < victim->last_us))
			victim = &dp->flows[t];
	}
	return victim;
}

static uint8_t dp_class_of(const struct dp_flow *f)
{
	if (f->key.proto != PACKET_PROTO_TCP)
		return DP_CLASS_OTHER;
	if ((f->flags & DP_FLOW_RST) ||
	    (f->flags & (DP_FLOW_FIN_A | DP_FLOW_FIN_B)) == (DP_FLOW_FIN_A | DP_FLOW_FIN_B))
		return DP_CLASS_CLOSING;
	return DP_CLASS_TCP;
}

/* Records a packet of flow `f` sent by side a (src_is_a) or b. */
void dp_flow_touch(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi,
                   bool src_is_a)
{
	if (pi->proto == PACKET_PROTO_TCP && pi->has_ports) {
		if (pi->tcp_flags & PACKET_TCP_RST)
			f->flags |= DP_FLOW_RST;
		if (pi->tcp_flags & PACKET_TCP_FIN)
			f->flags |= src_is_a ? DP_FLOW_FIN_A : DP_FLOW_FIN_B;
	}
	uint8_t cls = dp_class_of(f);
	f->last_us = dp->now_us;
	dp_lru_unlink(dp, f);
	if (cls != f->cls)
		dp_sweep_arm(dp, dp->now_us + dp_class_timeout_us[cls]);
	dp_lru_push(dp, f, cls);
}

/* Adds a flow pinned to `peer`, evicting the least recently used one when
 * the table is full. Never fails: max_flows >= 1. */
struct dp_flow *dp_flow_add(struct dataplane *dp, const struct dp_flow_key *k, int32_t peer,
                            bool inbound, bool src_is_a)
{
	if (dp->free_head == DP_NONE && dp_grow(dp) < 0) {
		struct dp_flow *victim = dp_lru_victim(dp);
		CHECK(victim);
		dp_flow_remove(dp, victim);
		dp->stats.flows_evicted++;
		dp->evict_state.pending++;
		if (dp->now_us - dp->evict_state.last_event_us >= DATAPLANE_EVENT_GAP_US ||
		    !dp->evict_state.evented) {
			dp_emit_evicted(dp);
		}
	}
	CHECK(dp->free_head != DP_NONE);
	uint32_t idx = dp->free_head;
	struct dp_flow *f = &dp->flows[idx];
	dp->free_head = f->free_next;

	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->peer = peer;
	f->pend = DP_NONE;
	f->flags = (uint8_t)((inbound ? DP_FLOW_INBOUND : 0) | (src_is_a ? DP_FLOW_A_OPENED : 0));
	f->last_us = dp->now_us;
	CHECK(htab_insert(&dp->index, dp_hash(dp, k), idx) == 0); /* reserved by dp_grow */
	f->prev = f->next = DP_NONE;
	uint8_t cls = dp_class_of(f);
	dp_lru_push(dp, f, cls);
	dp->used++;
	dp->stats.flows_created++;
	dp_sweep_arm(dp, dp->now_us + dp_class_timeout_us[cls]);
	return f;
}

/* ---- the sweep timer ----------------------------------------------------- */

/* Makes sure a sweep runs by `deadline_us` (not earlier than one
 * DATAPLANE_SWEEP_MIN_US from now). */
void dp_sweep_arm(struct dataplane *dp, uint64_t deadline_us)
{
	uint64_t earliest = dp->now_us + DATAPLANE_SWEEP_MIN_US;

	dp_timer_by(dp, &dp->sweep, &dp->sweep_deadline_us,
	            deadline_us < earliest ? earliest : deadline_us);
}

void dp_sweep_fn(struct io_timer *timer)
{
	struct dataplane *dp = container_of(timer, struct dataplane, sweep);
	uint64_t next = UINT64_MAX;

	dp->now_us = dp->io->ops->now_us(dp->io);
	for (int c = 0; c < DP_CLASS_COUNT; c++) {
		uint32_t t;
		while ((t = dp->lru_tail[c]) != DP_NONE) {
			struct dp_flow *f = &dp->flows[t];
			uint64_t deadline = f->last_us + dp_class_timeout_us[c];
			if (deadline > dp->now_us) {
				if (deadline < next)
					next = deadline;
				break;
			}
			dp_flow_remove(dp, f);
			dp->stats.flows_expired++;
		}
	}
	if (next != UINT64_MAX)
		dp_sweep_arm(dp, next);
	dp_flush_drops(dp);
}

/* ---- steering ------------------------------------------------------------ */

bool dp_peer_skipped(const struct dataplane *dp, int32_t peer)
{
	return dp->peers && (dp->peers[peer].dead || dp->peers[peer].admin_dead);
}

/* The first ranked host of `svc` not marked dead, or -1. */
int32_t dp_pick_host(const struct dataplane *dp, const struct netmap_service *svc)
{
	for (size_t i = 0; i < svc->n_hosts; i++) {
		int h = svc->hosts[i];
		if (h >= 0 && (size_t)h < dp->nm->n_peers && !dp_peer_skipped(dp, h))
			return h;
	}
	return -1;
}

/* ---- STR-7: a dead host's connections end -------------------------------- */

/* Writes into the node's stack a RST for outbound TCP flow f, as its far
 * end would send it: from the far end's address and port to the local
 * one, with the sequence number the local stack expects next. */
static void dp_flow_rst_write(struct dataplane *dp, const struct dp_flow *f)
{
	bool a_local = f->flags & DP_FLOW_A_OPENED;
	struct io_addr local = {.family = f->key.family}, remote = {.family = f->key.family};
	uint8_t rst[PACKET_TCP_RST_V6_LEN];

	memcpy(local.ip, a_local ? f->key.ip_a : f->key.ip_b, 16);
	memcpy(remote.ip, a_local ? f->key.ip_b : f->key.ip_a, 16);
	local.port = a_local ? f->key.port_a : f->key.port_b;
	remote.port = a_local ? f->key.port_b : f->key.port_a;
	int len = packet_tcp_rst(rst, sizeof(rst), &remote, &local, f->rcv_nxt);
	CHECK(len > 0); /* the key holds one family */
	dp_pcap(dp, rst, (size_t)len);
	if (dp_tun_write(dp, rst, (size_t)len, NULL) < 0) {
		dp_drop(dp, DATAPLANE_DROP_TUN_WRITE_FAILED, NULL);
		return;
	}
	dp->stats.tun_out_packets++;
	dp->stats.tun_out_bytes += (size_t)len;
}

/* An outbound TCP flow whose far side spoke (so the sequence number the
 * local stack expects is known) and that is not closing: STR-7 ends it
 * with a RST when its host is judged gone. */
bool dp_flow_resettable(const struct dp_flow *f)
{
	return f->cls == DP_CLASS_TCP && (f->flags & DP_FLOW_SEQ);
}

/* STR-7: ends every open outbound TCP flow pinned to `peer` (one whose far
 * side spoke and that is not closing) with a RST towards the local stack,
 * and drops it, so applications see the reset at once instead of waiting
 * on a dead host. Emits flows_reset when there were any. Visits the whole
 * table: it runs once per verdict, not per packet. Index-based, so a
 * packet the stack sends meanwhile (a new flow, the table grown) is safe. */
uint64_t dp_reset_flows(struct dataplane *dp, int32_t peer, const char *reason)
{
	uint64_t n = 0;

	dp->peers[peer].reset_due = false;
	if (!dp->peers[peer].open_tcp || MUTANT("no-reset-for-dead-host"))
		return 0;
	dp->peers[peer].open_tcp = false;
	for (uint32_t i = 0; i < dp->cap; i++) {
		struct dp_flow *f = &dp->flows[i];
		if (f->peer != peer || !dp_flow_resettable(f))
			continue;
		struct dp_flow copy = *f;
		dp_flow_remove(dp, f);
		n++;
		dp_flow_rst_write(dp, &copy);
	}
	dp->stats.flows_reset += n;
	if (n)
		io_event(dp->io, "flows_reset", IO_STR("peer", dp_peer_name(dp, peer)),
		         IO_U64("count", n), IO_STR("reason", reason));
	return n;
}

/* The far side's TCP segment `pi` of outbound flow f reached the local
 * stack: what it expects next is the highest end seen (sequence
 * arithmetic; SYN and FIN count one each). */
void dp_flow_note_rcv(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi)
{
	uint32_t end = pi->tcp_seq + (uint32_t)pi->tcp_payload;

	end += (pi->tcp_flags & PACKET_TCP_SYN) ? 1 : 0;
	end += (pi->tcp_flags & PACKET_TCP_FIN) ? 1 : 0;
	if (!(f->flags & DP_FLOW_SEQ) || (int32_t)(end - f->rcv_nxt) > 0) {
		f->rcv_nxt = end;
		f->flags |= DP_FLOW_SEQ;
	}
	dp->peers[f->peer].open_tcp = true;
}
