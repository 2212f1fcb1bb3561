/* The netmap model (see netmap.h): the lookup index over a parsed netmap
 * (hash tables, built once and read-only afterwards), the
 * lookups and the packet filter the data plane and MagicDNS ask, and
 * freeing. The document's parser is netmap_parse.c, its printer
 * netmap_print.c. */
#include "lib/wire/netmap_int.h"

#include "lib/base/hash.h"
#include "lib/base/htab.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the index's tables ------------------------------------------------ */

/* Seven indexes (htab.h) over the netmap's own arrays, built once per
 * netmap and read-only afterwards. An address key includes the port, so
 * the same hash serves tailnet addresses (port 0) and endpoints. */
enum nm_tab {
	NM_TAB_PEER_ADDR = 0, /* -> peers[i], by any of its addresses */
	NM_TAB_ENDPOINT,      /* -> peers[i] */
	NM_TAB_VIP,           /* -> services[i], by any of its VIPs */
	NM_TAB_HOST_VIP,      /* -> host_services[i], by any of its VIPs */
	NM_TAB_PEER_NAME,     /* -> peers[i] */
	NM_TAB_SVC_NAME,      /* -> services[i] */
	NM_TAB_DNS_NAME,      /* -> dns[i] */
	NM_TAB_PEER_KEY,      /* -> peers[i], by its node key (peers with one) */
	NM_TAB_COUNT,
};

struct netmap_index {
	struct htab tab[NM_TAB_COUNT];
};

static uint64_t nm_hash_addr(const struct io_addr *a)
{
	uint8_t k[19];

	k[0] = a->family;
	k[1] = (uint8_t)(a->port >> 8);
	k[2] = (uint8_t)a->port;
	memcpy(k + 3, a->ip, 16);
	return hash_bytes(k, a->family == IO_AF_INET6 ? 19 : 7);
}

static bool nm_addr_in(const struct io_addr *addrs, size_t n, const struct io_addr *key)
{
	for (size_t i = 0; i < n; i++)
		if (io_addr_equal(&addrs[i], key, true))
			return true;
	return false;
}

static bool nm_eq_peer_addr(const void *ctx, size_t idx, const void *key)
{
	const struct netmap_node *peer = &((const struct netmap *)ctx)->peers[idx];

	return nm_addr_in(peer->addrs, peer->n_addrs, key);
}

static bool nm_eq_peer_endpoint(const void *ctx, size_t idx, const void *key)
{
	return io_addr_equal(&((const struct netmap *)ctx)->peers[idx].endpoint, key, true);
}

static bool nm_eq_vip(const void *ctx, size_t idx, const void *key)
{
	const struct netmap_service *svc = &((const struct netmap *)ctx)->services[idx];

	return nm_addr_in(svc->addrs, svc->n_addrs, key);
}

static bool nm_eq_host_vip(const void *ctx, size_t idx, const void *key)
{
	const struct netmap_service *svc = &((const struct netmap *)ctx)->host_services[idx];

	return nm_addr_in(svc->addrs, svc->n_addrs, key);
}

static bool nm_eq_peer_name(const void *ctx, size_t idx, const void *key)
{
	return strcmp(((const struct netmap *)ctx)->peers[idx].name, key) == 0;
}

static bool nm_eq_svc_name(const void *ctx, size_t idx, const void *key)
{
	return strcmp(((const struct netmap *)ctx)->services[idx].name, key) == 0;
}

static bool nm_eq_peer_key(const void *ctx, size_t idx, const void *key)
{
	const struct netmap_node *peer = &((const struct netmap *)ctx)->peers[idx];

	return peer->has_key && memcmp(peer->key, key, sizeof(peer->key)) == 0;
}

static bool nm_eq_dns_name(const void *ctx, size_t idx, const void *key)
{
	return strcmp(((const struct netmap *)ctx)->dns[idx].name, key) == 0;
}

/* The netmap's index (netmap.h keeps it opaque). */
static struct netmap_index *nm_ix(const struct netmap *nm)
{
	return nm->index;
}

static const htab_eq_fn nm_tab_eq[NM_TAB_COUNT] = {
    [NM_TAB_PEER_ADDR] = nm_eq_peer_addr,
    [NM_TAB_ENDPOINT] = nm_eq_peer_endpoint,
    [NM_TAB_VIP] = nm_eq_vip,
    [NM_TAB_HOST_VIP] = nm_eq_host_vip,
    [NM_TAB_PEER_NAME] = nm_eq_peer_name,
    [NM_TAB_SVC_NAME] = nm_eq_svc_name,
    [NM_TAB_DNS_NAME] = nm_eq_dns_name,
    [NM_TAB_PEER_KEY] = nm_eq_peer_key,
};

/* The index of the entry with this key in table t, or -1 (no index yet:
 * -1 too). */
static int32_t nm_get_addr(const struct netmap *nm, enum nm_tab t, const struct io_addr *key)
{
	if (!nm->index)
		return -1;
	return (int32_t)htab_find(&nm_ix(nm)->tab[t], nm_hash_addr(key), nm_tab_eq[t], nm, key);
}

static int32_t nm_get_str(const struct netmap *nm, enum nm_tab t, const char *key)
{
	if (!nm->index)
		return -1;
	return (int32_t)htab_find(&nm_ix(nm)->tab[t], hash_str(key), nm_tab_eq[t], nm, key);
}

/* Adds key -> idx unless the key is there already. Returns 0, -ENOMEM, or
 * the index already holding the key as a positive number + 1, so callers
 * can name the clash. */
static int nm_put_addr(const struct netmap *nm, enum nm_tab t, const struct io_addr *key,
                       size_t idx)
{
	int32_t old = nm_get_addr(nm, t, key);

	return old >= 0 ? old + 1 : htab_insert(&nm_ix(nm)->tab[t], nm_hash_addr(key), idx);
}

static int nm_put_str(const struct netmap *nm, enum nm_tab t, const char *key, size_t idx)
{
	int32_t old = nm_get_str(nm, t, key);

	return old >= 0 ? old + 1 : htab_insert(&nm_ix(nm)->tab[t], hash_str(key), idx);
}

void nm_index_free(struct netmap_index *ix)
{
	if (!ix)
		return;
	for (int t = 0; t < NM_TAB_COUNT; t++)
		htab_free(&ix->tab[t]);
	free(ix);
}

/* ---- the index ---------------------------------------------------------- */

/* Peers by name, tailnet address and endpoint: no peer takes this node's
 * name or address, and none shares another's. */
static int nm_index_add_peers(struct nm_parse *p, const struct netmap *nm)
{
	char path[NM_PATH_MAX];
	int rc;

	for (size_t i = 0; i < nm->n_peers; i++) {
		struct netmap_node *peer = &nm->peers[i];
		snprintf(path, sizeof(path), "peers[%zu]", i);
		if (strcmp(peer->name, nm->self.name) == 0)
			return nm_fail(p, -EINVAL, "%s.name: \"%s\" is this node's own name", path,
			               peer->name);
		rc = nm_put_str(nm, NM_TAB_PEER_NAME, peer->name, i);
		if (rc)
			return nm_fail(p, -EINVAL, "%s.name: \"%s\" already names peers[%d]", path,
			               peer->name, rc - 1);
		for (size_t a = 0; a < peer->n_addrs; a++) {
			char s[IO_ADDR_STRLEN];
			io_addr_format(&peer->addrs[a], false, s, sizeof(s));
			if (netmap_is_self_addr(nm, &peer->addrs[a]))
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s is this node's own address",
				               path, a, s);
			rc = nm_put_addr(nm, NM_TAB_PEER_ADDR, &peer->addrs[a], i);
			if (rc)
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s already belongs to peers[%d]",
				               path, a, s, rc - 1);
		}
		rc = nm_put_addr(nm, NM_TAB_ENDPOINT, &peer->endpoint, i);
		if (rc) {
			char s[IO_ADDR_STRLEN];
			return nm_fail(p, -EINVAL, "%s.endpoint: %s is also peers[%d]'s endpoint",
			               path, io_addr_format(&peer->endpoint, true, s, sizeof(s)),
			               rc - 1);
		}
		if (peer->has_key && nm->self.has_key &&
		    memcmp(peer->key, nm->self.key, sizeof(peer->key)) == 0)
			return nm_fail(p, -EINVAL, "%s.key: this node's own key", path);
		if (peer->has_key) {
			int32_t old = netmap_peer_by_key(nm, peer->key);
			if (old >= 0)
				return nm_fail(p, -EINVAL, "%s.key: also peers[%d]'s key", path,
				               old);
			if (htab_insert(&nm_ix(nm)->tab[NM_TAB_PEER_KEY],
			                hash_bytes(peer->key, sizeof(peer->key)), i))
				return nm_fail(p, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* Services (or, `hosted`, host_services) by VIP and name: unique names,
 * and a VIP belongs to one service and is no node's address. */
static int nm_index_add_services(struct nm_parse *p, const struct netmap *nm, bool hosted)
{
	size_t n = hosted ? nm->n_host_services : nm->n_services;
	struct netmap_service *list = hosted ? nm->host_services : nm->services;
	enum nm_tab t = hosted ? NM_TAB_HOST_VIP : NM_TAB_VIP;
	const char *what = hosted ? "host_services" : "services";
	char path[NM_PATH_MAX];
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct netmap_service *svc = &list[i];
		snprintf(path, sizeof(path), "%s[%zu]", what, i);
		if (!hosted) {
			rc = nm_put_str(nm, NM_TAB_SVC_NAME, svc->name, i);
			if (rc)
				return nm_fail(p, -EINVAL, "%s.name: \"%s\" already names %s[%d]",
				               path, svc->name, what, rc - 1);
		} else {
			for (size_t j = 0; j < i; j++)
				if (strcmp(list[j].name, svc->name) == 0)
					return nm_fail(p, -EINVAL,
					               "%s.name: \"%s\" already names "
					               "%s[%zu]",
					               path, svc->name, what, j);
		}
		for (size_t a = 0; a < svc->n_addrs; a++) {
			char s[IO_ADDR_STRLEN];
			io_addr_format(&svc->addrs[a], false, s, sizeof(s));
			if (netmap_is_self_addr(nm, &svc->addrs[a]) ||
			    nm_get_addr(nm, NM_TAB_PEER_ADDR, &svc->addrs[a]) >= 0)
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s is a node's address, "
				               "not a VIP",
				               path, a, s);
			rc = nm_put_addr(nm, t, &svc->addrs[a], i);
			if (rc)
				return nm_fail(p, -EINVAL,
				               "%s.addresses[%zu]: %s is already %s[%d]'s VIP",
				               path, a, s, what, rc - 1);
		}
	}
	return 0;
}

int nm_build_index(struct nm_parse *p, struct netmap *nm)
{
	struct netmap_index *ix = calloc(1, sizeof(*ix));
	size_t n_peer_addrs = 0, n_vips = 0, n_host_vips = 0;
	int rc;

	if (!ix)
		return nm_fail(p, -ENOMEM, "out of memory");
	nm->index = ix;
	for (size_t i = 0; i < nm->n_peers; i++)
		n_peer_addrs += nm->peers[i].n_addrs;
	if (htab_reserve(&ix->tab[NM_TAB_PEER_ADDR], n_peer_addrs) ||
	    htab_reserve(&ix->tab[NM_TAB_ENDPOINT], nm->n_peers) ||
	    htab_reserve(&ix->tab[NM_TAB_PEER_NAME], nm->n_peers))
		return nm_fail(p, -ENOMEM, "out of memory");
	rc = nm_index_add_peers(p, nm);
	if (rc)
		return rc;

	for (size_t i = 0; i < nm->n_services; i++)
		n_vips += nm->services[i].n_addrs;
	for (size_t i = 0; i < nm->n_host_services; i++)
		n_host_vips += nm->host_services[i].n_addrs;
	if (htab_reserve(&ix->tab[NM_TAB_VIP], n_vips) ||
	    htab_reserve(&ix->tab[NM_TAB_HOST_VIP], n_host_vips) ||
	    htab_reserve(&ix->tab[NM_TAB_SVC_NAME], nm->n_services) ||
	    htab_reserve(&ix->tab[NM_TAB_DNS_NAME], nm->n_dns))
		return nm_fail(p, -ENOMEM, "out of memory");
	for (int pass = 0; pass < 2; pass++) {
		rc = nm_index_add_services(p, nm, pass == 1);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < nm->n_dns; i++) {
		rc = nm_put_str(nm, NM_TAB_DNS_NAME, nm->dns[i].name, i);
		if (rc)
			return nm_fail(p, -EINVAL, "dns[%zu].name: \"%s\" already names dns[%d]", i,
			               nm->dns[i].name, rc - 1);
	}
	return 0;
}

/* ---- freeing ----------------------------------------------------------- */

static void nm_node_free(struct netmap_node *node)
{
	free(node->name);
	free(node->user);
	free(node->display_name);
	for (size_t i = 0; i < node->n_tags; i++)
		free(node->tags[i]);
	free(node->tags);
}

static void nm_services_free(struct netmap_service *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].ports);
		free(list[i].hosts);
	}
	free(list);
}

void netmap_free(struct netmap *nm)
{
	if (!nm)
		return;
	free(nm->tailnet);
	nm_node_free(&nm->self);
	for (size_t i = 0; i < nm->n_peers; i++)
		nm_node_free(&nm->peers[i]);
	free(nm->peers);
	nm_services_free(nm->services, nm->n_services);
	nm_services_free(nm->host_services, nm->n_host_services);
	for (size_t i = 0; i < nm->n_rules; i++) {
		free(nm->rules[i].src);
		free(nm->rules[i].proto);
		free(nm->rules[i].dst);
	}
	free(nm->rules);
	for (size_t i = 0; i < nm->n_dns; i++)
		free(nm->dns[i].name);
	free(nm->dns);
	nm_index_free(nm->index);
	memset(nm, 0, sizeof(*nm));
}

/* ---- lookups ----------------------------------------------------------- */

/* Tailnet address keys carry port 0, whatever the caller's port. */
static struct io_addr nm_addr_key(const struct io_addr *a)
{
	struct io_addr k;

	memset(&k, 0, sizeof(k));
	k.family = a->family;
	memcpy(k.ip, a->ip, a->family == IO_AF_INET6 ? 16 : 4);
	return k;
}

int netmap_peer_by_addr(const struct netmap *nm, const struct io_addr *tailnet_addr)
{
	struct io_addr k = nm_addr_key(tailnet_addr);

	return nm_get_addr(nm, NM_TAB_PEER_ADDR, &k);
}

int netmap_peer_by_endpoint(const struct netmap *nm, const struct io_addr *endpoint)
{
	struct io_addr k = nm_addr_key(endpoint);

	k.port = endpoint->port;
	return nm_get_addr(nm, NM_TAB_ENDPOINT, &k);
}

int netmap_peer_by_key(const struct netmap *nm, const uint8_t key[32])
{
	if (!nm->index)
		return -1;
	return (int)htab_find(&nm_ix(nm)->tab[NM_TAB_PEER_KEY], hash_bytes(key, 32),
	                      nm_tab_eq[NM_TAB_PEER_KEY], nm, key);
}

int netmap_peer_by_name(const struct netmap *nm, const char *name)
{
	return nm_get_str(nm, NM_TAB_PEER_NAME, name);
}

const struct netmap_service *netmap_service_by_vip(const struct netmap *nm,
                                                   const struct io_addr *vip)
{
	struct io_addr k = nm_addr_key(vip);
	int32_t i = nm_get_addr(nm, NM_TAB_VIP, &k);

	return i < 0 ? NULL : &nm->services[i];
}

const struct netmap_service *netmap_service_by_name(const struct netmap *nm, const char *name)
{
	int32_t i = nm_get_str(nm, NM_TAB_SVC_NAME, name);

	return i < 0 ? NULL : &nm->services[i];
}

const struct netmap_service *netmap_host_service_by_vip(const struct netmap *nm,
                                                        const struct io_addr *vip)
{
	struct io_addr k = nm_addr_key(vip);
	int32_t i = nm_get_addr(nm, NM_TAB_HOST_VIP, &k);

	return i < 0 ? NULL : &nm->host_services[i];
}

/* Looks a name up as given, lower-cased and without one trailing dot. */
const struct netmap_dns_record *netmap_dns_lookup(const struct netmap *nm, const char *name)
{
	const struct netmap_index *ix = nm->index;
	char buf[NETMAP_MAX_NAME + 2];
	size_t n = strlen(name);

	if (!ix || n == 0 || n > NETMAP_MAX_NAME + 1)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	int32_t i = nm_get_str(nm, NM_TAB_DNS_NAME, buf);
	return i < 0 ? NULL : &nm->dns[i];
}

bool netmap_is_self_addr(const struct netmap *nm, const struct io_addr *addr)
{
	for (size_t i = 0; i < nm->self.n_addrs; i++)
		if (io_addr_equal(&nm->self.addrs[i], addr, false))
			return true;
	return false;
}

static bool nm_prefix_contains(const struct netmap_prefix *pfx, const struct io_addr *a)
{
	unsigned full, rest;

	if (pfx->addr.family == IO_AF_NONE)
		return true;
	if (pfx->addr.family != a->family)
		return false;
	full = pfx->bits / 8;
	rest = pfx->bits % 8;
	if (memcmp(pfx->addr.ip, a->ip, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (a->ip[full] & mask) == pfx->addr.ip[full];
}

/* First-match-wins makes no sense for allow-only rules: any rule that
 * matches source, protocol, destination and port allows. Linear in the
 * rules; the data plane asks only for flow-opening packets. */
bool netmap_filter_allows(const struct netmap *nm, const struct io_addr *src,
                          const struct io_addr *dst, uint8_t proto, uint16_t dst_port)
{
	for (size_t i = 0; i < nm->n_rules; i++) {
		const struct netmap_filter_rule *r = &nm->rules[i];
		bool ok = r->n_proto == 0;

		for (size_t j = 0; !ok && j < r->n_proto; j++)
			ok = r->proto[j] == proto;
		if (!ok)
			continue;
		ok = false;
		for (size_t j = 0; !ok && j < r->n_src; j++)
			ok = nm_prefix_contains(&r->src[j], src);
		if (!ok)
			continue;
		for (size_t j = 0; j < r->n_dst; j++) {
			const struct netmap_filter_dst *d = &r->dst[j];
			if (dst_port >= d->port_first && dst_port <= d->port_last &&
			    nm_prefix_contains(&d->net, dst))
				return true;
		}
	}
	return false;
}
