/* IPv4/IPv6 header parsing (see packet.h). */
#include "packet.h"

#include <string.h>

#define PACKET_IPV4_MIN_HDR 20
#define PACKET_IPV6_HDR     40
#define PACKET_TCP_MIN_HDR  20
#define PACKET_UDP_HDR      8

static uint16_t packet_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

/* Reads ports and flags of the transport header at pkt[off..end). */
static int packet_parse_l4(const uint8_t *pkt, size_t off, size_t end, struct packet_info *pi)
{
	size_t avail = end - off;

	pi->l4_offset = off;
	if (pi->proto == PACKET_PROTO_TCP) {
		if (avail < PACKET_TCP_MIN_HDR)
			return -1;
		size_t doff = (size_t)(pkt[off + 12] >> 4) * 4;
		if (doff < PACKET_TCP_MIN_HDR || doff > avail)
			return -1;
		pi->tcp_flags = pkt[off + 13];
	} else if (pi->proto == PACKET_PROTO_UDP) {
		if (avail < PACKET_UDP_HDR)
			return -1;
		size_t ulen = packet_be16(pkt + off + 4);
		if (ulen < PACKET_UDP_HDR || ulen > avail)
			return -1;
	} else {
		return 0;
	}
	pi->src.port = packet_be16(pkt + off);
	pi->dst.port = packet_be16(pkt + off + 2);
	pi->has_ports = true;
	return 0;
}

int packet_parse(const uint8_t *pkt, size_t len, struct packet_info *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return -1;
	unsigned version = pkt[0] >> 4;

	if (version == 4) {
		if (len < PACKET_IPV4_MIN_HDR)
			return -1;
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
		size_t total = packet_be16(pkt + 2);
		if (ihl < PACKET_IPV4_MIN_HDR || ihl > len || total < ihl || total > len)
			return -1;
		out->family = IO_AF_INET;
		out->proto = pkt[9];
		out->src.family = out->dst.family = IO_AF_INET;
		memcpy(out->src.ip, pkt + 12, 4);
		memcpy(out->dst.ip, pkt + 16, 4);
		out->len = total;
		out->l4_offset = ihl;
		/* A later fragment carries no transport header. */
		uint16_t frag_off = packet_be16(pkt + 6) & 0x1fff;
		if (frag_off != 0)
			return (int)total;
		if (packet_parse_l4(pkt, ihl, total, out) < 0)
			return -1;
		return (int)total;
	}
	if (version == 6) {
		if (len < PACKET_IPV6_HDR)
			return -1;
		size_t payload = packet_be16(pkt + 4);
		if (payload == 0 && pkt[6] == 0) /* hop-by-hop jumbogram */
			return -1;
		if (PACKET_IPV6_HDR + payload > len)
			return -1;
		out->family = IO_AF_INET6;
		out->proto = pkt[6];
		out->src.family = out->dst.family = IO_AF_INET6;
		memcpy(out->src.ip, pkt + 8, 16);
		memcpy(out->dst.ip, pkt + 24, 16);
		out->len = PACKET_IPV6_HDR + payload;
		if (packet_parse_l4(pkt, PACKET_IPV6_HDR, out->len, out) < 0)
			return -1;
		return (int)out->len;
	}
	return -1;
}
