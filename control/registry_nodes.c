/* Registry nodes: registration (a node's name, user, tags, endpoint and
 * its tailnet addresses), lookups by name and address, and liveness
 * (connected, alive, lost). */
#include "control/registry_int.h"

#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- nodes ------------------------------------------------------------ */

static void reg_node_addrs(uint64_t k, struct io_addr *a4, struct io_addr *a6)
{
	uint32_t v4 = REG_V4_CGNAT + (uint32_t)k;

	io_addr_v4(a4, v4, 0);
	memset(a6, 0, sizeof(*a6));
	a6->family = IO_AF_INET6;
	memcpy(a6->ip, reg_v6_prefix, sizeof(reg_v6_prefix));
	memcpy(a6->ip + 12, a4->ip, 4);
}

int registry_node_index(const struct registry *r, const char *name)
{
	if (!name)
		return -ENOENT;
	return reg_lookup(r, &r->node_by_name, hash_str(name), reg_match_node_name, name);
}

int registry_node_by_addr(const struct registry *r, const struct io_addr *addr)
{
	return reg_lookup(r, &r->node_by_addr, reg_hash_addr(addr), reg_match_node_addr, addr);
}

int registry_node_by_key(const struct registry *r, const uint8_t key[REG_KEY_LEN])
{
	return reg_lookup(r, &r->node_by_key, hash_bytes(key, REG_KEY_LEN), reg_match_node_key,
	                  key);
}

size_t registry_node_count(const struct registry *r)
{
	return r->n_nodes;
}

const struct reg_node *registry_node(const struct registry *r, size_t index)
{
	return index < r->n_nodes ? &r->nodes[index].pub : NULL;
}

bool reg_addr_taken(const struct registry *r, const struct io_addr *a)
{
	return registry_node_by_addr(r, a) >= 0 || registry_service_by_vip(r, a) >= 0;
}

/* Checks a hello (or a persisted node); `check_policy` refuses tags not
 * owned in the current policy. */
int reg_node_info_check(const struct registry *r, const struct reg_node_info *info,
                        bool check_policy, char *err, size_t err_len)
{
	if (!reg_plain_name(info->name, false))
		return err_setf(err, err_len, -EINVAL,
		                "a node name is 1-%d printable characters without spaces",
		                REG_MAX_NAME);
	if (!reg_plain_name(info->user, true))
		return err_setf(err, err_len, -EINVAL, "%s: bad user login", info->name);
	if (!reg_plain_name(info->region, false))
		return err_setf(err, err_len, -EINVAL, "%s: a node needs a region", info->name);
	if (info->endpoint.family != IO_AF_INET && info->endpoint.family != IO_AF_INET6)
		return err_setf(err, err_len, -EINVAL, "%s: a node needs an underlay endpoint",
		                info->name);
	if (info->tls_key &&
	    (strlen(info->tls_key) > REG_MAX_NAME || !reg_plain_name(info->tls_key, false)))
		return err_setf(err, err_len, -EINVAL, "%s: bad TLS key", info->name);
	if (info->n_tags > REG_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d tags per node", info->name,
		                REG_MAX_TAGS);
	for (size_t i = 0; i < info->n_tags; i++) {
		if (!reg_tag_wellformed(info->tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%.80s\" is not a tag (tag:NAME)", info->name,
			                info->tags[i] ? info->tags[i] : "");
		if (check_policy && !policy_tag_known(r->policy, info->tags[i]))
			return err_setf(err, err_len, -EPERM,
			                "%s: tag %s is not owned in the policy (tagOwners)",
			                info->name, info->tags[i]);
	}
	return 0;
}

/* Copies the mutable fields of a node from `info` into `n` (all or nothing). */
static int reg_node_fill(struct reg_node *n, const struct reg_node_info *info)
{
	struct reg_node t = *n;
	size_t i;

	t.user = t.region = t.tls_key = NULL;
	t.n_tags = 0;
	if (reg_strdup(&t.user, info->user) || reg_strdup(&t.region, info->region) ||
	    (info->tls_key && reg_strdup(&t.tls_key, info->tls_key)))
		goto nomem;
	for (i = 0; i < info->n_tags; i++) {
		if (reg_strdup(&t.tags[i], info->tags[i]))
			goto nomem;
		t.n_tags++;
	}
	t.endpoint = info->endpoint;
	free(n->user);
	free(n->region);
	free(n->tls_key);
	reg_tags_free(n->tags, n->n_tags);
	*n = t;
	return 0;
nomem:
	free(t.user);
	free(t.region);
	free(t.tls_key);
	reg_tags_free(t.tags, t.n_tags);
	return -ENOMEM;
}

/* Appends a node with the given addresses (already checked free). */
int reg_node_add(struct registry *r, const struct reg_node_info *info, const struct io_addr *a4,
                 const struct io_addr *a6)
{
	struct reg_node_int *ni;
	size_t idx = r->n_nodes;

	if (reg_grow((void **)&r->nodes, &r->cap_nodes, idx + 1, sizeof(*r->nodes)))
		return -ENOMEM;
	ni = &r->nodes[idx];
	memset(ni, 0, sizeof(*ni));
	if (reg_strdup(&ni->pub.name, info->name))
		return -ENOMEM;
	if (reg_node_fill(&ni->pub, info))
		goto fail;
	ni->pub.addr4 = *a4;
	ni->pub.addr6 = *a6;
	/* Insert into all three entries or none; on failure the node is not counted. */
	if (htab_insert(&r->node_by_name, hash_str(info->name), idx))
		goto fail;
	if (htab_insert(&r->node_by_addr, reg_hash_addr(a4), idx))
		goto fail_name;
	if (htab_insert(&r->node_by_addr, reg_hash_addr(a6), idx))
		goto fail_a4;
	if (info->key) {
		if (htab_insert(&r->node_by_key, hash_bytes(info->key, REG_KEY_LEN), idx))
			goto fail_a6;
		memcpy(ni->pub.key, info->key, REG_KEY_LEN);
		ni->pub.has_key = true;
	}
	r->n_nodes++;
	return (int)idx;
fail_a6:
	htab_remove(&r->node_by_addr, reg_hash_addr(a6), idx);
fail_a4:
	htab_remove(&r->node_by_addr, reg_hash_addr(a4), idx);
fail_name:
	htab_remove(&r->node_by_name, hash_str(info->name), idx);
fail:
	free(ni->pub.name);
	free(ni->pub.user);
	free(ni->pub.region);
	free(ni->pub.tls_key);
	reg_tags_free(ni->pub.tags, ni->pub.n_tags);
	return -ENOMEM;
}

/* A node name and a node key name each other or nothing yet (SEC-1). */
static int reg_node_key_check(const struct registry *r, int idx, const struct reg_node_info *info,
                              char *err, size_t err_len)
{
	const struct reg_node *old = idx >= 0 ? &r->nodes[idx].pub : NULL;
	int owner;

	if (!info->key)
		return 0;
	if (old && old->has_key && memcmp(old->key, info->key, REG_KEY_LEN) != 0 &&
	    !(old->has_next_key && memcmp(old->next_key, info->key, REG_KEY_LEN) == 0))
		return err_setf(err, err_len, -EKEYREJECTED,
		                "node %s is registered with another node key", info->name);
	owner = registry_node_by_key(r, info->key);
	if (owner >= 0 && owner != idx)
		return err_setf(err, err_len, -EKEYREJECTED,
		                "this node key is registered as node %s, not %s",
		                r->nodes[owner].pub.name, info->name);
	return 0;
}

int registry_node_register(struct registry *r, const struct reg_node_info *info, char *err,
                           size_t err_len)
{
	struct io_addr a4, a6;
	int idx, rc;

	if (!info)
		return err_setf(err, err_len, -EINVAL, "no node given");
	idx = registry_node_index(r, info->name);
	const struct reg_node *old = idx >= 0 ? &r->nodes[idx].pub : NULL;
	/* A known node's tags are its record's (control passes them), checked
	 * against the policy when they were given: a tag the policy no longer
	 * owns must not lock the node out. */
	rc = reg_node_info_check(r, info, !old, err, err_len);
	if (rc)
		return rc;
	rc = reg_node_key_check(r, idx, info, err, err_len);
	if (rc)
		return rc;
	if (old && old->key_revoked)
		return err_setf(err, err_len, -EKEYREVOKED,
		                "node %s: its node key was revoked by an admin", info->name);
	if (old && info->key && old->has_next_key &&
	    memcmp(old->next_key, info->key, REG_KEY_LEN) == 0) {
		/* The rotation completes: the old key is no longer taken. */
		struct reg_node *n = &r->nodes[idx].pub;
		htab_remove(&r->node_by_key, hash_bytes(n->key, REG_KEY_LEN), (size_t)idx);
		memcpy(n->key, n->next_key, REG_KEY_LEN);
		n->has_next_key = false;
		r->generation++;
	}
	if (old && info->key && !old->has_key) {
		/* Saved before keys: the first session's key is its key now. */
		if (htab_insert(&r->node_by_key, hash_bytes(info->key, REG_KEY_LEN), (size_t)idx))
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		memcpy(r->nodes[idx].pub.key, info->key, REG_KEY_LEN);
		r->nodes[idx].pub.has_key = true;
	}
	if (old) {
		/* Tags an admin set stand; the hello's claim is ignored (SEC-1). */
		struct reg_node_info upd = *info;
		if (old->tags_by_admin) {
			upd.tags = (const char *const *)old->tags;
			upd.n_tags = old->n_tags;
		}
		if (reg_node_fill(&r->nodes[idx].pub, &upd))
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		r->generation++;
		return idx;
	}
	if (r->n_nodes >= REG_MAX_NODES)
		return err_setf(err, err_len, -ENOSPC, "at most %d nodes", REG_MAX_NODES);
	do {
		if (r->next_node_k > REG_NODE_MAX_K)
			return err_setf(err, err_len, -ENOSPC, "node addresses exhausted");
		reg_node_addrs(r->next_node_k++, &a4, &a6);
	} while (reg_addr_taken(r, &a4) || reg_addr_taken(r, &a6));
	idx = reg_node_add(r, info, &a4, &a6);
	if (idx < 0)
		return err_setf(err, err_len, idx, "out of memory");
	r->generation++;
	return idx;
}

int registry_node_set_tags(struct registry *r, const char *actor, const char *node,
                           const char *const *tags, size_t n_tags, char *err, size_t err_len)
{
	int rc = reg_require_admin(r, actor, "set a node's tags", err, err_len);
	int idx = registry_node_index(r, node);

	if (rc)
		return rc;
	if (idx < 0)
		return err_setf(err, err_len, -ENOENT, "unknown node \"%.80s\"", node ? node : "");
	if (n_tags == 0 || !tags)
		return err_setf(err, err_len, -EINVAL,
		                "%s: give at least one tag (a tagged node stays tagged, CFG-11)",
		                node);
	if (n_tags > REG_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d tags per node", node,
		                REG_MAX_TAGS);
	rc = reg_tags_check(r, node, tags, n_tags, false, true, err, err_len);
	if (rc)
		return rc;
	struct reg_node *n = &r->nodes[idx].pub;
	struct reg_node_info info = {.name = n->name,
	                             .user = n->user,
	                             .region = n->region,
	                             .tags = tags,
	                             .n_tags = n_tags,
	                             .endpoint = n->endpoint,
	                             .tls_key = n->tls_key};
	if (reg_node_fill(n, &info))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	n->tags_by_admin = true;
	r->generation++;
	return 0;
}

void registry_node_set_connected(struct registry *r, size_t index, bool connected)
{
	if (index >= r->n_nodes || r->nodes[index].pub.connected == connected)
		return;
	r->nodes[index].pub.connected = connected;
	r->generation++;
}

void registry_node_set_alive(struct registry *r, size_t index, bool alive)
{
	if (index >= r->n_nodes)
		return;
	struct reg_node *n = &r->nodes[index].pub;
	if (n->alive == alive && !n->lost)
		return;
	n->alive = alive;
	n->lost = false;
	r->generation++;
}

void registry_node_set_lost(struct registry *r, size_t index)
{
	if (index >= r->n_nodes)
		return;
	struct reg_node *n = &r->nodes[index].pub;
	if (n->lost)
		return;
	n->alive = false;
	n->lost = true;
	r->generation++;
}

int registry_node_revoke_key(struct registry *r, const char *actor, const char *node, char *err,
                             size_t err_len)
{
	int rc = reg_require_admin(r, actor, "revoke a node key", err, err_len);
	int idx = registry_node_index(r, node);

	if (rc)
		return rc;
	if (idx < 0)
		return err_setf(err, err_len, -ENOENT, "unknown node \"%.80s\"", node ? node : "");
	if (r->nodes[idx].pub.key_revoked)
		return err_setf(err, err_len, -EALREADY, "node %s: its key is already revoked",
		                node);
	r->nodes[idx].pub.key_revoked = true;
	r->generation++;
	return 0;
}

int registry_node_set_next_key(struct registry *r, size_t index, const uint8_t key[REG_KEY_LEN],
                               char *err, size_t err_len)
{
	struct reg_node *n;
	int owner;

	if (index >= r->n_nodes)
		return err_setf(err, err_len, -ENOENT, "no node %zu", index);
	n = &r->nodes[index].pub;
	if (n->has_next_key && memcmp(n->next_key, key, REG_KEY_LEN) == 0)
		return 0;
	if (n->has_key && memcmp(n->key, key, REG_KEY_LEN) == 0)
		return err_setf(err, err_len, -EINVAL, "%s: that is its current key", n->name);
	owner = registry_node_by_key(r, key);
	if (owner >= 0)
		return err_setf(err, err_len, -EEXIST, "%s: that key is node %s's", n->name,
		                r->nodes[owner].pub.name);
	if (n->has_next_key)
		htab_remove(&r->node_by_key, hash_bytes(n->next_key, REG_KEY_LEN), index);
	n->has_next_key = false;
	if (htab_insert(&r->node_by_key, hash_bytes(key, REG_KEY_LEN), index))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	memcpy(n->next_key, key, REG_KEY_LEN);
	n->has_next_key = true;
	r->generation++;
	return 0;
}
