/* The perf result file, the thresholds and the compare (SPEC PRF-1,
 * PRF-2): results round-trip and refuse bad input, the rank test matches
 * known values, and each class gets the verdict its rule says, in text,
 * Markdown and HTML. */
#define _GNU_SOURCE
#include "reports/perf_compare.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp_path(const char *name)
{
	static char dir[64];
	char *path;
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/test_perf.XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static const char thresholds_text[] =
    "{\"alpha\": 0.05, \"rules\": ["
    "{\"match\": \"*.success_rate\", \"absolute\": 0.001},"
    "{\"match\": \"*.latency_p50_ms\", \"relative\": \"2%\", \"absolute\": 0.05},"
    "{\"class\": \"counted\", \"relative\": \"3%\", \"noise\": \"0.01%\"},"
    "{\"class\": \"timed\", \"relative\": \"10%\"}]}";

static void thresholds(struct perf_thresholds *t)
{
	char *path = tmp_path("thresholds.json"), err[256];
	write_text(path, thresholds_text);
	cr_assert_eq(perf_thresholds_read(path, t, err, sizeof(err)), 0, "%s", err);
	free(path);
}

static void add(struct perf_result *r, const char *name, enum perf_direction d, enum perf_class c,
                const double *v, size_t n)
{
	cr_assert_eq(perf_result_add(r, name, "ms", d, c, v, n), 0, "%s", name);
}

Test(perf_result, prf_1_result_round_trips_with_environment_classes_and_samples)
{
	struct perf_result r, back;
	char *path = tmp_path("r.json"), err[256];
	double one = 12.5, five[] = {1.0, 1.2, 0.9, 1.1, 1.05};

	cr_assert_eq(perf_result_init(&r), 0);
	snprintf(r.env.commit, sizeof(r.env.commit), "0123456789abcdef");
	snprintf(r.env.suite, sizeof(r.env.suite), "quick");
	snprintf(r.env.ns3, sizeof(r.env.ns3), "3.37");
	r.env.cores = 2;
	add(&r, "quickstart.office.latency_p50_ms", PERF_LOWER, PERF_EXACT, &one, 1);
	add(&r, "timed.rr-1k.wall_ratio", PERF_LOWER, PERF_TIMED, five, 5);
	cr_assert_eq(perf_result_write(&r, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(perf_result_read(path, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(back.env.commit, "0123456789abcdef");
	cr_assert_str_eq(back.env.suite, "quick");
	cr_assert_eq(back.env.cores, 2);
	cr_assert_eq(back.n, 2);
	const struct perf_metric *t = perf_result_find(&back, "timed.rr-1k.wall_ratio");
	cr_assert_not_null(t);
	cr_assert_eq(t->cls, PERF_TIMED);
	cr_assert_eq(t->n_samples, 5);
	cr_assert_float_eq(t->value, 1.05, 1e-12, "the value is the samples' median");
	cr_assert_float_eq(t->samples[4], 1.05, 1e-12);
	perf_result_free(&r);
	perf_result_free(&back);
	free(path);
}

Test(perf_result, prf_1_bad_names_samples_and_files_are_refused_with_the_reason)
{
	struct perf_result r;
	double v = 1, inf = INFINITY;
	char err[256];

	cr_assert_eq(perf_result_init(&r), 0);
	cr_assert_eq(perf_result_add(&r, "Upper.case", "ms", PERF_LOWER, PERF_EXACT, &v, 1),
	             -EINVAL);
	cr_assert_eq(perf_result_add(&r, "a b", "ms", PERF_LOWER, PERF_EXACT, &v, 1), -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "ms", PERF_LOWER, PERF_EXACT, &inf, 1), -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "ms", PERF_LOWER, PERF_EXACT, &v, 0), -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "ms", PERF_LOWER, PERF_EXACT, &v, 1), 0);
	cr_assert_eq(perf_result_add(&r, "x", "ms", PERF_LOWER, PERF_EXACT, &v, 1), -EEXIST);
	perf_result_free(&r);

	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"[]", "not a perf result"},
	    {"{\"environment\": {}, \"metrics\": [{\"name\": \"x\"}]}", "metric 0 needs name"},
	    {"{\"environment\": {}, \"metrics\": [{\"name\": \"x\", \"unit\": \"ms\", "
	     "\"direction\": \"sideways\", \"class\": \"exact\", \"samples\": [1]}]}",
	     "direction (lower or higher)"},
	    {"{\"environment\": {}, \"metrics\": [{\"name\": \"x\", \"unit\": \"ms\", "
	     "\"direction\": \"lower\", \"class\": \"exact\", \"samples\": [\"1\"]}]}",
	     "samples must be at most 64 numbers"},
	    {"{\"environment\": {}, \"metrics\": [{\"name\": \"x\", \"unit\": \"ms\", "
	     "\"direction\": \"lower\", \"class\": \"exact\", \"samples\": [1]}, {\"name\": "
	     "\"x\", \"unit\": \"ms\", \"direction\": \"lower\", \"class\": \"exact\", "
	     "\"samples\": [2]}]}",
	     "metric x given twice"},
	};
	char *path = tmp_path("bad.json");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i].text);
		cr_assert_eq(perf_result_read(path, &r, err, sizeof(err)), -EINVAL, "%s",
		             bad[i].text);
		cr_assert(strstr(err, bad[i].why), "%s: got '%s'", bad[i].why, err);
		cr_assert_null(r.metrics, "a failed read leaves the result empty");
	}
	cr_assert_neq(perf_result_read("/nonexistent/r.json", &r, err, sizeof(err)), 0);
	cr_assert(strstr(err, "No such file"), "%s", err);
	free(path);
}

Test(perf_result, prf_1_oversized_result_is_refused_before_parsing)
{
	struct perf_result r;
	char *path = tmp_path("big.json"), err[256];
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), PERF_RESULT_MAX_SIZE + 1), 0);
	fclose(f);
	cr_assert_eq(perf_result_read(path, &r, err, sizeof(err)), -EFBIG);
	cr_assert(strstr(err, "larger than"), "%s", err);
	free(path);
}

Test(perf_compare, prf_2_mann_whitney_p_matches_the_exact_distribution)
{
	double a[] = {1, 2, 3, 4, 5}, b[] = {6, 7, 8, 9, 10}, c[] = {1.5, 2.5, 3.5, 4.5, 5.5};
	/* complete separation of 5 and 5: 2 of C(10,5) = 252 orderings */
	cr_assert_float_eq(perf_mann_whitney_p(a, 5, b, 5), 2.0 / 252, 1e-12);
	cr_assert_float_eq(perf_mann_whitney_p(b, 5, a, 5), 2.0 / 252, 1e-12);
	/* interleaved: far from significant */
	cr_assert_gt(perf_mann_whitney_p(a, 5, c, 5), 0.5);
	/* three against three can never reach p < 0.1 */
	cr_assert_float_eq(perf_mann_whitney_p(a, 3, b, 3), 0.1, 1e-12);
	cr_assert_float_eq(perf_mann_whitney_p(a, 1, b, 5), 1.0, 0, "one sample: no test");
	/* ties may go either way: {2,2,2,2,2} against {1,1,1,1,2} is never
	 * more significant than with the tie against it (U 20 of 25) */
	double twos[] = {2, 2, 2, 2, 2}, ones[] = {1, 1, 1, 1, 2};
	double p_tied = perf_mann_whitney_p(twos, 5, ones, 5);
	double fours[] = {2, 2, 2, 2, 2}, below[] = {1, 1, 1, 1, 3};
	cr_assert_geq(p_tied, perf_mann_whitney_p(fours, 5, below, 5) - 1e-12);
	cr_assert_gt(p_tied, 2.0 / 252 * 2, "not the separation's p");
	/* 40 against 40, separated: 2 / C(80, 40), positive and tiny */
	double lo[40], hi[40];
	for (int i = 0; i < 40; i++)
		lo[i] = i, hi[i] = 100 + i;
	double p40 = perf_mann_whitney_p(lo, 40, hi, 40);
	cr_assert_gt(p40, 0);
	cr_assert_lt(p40, 1e-20);
	cr_assert_float_eq(p40 * 1.075e23, 2, 0.01, "2 / C(80, 40) = 1.86e-23");
}

struct pair {
	struct perf_result base, cur;
	struct perf_thresholds t;
	struct perf_comparison c;
};

static void pair_init(struct pair *p)
{
	cr_assert_eq(perf_result_init(&p->base), 0);
	cr_assert_eq(perf_result_init(&p->cur), 0);
	thresholds(&p->t);
}

/* The same metric on both sides, the baseline's samples b, the current c. */
static void both(struct pair *p, const char *name, enum perf_direction d, enum perf_class c,
                 const double *b, size_t nb, const double *cv, size_t nc)
{
	add(&p->base, name, d, c, b, nb);
	add(&p->cur, name, d, c, cv, nc);
}

static void pair_compare(struct pair *p)
{
	cr_assert_eq(perf_compare(&p->base, &p->cur, &p->t, &p->c), 0);
}

static void pair_free(struct pair *p)
{
	perf_comparison_free(&p->c);
	perf_result_free(&p->base);
	perf_result_free(&p->cur);
}

static enum perf_verdict verdict_of(const struct perf_comparison *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct perf_metric *m = c->rows[i].base ? c->rows[i].base : c->rows[i].cur;
		if (!strcmp(m->name, name))
			return c->rows[i].verdict;
	}
	cr_assert_fail("no row %s", name);
	return PERF_SAME;
}

Test(perf_compare, prf_2_exact_metrics_report_every_change_and_fail_beyond_the_threshold)
{
	struct pair p;
	pair_init(&p);
	double b1 = 10, c1 = 10, b2 = 10, c2 = 10.1, b3 = 10, c3 = 10.5, b4 = 10, c4 = 9, b5 = 1,
	       c5 = 0.9995, b6 = 1, c6 = 0.99, b7 = 3;
	both(&p, "s.w.latency_p50_ms", PERF_LOWER, PERF_EXACT, &b1, 1, &c1, 1);
	both(&p, "s.x.latency_p50_ms", PERF_LOWER, PERF_EXACT, &b2, 1, &c2, 1);
	both(&p, "s.y.latency_p50_ms", PERF_LOWER, PERF_EXACT, &b3, 1, &c3, 1);
	both(&p, "s.z.latency_p50_ms", PERF_LOWER, PERF_EXACT, &b4, 1, &c4, 1);
	both(&p, "s.w.success_rate", PERF_HIGHER, PERF_EXACT, &b5, 1, &c5, 1);
	both(&p, "s.x.success_rate", PERF_HIGHER, PERF_EXACT, &b6, 1, &c6, 1);
	add(&p.base, "s.gone_ms", PERF_LOWER, PERF_EXACT, &b7, 1);
	add(&p.cur, "s.new_ms", PERF_LOWER, PERF_EXACT, &b7, 1);
	pair_compare(&p);
	cr_assert_eq(verdict_of(&p.c, "s.w.latency_p50_ms"), PERF_SAME);
	cr_assert_eq(verdict_of(&p.c, "s.x.latency_p50_ms"), PERF_CHANGED, "1 %% is within 2 %%");
	cr_assert_eq(verdict_of(&p.c, "s.y.latency_p50_ms"), PERF_REGRESSION);
	cr_assert_eq(verdict_of(&p.c, "s.z.latency_p50_ms"), PERF_BETTER);
	cr_assert_eq(verdict_of(&p.c, "s.w.success_rate"), PERF_CHANGED, "0.05 %% of 0.1 %%");
	cr_assert_eq(verdict_of(&p.c, "s.x.success_rate"), PERF_REGRESSION);
	cr_assert_eq(verdict_of(&p.c, "s.gone_ms"), PERF_MISSING);
	cr_assert_eq(verdict_of(&p.c, "s.new_ms"), PERF_NEW);
	cr_assert_eq(p.c.regressions, 3, "two regressions and a missing metric");

	/* the three forms name the regressed metric */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_eq(perf_comparison_text(&p.c, f), 0);
	cr_assert_eq(perf_comparison_markdown(&p.c, f), 0);
	cr_assert_eq(perf_comparison_html(&p.c, NULL, f), 0);
	fclose(f);
	cr_assert(strstr(buf, "s.y.latency_p50_ms                                       exact"),
	          "%s", buf);
	cr_assert(strstr(buf, "| s.y.latency_p50_ms | exact | 10 ms | 10.5 | +5.00% | "
	                      "**REGRESSION** |"),
	          "%s", buf);
	cr_assert(strstr(buf, "<tr class=\"bad\"><td>s.y.latency_p50_ms</td>"), "%s", buf);
	cr_assert(strstr(buf, "**Performance: regression**"));
	cr_assert_null(strstr(buf, "s.w.latency_p50_ms"), "identical rows are only counted");
	free(buf);
	pair_free(&p);
}

Test(perf_compare, prf_2_timed_changes_count_only_when_significant_and_beyond_the_threshold)
{
	struct pair p;
	pair_init(&p);
	double base[] = {1.00, 1.02, 0.98, 1.01, 0.99};
	double slower[] = {1.30, 1.28, 1.32, 1.31, 1.29};     /* +30 %, separated */
	double noisy[] = {1.25, 0.95, 1.22, 1.20, 0.97};      /* +20 %, overlaps */
	double slightly[] = {1.04, 1.05, 1.045, 1.06, 1.055}; /* separated, +4.5 % */
	both(&p, "timed.a", PERF_LOWER, PERF_TIMED, base, 5, slower, 5);
	both(&p, "timed.b", PERF_LOWER, PERF_TIMED, base, 5, noisy, 5);
	both(&p, "timed.c", PERF_LOWER, PERF_TIMED, base, 5, slightly, 5);
	both(&p, "timed.d", PERF_LOWER, PERF_TIMED, base, 5, base, 5);
	pair_compare(&p);
	cr_assert_eq(verdict_of(&p.c, "timed.a"), PERF_REGRESSION);
	cr_assert_eq(verdict_of(&p.c, "timed.b"), PERF_NOISE, "not significant");
	cr_assert_eq(verdict_of(&p.c, "timed.c"), PERF_NOISE, "significant, within 10 %%");
	cr_assert_eq(verdict_of(&p.c, "timed.d"), PERF_NOISE, "a rerun of the same samples");
	cr_assert_eq(p.c.regressions, 1);
	pair_free(&p);
}

Test(perf_compare, prf_2_counted_metrics_fail_beyond_their_percent_and_jitter_is_noise)
{
	struct pair p;
	pair_init(&p);
	double b = 1e9, within = 1.02e9, beyond = 1.05e9, jitter = 1e9 + 50;
	both(&p, "counted.a.instructions", PERF_LOWER, PERF_COUNTED, &b, 1, &within, 1);
	both(&p, "counted.b.instructions", PERF_LOWER, PERF_COUNTED, &b, 1, &beyond, 1);
	both(&p, "counted.c.instructions", PERF_LOWER, PERF_COUNTED, &b, 1, &jitter, 1);
	pair_compare(&p);
	cr_assert_eq(verdict_of(&p.c, "counted.a.instructions"), PERF_CHANGED);
	cr_assert_eq(verdict_of(&p.c, "counted.b.instructions"), PERF_REGRESSION);
	cr_assert_eq(verdict_of(&p.c, "counted.c.instructions"), PERF_NOISE, "50 in a billion");
	pair_free(&p);
}

Test(perf_compare, prf_2_bad_thresholds_files_name_the_rule)
{
	struct perf_thresholds *t = malloc(sizeof(*t));
	char *path = tmp_path("bad-thresholds.json"), err[256];
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"{}", "expected an object with a rules array"},
	    {"{\"alpha\": 2, \"rules\": []}", "alpha must be a number in (0, 1)"},
	    {"{\"rules\": [{\"class\": \"fast\"}]}", "rule 0: expected"},
	    {"{\"rules\": [{\"relative\": \"5 percent\"}]}", "rule 0: expected"},
	    {"{\"rules\": [{}, {\"absolute\": -1}]}", "rule 1: expected"},
	    {"{\"rules\": [{\"noise\": \"x\"}]}", "rule 0: expected"},
	    {"{\"rules\": [{\"clas\": \"timed\", \"relative\": \"1000%\"}]}",
	     "rule 0: unknown key 'clas'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i].text);
		cr_assert_eq(perf_thresholds_read(path, t, err, sizeof(err)), -EINVAL);
		cr_assert(strstr(err, bad[i].why), "%s: got '%s'", bad[i].why, err);
	}
	free(path);
	free(t);
}

Test(perf_compare, prf_2_a_changed_class_unit_or_direction_fails_as_a_mismatch)
{
	struct pair p;
	pair_init(&p);
	double ten = 10, fifty = 50, five[] = {50, 51, 49, 50, 52}, small = 0.05;
	add(&p.base, "s.a_ms", PERF_LOWER, PERF_EXACT, &ten, 1);
	add(&p.cur, "s.a_ms", PERF_LOWER, PERF_TIMED, five, 5);
	add(&p.base, "s.b_ms", PERF_LOWER, PERF_EXACT, &ten, 1);
	cr_assert_eq(perf_result_add(&p.cur, "s.b_ms", "s", PERF_LOWER, PERF_EXACT, &small, 1), 0);
	add(&p.base, "s.c_ms", PERF_LOWER, PERF_EXACT, &ten, 1);
	add(&p.cur, "s.c_ms", PERF_HIGHER, PERF_EXACT, &fifty, 1);
	pair_compare(&p);
	cr_assert_eq(verdict_of(&p.c, "s.a_ms"), PERF_MISMATCH, "exact became timed");
	cr_assert_eq(verdict_of(&p.c, "s.b_ms"), PERF_MISMATCH, "ms became s");
	cr_assert_eq(verdict_of(&p.c, "s.c_ms"), PERF_MISMATCH, "lower became higher");
	cr_assert_eq(p.c.regressions, 3);
	pair_free(&p);
}

Test(perf_compare, prf_2_timed_samples_too_few_to_ever_decide_fail)
{
	struct pair p;
	pair_init(&p);
	double base[] = {1, 1.01, 0.99}, doubled[] = {2, 2.01, 1.99};
	both(&p, "timed.x", PERF_LOWER, PERF_TIMED, base, 3, doubled, 3);
	pair_compare(&p);
	cr_assert_eq(verdict_of(&p.c, "timed.x"), PERF_TOO_FEW,
	             "3 against 3 can never reach p < 0.05: not noise");
	cr_assert_eq(p.c.regressions, 1);
	pair_free(&p);
}

Test(perf_result, prf_1_units_commits_and_empty_results_that_could_mislead_are_refused)
{
	struct perf_result r;
	double v = 1;
	char err[256], *path = tmp_path("units.json");

	cr_assert_eq(perf_result_init(&r), 0);
	/* units land in gnuplot scripts, HTML and Markdown */
	cr_assert_eq(perf_result_add(&r, "x", "';system('x')#", PERF_LOWER, PERF_EXACT, &v, 1),
	             -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "<img>", PERF_LOWER, PERF_EXACT, &v, 1), -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "ms|x", PERF_LOWER, PERF_EXACT, &v, 1), -EINVAL);
	cr_assert_eq(perf_result_add(&r, "x", "events/s", PERF_LOWER, PERF_EXACT, &v, 1), 0);
	perf_result_free(&r);
	static const struct {
		const char *text, *why;
	} bad[] = {
	    {"{\"environment\": {}, \"metrics\": []}", "no metrics"},
	    {"{\"environment\": {\"commit\": \"x y z\"}, \"metrics\": [{\"name\": \"x\", "
	     "\"unit\": \"ms\", \"direction\": \"lower\", \"class\": \"exact\", "
	     "\"samples\": [1]}]}",
	     "environment.commit must be a git hash"},
	    {"{\"environment\": {}, \"metrics\": [", "not JSON (at byte"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i].text);
		cr_assert_eq(perf_result_read(path, &r, err, sizeof(err)), -EINVAL, "%s",
		             bad[i].text);
		cr_assert(strstr(err, bad[i].why), "%s: got '%s'", bad[i].why, err);
	}
	free(path);
}
