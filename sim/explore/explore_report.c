/* The sweep's reports (explore_int.h, EXP-4): explore.json (the sweep, per
 * seed its fault kinds, faults, invariants checked and broken, simulated
 * and wall time, and a summary), summary.md and index.html (failures
 * first, then fault-kind coverage and invariants); and `simrun
 * explore-merge`, which joins shards' explore.json into the one the
 * unsharded sweep would have written. */
#include "reports/report.h"
#include "sim/explore/explore.h"
#include "sim/explore/explore_int.h"
#include "sim/explore/invariant.h"
#include "sim/simrun_run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_INPUTS_MAX EXPLORE_SHARDS_MAX
#define FAILURES_LISTED  200 /* in summary.md and index.html; explore.json has all */

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool array_has(const cJSON *a, const char *s)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, a)
	{
		if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0)
			return true;
	}
	return false;
}

static int seed_cmp(const void *x, const void *y)
{
	double a = num_of(*(cJSON *const *)x, "seed"), b = num_of(*(cJSON *const *)y, "seed");
	return a < b ? -1 : a > b;
}

/* `runs` rebuilt in seed order; -ENOMEM leaves it as it was. */
static int runs_sort(cJSON *runs)
{
	int n = cJSON_GetArraySize(runs);
	cJSON **v = calloc(n ? (size_t)n : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (int i = n - 1; i >= 0; i--)
		v[i] = cJSON_DetachItemFromArray(runs, i);
	qsort(v, (size_t)n, sizeof(*v), seed_cmp);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(runs, v[i]);
	free(v);
	return 0;
}

/* Per fault kind: seeds that enabled it, faults drawn, seeds that failed. */
struct kind_row {
	uint64_t seeds, faults, failed;
};

struct tally {
	uint64_t seeds, passed, failed, errors;
	double simulated_s, trial_wall_s;
	struct kind_row kinds[SCENARIO_FAULT_KINDS];
	uint64_t inv_checked[INVARIANT_KINDS], inv_broken[INVARIANT_KINDS];
};

static void tally_runs(const cJSON *runs, struct tally *t)
{
	const cJSON *r;

	memset(t, 0, sizeof(*t));
	cJSON_ArrayForEach(r, runs)
	{
		const char *status = str_of(r, "status");
		bool bad = strcmp(status, "pass") != 0;
		t->seeds++;
		if (!bad)
			t->passed++;
		else if (strcmp(status, "fail") == 0)
			t->failed++;
		else
			t->errors++;
		t->simulated_s += num_of(r, "simulated_s");
		t->trial_wall_s += num_of(r, "wall_s");
		for (int k = 0; k < SCENARIO_FAULT_KINDS; k++) {
			const char *name = scenario_fault_kind_name((enum scenario_fault_kind)k);
			if (!array_has(cJSON_GetObjectItem(r, "kinds"), name))
				continue;
			t->kinds[k].seeds++;
			t->kinds[k].failed += bad;
			const cJSON *f;
			cJSON_ArrayForEach(f, cJSON_GetObjectItem(r, "faults"))
			{
				t->kinds[k].faults += strcmp(str_of(f, "kind"), name) == 0;
			}
		}
		for (int i = 0; i < INVARIANT_KINDS; i++) {
			const char *name = invariant_name((enum invariant_id)i);
			t->inv_checked[i] += array_has(cJSON_GetObjectItem(r, "checked"), name);
			t->inv_broken[i] += array_has(cJSON_GetObjectItem(r, "broken"), name);
		}
	}
}

/* What broke in a failing run, in one line. */
static void failure_text(const cJSON *r, char *out, size_t cap)
{
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "violations"), 0);

	if (v)
		snprintf(out, cap, "%s at %.6fs on %s: %s", str_of(v, "invariant"),
		         num_of(v, "t_us") / 1e6, str_of(v, "node"), str_of(v, "what"));
	else
		snprintf(out, cap, "%s", str_of(r, "error"));
}

static void replay_cmd(const struct explore_sweep_info *info, uint64_t seed, char *out, size_t cap)
{
	snprintf(out, cap, "%s explore %s --seeds %" PRIu64 " --out replay-%" PRIu64, info->self,
	         info->file, seed, seed);
}

static void write_md(FILE *f, const struct explore_sweep_info *info, const cJSON *runs,
                     const struct tally *t)
{
	char line[1024], cmd[EXPLORE_PATH_MAX + 128];
	const cJSON *r;
	unsigned listed = 0;

	fprintf(f, "# explore: %s\n\n", info->scenario);
	fprintf(f, "Seeds %" PRIu64 "..%" PRIu64, info->seed_first, info->seed_last);
	if (info->shard_n)
		fprintf(f, ", shard %u/%u", info->shard_k, info->shard_n);
	fprintf(f,
	        " of `%s`: %" PRIu64 " runs, %" PRIu64 " passed, %" PRIu64
	        " broke an invariant, %" PRIu64 " did not run to their end.\n\n",
	        info->file, t->seeds, t->passed, t->failed, t->errors);
	fputs("## Failures\n\n", f);
	if (!t->failed && !t->errors)
		fputs("None.\n\n", f);
	else
		fputs("| seed | status | what broke | replay |\n|---:|---|---|---|\n", f);
	cJSON_ArrayForEach(r, runs)
	{
		if (strcmp(str_of(r, "status"), "pass") == 0 || listed++ >= FAILURES_LISTED)
			continue;
		uint64_t seed = (uint64_t)num_of(r, "seed");
		failure_text(r, line, sizeof(line));
		replay_cmd(info, seed, cmd, sizeof(cmd));
		fprintf(f, "| %" PRIu64 " | %s | ", seed, str_of(r, "status"));
		report_md_cell(f, line);
		fputs(" | `", f);
		report_md_cell(f, cmd);
		fputs("` |\n", f);
	}
	if (listed > FAILURES_LISTED)
		fprintf(f, "\n%u more in explore.json.\n", listed - FAILURES_LISTED);
	fputs("\n## Fault kinds\n\n| kind | seeds that enabled it | faults | of those seeds "
	      "failed |\n|---|---:|---:|---:|\n",
	      f);
	for (int k = 0; k < SCENARIO_FAULT_KINDS; k++)
		fprintf(f, "| %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |\n",
		        scenario_fault_kind_name((enum scenario_fault_kind)k), t->kinds[k].seeds,
		        t->kinds[k].faults, t->kinds[k].failed);
	fputs("\n## Invariants\n\n| invariant | seeds checked | seeds broken |\n|---|---:|---:|\n",
	      f);
	for (int i = 0; i < INVARIANT_KINDS; i++)
		fprintf(f, "| %s | %" PRIu64 " | %" PRIu64 " |\n",
		        invariant_name((enum invariant_id)i), t->inv_checked[i], t->inv_broken[i]);
	fprintf(f,
	        "\n%.1f simulated s in all. Wall clock (differs run to run): %.1f s for the "
	        "sweep, %.0f seeds/hour with %u jobs.\n",
	        t->simulated_s, info->wall_s,
	        info->wall_s > 0 ? (double)t->seeds * 3600.0 / info->wall_s : 0.0, info->jobs);
}

static void write_html(FILE *f, const struct explore_sweep_info *info, const cJSON *runs,
                       const struct tally *t)
{
	char line[1024], cmd[EXPLORE_PATH_MAX + 128];
	const cJSON *r;
	unsigned listed = 0;

	fputs("<!doctype html><html><head><meta charset=\"utf-8\"><title>explore: ", f);
	report_html_text(f, info->scenario);
	fputs("</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
	      "collapse}td,th{border:1px solid #ccc;padding:2px 8px}.fail{color:#b00}"
	      "code{font-size:90%}</style></head><body><h1>explore: ",
	      f);
	report_html_text(f, info->scenario);
	fprintf(f,
	        "</h1><p>Seeds %" PRIu64 "..%" PRIu64 "%s: %" PRIu64 " runs, %" PRIu64
	        " passed, <span class=\"fail\">%" PRIu64 " broke an invariant, %" PRIu64
	        " did not run to their end</span>.</p><h2>Failures</h2>",
	        info->seed_first, info->seed_last, info->shard_n ? " (one shard)" : "", t->seeds,
	        t->passed, t->failed, t->errors);
	if (!t->failed && !t->errors)
		fputs("<p>None.</p>", f);
	else
		fputs("<table><tr><th>seed</th><th>status</th><th>what "
		      "broke</th><th>replay</th></tr>",
		      f);
	cJSON_ArrayForEach(r, runs)
	{
		if (strcmp(str_of(r, "status"), "pass") == 0 || listed++ >= FAILURES_LISTED)
			continue;
		uint64_t seed = (uint64_t)num_of(r, "seed");
		failure_text(r, line, sizeof(line));
		replay_cmd(info, seed, cmd, sizeof(cmd));
		fprintf(f, "<tr class=\"fail\"><td>%" PRIu64 "</td><td>", seed);
		report_html_text(f, str_of(r, "status"));
		fputs("</td><td>", f);
		report_html_text(f, line);
		fputs("</td><td><code>", f);
		report_html_text(f, cmd);
		fputs("</code></td></tr>", f);
	}
	if (t->failed || t->errors)
		fputs("</table>", f);
	fputs("<h2>Fault kinds</h2><table><tr><th>kind</th><th>seeds that enabled it</th>"
	      "<th>faults</th><th>of those seeds failed</th></tr>",
	      f);
	for (int k = 0; k < SCENARIO_FAULT_KINDS; k++)
		fprintf(f,
		        "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
		        "</td></tr>",
		        scenario_fault_kind_name((enum scenario_fault_kind)k), t->kinds[k].seeds,
		        t->kinds[k].faults, t->kinds[k].failed);
	fputs("</table><h2>Invariants</h2><table><tr><th>invariant</th><th>seeds checked</th>"
	      "<th>seeds broken</th></tr>",
	      f);
	for (int i = 0; i < INVARIANT_KINDS; i++)
		fprintf(f, "<tr><td>%s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>",
		        invariant_name((enum invariant_id)i), t->inv_checked[i], t->inv_broken[i]);
	fputs("</table><p>Every seed's faults and verdict: <a href=\"explore.json\">explore.json"
	      "</a>.</p></body></html>\n",
	      f);
}

/* Opens DIR/name for writing; the caller closes it with close_out. */
static FILE *open_out(const char *dir, const char *name, char *path, size_t cap)
{
	snprintf(path, cap, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "simrun explore: could not write %s: %s\n", path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path)
{
	bool bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "simrun explore: could not write %s completely\n", path);
		return -EIO;
	}
	return 0;
}

int explore_report_write(const char *dir, const struct explore_sweep_info *info, cJSON *runs,
                         cJSON *shards)
{
	char path[EXPLORE_PATH_MAX + 32], hash[24];
	struct tally t;
	int err = 0;
	cJSON *doc = cJSON_CreateObject();

	if (!doc || runs_sort(runs) < 0) {
		cJSON_Delete(doc);
		cJSON_Delete(runs);
		cJSON_Delete(shards);
		return -ENOMEM;
	}
	tally_runs(runs, &t);
	snprintf(hash, sizeof(hash), "%016" PRIx64, info->scenario_hash);
	cJSON_AddStringToObject(doc, "scenario", info->scenario);
	cJSON_AddStringToObject(doc, "file", info->file);
	cJSON_AddStringToObject(doc, "scenario_hash", hash);
	cJSON_AddNumberToObject(doc, "seed_first", (double)info->seed_first);
	cJSON_AddNumberToObject(doc, "seed_last", (double)info->seed_last);
	if (shards)
		cJSON_AddItemToObject(doc, "shards", shards);
	else if (info->shard_n) {
		cJSON *s = cJSON_AddArrayToObject(doc, "shards");
		char k[32];
		snprintf(k, sizeof(k), "%u/%u", info->shard_k, info->shard_n);
		cJSON_AddItemToArray(s, cJSON_CreateString(k));
	}
	cJSON_AddNumberToObject(doc, "jobs", info->jobs);
	cJSON_AddNumberToObject(doc, "wall_s", info->wall_s);
	cJSON *sum = cJSON_AddObjectToObject(doc, "summary");
	cJSON_AddNumberToObject(sum, "seeds", (double)t.seeds);
	cJSON_AddNumberToObject(sum, "passed", (double)t.passed);
	cJSON_AddNumberToObject(sum, "failed", (double)t.failed);
	cJSON_AddNumberToObject(sum, "errors", (double)t.errors);
	cJSON_AddNumberToObject(sum, "simulated_s", t.simulated_s);
	cJSON_AddNumberToObject(sum, "seeds_per_hour",
	                        info->wall_s > 0 ? (double)t.seeds * 3600.0 / info->wall_s : 0.0);
	cJSON_AddItemToObject(doc, "runs", runs);

	char *text = cJSON_Print(doc);
	FILE *f = text ? open_out(dir, "explore.json", path, sizeof(path)) : NULL;
	if (!text)
		err = -ENOMEM;
	else if (!f)
		err = -EIO;
	else {
		fputs(text, f);
		fputc('\n', f);
		if (close_out(f, path))
			err = -EIO;
	}
	free(text);
	if ((f = open_out(dir, "summary.md", path, sizeof(path)))) {
		write_md(f, info, runs, &t);
		if (close_out(f, path))
			err = -EIO;
	} else {
		err = -EIO;
	}
	if ((f = open_out(dir, "index.html", path, sizeof(path)))) {
		write_html(f, info, runs, &t);
		if (close_out(f, path))
			err = -EIO;
	} else {
		err = -EIO;
	}
	cJSON_Delete(doc);
	return err;
}

/* ---- simrun explore-merge ---- */

static void merge_usage(FILE *f)
{
	fputs("usage: simrun explore-merge --out DIR SHARD-DIR/explore.json...\n"
	      "\n"
	      "Joins the explore.json of a sweep's shards (simrun explore --shard K/N) into\n"
	      "DIR/explore.json, summary.md and index.html: the report the unsharded sweep\n"
	      "writes, seed for seed. The shards must have run the same scenario file over the\n"
	      "same range; every shard 1..N must be there, once.\n",
	      f);
}

struct merge {
	struct explore_sweep_info info;
	char scenario[SCENARIO_NAME_MAX + 1], file[EXPLORE_PATH_MAX];
	uint32_t shard_n;
	unsigned char *have; /* per shard k: seen */
	cJSON *runs, *shards;
};

/* One shard's explore.json into m; 0, or -1 after saying why. */
static int merge_one(struct merge *m, const char *path)
{
	char *text = explore_read_file(path, EXPLORE_JSON_MAX, NULL);
	cJSON *doc, *runs, *sh;
	unsigned k = 0, n = 0;

	if (!text) {
		fprintf(stderr, "simrun explore-merge: %s: %s\n", path, strerror(errno));
		return -1;
	}
	doc = cJSON_Parse(text);
	free(text);
	runs = cJSON_GetObjectItem(doc, "runs");
	sh = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "shards"), 0);
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(runs) || !cJSON_IsString(sh) ||
	    sscanf(sh->valuestring, "%u/%u", &k, &n) != 2 || k < 1 || k > n ||
	    n > EXPLORE_SHARDS_MAX || cJSON_GetArraySize(cJSON_GetObjectItem(doc, "shards")) != 1) {
		fprintf(stderr, "simrun explore-merge: %s: not one shard's explore.json\n", path);
		cJSON_Delete(doc);
		return -1;
	}
	uint64_t hash = strtoull(str_of(doc, "scenario_hash"), NULL, 16);
	uint64_t first = (uint64_t)num_of(doc, "seed_first"),
	         last = (uint64_t)num_of(doc, "seed_last");
	if (first == 0 || last < first) {
		fprintf(stderr, "simrun explore-merge: %s: bad seed range\n", path);
		cJSON_Delete(doc);
		return -1;
	}
	if (!m->have) {
		m->have = calloc(n + 1, 1);
		if (!m->have) {
			cJSON_Delete(doc);
			return -1;
		}
		m->shard_n = n;
		m->info.scenario_hash = hash;
		m->info.seed_first = first;
		m->info.seed_last = last;
		snprintf(m->scenario, sizeof(m->scenario), "%s", str_of(doc, "scenario"));
		snprintf(m->file, sizeof(m->file), "%s", str_of(doc, "file"));
	} else if (n != m->shard_n || hash != m->info.scenario_hash ||
	           first != m->info.seed_first || last != m->info.seed_last) {
		fprintf(
		    stderr,
		    "simrun explore-merge: %s: a different sweep (shard count, scenario file or "
		    "seed range differs from the first input's)\n",
		    path);
		cJSON_Delete(doc);
		return -1;
	}
	if (m->have[k]) {
		fprintf(stderr, "simrun explore-merge: %s: shard %u/%u given twice\n", path, k, n);
		cJSON_Delete(doc);
		return -1;
	}
	m->have[k] = 1;
	cJSON_AddItemToArray(m->shards, cJSON_CreateString(sh->valuestring));
	if (num_of(doc, "wall_s") > m->info.wall_s)
		m->info.wall_s = num_of(doc, "wall_s"); /* shards run side by side */
	m->info.jobs += (uint32_t)num_of(doc, "jobs");
	cJSON *r;
	while ((r = cJSON_DetachItemFromArray(runs, 0))) {
		uint64_t seed = (uint64_t)num_of(r, "seed");
		if (seed < first || seed > last || (seed - first) % n != k - 1) {
			fprintf(stderr,
			        "simrun explore-merge: %s: seed %" PRIu64 " is not shard %u/%u's\n",
			        path, seed, k, n);
			cJSON_Delete(r);
			cJSON_Delete(doc);
			return -1;
		}
		cJSON_AddItemToArray(m->runs, r);
	}
	cJSON_Delete(doc);
	return 0;
}

int explore_merge_cmd(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	struct merge m = {0};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else if (c == 'h') {
			merge_usage(stdout);
			return SIMRUN_EXIT_OK;
		} else {
			merge_usage(stderr);
			return SIMRUN_EXIT_INVALID;
		}
	}
	if (!out || optind >= argc || argc - optind > MERGE_INPUTS_MAX) {
		fprintf(stderr, "simrun explore-merge: %s\n",
		        !out ? "--out DIR is required" : "one explore.json per shard expected");
		merge_usage(stderr);
		return SIMRUN_EXIT_INVALID;
	}
	m.runs = cJSON_CreateArray();
	m.shards = cJSON_CreateArray();
	int status = m.runs && m.shards ? SIMRUN_EXIT_OK : SIMRUN_EXIT_INVALID;
	for (int i = optind; status == SIMRUN_EXIT_OK && i < argc; i++)
		if (merge_one(&m, argv[i]) < 0)
			status = SIMRUN_EXIT_INVALID;
	for (uint32_t k = 1; status == SIMRUN_EXIT_OK && k <= m.shard_n; k++)
		if (!m.have[k]) {
			fprintf(stderr, "simrun explore-merge: shard %u/%u is missing\n", k,
			        m.shard_n);
			status = SIMRUN_EXIT_INVALID;
		}
	if (status != SIMRUN_EXIT_OK || explore_mkdirs(out) < 0) {
		if (status == SIMRUN_EXIT_OK)
			fprintf(stderr, "simrun explore-merge: cannot make %s\n", out);
		cJSON_Delete(m.runs);
		cJSON_Delete(m.shards);
		free(m.have);
		return SIMRUN_EXIT_INVALID;
	}
	free(m.have);
	m.info.scenario = m.scenario;
	m.info.file = m.file;
	m.info.self = "simrun";
	struct tally t;
	tally_runs(m.runs, &t);
	if (explore_report_write(out, &m.info, m.runs, m.shards) < 0)
		return SIMRUN_EXIT_INVALID;
	printf("explore-merge: %" PRIu64 " seeds from %u shards: %" PRIu64 " passed, %" PRIu64
	       " broke an invariant, %" PRIu64 " did not run to their end; report %s/index.html\n",
	       t.seeds, m.shard_n, t.passed, t.failed, t.errors, out);
	return t.failed || t.errors ? SIMRUN_EXIT_FAILED : SIMRUN_EXIT_OK;
}
