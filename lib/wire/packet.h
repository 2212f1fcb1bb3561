/* IP packet headers, parsed into what the data plane needs: addresses,
 * protocol, ports and TCP flags.
 *
 * Pure code: no I/O, no allocation, never reads past `len`, never trusts a
 * length field without checking it against the bytes at hand. Fuzzed by
 * fuzz/fuzz_packet.c.
 */
#ifndef LIB_WIRE_PACKET_H
#define LIB_WIRE_PACKET_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum packet_proto {
	PACKET_PROTO_ICMP = 1,
	PACKET_PROTO_TCP = 6,
	PACKET_PROTO_UDP = 17,
	PACKET_PROTO_ICMPV6 = 58,
};

enum packet_tcp_flags {
	PACKET_TCP_FIN = 0x01,
	PACKET_TCP_SYN = 0x02,
	PACKET_TCP_RST = 0x04,
	PACKET_TCP_PSH = 0x08,
	PACKET_TCP_ACK = 0x10,
};

struct packet_info {
	uint8_t family; /* IO_AF_INET or IO_AF_INET6 */
	/* The transport protocol; for IPv6 the first next-header value, so a
	 * packet with extension headers is "not TCP/UDP" (has_ports false). */
	uint8_t proto;
	bool has_ports;    /* TCP or UDP with a whole header (not a later fragment) */
	uint8_t tcp_flags; /* TCP only */
	uint32_t tcp_seq;  /* TCP only: sequence and acknowledgment numbers */
	uint32_t tcp_ack;
	size_t tcp_payload;      /* TCP only: bytes after the TCP header */
	struct io_addr src, dst; /* ports filled when has_ports */
	size_t l4_offset;        /* start of the transport header */
	size_t len;              /* the IP packet's own length (<= the buffer's) */
};

/* Parses the IPv4 or IPv6 packet at the start of pkt[0..len). Returns the
 * number of bytes the packet claims (its total length; trailing bytes are
 * not part of it), or -1 when it is malformed: truncated header, bad
 * version or IHL, a total/payload length beyond `len` or below the header,
 * an IPv6 jumbogram, or a TCP/UDP header that is cut short or whose own
 * length field does not fit. */
int packet_parse(const uint8_t *pkt, size_t len, struct packet_info *out);

/* Builds a bare TCP RST (no ACK, window 0, no options) from src to dst
 * with sequence number `seq` into out[0..cap): an IPv4 (DF, TTL 64) or
 * IPv6 (hop limit 64) header and the TCP header, both checksums filled.
 * Returns its length (PACKET_TCP_RST_V4_LEN or PACKET_TCP_RST_V6_LEN), or
 * -1 when the families differ, are neither IPv4 nor IPv6, or cap is too
 * small. A stack in a synchronized state takes a RST whose sequence number
 * is exactly the next it expects (RFC 5961 3.2). */
#define PACKET_TCP_RST_V4_LEN 40
#define PACKET_TCP_RST_V6_LEN 60
int packet_tcp_rst(uint8_t *out, size_t cap, const struct io_addr *src, const struct io_addr *dst,
                   uint32_t seq);

/* Wraps the `payload_len` bytes already at out[PACKET_UDP4_HDRS..] into an
 * IPv4 (TTL 64, no options, DF clear) and UDP datagram from src to dst,
 * both checksums filled (a zero UDP sum is sent as 0xffff). Returns the
 * whole length, or -1 when an address is not IPv4, cap is too small or
 * the datagram would pass 65535 bytes. The daemon answers MagicDNS with it. */
#define PACKET_UDP4_HDRS 28
int packet_udp4(uint8_t *out, size_t cap, const struct io_addr *src, const struct io_addr *dst,
                size_t payload_len);

/* TCP SYN without ACK: the packet that opens a connection. */
static inline bool packet_is_tcp_syn(const struct packet_info *pi)
{
	return pi->proto == PACKET_PROTO_TCP && pi->has_ports &&
	       (pi->tcp_flags & (PACKET_TCP_SYN | PACKET_TCP_ACK)) == PACKET_TCP_SYN;
}

#endif
