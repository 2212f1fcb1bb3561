/* Internal to svc_dataplane: the one struct the pieces of the data plane
 * share and the calls one piece makes into another. The design is in
 * dataplane.h; each file owns one concern:
 *
 *   dataplane.c          the object (new, free), the netmap swap (re-pinning
 *                        flows by peer name, STR-6), the TUN addresses, drop
 *                        counting and its events, queries
 *   dataplane_flow.c     the flow table (key, hash, LRU classes, expiry
 *                        sweep, pending-packet copies), steering a new flow
 *                        to a host, the STR-7 resets
 *   dataplane_filter.c   what may pass: the packet filter for new inbound
 *                        flows (ACL-4), the sender's identity, LIM-2, the
 *                        L3-1 answer from a VIP
 *   dataplane_probe.c    peers: slot numbering (netmap peers, then departed
 *                        ones), probes and liveness (STR-4, STR-5), the
 *                        verdict on departed peers, administrative marks
 *   dataplane_overlay.c  the overlay path: the wire format, TUN -> underlay,
 *                        underlay -> TUN, the node-local address
 *   dataplane_pcap.c     the tailnet pcap
 */
#ifndef PROXY_DATAPLANE_DATAPLANE_INT_H
#define PROXY_DATAPLANE_DATAPLANE_INT_H

#include "proxy/dataplane/dataplane.h"

#include "lib/base/htab.h"
#include "lib/wire/packet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_NONE            UINT32_MAX
#define DP_INITIAL_FLOWS   64
#define DP_INITIAL_PENDING 16 /* pending-copy slots at first use */

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
	uint32_t free_next;  /* while free: the free list */
	uint32_t prev, next; /* LRU list of its class (indexes: flows moves when it grows,
	                      * so lib/base/list.h pointers would not do); prev: towards the head */
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
	dataplane_deliver_fn deliver; /* config.deliver: the owner's filter hook */
	void *deliver_ctx;
	const struct netmap *nm;
	int udp;
	bool tun_attached;
	struct io_addr endpoint;
	uint64_t now_us; /* read once per callback */
	uint64_t hash_seed;

	/* Flow table. */
	struct dp_flow *flows;
	uint32_t cap, max_flows, used;
	struct htab index; /* key -> flows[i] */
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

	struct dp_pcap *pcap; /* the tailnet pcap (dataplane_pcap.c); NULL: none */

	struct dp_drop_state drop_state[DATAPLANE_DROP_COUNT];
	struct dp_drop_state evict_state;
	struct dataplane_stats stats;
	uint8_t tx[DATAPLANE_HDR_LEN + DATAPLANE_MTU];
};

/* ---- dataplane.c: drops, evictions, timers ------------------------------ */

/* Counts a drop and reports it, at most once per DATAPLANE_EVENT_GAP_US
 * per reason (the sweep reports what accumulated). `pi` may be NULL. */
void dp_drop(struct dataplane *dp, enum dataplane_drop reason, const struct packet_info *pi);
/* Reports the drop and eviction counts whose gap has passed (the sweep). */
void dp_flush_drops(struct dataplane *dp);
/* Makes sure timer t fires by deadline_us (>= now): an armed timer due
 * earlier stays, one due later is moved. *due_us keeps the deadline it is
 * armed for. */
void dp_timer_by(struct dataplane *dp, struct io_timer *t, uint64_t *due_us, uint64_t deadline_us);
/* Reports the flows evicted since the last report (flow_evicted). */
void dp_emit_evicted(struct dataplane *dp);

/* ---- dataplane_flow.c: the flow table, steering, STR-7 ------------------ */

void dp_key(const struct packet_info *pi, struct dp_flow_key *k, bool *src_is_a);
struct dp_flow *dp_flow_find(struct dataplane *dp, const struct dp_flow_key *k);
struct dp_flow *dp_flow_add(struct dataplane *dp, const struct dp_flow_key *k, int32_t peer,
                            bool inbound, bool src_is_a);
void dp_flow_remove(struct dataplane *dp, struct dp_flow *f);
void dp_flow_touch(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi,
                   bool src_is_a);
int dp_grow(struct dataplane *dp);
void dp_pend_store(struct dataplane *dp, struct dp_flow *f, const uint8_t *pkt, size_t len);
void dp_pend_release(struct dataplane *dp, struct dp_flow *f);
void dp_sweep_arm(struct dataplane *dp, uint64_t deadline_us);
void dp_sweep_fn(struct io_timer *timer);
bool dp_peer_skipped(const struct dataplane *dp, int32_t peer);
int32_t dp_pick_host(const struct dataplane *dp, const struct netmap_service *svc);
bool dp_flow_resettable(const struct dp_flow *f);
uint64_t dp_reset_flows(struct dataplane *dp, int32_t peer, const char *reason);
void dp_flow_note_rcv(struct dataplane *dp, struct dp_flow *f, const struct packet_info *pi);

/* ---- dataplane_filter.c: what may pass ---------------------------------- */

/* ACL-4: may this packet from a peer open an inbound flow? */
bool dp_filter_admits(const struct dataplane *dp, const struct packet_info *pi);
/* A packet from `peer` (on flow `f`, NULL for none): the sender must speak
 * for its own address, or for a VIP answering on a flow this node pinned
 * to it, and the destination must be this node's own address or a VIP it
 * hosts (then *hosted). DATAPLANE_DROP_COUNT when it passes, else why not. */
enum dataplane_drop dp_sender_refused(const struct dataplane *dp, int32_t peer,
                                      const struct dp_flow *f, const struct packet_info *pi,
                                      const struct netmap_service **hosted);
/* LIM-2: a packet from a VIP this node hosts leaves only on a flow that
 * was opened inbound (`f` NULL: none). */
bool dp_vip_source_refused(const struct dataplane *dp, const struct packet_info *pi,
                           const struct dp_flow *f);
/* L3-1: rewrites a UDP answer from the node's own address to leave from
 * the hosted VIP its question came to; true when it did (into `out`). */
bool dp_udp_answer_from_vip(struct dataplane *dp, const uint8_t *pkt, size_t len,
                            const struct packet_info *pi, uint8_t *out);

/* ---- dataplane_probe.c: peers and their liveness ------------------------ */

size_t dp_n_slots(const struct dataplane *dp);
struct dp_departed *dp_departed_of(const struct dataplane *dp, int32_t peer);
const char *dp_peer_name(const struct dataplane *dp, int32_t peer);
const struct io_addr *dp_peer_endpoint(const struct dataplane *dp, int32_t peer);
void dp_probe_arm(struct dataplane *dp, uint64_t deadline_us);
void dp_probe_fn(struct io_timer *timer);
void dp_peer_sent(struct dataplane *dp, int32_t peer);
void dp_peer_heard(struct dataplane *dp, int32_t peer);
void dp_ping(struct dataplane *dp, int32_t peer);
uint64_t dp_departed_release(struct dataplane *dp, int32_t peer, bool answered);
void dp_probe_rx(struct dataplane *dp, const uint8_t *data, size_t len, const struct io_addr *src);

/* ---- dataplane_overlay.c: the overlay path ------------------------------ */

int dp_send(struct dataplane *dp, uint8_t type, const uint8_t *pkt, size_t len, uint64_t nonce,
            const struct io_addr *dst);
void dp_from_tun(void *ctx, const uint8_t *pkt, size_t len);
/* Every write into the node's stack (a packet from the tailnet, a local
 * handler's reply, a RST the data plane makes) goes through the owner's
 * deliver hook first (config.deliver, given `pi`, the packet's parse, or
 * NULL to parse it here; an unparsable packet is not the hook's). A packet
 * the hook refuses counts as written: `len` is returned. Else the device's
 * result. */
int dp_tun_write(struct dataplane *dp, const uint8_t *pkt, size_t len,
                 const struct packet_info *pi);
void dp_from_underlay(void *ctx, int handle, const uint8_t *data, size_t len,
                      const struct io_addr *src);

/* ---- dataplane_pcap.c: the tailnet pcap --------------------------------- */

/* Opens `path` for LINKTYPE_RAW capture: 0 or -EIO. */
int dp_pcap_open(struct dataplane *dp, const char *path);
/* Writes one packet crossing the TUN device, stamped with the seam's clock. */
void dp_pcap(struct dataplane *dp, const uint8_t *pkt, size_t len);
/* Flushes and closes the file (a failed last flush is reported too). */
void dp_pcap_close(struct dataplane *dp);

#endif
