/* The one parser for numbers given on a command line (svcd, svcctl's serve
 * grammar, controld, svcadm, simrun): decimal digits only, within a stated
 * range, or a precise reason why not. strtol/strtod accept what nobody
 * means on a command line: blanks, signs, "0x10" (hexadecimal), "010"
 * (octal with base 0), "1e3", "nan" and "inf" (whose cast to an integer
 * is undefined behaviour), and wrap or saturate silently.
 *
 * Header-only, like errfmt.h, so that every binary and pure library can
 * use it without a link dependency. The reason written into `err` names
 * no option: callers print `bad --opt "TEXT": REASON`.
 */
#ifndef LIB_BASE_NUMARG_H
#define LIB_BASE_NUMARG_H

#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* What is wrong at the start of `text` (of `len` bytes) whatever
 * follows, or NULL: nothing, a sign, blanks, hexadecimal, NaN or infinity. */
static inline const char *numarg_prefix_error(const char *text, size_t len)
{
	if (len == 0)
		return "empty value";
	if (text[0] == '-')
		return "negative values are not accepted";
	if (text[0] == '+')
		return "a sign is not accepted";
	if (text[0] == ' ' || text[0] == '\t' || text[len - 1] == ' ' || text[len - 1] == '\t')
		return "blanks are not accepted";
	if (len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		return "hexadecimal is not accepted (decimal digits only)";
	if (len >= 3 && (strncasecmp(text, "nan", 3) == 0 || strncasecmp(text, "inf", 3) == 0))
		return "not a finite number";
	return NULL;
}

/* Why `text` (of `len` bytes) is not a plain decimal number, or NULL when
 * it is one: digits, without a leading zero unless it is "0"; with
 * `fraction`, optionally followed by '.' and at least one digit. */
static inline const char *numarg_shape_error(const char *text, size_t len, bool fraction)
{
	const char *why = numarg_prefix_error(text, len);
	size_t i = 0;

	if (why)
		return why;
	while (i < len && text[i] >= '0' && text[i] <= '9')
		i++;
	if (i == 0)
		return fraction ? "not a decimal number" : "not a decimal integer";
	if (i > 1 && text[0] == '0')
		return "leading zeros are not accepted";
	if (i < len && text[i] == '.') {
		if (!fraction)
			return "not an integer";
		size_t f = ++i;
		while (i < len && text[i] >= '0' && text[i] <= '9')
			i++;
		if (i == f)
			return "no digit after the decimal point";
	}
	if (i < len && (text[i] == 'e' || text[i] == 'E'))
		return "exponents are not accepted";
	if (i < len)
		return fraction ? "not a decimal number" : "not a decimal integer";
	return NULL;
}

/* An unsigned decimal integer of exactly `len` bytes, in [min, max].
 * Returns 0 with *out, or -EINVAL (with err saying why; -ERANGE when it
 * is a number outside the range). */
static inline int numarg_u64n(const char *text, size_t len, uint64_t min, uint64_t max,
                              uint64_t *out, char *err, size_t err_len)
{
	const char *why = numarg_shape_error(text, len, false);
	uint64_t v = 0;
	bool over = false;

	if (why)
		return err_setf(err, err_len, -EINVAL, "%s", why);
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(text[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (over || v < min || v > max)
		return err_setf(err, err_len, -ERANGE, "out of range (%llu to %llu)",
		                (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

static inline int numarg_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                             size_t err_len)
{
	return numarg_u64n(text, strlen(text), min, max, out, err, err_len);
}

/* A TCP or UDP port, 1-65535. */
static inline int numarg_port(const char *text, uint16_t *out, char *err, size_t err_len)
{
	uint64_t v = 0;
	int rc = numarg_u64(text, 1, 65535, &v, err, err_len);

	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

/* Writes a duration in the largest unit that states it exactly. */
static inline const char *numarg_duration_text(uint64_t us, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		uint64_t us;
	} units[] = {{"h", 3600000000ull}, {"m", 60000000ull}, {"s", 1000000}, {"ms", 1000}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (us >= units[i].us && us % units[i].us == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(us / units[i].us),
			         units[i].unit);
			return buf;
		}
	snprintf(buf, len, "%lluus", (unsigned long long)us);
	return buf;
}

/* A duration: a decimal number (a fraction allowed) and a unit, us, ms,
 * s, m or h; a bare number is seconds. In [min_us, max_us], in whole
 * microseconds. Returns 0 with *out_us, or -EINVAL/-ERANGE with err. */
static inline int numarg_duration_us(const char *text, uint64_t min_us, uint64_t max_us,
                                     uint64_t *out_us, char *err, size_t err_len)
{
	static const struct {
		const char *suffix;
		uint64_t us;
	} units[] = {{"us", 1},          {"ms", 1000},         {"s", 1000000},
	             {"m", 60000000ull}, {"h", 3600000000ull}, {"", 1000000}};
	size_t len = strlen(text), num = 0;
	uint64_t mult = 0;
	char lo[32], hi[32];
	const char *why = numarg_prefix_error(text, len);

	while (!why && num < len && ((text[num] >= '0' && text[num] <= '9') || text[num] == '.'))
		num++;
	if (!why)
		why = numarg_shape_error(text, num ? num : len, true);
	if (!why && (text[num] == 'e' || text[num] == 'E') && text[num + 1] >= '0' &&
	    text[num + 1] <= '9')
		why = "exponents are not accepted";
	if (why)
		return err_setf(err, err_len, -EINVAL,
		                "%s (want a duration such as 5s, 500ms or 2m)", why);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && !mult; i++)
		if (strcmp(text + num, units[i].suffix) == 0)
			mult = units[i].us;
	if (!mult)
		return err_setf(err, err_len, -EINVAL,
		                "unknown unit \"%s\" (want us, ms, s, m or h)", text + num);
	/* value = digits / 10^frac_digits * mult, exactly, or out of range. */
	unsigned __int128 v = 0, div = 1;
	bool over = false, in_frac = false;
	for (size_t i = 0; i < num; i++) {
		if (text[i] == '.') {
			in_frac = true;
			continue;
		}
		if (v > (unsigned __int128)UINT64_MAX * 10 || div > (unsigned __int128)1e18) {
			over = true;
			break;
		}
		v = v * 10 + (unsigned)(text[i] - '0');
		if (in_frac)
			div *= 10;
	}
	v *= mult;
	if (!over && v % div != 0)
		return err_setf(err, err_len, -EINVAL, "finer than a microsecond");
	v /= div;
	if (over || v < min_us || v > max_us)
		return err_setf(err, err_len, -ERANGE, "out of range (%s to %s)",
		                numarg_duration_text(min_us, lo, sizeof(lo)),
		                numarg_duration_text(max_us, hi, sizeof(hi)));
	*out_us = (uint64_t)v;
	return 0;
}

#endif
