/* One trial of `simrun explore` or `simrun shrink` (explore_int.h), in its
 * own process: the scenario under its fault schedule run to its end, its
 * reports written, the invariants judged from its events and packets
 * (invariant.h), and the verdict written as result.json for the parent. */
#define _GNU_SOURCE /* nftw */
#include "sim/explore/explore_int.h"
#include "sim/explore/invariant.h"
#include "sim/simrun_run.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESULT_MAX (4u << 20) /* a trial's result.json */

int explore_mkdirs(const char *dir)
{
	return world_mkdirs(dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int explore_remove_tree(const char *dir)
{
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

char *explore_read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		free(buf);
		fclose(f);
		errno = n > max ? EFBIG : EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

cJSON *explore_kinds_json(uint32_t enabled)
{
	cJSON *a = cJSON_CreateArray();

	for (int k = 0; a && k < SCENARIO_FAULT_KINDS; k++)
		if (enabled & (1u << k))
			cJSON_AddItemToArray(a, cJSON_CreateString(scenario_fault_kind_name(
			                            (enum scenario_fault_kind)k)));
	return a;
}

/* A fault's target as the timeline names it: a node, two regions (a
 * one-way partition: from,to), a host and service, a grant, or control. */
static void fault_target_name(const struct scenario *sc, const struct explore_schedule *s,
                              const struct explore_fault *f, char *out, size_t cap)
{
	const struct scenario_link *l;

	switch (f->kind) {
	case SCENARIO_FAULT_CRASH:
	case SCENARIO_FAULT_ISOLATE:
	case SCENARIO_FAULT_ACCESS:
	case SCENARIO_FAULT_ORIGIN:
	case SCENARIO_FAULT_ORIGIN_SLOW:
	case SCENARIO_FAULT_ORIGIN_ERROR:
	case SCENARIO_FAULT_PAUSE:
		scenario_node_name(sc, f->target, out, cap);
		break;
	case SCENARIO_FAULT_PARTITION:
	case SCENARIO_FAULT_LINK:
	case SCENARIO_FAULT_ONE_WAY:
	case SCENARIO_FAULT_LOSS:
	case SCENARIO_FAULT_JITTER:
	case SCENARIO_FAULT_DUPLICATE:
		l = &sc->links[f->target];
		snprintf(out, cap, "%s,%s",
		         sc->regions[f->reverse ? l->region_b : l->region_a].name,
		         sc->regions[f->reverse ? l->region_a : l->region_b].name);
		break;
	case SCENARIO_FAULT_TAGS:
		if (f->target < s->n_hosts) {
			scenario_node_name(sc, s->hosts[f->target].node, out, cap);
			for (size_t i = 0; i < s->n_tag_names; i++)
				if (f->tags >> i & 1u) {
					size_t o = strlen(out);
					snprintf(out + o, cap - o, "%s%s", o ? " " : "",
					         s->tag_names[i]);
				}
		} else {
			snprintf(out, cap, "host %u", f->target);
		}
		break;
	case SCENARIO_FAULT_REVOKE:
	case SCENARIO_FAULT_REJECT:
	case SCENARIO_FAULT_DRAIN:
		if (f->target < s->n_hosts) {
			char node[SCENARIO_NAME_MAX + 16];
			scenario_node_name(sc, s->hosts[f->target].node, node, sizeof(node));
			snprintf(out, cap, "%.*s %s", (int)SCENARIO_NAME_MAX, node,
			         s->hosts[f->target].service);
		} else {
			snprintf(out, cap, "host %u", f->target);
		}
		break;
	case SCENARIO_FAULT_GRANT:
		snprintf(out, cap, "grant %u", f->target + 1);
		break;
	default:
		snprintf(out, cap, "control");
		break;
	}
}

static cJSON *faults_json(const struct scenario *sc, const struct explore_schedule *s)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < s->n_faults; i++) {
		const struct explore_fault *f = &s->faults[i];
		char target[3 * SCENARIO_NAME_MAX + SCENARIO_SERVICE_NAME_MAX + 32];
		cJSON *o = cJSON_CreateObject();
		fault_target_name(sc, s, f, target, sizeof(target));
		cJSON_AddStringToObject(o, "kind", scenario_fault_kind_name(f->kind));
		cJSON_AddStringToObject(o, "target", target);
		cJSON_AddNumberToObject(o, "start_us", (double)f->start_us);
		cJSON_AddNumberToObject(o, "heal_us", (double)f->heal_us);
		if (f->kind == SCENARIO_FAULT_LINK)
			cJSON_AddNumberToObject(o, "latency_us", (double)f->latency_us);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *invariants_json(const struct invariant_result *r, cJSON *result)
{
	cJSON *checked = cJSON_AddArrayToObject(result, "checked");
	cJSON *broken = cJSON_AddArrayToObject(result, "broken");
	cJSON *viol = cJSON_AddArrayToObject(result, "violations");

	for (int i = 0; i < INVARIANT_KINDS; i++) {
		const char *name = invariant_name((enum invariant_id)i);
		if (r->checked & (1u << i))
			cJSON_AddItemToArray(checked, cJSON_CreateString(name));
		if (!(r->broken & (1u << i)))
			continue;
		cJSON_AddItemToArray(broken, cJSON_CreateString(name));
		cJSON *v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "invariant", name);
		cJSON_AddNumberToObject(v, "count", (double)r->count[i]);
		cJSON_AddNumberToObject(v, "t_us", (double)r->first[i].t_us);
		cJSON_AddStringToObject(v, "node", r->first[i].node);
		cJSON_AddStringToObject(v, "what", r->first[i].what);
		cJSON_AddItemToArray(viol, v);
	}
	return result;
}

/* A trial's result object: the seed, its verdict, the schedule and the
 * invariants (a zeroed result: none judged). */
static cJSON *result_new(const struct explore_trial *t, const struct scenario *sc,
                         const char *status, const struct invariant_result *inv)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddNumberToObject(r, "seed", (double)t->seed);
	cJSON_AddStringToObject(r, "status", status);
	cJSON_AddItemToObject(r, "kinds", explore_kinds_json(t->schedule->enabled));
	cJSON_AddItemToObject(r, "faults", faults_json(sc, t->schedule));
	invariants_json(inv, r);
	return r;
}

/* The child's work; returns its exit code (0 when result.json is
 * written, whatever the verdict). */
static int trial_child(struct explore_trial *t)
{
	struct scenario *sc = t->sc;
	struct scenario_event *own = sc->events, *merged = NULL;
	size_t n_own = sc->n_events, n_merged = 0;
	struct simrun_outcome outcome;
	struct invariant_result inv;
	char path[EXPLORE_PATH_MAX + 32], err[1024] = "";
	const char *status = "pass";
	double t0 = simrun_wall_s();

	snprintf(path, sizeof(path), "%s/simrun.log", t->dir);
	int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log >= 0) {
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		close(log);
	}
	if (explore_schedule_merge(sc, t->schedule, &merged, &n_merged) < 0)
		return 3;
	sc->events = merged;
	sc->n_events = n_merged;
	sc->seed = t->seed;
	struct simrun_args a = {.scenario = t->scenario_path,
	                        .out_dir = t->dir,
	                        .pcap = t->pcap,
	                        .quiet = true,
	                        .no_plots = !t->plots,
	                        .outcome = &outcome};
	int rc = simrun_run(&a, sc);
	memset(&inv, 0, sizeof(inv));
	if (!outcome.ran || rc == SIMRUN_EXIT_INVALID) {
		status = "error";
		if (!outcome.error[0])
			snprintf(outcome.error, sizeof(outcome.error),
			         "the run's outputs could not be written completely (simrun.log)");
	} else {
		int e = invariants_check(sc, outcome.events_path,
		                         strcmp(t->pcap, "none") ? outcome.pcap_dir : NULL,
		                         t->invariants, &inv, err, sizeof(err));
		if (e < 0) {
			status = "error";
			snprintf(outcome.error, sizeof(outcome.error), "invariant checker: %s",
			         err);
		} else if (inv.broken) {
			status = "fail";
		}
	}
	sc->events = own;
	sc->n_events = n_own;
	free(merged);

	cJSON *r = result_new(t, sc, status, &inv);
	cJSON *ex = cJSON_AddObjectToObject(r, "expectations");
	cJSON_AddNumberToObject(ex, "held", (double)(outcome.n_expects - outcome.n_failed));
	cJSON_AddNumberToObject(ex, "failed", (double)outcome.n_failed);
	if (outcome.n_failed)
		cJSON_AddStringToObject(ex, "first_failed", outcome.first_failed);
	if (strcmp(status, "error") == 0)
		cJSON_AddStringToObject(r, "error", outcome.error);
	cJSON_AddNumberToObject(r, "simulated_s", outcome.simulated_s);
	cJSON_AddNumberToObject(r, "requests", (double)outcome.requests);
	cJSON_AddNumberToObject(r, "wall_s", simrun_wall_s() - t0);
	char *text = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	if (!text)
		return 3;
	snprintf(path, sizeof(path), "%s/result.json", t->dir);
	FILE *f = fopen(path, "w");
	bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	if (f && fclose(f) != 0)
		ok = false;
	free(text);
	return ok ? 0 : 4;
}

int explore_trial_start(struct explore_trial *t)
{
	int err = explore_mkdirs(t->dir);

	if (err)
		return err;
	fflush(stdout);
	fflush(stderr);
	t->started_wall_s = simrun_wall_s();
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		alarm(t->timeout_s);
		_exit(trial_child(t));
	}
	return 0;
}

/* A result for a process that left no result.json. */
static cJSON *died_result(const struct explore_trial *t, int wait_status)
{
	char why[EXPLORE_PATH_MAX + 256];
	const struct invariant_result none = {0};
	cJSON *r = result_new(t, t->sc, "error", &none);

	if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGALRM)
		snprintf(why, sizeof(why), "timed out after %u wall s (killed)", t->timeout_s);
	else if (WIFSIGNALED(wait_status))
		snprintf(why, sizeof(why), "the run crashed: signal %d (%s); see %s/simrun.log",
		         WTERMSIG(wait_status), strsignal(WTERMSIG(wait_status)), t->dir);
	else
		snprintf(why, sizeof(why), "the run exited %d without a result; see %s/simrun.log",
		         WEXITSTATUS(wait_status), t->dir);
	cJSON_AddStringToObject(r, "error", why);
	cJSON_AddNumberToObject(r, "simulated_s", 0);
	cJSON_AddNumberToObject(r, "requests", 0);
	cJSON_AddNumberToObject(r, "wall_s", simrun_wall_s() - t->started_wall_s);
	return r;
}

cJSON *explore_trial_result(const struct explore_trial *t, int wait_status)
{
	char path[EXPLORE_PATH_MAX + 32];
	cJSON *r = NULL;

	snprintf(path, sizeof(path), "%s/result.json", t->dir);
	if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
		char *text = explore_read_file(path, RESULT_MAX, NULL);
		if (text) {
			r = cJSON_Parse(text);
			free(text);
		}
	}
	if (r && cJSON_IsObject(r) && cJSON_IsString(cJSON_GetObjectItem(r, "status")))
		return r;
	cJSON_Delete(r);
	return died_result(t, wait_status);
}

cJSON *explore_trial_run(struct explore_trial *t)
{
	int st;

	if (explore_trial_start(t) < 0)
		return NULL;
	while (waitpid(t->pid, &st, 0) < 0)
		if (errno != EINTR)
			return NULL;
	return explore_trial_result(t, st);
}
