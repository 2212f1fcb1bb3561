/* The scenario rewrite `simrun shrink` writes its result with
 * (sim/explore/explore_yaml.c): the author's text kept, only the seed,
 * explore:, counts, timeline and expect changed, and the result loads as
 * the scenario it should be (EXP-3). */
#include "sim/explore/explore_yaml.h"
#include "sim/scenario/scenario.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char base[] = "# the author's comment\n"
                           "name: rw\n"
                           "seed: 7\n"
                           "duration: 20s\n"
                           "regions: {r1: {}, r2: {}}\n"
                           "links:\n"
                           "  - {between: [r1, r2], latency: 10ms}\n"
                           "control: {region: r1}\n"
                           "nodes:\n"
                           "  - name: client   # kept\n"
                           "    region: r1\n"
                           "    count: 8\n"
                           "  - {name: other, region: r2, count: 4}\n"
                           "  - name: host\n"
                           "    region: r2\n"
                           "timeline:\n"
                           "  - at: 3s\n"
                           "    partition: [r1, r2]\n"
                           "  - {at: 4s, heal: [r1, r2]}\n"
                           "explore:\n"
                           "  faults:\n"
                           "    - {kind: crash, rate: 6}\n"
                           "  quiet_tail: 5s\n"
                           "expect:\n"
                           "  - {node: host, new_connections: 0}\n";

static struct scenario *load(const char *text)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	int err = scenario_load_text(text, strlen(text), "rw.yaml", &sc, &d);
	if (err) {
		for (size_t i = 0; i < d.count; i++)
			fprintf(stderr, "%s\n", d.items[i].text);
		fprintf(stderr, "---\n%s---\n", text);
	}
	cr_assert_eq(err, 0, "the rewritten text does not load");
	return sc;
}

Test(explore_yaml, exp_3_rewrite_sets_seed_counts_timeline_and_drops_explore)
{
	static const char *const add[] = {"{at: 5000000us, crash: client-1}",
	                                  "{at: 6000000us, restart: client-1}"};
	struct explore_yaml_edit ed = {.seed = 42, .n_counts = 2, .timeline = add, .n_timeline = 2};
	char why[256], *out = NULL;

	ed.counts[0] = 2; /* client 8 -> 2; other kept */
	cr_assert_eq(explore_yaml_rewrite(base, strlen(base), &ed, &out, why, sizeof(why)), 0, "%s",
	             why);
	cr_assert_not_null(strstr(out, "# the author's comment"));
	cr_assert_not_null(strstr(out, "name: client   # kept"));
	cr_assert_null(strstr(out, "explore:"));
	struct scenario *sc = load(out);
	cr_assert_eq(sc->seed, 42);
	cr_assert_eq(sc->groups[0].count, 2);
	cr_assert_eq(sc->groups[1].count, 4);
	cr_assert_eq(sc->node_count, 2 + 4 + 1);
	cr_assert_eq(sc->n_events, 4, "own two entries and the added two");
	cr_assert_eq(sc->events[0].at_us, 3000000);
	cr_assert_eq(sc->events[0].action, SCENARIO_ACTION_PARTITION);
	cr_assert_eq(sc->events[2].action, SCENARIO_ACTION_CRASH);
	cr_assert_eq(sc->events[3].at_us, 6000000);
	cr_assert_not(sc->explore.present);
	cr_assert_eq(sc->n_expects, 1);
	scenario_free(sc);
	free(out);
}

Test(explore_yaml, exp_3_rewrite_adds_sections_the_file_lacks)
{
	static const char bare[] = "name: b\nduration: 5s\nregions: {r1: {}}\n"
	                           "control: {region: r1}\nnodes: [{name: n, region: r1}]";
	static const char *const add[] = {"{at: 1s, crash: n}", "{at: 2s, restart: n}"};
	struct explore_yaml_edit ed = {.seed = 9, .timeline = add, .n_timeline = 2};
	char why[256], *out = NULL;

	cr_assert_eq(explore_yaml_rewrite(bare, strlen(bare), &ed, &out, why, sizeof(why)), 0, "%s",
	             why);
	struct scenario *sc = load(out);
	cr_assert_eq(sc->seed, 9);
	cr_assert_eq(sc->n_events, 2);
	scenario_free(sc);
	free(out);
}

Test(explore_yaml, exp_3_rewrite_refuses_a_count_the_entry_does_not_have)
{
	struct explore_yaml_edit ed = {.seed = 1, .n_counts = 3};
	char why[256] = "", *out = NULL;

	ed.counts[2] = 1; /* `host` has no count */
	cr_assert_eq(explore_yaml_rewrite(base, strlen(base), &ed, &out, why, sizeof(why)),
	             -EINVAL);
	cr_assert_not_null(strstr(why, "nodes entry 3 has no count"), "%s", why);
	cr_assert_null(out);
}

Test(explore_yaml, exp_3_rewrite_refuses_text_that_is_not_a_scenario)
{
	struct explore_yaml_edit ed = {.seed = 1};
	char why[256] = "", *out = NULL;

	cr_assert_eq(explore_yaml_rewrite("[1, 2", 5, &ed, &out, why, sizeof(why)), -EINVAL);
	cr_assert_eq(explore_yaml_rewrite("- a\n- b\n", 8, &ed, &out, why, sizeof(why)), -EINVAL);
	cr_assert_not_null(strstr(why, "no top-level mapping"), "%s", why);
}
