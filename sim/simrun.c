/* simrun: runs a scenario file in simulation.
 *
 *   simrun [--seed N] [--out DIR] [--pcap all|none|NODE-GLOB] [--quiet] [--check] scenario.yaml
 *
 * Exit status: 0 success, 2 invalid input or a failed run (expectations,
 * status 1, come with a later version). Output files depend only on the
 * scenario and the seed; wall-clock figures go to the terminal only.
 */
#include "scenario.h"
#include "world.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SIMRUN_EXIT_OK      0
#define SIMRUN_EXIT_INVALID 2
/* Simulated time run between progress checks; fixed (not wall-clock
 * driven) so that runs with and without a terminal are identical. */
#define SIMRUN_SLICE_US      20000
#define SIMRUN_PROGRESS_S    0.5
#define SIMRUN_LINE_MAX      4096
#define SIMRUN_LATENCIES_MAX (64u << 20)

struct simrun_args {
	const char *scenario;
	const char *out_dir;
	const char *pcap;
	uint64_t seed;
	bool has_seed;
	bool quiet;
	bool check;
};

static void simrun_usage(FILE *f)
{
	fprintf(f,
	        "usage: simrun [--seed N] [--out DIR] [--pcap all|none|NODE-GLOB] [--quiet] "
	        "[--check] scenario.yaml\n"
	        "\n"
	        "Runs a scenario in simulation (ns-3) and writes\n"
	        "  DIR/reports/<name>/events.jsonl   every event, one JSON object a line\n"
	        "  DIR/pcaps/<name>/<node>-underlay.pcap\n"
	        "\n"
	        "  --seed N       override the scenario's seed (1..4294967295)\n"
	        "  --out DIR      output folder (default .)\n"
	        "  --pcap WHICH   all, none, or a glob of node names (default all; none above %d "
	        "nodes)\n"
	        "  --quiet        no progress line and no notes\n"
	        "  --check        validate the scenario file and exit (0 valid, 2 invalid)\n"
	        "  --help         this text\n"
	        "\n"
	        "Exit status: 0 success, 2 invalid input or a failed run.\n"
	        "Scenario keys: docs/scenario-keys.md\n",
	        WORLD_PCAP_DEFAULT_MAX_NODES);
}

/* Returns -1 to continue, or an exit status. */
static int simrun_parse_args(int argc, char **argv, struct simrun_args *a)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"pcap", required_argument, NULL, 'p'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"check", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (!*optarg || *end || errno || optarg[0] == '-' || v < 1 ||
			    v > SCENARIO_SEED_MAX) {
				fprintf(stderr,
				        "simrun: --seed wants an integer 1..%llu, got '%s'\n",
				        (unsigned long long)SCENARIO_SEED_MAX, optarg);
				simrun_usage(stderr);
				return SIMRUN_EXIT_INVALID;
			}
			a->seed = v;
			a->has_seed = true;
			break;
		}
		case 'o':
			a->out_dir = optarg;
			break;
		case 'p':
			if (world_pcap_check(optarg)) {
				fprintf(stderr, "simrun: --pcap wants all, none or a node glob\n");
				simrun_usage(stderr);
				return SIMRUN_EXIT_INVALID;
			}
			a->pcap = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'c':
			a->check = true;
			break;
		case 'h':
			simrun_usage(stdout);
			return SIMRUN_EXIT_OK;
		default:
			simrun_usage(stderr);
			return SIMRUN_EXIT_INVALID;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "simrun: %s\n",
		        optind >= argc ? "missing scenario file"
		                       : "exactly one scenario file expected");
		simrun_usage(stderr);
		return SIMRUN_EXIT_INVALID;
	}
	a->scenario = argv[optind];
	return -1;
}

static double simrun_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Many pcaps are many open files: take what the hard limit allows. */
static void simrun_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct simrun_summary {
	uint64_t lines, requests, ok, refused, reset, timeout, overload, other;
	uint64_t *latencies; /* of ok requests */
	size_t latency_count, latency_cap;
	bool truncated;
};

static int simrun_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Reads events.jsonl back: the summary comes from the events, like every
 * other output. Only rr_done lines are looked at. */
static int simrun_summarize(const char *path, struct simrun_summary *s)
{
	FILE *f = fopen(path, "r");
	char line[SIMRUN_LINE_MAX];

	memset(s, 0, sizeof(*s));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		s->lines++;
		if (!strstr(line, "\"type\":\"rr_done\""))
			continue;
		s->requests++;
		const char *o = strstr(line, "\"outcome\":\"");
		const char *l = strstr(line, "\"latency_us\":");
		if (!o || !l) {
			s->other++;
			continue;
		}
		o += strlen("\"outcome\":\"");
		if (!strncmp(o, "ok\"", 3)) {
			s->ok++;
			if (s->latency_count == s->latency_cap) {
				size_t cap = s->latency_cap ? s->latency_cap * 2 : 4096;
				uint64_t *p = cap <= SIMRUN_LATENCIES_MAX
				                  ? realloc(s->latencies, cap * sizeof(*p))
				                  : NULL;
				if (!p) {
					s->truncated = true;
					continue;
				}
				s->latencies = p;
				s->latency_cap = cap;
			}
			s->latencies[s->latency_count++] =
			    strtoull(l + strlen("\"latency_us\":"), NULL, 10);
		} else if (!strncmp(o, "refused\"", 8)) {
			s->refused++;
		} else if (!strncmp(o, "reset\"", 6)) {
			s->reset++;
		} else if (!strncmp(o, "timeout\"", 8)) {
			s->timeout++;
		} else if (!strncmp(o, "overload\"", 9)) {
			s->overload++;
		} else {
			s->other++;
		}
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	qsort(s->latencies, s->latency_count, sizeof(uint64_t), simrun_u64_cmp);
	return err;
}

/* Nearest-rank percentile of sorted values, in milliseconds. */
static double simrun_pct_ms(const struct simrun_summary *s, double p)
{
	if (!s->latency_count)
		return 0;
	size_t rank = (size_t)(p / 100.0 * (double)s->latency_count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->latency_count)
		rank = s->latency_count;
	return (double)s->latencies[rank - 1] / 1000.0;
}

static void simrun_progress(uint64_t now_us, uint64_t end_us, double wall_s)
{
	double sim_s = (double)now_us / 1e6;
	fprintf(stderr, "\r[simrun] %.2fs / %.2fs simulated, %3.0f%%, %.1fx real time ", sim_s,
	        (double)end_us / 1e6, 100.0 * (double)now_us / (double)end_us,
	        wall_s > 0 ? sim_s / wall_s : 0.0);
	fflush(stderr);
}

static int simrun_run(const struct simrun_args *a, const struct scenario *sc)
{
	struct world_options opt = {
	    .out_dir = a->out_dir,
	    .pcap = a->pcap,
	    .notes = a->quiet ? NULL : stderr,
	};
	struct world *w;
	char why[512];
	bool progress = !a->quiet && isatty(STDERR_FILENO);
	double t0 = simrun_wall_s(), last = t0;
	int err;

	simrun_raise_nofile();
	err = world_new(sc, &opt, &w, why, sizeof(why));
	if (err) {
		fprintf(stderr, "simrun: %s: %s\n", a->scenario, why);
		return SIMRUN_EXIT_INVALID;
	}
	uint64_t end = sc->duration_us, now = 0;
	while (now < end) {
		uint64_t next = now + SIMRUN_SLICE_US < end ? now + SIMRUN_SLICE_US : end;
		uint64_t reached = world_run(w, next);
		if (reached < next) {
			fprintf(stderr, "%ssimrun: the simulation stopped early at %.6fs\n",
			        progress ? "\n" : "", (double)reached / 1e6);
			world_free(w);
			return SIMRUN_EXIT_INVALID;
		}
		now = reached;
		double t = simrun_wall_s();
		if (progress && t - last >= SIMRUN_PROGRESS_S) {
			simrun_progress(now, end, t - t0);
			last = t;
		}
	}
	if (progress)
		fprintf(stderr, "\r\033[K");
	uint64_t events = world_events_executed(w);
	uint32_t pcaps = w->pcap_count;
	char events_path[WORLD_PATH_MAX], pcap_dir[WORLD_PATH_MAX];
	snprintf(events_path, sizeof(events_path), "%s", w->events_path);
	snprintf(pcap_dir, sizeof(pcap_dir), "%s", w->pcap_dir);
	err = world_free(w);
	double wall = simrun_wall_s() - t0;
	if (err) {
		fprintf(stderr, "simrun: writing %s failed: %s\n", events_path, strerror(-err));
		return SIMRUN_EXIT_INVALID;
	}

	struct simrun_summary s;
	err = simrun_summarize(events_path, &s);
	if (err) {
		fprintf(stderr, "simrun: reading back %s failed: %s\n", events_path,
		        strerror(-err));
		free(s.latencies);
		return SIMRUN_EXIT_INVALID;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("events: %s (%llu lines)\n", events_path, (unsigned long long)s.lines);
	if (pcaps)
		printf("pcaps:  %s/ (%u underlay pcaps)\n", pcap_dir, pcaps);
	else
		printf("pcaps:  none\n");
	printf("summary: %s seed %llu: %llu requests, %llu ok, %llu failed (refused %llu, reset "
	       "%llu, timeout %llu, overload %llu); latency p50 %.3f ms p99 %.3f ms%s; "
	       "%.1f simulated s in %.2f wall s (%.1fx); %llu ns-3 events (%.0f/s); peak RSS "
	       "%.1f MiB\n",
	       sc->name, (unsigned long long)sc->seed, (unsigned long long)s.requests,
	       (unsigned long long)s.ok,
	       (unsigned long long)(s.refused + s.reset + s.timeout + s.overload + s.other),
	       (unsigned long long)s.refused, (unsigned long long)s.reset,
	       (unsigned long long)s.timeout, (unsigned long long)s.overload, simrun_pct_ms(&s, 50),
	       simrun_pct_ms(&s, 99), s.truncated ? " (sampled)" : "",
	       (double)sc->duration_us / 1e6, wall,
	       wall > 0 ? (double)sc->duration_us / 1e6 / wall : 0.0, (unsigned long long)events,
	       wall > 0 ? (double)events / wall : 0.0, (double)ru.ru_maxrss / 1024.0);
	free(s.latencies);
	return SIMRUN_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct simrun_args a;
	struct scenario *sc;
	struct scenario_diags diags;
	int status = simrun_parse_args(argc, argv, &a);

	if (status >= 0)
		return status;
	int err = scenario_load_file(a.scenario, &sc, &diags);
	scenario_diags_print(&diags, stderr);
	if (err) {
		if (err == -ENOMEM)
			fprintf(stderr, "simrun: out of memory\n");
		return SIMRUN_EXIT_INVALID;
	}
	if (a.has_seed)
		sc->seed = a.seed;
	if (a.check) {
		if (!a.quiet)
			printf("%s: ok (%d regions, %d links, %u nodes)\n", a.scenario,
			       sc->region_count, sc->link_count, sc->node_count);
		scenario_free(sc);
		return SIMRUN_EXIT_OK;
	}
	status = simrun_run(&a, sc);
	scenario_free(sc);
	return status;
}
