/* A performance suite's result (SPEC PRF-1): the commit, the environment,
 * and per metric its value, unit, direction, class and samples; read and
 * written as one JSON file. The compare of two results (PRF-2) and the
 * history charts over many (PRF-3) are in perf_compare.h.
 *
 * Classes:
 *   exact    an in-simulation figure, deterministic for a seed: any change
 *            is real (one sample);
 *   counted  the harness's own cost in instructions (valgrind), stable to
 *            well under 1 % (one sample or a few);
 *   timed    a wall-clock figure as a ratio to an anchor measured in the
 *            same run, repeated: the value is the median of the samples. */
#ifndef REPORTS_PERF_RESULT_H
#define REPORTS_PERF_RESULT_H

#include <stdbool.h>
#include <stddef.h>

/* Limits, checked before the work they bound. */
#define PERF_METRICS_MAX     2048
#define PERF_SAMPLES_MAX     64
#define PERF_NAME_MAX        160 /* "failover-crash.browse.latency_p99_ms" */
#define PERF_UNIT_MAX        15
#define PERF_ENV_TEXT_MAX    255
#define PERF_RESULT_MAX_SIZE (16u << 20) /* bytes of one result file */

enum perf_class { PERF_EXACT = 0, PERF_COUNTED, PERF_TIMED };
enum perf_direction { PERF_LOWER = 0, PERF_HIGHER }; /* which is better */

struct perf_metric {
	char name[PERF_NAME_MAX + 1]; /* [a-z0-9._:-]+ */
	char unit[PERF_UNIT_MAX + 1]; /* "ms", "fraction", "instructions", "ratio" */
	enum perf_direction direction;
	enum perf_class cls;
	double value;
	size_t n_samples;
	double samples[PERF_SAMPLES_MAX];
};

/* Where a result was measured: enough to tell two machines or two builds
 * apart. Unknown fields are "". */
struct perf_env {
	char commit[64]; /* full hash; "+dirty" appended for a changed tree */
	char commit_time[32];
	char date[32]; /* when the suite ran, UTC, ISO 8601 */
	char cpu[PERF_ENV_TEXT_MAX + 1];
	int cores;
	char kernel[PERF_ENV_TEXT_MAX + 1];
	char compiler[PERF_ENV_TEXT_MAX + 1];
	char cflags[PERF_ENV_TEXT_MAX + 1];
	char build_type[32];
	char ns3[32];
	char suite[16]; /* "quick" or "full" */
};

struct perf_result {
	struct perf_env env;
	size_t n;
	struct perf_metric *metrics; /* PERF_METRICS_MAX entries, malloc'd */
};

/* An empty result (0, or -ENOMEM). */
int perf_result_init(struct perf_result *r);
void perf_result_free(struct perf_result *r);

/* Adds a metric with its samples; the value is the median of the samples.
 * -EINVAL for a bad name, unit, no sample, too many or a non-finite one;
 * -EEXIST for a name already there; -E2BIG past PERF_METRICS_MAX. */
int perf_result_add(struct perf_result *r, const char *name, const char *unit,
                    enum perf_direction direction, enum perf_class cls, const double *samples,
                    size_t n_samples);

/* The metric named `name`, or NULL. */
const struct perf_metric *perf_result_find(const struct perf_result *r, const char *name);

/* Writes r as JSON to path (atomically: a temporary file renamed). 0 or
 * -errno with a message in err. */
int perf_result_write(const struct perf_result *r, const char *path, char *err, size_t err_len);

/* Reads a result written by perf_result_write, checking every field: 0, or
 * -errno with "path: what is wrong" in err (r is then empty). */
int perf_result_read(const char *path, struct perf_result *r, char *err, size_t err_len);

const char *perf_class_name(enum perf_class c);
const char *perf_direction_name(enum perf_direction d);

/* The median of n values (n > 0; the mean of the middle two for even n). */
double perf_median(const double *v, size_t n);

/* The nearest-rank percentile (the ceil(p*n)-th smallest, as the reports
 * count) of n > 0 values, sorting v in place; p 1 gives the largest. */
double perf_percentile(double *v, size_t n, double p);

#endif
