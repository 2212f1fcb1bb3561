/* tests/support/prereq.h: a missing prerequisite skips on a developer's
 * machine and fails under CI, with the reason either way. */
#include "tests/support/prereq.h"

#include <stdio.h>
#include <unistd.h>

#include "tests/support/shell.h"

Test(prereq, ci_values_that_make_a_missing_prerequisite_fail)
{
	cr_assert(prereq_strict("true"));
	cr_assert(prereq_strict("1"));
	cr_assert(prereq_strict("yes"));
	cr_assert_not(prereq_strict(NULL));
	cr_assert_not(prereq_strict(""));
	cr_assert_not(prereq_strict("false"));
	cr_assert_not(prereq_strict("0"));
}

/* The probe the next test runs in a child: it does nothing unless asked. */
Test(prereq_probe, a_missing_frobnicator)
{
	if (getenv("PREREQ_PROBE"))
		prereq_missing("frobnicator %d is not installed", 7);
}

/* Runs this executable's probe with CI set to `ci` (or unset); `out` gets
 * the TAP output. */
static void probe(const char *ci, char *out, size_t len)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	cr_assert_gt(n, 0);
	self[n] = '\0';
	/* env -i: the child must not see the runner's own (Criterion's) environment */
	shell_run(out, len,
	          "env -i %s%s PREREQ_PROBE=1 '%s' --tap --jobs 1 --filter 'prereq_probe/*'",
	          ci ? "CI=" : "", ci ? ci : "", self);
}

Test(prereq, under_ci_a_missing_prerequisite_fails_with_the_reason)
{
	char out[4096];

	probe("true", out, sizeof(out));
	cr_assert(strstr(out, "not ok - prereq_probe::a_missing_frobnicator"), "%s", out);
	cr_assert(strstr(out, "missing prerequisite under CI (scripts/install-deps.sh): "
	                      "frobnicator 7 is not installed"),
	          "%s", out);
	cr_assert_null(strstr(out, "# SKIP frobnicator"), "%s", out);
}

Test(prereq, off_ci_a_missing_prerequisite_skips_with_the_reason)
{
	char out[4096];

	probe(NULL, out, sizeof(out));
	cr_assert(strstr(out, "# SKIP frobnicator 7 is not installed"), "%s", out);
	cr_assert_null(strstr(out, "not ok"), "%s", out);
	probe("false", out, sizeof(out));
	cr_assert(strstr(out, "# SKIP frobnicator 7 is not installed"), "%s", out);
}
