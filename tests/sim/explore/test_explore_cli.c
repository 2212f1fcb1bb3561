/* `simrun explore` and `simrun explore-merge` end to end (EXP-1, EXP-4):
 * every seed's faults recorded and really carried out (the world's own
 * timeline events say so), a seed replays exactly, shards merged equal the
 * unsharded sweep (also when GNU parallel runs them), a trial that hangs
 * is killed and reported, and bad input is refused with a reason. */
#include "tests/support/json_file.h"
#include "tests/support/prereq.h"
#include "tests/support/shell.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SIMRUN_PATH
#error "SIMRUN_PATH must be defined by the build"
#endif

/* Small and quick: a host, a client, two regions, 8 simulated s, the
 * whole menu. */
static const char scenario[] =
    "name: tiny\n"
    "seed: 1\n"
    "duration: 8s\n"
    "regions: {r1: {}, r2: {}}\n"
    "links: [{between: [r1, r2], latency: 10ms}]\n"
    "control: {region: r1}\n"
    "users: {alice@example.com: {role: admin}}\n"
    "policy:\n"
    "  tagOwners: {tag:web: [alice@example.com], tag:client: [alice@example.com],\n"
    "              tag:svc: [alice@example.com]}\n"
    "  autoApprovers: {services: {svc:web: [tag:web]}}\n"
    "  grants: [{src: [tag:client], dst: [svc:web], ip: [\"80\"]}]\n"
    "services: [{name: svc:web, ports: [tcp:80], tags: [tag:svc]}]\n"
    "underlay_workload: off\n"
    "nodes:\n"
    "  - name: web\n"
    "    region: r2\n"
    "    tags: [tag:web]\n"
    "    backends: [{listen: 127.0.0.1:8080, kind: http}]\n"
    "    serve: [serve --service=svc:web --http=80 127.0.0.1:8080]\n"
    "  - {name: client, region: r1, count: 2, tags: [tag:client]}\n"
    "workloads:\n"
    "  - {name: w, from: client-*, to: web.example.ts.net:80, kind: http, rate: 5/s,\n"
    "     start: 1s, stop: 7s}\n"
    "explore:\n"
    "  faults:\n"
    "    - {kind: crash, rate: 20, min: 500ms, max: 2s}\n"
    "    - {kind: partition, rate: 20, min: 500ms, max: 2s}\n"
    "    - {kind: link, rate: 20, min: 500ms, max: 2s}\n"
    "    - {kind: control-crash, rate: 20, min: 500ms, max: 2s}\n"
    "  quiet_tail: 3s\n";

static char out[1 << 16];

static void setup_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/test_explore_cli.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char path[512];
	snprintf(path, sizeof(path), "%s/tiny.yaml", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(scenario, f);
	fclose(f);
}

/* An explore.json's runs without their wall-clock figures: what must be
 * equal between two sweeps of the same seeds. */
static cJSON *runs_of(const char *path)
{
	cJSON *doc = test_json_file(path);
	cJSON *runs = cJSON_DetachItemFromObject(doc, "runs");
	cJSON *r;
	cJSON_ArrayForEach(r, runs)
	{
		cJSON_DeleteItemFromObject(r, "wall_s");
	}
	cJSON_Delete(doc);
	return runs;
}

static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	static char buf[32 << 20];
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

Test(explore_cli, exp_1_every_seed_is_recorded_with_faults_the_world_carried_out, .timeout = 300)
{
	char dir[64], path[512];
	setup_dir(dir, sizeof(dir));
	int rc = shell_run(out, sizeof(out),
	                   "'%s' explore %s/tiny.yaml --seeds 1..6 --jobs 2 "
	                   "--keep all --out %s/x",
	                   SIMRUN_PATH, dir, dir);
	cr_assert_neq(rc, 2, "%s", out);
	cr_assert_not_null(strstr(out, "seeds/hour"), "%s", out);
	snprintf(path, sizeof(path), "%s/x/explore.json", dir);
	cJSON *runs = runs_of(path);
	cr_assert_eq(cJSON_GetArraySize(runs), 6);
	int seed = 1, faults = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, runs)
	{
		cr_assert_eq(cJSON_GetObjectItem(r, "seed")->valueint, seed);
		cr_assert_gt(cJSON_GetArraySize(cJSON_GetObjectItem(r, "kinds")), 0);
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItem(r, "faults"))
		{
			/* The world's timeline event for the fault, at its start. */
			char needle[256];
			const char *kind = cJSON_GetObjectItem(f, "kind")->valuestring;
			const char *action = strcmp(kind, "control-crash") == 0 ? "control" : kind;
			snprintf(needle, sizeof(needle),
			         "{\"t_us\":%.0f,\"node\":\"simrun\",\"type\":\"timeline\","
			         "\"action\":\"%s\",\"target\":\"%s\"",
			         cJSON_GetObjectItem(f, "start_us")->valuedouble, action,
			         cJSON_GetObjectItem(f, "target")->valuestring);
			snprintf(path, sizeof(path), "%s/x/seeds/%d/reports/tiny/events.jsonl", dir,
			         seed);
			cr_assert(file_has(path, needle), "seed %d: no timeline event %s for %s",
			          seed, needle, kind);
			cr_assert(cJSON_IsString(cJSON_GetObjectItem(f, "target")));
			faults++;
		}
		seed++;
	}
	cr_assert_gt(faults, 6, "the menu's rates draw several faults per seed");
	snprintf(path, sizeof(path), "%s/x/summary.md", dir);
	cr_assert(file_has(path, "## Fault kinds"));
	snprintf(path, sizeof(path), "%s/x/index.html", dir);
	cr_assert(file_has(path, "<h2>Fault kinds</h2>"));
	cJSON_Delete(runs);
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}

Test(explore_cli, exp_1_one_seed_replays_exactly, .timeout = 300)
{
	char dir[64], a[512], b[512];
	setup_dir(dir, sizeof(dir));
	for (int i = 0; i < 2; i++)
		cr_assert_neq(shell_run(out, sizeof(out),
		                        "'%s' explore %s/tiny.yaml --seeds 4 --out %s/r%d",
		                        SIMRUN_PATH, dir, dir, i),
		              2, "%s", out);
	snprintf(a, sizeof(a), "%s/r0/explore.json", dir);
	snprintf(b, sizeof(b), "%s/r1/explore.json", dir);
	cJSON *ra = runs_of(a), *rb = runs_of(b);
	cr_assert(cJSON_Compare(ra, rb, true), "the same seed gave different results");
	cJSON_Delete(ra);
	cJSON_Delete(rb);
	/* A single seed keeps its outputs: the events of both runs are the same bytes. */
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "cmp %s/r0/seeds/4/reports/tiny/events.jsonl "
	                       "%s/r1/seeds/4/reports/tiny/events.jsonl",
	                       dir, dir),
	             0, "%s", out);
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}

Test(explore_cli, exp_4_merged_shards_equal_the_unsharded_sweep, .timeout = 300)
{
	char dir[64], a[512], b[512];
	setup_dir(dir, sizeof(dir));
	cr_assert_neq(shell_run(out, sizeof(out),
	                        "'%s' explore %s/tiny.yaml --seeds 3..9 --jobs 2 --out %s/all",
	                        SIMRUN_PATH, dir, dir),
	              2, "%s", out);
	for (int k = 1; k <= 3; k++)
		cr_assert_neq(
		    shell_run(out, sizeof(out),
		              "'%s' explore %s/tiny.yaml --seeds 3..9 --shard %d/3 --jobs 1 "
		              "--out %s/s%d",
		              SIMRUN_PATH, dir, k, dir, k),
		    2, "%s", out);
	cr_assert_neq(
	    shell_run(out, sizeof(out),
	              "'%s' explore-merge --out %s/m %s/s3/explore.json %s/s1/explore.json "
	              "%s/s2/explore.json",
	              SIMRUN_PATH, dir, dir, dir, dir),
	    2, "%s", out);
	snprintf(a, sizeof(a), "%s/all/explore.json", dir);
	snprintf(b, sizeof(b), "%s/m/explore.json", dir);
	cJSON *ra = runs_of(a), *rb = runs_of(b);
	cr_assert_eq(cJSON_GetArraySize(ra), 7);
	cr_assert(cJSON_Compare(ra, rb, true), "merged shards differ from the unsharded sweep");
	cJSON_Delete(ra);
	cJSON_Delete(rb);
	/* A missing shard, a shard twice, or another sweep's shard is refused. */
	cr_assert_eq(
	    shell_run(out, sizeof(out),
	              "'%s' explore-merge --out %s/m2 %s/s1/explore.json %s/s2/explore.json",
	              SIMRUN_PATH, dir, dir, dir),
	    2);
	cr_assert_not_null(strstr(out, "shard 3/3 is missing"), "%s", out);
	cr_assert_eq(
	    shell_run(out, sizeof(out),
	              "'%s' explore-merge --out %s/m2 %s/s1/explore.json %s/s1/explore.json",
	              SIMRUN_PATH, dir, dir, dir),
	    2);
	cr_assert_not_null(strstr(out, "given twice"), "%s", out);
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "'%s' explore-merge --out %s/m2 %s/all/explore.json", SIMRUN_PATH,
	                       dir, dir),
	             2);
	cr_assert_not_null(strstr(out, "not one shard's explore.json"), "%s", out);
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}

Test(explore_cli, exp_4_gnu_parallel_runs_the_shards, .timeout = 300)
{
	char dir[64], a[512], b[512];
	if (shell_run(out, sizeof(out), "command -v parallel") != 0)
		prereq_missing(
		    "GNU parallel is not installed (scripts/install-deps.sh installs it)");
	setup_dir(dir, sizeof(dir));
	cr_assert_neq(shell_run(out, sizeof(out),
	                        "'%s' explore %s/tiny.yaml --seeds 1..4 --jobs 1 --out %s/all",
	                        SIMRUN_PATH, dir, dir),
	              2, "%s", out);
	/* The documented form: one job per shard, the shard index from parallel. */
	cr_assert_neq(
	    shell_run(out, sizeof(out),
	              "parallel --will-cite --jobs 2 '%s' explore %s/tiny.yaml --seeds 1..4 "
	              "--jobs 1 --shard {}/2 --out %s/p{} ::: 1 2",
	              SIMRUN_PATH, dir, dir),
	    2, "%s", out);
	cr_assert_neq(
	    shell_run(out, sizeof(out),
	              "'%s' explore-merge --out %s/m %s/p1/explore.json %s/p2/explore.json",
	              SIMRUN_PATH, dir, dir, dir),
	    2, "%s", out);
	snprintf(a, sizeof(a), "%s/all/explore.json", dir);
	snprintf(b, sizeof(b), "%s/m/explore.json", dir);
	cJSON *ra = runs_of(a), *rb = runs_of(b);
	cr_assert(cJSON_Compare(ra, rb, true), "parallel's shards differ from the sweep");
	cJSON_Delete(ra);
	cJSON_Delete(rb);
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}

Test(explore_cli, exp_1_a_trial_that_hangs_is_killed_and_reported, .timeout = 300)
{
	char dir[64], path[512];
	setup_dir(dir, sizeof(dir));
	/* An hour of simulated time with requests throughout does not fit in
	 * one wall second (an idle hour nearly does). */
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "sed 's/^duration: 8s/duration: 3600s/; s/stop: 7s/stop: 3590s/' "
	                       "%s/tiny.yaml > %s/long.yaml && "
	                       "'%s' explore %s/long.yaml --seeds 2 --timeout 1 --out %s/t",
	                       dir, dir, SIMRUN_PATH, dir, dir),
	             1, "%s", out);
	cr_assert_not_null(strstr(out, "FAILED seed 2: timed out after 1 wall s"), "%s", out);
	cr_assert_not_null(strstr(out, "replay: "), "%s", out);
	snprintf(path, sizeof(path), "%s/t/explore.json", dir);
	cr_assert(file_has(path, "\"status\":\t\"error\""));
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}

Test(explore_cli, exp_1_bad_arguments_are_refused_with_a_reason)
{
	static const struct {
		const char *args, *says;
	} cases[] = {
	    {"--seeds 5..1", "the range ends before it starts"},
	    {"--seeds 0", "bad --seeds"},
	    {"--seeds 1..200000", "more than 100000 seeds"},
	    {"--seeds 1 --shard 3/2", "K must be at most N"},
	    {"--seeds 1 --shard 1", "expected K/N"},
	    {"--seeds 1 --jobs 0", "bad --jobs"},
	    {"--seeds 1 --keep some", "wants failed, all or none"},
	    {"--seeds 1 --invariants nope", "no invariant 'nope'"},
	    {"", "--seeds A..B is required"},
	};
	char dir[64];
	setup_dir(dir, sizeof(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(shell_run(out, sizeof(out), "'%s' explore %s/tiny.yaml %s --out %s/b",
		                       SIMRUN_PATH, dir, cases[i].args, dir),
		             2, "%s: %s", cases[i].args, out);
		cr_assert_not_null(strstr(out, cases[i].says), "%s: %s", cases[i].args, out);
	}
	/* A scenario without a menu has nothing to draw from. */
	cr_assert_eq(shell_run(out, sizeof(out),
	                       "sed '/^explore:/,$d' %s/tiny.yaml > %s/plain.yaml && "
	                       "'%s' explore %s/plain.yaml --seeds 1 --out %s/b",
	                       dir, dir, SIMRUN_PATH, dir, dir),
	             2, "%s", out);
	cr_assert_not_null(strstr(out, "has no explore: section"), "%s", out);
	shell_run(out, sizeof(out), "rm -rf %s", dir);
}
