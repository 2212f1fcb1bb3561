/* perfrun end to end (SPEC PRF-1..PRF-5): the quick suite
 * writes a result with the environment and every class it promises; its
 * figures match what this test recomputes from a run's own events and
 * captures (with its own parsing and Wireshark's capinfos); a rerun is
 * identical; a slower result fails the compare and the gate naming the
 * metric; the history draws a chart per metric; an injected slowdown is
 * gated and bisected to its commit. */
#define _GNU_SOURCE
#include "tests/support/json_file.h"
#include "tests/support/shell.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PERFRUN_PATH
#error "PERFRUN_PATH: the perfrun binary"
#endif

static char dir[256];
static char out[1 << 16];

static void setup(void)
{
	cr_assert(shell_mkdtemp(dir, sizeof(dir), "test_perfrun"));
}

static const cJSON *metric(const cJSON *result, const char *name)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(result, "metrics"))
	{
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "name")),
		            name))
			return m;
	}
	return NULL;
}

static double value(const cJSON *result, const char *name)
{
	const cJSON *m = metric(result, name);
	cr_assert_not_null(m, "metric %s", name);
	return cJSON_GetObjectItemCaseSensitive(m, "value")->valuedouble;
}

/* Sets metric `name` of a result to v (its value and its one sample). */
static void set_metric(cJSON *result, const char *name, double v)
{
	cJSON *m = (cJSON *)metric(result, name);
	cr_assert_not_null(m, "metric %s", name);
	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "value"), v);
	cJSON_SetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "samples"), 0),
	                     v);
}

static void write_json(const cJSON *j, const char *path)
{
	char *text = cJSON_Print(j);
	FILE *f = fopen(path, "w");
	cr_assert(text && f, "%s", path);
	fputs(text, f);
	fclose(f);
	free(text);
}

/* Runs the quick suite once into dir/NAME; the parsed result. */
static cJSON *quick_run(const char *name)
{
	int rc = shell_run(out, sizeof(out), "%s run --quick --no-results --out %s/%s 2>&1",
	                   PERFRUN_PATH, dir, name);
	cr_assert_eq(rc, 0, "perfrun run --quick: %s", out);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return test_json_file(path);
}

/* One quick run shared by the tests of this process's runner (each test
 * is its own process; their parent is the runner): the suite takes a
 * while, and a test that needs two runs makes its own. */
static cJSON *shared_run(void)
{
	char shared[128], path[160];
	/* the runner's pid and start time: a reused pid cannot find an old run */
	unsigned long long started = 0;
	char stat[64], line[1024];
	snprintf(stat, sizeof(stat), "/proc/%d/stat", (int)getppid());
	FILE *sf = fopen(stat, "r");
	if (sf && fgets(line, sizeof(line), sf)) {
		/* after "pid (comm)" come fields 3, 4, ...: the space before
		 * field 22 (starttime) is the 20th */
		char *after = strrchr(line, ')');
		for (int k = 0; after && k < 20; k++)
			after = strchr(after + 1, ' ');
		if (after)
			started = strtoull(after + 1, NULL, 10);
	}
	if (sf)
		fclose(sf);
	snprintf(shared, sizeof(shared), "/tmp/test_perfrun-shared-%d-%llu", (int)getppid(),
	         started);
	snprintf(path, sizeof(path), "%s/quick.json", shared);
	if (access(path, R_OK) != 0) {
		cr_assert_eq(shell_run(out, sizeof(out),
		                       "mkdir -p %s && %s run --quick --no-results --out %s.tmp "
		                       "2>&1 && mv %s.tmp %s",
		                       shared, PERFRUN_PATH, path, path, path),
		             0, "perfrun run --quick: %s", out);
	}
	return test_json_file(path);
}

Test(perfrun, prf_1_quick_suite_writes_environment_and_each_class, .init = setup, .timeout = 600)
{
	cJSON *r = shared_run();
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(r, "environment");
	const char *commit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "commit"));
	cr_assert(commit && strspn(commit, "0123456789abcdef") == 40, "commit %s", commit);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "ns3")),
	                 "3.37");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "suite")),
	                 "quick");
	cr_assert_gt(cJSON_GetObjectItemCaseSensitive(env, "cores")->valuedouble, 0);
	static const char *const keys[] = {"cpu", "kernel", "compiler", "build_type", "date"};
	for (size_t i = 0; i < 5; i++) {
		const char *v =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, keys[i]));
		cr_assert(v && *v, "environment.%s", keys[i]);
	}
	static const char *const wanted[] = {
	    "quickstart.office.latency_p50_ms",
	    "quickstart.office.latency_p999_ms",
	    "quickstart.office.success_rate",
	    "quickstart.underlay_bytes_per_request",
	    "quickstart.map_propagation_max_ms",
	    "quickstart.ns3_events_per_sim_s",
	    "failover-crash.browse.failover_ms",
	    "failover-partition.browse.failover_ms",
	    "drain-under-load.host-a.svc:web.drain_complete_ms",
	    "approval-workflow.web-manual.svc:web.approval_to_traffic_ms",
	    "control-restart.control_outage.failed_requests",
	    "counted.quickstart.instructions",
	};
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		const cJSON *m = metric(r, wanted[i]);
		cr_assert_not_null(m, "metric %s", wanted[i]);
		const char *cls =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "class"));
		cr_assert_str_eq(cls, strncmp(wanted[i], "counted.", 8) ? "exact" : "counted");
		cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "samples")));
	}
	cr_assert_gt(value(r, "counted.quickstart.instructions"), 1e8);
	cJSON_Delete(r);
}

/* The first t_us of an events line matching both needles, after `from`. */
static double first_event_us(const char *events, const char *a, const char *b, double from)
{
	FILE *f = fopen(events, "r");
	char line[4096];
	double t = NAN;
	cr_assert_not_null(f, "%s", events);
	while (fgets(line, sizeof(line), f)) {
		double at;
		if (!strstr(line, a) || !strstr(line, b) ||
		    sscanf(line, "{\"t_us\":%lf", &at) != 1 || at < from)
			continue;
		t = at;
		break;
	}
	fclose(f);
	return t;
}

Test(perfrun, prf_1_exact_figures_match_the_runs_own_events_and_captures, .init = setup,
     .timeout = 600)
{
	cJSON *r = shared_run();

	/* approval to the first connection the approved host accepts */
	cr_assert_eq(shell_run(out, sizeof(out), "%s --quiet --pcap none --out %s/a %s/%s",
	                       SIMRUN_PATH, dir, SOURCE_DIR, "scenarios/approval-workflow.yaml"),
	             0, "%s", out);
	char events[512];
	snprintf(events, sizeof(events), "%s/a/reports/approval-workflow/events.jsonl", dir);
	double approved =
	    first_event_us(events, "\"type\":\"timeline\"", "approve svc:web web-manual", 0);
	double accepted =
	    first_event_us(events, "\"node\":\"web-manual\"", "\"conn_accepted\"", approved);
	cr_assert(isfinite(approved) && isfinite(accepted));
	cr_assert_float_eq(value(r, "approval-workflow.web-manual.svc:web.approval_to_traffic_ms"),
	                   (accepted - approved) / 1000, 1e-9);

	/* underlay bytes per request: Wireshark's capinfos over the captures */
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "%s --quiet --out %s/q %s/scenarios/quickstart.yaml", SIMRUN_PATH,
	                       dir, SOURCE_DIR),
	             0, "%s", out);
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "capinfos -d -M %s/q/pcaps/quickstart/*-underlay.pcap | "
	                       "awk '/Data size:/ { s += $3 } END { print s }'",
	                       dir),
	             0, "%s", out);
	double bytes = strtod(out, NULL);
	char report[512];
	snprintf(report, sizeof(report), "%s/q/reports/quickstart/report.json", dir);
	cJSON *rep = test_json_file(report);
	double requests = 0;
	const cJSON *w;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(rep, "workloads"))
	{
		requests += cJSON_GetObjectItemCaseSensitive(w, "requests")->valuedouble;
	}
	cr_assert_gt(bytes, 0);
	cr_assert_float_eq(value(r, "quickstart.underlay_bytes_per_request"), bytes / requests,
	                   1e-6);
	cJSON_Delete(rep);
	cJSON_Delete(r);
}

Test(perfrun, prf_2_rerun_is_identical_and_a_slower_result_fails_naming_the_metric, .init = setup,
     .timeout = 600)
{
	cJSON *a = shared_run();
	char a_path[512];
	snprintf(a_path, sizeof(a_path), "%s/a.json", dir);
	write_json(a, a_path);
	cJSON_Delete(a);
	cJSON *b = quick_run("b.json");

	/* a rerun: every exact metric identical, no regression */
	int rc =
	    shell_run(out, sizeof(out), "%s compare %s/a.json %s/b.json", PERFRUN_PATH, dir, dir);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert(strstr(out, " 0 regressions"), "%s", out);
	cr_assert_null(strstr(out, "exact   "), "no exact metric changed: %s", out);

	/* 5 ms more at the median: what a slower backend does */
	set_metric(b, "quickstart.office.latency_p50_ms",
	           value(b, "quickstart.office.latency_p50_ms") + 5);
	char path[512];
	snprintf(path, sizeof(path), "%s/slow.json", dir);
	write_json(b, path);
	rc = shell_run(out, sizeof(out),
	               "%s compare %s/a.json %s --markdown %s/c.md --html %s/c.html", PERFRUN_PATH,
	               dir, path, dir, dir);
	cr_assert_eq(rc, 1, "a regression exits 1: %s", out);
	cr_assert(strstr(out, "quickstart.office.latency_p50_ms"), "%s", out);
	cr_assert(strstr(out, "REGRESSION"), "%s", out);
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "grep -c 'quickstart.office.latency_p50_ms.*"
	                       "REGRESSION' %s/c.md %s/c.html",
	                       dir, dir),
	             0, "both forms name it: %s", out);
	cJSON_Delete(b);
}

Test(perfrun, prf_5_gate_fails_against_a_faster_baseline_and_prints_markdown, .init = setup,
     .timeout = 600)
{
	cJSON *r = shared_run();
	/* a baseline 20 % faster on failover than today's code */
	set_metric(r, "failover-crash.browse.failover_ms",
	           value(r, "failover-crash.browse.failover_ms") * 0.8);
	char path[512];
	snprintf(path, sizeof(path), "%s/base.json", dir);
	write_json(r, path);
	int rc = shell_run(out, sizeof(out), "%s gate --baseline %s", PERFRUN_PATH, path);
	cr_assert_eq(rc, 1, "%s", out);
	cr_assert(strstr(out, "| failover-crash.browse.failover_ms | exact |"), "%s", out);
	cr_assert(strstr(out, "**REGRESSION**"), "%s", out);
	cr_assert(strstr(out, "**Performance: regression**"), "%s", out);
	cJSON_Delete(r);
}

Test(perfrun, prf_3_history_charts_every_metric_in_commit_order, .init = setup, .timeout = 600)
{
	cJSON *r = shared_run();
	char results[512];
	snprintf(results, sizeof(results), "%s/results", dir);
	cr_assert_eq(shell_status("mkdir -p %s", results), 0);
	/* four stored runs: three commits of this repository, newest first
	 * from git, dated the other way round so that commit order and date
	 * order differ; the oldest commit also has a later rerun */
	char commits[3][41];
	cr_assert_eq(
	    shell_run(out, sizeof(out), "git -C %s rev-list --max-count=3 HEAD", SOURCE_DIR), 0,
	    "%s", out);
	cr_assert_eq(sscanf(out, "%40s %40s %40s", commits[0], commits[1], commits[2]), 3, "%s",
	             out);
	static const struct {
		int commit; /* 2: oldest */
		const char *date;
		double p50;
	} runs[] = {
	    {2, "2026-12-03T00:00:00Z", 6},
	    {2, "2026-12-04T00:00:00Z", 6.5},
	    {1, "2026-12-02T00:00:00Z", 7},
	    {0, "2026-12-01T00:00:00Z", 8},
	};
	for (int i = 0; i < 4; i++) {
		cJSON *c = cJSON_Duplicate(r, true);
		cJSON *env = cJSON_GetObjectItemCaseSensitive(c, "environment");
		cJSON_ReplaceItemInObject(env, "date", cJSON_CreateString(runs[i].date));
		cJSON_ReplaceItemInObject(env, "commit",
		                          cJSON_CreateString(commits[runs[i].commit]));
		set_metric(c, "quickstart.office.latency_p50_ms", runs[i].p50);
		char path[600];
		snprintf(path, sizeof(path), "%s/run-%d.json", results, 3 - i);
		write_json(c, path);
		cJSON_Delete(c);
	}
	int rc = shell_run(out, sizeof(out), "%s history --results %s --out %s/h", PERFRUN_PATH,
	                   results, dir);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_eq(
	    shell_run(out, sizeof(out),
	              "test -s %s/h/quickstart.office.latency_p50_ms.png && "
	              "tail -c 20 %s/h/quickstart.office.latency_p50_ms.svg | grep -q '</svg>' && "
	              "grep -c '<svg' %s/h/index.html",
	              dir, dir, dir),
	    0, "%s", out);
	cr_assert_geq(atoi(out), 60, "a chart per metric: %s", out);
	/* oldest commit first (its two runs by date), whatever the dates say */
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "awk '!/^#/ { printf \"%%s \", $3 }' "
	                       "%s/h/quickstart.office.latency_p50_ms.dat",
	                       dir),
	             0);
	cr_assert_str_eq(out, "6 6.5 7 8 ");
	cJSON_Delete(r);
}

/* PRF-4, and PRF-5 on a real slowdown: bench/perf/demo-regression.sh
 * commits a 5 ms backend delay between two harmless commits in a clone of
 * HEAD; the gate there must fail naming a latency metric, and bisect must
 * name the slowing commit. Which commit that is, is checked here with git:
 * the one whose diff adds the delay to apps/http_backend.c. The work goes
 * under the build folder, inside the compiler cache's base directory when
 * .ci/run set one, so the clone's builds reuse the CI build's objects. */
Test(perfrun, prf_4_5_bisect_names_the_commit_that_slowed_the_backend, .timeout = 1500)
{
	char work[PATH_MAX], clone[PATH_MAX], hash[64];
	cr_assert_not_null(getcwd(work, sizeof(work) - 32));
	strcat(work, "/prf4-XXXXXX");
	cr_assert_not_null(mkdtemp(work));
	/* timeout: a hung demo must not outlive the test's own limit */
	int rc =
	    shell_run(out, sizeof(out),
	              "TMPDIR='%s' timeout -k 10 1400 '%s/bench/perf/demo-regression.sh' --keep "
	              "2>&1",
	              work, SOURCE_DIR);
	cr_assert_eq(rc, 0, "demo-regression.sh exited %d: %s", rc, out);
	const char *gate = strstr(out, "PASS gate: exit 1, names ");
	const char *bisect = strstr(out, "PASS bisect: names ");
	const char *folder = strstr(out, "# work folder ");
	cr_assert(gate && bisect && folder, "%s", out);
	cr_assert_eq(sscanf(bisect, "PASS bisect: names %63s", hash), 1);
	cr_assert_eq(sscanf(folder, "# work folder %4000s", clone), 1);
	cr_expect(strstr(gate, "latency"), "the gate named no latency metric: %.200s", gate);
	/* the named commit is the one that slows the backend, and only it */
	cr_assert_eq(shell_run(out, sizeof(out), "git -C '%s/tree' show --format= --name-only %s",
	                       clone, hash),
	             0, "%s", out);
	cr_expect_str_eq(out, "apps/http_backend.c\n");
	cr_expect_eq(shell_status("git -C '%s/tree' show %s | grep -q '^+.*service_time_us + 5000'",
	                          clone, hash),
	             0, "commit %s does not add the delay", hash);
	shell_status("rm -rf '%s'", work);
}
