/* `nodes`: node groups (count expands to name-0 .. name-(count-1)), their
 * tags, user, backend programs and serve lines (checked with the daemon's
 * own grammar), and the uniqueness of every expanded name. Their `files`
 * load in scenario_files.c. */
#include "proxy/serve/serve_cmd.h"
#include "sim/scenario/scenario_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tags, backends and serve lines of a node ---- */

static bool load_node_tags(struct loader *ld, const yaml_node_t *seq, struct scenario_node_group *g)
{
	bool ok = ld_seq_scalars(ld, "tags", seq);

	if (!ok)
		return false;
	if (seq_len(seq) > SCENARIO_NODE_TAGS_MAX) {
		error_at(ld, seq, "too many tags: %zu (max %d)", seq_len(seq),
		         SCENARIO_NODE_TAGS_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *t = seq_item(ld, seq, i);
		if (!ld_check_tag(ld, t, scalar(t))) {
			ok = false;
			continue;
		}
		g->tags[g->n_tags++] = ld_strdup(ld, scalar(t));
	}
	return ok;
}

/* "127.0.0.1:PORT" -> port. */
static bool parse_listen(const char *s, uint16_t *port)
{
	static const char prefix[] = "127.0.0.1:";
	char *end;

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	if (*s < '1' || *s > '9')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool load_backends(struct loader *ld, const yaml_node_t *seq, struct scenario_node_group *g)
{
	bool ok = true;
	unsigned first_line[SCENARIO_BACKENDS_MAX];

	if (seq_len(seq) > SCENARIO_BACKENDS_MAX) {
		error_at(ld, seq, "too many backends: %zu (max %d)", seq_len(seq),
		         SCENARIO_BACKENDS_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *item = seq_item(ld, seq, i), *keys[SCENARIO_KEYS_MAX],
		            *vals[SCENARIO_KEYS_MAX];
		struct scenario_backend b = {.kind = SCENARIO_BACKEND_HTTP, .body_bytes = 1000};
		if (!ld_is_mapping_for(ld, item, "a backend")) {
			ok = false;
			continue;
		}
		bool b_ok =
		    ld_collect(ld, item, SCENARIO_SECTION_BACKEND, " in backend", keys, vals);
		if (vals[BACKEND_LISTEN]) {
			if (!parse_listen(scalar(vals[BACKEND_LISTEN]), &b.port)) {
				error_at(ld, vals[BACKEND_LISTEN],
				         "listen '%.80s' must be 127.0.0.1:PORT (port 1..65535)",
				         scalar(vals[BACKEND_LISTEN]));
				b_ok = false;
			} else {
				for (size_t j = 0; j < g->n_backends; j++) {
					if (g->backends[j].port != b.port)
						continue;
					error_at(ld, vals[BACKEND_LISTEN],
					         "two backends listen on 127.0.0.1:%u (first at "
					         "line %u)",
					         b.port, first_line[j]);
					b_ok = false;
				}
			}
		}
		if (vals[BACKEND_KIND]) {
			int k = ld_choice_ref(ld, "backend kind", vals[BACKEND_KIND],
			                      scenario_backend_words);
			if (k < 0)
				b_ok = false;
			else
				b.kind = (enum scenario_backend_kind)k;
		}
		if (vals[BACKEND_SERVICE_TIME] &&
		    !ld_get_duration(ld, "service_time", vals[BACKEND_SERVICE_TIME],
		                     SCENARIO_LATENCY_MAX_US, "10s", &b.service_time_us))
			b_ok = false;
		if (vals[BACKEND_BODY] &&
		    !ld_get_size(ld, "body", vals[BACKEND_BODY], &b.body_bytes))
			b_ok = false;
		if (!b_ok) {
			ok = false;
			continue;
		}
		first_line[g->n_backends] = (unsigned)item->start_mark.line + 1;
		g->backends[g->n_backends++] = b;
	}
	return ok;
}

/* A serve command line: parsed with the daemon's own grammar; a service
 * it names should exist (a warning: a scenario may test the refusal). */
bool ld_check_serve_line(struct loader *ld, const yaml_node_t *v)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SERVE_ERR_LEN];
	bool ok = true;

	if (!op) {
		ld->oom = true;
		return false;
	}
	if (strlen(scalar(v)) > SCENARIO_LINE_MAX) {
		error_at(ld, v, "serve line is longer than %d bytes", SCENARIO_LINE_MAX);
		ok = false;
	} else if (strncmp(scalar(v), "serve", 5) != 0 ||
	           (scalar(v)[5] != ' ' && scalar(v)[5] != '\t' && scalar(v)[5] != '\0')) {
		error_at(ld, v, "a serve line starts with 'serve', got '%.80s'", scalar(v));
		ok = false;
	} else if (serve_cmd_parse_line(scalar(v), strlen(scalar(v)), op, err, sizeof(err))) {
		error_at(ld, v, "bad serve command: %s", err);
		ok = false;
	} else if (op->service[0] && !ld_service_known(ld, op->service)) {
		char hint[160];
		ld_service_hint(ld, op->service, false, hint, sizeof(hint));
		warn_at(ld, v,
		        "serve names service '%s', which neither services nor a timeline "
		        "define creates%s",
		        op->service, hint);
	}
	free(op);
	return ok;
}

static bool load_serve_lines(struct loader *ld, const yaml_node_t *seq,
                             struct scenario_node_group *g)
{
	bool ok = ld_seq_scalars(ld, "serve", seq);

	if (!ok)
		return false;
	if (seq_len(seq) > SCENARIO_SERVE_MAX) {
		error_at(ld, seq, "too many serve lines: %zu (max %d)", seq_len(seq),
		         SCENARIO_SERVE_MAX);
		return false;
	}
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *v = seq_item(ld, seq, i);
		if (!ld_check_serve_line(ld, v)) {
			ok = false;
			continue;
		}
		struct scenario_serve_line *l = &g->serve[g->n_serve++];
		l->text = ld_strdup(ld, scalar(v));
		pos_of(v, &l->line, &l->column);
	}
	return ok;
}

static int group_cmp(const void *a, const void *b)
{
	const struct scenario_node_group *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	if (c)
		return c;
	return (*x < *y) ? -1 : (*x > *y);
}

static unsigned digits_of(uint32_t v)
{
	unsigned d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* Expanded names must be unique: equal group names, and a single node
 * named like another group's expansion ("client-3" next to client x5). */
static bool check_node_names(struct loader *ld, yaml_node_t **name_nodes)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)sc->group_count;
	struct scenario_node_group **sorted = malloc(sizeof(*sorted) * (n ? n : 1));
	bool ok = true;

	if (!sorted) {
		ld->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &sc->groups[i];
	qsort(sorted, n, sizeof(*sorted), group_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(sorted[i - 1]->name, sorted[i]->name) != 0)
			continue;
		size_t later = (size_t)(sorted[i] - sc->groups);
		size_t first = (size_t)(sorted[i - 1] - sc->groups);
		error_at(ld, name_nodes[later], "duplicate node name '%s' (first at line %u)",
		         sorted[i]->name, (unsigned)name_nodes[first]->start_mark.line + 1);
		ok = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct scenario_node_group *g = &sc->groups[i];
		if (g->count != 1)
			continue;
		char *dash = strrchr(g->name, '-');
		if (!dash || !dash[1] || (dash[1] == '0' && dash[2]))
			continue;
		char *end;
		unsigned long idx = strtoul(dash + 1, &end, 10);
		if (*end || dash[1] < '0' || dash[1] > '9')
			continue;
		struct scenario_node_group key;
		struct scenario_node_group *keyp = &key;
		size_t plen = (size_t)(dash - g->name);
		memcpy(key.name, g->name, plen);
		key.name[plen] = '\0';
		/* any group with that exact prefix name and count > idx */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(sorted[mid]->name, keyp->name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && !strcmp(sorted[lo]->name, key.name); lo++) {
			if (sorted[lo]->count > 1 && idx < sorted[lo]->count) {
				size_t other = (size_t)(sorted[lo] - sc->groups);
				error_at(
				    ld, name_nodes[i],
				    "duplicate node name '%s' (node '%s' with count %u at line %u "
				    "makes it too)",
				    g->name, sorted[lo]->name, sorted[lo]->count,
				    (unsigned)name_nodes[other]->start_mark.line + 1);
				ok = false;
				break;
			}
		}
	}
	if (ok)
		ld->by_name = sorted; /* names are unique: an index for ld_node_find */
	else
		free(sorted);
	return ok;
}

/* One node entry into *g; *name_at: where its name is written (messages). */
static bool load_node(struct loader *ld, yaml_node_t *item, struct scenario_node_group *g,
                      yaml_node_t **name_at)
{
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool ok = ld_collect(ld, item, SCENARIO_SECTION_NODE, " in node", keys, vals);

	if (vals[NODE_NAME]) {
		if (ld_check_name(ld, "node name", vals[NODE_NAME]))
			snprintf(g->name, sizeof(g->name), "%s", scalar(vals[NODE_NAME]));
		else
			ok = false;
	}
	if (vals[NODE_REGION]) {
		g->region = ld_region_ref(ld, vals[NODE_REGION]);
		if (g->region < 0)
			ok = false;
	}
	if (vals[NODE_COUNT]) {
		long long c;
		if (ld_get_integer(ld, "count", vals[NODE_COUNT], 1, SCENARIO_COUNT_MAX, &c))
			g->count = (uint32_t)c;
		else
			ok = false;
	}
	if (g->name[0] && g->count > 1 &&
	    strlen(g->name) + 1 + digits_of(g->count - 1) > SCENARIO_NAME_MAX) {
		error_at(ld, vals[NODE_NAME],
		         "node name '%s' with count %u makes names longer than %d characters",
		         g->name, g->count, SCENARIO_NAME_MAX);
		ok = false;
	}
	if (vals[NODE_TAGS] && !load_node_tags(ld, vals[NODE_TAGS], g))
		ok = false;
	if (vals[NODE_USER]) {
		g->user = ld_user_ref(ld, vals[NODE_USER]);
		if (g->user < 0)
			ok = false;
	}
	if (vals[NODE_BACKENDS] && !load_backends(ld, vals[NODE_BACKENDS], g))
		ok = false;
	if (vals[NODE_SERVE] && !load_serve_lines(ld, vals[NODE_SERVE], g))
		ok = false;
	if (vals[NODE_FILES] && !ld_load_files(ld, vals[NODE_FILES], g))
		ok = false;
	*name_at = vals[NODE_NAME] ? vals[NODE_NAME] : item;
	return ok;
}

bool ld_load_nodes(struct loader *ld, const yaml_node_t *key_node, const yaml_node_t *seq)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	bool ok = true, names_ok = true;
	uint64_t total = 0;
	yaml_node_t **name_nodes;

	if (n == 0) {
		error_at(ld, seq, "nodes must list at least one node");
		return false;
	}
	if (n > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %zu entries (max %d)", n,
		         SCENARIO_NODES_MAX);
		return false;
	}
	sc->groups = calloc(n, sizeof(*sc->groups));
	name_nodes = calloc(n, sizeof(*name_nodes));
	if (!sc->groups || !name_nodes) {
		free(name_nodes);
		ld->oom = true;
		return false;
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = node_get(ld, *it);
		if (!ld_is_mapping_for(ld, item, "a node")) {
			ok = false;
			continue;
		}
		struct scenario_node_group g = {.region = -1, .count = 1, .user = -1};
		if (!load_node(ld, item, &g, &name_nodes[sc->group_count]))
			ok = false;
		g.first_index = (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
		total += g.count;
		sc->groups[sc->group_count++] = g;
		if (!g.name[0] || g.region < 0)
			names_ok = false;
	}
	if (total > SCENARIO_NODES_MAX) {
		error_at(ld, key_node, "too many nodes: %llu in total after count (max %d)",
		         (unsigned long long)total, SCENARIO_NODES_MAX);
		ok = false;
	}
	if (names_ok && !check_node_names(ld, name_nodes))
		names_ok = false;
	if (!names_ok)
		ok = false;
	sc->node_count = (uint32_t)(total > SCENARIO_NODES_MAX ? 0 : total);
	ld->nodes_ok = names_ok && total <= SCENARIO_NODES_MAX;
	free(name_nodes);
	return ok;
}
