/* The defects simrun explore found, each kept as the scenario `simrun
 * shrink` made of it (the .yaml files of tests/sim/explore/regress, EXP-3): each names
 * the invariant it broke as its one expectation, so each must now run with
 * exit status 0. */
#include "tests/support/shell.h"

#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>

#ifndef SIMRUN_PATH
#error "SIMRUN_PATH must be defined by the build"
#endif
#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined by the build"
#endif

static char out[1 << 16];

Test(explore_regress, exp_3_every_shrunk_defect_scenario_now_holds_its_invariant, .timeout = 600)
{
	glob_t g;
	char dir[64];

	cr_assert_eq(glob(SOURCE_DIR "/tests/sim/explore/regress/*.yaml", 0, NULL, &g), 0,
	             "no regression scenarios");
	cr_assert(shell_mkdtemp(dir, sizeof(dir), "test_explore_regress"));
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i];
		cr_assert_eq(shell_run(out, sizeof(out), "grep -q '{invariant: ' '%s'", path), 0,
		             "%s expects no invariant", path);
		int rc = shell_run(out, sizeof(out), "'%s' --quiet --pcap none --out '%s' '%s'",
		                   SIMRUN_PATH, dir, path);
		cr_assert_eq(rc, 0, "%s: simrun exited %d:\n%s", path, rc, out);
	}
	globfree(&g);
	shell_run(out, sizeof(out), "rm -rf '%s'", dir);
}
