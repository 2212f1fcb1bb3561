/* The overlay data plane (see dataplane.h for the design). */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "proxy/dataplane/dataplane.h"
#include "lib/base/check.h"

#include "lib/base/outfile.h"
#include "lib/io/io_event.h"
#include "lib/wire/packet.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_NONE          UINT32_MAX
#define DP_INITIAL_FLOWS 64
#define DP_PCAP_SNAPLEN  65535

/* Timeout classes, one LRU list each. */
enum dp_class {
	DP_CLASS_TCP = 0,
	DP_CLASS_CLOSING,
	DP_CLASS_OTHER,
	DP_CLASS_COUNT,
	DP_CLASS_FREE = 0xff,
};

enum dp_flow_flags {
	DP_FLOW_INBOUND = 1u << 0,  /* opened by a peer (passed the filter) */
	DP_FLOW_A_OPENED = 1u << 1, /* side a of the key sent the first packet */
	DP_FLOW_FIN_A = 1u << 2,
	DP_FLOW_FIN_B = 1u << 3,
	DP_FLOW_RST = 1u << 4,
	DP_FLOW_VIP = 1u << 5,     /* outbound to a service VIP */
	DP_FLOW_REPLIED = 1u << 6, /* the far side has sent a packet */
	DP_FLOW_SEQ = 1u << 7,     /* outbound TCP: rcv_nxt is known */
};

/* A 5-tuple with its ends ordered (a <= b), so both directions of a flow
 * hash to one entry. Padding is zeroed: keys compare with memcmp. */
struct dp_flow_key {
	uint8_t ip_a[16], ip_b[16];
	uint16_t port_a, port_b;
	uint8_t family, proto;
	uint8_t pad[2];
};

struct dp_flow {
	struct dp_flow_key key;
	uint64_t last_us;
	uint32_t hnext;      /* hash chain, or free list */
	uint32_t prev, next; /* LRU list of its class; prev is towards the head */
	int32_t peer;        /* index into the current netmap's peers */
	uint32_t pend;       /* pending-copy slot, or DP_NONE */
	uint8_t cls;
	uint8_t flags;
	/* Outbound TCP: the sequence number the local stack expects next from
	 * the far side (the highest end of what the data plane handed it), so
	 * a RST the data plane writes on the far side's behalf is taken
	 * (STR-7). */
	uint32_t rcv_nxt;
};

/* 72 bytes before rcv_nxt: 5 MiB for the default 65536 flows. */
_Static_assert(sizeof(struct dp_flow) <= 80, "a flow fits in 80 bytes");

/* Local failover state of one peer (index of the current netmap). */
struct dp_peer {
	uint64_t last_rx_us;          /* last valid datagram from its endpoint */
	uint64_t unanswered_since_us; /* first DATA sent since then; 0: none */
	uint64_t next_probe_us;       /* next PING (or the dead verdict) */
	uint64_t ping_sent_us;        /* the last PING */
	uint64_t rtt_us;              /* measured by the last answered PING */
	uint64_t nonce_base;
	uint32_t ping_seq; /* PINGs ever sent; nonce = nonce_base + seq */
	uint8_t pings;     /* unanswered PINGs of the current suspicion */
	bool heard;        /* last_rx_us is valid */
	bool dead;         /* by probing */
	bool reset_due;    /* dead by probing: open flows reset at the next dead PING */
	bool admin_dead;   /* by dataplane_mark_peer_dead */
	bool active;       /* in dp->active */
	/* An outbound TCP flow pinned here learned its rcv_nxt since the last
	 * reset: without it a verdict skips the scan of the flow table (a
	 * host seeing thousands of its clients die scans nothing). */
	bool open_tcp;
};

/* A copy of the last outbound packet of a VIP flow without reply; `len`
 * 0 when that packet was too large to keep (the flow is still re-pinned). */
struct dp_pending {
	uint32_t flow; /* DP_NONE: free, then `next` links the free list */
	uint32_t next;
	uint16_t len;
	uint8_t data[DATAPLANE_PENDING_MAX];
};

/* A peer that left the map while outbound TCP flows were pinned to it
 * (peer index nm->n_peers + k): those flows wait for probing's verdict. */
struct dp_departed {
	bool waiting; /* false: verdict given, the slot is unused */
	struct io_addr endpoint;
	char name[NETMAP_MAX_NAME + 1];
};

struct dp_drop_state {
	uint64_t pending; /* drops since the last event */
	uint64_t last_event_us;
	bool evented;
};

/* A hosted service's last new inbound flow (names by hash: a host keeps
 * few, and a collision only lengthens a drain's settle). */
struct dp_recent_flow {
	uint64_t name_hash;
	uint64_t at_us;
};

struct dataplane {
	struct io *io;
	struct dp_recent_flow *recent; /* DATAPLANE_RECENT_SERVICES, made on first use */
	dataplane_local_fn local_fn;
	void *local_ctx;
	const struct netmap *nm;
	int udp;
	bool tun_attached;
	struct io_addr endpoint;
	uint64_t now_us; /* read once per callback */
	uint64_t hash_seed;

	/* Flow table. */
	struct dp_flow *flows;
	uint32_t cap, max_flows, used;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t lru_head[DP_CLASS_COUNT], lru_tail[DP_CLASS_COUNT];

	struct io_timer sweep;
	uint64_t sweep_deadline_us;

	/* Local failover. */
	struct dp_peer *peers; /* per peer of nm */
	uint32_t *active;      /* peers with something outstanding or dead */
	size_t n_active;
	struct io_timer probe;
	uint64_t probe_deadline_us;
	uint64_t probe_after_us;
	struct dp_pending *pend;
	uint32_t pend_cap, pend_free;
	struct dp_departed *departed; /* n_departed slots after nm's peers */
	size_t n_departed;

	struct io_addr *tun_addrs; /* sorted, what we hold on the device */
	size_t n_tun_addrs;

	pcap_t *pcap;
	pcap_dumper_t *dumper;
	struct outfile pcap_out; /* the dumper's stream: why a write failed */
	char *pcap_path;
	bool pcap_failed; /* pcap_write_failed said once */

	struct dp_drop_state drop_state[DATAPLANE_DROP_COUNT];
	struct dp_drop_state evict_state;
	struct dataplane_stats stats;
	uint8_t tx[DATAPLANE_HDR_LEN + DATAPLANE_MTU];
};

static const char *const dp_drop_names[DATAPLANE_DROP_COUNT] = {
    [DATAPLANE_DROP_NO_NETMAP] = "no_netmap",
    [DATAPLANE_DROP_TUN_MALFORMED] = "tun_malformed",
    [DATAPLANE_DROP_TUN_OVERSIZED] = "tun_oversized",
    [DATAPLANE_DROP_NO_ROUTE] = "no_route",
    [DATAPLANE_DROP_NO_HOST] = "no_host",
    [DATAPLANE_DROP_VIP_OUTBOUND] = "vip_outbound_refused",
    [DATAPLANE_DROP_SEND_FAILED] = "send_failed",
    [DATAPLANE_DROP_BAD_HEADER] = "bad_header",
    [DATAPLANE_DROP_UNSUPPORTED_TYPE] = "unsupported_type",
    [DATAPLANE_DROP_OVERSIZED] = "oversized",
    [DATAPLANE_DROP_MALFORMED] = "malformed",
    [DATAPLANE_DROP_UNKNOWN_PEER] = "unknown_peer",
    [DATAPLANE_DROP_FORGED_SOURCE] = "forged_source",
    [DATAPLANE_DROP_NOT_FOR_US] = "not_for_us",
    [DATAPLANE_DROP_FILTER] = "filter_refused",
    [DATAPLANE_DROP_TUN_WRITE_FAILED] = "tun_write_failed",
    [DATAPLANE_DROP_BAD_PROBE] = "bad_probe",
    [DATAPLANE_DROP_AWAITING_VERDICT] = "awaiting_verdict",
};

static const uint64_t dp_class_timeout_us[DP_CLASS_COUNT] = {
    [DP_CLASS_TCP] = DATAPLANE_TCP_IDLE_US,
    [DP_CLASS_CLOSING] = DATAPLANE_TCP_CLOSING_US,
    [DP_CLASS_OTHER] = DATAPLANE_UDP_IDLE_US,
};

const char *dataplane_drop_name(enum dataplane_drop reason)
{
	CHECK((unsigned)reason < DATAPLANE_DROP_COUNT);
	return dp_drop_names[reason];
}

/* Peer indexes: 0..nm->n_peers-1 are the netmap's peers, the
 * n_departed after them peers that left it awaiting a verdict. */
static size_t dp_n_slots(const struct dataplane *dp)
{
	return dp->nm ? dp->nm->n_peers + dp->n_departed : 0;
}

static struct dp_departed *dp_departed_of(const struct dataplane *dp, int32_t peer)
{
	if (!dp->nm || peer < 0 || (size_t)peer < dp->nm->n_peers || (size_t)peer >= dp_n_slots(dp))
		return NULL;
	return &dp->departed[(size_t)peer - dp->nm->n_peers];
}

static const char *dp_peer_name(const struct dataplane *dp, int32_t peer)
{
	const struct dp_departed *d = dp_departed_of(dp, peer);

	if (d)
		return d->waiting ? d->name : "?";
	return dp->nm && peer >= 0 && (size_t)peer < dp->nm->n_peers ? dp->nm->peers[peer].name
	                                                             : "?";
}

static const struct io_addr *dp_peer_endpoint(const struct dataplane *dp, int32_t peer)
{
	const struct dp_departed *d = dp_departed_of(dp, peer);

	CHECK(d || ((size_t)peer < dp->nm->n_peers && peer >= 0));
	return d ? &d->endpoint : &dp->nm->peers[peer].endpoint;
}

/* ---- events and drops -------------------------------------------------- */

static void dp_sweep_arm(struct dataplane *dp, uint64_t deadline_us);

static void dp_emit_drop(struct dataplane *dp, enum dataplane_drop reason,
                         const struct packet_info *pi)
{
	struct dp_drop_state *st = &dp->drop_state[reason];
	char s[IO_ADDR_STRLEN], d[IO_ADDR_STRLEN];

	if (pi && pi->family != IO_AF_NONE)
		io_emitf(dp->io, dp_drop_names[reason],
		         "\"count\":%llu,\"proto\":%u,\"src\":\"%s\",\"dst\":\"%s\"",
		         (unsigned long long)st->pending, pi->proto,
		         io_addr_format(&pi->src, pi->has_ports, s, sizeof(s)),
		         io_addr_format(&pi->dst, pi->has_ports, d, sizeof(d)));
	else
		io_emitf(dp->io, dp_drop_names[reason], "\"count\":%llu",
		         (unsigned long long)st->pending);
	st->pending = 0;
	st->last_event_us = dp->now_us;
	st->evented = true;
}

/* Counts a drop; reports it at once unless this reason was reported less
 * than DATAPLANE_EVENT_GAP_US ago, in which case the sweep reports the
 * accumulated count later. `pi` may be NULL or unparsed. */
static void dp_drop(struct dataplane *dp, enum dataplane_drop reason, const struct packet_info *pi)
{
	struct dp_drop_state *st = &dp->drop_state[reason];

	dp->stats.drops[reason]++;
	st->pending++;
	if (!st->evented || dp->now_us - st->last_event_us >= DATAPLANE_EVENT_GAP_US)
		dp_emit_drop(dp, reason, pi);
	else
		dp_sweep_arm(dp, st->last_event_us + DATAPLANE_EVENT_GAP_US);
}

static void dp_flush_drops(struct dataplane *dp)
{
	for (int r = 0; r < DATAPLANE_DROP_COUNT; r++) {
		struct dp_drop_state *st = &dp->drop_state[r];
		if (!st->pending)
			continue;
		if (dp->now_us - st->last_event_us >= DATAPLANE_EVENT_GAP_US)
			dp_emit_drop(dp, (enum dataplane_drop)r, NULL);
		else
			dp_sweep_arm(dp, st->last_event_us + DATAPLANE_EVENT_GAP_US);
	}
	if (dp->evict_state.pending &&
	    dp->now_us - dp->evict_state.last_event_us >= DATAPLANE_EVENT_GAP_US) {
		io_emitf(dp->io, "flow_evicted", "\"count\":%llu,\"max_flows\":%u",
		         (unsigned long long)dp->evict_state.pending, dp->max_flows);
		dp->evict_state.pending = 0;
		dp->evict_state.last_event_us = dp->now_us;
	} else if (dp->evict_state.pending) {
		dp_sweep_arm(dp, dp->evict_state.last_event_us + DATAPLANE_EVENT_GAP_US);
	}
}

/* ---- pcap -------------------------------------------------------------- */

/* The tailnet pcap lost bytes (a full disk): said once, with the reason;
 * the file is incomplete from here on. */
static void dp_pcap_failed(struct dataplane *dp)
{
	char path[512];

	if (dp->pcap_failed)
		return;
	dp->pcap_failed = true;
	io_json_escape(path, sizeof(path), dp->pcap_path);
	io_emitf(dp->io, "pcap_write_failed", "\"path\":\"%s\",\"error\":\"%s\"", path,
	         strerror(-dp->pcap_out.err));
}

static void dp_pcap(struct dataplane *dp, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;

	if (!dp->dumper)
		return;
	h.ts.tv_sec = (time_t)(dp->now_us / 1000000);
	h.ts.tv_usec = (suseconds_t)(dp->now_us % 1000000);
	h.caplen = (bpf_u_int32)(len < DP_PCAP_SNAPLEN ? len : DP_PCAP_SNAPLEN);
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)dp->dumper, &h, pkt);
	if (dp->pcap_out.err)
		dp_pcap_failed(dp);
}

/* ---- flow table -------------------------------------------------------- */

/* Builds the normalised key; *src_is_a tells which end the source is. */
static void dp_key(const struct packet_info *pi, struct dp_flow_key *k, bool *src_is_a)
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

static uint32_t dp_hash(const struct dataplane *dp, const struct dp_flow_key *k)
{
	uint64_t w[5], h = dp->hash_seed;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++) {
		h ^= w[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h ^ (h >> 29));
}

_Static_assert(sizeof(struct dp_flow_key) == 40, "flow key is five 64-bit words");

static struct dp_flow *dp_flow_find(struct dataplane *dp, const struct dp_flow_key *k)
{
	if (!dp->buckets)
		return NULL;
	for (uint32_t i = dp->buckets[dp_hash(dp, k) & dp->bucket_mask]; i != DP_NONE;
	     i = dp->flows[i].hnext)
		if (memcmp(&dp->flows[i].key, k, sizeof(*k)) == 0)
			return &dp->flows[i];
	return NULL;
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

/* ---- pending-packet copies ---------------------------------------------- */

/* Frees the flow's copy, if any. */
static void dp_pend_release(struct dataplane *dp, struct dp_flow *f)
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

/* Keeps `pkt` as flow f's packet to re-send (the previous copy stays when
 * `pkt` is too large, or len 0 marks "nothing to re-send"). The pool
 * doubles when empty, up to max_flows slots: no allocation per packet. */
static void dp_pend_store(struct dataplane *dp, struct dp_flow *f, const uint8_t *pkt, size_t len)
{
	if (f->pend == DP_NONE) {
		if (dp->pend_free == DP_NONE) {
			uint32_t ncap = dp->pend_cap ? dp->pend_cap * 2 : 16;
			if (ncap > dp->max_flows)
				ncap = dp->max_flows;
			if (ncap <= dp->pend_cap)
				return;
			struct dp_pending *np = realloc(dp->pend, (size_t)ncap * sizeof(*np));
			if (!np)
				return;
			dp->pend = np;
			for (uint32_t i = ncap; i-- > dp->pend_cap;) {
				np[i].flow = DP_NONE;
				np[i].next = dp->pend_free;
				dp->pend_free = i;
			}
			dp->pend_cap = ncap;
		}
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

static void dp_flow_remove(struct dataplane *dp, struct dp_flow *f)
{
	uint32_t idx = (uint32_t)(f - dp->flows);
	uint32_t *pp = &dp->buckets[dp_hash(dp, &f->key) & dp->bucket_mask];

	CHECK(f->cls != DP_CLASS_FREE);
	while (*pp != idx) {
		CHECK(*pp != DP_NONE);
		pp = &dp->flows[*pp].hnext;
	}
	*pp = f->hnext;
	dp_lru_unlink(dp, f);
	dp_pend_release(dp, f);
	f->cls = DP_CLASS_FREE;
	f->hnext = dp->free_head;
	dp->free_head = idx;
	dp->used--;
}

/* Doubles the table (up to max_flows) and rehashes. Allocation happens
 * here only, at most log2(max_flows) times over a data plane's life. */
static int dp_grow(struct dataplane *dp)
{
	uint32_t ncap = dp->cap ? dp->cap * 2 : DP_INITIAL_FLOWS;
	uint32_t nb = 1;

	if (ncap > dp->max_flows)
		ncap = dp->max_flows;
	if (ncap <= dp->cap)
		return -ENOSPC;
	struct dp_flow *nf = realloc(dp->flows, (size_t)ncap * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	dp->flows = nf;
	for (uint32_t i = ncap; i-- > dp->cap;) {
		nf[i].cls = DP_CLASS_FREE;
		nf[i].hnext = dp->free_head;
		dp->free_head = i;
	}
	dp->cap = ncap;
	while (nb < ncap)
		nb <<= 1;
	if (nb - 1 != dp->bucket_mask || !dp->buckets) {
		uint32_t *b = malloc((size_t)nb * sizeof(*b));
		if (!b)
			return 0; /* the old buckets still work, only longer chains */
		free(dp->buckets);
		dp->buckets = b;
		dp->bucket_mask = nb - 1;
		for (uint32_t i = 0; i < nb; i++)
			b[i] = DP_NONE;
		for (uint32_t i = 0; i < dp->cap; i++) {
			struct dp_flow *f = &nf[i];
			if (f->cls == DP_CLASS_FREE)
				continue;
			uint32_t *head = &b[dp_hash(dp, &f->key) & dp->bucket_mask];
			f->hnext = *head;
			*head = i;
		}
	}
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
static void dp_flow_touch(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi,
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
static struct dp_flow *dp_flow_add(struct dataplane *dp, const struct dp_flow_key *k, int32_t peer,
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
			io_emitf(dp->io, "flow_evicted", "\"count\":%llu,\"max_flows\":%u",
			         (unsigned long long)dp->evict_state.pending, dp->max_flows);
			dp->evict_state.pending = 0;
			dp->evict_state.last_event_us = dp->now_us;
			dp->evict_state.evented = true;
		}
	}
	CHECK(dp->free_head != DP_NONE);
	uint32_t idx = dp->free_head;
	struct dp_flow *f = &dp->flows[idx];
	dp->free_head = f->hnext;

	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->peer = peer;
	f->pend = DP_NONE;
	f->flags = (uint8_t)((inbound ? DP_FLOW_INBOUND : 0) | (src_is_a ? DP_FLOW_A_OPENED : 0));
	f->last_us = dp->now_us;
	uint32_t *head = &dp->buckets[dp_hash(dp, k) & dp->bucket_mask];
	f->hnext = *head;
	*head = idx;
	f->prev = f->next = DP_NONE;
	uint8_t cls = dp_class_of(f);
	dp_lru_push(dp, f, cls);
	dp->used++;
	dp->stats.flows_created++;
	dp_sweep_arm(dp, dp->now_us + dp_class_timeout_us[cls]);
	return f;
}

/* ---- the sweep timer --------------------------------------------------- */

/* Makes sure a sweep runs by `deadline_us` (not earlier than one
 * DATAPLANE_SWEEP_MIN_US from now). */
static void dp_sweep_arm(struct dataplane *dp, uint64_t deadline_us)
{
	uint64_t earliest = dp->now_us + DATAPLANE_SWEEP_MIN_US;

	if (deadline_us < earliest)
		deadline_us = earliest;
	if (io_timer_armed(&dp->sweep)) {
		if (dp->sweep_deadline_us <= deadline_us)
			return;
		dp->io->ops->timer_disarm(dp->io, &dp->sweep);
	}
	dp->sweep_deadline_us = deadline_us;
	dp->io->ops->timer_arm(dp->io, &dp->sweep, deadline_us - dp->now_us);
}

static void dp_sweep_fn(struct io_timer *timer)
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

/* ---- steering ---------------------------------------------------------- */

static bool dp_peer_skipped(const struct dataplane *dp, int32_t peer)
{
	return dp->peers && (dp->peers[peer].dead || dp->peers[peer].admin_dead);
}

/* The first ranked host of `svc` not marked dead, or -1. */
static int32_t dp_pick_host(const struct dataplane *dp, const struct netmap_service *svc)
{
	for (size_t i = 0; i < svc->n_hosts; i++) {
		int h = svc->hosts[i];
		if (h >= 0 && (size_t)h < dp->nm->n_peers && !dp_peer_skipped(dp, h))
			return h;
	}
	return -1;
}

/* ---- local failover ------------------------------------------------------ */

static void dp_probe_arm(struct dataplane *dp, uint64_t deadline_us)
{
	if (deadline_us < dp->now_us)
		deadline_us = dp->now_us;
	if (io_timer_armed(&dp->probe)) {
		if (dp->probe_deadline_us <= deadline_us)
			return;
		dp->io->ops->timer_disarm(dp->io, &dp->probe);
	}
	dp->probe_deadline_us = deadline_us;
	dp->io->ops->timer_arm(dp->io, &dp->probe, deadline_us - dp->now_us);
}

static void dp_activate(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->active)
		return;
	p->active = true;
	dp->active[dp->n_active++] = (uint32_t)peer;
}

/* Sends one wire message: DATA with `pkt`, or a PING/PONG with `nonce`. */
static int dp_send(struct dataplane *dp, uint8_t type, const uint8_t *pkt, size_t len,
                   uint64_t nonce, const struct io_addr *dst)
{
	size_t n = DATAPLANE_HDR_LEN;

	dp->tx[0] = DATAPLANE_MAGIC;
	dp->tx[1] = DATAPLANE_VERSION;
	dp->tx[2] = type;
	dp->tx[3] = 0;
	if (type == DATAPLANE_MSG_DATA) {
		memcpy(dp->tx + n, pkt, len);
		n += len;
	} else {
		for (int i = 0; i < 8; i++)
			dp->tx[n++] = (uint8_t)(nonce >> (56 - 8 * i));
	}
	int rc = dp->io->ops->udp_send(dp->io, dp->udp, dp->tx, n, dst);
	if (rc < 0)
		return rc;
	dp->stats.sent_packets++;
	dp->stats.sent_bytes += n;
	return 0;
}

/* A DATA datagram went to `peer`: start the suspicion clock unless one
 * is running or the peer is dead (then it is probed anyway). */
static void dp_peer_sent(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->dead || p->unanswered_since_us)
		return;
	p->unanswered_since_us = dp->now_us ? dp->now_us : 1;
	p->pings = 0;
	dp_activate(dp, peer);
	dp_probe_arm(dp, dp->now_us + dp->probe_after_us);
}

static uint64_t dp_departed_release(struct dataplane *dp, int32_t peer, bool answered);

/* A valid datagram came from `peer`'s endpoint: it lives. */
static void dp_peer_heard(struct dataplane *dp, int32_t peer)
{
	struct dp_peer *p = &dp->peers[peer];

	if (p->dead) {
		p->dead = false;
		dp->stats.peers_marked_alive++;
		io_emitf(dp->io, "peer_alive", "\"peer\":\"%s\",\"silent_ms\":%llu",
		         dp_peer_name(dp, peer),
		         (unsigned long long)((dp->now_us - p->last_rx_us) / 1000));
	}
	p->last_rx_us = dp->now_us;
	p->heard = true;
	p->reset_due = false;
	p->unanswered_since_us = 0;
	p->pings = 0;
	if (dp_departed_of(dp, peer))
		dp->stats.flows_dropped_by_netmap += dp_departed_release(dp, peer, true);
}

static void dp_ping(struct dataplane *dp, int32_t peer)
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
		if (moved <= DATAPLANE_RESTEER_EVENTS) {
			char d[IO_ADDR_STRLEN];
			vip.port = a_opened ? f->key.port_b : f->key.port_a;
			io_emitf(dp->io, "flow_resteered",
			         "\"proto\":%u,\"dst\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
			         "\"resent\":%s",
			         f->key.proto, io_addr_format(&vip, true, d, sizeof(d)),
			         dp_peer_name(dp, peer), dp->nm->peers[to].name,
			         e->len ? "true" : "false");
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
	if (dp->io->ops->tun_write(dp->io, rst, (size_t)len) < 0) {
		dp_drop(dp, DATAPLANE_DROP_TUN_WRITE_FAILED, NULL);
		return;
	}
	dp->stats.tun_out_packets++;
	dp->stats.tun_out_bytes += (size_t)len;
}

/* An outbound TCP flow whose far side spoke (so the sequence number the
 * local stack expects is known) and that is not closing: STR-7 ends it
 * with a RST when its host is judged gone. */
static bool dp_flow_resettable(const struct dp_flow *f)
{
	return f->cls == DP_CLASS_TCP && (f->flags & DP_FLOW_SEQ);
}

/* STR-7: ends every open outbound TCP flow pinned to `peer` (one whose far
 * side spoke and that is not closing) with a RST towards the local stack,
 * and drops it, so applications see the reset at once instead of waiting
 * on a dead host. Emits flows_reset when there were any. Visits the whole
 * table: it runs once per verdict, not per packet. Index-based, so a
 * packet the stack sends meanwhile (a new flow, the table grown) is safe. */
static uint64_t dp_reset_flows(struct dataplane *dp, int32_t peer, const char *reason)
{
	uint64_t n = 0;

	dp->peers[peer].reset_due = false;
	if (!dp->peers[peer].open_tcp)
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
		io_emitf(dp->io, "flows_reset", "\"peer\":\"%s\",\"count\":%llu,\"reason\":\"%s\"",
		         dp_peer_name(dp, peer), (unsigned long long)n, reason);
	return n;
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
	if (p->heard)
		io_emitf(dp->io, "peer_dead",
		         "\"peer\":\"%s\",\"silent_ms\":%llu,\"unanswered_ms\":%llu,"
		         "\"flows_resteered\":%llu",
		         dp_peer_name(dp, peer),
		         (unsigned long long)((dp->now_us - p->last_rx_us) / 1000),
		         (unsigned long long)(unanswered_us / 1000), (unsigned long long)moved);
	else
		io_emitf(dp->io, "peer_dead",
		         "\"peer\":\"%s\",\"silent_ms\":null,\"unanswered_ms\":%llu,"
		         "\"flows_resteered\":%llu",
		         dp_peer_name(dp, peer), (unsigned long long)(unanswered_us / 1000),
		         (unsigned long long)moved);
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
static uint64_t dp_departed_release(struct dataplane *dp, int32_t peer, bool answered)
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
		io_emitf(dp->io, "host_left_alive", "\"peer\":\"%s\",\"flows_dropped\":%llu",
		         d->name, (unsigned long long)dropped);
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
static void dp_probe_fn(struct io_timer *timer)
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
static void dp_probe_rx(struct dataplane *dp, const uint8_t *data, size_t len,
                        const struct io_addr *src)
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

static uint64_t dp_name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ull;
	return h ? h : 1;
}

/* Records that a new inbound flow to `service` began now (the slot of the
 * same service, else an empty one, else the oldest). */
static void dp_note_inbound_flow(struct dataplane *dp, const char *service)
{
	uint64_t h = dp_name_hash(service);
	size_t pick = 0;

	if (!dp->recent) {
		dp->recent = calloc(DATAPLANE_RECENT_SERVICES, sizeof(*dp->recent));
		if (!dp->recent)
			return; /* a drain then settles without waiting */
	}
	for (size_t i = 0; i < DATAPLANE_RECENT_SERVICES; i++) {
		if (dp->recent[i].name_hash == h || dp->recent[i].name_hash == 0) {
			pick = i;
			break;
		}
		if (dp->recent[i].at_us < dp->recent[pick].at_us)
			pick = i;
	}
	dp->recent[pick].name_hash = h;
	dp->recent[pick].at_us = dp->now_us;
}

uint64_t dataplane_last_inbound_flow_us(const struct dataplane *dp, const char *service)
{
	uint64_t h = dp_name_hash(service);

	for (size_t i = 0; dp->recent && i < DATAPLANE_RECENT_SERVICES; i++)
		if (dp->recent[i].name_hash == h)
			return dp->recent[i].at_us;
	return 0;
}

static void dp_emit_flow_new(struct dataplane *dp, const struct packet_info *pi, int32_t peer,
                             bool inbound, const struct netmap_service *svc)
{
	char s[IO_ADDR_STRLEN], d[IO_ADDR_STRLEN];

	io_addr_format(&pi->src, pi->has_ports, s, sizeof(s));
	io_addr_format(&pi->dst, pi->has_ports, d, sizeof(d));
	if (inbound)
		io_emitf(
		    dp->io, "flow_new",
		    "\"proto\":%u,\"src\":\"%s\",\"dst\":\"%s\",\"dir\":\"in\",\"peer\":\"%s\"",
		    pi->proto, s, d, dp_peer_name(dp, peer));
	else if (svc)
		io_emitf(
		    dp->io, "flow_new",
		    "\"proto\":%u,\"src\":\"%s\",\"dst\":\"%s\",\"dir\":\"out\",\"host\":\"%s\","
		    "\"service\":\"%s\"",
		    pi->proto, s, d, dp_peer_name(dp, peer), svc->name);
	else
		io_emitf(
		    dp->io, "flow_new",
		    "\"proto\":%u,\"src\":\"%s\",\"dst\":\"%s\",\"dir\":\"out\",\"host\":\"%s\"",
		    pi->proto, s, d, dp_peer_name(dp, peer));
}

/* ---- TUN -> underlay --------------------------------------------------- */

/* RFC 1624: checksum `csum` (as stored, big-endian bytes) after the
 * 4 bytes `from` of the data it covers became `to`. */
static void dp_csum_replace4(uint8_t csum[2], const uint8_t from[4], const uint8_t to[4])
{
	uint32_t sum = (uint16_t) ~(csum[0] << 8 | csum[1]);

	for (int i = 0; i < 4; i += 2) {
		sum += (uint16_t) ~(from[i] << 8 | from[i + 1]);
		sum += (uint32_t)(to[i] << 8 | to[i + 1]);
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	csum[0] = (uint8_t)(~sum >> 8);
	csum[1] = (uint8_t)~sum;
}

/* A UDP answer a program bound to 0.0.0.0 sends to a datagram that came in
 * on a VIP this node hosts leaves from the node's own address (no socket
 * option tells the program where the datagram went). When such a packet
 * (IPv4, from this node's address) is the exact reverse of an inbound flow
 * to one of its VIPs, the source becomes that VIP, as a kernel's
 * connection tracking would make it: the client's filter and flow expect
 * the answer from the address it asked. Rewrites `pkt` into `out` and
 * returns true, or returns false. */
static bool dp_udp_answer_from_vip(struct dataplane *dp, const uint8_t *pkt, size_t len,
                                   const struct packet_info *pi, uint8_t *out)
{
	if (pi->family != IO_AF_INET || pi->proto != PACKET_PROTO_UDP || !pi->has_ports ||
	    !netmap_is_self_addr(dp->nm, &pi->src))
		return false;
	for (size_t i = 0; i < dp->nm->n_host_services; i++) {
		const struct netmap_service *hs = &dp->nm->host_services[i];
		for (size_t a = 0; a < hs->n_addrs; a++) {
			struct packet_info vpi = *pi;
			struct dp_flow_key k;
			struct dp_flow *f;
			bool src_is_a;
			if (hs->addrs[a].family != IO_AF_INET)
				continue;
			memcpy(vpi.src.ip, hs->addrs[a].ip, sizeof(vpi.src.ip));
			dp_key(&vpi, &k, &src_is_a);
			f = dp_flow_find(dp, &k);
			if (!f || !(f->flags & DP_FLOW_INBOUND))
				continue;
			const uint8_t *vip = hs->addrs[a].ip;
			memcpy(out, pkt, len);
			dp_csum_replace4(out + 10, pkt + 12, vip);
			if (out[pi->l4_offset + 6] | out[pi->l4_offset + 7])
				dp_csum_replace4(out + pi->l4_offset + 6, pkt + 12, vip);
			memcpy(out + 12, vip, 4);
			return true;
		}
	}
	return false;
}

static void dp_from_tun(void *ctx, const uint8_t *pkt, size_t len)
{
	struct dataplane *dp = ctx;
	struct packet_info pi;
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;
	int32_t peer;

	dp->now_us = dp->io->ops->now_us(dp->io);
	dp->stats.tun_in_packets++;
	dp->stats.tun_in_bytes += len;
	dp_pcap(dp, pkt, len);
	if (len > DATAPLANE_MTU) {
		dp_drop(dp, DATAPLANE_DROP_TUN_OVERSIZED, NULL);
		return;
	}
	if (packet_parse(pkt, len, &pi) != (int)len) {
		dp_drop(dp, DATAPLANE_DROP_TUN_MALFORMED, NULL);
		return;
	}
	if (pi.family == IO_AF_INET && io_addr_v4_host(&pi.dst) == DATAPLANE_LOCAL_ADDR_V4) {
		if (dp->local_fn)
			dp->local_fn(dp->local_ctx, pkt, len, &pi);
		else
			dp_drop(dp, DATAPLANE_DROP_NO_ROUTE, &pi);
		return;
	}
	if (!dp->nm) {
		dp_drop(dp, DATAPLANE_DROP_NO_NETMAP, &pi);
		return;
	}
	uint8_t answer[DATAPLANE_MTU];
	if (dp_udp_answer_from_vip(dp, pkt, len, &pi, answer)) {
		pkt = answer;
		if (packet_parse(pkt, len, &pi) != (int)len) {
			dp_drop(dp, DATAPLANE_DROP_TUN_MALFORMED, NULL);
			return;
		}
	}
	bool from_vip = netmap_host_service_by_vip(dp->nm, &pi.src) != NULL;

	dp_key(&pi, &key, &src_is_a);
	f = dp_flow_find(dp, &key);
	/* A new connection reusing the tuple of one that is closing, or of
	 * one whose host left the map. */
	if (f && (f->cls == DP_CLASS_CLOSING || dp_departed_of(dp, f->peer)) &&
	    packet_is_tcp_syn(&pi)) {
		dp_flow_remove(dp, f);
		f = NULL;
	}
	/* The host left the map: nothing goes to it until probing has judged
	 * whether it died (then a RST ends the flow) or lives (then the flow
	 * is dropped and its next packet steered afresh). */
	if (f && dp_departed_of(dp, f->peer)) {
		dp_drop(dp, DATAPLANE_DROP_AWAITING_VERDICT, &pi);
		return;
	}
	if (f) {
		if (from_vip && !(f->flags & DP_FLOW_INBOUND)) {
			dp_drop(dp, DATAPLANE_DROP_VIP_OUTBOUND, &pi);
			return;
		}
		/* Still waiting for its first reply from a host found dead
		 * (when it was, no other host was alive): steer it afresh. */
		if ((f->flags & (DP_FLOW_VIP | DP_FLOW_REPLIED)) == DP_FLOW_VIP &&
		    dp_peer_skipped(dp, f->peer)) {
			const struct netmap_service *svc = netmap_service_by_vip(dp->nm, &pi.dst);
			int32_t to = svc ? dp_pick_host(dp, svc) : -1;
			if (to >= 0)
				f->peer = to;
		}
		peer = f->peer;
		dp_flow_touch(dp, f, &pi, src_is_a);
		if ((f->flags & (DP_FLOW_VIP | DP_FLOW_REPLIED)) == DP_FLOW_VIP &&
		    src_is_a == !!(f->flags & DP_FLOW_A_OPENED))
			dp_pend_store(dp, f, pkt, len);
	} else {
		const struct netmap_service *svc = NULL;

		/* LIM-2: a VIP only answers flows opened from outside. */
		if (from_vip) {
			dp_drop(dp, DATAPLANE_DROP_VIP_OUTBOUND, &pi);
			return;
		}
		peer = netmap_peer_by_addr(dp->nm, &pi.dst);
		if (peer < 0) {
			svc = netmap_service_by_vip(dp->nm, &pi.dst);
			if (!svc) {
				dp_drop(dp, DATAPLANE_DROP_NO_ROUTE, &pi);
				return;
			}
			peer = dp_pick_host(dp, svc);
			if (peer < 0) {
				dp_drop(dp, DATAPLANE_DROP_NO_HOST, &pi);
				return;
			}
		}
		f = dp_flow_add(dp, &key, peer, false, src_is_a);
		dp_flow_touch(dp, f, &pi, src_is_a);
		if (svc) {
			f->flags |= DP_FLOW_VIP;
			dp_pend_store(dp, f, pkt, len);
		}
		dp_emit_flow_new(dp, &pi, peer, false, svc);
	}

	if (dp_send(dp, DATAPLANE_MSG_DATA, pkt, len, 0, &dp->nm->peers[peer].endpoint) < 0) {
		dp_drop(dp, DATAPLANE_DROP_SEND_FAILED, &pi);
		return;
	}
	dp_peer_sent(dp, peer);
}

/* ---- underlay -> TUN --------------------------------------------------- */

/* The far side's TCP segment `pi` of outbound flow f reached the local
 * stack: what it expects next is the highest end seen (sequence
 * arithmetic; SYN and FIN count one each). */
static void dp_flow_note_rcv(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi)
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

static void dp_from_underlay(void *ctx, int handle, const uint8_t *data, size_t len,
                             const struct io_addr *src)
{
	struct dataplane *dp = ctx;
	struct packet_info pi;
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;

	(void)handle;
	dp->now_us = dp->io->ops->now_us(dp->io);
	dp->stats.recv_packets++;
	dp->stats.recv_bytes += len;
	if (len < DATAPLANE_HDR_LEN || data[0] != DATAPLANE_MAGIC || data[1] != DATAPLANE_VERSION) {
		dp_drop(dp, DATAPLANE_DROP_BAD_HEADER, NULL);
		return;
	}
	if (data[2] == DATAPLANE_MSG_PING || data[2] == DATAPLANE_MSG_PONG) {
		dp_probe_rx(dp, data, len, src);
		return;
	}
	if (data[2] != DATAPLANE_MSG_DATA) {
		dp_drop(dp, DATAPLANE_DROP_UNSUPPORTED_TYPE, NULL);
		return;
	}
	const uint8_t *pkt = data + DATAPLANE_HDR_LEN;
	size_t plen = len - DATAPLANE_HDR_LEN;
	if (plen > DATAPLANE_MTU) {
		dp_drop(dp, DATAPLANE_DROP_OVERSIZED, NULL);
		return;
	}
	if (packet_parse(pkt, plen, &pi) != (int)plen) {
		dp_drop(dp, DATAPLANE_DROP_MALFORMED, NULL);
		return;
	}
	if (!dp->nm) {
		dp_drop(dp, DATAPLANE_DROP_NO_NETMAP, &pi);
		return;
	}
	int32_t peer = netmap_peer_by_endpoint(dp->nm, src);
	if (peer < 0) {
		dp_drop(dp, DATAPLANE_DROP_UNKNOWN_PEER, &pi);
		return;
	}
	dp_peer_heard(dp, peer);
	dp_key(&pi, &key, &src_is_a);
	f = dp_flow_find(dp, &key);
	if (f && f->peer != peer) {
		/* Another peer talking on a flow pinned elsewhere. */
		dp_drop(dp, DATAPLANE_DROP_FORGED_SOURCE, &pi);
		return;
	}
	/* Identity: the source is the sender's own address, or a VIP
	 * answering on a flow this node opened towards that sender. */
	if (netmap_peer_by_addr(dp->nm, &pi.src) != peer && !(f && !(f->flags & DP_FLOW_INBOUND))) {
		dp_drop(dp, DATAPLANE_DROP_FORGED_SOURCE, &pi);
		return;
	}
	const struct netmap_service *hosted = netmap_host_service_by_vip(dp->nm, &pi.dst);
	if (!hosted && !netmap_is_self_addr(dp->nm, &pi.dst)) {
		dp_drop(dp, DATAPLANE_DROP_NOT_FOR_US, &pi);
		return;
	}
	if (f && f->cls == DP_CLASS_CLOSING && packet_is_tcp_syn(&pi) &&
	    (f->flags & DP_FLOW_INBOUND)) {
		dp_flow_remove(dp, f);
		f = NULL;
	}
	if (f) {
		dp_flow_touch(dp, f, &pi, src_is_a);
		if (!(f->flags & DP_FLOW_INBOUND) && src_is_a != !!(f->flags & DP_FLOW_A_OPENED)) {
			f->flags |= DP_FLOW_REPLIED;
			dp_pend_release(dp, f);
		}
	} else {
		uint16_t dport = pi.has_ports ? pi.dst.port : 0;
		if (!netmap_filter_allows(dp->nm, &pi.src, &pi.dst, pi.proto, dport)) {
			dp_drop(dp, DATAPLANE_DROP_FILTER, &pi);
			return;
		}
		f = dp_flow_add(dp, &key, peer, true, src_is_a);
		dp_flow_touch(dp, f, &pi, src_is_a);
		dp_emit_flow_new(dp, &pi, peer, true, NULL);
		if (hosted)
			dp_note_inbound_flow(dp, hosted->name);
	}
	dp_pcap(dp, pkt, plen);
	int rc = dp->io->ops->tun_write(dp->io, pkt, plen);
	if (rc < 0) {
		dp_drop(dp, DATAPLANE_DROP_TUN_WRITE_FAILED, &pi);
		return;
	}
	dp->stats.tun_out_packets++;
	dp->stats.tun_out_bytes += plen;
	if (!(f->flags & DP_FLOW_INBOUND) && pi.proto == PACKET_PROTO_TCP && pi.has_ports &&
	    src_is_a != !!(f->flags & DP_FLOW_A_OPENED))
		dp_flow_note_rcv(dp, f, &pi);
}

/* ---- TUN addresses ----------------------------------------------------- */

static int dp_addr_cmp(const void *pa, const void *pb)
{
	const struct io_addr *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->ip, b->ip, 16);
}

static int dp_tun_change(struct dataplane *dp, const struct io_addr *a, bool add)
{
	int bits = a->family == IO_AF_INET ? 32 : 128;
	int rc = add ? dp->io->ops->tun_addr_add(dp->io, a, bits)
	             : dp->io->ops->tun_addr_del(dp->io, a, bits);
	char s[IO_ADDR_STRLEN];

	if (add && rc == -EEXIST)
		rc = 0;
	/* A backend without IPv6 (the sim) cannot hold the v6 half of an
	 * address pair: not an error, the address just stays off the device. */
	if (rc == -EAFNOSUPPORT)
		return rc;
	if (!add && (rc == -EADDRNOTAVAIL || rc == -ENOENT || rc == -ESRCH))
		rc = 0;
	if (rc < 0)
		io_emitf(dp->io, "tun_addr_failed", "\"op\":\"%s\",\"addr\":\"%s\",\"errno\":%d",
		         add ? "add" : "del", io_addr_format(a, false, s, sizeof(s)), -rc);
	return rc;
}

/* Brings the device's addresses to this node's own plus its hosted VIPs,
 * touching only the differences (merge of two sorted lists). */
static int dp_tun_sync(struct dataplane *dp, const struct netmap *nm)
{
	size_t n = 0, i = 0, j = 0, kept = 0;
	struct io_addr *want = NULL, *held;
	int first_err = 0, rc;

	if (nm) {
		size_t cap = nm->self.n_addrs;
		for (size_t s = 0; s < nm->n_host_services; s++)
			cap += nm->host_services[s].n_addrs;
		if (cap > DATAPLANE_MAX_TUN_ADDRS)
			cap = DATAPLANE_MAX_TUN_ADDRS;
		want = calloc(cap ? cap : 1, sizeof(*want));
		if (!want)
			return -ENOMEM;
		for (size_t a = 0; a < nm->self.n_addrs && n < cap; a++)
			want[n++] = nm->self.addrs[a];
		for (size_t s = 0; s < nm->n_host_services; s++)
			for (size_t a = 0; a < nm->host_services[s].n_addrs && n < cap; a++)
				want[n++] = nm->host_services[s].addrs[a];
		for (size_t a = 0; a < n; a++)
			want[a].port = 0;
		qsort(want, n, sizeof(*want), dp_addr_cmp);
	}
	/* The new held list is at most |held| + |want| long. */
	held = calloc(dp->n_tun_addrs + n + 1, sizeof(*held));
	if (!held) {
		free(want);
		return -ENOMEM;
	}
	while (i < dp->n_tun_addrs || j < n) {
		int c = i == dp->n_tun_addrs ? 1
		        : j == n             ? -1
		                             : dp_addr_cmp(&dp->tun_addrs[i], &want[j]);
		if (c == 0) {
			held[kept++] = want[j];
			i++;
			j++;
			while (j < n && dp_addr_cmp(&want[j], &want[j - 1]) == 0)
				j++;
		} else if (c < 0) {
			rc = dp_tun_change(dp, &dp->tun_addrs[i], false);
			if (rc < 0) {
				held[kept++] = dp->tun_addrs[i]; /* still there */
				if (!first_err)
					first_err = rc;
			}
			i++;
		} else {
			rc = dp_tun_change(dp, &want[j], true);
			if (rc == 0)
				held[kept++] = want[j];
			else if (!first_err && rc != -EAFNOSUPPORT)
				first_err = rc;
			j++;
			while (j < n && dp_addr_cmp(&want[j], &want[j - 1]) == 0)
				j++;
		}
	}
	qsort(held, kept, sizeof(*held), dp_addr_cmp);
	free(dp->tun_addrs);
	free(want);
	dp->tun_addrs = held;
	dp->n_tun_addrs = kept;
	dp->stats.tun_addrs = kept;
	return first_err;
}

/* ---- public API -------------------------------------------------------- */

/* Installed on the device when the data plane goes away. */
static void dp_tun_detached(void *ctx, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	(void)len;
}

struct dataplane *dataplane_new(struct io *io, const struct dataplane_config *config, int *err)
{
	struct dataplane *dp;
	struct io_addr local;
	int rc;

	*err = 0;
	if (!io || !config || config->max_flows > DATAPLANE_MAX_FLOWS_LIMIT ||
	    config->probe_after_us > DATAPLANE_PROBE_AFTER_MAX_US) {
		*err = -EINVAL;
		return NULL;
	}
	dp = calloc(1, sizeof(*dp));
	if (!dp) {
		*err = -ENOMEM;
		return NULL;
	}
	dp->io = io;
	dp->udp = -1;
	dp->max_flows = config->max_flows ? config->max_flows : DATAPLANE_DEFAULT_MAX_FLOWS;
	dp->free_head = DP_NONE;
	for (int c = 0; c < DP_CLASS_COUNT; c++)
		dp->lru_head[c] = dp->lru_tail[c] = DP_NONE;
	dp->sweep.fn = dp_sweep_fn;
	dp->probe.fn = dp_probe_fn;
	dp->probe_after_us =
	    config->probe_after_us ? config->probe_after_us : DATAPLANE_PROBE_AFTER_US;
	dp->pend_free = DP_NONE;
	dp->now_us = io->ops->now_us(io);
	dp->hash_seed = io->ops->random_u64(io);
	rc = dp_grow(dp);
	if (rc < 0)
		goto out_free;

	local = config->listen;
	if (local.family == IO_AF_NONE)
		io_addr_v4(&local, 0, 0);
	if (local.port == 0)
		local.port = DATAPLANE_DEFAULT_PORT;
	dp->udp = io->ops->udp_open(io, &local, dp_from_underlay, dp);
	if (dp->udp < 0) {
		rc = dp->udp;
		goto out_free;
	}
	if (io->ops->sock_name(io, dp->udp, false, &dp->endpoint) < 0)
		dp->endpoint = local;
	rc = io->ops->tun_attach(io, dp_from_tun, dp);
	if (rc < 0)
		goto out_free;
	dp->tun_attached = true;
	if (config->pcap_path) {
		FILE *f = NULL;
		dp->pcap_path = strdup(config->pcap_path);
		dp->pcap = pcap_open_dead(DLT_RAW, DP_PCAP_SNAPLEN);
		if (dp->pcap && dp->pcap_path)
			f = outfile_open(&dp->pcap_out, config->pcap_path, false);
		if (f)
			dp->dumper = pcap_dump_fopen(dp->pcap, f);
		if (!dp->dumper) {
			if (f)
				fclose(f);
			rc = -EIO;
			goto out_free;
		}
	}
	return dp;

out_free:
	dataplane_free(dp);
	*err = rc;
	return NULL;
}

void dataplane_free(struct dataplane *dp)
{
	if (!dp)
		return;
	if (io_timer_armed(&dp->sweep))
		dp->io->ops->timer_disarm(dp->io, &dp->sweep);
	if (io_timer_armed(&dp->probe))
		dp->io->ops->timer_disarm(dp->io, &dp->probe);
	dp->nm = NULL; /* may be gone already: nothing below reads it */
	if (dp->n_tun_addrs)
		dp_tun_sync(dp, NULL);
	if (dp->tun_attached)
		dp->io->ops->tun_attach(dp->io, dp_tun_detached, NULL);
	if (dp->udp >= 0)
		dp->io->ops->close(dp->io, dp->udp, false);
	if (dp->dumper) {
		pcap_dump_close(dp->dumper); /* the last flush may fail too */
		if (dp->pcap_out.err)
			dp_pcap_failed(dp);
	}
	if (dp->pcap)
		pcap_close(dp->pcap);
	free(dp->pcap_path);
	free(dp->recent);
	free(dp->departed);
	free(dp->tun_addrs);
	free(dp->peers);
	free(dp->active);
	free(dp->pend);
	free(dp->flows);
	free(dp->buckets);
	free(dp);
}

/* What a new netmap does to the current peer slots (the old map's peers,
 * then the departed): per slot its index in the new numbering or -1. */
struct dp_remap {
	int32_t *to;
	uint32_t *open; /* per slot: flows dp_flow_resettable holds */
	size_t n_old, n_old_peers, n_departed;
	uint64_t over_limit; /* open flows dropped: DATAPLANE_DEPARTED_MAX reached */
};

static const char *dp_slot_name(const struct dataplane *dp, size_t i)
{
	const struct dp_departed *d = dp_departed_of(dp, (int32_t)i);

	if (d)
		return d->waiting ? d->name : NULL;
	return dp->nm->peers[i].name;
}

/* Plans the renumbering: a peer `nm` still lists keeps its state by name;
 * one it no longer lists, with open outbound TCP flows, becomes (or stays)
 * a departed peer, at most DATAPLANE_DEPARTED_MAX of them. */
static int dp_remap_plan(const struct dataplane *dp, const struct netmap *nm, struct dp_remap *r)
{
	memset(r, 0, sizeof(*r));
	r->n_old = dp_n_slots(dp);
	r->n_old_peers = dp->nm ? dp->nm->n_peers : 0;
	r->to = malloc((r->n_old ? r->n_old : 1) * sizeof(*r->to));
	r->open = calloc(r->n_old ? r->n_old : 1, sizeof(*r->open));
	if (!r->to || !r->open) {
		free(r->to);
		free(r->open);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < dp->cap; i++) {
		const struct dp_flow *f = &dp->flows[i];
		if (f->cls != DP_CLASS_FREE && f->peer >= 0 && (size_t)f->peer < r->n_old &&
		    dp_flow_resettable(f))
			r->open[f->peer]++;
	}
	for (size_t i = 0; i < r->n_old; i++) {
		const char *name = dp_slot_name(dp, i);
		r->to[i] = name && nm ? netmap_peer_by_name(nm, name) : -1;
		if (r->to[i] >= 0 || !name || !nm || !r->open[i])
			continue;
		if (r->n_departed == DATAPLANE_DEPARTED_MAX) {
			r->over_limit += r->open[i];
			continue;
		}
		r->to[i] = (int32_t)(nm->n_peers + r->n_departed++);
	}
	return 0;
}

/* After the swap, for the peers this map made departed: one probing
 * already judged dead (or marked dead) has its flows reset now; any other
 * is probed. Returns the flows that left the table. */
static uint64_t dp_departed_start(struct dataplane *dp, const struct dp_remap *r)
{
	uint64_t reset = 0;

	for (size_t i = 0; i < r->n_old; i++) {
		int32_t peer = r->to[i];
		/* Departed now, not by an earlier map (that one's probing goes on). */
		if (peer < 0 || (size_t)peer < dp->nm->n_peers || i >= r->n_old_peers)
			continue;
		struct dp_peer *p = &dp->peers[peer];
		io_emitf(dp->io, "host_left", "\"peer\":\"%s\",\"flows_held\":%u",
		         dp_peer_name(dp, peer), r->open[i]);
		if (p->dead || p->admin_dead) {
			reset += dp_reset_flows(dp, peer, "left_map");
			reset += dp_departed_release(dp, peer, false);
			continue;
		}
		if (p->unanswered_since_us)
			continue; /* a suspicion already under way goes on */
		/* Judged at the pace of a peer that stopped answering data (a
		 * slow or far one gets the same time to answer), with one early
		 * PING that lets a live one prove it at once. */
		p->unanswered_since_us = dp->now_us ? dp->now_us : 1;
		p->pings = 0;
		dp_ping(dp, peer);
	}
	return reset;
}

int dataplane_set_netmap(struct dataplane *dp, const struct netmap *nm)
{
	const struct netmap *old = dp->nm;
	uint64_t kept = 0, dropped = 0, held = 0;
	struct dp_peer *peers = NULL;
	uint32_t *active = NULL;
	struct dp_departed *departed = NULL;
	size_t n_active = 0, n_new;
	struct dp_remap r;
	int rc;

	dp->now_us = dp->io->ops->now_us(dp->io);
	if (dp_remap_plan(dp, nm, &r) < 0)
		return -ENOMEM;
	n_new = nm ? nm->n_peers + r.n_departed : 0;
	if (n_new) {
		peers = calloc(n_new, sizeof(*peers));
		active = calloc(n_new, sizeof(*active));
		departed = r.n_departed ? calloc(r.n_departed, sizeof(*departed)) : NULL;
		if (!peers || !active || (r.n_departed && !departed)) {
			free(peers);
			free(active);
			free(departed);
			free(r.to);
			free(r.open);
			return -ENOMEM;
		}
		for (size_t j = 0; j < nm->n_peers; j++)
			peers[j].nonce_base = dp->io->ops->random_u64(dp->io);
	}
	/* Carry failover state (dead marks, suspicions, nonces) and pinned
	 * flows over by peer name. */
	for (size_t i = 0; i < r.n_old; i++) {
		int32_t j = r.to[i];
		if (j < 0)
			continue;
		peers[j] = dp->peers[i];
		if ((size_t)j >= nm->n_peers) {
			struct dp_departed *d = &departed[(size_t)j - nm->n_peers];
			d->waiting = true;
			d->endpoint = *dp_peer_endpoint(dp, (int32_t)i);
			snprintf(d->name, sizeof(d->name), "%s", dp_slot_name(dp, i));
		}
		peers[j].active =
		    (size_t)j >= nm->n_peers || peers[j].dead || peers[j].unanswered_since_us;
		if (peers[j].active)
			active[n_active++] = (uint32_t)j;
	}
	for (uint32_t i = 0; i < dp->cap; i++) {
		struct dp_flow *f = &dp->flows[i];
		if (f->cls == DP_CLASS_FREE)
			continue;
		int32_t j = old && f->peer >= 0 && (size_t)f->peer < r.n_old ? r.to[f->peer] : -1;
		/* Only open TCP flows wait for a departed peer's verdict. */
		if (j >= 0 && (size_t)j >= nm->n_peers && !dp_flow_resettable(f))
			j = -1;
		if (j < 0) {
			dp_flow_remove(dp, f);
			dropped++;
			continue;
		}
		f->peer = j;
		if ((size_t)j < nm->n_peers)
			kept++;
		else
			held++;
	}
	free(dp->peers);
	free(dp->active);
	free(dp->departed);
	dp->peers = peers;
	dp->active = active;
	dp->n_active = n_active;
	dp->departed = departed;
	dp->n_departed = r.n_departed;
	dp->nm = nm;
	if (r.over_limit)
		io_emitf(dp->io, "host_left_limit", "\"flows_dropped\":%llu,\"limit\":%d",
		         (unsigned long long)r.over_limit, DATAPLANE_DEPARTED_MAX);
	rc = dp_tun_sync(dp, nm);
	if (r.n_departed) {
		uint64_t reset = dp_departed_start(dp, &r);
		held -= reset;
		dropped += reset;
	}
	if (n_active)
		dp_probe_arm(dp, dp->now_us);
	dp->stats.flows_dropped_by_netmap += dropped;
	dp->stats.netmaps_applied++;
	free(r.to);
	free(r.open);
	if (nm)
		io_emitf(dp->io, "netmap_applied",
		         "\"version\":%llu,\"peers\":%zu,\"services\":%zu,\"host_services\":%zu,"
		         "\"flows_kept\":%llu,\"flows_dropped\":%llu,\"flows_held\":%llu",
		         (unsigned long long)nm->version, nm->n_peers, nm->n_services,
		         nm->n_host_services, (unsigned long long)kept, (unsigned long long)dropped,
		         (unsigned long long)held);
	else
		io_emitf(dp->io, "netmap_applied", "\"version\":null,\"flows_dropped\":%llu",
		         (unsigned long long)dropped);
	return rc;
}

static int dp_mark(struct dataplane *dp, const char *name, bool dead)
{
	int i = dp->nm ? netmap_peer_by_name(dp->nm, name) : -1;

	if (i < 0 || !dp->peers)
		return -ENOENT;
	dp->now_us = dp->io->ops->now_us(dp->io);
	if (dp->peers[i].admin_dead != dead)
		io_emitf(dp->io, dead ? "peer_marked_dead" : "peer_marked_alive", "\"peer\":\"%s\"",
		         dp->nm->peers[i].name);
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

void dataplane_stats(const struct dataplane *dp, struct dataplane_stats *out)
{
	*out = dp->stats;
	out->flows_active = dp->used;
}

const char *dataplane_flow_host(const struct dataplane *dp, const struct dataplane_tuple *tuple)
{
	struct packet_info pi;
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;

	memset(&pi, 0, sizeof(pi));
	pi.family = tuple->src.family;
	pi.proto = tuple->proto;
	pi.src = tuple->src;
	pi.dst = tuple->dst;
	pi.has_ports = tuple->proto == PACKET_PROTO_TCP || tuple->proto == PACKET_PROTO_UDP;
	dp_key(&pi, &key, &src_is_a);
	f = dp_flow_find((struct dataplane *)dp, &key);
	return f && dp->nm ? dp_peer_name(dp, f->peer) : NULL;
}

int dataplane_endpoint(const struct dataplane *dp, struct io_addr *out)
{
	*out = dp->endpoint;
	return 0;
}

void dataplane_set_local_handler(struct dataplane *dp, dataplane_local_fn fn, void *ctx)
{
	dp->local_fn = fn;
	dp->local_ctx = fn ? ctx : NULL;
}

int dataplane_local_reply(struct dataplane *dp, const uint8_t *pkt, size_t len)
{
	int rc;

	dp_pcap(dp, pkt, len);
	rc = dp->io->ops->tun_write(dp->io, pkt, len);
	if (rc < 0)
		dp_drop(dp, DATAPLANE_DROP_TUN_WRITE_FAILED, NULL);
	else {
		dp->stats.tun_out_packets++;
		dp->stats.tun_out_bytes += len;
	}
	return rc;
}
