/* What perfrun needs of the machine: running a program and measuring it,
 * capturing a command's output, and the environment a result records. */
#ifndef BENCH_PERF_PERF_PROC_H
#define BENCH_PERF_PERF_PROC_H

#include "reports/perf_result.h"

#include <stddef.h>
#include <stdint.h>

#define PERF_ARGV_MAX 64

/* One finished program. */
struct perf_proc {
	int status;       /* exit status, or 128 + signal */
	double wall_s;    /* from start to exit */
	double cpu_s;     /* user + system, the program and its children */
	uint64_t rss_kib; /* peak resident set (the largest of the program's processes) */
};

/* Runs argv (argv[0] looked up on PATH) in cwd (NULL: ours), its standard
 * output and error into the files out and err (NULL: /dev/null; the same
 * path: both into one file), no standard input. 0 with *p filled, or
 * -errno when it could not be started. */
int perf_proc_run(char *const argv[], const char *cwd, const char *out, const char *err,
                  struct perf_proc *p);

/* Runs argv and keeps the first cap - 1 bytes of its standard output in
 * buf (trailing newlines cut). 0 when it exited 0, else -1 (buf "" when
 * it could not start). */
int perf_capture(char *const argv[], const char *cwd, char *buf, size_t cap);

/* Fills env: the repository's commit ("+dirty" when tracked files
 * changed) and its time, now, CPU model and cores, kernel, and what the
 * build was configured with (compiler, flags, build type, ns-3). */
void perf_env_fill(struct perf_env *env, const char *repo, const char *suite);

#endif
