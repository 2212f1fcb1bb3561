/* Test support: a JSON file the code under test wrote (explore.json, a perf
 * result), read and parsed, the test failing when it is missing, larger
 * than 8 MiB or not JSON. Header-only, for the Criterion suites. */
#ifndef TESTS_SUPPORT_JSON_FILE_H
#define TESTS_SUPPORT_JSON_FILE_H

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#define TEST_JSON_FILE_MAX (8u << 20)

static inline cJSON *test_json_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s is missing", path);
	char *buf = malloc(TEST_JSON_FILE_MAX + 1);
	cr_assert_not_null(buf);
	size_t n = fread(buf, 1, TEST_JSON_FILE_MAX + 1, f);
	fclose(f);
	cr_assert_leq(n, TEST_JSON_FILE_MAX, "%s is larger than the test reads", path);
	buf[n] = '\0';
	cJSON *j = cJSON_Parse(buf);
	free(buf);
	cr_assert_not_null(j, "%s is not JSON", path);
	return j;
}

#endif
