/* The seam's address helpers (see io.h): building IPv4 addresses,
 * comparing addresses with or without the port, and the one text form both
 * ways ("1.2.3.4:80", "[::1]:80") that events, configs and tests use. */
#include "lib/base/numarg.h"
#include "lib/io/io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void io_addr_v4(struct io_addr *out, uint32_t ip_host_order, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	out->family = IO_AF_INET;
	out->port = port;
	uint32_t be = htonl(ip_host_order);
	memcpy(out->ip, &be, 4);
}

uint32_t io_addr_v4_host(const struct io_addr *addr)
{
	uint32_t be;
	memcpy(&be, addr->ip, 4);
	return ntohl(be);
}

bool io_addr_equal(const struct io_addr *a, const struct io_addr *b, bool with_port)
{
	if (a->family != b->family || (with_port && a->port != b->port))
		return false;
	return memcmp(a->ip, b->ip, a->family == IO_AF_INET6 ? 16 : 4) == 0;
}

/* Accepts "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80". A missing port
 * becomes `default_port`. Returns 0 or -EINVAL. */
int io_addr_parse(struct io_addr *out, const char *text, uint16_t default_port)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text = NULL;
	size_t host_len;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (!end)
			return -EINVAL;
		host_len = (size_t)(end - text - 1);
		text++;
		if (end[1] == ':')
			port_text = end + 2;
		else if (end[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 */
		host_len = colon ? (size_t)(colon - text) : strlen(text);
		if (colon)
			port_text = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	out->port = default_port;
	if (port_text) {
		uint64_t port = 0;
		if (numarg_u64(port_text, 0, 65535, &port, NULL, 0) < 0)
			return -EINVAL;
		out->port = (uint16_t)port;
	}
	if (inet_pton(AF_INET, host, out->ip) == 1) {
		out->family = IO_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, out->ip) == 1) {
		out->family = IO_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

const char *io_addr_format(const struct io_addr *addr, bool with_port, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	bool v6 = addr->family == IO_AF_INET6;

	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, addr->ip, host, sizeof(host)))
		strcpy(host, "?");
	if (!with_port)
		snprintf(buf, len, "%s", host);
	else if (v6)
		snprintf(buf, len, "[%s]:%u", host, addr->port);
	else
		snprintf(buf, len, "%s:%u", host, addr->port);
	return buf;
}
