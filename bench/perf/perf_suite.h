/* The perf suite (SPEC PRF-1): which runs yield which metrics, and running
 * them; and bisecting one metric's regression (PRF-4).
 *
 * Exact: scenarios run by simrun, their metrics read by perf_exact.c.
 * Counted: instructions of a run under valgrind (cachegrind without its
 *   cache simulation), every process of it summed: "counted.NAME.instructions".
 * Timed (full suite only), each sample a ratio within one repetition, `reps`
 *   repetitions: simrun against plain ns-3 (bench_rr_plain) on the same
 *   1,000-host workload, alternating: "timed.rr-1k.wall_ratio", ".cpu_ratio",
 *   ".rss_ratio" (simrun / plain ns-3, lower is better); svcd against HAProxy
 *   on real sockets (bench/run-proxy-vs-haproxy.sh, root): "timed.proxy.*"
 *   (requests/s, p99, new connections/s and their p99, stream Gbit/s).
 * The quick suite (the CI gate) is the exact runs marked quick and one
 * counted run; it takes a few minutes. */
#ifndef BENCH_PERF_PERF_SUITE_H
#define BENCH_PERF_PERF_SUITE_H

#include "bench/perf/perf_exact.h"
#include "bench/perf/perf_proc.h"

#include <stdbool.h>
#include <stdio.h>

struct perf_suite_opts {
	const char *repo;  /* the source tree: scenarios/, bench/ */
	const char *build; /* holds simrun and bench_rr_plain */
	bool quick;
	unsigned reps;    /* timed repetitions */
	FILE *log;        /* one progress line per run */
	const char *only; /* NULL, or the one metric wanted (bisect): only its run */
};

/* Runs the suite into r (its environment already filled). 0, or -errno
 * with a message in err: a run that failed or a figure that could not be
 * read (never a silent gap). */
int perf_suite_run(const struct perf_suite_opts *o, struct perf_result *r, char *err,
                   size_t err_len);

/* Whether the suite has a run that yields metric `name`. */
bool perf_suite_knows(const char *name);

/* perfrun bisect / bisect-step (perf_bisect.c): exit statuses as perfrun's. */
int perf_bisect_main(const char *repo, int argc, char **argv);
int perf_bisect_step_main(const char *repo, int argc, char **argv);

#endif
