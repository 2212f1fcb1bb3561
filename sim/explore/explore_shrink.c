/* `simrun shrink` (explore.h, EXP-3): a seed's fault schedule that breaks
 * an invariant, made minimal. Each step changes the schedule (or the
 * scenario: fewer nodes in a group with a count) and keeps the change when
 * a trial shows the same invariant still broken:
 *   1. fewer faults: chunks of the list removed, halving the chunk
 *      size down to single faults (delta debugging's ddmin);
 *   2. shorter faults: each one's heal brought towards its start;
 *   3. later faults: each one's start moved towards its heal;
 *   4. fewer nodes: each group's count halved while it breaks.
 * The result is written as an ordinary scenario file (the faults as its
 * timeline, explore: gone), then run once more for its report and pcaps.
 * Runs are deterministic, so "still broken" is a fact, not a sample. */
#include "lib/base/numarg.h"
#include "sim/explore/explore.h"
#include "sim/explore/explore_int.h"
#include "sim/explore/explore_yaml.h"
#include "sim/explore/invariant.h"
#include "sim/simrun_run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHRINK_TRIALS_DEF   400
#define SHRINK_TRIALS_MAX   100000
#define SHRINK_HALVINGS     6 /* per fault, for its length and for its start */
#define SHRINK_TEXT_MAX     (16u << 20)
#define SHRINK_MIN_FAULT_US 1000

struct shrink_args {
	const char *scenario, *out_dir, *pcap, *invariant;
	uint64_t seed;
	uint32_t timeout_s, max_trials;
};

/* A fault with its node target by name: node indexes move when a
 * group's count changes. */
struct sfault {
	struct explore_fault f;
	char node[SCENARIO_NAME_MAX + 16];           /* a node's or a host's node's name */
	char service[SCENARIO_SERVICE_NAME_MAX + 1]; /* a host's service */
};

/* Kinds whose target is a host (an index into the scenario's hosts). */
static bool on_host(enum scenario_fault_kind kind)
{
	return kind == SCENARIO_FAULT_REVOKE || kind == SCENARIO_FAULT_REJECT ||
	       kind == SCENARIO_FAULT_DRAIN || kind == SCENARIO_FAULT_TAGS;
}

/* The index of host (node, service) among sc's hosts; false when gone. */
static bool host_find(const struct scenario *sc, const char *node, const char *service,
                      uint32_t *out)
{
	size_t n = scenario_hosts(sc, NULL, 0);
	struct scenario_host *h = calloc(n ? n : 1, sizeof(*h));
	uint32_t idx;
	bool found = false;

	if (!h || scenario_node_find(sc, node, &idx) < 0) {
		free(h);
		return false;
	}
	scenario_hosts(sc, h, n);
	for (size_t i = 0; i < n && !found; i++)
		if (h[i].node == idx && !strcmp(h[i].service, service)) {
			*out = (uint32_t)i;
			found = true;
		}
	free(h);
	return found;
}

struct shrink {
	const struct shrink_args *a;
	char *text;
	size_t len;
	struct scenario *base;
	uint32_t enabled;
	int target;                                    /* the invariant that must stay broken */
	uint32_t counts[EXPLORE_YAML_GROUPS_MAX];      /* as shrunk so far */
	uint32_t base_counts[EXPLORE_YAML_GROUPS_MAX]; /* as written */
	size_t n_groups;
	uint64_t trials;
	char first_what[512];
};

static void shrink_usage(FILE *f)
{
	fprintf(f,
	        "usage: simrun shrink SCENARIO --seed S [--invariant NAME] [--out DIR]\n"
	        "                     [--pcap all|none|GLOB] [--timeout S] [--max-trials N]\n"
	        "\n"
	        "Makes the fault schedule that seed S draws (simrun explore) minimal while it\n"
	        "still breaks the invariant (default: the first one it breaks): fewer faults,\n"
	        "shorter, later, fewer nodes where a group has a count. Writes\n"
	        "DIR/<name>-seed-S.yaml, an ordinary scenario with the faults as its timeline,\n"
	        "and its run's report and pcaps under DIR (default shrink-S).\n"
	        "Exit status: 0 shrunk, 1 the seed breaks no such invariant, 2 invalid input.\n");
}

static int shrink_parse(int argc, char **argv, struct shrink_args *a, char *dir_buf, size_t cap)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 's'},    {"invariant", required_argument, NULL, 'i'},
	    {"out", required_argument, NULL, 'o'},     {"pcap", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 't'}, {"max-trials", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	char why[256] = "";
	uint64_t v = 0;
	int c;

	*a = (struct shrink_args){
	    .pcap = "all", .timeout_s = EXPLORE_TIMEOUT_S_DEF, .max_trials = SHRINK_TRIALS_DEF};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (numarg_u64(optarg, 1, SCENARIO_SEED_MAX, &a->seed, why, sizeof(why)) <
			    0)
				goto bad;
			break;
		case 'i':
			if (invariant_by_name(optarg) < 0) {
				snprintf(why, sizeof(why),
				         "no such invariant (sim/explore/README.md)");
				goto bad;
			}
			a->invariant = optarg;
			break;
		case 'o':
			a->out_dir = optarg;
			break;
		case 'p':
			if (explore_opt_pcap(optarg, &a->pcap, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 't':
			if (explore_opt_timeout(optarg, &a->timeout_s, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 'm':
			if (numarg_u64(optarg, 1, SHRINK_TRIALS_MAX, &v, why, sizeof(why)) < 0)
				goto bad;
			a->max_trials = (uint32_t)v;
			break;
		case 'h':
			shrink_usage(stdout);
			return SIMRUN_EXIT_OK;
		default:
			shrink_usage(stderr);
			return SIMRUN_EXIT_INVALID;
		}
		continue;
	bad:
		explore_opt_bad("shrink", longopts, c, optarg, why);
		return SIMRUN_EXIT_INVALID;
	}
	if (optind + 1 != argc || !a->seed) {
		fprintf(stderr, "simrun shrink: %s\n",
		        optind + 1 != argc ? "exactly one scenario file expected"
		                           : "--seed S is required");
		shrink_usage(stderr);
		return SIMRUN_EXIT_INVALID;
	}
	a->scenario = argv[optind];
	if (!a->out_dir) {
		snprintf(dir_buf, cap, "shrink-%" PRIu64, a->seed);
		a->out_dir = dir_buf;
	}
	return -1;
}

/* The scenario text with these counts (none changed: the text itself). */
static int load_with_counts(struct shrink *sh, const uint32_t *counts, struct scenario **out)
{
	struct explore_yaml_edit *ed = calloc(1, sizeof(*ed));
	struct scenario_diags diags;
	char why[256], *text = NULL;
	int err;

	if (!ed)
		return -ENOMEM;
	ed->seed = sh->a->seed;
	for (size_t i = 0; i < sh->n_groups; i++)
		ed->counts[i] = counts[i] != sh->base->groups[i].count ? counts[i] : 0;
	ed->n_counts = sh->n_groups;
	err = explore_yaml_rewrite(sh->text, sh->len, ed, &text, why, sizeof(why));
	free(ed);
	if (err)
		return err;
	err = scenario_load_text(text, strlen(text), sh->a->scenario, out, &diags);
	free(text);
	return err;
}

/* Faults with their node and host targets found again in sc (fewer
 * nodes move host indexes); false when one is gone. */
static bool faults_for(const struct scenario *sc, const struct sfault *in, size_t n,
                       struct explore_fault *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = in[i].f;
		if (explore_fault_on_node(in[i].f.kind) &&
		    scenario_node_find(sc, in[i].node, &out[i].target) < 0)
			return false;
		if (on_host(in[i].f.kind) &&
		    !host_find(sc, in[i].node, in[i].service, &out[i].target))
			return false;
	}
	return true;
}

/* One trial of faults `f` on the scenario with `counts`; true when the
 * target invariant is still broken (the result in *result if asked).
 * The trial's folder (DIR/trials/<n>) is removed after. */
static bool shrink_try(struct shrink *sh, const struct sfault *f, size_t n, const uint32_t *counts,
                       cJSON **result)
{
	struct scenario *sc = sh->base;
	struct explore_fault *faults = calloc(n ? n : 1, sizeof(*faults));
	struct explore_schedule s;
	bool breaks = false, own = memcmp(counts, sh->base_counts, sizeof(sh->base_counts)) != 0;

	if (!faults)
		return false;
	if (own && load_with_counts(sh, counts, &sc) < 0) {
		free(faults);
		return false;
	}
	if (faults_for(sc, f, n, faults) &&
	    explore_schedule_from_faults(sc, sh->enabled, faults, n, &s) == 0) {
		struct explore_trial t = {.scenario_path = sh->a->scenario,
		                          .sc = sc,
		                          .schedule = &s,
		                          .seed = sh->a->seed,
		                          .pcap = "all",
		                          .timeout_s = sh->a->timeout_s,
		                          .invariants = 1u << sh->target,
		                          .plots = false};
		snprintf(t.dir, sizeof(t.dir), "%s/trials/%" PRIu64, sh->a->out_dir, sh->trials);
		sh->trials++;
		cJSON *r = explore_trial_run(&t);
		const cJSON *v;
		cJSON_ArrayForEach(v, cJSON_GetObjectItem(r, "broken"))
		{
			if (cJSON_IsString(v) && invariant_by_name(v->valuestring) == sh->target)
				breaks = true;
		}
		if (result)
			*result = r;
		else
			cJSON_Delete(r);
		explore_remove_tree(t.dir);
		explore_schedule_free(&s);
	}
	if (sc != sh->base)
		scenario_free(sc);
	free(faults);
	return breaks;
}

static bool budget_left(const struct shrink *sh)
{
	return sh->trials < sh->a->max_trials;
}

/* ddmin: removes chunks of the fault list while the invariant breaks. */
static void shrink_remove(struct shrink *sh, struct sfault *f, size_t *n)
{
	struct sfault *tmp = calloc(*n ? *n : 1, sizeof(*tmp));

	if (!tmp)
		return;
	for (size_t chunk = *n / 2 ? *n / 2 : 1; chunk >= 1 && budget_left(sh); chunk /= 2) {
		for (size_t at = 0; at < *n && budget_left(sh);) {
			size_t m = 0, cut = at + chunk < *n ? chunk : *n - at;
			for (size_t i = 0; i < *n; i++)
				if (i < at || i >= at + cut)
					tmp[m++] = f[i];
			if (shrink_try(sh, tmp, m, sh->counts, NULL)) {
				memcpy(f, tmp, m * sizeof(*f));
				*n = m;
				printf("shrink: %zu fault%s\n", m, m == 1 ? "" : "s");
				fflush(stdout);
			} else {
				at += cut;
			}
		}
		if (chunk == 1)
			break;
	}
	free(tmp);
}

/* Each fault shorter (heal earlier), then later (start later). */
static void shrink_times(struct shrink *sh, struct sfault *f, size_t n)
{
	for (int later = 0; later < 2; later++)
		for (size_t i = 0; i < n && budget_left(sh); i++)
			for (int h = 0; h < SHRINK_HALVINGS && budget_left(sh); h++) {
				struct sfault keep = f[i];
				uint64_t len = f[i].f.heal_us - f[i].f.start_us, step = len / 2;
				if (len <= SHRINK_MIN_FAULT_US || step == 0)
					break;
				if (later)
					f[i].f.start_us += step;
				else
					f[i].f.heal_us -= step;
				if (!shrink_try(sh, f, n, sh->counts, NULL)) {
					f[i] = keep;
					break;
				}
			}
}

/* Each group with a count: halved while the invariant still breaks, then
 * one less (a count of 1 renames the node, which a glob may no longer
 * match: such a trial does not load and is not taken). */
static void shrink_counts(struct shrink *sh, const struct sfault *f, size_t n)
{
	for (size_t g = 0; g < sh->n_groups && budget_left(sh); g++)
		while (sh->counts[g] > 1 && budget_left(sh)) {
			uint32_t trial[EXPLORE_YAML_GROUPS_MAX], keep = sh->counts[g];
			bool took = false;
			memcpy(trial, sh->counts, sizeof(trial));
			for (int step = 0; step < 2 && !took && budget_left(sh); step++) {
				trial[g] = step == 0 ? keep / 2 : keep - 1;
				if (step == 1 && trial[g] == keep / 2)
					break;
				took = shrink_try(sh, f, n, trial, NULL);
			}
			if (!took)
				break;
			sh->counts[g] = trial[g];
			printf("shrink: %s: count %u\n", sh->base->groups[g].name, trial[g]);
			fflush(stdout);
		}
}

/* The written scenario run as it is (its faults in its own timeline) into
 * DIR: true when it breaks the target invariant. */
static bool final_run(struct shrink *sh, const char *path, cJSON **result)
{
	struct scenario_diags diags;
	struct scenario *sc;
	struct explore_schedule none = {0};
	bool breaks = false;

	if (scenario_load_file(path, &sc, &diags) < 0) {
		scenario_diags_print(&diags, stderr);
		return false;
	}
	struct explore_trial t = {.scenario_path = sh->a->scenario,
	                          .sc = sc,
	                          .schedule = &none,
	                          .seed = sh->a->seed,
	                          .pcap = sh->a->pcap,
	                          .timeout_s = sh->a->timeout_s,
	                          .invariants = 1u << sh->target,
	                          .plots = true};
	snprintf(t.dir, sizeof(t.dir), "%s", sh->a->out_dir);
	*result = explore_trial_run(&t);
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItem(*result, "broken"))
	{
		if (cJSON_IsString(v) && invariant_by_name(v->valuestring) == sh->target)
			breaks = true;
	}
	scenario_free(sc);
	return breaks;
}

/* The minimal schedule as a scenario file, run for its outputs. */
static int shrink_write(struct shrink *sh, const struct sfault *f, size_t n, size_t n_before,
                        double t0)
{
	const struct shrink_args *a = sh->a;
	struct explore_yaml_edit *ed = calloc(1, sizeof(*ed));
	struct explore_fault *faults = calloc(n ? n : 1, sizeof(*faults));
	struct explore_schedule s = {0};
	struct scenario *sc = NULL;
	char **lines = NULL, why[256], *text = NULL, path[EXPLORE_PATH_MAX + 64];
	int status = SIMRUN_EXIT_INVALID;

	if (!ed || !faults || load_with_counts(sh, sh->counts, &sc) < 0 ||
	    !faults_for(sc, f, n, faults) ||
	    explore_schedule_from_faults(sc, sh->enabled, faults, n, &s) < 0)
		goto out;
	lines = calloc(s.n_events ? s.n_events : 1, sizeof(*lines));
	if (!lines)
		goto out;
	for (size_t i = 0; i < s.n_events; i++) {
		lines[i] = explore_schedule_entry_dup(sc, &s.events[i]);
		if (!lines[i])
			goto out;
	}
	ed->seed = a->seed;
	for (size_t i = 0; i < sh->n_groups; i++)
		ed->counts[i] = sh->counts[i] != sh->base->groups[i].count ? sh->counts[i] : 0;
	ed->n_counts = sh->n_groups;
	ed->timeline = (const char *const *)lines;
	ed->n_timeline = s.n_events;
	/* Its one expectation: the invariant. It fails while the defect is
	 * there and holds once it is fixed: a regression test as it stands
	 * (the author's expectations were for the faultless timeline). */
	char inv[SCENARIO_NAME_MAX + 32];
	const char *expect[1] = {inv};
	snprintf(inv, sizeof(inv), "{invariant: %s}",
	         invariant_name((enum invariant_id)sh->target));
	ed->expect = expect;
	ed->n_expect = 1;
	ed->expect_replace = true;
	if (explore_yaml_rewrite(sh->text, sh->len, ed, &text, why, sizeof(why)) < 0) {
		fprintf(stderr, "simrun shrink: rewriting %s: %s\n", a->scenario, why);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s-seed-%" PRIu64 ".yaml", a->out_dir, sh->base->name,
	         a->seed);
	FILE *out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "simrun shrink: %s: %s\n", path, strerror(errno));
		goto out;
	}
	fprintf(out,
	        "# Shrunk by `simrun shrink %s --seed %" PRIu64 "` (%" PRIu64
	        " trials, %.0f wall s):\n# %zu faults down to %zu; it broke invariant %s:\n# %s\n"
	        "# Its expectation is that invariant alone: simrun fails while the defect\n"
	        "# is there, and passes once it is fixed.\n",
	        a->scenario, a->seed, sh->trials, simrun_wall_s() - t0, n_before, n,
	        invariant_name((enum invariant_id)sh->target), sh->first_what);
	fputs(text, out);
	if (fclose(out) != 0) {
		fprintf(stderr, "simrun shrink: %s: could not write it completely\n", path);
		goto out;
	}
	/* Its own run, from the file as written: the report and pcaps. */
	cJSON *r = NULL;
	if (!final_run(sh, path, &r)) {
		fprintf(stderr,
		        "simrun shrink: %s, run as written, does not break %s: a defect of the "
		        "shrinker (see %s/simrun.log)\n",
		        path, invariant_name((enum invariant_id)sh->target), a->out_dir);
		cJSON_Delete(r);
		goto out;
	}
	printf("shrink: %zu faults down to %zu in %" PRIu64 " trials (%.0f wall s)\n", n_before, n,
	       sh->trials, simrun_wall_s() - t0);
	printf("shrink: scenario %s\n", path);
	printf("shrink: report %s/reports/%s/index.html; replay: simrun %s\n", a->out_dir,
	       sh->base->name, path);
	cJSON_Delete(r);
	status = SIMRUN_EXIT_OK;
out:
	if (lines)
		for (size_t i = 0; i < s.n_events; i++)
			free(lines[i]);
	free(lines);
	free(text);
	explore_schedule_free(&s);
	if (sc)
		scenario_free(sc);
	free(faults);
	free(ed);
	return status;
}

static int shrink_load(struct shrink *sh)
{
	struct scenario_diags diags;
	const char *path = sh->a->scenario;

	sh->text = explore_read_file(path, SHRINK_TEXT_MAX, &sh->len);
	if (!sh->text) {
		fprintf(stderr, "simrun shrink: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int err = scenario_load_text(sh->text, sh->len, path, &sh->base, &diags);
	scenario_diags_print(&diags, stderr);
	if (err)
		return -1;
	if (!sh->base->explore.present) {
		fprintf(stderr, "simrun shrink: %s has no explore: section\n", path);
		return -1;
	}
	if ((size_t)sh->base->group_count > EXPLORE_YAML_GROUPS_MAX) {
		fprintf(stderr, "simrun shrink: more than %d node groups\n",
		        EXPLORE_YAML_GROUPS_MAX);
		return -1;
	}
	sh->n_groups = (size_t)sh->base->group_count;
	for (size_t i = 0; i < sh->n_groups; i++)
		sh->counts[i] = sh->base_counts[i] = sh->base->groups[i].count;
	return 0;
}

/* The seed's whole schedule run once: which invariant to keep broken. */
static int shrink_first(struct shrink *sh, struct sfault **out, size_t *n)
{
	struct explore_schedule s;
	int err = explore_schedule_draw(sh->base, sh->a->seed, &s);

	if (err) {
		fprintf(stderr, "simrun shrink: drawing seed %" PRIu64 "'s schedule: %s\n",
		        sh->a->seed, strerror(-err));
		return -1;
	}
	sh->enabled = s.enabled;
	*out = calloc(s.n_faults ? s.n_faults : 1, sizeof(**out));
	if (!*out) {
		explore_schedule_free(&s);
		return -1;
	}
	for (size_t i = 0; i < s.n_faults; i++) {
		(*out)[i].f = s.faults[i];
		if (explore_fault_on_node(s.faults[i].kind))
			scenario_node_name(sh->base, s.faults[i].target, (*out)[i].node,
			                   sizeof((*out)[i].node));
		if (on_host(s.faults[i].kind)) {
			const struct scenario_host *h = &s.hosts[s.faults[i].target];
			scenario_node_name(sh->base, h->node, (*out)[i].node,
			                   sizeof((*out)[i].node));
			snprintf((*out)[i].service, sizeof((*out)[i].service), "%s", h->service);
		}
	}
	*n = s.n_faults;
	explore_schedule_free(&s);
	/* Every invariant the first time, unless one is named: what to keep broken. */
	int wanted = sh->a->invariant ? invariant_by_name(sh->a->invariant) : -1;
	cJSON *r = NULL;
	uint32_t mask = wanted >= 0 ? 1u << wanted : (1u << INVARIANT_KINDS) - 1;
	struct explore_fault *faults = calloc(*n ? *n : 1, sizeof(*faults));
	struct explore_schedule full;
	if (!faults || !faults_for(sh->base, *out, *n, faults) ||
	    explore_schedule_from_faults(sh->base, sh->enabled, faults, *n, &full) < 0) {
		free(faults);
		return -1;
	}
	struct explore_trial t = {.scenario_path = sh->a->scenario,
	                          .sc = sh->base,
	                          .schedule = &full,
	                          .seed = sh->a->seed,
	                          .pcap = "all",
	                          .timeout_s = sh->a->timeout_s,
	                          .invariants = mask};
	snprintf(t.dir, sizeof(t.dir), "%s/trials/%" PRIu64, sh->a->out_dir, sh->trials++);
	r = explore_trial_run(&t);
	explore_remove_tree(t.dir);
	explore_schedule_free(&full);
	free(faults);
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "violations"), 0);
	if (!v) {
		const cJSON *e = cJSON_GetObjectItem(r, "error");
		fprintf(stderr, "simrun shrink: seed %" PRIu64 " breaks %s%s%s\n", sh->a->seed,
		        sh->a->invariant ? sh->a->invariant : "no invariant",
		        cJSON_IsString(e) ? "; its run failed: " : "",
		        cJSON_IsString(e) ? e->valuestring : "");
		if (sh->a->invariant)
			fprintf(stderr, "simrun shrink: (it holds)\n");
		cJSON_Delete(r);
		return 1;
	}
	const cJSON *name = cJSON_GetObjectItem(v, "invariant");
	sh->target = invariant_by_name(cJSON_IsString(name) ? name->valuestring : "");
	const cJSON *what = cJSON_GetObjectItem(v, "what");
	snprintf(sh->first_what, sizeof(sh->first_what), "%s",
	         cJSON_IsString(what) ? what->valuestring : "");
	cJSON_Delete(r);
	if (sh->target < 0)
		return -1;
	printf("shrink: seed %" PRIu64 " breaks %s with %zu faults: %s\n", sh->a->seed,
	       invariant_name((enum invariant_id)sh->target), *n, sh->first_what);
	fflush(stdout);
	return 0;
}

int explore_shrink_cmd(int argc, char **argv, const char *self)
{
	struct shrink_args a;
	struct shrink sh = {.a = &a};
	char dir[64];
	struct sfault *f = NULL;
	size_t n = 0;
	int status = shrink_parse(argc, argv, &a, dir, sizeof(dir));

	(void)self;
	if (status >= 0)
		return status;
	if (shrink_load(&sh) < 0 || explore_mkdirs(a.out_dir) < 0) {
		status = SIMRUN_EXIT_INVALID;
		goto out;
	}
	double t0 = simrun_wall_s();
	int rc = shrink_first(&sh, &f, &n);
	if (rc) {
		status = rc > 0 ? SIMRUN_EXIT_FAILED : SIMRUN_EXIT_INVALID;
		goto out;
	}
	size_t n_before = n;
	shrink_remove(&sh, f, &n);
	shrink_times(&sh, f, n);
	shrink_counts(&sh, f, n);
	if (!budget_left(&sh))
		printf("shrink: stopped at --max-trials %u (not minimal yet)\n", a.max_trials);
	status = shrink_write(&sh, f, n, n_before, t0);
	char trials[EXPLORE_PATH_MAX + 16];
	snprintf(trials, sizeof(trials), "%s/trials", a.out_dir);
	explore_remove_tree(trials);
out:
	free(f);
	free(sh.text);
	if (sh.base)
		scenario_free(sh.base);
	return status;
}
