/* mapgen: per-node netmaps from the registry (see mapgen.h). This file
 * owns the caches per registry generation; mapgen_map.c builds one node's
 * map from them and mapgen_delta.c turns maps into the messages of a map
 * session (full or delta).
 *
 * Cost model. Policy answers depend only on a node's identity as policy
 * sees it (its tags, or its user when untagged), so nodes are grouped into
 * identity classes once per registry generation, and the policy is asked
 * once per (class, service): at most O(nodes x services) calls. Node to
 * node grants are evaluated per (class, class) pair, lazily, the first time
 * a map needs that class's row or column. Per-node maps then only read the
 * caches. */
#include "control/mapgen_int.h"

#include "lib/base/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- caches per registry generation ---------------------------------- */

static void mg_class_list_free(struct mg_class_list *l)
{
	free(l->cls);
	free(l->pid);
	memset(l, 0, sizeof(*l));
}

/* Frees `p` and leaves it NULL. */
#define MG_FREE(p) (free(p), (p) = NULL)

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
	MG_FREE(mg->classes);
	MG_FREE(mg->node_class);
	MG_FREE(mg->usable);
	MG_FREE(mg->class_nodes);
	htab_free(&mg->class_by_key);
	MG_FREE(mg->portsets);
	MG_FREE(mg->svc_class_pid);
	MG_FREE(mg->svcs);
	MG_FREE(mg->node_hosts_off);
	MG_FREE(mg->node_hosts);
	MG_FREE(mg->mark);
	MG_FREE(mg->peer_list);
	MG_FREE(mg->users);
	htab_free(&mg->user_by_login);
	mg->n_users = mg->cap_users = 0;
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
	bool all;          /* every login counts as named */
	char *buf;         /* the policy text, cut at every '"' */
	const char **segs; /* the pieces, each once; NULL: none */
	size_t n_segs;
	struct htab index; /* over segs */
};

static void mg_named_free(struct mg_named *nm)
{
	free(nm->segs);
	free(nm->buf);
	htab_free(&nm->index);
	memset(nm, 0, sizeof(*nm));
}

static bool mg_named_eq(const void *ctx, size_t idx, const void *key)
{
	const struct mg_named *nm = ctx;

	return strcmp(nm->segs[idx], key) == 0;
}

static int mg_named_build(struct mg_named *nm, const struct policy *p)
{
	const char *text = p ? policy_text(p) : NULL;
	size_t len, n = 0;

	memset(nm, 0, sizeof(*nm));
	if (!text || strchr(text, '\\')) {
		nm->all = text != NULL;
		return 0;
	}
	len = strlen(text);
	for (size_t i = 0; i < len; i++)
		n += text[i] == '"';
	nm->buf = strdup(text);
	nm->segs = calloc(n + 1, sizeof(*nm->segs));
	if (!nm->buf || !nm->segs || htab_reserve(&nm->index, n + 1) < 0) {
		mg_named_free(nm);
		return -ENOMEM;
	}
	for (char *seg = nm->buf, *q; (q = strchr(seg, '"')); seg = q + 1) {
		*q = '\0';
		uint64_t h = hash_str(seg);
		if (htab_find(&nm->index, h, mg_named_eq, nm, seg) >= 0)
			continue;
		nm->segs[nm->n_segs] = seg;
		CHECK(htab_insert(&nm->index, h, nm->n_segs++) == 0); /* reserved */
	}
	return 0;
}

static bool mg_named_has(const struct mg_named *nm, const char *login)
{
	if (nm->all || !nm->segs)
		return nm->all;
	return htab_find(&nm->index, hash_str(login), mg_named_eq, nm, login) >= 0;
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

static bool mg_class_eq(const void *ctx, size_t idx, const void *key)
{
	const struct mapgen *mg = ctx;

	return strcmp(mg->classes[idx].key, key) == 0;
}

/* Groups nodes into identity classes (numbered in node order). */
static int mg_build_classes(struct mapgen *mg)
{
	size_t *fill = NULL;
	struct mg_named named;
	int rc = mg_named_build(&named, registry_policy(mg->r));

	if (rc)
		return rc;
	rc = -ENOMEM;
	mg->node_class = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->node_class));
	mg->classes = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->classes));
	mg->class_nodes = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->class_nodes));
	if (!mg->node_class || !mg->classes || !mg->class_nodes ||
	    htab_reserve(&mg->class_by_key, mg->n_nodes) < 0)
		goto out;
	for (size_t i = 0; i < mg->n_nodes; i++) {
		char *key = mg_class_key(&named, registry_node(mg->r, i));

		if (!key)
			goto out;
		uint64_t h = hash_str(key);
		long c = htab_find(&mg->class_by_key, h, mg_class_eq, mg, key);
		if (c >= 0) {
			free(key);
		} else {
			c = (long)mg->n_classes++;
			mg->classes[c].key = key;
			mg->classes[c].rep = i;
			CHECK(htab_insert(&mg->class_by_key, h, (size_t)c) == 0); /* reserved */
		}
		mg->node_class[i] = (uint32_t)c;
		mg->classes[c].n++;
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

static bool mg_endpoint_eq(const void *ctx, size_t idx, const void *key)
{
	const struct mapgen *mg = ctx;

	return io_addr_equal(&registry_node(mg->r, idx)->endpoint, key, true);
}

/* A node is usable as a peer when it has an endpoint and owns it: two
 * peers sharing an endpoint would make the whole map invalid, so of the
 * nodes claiming one endpoint only the connected (else alive, else most
 * recently registered) one is kept. */
static int mg_build_usable(struct mapgen *mg)
{
	struct htab owner = {0}; /* endpoint -> the node holding it */

	mg->usable = calloc(mg->n_nodes ? mg->n_nodes : 1, sizeof(*mg->usable));
	if (!mg->usable || htab_reserve(&owner, mg->n_nodes) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < mg->n_nodes; i++) {
		const struct reg_node *n = registry_node(mg->r, i);
		uint8_t k[19];

		if (n->endpoint.family != IO_AF_INET && n->endpoint.family != IO_AF_INET6)
			continue;
		if (n->endpoint.port == 0 || n->key_revoked)
			continue;
		k[0] = n->endpoint.family;
		k[1] = (uint8_t)(n->endpoint.port >> 8);
		k[2] = (uint8_t)n->endpoint.port;
		memcpy(k + 3, n->endpoint.ip, 16);
		uint64_t h = hash_bytes(k, sizeof(k));
		long j = htab_find(&owner, h, mg_endpoint_eq, mg, &n->endpoint);
		if (j >= 0) {
			const struct reg_node *o = registry_node(mg->r, (size_t)j);
			int so = o->connected * 2 + o->alive, sn = n->connected * 2 + n->alive;
			if (so > sn)
				continue;
			mg->usable[j] = false;
			htab_retarget(&owner, h, (size_t)j, i);
		} else {
			CHECK(htab_insert(&owner, h, i) == 0); /* reserved */
		}
		mg->usable[i] = true;
	}
	htab_free(&owner);
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
int mg_refresh(struct mapgen *mg)
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
	mg->cap_users = mg->n_nodes + 1;
	mg->users = calloc(mg->cap_users, sizeof(*mg->users));
	if (!mg->mark || !mg->peer_list || !mg->users ||
	    htab_reserve(&mg->user_by_login, mg->cap_users) < 0) {
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
int mg_class_list_get(struct mapgen *mg, size_t c, bool as_src, const struct mg_class_list **out)
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
