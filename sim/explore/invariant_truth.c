/* The truth the invariants are judged against, recomputed from the
 * scenario alone: who may reach what (the scenario's policy through
 * control's evaluator, as a library: the same rules, not control's
 * decisions), which host is eligible for which service when (serve lines,
 * the timeline's serve and admin actions, auto-approval by each node's tags
 * as the timeline's set-tags change them, crashes), and the
 * fault windows in which paths may break. What the checker does not model
 * (a set-policy, a service defined or deleted, a serve line set again, a
 * restart after a serve change) makes the affected answers "unknown" from
 * then on, and unknown is never judged. */
#include "sim/explore/invariant_int.h"

#include "lib/base/errfmt.h"
#include "proxy/serve/serve_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int inv_add_change(struct inv_run *r, uint64_t t, uint32_t host, int svc, int what);

static const struct scenario_node_group *inv_group(const struct inv_run *r, uint32_t node)
{
	char name[SCENARIO_NAME_MAX + 1];

	return scenario_node_name(r->sc, node, name, sizeof(name));
}

/* A node as policy sees it at t: its user, and its tags, the scenario's
 * until an admin's set-tags replaced them (control then ignores what the
 * node claims: control/registry.h). */
static struct policy_node inv_identity(const struct inv_run *r, uint32_t node, uint64_t at_us)
{
	const struct scenario_node_group *g = inv_group(r, node);
	struct policy_node n = {.user = ""};

	if (!g)
		return n;
	n.user = g->user >= 0 ? r->sc->users[g->user].login : "";
	n.tags = g->tags;
	n.n_tags = g->n_tags;
	for (size_t i = 0; i < r->n_tagc && r->tagc[i].at_us <= at_us; i++)
		if (r->tagc[i].node == node) {
			n.tags = r->tagc[i].tags;
			n.n_tags = r->tagc[i].n_tags;
		}
	return n;
}

/* Has an admin set `node`'s tags at or before t? */
static bool inv_tags_changed(const struct inv_run *r, uint32_t node, uint64_t at_us)
{
	for (size_t i = 0; i < r->n_tagc && r->tagc[i].at_us <= at_us; i++)
		if (r->tagc[i].node == node)
			return true;
	return false;
}

/* An admin's set-tags: the node's identity from then on, and a change of
 * every (node, service) pair's approval truth. */
static int inv_tags_change(struct inv_run *r, const struct scenario_event *e)
{
	if (inv_grow((void **)&r->tagc, &r->cap_tagc, r->n_tagc, sizeof(*r->tagc)) < 0)
		return -ENOMEM;
	r->tagc[r->n_tagc++] = (struct inv_tags_change){
	    .at_us = e->at_us, .node = e->host, .n_tags = e->n_tags, .tags = e->tags};
	return inv_add_change(r, e->at_us, e->host, -1, INV_C_TAGS);
}

static struct policy_service inv_service(const struct inv_run *r, int svc)
{
	const struct scenario_service *s = &r->sc->services[svc];

	return (struct policy_service){.name = s->name, .tags = s->tags, .n_tags = s->n_tags};
}

static int inv_add_window(struct inv_run *r, struct inv_window w)
{
	if (inv_grow((void **)&r->win, &r->cap_win, r->n_win, sizeof(*r->win)) < 0)
		return -ENOMEM;
	r->win[r->n_win++] = w;
	return 0;
}

/* Closes the latest open window of `kind` matching `node` (a node
 * window: a crash's, or a pause's with `pause`) at t. */
static void inv_close_window_of(struct inv_run *r, enum inv_window_kind kind, uint32_t node,
                                bool pause, uint64_t t)
{
	for (size_t i = r->n_win; i-- > 0;)
		if (r->win[i].kind == kind && r->win[i].node == node && r->win[i].pause == pause &&
		    r->win[i].to_us == UINT64_MAX) {
			r->win[i].to_us = t;
			return;
		}
}

static void inv_close_window(struct inv_run *r, enum inv_window_kind kind, uint32_t node,
                             uint64_t t)
{
	inv_close_window_of(r, kind, node, false, t);
}

static int inv_add_change(struct inv_run *r, uint64_t t, uint32_t host, int svc, int what)
{
	if (inv_grow((void **)&r->chg, &r->cap_chg, r->n_chg, sizeof(*r->chg)) < 0)
		return -ENOMEM;
	r->chg[r->n_chg++] =
	    (struct inv_change){.at_us = t, .host = host, .service = svc, .what = what};
	return 0;
}

/* A serve line of the timeline: drain, advertise, clear, reset; anything
 * else on a service makes it unknown for that host. */
static int inv_serve_change(struct inv_run *r, const struct scenario_event *e)
{
	struct serve_op *op = malloc(sizeof(*op));
	char why[128];
	int rc = 0;

	if (!op)
		return -ENOMEM;
	if (serve_cmd_parse_line(e->run, strlen(e->run), op, why, sizeof(why)) < 0) {
		free(op);
		return 0; /* the loader checked it; nothing was carried out */
	}
	int svc = op->service[0] ? scenario_service_find(r->sc, op->service) : -1;
	switch (op->verb) {
	case SERVE_VERB_DRAIN:
		rc = inv_add_change(r, e->at_us, e->node, svc,
		                    svc < 0 ? INV_C_UNKNOWN : INV_C_DRAIN);
		break;
	case SERVE_VERB_ADVERTISE:
		rc = inv_add_change(r, e->at_us, e->node, svc,
		                    svc < 0 ? INV_C_UNKNOWN : INV_C_ADVERTISE);
		break;
	case SERVE_VERB_CLEAR:
	case SERVE_VERB_RESET:
		rc = inv_add_change(r, e->at_us, e->node, op->verb == SERVE_VERB_RESET ? -1 : svc,
		                    INV_C_CLEAR);
		break;
	case SERVE_VERB_STATUS:
		break;
	default:
		rc = inv_add_change(r, e->at_us, e->node, svc, INV_C_UNKNOWN);
		break;
	}
	free(op);
	return rc;
}

static int inv_admin_change(struct inv_run *r, const struct scenario_event *e)
{
	int svc = scenario_service_find(r->sc, e->service);

	switch (e->verb) {
	case SCENARIO_ADMIN_APPROVE:
		return inv_add_change(r, e->at_us, e->host, svc,
		                      svc < 0 ? INV_C_UNKNOWN : INV_C_APPROVE);
	case SCENARIO_ADMIN_REJECT:
		return inv_add_change(r, e->at_us, e->host, svc,
		                      svc < 0 ? INV_C_UNKNOWN : INV_C_REJECT);
	case SCENARIO_ADMIN_REVOKE:
		return inv_add_change(r, e->at_us, e->host, svc,
		                      svc < 0 ? INV_C_UNKNOWN : INV_C_REVOKE);
	case SCENARIO_ADMIN_SET_POLICY:
		if (e->at_us < r->policy_until_us)
			r->policy_until_us = e->at_us;
		return inv_add_change(r, e->at_us, INV_NONE, -1, INV_C_UNKNOWN);
	case SCENARIO_ADMIN_SET_TAGS:
		return inv_tags_change(r, e);
	default: /* define, delete: the service's tags, ports or existence change */
		return inv_add_change(r, e->at_us, INV_NONE, svc, INV_C_UNKNOWN);
	}
}

/* A drain or an advertise is a quiet action: the host stays reachable for
 * open connections and clients move off (or back) without a failure
 * (DRN-1, DRN-2, DRN-5); any other serve line may end connections. */
static enum inv_window_kind inv_serve_window(const struct scenario_event *e)
{
	struct serve_op *op = malloc(sizeof(*op));
	char why[128];
	enum inv_window_kind k = INV_W_ACTION;

	if (op && serve_cmd_parse_line(e->run, strlen(e->run), op, why, sizeof(why)) == 0 &&
	    (op->verb == SERVE_VERB_DRAIN || op->verb == SERVE_VERB_ADVERTISE) && op->service[0])
		k = INV_W_QUIET;
	free(op);
	return k;
}

static bool inv_link_is_original(const struct inv_run *r, int link,
                                 const struct scenario_link_params *p)
{
	const struct scenario_link_params *o = &r->sc->links[link].params;

	/* shares within rounding: explore writes a heal's loss as text */
	return p->latency_us == o->latency_us && p->bandwidth_bps == o->bandwidth_bps &&
	       fabs(p->loss - o->loss) < 1e-12 && p->jitter_us == o->jitter_us &&
	       fabs(p->reorder - o->reorder) < 1e-12 && fabs(p->duplicate - o->duplicate) < 1e-12;
}

/* A cut window's key for a node's own faults: an isolated node (bit 30),
 * its dead backends (bit 29) or its slow or erroring ones (bit 28), apart
 * from region pairs (below bit 24) and node pairs (bit 31). */
static uint32_t inv_node_key(const struct scenario_event *e)
{
	switch (e->action) {
	case SCENARIO_ACTION_ISOLATE:
	case SCENARIO_ACTION_REJOIN:
		return 0x40000000u | e->node;
	case SCENARIO_ACTION_ORIGIN_CRASH:
	case SCENARIO_ACTION_ORIGIN_RESTART:
		return 0x20000000u | e->node;
	default:
		return 0x10000000u | e->node;
	}
}

/* A region link's change: a window while it is off its scenario values. */
static int inv_link(struct inv_run *r, const struct scenario_event *e,
                    struct scenario_link_params *links)
{
	struct inv_window w = {.from_us = e->at_us, .to_us = UINT64_MAX, .kind = INV_W_LINK};
	struct scenario_link_params *p = &links[e->link];
	bool was = inv_link_is_original(r, e->link, p);

	scenario_link_params_apply(p, e);
	bool now = inv_link_is_original(r, e->link, p);
	if (was && !now) {
		w.node = (uint32_t)e->link;
		return inv_add_window(r, w);
	}
	if (!was && now)
		inv_close_window(r, INV_W_LINK, (uint32_t)e->link, e->at_us);
	return 0;
}

/* A node's access link changed: a window (keyed by the node, bit 30)
 * until an entry sets what it changes back to the scenario's access
 * values. */
static int inv_access(struct inv_run *r, const struct scenario_event *e)
{
	const struct scenario_link_params *o = &r->sc->access;
	uint32_t key = 0x40000000u | e->node;
	bool back = (!e->set_latency || e->params.latency_us == o->latency_us) &&
	            (!e->set_bandwidth || e->params.bandwidth_bps == o->bandwidth_bps) &&
	            (!e->set_loss || fabs(e->params.loss - o->loss) < 1e-12) &&
	            (!e->set_jitter || e->params.jitter_us == o->jitter_us) &&
	            (!e->set_reorder || fabs(e->params.reorder - o->reorder) < 1e-12) &&
	            (!e->set_duplicate || fabs(e->params.duplicate - o->duplicate) < 1e-12);

	inv_close_window(r, INV_W_LINK, key, e->at_us);
	if (back)
		return 0;
	return inv_add_window(
	    r, (struct inv_window){
	           .from_us = e->at_us, .to_us = UINT64_MAX, .kind = INV_W_LINK, .node = key});
}

static int inv_event(struct inv_run *r, const struct scenario_event *e,
                     struct scenario_link_params *links, bool *serve_changed)
{
	struct inv_window w = {.from_us = e->at_us, .to_us = UINT64_MAX, .node = INV_NONE};

	switch (e->action) {
	case SCENARIO_ACTION_CRASH:
		inv_close_window_of(r, INV_W_NODE, e->node, true, e->at_us); /* ends a pause */
		w.kind = INV_W_NODE;
		w.node = e->node;
		return inv_add_window(r, w);
	case SCENARIO_ACTION_PAUSE:
		w.kind = INV_W_NODE;
		w.node = e->node;
		w.pause = true;
		return inv_add_window(r, w);
	case SCENARIO_ACTION_RESUME:
		inv_close_window_of(r, INV_W_NODE, e->node, true, e->at_us);
		return 0;
	case SCENARIO_ACTION_RESTART:
		inv_close_window(r, INV_W_NODE, e->node, e->at_us);
		/* a restarted daemon's serve state after timeline changes is not modelled */
		return serve_changed[e->node]
		           ? inv_add_change(r, e->at_us, e->node, -1, INV_C_UNKNOWN)
		           : 0;
	case SCENARIO_ACTION_PARTITION:
		w.kind = INV_W_CUT;
		w.node = inv_cut_key(e->between_nodes, e->a, e->b);
		return inv_add_window(r, w);
	case SCENARIO_ACTION_HEAL:
		inv_close_window(r, INV_W_CUT, inv_cut_key(e->between_nodes, e->a, e->b), e->at_us);
		return 0;
	case SCENARIO_ACTION_ISOLATE:
	case SCENARIO_ACTION_ORIGIN_CRASH:
	case SCENARIO_ACTION_ORIGIN_SLOW:
	case SCENARIO_ACTION_ORIGIN_ERROR:
		w.kind = INV_W_CUT;
		w.node = inv_node_key(e);
		return inv_add_window(r, w);
	case SCENARIO_ACTION_REJOIN:
	case SCENARIO_ACTION_ORIGIN_RESTART:
	case SCENARIO_ACTION_ORIGIN_OK:
		inv_close_window(r, INV_W_CUT, inv_node_key(e), e->at_us);
		return 0;
	case SCENARIO_ACTION_LINK:
		if (e->access)
			return inv_access(r, e);
		return inv_link(r, e, links);
	case SCENARIO_ACTION_CONTROL_CRASH:
	case SCENARIO_ACTION_CONTROL_TORN_WRITE:
		w.kind = INV_W_CONTROL;
		w.node = 0;
		return inv_add_window(r, w);
	case SCENARIO_ACTION_CONTROL_RESTART:
		r->control_restarted = true;
		inv_close_window(r, INV_W_CONTROL, 0, e->at_us);
		return 0;
	case SCENARIO_ACTION_CONTROL_DISK:
		if (e->disk == SCENARIO_DISK_OK) {
			inv_close_window(r, INV_W_CONTROL, 1, e->at_us);
			return 0;
		}
		w.kind = INV_W_CONTROL;
		w.node = 1;
		return inv_add_window(r, w);
	case SCENARIO_ACTION_SERVE:
		serve_changed[e->node] = true;
		w = (struct inv_window){
		    .from_us = e->at_us, .to_us = e->at_us, .kind = inv_serve_window(e)};
		return inv_add_window(r, w) < 0 ? -ENOMEM : inv_serve_change(r, e);
	case SCENARIO_ACTION_ADMIN:
		w = (struct inv_window){
		    .from_us = e->at_us, .to_us = e->at_us, .kind = INV_W_ACTION};
		return inv_add_window(r, w) < 0 ? -ENOMEM : inv_admin_change(r, e);
	default:
		/* a kind of action added after this checker: a fault that never
		 * heals, so nothing after it is judged rather than misjudged */
		w.kind = INV_W_OTHER;
		return inv_add_window(r, w);
	}
}

static int inv_serves(struct inv_run *r)
{
	const struct scenario *sc = r->sc;
	size_t ns = sc->n_services;
	struct serve_op *op = malloc(sizeof(*op));
	char why[128];

	r->serves = calloc((size_t)sc->node_count * ns + 1, sizeof(bool));
	r->auto_ok = calloc((size_t)sc->node_count * ns + 1, sizeof(bool));
	if (!op || !r->serves || !r->auto_ok) {
		free(op);
		return -ENOMEM;
	}
	for (uint32_t n = 0; n < sc->node_count; n++) {
		const struct scenario_node_group *g = inv_group(r, n);
		struct policy_node id = inv_identity(r, n, 0);
		for (size_t l = 0; g && l < g->n_serve; l++) {
			const char *t = g->serve[l].text;
			if (serve_cmd_parse_line(t, strlen(t), op, why, sizeof(why)) < 0 ||
			    op->verb != SERVE_VERB_SET)
				continue;
			int s = scenario_service_find(sc, op->service);
			if (s >= 0)
				r->serves[(size_t)n * ns + (size_t)s] = true;
		}
		for (size_t s = 0; s < ns; s++) {
			struct policy_service ps = inv_service(r, (int)s);
			r->auto_ok[(size_t)n * ns + s] = policy_auto_approves(r->policy, &ps, &id);
		}
	}
	free(op);
	return 0;
}

int inv_truth_build(struct inv_run *r, char *err, size_t errcap)
{
	const struct scenario *sc = r->sc;
	char why[POLICY_ERR_LEN];
	int rc;

	r->policy_until_us = UINT64_MAX;
	rc = sc->policy_json ? policy_parse(sc->policy_json, strlen(sc->policy_json), &r->policy,
	                                    why, sizeof(why))
	                     : policy_new_empty(&r->policy);
	if (rc < 0)
		return err_setf(err, errcap, rc, "the scenario's policy: %s", why);
	struct scenario_link_params *links = calloc((size_t)sc->link_count + 1, sizeof(*links));
	bool *serve_changed = calloc((size_t)sc->node_count + 1, sizeof(bool));
	if (!links || !serve_changed) {
		free(links);
		free(serve_changed);
		return -ENOMEM;
	}
	for (int l = 0; l < sc->link_count; l++)
		links[l] = sc->links[l].params;
	rc = inv_serves(r);
	for (size_t i = 0; rc == 0 && i < sc->n_events; i++)
		if (!sc->events[i].expect_error) /* not carried out */
			rc = inv_event(r, &sc->events[i], links, serve_changed);
	free(links);
	free(serve_changed);
	for (size_t i = 0; rc == 0 && i < r->n_win; i++) {
		const struct inv_window *w = &r->win[i];
		/* a node that never comes back is gone, not a fault that lasts:
		 * the truth no longer counts it as a host; a daemon paused for
		 * good is neither gone nor back, so nothing after it is judged */
		uint64_t end = w->to_us != UINT64_MAX  ? w->to_us
		               : w->kind == INV_W_NODE ? w->from_us
		                                       : 0;
		if (w->to_us == UINT64_MAX && (w->kind != INV_W_NODE || w->pause))
			r->open_fault = true;
		if (end > r->last_heal_us)
			r->last_heal_us = end;
	}
	return rc;
}

void inv_truth_free(struct inv_run *r)
{
	policy_free(r->policy);
	free(r->win);
	free(r->chg);
	free(r->tagc);
	free(r->serves);
	free(r->auto_ok);
}

/* The policy's answer for client's identity at t (no unknowns). */
static bool inv_policy_allows(const struct inv_run *r, uint32_t client, int svc, uint8_t proto,
                              uint16_t port, uint64_t at_us)
{
	struct policy_ports ports;
	struct policy_node id = inv_identity(r, client, at_us);
	struct policy_service ps = inv_service(r, svc);

	policy_service_ports(r->policy, &id, &ps, &ports);
	return policy_ports_allow(&ports, proto, port);
}

/* 1 or 0 by the policy and the client's tags at t, -1 when the policy or
 * the service changed in a way not modelled; *lost gets the latest time
 * at or before t a set-tags took the grant away (0: none). */
static int inv_granted_at(const struct inv_run *r, uint32_t client, int svc, uint8_t proto,
                          uint16_t port, uint64_t at_us, uint64_t *lost)
{
	*lost = 0;
	if (at_us >= r->policy_until_us || svc < 0 || client >= r->sc->node_count)
		return -1;
	for (size_t i = 0; i < r->n_chg; i++)
		if (r->chg[i].at_us <= at_us && r->chg[i].host == INV_NONE &&
		    (r->chg[i].service == svc || r->chg[i].service < 0))
			return -1;
	bool was = inv_policy_allows(r, client, svc, proto, port, 0);
	for (size_t i = 0; i < r->n_tagc && r->tagc[i].at_us <= at_us; i++) {
		if (r->tagc[i].node != client)
			continue;
		bool now = inv_policy_allows(r, client, svc, proto, port, r->tagc[i].at_us);
		if (was && !now)
			*lost = r->tagc[i].at_us;
		was = now;
	}
	return was ? 1 : 0;
}

int inv_granted(const struct inv_run *r, uint32_t client, int svc, uint8_t proto, uint16_t port,
                uint64_t at_us)
{
	uint64_t lost;
	int g = inv_granted_at(r, client, svc, proto, port, at_us, &lost);

	/* The hosts learn of a lost grant through their maps (ACL-4): within
	 * the settle bound, or later when a fault delays the maps. */
	if (g == 0 && lost &&
	    (at_us < lost + r->settle_us || inv_in_window(r, lost, at_us, INV_FAULT_WINDOWS, NULL)))
		return -1;
	return g;
}

int inv_granted_answer(const struct inv_run *r, uint32_t client, int svc, uint8_t proto,
                       uint16_t port, uint64_t at_us)
{
	uint64_t lost;
	int g = inv_granted_at(r, client, svc, proto, port, at_us, &lost);

	/* granted before `lost`: a flow opened then may still answer */
	return g == 0 && lost ? -1 : g;
}

bool inv_alive_throughout(const struct inv_run *r, uint32_t node, uint64_t from_us, uint64_t to_us)
{
	for (size_t i = 0; i < r->n_win; i++) {
		const struct inv_window *w = &r->win[i];
		if (w->kind == INV_W_NODE && w->node == node && w->from_us <= to_us &&
		    (w->to_us == UINT64_MAX || w->to_us >= from_us))
			return false;
	}
	return true;
}

int inv_approval_at(const struct inv_run *r, uint32_t host, int svc, uint64_t at_us)
{
	bool auto_ok = r->auto_ok[(size_t)host * r->sc->n_services + (size_t)svc];

	if (inv_tags_changed(r, host, at_us)) {
		/* auto-approval by the tags an admin set (APR-3); a decision still wins */
		struct policy_node id = inv_identity(r, host, at_us);
		struct policy_service ps = inv_service(r, svc);
		auto_ok = id.n_tags > 0 && policy_auto_approves(r->policy, &ps, &id);
	}
	int a = auto_ok ? INV_APPROVED : INV_PENDING;

	for (size_t i = 0; i < r->n_chg; i++) {
		const struct inv_change *c = &r->chg[i];
		if (c->at_us > at_us || (c->service != svc && c->service >= 0) ||
		    (c->host != host && c->host != INV_NONE))
			continue;
		if (c->what == INV_C_UNKNOWN && (c->host == INV_NONE))
			return -1;
		if (c->what == INV_C_APPROVE)
			a = INV_APPROVED;
		else if (c->what == INV_C_REJECT)
			a = INV_REJECTED;
		else if (c->what == INV_C_REVOKE)
			a = INV_REVOKED;
	}
	return a;
}

/* Eligible at t: serving, advertised (a drain counts from drain + grace),
 * approved, alive. 1, 0, or -1 unknown. */
static int inv_eligible_at(const struct inv_run *r, uint32_t host, int svc, uint64_t t,
                           uint64_t drain_grace_us)
{
	size_t ns = r->sc->n_services;
	bool serving = r->serves[(size_t)host * ns + (size_t)svc], drained = false;

	for (size_t i = 0; i < r->n_chg; i++) {
		const struct inv_change *c = &r->chg[i];
		if (c->at_us > t || (c->service != svc && c->service >= 0) ||
		    (c->host != host && c->host != INV_NONE))
			continue;
		switch (c->what) {
		case INV_C_UNKNOWN:
			return -1;
		case INV_C_DRAIN:
			if (c->at_us + drain_grace_us <= t)
				drained = true;
			break;
		case INV_C_ADVERTISE:
			drained = false;
			break;
		case INV_C_CLEAR:
			serving = false;
			break;
		default:
			break;
		}
	}
	if (!serving || drained || !inv_alive_throughout(r, host, t, t))
		return 0;
	return inv_approval_at(r, host, svc, t) == INV_APPROVED ? 1 : 0;
}

/* The times in [from, to] at which eligibility may change, from. */
static int inv_eligible_scan(const struct inv_run *r, uint32_t host, int svc, uint64_t from_us,
                             uint64_t to_us, uint64_t grace, bool any)
{
	int e = inv_eligible_at(r, host, svc, from_us, grace), unknown = e < 0;
	bool seen = e == 1, all = e == 1;

	for (size_t i = 0; i < r->n_chg + r->n_win; i++) {
		uint64_t ts[2];
		size_t n = 0;
		if (i < r->n_chg) {
			ts[n++] = r->chg[i].at_us;
			if (r->chg[i].what == INV_C_DRAIN)
				ts[n++] = r->chg[i].at_us + grace;
		} else {
			ts[n++] = r->win[i - r->n_chg].from_us;
			if (r->win[i - r->n_chg].to_us != UINT64_MAX)
				ts[n++] = r->win[i - r->n_chg].to_us + 1;
		}
		for (size_t k = 0; k < n; k++) {
			if (ts[k] <= from_us || ts[k] > to_us)
				continue;
			e = inv_eligible_at(r, host, svc, ts[k], grace);
			unknown |= e < 0;
			seen |= e == 1;
			all &= e == 1;
		}
	}
	if (unknown)
		return -1;
	return any ? seen : all;
}

int inv_eligible_during(const struct inv_run *r, uint32_t host, int svc, uint64_t from_us,
                        uint64_t to_us)
{
	return inv_eligible_scan(r, host, svc, from_us, to_us, INVARIANT_DRAIN_BOUND_US, true);
}

int inv_eligible_throughout(const struct inv_run *r, uint32_t host, int svc, uint64_t from_us,
                            uint64_t to_us)
{
	return inv_eligible_scan(r, host, svc, from_us, to_us, 0, false);
}

uint64_t inv_window_end(const struct inv_run *r, const struct inv_window *w)
{
	uint64_t end = w->to_us;
	if (end == UINT64_MAX && w->kind == INV_W_NODE)
		end = w->from_us; /* gone for good: a point in time */
	return end == UINT64_MAX ? UINT64_MAX : end + r->settle_us;
}

bool inv_in_window(const struct inv_run *r, uint64_t from_us, uint64_t to_us, uint32_t kinds,
                   const struct inv_window *except)
{
	if (from_us <= INVARIANT_STARTUP_US) /* start-up: maps, certificates, approvals */
		return true;
	for (size_t i = 0; i < r->n_win; i++) {
		const struct inv_window *w = &r->win[i];
		if (w == except || !(kinds & (1u << w->kind)))
			continue;
		if (w->from_us <= to_us && inv_window_end(r, w) >= from_us)
			return true;
	}
	return false;
}
