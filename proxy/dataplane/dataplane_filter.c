/* What may pass the data plane beyond "a known flow": the packet filter
 * from the netmap for packets that would open an inbound flow (ACL-4, new
 * flows only), the sender's identity (a peer speaks for its own address
 * and for VIPs on flows this node pinned to it), the VIP source rule
 * (LIM-2), and the L3-1 rewrite of a UDP answer to the VIP it was asked
 * on. */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/mutant.h"

#include <string.h>

/* ---- inbound: who may open a flow, who may speak for an address ---------- */

/* The mutant filter: a rule that admits the source and the destination
 * admits every port. */
static bool dp_filter_admits_any_port(const struct dataplane *dp, const struct packet_info *pi)
{
	for (size_t i = 0; i < dp->nm->n_rules; i++)
		for (size_t j = 0; j < dp->nm->rules[i].n_dst; j++) {
			const struct netmap_filter_dst *d = &dp->nm->rules[i].dst[j];
			if (netmap_filter_allows(dp->nm, &pi->src, &pi->dst, pi->proto,
			                         d->port_first))
				return true;
		}
	return false;
}

bool dp_filter_admits(const struct dataplane *dp, const struct packet_info *pi)
{
	uint16_t dport = pi->has_ports ? pi->dst.port : 0;

	if (MUTANT("filter-ignores-ports"))
		return dp_filter_admits_any_port(dp, pi);
	return netmap_filter_allows(dp->nm, &pi->src, &pi->dst, pi->proto, dport);
}

enum dataplane_drop dp_sender_refused(const struct dataplane *dp, int32_t peer,
                                      const struct dp_flow *f, const struct packet_info *pi,
                                      const struct netmap_service **hosted)
{
	/* Another peer talking on a flow pinned elsewhere. */
	if (f && f->peer != peer)
		return DATAPLANE_DROP_FORGED_SOURCE;
	/* Identity: the source is the sender's own address, or a VIP
	 * answering on a flow this node opened towards that sender. */
	if (netmap_peer_by_addr(dp->nm, &pi->src) != peer && !(f && !(f->flags & DP_FLOW_INBOUND)))
		return DATAPLANE_DROP_FORGED_SOURCE;
	*hosted = netmap_host_service_by_vip(dp->nm, &pi->dst);
	if (!*hosted && !netmap_is_self_addr(dp->nm, &pi->dst))
		return DATAPLANE_DROP_NOT_FOR_US;
	return DATAPLANE_DROP_COUNT;
}

/* ---- outbound: the VIP source rule --------------------------------------- */

bool dp_vip_source_refused(const struct dataplane *dp, const struct packet_info *pi,
                           const struct dp_flow *f)
{
	/* LIM-2: a VIP only answers flows opened from outside. */
	if (MUTANT("vip-source-allowed"))
		return false;
	return netmap_host_service_by_vip(dp->nm, &pi->src) != NULL &&
	       !(f && (f->flags & DP_FLOW_INBOUND));
}

/* ---- L3-1: a UDP answer leaves from the VIP it was asked on -------------- */

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
bool dp_udp_answer_from_vip(struct dataplane *dp, const uint8_t *pkt, size_t len,
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
