/* lib/base/mutant.h (EXP-5): the start-up check of TAILSIM_MUTANT. An
 * ordinary build refuses the variable (it has no mutants, so a mutant run
 * would test the real code); a mutant build refuses a name its catalogue
 * does not list, naming it. Either way an unset or empty variable is fine. */
#include "lib/base/mutant.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

Test(mutant, exp5_an_unset_or_empty_tailsim_mutant_is_accepted)
{
	char err[256] = "";

	cr_assert_eq(unsetenv("TAILSIM_MUTANT"), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(setenv("TAILSIM_MUTANT", "", 1), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), 0, "%s", err);
}

#ifdef TAILSIM_MUTANTS
Test(mutant, exp5_a_mutant_build_takes_catalogued_names_and_refuses_others_by_name)
{
	char err[256] = "";

	cr_assert_eq(setenv("TAILSIM_MUTANT", "filter-ignores-ports,ack-before-durable", 1), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), 0, "%s", err);
	cr_assert(mutant_on("ack-before-durable"));
	cr_assert_not(mutant_on("drain-accepts-new-flows"));
	cr_assert_eq(setenv("TAILSIM_MUTANT", "filter-ignores-ports,filter-ignores-port", 1), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "unknown mutant \"filter-ignores-port\""), "%s", err);
	cr_assert_eq(setenv("TAILSIM_MUTANT", "a,,b", 1), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), -EINVAL);
}
#else
Test(mutant, exp5_an_ordinary_build_refuses_tailsim_mutant_it_cannot_honour)
{
	char err[256] = "";

	cr_assert_eq(setenv("TAILSIM_MUTANT", "filter-ignores-ports", 1), 0);
	cr_assert_eq(mutant_check_env(err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "this build has no mutants"), "%s", err);
	/* MUTANT() is the constant false: usable where only constants are. */
	_Static_assert(!MUTANT("filter-ignores-ports"), "MUTANT() must be false");
}
#endif
