/* What perfrun needs of the machine: running a program and measuring it,
 * capturing a command's output, and the environment a result records. */
#ifndef BENCH_PERF_PERF_PROC_H
#define BENCH_PERF_PERF_PROC_H

#include "reports/perf_result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Time limits (seconds) on what perfrun starts: a hung child ends the
 * run with a message instead of hanging it until CI's own limit. */
#define PERF_LIMIT_RUN_S      900   /* one simrun of the suite (seconds to a minute each) */
#define PERF_LIMIT_VALGRIND_S 1800  /* one counted run under valgrind (~30x slower) */
#define PERF_LIMIT_BENCH_S    3600  /* a benchmark script, all its repetitions */
#define PERF_LIMIT_BUILD_S    3600  /* configuring and building simrun from cold */
#define PERF_LIMIT_TOOL_S     300   /* git, cp, rm */
#define PERF_LIMIT_BISECT_S   14400 /* git bisect run: every step's build and run */

/* One finished program. */
struct perf_proc {
	int status;       /* exit status, 128 + signal, or PERF_TIMED_OUT when timed_out */
	double wall_s;    /* from start to exit */
	double cpu_s;     /* user + system, the program and its children */
	uint64_t rss_kib; /* peak resident set (the largest of the program's processes) */
	bool timed_out;   /* killed at its time limit */
};

/* The status of a program killed at its time limit (as timeout(1)). */
#define PERF_TIMED_OUT 124

/* Runs argv (argv[0] looked up on PATH) in cwd (NULL: ours), its standard
 * output and error into the files out and err (NULL: /dev/null; the same
 * path: both into one file), no standard input, in its own process group.
 * After limit_s seconds the group is stopped (SIGTERM, then SIGKILL 5 s
 * later; timed_out). A SIGINT, SIGTERM or SIGHUP to perfrun meanwhile
 * stops the group the same way and is then taken by perfrun as if the
 * child were not there. What the program leaves running when it exits is
 * killed. 0 with *p
 * filled, or -errno when it could not be started. */
int perf_proc_run(char *const argv[], const char *cwd, const char *out, const char *err,
                  unsigned limit_s, struct perf_proc *p);

/* How a finished program ended, for a message: "exited 3", "was killed
 * by signal 9", "timed out after 900 s". */
void perf_proc_how(const struct perf_proc *p, unsigned limit_s, char *out, size_t cap);

/* Runs argv (limit PERF_LIMIT_TOOL_S) and keeps the first cap - 1 bytes
 * of its standard output in buf (trailing newlines cut). 0 when it exited
 * 0, else -1 (buf "" when it could not start). */
int perf_capture(char *const argv[], const char *cwd, char *buf, size_t cap);

/* Fills env: the repository's commit ("+dirty" when tracked files
 * changed) and its time, now, CPU model and cores, kernel, and what the
 * build was configured with (compiler, flags, build type, ns-3). */
void perf_env_fill(struct perf_env *env, const char *repo, const char *suite);

#endif
