/* The overlay data plane of the node daemon: TUN <-> underlay UDP.
 *
 * Wire format on the underlay: one UDP datagram (default port 41641) per
 * packet = a 4-byte header {magic 0x54, version 1, type, 0} followed by the
 * raw IP packet. Type 1 carries a data packet; 2 (PING) and 3 (PONG) carry
 * an 8-byte nonce each (local failover, below). The inner packet is at most
 * DATAPLANE_MTU bytes (the TUN MTU). Anything malformed is dropped and
 * counted; other types are `unsupported_type`.
 *
 * TUN -> underlay (a packet the node's stack sends into the tailnet):
 *   parse; look the 5-tuple up in the flow table, whose entries pin a flow
 *   to one peer. Without a flow: a peer's tailnet address goes to that
 *   peer; a service VIP goes to the first host in the service's ranked
 *   `hosts` that is not marked dead locally; the new flow is recorded, so
 *   existing flows stay on the host they started on when the ranking
 *   changes (STR-6). Unknown destination: dropped. LIM-2: a packet whose
 *   source is a VIP this node hosts leaves only as part of a flow that was
 *   opened inbound; anything else from a VIP (a SYN, a UDP datagram) is
 *   dropped with the event `vip_outbound_refused`. An IPv4 UDP datagram
 *   from this node's own address that is the exact reverse of an inbound
 *   flow to a hosted VIP (a program bound to 0.0.0.0 answering) leaves
 *   from that VIP instead, checksums adjusted, as connection tracking
 *   would send it (L3-1).
 *
 * Underlay -> TUN: check the header; the sending endpoint must be a
 *   peer's; the inner source address must be that peer's own (or, for a
 *   reply from a VIP, belong to a flow this node pinned to that peer):
 *   otherwise `forged_source`. The destination must be this node's own
 *   address or a VIP it hosts. A packet of a known flow passes; a packet
 *   that would open a flow is checked against the packet filter
 *   (netmap_filter_allows) and, when allowed, opens an inbound flow. So a
 *   filter change applies to new flows only (ACL-4). Then tun_write.
 *
 * Flow table: a hash table keyed by the normalised 5-tuple (both
 * directions map to one entry), bounded (max_flows, default 65536; the
 * least recently used flow is evicted when full, with an event), grown on
 * demand so an idle node costs little. Idle expiry: TCP 5 min, 30 s once
 * FINs were seen both ways or a RST; UDP and others 60 s. Flows sit in one
 * LRU list per timeout class, so expiry pops list tails; one seam timer
 * runs the sweep at the earliest deadline, never a timer per flow. When a
 * new netmap comes in, flows keep their peer by NAME; a flow whose peer is
 * gone is dropped (its next packet opens a new flow, steered afresh),
 * except open outbound TCP flows, which wait for a verdict (STR-7 below).
 *
 * TUN addresses: each netmap puts this node's own addresses and the VIPs
 * of `host_services` on the TUN device (tun_addr_add/del of the
 * differences only; -EAFNOSUPPORT, e.g. IPv6 in the sim, leaves an address
 * off without an error); dataplane_free takes them off again.
 *
 * Tailnet pcap: with config.pcap_path every packet crossing the TUN device
 * (both directions) goes to a LINKTYPE_RAW pcap file stamped with the
 * seam's clock, so a simulated run writes the same file every time. A
 * write that fails (a full disk) is reported once: `pcap_write_failed`
 * {path, error}; the file is incomplete.
 *
 * Local failover (STR-4, STR-5, STR-6), without waiting for control's
 *   heartbeats (~3 s): every peer (by name, surviving netmap swaps) has
 *   last_rx_us (any valid datagram from its endpoint) and
 *   unanswered_since_us (the first DATA datagram sent to it since its last
 *   rx; 0 when nothing is outstanding). A peer whose unanswered_since is
 *   older than probe_after_us (DATAPLANE_PROBE_AFTER_US, 250 ms) gets a PING
 *   every DATAPLANE_PROBE_INTERVAL_US (100 ms, stretched to twice the last
 *   measured ping RTT for far peers); a matching PONG (the nonce of one of
 *   the last DATAPLANE_NONCE_WINDOW pings) or any other valid datagram from
 *   it clears the suspicion. When DATAPLANE_PROBE_COUNT (3) pings went
 *   unanswered the peer is marked dead (event `peer_dead`, with how long it
 *   was silent): new VIP flows skip it, and outbound VIP flows pinned to it
 *   that never saw a reply packet (a TCP connect with only SYNs sent, a UDP
 *   query without answer) are re-pinned to the next live ranked host and
 *   their last outbound packet (a copy kept until the first reply, only
 *   for VIP flows, only when <= DATAPLANE_PENDING_MAX bytes; a SYN is ~60)
 *   is re-sent there at once (event `flow_resteered`), so a pending connect
 *   completes without waiting for TCP's SYN retransmission. Flows that saw
 *   a reply stay pinned (STR-6). So a new connection started at the fault
 *   completes on the next host after about 250 + 3 * 100 ms + one RTT.
 *   A dead peer gets one PING per DATAPLANE_DEAD_PROBE_US (1 s); a PONG or
 *   any datagram from it marks it alive again (event `peer_alive`) and new
 *   flows return to it if it ranks first (STR-5). A PING from a peer's
 *   endpoint is answered with a PONG carrying its nonce; from an unknown
 *   endpoint it is dropped (unknown_peer); a PONG with a nonce we did not
 *   send, or a probe of the wrong length, is dropped (bad_probe) and proves
 *   nothing. One seam timer drives probing; it is armed only while some
 *   peer has something outstanding or is dead, and each tick visits only
 *   those peers (an "active" list). Marks set by dataplane_mark_peer_dead
 *   are separate and sticky: probing never clears them.
 *
 * Dead hosts end their connections (STR-7): an application holding an
 *   idle kept-alive connection to a host that died would otherwise learn
 *   it only from its own timeout. So when probing judges a peer dead and it
 *   is still silent at the first dead PING (DATAPLANE_DEAD_PROBE_US later:
 *   a live host whose path just got slower answers by then and keeps its
 *   connections; reason "probes"), or at once when control's map dropped
 *   it too (reason "left_map", below), every
 *   open outbound TCP flow pinned to it (one whose far side spoke, not
 *   closing) is ended: the data plane writes into the node's stack a bare
 *   RST from the far end (VIP or peer address and port) to the local end,
 *   IPv4 or IPv6, checksums filled, sequence number = what the local stack
 *   expects next (the highest end of the far side's segments it handed
 *   over, kept per flow in 4 bytes), and drops the flow (event
 *   `flows_reset` per peer with the count). A new netmap
 *   that no longer lists a peer holding such flows does not drop them at
 *   once: the peer becomes "departed" (at most DATAPLANE_DEPARTED_MAX; event
 *   `host_left` with the flows held; past the limit they are dropped,
 *   `host_left_limit`), its flows' packets are dropped (`awaiting_verdict`) and it
 *   is judged as a peer that stopped answering data is (DATAPLANE_PROBE_COUNT
 *   pings after DATAPLANE_PROBE_AFTER_US: ~550 ms, so a slow or far host has
 *   as long to answer as any silent peer), plus one PING at once so that a live one
 *   answers early. No answer: dead, flows reset (reason "left_map"). A PONG:
 *   it lives (control dropped it for another reason, e.g. a policy
 *   change), its flows are dropped as for any peer that left the map
 *   (`host_left_alive`). A peer
 *   already judged or marked dead is reset at once. A drained host stays in
 *   the map (control keeps it a peer while it drains), so its connections
 *   finish (DRN-2); a host that is only slow is judged by probing alone.
 *   Administrative marks never reset anything.
 *
 * Events: flow_new, flow_evicted (rate-limited), netmap_applied,
 * tun_addr_failed, peer_dead, peer_alive, flow_resteered (at most
 * DATAPLANE_RESTEER_EVENTS per dead peer, the rest counted in peer_dead), flows_reset,
 * host_left, host_left_alive, host_left_limit, and one event per drop
 * reason (named by dataplane_drop_name, e.g. forged_source, vip_outbound_refused, filter_refused)
 * at most once per second per reason, carrying the count since the last one and the packet that
 * triggered it.
 *
 * Cost: no allocation per packet (only when the flow table or the pool of
 * pending-packet copies grows; both bounded by max_flows), O(1)
 * lookups (hash tables here and in the netmap). The filter is consulted
 * only when a packet would open a flow.
 *
 * Code: one file per concern (flows, filter, probes, overlay path, pcap,
 * and the object itself), listed in dataplane_int.h.
 */
#ifndef PROXY_DATAPLANE_DATAPLANE_H
#define PROXY_DATAPLANE_DATAPLANE_H

#include "lib/io/io.h"
#include "lib/wire/netmap.h"

#include <stdbool.h>
#include <stdint.h>

#define DATAPLANE_DEFAULT_PORT 41641
#define DATAPLANE_MTU          1500 /* largest inner packet */
#define DATAPLANE_HDR_LEN      4
#define DATAPLANE_MAGIC        0x54
#define DATAPLANE_VERSION      1

enum dataplane_msg_type {
	DATAPLANE_MSG_DATA = 1,
	DATAPLANE_MSG_PING = 2, /* payload: 8-byte nonce */
	DATAPLANE_MSG_PONG = 3, /* payload: the PING's nonce */
};

#define DATAPLANE_PROBE_LEN (DATAPLANE_HDR_LEN + 8)

/* Local failover (see above). */
#define DATAPLANE_PROBE_AFTER_US    (250ull * 1000)
#define DATAPLANE_PROBE_INTERVAL_US (100ull * 1000)
#define DATAPLANE_PROBE_COUNT       3
#define DATAPLANE_DEAD_PROBE_US     (1000ull * 1000)
/* See dataplane_last_inbound_flow_us: as many services as one host serves
 * (SERVE_MAX_SERVICES), so a busy one never pushes out a draining one. */
#define DATAPLANE_RECENT_SERVICES    64
#define DATAPLANE_NONCE_WINDOW       16  /* a PONG may answer one of the last N pings */
#define DATAPLANE_PENDING_MAX        128 /* largest outbound packet kept for re-sending */
#define DATAPLANE_RESTEER_EVENTS     8   /* flow_resteered events per dead peer */
#define DATAPLANE_DEPARTED_MAX       64  /* peers that left the map awaiting a verdict */
#define DATAPLANE_PROBE_AFTER_MAX_US (60ull * 1000000)

#define DATAPLANE_DEFAULT_MAX_FLOWS 65536
#define DATAPLANE_MAX_FLOWS_LIMIT   (1u << 22)
#define DATAPLANE_TCP_IDLE_US       (300ull * 1000000)
#define DATAPLANE_TCP_CLOSING_US    (30ull * 1000000)
#define DATAPLANE_UDP_IDLE_US       (60ull * 1000000)
/* Shortest gap between two sweeps, and between two events of one kind. */
#define DATAPLANE_SWEEP_MIN_US (1000000ull)
#define DATAPLANE_EVENT_GAP_US (1000000ull)
/* Most addresses the data plane puts on the TUN device. */
#define DATAPLANE_MAX_TUN_ADDRS (NETMAP_MAX_ADDRS * (1 + NETMAP_MAX_SERVICES))

struct packet_info;
/* The owner's last word on every packet the data plane writes into the
 * node's stack (one from the tailnet it accepted, a local handler's reply,
 * a RST it makes), after the tailnet pcap and before the TUN device: false
 * drops it silently, counted as written (the owner reports it; svcd's
 * LIM-1 refuses non-TCP packets to the VIPs of non-L3 services). */
typedef bool (*dataplane_deliver_fn)(void *ctx, const uint8_t *pkt, size_t len,
                                     const struct packet_info *pi);

struct dataplane_config {
	/* Underlay address to listen on; family IO_AF_NONE means 0.0.0.0,
	 * port 0 means DATAPLANE_DEFAULT_PORT. */
	struct io_addr listen;
	uint32_t max_flows;    /* 0: DATAPLANE_DEFAULT_MAX_FLOWS */
	const char *pcap_path; /* NULL: no tailnet pcap */
	/* Silence after a DATA datagram before probing starts; 0:
	 * DATAPLANE_PROBE_AFTER_US, at most DATAPLANE_PROBE_AFTER_MAX_US. */
	uint64_t probe_after_us;
	dataplane_deliver_fn deliver; /* NULL: every accepted packet goes to the stack */
	void *deliver_ctx;
};

enum dataplane_drop {
	DATAPLANE_DROP_NO_NETMAP = 0,
	DATAPLANE_DROP_TUN_MALFORMED,    /* unparsable packet from the stack */
	DATAPLANE_DROP_TUN_OVERSIZED,    /* packet from the stack above the MTU */
	DATAPLANE_DROP_NO_ROUTE,         /* destination is no peer and no VIP */
	DATAPLANE_DROP_NO_HOST,          /* a VIP whose hosts are all dead or none */
	DATAPLANE_DROP_VIP_OUTBOUND,     /* LIM-2 */
	DATAPLANE_DROP_SEND_FAILED,      /* udp_send failed */
	DATAPLANE_DROP_BAD_HEADER,       /* short datagram, wrong magic/version */
	DATAPLANE_DROP_UNSUPPORTED_TYPE, /* unknown message type */
	DATAPLANE_DROP_OVERSIZED,        /* inner packet above the MTU */
	DATAPLANE_DROP_MALFORMED,        /* inner packet unparsable */
	DATAPLANE_DROP_UNKNOWN_PEER,     /* datagram from an endpoint no peer has */
	DATAPLANE_DROP_FORGED_SOURCE,    /* inner source is not the sender's */
	DATAPLANE_DROP_NOT_FOR_US,       /* destination neither ours nor a hosted VIP */
	DATAPLANE_DROP_FILTER,           /* the packet filter refused a new flow */
	DATAPLANE_DROP_TUN_WRITE_FAILED,
	DATAPLANE_DROP_BAD_PROBE, /* ping/pong of the wrong length, pong with an unknown nonce */
	DATAPLANE_DROP_AWAITING_VERDICT, /* a flow's host left the map; probing has not judged it
	                                    yet */
	DATAPLANE_DROP_COUNT,
};

struct dataplane_stats {
	uint64_t tun_in_packets, tun_in_bytes;   /* read from the TUN device */
	uint64_t sent_packets, sent_bytes;       /* datagrams sent on the underlay */
	uint64_t recv_packets, recv_bytes;       /* datagrams received on the underlay */
	uint64_t tun_out_packets, tun_out_bytes; /* written to the TUN device */
	uint64_t flows_active;
	uint64_t flows_created, flows_expired, flows_evicted;
	uint64_t flows_dropped_by_netmap; /* their peer left the map */
	uint64_t netmaps_applied;
	uint64_t tun_addrs; /* addresses the data plane holds on the device */
	/* Local failover. */
	uint64_t pings_sent, pongs_received, pongs_sent;
	uint64_t peers_marked_dead, peers_marked_alive; /* by probing */
	uint64_t flows_resteered;
	uint64_t flows_reset;    /* ended with a RST towards the local stack (STR-7) */
	uint64_t pending_copies; /* outbound packets held for re-sending now */
	uint64_t drops[DATAPLANE_DROP_COUNT];
};

/* A flow as seen from either end; ports 0 for protocols without ports. */
struct dataplane_tuple {
	uint8_t proto;
	struct io_addr src, dst;
};

struct dataplane;

/* Opens the underlay socket, attaches to the TUN device, and opens the
 * pcap file if asked. Returns NULL with *err = -errno (-EINVAL for a bad
 * config, the seam's error for the socket or device, -EIO for pcap). */
struct dataplane *dataplane_new(struct io *io, const struct dataplane_config *config, int *err);
/* Removes the TUN addresses it added, closes the socket and pcap, frees.
 * Accepts NULL. The netmap last set may already be gone. */
void dataplane_free(struct dataplane *dp);

/* Swaps in `nm` (NULL: none; every packet is dropped). The caller keeps
 * `nm` alive until the next call or dataplane_free, and the previous one
 * alive until this call returns. Re-pins flows by peer name, updates the
 * TUN addresses, emits netmap_applied. Returns 0, or -errno when the TUN
 * addresses could not all be changed (the map is applied regardless). */
int dataplane_set_netmap(struct dataplane *dp, const struct netmap *nm);

/* Administrative marks (sticky; probing neither sets nor clears them): a
 * dead peer is skipped when steering new flows to a VIP; flows that saw a
 * reply stay, flows still waiting for their first reply are re-steered as
 * when probing finds the peer dead. Return 0 or -ENOENT for a name the
 * current netmap does not know. Marks survive a netmap swap by name. */
int dataplane_mark_peer_dead(struct dataplane *dp, const char *name);
int dataplane_mark_peer_alive(struct dataplane *dp, const char *name);

/* Whether the peer is skipped for new flows (marked dead by probing or by
 * dataplane_mark_peer_dead); false for an unknown name. */
bool dataplane_peer_is_dead(const struct dataplane *dp, const char *name);

void dataplane_stats(const struct dataplane *dp, struct dataplane_stats *out);
/* Name of the peer the flow is pinned to, or NULL without such a flow. */
const char *dataplane_flow_host(const struct dataplane *dp, const struct dataplane_tuple *tuple);
/* The underlay endpoint the data plane listens on. */
int dataplane_endpoint(const struct dataplane *dp, struct io_addr *out);
/* Event name of a drop reason ("forged_source", ...). */
const char *dataplane_drop_name(enum dataplane_drop reason);
/* When the last new inbound flow to one of `service`'s VIPs on this host
 * began (its first packet, a SYN for TCP), 0 for never or not known. A
 * draining host keeps listening until the handshakes of such flows had
 * time to complete (svcd.h). */
uint64_t dataplane_last_inbound_flow_us(const struct dataplane *dp, const char *service);

/* The node-local service address (MagicDNS, 100.100.100.100). Packets the
 * node's stack sends to it never leave the node and need no TUN address
 * (an extra address there would become the stack's source address for
 * tailnet traffic): the data plane hands them to the local handler, which
 * may answer with dataplane_local_reply. Without a handler they are
 * dropped (no_route). */
#define DATAPLANE_LOCAL_ADDR_V4 0x64646464u /* 100.100.100.100 */
struct packet_info;
typedef void (*dataplane_local_fn)(void *ctx, const uint8_t *pkt, size_t len,
                                   const struct packet_info *pi);
void dataplane_set_local_handler(struct dataplane *dp, dataplane_local_fn fn, void *ctx);
/* Writes a packet into the node's stack as if it came from the tailnet
 * (and into the tailnet pcap). 0 or -errno. */
int dataplane_local_reply(struct dataplane *dp, const uint8_t *pkt, size_t len);

#endif
