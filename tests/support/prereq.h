/* Test support: what a test does when the machine lacks a tool or a kernel
 * feature it needs. On a developer's machine the test is skipped with the
 * reason; under CI (environment CI set and not "false" or "0") it fails with
 * the reason, because scripts/install-deps.sh installs everything there and a
 * skip would silently shrink Criterion's "Tested" count. */
#ifndef TESTS_SUPPORT_PREREQ_H
#define TESTS_SUPPORT_PREREQ_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* True when `ci` (the value of CI, or NULL) asks for missing prerequisites
 * to fail. */
static inline bool prereq_strict(const char *ci)
{
	return ci && ci[0] && strcmp(ci, "false") != 0 && strcmp(ci, "0") != 0;
}

/* Ends the test: a skip with the printf-style reason, or under CI a failure
 * with it. The format must be a string literal. */
#define prereq_missing(...)                                                                        \
	do {                                                                                       \
		if (prereq_strict(getenv("CI")))                                                   \
			cr_assert_fail("missing prerequisite under CI "                            \
			               "(scripts/install-deps.sh): " __VA_ARGS__);                 \
		cr_skip_test(__VA_ARGS__);                                                         \
	} while (0)

#endif
