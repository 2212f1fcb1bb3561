/* Numbers with units as a scenario writes them: durations, sizes,
 * bandwidths, rates and percentages (the scenario_parse_* value parsers,
 * also used by the command line), safe names, and times written back for
 * messages. No YAML here: text in, value or reason out. */
#include "lib/base/errfmt.h"
#include "sim/scenario/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *suffix;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"us", 1}, {"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {NULL, 0}};
static const struct unit size_units[] = {{"B", 1},      {"KB", 1000},     {"MB", 1000000},
                                         {"KiB", 1024}, {"MiB", 1048576}, {NULL, 0}};
static const struct unit bandwidth_units[] = {
    {"bps", 1}, {"Kbps", 1000}, {"Mbps", 1000000}, {"Gbps", 1000000000}, {NULL, 0}};

/* Splits "[-]digits[.digits]rest". Returns false when no digit leads. */
static bool split_number(const char *text, bool *neg, unsigned __int128 *mant, unsigned *frac,
                         const char **rest)
{
	const char *p = text;
	unsigned digits = 0;

	*neg = false;
	*mant = 0;
	*frac = 0;
	if (*p == '-' || *p == '+') {
		*neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (digits++ < 30)
			*mant = *mant * 10 + (unsigned)(*p - '0');
		else
			*mant = (unsigned __int128)-1; /* absurdly long: saturate */
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (*frac < 12) {
				*mant = *mant * 10 + (unsigned)(*p - '0');
				(*frac)++;
			}
		}
	}
	*rest = p;
	return true;
}

static bool text_is_zero(const char *text)
{
	const char *p = text;

	if (*p == '+')
		p++;
	if (*p != '0')
		return false;
	while (*p == '0')
		p++;
	if (*p == '.') {
		p++;
		if (!*p)
			return false;
		while (*p == '0')
			p++;
	}
	return *p == '\0';
}

/* The unit list as "us, ms, s or m". */
static void units_text(const struct unit *units, char *buf, size_t len)
{
	size_t n = 0, count = 0;

	while (units[count].suffix)
		count++;
	buf[0] = '\0';
	for (size_t i = 0; i < count && n < len; i++) {
		const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
		int w = snprintf(buf + n, len - n, "%s%s", sep, units[i].suffix);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* The first step of every number with a unit: splits `text` into mantissa,
 * fraction digits and the suffix after them (*rest). Returns 1 when there
 * is a suffix to look up, 0 for a bare zero (which needs none), or -EINVAL
 * with `why` set; `expected` names the units in messages. */
static int split_unit_number(const char *text, const char *what, const char *example,
                             const char *expected, unsigned __int128 *mant, unsigned *frac,
                             const char **rest, char *why, size_t why_len)
{
	bool neg;

	if (!split_number(text, &neg, mant, frac, rest)) {
		err_setf(why, why_len, 0, "expected a %s like %s, got '%s'", what, example, text);
		return -EINVAL;
	}
	if (neg && !text_is_zero(text + 1)) {
		err_setf(why, why_len, 0, "negative %s '%s'", what, text);
		return -EINVAL;
	}
	if (**rest != '\0')
		return 1;
	if (text_is_zero(text + (neg ? 1 : 0)))
		return 0;
	err_setf(why, why_len, 0, "missing unit in %s '%s' (expected %s)", what, text, expected);
	return -EINVAL;
}

/* Parses a number with one of `units` into an integer number of base units
 * (rounded down). */
static int parse_with_units(const char *text, const char *what, const char *example,
                            const struct unit *units, uint64_t *out, char *why, size_t why_len)
{
	unsigned __int128 mant, value;
	unsigned frac;
	const char *rest;
	char list[64];

	units_text(units, list, sizeof(list));
	int rc = split_unit_number(text, what, example, list, &mant, &frac, &rest, why, why_len);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*out = 0;
		return 0;
	}
	const struct unit *u = NULL;
	for (size_t i = 0; units[i].suffix; i++)
		if (strcmp(rest, units[i].suffix) == 0)
			u = &units[i];
	if (!u) {
		const struct unit *near = NULL;
		for (size_t i = 0; units[i].suffix; i++)
			if (strcasecmp(rest, units[i].suffix) == 0)
				near = &units[i];
		if (near)
			err_setf(why, why_len, 0,
			         "bad unit '%s' in %s '%s' (expected %s; did you mean '%s'?)", rest,
			         what, text, list, near->suffix);
		else
			err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest,
			         what, text, list);
		return -EINVAL;
	}
	value = mant * u->mult;
	if (mant != 0 && value / mant != u->mult)
		value = (unsigned __int128)-1;
	for (unsigned i = 0; i < frac; i++)
		value /= 10;
	if (value > UINT64_MAX) {
		err_setf(why, why_len, 0, "%s '%s' is out of range", what, text);
		return -EINVAL;
	}
	*out = (uint64_t)value;
	return 0;
}

int scenario_parse_duration(const char *text, uint64_t *out_us, char *why, size_t why_len)
{
	return parse_with_units(text, "duration", "250ms", duration_units, out_us, why, why_len);
}

int scenario_parse_size(const char *text, uint64_t *out_bytes, char *why, size_t why_len)
{
	return parse_with_units(text, "size", "2KB", size_units, out_bytes, why, why_len);
}

int scenario_parse_bandwidth(const char *text, uint64_t *out_bps, char *why, size_t why_len)
{
	return parse_with_units(text, "bandwidth", "1Gbps", bandwidth_units, out_bps, why, why_len);
}

/* A decimal number with a fixed suffix, as a double. */
static int parse_suffixed(const char *text, const char *what, const char *example,
                          const char *suffix, double *out, char *why, size_t why_len)
{
	unsigned __int128 mant;
	unsigned frac;
	const char *rest;

	int rc = split_unit_number(text, what, example, suffix, &mant, &frac, &rest, why, why_len);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*out = 0;
		return 0;
	}
	if (strcmp(rest, suffix) != 0) {
		err_setf(why, why_len, 0, "bad unit '%s' in %s '%s' (expected %s)", rest, what,
		         text, suffix);
		return -EINVAL;
	}
	double v = (double)mant;
	for (unsigned i = 0; i < frac; i++)
		v /= 10.0;
	*out = v;
	return 0;
}

int scenario_parse_rate(const char *text, double *out_per_s, char *why, size_t why_len)
{
	return parse_suffixed(text, "rate", "5/s", "/s", out_per_s, why, why_len);
}

int scenario_parse_percent(const char *text, double *out_fraction, char *why, size_t why_len)
{
	double pct;
	int err = parse_suffixed(text, "percentage", "0.5%", "%", &pct, why, why_len);

	if (err)
		return err;
	*out_fraction = pct / 100.0;
	return 0;
}

bool scenario_name_is_safe(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

const char *scenario_time_text(uint64_t us, char *buf, size_t len)
{
	if (us % 1000000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000));
	else if (us % 1000 == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	return buf;
}
