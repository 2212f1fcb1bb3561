/* Drawing a random fault schedule from a scenario's `explore:` menu and a
 * seed (explore_schedule.h): the kinds a seed enables, each kind's
 * arrivals, a free target for each fault, and the faults and heals as
 * timeline entries; and writing a schedule out as YAML. */
#include "sim/explore/explore_schedule.h"

#include "lib/base/rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tries at finding a target with no fault of the same kind on it. */
#define TARGET_TRIES 8
/* What a link fault adds to the link's latency, at least. */
#define LINK_EXTRA_US 50000ull

/* Uniform in (0, 1]. */
static double unit_draw(uint64_t rng[RNG_STATE_WORDS])
{
	return (double)((rng_next_u64(rng) >> 11) + 1) * 0x1p-53;
}

/* Uniform in [0, n), n > 0. */
static uint64_t below_draw(uint64_t rng[RNG_STATE_WORDS], uint64_t n)
{
	return rng_next_u64(rng) % n;
}

/* Swarm: a random non-empty subset of the menu, as a mask of kinds. */
static uint32_t enabled_kinds_draw(const struct scenario_explore *ex, uint64_t rng[RNG_STATE_WORDS])
{
	uint32_t all = (1u << ex->n_faults) - 1, pick, kinds = 0;

	do
		pick = (uint32_t)rng_next_u64(rng) & all;
	while (!pick);
	for (size_t i = 0; i < ex->n_faults; i++)
		if (pick & (1u << i))
			kinds |= 1u << ex->faults[i].kind;
	return kinds;
}

/* The first `cap` faults of one kind that start after 0 and are healed by
 * end_us, with exponential gaps at the kind's rate. */
static size_t arrivals_draw(const struct scenario_explore_fault *f, uint64_t end_us, size_t cap,
                            uint64_t rng[RNG_STATE_WORDS], struct explore_fault *out)
{
	double mean_gap_us = 60e6 / (double)f->rate_per_min, t = 0;
	size_t n = 0;

	while (n < cap) {
		t += -log(unit_draw(rng)) * mean_gap_us;
		if (t >= (double)end_us)
			break;
		uint64_t start = (uint64_t)t;
		uint64_t lasts = f->min_us + below_draw(rng, f->max_us - f->min_us + 1);
		if (start == 0 || start + lasts > end_us)
			continue;
		out[n++] = (struct explore_fault){
		    .kind = f->kind, .start_us = start, .heal_us = start + lasts};
	}
	return n;
}

static int fault_cmp(const void *x, const void *y)
{
	const struct explore_fault *a = x, *b = y;

	if (a->start_us != b->start_us)
		return a->start_us < b->start_us ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->heal_us != b->heal_us)
		return a->heal_us < b->heal_us ? -1 : 1;
	return 0;
}

/* A target of f's kind, drawn among the scenario's: a node, a link (a
 * partition cuts a link's two regions apart, a link fault slows it), or
 * control (0). */
static uint32_t target_draw(const struct scenario *sc, enum scenario_fault_kind kind,
                            uint64_t rng[RNG_STATE_WORDS])
{
	switch (kind) {
	case SCENARIO_FAULT_CRASH:
		return (uint32_t)below_draw(rng, sc->node_count);
	case SCENARIO_FAULT_PARTITION:
	case SCENARIO_FAULT_LINK:
		return (uint32_t)below_draw(rng, (uint64_t)sc->link_count);
	default:
		return 0;
	}
}

static bool is_control_action(enum scenario_action a)
{
	return a == SCENARIO_ACTION_CONTROL_CRASH || a == SCENARIO_ACTION_CONTROL_RESTART ||
	       a == SCENARIO_ACTION_CONTROL_DISK || a == SCENARIO_ACTION_CONTROL_TORN_WRITE;
}

/* Whether the scenario's own timeline claims f's target, so that the two
 * would clash (a restart of a node it crashed itself, a serve command on a
 * node the fault took down, a heal undoing its own partition or link
 * change, an admin action while control is down): such faults are left
 * out, and the scenario's own timeline runs as written. */
static bool own_timeline_claims(const struct scenario *sc, const struct explore_fault *f)
{
	for (size_t i = 0; i < sc->n_events; i++) {
		const struct scenario_event *e = &sc->events[i];
		switch (f->kind) {
		case SCENARIO_FAULT_CRASH:
			if ((e->action == SCENARIO_ACTION_CRASH ||
			     e->action == SCENARIO_ACTION_RESTART ||
			     e->action == SCENARIO_ACTION_SERVE) &&
			    e->node == f->target)
				return true;
			break;
		case SCENARIO_FAULT_PARTITION:
		case SCENARIO_FAULT_LINK: {
			const struct scenario_link *l = &sc->links[f->target];
			if (e->action == SCENARIO_ACTION_LINK && e->link == (int)f->target)
				return true;
			if ((e->action == SCENARIO_ACTION_PARTITION ||
			     e->action == SCENARIO_ACTION_HEAL) &&
			    !e->between_nodes && f->kind == SCENARIO_FAULT_PARTITION &&
			    ((e->a == (uint32_t)l->region_a && e->b == (uint32_t)l->region_b) ||
			     (e->a == (uint32_t)l->region_b && e->b == (uint32_t)l->region_a)))
				return true;
			break;
		}
		default:
			if (is_control_action(e->action))
				return true;
			if (e->action == SCENARIO_ACTION_ADMIN && e->at_us >= f->start_us &&
			    e->at_us <= f->heal_us)
				return true;
			break;
		}
	}
	return false;
}

static bool target_busy(const struct explore_fault *done, size_t n_done,
                        const struct explore_fault *f)
{
	for (size_t i = 0; i < n_done; i++)
		if (done[i].kind == f->kind && done[i].target == f->target &&
		    done[i].heal_us >= f->start_us)
			return true;
	return false;
}

/* Gives f a target with no fault of its kind still on it; false if a few
 * draws find none (the fault is then left out). */
static bool target_assign(const struct scenario *sc, const struct explore_fault *done,
                          size_t n_done, struct explore_fault *f, uint64_t rng[RNG_STATE_WORDS])
{
	for (int i = 0; i < TARGET_TRIES; i++) {
		f->target = target_draw(sc, f->kind, rng);
		if (target_busy(done, n_done, f) || own_timeline_claims(sc, f))
			continue;
		if (f->kind == SCENARIO_FAULT_LINK) {
			uint64_t base = sc->links[f->target].params.latency_us;
			uint64_t lat = base * (2 + below_draw(rng, 9)) + LINK_EXTRA_US;
			f->latency_us =
			    lat < SCENARIO_LATENCY_MAX_US ? lat : SCENARIO_LATENCY_MAX_US;
		}
		return true;
	}
	return false;
}

/* The timeline entry that starts (heal false) or heals fault f. */
static struct scenario_event fault_event(const struct scenario *sc, const struct explore_fault *f,
                                         bool heal)
{
	struct scenario_event e = {.at_us = heal ? f->heal_us : f->start_us};

	switch (f->kind) {
	case SCENARIO_FAULT_CRASH:
		e.action = heal ? SCENARIO_ACTION_RESTART : SCENARIO_ACTION_CRASH;
		e.node = f->target;
		break;
	case SCENARIO_FAULT_PARTITION:
		e.action = heal ? SCENARIO_ACTION_HEAL : SCENARIO_ACTION_PARTITION;
		e.a = (uint32_t)sc->links[f->target].region_a;
		e.b = (uint32_t)sc->links[f->target].region_b;
		break;
	case SCENARIO_FAULT_LINK: {
		const struct scenario_link *l = &sc->links[f->target];
		e.action = SCENARIO_ACTION_LINK;
		e.link = (int)f->target;
		e.a = (uint32_t)l->region_a;
		e.b = (uint32_t)l->region_b;
		e.set_latency = true;
		e.params = l->params;
		if (!heal)
			e.params.latency_us = f->latency_us;
		break;
	}
	default:
		e.action = heal ? SCENARIO_ACTION_CONTROL_RESTART : SCENARIO_ACTION_CONTROL_CRASH;
		break;
	}
	return e;
}

struct seq_event {
	struct scenario_event e;
	size_t seq;
};

static int seq_event_cmp(const void *x, const void *y)
{
	const struct seq_event *a = x, *b = y;

	if (a->e.at_us != b->e.at_us)
		return a->e.at_us < b->e.at_us ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Every fault and its heal, by time (equal times in fault order). */
static int events_build(const struct scenario *sc, struct explore_schedule *s)
{
	size_t n = 2 * s->n_faults;
	struct seq_event *tmp = calloc(n ? n : 1, sizeof(*tmp));

	s->events = calloc(n ? n : 1, sizeof(*s->events));
	if (!tmp || !s->events) {
		free(tmp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_faults; i++) {
		tmp[2 * i] = (struct seq_event){fault_event(sc, &s->faults[i], false), 2 * i};
		tmp[2 * i + 1] =
		    (struct seq_event){fault_event(sc, &s->faults[i], true), 2 * i + 1};
	}
	qsort(tmp, n, sizeof(*tmp), seq_event_cmp);
	for (size_t i = 0; i < n; i++)
		s->events[i] = tmp[i].e;
	s->n_events = n;
	free(tmp);
	return 0;
}

int explore_schedule_draw(const struct scenario *sc, uint64_t seed, struct explore_schedule *out)
{
	const struct scenario_explore *ex = &sc->explore;
	uint64_t rng[RNG_STATE_WORDS];
	uint64_t end_us = sc->duration_us - ex->quiet_tail_us;
	size_t cap = ex->max_faults, n_cand = 0, n = 0;

	memset(out, 0, sizeof(*out));
	if (!ex->present || ex->n_faults == 0 || ex->quiet_tail_us >= sc->duration_us)
		return -EINVAL;
	rng_seed(rng, seed);
	out->enabled = enabled_kinds_draw(ex, rng);
	struct explore_fault *cand = calloc(ex->n_faults * cap, sizeof(*cand));
	out->faults = calloc(cap, sizeof(*out->faults));
	if (!cand || !out->faults) {
		free(cand);
		explore_schedule_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ex->n_faults; i++)
		if (out->enabled & (1u << ex->faults[i].kind))
			n_cand += arrivals_draw(&ex->faults[i], end_us, cap, rng, cand + n_cand);
	qsort(cand, n_cand, sizeof(*cand), fault_cmp);
	for (size_t i = 0; i < n_cand && n < cap; i++)
		if (target_assign(sc, out->faults, n, &cand[i], rng))
			out->faults[n++] = cand[i];
	out->n_faults = n;
	free(cand);
	if (events_build(sc, out)) {
		explore_schedule_free(out);
		return -ENOMEM;
	}
	return 0;
}

int explore_schedule_from_faults(const struct scenario *sc, uint32_t enabled,
                                 const struct explore_fault *faults, size_t n,
                                 struct explore_schedule *out)
{
	memset(out, 0, sizeof(*out));
	out->enabled = enabled;
	out->faults = calloc(n ? n : 1, sizeof(*out->faults));
	if (!out->faults)
		return -ENOMEM;
	memcpy(out->faults, faults, n * sizeof(*faults));
	out->n_faults = n;
	qsort(out->faults, n, sizeof(*out->faults), fault_cmp);
	if (events_build(sc, out)) {
		explore_schedule_free(out);
		return -ENOMEM;
	}
	return 0;
}

void explore_schedule_free(struct explore_schedule *s)
{
	free(s->faults);
	free(s->events);
	memset(s, 0, sizeof(*s));
}

int explore_schedule_merge(const struct scenario *sc, const struct explore_schedule *s,
                           struct scenario_event **out, size_t *n_out)
{
	size_t n = sc->n_events + s->n_events, i = 0, j = 0, k = 0;
	struct scenario_event *m = calloc(n ? n : 1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	while (i < sc->n_events || j < s->n_events) {
		bool own = j == s->n_events ||
		           (i < sc->n_events && sc->events[i].at_us <= s->events[j].at_us);
		m[k++] = own ? sc->events[i++] : s->events[j++];
	}
	*out = m;
	*n_out = n;
	return 0;
}

void explore_schedule_entry_text(const struct scenario *sc, const struct scenario_event *e,
                                 char *out, size_t cap)
{
	char name[SCENARIO_NAME_MAX + 16];
	int n = snprintf(out, cap, "{at: %lluus, ", (unsigned long long)e->at_us);
	size_t at = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;

	out += at;
	cap -= at;
	switch (e->action) {
	case SCENARIO_ACTION_CRASH:
	case SCENARIO_ACTION_RESTART:
		scenario_node_name(sc, e->node, name, sizeof(name));
		snprintf(out, cap, "%s: %s}",
		         e->action == SCENARIO_ACTION_CRASH ? "crash" : "restart", name);
		break;
	case SCENARIO_ACTION_PARTITION:
	case SCENARIO_ACTION_HEAL:
		snprintf(out, cap, "%s: [%s, %s]}",
		         e->action == SCENARIO_ACTION_PARTITION ? "partition" : "heal",
		         sc->regions[e->a].name, sc->regions[e->b].name);
		break;
	case SCENARIO_ACTION_LINK:
		snprintf(out, cap, "link: {between: [%s, %s], latency: %lluus}}",
		         sc->regions[e->a].name, sc->regions[e->b].name,
		         (unsigned long long)e->params.latency_us);
		break;
	default:
		snprintf(out, cap, "control: %s}",
		         e->action == SCENARIO_ACTION_CONTROL_CRASH ? "crash" : "restart");
		break;
	}
}

int explore_schedule_write_yaml(const struct scenario *sc, const struct explore_schedule *s,
                                FILE *out)
{
	fputs(s->n_events ? "timeline:\n" : "timeline: []\n", out);
	for (size_t i = 0; i < s->n_events; i++) {
		char line[EXPLORE_ENTRY_TEXT_MAX];
		explore_schedule_entry_text(sc, &s->events[i], line, sizeof(line));
		fprintf(out, "  - %s\n", line);
	}
	return ferror(out) ? -EIO : 0;
}
