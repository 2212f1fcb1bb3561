/* The perf suite's runs (perf_suite.h). */
#define _GNU_SOURCE
#include "bench/perf/perf_suite.h"

#include "lib/base/errfmt.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Scenarios whose exact metrics the suite reads; `quick` ones make the CI
 * gate. Underlay captures only where the bytes per request are wanted. */
struct exact_run {
	const char *file, *name;
	bool quick, pcaps;
};

static const struct exact_run exact_runs[] = {
    {"scenarios/quickstart.yaml", "quickstart", true, true},
    {"scenarios/failover-crash.yaml", "failover-crash", true, false},
    {"scenarios/failover-partition.yaml", "failover-partition", true, false},
    {"scenarios/drain-under-load.yaml", "drain-under-load", true, false},
    {"scenarios/approval-workflow.yaml", "approval-workflow", true, false},
    {"scenarios/control-restart.yaml", "control-restart", true, false},
    {"scenarios/multi-region-steering.yaml", "multi-region-steering", false, true},
    {"scenarios/l4-tcp-forward.yaml", "l4-tcp-forward", false, true},
    {"scenarios/l3-udp.yaml", "l3-udp", false, true},
    {"scenarios/grants.yaml", "grants", false, false},
    {"bench/tailnet-1k.yaml", "tailnet-1k", false, false},
};

/* Runs whose instructions are counted: simrun on a scenario, or one
 * explore seed (its trial is a child process). A count needs no long run:
 * `duration` runs only the first part of the scenario (simrun --duration;
 * valgrind runs ~30 times slower). */
struct counted_run {
	const char *name, *file;
	bool quick, explore;
	const char *duration;
};

static const struct counted_run counted_runs[] = {
    {"quickstart", "scenarios/quickstart.yaml", true, false, NULL},
    {"rr-1k", "bench/rr-1k.yaml", false, false, "5s"},
    {"tailnet-1k", "bench/tailnet-1k.yaml", false, false, "8s"},
    {"explore-chaos-mixed-seed-1", "scenarios/chaos-mixed.yaml", false, true, NULL},
};

/* Timed runs: simrun on a scenario against plain ns-3 (bench_rr_plain,
 * bench/rr_plain.cc) in the same repetition, the two alternating; each
 * sample is a ratio within one repetition. `duration` runs the first part
 * of the scenario only; simrun's side must show its work: at least
 * `at_least` events of its events.jsonl with the `work` strings (the
 * second may be NULL). */
struct timed_run {
	const char *name, *file, *duration;
	char *const *plain_args;
	const char *work[2];
	long at_least;
};

/* the same workload as bench/rr-1k.yaml (bench/run-wrapper-overhead.sh
 * keeps the two in step) */
static char *const rr_1k_plain[] = {"--nodes",   "1000",   "--regions", "4",      "--duration",
                                    "30",        "--rate", "0.5",       "--seed", "1",
                                    "--routing", "host",   NULL};
/* a world of scale-10k's size (10,000 hosts in 3 regions, each on its own
 * access link), its first 3 s; simrun builds the tailnet and the daemons
 * register with control in that time (9,983 of 10,000 at 961785f: the
 * far ones' retries come later) */
static char *const scale_10k_plain[] = {"--nodes",   "10000",  "--regions", "3",      "--duration",
                                        "3",         "--rate", "0.5",       "--seed", "1",
                                        "--routing", "direct", NULL};

static const struct timed_run timed_runs[] = {
    {"rr-1k",
     "bench/rr-1k.yaml",
     NULL,
     rr_1k_plain,
     {"\"type\":\"rr_done\"", "\"outcome\":\"ok\""},
     1},
    {"scale-10k",
     "scenarios/scale-10k.yaml",
     "3s",
     scale_10k_plain,
     {"\"type\":\"node_registered\"", NULL},
     9900},
};

static const char *const timed_names[] = {"wall_ratio", "cpu_ratio", "rss_ratio"};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does metric `name` come from run `prefix` (prefix '.' ...)? */
static bool from_run(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	return !name || (!strncmp(name, prefix, n) && name[n] == '.');
}

bool perf_suite_knows(const char *name)
{
	char prefix[PERF_NAME_MAX + 1];
	for (size_t i = 0; i < sizeof(exact_runs) / sizeof(exact_runs[0]); i++)
		if (from_run(name, exact_runs[i].name))
			return true;
	for (size_t i = 0; i < sizeof(counted_runs) / sizeof(counted_runs[0]); i++) {
		snprintf(prefix, sizeof(prefix), "counted.%s", counted_runs[i].name);
		if (from_run(name, prefix))
			return true;
	}
	for (size_t i = 0; i < sizeof(timed_runs) / sizeof(timed_runs[0]); i++) {
		snprintf(prefix, sizeof(prefix), "timed.%s", timed_runs[i].name);
		if (from_run(name, prefix))
			return true;
	}
	return has_prefix(name, "timed.proxy.");
}

static void logf_(const struct perf_suite_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(const struct perf_suite_opts *o, const char *fmt, ...)
{
	va_list ap;
	if (!o->log)
		return;
	va_start(ap, fmt);
	vfprintf(o->log, fmt, ap);
	va_end(ap);
	fflush(o->log);
}

/* The last lines of a log file, for an error message. */
static void tail_of(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	out[0] = '\0';
	if (!f)
		return;
	long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
	long from = size > (long)cap - 1 ? size - (long)cap + 1 : 0;
	if (fseek(f, from, SEEK_SET) == 0) {
		size_t n = fread(out, 1, cap - 1, f);
		out[n] = '\0';
	}
	fclose(f);
	for (char *c = out; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

/* simrun's command line for one run of the suite (its first `duration`
 * when not NULL); the strings live in the struct, so a caller can put the
 * line behind valgrind's. */
struct simrun_line {
	char bin[PATH_MAX + 16], file[PATH_MAX + 64];
	char *argv[10];
};

static void simrun_line(struct simrun_line *l, const struct perf_suite_opts *o,
                        const char *scenario, const char *duration, const char *out_dir, bool pcaps)
{
	size_t n = 0;
	snprintf(l->bin, sizeof(l->bin), "%s/simrun", o->build);
	snprintf(l->file, sizeof(l->file), "%s/%s", o->repo, scenario);
	l->argv[n++] = l->bin;
	l->argv[n++] = "--quiet";
	l->argv[n++] = "--pcap";
	l->argv[n++] = pcaps ? "all" : "none";
	l->argv[n++] = "--out";
	l->argv[n++] = (char *)out_dir;
	if (duration) {
		l->argv[n++] = "--duration";
		l->argv[n++] = (char *)duration;
	}
	l->argv[n++] = l->file;
	l->argv[n] = NULL;
}

/* A simrun run: 0 when it ran to its end (an expectation that failed is
 * the scenario's business, not the suite's), else the message. */
static int simrun(const struct perf_suite_opts *o, const char *scenario, const char *duration,
                  const char *out_dir, bool pcaps, const char *log, struct perf_proc *p, char *err,
                  size_t err_len)
{
	struct simrun_line l;
	simrun_line(&l, o, scenario, duration, out_dir, pcaps);
	int rc = perf_proc_run(l.argv, NULL, log, log, PERF_LIMIT_RUN_S, p);
	if (rc)
		return err_setf(err, err_len, rc, "%s: cannot start: %s", l.bin, strerror(-rc));
	if (p->status > 1) {
		char tail[400];
		tail_of(log, tail, sizeof(tail));
		char how[64];
		perf_proc_how(p, PERF_LIMIT_RUN_S, how, sizeof(how));
		return err_setf(err, err_len, -EIO, "simrun %s %s: %s", scenario, how, tail);
	}
	return 0;
}

static int run_exact(const struct perf_suite_opts *o, const char *tmp, struct perf_result *r,
                     char *err, size_t err_len)
{
	for (size_t i = 0; i < sizeof(exact_runs) / sizeof(exact_runs[0]); i++) {
		const struct exact_run *x = &exact_runs[i];
		char dir[PATH_MAX + 128], log[PATH_MAX + 160];
		struct perf_proc p;
		if ((o->quick && !x->quick) || (o->only && !from_run(o->only, x->name)))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", tmp, x->name);
		snprintf(log, sizeof(log), "%s/%s.log", tmp, x->name);
		int rc = simrun(o, x->file, NULL, dir, x->pcaps, log, &p, err, err_len);
		if (rc)
			return rc;
		size_t before = r->n;
		if ((rc = perf_exact_collect(r, dir, x->name, err, err_len)))
			return rc;
		logf_(o, "perfrun: %-28s %3zu exact metrics (%.1f s)\n", x->name, r->n - before,
		      p.wall_s);
		if (r->n == before)
			return err_setf(err, err_len, -ENODATA, "%s: no metric could be read",
			                x->name);
	}
	return 0;
}

/* Instructions in every valgrind log of dir (one per process). */
static int instructions_sum(const char *dir, double *total)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t files = 0;

	*total = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 600], line[512];
		if (!has_prefix(de->d_name, "vg."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			char *at = strstr(line, "I   refs:");
			if (!at && !(at = strstr(line, "I refs:")))
				continue;
			double v = 0;
			for (char *c = strchr(at, ':') + 1; *c && *c != '\n'; c++)
				if (*c >= '0' && *c <= '9')
					v = v * 10 + (*c - '0');
			*total += v;
			files++;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return files ? 0 : -ENODATA;
}

static int run_counted(const struct perf_suite_opts *o, const char *tmp, struct perf_result *r,
                       char *err, size_t err_len)
{
	for (size_t i = 0; i < sizeof(counted_runs) / sizeof(counted_runs[0]); i++) {
		const struct counted_run *c = &counted_runs[i];
		char name[PERF_NAME_MAX + 1], dir[PATH_MAX + 128], out[PATH_MAX + 160];
		char vglog[PATH_MAX + 160], log[PATH_MAX + 160];
		snprintf(name, sizeof(name), "counted.%s.instructions", c->name);
		if ((o->quick && !c->quick) || (o->only && strcmp(o->only, name) != 0))
			continue;
		snprintf(dir, sizeof(dir), "%s/vg-%s", tmp, c->name);
		if (mkdir(dir, 0755) != 0)
			return err_setf(err, err_len, -errno, "%s: %s", dir, strerror(errno));
		snprintf(out, sizeof(out), "%s/out", dir);
		snprintf(vglog, sizeof(vglog), "--log-file=%s/vg.%%p", dir);
		snprintf(log, sizeof(log), "%s/run.log", dir);
		/* simrun's own line, or what an explore trial needs */
		struct simrun_line l;
		simrun_line(&l, o, c->file, c->duration, out, false);
		char *explore_args[] = {l.bin,    "explore", l.file,   "--seeds", "1",
		                        "--jobs", "1",       "--pcap", "none",    "--out",
		                        out,      "--quiet", NULL};
		/* gnuplot draws the report's plots: not the harness's cost */
		char *argv[8 + sizeof(explore_args) / sizeof(explore_args[0])] = {
		    "valgrind",
		    "--tool=cachegrind",
		    "--cache-sim=no",
		    "--cachegrind-out-file=/dev/null",
		    c->explore ? "--trace-children=yes" : "--trace-children=no",
		    "--trace-children-skip=*gnuplot*",
		    vglog};
		char *const *run_args = c->explore ? explore_args : l.argv;
		for (size_t k = 0; run_args[k]; k++)
			argv[7 + k] = run_args[k];
		struct perf_proc p;
		int rc = perf_proc_run(argv, NULL, log, log, PERF_LIMIT_VALGRIND_S, &p);
		if (rc)
			return err_setf(err, err_len, rc,
			                "valgrind: cannot start: %s (install valgrind)",
			                strerror(-rc));
		if (p.status == 127)
			return err_setf(
			    err, err_len, -ENOENT,
			    "valgrind could not be run (install it: scripts/install-deps.sh)");
		if (p.status > 1) {
			char tail[400];
			tail_of(log, tail, sizeof(tail));
			char how[64];
			perf_proc_how(&p, PERF_LIMIT_VALGRIND_S, how, sizeof(how));
			return err_setf(err, err_len, -EIO, "valgrind simrun %s %s: %s", c->file,
			                how, tail);
		}
		double v;
		if (instructions_sum(dir, &v) || v <= 0)
			return err_setf(err, err_len, -ENODATA,
			                "%s: valgrind reported no instructions", dir);
		if ((rc =
		         perf_result_add(r, name, "instructions", PERF_LOWER, PERF_COUNTED, &v, 1)))
			return err_setf(err, err_len, rc, "%s: %s", name, strerror(-rc));
		logf_(o, "perfrun: %-28s %.4g instructions (%.1f s under valgrind)\n", name, v,
		      p.wall_s);
	}
	return 0;
}

/* "ok=N" in the plain anchor's output: what it completed. */
static long plain_ok(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	long ok = -1;
	while (f && fgets(line, sizeof(line), f)) {
		char *at = strstr(line, "ok=");
		if (at)
			ok = strtol(at + 3, NULL, 10);
	}
	if (f)
		fclose(f);
	return ok;
}

/* Events of run `name` in out_dir with both strings of `work`: what
 * simrun's side of a timed comparison did (-1: no events file). */
static long work_done(const char *out_dir, const char *name, const char *const work[2])
{
	char path[PATH_MAX + 4096], line[4096];
	snprintf(path, sizeof(path), "%s/reports/%s/events.jsonl", out_dir, name);
	FILE *f = fopen(path, "r");
	long n = f ? 0 : -1;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, work[0]) && (!work[1] || strstr(line, work[1]));
	if (f)
		fclose(f);
	return n;
}

static int run_timed_one(const struct perf_suite_opts *o, const struct timed_run *t,
                         const char *tmp, struct perf_result *r, char *err, size_t err_len)
{
	double s[3][PERF_SAMPLES_MAX];
	char plain[PATH_MAX + 32];
	unsigned reps = o->reps;

	snprintf(plain, sizeof(plain), "%s/bench_rr_plain", o->build);
	if (access(plain, X_OK) != 0)
		return err_setf(err, err_len, -ENOENT,
		                "%s: missing (configure with -DTAILSIM_BENCH=ON)", plain);
	for (unsigned i = 0; i < reps; i++) {
		char out[PATH_MAX + 64], log[PATH_MAX + 64], jsonl[PATH_MAX + 64];
		struct perf_proc pp, pw;
		snprintf(log, sizeof(log), "%s/%s-plain-%u.out", tmp, t->name, i);
		snprintf(jsonl, sizeof(jsonl), "%s/%s-plain-%u.jsonl", tmp, t->name, i);
		char *argv[24] = {plain};
		size_t k = 1;
		for (size_t a = 0; t->plain_args[a] && k < 20; a++)
			argv[k++] = t->plain_args[a];
		argv[k++] = "--out";
		argv[k++] = jsonl;
		argv[k] = NULL;
		int rc = perf_proc_run(argv, NULL, log, log, PERF_LIMIT_RUN_S, &pp);
		if (rc || pp.status != 0 || plain_ok(log) <= 0)
			return err_setf(err, err_len, -EIO,
			                "plain ns-3 (%s) failed or completed no request: see %s",
			                plain, log);
		snprintf(out, sizeof(out), "%s/%s-%u", tmp, t->name, i);
		snprintf(log, sizeof(log), "%s/%s-%u.log", tmp, t->name, i);
		if ((rc = simrun(o, t->file, t->duration, out, false, log, &pw, err, err_len)))
			return rc;
		long done = work_done(out, t->name, t->work);
		if (done < t->at_least)
			return err_setf(
			    err, err_len, -ENODATA,
			    "simrun %s did not do its work: %ld events with %s, expected "
			    "%ld or more (see %s)",
			    t->file, done, t->work[0], t->at_least, out);
		s[0][i] = pw.wall_s / pp.wall_s;
		s[1][i] = pw.cpu_s / pp.cpu_s;
		s[2][i] = (double)pw.rss_kib / (double)pp.rss_kib;
		logf_(o, "perfrun: timed %s #%u: wall %.2f/%.2f s (%.2f), cpu %.2f, rss %.2f\n",
		      t->name, i + 1, pw.wall_s, pp.wall_s, s[0][i], s[1][i], s[2][i]);
	}
	for (int m = 0; m < 3; m++) {
		char name[PERF_NAME_MAX + 1];
		snprintf(name, sizeof(name), "timed.%s.%s", t->name, timed_names[m]);
		int rc = perf_result_add(r, name, "ratio", PERF_LOWER, PERF_TIMED, s[m], reps);
		if (rc)
			return err_setf(err, err_len, rc, "%s: bad samples", name);
	}
	return 0;
}

static int run_timed(const struct perf_suite_opts *o, const char *tmp, struct perf_result *r,
                     char *err, size_t err_len)
{
	if (o->quick)
		return 0;
	for (size_t i = 0; i < sizeof(timed_runs) / sizeof(timed_runs[0]); i++) {
		char prefix[PERF_NAME_MAX + 1];
		snprintf(prefix, sizeof(prefix), "timed.%s", timed_runs[i].name);
		if (o->only && !from_run(o->only, prefix))
			continue;
		int rc = run_timed_one(o, &timed_runs[i], tmp, r, err, err_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The proxy comparison's rows (bench/run-proxy-vs-haproxy.sh prints each
 * with direct, svcd, HAProxy, their ratio and then every repetition's
 * svcd/HAProxy ratio): the metric each becomes. */
static const struct {
	const char *label, *name;
	enum perf_direction direction;
} proxy_rows[] = {
    {"L7 keep-alive requests/s", "timed.proxy.l7_keepalive_rps_ratio", PERF_HIGHER},
    {"L7 keep-alive p99 latency ms", "timed.proxy.l7_keepalive_p99_ratio", PERF_LOWER},
    {"L4 new connections/s", "timed.proxy.l4_new_connections_per_s_ratio", PERF_HIGHER},
    {"L4 new-connection p99 ms", "timed.proxy.l4_new_connection_p99_ratio", PERF_LOWER},
    {"L4 single stream Gbit/s", "timed.proxy.l4_stream_gbps_ratio", PERF_HIGHER},
};

/* svcd against HAProxy on real sockets in a network namespace (needs
 * root, HAProxy, nginx, wrk, iperf3: scripts/install-deps.sh). */
static int run_proxy(const struct perf_suite_opts *o, const char *tmp, struct perf_result *r,
                     char *err, size_t err_len)
{
	char script[PATH_MAX + 64], reps[16], log[PATH_MAX + 64], line[1024];
	struct perf_proc p = {0};

	if (o->quick || (o->only && !has_prefix(o->only, "timed.proxy.")))
		return 0;
	snprintf(script, sizeof(script), "%s/bench/run-proxy-vs-haproxy.sh", o->repo);
	snprintf(reps, sizeof(reps), "%u", o->reps);
	snprintf(log, sizeof(log), "%s/proxy.out", tmp);
	char *argv[] = {script,    "--reps",         reps,         "--duration", "5",
	                "--build", (char *)o->build, "--no-build", NULL};
	int rc = perf_proc_run(argv, NULL, log, log, PERF_LIMIT_BENCH_S, &p);
	if (rc || p.status != 0) {
		char tail[400];
		tail_of(log, tail, sizeof(tail));
		char how[64];
		perf_proc_how(&p, PERF_LIMIT_BENCH_S, how, sizeof(how));
		return err_setf(err, err_len, -EIO, "%s %s: %s", script,
		                rc ? "could not start" : how, tail);
	}
	FILE *f = fopen(log, "r");
	size_t found = 0;
	while (f && fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < sizeof(proxy_rows) / sizeof(proxy_rows[0]); i++) {
			size_t ll = strlen(proxy_rows[i].label);
			if (strncmp(line, proxy_rows[i].label, ll) != 0 || line[ll] != ' ')
				continue;
			double v[4 + PERF_SAMPLES_MAX];
			size_t n = 0;
			char *at = line + ll, *end;
			while (n < 4 + PERF_SAMPLES_MAX) {
				double x = strtod(at, &end);
				if (end == at)
					break;
				v[n++] = x;
				at = end;
			}
			/* direct, svcd, haproxy, the median ratio, then one per repetition */
			if (n != 4 + o->reps) {
				if (f)
					fclose(f);
				return err_setf(err, err_len, -ENODATA,
				                "%s: row '%s' has %zu figures, expected %u", log,
				                proxy_rows[i].label, n, 4 + o->reps);
			}
			rc = perf_result_add(r, proxy_rows[i].name, "ratio",
			                     proxy_rows[i].direction, PERF_TIMED, v + 4, o->reps);
			if (rc) {
				fclose(f);
				return err_setf(err, err_len, rc, "%s: %s", proxy_rows[i].name,
				                strerror(-rc));
			}
			found++;
		}
	}
	if (f)
		fclose(f);
	if (found != sizeof(proxy_rows) / sizeof(proxy_rows[0]))
		return err_setf(err, err_len, -ENODATA, "%s: %zu of %zu rows read", log, found,
		                sizeof(proxy_rows) / sizeof(proxy_rows[0]));
	logf_(o, "perfrun: timed svcd/HAProxy, %u repetitions (%.0f s)\n", o->reps, p.wall_s);
	return 0;
}

int perf_suite_run(const struct perf_suite_opts *o, struct perf_result *r, char *err,
                   size_t err_len)
{
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s/perf", o->build);
	mkdir(tmp, 0755);
	snprintf(tmp, sizeof(tmp), "%s/perf/runs-XXXXXX", o->build);
	if (!mkdtemp(tmp))
		return err_setf(err, err_len, -errno, "%s: %s", tmp, strerror(errno));
	int rc = run_exact(o, tmp, r, err, err_len);
	if (!rc)
		rc = run_counted(o, tmp, r, err, err_len);
	if (!rc)
		rc = run_timed(o, tmp, r, err, err_len);
	if (!rc)
		rc = run_proxy(o, tmp, r, err, err_len);
	if (!rc && o->only && !perf_result_find(r, o->only))
		rc = err_setf(err, err_len, -ENODATA, "the suite yields no metric %s", o->only);
	if (!rc) {
		char *rm[] = {"rm", "-rf", tmp, NULL};
		perf_proc_run(rm, NULL, NULL, NULL, PERF_LIMIT_TOOL_S, NULL);
	} else {
		size_t n = strlen(err);
		snprintf(err + n, err_len - n, " (outputs kept in %s)", tmp);
	}
	return rc;
}
