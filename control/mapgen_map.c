/* Building one node's netmap from mapgen's caches (mapgen.c): itself and
 * its peers, the services it may reach with their ranked hosts and DNS
 * names, the services it hosts and the packet filter rules, sorted so the
 * same registry always gives the same bytes. */
#include "control/mapgen_int.h"

#include "lib/base/check.h"

#include "lib/wire/mapproto.h"
#include "lib/wire/netmap.h"
#include "lib/wire/wg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool mg_user_eq(const void *ctx, size_t idx, const void *key)
{
	const struct mapgen *mg = ctx;

	return strcmp(mg->users[idx].login, key) == 0;
}

/* The display name of `login`'s user, or "". */
static const char *mg_display_name(struct mapgen *mg, const char *login)
{
	if (!login || !*login)
		return "";
	uint64_t h = hash_str(login);
	long i = htab_find(&mg->user_by_login, h, mg_user_eq, mg, login);
	if (i >= 0)
		return mg->users[i].display_name;
	const struct reg_user *u = registry_user(mg->r, login);
	const char *display_name = u && u->display_name ? u->display_name : "";
	/* Room for one login per node is reserved; more are not cached. */
	if (mg->n_users < mg->cap_users) {
		mg->users[mg->n_users] = (struct mg_user){login, display_name};
		CHECK(htab_insert(&mg->user_by_login, h, mg->n_users++) == 0);
	}
	return display_name;
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
	if (n->has_key) {
		char key[WG_KEY_BASE64_LEN + 1];
		wg_key_to_base64(key, n->key);
		mg_obj_str(mg, o, "key", key);
	}
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
		bucket[i] =
		    (size_t)hash_mix64_lite(hash_fnv1a_str(HASH_FNV1A_INIT, name)) & (nb - 1);
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
