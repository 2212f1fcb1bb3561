/* libFuzzer target: the IP header parser never reads past its input, and
 * what it reports is consistent with the bytes it was given. */
#include "fuzz/fuzz.h"
#include "lib/wire/packet.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct packet_info pi;
	/* A private copy, so ASan catches any read past `size`. */
	uint8_t *buf = malloc(size ? size : 1);

	FUZZ_ASSERT(buf);
	memcpy(buf, data, size);
	int rc = packet_parse(buf, size, &pi);
	if (rc >= 0) {
		FUZZ_ASSERT((size_t)rc <= size);
		FUZZ_ASSERT((size_t)rc == pi.len);
		FUZZ_ASSERT(pi.family == IO_AF_INET || pi.family == IO_AF_INET6);
		FUZZ_ASSERT(pi.l4_offset <= pi.len);
		if (pi.has_ports)
			FUZZ_ASSERT(pi.proto == PACKET_PROTO_TCP || pi.proto == PACKET_PROTO_UDP);
		/* Trailing bytes never change the verdict. */
		struct packet_info again;
		FUZZ_ASSERT(packet_parse(buf, (size_t)rc, &again) == rc);
		FUZZ_ASSERT(again.has_ports == pi.has_ports && again.src.port == pi.src.port);
		if (pi.has_ports && pi.proto == PACKET_PROTO_TCP) {
			FUZZ_ASSERT(pi.l4_offset + 20 + pi.tcp_payload <= pi.len);
			/* STR-7's RST for this segment's flow parses back reversed. */
			uint8_t rst[PACKET_TCP_RST_V6_LEN];
			int n = packet_tcp_rst(rst, sizeof(rst), &pi.dst, &pi.src, pi.tcp_seq);
			FUZZ_ASSERT(n == (pi.family == IO_AF_INET ? PACKET_TCP_RST_V4_LEN
			                                          : PACKET_TCP_RST_V6_LEN));
			FUZZ_ASSERT(packet_parse(rst, (size_t)n, &again) == n);
			FUZZ_ASSERT(io_addr_equal(&again.src, &pi.dst, true) &&
			            io_addr_equal(&again.dst, &pi.src, true));
			FUZZ_ASSERT(again.tcp_flags == PACKET_TCP_RST &&
			            again.tcp_seq == pi.tcp_seq);
		}
	} else {
		FUZZ_ASSERT(rc == -1);
	}
	free(buf);
	return 0;
}
