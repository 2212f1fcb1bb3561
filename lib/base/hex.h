/* Hexadecimal digits, both ways: one copy for the CA's keys, control's
 * saved seed, node keys, secrets' hashes and the percent escapes of HTTP
 * paths. */
#ifndef LIB_BASE_HEX_H
#define LIB_BASE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The value of one hex digit (either case), or -1. */
static inline int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * out_len hex digits (a NUL-terminated string) into out;
 * false on any other length or a non-digit (out is then unspecified). */
static inline bool hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
	if (!hex || strlen(hex) != 2 * out_len)
		return false;
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* len bytes as 2 * len lowercase hex digits and a NUL into out. */
static inline void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

#endif
