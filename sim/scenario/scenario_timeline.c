/* `timeline`: faults and admin actions at given times. Each entry has one
 * action (a serve line, a crash or restart, a partition or heal, a link
 * change, an admin command checked like control's console parses it, or a
 * control fault); the entries are sorted by time and their order must make
 * sense (check_timeline_order). */
#include "sim/scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- admin commands (timeline) ---- */

#define ADMIN_WORDS_MAX 16

struct admin_words {
	int n;
	char *w[ADMIN_WORDS_MAX];
	char buf[SCENARIO_LINE_MAX + ADMIN_WORDS_MAX + 1];
};

static const char *const scenario_admin_words[] = {"define", "delete",     "approve",  "reject",
                                                   "revoke", "set-policy", "set-tags", NULL};

/* Splits an admin command like control does: blanks separate words, a
 * double-quoted span (with \" and \\) keeps its blanks. NULL, or why not. */
static const char *admin_split(const char *line, struct admin_words *aw)
{
	const char *p = line;
	size_t o = 0;

	aw->n = 0;
	if (strlen(line) > SCENARIO_LINE_MAX)
		return "the command is too long";
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return NULL;
		if (aw->n == ADMIN_WORDS_MAX)
			return "too many words";
		aw->w[aw->n++] = aw->buf + o;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p != '"') {
				aw->buf[o++] = *p++;
				continue;
			}
			for (p++; *p != '"'; p++) {
				if (!*p)
					return "unterminated \"";
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				aw->buf[o++] = *p;
			}
			p++;
		}
		aw->buf[o++] = '\0';
	}
}

/* Before the nodes are checked: the services `define` commands in the
 * timeline create, so serve lines, workloads and expectations may name
 * them. Malformed entries are reported later, by load_timeline. */
void ld_scan_defines(struct loader *ld, const yaml_node_t *seq)
{
	struct admin_words *aw = malloc(sizeof(*aw));
	size_t n = seq_len(seq);

	ld->defined = calloc(n ? n : 1, sizeof(*ld->defined));
	if (!aw || !ld->defined) {
		free(aw);
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (item->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
		     p < item->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
			if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), "admin") != 0 ||
			    v->type != YAML_SCALAR_NODE)
				continue;
			if (!admin_split(scalar(v), aw) && aw->n >= 2 &&
			    !strcmp(aw->w[0], "define") && !scenario_service_name_problem(aw->w[1]))
				ld->defined[ld->n_defined++] = ld_strdup(ld, aw->w[1]);
			break; /* one admin key per entry (a duplicate is reported later) */
		}
	}
	free(aw);
}

/* A comma-separated option value (--ports=a,b / --tags=a,b), each item checked. */
static bool admin_list(struct loader *ld, const yaml_node_t *v, const char *opt, char *list,
                       bool tags)
{
	bool ok = true;
	char *save = NULL;

	if (!*list) {
		error_at(ld, v, "admin define: %s needs a value", opt);
		return false;
	}
	for (char *it = strtok_r(list, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		struct scenario_port_range r;
		const char *why;
		if (tags) {
			if (!ld_check_tag(ld, v, it))
				ok = false;
		} else if (strcmp(it, "do-not-validate") != 0 &&
		           (why = ld_parse_port_range(it, &r))) {
			error_at(ld, v, "admin define: bad port '%.40s': %s", it, why);
			ok = false;
		}
	}
	return ok;
}

/* The verb: its index in scenario_admin_words, or -1 after reporting it. */
static int admin_verb(struct loader *ld, const yaml_node_t *v, const struct admin_words *aw)
{
	char list[120];
	int verb = -1;

	for (int i = 0; scenario_admin_words[i]; i++)
		if (!strcmp(aw->w[0], scenario_admin_words[i]))
			verb = i;
	if (verb >= 0)
		return verb;
	const char *near = ld_nearest(aw->w[0], scenario_admin_words, 7);
	ld_words_text(scenario_admin_words, list, sizeof(list));
	if (near)
		error_at(ld, v, "unknown admin command '%.40s' (expected %s; did you mean '%s'?)",
		         aw->w[0], list, near);
	else
		error_at(ld, v, "unknown admin command '%.40s' (expected %s)", aw->w[0], list);
	return -1;
}

/* define svc:NAME [--ports=..] [--tags=..] [--description=..] */
static bool admin_define(struct loader *ld, const yaml_node_t *v, struct admin_words *aw)
{
	bool ok = true;

	if (aw->n < 2) {
		error_at(ld, v,
		         "admin define needs a service: define svc:NAME [--ports=..] "
		         "[--tags=..] [--description=..]");
		return false;
	}
	if (!ld_check_service_name(ld, v, aw->w[1]))
		return false;
	for (int i = 2; i < aw->n; i++) {
		char *w = aw->w[i];
		if (!strncmp(w, "--ports=", 8))
			ok = admin_list(ld, v, "--ports", w + 8, false) && ok;
		else if (!strncmp(w, "--tags=", 7))
			ok = admin_list(ld, v, "--tags", w + 7, true) && ok;
		else if (strncmp(w, "--description=", 14) != 0) {
			error_at(ld, v,
			         "admin define: unknown option '%.40s' (expected "
			         "--ports=, --tags= or --description=)",
			         w);
			ok = false;
		}
	}
	return ok;
}

/* approve|reject|revoke svc:NAME NODE: the node in e->host. */
static bool admin_host(struct loader *ld, const yaml_node_t *v, const struct admin_words *aw,
                       struct scenario_event *e)
{
	bool ok;

	if (aw->n != 3) {
		error_at(ld, v, "admin %s takes a service and a node: %s svc:NAME NODE", aw->w[0],
		         aw->w[0]);
		return false;
	}
	ok = ld_service_ref(ld, "admin: ", v, aw->w[1]);
	if (ld_node_find(ld, aw->w[2], &e->host)) {
		char hint[120];
		size_t n;
		const char **c = ld_node_cands(ld, &n, false, aw->w[2]);
		ld_hint_from(ld, aw->w[2], c, n, hint, sizeof(hint));
		free(c);
		error_at(ld, v, "admin %s: unknown node '%.80s'%s", aw->w[0], aw->w[2], hint);
		ok = false;
	}
	return ok;
}

/* set-tags NODE TAG...: the node in e->host, the tags (1 to
 * SCENARIO_NODE_TAGS_MAX, each owned in tagOwners, distinct) in e->tags. */
static bool admin_set_tags(struct loader *ld, const yaml_node_t *v, const struct admin_words *aw,
                           struct scenario_event *e)
{
	bool ok = true;

	if (aw->n < 3) {
		error_at(
		    ld, v,
		    "admin set-tags takes a node and its tags: set-tags NODE tag:a [tag:b ...]");
		return false;
	}
	if ((size_t)aw->n - 2 > SCENARIO_NODE_TAGS_MAX) {
		error_at(ld, v, "admin set-tags: at most %d tags per node", SCENARIO_NODE_TAGS_MAX);
		return false;
	}
	if (ld_node_find(ld, aw->w[1], &e->host)) {
		char hint[120];
		size_t n;
		const char **c = ld_node_cands(ld, &n, false, aw->w[1]);
		ld_hint_from(ld, aw->w[1], c, n, hint, sizeof(hint));
		free(c);
		error_at(ld, v, "admin set-tags: unknown node '%.80s'%s", aw->w[1], hint);
		ok = false;
	}
	e->n_tags = 0;
	for (int i = 2; i < aw->n; i++) {
		for (int j = 2; j < i; j++)
			if (!strcmp(aw->w[i], aw->w[j])) {
				error_at(ld, v, "admin set-tags: tag '%.80s' given twice",
				         aw->w[i]);
				ok = false;
			}
		if (!ld_check_tag(ld, v, aw->w[i]))
			ok = false;
		e->tags[e->n_tags++] = ld_strdup(ld, aw->w[i]);
	}
	return ok;
}

/* set-policy FILE, or set-policy with the policy in the entry's `policy`
 * key (`pk`, its value `pv`). */
static bool admin_set_policy(struct loader *ld, const yaml_node_t *v, const struct admin_words *aw,
                             const yaml_node_t *pk, const yaml_node_t *pv, struct scenario_event *e)
{
	if (aw->n == 2 && !pk) {
		e->file = ld_strdup(ld, aw->w[1]);
		return true;
	}
	if (aw->n == 1 && pk) {
		if (!pv || pv->type != YAML_MAPPING_NODE) {
			error_at(ld, pk,
			         "policy must be a mapping (a policy, like the top-level one)");
			return false;
		}
		e->policy = ld_policy_text(ld, pk, pv, NULL);
		return e->policy != NULL;
	}
	if (aw->n == 2)
		error_at(ld, pk, "admin set-policy takes a file or a policy, not both");
	else
		error_at(ld, v,
		         "admin set-policy takes one file (set-policy FILE) or, with none, the "
		         "entry's policy key");
	return false;
}

/* An admin command line, checked the way control's console parses it. */
static bool check_admin(struct loader *ld, const yaml_node_t *v, const yaml_node_t *pk,
                        const yaml_node_t *pv, struct scenario_event *e)
{
	struct admin_words *aw = malloc(sizeof(*aw));
	const char *why;
	bool ok = false;
	int verb;

	if (!aw) {
		ld->oom = true;
		return false;
	}
	why = admin_split(scalar(v), aw);
	if (why) {
		error_at(ld, v, "admin: %s", why);
		goto out;
	}
	if (aw->n == 0) {
		error_at(ld, v, "admin: the command is empty");
		goto out;
	}
	verb = admin_verb(ld, v, aw);
	if (verb < 0)
		goto out;
	e->verb = (enum scenario_admin_verb)verb;
	e->command = ld_strdup(ld, scalar(v));
	switch (e->verb) {
	case SCENARIO_ADMIN_DEFINE:
		ok = admin_define(ld, v, aw);
		break;
	case SCENARIO_ADMIN_DELETE:
		if (aw->n != 2) {
			error_at(ld, v, "admin delete takes one service: delete svc:NAME");
			goto out;
		}
		ok = ld_service_ref(ld, "admin delete: ", v, aw->w[1]);
		break;
	case SCENARIO_ADMIN_APPROVE:
	case SCENARIO_ADMIN_REJECT:
	case SCENARIO_ADMIN_REVOKE:
		ok = admin_host(ld, v, aw, e);
		break;
	case SCENARIO_ADMIN_SET_POLICY:
		ok = aw->n <= 2 && admin_set_policy(ld, v, aw, pk, pv, e);
		if (aw->n > 2)
			error_at(ld, v, "admin set-policy takes one file: set-policy FILE");
		break;
	case SCENARIO_ADMIN_SET_TAGS:
		ok = admin_set_tags(ld, v, aw, e);
		break;
	}
	if (pk && e->verb != SCENARIO_ADMIN_SET_POLICY) {
		error_at(ld, pk, "'policy' goes with 'admin: set-policy' (the policy it sets)");
		ok = false;
	}
	if (ok && e->verb != SCENARIO_ADMIN_SET_POLICY && e->verb != SCENARIO_ADMIN_SET_TAGS)
		snprintf(e->service, sizeof(e->service), "%s", aw->w[1]);
out:
	free(aw);
	return ok;
}

/* ---- timeline ---- */

/* A pair of regions or of nodes (partition, heal): both of one sort. */
static bool pair_ref(struct loader *ld, const char *what, const yaml_node_t *seq, bool *nodes,
                     uint32_t *a, uint32_t *b)
{
	struct scenario *sc = ld->sc;
	bool is_node[2];
	uint32_t idx[2];
	char buf[80];

	if (seq_len(seq) != 2) {
		error_at(ld, seq, "%s must name exactly two regions or two nodes, got %zu", what,
		         seq_len(seq));
		return false;
	}
	for (size_t i = 0; i < 2; i++) {
		yaml_node_t *v = seq_item(ld, seq, i);
		if (v->type != YAML_SCALAR_NODE || is_null(v)) {
			error_at(ld, v, "expected a region or node name, got %s",
			         ld_describe(v, buf, sizeof(buf)));
			return false;
		}
		int r = ld_region_find(sc, scalar(v));
		if (r >= 0) {
			is_node[i] = false;
			idx[i] = (uint32_t)r;
		} else if (ld_node_find(ld, scalar(v), &idx[i]) == 0) {
			is_node[i] = true;
		} else {
			size_t nc;
			const char **c = ld_node_cands(ld, &nc, false, scalar(v));
			const char **all =
			    malloc(sizeof(*all) * (nc + (size_t)sc->region_count + 1));
			char hint[120];
			for (size_t j = 0; all && j < nc; j++)
				all[j] = c[j];
			for (int j = 0; all && j < sc->region_count; j++)
				all[nc + (size_t)j] = sc->regions[j].name;
			ld_hint_from(ld, scalar(v), all, nc + (size_t)sc->region_count, hint,
			             sizeof(hint));
			free(all);
			free(c);
			error_at(ld, v, "unknown region or node '%.80s'%s", scalar(v), hint);
			return false;
		}
	}
	yaml_node_t *second = seq_item(ld, seq, 1);
	const char *na = scalar(seq_item(ld, seq, 0)), *nb = scalar(second);
	if (is_node[0] != is_node[1]) {
		error_at(ld, second,
		         "%s: '%s' is a %s and '%s' a %s; name two regions or two nodes", what, na,
		         is_node[0] ? "node" : "region", nb, is_node[1] ? "node" : "region");
		return false;
	}
	if (idx[0] == idx[1]) {
		error_at(ld, second, "%s names '%s' twice", what, nb);
		return false;
	}
	*nodes = is_node[0];
	*a = idx[0];
	*b = idx[1];
	return true;
}

static int link_find(const struct scenario *sc, uint32_t a, uint32_t b)
{
	for (int i = 0; i < sc->link_count; i++) {
		const struct scenario_link *l = &sc->links[i];
		if (((uint32_t)l->region_a == a && (uint32_t)l->region_b == b) ||
		    ((uint32_t)l->region_a == b && (uint32_t)l->region_b == a))
			return i;
	}
	return -1;
}

static bool load_timeline_link(struct loader *ld, const yaml_node_t *map, struct scenario_event *e)
{
	struct scenario *sc = ld->sc;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, map, SCENARIO_SECTION_TIMELINE_LINK, " in link", keys, vals);
	bool nodes;

	if (!keys[TLINK_BETWEEN] == !keys[TLINK_NODE] && ok) {
		error_at(ld, map,
		         "a timeline link names either between (two regions) or node (its access "
		         "link)");
		ok = false;
	}
	if (vals[TLINK_NODE]) {
		e->access = true;
		if (ld_node_ref(ld, "link: ", vals[TLINK_NODE], &e->node) < 0)
			ok = false;
	}
	if (vals[TLINK_BETWEEN]) {
		if (!pair_ref(ld, "between", vals[TLINK_BETWEEN], &nodes, &e->a, &e->b)) {
			ok = false;
		} else if (nodes) {
			error_at(ld, vals[TLINK_BETWEEN],
			         "a timeline link is between two regions, not nodes");
			ok = false;
		} else if ((e->link = link_find(sc, e->a, e->b)) < 0) {
			error_at(ld, vals[TLINK_BETWEEN],
			         "no link between '%s' and '%s' (a timeline link changes a link "
			         "given in links)",
			         sc->regions[e->a].name, sc->regions[e->b].name);
			ok = false;
		}
	}
	struct ld_link_vals lv = {vals[TLINK_LATENCY], vals[TLINK_BANDWIDTH],
	                          vals[TLINK_LOSS],    vals[TLINK_JITTER],
	                          vals[TLINK_REORDER], vals[TLINK_DUPLICATE]};
	if (!lv.latency && !lv.bandwidth && !lv.loss && !lv.jitter && !lv.reorder &&
	    !lv.duplicate && ok) {
		error_at(
		    ld, map,
		    "a timeline link changes at least one of latency, bandwidth, loss, jitter, "
		    "reorder, duplicate");
		ok = false;
	}
	if (!ld_get_link_params(ld, &lv, &e->params))
		ok = false;
	e->set_latency = lv.latency != NULL;
	e->set_bandwidth = lv.bandwidth != NULL;
	e->set_loss = lv.loss != NULL;
	e->set_jitter = lv.jitter != NULL;
	e->set_reorder = lv.reorder != NULL;
	e->set_duplicate = lv.duplicate != NULL;
	return ok;
}

static int event_cmp(const void *x, const void *y)
{
	const struct scenario_event *a = x, *b = y;

	if (a->at_us != b->at_us)
		return a->at_us < b->at_us ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return (a->column > b->column) - (a->column < b->column);
}

static const int timeline_actions[] = {TL_RUN,
                                       TL_CRASH,
                                       TL_RESTART,
                                       TL_PARTITION,
                                       TL_HEAL,
                                       TL_LINK,
                                       TL_ADMIN,
                                       TL_CONTROL,
                                       TL_ISOLATE,
                                       TL_REJOIN,
                                       TL_PARTITION_ONE_WAY,
                                       TL_HEAL_ONE_WAY,
                                       TL_ORIGIN_CRASH,
                                       TL_ORIGIN_RESTART,
                                       TL_ORIGIN_SLOW,
                                       TL_ORIGIN_ERROR,
                                       TL_ORIGIN_OK,
                                       TL_PAUSE,
                                       TL_RESUME};

/* `at`: before the end of the run. */
static bool entry_at(struct loader *ld, const yaml_node_t *v, struct scenario_event *e)
{
	struct scenario *sc = ld->sc;

	if (!ld_get_duration(ld, "at", v, SCENARIO_DURATION_MAX_US, "1 day", &e->at_us))
		return false;
	if (e->at_us >= sc->duration_us) {
		error_at(ld, v, "at %s is not before the end of the run (duration %llus)",
		         scalar(v), (unsigned long long)(sc->duration_us / 1000000));
		return false;
	}
	return true;
}

/* The entry's one action key: its index, or -1 after reporting none or two. */
static int entry_action(struct loader *ld, const yaml_node_t *item, yaml_node_t **keys)
{
	int action = -1;

	for (size_t i = 0; i < sizeof(timeline_actions) / sizeof(timeline_actions[0]); i++) {
		int k = timeline_actions[i];
		if (!keys[k])
			continue;
		if (action >= 0) {
			error_at(ld, keys[k],
			         "timeline entry has two actions, '%s' and '%s' (write one entry "
			         "for each)",
			         scenario_timeline_keys[action].name,
			         scenario_timeline_keys[k].name);
			return -1;
		}
		action = k;
	}
	if (action < 0)
		error_at(ld, item,
		         "timeline entry has no action (one of run with node, crash, "
		         "restart, partition, heal, link, admin with as, control, isolate, "
		         "rejoin, partition_one_way, heal_one_way, origin_crash, "
		         "origin_restart, origin_slow with delay, origin_error, origin_ok, pause, "
		         "resume)");
	return action;
}

/* The keys that go with one action (node, as) and expect_error. */
static bool entry_modifiers(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals, int action,
                            struct scenario_event *e)
{
	bool ok = true;

	if (keys[TL_NODE] && action != TL_RUN) {
		error_at(ld, keys[TL_NODE],
		         "'node' goes with 'run' (a serve command on that node)");
		ok = false;
	}
	if (keys[TL_AS] && action != TL_ADMIN) {
		error_at(ld, keys[TL_AS], "'as' goes with 'admin' (the user running the command)");
		ok = false;
	}
	if (keys[TL_DELAY] && action != TL_ORIGIN_SLOW) {
		error_at(ld, keys[TL_DELAY],
		         "'delay' goes with 'origin_slow' (how late its answers come)");
		ok = false;
	}
	if (keys[TL_POLICY] && action != TL_ADMIN) {
		error_at(ld, keys[TL_POLICY],
		         "'policy' goes with 'admin: set-policy' (the policy it sets)");
		ok = false;
	}
	if (vals[TL_EXPECT_ERROR]) {
		size_t len = strlen(scalar(vals[TL_EXPECT_ERROR]));
		if (len == 0 || len > SCENARIO_EXPECT_ERROR_MAX) {
			error_at(
			    ld, vals[TL_EXPECT_ERROR],
			    "expect_error needs the text the failure's reason contains (1 to %d "
			    "bytes)",
			    SCENARIO_EXPECT_ERROR_MAX);
			ok = false;
		} else {
			e->expect_error = ld_strdup(ld, scalar(vals[TL_EXPECT_ERROR]));
		}
	}
	return ok;
}

/* run: a serve line on `node`. */
static bool action_run(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals,
                       struct scenario_event *e)
{
	e->action = SCENARIO_ACTION_SERVE;
	if (!keys[TL_NODE]) {
		error_at(ld, keys[TL_RUN], "'run' needs 'node' (the node that runs it)");
		return false;
	}
	if (!vals[TL_NODE] || ld_node_ref(ld, "", vals[TL_NODE], &e->node) < 0)
		return false;
	if (!ld_check_serve_line(ld, vals[TL_RUN]))
		return false;
	e->run = ld_strdup(ld, scalar(vals[TL_RUN]));
	return true;
}

/* partition, heal: two regions with a link between them, or two nodes. */
static bool action_cut(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals, int action,
                       struct scenario_event *e)
{
	struct scenario *sc = ld->sc;

	e->action = action == TL_PARTITION ? SCENARIO_ACTION_PARTITION : SCENARIO_ACTION_HEAL;
	if (!pair_ref(ld, scalar(keys[action]), vals[action], &e->between_nodes, &e->a, &e->b))
		return false;
	if (!e->between_nodes && link_find(sc, e->a, e->b) < 0) {
		error_at(ld, vals[action], "%s: no link between regions '%s' and '%s'",
		         scalar(keys[action]), sc->regions[e->a].name, sc->regions[e->b].name);
		return false;
	}
	return true;
}

/* partition_one_way, heal_one_way: from one region to another, with a
 * link between them. */
static bool action_one_way(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals, int action,
                           struct scenario_event *e)
{
	struct scenario *sc = ld->sc;

	e->action =
	    action == TL_PARTITION_ONE_WAY ? SCENARIO_ACTION_PARTITION : SCENARIO_ACTION_HEAL;
	e->one_way = true;
	if (!pair_ref(ld, scalar(keys[action]), vals[action], &e->between_nodes, &e->a, &e->b))
		return false;
	if (e->between_nodes) {
		error_at(ld, vals[action], "%s is between two regions, not nodes",
		         scalar(keys[action]));
		return false;
	}
	if (link_find(sc, e->a, e->b) < 0) {
		error_at(ld, vals[action], "%s: no link between regions '%s' and '%s'",
		         scalar(keys[action]), sc->regions[e->a].name, sc->regions[e->b].name);
		return false;
	}
	return true;
}

/* origin_crash, origin_restart: a node with backends; origin_slow (with
 * its delay), origin_error, origin_ok: a node with an http backend. */
static bool action_origin(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals, int action,
                          struct scenario_event *e)
{
	static const struct {
		int key;
		enum scenario_action action;
		const char *prefix;
	} origin_actions[] = {
	    {TL_ORIGIN_CRASH, SCENARIO_ACTION_ORIGIN_CRASH, "origin_crash: "},
	    {TL_ORIGIN_RESTART, SCENARIO_ACTION_ORIGIN_RESTART, "origin_restart: "},
	    {TL_ORIGIN_SLOW, SCENARIO_ACTION_ORIGIN_SLOW, "origin_slow: "},
	    {TL_ORIGIN_ERROR, SCENARIO_ACTION_ORIGIN_ERROR, "origin_error: "},
	    {TL_ORIGIN_OK, SCENARIO_ACTION_ORIGIN_OK, "origin_ok: "},
	};
	char name[SCENARIO_NAME_MAX + 16];
	size_t i = 0;
	bool http = action != TL_ORIGIN_CRASH && action != TL_ORIGIN_RESTART;

	while (origin_actions[i].key != action)
		i++;
	e->action = origin_actions[i].action;
	if (ld_node_ref(ld, origin_actions[i].prefix, vals[action], &e->node) < 0)
		return false;
	scenario_node_name(ld->sc, e->node, name, sizeof(name));
	if (http ? !scenario_node_has_http_backend(ld->sc, e->node)
	         : !scenario_node_has_backends(ld->sc, e->node)) {
		error_at(ld, vals[action], "'%s' has no %sbackends (origin faults act on them)",
		         name, http ? "http " : "");
		return false;
	}
	if (action != TL_ORIGIN_SLOW)
		return true;
	if (!keys[TL_DELAY]) {
		error_at(ld, keys[action], "'origin_slow' needs 'delay' (how late answers come)");
		return false;
	}
	if (!vals[TL_DELAY] || !ld_get_duration(ld, "delay", vals[TL_DELAY],
	                                        SCENARIO_ORIGIN_DELAY_MAX_US, "60s", &e->delay_us))
		return false;
	if (e->delay_us == 0) {
		error_at(ld, vals[TL_DELAY], "delay must be more than 0 (origin_ok heals)");
		return false;
	}
	return true;
}

/* admin: a command, run `as` a user. */
static bool action_admin(struct loader *ld, yaml_node_t **keys, yaml_node_t **vals,
                         struct scenario_event *e)
{
	bool ok = true;

	e->action = SCENARIO_ACTION_ADMIN;
	if (!keys[TL_AS]) {
		error_at(ld, keys[TL_ADMIN],
		         "'admin' needs 'as' (the user running the "
		         "command)");
		ok = false;
	} else if (vals[TL_AS] && (e->user = ld_user_ref(ld, vals[TL_AS])) < 0) {
		ok = false;
	}
	if (!check_admin(ld, vals[TL_ADMIN], keys[TL_POLICY], vals[TL_POLICY], e))
		ok = false;
	return ok;
}

/* control: a fault of the coordination server or of its disk. */
static bool action_control(struct loader *ld, yaml_node_t **vals, struct scenario_event *e)
{
	static const enum scenario_action control_actions[] = {
	    SCENARIO_ACTION_CONTROL_CRASH, SCENARIO_ACTION_CONTROL_RESTART,
	    SCENARIO_ACTION_CONTROL_DISK,  SCENARIO_ACTION_CONTROL_DISK,
	    SCENARIO_ACTION_CONTROL_DISK,  SCENARIO_ACTION_CONTROL_TORN_WRITE};
	static const enum scenario_disk disks[] = {SCENARIO_DISK_OK,   SCENARIO_DISK_OK,
	                                           SCENARIO_DISK_FULL, SCENARIO_DISK_FSYNC_FAIL,
	                                           SCENARIO_DISK_OK,   SCENARIO_DISK_OK};
	int c = ld_choice_ref(ld, "control action", vals[TL_CONTROL], scenario_control_words);

	if (c < 0)
		return false;
	e->action = control_actions[c];
	e->disk = disks[c];
	return true;
}

/* One entry: when, its one action and what goes with it, then the action. */
static bool load_timeline_entry(struct loader *ld, yaml_node_t *item, struct scenario_event *e)
{
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, item, SCENARIO_SECTION_TIMELINE, " in timeline entry", keys, vals);
	int action;

	pos_of(item, &e->line, &e->column);
	e->user = -1;
	e->link = -1;
	if (vals[TL_AT] && !entry_at(ld, vals[TL_AT], e))
		ok = false;
	action = entry_action(ld, item, keys);
	if (action < 0)
		return false;
	if (!entry_modifiers(ld, keys, vals, action, e))
		ok = false;
	if (!vals[action] || !ok)
		return false;
	pos_of(keys[action], &e->line, &e->column); /* unique, in file order: sorts stably */
	switch (action) {
	case TL_RUN:
		return action_run(ld, keys, vals, e);
	case TL_CRASH:
	case TL_RESTART:
		e->action = action == TL_CRASH ? SCENARIO_ACTION_CRASH : SCENARIO_ACTION_RESTART;
		return ld_node_ref(ld, action == TL_CRASH ? "crash: " : "restart: ", vals[action],
		                   &e->node) == 0;
	case TL_PARTITION:
	case TL_HEAL:
		return action_cut(ld, keys, vals, action, e);
	case TL_LINK:
		e->action = SCENARIO_ACTION_LINK;
		return load_timeline_link(ld, vals[TL_LINK], e);
	case TL_ADMIN:
		return action_admin(ld, keys, vals, e);
	case TL_CONTROL:
		return action_control(ld, vals, e);
	case TL_ISOLATE:
	case TL_REJOIN:
		e->action = action == TL_ISOLATE ? SCENARIO_ACTION_ISOLATE : SCENARIO_ACTION_REJOIN;
		return ld_node_ref(ld,
		                   action == TL_ISOLATE ? "isolate: " : "rejoin: ", vals[action],
		                   &e->node) == 0;
	case TL_PARTITION_ONE_WAY:
	case TL_HEAL_ONE_WAY:
		return action_one_way(ld, keys, vals, action, e);
	case TL_ORIGIN_CRASH:
	case TL_ORIGIN_RESTART:
	case TL_ORIGIN_SLOW:
	case TL_ORIGIN_ERROR:
	case TL_ORIGIN_OK:
		return action_origin(ld, keys, vals, action, e);
	case TL_PAUSE:
	case TL_RESUME:
		e->action = action == TL_PAUSE ? SCENARIO_ACTION_PAUSE : SCENARIO_ACTION_RESUME;
		return ld_node_ref(ld, action == TL_PAUSE ? "pause: " : "resume: ", vals[action],
		                   &e->node) == 0;
	}
	return false;
}

/* What the timeline has done so far, replayed in time order: 1 + the index
 * of the crash event that took a node (down[node]) or control down, 0 when
 * up; the partitions in force (indexes of their events). */
struct order_state {
	size_t *down;
	size_t *origin_down; /* like down, for a node's backends */
	size_t *origin_bad;  /* like down, for origin_slow and origin_error */
	size_t *paused;      /* like down, for a paused daemon */
	size_t *cuts;
	size_t n_cuts;
	size_t control_down;
};

/* crash, restart, serve: the node is up (or down, for restart). */
static bool order_node(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	size_t *d = &st->down[e->node];
	char name[SCENARIO_NAME_MAX + 16];
	bool ok = true;

	scenario_node_name(sc, e->node, name, sizeof(name));
	if (e->action == SCENARIO_ACTION_SERVE && st->paused[e->node]) {
		ld_error_pos(ld, e->line, e->column,
		             "'%s' is paused at %s (pause at line %u): its serve command "
		             "cannot run",
		             name, t, sc->events[st->paused[e->node] - 1].line);
		ok = false;
	} else if (e->action == SCENARIO_ACTION_CRASH && *d) {
		ld_error_pos(ld, e->line, e->column,
		             "crash of '%s' at %s, which is already down (crashed at "
		             "line %u)",
		             name, t, sc->events[*d - 1].line);
		ok = false;
	} else if (e->action == SCENARIO_ACTION_RESTART && !*d) {
		ld_error_pos(ld, e->line, e->column,
		             "restart of '%s' at %s, which is not down (no crash before it)", name,
		             t);
		ok = false;
	} else if (e->action == SCENARIO_ACTION_SERVE && *d) {
		ld_error_pos(ld, e->line, e->column,
		             "'%s' is down at %s (crashed at line %u): its serve command "
		             "cannot run",
		             name, t, sc->events[*d - 1].line);
		ok = false;
	}
	if (e->action == SCENARIO_ACTION_CRASH) {
		*d = i + 1;
		st->paused[e->node] = 0; /* a crash ends a pause; restart starts unpaused */
	} else if (e->action == SCENARIO_ACTION_RESTART) {
		*d = 0;
	}
	return ok;
}

/* pause: a running daemon not paused; resume: a paused one. */
static bool order_pause(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	size_t *p = &st->paused[e->node];
	char name[SCENARIO_NAME_MAX + 16];

	scenario_node_name(sc, e->node, name, sizeof(name));
	if (e->action == SCENARIO_ACTION_PAUSE && st->down[e->node]) {
		ld_error_pos(ld, e->line, e->column,
		             "pause of '%s' at %s, which is down (crashed at line %u)", name, t,
		             sc->events[st->down[e->node] - 1].line);
		return false;
	}
	if (e->action == SCENARIO_ACTION_PAUSE && *p) {
		ld_error_pos(ld, e->line, e->column,
		             "pause of '%s' at %s, which is already paused (pause at line %u)",
		             name, t, sc->events[*p - 1].line);
		return false;
	}
	if (e->action == SCENARIO_ACTION_RESUME && !*p) {
		ld_error_pos(ld, e->line, e->column,
		             "resume of '%s' at %s, which is not paused (no pause before it)", name,
		             t);
		return false;
	}
	*p = e->action == SCENARIO_ACTION_PAUSE ? i + 1 : 0;
	return true;
}

bool scenario_cut_same(const struct scenario_event *x, const struct scenario_event *y)
{
	bool xi = x->action == SCENARIO_ACTION_ISOLATE || x->action == SCENARIO_ACTION_REJOIN;
	bool yi = y->action == SCENARIO_ACTION_ISOLATE || y->action == SCENARIO_ACTION_REJOIN;

	if (xi || yi)
		return xi && yi && x->node == y->node;
	if (x->between_nodes != y->between_nodes || x->one_way != y->one_way)
		return false;
	if (x->one_way)
		return x->a == y->a && x->b == y->b;
	return (x->a == y->a && x->b == y->b) || (x->a == y->b && x->b == y->a);
}

void scenario_link_params_apply(struct scenario_link_params *p, const struct scenario_event *e)
{
	if (e->set_latency)
		p->latency_us = e->params.latency_us;
	if (e->set_bandwidth)
		p->bandwidth_bps = e->params.bandwidth_bps;
	if (e->set_loss)
		p->loss = e->params.loss;
	if (e->set_jitter)
		p->jitter_us = e->params.jitter_us;
	if (e->set_reorder)
		p->reorder = e->params.reorder;
	if (e->set_duplicate)
		p->duplicate = e->params.duplicate;
}

/* The entry's key as written (messages). */
static const char *cut_word(const struct scenario_event *e)
{
	if (e->action == SCENARIO_ACTION_ISOLATE || e->action == SCENARIO_ACTION_REJOIN)
		return e->action == SCENARIO_ACTION_ISOLATE ? "isolate" : "rejoin";
	if (e->one_way)
		return e->action == SCENARIO_ACTION_PARTITION ? "partition_one_way"
		                                              : "heal_one_way";
	return e->action == SCENARIO_ACTION_PARTITION ? "partition" : "heal";
}

/* partition, heal, isolate, rejoin: of what is whole, of what is cut. */
static bool order_cut(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	bool cut = e->action == SCENARIO_ACTION_PARTITION || e->action == SCENARIO_ACTION_ISOLATE;
	size_t j = 0;

	while (j < st->n_cuts && !scenario_cut_same(&sc->events[st->cuts[j]], e))
		j++;
	if (cut && j < st->n_cuts) {
		ld_error_pos(ld, e->line, e->column,
		             "%s at %s of what is already cut (%s at line %u)", cut_word(e), t,
		             cut_word(&sc->events[st->cuts[j]]), sc->events[st->cuts[j]].line);
		return false;
	}
	if (!cut && j == st->n_cuts) {
		ld_error_pos(ld, e->line, e->column,
		             "%s at %s of what is not cut (no %s of the same %s before it)",
		             cut_word(e), t,
		             e->action == SCENARIO_ACTION_REJOIN ? "isolate"
		             : e->one_way                        ? "partition_one_way"
		                                                 : "partition",
		             e->action == SCENARIO_ACTION_REJOIN ? "node" : "two");
		return false;
	}
	if (cut)
		st->cuts[st->n_cuts++] = i;
	else
		st->cuts[j] = st->cuts[--st->n_cuts];
	return true;
}

/* origin_crash, origin_restart: the node's backends are up (down). */
static bool order_origin(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	size_t *d = &st->origin_down[e->node];
	char name[SCENARIO_NAME_MAX + 16];
	bool crash = e->action == SCENARIO_ACTION_ORIGIN_CRASH;

	scenario_node_name(sc, e->node, name, sizeof(name));
	if (crash && *d) {
		ld_error_pos(ld, e->line, e->column,
		             "origin_crash of '%s' at %s, whose backends are already down "
		             "(origin_crash at line %u)",
		             name, t, sc->events[*d - 1].line);
		return false;
	}
	if (!crash && !*d) {
		ld_error_pos(ld, e->line, e->column,
		             "origin_restart of '%s' at %s, whose backends are not down (no "
		             "origin_crash before it)",
		             name, t);
		return false;
	}
	*d = crash ? i + 1 : 0;
	return true;
}

/* origin_slow, origin_error, origin_ok: the node's http backends are
 * healthy (degraded, for origin_ok). */
static bool order_origin_bad(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	size_t *d = &st->origin_bad[e->node];
	char name[SCENARIO_NAME_MAX + 16];
	bool ok = e->action == SCENARIO_ACTION_ORIGIN_OK;

	scenario_node_name(sc, e->node, name, sizeof(name));
	if (!ok && *d) {
		ld_error_pos(ld, e->line, e->column,
		             "%s of '%s' at %s, whose origin is already degraded (line %u; "
		             "origin_ok first)",
		             e->action == SCENARIO_ACTION_ORIGIN_SLOW ? "origin_slow"
		                                                      : "origin_error",
		             name, t, sc->events[*d - 1].line);
		return false;
	}
	if (ok && !*d) {
		ld_error_pos(ld, e->line, e->column,
		             "origin_ok of '%s' at %s, whose origin is neither slow nor erroring "
		             "(no origin_slow or origin_error before it)",
		             name, t);
		return false;
	}
	*d = ok ? 0 : i + 1;
	return true;
}

/* control crash, torn-write, restart: control is up (or down, for restart). */
static bool order_control(struct loader *ld, struct order_state *st, size_t i, const char *t)
{
	struct scenario *sc = ld->sc;
	const struct scenario_event *e = &sc->events[i];
	bool ok = true;

	if (e->action == SCENARIO_ACTION_CONTROL_RESTART) {
		if (!st->control_down) {
			ld_error_pos(ld, e->line, e->column,
			             "control restart at %s, but control is not down", t);
			ok = false;
		}
		st->control_down = 0;
		return ok;
	}
	if (st->control_down) {
		ld_error_pos(ld, e->line, e->column,
		             "control %s at %s, but control is already down (crashed "
		             "at line %u)",
		             e->action == SCENARIO_ACTION_CONTROL_CRASH ? "crash" : "torn-write", t,
		             sc->events[st->control_down - 1].line);
		ok = false;
	}
	st->control_down = i + 1;
	return ok;
}

/* The timeline in time order must make sense: a crash hits a running
 * node, a restart a crashed one, a serve command a running one; a
 * partition cuts what is whole, a heal mends what is cut; the control
 * server likewise. An entry marked expect_error is meant to fail: it is
 * not refused here (the run checks that it fails) and changes no state. */
static bool check_timeline_order(struct loader *ld)
{
	struct scenario *sc = ld->sc;
	struct order_state st = {
	    .down = calloc(sc->node_count ? sc->node_count : 1, sizeof(*st.down)),
	    .origin_down = calloc(sc->node_count ? sc->node_count : 1, sizeof(*st.origin_down)),
	    .origin_bad = calloc(sc->node_count ? sc->node_count : 1, sizeof(*st.origin_bad)),
	    .paused = calloc(sc->node_count ? sc->node_count : 1, sizeof(*st.paused)),
	    .cuts = calloc(sc->n_events ? sc->n_events : 1, sizeof(*st.cuts)),
	};
	char t[32];
	bool ok = true;

	if (!st.down || !st.cuts || !st.origin_down || !st.origin_bad || !st.paused) {
		free(st.origin_bad);
		free(st.paused);
		free(st.origin_down);
		free(st.down);
		free(st.cuts);
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < sc->n_events; i++) {
		const struct scenario_event *e = &sc->events[i];
		scenario_time_text(e->at_us, t, sizeof(t));
		if (e->expect_error)
			continue;
		switch (e->action) {
		case SCENARIO_ACTION_CRASH:
		case SCENARIO_ACTION_RESTART:
		case SCENARIO_ACTION_SERVE:
			if (!order_node(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_PARTITION:
		case SCENARIO_ACTION_HEAL:
		case SCENARIO_ACTION_ISOLATE:
		case SCENARIO_ACTION_REJOIN:
			if (!order_cut(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_CONTROL_CRASH:
		case SCENARIO_ACTION_CONTROL_TORN_WRITE:
		case SCENARIO_ACTION_CONTROL_RESTART:
			if (!order_control(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_ORIGIN_CRASH:
		case SCENARIO_ACTION_ORIGIN_RESTART:
			if (!order_origin(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_ORIGIN_SLOW:
		case SCENARIO_ACTION_ORIGIN_ERROR:
		case SCENARIO_ACTION_ORIGIN_OK:
			if (!order_origin_bad(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_PAUSE:
		case SCENARIO_ACTION_RESUME:
			if (!order_pause(ld, &st, i, t))
				ok = false;
			break;
		case SCENARIO_ACTION_LINK:
		case SCENARIO_ACTION_ADMIN:
		case SCENARIO_ACTION_CONTROL_DISK:
			break;
		}
	}
	free(st.origin_bad);
	free(st.paused);
	free(st.origin_down);
	free(st.down);
	free(st.cuts);
	return ok;
}

bool ld_load_timeline(struct loader *ld, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = seq_len(seq);
	bool ok = true;

	if (n > SCENARIO_TIMELINE_MAX) {
		error_at(ld, seq, "too many timeline entries: %zu (max %d)", n,
		         SCENARIO_TIMELINE_MAX);
		return false;
	}
	sc->events = calloc(n ? n : 1, sizeof(*sc->events));
	if (!sc->events) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = seq_item(ld, seq, i);
		if (!ld_is_mapping_for(ld, item, "a timeline entry")) {
			ok = false;
			continue;
		}
		struct scenario_event *e = &sc->events[sc->n_events];
		memset(e, 0, sizeof(*e));
		if (load_timeline_entry(ld, item, e))
			sc->n_events++;
		else
			ok = false;
	}
	/* by time; equal times keep file order (line, column are unique) */
	qsort(sc->events, sc->n_events, sizeof(*sc->events), event_cmp);
	if (ok && !check_timeline_order(ld))
		ok = false;
	return ok;
}
