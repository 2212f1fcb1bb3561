/* One scenario run, as `simrun scenario.yaml` does it and as each seed of
 * `simrun explore` and each trial of `simrun shrink` does it: the world
 * built, run to its end and freed, then the pcaps checked, the reports
 * written and the expectations judged. */
#ifndef SIM_SIMRUN_RUN_H
#define SIM_SIMRUN_RUN_H

#include "sim/scenario/scenario.h"
#include "sim/world.h"

#include <stdbool.h>
#include <stdint.h>

#define SIMRUN_EXIT_OK      0
#define SIMRUN_EXIT_FAILED  1
#define SIMRUN_EXIT_INVALID 2

/* What a finished run tells its caller besides the exit status. */
struct simrun_outcome {
	bool ran;         /* the world ran to its end (no run error) */
	char error[2048]; /* why not, when !ran: the run error (EXP-6 and others) */
	size_t n_expects, n_failed;
	char first_failed[512]; /* the first failed expectation: "line: text: message" */
	uint64_t ns3_events, requests;
	double simulated_s, wall_s;
	char events_path[WORLD_PATH_MAX], report_dir[WORLD_PATH_MAX], pcap_dir[WORLD_PATH_MAX];
};

struct simrun_args {
	const char *scenario; /* the file's path: messages, and the folder set-policy paths use */
	const char *out_dir;
	const char *pcap;
	uint64_t seed;
	bool has_seed;
	uint64_t duration_us; /* --duration: 0, or the scenario cut to it (scenario_clip) */
	bool quiet;
	bool check;
	bool keep_state;
	bool no_plots;                  /* report without the plots (explore's seeds: speed) */
	struct simrun_outcome *outcome; /* filled when not NULL */
};

/* Runs sc (loaded from a->scenario) and writes its outputs. Returns the
 * exit status: 0 every expectation holds, 1 one failed (each printed), 2
 * a failed run or an output that could not be written. */
int simrun_run(const struct simrun_args *a, const struct scenario *sc);

/* The folder of a scenario file (set-policy paths are relative to it). */
void simrun_dirname(const char *path, char *out, size_t cap);

double simrun_wall_s(void);

#endif
