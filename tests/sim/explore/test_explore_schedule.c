/* explore's schedule generator (EXP-1): deterministic per seed, swarm
 * subsets, real targets, the quiet tail, max_faults, and the YAML it
 * writes loading back as the same timeline. */
#include "sim/explore/explore_schedule.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char base[] = "name: ex\nduration: 2m\n"
                           "regions: {a: {}, b: {}, c: {}}\n"
                           "links: [{between: [a, b], latency: 10ms}, "
                           "{between: [b, c], latency: 30ms, loss: 0.5%}]\n"
                           "nodes: [{name: n, region: a, count: 4}, {name: m, region: c}]\n";

static const char menu[] = "explore:\n"
                           "  faults:\n"
                           "    - {kind: crash, rate: 6, min: 1s, max: 5s}\n"
                           "    - {kind: partition, rate: 4, min: 2s, max: 8s}\n"
                           "    - {kind: link, rate: 6, min: 1s, max: 3s}\n"
                           "    - {kind: control-crash, rate: 2, min: 1s, max: 4s}\n"
                           "  quiet_tail: 20s\n"
                           "  max_faults: %u\n";

static struct scenario *load_with(const char *extra, unsigned max_faults)
{
	char text[4096], m[1024];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(m, sizeof(m), menu, max_faults);
	snprintf(text, sizeof(text), "%s%s%s", base, m, extra ? extra : "");
	int err = scenario_load_text(text, strlen(text), "x.yaml", &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	cr_assert_eq(err, 0);
	return sc;
}

static bool events_equal(const struct scenario_event *x, const struct scenario_event *y)
{
	if (x->at_us != y->at_us || x->action != y->action)
		return false;
	switch (x->action) {
	case SCENARIO_ACTION_CRASH:
	case SCENARIO_ACTION_RESTART:
		return x->node == y->node;
	case SCENARIO_ACTION_PARTITION:
	case SCENARIO_ACTION_HEAL:
		return x->between_nodes == y->between_nodes && x->a == y->a && x->b == y->b;
	case SCENARIO_ACTION_LINK:
		return x->link == y->link && x->set_latency == y->set_latency &&
		       !x->set_bandwidth == !y->set_bandwidth && !x->set_loss == !y->set_loss &&
		       x->params.latency_us == y->params.latency_us;
	default:
		return true;
	}
}

Test(explore_schedule, exp_1_same_seed_gives_the_same_schedule)
{
	struct scenario *sc = load_with(NULL, 50);
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct explore_schedule x, y;
		cr_assert_eq(explore_schedule_draw(sc, seed, &x), 0);
		cr_assert_eq(explore_schedule_draw(sc, seed, &y), 0);
		cr_assert_eq(x.enabled, y.enabled);
		cr_assert_eq(x.n_faults, y.n_faults);
		cr_assert_eq(x.n_events, y.n_events);
		for (size_t i = 0; i < x.n_events; i++)
			cr_assert(events_equal(&x.events[i], &y.events[i]), "seed %llu event %zu",
			          (unsigned long long)seed, i);
		explore_schedule_free(&x);
		explore_schedule_free(&y);
	}
	scenario_free(sc);
}

Test(explore_schedule, exp_1_seeds_enable_different_subsets_and_every_kind)
{
	struct scenario *sc = load_with(NULL, 50);
	bool subset_seen[1u << SCENARIO_FAULT_KINDS] = {false};
	uint32_t kinds_seen = 0, drawn_kinds = 0;
	int subsets = 0;

	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		cr_assert_neq(s.enabled, 0);
		if (!subset_seen[s.enabled]) {
			subset_seen[s.enabled] = true;
			subsets++;
		}
		kinds_seen |= s.enabled;
		for (size_t i = 0; i < s.n_faults; i++) {
			cr_assert(s.enabled & (1u << s.faults[i].kind), "a fault of a kind not on");
			drawn_kinds |= 1u << s.faults[i].kind;
		}
		explore_schedule_free(&s);
	}
	cr_assert_geq(subsets, 2);
	cr_assert_eq(kinds_seen, (1u << SCENARIO_FAULT_KINDS) - 1);
	cr_assert_eq(drawn_kinds, (1u << SCENARIO_FAULT_KINDS) - 1);
	scenario_free(sc);
}

Test(explore_schedule, exp_1_quiet_tail_targets_and_max_faults_are_respected)
{
	struct scenario *sc = load_with(NULL, 12);
	uint64_t tail_start = sc->duration_us - sc->explore.quiet_tail_us;

	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		cr_assert_leq(s.n_faults, 12);
		cr_assert_eq(s.n_events, 2 * s.n_faults);
		for (size_t i = 0; i < s.n_faults; i++) {
			const struct explore_fault *f = &s.faults[i];
			cr_assert_gt(f->start_us, 0);
			cr_assert_lt(f->start_us, f->heal_us);
			cr_assert_leq(f->heal_us, tail_start, "seed %llu: healed in the quiet tail",
			              (unsigned long long)seed);
		}
		for (size_t i = 0; i < s.n_events; i++) {
			const struct scenario_event *e = &s.events[i];
			cr_assert_leq(e->at_us, tail_start);
			if (i)
				cr_assert_geq(e->at_us, s.events[i - 1].at_us);
			if (e->action == SCENARIO_ACTION_CRASH ||
			    e->action == SCENARIO_ACTION_RESTART)
				cr_assert_lt(e->node, sc->node_count);
			if (e->action == SCENARIO_ACTION_PARTITION ||
			    e->action == SCENARIO_ACTION_HEAL) {
				cr_assert_lt(e->a, (uint32_t)sc->region_count);
				cr_assert_lt(e->b, (uint32_t)sc->region_count);
				cr_assert_neq(e->a, e->b);
			}
			if (e->action == SCENARIO_ACTION_LINK)
				cr_assert(e->link >= 0 && e->link < sc->link_count);
		}
		explore_schedule_free(&s);
	}
	scenario_free(sc);
}

Test(explore_schedule, exp_1_written_yaml_loads_back_as_the_same_timeline)
{
	struct scenario *sc = load_with(NULL, 40);
	size_t nonempty = 0;

	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct explore_schedule s;
		char *yaml = NULL;
		size_t len = 0;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		FILE *f = open_memstream(&yaml, &len);
		cr_assert_not_null(f);
		cr_assert_eq(explore_schedule_write_yaml(sc, &s, f), 0);
		fclose(f);
		struct scenario *back = load_with(yaml, 40);
		cr_assert_eq(back->n_events, s.n_events, "seed %llu:\n%s", (unsigned long long)seed,
		             yaml);
		for (size_t i = 0; i < s.n_events; i++)
			cr_assert(events_equal(&back->events[i], &s.events[i]),
			          "seed %llu event %zu differs:\n%s", (unsigned long long)seed, i,
			          yaml);
		nonempty += s.n_events > 0;
		scenario_free(back);
		free(yaml);
		explore_schedule_free(&s);
	}
	cr_assert_gt(nonempty, 40);
	scenario_free(sc);
}

Test(explore_schedule, exp_1_no_menu_is_refused)
{
	struct scenario *sc = NULL;
	struct scenario_diags d;
	struct explore_schedule s;

	cr_assert_eq(scenario_load_text(base, strlen(base), "x.yaml", &sc, &d), 0);
	cr_assert_eq(explore_schedule_draw(sc, 1, &s), -EINVAL);
	cr_assert_eq(s.n_events, 0);
	scenario_free(sc);
}
