/* lib/base/numarg.h: the one parser of numbers given on a command line. Every
 * form strtol/strtod would take and nobody means (NaN, hexadecimal, signs,
 * blanks, exponents, octal-looking zeros, overflow) is refused with a
 * reason; in-range decimals parse exactly. */
#include "lib/base/numarg.h"

#include <criterion/criterion.h>
#include <string.h>

Test(numarg, cfg_1_har_1_integers_are_decimal_digits_in_range_or_refused_with_why)
{
	static const struct {
		const char *text;
		int rc;
		const char *why;
	} bad[] = {
	    {"", -EINVAL, "empty value"},
	    {"0x10", -EINVAL, "hexadecimal is not accepted"},
	    {"0X1F", -EINVAL, "hexadecimal is not accepted"},
	    {"-1", -EINVAL, "negative values are not accepted"},
	    {"+80", -EINVAL, "a sign is not accepted"},
	    {" 80", -EINVAL, "blanks are not accepted"},
	    {"80 ", -EINVAL, "blanks are not accepted"},
	    {"nan", -EINVAL, "not a finite number"},
	    {"NaN", -EINVAL, "not a finite number"},
	    {"inf", -EINVAL, "not a finite number"},
	    {"Infinity", -EINVAL, "not a finite number"},
	    {"010", -EINVAL, "leading zeros are not accepted"},
	    {"1e3", -EINVAL, "exponents are not accepted"},
	    {"8.5", -EINVAL, "not an integer"},
	    {"80abc", -EINVAL, "not a decimal integer"},
	    {"abc", -EINVAL, "not a decimal integer"},
	    {"0", -ERANGE, "out of range (1 to 65535)"},
	    {"65536", -ERANGE, "out of range (1 to 65535)"},
	    {"18446744073709551616", -ERANGE, "out of range"},
	    {"99999999999999999999999999", -ERANGE, "out of range"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 7;
		char err[128] = "";
		int rc = numarg_u64(bad[i].text, 1, 65535, &v, err, sizeof(err));
		cr_assert_eq(rc, bad[i].rc, "\"%s\": rc %d (%s)", bad[i].text, rc, err);
		cr_assert(strstr(err, bad[i].why), "\"%s\": \"%s\" lacks \"%s\"", bad[i].text, err,
		          bad[i].why);
		cr_assert_eq(v, 7, "\"%s\": output untouched", bad[i].text);
	}
	uint64_t v;
	cr_assert_eq(numarg_u64("1", 1, 65535, &v, NULL, 0), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(numarg_u64("65535", 1, 65535, &v, NULL, 0), 0);
	cr_assert_eq(v, 65535);
	cr_assert_eq(numarg_u64("0", 0, 9, &v, NULL, 0), 0, "a lone zero is no leading zero");
	cr_assert_eq(numarg_u64("18446744073709551615", 0, UINT64_MAX, &v, NULL, 0), 0);
	cr_assert_eq(v, UINT64_MAX);
	uint16_t port;
	cr_assert_eq(numarg_port("8443", &port, NULL, 0), 0);
	cr_assert_eq(port, 8443);
	cr_assert_eq(numarg_u64n("443xyz", 3, 1, 65535, &v, NULL, 0), 0, "exactly n bytes");
	cr_assert_eq(v, 443);
}

Test(numarg, drn_1_durations_are_finite_decimal_with_a_unit_in_range_or_refused_with_why)
{
	static const struct {
		const char *text;
		int rc;
		const char *why;
	} bad[] = {
	    {"nan", -EINVAL, "not a finite number"},
	    {"inf", -EINVAL, "not a finite number"},
	    {"0x10", -EINVAL, "hexadecimal is not accepted"},
	    {"0x1p3s", -EINVAL, "hexadecimal is not accepted"},
	    {"-5s", -EINVAL, "negative values are not accepted"},
	    {"+5s", -EINVAL, "a sign is not accepted"},
	    {" 5s", -EINVAL, "blanks are not accepted"},
	    {"1e3", -EINVAL, "exponents are not accepted"},
	    {"1e3ms", -EINVAL, "exponents are not accepted"},
	    {"5parsecs", -EINVAL, "unknown unit \"parsecs\" (want us, ms, s, m or h)"},
	    {"5S", -EINVAL, "unknown unit \"S\""},
	    {"s", -EINVAL, "not a decimal number"},
	    {"", -EINVAL, "empty value"},
	    {"5.s", -EINVAL, "no digit after the decimal point"},
	    {"1.2.3s", -EINVAL, "not a decimal number"},
	    {"05s", -EINVAL, "leading zeros are not accepted"},
	    {"0.0000001s", -EINVAL, "finer than a microsecond"},
	    {"1.5us", -EINVAL, "finer than a microsecond"},
	    {"0", -ERANGE, "out of range (1ms to 1h)"},
	    {"999us", -ERANGE, "out of range (1ms to 1h)"},
	    {"61m", -ERANGE, "out of range (1ms to 1h)"},
	    {"2h", -ERANGE, "out of range (1ms to 1h)"},
	    {"99999999999999999999999h", -ERANGE, "out of range"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 7;
		char err[128] = "";
		int rc = numarg_duration_us(bad[i].text, 1000, 3600000000ull, &v, err, sizeof(err));
		cr_assert_eq(rc, bad[i].rc, "\"%s\": rc %d (%s)", bad[i].text, rc, err);
		cr_assert(strstr(err, bad[i].why), "\"%s\": \"%s\" lacks \"%s\"", bad[i].text, err,
		          bad[i].why);
		cr_assert_eq(v, 7, "\"%s\": output untouched", bad[i].text);
	}
	static const struct {
		const char *text;
		uint64_t us;
	} good[] = {
	    {"5s", 5000000},   {"5", 5000000},         {"500ms", 500000}, {"1000us", 1000},
	    {"2m", 120000000}, {"1h", 3600000000ull},  {"0.5s", 500000},  {"1.25ms", 1250},
	    {"0.001s", 1000},  {"60m", 3600000000ull},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 0;
		char err[128] = "";
		cr_assert_eq(
		    numarg_duration_us(good[i].text, 1000, 3600000000ull, &v, err, sizeof(err)), 0,
		    "\"%s\": %s", good[i].text, err);
		cr_assert_eq(v, good[i].us, "\"%s\": %llu us", good[i].text, (unsigned long long)v);
	}
}
