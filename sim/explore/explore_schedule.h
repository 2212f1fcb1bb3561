/* A random fault schedule for `simrun explore` (EXP-1), drawn swarm style
 * from a scenario's `explore:` menu and a seed: a pure function of the two
 * (no global state, no I/O besides writing it out). The schedule is made
 * of the same timeline entries the scenario loader produces, each fault
 * followed by its heal, so the simulator runs it through its timeline and
 * a failing one can be written back as YAML to replay or shrink. */
#ifndef SIM_EXPLORE_EXPLORE_SCHEDULE_H
#define SIM_EXPLORE_EXPLORE_SCHEDULE_H

#include "sim/scenario/scenario.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The tagOwners keys a tags fault draws among (a bit each in a fault's tags). */
#define EXPLORE_TAG_NAMES_MAX 32
/* The most tags a tags fault gives a node (well within a node's 8). */
#define EXPLORE_TAGS_SET_MAX 3

/* One drawn fault: what, on which target, from start to heal. */
struct explore_fault {
	enum scenario_fault_kind kind;
	uint64_t start_us, heal_us;
	/* CRASH: node; PARTITION, LINK: link (its two regions); REVOKE,
	 * REJECT, DRAIN: host (index into the schedule's hosts); GRANT: the
	 * grant removed (index into the policy's grants); ISOLATE, ACCESS: node;
	 * ONE_WAY, LOSS, JITTER, DUPLICATE: link; ORIGIN: node (one with
	 * backends); ORIGIN_SLOW, ORIGIN_ERROR: node (one with an http backend);
	 * PAUSE: node; TAGS: host (its node's tags change); control kinds: 0. */
	uint32_t target;
	uint64_t latency_us;     /* LINK, ACCESS: the latency while the fault lasts;
	                            ORIGIN_SLOW: how much later answers come */
	double loss;             /* ACCESS, LOSS: the loss while it lasts */
	uint64_t jitter_us;      /* JITTER: the jitter while it lasts */
	double reorder;          /* JITTER: the share held back while it lasts */
	double duplicate;        /* DUPLICATE: the share duplicated while it lasts */
	bool reverse;            /* ONE_WAY: from the link's second region to its first */
	enum scenario_disk disk; /* CONTROL_DISK: full or fsync-fail while it lasts */
	/* TAGS: the node's tags while it lasts, bit i: the schedule's tag_names[i] */
	uint32_t tags;
};

/* Whether a kind's target is a node index (crash, isolate, access, origin,
 * pause). */
static inline bool explore_fault_on_node(enum scenario_fault_kind kind)
{
	return kind == SCENARIO_FAULT_CRASH || kind == SCENARIO_FAULT_ISOLATE ||
	       kind == SCENARIO_FAULT_ACCESS || kind == SCENARIO_FAULT_ORIGIN ||
	       kind == SCENARIO_FAULT_ORIGIN_SLOW || kind == SCENARIO_FAULT_ORIGIN_ERROR ||
	       kind == SCENARIO_FAULT_PAUSE;
}

struct explore_schedule {
	uint32_t enabled;             /* bit k: fault kind k (enum scenario_fault_kind) is on */
	struct explore_fault *faults; /* by start time */
	size_t n_faults;
	struct scenario_event *events; /* faults and heals as timeline entries, by time */
	size_t n_events;
	struct scenario_host *hosts; /* the scenario's hosts (scenario_hosts) */
	size_t n_hosts;
	uint32_t *origins; /* nodes with backends */
	size_t n_origins;
	uint32_t *http_origins; /* nodes with an http backend */
	size_t n_http_origins;
	/* The policy's tagOwners keys, in its order (at most 32): the tags a
	 * tags fault draws from. */
	const char *tag_names[EXPLORE_TAG_NAMES_MAX];
	size_t n_tag_names;
	char **texts; /* what the events' strings point at (commands, policies) */
	size_t n_texts;
};

/* Draws the schedule of `seed` for sc (whose explore section must be
 * present): a random non-empty subset of the menu's kinds, then faults of
 * those kinds with exponential gaps at their rates on the scenario's real
 * nodes, links, hosts and grants (one fault at a time on each target;
 * faults that act through control, one at a time; none on a target the
 * scenario's own timeline claims: see own_timeline_claims), each
 * lasting min..max and healed before the quiet tail, at most max_faults.
 * Returns 0, -EINVAL without a menu, or -ENOMEM; free with
 * explore_schedule_free. */
int explore_schedule_draw(const struct scenario *sc, uint64_t seed, struct explore_schedule *out);
void explore_schedule_free(struct explore_schedule *s);

/* The timeline a seed runs: the scenario's own entries and the schedule's,
 * by time, the scenario's first at equal times. *out is malloc'd (free
 * it); 0 or -ENOMEM. */
int explore_schedule_merge(const struct scenario *sc, const struct explore_schedule *s,
                           struct scenario_event **out, size_t *n_out);

/* A schedule of the given faults (copied, then sorted by start), as
 * explore_schedule_draw makes one: what `simrun shrink` runs after
 * changing a drawn schedule. 0 or -ENOMEM. */
int explore_schedule_from_faults(const struct scenario *sc, uint32_t enabled,
                                 const struct explore_fault *faults, size_t n,
                                 struct explore_schedule *out);

/* Longest timeline entry text. */
#define EXPLORE_ENTRY_TEXT_MAX 512

/* One timeline entry of a schedule as a flow mapping the loader reads
 * back ("{at: 5000000us, crash: web-1}"), cut at cap. */
void explore_schedule_entry_text(const struct scenario *sc, const struct scenario_event *e,
                                 char *out, size_t cap);
/* The same, whole (a set-policy entry holds a whole policy): malloc'd, or
 * NULL when out of memory. */
char *explore_schedule_entry_dup(const struct scenario *sc, const struct scenario_event *e);

/* Writes the schedule as a scenario's `timeline:` section (times in us).
 * Returns 0 or -EIO. */
int explore_schedule_write_yaml(const struct scenario *sc, const struct explore_schedule *s,
                                FILE *out);

#endif
