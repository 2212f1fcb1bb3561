/* The timeline's actions, applied at their times (world_apply): serve
 * lines, daemon crashes and restarts, partitions and heals, link changes,
 * admin commands and control's faults. Each writes one `timeline` event;
 * one that cannot be carried out fails the run unless its expect_error
 * says so (EXP-6). */
#include "sim/world_int.h"

#include "lib/base/errfmt.h"
#include "lib/io/io.h"
#include "lib/io/io_event.h"
#include "lib/io/storage.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One `timeline` event line, written where the seams write theirs. */
static void world_mark(struct world *w, const char *action, const char *target, const char *detail)
{
	char fields[IO_EVENT_LINE_MAX], line[IO_EVENT_LINE_MAX];
	char cut[WORLD_DETAIL_MAX + 1];

	snprintf(cut, sizeof(cut), "%s", detail ? detail : "");
	const struct io_field members[] = {
	    IO_STR("action", action),
	    IO_STR("target", target),
	    IO_STR("detail", cut),
	};
	io_fields_format(fields, sizeof(fields), members, sizeof(members) / sizeof(members[0]));
	int n =
	    io_event_format(line, sizeof(line), ns3w_now_us(w->ns3), "simrun", "timeline", fields);
	if (n > 0)
		fwrite(line, 1, (size_t)n, w->events);
	w->timeline_events++;
}

static const char *world_region_name(const struct world *w, uint32_t r)
{
	return w->sc->regions[r].name;
}

static int world_cut_regions(struct world *w, uint32_t a, uint32_t b, bool cut)
{
	int hits = 0;

	for (int l = 0; l < w->sc->link_count; l++) {
		const struct scenario_link *sl = &w->sc->links[l];
		if (((uint32_t)sl->region_a == a && (uint32_t)sl->region_b == b) ||
		    ((uint32_t)sl->region_a == b && (uint32_t)sl->region_b == a)) {
			int rc = ns3w_link_set_up(w->ns3, w->link_ids[l], !cut);
			if (rc < 0)
				return rc;
			hits++;
		}
	}
	return hits ? 0 : -ENOENT;
}

/* The link's parameters; jitter, reorder and duplicate only when one of
 * them is set (a link without them reads as it always did). */
static void world_fmt_params(char *out, size_t cap, const struct scenario_link_params *p)
{
	int n = snprintf(out, cap, "latency %.3fms bandwidth %.0fbps loss %.4f%%",
	                 (double)p->latency_us / 1000.0, (double)p->bandwidth_bps, p->loss * 100.0);

	if (n >= 0 && (size_t)n < cap && (p->jitter_us || p->reorder > 0 || p->duplicate > 0))
		snprintf(out + n, cap - (size_t)n, " jitter %.3fms reorder %.4f%% duplicate %.4f%%",
		         (double)p->jitter_us / 1000.0, p->reorder * 100.0, p->duplicate * 100.0);
}

/* The partition in force between the same two regions or nodes as `e`:
 * its index in w->cuts, or w->n_cuts when there is none. */
static size_t world_cut_find(const struct world *w, const struct scenario_event *e)
{
	size_t j = 0;

	while (j < w->n_cuts && !scenario_cut_same(&w->sc->events[w->cuts[j]], e))
		j++;
	return j;
}

/* A partition cuts what is whole, a heal mends what is cut: anything else
 * cannot be carried out (-EALREADY / -ENOENT with the reason). */
static int world_partition(struct world *w, const struct scenario_event *e, char *reason,
                           size_t reason_len)
{
	bool cut = e->action == SCENARIO_ACTION_PARTITION || e->action == SCENARIO_ACTION_ISOLATE;
	bool isolate = e->action == SCENARIO_ACTION_ISOLATE || e->action == SCENARIO_ACTION_REJOIN;
	size_t j = world_cut_find(w, e);
	int rc;

	if (cut && j < w->n_cuts)
		return err_setf(reason, reason_len, -EALREADY, "already cut (%s at line %u)",
		                isolate ? "isolate" : "partition", w->sc->events[w->cuts[j]].line);
	if (!cut && j == w->n_cuts)
		return err_setf(reason, reason_len, -ENOENT, "not cut (no %s in force)",
		                isolate ? "isolate" : "partition");
	if (isolate)
		rc = ns3w_link_set_up(
		    w->ns3, ns3w_node_access_link(w->ns3, w->nodes[e->node].ns3_node), !cut);
	else if (e->one_way)
		rc = ns3w_block_regions_one_way(w->ns3, (int)e->a, (int)e->b, cut);
	else if (e->between_nodes)
		rc = ns3w_block_pair(w->ns3, w->nodes[e->a].ns3_node, w->nodes[e->b].ns3_node, cut);
	else
		rc = world_cut_regions(w, e->a, e->b, cut);
	if (rc < 0)
		return err_setf(reason, reason_len, rc, "%s", strerror(-rc));
	if (cut)
		w->cuts[w->n_cuts++] = (size_t)(e - w->sc->events);
	else
		w->cuts[j] = w->cuts[--w->n_cuts];
	return 0;
}

/* Why a command failed, from what it printed: control's admin API answers
 * {"error": "..."}, the daemon's serve command a message whose first line
 * says why; with nothing printed, the errno's text. */
static void world_reason(const char *out, int rc, char *reason, size_t reason_len)
{
	cJSON *j = out[0] == '{' ? cJSON_Parse(out) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (cJSON_IsString(msg) && msg->valuestring[0])
		snprintf(reason, reason_len, "%s", msg->valuestring);
	else if (out[0])
		snprintf(reason, reason_len, "%.*s", (int)strcspn(out, "\n"), out);
	else
		snprintf(reason, reason_len, "%s", strerror(-rc));
	cJSON_Delete(j);
}

/* One timeline action being applied: what its timeline event says, why it
 * failed, and what a command printed. */
struct world_act {
	const char *action;
	char target[2 * SCENARIO_NAME_MAX + 8];
	char detail[WORLD_DETAIL_MAX + 1];
	char reason[1024];
	char *out; /* WORLD_ADMIN_OUT_MAX bytes */
};

/* serve, crash, restart, pause, resume: a node's daemon; its origin. */
static int world_act_node(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	int rc = 0;

	snprintf(a->target, sizeof(a->target), "%s", w->nodes[e->node].name);
	switch (e->action) {
	case SCENARIO_ACTION_SERVE:
		a->action = "serve";
		rc = tn_serve(w->tn, (int)e->node, e->run, a->out, WORLD_ADMIN_OUT_MAX);
		snprintf(a->detail, sizeof(a->detail), "%s", e->run);
		break;
	case SCENARIO_ACTION_CRASH:
		a->action = "crash";
		rc = tn_crash(w->tn, (int)e->node);
		if (rc == -EALREADY)
			snprintf(a->reason, sizeof(a->reason), "%s is already down", a->target);
		break;
	case SCENARIO_ACTION_ORIGIN_CRASH:
		a->action = "origin_crash";
		rc = tn_origin_crash(w->tn, (int)e->node);
		if (rc == -EALREADY)
			snprintf(a->reason, sizeof(a->reason), "%s's backends are already down",
			         a->target);
		break;
	case SCENARIO_ACTION_ORIGIN_RESTART:
		a->action = "origin_restart";
		rc = tn_origin_restart(w->tn, (int)e->node, a->reason, sizeof(a->reason));
		break;
	case SCENARIO_ACTION_ORIGIN_SLOW:
		a->action = "origin_slow";
		snprintf(a->detail, sizeof(a->detail), "%llu us", (unsigned long long)e->delay_us);
		rc = tn_origin_degrade(w->tn, (int)e->node, e->delay_us, 0, a->reason,
		                       sizeof(a->reason));
		break;
	case SCENARIO_ACTION_ORIGIN_ERROR:
		a->action = "origin_error";
		snprintf(a->detail, sizeof(a->detail), "%d", SCENARIO_ORIGIN_ERROR_STATUS);
		rc = tn_origin_degrade(w->tn, (int)e->node, 0, SCENARIO_ORIGIN_ERROR_STATUS,
		                       a->reason, sizeof(a->reason));
		break;
	case SCENARIO_ACTION_ORIGIN_OK:
		a->action = "origin_ok";
		rc = tn_origin_ok(w->tn, (int)e->node, a->reason, sizeof(a->reason));
		break;
	case SCENARIO_ACTION_PAUSE:
		a->action = "pause";
		rc = tn_pause_node(w->tn, (int)e->node, a->reason, sizeof(a->reason));
		break;
	case SCENARIO_ACTION_RESUME:
		a->action = "resume";
		rc = tn_resume_node(w->tn, (int)e->node, a->reason, sizeof(a->reason));
		break;
	default:
		a->action = "restart";
		rc = tn_restart_why(w->tn, (int)e->node, a->reason, sizeof(a->reason));
		break;
	}
	return rc;
}

/* partition, heal: two regions or two nodes; isolate, rejoin: a node. */
static int world_act_cut(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	if (e->action == SCENARIO_ACTION_ISOLATE || e->action == SCENARIO_ACTION_REJOIN) {
		a->action = e->action == SCENARIO_ACTION_ISOLATE ? "isolate" : "rejoin";
		snprintf(a->target, sizeof(a->target), "%s", w->nodes[e->node].name);
		snprintf(a->detail, sizeof(a->detail), "access link");
		return world_partition(w, e, a->reason, sizeof(a->reason));
	}
	if (e->one_way)
		a->action =
		    e->action == SCENARIO_ACTION_PARTITION ? "partition_one_way" : "heal_one_way";
	else
		a->action = e->action == SCENARIO_ACTION_PARTITION ? "partition" : "heal";
	if (e->between_nodes)
		snprintf(a->target, sizeof(a->target), "%s,%s", w->nodes[e->a].name,
		         w->nodes[e->b].name);
	else
		snprintf(a->target, sizeof(a->target), "%s,%s", world_region_name(w, e->a),
		         world_region_name(w, e->b));
	snprintf(a->detail, sizeof(a->detail), "%s",
	         e->between_nodes ? "nodes"
	         : e->one_way     ? "regions, from the first to the second"
	                          : "regions");
	return world_partition(w, e, a->reason, sizeof(a->reason));
}

/* link of a node: its access link's parameters it changes, the others
 * kept. */
static int world_act_access(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	int id = ns3w_node_access_link(w->ns3, w->nodes[e->node].ns3_node);
	struct scenario_link_params p = {0};
	struct ns3w_link_params np;
	int rc;

	a->action = "link";
	snprintf(a->target, sizeof(a->target), "%s", w->nodes[e->node].name);
	rc = ns3w_link_get_params(w->ns3, id, &np);
	if (rc < 0)
		return rc;
	p = (struct scenario_link_params){
	    .latency_us = np.latency_us,
	    .bandwidth_bps = np.bandwidth_bps,
	    .loss = np.loss,
	    .jitter_us = np.jitter_us,
	    .reorder = np.reorder,
	    .duplicate = np.duplicate,
	};
	scenario_link_params_apply(&p, e);
	world_ns3_params(&p, &np);
	rc = ns3w_link_set_params(w->ns3, id, &np);
	world_fmt_params(a->detail, sizeof(a->detail), &p);
	return rc;
}

/* link: the parameters it changes, the others kept. */
static int world_act_link(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	const struct scenario *sc = w->sc;
	struct scenario_link_params *p = &w->link_params[e->link];
	struct ns3w_link_params np;
	int rc;

	a->action = "link";
	snprintf(a->target, sizeof(a->target), "%s,%s",
	         world_region_name(w, (uint32_t)sc->links[e->link].region_a),
	         world_region_name(w, (uint32_t)sc->links[e->link].region_b));
	scenario_link_params_apply(p, e);
	world_ns3_params(p, &np);
	rc = ns3w_link_set_params(w->ns3, w->link_ids[e->link], &np);
	world_fmt_params(a->detail, sizeof(a->detail), p);
	return rc;
}

/* admin: the command as written, run as its user (set-policy's file is
 * relative to the scenario's folder). */
static int world_act_admin(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	const struct scenario *sc = w->sc;
	const char *user = e->user >= 0 ? sc->users[e->user].login : NULL;
	char *line = malloc(WORLD_LINE_MAX);
	int rc;

	a->action = "admin";
	if (!line)
		return -ENOMEM;
	if (e->verb == SCENARIO_ADMIN_SET_POLICY && e->policy) {
		snprintf(a->target, sizeof(a->target), "policy");
		snprintf(a->detail, sizeof(a->detail), "set-policy (%zu bytes given) (as %s)",
		         strlen(e->policy), user ? user : "?");
		rc = user ? tn_admin_policy(w->tn, user, e->policy, a->out, WORLD_ADMIN_OUT_MAX)
		          : -EINVAL;
		free(line);
		return rc;
	}
	if (e->verb == SCENARIO_ADMIN_SET_POLICY) {
		char path[WORLD_PATH_MAX + SCENARIO_LINE_MAX + 2], q[2 * sizeof(path)];
		snprintf(a->target, sizeof(a->target), "policy");
		if (e->file[0] == '/')
			snprintf(path, sizeof(path), "%s", e->file);
		else
			snprintf(path, sizeof(path), "%s/%s", w->scenario_dir, e->file);
		world_quote(q, sizeof(q), path);
		if ((size_t)snprintf(line, WORLD_LINE_MAX, "set-policy %s", q) >= WORLD_LINE_MAX) {
			free(line);
			return -ENAMETOOLONG;
		}
	} else if (e->verb == SCENARIO_ADMIN_SET_TAGS) {
		scenario_node_name(sc, e->host, a->target, sizeof(a->target));
		snprintf(line, WORLD_LINE_MAX, "%s", e->command);
	} else {
		snprintf(a->target, sizeof(a->target), "%s", e->service);
		snprintf(line, WORLD_LINE_MAX, "%s", e->command);
	}
	snprintf(a->detail, sizeof(a->detail), "%s (as %s)", e->command, user ? user : "?");
	rc = user ? tn_admin(w->tn, user, line, a->out, WORLD_ADMIN_OUT_MAX) : -EINVAL;
	free(line);
	return rc;
}

/* control: crash, restart, a disk fault, a torn write. */
static int world_act_control(struct world *w, const struct scenario_event *e, struct world_act *a)
{
	static const enum storage_fault faults[] = {
	    [SCENARIO_DISK_OK] = STORAGE_FAULT_NONE,
	    [SCENARIO_DISK_FULL] = STORAGE_FAULT_FULL,
	    [SCENARIO_DISK_FSYNC_FAIL] = STORAGE_FAULT_FSYNC,
	};
	int rc = 0;

	a->action = "control";
	snprintf(a->target, sizeof(a->target), "control");
	switch (e->action) {
	case SCENARIO_ACTION_CONTROL_CRASH:
		snprintf(a->detail, sizeof(a->detail), "crash");
		rc = tn_control_crash(w->tn);
		if (rc == -EALREADY)
			snprintf(a->reason, sizeof(a->reason), "control is already down");
		break;
	case SCENARIO_ACTION_CONTROL_RESTART:
		snprintf(a->detail, sizeof(a->detail), "restart");
		rc = tn_control_restart_why(w->tn, a->reason, sizeof(a->reason));
		break;
	case SCENARIO_ACTION_CONTROL_DISK:
		snprintf(a->detail, sizeof(a->detail), "disk %s",
		         storage_fault_name(faults[e->disk]));
		rc = tn_control_disk_fault(w->tn, faults[e->disk]);
		break;
	default:
		snprintf(a->detail, sizeof(a->detail), "torn-write");
		rc = tn_control_torn_write(w->tn);
		if (rc == -EALREADY)
			snprintf(a->reason, sizeof(a->reason), "control is already down");
		break;
	}
	return rc;
}

/* The entry as messages name it ("serve ... on web-1", "control crash"). */
static void world_act_what(const struct world *w, const struct scenario_event *e,
                           const struct world_act *a, char *what, size_t len)
{
	const struct scenario *sc = w->sc;

	if (e->action == SCENARIO_ACTION_SERVE)
		snprintf(what, len, "%s on %s", a->detail, a->target);
	else if (e->action == SCENARIO_ACTION_ADMIN)
		snprintf(what, len, "admin %s as %s", e->command,
		         e->user >= 0 ? sc->users[e->user].login : "?");
	else if (e->action == SCENARIO_ACTION_CONTROL_CRASH ||
	         e->action == SCENARIO_ACTION_CONTROL_RESTART ||
	         e->action == SCENARIO_ACTION_CONTROL_DISK ||
	         e->action == SCENARIO_ACTION_CONTROL_TORN_WRITE)
		snprintf(what, len, "control %s", a->detail);
	else
		snprintf(what, len, "%s %s", a->action, a->target);
}

/* EXP-6: the action's outcome `rc` against the entry's expect_error. Adds
 * the outcome to the event's detail; 0 when the run goes on, else -errno
 * with the whole message in `why`. */
static int world_act_verdict(struct world *w, const struct scenario_event *e, struct world_act *a,
                             int rc, char *why, size_t why_len)
{
	char what[WORLD_DETAIL_MAX + 2 * SCENARIO_NAME_MAX + 32], t[32];
	size_t n = strlen(a->detail);
	const char *sep = n ? "; " : "";
	char *detail = a->detail;
	size_t cap = sizeof(a->detail);

	scenario_time_text(e->at_us, t, sizeof(t));
	world_act_what(w, e, a, what, sizeof(what));
	if (rc < 0 && e->expect_error && strstr(a->reason, e->expect_error)) {
		snprintf(detail + n, cap - n, "%sfailed as expected: %s", sep, a->reason);
		world_note(w, "note: %s:%u: at %s (%s) failed as expected: %s\n", w->scenario_file,
		           e->line, t, what, a->reason);
		w->expected_failures++;
		return 0;
	}
	if (rc < 0) {
		snprintf(detail + n, cap - n, "%sfailed: %s", sep, a->reason);
		if (e->expect_error)
			return err_setf(why, why_len, rc,
			                "%s:%u: timeline entry at %s (%s) failed, but not with "
			                "expect_error's \"%s\": %s",
			                w->scenario_file, e->line, t, what, e->expect_error,
			                a->reason);
		return err_setf(why, why_len, rc,
		                "%s:%u: timeline entry at %s (%s) could not be carried "
		                "out: %s",
		                w->scenario_file, e->line, t, what, a->reason);
	}
	if (e->expect_error) {
		snprintf(detail + n, cap - n, "%ssucceeded, expected to fail", sep);
		return err_setf(why, why_len, -EPROTO,
		                "%s:%u: timeline entry at %s (%s) succeeded, but expect_error "
		                "says it fails with \"%s\"",
		                w->scenario_file, e->line, t, what, e->expect_error);
	}
	return 0;
}

/* Applies one timeline entry at the current time and writes its timeline
 * event (a failure in its detail). EXP-6: an action that could not be
 * carried out fails the run (-errno, the whole message in `why`) unless the
 * entry's expect_error matches its reason; an entry marked expect_error
 * that succeeds fails the run too. */
int world_apply(struct world *w, const struct scenario_event *e, char *why, size_t why_len)
{
	struct world_act a = {.action = "?", .out = malloc(WORLD_ADMIN_OUT_MAX)};
	char t[32];
	int rc = 0, err;

	if (!a.out)
		return err_setf(why, why_len, -ENOMEM, "%s:%u: out of memory at %s",
		                w->scenario_file, e->line,
		                scenario_time_text(e->at_us, t, sizeof(t)));
	a.out[0] = '\0';
	switch (e->action) {
	case SCENARIO_ACTION_SERVE:
	case SCENARIO_ACTION_CRASH:
	case SCENARIO_ACTION_RESTART:
	case SCENARIO_ACTION_ORIGIN_CRASH:
	case SCENARIO_ACTION_ORIGIN_RESTART:
	case SCENARIO_ACTION_ORIGIN_SLOW:
	case SCENARIO_ACTION_ORIGIN_ERROR:
	case SCENARIO_ACTION_ORIGIN_OK:
	case SCENARIO_ACTION_PAUSE:
	case SCENARIO_ACTION_RESUME:
		rc = world_act_node(w, e, &a);
		break;
	case SCENARIO_ACTION_PARTITION:
	case SCENARIO_ACTION_HEAL:
	case SCENARIO_ACTION_ISOLATE:
	case SCENARIO_ACTION_REJOIN:
		rc = world_act_cut(w, e, &a);
		break;
	case SCENARIO_ACTION_LINK:
		rc = e->access ? world_act_access(w, e, &a) : world_act_link(w, e, &a);
		break;
	case SCENARIO_ACTION_ADMIN:
		rc = world_act_admin(w, e, &a);
		break;
	case SCENARIO_ACTION_CONTROL_CRASH:
	case SCENARIO_ACTION_CONTROL_RESTART:
	case SCENARIO_ACTION_CONTROL_DISK:
	case SCENARIO_ACTION_CONTROL_TORN_WRITE:
		rc = world_act_control(w, e, &a);
		break;
	}
	if (rc < 0 && !a.reason[0])
		world_reason(a.out, rc, a.reason, sizeof(a.reason));
	err = world_act_verdict(w, e, &a, rc, why, why_len);
	world_mark(w, a.action, a.target, a.detail);
	free(a.out);
	return err;
}
