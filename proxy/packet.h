/* IP packet headers, parsed into what the data plane needs: addresses,
 * protocol, ports and TCP flags.
 *
 * Pure code: no I/O, no allocation, never reads past `len`, never trusts a
 * length field without checking it against the bytes at hand. Fuzzed by
 * fuzz/fuzz_packet.c.
 */
#ifndef PROXY_PACKET_H
#define PROXY_PACKET_H

#include "io.h"

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
	bool has_ports;          /* TCP or UDP with a whole header (not a later fragment) */
	uint8_t tcp_flags;       /* TCP only */
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

/* TCP SYN without ACK: the packet that opens a connection. */
static inline bool packet_is_tcp_syn(const struct packet_info *pi)
{
	return pi->proto == PACKET_PROTO_TCP && pi->has_ports &&
	       (pi->tcp_flags & (PACKET_TCP_SYN | PACKET_TCP_ACK)) == PACKET_TCP_SYN;
}

#endif
