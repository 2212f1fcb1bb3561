/* explore's schedule generator (EXP-1): deterministic per seed, swarm
 * subsets, real targets, the quiet tail, max_faults, and the YAML it
 * writes loading back as the same timeline. */
#include "sim/explore/explore_schedule.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char base[] =
    "name: ex\nduration: 2m\n"
    "regions: {a: {}, b: {}, c: {}}\n"
    "links: [{between: [a, b], latency: 10ms}, "
    "{between: [b, c], latency: 30ms, loss: 0.5%}]\n"
    "users: {bob@example.com: {role: member}, alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:svc: [alice@example.com]}\n"
    "  autoApprovers: {services: {svc:web: [tag:web], svc:db: [tag:web]}}\n"
    "  grants: [{src: [\"*\"], dst: [svc:web], ip: [\"80\"]},\n"
    "           {src: [tag:web], dst: [svc:db], ip: [\"5432\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]},\n"
    "           {name: svc:db, ports: [tcp:5432], tags: [tag:svc]}]\n"
    "nodes:\n"
    "  - {name: n, region: a, count: 4, tags: [tag:web], backends: [{listen: "
    "127.0.0.1:8080}],\n"
    "     serve: [serve --service=svc:web --http=80 127.0.0.1:8080,\n"
    "             serve --service=svc:web --http=81 127.0.0.1:8081,\n"
    "             serve --service=svc:db --tcp=5432 127.0.0.1:5432]}\n"
    "  - {name: m, region: c}\n";

static const char menu[] = "explore:\n"
                           "  faults:\n"
                           "    - {kind: crash, rate: 6, min: 1s, max: 5s}\n"
                           "    - {kind: partition, rate: 4, min: 2s, max: 8s}\n"
                           "    - {kind: link, rate: 6, min: 1s, max: 3s}\n"
                           "    - {kind: control-crash, rate: 2, min: 1s, max: 4s}\n"
                           "    - {kind: control-disk, rate: 2, min: 1s, max: 4s}\n"
                           "    - {kind: torn-write, rate: 2, min: 1s, max: 4s}\n"
                           "    - {kind: revoke, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: reject, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: drain, rate: 6, min: 1s, max: 4s}\n"
                           "    - {kind: grant, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: isolate, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: one-way, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: access, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: loss, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: origin, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: origin-slow, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: origin-error, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: pause, rate: 6, min: 1s, max: 4s}\n"
                           "    - {kind: tags, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: jitter, rate: 3, min: 1s, max: 4s}\n"
                           "    - {kind: duplicate, rate: 3, min: 1s, max: 4s}\n"
                           "  quiet_tail: 20s\n"
                           "  max_faults: %u\n";

static struct scenario *load_with(const char *extra, unsigned max_faults)
{
	char m[2048];
	struct scenario *sc = NULL;
	struct scenario_diags d;

	snprintf(m, sizeof(m), menu, max_faults);
	size_t n = strlen(base) + strlen(m) + (extra ? strlen(extra) : 0) + 1;
	char *text = malloc(n);
	cr_assert_not_null(text);
	snprintf(text, n, "%s%s%s", base, m, extra ? extra : "");
	int err = scenario_load_text(text, strlen(text), "x.yaml", &sc, &d);
	if (err)
		scenario_diags_print(&d, stderr);
	free(text);
	cr_assert_eq(err, 0);
	return sc;
}

static bool tags_equal(const struct scenario_event *x, const struct scenario_event *y)
{
	if (x->n_tags != y->n_tags)
		return false;
	for (size_t i = 0; i < x->n_tags; i++)
		if (strcmp(x->tags[i], y->tags[i]) != 0)
			return false;
	return true;
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
		return x->between_nodes == y->between_nodes && x->one_way == y->one_way &&
		       x->a == y->a && x->b == y->b;
	case SCENARIO_ACTION_ISOLATE:
	case SCENARIO_ACTION_REJOIN:
	case SCENARIO_ACTION_ORIGIN_CRASH:
	case SCENARIO_ACTION_ORIGIN_RESTART:
	case SCENARIO_ACTION_ORIGIN_ERROR:
	case SCENARIO_ACTION_ORIGIN_OK:
	case SCENARIO_ACTION_PAUSE:
	case SCENARIO_ACTION_RESUME:
		return x->node == y->node;
	case SCENARIO_ACTION_ORIGIN_SLOW:
		return x->node == y->node && x->delay_us == y->delay_us;
	case SCENARIO_ACTION_LINK:
		/* loss exactly: the schedule and its YAML must simulate alike */
		return x->link == y->link && x->access == y->access &&
		       (!x->access || x->node == y->node) && x->set_latency == y->set_latency &&
		       !x->set_bandwidth == !y->set_bandwidth && !x->set_loss == !y->set_loss &&
		       (!x->set_latency || x->params.latency_us == y->params.latency_us) &&
		       (!x->set_loss || x->params.loss == y->params.loss) &&
		       x->set_jitter == y->set_jitter && x->set_reorder == y->set_reorder &&
		       x->set_duplicate == y->set_duplicate &&
		       (!x->set_jitter || x->params.jitter_us == y->params.jitter_us) &&
		       (!x->set_reorder || x->params.reorder == y->params.reorder) &&
		       (!x->set_duplicate || x->params.duplicate == y->params.duplicate);
	case SCENARIO_ACTION_SERVE:
		return x->node == y->node && !strcmp(x->run, y->run);
	case SCENARIO_ACTION_ADMIN:
		return x->verb == y->verb && x->user == y->user &&
		       !strcmp(x->command, y->command) && !x->policy == !y->policy &&
		       (!x->policy || !strcmp(x->policy, y->policy)) &&
		       (x->verb == SCENARIO_ADMIN_SET_POLICY ||
		        (x->host == y->host && !strcmp(x->service, y->service))) &&
		       tags_equal(x, y);
	case SCENARIO_ACTION_CONTROL_DISK:
		return x->disk == y->disk;
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
			if (e->action == SCENARIO_ACTION_LINK && !e->access)
				cr_assert(e->link >= 0 && e->link < sc->link_count);
			if ((e->action == SCENARIO_ACTION_LINK && e->access) ||
			    e->action == SCENARIO_ACTION_ISOLATE ||
			    e->action == SCENARIO_ACTION_REJOIN ||
			    e->action == SCENARIO_ACTION_PAUSE ||
			    e->action == SCENARIO_ACTION_RESUME)
				cr_assert_lt(e->node, sc->node_count);
		}
		explore_schedule_free(&s);
	}
	scenario_free(sc);
}

static bool through_control(enum scenario_fault_kind k)
{
	return k == SCENARIO_FAULT_CONTROL_CRASH || k == SCENARIO_FAULT_CONTROL_DISK ||
	       k == SCENARIO_FAULT_TORN_WRITE || k == SCENARIO_FAULT_REVOKE ||
	       k == SCENARIO_FAULT_REJECT || k == SCENARIO_FAULT_GRANT || k == SCENARIO_FAULT_TAGS;
}

Test(explore_schedule, exp_1_control_faults_take_turns_and_hosts_and_grants_are_real)
{
	struct scenario *sc = load_with(NULL, 60);
	uint32_t drawn = 0;

	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		cr_assert_eq(s.n_hosts, 4 * 2, "n-0..n-3 serve svc:web and svc:db");
		for (size_t i = 0; i < s.n_faults; i++) {
			const struct explore_fault *f = &s.faults[i];
			drawn |= 1u << f->kind;
			if (f->kind == SCENARIO_FAULT_REVOKE || f->kind == SCENARIO_FAULT_REJECT ||
			    f->kind == SCENARIO_FAULT_DRAIN || f->kind == SCENARIO_FAULT_TAGS)
				cr_assert_lt(f->target, s.n_hosts);
			/* control must know the host first (chaos-mixed seed 20: a
			 * revoke at 120 ms found no such node yet) */
			if (f->kind == SCENARIO_FAULT_REVOKE || f->kind == SCENARIO_FAULT_REJECT ||
			    f->kind == SCENARIO_FAULT_TAGS)
				cr_assert_geq(
				    f->start_us, 2000000, "seed %llu: an admin write at %llu us",
				    (unsigned long long)seed, (unsigned long long)f->start_us);
			if (f->kind == SCENARIO_FAULT_GRANT)
				cr_assert_lt(f->target, 2);
			if (f->kind == SCENARIO_FAULT_ORIGIN)
				cr_assert_lt(f->target, 4, "m has no backends");
			if (f->kind == SCENARIO_FAULT_PAUSE)
				cr_assert_lt(f->target, sc->node_count);
			if (f->kind == SCENARIO_FAULT_CONTROL_DISK)
				cr_assert(f->disk == SCENARIO_DISK_FULL ||
				          f->disk == SCENARIO_DISK_FSYNC_FAIL);
			for (size_t j = 0; j < i; j++) {
				const struct explore_fault *g = &s.faults[j];
				bool overlap = g->heal_us >= f->start_us;
				cr_assert(!overlap || !through_control(f->kind) ||
				              !through_control(g->kind),
				          "seed %llu: two faults through control at once",
				          (unsigned long long)seed);
				cr_assert(!overlap || f->kind != SCENARIO_FAULT_DRAIN ||
				              g->kind != SCENARIO_FAULT_CRASH ||
				              g->target != s.hosts[f->target].node,
				          "seed %llu: a drain on a crashed node",
				          (unsigned long long)seed);
				/* a paused daemon cannot crash or run serve drain, a
				 * crashed one cannot be paused (EXP-1, EXP-6) */
				uint32_t fn = f->kind == SCENARIO_FAULT_DRAIN
				                  ? s.hosts[f->target].node
				                  : f->target;
				uint32_t gn = g->kind == SCENARIO_FAULT_DRAIN
				                  ? s.hosts[g->target].node
				                  : g->target;
				bool daemon_f = f->kind == SCENARIO_FAULT_CRASH ||
				                f->kind == SCENARIO_FAULT_DRAIN ||
				                f->kind == SCENARIO_FAULT_PAUSE;
				bool daemon_g = g->kind == SCENARIO_FAULT_CRASH ||
				                g->kind == SCENARIO_FAULT_DRAIN ||
				                g->kind == SCENARIO_FAULT_PAUSE;
				cr_assert(
				    !overlap || !daemon_f || !daemon_g || fn != gn ||
				        (f->kind != SCENARIO_FAULT_PAUSE &&
				         g->kind != SCENARIO_FAULT_PAUSE),
				    "seed %llu: a pause with a crash, drain or pause of node %u",
				    (unsigned long long)seed, fn);
			}
		}
		for (size_t i = 0; i < s.n_events; i++) {
			const struct scenario_event *e = &s.events[i];
			if (e->action == SCENARIO_ACTION_ADMIN)
				cr_assert_eq(e->user, 1,
				             "bob is a member: alice runs admin faults");
			if (e->action == SCENARIO_ACTION_ADMIN &&
			    e->verb == SCENARIO_ADMIN_SET_POLICY)
				cr_assert_not_null(e->policy);
			if (e->action == SCENARIO_ACTION_SERVE)
				cr_assert(!strncmp(e->run, "serve drain svc:", 16) ||
				          !strncmp(e->run, "serve advertise svc:", 20));
		}
		explore_schedule_free(&s);
	}
	cr_assert_eq(drawn, (1u << SCENARIO_FAULT_KINDS) - 1);
	scenario_free(sc);
}

/* chaos-mixed seed 230: control crashed at 0.66 s before a host behind a
 * one-way partition had registered, and a set-tags on that host at 5.97 s
 * found no such node (the daemon's reconnect backoff brought it back
 * later). An admin write on a host waits 7 s after every earlier fault
 * that could have kept the host from control. */
Test(explore_schedule, exp_1_admin_writes_on_a_host_wait_until_control_can_know_it)
{
	struct scenario *sc = load_with(NULL, 60);
	size_t after_control = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		for (size_t i = 0; i < s.n_faults; i++) {
			const struct explore_fault *f = &s.faults[i];
			if (f->kind != SCENARIO_FAULT_REVOKE && f->kind != SCENARIO_FAULT_REJECT &&
			    f->kind != SCENARIO_FAULT_TAGS)
				continue;
			uint32_t node = s.hosts[f->target].node;
			for (size_t j = 0; j < i; j++) {
				const struct explore_fault *g = &s.faults[j];
				bool control = g->kind == SCENARIO_FAULT_CONTROL_CRASH ||
				               g->kind == SCENARIO_FAULT_TORN_WRITE;
				bool own = (g->kind == SCENARIO_FAULT_CRASH ||
				            g->kind == SCENARIO_FAULT_PAUSE ||
				            g->kind == SCENARIO_FAULT_ISOLATE) &&
				           g->target == node;
				/* hosts and control are in region a: the link a-b cuts
				 * them off, b-c does not */
				cr_assert_eq(sc->control_region, 0);
				bool cut = (g->kind == SCENARIO_FAULT_PARTITION ||
				            g->kind == SCENARIO_FAULT_ONE_WAY) &&
				           g->target == 0;
				if (!control && !own && !cut)
					continue;
				cr_assert_geq(
				    f->start_us, g->heal_us + 7000000,
				    "seed %llu: %s on host %u at %llu us, %s healed at %llu us",
				    (unsigned long long)seed, scenario_fault_kind_name(f->kind),
				    node, (unsigned long long)f->start_us,
				    scenario_fault_kind_name(g->kind),
				    (unsigned long long)g->heal_us);
				after_control += control;
			}
		}
		explore_schedule_free(&s);
	}
	cr_assert_gt(after_control, 0, "some admin writes follow a control crash");
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

/* tags: the fault gives a host's node another set of tags the policy
 * owns (n-* carry tag:web; tagOwners has tag:web and tag:svc), the heal
 * gives back the scenario's; both are set-tags entries by an admin. */
Test(explore_schedule, exp_1_tags_faults_set_another_owned_set_and_heal_to_the_scenarios)
{
	struct scenario *sc = load_with(NULL, 60);
	size_t faults = 0, heals = 0;
	bool only_svc = false, both = false;

	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		cr_assert_eq(s.n_tag_names, 2);
		for (size_t i = 0; i < s.n_events; i++) {
			const struct scenario_event *e = &s.events[i];
			if (e->action != SCENARIO_ACTION_ADMIN ||
			    e->verb != SCENARIO_ADMIN_SET_TAGS)
				continue;
			char want[64];
			snprintf(want, sizeof(want), "set-tags n-%u ", e->host);
			cr_assert_lt(e->host, 4, "not a host's node");
			cr_assert(!strncmp(e->command, want, strlen(want)), "%s", e->command);
			cr_assert_geq(e->n_tags, 1);
			bool web = false, svc = false;
			for (size_t k = 0; k < e->n_tags; k++) {
				web |= !strcmp(e->tags[k], "tag:web");
				svc |= !strcmp(e->tags[k], "tag:svc");
				cr_assert(!strcmp(e->tags[k], "tag:web") ||
				              !strcmp(e->tags[k], "tag:svc"),
				          "%s is not owned", e->tags[k]);
			}
			if (web && !svc) {
				heals++; /* the scenario's own set: only a heal gives it */
				cr_assert_str_eq(e->command + strlen(want), "tag:web");
			} else {
				faults++;
				only_svc |= svc && !web;
				both |= svc && web;
			}
		}
		explore_schedule_free(&s);
	}
	cr_assert_gt(faults, 5);
	cr_assert_eq(faults, heals, "a tags fault without its heal");
	cr_assert(only_svc && both, "the drawn sets do not vary");
}

/* jitter and duplicate faults (EXP-1): on a region link, each entry sets
 * only its own parameters (so link and loss faults on the same link
 * compose with them) and the heal sets them back to the scenario's; a
 * link the scenario's own timeline changes is left alone. */
Test(explore_schedule, exp_1_jitter_and_duplicate_faults_set_and_restore_only_their_params)
{
	static const char own[] =
	    "timeline:\n  - {at: 1s, link: {between: [a, b], latency: 12ms}}\n";
	struct scenario *sc = load_with(own, 50);
	size_t jitter = 0, duplicate = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct explore_schedule s;
		cr_assert_eq(explore_schedule_draw(sc, seed, &s), 0);
		for (size_t i = 0; i < s.n_faults; i++) {
			const struct explore_fault *f = &s.faults[i];
			if (f->kind != SCENARIO_FAULT_JITTER && f->kind != SCENARIO_FAULT_DUPLICATE)
				continue;
			cr_assert_eq(f->target, 1, "link 0 (a,b) is the scenario's own");
			if (f->kind == SCENARIO_FAULT_JITTER) {
				jitter++;
				cr_assert(f->jitter_us >= 1000 && f->jitter_us <= 20000);
				cr_assert(f->reorder >= 0.01 - 1e-12 && f->reorder <= 0.1 + 1e-12);
			} else {
				duplicate++;
				cr_assert(f->duplicate >= 0.01 - 1e-12 &&
				          f->duplicate <= 0.25 + 1e-12);
			}
		}
		for (size_t i = 0; i < s.n_events; i++) {
			const struct scenario_event *e = &s.events[i];
			if (e->action != SCENARIO_ACTION_LINK || e->access ||
			    !(e->set_jitter || e->set_reorder || e->set_duplicate))
				continue;
			cr_assert(!e->set_latency && !e->set_bandwidth && !e->set_loss);
			cr_assert_eq(e->link, 1);
			cr_assert_eq(e->set_jitter, e->set_reorder);
			cr_assert_neq(e->set_jitter, e->set_duplicate);
		}
		/* every fault's heal puts back the scenario's values (0 here) */
		for (size_t i = 0; i < s.n_faults; i++) {
			const struct explore_fault *f = &s.faults[i];
			if (f->kind != SCENARIO_FAULT_JITTER && f->kind != SCENARIO_FAULT_DUPLICATE)
				continue;
			bool healed = false;
			for (size_t j = 0; j < s.n_events && !healed; j++) {
				const struct scenario_event *e = &s.events[j];
				healed = e->at_us == f->heal_us &&
				         e->action == SCENARIO_ACTION_LINK &&
				         (f->kind == SCENARIO_FAULT_JITTER
				              ? e->set_jitter && e->params.jitter_us == 0 &&
				                    e->params.reorder == 0
				              : e->set_duplicate && e->params.duplicate == 0);
			}
			cr_assert(healed, "seed %llu fault %zu", (unsigned long long)seed, i);
		}
		explore_schedule_free(&s);
	}
	cr_assert_gt(jitter, 10);
	cr_assert_gt(duplicate, 10);
	scenario_free(sc);
}
