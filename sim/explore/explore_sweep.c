/* `simrun explore` (explore.h, EXP-1, EXP-4): each seed of a range (or of
 * one shard of it) runs the scenario under the fault schedule drawn from
 * that seed, up to --jobs trials at a time, each in its own process; the
 * sweep's results go to DIR/explore.json, summary.md and index.html, and
 * every failing seed is printed with the commands that replay and shrink
 * it. */
#include "lib/base/hash.h"
#include "lib/base/numarg.h"
#include "sim/explore/explore.h"
#include "sim/explore/explore_int.h"
#include "sim/explore/invariant.h"
#include "sim/simrun_run.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCENARIO_TEXT_MAX (64u << 20)
#define PROGRESS_EVERY_S  1.0

struct sweep_args {
	const char *scenario;
	const char *out_dir;
	const char *pcap;
	uint64_t first, last;
	uint32_t jobs, shard_k, shard_n, timeout_s;
	enum explore_keep keep;
	bool quiet;
	uint32_t invariants;
};

static void sweep_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: simrun explore SCENARIO --seeds A..B [--jobs N] [--shard K/N] [--out DIR]\n"
	    "                      [--pcap all|none|GLOB] [--keep failed|all|none]\n"
	    "                      [--timeout S] [--invariants NAME,...] [--quiet]\n"
	    "\n"
	    "Runs the scenario once per seed, each under the random fault schedule that seed\n"
	    "draws from the scenario's explore: menu (the world's seed is the same number),\n"
	    "and judges the invariants from the run's events and packets.\n"
	    "  --seeds A..B   the seed range (or one seed A); at most %d seeds\n"
	    "  --jobs N       trials at a time, each its own process (default: the cores)\n"
	    "  --shard K/N    only every N-th seed of the range, starting with its K-th (1..N)\n"
	    "  --out DIR      DIR/explore.json, summary.md, index.html, seeds/<seed>/ (default "
	    "explore)\n"
	    "  --pcap WHICH   pcaps each trial writes (default all: the invariants read the\n"
	    "                 tailnet captures)\n"
	    "  --keep WHICH   trial folders kept: failed (default; all for a single seed)\n"
	    "  --timeout S    wall seconds one trial may take before it is killed (default "
	    "%d)\n"
	    "  --invariants   only these (default every one; names in sim/explore/README.md)\n"
	    "Exit status: 0 no seed broke anything, 1 a seed broke an invariant or did not\n"
	    "run to its end, 2 invalid input.\n",
	    EXPLORE_SEEDS_MAX, EXPLORE_TIMEOUT_S_DEF);
}

/* "A..B" or "A". */
static int parse_seeds(const char *text, uint64_t *first, uint64_t *last, char *why, size_t cap)
{
	const char *dots = strstr(text, "..");

	if (!dots)
		return numarg_u64(text, 1, SCENARIO_SEED_MAX, first, why, cap) < 0
		           ? -1
		           : (*last = *first, 0);
	if (numarg_u64n(text, (size_t)(dots - text), 1, SCENARIO_SEED_MAX, first, why, cap) < 0 ||
	    numarg_u64(dots + 2, 1, SCENARIO_SEED_MAX, last, why, cap) < 0)
		return -1;
	if (*last < *first) {
		snprintf(why, cap, "the range ends before it starts");
		return -1;
	}
	if (*last - *first >= EXPLORE_SEEDS_MAX) {
		snprintf(why, cap, "more than %d seeds (split the range)", EXPLORE_SEEDS_MAX);
		return -1;
	}
	return 0;
}

/* "K/N", 1 <= K <= N. */
static int parse_shard(const char *text, uint32_t *k, uint32_t *n, char *why, size_t cap)
{
	const char *slash = strchr(text, '/');
	uint64_t kk = 0, nn = 0;

	if (!slash) {
		snprintf(why, cap, "expected K/N");
		return -1;
	}
	if (numarg_u64n(text, (size_t)(slash - text), 1, EXPLORE_SHARDS_MAX, &kk, why, cap) < 0 ||
	    numarg_u64(slash + 1, 1, EXPLORE_SHARDS_MAX, &nn, why, cap) < 0)
		return -1;
	if (kk > nn) {
		snprintf(why, cap, "K must be at most N");
		return -1;
	}
	*k = (uint32_t)kk;
	*n = (uint32_t)nn;
	return 0;
}

int explore_opt_pcap(const char *arg, const char **out, char *why, size_t cap)
{
	if (world_pcap_check(arg)) {
		snprintf(why, cap, "wants all, none or a node glob");
		return -1;
	}
	*out = arg;
	return 0;
}

int explore_opt_timeout(const char *arg, uint32_t *out, char *why, size_t cap)
{
	uint64_t v = 0;

	if (numarg_u64(arg, 1, 86400, &v, why, cap) < 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

void explore_opt_bad(const char *cmd, const struct option *longopts, int c, const char *arg,
                     const char *why)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c)
			fprintf(stderr, "simrun %s: bad --%s '%s': %s\n", cmd, o->name, arg, why);
}

/* "a,b,c" of invariant names into a mask. */
int explore_parse_invariants(const char *text, uint32_t *mask, char *why, size_t cap)
{
	char buf[1024];
	char *save = NULL;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(why, cap, "too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	*mask = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int id = invariant_by_name(tok);
		if (id < 0) {
			snprintf(why, cap, "no invariant '%s' (see sim/explore/README.md)", tok);
			return -1;
		}
		*mask |= 1u << id;
	}
	if (!*mask) {
		snprintf(why, cap, "no invariant named");
		return -1;
	}
	return 0;
}

static int sweep_parse(int argc, char **argv, struct sweep_args *a)
{
	static const struct option longopts[] = {
	    {"seeds", required_argument, NULL, 's'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"shard", required_argument, NULL, 'S'},
	    {"out", required_argument, NULL, 'o'},
	    {"pcap", required_argument, NULL, 'p'},
	    {"keep", required_argument, NULL, 'k'},
	    {"timeout", required_argument, NULL, 't'},
	    {"invariants", required_argument, NULL, 'i'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char why[256];
	bool has_seeds = false;
	uint64_t v = 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	*a = (struct sweep_args){.out_dir = "explore",
	                         .pcap = "all",
	                         .jobs = cores > 0 ? (uint32_t)cores : 1,
	                         .timeout_s = EXPLORE_TIMEOUT_S_DEF,
	                         .invariants = (1u << INVARIANT_KINDS) - 1};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		why[0] = '\0';
		switch (c) {
		case 's':
			if (parse_seeds(optarg, &a->first, &a->last, why, sizeof(why)) < 0)
				goto bad;
			has_seeds = true;
			break;
		case 'j':
			if (numarg_u64(optarg, 1, EXPLORE_JOBS_MAX, &v, why, sizeof(why)) < 0)
				goto bad;
			a->jobs = (uint32_t)v;
			break;
		case 'S':
			if (parse_shard(optarg, &a->shard_k, &a->shard_n, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 'o':
			a->out_dir = optarg;
			break;
		case 'p':
			if (explore_opt_pcap(optarg, &a->pcap, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 'k':
			if (strcmp(optarg, "failed") == 0)
				a->keep = EXPLORE_KEEP_FAILED;
			else if (strcmp(optarg, "all") == 0)
				a->keep = EXPLORE_KEEP_ALL;
			else if (strcmp(optarg, "none") == 0)
				a->keep = EXPLORE_KEEP_NONE;
			else {
				snprintf(why, sizeof(why), "wants failed, all or none");
				goto bad;
			}
			break;
		case 't':
			if (explore_opt_timeout(optarg, &a->timeout_s, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 'i':
			if (explore_parse_invariants(optarg, &a->invariants, why, sizeof(why)) < 0)
				goto bad;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			sweep_usage(stdout);
			return SIMRUN_EXIT_OK;
		default:
			sweep_usage(stderr);
			return SIMRUN_EXIT_INVALID;
		}
		continue;
	bad:
		explore_opt_bad("explore", longopts, c, optarg, why);
		return SIMRUN_EXIT_INVALID;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "simrun explore: %s\n",
		        optind >= argc ? "missing scenario file"
		                       : "exactly one scenario file expected");
		sweep_usage(stderr);
		return SIMRUN_EXIT_INVALID;
	}
	if (!has_seeds) {
		fprintf(stderr, "simrun explore: --seeds A..B is required\n");
		return SIMRUN_EXIT_INVALID;
	}
	a->scenario = argv[optind];
	if (a->first == a->last && a->keep == EXPLORE_KEEP_FAILED)
		a->keep = EXPLORE_KEEP_ALL; /* a replay: its outputs are the point */
	return -1;
}

/* The scenario and the hash of its bytes (shards must run the same file). */
static int sweep_load(const char *path, struct scenario **sc, uint64_t *hash)
{
	struct scenario_diags diags;
	size_t len;
	char *text = explore_read_file(path, SCENARIO_TEXT_MAX, &len);

	if (!text) {
		fprintf(stderr, "simrun explore: %s: %s\n", path, strerror(errno));
		return SIMRUN_EXIT_INVALID;
	}
	*hash = hash_fnv1a(HASH_FNV1A_INIT, text, len);
	int err = scenario_load_text(text, len, path, sc, &diags);
	free(text);
	scenario_diags_print(&diags, stderr);
	if (err) {
		if (err == -ENOMEM)
			fprintf(stderr, "simrun explore: out of memory\n");
		return SIMRUN_EXIT_INVALID;
	}
	if (!(*sc)->explore.present) {
		fprintf(stderr,
		        "simrun explore: %s has no explore: section (the fault menu to draw "
		        "from; docs/scenario-keys.md)\n",
		        path);
		scenario_free(*sc);
		return SIMRUN_EXIT_INVALID;
	}
	return -1;
}

struct slot {
	struct explore_trial t;
	struct explore_schedule s;
	bool busy;
};

struct sweep {
	const struct sweep_args *a;
	struct scenario *sc;
	const char *self;
	struct slot *slots;
	cJSON *runs;
	uint64_t next, done, total, failed, errors;
	double t0, last_progress;
};

static const char *result_str(const cJSON *r, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(r, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* A failing seed, as it is found: what broke and how to replay it. */
static void sweep_print_failure(const struct sweep *sw, const cJSON *r, uint64_t seed)
{
	const struct sweep_args *a = sw->a;
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "violations"), 0);

	if (v)
		printf("FAILED seed %llu: %s at %.6fs on %s: %s\n", (unsigned long long)seed,
		       result_str(v, "invariant"),
		       cJSON_GetNumberValue(cJSON_GetObjectItem(v, "t_us")) / 1e6,
		       result_str(v, "node"), result_str(v, "what"));
	else
		printf("FAILED seed %llu: %s\n", (unsigned long long)seed, result_str(r, "error"));
	printf("  replay: %s explore %s --seeds %llu --out %s/replay-%llu\n", sw->self, a->scenario,
	       (unsigned long long)seed, a->out_dir, (unsigned long long)seed);
	if (v)
		printf("  shrink: %s shrink %s --seed %llu --invariant %s --out %s/shrink-%llu\n",
		       sw->self, a->scenario, (unsigned long long)seed, result_str(v, "invariant"),
		       a->out_dir, (unsigned long long)seed);
	fflush(stdout);
}

/* The next seed of this shard, or false when none is left. */
static bool sweep_next_seed(struct sweep *sw, uint64_t *seed)
{
	const struct sweep_args *a = sw->a;

	while (sw->next <= a->last) {
		uint64_t s = sw->next++;
		if (a->shard_n && (s - a->first) % a->shard_n != a->shard_k - 1)
			continue;
		*seed = s;
		return true;
	}
	return false;
}

static int sweep_start(struct sweep *sw, struct slot *sl, uint64_t seed)
{
	const struct sweep_args *a = sw->a;
	int err = explore_schedule_draw(sw->sc, seed, &sl->s);

	if (err)
		return err;
	sl->t = (struct explore_trial){.scenario_path = a->scenario,
	                               .sc = sw->sc,
	                               .schedule = &sl->s,
	                               .seed = seed,
	                               .pcap = a->pcap,
	                               .timeout_s = a->timeout_s,
	                               .invariants = a->invariants,
	                               .plots = a->keep == EXPLORE_KEEP_ALL};
	snprintf(sl->t.dir, sizeof(sl->t.dir), "%s/seeds/%llu", a->out_dir,
	         (unsigned long long)seed);
	explore_remove_tree(sl->t.dir); /* an earlier sweep's: it would mix in */
	err = explore_trial_start(&sl->t);
	if (err) {
		explore_schedule_free(&sl->s);
		return err;
	}
	sl->busy = true;
	return 0;
}

static void sweep_progress(struct sweep *sw, bool last)
{
	double now = simrun_wall_s(), wall = now - sw->t0;

	if (sw->a->quiet || !isatty(STDERR_FILENO))
		return;
	if (!last && now - sw->last_progress < PROGRESS_EVERY_S)
		return;
	sw->last_progress = now;
	fprintf(stderr, "\r[explore] %llu/%llu seeds, %llu failed, %.0f seeds/hour%s",
	        (unsigned long long)sw->done, (unsigned long long)sw->total,
	        (unsigned long long)(sw->failed + sw->errors),
	        wall > 0 ? (double)sw->done * 3600.0 / wall : 0.0, last ? "\n" : " ");
}

/* A trial ended: its result recorded, its folder kept or removed. */
static void sweep_collect(struct sweep *sw, struct slot *sl, int wait_status)
{
	cJSON *r = explore_trial_result(&sl->t, wait_status);
	const char *status = r ? result_str(r, "status") : "error";
	bool pass = strcmp(status, "pass") == 0;

	sw->done++;
	if (!pass) {
		if (strcmp(status, "fail") == 0)
			sw->failed++;
		else
			sw->errors++;
		if (!sw->a->quiet && isatty(STDERR_FILENO))
			fprintf(stderr, "\r\033[K");
		if (r)
			sweep_print_failure(sw, r, sl->t.seed);
	}
	if (sw->a->keep == EXPLORE_KEEP_NONE || (pass && sw->a->keep != EXPLORE_KEEP_ALL))
		explore_remove_tree(sl->t.dir);
	if (r)
		cJSON_AddItemToArray(sw->runs, r);
	explore_schedule_free(&sl->s);
	sl->busy = false;
	sweep_progress(sw, false);
}

static uint64_t sweep_count(const struct sweep_args *a)
{
	uint64_t n = a->last - a->first + 1;

	if (!a->shard_n)
		return n;
	return n / a->shard_n + ((n % a->shard_n) >= a->shard_k ? 1 : 0);
}

static int sweep_run(struct sweep *sw)
{
	const struct sweep_args *a = sw->a;
	uint32_t running = 0;
	uint64_t seed;
	bool more = true;

	while (more || running) {
		for (uint32_t i = 0; more && running < a->jobs && i < a->jobs; i++) {
			if (sw->slots[i].busy)
				continue;
			if (!(more = sweep_next_seed(sw, &seed)))
				break;
			int err = sweep_start(sw, &sw->slots[i], seed);
			if (err) {
				fprintf(stderr, "simrun explore: seed %llu: %s\n",
				        (unsigned long long)seed, strerror(-err));
				more = false;
				break;
			}
			running++;
		}
		if (!running)
			break;
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (uint32_t i = 0; i < a->jobs; i++)
			if (sw->slots[i].busy && sw->slots[i].t.pid == pid) {
				sweep_collect(sw, &sw->slots[i], st);
				running--;
				break;
			}
	}
	return sw->done == sw->total ? 0 : -EIO;
}

int explore_cmd(int argc, char **argv, const char *self)
{
	struct sweep_args a;
	struct sweep sw = {.a = &a, .self = self};
	uint64_t hash = 0;
	int status = sweep_parse(argc, argv, &a);

	if (status >= 0)
		return status;
	status = sweep_load(a.scenario, &sw.sc, &hash);
	if (status >= 0)
		return status;
	if (explore_mkdirs(a.out_dir) < 0) {
		fprintf(stderr, "simrun explore: cannot make %s: %s\n", a.out_dir, strerror(errno));
		scenario_free(sw.sc);
		return SIMRUN_EXIT_INVALID;
	}
	sw.total = sweep_count(&a);
	sw.next = a.first;
	sw.slots = calloc(a.jobs, sizeof(*sw.slots));
	sw.runs = cJSON_CreateArray();
	if (!sw.slots || !sw.runs) {
		fprintf(stderr, "simrun explore: out of memory\n");
		free(sw.slots);
		cJSON_Delete(sw.runs);
		scenario_free(sw.sc);
		return SIMRUN_EXIT_INVALID;
	}
	sw.t0 = sw.last_progress = simrun_wall_s();
	int err = sweep_run(&sw);
	sweep_progress(&sw, true);
	double wall = simrun_wall_s() - sw.t0;
	struct explore_sweep_info info = {.scenario = sw.sc->name,
	                                  .file = a.scenario,
	                                  .scenario_hash = hash,
	                                  .seed_first = a.first,
	                                  .seed_last = a.last,
	                                  .shard_k = a.shard_k,
	                                  .shard_n = a.shard_n,
	                                  .jobs = a.jobs,
	                                  .wall_s = wall,
	                                  .self = self};
	int werr = explore_report_write(a.out_dir, &info, sw.runs, NULL);
	char shard[48] = "";
	if (a.shard_n)
		snprintf(shard, sizeof(shard), ", shard %u/%u", a.shard_k, a.shard_n);
	printf("explore: %s: %llu seeds (%llu..%llu%s), %llu passed, %llu broke an invariant, "
	       "%llu did not run to their end\n",
	       sw.sc->name, (unsigned long long)sw.done, (unsigned long long)a.first,
	       (unsigned long long)a.last, shard,
	       (unsigned long long)(sw.done - sw.failed - sw.errors), (unsigned long long)sw.failed,
	       (unsigned long long)sw.errors);
	printf("explore: %.1f wall s, %.0f seeds/hour with %u jobs; report %s/index.html\n", wall,
	       wall > 0 ? (double)sw.done * 3600.0 / wall : 0.0, a.jobs, a.out_dir);
	free(sw.slots);
	scenario_free(sw.sc);
	if (err || werr) {
		if (err)
			fprintf(stderr, "simrun explore: the sweep stopped early: %s\n",
			        strerror(-err));
		return SIMRUN_EXIT_INVALID;
	}
	return sw.failed || sw.errors ? SIMRUN_EXIT_FAILED : SIMRUN_EXIT_OK;
}
