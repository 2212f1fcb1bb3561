/* Hostile-input helper shared by the suites that check parsers' depth
 * limits (REL-5). Header-only: each suite is its own executable. */
#ifndef TESTS_SUPPORT_NESTED_H
#define TESTS_SUPPORT_NESTED_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* head, then "[" x n and "]" x n, then tail (malloc'd, NUL-terminated). */
static inline char *test_nested_brackets(const char *head, size_t n, const char *tail)
{
	size_t lh = strlen(head), lt = strlen(tail);
	char *s = malloc(lh + 2 * n + lt + 1);

	cr_assert_not_null(s);
	memcpy(s, head, lh);
	memset(s + lh, '[', n);
	memset(s + lh + n, ']', n);
	memcpy(s + lh + 2 * n, tail, lt + 1);
	return s;
}

#endif
