/* IP packets (see packet.h): IPv4/IPv6 and TCP/UDP header parsing into a
 * packet_info, checksums, the TCP RST the data plane writes on a dead
 * host's behalf, and the UDP datagram of a MagicDNS answer. */
#include "lib/wire/packet.h"

#include <string.h>

#define PACKET_IPV4_MIN_HDR 20
#define PACKET_IPV6_HDR     40
#define PACKET_TCP_MIN_HDR  20
#define PACKET_UDP_HDR      8

static uint16_t packet_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static uint32_t packet_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void packet_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One's-complement sum of 16-bit big-endian words (RFC 1071), unfolded. */
static uint32_t packet_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t packet_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
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
		pi->tcp_seq = packet_be32(pkt + off + 4);
		pi->tcp_ack = packet_be32(pkt + off + 8);
		pi->tcp_payload = avail - doff;
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

/* Fills what the IP header gives in both versions: family, protocol,
 * addresses (addr_len bytes each) and the packet's own length. */
static void packet_set_ip(struct packet_info *out, uint8_t family, uint8_t proto,
                          const uint8_t *src, const uint8_t *dst, size_t addr_len, size_t len)
{
	out->family = family;
	out->proto = proto;
	out->src.family = out->dst.family = family;
	memcpy(out->src.ip, src, addr_len);
	memcpy(out->dst.ip, dst, addr_len);
	out->len = len;
}

static int packet_parse_v4(const uint8_t *pkt, size_t len, struct packet_info *out)
{
	if (len < PACKET_IPV4_MIN_HDR)
		return -1;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t total = packet_be16(pkt + 2);
	if (ihl < PACKET_IPV4_MIN_HDR || ihl > len || total < ihl || total > len)
		return -1;
	packet_set_ip(out, IO_AF_INET, pkt[9], pkt + 12, pkt + 16, 4, total);
	out->l4_offset = ihl;
	/* A later fragment carries no transport header. */
	uint16_t frag_off = packet_be16(pkt + 6) & 0x1fff;
	if (frag_off != 0)
		return (int)total;
	if (packet_parse_l4(pkt, ihl, total, out) < 0)
		return -1;
	return (int)total;
}

static int packet_parse_v6(const uint8_t *pkt, size_t len, struct packet_info *out)
{
	if (len < PACKET_IPV6_HDR)
		return -1;
	size_t payload = packet_be16(pkt + 4);
	if (payload == 0 && pkt[6] == 0) /* hop-by-hop jumbogram */
		return -1;
	if (PACKET_IPV6_HDR + payload > len)
		return -1;
	packet_set_ip(out, IO_AF_INET6, pkt[6], pkt + 8, pkt + 24, 16, PACKET_IPV6_HDR + payload);
	if (packet_parse_l4(pkt, PACKET_IPV6_HDR, out->len, out) < 0)
		return -1;
	return (int)out->len;
}

int packet_parse(const uint8_t *pkt, size_t len, struct packet_info *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return -1;
	switch (pkt[0] >> 4) {
	case 4:
		return packet_parse_v4(pkt, len, out);
	case 6:
		return packet_parse_v6(pkt, len, out);
	default:
		return -1;
	}
}

int packet_tcp_rst(uint8_t *out, size_t cap, const struct io_addr *src, const struct io_addr *dst,
                   uint32_t seq)
{
	bool v4 = src->family == IO_AF_INET;
	size_t alen = v4 ? 4 : 16, ip_len = v4 ? PACKET_IPV4_MIN_HDR : PACKET_IPV6_HDR;
	size_t n = ip_len + PACKET_TCP_MIN_HDR;
	uint8_t *tcp = out + ip_len;
	uint32_t pseudo;

	if (src->family != dst->family || (!v4 && src->family != IO_AF_INET6) || cap < n)
		return -1;
	memset(out, 0, n);
	packet_put16(tcp, src->port);
	packet_put16(tcp + 2, dst->port);
	for (int i = 0; i < 4; i++)
		tcp[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
	tcp[12] = (PACKET_TCP_MIN_HDR / 4) << 4;
	tcp[13] = PACKET_TCP_RST;
	if (v4) {
		out[0] = 0x45;
		packet_put16(out + 2, (uint16_t)n);
		out[6] = 0x40; /* DF */
		out[8] = 64;
		out[9] = PACKET_PROTO_TCP;
		memcpy(out + 12, src->ip, alen);
		memcpy(out + 16, dst->ip, alen);
		packet_put16(out + 10, packet_fold(packet_sum(0, out, ip_len)));
	} else {
		out[0] = 0x60;
		packet_put16(out + 4, PACKET_TCP_MIN_HDR);
		out[6] = PACKET_PROTO_TCP;
		out[7] = 64;
		memcpy(out + 8, src->ip, alen);
		memcpy(out + 24, dst->ip, alen);
	}
	/* Pseudo-header: addresses, protocol and TCP length (RFC 793, 8200). */
	pseudo = packet_sum(packet_sum(0, src->ip, alen), dst->ip, alen);
	pseudo += PACKET_PROTO_TCP + PACKET_TCP_MIN_HDR;
	packet_put16(tcp + 16, packet_fold(packet_sum(pseudo, tcp, PACKET_TCP_MIN_HDR)));
	return (int)n;
}

int packet_udp4(uint8_t *out, size_t cap, const struct io_addr *src, const struct io_addr *dst,
                size_t payload_len)
{
	size_t ulen = PACKET_UDP_HDR + payload_len, n = PACKET_IPV4_MIN_HDR + ulen;
	uint8_t *udp = out + PACKET_IPV4_MIN_HDR;

	if (src->family != IO_AF_INET || dst->family != IO_AF_INET || cap < n || n > 0xffff)
		return -1;
	memset(out, 0, PACKET_UDP4_HDRS);
	out[0] = 0x45;
	packet_put16(out + 2, (uint16_t)n);
	out[8] = 64;
	out[9] = PACKET_PROTO_UDP;
	memcpy(out + 12, src->ip, 4);
	memcpy(out + 16, dst->ip, 4);
	packet_put16(out + 10, packet_fold(packet_sum(0, out, PACKET_IPV4_MIN_HDR)));
	packet_put16(udp, src->port);
	packet_put16(udp + 2, dst->port);
	packet_put16(udp + 4, (uint16_t)ulen);
	/* Pseudo-header: addresses, protocol and UDP length (RFC 768). */
	uint32_t pseudo = packet_sum(packet_sum(0, src->ip, 4), dst->ip, 4);
	pseudo += PACKET_PROTO_UDP + (uint32_t)ulen;
	uint16_t ck = packet_fold(packet_sum(pseudo, udp, ulen));
	packet_put16(udp + 6, ck ? ck : 0xffff);
	return (int)n;
}
