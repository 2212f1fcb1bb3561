/* Inside simrun's explore subcommands: one trial (a scenario under a fault
 * schedule, run in its own process: ns-3's simulator is one per process,
 * and a crash or hang of one seed must not take the sweep with it), and
 * the sweep's reports. */
#ifndef SIM_EXPLORE_EXPLORE_INT_H
#define SIM_EXPLORE_EXPLORE_INT_H

#include "sim/explore/explore_schedule.h"
#include "sim/scenario/scenario.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define EXPLORE_SEEDS_MAX     100000 /* seeds in one sweep (explore.json stays in memory) */
#define EXPLORE_JOBS_MAX      256
#define EXPLORE_SHARDS_MAX    100000
#define EXPLORE_TIMEOUT_S_DEF 600 /* wall seconds a trial may take before it is killed */
#define EXPLORE_PATH_MAX      4096
#define EXPLORE_JSON_MAX      (256u << 20) /* an explore.json read back (merge) */

/* Which outputs of a finished trial stay on disk. */
enum explore_keep {
	EXPLORE_KEEP_FAILED = 0,
	EXPLORE_KEEP_ALL,
	EXPLORE_KEEP_NONE,
};

/* One trial: sc (its timeline the scenario's own) under schedule `s`, with
 * the world's seed `seed`, its outputs under `dir` (made; the trial's
 * result.json, simrun.log, reports/ and pcaps/). */
struct explore_trial {
	const char *scenario_path;
	struct scenario *sc;
	const struct explore_schedule *schedule;
	uint64_t seed;
	char dir[EXPLORE_PATH_MAX];
	const char *pcap;
	uint32_t timeout_s;
	uint32_t invariants; /* mask of invariant ids to check */
	bool plots;
	/* Set by explore_trial_start. */
	pid_t pid;
	double started_wall_s;
};

/* Forks the trial's process; 0 or -errno. */
int explore_trial_start(struct explore_trial *t);
/* The trial's result once its process ended with `wait_status`: the
 * object the process wrote (seed, status "pass" | "fail" | "error", kinds,
 * faults, checked, broken, violations, expectations, error, simulated_s,
 * requests, wall_s), or one saying how the process died. NULL: no memory. */
cJSON *explore_trial_result(const struct explore_trial *t, int wait_status);
/* Starts the trial and waits for it (shrink runs one at a time). */
cJSON *explore_trial_run(struct explore_trial *t);

/* `rm -rf dir`; 0 or -errno. */
int explore_remove_tree(const char *dir);
/* mkdir -p; 0 or -errno. */
int explore_mkdirs(const char *dir);

/* The sweep's description, for explore.json's head. */
struct explore_sweep_info {
	const char *scenario, *file;
	uint64_t scenario_hash; /* of the file's bytes: shards must agree */
	uint64_t seed_first, seed_last;
	uint32_t shard_k, shard_n; /* 0/0: unsharded */
	uint32_t jobs;
	double wall_s;
	const char *self; /* replay commands */
};

/* Writes DIR/explore.json (the info, `runs` sorted by seed, a summary),
 * DIR/summary.md and DIR/index.html (failures first, a fault-kind coverage
 * table, invariants). `runs` is an array of trial results (taken). 0 or
 * -errno, with each unwritable file named on stderr. */
int explore_report_write(const char *dir, const struct explore_sweep_info *info, cJSON *runs,
                         cJSON *shards);

/* Reads a whole file of at most `max` bytes; NULL with errno set. */
char *explore_read_file(const char *path, size_t max, size_t *len);

/* --pcap and --timeout as explore and shrink take them: 0, or -1 with
 * why. */
int explore_opt_pcap(const char *arg, const char **out, char *why, size_t cap);
int explore_opt_timeout(const char *arg, uint32_t *out, char *why, size_t cap);
struct option;
/* "simrun CMD: bad --NAME 'ARG': WHY" on stderr, NAME found by c. */
void explore_opt_bad(const char *cmd, const struct option *longopts, int c, const char *arg,
                     const char *why);

/* "a,b,c" of invariant names (invariant.h) into a mask; 0, or -1 with why. */
int explore_parse_invariants(const char *text, uint32_t *mask, char *why, size_t cap);

/* The kinds a schedule enables, as their names. */
cJSON *explore_kinds_json(uint32_t enabled);

#endif
