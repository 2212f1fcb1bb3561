/* perfrun bisect (SPEC PRF-4): the first commit between a good and a bad
 * one where an exact or counted metric got worse beyond its threshold.
 *
 * In a throwaway worktree: build simrun at GOOD and at BAD and measure the
 * metric with the one suite run that yields it (the scenario file as it is
 * in this tree, so every commit runs the same scenario); stop unless BAD
 * is a regression against GOOD. Then `git bisect run` calls this program's
 * bisect-step at each commit: build (a commit that does not build is
 * skipped, exit 125), measure, and exit 1 when the value is worse than
 * GOOD's beyond the threshold (bench/perf/thresholds.json), else 0. */
#define _GNU_SOURCE
#include "bench/perf/perf_suite.h"

#include "reports/perf_compare.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PERF_BUILD_TYPE
#define PERF_BUILD_TYPE "RelWithDebInfo"
#endif

/* Builds simrun in build (configuring it from src the first time): 0, or
 * -1 when the commit does not build. */
static int build_simrun(const char *src, const char *build, const char *log)
{
	char cache[PATH_MAX + 32], type[64];
	struct perf_proc p;
	snprintf(cache, sizeof(cache), "%s/build.ninja", build);
	snprintf(type, sizeof(type), "-DCMAKE_BUILD_TYPE=%s",
	         PERF_BUILD_TYPE[0] ? PERF_BUILD_TYPE : "RelWithDebInfo");
	if (access(cache, F_OK) != 0) {
		char *which[] = {"sh", "-c", "command -v ccache", NULL};
		char ccache[PATH_MAX];
		bool have_ccache = perf_capture(which, NULL, ccache, sizeof(ccache)) == 0;
		char *cmake[] = {"cmake", "-S", (char *)src,           "-B", (char *)build, "-G",
		                 "Ninja", type, "-DTAILSIM_BENCH=OFF", NULL, NULL,          NULL};
		if (have_ccache) {
			cmake[9] = "-DCMAKE_C_COMPILER_LAUNCHER=ccache";
			cmake[10] = "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache";
		}
		if (perf_proc_run(cmake, NULL, log, log, PERF_LIMIT_BUILD_S, &p) || p.status != 0)
			return -1;
	}
	char *ninja[] = {"ninja", "-C", (char *)build, "simrun", NULL};
	if (perf_proc_run(ninja, NULL, log, log, PERF_LIMIT_BUILD_S, &p) || p.status != 0)
		return -1;
	return 0;
}

/* The metric at the worktree's current commit into *out: 0; -ENODATA
 * when the run worked but yields no such figure any more; -1 when the run
 * failed (message printed). */
static int measure(const char *repo, const char *build, const char *metric, struct perf_metric *out)
{
	struct perf_result r;
	char err[1024];
	struct perf_suite_opts o = {
	    .repo = repo, .build = build, .quick = false, .reps = 5, .log = NULL, .only = metric};

	if (perf_result_init(&r))
		return -1;
	int rc = perf_suite_run(&o, &r, err, sizeof(err));
	const struct perf_metric *m = rc ? NULL : perf_result_find(&r, metric);
	if (m)
		*out = *m;
	else
		fprintf(stderr, "perfrun bisect: %s\n", rc ? err : "metric not produced");
	perf_result_free(&r);
	return m ? 0 : rc == -ENODATA ? -ENODATA : -1;
}

/* Whether `now` is a regression against `good` by the thresholds file
 * (the rule perfrun compare applies). -1: cannot tell. */
static int is_regression(const char *repo, const struct perf_metric *good,
                         const struct perf_metric *now)
{
	char path[PATH_MAX + 64], err[512];
	struct perf_thresholds *t = calloc(1, sizeof(*t));
	struct perf_result a, b;
	struct perf_comparison c;
	int verdict = -1;

	snprintf(path, sizeof(path), "%s/bench/perf/thresholds.json", repo);
	if (!t || perf_thresholds_read(path, t, err, sizeof(err))) {
		fprintf(stderr, "perfrun bisect: %s\n", t ? err : "out of memory");
		free(t);
		return -1;
	}
	if (perf_result_init(&a) == 0 && perf_result_init(&b) == 0 &&
	    !perf_result_add(&a, good->name, good->unit, good->direction, good->cls, good->samples,
	                     good->n_samples) &&
	    !perf_result_add(&b, now->name, now->unit, now->direction, now->cls, now->samples,
	                     now->n_samples) &&
	    !perf_compare(&a, &b, t, &c)) {
		verdict = c.regressions > 0;
		perf_comparison_free(&c);
	}
	perf_result_free(&a);
	perf_result_free(&b);
	free(t);
	return verdict;
}

/* git -C dir ARGS, output into log; limit_s as perf_proc_run's. */
static int git(const char *dir, const char *log, unsigned limit_s, char *const args[])
{
	char *argv[16] = {"git", "-C", (char *)dir};
	size_t k = 3;
	for (size_t i = 0; args[i] && k < 15; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	struct perf_proc p;
	return perf_proc_run(argv, NULL, log, log, limit_s, &p) || p.status != 0 ? -1 : 0;
}

/* Checks out rev in the worktree, builds it and measures the metric. */
static int measure_at(const char *repo, const char *wt, const char *build, const char *log,
                      const char *rev, const char *metric, struct perf_metric *m)
{
	char *co[] = {"checkout", "--quiet", "--detach", (char *)rev, NULL};
	if (git(wt, log, PERF_LIMIT_TOOL_S, co)) {
		fprintf(stderr, "perfrun bisect: cannot check out %s (see %s)\n", rev, log);
		return -1;
	}
	if (build_simrun(wt, build, log)) {
		fprintf(stderr, "perfrun bisect: %s does not build (see %s)\n", rev, log);
		return -1;
	}
	return measure(repo, build, metric, m);
}

/* The full hash of commit `rev` in repo into out; false (said why) when
 * it names no commit. */
static bool commit_hash(const char *repo, const char *rev, char *out, size_t cap)
{
	char spec[512];
	snprintf(spec, sizeof(spec), "%s^{commit}", rev);
	char *argv[] = {"git", "-C", (char *)repo, "rev-parse", "--verify", "--quiet", spec, NULL};
	if (perf_capture(argv, NULL, out, cap) == 0)
		return true;
	fprintf(stderr, "perfrun bisect: %s is not a commit of %s\n", rev, repo);
	return false;
}

static const char bisect_usage[] =
    "usage: perfrun bisect --good REV --bad REV --metric NAME [--keep]\n";

int perf_bisect_main(const char *repo, int argc, char **argv)
{
	const char *good = NULL, *bad = NULL, *metric = NULL;
	bool keep = false;

	for (int i = 2; i < argc; i++) {
		const char **dst = !strcmp(argv[i], "--good")     ? &good
		                   : !strcmp(argv[i], "--bad")    ? &bad
		                   : !strcmp(argv[i], "--metric") ? &metric
		                                                  : NULL;
		if (!strcmp(argv[i], "--keep"))
			keep = true;
		else if (!dst || i + 1 >= argc) {
			fputs(bisect_usage, stderr);
			return 2;
		} else
			*dst = argv[++i];
	}
	if (!good || !bad || !metric) {
		fputs(bisect_usage, stderr);
		return 2;
	}
	if (!perf_suite_knows(metric) || !strncmp(metric, "timed.", 6)) {
		fprintf(stderr,
		        "perfrun bisect: %s is not an exact or counted metric of the suite (timed "
		        "metrics are not bisected: their noise would mislead)\n",
		        metric);
		return 2;
	}
	/* revisions as the repository names them (HEAD in the worktree would
	 * be the worktree's) */
	char good_hash[64], bad_hash[64];
	if (!commit_hash(repo, good, good_hash, sizeof(good_hash)) ||
	    !commit_hash(repo, bad, bad_hash, sizeof(bad_hash)))
		return 2;
	good = good_hash;
	bad = bad_hash;
	char *anc[] = {"git",           "-C",      (char *)repo, "merge-base",
	               "--is-ancestor", good_hash, bad_hash,     NULL};
	char ignored[8];
	if (perf_capture(anc, NULL, ignored, sizeof(ignored)) != 0) {
		fprintf(stderr,
		        "perfrun bisect: the good commit %.12s is not an ancestor of the bad "
		        "one %.12s (swapped?)\n",
		        good_hash, bad_hash);
		return 2;
	}
	/* under $TMPDIR when set: a caller that shares a compiler cache keeps
	 * the worktree below its cache's base directory */
	const char *tmpdir = getenv("TMPDIR");
	char wt[PATH_MAX - 64];
	snprintf(wt, sizeof(wt), "%s/perfrun-bisect-XXXXXX",
	         tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp");
	if (!mkdtemp(wt)) {
		perror("perfrun bisect: mkdtemp");
		return 2;
	}
	char tree[PATH_MAX], bld[PATH_MAX], log[PATH_MAX], self[PATH_MAX], tool[PATH_MAX];
	snprintf(tree, sizeof(tree), "%s/tree", wt);
	/* inside the tree, as a clone's build/ is: ccache (base_dir) then
	 * shares their compilations */
	snprintf(bld, sizeof(bld), "%s/tree/build-bisect", wt);
	snprintf(log, sizeof(log), "%s/bisect.log", wt);
	snprintf(tool, sizeof(tool), "%s/perfrun", wt);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	char *cp[] = {"cp", self, tool, NULL};
	struct perf_proc p;
	char *add[] = {"worktree", "add", "--detach", tree, (char *)bad, NULL};
	if (perf_proc_run(cp, NULL, NULL, NULL, PERF_LIMIT_TOOL_S, &p) || p.status ||
	    git(repo, log, PERF_LIMIT_TOOL_S, add)) {
		fprintf(stderr, "perfrun bisect: cannot set up %s (see %s)\n", wt, log);
		return 2;
	}
	fprintf(stderr, "perfrun bisect: %s in %s (log %s)\n", metric, tree, log);

	struct perf_metric mg, mb;
	int rc = 2;
	if (measure_at(repo, tree, bld, log, good, metric, &mg) ||
	    measure_at(repo, tree, bld, log, bad, metric, &mb))
		goto out;
	double vg = mg.value, vb = mb.value;
	fprintf(stderr, "perfrun bisect: %s = %.17g at %s, %.17g at %s\n", metric, vg, good, vb,
	        bad);
	int reg = is_regression(repo, &mg, &mb);
	if (reg != 1) {
		fprintf(stderr, "perfrun bisect: %s is %s at %s than at %s: nothing to bisect\n",
		        metric, reg == 0 ? "not worse beyond its threshold" : "not comparable", bad,
		        good);
		goto out;
	}
	char value[64];
	snprintf(value, sizeof(value), "%.17g", vg);
	char *start[] = {"bisect", "start", (char *)bad, (char *)good, NULL};
	char *run[] = {"bisect",       "run", tool,      "bisect-step", "--metric", (char *)metric,
	               "--good-value", value, "--build", bld,           NULL};
	setenv("PERF_REPO", repo, 1);
	if (git(tree, log, PERF_LIMIT_TOOL_S, start) || git(tree, log, PERF_LIMIT_BISECT_S, run)) {
		fprintf(stderr, "perfrun bisect: git bisect failed (see %s)\n", log);
		goto out;
	}
	char *first[] = {"git", "-C", tree, "rev-parse", "refs/bisect/bad", NULL};
	char hash[128], line[512];
	if (perf_capture(first, NULL, hash, sizeof(hash)) != 0) {
		fprintf(stderr, "perfrun bisect: git bisect named no commit (see %s)\n", log);
		goto out;
	}
	char *show[] = {"git", "-C", tree, "show", "-s", "--format=%h %s", hash, NULL};
	perf_capture(show, NULL, line, sizeof(line));
	printf("first bad commit: %s\n  %s\n  %s: %.17g at %s, worse beyond its threshold than "
	       "%.17g at %s\n",
	       hash, line, metric, vb, bad, vg, good);
	rc = 1;
out:;
	char *reset[] = {"bisect", "reset", NULL};
	git(tree, log, PERF_LIMIT_TOOL_S, reset);
	if (!keep) {
		char *rm_wt[] = {"worktree", "remove", "--force", tree, NULL};
		git(repo, log, PERF_LIMIT_TOOL_S, rm_wt);
		char *rm[] = {"rm", "-rf", wt, NULL};
		if (rc == 1)
			perf_proc_run(rm, NULL, NULL, NULL, PERF_LIMIT_TOOL_S, &p);
	}
	return rc;
}

int perf_bisect_step_main(const char *repo, int argc, char **argv)
{
	const char *metric = NULL, *good = NULL, *build = NULL;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--metric"))
			metric = argv[i + 1];
		else if (!strcmp(argv[i], "--good-value"))
			good = argv[i + 1];
		else if (!strcmp(argv[i], "--build"))
			build = argv[i + 1];
	}
	if (!metric || !good || !build)
		return 128; /* git bisect run stops on this */
	char cwd[PATH_MAX], log[PATH_MAX + 32];
	if (!getcwd(cwd, sizeof(cwd)))
		return 128;
	snprintf(log, sizeof(log), "%s/step-build.log", build);
	if (build_simrun(cwd, build, log)) {
		fprintf(stderr, "bisect-step: does not build: skipped\n");
		return 125;
	}
	struct perf_metric now, then;
	int got = measure(repo, build, metric, &now);
	if (got == -ENODATA) {
		/* the figure is gone: what the compare calls MISSING is bad */
		fprintf(stderr, "bisect-step: %s is no longer produced: bad\n", metric);
		return 1;
	}
	if (got)
		return 125;
	/* GOOD's value as measured before the bisection, one sample */
	then = now;
	then.value = then.samples[0] = strtod(good, NULL);
	then.n_samples = 1;
	int reg = is_regression(repo, &then, &now);
	fprintf(stderr, "bisect-step: %s = %.17g (good %.17g): %s\n", metric, now.value, then.value,
	        reg == 1   ? "bad"
	        : reg == 0 ? "good"
	                   : "cannot tell");
	return reg < 0 ? 125 : reg;
}
