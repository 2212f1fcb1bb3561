/* Test support: a DNS query as a stub resolver sends it (RFC 1035 4.1:
 * header with RD set and one question of class IN), written by hand rather
 * than with lib/wire's DNS code, so the tests check that code against an
 * encoder of their own. Header-only. */
#ifndef TESTS_SUPPORT_DNS_QUERY_H
#define TESTS_SUPPORT_DNS_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes into q (room for 18 bytes more than `name`) the query with
 * identifier `id` for `name` (dotted, no trailing dot; "" is the root) of
 * type `qtype`. Returns its length. */
static inline size_t dns_query_build(uint8_t *q, uint16_t id, const char *name, uint16_t qtype)
{
	size_t o = 12;

	memset(q, 0, 12);
	q[0] = (uint8_t)(id >> 8), q[1] = (uint8_t)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		q[o++] = (uint8_t)l;
		memcpy(q + o, name, l);
		o += l;
		name += l + (dot ? 1 : 0);
	}
	q[o++] = 0;
	q[o++] = (uint8_t)(qtype >> 8), q[o++] = (uint8_t)qtype;
	q[o++] = 0, q[o++] = 1; /* IN */
	return o;
}

#endif
