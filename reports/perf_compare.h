/* Comparing two perf results (SPEC PRF-2) and charting many (PRF-3).
 *
 * Verdicts, per metric present in the baseline:
 *   exact    "same" when equal; otherwise a change in the worse direction
 *            beyond the metric's threshold is a "REGRESSION", any other
 *            change "better" or "changed" (reported, never silent);
 *   counted  the same rule (a threshold in percent);
 *   timed    a change counts only when the two sample sets differ
 *            significantly (two-sided Mann-Whitney U, exact distribution,
 *            p < alpha) and beyond the threshold; otherwise "noise".
 * A metric the baseline has and the current result lacks is "MISSING" and
 * fails like a regression (a benchmark that cannot read what it measures
 * must not pass); one only the current has is "new". A metric whose class,
 * unit or direction changed is a "MISMATCH", and timed samples too few for
 * the rank test ever to reach alpha (4 against 4 at least for 0.05) are
 * "TOO-FEW": both fail.
 *
 * Thresholds come from one JSON file (bench/perf/thresholds.json):
 *   {"alpha": 0.05,
 *    "rules": [{"match": "*.success_rate", "absolute": 0.001},
 *              {"class": "timed", "relative": 0.10}, ...]}
 * The first rule whose glob `match` (fnmatch) and `class` both fit (either
 * may be left out) gives the metric's threshold: a worse change must
 * exceed `relative` times the baseline (when given) and `absolute` (when
 * given). `noise` (relative, for counted metrics: valgrind's counts move
 * by a few instructions in a billion) labels a change that small, either
 * way, as noise. A metric no rule fits has threshold 0: any worse change
 * fails. */
#ifndef REPORTS_PERF_COMPARE_H
#define REPORTS_PERF_COMPARE_H

#include "reports/perf_result.h"

#include <stdio.h>

#define PERF_RULES_MAX 256

struct perf_rule {
	char match[PERF_NAME_MAX + 1]; /* "" matches every name */
	int cls;                       /* -1: every class */
	double relative, absolute;     /* < 0: not given */
	double noise;                  /* relative; a change this small is noise (< 0: none) */
};

struct perf_thresholds {
	double alpha;
	size_t n;
	struct perf_rule rules[PERF_RULES_MAX];
};

/* Reads the thresholds file: 0 or -errno with "path: what is wrong". */
int perf_thresholds_read(const char *path, struct perf_thresholds *t, char *err, size_t err_len);

enum perf_verdict {
	PERF_SAME = 0,
	PERF_BETTER,
	PERF_CHANGED, /* worse, within the threshold */
	PERF_NOISE,
	PERF_NEW,
	/* the failing ones, from here on */
	PERF_REGRESSION,
	PERF_MISSING,
	PERF_MISMATCH, /* class, unit or direction differ: not the same figure */
	PERF_TOO_FEW,  /* timed, too few samples for the test ever to decide */
};

struct perf_row {
	const struct perf_metric *base, *cur; /* either may be NULL */
	double change;                        /* (cur - base) / |base|; absolute when base is 0 */
	double p_value;                       /* timed: the rank test's; otherwise NAN */
	double limit_rel, limit_abs;          /* the threshold applied (< 0: none) */
	enum perf_verdict verdict;
};

struct perf_comparison {
	const struct perf_result *base, *cur;
	size_t n;
	struct perf_row *rows; /* base's metrics in order, then the new ones */
	size_t regressions;    /* failing rows: REGRESSION, MISSING, MISMATCH, TOO-FEW */
	size_t changes;        /* rows that are not SAME or NOISE */
};

/* Compares cur against base. 0 or -ENOMEM. */
int perf_compare(const struct perf_result *base, const struct perf_result *cur,
                 const struct perf_thresholds *t, struct perf_comparison *out);
void perf_comparison_free(struct perf_comparison *c);

const char *perf_verdict_name(enum perf_verdict v);

/* Two-sided p-value of the Mann-Whitney U test for samples x (n) and y
 * (m), from the exact distribution of U; a tie may go either way, so the
 * larger p of the two is given. 1 when either set has fewer than 2. */
double perf_mann_whitney_p(const double *x, size_t n, const double *y, size_t m);

/* The table: text (aligned columns), Markdown (a review comment) and a
 * self-contained HTML page. `charts` (NULL: none) is a folder of history
 * charts named METRIC.svg (perf_history_write); the changed metrics'
 * charts are inlined into the page. Each returns 0 or -EIO. */
int perf_comparison_text(const struct perf_comparison *c, FILE *out);
int perf_comparison_markdown(const struct perf_comparison *c, FILE *out);
int perf_comparison_html(const struct perf_comparison *c, const char *charts, FILE *out);

/* History (PRF-3): for results in commit order (oldest first), a chart
 * per metric over them, METRIC.png and METRIC.svg in out_dir, drawn by
 * gnuplot (`gnuplot`: the binary; NULL: found on PATH), and index.html
 * with every SVG inlined. 0 or -errno with a message in err. */
int perf_history_write(const struct perf_result *results, size_t n, const char *out_dir,
                       const char *gnuplot, char *err, size_t err_len);

#endif
