/* The optional `explore:` section (EXP-1): the fault menu `simrun explore`
 * draws random schedules from (each kind with its rate and how long a
 * fault lasts), the quiet tail before the end and the most faults a
 * schedule holds. Loaded after nodes, links and the duration, whose
 * values its checks need. */
#include "sim/scenario/scenario_int.h"

#include "proxy/serve/serve_cmd.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

const char *scenario_fault_kind_name(enum scenario_fault_kind kind)
{
	if ((unsigned)kind >= SCENARIO_FAULT_KINDS)
		return "?";
	return scenario_fault_words[kind];
}

/* The services a group's serve lines advertise, each once, into svc;
 * their number. */
static size_t group_services(const struct scenario_node_group *grp, struct serve_op *op,
                             char svc[][SCENARIO_SERVICE_NAME_MAX + 1])
{
	char err[SERVE_ERR_LEN];
	size_t n = 0;

	for (size_t i = 0; i < grp->n_serve && n < SCENARIO_SERVE_MAX; i++) {
		const char *t = grp->serve[i].text;
		bool seen = false;
		if (serve_cmd_parse_line(t, strlen(t), op, err, sizeof(err)) || !op->service[0] ||
		    op->verb == SERVE_VERB_DRAIN || op->verb == SERVE_VERB_CLEAR)
			continue;
		for (size_t j = 0; j < n && !seen; j++)
			seen = !strcmp(svc[j], op->service);
		if (!seen)
			snprintf(svc[n++], SCENARIO_SERVICE_NAME_MAX + 1, "%s", op->service);
	}
	return n;
}

size_t scenario_hosts(const struct scenario *sc, struct scenario_host *out, size_t cap)
{
	struct serve_op *op = malloc(sizeof(*op));
	char(*svc)[SCENARIO_SERVICE_NAME_MAX + 1] = malloc(SCENARIO_SERVE_MAX * sizeof(*svc));
	size_t n = 0;

	for (int g = 0; op && svc && g < sc->group_count; g++) {
		const struct scenario_node_group *grp = &sc->groups[g];
		size_t ns = group_services(grp, op, svc);
		for (uint32_t k = 0; k < grp->count; k++)
			for (size_t i = 0; i < ns; i++, n++)
				if (n < cap) {
					out[n].node = grp->first_index + k;
					snprintf(out[n].service, sizeof(out[n].service), "%s",
					         svc[i]);
				}
	}
	free(op);
	free(svc);
	return n;
}

static const struct scenario_node_group *node_group(const struct scenario *sc, uint32_t node)
{
	for (int g = 0; g < sc->group_count; g++) {
		const struct scenario_node_group *grp = &sc->groups[g];
		if (node >= grp->first_index && node - grp->first_index < grp->count)
			return grp;
	}
	return NULL;
}

bool scenario_node_has_backends(const struct scenario *sc, uint32_t node)
{
	const struct scenario_node_group *grp = node_group(sc, node);

	return grp && grp->n_backends > 0;
}

bool scenario_node_has_http_backend(const struct scenario *sc, uint32_t node)
{
	const struct scenario_node_group *grp = node_group(sc, node);

	for (size_t i = 0; grp && i < grp->n_backends; i++)
		if (grp->backends[i].kind == SCENARIO_BACKEND_HTTP)
			return true;
	return false;
}

int scenario_admin_user(const struct scenario *sc)
{
	for (size_t i = 0; i < sc->n_users; i++)
		if (sc->users[i].role != SCENARIO_ROLE_MEMBER)
			return (int)i;
	return -1;
}

size_t scenario_policy_grants(const struct scenario *sc)
{
	cJSON *p = sc->policy_json ? cJSON_Parse(sc->policy_json) : NULL;
	size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "grants"));

	cJSON_Delete(p);
	return n;
}

/* Whether a tags fault has a host to act on: one whose node's tags are
 * all owned in the policy's tagOwners (set-tags can set only owned
 * tags, and its heal sets the node's own back), with another owned tag
 * set to change to (two owned tags at least). */
static bool tags_fault_has_host(const struct scenario *sc)
{
	cJSON *p = sc->policy_json ? cJSON_Parse(sc->policy_json) : NULL;
	const cJSON *owners = cJSON_GetObjectItemCaseSensitive(p, "tagOwners");
	size_t n_hosts = scenario_hosts(sc, NULL, 0);
	struct scenario_host *hosts = NULL;
	bool found = false;

	if (cJSON_GetArraySize(owners) >= 2 && (hosts = calloc(n_hosts + 1, sizeof(*hosts))))
		scenario_hosts(sc, hosts, n_hosts);
	for (size_t h = 0; hosts && h < n_hosts && !found; h++) {
		char name[SCENARIO_NAME_MAX + 16];
		const struct scenario_node_group *g =
		    scenario_node_name(sc, hosts[h].node, name, sizeof(name));
		found = g && g->n_tags > 0;
		for (size_t i = 0; found && i < g->n_tags; i++)
			found = cJSON_GetObjectItemCaseSensitive(owners, g->tags[i]) != NULL;
	}
	free(hosts);
	cJSON_Delete(p);
	return found;
}

/* What a kind needs of the scenario to have a target: NULL when it has
 * one, else the reason. */
static const char *fault_target_problem(const struct scenario *sc, enum scenario_fault_kind kind)
{
	switch (kind) {
	case SCENARIO_FAULT_REVOKE:
	case SCENARIO_FAULT_REJECT:
		if (scenario_admin_user(sc) < 0)
			return "revoke and reject faults need an owner, admin or network-admin in "
			       "users";
		return scenario_hosts(sc, NULL, 0) ? NULL
		                                   : "revoke and reject faults need a host (a node "
		                                     "whose serve lines advertise a service)";
	case SCENARIO_FAULT_TAGS:
		if (scenario_admin_user(sc) < 0)
			return "tags faults need an owner, admin or network-admin in users";
		return tags_fault_has_host(sc)
		           ? NULL
		           : "tags faults need a host (a node whose serve lines advertise a "
		             "service) whose tags are all in the policy's tagOwners, and two "
		             "owned tags at least";
	case SCENARIO_FAULT_DRAIN:
		return scenario_hosts(sc, NULL, 0) ? NULL
		                                   : "drain faults need a host (a node whose serve "
		                                     "lines advertise a service)";
	case SCENARIO_FAULT_GRANT:
		if (scenario_admin_user(sc) < 0)
			return "grant faults need an owner, admin or network-admin in users";
		return scenario_policy_grants(sc)
		           ? NULL
		           : "grant faults need a policy with at least one grant";
	case SCENARIO_FAULT_PARTITION:
		return sc->link_count < 1 ? "partition faults need at least one link" : NULL;
	case SCENARIO_FAULT_LINK:
		return sc->link_count < 1 ? "link faults need at least one link" : NULL;
	case SCENARIO_FAULT_CRASH:
		return sc->node_count < 1 ? "crash faults need at least one node" : NULL;
	case SCENARIO_FAULT_PAUSE:
		return sc->node_count < 1 ? "pause faults need at least one node" : NULL;
	case SCENARIO_FAULT_ISOLATE:
	case SCENARIO_FAULT_ACCESS:
		return sc->node_count < 1 ? "isolate and access faults need at least one node"
		                          : NULL;
	case SCENARIO_FAULT_ORIGIN:
		for (uint32_t i = 0; i < sc->node_count; i++)
			if (scenario_node_has_backends(sc, i))
				return NULL;
		return "origin faults need a node with backends";
	case SCENARIO_FAULT_ORIGIN_SLOW:
	case SCENARIO_FAULT_ORIGIN_ERROR:
		for (uint32_t i = 0; i < sc->node_count; i++)
			if (scenario_node_has_http_backend(sc, i))
				return NULL;
		return "origin-slow and origin-error faults need a node with an http backend";
	case SCENARIO_FAULT_ONE_WAY:
	case SCENARIO_FAULT_LOSS:
		return sc->link_count < 1 ? "one-way and loss faults need at least one link" : NULL;
	case SCENARIO_FAULT_JITTER:
	case SCENARIO_FAULT_DUPLICATE:
		return sc->link_count < 1 ? "jitter and duplicate faults need at least one link"
		                          : NULL;
	default:
		return NULL;
	}
}

static bool load_fault(struct loader *ld, const yaml_node_t *item, bool *seen)
{
	struct scenario *sc = ld->sc;
	struct scenario_explore *ex = &sc->explore;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	struct scenario_explore_fault f = {.min_us = 1000000, .max_us = 10000000};
	long long rate;

	if (!ld_is_mapping_for(ld, item, "explore fault"))
		return false;
	if (!ld_collect(ld, item, SCENARIO_SECTION_EXPLORE_FAULT, " in explore fault", keys, vals))
		return false;
	pos_of(item, &f.line, &f.column);
	int kind = ld_choice_ref(ld, "fault kind", vals[EFAULT_KIND], scenario_fault_words);
	if (kind < 0)
		return false;
	f.kind = (enum scenario_fault_kind)kind;
	if (seen[kind]) {
		error_at(ld, vals[EFAULT_KIND], "fault kind '%s' is on the menu twice",
		         scenario_fault_words[kind]);
		return false;
	}
	seen[kind] = true;
	const char *problem = fault_target_problem(sc, f.kind);
	if (problem) {
		error_at(ld, vals[EFAULT_KIND], "%s", problem);
		return false;
	}
	if (!ld_get_integer(ld, "rate", vals[EFAULT_RATE], 1, SCENARIO_EXPLORE_RATE_MAX, &rate))
		return false;
	f.rate_per_min = (uint32_t)rate;
	if (vals[EFAULT_MIN] && !ld_get_duration(ld, "min", vals[EFAULT_MIN], sc->duration_us,
	                                         "the scenario duration", &f.min_us))
		return false;
	if (vals[EFAULT_MAX] && !ld_get_duration(ld, "max", vals[EFAULT_MAX], sc->duration_us,
	                                         "the scenario duration", &f.max_us))
		return false;
	if (f.min_us == 0 || f.min_us > f.max_us) {
		error_at(ld, vals[EFAULT_MIN] ? vals[EFAULT_MIN] : item,
		         "min must be more than 0 and at most max");
		return false;
	}
	ex->faults[ex->n_faults++] = f;
	return true;
}

bool ld_load_explore(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	struct scenario_explore *ex = &sc->explore;
	yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
	bool seen[SCENARIO_FAULT_KINDS] = {false};
	long long max_faults = 100;
	bool ok;

	if (!ld_collect(ld, map, SCENARIO_SECTION_EXPLORE, " in explore", keys, vals))
		return false;
	*ex = (struct scenario_explore){.present = true, .max_faults = 100, .settle_us = 5000000};
	const yaml_node_t *faults = vals[EXPLORE_FAULTS];
	size_t n = seq_len(faults);
	if (n == 0 || n > SCENARIO_FAULT_KINDS) {
		error_at(ld, faults, "faults must list 1..%d kinds, got %zu", SCENARIO_FAULT_KINDS,
		         n);
		return false;
	}
	ok = true;
	for (size_t i = 0; i < n; i++)
		if (!load_fault(ld, seq_item(ld, faults, i), seen))
			ok = false;
	if (vals[EXPLORE_QUIET_TAIL] &&
	    !ld_get_duration(ld, "quiet_tail", vals[EXPLORE_QUIET_TAIL], sc->duration_us,
	                     "the scenario duration", &ex->quiet_tail_us))
		ok = false;
	else if (ex->quiet_tail_us >= sc->duration_us) {
		error_at(ld, vals[EXPLORE_QUIET_TAIL], "quiet_tail must be less than the duration");
		ok = false;
	}
	if (vals[EXPLORE_MAX_FAULTS] &&
	    !ld_get_integer(ld, "max_faults", vals[EXPLORE_MAX_FAULTS], 1,
	                    SCENARIO_EXPLORE_FAULTS_MAX, &max_faults))
		ok = false;
	ex->max_faults = (uint32_t)max_faults;
	if (vals[EXPLORE_SETTLE] &&
	    !ld_get_duration(ld, "settle", vals[EXPLORE_SETTLE], sc->duration_us,
	                     "the scenario duration", &ex->settle_us))
		ok = false;
	else if (!vals[EXPLORE_SETTLE] && ex->settle_us >= sc->duration_us)
		ex->settle_us = sc->duration_us / 2; /* a short scenario's default */
	else if (ex->settle_us == 0 || ex->settle_us >= sc->duration_us) {
		error_at(ld, vals[EXPLORE_SETTLE] ? vals[EXPLORE_SETTLE] : map,
		         "settle must be more than 0 and less than the duration");
		ok = false;
	}
	return ok;
}
