/* Names and references: the public lookups (users, services, nodes by
 * expanded name), the loader's sorted indexes that make a reference cost
 * O(log n), and the checks of a reference to a user, node or service with
 * a did-you-mean among what exists. */
#include "sim/scenario/scenario_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scenario_user_find(const struct scenario *sc, const char *login)
{
	for (size_t i = 0; i < sc->n_users; i++)
		if (!strcmp(sc->users[i].login, login))
			return (int)i;
	return -1;
}

int scenario_service_find(const struct scenario *sc, const char *name)
{
	for (size_t i = 0; i < sc->n_services; i++)
		if (!strcmp(sc->services[i].name, name))
			return (int)i;
	return -1;
}

int scenario_node_find(const struct scenario *sc, const char *name, uint32_t *index)
{
	for (int i = 0; i < sc->group_count; i++) {
		const struct scenario_node_group *g = &sc->groups[i];
		size_t n = strlen(g->name);
		if (g->count == 1) {
			if (!strcmp(name, g->name)) {
				*index = g->first_index;
				return 0;
			}
			continue;
		}
		if (strncmp(name, g->name, n) != 0 || name[n] != '-')
			continue;
		const char *d = name + n + 1;
		if (*d < '0' || *d > '9' || (d[0] == '0' && d[1]) || strlen(d) > 9)
			continue;
		char *end;
		unsigned long v = strtoul(d, &end, 10);
		if (*end || v >= g->count)
			continue;
		*index = g->first_index + (uint32_t)v;
		return 0;
	}
	return -ENOENT;
}

static int group_name_cmp(const void *key, const void *elem)
{
	const struct scenario_node_group *const *g = elem;
	return strcmp(key, (*g)->name);
}

/* The sorted group named `name` (count any), or NULL. */
const struct scenario_node_group *ld_group(const struct loader *ld, const char *name)
{
	struct scenario_node_group **g = bsearch(name, ld->by_name, (size_t)ld->sc->group_count,
	                                         sizeof(*ld->by_name), group_name_cmp);
	return g ? *g : NULL;
}

/* scenario_node_find() by binary search once the names are known unique
 * (a timeline of 10,000 references to 100,000 nodes took 80 s as a scan). */
int ld_node_find(struct loader *ld, const char *name, uint32_t *index)
{
	char prefix[SCENARIO_NAME_MAX + 1];
	const struct scenario_node_group *g;

	if (!ld->by_name)
		return scenario_node_find(ld->sc, name, index);
	g = ld_group(ld, name);
	if (g && g->count == 1) {
		*index = g->first_index;
		return 0;
	}
	const char *dash = strrchr(name, '-');
	if (!dash || (size_t)(dash - name) > SCENARIO_NAME_MAX)
		return -ENOENT;
	memcpy(prefix, name, (size_t)(dash - name));
	prefix[dash - name] = '\0';
	g = ld_group(ld, prefix);
	const char *d = dash + 1;
	if (!g || g->count == 1 || *d < '0' || *d > '9' || (d[0] == '0' && d[1]) || strlen(d) > 9)
		return -ENOENT;
	char *end;
	unsigned long v = strtoul(d, &end, 10);
	if (*end || v >= g->count)
		return -ENOENT;
	*index = g->first_index + (uint32_t)v;
	return 0;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Once services and the timeline's defines are known: their names, sorted
 * (ld_service_known() is asked for every serve line). */
void ld_index_services(struct loader *ld)
{
	size_t n = ld->sc->n_services + ld->n_defined;

	ld->services = malloc(sizeof(*ld->services) * (n ? n : 1));
	if (!ld->services) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < ld->sc->n_services; i++)
		ld->services[i] = ld->sc->services[i].name;
	for (size_t i = 0; i < ld->n_defined; i++)
		ld->services[ld->sc->n_services + i] = ld->defined[i];
	qsort(ld->services, n, sizeof(*ld->services), str_ptr_cmp);
	ld->n_services = n;
}

static int user_ptr_cmp(const void *a, const void *b)
{
	const struct scenario_user *const *x = a, *const *y = b;
	int c = strcmp((*x)->login, (*y)->login);
	return c ? c : (*x > *y) - (*x < *y);
}

/* Once users are loaded: their indexes by login (a node names its user). */
void ld_index_users(struct loader *ld)
{
	size_t n = ld->sc->n_users;

	ld->users = malloc(sizeof(*ld->users) * (n ? n : 1));
	if (!ld->users) {
		ld->oom = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		ld->users[i] = &ld->sc->users[i];
	qsort(ld->users, n, sizeof(*ld->users), user_ptr_cmp);
}

/* scenario_user_find(): the first user with that login, or -1. */
static int ld_user_find(struct loader *ld, const char *login)
{
	const struct scenario *sc = ld->sc;
	size_t lo = 0, hi = sc->n_users;

	if (!ld->users)
		return scenario_user_find(sc, login);
	while (lo < hi) { /* the first login >= login */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ld->users[mid]->login, login) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < sc->n_users && !strcmp(ld->users[lo]->login, login))
		return (int)(ld->users[lo] - sc->users);
	return -1;
}

bool scenario_workload_has_client(const struct scenario *sc, const struct scenario_workload *w,
                                  uint32_t index)
{
	char name[SCENARIO_NAME_MAX + 16];

	if (!scenario_node_name(sc, index, name, sizeof(name)))
		return false;
	return fnmatch(w->from, name, 0) == 0;
}

/* A user reference: the index, or -1 after reporting it. */
int ld_user_ref(struct loader *ld, const yaml_node_t *v)
{
	struct scenario *sc = ld->sc;
	char hint[300];

	int u = ld_user_find(ld, scalar(v));
	if (u >= 0)
		return u;
	const char **names = malloc(sizeof(*names) * (sc->n_users + 1));
	for (size_t i = 0; names && i < sc->n_users; i++)
		names[i] = sc->users[i].login;
	ld_hint_from(ld, scalar(v), names, sc->n_users, hint, sizeof(hint));
	free(names);
	if (sc->n_users == 0)
		error_at(ld, v, "unknown user '%.80s' (no users are declared)", scalar(v));
	else
		error_at(ld, v, "unknown user '%.80s'%s", scalar(v), hint);
	return -1;
}

/* Candidate node names for a did-you-mean: single nodes by name, groups
 * as name-N (N from `word`'s "-N" ending when the group has that many, else
 * 0; name-* for globs), each with `suffix` appended. One malloc'd block
 * (pointers, then strings) the caller frees; NULL when out of memory or
 * when hints are not wanted. */
static const char **node_cands_suffixed(struct loader *ld, size_t *n, bool globs,
                                        const char *suffix, const char *word)
{
	struct scenario *sc = ld->sc;
	size_t count = (size_t)sc->group_count, bytes = 0, slen = strlen(suffix);
	const char *dash = word ? strrchr(word, '-') : NULL;
	unsigned long want = 0;

	*n = 0;
	if (!ld_hints_wanted(ld))
		return NULL;
	if (dash && dash[1] && strlen(dash + 1) <= 9 &&
	    strspn(dash + 1, "0123456789") == strlen(dash + 1))
		want = strtoul(dash + 1, NULL, 10);
	for (size_t i = 0; i < count; i++)
		bytes += strlen(sc->groups[i].name) + 12 + slen;
	const char **c = malloc(sizeof(*c) * (count + 1) + bytes);
	if (!c)
		return NULL;
	char *p = (char *)(c + count + 1);
	for (size_t i = 0; i < count; i++) {
		const struct scenario_node_group *g = &sc->groups[i];
		int w;
		if (g->count == 1)
			w = sprintf(p, "%s%s", g->name, suffix);
		else if (globs)
			w = sprintf(p, "%s-*%s", g->name, suffix);
		else
			w = sprintf(p, "%s-%lu%s", g->name, want < g->count ? want : 0, suffix);
		c[(*n)++] = p;
		p += w + 1;
	}
	return c;
}

const char **ld_node_cands(struct loader *ld, size_t *n, bool globs, const char *word)
{
	return node_cands_suffixed(ld, n, globs, "", word);
}

/* An expanded node name: 0 and *index, or -1 after reporting it. */
int ld_node_ref(struct loader *ld, const char *what, const yaml_node_t *v, uint32_t *index)
{
	char hint[120];
	size_t n;

	if (v->type != YAML_SCALAR_NODE || is_null(v)) {
		char buf[80];
		error_at(ld, v, "expected a node name, got %s", ld_describe(v, buf, sizeof(buf)));
		return -1;
	}
	if (ld_node_find(ld, scalar(v), index) == 0)
		return 0;
	const char **c = ld_node_cands(ld, &n, false, scalar(v));
	ld_hint_from(ld, scalar(v), c, n, hint, sizeof(hint));
	free(c);
	error_at(ld, v, "%sunknown node '%.80s'%s", what, scalar(v), hint);
	return -1;
}

bool ld_service_known(struct loader *ld, const char *name)
{
	if (ld->services)
		return bsearch(&name, ld->services, ld->n_services, sizeof(*ld->services),
		               str_ptr_cmp) != NULL;
	if (scenario_service_find(ld->sc, name) >= 0)
		return true;
	for (size_t i = 0; i < ld->n_defined; i++)
		if (!strcmp(ld->defined[i], name))
			return true;
	return false;
}

/* The did-you-mean among every known service ("svc:web"), or with `dns`
 * among their MagicDNS names (label.tailnet) and the nodes' names. */
void ld_service_hint(struct loader *ld, const char *word, bool dns, char *hint, size_t len)
{
	struct scenario *sc = ld->sc;
	size_t n = 0, nodes = 0, services = sc->n_services + ld->n_defined;
	char suffix[SCENARIO_TAILNET_MAX + 2];
	const char **nc = NULL, **c;
	char(*names)[SCENARIO_SERVICE_NAME_MAX + SCENARIO_TAILNET_MAX + 2] = NULL;

	hint[0] = '\0';
	if (!ld_hints_wanted(ld))
		return;
	snprintf(suffix, sizeof(suffix), ".%s", sc->tailnet);
	if (dns) {
		nc = node_cands_suffixed(ld, &nodes, false, suffix, NULL);
		names = malloc(sizeof(*names) * (services + 1));
	}
	c = malloc(sizeof(*c) * (services + nodes + 1));
	if (!c || (dns && (!nc || !names))) {
		ld->oom = true;
		goto out;
	}
	for (size_t i = 0; i < services; i++) {
		const char *name =
		    i < sc->n_services ? sc->services[i].name : ld->defined[i - sc->n_services];
		if (dns) {
			snprintf(names[i], sizeof(names[i]), "%s%s", name + 4, suffix);
			c[n++] = names[i];
		} else {
			c[n++] = name;
		}
	}
	for (size_t i = 0; i < nodes; i++)
		c[n++] = nc[i];
	ld_did_you_mean(word, c, n, hint, len);
out:
	free(c);
	free(nc);
	free(names);
}

/* A reference to a service defined in services or by a timeline define:
 * true, or false after reporting it. */
bool ld_service_ref(struct loader *ld, const char *what, const yaml_node_t *at, const char *name)
{
	char hint[160];

	if (ld_service_known(ld, name))
		return true;
	ld_service_hint(ld, name, false, hint, sizeof(hint));
	error_at(ld, at, "%sunknown service '%.80s'%s", what, name, hint);
	return false;
}

const char *scenario_service_name_problem(const char *name)
{
	size_t len;

	if (strncmp(name, "svc:", 4) != 0)
		return "a service name starts with 'svc:'";
	name += 4;
	len = strlen(name);
	if (len == 0)
		return "the label after 'svc:' is empty";
	if (len > 63)
		return "the label after 'svc:' is longer than 63 characters";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-')
			return "the label may hold only letters, digits and '-'";
	}
	if (name[0] == '-' || name[len - 1] == '-')
		return "the label must start and end with a letter or digit";
	return NULL;
}

/* SVC-1 on a scalar; reports "service name 'x' is not valid (SVC-1: ...)". */
bool ld_check_service_name(struct loader *ld, const yaml_node_t *at, const char *name)
{
	const char *why = scenario_service_name_problem(name);

	if (!why)
		return true;
	error_at(ld, at, "service name '%.80s' is not valid (SVC-1: %s)", name, why);
	return false;
}

const struct scenario_node_group *scenario_node_name(const struct scenario *sc, uint32_t index,
                                                     char *buf, size_t len)
{
	int lo = 0, hi = sc->group_count - 1;

	if (index >= sc->node_count)
		return NULL;
	/* last group whose first_index <= index (groups are in order) */
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (sc->groups[mid].first_index <= index)
			lo = mid;
		else
			hi = mid - 1;
	}
	const struct scenario_node_group *g = &sc->groups[lo];
	if (g->count == 1)
		snprintf(buf, len, "%s", g->name);
	else
		snprintf(buf, len, "%s-%u", g->name, index - g->first_index);
	return g;
}
