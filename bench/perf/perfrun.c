/* perfrun: the performance regression suite (SPEC PRF-1..PRF-5).
 *
 *   perfrun run [--quick] [--out FILE] [--results DIR | --no-results] [--reps N]
 *               [--only METRIC]
 *   perfrun compare BASE.json CUR.json [--thresholds F] [--markdown F] [--html F]
 *                   [--charts DIR]
 *   perfrun gate [--baseline F] [--markdown F] [--html F]
 *   perfrun baseline [--quick | --full] [--from RESULT.json]
 *   perfrun history [--results DIR] [--out DIR]
 *   perfrun bisect --good REV --bad REV --metric NAME [--keep]
 *   perfrun table RESULT.json
 *
 * The suite (perf_suite.c) runs scenarios with the simrun next to this
 * program and reads their outputs (exact metrics), counts the instructions
 * of a few runs under valgrind (counted), and times simrun against plain
 * ns-3 in alternating repetitions (timed, full suite only). Paths default
 * to the source tree this program was built from. Exit status: 0 fine, 1 a
 * regression (compare, gate, bisect: the bad commit found), 2 bad usage or
 * a suite that could not run. */
#define _GNU_SOURCE
#include "bench/perf/perf_suite.h"

#include "reports/perf_compare.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PERF_SOURCE_DIR
#define PERF_SOURCE_DIR "."
#endif

#define RESULTS_MAX 10000 /* stored results a history reads */

static void usage(void)
{
	fputs(
	    "usage: perfrun run [--quick] [--out FILE] [--results DIR | --no-results] [--reps N]\n"
	    "                   [--only METRIC]\n"
	    "       perfrun compare BASE.json CUR.json [--thresholds F] [--markdown F] "
	    "[--html F] [--charts DIR]\n"
	    "       perfrun gate [--baseline F] [--markdown F] [--html F]\n"
	    "       perfrun baseline [--quick | --full] [--from RESULT.json]\n"
	    "       perfrun history [--results DIR] [--out DIR]\n"
	    "       perfrun bisect --good REV --bad REV --metric NAME [--keep]\n"
	    "Docs: docs/benchmarks.md (\"The perf suite\").\n",
	    stderr);
}

/* Paths every subcommand uses. */
struct paths {
	char repo[PATH_MAX], build[PATH_MAX + 16];
	char thresholds[PATH_MAX + 64], results[PATH_MAX + 64];
};

static void paths_init(struct paths *p)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	snprintf(p->repo, sizeof(p->repo), "%s",
	         getenv("PERF_REPO") ? getenv("PERF_REPO") : PERF_SOURCE_DIR);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(p->build, sizeof(p->build), "%s", self);
	} else {
		snprintf(p->build, sizeof(p->build), "%s/build", p->repo);
	}
	snprintf(p->thresholds, sizeof(p->thresholds), "%s/bench/perf/thresholds.json", p->repo);
	snprintf(p->results, sizeof(p->results), "%s/bench/perf/results", p->repo);
}

/* One option of a command: `--name VALUE` into *value, or a flag into
 * *flag. */
struct opt {
	const char *name;
	const char **value;
	bool *flag;
};

/* Parses argv[2..] by opts (ended by a name NULL); other arguments go into
 * pos (at most n_pos, counted in *got; pos NULL: none taken). 0, or 2
 * after the usage or the missing value is said. */
static int opts_parse(int argc, char **argv, const struct opt *opts, const char **pos, int n_pos,
                      int *got)
{
	for (int i = 2; i < argc; i++) {
		const struct opt *o = opts;
		while (o->name && strcmp(o->name, argv[i]) != 0)
			o++;
		if (o->name && o->flag) {
			*o->flag = true;
		} else if (o->name) {
			if (i + 1 >= argc) {
				fprintf(stderr, "perfrun: %s needs a value\n", argv[i]);
				return 2;
			}
			*o->value = argv[++i];
		} else if (argv[i][0] != '-' && pos && *got < n_pos) {
			pos[(*got)++] = argv[i];
		} else {
			usage();
			return 2;
		}
	}
	return 0;
}

static int write_forms(const struct perf_comparison *c, const char *md, const char *html,
                       const char *charts)
{
	/* the Markdown on standard output replaces the text table there */
	int rc = md && !strcmp(md, "-") ? 0 : perf_comparison_text(c, stdout);
	if (md) {
		FILE *f = strcmp(md, "-") ? fopen(md, "w") : stdout;
		if (!f || perf_comparison_markdown(c, f) || (f != stdout && fclose(f))) {
			fprintf(stderr, "perfrun: %s: cannot write the Markdown table\n", md);
			return -EIO;
		}
	}
	if (html) {
		FILE *f = fopen(html, "w");
		if (!f || perf_comparison_html(c, charts, f) || fclose(f)) {
			fprintf(stderr, "perfrun: %s: cannot write the HTML page\n", html);
			return -EIO;
		}
	}
	return rc;
}

/* Compares two results: 0 none worse, 1 a regression, 2 bad input. */
static int compare_files(const struct paths *p, const char *base_path, const char *cur_path,
                         const char *thresholds, const char *md, const char *html,
                         const char *charts)
{
	struct perf_result base, cur;
	struct perf_thresholds *t = calloc(1, sizeof(*t));
	struct perf_comparison c;
	char err[512];
	int rc = 2;

	if (!t)
		return 2;
	if (perf_thresholds_read(thresholds ? thresholds : p->thresholds, t, err, sizeof(err))) {
		fprintf(stderr, "perfrun: %s\n", err);
		free(t);
		return 2;
	}
	if (perf_result_read(base_path, &base, err, sizeof(err))) {
		fprintf(stderr, "perfrun: %s\n", err);
		free(t);
		return 2;
	}
	if (perf_result_read(cur_path, &cur, err, sizeof(err))) {
		fprintf(stderr, "perfrun: %s\n", err);
		perf_result_free(&base);
		free(t);
		return 2;
	}
	if (strcmp(base.env.suite, cur.env.suite) != 0)
		fprintf(stderr, "perfrun: note: comparing a %s suite with a %s one\n",
		        base.env.suite[0] ? base.env.suite : "?",
		        cur.env.suite[0] ? cur.env.suite : "?");
	if (perf_compare(&base, &cur, t, &c) == 0) {
		rc = write_forms(&c, md, html, charts) ? 2 : c.regressions ? 1 : 0;
		perf_comparison_free(&c);
	}
	perf_result_free(&base);
	perf_result_free(&cur);
	free(t);
	return rc;
}

static int cmd_compare(const struct paths *p, int argc, char **argv)
{
	const char *files[2] = {NULL, NULL}, *thresholds = NULL, *md = NULL, *html = NULL,
	           *charts = NULL;
	int nf = 0;
	const struct opt opts[] = {{"--thresholds", &thresholds, NULL},
	                           {"--markdown", &md, NULL},
	                           {"--html", &html, NULL},
	                           {"--charts", &charts, NULL},
	                           {NULL, NULL, NULL}};

	if (opts_parse(argc, argv, opts, files, 2, &nf))
		return 2;
	if (nf != 2) {
		usage();
		return 2;
	}
	return compare_files(p, files[0], files[1], thresholds, md, html, charts);
}

/* Runs the suite into out_path and, unless results is NULL, a copy named
 * by commit and date into the results folder. 0 or 2. */
static int run_suite(const struct paths *p, bool quick, unsigned reps, const char *only,
                     const char *out_path, const char *results)
{
	struct perf_result r;
	char err[1024];

	if (perf_result_init(&r)) {
		fputs("perfrun: out of memory\n", stderr);
		return 2;
	}
	/* a run of one metric is no suite: "partial" keeps it out of baselines */
	perf_env_fill(&r.env, p->repo, only ? "partial" : quick ? "quick" : "full");
	struct perf_suite_opts o = {.repo = p->repo,
	                            .build = p->build,
	                            .quick = quick,
	                            .reps = reps,
	                            .log = stderr,
	                            .only = only};
	int rc = perf_suite_run(&o, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "perfrun: the suite did not run: %s\n", err);
		perf_result_free(&r);
		return 2;
	}
	if (perf_result_write(&r, out_path, err, sizeof(err))) {
		fprintf(stderr, "perfrun: %s\n", err);
		perf_result_free(&r);
		return 2;
	}
	fprintf(stderr, "perfrun: %zu metrics in %s\n", r.n, out_path);
	if (results) {
		char path[PATH_MAX + 128], stamp[32];
		snprintf(stamp, sizeof(stamp), "%s", r.env.date);
		for (char *c = stamp; *c; c++)
			if (*c == ':')
				*c = '-';
		mkdir(results, 0755);
		snprintf(path, sizeof(path), "%s/%.12s%s-%s-%s.json", results,
		         r.env.commit[0] ? r.env.commit : "unknown",
		         strstr(r.env.commit, "+dirty") ? "-dirty" : "", stamp, r.env.suite);
		if (perf_result_write(&r, path, err, sizeof(err))) {
			fprintf(stderr, "perfrun: %s\n", err);
			perf_result_free(&r);
			return 2;
		}
		fprintf(stderr, "perfrun: stored as %s\n", path);
	}
	perf_result_free(&r);
	return 0;
}

static int cmd_run(const struct paths *p, int argc, char **argv)
{
	bool quick = false, no_results = false;
	char out[PATH_MAX + 64];
	const char *results = p->results, *only = NULL, *out_opt = NULL, *reps_opt = NULL;
	unsigned reps = 5;
	const struct opt opts[] = {{"--quick", NULL, &quick},   {"--no-results", NULL, &no_results},
	                           {"--out", &out_opt, NULL},   {"--results", &results, NULL},
	                           {"--reps", &reps_opt, NULL}, {"--only", &only, NULL},
	                           {NULL, NULL, NULL}};

	if (opts_parse(argc, argv, opts, NULL, 0, NULL))
		return 2;
	if (out_opt)
		snprintf(out, sizeof(out), "%s", out_opt);
	else
		snprintf(out, sizeof(out), "%s/perf/result.json", p->build);
	if (only && !perf_suite_knows(only)) {
		fprintf(stderr, "perfrun: no run of the suite yields %s\n", only);
		return 2;
	}
	if (reps_opt) {
		char *end;
		unsigned long n = strtoul(reps_opt, &end, 10);
		/* below 5 against 5 the rank test can never reach the thresholds'
		 * p < 0.01 */
		if (*end || n < 5 || n > PERF_SAMPLES_MAX) {
			fprintf(stderr, "perfrun: --reps takes 5..%d\n", PERF_SAMPLES_MAX);
			return 2;
		}
		reps = (unsigned)n;
	}
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s", out);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	/* before minutes of runs, not after */
	if (access(slash ? dir : ".", W_OK) != 0) {
		fprintf(stderr, "perfrun: %s: cannot write there: %s\n", slash ? dir : ".",
		        strerror(errno));
		return 2;
	}
	/* a partial result is no history */
	return run_suite(p, quick, reps, only, out, !no_results && !only ? results : NULL);
}

static int cmd_gate(const struct paths *p, int argc, char **argv)
{
	char base[PATH_MAX + 64], out[PATH_MAX + 64];
	const char *md = "-", *html = NULL, *base_opt = NULL;
	const struct opt opts[] = {{"--baseline", &base_opt, NULL},
	                           {"--markdown", &md, NULL},
	                           {"--html", &html, NULL},
	                           {NULL, NULL, NULL}};

	if (opts_parse(argc, argv, opts, NULL, 0, NULL))
		return 2;
	if (base_opt)
		snprintf(base, sizeof(base), "%s", base_opt);
	else
		snprintf(base, sizeof(base), "%s/bench/perf/baseline-quick.json", p->repo);
	snprintf(out, sizeof(out), "%s/perf", p->build);
	mkdir(out, 0755);
	snprintf(out, sizeof(out), "%s/perf/gate.json", p->build);
	int rc = run_suite(p, true, 5, NULL, out, NULL);
	if (rc)
		return rc;
	rc = compare_files(p, base, out, NULL, md, html, NULL);
	fprintf(stderr, "perfrun gate: %s\n",
	        rc == 0   ? "no regression against the baseline"
	        : rc == 1 ? "REGRESSION against the baseline (bench/perf/baseline-quick.json; "
	                    "refresh it with `perfrun baseline --quick` when the change is meant)"
	                  : "could not compare");
	return rc;
}

static int cmd_baseline(const struct paths *p, int argc, char **argv)
{
	bool quick = false, full = false;
	const char *from = NULL;
	char dst[PATH_MAX + 64], err[512];

	const struct opt opts[] = {{"--quick", NULL, &quick},
	                           {"--full", NULL, &full},
	                           {"--from", &from, NULL},
	                           {NULL, NULL, NULL}};

	if (opts_parse(argc, argv, opts, NULL, 0, NULL))
		return 2;
	if ((quick && full) || (!quick && !full && !from)) {
		fputs("perfrun baseline: say --quick or --full (or --from RESULT.json)\n", stderr);
		return 2;
	}
	if (from) {
		struct perf_result r;
		if (perf_result_read(from, &r, err, sizeof(err))) {
			fprintf(stderr, "perfrun: %s\n", err);
			return 2;
		}
		bool is_quick = !strcmp(r.env.suite, "quick"),
		     is_full = !strcmp(r.env.suite, "full");
		if ((!is_quick && !is_full) || (quick && !is_quick) || (full && !is_full)) {
			fprintf(
			    stderr,
			    "perfrun baseline: %s is a '%s' run; a baseline is a whole quick or "
			    "full suite%s\n",
			    from, r.env.suite, quick || full ? " of the kind asked for" : "");
			perf_result_free(&r);
			return 2;
		}
		snprintf(dst, sizeof(dst), "%s/bench/perf/baseline-%s.json", p->repo,
		         is_quick ? "quick" : "full");
		int rc = perf_result_write(&r, dst, err, sizeof(err));
		perf_result_free(&r);
		if (rc) {
			fprintf(stderr, "perfrun: %s\n", err);
			return 2;
		}
	} else {
		snprintf(dst, sizeof(dst), "%s/bench/perf/baseline-%s.json", p->repo,
		         quick ? "quick" : "full");
		if (run_suite(p, quick, 5, NULL, dst, p->results))
			return 2;
	}
	fprintf(stderr, "perfrun: baseline written to %s (commit it)\n", dst);
	return 0;
}

/* Results in the folder, oldest first by commit order (commits git knows
 * as ancestors of HEAD, then the others), then by date. */
struct stored {
	struct perf_result r;
	long order;
};

static int stored_cmp(const void *x, const void *y)
{
	const struct stored *a = x, *b = y;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	return strcmp(a->r.env.date, b->r.env.date);
}

static long commit_order(const char *list, const char *commit)
{
	char short_hash[41];
	snprintf(short_hash, sizeof(short_hash), "%.40s", commit);
	short_hash[strcspn(short_hash, "+")] = '\0';
	if (strlen(short_hash) < 7)
		return LONG_MAX;
	const char *at = strstr(list, short_hash);
	return at ? (long)(at - list) : LONG_MAX - 1;
}

static int cmd_history(const struct paths *p, int argc, char **argv)
{
	const char *results = p->results, *out_opt = NULL;
	char out[PATH_MAX + 64], err[1024];
	const struct opt opts[] = {
	    {"--results", &results, NULL}, {"--out", &out_opt, NULL}, {NULL, NULL, NULL}};

	if (opts_parse(argc, argv, opts, NULL, 0, NULL))
		return 2;
	if (out_opt)
		snprintf(out, sizeof(out), "%s", out_opt);
	else
		snprintf(out, sizeof(out), "%s/perf/history", p->build);
	DIR *d = opendir(results);
	if (!d) {
		fprintf(stderr, "perfrun: %s: %s\n", results, strerror(errno));
		return 2;
	}
	/* commit order: the oldest ancestor of HEAD first */
	size_t list_cap = 8u << 20;
	char *list = malloc(list_cap);
	struct stored *s = calloc(RESULTS_MAX, sizeof(*s));
	size_t n = 0;
	int rc = 0;
	char *revs[] = {"git",       "-C",           (char *)p->repo, "rev-list",
	                "--reverse", "--topo-order", "HEAD",          NULL};
	if (!list || !s) {
		closedir(d);
		free(list);
		free(s);
		return 2;
	}
	if (perf_capture(revs, NULL, list, list_cap) != 0)
		list[0] = '\0';
	struct dirent *de;
	while ((de = readdir(d)) && !rc) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX + 300];
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == RESULTS_MAX) {
			fprintf(stderr, "perfrun: %s: more than %d results\n", results,
			        RESULTS_MAX);
			rc = 2;
			break;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", results, de->d_name) >=
		    sizeof(path)) {
			fprintf(stderr, "perfrun: %s/%s: path too long\n", results, de->d_name);
			rc = 2;
			break;
		}
		if (perf_result_read(path, &s[n].r, err, sizeof(err))) {
			fprintf(stderr, "perfrun: %s\n", err);
			rc = 2;
			break;
		}
		s[n].order = commit_order(list, s[n].r.env.commit);
		n++;
	}
	closedir(d);
	if (!rc && n == 0) {
		fprintf(stderr, "perfrun: %s: no results\n", results);
		rc = 2;
	}
	struct perf_result *rs = calloc(n + 1, sizeof(*rs));
	if (!rc && rs) {
		qsort(s, n, sizeof(*s), stored_cmp);
		for (size_t i = 0; i < n; i++)
			rs[i] = s[i].r;
		if (perf_history_write(rs, n, out, NULL, err, sizeof(err))) {
			fprintf(stderr, "perfrun: %s\n", err);
			rc = 2;
		} else {
			fprintf(stderr, "perfrun: %zu results charted in %s/index.html\n", n, out);
		}
	}
	for (size_t i = 0; i < n; i++)
		perf_result_free(&s[i].r);
	free(rs);
	free(s);
	free(list);
	return rc;
}

/* A result as a Markdown table (docs/benchmarks.md embeds the baselines'
 * through scripts/perf-doc-tables.py). */
static int cmd_table(int argc, char **argv)
{
	struct perf_result r;
	char err[512];

	if (argc != 3) {
		usage();
		return 2;
	}
	if (perf_result_read(argv[2], &r, err, sizeof(err))) {
		fprintf(stderr, "perfrun: %s\n", err);
		return 2;
	}
	printf("Suite `%s` at %.12s (%s), %s, %d cores, %s, ns-3 %s, %s build:\n\n", r.env.suite,
	       r.env.commit, r.env.date, r.env.cpu, r.env.cores, r.env.compiler, r.env.ns3,
	       r.env.build_type);
	printf(
	    "| metric | class | value | unit | better | samples |\n|---|---|---:|---|---|---:|\n");
	for (size_t i = 0; i < r.n; i++) {
		const struct perf_metric *m = &r.metrics[i];
		printf("| %s | %s | %.6g | %s | %s | %zu |\n", m->name, perf_class_name(m->cls),
		       m->value, m->unit, perf_direction_name(m->direction), m->n_samples);
	}
	perf_result_free(&r);
	return fflush(stdout) != 0 || ferror(stdout) ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct paths p;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage();
		return argc < 2 ? 2 : 0;
	}
	paths_init(&p);
	if (!strcmp(argv[1], "run"))
		return cmd_run(&p, argc, argv);
	if (!strcmp(argv[1], "compare"))
		return cmd_compare(&p, argc, argv);
	if (!strcmp(argv[1], "gate"))
		return cmd_gate(&p, argc, argv);
	if (!strcmp(argv[1], "baseline"))
		return cmd_baseline(&p, argc, argv);
	if (!strcmp(argv[1], "history"))
		return cmd_history(&p, argc, argv);
	if (!strcmp(argv[1], "table"))
		return cmd_table(argc, argv);
	if (!strcmp(argv[1], "bisect"))
		return perf_bisect_main(p.repo, argc, argv);
	if (!strcmp(argv[1], "bisect-step"))
		return perf_bisect_step_main(p.repo, argc, argv);
	fprintf(stderr, "perfrun: unknown command '%s'\n", argv[1]);
	usage();
	return 2;
}
