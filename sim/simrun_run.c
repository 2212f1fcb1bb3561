/* One scenario run (simrun_run.h): the world built and run in slices with
 * a progress line on a terminal, then the pcaps checked, the reports
 * written and the expectations judged. Outputs that could not be written
 * completely are named on stderr, and the run's status says so. */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "sim/simrun_run.h"

#include "lib/base/outfile.h"
#include "reports/report.h"
#include "sim/explore/invariant.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Simulated time run between progress checks; fixed (not wall-clock
 * driven) so that runs with and without a terminal are identical. */
#define SIMRUN_SLICE_US   20000
#define SIMRUN_PROGRESS_S 0.5

struct simrun_failed {
	char **paths;
	size_t n, cap;
};

static bool simrun_failed_has(const struct simrun_failed *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->paths[i], path) == 0)
			return true;
	return false;
}

/* Names `path` on stderr with why, once; counted even without memory. */
static void simrun_failed_add(struct simrun_failed *f, const char *path, const char *why)
{
	if (simrun_failed_has(f, path))
		return;
	fprintf(stderr, "simrun: could not write %s completely: %s\n", path, why);
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		char **np = realloc(f->paths, cap * sizeof(*np));
		if (!np)
			return;
		f->paths = np;
		f->cap = cap;
	}
	f->paths[f->n] = strdup(path);
	if (f->paths[f->n])
		f->n++;
}

static void simrun_failed_free(struct simrun_failed *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f->paths);
}

/* world_options.output_failed and report_input.output_failed. */
static void simrun_output_failed(void *ctx, const char *path, const char *why)
{
	simrun_failed_add(ctx, path, why);
}
double simrun_wall_s(void)
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

static void simrun_progress(uint64_t now_us, uint64_t end_us, double wall_s)
{
	double sim_s = (double)now_us / 1e6;
	fprintf(stderr, "\r[simrun] %.2fs / %.2fs simulated, %3.0f%%, %.1fx real time ", sim_s,
	        (double)end_us / 1e6, 100.0 * (double)now_us / (double)end_us,
	        wall_s > 0 ? sim_s / wall_s : 0.0);
	fflush(stderr);
}

void simrun_dirname(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* What the reports need from the scenario: node -> region names and
 * workload -> service, plus the node names' storage. */
struct simrun_facts {
	char (*names)[SCENARIO_NAME_MAX + 1];
	struct report_node_region *regions;
	struct report_workload_service *services;
	size_t n_services;
	struct expect_result *results;
};

static int simrun_facts_new(const struct scenario *sc, struct simrun_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->names = calloc(sc->node_count, sizeof(*f->names));
	f->regions = calloc(sc->node_count, sizeof(*f->regions));
	f->services = calloc(sc->n_workloads ? sc->n_workloads : 1, sizeof(*f->services));
	f->results = calloc(sc->n_expects ? sc->n_expects : 1, sizeof(*f->results));
	if (!f->names || !f->regions || !f->services || !f->results)
		return -ENOMEM;
	for (uint32_t i = 0; i < sc->node_count; i++) {
		const struct scenario_node_group *g =
		    scenario_node_name(sc, i, f->names[i], sizeof(f->names[i]));
		f->regions[i].node = f->names[i];
		f->regions[i].region = sc->regions[g->region].name;
	}
	for (size_t i = 0; i < sc->n_workloads; i++)
		if (sc->workloads[i].target == SCENARIO_TARGET_SERVICE)
			f->services[f->n_services++] = (struct report_workload_service){
			    .workload = sc->workloads[i].name, .service = sc->workloads[i].service};
	return 0;
}

static void simrun_facts_free(struct simrun_facts *f)
{
	free(f->names);
	free(f->regions);
	free(f->services);
	free(f->results);
}

/* Wall-clock facts differ run to run, so they stay out of report.json
 * (which must be byte-identical for a scenario and seed): run.json and a
 * line at the end of summary.md carry them. */
static int simrun_write_run_facts(const char *dir, double sim_s, double wall_s, uint64_t peak,
                                  uint64_t ns3_events, struct simrun_failed *failed)
{
	char path[WORLD_PATH_MAX + 32];
	struct outfile of;
	FILE *f;
	int err = 0, e;

	snprintf(path, sizeof(path), "%s/run.json", dir);
	f = outfile_open(&of, path, false);
	if (!f) {
		err = -errno;
		simrun_failed_add(failed, path, strerror(errno));
	} else {
		fprintf(f,
		        "{\"simulated_s\":%.6f,\"wall_s\":%.6f,\"speed\":%.3f,"
		        "\"peak_memory_bytes\":%llu,\"ns3_events\":%llu}\n",
		        sim_s, wall_s, wall_s > 0 ? sim_s / wall_s : 0.0, (unsigned long long)peak,
		        (unsigned long long)ns3_events);
		e = outfile_close(&of, f);
		if (e) {
			err = e;
			simrun_failed_add(failed, path, strerror(-e));
		}
	}
	snprintf(path, sizeof(path), "%s/summary.md", dir);
	if (simrun_failed_has(failed, path))
		return err; /* already incomplete: nothing to add to */
	f = outfile_open(&of, path, true);
	if (!f) {
		simrun_failed_add(failed, path, strerror(errno));
		return -errno;
	}
	fprintf(f,
	        "\nWall clock (not in report.json, see run.json): %.3f s for %.3f simulated s "
	        "(%.1fx), peak memory %.1f MiB.\n",
	        wall_s, sim_s, wall_s > 0 ? sim_s / wall_s : 0.0, (double)peak / (1024.0 * 1024.0));
	e = outfile_close(&of, f);
	if (e) {
		simrun_failed_add(failed, path, strerror(-e));
		err = e;
	}
	return err;
}

/* Whether a pcap file ends inside its header or a record: a backstop for
 * captures whose writer could not say (it is gone, or kept no errno). */
static bool simrun_pcap_truncated(const char *path)
{
	unsigned char hdr[24];
	FILE *f = fopen(path, "rb");
	bool swap, bad = false;

	if (!f)
		return true;
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
		fclose(f);
		return true;
	}
	uint32_t magic = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
	                 (uint32_t)hdr[3] << 24;
	swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
	if (!swap && magic != 0xa1b2c3d4u && magic != 0xa1b23c4du) {
		fclose(f);
		return true;
	}
	for (;;) {
		unsigned char rec[16];
		size_t n = fread(rec, 1, sizeof(rec), f);
		if (n == 0)
			break;
		if (n != sizeof(rec)) {
			bad = true;
			break;
		}
		uint32_t incl = swap ? (uint32_t)rec[8] << 24 | (uint32_t)rec[9] << 16 |
		                           (uint32_t)rec[10] << 8 | rec[11]
		                     : (uint32_t)rec[8] | (uint32_t)rec[9] << 8 |
		                           (uint32_t)rec[10] << 16 | (uint32_t)rec[11] << 24;
		long here = ftell(f);
		if (fseek(f, 0, SEEK_END) != 0) {
			bad = true;
			break;
		}
		long size = ftell(f);
		if (here < 0 || size < 0 || (uint64_t)size - (uint64_t)here < incl ||
		    fseek(f, here + (long)incl, SEEK_SET) != 0) {
			bad = true;
			break;
		}
	}
	fclose(f);
	return bad;
}

/* Every pcap in the folder is checked whole (see simrun_pcap_truncated). */
static void simrun_check_pcaps(const char *dir, struct simrun_failed *failed)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[WORLD_PATH_MAX + 256];
		if (n <= 5 || strcmp(e->d_name + n - 5, ".pcap") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!simrun_failed_has(failed, path) && simrun_pcap_truncated(path))
			simrun_failed_add(failed, path, "ends inside a packet record");
	}
	closedir(d);
}

/* No report from an incomplete events.jsonl; an earlier run's report in
 * the folder would look current, so it goes. */
static void simrun_remove_reports(const char *dir)
{
	static const char *const names[] = {"report.json",
	                                    "latency.csv",
	                                    "summary.md",
	                                    "index.html",
	                                    "run.json",
	                                    "plots.gp",
	                                    "gnuplot.log",
	                                    "latency_cdf.dat",
	                                    "latency_cdf.png",
	                                    "latency_cdf.svg",
	                                    "requests_per_host.dat",
	                                    "requests_per_host.png",
	                                    "requests_per_host.svg",
	                                    "latency_over_time.dat",
	                                    "latency_over_time.png",
	                                    "latency_over_time.svg"};
	char path[WORLD_PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
}

/* The `invariant:` expectations, judged from the run's events and (when
 * the run wrote them) the hosts' tailnet pcaps by the checker (the reports
 * only copy their results). 0, or -errno after saying why: an unreadable
 * events file or pcap judges nothing. */
static int simrun_judge_invariants(const struct scenario *sc, const char *events_path,
                                   const char *pcap_dir, struct expect_result *results)
{
	uint32_t which = 0;
	struct invariant_result inv;
	char err[512] = "";

	for (size_t i = 0; i < sc->n_expects; i++)
		if (sc->expects[i].kind == EXPECT_INVARIANT)
			which |= sc->expects[i].invariants;
	if (!which)
		return 0;
	int rc = invariants_check(sc, events_path, pcap_dir, which, &inv, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "simrun: judging the invariants: %s\n", err);
		return rc;
	}
	for (size_t i = 0; i < sc->n_expects; i++) {
		const struct expect *e = &sc->expects[i];
		struct expect_result *r = &results[i];
		if (e->kind != EXPECT_INVARIANT)
			continue;
		uint32_t broken = inv.broken & e->invariants;
		r->pass = !broken && (inv.checked & e->invariants);
		r->measured = (double)(broken ? 1 : 0);
		if (broken) {
			int id = __builtin_ctz(broken);
			const struct invariant_violation *v = &inv.first[id];
			snprintf(r->measured_text, sizeof(r->measured_text), "broken");
			snprintf(r->message, sizeof(r->message),
			         "%s broken %llu times, first at %.6fs on %s: %.150s",
			         invariant_name((enum invariant_id)id),
			         (unsigned long long)inv.count[id], (double)v->t_us / 1e6, v->node,
			         v->what);
		} else if (!r->pass) {
			snprintf(r->measured_text, sizeof(r->measured_text), "not judged");
			snprintf(r->message, sizeof(r->message),
			         "%.180s could not be judged in this run (nothing it applies to)",
			         e->text);
		} else {
			snprintf(r->measured_text, sizeof(r->measured_text), "held");
			snprintf(r->message, sizeof(r->message), "%.200s held", e->text);
		}
	}
	return 0;
}

static int simrun_report(const struct simrun_args *a, const struct scenario *sc,
                         const char *events_path, const char *pcap_dir, const char *dir,
                         uint64_t ns3_events, double wall_s, struct simrun_failed *failed)
{
	struct simrun_facts f;
	struct report_stats stats = {0};
	struct rusage ru;
	char err[1024] = "";
	bool incomplete = false;
	int rc = simrun_facts_new(sc, &f);

	if (rc < 0) {
		fprintf(stderr, "simrun: out of memory\n");
		simrun_facts_free(&f);
		return SIMRUN_EXIT_INVALID;
	}
	struct report_input in = {.events_path = events_path,
	                          .out_dir = dir,
	                          .scenario = sc->name,
	                          .seed = sc->seed,
	                          .simulated_s = (double)sc->duration_us / 1e6,
	                          .events = ns3_events,
	                          .expects = sc->expects,
	                          .n_expects = sc->n_expects,
	                          .results = f.results,
	                          .regions = f.regions,
	                          .n_regions = sc->node_count,
	                          .services = f.services,
	                          .n_services = f.n_services,
	                          .output_failed = simrun_output_failed,
	                          .output_ctx = failed,
	                          .plots = !a->no_plots,
	                          .stats = &stats};
	if (simrun_judge_invariants(sc, events_path, pcap_dir, f.results) < 0) {
		simrun_facts_free(&f);
		return SIMRUN_EXIT_INVALID;
	}
	rc = report_write(&in, err, sizeof(err));
	if (rc == -EIO && failed->n) {
		incomplete = true; /* each one named already; the rest was written */
	} else if (rc < 0) {
		fprintf(stderr, "simrun: writing the report failed: %s\n", err);
		simrun_facts_free(&f);
		return SIMRUN_EXIT_INVALID;
	}
	getrusage(RUSAGE_SELF, &ru);
	uint64_t peak = (uint64_t)ru.ru_maxrss * 1024u;
	if (simrun_write_run_facts(dir, in.simulated_s, wall_s, peak, ns3_events, failed) < 0)
		incomplete = true;
	size_t n_failed = 0;
	for (size_t i = 0; i < sc->n_expects; i++) {
		if (f.results[i].pass)
			continue;
		n_failed++;
		printf("FAILED %s:%u: %s: %s\n", a->scenario, sc->expects[i].line,
		       sc->expects[i].text, f.results[i].message);
		if (a->outcome && n_failed == 1)
			snprintf(a->outcome->first_failed, sizeof(a->outcome->first_failed),
			         "%u: %.200s: %.250s", sc->expects[i].line, sc->expects[i].text,
			         f.results[i].message);
	}
	printf("report: %s/index.html (%llu events, %llu requests; %zu of %zu expectations "
	       "hold)\n",
	       dir, (unsigned long long)stats.lines, (unsigned long long)stats.requests,
	       sc->n_expects - n_failed, sc->n_expects);
	printf("run: %.1f simulated s in %.2f wall s (%.1fx); %llu ns-3 events; peak RSS %.1f "
	       "MiB\n",
	       in.simulated_s, wall_s, wall_s > 0 ? in.simulated_s / wall_s : 0.0,
	       (unsigned long long)ns3_events, (double)peak / (1024.0 * 1024.0));
	simrun_facts_free(&f);
	if (a->outcome) {
		a->outcome->n_expects = sc->n_expects;
		a->outcome->n_failed = n_failed;
		a->outcome->requests = stats.requests;
		a->outcome->ns3_events = ns3_events;
		a->outcome->simulated_s = in.simulated_s;
		a->outcome->wall_s = wall_s;
	}
	if (incomplete)
		return SIMRUN_EXIT_INVALID;
	return n_failed ? SIMRUN_EXIT_FAILED : SIMRUN_EXIT_OK;
}

/* Runs the world to the scenario's end in slices, with a progress line on
 * a terminal. 0, or -1 after saying why the run failed (EXP-6 for the
 * timeline) and freeing the world: no report then. */
static int simrun_simulate(const struct simrun_args *a, const struct scenario *sc, struct world *w,
                           double t0)
{
	bool progress = !a->quiet && isatty(STDERR_FILENO);
	uint64_t end = sc->duration_us, now = 0;
	double last = t0;
	char why[2048] = "";

	while (now < end) {
		uint64_t next = now + SIMRUN_SLICE_US < end ? now + SIMRUN_SLICE_US : end;
		if (world_run(w, next, why, sizeof(why))) {
			fprintf(stderr, "%ssimrun: %s\n", progress ? "\n" : "", why);
			if (a->outcome)
				snprintf(a->outcome->error, sizeof(a->outcome->error), "%s", why);
			fprintf(stderr, "simrun: run stopped at %.6fs; events so far: %s\n",
			        (double)world_now_us(w) / 1e6, w->events_path);
			world_free(w);
			return -1;
		}
		now = world_now_us(w);
		double t = simrun_wall_s();
		if (progress && t - last >= SIMRUN_PROGRESS_S) {
			simrun_progress(now, end, t - t0);
			last = t;
		}
	}
	if (progress)
		fprintf(stderr, "\r\033[K");
	return 0;
}

/* What a finished world leaves for the reports (kept past world_free). */
struct simrun_outputs {
	uint64_t events; /* ns-3 events executed */
	uint32_t pcaps;
	uint64_t expected_failures;
	char events_path[WORLD_PATH_MAX], pcap_dir[WORLD_PATH_MAX], dir[WORLD_PATH_MAX];
};

static void simrun_outputs_of(const struct world *w, struct simrun_outputs *o)
{
	o->events = world_events_executed(w);
	o->pcaps = w->pcap_count;
	o->expected_failures = w->expected_failures;
	snprintf(o->events_path, sizeof(o->events_path), "%s", w->events_path);
	snprintf(o->pcap_dir, sizeof(o->pcap_dir), "%s", w->pcap_dir);
	snprintf(o->dir, sizeof(o->dir), "%s", w->report_dir);
}

/* After the world is freed (`err`: its outputs' closing): the pcaps
 * checked, no report when events.jsonl is incomplete, else the report and
 * the exit status. Frees `failed`. */
static int simrun_finish(const struct simrun_args *a, const struct scenario *sc,
                         const struct simrun_outputs *o, int err, double wall,
                         struct simrun_failed *failed)
{
	if (o->pcaps)
		simrun_check_pcaps(o->pcap_dir, failed);
	if (simrun_failed_has(failed, o->events_path)) {
		simrun_remove_reports(o->dir);
		fprintf(stderr,
		        "simrun: no report written: %s is incomplete; %zu output%s could not be "
		        "written completely (named above)\n",
		        o->events_path, failed->n, failed->n == 1 ? "" : "s");
		simrun_failed_free(failed);
		return SIMRUN_EXIT_INVALID;
	}
	if (err && !failed->n)
		fprintf(stderr, "simrun: closing the outputs failed: %s\n", strerror(-err));
	printf("events: %s\n", o->events_path);
	if (o->pcaps)
		printf("pcaps:  %s/ (%u files)\n", o->pcap_dir, o->pcaps);
	else
		printf("pcaps:  none\n");
	if (o->expected_failures)
		printf("timeline: %llu actions failed as their expect_error said (see the timeline "
		       "events)\n",
		       (unsigned long long)o->expected_failures);
	int status = simrun_report(a, sc, o->events_path, o->pcaps ? o->pcap_dir : NULL, o->dir,
	                           o->events, wall, failed);
	if (failed->n || err) {
		fprintf(stderr,
		        "simrun: %zu output%s could not be written completely (named above)\n",
		        failed->n, failed->n == 1 ? "" : "s");
		status = SIMRUN_EXIT_INVALID;
	}
	simrun_failed_free(failed);
	return status;
}

/* The world built, run to its end and freed, then the reports. */
int simrun_run(const struct simrun_args *a, const struct scenario *sc)
{
	char scenario_dir[WORLD_PATH_MAX];
	struct simrun_failed failed = {0};
	struct world_options opt = {
	    .out_dir = a->out_dir,
	    .pcap = a->pcap,
	    .notes = a->quiet ? NULL : stderr,
	    .scenario_dir = scenario_dir,
	    .scenario_file = a->scenario,
	    .keep_state = a->keep_state,
	    .output_failed = simrun_output_failed,
	    .output_ctx = &failed,
	};
	struct simrun_outputs o;
	struct world *w;
	char why[2048] = "";
	double t0 = simrun_wall_s();
	int err;

	if (a->outcome)
		memset(a->outcome, 0, sizeof(*a->outcome));
	simrun_dirname(a->scenario, scenario_dir, sizeof(scenario_dir));
	simrun_raise_nofile();
	err = world_new(sc, &opt, &w, why, sizeof(why));
	if (err) {
		fprintf(stderr, "simrun: %s: %s\n", a->scenario, why[0] ? why : strerror(-err));
		if (a->outcome)
			snprintf(a->outcome->error, sizeof(a->outcome->error), "%s",
			         why[0] ? why : strerror(-err));
		return SIMRUN_EXIT_INVALID;
	}
	if (a->outcome) {
		snprintf(a->outcome->events_path, sizeof(a->outcome->events_path), "%s",
		         w->events_path);
		snprintf(a->outcome->report_dir, sizeof(a->outcome->report_dir), "%s",
		         w->report_dir);
		snprintf(a->outcome->pcap_dir, sizeof(a->outcome->pcap_dir), "%s", w->pcap_dir);
	}
	if (simrun_simulate(a, sc, w, t0) < 0)
		return SIMRUN_EXIT_INVALID;
	if (a->outcome)
		a->outcome->ran = true;
	simrun_outputs_of(w, &o);
	err = world_free(w);
	return simrun_finish(a, sc, &o, err, simrun_wall_s() - t0, &failed);
}
