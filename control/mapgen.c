/* mapgen: per-node netmaps from the registry, and the delta messages that
 * bring a map session up to date (see mapgen.h).
 *
 * Cost model. Policy answers depend only on a node's identity as policy
 * sees it (its tags, or its user when untagged), so nodes are grouped into
 * identity classes once per registry generation, and the policy is asked
 * once per (class, service): at most O(nodes x services) calls. Node to
 * node grants are evaluated per (class, class) pair, lazily, the first time
 * a map needs that class's row or column. Per-node maps then only read the
 * caches. */
#include "control/mapgen.h"

#include "lib/base/check.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/netmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG_MAX_SECTIONS 64 /* top-level members a delta tracks; more: full maps */

/* ---- small hash tables ----------------------------------------------- */

static uint64_t mg_fnv(const void *data, size_t len, uint64_t h)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define MG_FNV_INIT 0xcbf29ce484222325ull

static uint64_t mg_mix(uint64_t h)
{
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static size_t mg_cap_for(size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap <<= 1;
	return cap;
}

/* ---- caches per registry generation ---------------------------------- */

/* A node-to-node answer list: the other classes with their port set. */
struct mg_class_list {
	bool done;
	size_t n;
	uint32_t *cls;
	int32_t *pid;
};

struct mg_class {
	char *key;    /* identity: "T\ntag:a\ntag:b" or "U\nlogin" */
	size_t rep;   /* a node of this class (for policy calls) */
	size_t first; /* its nodes: class_nodes[first .. first + n) */
	size_t n;
	struct mg_class_list reach;   /* classes this class may reach */
	struct mg_class_list reached; /* classes that may reach this class */
};

struct mg_cslot {
	const char *key; /* NULL: empty */
	uint32_t cls;
};

struct mg_uslot {
	const char *login; /* NULL: empty; the registry's string */
	const char *display_name;
};

struct mg_svc {
	/* Nodes (usable ones only) allowed to reach the service, grouped by
	 * port set: clients[i] has port set cpid[i], runs of equal cpid. */
	size_t n_clients;
	size_t *clients;
	int32_t *cpid;
};

struct mapgen {
	const struct registry *r;
	struct mapgen_options opt;
	bool valid;
	uint64_t gen;

	size_t n_nodes, n_svcs, n_classes;
	uint32_t *node_class; /* per node */
	bool *usable;         /* per node: has an endpoint it owns */
	struct mg_class *classes;
	size_t *class_nodes; /* nodes grouped by class */
	struct mg_cslot *ctab;
	size_t ctab_mask;

	size_t n_portsets, cap_portsets;
	struct policy_ports *portsets;

	int32_t *svc_class_pid; /* [svc * n_classes + class]: port set or -1 */
	struct mg_svc *svcs;

	/* host records per node: node_hosts[node_hosts_off[n] .. off[n+1]) */
	size_t *node_hosts_off;
	size_t *node_hosts;

	/* scratch for one map: peers collected (stamp per call) */
	uint32_t *mark;
	uint32_t stamp;
	size_t *peer_list;
	size_t n_peer_list;
	bool oom; /* an allocation failed while building the current map */

	/* login -> display name, filled on first use (registry_user scans) */
	struct mg_uslot *users;
	size_t users_mask;
};

static void mg_class_list_free(struct mg_class_list *l)
{
	free(l->cls);
	free(l->pid);
	memset(l, 0, sizeof(*l));
}

static void mg_cache_free(struct mapgen *mg)
{
	for (size_t i = 0; i < mg->n_classes; i++) {
		free(mg->classes[i].key);
		mg_class_list_free(&mg->classes[i].reach);
		mg_class_list_free(&mg->classes[i].reached);
	}
	for (size_t i = 0; mg->svcs && i < mg->n_svcs; i++) {
		free(mg->svcs[i].clients);
		free(mg->svcs[i].cpid);
	}
	free(mg->classes);
	free(mg->node_class);
	free(mg->usable);
	free(mg->class_nodes);
	free(mg->ctab);
	free(mg->portsets);
	free(mg->svc_class_pid);
	free(mg->svcs);
	free(mg->node_hosts_off);
	free(mg->node_hosts);
	free(mg->mark);
	free(mg->peer_list);
	free(mg->users);
	mg->users = NULL;
	mg->classes = NULL;
	mg->node_class = NULL;
	mg->usable = NULL;
	mg->class_nodes = NULL;
	mg->ctab = NULL;
	mg->portsets = NULL;
	mg->svc_class_pid = NULL;
	mg->svcs = NULL;
	mg->node_hosts_off = NULL;
	mg->node_hosts = NULL;
	mg->mark = NULL;
	mg->peer_list = NULL;
	mg->n_nodes = mg->n_svcs = mg->n_classes = mg->n_portsets = mg->cap_portsets = 0;
	mg->valid = false;
}

static struct policy_node mg_policy_node(const struct reg_node *n)
{
	return (struct policy_node){
	    .user = n->user,
	    .tags = (const char *const *)n->tags,
	    .n_tags = n->n_tags,
	};
}

static int mg_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The quoted strings of the policy text, to tell which user logins the
 * policy names. A login the policy never names can only match `*` and
 * autogroup:member, so all such users' untagged nodes share one class:
 * without this a tailnet of 10,000 single-device users has 10,000
 * classes and 10^8 node-to-node evaluations. The split is at every '"':
 * each string literal is one segment whatever comments hold (extra
 * segments only keep users apart, which is safe). A policy with a
 * backslash could spell a login with escapes: then every user is named. */
struct mg_named {
	bool all; /* every login counts as named */
	size_t mask;
	const char **seg; /* NUL-terminated copies, NULL: empty slot */
	char *buf;
};

static void mg_named_free(struct mg_named *nm)
{
	free(nm->seg);
	free(nm->buf);
	memset(nm, 0, sizeof(*nm));
}

static int mg_named_build(struct mg_named *nm, const struct policy *p)
{
	const char *text = p ? policy_text(p) : NULL;
	size_t len, n = 0, cap;

	memset(nm, 0, sizeof(*nm));
	if (!text || strchr(text, '\\')) {
		nm->all = text != NULL;
		return 0;
	}
	len = strlen(text);
	for (size_t i = 0; i < len; i++)
		n += text[i] == '"';
	cap = mg_cap_for(n + 1);
	nm->buf = strdup(text);
	nm->seg = calloc(cap, sizeof(*nm->seg));
	if (!nm->buf || !nm->seg) {
		mg_named_free(nm);
		return -ENOMEM;
	}
	nm->mask = cap - 1;
	for (char *seg = nm->buf, *q; (q = strchr(seg, '"')); seg = q + 1) {
		size_t h;

		*q = '\0';
		h = (size_t)mg_mix(mg_fnv(seg, strlen(seg), MG_FNV_INIT)) & nm->mask;
		while (nm->seg[h] && strcmp(nm->seg[h], seg) != 0)
			h = (h + 1) & nm->mask;
		nm->seg[h] = seg;
	}
	return 0;
}

static bool mg_named_has(const struct mg_named *nm, const char *login)
{
	size_t h;

	if (nm->all || !nm->seg)
		return nm->all;
	h = (size_t)mg_mix(mg_fnv(login, strlen(login), MG_FNV_INIT)) & nm->mask;
	while (nm->seg[h]) {
		if (strcmp(nm->seg[h], login) == 0)
			return true;
		h = (h + 1) & nm->mask;
	}
	return false;
}

/* The identity key of a node (malloc'd): its sorted tags when tagged (the
 * user does not matter to policy then: user and group selectors match
 * untagged nodes only), else its user when the policy names it, else
 * "any member" ("M") or "no user" ("U\n"). */
static char *mg_class_key(const struct mg_named *named, const struct reg_node *n)
{
	const char *tags[REG_MAX_TAGS];
	size_t len = 3, o;
	char *key;

	if (!n->n_tags) {
		const char *u = n->user ? n->user : "";
		if (*u && !mg_named_has(named, u))
			return strdup("M");
		key = malloc(strlen(u) + 3);
		if (key)
			sprintf(key, "U\n%s", u);
		return key;
	}
	for (size_t i = 0; i < n->n_tags; i++) {
		tags[i] = n->tags[i];
		len += strlen(tags[i]) + 1;
	}
	qsort(tags, n->n_tags, sizeof(tags[0]), mg_cmp_str);
	key = malloc(len);
	if (!key)
		return NULL;
	o = (size_t)sprintf(key, "T");
	for (size_t i = 0; i < n->n_tags; i++)
		o += (size_t)sprintf(key + o, "\n%s", tags[i]);
	return key;
}

/* The id of a port set, added when new; -1 when empty, -2 on -ENOMEM.
 * Port sets are few (one per distinct grant combination): linear search. */
static int32_t mg_portset_id(struct mapgen *mg, const struct policy_ports *ps)
{
	if (ps->n == 0)
		return -1;
	for (size_t i = 0; i < mg->n_portsets; i++) {
		const struct policy_ports *q = &mg->portsets[i];
		if (q->n == ps->n && q->truncated == ps->truncated &&
		    memcmp(q->r, ps->r, ps->n * sizeof(ps->r[0])) == 0)
			return (int32_t)i;
	}
	if (mg->n_portsets == mg->cap_portsets) {
		size_t cap = mg->cap_portsets ? 2 * mg->cap_portsets : 8;
		struct policy_ports *n = realloc(mg->portsets, cap * sizeof(*n));
		if (!n)
			return -2;
		mg->portsets = n;
		mg->cap_portsets = cap;
	}
	mg->portsets[mg->n_portsets] = *ps;
	return (int32_t)mg->n_portsets++;
}

/* Groups nodes into identity classes (hash on the key). */
static int mg_build_classes(struct mapgen *mg)
{
	size_t cap = mg_cap_for(mg->n_nodes), *fill = NULL;
	struct mg_named named;
	int rc = mg_named_build(&named, registry_policy(mg->r));

	if (rc)
		return rc;
	rc = -ENOMEM;
	mg->ctab = calloc(cap, sizeof(*mg->ctab));
	mg->ctab_mask = cap - 1;
	mg->node_class = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->node_class));
	mg->classes = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->classes));
	mg->class_nodes = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->class_nodes));
	if (!mg->ctab || !mg->node_class || !mg->classes || !mg->class_nodes)
		goto out;
	for (size_t i = 0; i < mg->n_nodes; i++) {
		char *key = mg_class_key(&named, registry_node(mg->r, i));
		size_t h;

		if (!key)
			goto out;
		h = (size_t)mg_mix(mg_fnv(key, strlen(key), MG_FNV_INIT)) & mg->ctab_mask;
		while (mg->ctab[h].key && strcmp(mg->ctab[h].key, key) != 0)
			h = (h + 1) & mg->ctab_mask;
		if (mg->ctab[h].key) {
			free(key);
		} else {
			struct mg_class *c = &mg->classes[mg->n_classes];
			c->key = key;
			c->rep = i;
			mg->ctab[h].key = key;
			mg->ctab[h].cls = (uint32_t)mg->n_classes++;
		}
		mg->node_class[i] = mg->ctab[h].cls;
		mg->classes[mg->ctab[h].cls].n++;
	}
	fill = calloc(mg->n_classes ? mg->n_classes : 1, sizeof(*fill));
	if (!fill)
		goto out;
	for (size_t c = 0, o = 0; c < mg->n_classes; c++) {
		mg->classes[c].first = o;
		o += mg->classes[c].n;
	}
	for (size_t i = 0; i < mg->n_nodes; i++) {
		struct mg_class *c = &mg->classes[mg->node_class[i]];
		mg->class_nodes[c->first + fill[mg->node_class[i]]++] = i;
	}
	rc = 0;
out:
	free(fill);
	mg_named_free(&named);
	return rc;
}

/* A node is usable as a peer when it has an endpoint and owns it: two
 * peers sharing an endpoint would make the whole map invalid, so of the
 * nodes claiming one endpoint only the connected (else alive, else most
 * recently registered) one is kept. */
static int mg_build_usable(struct mapgen *mg)
{
	size_t cap = mg_cap_for(mg->n_nodes);
	int32_t *tab = malloc(cap * sizeof(*tab));

	mg->usable = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->usable));
	if (!tab || !mg->usable) {
		free(tab);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap; i++)
		tab[i] = -1;
	for (size_t i = 0; i < mg->n_nodes; i++) {
		const struct reg_node *n = registry_node(mg->r, i);
		uint8_t k[19];
		size_t h;

		if (n->endpoint.family != IO_AF_INET && n->endpoint.family != IO_AF_INET6)
			continue;
		if (n->endpoint.port == 0)
			continue;
		k[0] = n->endpoint.family;
		k[1] = (uint8_t)(n->endpoint.port >> 8);
		k[2] = (uint8_t)n->endpoint.port;
		memcpy(k + 3, n->endpoint.ip, 16);
		h = (size_t)mg_mix(mg_fnv(k, sizeof(k), MG_FNV_INIT)) & (cap - 1);
		while (tab[h] >= 0 &&
		       !io_addr_equal(&registry_node(mg->r, (size_t)tab[h])->endpoint, &n->endpoint,
		                      true))
			h = (h + 1) & (cap - 1);
		if (tab[h] >= 0) {
			const struct reg_node *o = registry_node(mg->r, (size_t)tab[h]);
			int so = o->connected * 2 + o->alive, sn = n->connected * 2 + n->alive;
			if (so > sn)
				continue;
			mg->usable[tab[h]] = false;
		}
		tab[h] = (int32_t)i;
		mg->usable[i] = true;
	}
	free(tab);
	return 0;
}

/* Per service and class: the port set policy grants; per service: the
 * usable nodes allowed, grouped by port set. */
static int mg_build_services(struct mapgen *mg)
{
	const struct policy *p = registry_policy(mg->r);
	size_t cells = mg->n_svcs * mg->n_classes;

	mg->svc_class_pid = malloc((cells ? cells : 1) * sizeof(int32_t));
	mg->svcs = calloc(mg->n_svcs ? mg->n_svcs : 1, sizeof(*mg->svcs));
	if (!mg->svc_class_pid || !mg->svcs)
		return -ENOMEM;
	for (size_t s = 0; s < mg->n_svcs; s++) {
		const struct reg_service *rs = registry_service(mg->r, s);
		struct policy_service ps = {
		    .name = rs->name,
		    .tags = (const char *const *)rs->tags,
		    .n_tags = rs->n_tags,
		};
		struct mg_svc *sv = &mg->svcs[s];
		int32_t *row = &mg->svc_class_pid[s * mg->n_classes];
		size_t n = 0;

		for (size_t c = 0; c < mg->n_classes; c++) {
			struct policy_ports ports;
			struct policy_node pn =
			    mg_policy_node(registry_node(mg->r, mg->classes[c].rep));

			row[c] = -1;
			if (p)
				policy_service_ports(p, &pn, &ps, &ports);
			else
				ports.n = 0;
			row[c] = mg_portset_id(mg, &ports);
			if (row[c] == -2)
				return -ENOMEM;
			if (row[c] >= 0)
				n += mg->classes[c].n;
		}
		sv->clients = malloc((n ? n : 1) * sizeof(*sv->clients));
		sv->cpid = malloc((n ? n : 1) * sizeof(*sv->cpid));
		if (!sv->clients || !sv->cpid)
			return -ENOMEM;
		/* Group by port set: one pass per distinct set present. */
		for (size_t pid = 0; pid < mg->n_portsets; pid++) {
			for (size_t c = 0; c < mg->n_classes; c++) {
				const struct mg_class *cl = &mg->classes[c];
				if (row[c] != (int32_t)pid)
					continue;
				for (size_t k = 0; k < cl->n; k++) {
					size_t node = mg->class_nodes[cl->first + k];
					if (!mg->usable[node])
						continue;
					sv->clients[sv->n_clients] = node;
					sv->cpid[sv->n_clients++] = (int32_t)pid;
				}
			}
		}
	}
	return 0;
}

/* Host records per node, as an offset table. */
static int mg_build_node_hosts(struct mapgen *mg)
{
	size_t nh = registry_host_count(mg->r), *fill;

	mg->node_hosts_off = calloc(mg->n_nodes + 1, sizeof(size_t));
	mg->node_hosts = malloc((nh ? nh : 1) * sizeof(size_t));
	fill = calloc(mg->n_nodes + 1, sizeof(size_t));
	if (!mg->node_hosts_off || !mg->node_hosts || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nh; i++) {
			int node = registry_node_index(mg->r, registry_host(mg->r, i)->node);
			if (node < 0 || (size_t)node >= mg->n_nodes)
				continue;
			if (pass == 0)
				mg->node_hosts_off[node + 1]++;
			else
				mg->node_hosts[mg->node_hosts_off[node] + fill[node]++] = i;
		}
		if (pass == 0)
			for (size_t n = 0; n < mg->n_nodes; n++)
				mg->node_hosts_off[n + 1] += mg->node_hosts_off[n];
	}
	free(fill);
	return 0;
}

/* Rebuilds the caches when the registry's generation moved. */
static int mg_refresh(struct mapgen *mg)
{
	int rc;

	if (mg->valid && mg->gen == registry_generation(mg->r))
		return 0;
	mg_cache_free(mg);
	mg->gen = registry_generation(mg->r);
	mg->n_nodes = registry_node_count(mg->r);
	mg->n_svcs = registry_service_count(mg->r);
	mg->mark = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->mark));
	mg->peer_list = malloc((mg->n_nodes ? mg->n_nodes : 1) * sizeof(*mg->peer_list));
	mg->stamp = 0;
	mg->users_mask = mg_cap_for(mg->n_nodes) - 1;
	mg->users = calloc(mg->users_mask + 1, sizeof(*mg->users));
	if (!mg->mark || !mg->peer_list || !mg->users) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = mg_build_classes(mg)) || (rc = mg_build_usable(mg)) ||
	    (rc = mg_build_services(mg)) || (rc = mg_build_node_hosts(mg)))
		goto fail;
	mg->valid = true;
	return 0;
fail:
	mg_cache_free(mg);
	return rc;
}

/* Fills class `c`'s node-to-node list (reach: c as source; reached: c as
 * destination) on first use. */
static int mg_class_list_get(struct mapgen *mg, size_t c, bool as_src,
                             const struct mg_class_list **out)
{
	struct mg_class *cl = &mg->classes[c];
	struct mg_class_list *l = as_src ? &cl->reach : &cl->reached;
	const struct policy *p = registry_policy(mg->r);
	struct policy_node me = mg_policy_node(registry_node(mg->r, cl->rep));

	*out = l;
	if (l->done)
		return 0;
	for (size_t o = 0; p && o < mg->n_classes; o++) {
		struct policy_node other = mg_policy_node(registry_node(mg->r, mg->classes[o].rep));
		struct policy_ports ports;
		int32_t pid;

		if (as_src)
			policy_node_ports(p, &me, &other, &ports);
		else
			policy_node_ports(p, &other, &me, &ports);
		pid = mg_portset_id(mg, &ports);
		if (pid == -2)
			goto nomem;
		if (pid < 0)
			continue;
		if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
			size_t cap = l->n ? 2 * l->n : 1;
			uint32_t *a = realloc(l->cls, cap * sizeof(*a));
			if (!a)
				goto nomem;
			l->cls = a;
			int32_t *b = realloc(l->pid, cap * sizeof(*b));
			if (!b)
				goto nomem;
			l->pid = b;
		}
		l->cls[l->n] = (uint32_t)o;
		l->pid[l->n++] = pid;
	}
	l->done = true;
	return 0;
nomem:
	mg_class_list_free(l);
	return -ENOMEM;
}

int mapgen_new(struct mapgen **out, const struct registry *r, const struct mapgen_options *opt)
{
	struct mapgen *mg = calloc(1, sizeof(*mg));

	CHECK(r);
	*out = NULL;
	if (!mg)
		return -ENOMEM;
	mg->r = r;
	if (opt)
		mg->opt = *opt;
	*out = mg;
	return 0;
}

void mapgen_free(struct mapgen *mg)
{
	if (!mg)
		return;
	mg_cache_free(mg);
	free(mg);
}

bool mapgen_may_reach(struct mapgen *mg, size_t client, const char *service, uint8_t proto,
                      uint16_t port)
{
	int s;
	int32_t pid;

	if (mg_refresh(mg) || client >= mg->n_nodes)
		return false;
	s = registry_service_index(mg->r, service);
	if (s < 0 || (size_t)s >= mg->n_svcs)
		return false;
	pid = mg->svc_class_pid[(size_t)s * mg->n_classes + mg->node_class[client]];
	return pid >= 0 && policy_ports_allow(&mg->portsets[pid], proto, port);
}

/* ---- building one map ------------------------------------------------ */

/* Builders below never stop half way on a failed allocation: they note it
 * in mg->oom (the map is then dropped whole) and carry on safely, since
 * every helper accepts a NULL parent or item. */
static void mg_arr_add(struct mapgen *mg, cJSON *arr, cJSON *item)
{
	if (!item || !arr || !cJSON_AddItemToArray(arr, item)) {
		cJSON_Delete(item);
		mg->oom = true;
	}
}

static void mg_obj_add(struct mapgen *mg, cJSON *obj, const char *key, cJSON *item)
{
	if (!item || !obj || !cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		mg->oom = true;
	}
}

static void mg_obj_str(struct mapgen *mg, cJSON *obj, const char *key, const char *value)
{
	mg_obj_add(mg, obj, key, cJSON_CreateString(value));
}

static cJSON *mg_obj_arr(struct mapgen *mg, cJSON *obj, const char *key)
{
	cJSON *arr = cJSON_CreateArray();

	mg_obj_add(mg, obj, key, arr);
	return mg->oom ? NULL : arr;
}

/* A new object appended to `arr`, or NULL (noted). */
static cJSON *mg_arr_obj(struct mapgen *mg, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();

	mg_arr_add(mg, arr, o);
	return mg->oom ? NULL : o;
}

static cJSON *mg_addr_pair(struct mapgen *mg, const struct io_addr *a4, const struct io_addr *a6)
{
	cJSON *arr = cJSON_CreateArray();
	char s[IO_ADDR_STRLEN];

	if (!arr) {
		mg->oom = true;
		return NULL;
	}
	if (a4->family == IO_AF_INET)
		mg_arr_add(mg, arr, cJSON_CreateString(io_addr_format(a4, false, s, sizeof(s))));
	if (a6->family == IO_AF_INET6)
		mg_arr_add(mg, arr, cJSON_CreateString(io_addr_format(a6, false, s, sizeof(s))));
	return arr;
}

static cJSON *mg_string_array(struct mapgen *mg, char *const *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	mg->oom |= !arr;
	for (size_t i = 0; arr && i < n; i++)
		mg_arr_add(mg, arr, cJSON_CreateString(v[i]));
	return arr;
}

/* The display name of `login`'s user, or "". */
static const char *mg_display_name(struct mapgen *mg, const char *login)
{
	size_t h;

	if (!login || !*login)
		return "";
	h = (size_t)mg_mix(mg_fnv(login, strlen(login), MG_FNV_INIT)) & mg->users_mask;
	while (mg->users[h].login && strcmp(mg->users[h].login, login) != 0)
		h = (h + 1) & mg->users_mask;
	if (!mg->users[h].login) {
		const struct reg_user *u = registry_user(mg->r, login);
		mg->users[h].login = login;
		mg->users[h].display_name = u && u->display_name ? u->display_name : "";
	}
	return mg->users[h].display_name;
}

/* A node object: self (no endpoint) or peer. */
static cJSON *mg_node_json(struct mapgen *mg, const struct reg_node *n, bool peer)
{
	cJSON *o = cJSON_CreateObject();
	char s[IO_ADDR_STRLEN];

	if (!o) {
		mg->oom = true;
		return NULL;
	}
	mg_obj_str(mg, o, "name", n->name);
	mg_obj_add(mg, o, "addresses", mg_addr_pair(mg, &n->addr4, &n->addr6));
	if (peer)
		mg_obj_str(mg, o, "endpoint", io_addr_format(&n->endpoint, true, s, sizeof(s)));
	mg_obj_str(mg, o, "user", n->user ? n->user : "");
	mg_obj_str(mg, o, "display_name", mg_display_name(mg, n->user));
	mg_obj_add(mg, o, "tags", mg_string_array(mg, n->tags, n->n_tags));
	return o;
}

/* Adds node `n` to this map's peers (once; never N itself or an unusable
 * node). */
static void mg_peer_add(struct mapgen *mg, size_t self, size_t n)
{
	if (n == self || n >= mg->n_nodes || !mg->usable[n] || mg->mark[n] == mg->stamp)
		return;
	mg->mark[n] = mg->stamp;
	mg->peer_list[mg->n_peer_list++] = n;
}

static const char *mg_range_text(char *buf, size_t len, uint16_t first, uint16_t last)
{
	if (first == last)
		snprintf(buf, len, "%u", first);
	else
		snprintf(buf, len, "%u-%u", first ? first : 1, last);
	return buf;
}

/* Writes a port set as text for rule ids: "a443,t80-90,u53". */
static void mg_portset_text(char *buf, size_t len, const struct policy_ports *ps)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ps->n && o < len; i++) {
		const struct policy_port_range *r = &ps->r[i];
		char p = r->proto == POLICY_PROTO_TCP   ? 't'
		         : r->proto == POLICY_PROTO_UDP ? 'u'
		                                        : 'a';
		int w = r->first == r->last
		            ? snprintf(buf + o, len - o, "%s%c%u", i ? "," : "", p, r->first)
		            : snprintf(buf + o, len - o, "%s%c%u-%u", i ? "," : "", p, r->first,
		                       r->last);
		o += w > 0 ? (size_t)w : 0;
	}
}

/* One rule: sources src[0..n) (both addresses of each node) may reach
 * every address in dst[] on the ranges of `ps` with protocol class
 * `pclass`. */
static void mg_rule_add(struct mapgen *mg, cJSON *filter, const char *id, const size_t *src,
                        size_t n, const struct io_addr *dst, size_t n_dst,
                        const struct policy_ports *ps, uint8_t pclass)
{
	char s[IO_ADDR_STRLEN], pr[16];
	cJSON *rule, *srcs, *protos, *dsts;

	if (cJSON_GetArraySize(filter) >= NETMAP_MAX_FILTER_RULES)
		return;
	rule = mg_arr_obj(mg, filter);
	if (!rule)
		return;
	mg_obj_str(mg, rule, "id", id);
	srcs = mg_obj_arr(mg, rule, "src");
	for (size_t i = 0; srcs && i < n; i++) {
		const struct reg_node *node = registry_node(mg->r, src[i]);
		if (node->addr4.family == IO_AF_INET)
			mg_arr_add(
			    mg, srcs,
			    cJSON_CreateString(io_addr_format(&node->addr4, false, s, sizeof(s))));
		if (node->addr6.family == IO_AF_INET6)
			mg_arr_add(
			    mg, srcs,
			    cJSON_CreateString(io_addr_format(&node->addr6, false, s, sizeof(s))));
	}
	protos = mg_obj_arr(mg, rule, "proto");
	if (pclass != POLICY_PROTO_UDP)
		mg_arr_add(mg, protos, cJSON_CreateString("tcp"));
	if (pclass != POLICY_PROTO_TCP)
		mg_arr_add(mg, protos, cJSON_CreateString("udp"));
	dsts = mg_obj_arr(mg, rule, "dst");
	for (size_t d = 0; dsts && d < n_dst; d++) {
		for (size_t j = 0; j < ps->n; j++) {
			cJSON *e;
			if (ps->r[j].proto != pclass)
				continue;
			e = mg_arr_obj(mg, dsts);
			mg_obj_str(mg, e, "net", io_addr_format(&dst[d], false, s, sizeof(s)));
			mg_obj_str(mg, e, "ports",
			           mg_range_text(pr, sizeof(pr), ps->r[j].first, ps->r[j].last));
		}
	}
}

#define MG_BUCKET_NODES 128 /* sources per rule a bucket aims at */
#define MG_MAX_BUCKETS  64

/* Filter rules: sources src[0..n_src) (node indexes) may reach every
 * address in dst[0..n_dst) on the port set `ps`. Sources are spread over
 * buckets by a hash of their name, one rule per (bucket, protocol class),
 * each with a stable "id" (`prefix`, port set, class, bucket): a node that
 * joins or leaves changes one small rule, which a delta carries alone.
 * A bucket past NETMAP_MAX_RULE_ENTRIES is cut in pieces. Past
 * NETMAP_MAX_FILTER_RULES rules are dropped: refusing is the safe side,
 * and the map stays valid. */
static void mg_rules_add(struct mapgen *mg, cJSON *filter, const char *prefix, const size_t *src,
                         size_t n_src, const struct io_addr *dst, size_t n_dst,
                         const struct policy_ports *ps)
{
	static const uint8_t pclasses[] = {POLICY_PROTO_ANY, POLICY_PROTO_TCP, POLICY_PROTO_UDP};
	static const char pnames[] = {'a', 't', 'u'};
	size_t nb = 1, start[MG_MAX_BUCKETS + 1] = {0}, *sorted, *bucket;
	char pst[1024], id[2 * NETMAP_MAX_NAME + sizeof(pst) + 64];
	size_t per_rule = NETMAP_MAX_RULE_ENTRIES / 2;

	if (!n_src)
		return;
	while (nb < MG_MAX_BUCKETS && nb * MG_BUCKET_NODES < n_src)
		nb <<= 1;
	sorted = malloc(n_src * sizeof(*sorted));
	bucket = malloc(n_src * sizeof(*bucket));
	if (!sorted || !bucket) {
		mg->oom = true;
		goto out;
	}
	/* Counting sort by bucket; within a bucket sources keep their order. */
	for (size_t i = 0; i < n_src; i++) {
		const char *name = registry_node(mg->r, src[i])->name;
		bucket[i] = (size_t)mg_mix(mg_fnv(name, strlen(name), MG_FNV_INIT)) & (nb - 1);
		start[bucket[i] + 1]++;
	}
	for (size_t b = 0; b < nb; b++)
		start[b + 1] += start[b];
	{
		size_t fill[MG_MAX_BUCKETS] = {0};
		for (size_t i = 0; i < n_src; i++)
			sorted[start[bucket[i]] + fill[bucket[i]]++] = src[i];
	}
	mg_portset_text(pst, sizeof(pst), ps);
	for (size_t k = 0; k < sizeof(pclasses); k++) {
		bool any = false;

		for (size_t j = 0; j < ps->n; j++)
			any |= ps->r[j].proto == pclasses[k];
		if (!any)
			continue;
		for (size_t b = 0; b < nb; b++) {
			for (size_t i = start[b], piece = 0; i < start[b + 1];
			     i += per_rule, piece++) {
				size_t n =
				    start[b + 1] - i < per_rule ? start[b + 1] - i : per_rule;
				snprintf(id, sizeof(id), "%s|%s|%c|%zu/%zu|%zu", prefix, pst,
				         pnames[k], b, nb, piece);
				mg_rule_add(mg, filter, id, &sorted[i], n, dst, n_dst, ps,
				            pclasses[k]);
			}
		}
	}
out:
	free(sorted);
	free(bucket);
}

/* The service's own port list ("tcp:N", "tcp:N-M"). */
static cJSON *mg_service_ports(struct mapgen *mg, const struct reg_service *rs)
{
	cJSON *arr = cJSON_CreateArray();
	char buf[32];

	mg->oom |= !arr;
	for (size_t i = 0; arr && !rs->do_not_validate && i < rs->n_ports; i++) {
		if (rs->ports[i].first == rs->ports[i].last)
			snprintf(buf, sizeof(buf), "tcp:%u", rs->ports[i].first);
		else
			snprintf(buf, sizeof(buf), "tcp:%u-%u", rs->ports[i].first,
			         rs->ports[i].last);
		mg_arr_add(mg, arr, cJSON_CreateString(buf));
	}
	return arr;
}

/* `<label>.<tailnet>` in lower case for service "svc:<label>". */
static void mg_dns_name(char *buf, size_t len, const char *service, const char *tailnet)
{
	snprintf(buf, len, "%s.%s", strncmp(service, "svc:", 4) == 0 ? service + 4 : service,
	         tailnet);
	for (char *c = buf; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

/* Draining hosts of `service` stay peers (not in `hosts`): connections
 * opened before the drain must keep flowing to them (DRN-2, STR-6). */
static void mg_add_draining_peers(struct mapgen *mg, size_t self, const char *service)
{
	size_t n = registry_host_count(mg->r);

	for (size_t k = 0; k < n; k++) {
		const struct reg_host *h = registry_host(mg->r, k);
		if (!h->draining || !h->advertising || strcmp(h->service, service) != 0 ||
		    !registry_host_approved(mg->r, h))
			continue;
		int node = registry_node_index(mg->r, h->node);
		if (node < 0 || (size_t)node >= mg->n_nodes || !mg->usable[node] ||
		    !registry_node(mg->r, (size_t)node)->alive)
			continue;
		mg_peer_add(mg, self, (size_t)node);
	}
}

/* services[], dns[] and the hosts N is steered to (as peers). */
static void mg_add_services(struct mapgen *mg, size_t self, cJSON *services, cJSON *dns)
{
	const char *tailnet = registry_tailnet(mg->r);
	size_t ranked[NETMAP_MAX_HOSTS];
	char name[2 * NETMAP_MAX_NAME + 8];

	for (size_t s = 0; s < mg->n_svcs; s++) {
		const struct reg_service *rs = registry_service(mg->r, s);
		cJSON *o, *hosts, *rec;
		size_t n;

		if (mg->svc_class_pid[s * mg->n_classes + mg->node_class[self]] < 0)
			continue;
		o = mg_arr_obj(mg, services);
		if (!o)
			return;
		mg_obj_str(mg, o, "name", rs->name);
		mg_obj_add(mg, o, "addresses", mg_addr_pair(mg, &rs->vip4, &rs->vip6));
		mg_obj_add(mg, o, "ports", mg_service_ports(mg, rs));
		if (rs->do_not_validate)
			mg_obj_add(mg, o, "do_not_validate", cJSON_CreateTrue());
		hosts = mg_obj_arr(mg, o, "hosts");
		n = registry_rank_hosts(mg->r, self, rs->name, ranked, NETMAP_MAX_HOSTS);
		for (size_t i = 0; hosts && i < n && i < NETMAP_MAX_HOSTS; i++) {
			if (ranked[i] >= mg->n_nodes ||
			    (ranked[i] != self && !mg->usable[ranked[i]]))
				continue;
			mg_arr_add(mg, hosts,
			           cJSON_CreateString(registry_node(mg->r, ranked[i])->name));
			mg_peer_add(mg, self, ranked[i]);
		}
		mg_add_draining_peers(mg, self, rs->name);
		rec = mg_arr_obj(mg, dns);
		if (!rec)
			return;
		mg_dns_name(name, sizeof(name), rs->name, tailnet);
		mg_obj_str(mg, rec, "name", name);
		mg_obj_add(mg, rec, "addresses", mg_addr_pair(mg, &rs->vip4, &rs->vip6));
	}
}

/* host_services[], and for each hosted service its allowed clients as
 * peers and as filter rules towards the VIPs. */
static void mg_add_hosted(struct mapgen *mg, size_t self, cJSON *hs, cJSON *filter)
{
	for (size_t k = mg->node_hosts_off[self]; k < mg->node_hosts_off[self + 1]; k++) {
		const struct reg_host *h = registry_host(mg->r, mg->node_hosts[k]);
		int s = registry_service_index(mg->r, h->service);
		const struct reg_service *rs;
		const struct mg_svc *sv;
		struct io_addr vips[2];
		size_t n_vips = 0;
		cJSON *o;

		if (!h->advertising || s < 0 || (size_t)s >= mg->n_svcs ||
		    !registry_host_approved(mg->r, h))
			continue;
		rs = registry_service(mg->r, (size_t)s);
		o = mg_arr_obj(mg, hs);
		if (!o)
			return;
		mg_obj_str(mg, o, "name", rs->name);
		mg_obj_add(mg, o, "addresses", mg_addr_pair(mg, &rs->vip4, &rs->vip6));
		if (mg->opt.cert_fn) {
			const char *pem = mg->opt.cert_fn(mg->opt.cert_ctx, self, rs->name);
			if (pem)
				mg_obj_str(mg, o, "cert_pem", pem);
		}
		if (rs->vip4.family == IO_AF_INET)
			vips[n_vips++] = rs->vip4;
		if (rs->vip6.family == IO_AF_INET6)
			vips[n_vips++] = rs->vip6;
		sv = &mg->svcs[s];
		for (size_t i = 0; i < sv->n_clients;) {
			size_t j = i;
			while (j < sv->n_clients && sv->cpid[j] == sv->cpid[i]) {
				mg_peer_add(mg, self, sv->clients[j]);
				j++;
			}
			mg_rules_add(mg, filter, rs->name, &sv->clients[i], j - i, vips, n_vips,
			             &mg->portsets[sv->cpid[i]]);
			i = j;
		}
	}
}

/* Node-to-node grants: peers both ways, filter rules towards N's own
 * addresses for the classes that may reach N. */
static int mg_add_direct(struct mapgen *mg, size_t self, cJSON *filter)
{
	const struct reg_node *me = registry_node(mg->r, self);
	const struct mg_class_list *reach, *reached;
	struct io_addr own[2];
	size_t n_own = 0, *srcs = NULL, n_srcs;
	int rc;

	if ((rc = mg_class_list_get(mg, mg->node_class[self], true, &reach)) ||
	    (rc = mg_class_list_get(mg, mg->node_class[self], false, &reached)))
		return rc;
	for (size_t i = 0; i < reach->n; i++) {
		const struct mg_class *c = &mg->classes[reach->cls[i]];
		for (size_t k = 0; k < c->n; k++)
			mg_peer_add(mg, self, mg->class_nodes[c->first + k]);
	}
	if (!reached->n)
		return 0;
	if (me->addr4.family == IO_AF_INET)
		own[n_own++] = me->addr4;
	if (me->addr6.family == IO_AF_INET6)
		own[n_own++] = me->addr6;
	srcs = malloc(mg->n_nodes * sizeof(*srcs));
	if (!srcs)
		return -ENOMEM;
	/* One rule set per distinct port set among the classes reaching N. */
	for (size_t i = 0; i < reached->n; i++) {
		bool first = true;
		for (size_t j = 0; j < i; j++)
			first &= reached->pid[j] != reached->pid[i];
		if (!first)
			continue;
		n_srcs = 0;
		for (size_t j = i; j < reached->n; j++) {
			const struct mg_class *c = &mg->classes[reached->cls[j]];
			if (reached->pid[j] != reached->pid[i])
				continue;
			for (size_t k = 0; k < c->n; k++) {
				size_t node = mg->class_nodes[c->first + k];
				if (node == self || !mg->usable[node])
					continue;
				mg_peer_add(mg, self, node);
				srcs[n_srcs++] = node;
			}
		}
		if (n_srcs)
			mg_rules_add(mg, filter, "node", srcs, n_srcs, own, n_own,
			             &mg->portsets[reached->pid[i]]);
	}
	free(srcs);
	return 0;
}

struct mg_sort_item {
	const char *name;
	size_t node;
};

static int mg_cmp_sort_item(const void *a, const void *b)
{
	return strcmp(((const struct mg_sort_item *)a)->name,
	              ((const struct mg_sort_item *)b)->name);
}

/* peers[] in name order: the order mapproto_apply_delta keeps. */
static int mg_add_peers(struct mapgen *mg, cJSON *peers)
{
	struct mg_sort_item *items =
	    malloc((mg->n_peer_list ? mg->n_peer_list : 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < mg->n_peer_list; i++) {
		items[i].node = mg->peer_list[i];
		items[i].name = registry_node(mg->r, mg->peer_list[i])->name;
	}
	qsort(items, mg->n_peer_list, sizeof(*items), mg_cmp_sort_item);
	for (size_t i = 0; i < mg->n_peer_list; i++)
		mg_arr_add(mg, peers, mg_node_json(mg, registry_node(mg->r, items[i].node), true));
	free(items);
	return 0;
}

struct mg_keyed_item {
	const char *key;
	cJSON *item;
};

static int mg_cmp_keyed_item(const void *a, const void *b)
{
	return strcmp(((const struct mg_keyed_item *)a)->key,
	              ((const struct mg_keyed_item *)b)->key);
}

/* Sorts the filter rules by "id": the order mapproto_apply_delta keeps. */
static int mg_sort_rules(cJSON *filter)
{
	size_t n = (size_t)cJSON_GetArraySize(filter), i = 0;
	struct mg_keyed_item *items;
	cJSON *rule;

	if (n < 2)
		return 0;
	items = malloc(n * sizeof(*items));
	if (!items)
		return -ENOMEM;
	cJSON_ArrayForEach(rule, filter)
	{
		items[i].key = cJSON_GetObjectItemCaseSensitive(rule, "id")->valuestring;
		items[i++].item = rule;
	}
	for (i = 0; i < n; i++)
		cJSON_DetachItemViaPointer(filter, items[i].item);
	qsort(items, n, sizeof(*items), mg_cmp_keyed_item);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(filter, items[i].item);
	free(items);
	return 0;
}

cJSON *mapgen_node_map(struct mapgen *mg, size_t node, uint64_t version)
{
	cJSON *root = NULL, *peers, *services, *hs, *filter, *dns;
	const struct reg_node *me;

	if (mg_refresh(mg) || node >= mg->n_nodes)
		return NULL;
	me = registry_node(mg->r, node);
	if (++mg->stamp == 0) { /* wrapped: clear the marks once */
		memset(mg->mark, 0, mg->n_nodes * sizeof(*mg->mark));
		mg->stamp = 1;
	}
	mg->n_peer_list = 0;

	root = cJSON_CreateObject();
	if (!root)
		return NULL;
	mg->oom = false;
	mg_obj_add(mg, root, "version", cJSON_CreateNumber((double)version));
	mg_obj_str(mg, root, "tailnet", registry_tailnet(mg->r));
	mg_obj_add(mg, root, "self", mg_node_json(mg, me, false));
	peers = mg_obj_arr(mg, root, "peers");
	services = mg_obj_arr(mg, root, "services");
	hs = mg_obj_arr(mg, root, "host_services");
	filter = mg_obj_arr(mg, root, "filter");
	dns = mg_obj_arr(mg, root, "dns");
	if (mg->opt.ca_pem)
		mg_obj_str(mg, root, "ca_pem", mg->opt.ca_pem);
	if (!peers || !services || !hs || !filter || !dns)
		goto fail;
	mg_add_services(mg, node, services, dns);
	mg_add_hosted(mg, node, hs, filter);
	if (mg_add_direct(mg, node, filter) || mg_add_peers(mg, peers) || mg->oom ||
	    mg_sort_rules(filter))
		goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* ---- per-session memory and messages --------------------------------- */

/* Arrays a delta changes entry by entry (see mapproto.h), keyed by a
 * string member of each entry. */
static const struct {
	const char *array, *key, *upsert, *remove;
} mg_keyed[] = {
    {"peers", "name", "peers_upsert", "peers_remove"},
    {"filter", "id", "filter_upsert", "filter_remove"},
};

#define MG_N_KEYED (sizeof(mg_keyed) / sizeof(mg_keyed[0]))

struct mg_dslot {
	char *name; /* NULL: empty */
	uint64_t digest;
};

struct mg_dtable {
	size_t mask;
	struct mg_dslot *slots;
};

/* What one map looked like: a digest per top-level member but "version"
 * and the keyed arrays, and per entry of those by key. */
struct mg_state {
	bool valid;
	uint64_t version;
	size_t n_sections;
	char *section_key[MG_MAX_SECTIONS];
	uint64_t section_digest[MG_MAX_SECTIONS];
	struct mg_dtable keyed[MG_N_KEYED];
};

struct mapgen_sent {
	struct mg_state st;
};

static void mg_state_clear(struct mg_state *st)
{
	for (size_t i = 0; i < st->n_sections; i++)
		free(st->section_key[i]);
	for (size_t k = 0; k < MG_N_KEYED; k++) {
		for (size_t i = 0; st->keyed[k].slots && i <= st->keyed[k].mask; i++)
			free(st->keyed[k].slots[i].name);
		free(st->keyed[k].slots);
	}
	memset(st, 0, sizeof(*st));
}

struct mapgen_sent *mapgen_sent_new(void)
{
	return calloc(1, sizeof(struct mapgen_sent));
}

void mapgen_sent_free(struct mapgen_sent *s)
{
	if (!s)
		return;
	mg_state_clear(&s->st);
	free(s);
}

void mapgen_sent_reset(struct mapgen_sent *s)
{
	mg_state_clear(&s->st);
}

static struct mg_dslot *mg_dfind(const struct mg_dtable *t, const char *name)
{
	size_t i = (size_t)mg_mix(mg_fnv(name, strlen(name), MG_FNV_INIT)) & t->mask;

	while (t->slots[i].name && strcmp(t->slots[i].name, name) != 0)
		i = (i + 1) & t->mask;
	return &t->slots[i];
}

/* Digest of an item's compact text; *len gets the text's length. */
static int mg_digest(const cJSON *item, uint64_t *digest, size_t *len)
{
	char *text = cJSON_PrintUnformatted(item);

	if (!text)
		return -ENOMEM;
	*len = strlen(text);
	*digest = mg_fnv(text, *len, MG_FNV_INIT);
	free(text);
	return 0;
}

static const char *mg_entry_key(const cJSON *entry, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(entry, key);

	return cJSON_IsString(n) && n->valuestring[0] ? n->valuestring : NULL;
}

static int mg_keyed_index(const char *member)
{
	for (size_t k = 0; k < MG_N_KEYED; k++)
		if (strcmp(member, mg_keyed[k].array) == 0)
			return (int)k;
	return -1;
}

/* Records keyed array `arr` (entries keyed by `key`) into `t`; adds the
 * array's compact length to *full_len. -EINVAL when an entry has no key
 * or a key repeats. */
static int mg_dtable_build(struct mg_dtable *t, const cJSON *arr, const char *key, size_t *full_len)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), cap = mg_cap_for(n), len;
	const cJSON *e;
	uint64_t d;
	int rc;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = cap - 1;
	*full_len += n ? 1 + n : 2; /* brackets and commas */
	cJSON_ArrayForEach(e, arr)
	{
		const char *name = mg_entry_key(e, key);
		struct mg_dslot *slot;

		if (!name || !cJSON_IsObject(e))
			return -EINVAL;
		slot = mg_dfind(t, name);
		if (slot->name)
			return -EINVAL;
		if ((rc = mg_digest(e, &d, &len)))
			return rc;
		*full_len += len;
		slot->name = strdup(name);
		if (!slot->name)
			return -ENOMEM;
		slot->digest = d;
	}
	return 0;
}

/* Records `map` into `st`; *full_len gets the length of the map's compact
 * text (exact for plain keys). -EINVAL when the map cannot be tracked
 * entry by entry (then only full maps are sent). */
static int mg_state_build(struct mg_state *st, const cJSON *map, size_t *full_len)
{
	const cJSON *m;
	size_t len;
	uint64_t d;
	int rc, k;

	*full_len = map->child ? 1 : 2; /* braces, less the last comma */
	for (size_t i = 0; i < MG_N_KEYED; i++) {
		size_t cap = mg_cap_for(0);
		st->keyed[i].slots = calloc(cap, sizeof(*st->keyed[i].slots));
		if (!st->keyed[i].slots)
			return -ENOMEM;
		st->keyed[i].mask = cap - 1;
	}
	cJSON_ArrayForEach(m, map)
	{
		if (!m->string)
			return -EINVAL;
		*full_len += strlen(m->string) + 4; /* "key": and a comma */
		if ((k = mg_keyed_index(m->string)) >= 0) {
			if (!cJSON_IsArray(m))
				return -EINVAL;
			free(st->keyed[k].slots);
			st->keyed[k].slots = NULL;
			if ((rc = mg_dtable_build(&st->keyed[k], m, mg_keyed[k].key, full_len)))
				return rc;
			continue;
		}
		if ((rc = mg_digest(m, &d, &len)))
			return rc;
		*full_len += len;
		if (strcmp(m->string, "version") == 0)
			continue;
		if (st->n_sections == MG_MAX_SECTIONS)
			return -EINVAL;
		st->section_key[st->n_sections] = strdup(m->string);
		if (!st->section_key[st->n_sections])
			return -ENOMEM;
		st->section_digest[st->n_sections++] = d;
	}
	st->valid = true;
	return 0;
}

static bool mg_get_version(const cJSON *map, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, "version");

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

/* Adds keyed array k's upserts and removals from `old` to `now`. */
static int mg_delta_keyed(const struct mg_state *old, const struct mg_state *now, size_t k,
                          const cJSON *map, cJSON *delta)
{
	const struct mg_dtable *ot = &old->keyed[k], *nt = &now->keyed[k];
	cJSON *up = NULL, *rm = NULL;
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(map, mg_keyed[k].array))
	{
		const char *name = mg_entry_key(e, mg_keyed[k].key);
		const struct mg_dslot *o = mg_dfind(ot, name);

		if (o->name && o->digest == mg_dfind(nt, name)->digest)
			continue;
		if (!up && !(up = cJSON_AddArrayToObject(delta, mg_keyed[k].upsert)))
			return -ENOMEM;
		if (!cJSON_AddItemToArray(up, cJSON_Duplicate(e, true)))
			return -ENOMEM;
	}
	for (size_t i = 0; i <= ot->mask; i++) {
		const char *name = ot->slots[i].name;
		if (!name || mg_dfind(nt, name)->name)
			continue;
		if (!rm && !(rm = cJSON_AddArrayToObject(delta, mg_keyed[k].remove)))
			return -ENOMEM;
		if (!cJSON_AddItemToArray(rm, cJSON_CreateString(name)))
			return -ENOMEM;
	}
	return 0;
}

/* The delta from `old` to `map` (whose state is `now`) as a message
 * object, or NULL: with *changed false when nothing changed, else out of
 * memory. */
static cJSON *mg_delta(const struct mg_state *old, const struct mg_state *now, const cJSON *map,
                       uint64_t version, bool *changed)
{
	cJSON *msg = cJSON_CreateObject(), *delta, *set = NULL;

	*changed = true; /* a NULL return then means out of memory */
	if (!msg)
		return NULL;
	if (!cJSON_AddStringToObject(msg, "type", "netmap") ||
	    !cJSON_AddNumberToObject(msg, "version", (double)version) ||
	    !cJSON_AddNumberToObject(msg, "base", (double)old->version) ||
	    !(delta = cJSON_AddObjectToObject(msg, "delta")))
		goto nomem;
	for (size_t k = 0; k < MG_N_KEYED; k++)
		if (mg_delta_keyed(old, now, k, map, delta))
			goto nomem;
	for (size_t i = 0; i < now->n_sections; i++) {
		size_t j = 0;
		while (j < old->n_sections && strcmp(old->section_key[j], now->section_key[i]) != 0)
			j++;
		if (j < old->n_sections && old->section_digest[j] == now->section_digest[i])
			continue;
		if (!set && !(set = cJSON_AddObjectToObject(delta, "set")))
			goto nomem;
		if (!cJSON_AddItemToObject(
		        set, now->section_key[i],
		        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(map, now->section_key[i]),
		                        true)))
			goto nomem;
	}
	for (size_t j = 0; j < old->n_sections; j++) {
		size_t i = 0;
		while (i < now->n_sections && strcmp(old->section_key[j], now->section_key[i]) != 0)
			i++;
		if (i < now->n_sections)
			continue;
		if (!set && !(set = cJSON_AddObjectToObject(delta, "set")))
			goto nomem;
		if (!cJSON_AddItemToObject(set, old->section_key[j], cJSON_CreateNull()))
			goto nomem;
	}
	*changed = delta->child != NULL;
	if (!*changed) {
		cJSON_Delete(msg);
		return NULL;
	}
	return msg;
nomem:
	cJSON_Delete(msg);
	return NULL;
}

/* The full message, printed (the map is referenced, not copied). */
static char *mg_full_text(const cJSON *map, uint64_t version)
{
	cJSON *msg = cJSON_CreateObject();
	char *text = NULL;

	if (!msg)
		return NULL;
	if (cJSON_AddStringToObject(msg, "type", "netmap") &&
	    cJSON_AddNumberToObject(msg, "version", (double)version) &&
	    cJSON_AddItemReferenceToObject(msg, "full", (cJSON *)map))
		text = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	return text;
}

char *mapgen_message(struct mapgen_sent *sent, const cJSON *map, bool *is_delta, size_t *len)
{
	struct mg_state now = {0};
	uint64_t version;
	size_t full_len = 0;
	char *text = NULL;
	bool trackable, changed = true;
	int rc;

	*is_delta = false;
	if (len)
		*len = 0;
	if (!cJSON_IsObject(map) || !mg_get_version(map, &version)) {
		errno = EINVAL;
		return NULL;
	}
	rc = mg_state_build(&now, map, &full_len);
	if (rc == -ENOMEM)
		goto nomem;
	trackable = rc == 0;
	now.version = version;
	if (trackable && sent->st.valid) {
		cJSON *msg = mg_delta(&sent->st, &now, map, version, &changed);

		if (!changed) {
			mg_state_clear(&now);
			errno = 0;
			return NULL;
		}
		if (!msg)
			goto nomem;
		text = cJSON_PrintUnformatted(msg);
		cJSON_Delete(msg);
		if (!text)
			goto nomem;
		/* The full message: {"type":"netmap","version":V,"full":MAP} */
		char digits[24];
		size_t full_msg =
		    full_len + 36 +
		    (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)version);
		if (strlen(text) < full_msg) {
			*is_delta = true;
		} else {
			free(text);
			text = NULL;
		}
	}
	if (!text && !(text = mg_full_text(map, version)))
		goto nomem;
	mg_state_clear(&sent->st);
	if (trackable)
		sent->st = now;
	else
		mg_state_clear(&now);
	if (len)
		*len = strlen(text);
	return text;
nomem:
	mg_state_clear(&now);
	*is_delta = false;
	errno = ENOMEM;
	return NULL;
}
