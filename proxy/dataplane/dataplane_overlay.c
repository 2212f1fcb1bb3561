/* The overlay path (see dataplane.h for the wire format and both
 * directions): a packet from the node's stack is steered to a peer and
 * sent on the underlay; a datagram from the underlay is checked, matched
 * to a flow or admitted as a new one, and written into the node's stack.
 * Packets to the node-local address go to the local handler. */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/hash.h"

#include <stdlib.h>
#include <string.h>

/* ---- the wire format ----------------------------------------------------- */

/* Sends one wire message: DATA with `pkt`, or a PING/PONG with `nonce`. */
int dp_send(struct dataplane *dp, uint8_t type, const uint8_t *pkt, size_t len, uint64_t nonce,
            const struct io_addr *dst)
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

/* ---- new flows, as events and per hosted service ------------------------- */

/* Never 0: 0 marks an unused slot. */
static uint64_t dp_name_hash(const char *name)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_INIT, name);

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

	if (dp->io->events_off)
		return; /* a new flow is a hot path: format nothing nobody reads */
	const struct io_field fields[] = {
	    IO_U64("proto", pi->proto),
	    IO_STR("src", io_addr_format(&pi->src, pi->has_ports, s, sizeof(s))),
	    IO_STR("dst", io_addr_format(&pi->dst, pi->has_ports, d, sizeof(d))),
	    IO_STR("dir", inbound ? "in" : "out"),
	    IO_STR(inbound ? "peer" : "host", dp_peer_name(dp, peer)),
	    IO_STR("service", svc ? svc->name : NULL),
	};
	/* An outbound flow to a service names it; the others stop before. */
	io_event_emit(dp->io, "flow_new", fields, !inbound && svc ? 6 : 5);
}

/* ---- TUN -> underlay ----------------------------------------------------- */

/* An IP packet from either side must fit the MTU and parse whole into *pi;
 * else it is dropped for `oversized` or `malformed` and false returned. */
static bool dp_parse_packet(struct dataplane *dp, const uint8_t *pkt, size_t len,
                            struct packet_info *pi, enum dataplane_drop oversized,
                            enum dataplane_drop malformed)
{
	if (len > DATAPLANE_MTU) {
		dp_drop(dp, oversized, NULL);
		return false;
	}
	if (packet_parse(pkt, len, pi) != (int)len) {
		dp_drop(dp, malformed, NULL);
		return false;
	}
	return true;
}

/* Checks a packet from the node's stack: its size, that it parses, and
 * that a netmap is there to route it; one for the node-local address goes
 * to the local handler instead. True when it goes on into the tailnet. */
static bool dp_tun_admit(struct dataplane *dp, const uint8_t *pkt, size_t len,
                         struct packet_info *pi)
{
	if (!dp_parse_packet(dp, pkt, len, pi, DATAPLANE_DROP_TUN_OVERSIZED,
	                     DATAPLANE_DROP_TUN_MALFORMED))
		return false;
	if (pi->family == IO_AF_INET && io_addr_v4_host(&pi->dst) == DATAPLANE_LOCAL_ADDR_V4) {
		if (dp->local_fn)
			dp->local_fn(dp->local_ctx, pkt, len, pi);
		else
			dp_drop(dp, DATAPLANE_DROP_NO_ROUTE, pi);
		return false;
	}
	if (!dp->nm) {
		dp_drop(dp, DATAPLANE_DROP_NO_NETMAP, pi);
		return false;
	}
	return true;
}

/* A packet of flow `f`, which this node's stack already uses: the flow's
 * peer, after re-steering a VIP flow that still waits for its first reply
 * from a host found dead meanwhile. */
static int32_t dp_tun_known_flow(struct dataplane *dp, struct dp_flow *f, const uint8_t *pkt,
                                 size_t len, const struct packet_info *pi, bool src_is_a)
{
	int32_t peer;

	/* Still waiting for its first reply from a host found dead
	 * (when it was, no other host was alive): steer it afresh. */
	if ((f->flags & (DP_FLOW_VIP | DP_FLOW_REPLIED)) == DP_FLOW_VIP &&
	    dp_peer_skipped(dp, f->peer)) {
		const struct netmap_service *svc = netmap_service_by_vip(dp->nm, &pi->dst);
		int32_t to = svc ? dp_pick_host(dp, svc) : -1;
		if (to >= 0)
			f->peer = to;
	}
	peer = f->peer;
	dp_flow_touch(dp, f, pi, src_is_a);
	if ((f->flags & (DP_FLOW_VIP | DP_FLOW_REPLIED)) == DP_FLOW_VIP &&
	    src_is_a == !!(f->flags & DP_FLOW_A_OPENED))
		dp_pend_store(dp, f, pkt, len);
	return peer;
}

/* The first packet of an outbound flow: pinned to the peer that owns the
 * destination, or to the first live ranked host of the service whose VIP
 * it is (STR-6). The peer, or -1 when the packet was dropped. */
static int32_t dp_tun_new_flow(struct dataplane *dp, const struct dp_flow_key *key,
                               const uint8_t *pkt, size_t len, const struct packet_info *pi,
                               bool src_is_a)
{
	const struct netmap_service *svc = NULL;
	struct dp_flow *f;
	int32_t peer = netmap_peer_by_addr(dp->nm, &pi->dst);

	if (peer < 0) {
		svc = netmap_service_by_vip(dp->nm, &pi->dst);
		if (!svc) {
			dp_drop(dp, DATAPLANE_DROP_NO_ROUTE, pi);
			return -1;
		}
		peer = dp_pick_host(dp, svc);
		if (peer < 0) {
			dp_drop(dp, DATAPLANE_DROP_NO_HOST, pi);
			return -1;
		}
	}
	f = dp_flow_add(dp, key, peer, false, src_is_a);
	dp_flow_touch(dp, f, pi, src_is_a);
	if (svc) {
		f->flags |= DP_FLOW_VIP;
		dp_pend_store(dp, f, pkt, len);
	}
	dp_emit_flow_new(dp, pi, peer, false, svc);
	return peer;
}

/* The peer a packet from the node's stack goes to: its flow's, or a new
 * flow's. -1 when the packet was dropped. */
static int32_t dp_tun_steer(struct dataplane *dp, const uint8_t *pkt, size_t len,
                            const struct packet_info *pi)
{
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;

	dp_key(pi, &key, &src_is_a);
	f = dp_flow_find(dp, &key);
	/* A new connection reusing the tuple of one that is closing, or of
	 * one whose host left the map. */
	if (f && (f->cls == DP_CLASS_CLOSING || dp_departed_of(dp, f->peer)) &&
	    packet_is_tcp_syn(pi)) {
		dp_flow_remove(dp, f);
		f = NULL;
	}
	/* The host left the map: nothing goes to it until probing has judged
	 * whether it died (then a RST ends the flow) or lives (then the flow
	 * is dropped and its next packet steered afresh). */
	if (f && dp_departed_of(dp, f->peer)) {
		dp_drop(dp, DATAPLANE_DROP_AWAITING_VERDICT, pi);
		return -1;
	}
	if (dp_vip_source_refused(dp, pi, f)) {
		dp_drop(dp, DATAPLANE_DROP_VIP_OUTBOUND, pi);
		return -1;
	}
	if (f)
		return dp_tun_known_flow(dp, f, pkt, len, pi, src_is_a);
	return dp_tun_new_flow(dp, &key, pkt, len, pi, src_is_a);
}

void dp_from_tun(void *ctx, const uint8_t *pkt, size_t len)
{
	struct dataplane *dp = ctx;
	struct packet_info pi;
	int32_t peer;

	dp->now_us = dp->io->ops->now_us(dp->io);
	dp->stats.tun_in_packets++;
	dp->stats.tun_in_bytes += len;
	dp_pcap(dp, pkt, len);
	if (!dp_tun_admit(dp, pkt, len, &pi))
		return;
	uint8_t answer[DATAPLANE_MTU];
	if (dp_udp_answer_from_vip(dp, pkt, len, &pi, answer)) {
		pkt = answer;
		if (packet_parse(pkt, len, &pi) != (int)len) {
			dp_drop(dp, DATAPLANE_DROP_TUN_MALFORMED, NULL);
			return;
		}
	}
	peer = dp_tun_steer(dp, pkt, len, &pi);
	if (peer < 0)
		return;
	if (dp_send(dp, DATAPLANE_MSG_DATA, pkt, len, 0, &dp->nm->peers[peer].endpoint) < 0) {
		dp_drop(dp, DATAPLANE_DROP_SEND_FAILED, &pi);
		return;
	}
	dp_peer_sent(dp, peer);
}

/* ---- underlay -> TUN ----------------------------------------------------- */

int dp_tun_write(struct dataplane *dp, const uint8_t *pkt, size_t len, const struct packet_info *pi)
{
	struct packet_info parsed;

	if (dp->deliver) {
		if (!pi && packet_parse(pkt, len, &parsed) >= 0)
			pi = &parsed;
		if (pi && !dp->deliver(dp->deliver_ctx, pkt, len, pi))
			return (int)len; /* refused by the owner's policy, not a device failure */
	}
	return dp->io->ops->tun_write(dp->io, pkt, len);
}

/* Checks a datagram's header and dispatches probes; a DATA datagram's
 * inner packet must fit the MTU and parse, and a netmap must be there to
 * judge it. Returns the inner packet (parsed into *pi), or NULL when the
 * datagram was a probe or was dropped. */
static const uint8_t *dp_underlay_unwrap(struct dataplane *dp, const uint8_t *data, size_t len,
                                         const struct io_addr *src, struct packet_info *pi)
{
	if (len < DATAPLANE_HDR_LEN || data[0] != DATAPLANE_MAGIC || data[1] != DATAPLANE_VERSION) {
		dp_drop(dp, DATAPLANE_DROP_BAD_HEADER, NULL);
		return NULL;
	}
	if (data[2] == DATAPLANE_MSG_PING || data[2] == DATAPLANE_MSG_PONG) {
		dp_probe_rx(dp, data, len, src);
		return NULL;
	}
	if (data[2] != DATAPLANE_MSG_DATA) {
		dp_drop(dp, DATAPLANE_DROP_UNSUPPORTED_TYPE, NULL);
		return NULL;
	}
	const uint8_t *pkt = data + DATAPLANE_HDR_LEN;
	size_t plen = len - DATAPLANE_HDR_LEN;
	if (!dp_parse_packet(dp, pkt, plen, pi, DATAPLANE_DROP_OVERSIZED, DATAPLANE_DROP_MALFORMED))
		return NULL;
	if (!dp->nm) {
		dp_drop(dp, DATAPLANE_DROP_NO_NETMAP, pi);
		return NULL;
	}
	return pkt;
}

/* The flow a checked packet from `peer` belongs to: its own (an outbound
 * flow's first packet from the far side marks it replied), or a new
 * inbound flow when the packet filter admits one (ACL-4). NULL when the
 * filter refused it. */
static struct dp_flow *dp_underlay_flow(struct dataplane *dp, struct dp_flow *f,
                                        const struct dp_flow_key *key, const struct packet_info *pi,
                                        int32_t peer, bool src_is_a,
                                        const struct netmap_service *hosted)
{
	if (f && f->cls == DP_CLASS_CLOSING && packet_is_tcp_syn(pi) &&
	    (f->flags & DP_FLOW_INBOUND)) {
		dp_flow_remove(dp, f);
		f = NULL;
	}
	if (f) {
		dp_flow_touch(dp, f, pi, src_is_a);
		if (!(f->flags & DP_FLOW_INBOUND) && src_is_a != !!(f->flags & DP_FLOW_A_OPENED)) {
			f->flags |= DP_FLOW_REPLIED;
			dp_pend_release(dp, f);
		}
		return f;
	}
	if (!dp_filter_admits(dp, pi)) {
		dp_drop(dp, DATAPLANE_DROP_FILTER, pi);
		return NULL;
	}
	f = dp_flow_add(dp, key, peer, true, src_is_a);
	dp_flow_touch(dp, f, pi, src_is_a);
	dp_emit_flow_new(dp, pi, peer, true, NULL);
	if (hosted)
		dp_note_inbound_flow(dp, hosted->name);
	return f;
}

void dp_from_underlay(void *ctx, int handle, const uint8_t *data, size_t len,
                      const struct io_addr *src)
{
	struct dataplane *dp = ctx;
	const struct netmap_service *hosted = NULL;
	enum dataplane_drop refused;
	struct packet_info pi;
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;

	(void)handle;
	dp->now_us = dp->io->ops->now_us(dp->io);
	dp->stats.recv_packets++;
	dp->stats.recv_bytes += len;
	const uint8_t *pkt = dp_underlay_unwrap(dp, data, len, src, &pi);
	if (!pkt)
		return;
	size_t plen = len - DATAPLANE_HDR_LEN;
	int32_t peer = netmap_peer_by_endpoint(dp->nm, src);
	if (peer < 0) {
		dp_drop(dp, DATAPLANE_DROP_UNKNOWN_PEER, &pi);
		return;
	}
	dp_peer_heard(dp, peer);
	dp_key(&pi, &key, &src_is_a);
	f = dp_flow_find(dp, &key);
	refused = dp_sender_refused(dp, peer, f, &pi, &hosted);
	if (refused != DATAPLANE_DROP_COUNT) {
		dp_drop(dp, refused, &pi);
		return;
	}
	f = dp_underlay_flow(dp, f, &key, &pi, peer, src_is_a, hosted);
	if (!f)
		return;
	dp_pcap(dp, pkt, plen);
	int rc = dp_tun_write(dp, pkt, plen, &pi);
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

/* ---- the node-local address ---------------------------------------------- */

void dataplane_set_local_handler(struct dataplane *dp, dataplane_local_fn fn, void *ctx)
{
	dp->local_fn = fn;
	dp->local_ctx = fn ? ctx : NULL;
}

int dataplane_local_reply(struct dataplane *dp, const uint8_t *pkt, size_t len)
{
	int rc;

	dp_pcap(dp, pkt, len);
	rc = dp_tun_write(dp, pkt, len, NULL);
	if (rc < 0)
		dp_drop(dp, DATAPLANE_DROP_TUN_WRITE_FAILED, NULL);
	else {
		dp->stats.tun_out_packets++;
		dp->stats.tun_out_bytes += len;
	}
	return rc;
}
