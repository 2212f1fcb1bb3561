/* The IP header parser: what the data plane trusts about a packet. */
#include "lib/wire/packet.h"

#include <criterion/criterion.h>
#include <string.h>

/* A minimal IPv4 packet: 20-byte header, then `l4` bytes of transport. */
static size_t v4(uint8_t *b, uint8_t proto, size_t l4)
{
	memset(b, 0, 20 + l4);
	b[0] = 0x45;
	b[2] = (uint8_t)((20 + l4) >> 8);
	b[3] = (uint8_t)(20 + l4);
	b[8] = 64;
	b[9] = proto;
	b[12] = 100, b[13] = 64, b[14] = 0, b[15] = 1;
	b[16] = 100, b[17] = 100, b[18] = 0, b[19] = 5;
	return 20 + l4;
}

static void tcp_hdr(uint8_t *t, uint16_t sport, uint16_t dport, uint8_t flags)
{
	t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8), t[3] = (uint8_t)dport;
	t[12] = 5 << 4;
	t[13] = flags;
}

static size_t v6(uint8_t *b, uint8_t next, size_t payload)
{
	memset(b, 0, 40 + payload);
	b[0] = 0x60;
	b[4] = (uint8_t)(payload >> 8);
	b[5] = (uint8_t)payload;
	b[6] = next;
	b[7] = 64;
	b[8] = 0xfd, b[9] = 0x7a, b[23] = 1;
	b[24] = 0xfd, b[25] = 0x7a, b[39] = 2;
	return 40 + payload;
}

Test(packet, ipv4_tcp_syn_gives_addresses_ports_and_flags)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 6, 20);

	tcp_hdr(b + 20, 49152, 443, PACKET_TCP_SYN);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.family, IO_AF_INET);
	cr_assert_eq(pi.proto, 6);
	cr_assert(pi.has_ports);
	cr_assert_eq(pi.src.port, 49152);
	cr_assert_eq(pi.dst.port, 443);
	cr_assert_eq(io_addr_v4_host(&pi.src), 0x64400001u);
	cr_assert_eq(io_addr_v4_host(&pi.dst), 0x64640005u);
	cr_assert(packet_is_tcp_syn(&pi));
	b[33] = PACKET_TCP_SYN | PACKET_TCP_ACK;
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_not(packet_is_tcp_syn(&pi), "SYN-ACK does not open a connection");
}

Test(packet, ipv4_udp_and_icmp_parse_with_and_without_ports)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 17, 12);

	b[20] = 0x14, b[21] = 0xe9; /* 5353 */
	b[22] = 0, b[23] = 53;
	b[25] = 12;
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert(pi.has_ports);
	cr_assert_eq(pi.src.port, 5353);
	cr_assert_eq(pi.dst.port, 53);
	n = v4(b, 1, 8);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.proto, 1);
	cr_assert_not(pi.has_ports);
}

Test(packet, trailing_bytes_are_not_part_of_the_packet)
{
	uint8_t b[80];
	struct packet_info pi;
	size_t n = v4(b, 1, 8);

	cr_assert_eq(packet_parse(b, n + 10, &pi), (int)n);
	cr_assert_eq(pi.len, n);
}

Test(packet, truncated_headers_are_malformed)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 6, 20);

	tcp_hdr(b + 20, 1, 2, PACKET_TCP_SYN);
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(packet_parse(b, cut, &pi), -1, "cut at %zu", cut);
	n = v6(b, 17, 8);
	b[44] = 0, b[45] = 8;
	for (size_t cut = 0; cut < n; cut++)
		cr_assert_eq(packet_parse(b, cut, &pi), -1, "v6 cut at %zu", cut);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
}

Test(packet, bad_version_and_ihl_are_malformed)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 1, 8);

	b[0] = 0x55;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "version 5");
	b[0] = 0x44;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "IHL 4 is below the minimum header");
	b[0] = 0x4f;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "IHL 15 runs past the packet");
	b[0] = 0x46; /* 24-byte header with options fits in 28 bytes */
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.l4_offset, 24);
}

Test(packet, bad_lengths_are_malformed)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 6, 20);

	tcp_hdr(b + 20, 1, 2, PACKET_TCP_ACK);
	b[3] = (uint8_t)(n + 1);
	cr_assert_eq(packet_parse(b, n, &pi), -1, "total length beyond the buffer");
	b[3] = 19;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "total length below the header");
	b[3] = (uint8_t)n;
	b[32] = 4 << 4;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "TCP data offset below 5");
	b[32] = 6 << 4;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "TCP data offset past the packet");

	n = v4(b, 17, 8);
	b[24] = 0, b[25] = 7;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "UDP length below its header");
	b[25] = 9;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "UDP length past the packet");

	n = v6(b, 6, 20);
	b[5] = 21;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "IPv6 payload length beyond the buffer");
	b[5] = 0;
	b[6] = 0;
	cr_assert_eq(packet_parse(b, n, &pi), -1, "IPv6 jumbogram");
}

Test(packet, later_ipv4_fragments_carry_no_ports)
{
	uint8_t b[64];
	struct packet_info pi;
	size_t n = v4(b, 6, 8); /* too short for TCP, fine for a fragment */

	b[6] = 0, b[7] = 10; /* offset 80 bytes */
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.proto, 6);
	cr_assert_not(pi.has_ports);
}

Test(packet, ipv6_tcp_parses_and_extension_headers_are_not_tcp_or_udp)
{
	uint8_t b[96];
	struct packet_info pi;
	size_t n = v6(b, 6, 20);

	tcp_hdr(b + 40, 40000, 80, PACKET_TCP_SYN);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.family, IO_AF_INET6);
	cr_assert(pi.has_ports);
	cr_assert_eq(pi.dst.port, 80);
	cr_assert_eq(pi.src.ip[15], 1);
	cr_assert_eq(pi.dst.ip[15], 2);
	n = v6(b, 0 /* hop-by-hop */, 28);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.proto, 0);
	cr_assert_not(pi.has_ports);
	n = v6(b, 44 /* fragment */, 8);
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_not(pi.has_ports);
}

Test(packet, str7_tcp_sequence_numbers_and_payload_length_are_read)
{
	uint8_t b[128];
	size_t n = v4(b, PACKET_PROTO_TCP, 20 + 12);
	struct packet_info pi;

	tcp_hdr(b + 20, 443, 7000, PACKET_TCP_ACK | PACKET_TCP_PSH);
	b[24] = 0xde, b[25] = 0xad, b[26] = 0xbe, b[27] = 0xef;
	b[28] = 0x00, b[29] = 0x00, b[30] = 0x01, b[31] = 0x02;
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.tcp_seq, 0xdeadbeefu);
	cr_assert_eq(pi.tcp_ack, 0x102u);
	cr_assert_eq(pi.tcp_payload, 12);
	b[32] = 8 << 4; /* 12 bytes of options: no payload left */
	cr_assert_eq(packet_parse(b, n, &pi), (int)n);
	cr_assert_eq(pi.tcp_payload, 0);
}

/* The RST parses back to what was asked (test_dataplane_unit checks its
 * checksums byte by byte). */
Test(packet, str7_a_built_rst_parses_back_in_both_families_and_bad_asks_are_refused)
{
	struct io_addr s4, d4, s6, d6;
	uint8_t b[PACKET_TCP_RST_V6_LEN];
	struct packet_info pi;

	cr_assert_eq(io_addr_parse(&s4, "100.100.0.5", 443), 0);
	cr_assert_eq(io_addr_parse(&d4, "100.64.0.1", 7000), 0);
	cr_assert_eq(io_addr_parse(&s6, "fd7a:115c:a1e0:ab12::5", 443), 0);
	cr_assert_eq(io_addr_parse(&d6, "fd7a:115c:a1e0::1", 7000), 0);
	cr_assert_eq(packet_tcp_rst(b, sizeof(b), &s4, &d4, 4242), PACKET_TCP_RST_V4_LEN);
	cr_assert_eq(packet_parse(b, PACKET_TCP_RST_V4_LEN, &pi), PACKET_TCP_RST_V4_LEN);
	cr_assert(io_addr_equal(&pi.src, &s4, true) && io_addr_equal(&pi.dst, &d4, true));
	cr_assert_eq(pi.tcp_flags, PACKET_TCP_RST);
	cr_assert_eq(pi.tcp_seq, 4242);
	cr_assert_eq(pi.tcp_payload, 0);
	cr_assert_eq(packet_tcp_rst(b, sizeof(b), &s6, &d6, 0xffffffffu), PACKET_TCP_RST_V6_LEN);
	cr_assert_eq(packet_parse(b, sizeof(b), &pi), PACKET_TCP_RST_V6_LEN);
	cr_assert(io_addr_equal(&pi.src, &s6, true) && io_addr_equal(&pi.dst, &d6, true));
	cr_assert_eq(pi.tcp_seq, 0xffffffffu);
	/* Refused: mixed families, no room. */
	cr_assert_eq(packet_tcp_rst(b, sizeof(b), &s4, &d6, 1), -1);
	cr_assert_eq(packet_tcp_rst(b, PACKET_TCP_RST_V4_LEN - 1, &s4, &d4, 1), -1);
	cr_assert_eq(packet_tcp_rst(b, PACKET_TCP_RST_V6_LEN - 1, &s6, &d6, 1), -1);
	struct io_addr none = {0};
	cr_assert_eq(packet_tcp_rst(b, sizeof(b), &none, &none, 1), -1);
}

/* RFC 1071 over `len` bytes, computed here rather than by the code under test. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

Test(packet, svc3_a_built_udp_datagram_parses_back_with_valid_checksums)
{
	struct io_addr s, d, s6;
	uint8_t b[PACKET_UDP4_HDRS + 5];
	struct packet_info pi;

	cr_assert_eq(io_addr_parse(&s, "100.100.100.100", 53), 0);
	cr_assert_eq(io_addr_parse(&d, "100.64.0.7", 40001), 0);
	memcpy(b + PACKET_UDP4_HDRS, "hello", 5);
	cr_assert_eq(packet_udp4(b, sizeof(b), &s, &d, 5), (int)sizeof(b));
	cr_assert_eq(packet_parse(b, sizeof(b), &pi), (int)sizeof(b));
	cr_assert_eq(pi.proto, PACKET_PROTO_UDP);
	cr_assert(io_addr_equal(&pi.src, &s, true) && io_addr_equal(&pi.dst, &d, true));
	cr_assert_eq(memcmp(b + PACKET_UDP4_HDRS, "hello", 5), 0, "the payload is left alone");
	cr_assert_eq(sum16(0, b, 20), 0xffff, "IPv4 header checksum");
	uint8_t pseudo[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, PACKET_PROTO_UDP, 0, 13};
	memcpy(pseudo, s.ip, 4);
	memcpy(pseudo + 4, d.ip, 4);
	cr_assert_eq(sum16(sum16(0, pseudo, sizeof(pseudo)), b + 20, 13), 0xffff, "UDP checksum");
	/* Refused: not IPv4, no room. */
	cr_assert_eq(io_addr_parse(&s6, "fd7a:115c:a1e0::1", 53), 0);
	cr_assert_eq(packet_udp4(b, sizeof(b), &s6, &d, 5), -1);
	cr_assert_eq(packet_udp4(b, sizeof(b) - 1, &s, &d, 5), -1);
}
