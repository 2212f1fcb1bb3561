/* The registry (see registry.h for the contract). Storage: plain arrays in
 * order of creation, with open-addressing hash indexes (linear probing,
 * backward-shift deletion) over them: nodes by name and by address,
 * services by name and by VIP, hosts by (service, node). Host records are
 * also listed per service name ("groups") and per node so that ranking is
 * O(hosts of the service) and an advertisement O(hosts of the node). */
#include "control/registry.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REG_V4_CGNAT      0x64400000u /* 100.64.0.0/10 */
#define REG_V4_CGNAT_MASK 0xffc00000u
#define REG_V4_SVC_BASE   0x64640000u /* 100.100.0.0 */
#define REG_V4_QUAD100    0x64646464u /* 100.100.100.100: MagicDNS, never a VIP */
#define REG_SVC_MAX_K     (REG_V4_CGNAT + ~REG_V4_CGNAT_MASK - REG_V4_SVC_BASE)
#define REG_NODE_MAX_K    (REG_V4_SVC_BASE - REG_V4_CGNAT - 1)

static const uint8_t reg_v6_prefix[6] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};

/* A growable list of indexes. */
struct reg_vec {
	size_t n, cap;
	size_t *v;
};

struct reg_slot {
	uint64_t hash;
	size_t idx1; /* index + 1; 0 = empty */
};

struct reg_index {
	size_t cap, n; /* cap: 0 or a power of two */
	struct reg_slot *slots;
};

struct reg_node_int {
	struct reg_node pub;
	struct reg_vec hosts; /* host record indexes naming this node */
};

/* The host records naming one service name (defined or not). */
struct reg_group {
	char *service;
	struct reg_vec hosts;
};

struct registry {
	char *tailnet;
	uint64_t generation;
	uint64_t next_node_k, next_svc_k;
	struct policy *policy;
	reg_latency_fn latency_fn;
	void *latency_ctx;

	size_t n_users, cap_users;
	struct reg_user *users;

	size_t n_nodes, cap_nodes;
	struct reg_node_int *nodes;
	struct reg_index node_by_name, node_by_addr;

	size_t n_services, cap_services;
	struct reg_service *services;
	struct reg_index svc_by_name, svc_by_vip;

	size_t n_hosts, cap_hosts;
	struct reg_host *hosts;
	struct reg_index host_by_key;

	size_t n_groups, cap_groups;
	struct reg_group *groups;
	struct reg_index group_by_name;
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t reg_fnv(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define REG_FNV_INIT 0xcbf29ce484222325ull

/* splitmix64 finalizer: spreads FNV's weak low/high bits. */
static uint64_t reg_mix(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

static uint64_t reg_hash_str(const char *s)
{
	return reg_mix(reg_fnv(REG_FNV_INIT, s, strlen(s)));
}

static uint64_t reg_hash_pair(const char *a, const char *b)
{
	uint64_t h = reg_fnv(REG_FNV_INIT, a, strlen(a) + 1);

	return reg_mix(reg_fnv(h, b, strlen(b)));
}

static uint64_t reg_hash_addr(const struct io_addr *a)
{
	uint8_t fam = a->family;
	uint64_t h = reg_fnv(REG_FNV_INIT, &fam, 1);

	return reg_mix(reg_fnv(h, a->ip, fam == IO_AF_INET6 ? 16 : 4));
}

static bool reg_addr_same(const struct io_addr *a, const struct io_addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->ip, b->ip, a->family == IO_AF_INET6 ? 16 : 4) == 0;
}

static int reg_strdup(char **out, const char *s)
{
	char *c = strdup(s ? s : "");

	if (!c)
		return -ENOMEM;
	*out = c;
	return 0;
}

static int reg_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int reg_vec_push(struct reg_vec *v, size_t x)
{
	int rc = reg_grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v));

	if (rc)
		return rc;
	v->v[v->n++] = x;
	return 0;
}

/* Removes the first `x` (order not kept). */
static void reg_vec_remove(struct reg_vec *v, size_t x)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i] == x) {
			v->v[i] = v->v[--v->n];
			return;
		}
	}
}

static void reg_vec_replace(struct reg_vec *v, size_t from, size_t to)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i] == from) {
			v->v[i] = to;
			return;
		}
	}
}

/* ---- the hash index --------------------------------------------------- */

typedef bool (*reg_match_fn)(const struct registry *r, size_t idx, const void *key);

static void reg_index_free(struct reg_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

static void reg_index_put(struct reg_index *ix, uint64_t hash, size_t idx)
{
	size_t mask = ix->cap - 1, i = hash & mask;

	while (ix->slots[i].idx1)
		i = (i + 1) & mask;
	ix->slots[i].hash = hash;
	ix->slots[i].idx1 = idx + 1;
	ix->n++;
}

/* Adds (hash -> idx), growing the table to keep the load under 1/2. */
static int reg_index_insert(struct reg_index *ix, uint64_t hash, size_t idx)
{
	if ((ix->n + 1) * 2 > ix->cap) {
		struct reg_index big = {.cap = ix->cap ? ix->cap * 2 : 64};

		big.slots = calloc(big.cap, sizeof(*big.slots));
		if (!big.slots)
			return -ENOMEM;
		for (size_t i = 0; i < ix->cap; i++)
			if (ix->slots[i].idx1)
				reg_index_put(&big, ix->slots[i].hash, ix->slots[i].idx1 - 1);
		free(ix->slots);
		*ix = big;
	}
	reg_index_put(ix, hash, idx);
	return 0;
}

static long reg_index_find(const struct reg_index *ix, const struct registry *r, uint64_t hash,
                           reg_match_fn match, const void *key)
{
	size_t mask, i;

	if (!ix->cap)
		return -1;
	mask = ix->cap - 1;
	for (i = hash & mask; ix->slots[i].idx1; i = (i + 1) & mask) {
		if (ix->slots[i].hash == hash && match(r, ix->slots[i].idx1 - 1, key))
			return (long)(ix->slots[i].idx1 - 1);
	}
	return -1;
}

static long reg_index_slot_of(const struct reg_index *ix, uint64_t hash, size_t idx)
{
	size_t mask, i;

	if (!ix->cap)
		return -1;
	mask = ix->cap - 1;
	for (i = hash & mask; ix->slots[i].idx1; i = (i + 1) & mask)
		if (ix->slots[i].idx1 == idx + 1)
			return (long)i;
	return -1;
}

/* Removes the entry (hash -> idx); backward shift keeps probe chains whole. */
static void reg_index_remove(struct reg_index *ix, uint64_t hash, size_t idx)
{
	long s = reg_index_slot_of(ix, hash, idx);
	size_t mask = ix->cap - 1, hole, j;

	CHECK(s >= 0);
	hole = (size_t)s;
	for (j = (hole + 1) & mask; ix->slots[j].idx1; j = (j + 1) & mask) {
		size_t home = ix->slots[j].hash & mask;
		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);

		if (!stays) {
			ix->slots[hole] = ix->slots[j];
			hole = j;
		}
	}
	ix->slots[hole].idx1 = 0;
	ix->n--;
}

static void reg_index_retarget(struct reg_index *ix, uint64_t hash, size_t from, size_t to)
{
	long s = reg_index_slot_of(ix, hash, from);

	CHECK(s >= 0);
	ix->slots[s].idx1 = to + 1;
}

static bool reg_match_node_name(const struct registry *r, size_t idx, const void *key)
{
	return strcmp(r->nodes[idx].pub.name, key) == 0;
}

static bool reg_match_node_addr(const struct registry *r, size_t idx, const void *key)
{
	const struct reg_node *n = &r->nodes[idx].pub;

	return reg_addr_same(&n->addr4, key) || reg_addr_same(&n->addr6, key);
}

static bool reg_match_svc_name(const struct registry *r, size_t idx, const void *key)
{
	return strcmp(r->services[idx].name, key) == 0;
}

static bool reg_match_svc_vip(const struct registry *r, size_t idx, const void *key)
{
	const struct reg_service *s = &r->services[idx];

	return reg_addr_same(&s->vip4, key) || reg_addr_same(&s->vip6, key);
}

static bool reg_match_group(const struct registry *r, size_t idx, const void *key)
{
	return strcmp(r->groups[idx].service, key) == 0;
}

struct reg_host_key {
	const char *service, *node;
};

static bool reg_match_host(const struct registry *r, size_t idx, const void *key)
{
	const struct reg_host_key *k = key;

	return strcmp(r->hosts[idx].service, k->service) == 0 &&
	       strcmp(r->hosts[idx].node, k->node) == 0;
}

/* ---- names, roles, states --------------------------------------------- */

static bool reg_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* SVC-1: "svc:" + one DNS label; the message names the rule broken. */
bool registry_service_name_valid(const char *name, char *err, size_t err_len)
{
	const char *label;
	size_t len;

	if (!name) {
		err_setf(err, err_len, -EINVAL, "a service needs a name");
		return false;
	}
	if (strncmp(name, "svc:", 4) != 0) {
		err_setf(err, err_len, -EINVAL, "%.80s: a service name must start with \"svc:\"",
		         name);
		return false;
	}
	label = name + 4;
	len = strlen(label);
	if (len == 0) {
		err_setf(err, err_len, -EINVAL,
		         "%.80s: a service name needs a label after \"svc:\" (1-63 characters)",
		         name);
		return false;
	}
	if (len > 63) {
		err_setf(err, err_len, -EINVAL,
		         "%.80s...: a service name's label is at most 63 characters (it has %zu)",
		         name, len);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (!reg_alnum(label[i]) && label[i] != '-') {
			err_setf(err, err_len, -EINVAL,
			         "%.80s: a service name's label may hold only letters, digits and "
			         "'-' (one DNS label)",
			         name);
			return false;
		}
	}
	if (!reg_alnum(label[0])) {
		err_setf(err, err_len, -EINVAL,
		         "%.80s: a service name's label must start with a letter or digit", name);
		return false;
	}
	if (!reg_alnum(label[len - 1])) {
		err_setf(err, err_len, -EINVAL,
		         "%.80s: a service name's label must end with a letter or digit", name);
		return false;
	}
	return true;
}

static const char *const reg_role_names[] = {
    [REG_ROLE_NONE] = "none",     [REG_ROLE_OWNER] = "owner",
    [REG_ROLE_ADMIN] = "admin",   [REG_ROLE_NETWORK_ADMIN] = "network-admin",
    [REG_ROLE_MEMBER] = "member",
};

const char *reg_role_name(enum reg_role role)
{
	if ((unsigned)role >= sizeof(reg_role_names) / sizeof(reg_role_names[0]))
		return "none";
	return reg_role_names[role];
}

int reg_role_parse(const char *text, enum reg_role *out)
{
	for (unsigned i = 0; text && i < sizeof(reg_role_names) / sizeof(reg_role_names[0]); i++) {
		if (strcasecmp(text, reg_role_names[i]) == 0) {
			*out = (enum reg_role)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const reg_state_names[] = {
    [REG_STATE_OFFLINE] = "Offline",
    [REG_STATE_PENDING_APPROVAL] = "Pending approval",
    [REG_STATE_NEEDS_CONFIGURATION] = "Needs configuration",
    [REG_STATE_CONNECTED] = "Connected",
    [REG_STATE_PRE_APPROVED] = "Pre-approved",
    [REG_STATE_DRAINING] = "Draining",
    [REG_STATE_REJECTED] = "Rejected",
};

const char *reg_state_name(enum reg_state s)
{
	if ((unsigned)s >= sizeof(reg_state_names) / sizeof(reg_state_names[0]))
		return "Offline";
	return reg_state_names[s];
}

int reg_state_parse(const char *text, enum reg_state *out)
{
	for (unsigned i = 0; text && i < sizeof(reg_state_names) / sizeof(reg_state_names[0]);
	     i++) {
		if (strcasecmp(text, reg_state_names[i]) == 0) {
			*out = (enum reg_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const reg_decision_names[] = {
    [REG_DECISION_NONE] = "none",
    [REG_DECISION_APPROVED] = "approved",
    [REG_DECISION_REJECTED] = "rejected",
    [REG_DECISION_REVOKED] = "revoked",
};

/* Tags: "tag:" + letters, digits, '-', '_' (what the policy can own). */
static bool reg_tag_wellformed(const char *t)
{
	size_t len;

	if (!t || strncmp(t, "tag:", 4) != 0)
		return false;
	len = strlen(t + 4);
	if (len == 0 || len + 4 > REG_MAX_NAME)
		return false;
	for (size_t i = 4; t[i]; i++)
		if (!reg_alnum(t[i]) && t[i] != '-' && t[i] != '_')
			return false;
	return true;
}

/* Names of nodes, users and regions: printable, no spaces, bounded. */
static bool reg_plain_name(const char *s, bool allow_empty)
{
	size_t len;

	if (!s)
		return allow_empty;
	len = strlen(s);
	if ((!len && !allow_empty) || len > REG_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* ---- lifecycle -------------------------------------------------------- */

int registry_new(struct registry **out, const char *tailnet)
{
	struct registry *r;
	int rc = -ENOMEM;

	if (!reg_plain_name(tailnet, false))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->next_node_k = 1;
	r->next_svc_k = 1;
	if (reg_strdup(&r->tailnet, tailnet))
		goto fail;
	rc = policy_new_empty(&r->policy);
	if (rc)
		goto fail;
	*out = r;
	return 0;
fail:
	registry_free(r);
	return rc;
}

static void reg_tags_free(char **tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
}

static void reg_service_clear(struct reg_service *s)
{
	free(s->name);
	free(s->description);
	reg_tags_free(s->tags, s->n_tags);
	memset(s, 0, sizeof(*s));
}

static void reg_host_clear(struct reg_host *h)
{
	free(h->service);
	free(h->node);
	memset(h, 0, sizeof(*h));
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	if (r->policy)
		policy_free(r->policy);
	for (size_t i = 0; i < r->n_users; i++) {
		free(r->users[i].login);
		free(r->users[i].display_name);
		free(r->users[i].token);
	}
	free(r->users);
	for (size_t i = 0; i < r->n_nodes; i++) {
		struct reg_node *n = &r->nodes[i].pub;

		free(n->name);
		free(n->user);
		free(n->region);
		free(n->tls_key);
		reg_tags_free(n->tags, n->n_tags);
		free(r->nodes[i].hosts.v);
	}
	free(r->nodes);
	for (size_t i = 0; i < r->n_services; i++)
		reg_service_clear(&r->services[i]);
	free(r->services);
	for (size_t i = 0; i < r->n_hosts; i++)
		reg_host_clear(&r->hosts[i]);
	free(r->hosts);
	for (size_t i = 0; i < r->n_groups; i++) {
		free(r->groups[i].service);
		free(r->groups[i].hosts.v);
	}
	free(r->groups);
	reg_index_free(&r->node_by_name);
	reg_index_free(&r->node_by_addr);
	reg_index_free(&r->svc_by_name);
	reg_index_free(&r->svc_by_vip);
	reg_index_free(&r->host_by_key);
	reg_index_free(&r->group_by_name);
	free(r->tailnet);
	free(r);
}

uint64_t registry_generation(const struct registry *r)
{
	return r->generation;
}

const char *registry_tailnet(const struct registry *r)
{
	return r->tailnet;
}

void registry_set_latency_fn(struct registry *r, reg_latency_fn fn, void *ctx)
{
	r->latency_fn = fn;
	r->latency_ctx = ctx;
}

/* ---- users ------------------------------------------------------------ */

static long reg_user_find(const struct registry *r, const char *login)
{
	for (size_t i = 0; login && i < r->n_users; i++)
		if (strcmp(r->users[i].login, login) == 0)
			return (long)i;
	return -1;
}

/* Creates or updates a user; a token must be unique among users. */
int registry_user_set(struct registry *r, const char *login, enum reg_role role,
                      const char *display_name, const char *token, char *err, size_t err_len)
{
	long i = reg_user_find(r, login);
	struct reg_user u = {.role = role};

	if (!reg_plain_name(login, false))
		return err_setf(err, err_len, -EINVAL,
		                "a user login is 1-%d printable characters without spaces",
		                REG_MAX_NAME);
	if (role <= REG_ROLE_NONE || role > REG_ROLE_MEMBER)
		return err_setf(err, err_len, -EINVAL, "%s: unknown role", login);
	if (display_name && strlen(display_name) > REG_MAX_NAME)
		return err_setf(err, err_len, -EINVAL, "%s: display name longer than %d", login,
		                REG_MAX_NAME);
	if (token && !reg_plain_name(token, false))
		return err_setf(err, err_len, -EINVAL,
		                "%s: a token is 1-%d printable characters without spaces", login,
		                REG_MAX_NAME);
	if (token) {
		const struct reg_user *o = registry_user_by_token(r, token);

		if (o && strcmp(o->login, login) != 0)
			return err_setf(err, err_len, -EEXIST, "%s: token already belongs to %s",
			                login, o->login);
	}
	if (i < 0 && r->n_users >= REG_MAX_USERS)
		return err_setf(err, err_len, -ENOSPC, "at most %d users", REG_MAX_USERS);
	if (reg_strdup(&u.login, login) || reg_strdup(&u.display_name, display_name) ||
	    (token && reg_strdup(&u.token, token)))
		goto nomem;
	if (i < 0) {
		if (reg_grow((void **)&r->users, &r->cap_users, r->n_users + 1, sizeof(u)))
			goto nomem;
		r->users[r->n_users++] = u;
	} else {
		free(r->users[i].login);
		free(r->users[i].display_name);
		free(r->users[i].token);
		r->users[i] = u;
	}
	r->generation++;
	return 0;
nomem:
	free(u.login);
	free(u.display_name);
	free(u.token);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

const struct reg_user *registry_user(const struct registry *r, const char *login)
{
	long i = reg_user_find(r, login);

	return i < 0 ? NULL : &r->users[i];
}

const struct reg_user *registry_user_by_token(const struct registry *r, const char *token)
{
	if (!token || !*token)
		return NULL;
	for (size_t i = 0; i < r->n_users; i++)
		if (r->users[i].token && strcmp(r->users[i].token, token) == 0)
			return &r->users[i];
	return NULL;
}

bool registry_is_admin(const struct registry *r, const char *login)
{
	const struct reg_user *u = registry_user(r, login);

	return u && (u->role == REG_ROLE_OWNER || u->role == REG_ROLE_ADMIN ||
	             u->role == REG_ROLE_NETWORK_ADMIN);
}

/* SVC-6/APR-2: 0 when `actor` may act, else -EPERM with the reason. */
static int reg_require_admin(const struct registry *r, const char *actor, const char *what,
                             char *err, size_t err_len)
{
	const struct reg_user *u = registry_user(r, actor);

	if (registry_is_admin(r, actor))
		return 0;
	return err_setf(
	    err, err_len, -EPERM, "%.100s (%s) may not %s: only owner, admin or network-admin",
	    actor ? actor : "(nobody)", u ? reg_role_name(u->role) : "unknown user", what);
}

/* ---- policy ----------------------------------------------------------- */

int registry_set_policy(struct registry *r, const char *actor, struct policy *p, char *err,
                        size_t err_len)
{
	int rc;

	if (actor) {
		rc = reg_require_admin(r, actor, "change the policy", err, err_len);
		if (rc)
			return rc;
	}
	if (!p)
		return err_setf(err, err_len, -EINVAL, "no policy given");
	if (r->policy)
		policy_free(r->policy);
	r->policy = p;
	r->generation++;
	return 0;
}

const struct policy *registry_policy(const struct registry *r)
{
	return r->policy;
}

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
	long i;

	if (!name)
		return -ENOENT;
	i = reg_index_find(&r->node_by_name, r, reg_hash_str(name), reg_match_node_name, name);
	return i < 0 ? -ENOENT : (int)i;
}

int registry_node_by_addr(const struct registry *r, const struct io_addr *addr)
{
	long i =
	    reg_index_find(&r->node_by_addr, r, reg_hash_addr(addr), reg_match_node_addr, addr);

	return i < 0 ? -ENOENT : (int)i;
}

size_t registry_node_count(const struct registry *r)
{
	return r->n_nodes;
}

const struct reg_node *registry_node(const struct registry *r, size_t index)
{
	return index < r->n_nodes ? &r->nodes[index].pub : NULL;
}

static bool reg_addr_taken(const struct registry *r, const struct io_addr *a)
{
	return registry_node_by_addr(r, a) >= 0 || registry_service_by_vip(r, a) >= 0;
}

/* Checks a hello (or a persisted node); `check_policy` refuses tags not
 * owned in the current policy. */
static int reg_node_info_check(const struct registry *r, const struct reg_node_info *info,
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
static int reg_node_add(struct registry *r, const struct reg_node_info *info,
                        const struct io_addr *a4, const struct io_addr *a6)
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
	if (reg_index_insert(&r->node_by_name, reg_hash_str(info->name), idx))
		goto fail;
	if (reg_index_insert(&r->node_by_addr, reg_hash_addr(a4), idx))
		goto fail_name;
	if (reg_index_insert(&r->node_by_addr, reg_hash_addr(a6), idx))
		goto fail_a4;
	r->n_nodes++;
	return (int)idx;
fail_a4:
	reg_index_remove(&r->node_by_addr, reg_hash_addr(a4), idx);
fail_name:
	reg_index_remove(&r->node_by_name, reg_hash_str(info->name), idx);
fail:
	free(ni->pub.name);
	free(ni->pub.user);
	free(ni->pub.region);
	free(ni->pub.tls_key);
	reg_tags_free(ni->pub.tags, ni->pub.n_tags);
	return -ENOMEM;
}

int registry_node_register(struct registry *r, const struct reg_node_info *info, char *err,
                           size_t err_len)
{
	struct io_addr a4, a6;
	int idx, rc;

	if (!info)
		return err_setf(err, err_len, -EINVAL, "no node given");
	rc = reg_node_info_check(r, info, true, err, err_len);
	if (rc)
		return rc;
	idx = registry_node_index(r, info->name);
	if (idx >= 0) {
		if (reg_node_fill(&r->nodes[idx].pub, info))
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

/* ---- services --------------------------------------------------------- */

size_t registry_service_count(const struct registry *r)
{
	return r->n_services;
}

const struct reg_service *registry_service(const struct registry *r, size_t index)
{
	return index < r->n_services ? &r->services[index] : NULL;
}

int registry_service_index(const struct registry *r, const char *name)
{
	long i;

	if (!name)
		return -ENOENT;
	i = reg_index_find(&r->svc_by_name, r, reg_hash_str(name), reg_match_svc_name, name);
	return i < 0 ? -ENOENT : (int)i;
}

int registry_service_by_vip(const struct registry *r, const struct io_addr *vip)
{
	long i = reg_index_find(&r->svc_by_vip, r, reg_hash_addr(vip), reg_match_svc_vip, vip);

	return i < 0 ? -ENOENT : (int)i;
}

static const struct reg_service *reg_service_named(const struct registry *r, const char *name)
{
	int i = registry_service_index(r, name);

	return i < 0 ? NULL : &r->services[i];
}

/* "tcp:N" or "tcp:N-M" with 1 <= N <= M <= 65535, digits only. */
static int reg_port_parse(const char *text, struct reg_port_range *out, char *err, size_t err_len)
{
	const char *p;
	unsigned long v[2] = {0, 0};
	int n = 0;

	if (!text)
		return err_setf(err, err_len, -EINVAL, "a port entry is missing");
	if (strncmp(text, "tcp:", 4) != 0)
		return err_setf(err, err_len, -EINVAL,
		                "%.40s: services carry TCP only (tcp:N or tcp:N-M)", text);
	for (p = text + 4; n < 2; n++) {
		size_t digits = 0;

		while (*p >= '0' && *p <= '9' && digits < 6) {
			v[n] = v[n] * 10 + (unsigned long)(*p - '0');
			p++;
			digits++;
		}
		if (!digits || (*p >= '0' && *p <= '9'))
			return err_setf(err, err_len, -EINVAL,
			                "%.40s: a port is a number 1-65535 (tcp:N or tcp:N-M)",
			                text);
		if (v[n] < 1 || v[n] > 65535)
			return err_setf(err, err_len, -EINVAL, "%.40s: port %lu is outside 1-65535",
			                text, v[n]);
		if (*p == '\0')
			break;
		if (*p != '-' || n == 1)
			return err_setf(err, err_len, -EINVAL,
			                "%.40s: a port entry is tcp:N or tcp:N-M", text);
		p++;
	}
	if (n == 0)
		v[1] = v[0];
	if (v[0] > v[1])
		return err_setf(err, err_len, -EINVAL,
		                "%.40s: a range's first port exceeds its last", text);
	out->first = (uint16_t)v[0];
	out->last = (uint16_t)v[1];
	return 0;
}

/* Validates a definition into `s` (fields newly allocated; `s` zeroed on
 * failure). Tags are checked against the policy when `check_policy`. */
static int reg_service_build(const struct registry *r, const struct reg_service_def *def,
                             bool check_policy, struct reg_service *s, char *err, size_t err_len)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (!def)
		return err_setf(err, err_len, -EINVAL, "no service definition");
	if ((def->n_ports && !def->ports) || (def->n_tags && !def->tags))
		return err_setf(err, err_len, -EINVAL, "%.80s: port or tag list missing",
		                def->name ? def->name : "(null)");
	if (!registry_service_name_valid(def->name, err, err_len))
		return -EINVAL;
	if (def->description && strlen(def->description) > REG_MAX_DESC)
		return err_setf(err, err_len, -E2BIG, "%s: a description is at most %d bytes",
		                def->name, REG_MAX_DESC);
	if (def->n_ports == 0)
		return err_setf(err, err_len, -EINVAL,
		                "%s: a service needs ports (tcp:N, tcp:N-M or do-not-validate)",
		                def->name);
	if (def->n_ports > REG_MAX_PORTS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d port entries", def->name,
		                REG_MAX_PORTS);
	if (def->n_tags == 0)
		return err_setf(err, err_len, -EINVAL, "%s: a service needs at least one tag",
		                def->name);
	if (def->n_tags > REG_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d tags per service", def->name,
		                REG_MAX_TAGS);
	for (size_t i = 0; i < def->n_ports; i++) {
		if (def->ports[i] && strcmp(def->ports[i], "do-not-validate") == 0) {
			if (def->n_ports != 1)
				return err_setf(err, err_len, -EINVAL,
				                "%s: do-not-validate must be the only port entry",
				                def->name);
			s->do_not_validate = true;
			continue;
		}
		rc = reg_port_parse(def->ports[i], &s->ports[i], err, err_len);
		if (rc)
			return rc;
	}
	s->n_ports = s->do_not_validate ? 0 : def->n_ports;
	for (size_t i = 0; i < def->n_tags; i++) {
		if (!reg_tag_wellformed(def->tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%.80s\" is not a tag (tag:NAME)", def->name,
			                def->tags[i] ? def->tags[i] : "");
		if (check_policy && !policy_tag_known(r->policy, def->tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: tag %s is not owned in the policy (tagOwners)",
			                def->name, def->tags[i]);
	}
	if (reg_strdup(&s->name, def->name) || reg_strdup(&s->description, def->description))
		goto nomem;
	for (size_t i = 0; i < def->n_tags; i++) {
		if (reg_strdup(&s->tags[i], def->tags[i]))
			goto nomem;
		s->n_tags++;
	}
	return 0;
nomem:
	reg_service_clear(s);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

static void reg_svc_vips(uint64_t k, struct io_addr *v4, struct io_addr *v6)
{
	io_addr_v4(v4, REG_V4_SVC_BASE + (uint32_t)k, 0);
	memset(v6, 0, sizeof(*v6));
	v6->family = IO_AF_INET6;
	memcpy(v6->ip, reg_v6_prefix, sizeof(reg_v6_prefix));
	v6->ip[6] = 0xab;
	v6->ip[7] = 0x12;
	for (int i = 0; i < 8; i++)
		v6->ip[15 - i] = (uint8_t)(k >> (8 * i));
}

/* Rebuilds the name and VIP indexes over services[] (after a delete). */
static int reg_service_reindex(struct registry *r)
{
	reg_index_free(&r->svc_by_name);
	reg_index_free(&r->svc_by_vip);
	for (size_t i = 0; i < r->n_services; i++) {
		const struct reg_service *s = &r->services[i];

		if (reg_index_insert(&r->svc_by_name, reg_hash_str(s->name), i) ||
		    reg_index_insert(&r->svc_by_vip, reg_hash_addr(&s->vip4), i) ||
		    reg_index_insert(&r->svc_by_vip, reg_hash_addr(&s->vip6), i))
			return -ENOMEM;
	}
	return 0;
}

/* Appends a built service `s` (ownership moves on success) with its VIPs set. */
static int reg_service_add(struct registry *r, struct reg_service *s)
{
	size_t idx = r->n_services;
	uint64_t hn = reg_hash_str(s->name), h4 = reg_hash_addr(&s->vip4);

	if (reg_grow((void **)&r->services, &r->cap_services, idx + 1, sizeof(*r->services)))
		return -ENOMEM;
	r->services[idx] = *s;
	r->n_services++;
	if (reg_index_insert(&r->svc_by_name, hn, idx))
		goto fail;
	if (reg_index_insert(&r->svc_by_vip, h4, idx))
		goto fail_name;
	if (reg_index_insert(&r->svc_by_vip, reg_hash_addr(&s->vip6), idx))
		goto fail_v4;
	memset(s, 0, sizeof(*s));
	return 0;
fail_v4:
	reg_index_remove(&r->svc_by_vip, h4, idx);
fail_name:
	reg_index_remove(&r->svc_by_name, hn, idx);
fail:
	r->n_services--;
	return -ENOMEM;
}

int registry_define_service(struct registry *r, const char *actor,
                            const struct reg_service_def *def, char *err, size_t err_len)
{
	struct reg_service s;
	int rc, idx;

	rc = reg_require_admin(r, actor, "define services", err, err_len);
	if (rc)
		return rc;
	rc = reg_service_build(r, def, true, &s, err, err_len);
	if (rc)
		return rc;
	idx = registry_service_index(r, def->name);
	if (idx >= 0) {
		s.vip4 = r->services[idx].vip4;
		s.vip6 = r->services[idx].vip6;
		reg_service_clear(&r->services[idx]);
		r->services[idx] = s;
		r->generation++;
		return 0;
	}
	if (r->n_services >= REG_MAX_SERVICES) {
		rc = err_setf(err, err_len, -ENOSPC, "at most %d services", REG_MAX_SERVICES);
		goto fail;
	}
	do {
		if (r->next_svc_k > REG_SVC_MAX_K) {
			rc = err_setf(err, err_len, -ENOSPC, "service addresses exhausted");
			goto fail;
		}
		reg_svc_vips(r->next_svc_k++, &s.vip4, &s.vip6);
	} while (io_addr_v4_host(&s.vip4) == REG_V4_QUAD100 || reg_addr_taken(r, &s.vip4) ||
	         reg_addr_taken(r, &s.vip6));
	rc = reg_service_add(r, &s);
	if (rc) {
		rc = err_setf(err, err_len, rc, "out of memory");
		goto fail;
	}
	r->generation++;
	return 0;
fail:
	reg_service_clear(&s);
	return rc;
}

/* ---- hosts ------------------------------------------------------------ */

size_t registry_host_count(const struct registry *r)
{
	return r->n_hosts;
}

const struct reg_host *registry_host(const struct registry *r, size_t index)
{
	return index < r->n_hosts ? &r->hosts[index] : NULL;
}

int registry_host_index(const struct registry *r, const char *service, const char *node)
{
	struct reg_host_key k = {service, node};
	long i;

	if (!service || !node)
		return -ENOENT;
	i = reg_index_find(&r->host_by_key, r, reg_hash_pair(service, node), reg_match_host, &k);
	return i < 0 ? -ENOENT : (int)i;
}

static struct reg_group *reg_group_find(const struct registry *r, const char *service)
{
	long i =
	    reg_index_find(&r->group_by_name, r, reg_hash_str(service), reg_match_group, service);

	return i < 0 ? NULL : &r->groups[i];
}

static struct reg_group *reg_group_get(struct registry *r, const char *service)
{
	struct reg_group *g = reg_group_find(r, service);
	size_t idx = r->n_groups;

	if (g)
		return g;
	if (reg_grow((void **)&r->groups, &r->cap_groups, idx + 1, sizeof(*r->groups)))
		return NULL;
	g = &r->groups[idx];
	memset(g, 0, sizeof(*g));
	if (reg_strdup(&g->service, service))
		return NULL;
	if (reg_index_insert(&r->group_by_name, reg_hash_str(service), idx)) {
		free(g->service);
		return NULL;
	}
	r->n_groups++;
	return g;
}

/* Finds or creates the record for (service, node index). */
static int reg_host_get(struct registry *r, const char *service, size_t node, char *err,
                        size_t err_len)
{
	const char *node_name = r->nodes[node].pub.name;
	int idx = registry_host_index(r, service, node_name);
	struct reg_group *g;
	struct reg_host *h;
	size_t hi = r->n_hosts;

	if (idx >= 0)
		return idx;
	g = reg_group_get(r, service);
	if (!g)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	if (g->hosts.n >= REG_MAX_HOSTS)
		return err_setf(err, err_len, -ENOSPC, "%s: at most %d hosts per service", service,
		                REG_MAX_HOSTS);
	if (reg_grow((void **)&r->hosts, &r->cap_hosts, hi + 1, sizeof(*r->hosts)))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	h = &r->hosts[hi];
	memset(h, 0, sizeof(*h));
	if (reg_strdup(&h->service, service) || reg_strdup(&h->node, node_name))
		goto nomem;
	if (reg_vec_push(&g->hosts, hi))
		goto nomem;
	if (reg_vec_push(&r->nodes[node].hosts, hi))
		goto nomem_g;
	if (reg_index_insert(&r->host_by_key, reg_hash_pair(service, node_name), hi))
		goto nomem_n;
	r->n_hosts++;
	return (int)hi;
nomem_n:
	r->nodes[node].hosts.n--;
nomem_g:
	g->hosts.n--;
nomem:
	reg_host_clear(h);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

/* Removes host record `hi` when it neither advertises nor carries a
 * decision; the last record moves into its place. */
static void reg_host_gc(struct registry *r, size_t hi)
{
	struct reg_host *h = &r->hosts[hi];
	size_t last = r->n_hosts - 1;
	int node = registry_node_index(r, h->node);

	if (h->advertising || h->decision != REG_DECISION_NONE)
		return;
	CHECK(node >= 0);
	reg_index_remove(&r->host_by_key, reg_hash_pair(h->service, h->node), hi);
	reg_vec_remove(&reg_group_find(r, h->service)->hosts, hi);
	reg_vec_remove(&r->nodes[node].hosts, hi);
	reg_host_clear(h);
	if (hi != last) {
		struct reg_host *m = &r->hosts[last];
		int mnode = registry_node_index(r, m->node);

		CHECK(mnode >= 0);
		reg_index_retarget(&r->host_by_key, reg_hash_pair(m->service, m->node), last, hi);
		reg_vec_replace(&reg_group_find(r, m->service)->hosts, last, hi);
		reg_vec_replace(&r->nodes[mnode].hosts, last, hi);
		*h = *m;
		memset(m, 0, sizeof(*m));
	}
	r->n_hosts--;
}

int registry_delete_service(struct registry *r, const char *actor, const char *name, char *err,
                            size_t err_len)
{
	struct reg_group *g;
	int rc, idx;

	rc = reg_require_admin(r, actor, "delete services", err, err_len);
	if (rc)
		return rc;
	idx = registry_service_index(r, name);
	if (idx < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such service",
		                name ? name : "(null)");
	reg_service_clear(&r->services[idx]);
	memmove(&r->services[idx], &r->services[idx + 1],
	        (r->n_services - (size_t)idx - 1) * sizeof(*r->services));
	r->n_services--;
	if (reg_service_reindex(r))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	/* Decisions die with the service: a new definition starts pending. */
	g = reg_group_find(r, name);
	for (size_t i = g ? g->hosts.n : 0; i-- > 0;) {
		size_t hi = g->hosts.v[i];

		r->hosts[hi].decision = REG_DECISION_NONE;
		reg_host_gc(r, hi);
		g = reg_group_find(r, name); /* gc never moves groups, but stay honest */
	}
	r->generation++;
	return 0;
}

int registry_advertise(struct registry *r, size_t node, const struct reg_advert *adverts, size_t n,
                       char *err, size_t err_len)
{
	struct reg_node_int *ni;
	bool changed = false;
	int rc = 0;

	if (node >= r->n_nodes)
		return err_setf(err, err_len, -ENOENT, "no such node");
	if (n && !adverts)
		return err_setf(err, err_len, -EINVAL, "advertisement list missing");
	if (n > REG_MAX_SERVICES)
		return err_setf(err, err_len, -E2BIG, "at most %d advertised services",
		                REG_MAX_SERVICES);
	ni = &r->nodes[node];
	/* Withdraw what the new set does not name. */
	for (size_t i = ni->hosts.n; i-- > 0;) {
		size_t hi = ni->hosts.v[i];
		bool named = false;

		for (size_t j = 0; j < n && !named; j++)
			named = adverts[j].service &&
			        strcmp(adverts[j].service, r->hosts[hi].service) == 0;
		if (!named || !ni->pub.n_tags) {
			changed |= r->hosts[hi].advertising;
			r->hosts[hi].advertising = false;
			r->hosts[hi].draining = false;
			r->hosts[hi].n_config_ports = 0;
			reg_host_gc(r, hi);
		}
	}
	for (size_t j = 0; j < n; j++) {
		const struct reg_advert *a = &adverts[j];
		struct reg_host *h;
		int hi, erc;

		if (!ni->pub.n_tags) {
			rc = err_setf(err, err_len, -EPERM,
			              "%s: an untagged node cannot host a service (%.80s); tag it",
			              ni->pub.name, a->service ? a->service : "");
			continue;
		}
		if (!registry_service_name_valid(a->service, err, err_len)) {
			rc = rc ? rc : -EINVAL;
			continue;
		}
		if (a->n_config_ports > REG_MAX_PORTS || (a->n_config_ports && !a->config_ports)) {
			erc = err_setf(err, err_len, -E2BIG, "%s: at most %d configured ports",
			               a->service, REG_MAX_PORTS);
			rc = rc ? rc : erc;
			continue;
		}
		hi = reg_host_get(r, a->service, node, err, err_len);
		if (hi < 0) {
			rc = rc ? rc : hi;
			continue;
		}
		h = &r->hosts[hi];
		changed |= !h->advertising || h->draining != a->draining || h->tun != a->tun ||
		           h->n_config_ports != a->n_config_ports ||
		           (a->n_config_ports && memcmp(h->config_ports, a->config_ports,
		                                        a->n_config_ports * sizeof(uint16_t)));
		h->advertising = true;
		h->draining = a->draining;
		h->tun = a->tun;
		h->n_config_ports = a->n_config_ports;
		if (a->n_config_ports)
			memcpy(h->config_ports, a->config_ports,
			       a->n_config_ports * sizeof(*a->config_ports));
	}
	if (changed)
		r->generation++;
	return rc;
}

int registry_decide(struct registry *r, const char *actor, const char *service, const char *node,
                    enum reg_decision decision, char *err, size_t err_len)
{
	int rc, ni, hi;

	rc = reg_require_admin(r, actor, "approve hosts", err, err_len);
	if (rc)
		return rc;
	if (decision != REG_DECISION_APPROVED && decision != REG_DECISION_REJECTED &&
	    decision != REG_DECISION_REVOKED)
		return err_setf(err, err_len, -EINVAL, "a decision is approve, reject or revoke");
	if (registry_service_index(r, service) < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such service",
		                service ? service : "(null)");
	ni = registry_node_index(r, node);
	if (ni < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such node",
		                node ? node : "(null)");
	hi = reg_host_get(r, service, (size_t)ni, err, err_len);
	if (hi < 0)
		return hi;
	r->hosts[hi].decision = decision;
	r->generation++;
	return 0;
}

/* ---- approval, eligibility, states ------------------------------------ */

static struct policy_node reg_policy_node(const struct reg_node *n)
{
	struct policy_node pn = {
	    .user = n->user,
	    .tags = (const char *const *)n->tags,
	    .n_tags = n->n_tags,
	};
	return pn;
}

static struct policy_service reg_policy_service(const struct reg_service *s)
{
	struct policy_service ps = {
	    .name = s->name,
	    .tags = (const char *const *)s->tags,
	    .n_tags = s->n_tags,
	};
	return ps;
}

static bool reg_auto(const struct registry *r, const struct reg_service *s,
                     const struct reg_node *n)
{
	struct policy_service ps = reg_policy_service(s);
	struct policy_node pn = reg_policy_node(n);

	return n->n_tags > 0 && policy_auto_approves(r->policy, &ps, &pn);
}

bool registry_host_auto_approved(const struct registry *r, const struct reg_host *h)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);

	return s && ni >= 0 && reg_auto(r, s, &r->nodes[ni].pub);
}

bool registry_host_approved(const struct registry *r, const struct reg_host *h)
{
	if (registry_service_index(r, h->service) < 0)
		return false;
	switch (h->decision) {
	case REG_DECISION_APPROVED:
		return true;
	case REG_DECISION_REJECTED:
	case REG_DECISION_REVOKED:
		return false;
	default:
		return registry_host_auto_approved(r, h);
	}
}

/* Every port the service defines is in the host's config (STA-2). */
static bool reg_host_configured(const struct reg_service *s, const struct reg_host *h)
{
	if (h->tun || s->do_not_validate)
		return true;
	for (size_t i = 0; i < s->n_ports; i++) {
		for (uint32_t p = s->ports[i].first; p <= s->ports[i].last; p++) {
			bool found = false;

			for (size_t j = 0; j < h->n_config_ports && !found; j++)
				found = h->config_ports[j] == p;
			if (!found)
				return false;
		}
	}
	return true;
}

/* Eligible but for the node's liveness; `node` gets the node's index. */
static bool reg_host_eligible_if_alive(const struct registry *r, const struct reg_host *h,
                                       int *node)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);

	*node = ni;
	return s && ni >= 0 && h->advertising && !h->draining && reg_host_configured(s, h) &&
	       registry_host_approved(r, h);
}

bool registry_host_eligible(const struct registry *r, const struct reg_host *h)
{
	int ni;

	return reg_host_eligible_if_alive(r, h, &ni) && r->nodes[ni].pub.alive;
}

enum reg_state registry_host_state(const struct registry *r, const struct reg_host *h)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);
	bool approved = registry_host_approved(r, h);
	const struct reg_node *n;

	if (ni < 0)
		return REG_STATE_OFFLINE;
	n = &r->nodes[ni].pub;
	if ((h->advertising || approved) && (!n->alive || !n->connected))
		return REG_STATE_OFFLINE;
	if (h->decision == REG_DECISION_REJECTED)
		return REG_STATE_REJECTED;
	if (h->advertising && h->draining)
		return REG_STATE_DRAINING;
	if (h->advertising && !approved)
		return REG_STATE_PENDING_APPROVAL;
	if (h->advertising && s && !reg_host_configured(s, h))
		return REG_STATE_NEEDS_CONFIGURATION;
	if (h->advertising)
		return REG_STATE_CONNECTED;
	if (approved)
		return REG_STATE_PRE_APPROVED;
	return REG_STATE_OFFLINE;
}

/* Approved by policy or decision and not advertising (APR-4). */
static bool reg_node_pre_approved(const struct registry *r, const struct reg_service *s,
                                  size_t node)
{
	int hi = registry_host_index(r, s->name, r->nodes[node].pub.name);

	if (hi >= 0)
		return !r->hosts[hi].advertising && registry_host_approved(r, &r->hosts[hi]);
	return reg_auto(r, s, &r->nodes[node].pub);
}

size_t registry_pre_approved_nodes(const struct registry *r, const char *service, size_t *out,
                                   size_t max)
{
	const struct reg_service *s = reg_service_named(r, service);
	size_t n = 0;

	for (size_t i = 0; s && i < r->n_nodes && n < max; i++)
		if (reg_node_pre_approved(r, s, i))
			out[n++] = i;
	return n;
}

enum reg_state registry_service_state(const struct registry *r, const char *service)
{
	static const enum reg_state order[] = {
	    REG_STATE_CONNECTED,        REG_STATE_DRAINING,     REG_STATE_NEEDS_CONFIGURATION,
	    REG_STATE_PENDING_APPROVAL, REG_STATE_PRE_APPROVED,
	};
	const struct reg_service *s = reg_service_named(r, service);
	const struct reg_group *g;
	bool seen[REG_STATE_REJECTED + 1] = {false};
	size_t dummy;

	if (!s)
		return REG_STATE_OFFLINE;
	g = reg_group_find(r, service);
	for (size_t i = 0; g && i < g->hosts.n; i++) {
		const struct reg_host *h = &r->hosts[g->hosts.v[i]];
		enum reg_state st = registry_host_state(r, h);

		if (st == REG_STATE_DRAINING && !registry_host_approved(r, h))
			continue;
		seen[st] = true;
	}
	if (!seen[REG_STATE_CONNECTED] && !seen[REG_STATE_DRAINING] &&
	    !seen[REG_STATE_NEEDS_CONFIGURATION] && !seen[REG_STATE_PENDING_APPROVAL] &&
	    !seen[REG_STATE_PRE_APPROVED])
		seen[REG_STATE_PRE_APPROVED] =
		    registry_pre_approved_nodes(r, service, &dummy, 1) > 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (seen[order[i]])
			return order[i];
	return REG_STATE_OFFLINE;
}

/* ---- steering --------------------------------------------------------- */

struct reg_rank {
	size_t node;
	int lost; /* STR-8: after every alive host */
	int other_region;
	uint64_t latency_us;
	uint64_t hash;
};

static int reg_rank_cmp(const void *a, const void *b)
{
	const struct reg_rank *x = a, *y = b;

	if (x->lost != y->lost)
		return x->lost - y->lost;
	if (x->other_region != y->other_region)
		return x->other_region - y->other_region;
	if (x->latency_us != y->latency_us)
		return x->latency_us < y->latency_us ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash > y->hash ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

size_t registry_rank_hosts(const struct registry *r, size_t client, const char *service,
                           size_t *out, size_t max)
{
	const struct reg_group *g = service ? reg_group_find(r, service) : NULL;
	const struct reg_node *c = registry_node(r, client);
	struct reg_rank *ranks;
	size_t n = 0;

	if (!g || !c || !max || !g->hosts.n)
		return 0;
	ranks = calloc(g->hosts.n, sizeof(*ranks));
	if (!ranks)
		return 0;
	for (size_t i = 0; i < g->hosts.n; i++) {
		const struct reg_host *h = &r->hosts[g->hosts.v[i]];
		int ni;
		const struct reg_node *hn;

		if (!reg_host_eligible_if_alive(r, h, &ni))
			continue;
		hn = &r->nodes[ni].pub;
		if (!hn->alive && !hn->lost)
			continue;
		CHECK(!(hn->alive && hn->lost));
		ranks[n].node = (size_t)ni;
		ranks[n].lost = hn->lost;
		ranks[n].other_region = strcmp(hn->region, c->region) != 0;
		if (ranks[n].other_region && r->latency_fn)
			ranks[n].latency_us = r->latency_fn(r->latency_ctx, c->region, hn->region);
		ranks[n].hash = reg_hash_pair(c->name, hn->name);
		n++;
	}
	qsort(ranks, n, sizeof(*ranks), reg_rank_cmp);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = ranks[i].node;
	free(ranks);
	return n;
}

/* ---- persistence ------------------------------------------------------ */

static cJSON *reg_str_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(v[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static bool reg_add_addr(cJSON *o, const char *key, const struct io_addr *a, bool with_port)
{
	char buf[IO_ADDR_STRLEN];

	return cJSON_AddStringToObject(o, key, io_addr_format(a, with_port, buf, sizeof(buf)));
}

static bool reg_json_users(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "users");

	for (size_t i = 0; a && i < r->n_users; i++) {
		const struct reg_user *u = &r->users[i];
		cJSON *o = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "login", u->login) ||
		    !cJSON_AddStringToObject(o, "role", reg_role_name(u->role)) ||
		    !cJSON_AddStringToObject(o, "display_name", u->display_name) ||
		    !(u->token ? cJSON_AddStringToObject(o, "token", u->token)
		               : cJSON_AddNullToObject(o, "token")))
			return false;
	}
	return a != NULL;
}

static bool reg_json_nodes(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "nodes");

	for (size_t i = 0; a && i < r->n_nodes; i++) {
		const struct reg_node *n = &r->nodes[i].pub;
		cJSON *o = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "name", n->name) ||
		    !cJSON_AddStringToObject(o, "user", n->user) ||
		    !cJSON_AddStringToObject(o, "region", n->region) ||
		    !cJSON_AddItemToObject(o, "tags", reg_str_array(n->tags, n->n_tags)) ||
		    !reg_add_addr(o, "addr4", &n->addr4, false) ||
		    !reg_add_addr(o, "addr6", &n->addr6, false) ||
		    !reg_add_addr(o, "endpoint", &n->endpoint, true) ||
		    !(n->tls_key ? cJSON_AddStringToObject(o, "tls_key", n->tls_key)
		                 : cJSON_AddNullToObject(o, "tls_key")))
			return false;
	}
	return a != NULL;
}

static bool reg_json_services(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "services");

	for (size_t i = 0; a && i < r->n_services; i++) {
		const struct reg_service *s = &r->services[i];
		cJSON *o = cJSON_CreateObject(), *ports;

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "name", s->name) ||
		    !cJSON_AddStringToObject(o, "description", s->description) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			return false;
		if (s->do_not_validate &&
		    !cJSON_AddItemToArray(ports, cJSON_CreateString("do-not-validate")))
			return false;
		for (size_t j = 0; j < s->n_ports; j++) {
			char buf[32];

			if (s->ports[j].first == s->ports[j].last)
				snprintf(buf, sizeof(buf), "tcp:%u", s->ports[j].first);
			else
				snprintf(buf, sizeof(buf), "tcp:%u-%u", s->ports[j].first,
				         s->ports[j].last);
			if (!cJSON_AddItemToArray(ports, cJSON_CreateString(buf)))
				return false;
		}
		if (!cJSON_AddItemToObject(o, "tags", reg_str_array(s->tags, s->n_tags)) ||
		    !reg_add_addr(o, "vip4", &s->vip4, false) ||
		    !reg_add_addr(o, "vip6", &s->vip6, false))
			return false;
	}
	return a != NULL;
}

static bool reg_json_decisions(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "decisions");

	for (size_t i = 0; a && i < r->n_hosts; i++) {
		const struct reg_host *h = &r->hosts[i];
		cJSON *o;

		if (h->decision == REG_DECISION_NONE)
			continue;
		o = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(a, o) ||
		    !cJSON_AddStringToObject(o, "service", h->service) ||
		    !cJSON_AddStringToObject(o, "node", h->node) ||
		    !cJSON_AddStringToObject(o, "decision", reg_decision_names[h->decision]))
			return false;
	}
	return a != NULL;
}

/* What the active hosts of nodes not known dead advertise (STR-8): a
 * restarted control keeps them in steering until they had time to
 * reconnect. Draining hosts are left out: a drain restarts with the
 * host's next advertisement. */
static bool reg_json_hosting(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "hosting");

	for (size_t i = 0; a && i < r->n_hosts; i++) {
		const struct reg_host *h = &r->hosts[i];
		int ni = registry_node_index(r, h->node);
		cJSON *o, *ports;

		CHECK(ni >= 0);
		if (!h->advertising || h->draining ||
		    (!r->nodes[ni].pub.alive && !r->nodes[ni].pub.lost))
			continue;
		o = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(a, o) ||
		    !cJSON_AddStringToObject(o, "service", h->service) ||
		    !cJSON_AddStringToObject(o, "node", h->node) ||
		    !cJSON_AddBoolToObject(o, "tun", h->tun) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			return false;
		for (size_t j = 0; j < h->n_config_ports; j++)
			if (!cJSON_AddItemToArray(ports, cJSON_CreateNumber(h->config_ports[j])))
				return false;
	}
	return a != NULL;
}

/* The persistent state as a JSON document (malloc'd), NULL without memory. */
char *registry_to_json(const struct registry *r)
{
	cJSON *root = cJSON_CreateObject(), *c;
	char *out = NULL;

	if (!root || !cJSON_AddStringToObject(root, "tailnet", r->tailnet))
		goto done;
	c = cJSON_AddObjectToObject(root, "counters");
	if (!c || !cJSON_AddNumberToObject(c, "generation", (double)r->generation) ||
	    !cJSON_AddNumberToObject(c, "next_node", (double)r->next_node_k) ||
	    !cJSON_AddNumberToObject(c, "next_service", (double)r->next_svc_k))
		goto done;
	if (!reg_json_users(r, root) ||
	    !cJSON_AddStringToObject(root, "policy", policy_text(r->policy)) ||
	    !reg_json_nodes(r, root) || !reg_json_services(r, root) ||
	    !reg_json_decisions(r, root) || !reg_json_hosting(r, root))
		goto done;
	out = cJSON_Print(root);
done:
	cJSON_Delete(root);
	return out;
}

/* JSON reading helpers: each names the place on failure. */
static const char *reg_jstr(const cJSON *o, const char *key, bool nullable, const char *place,
                            int *rc, char *err, size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (*rc)
		return NULL;
	if (nullable && (!v || cJSON_IsNull(v)))
		return NULL;
	if (!cJSON_IsString(v)) {
		*rc = err_setf(err, err_len, -EINVAL, "%s.%s: a string is required", place, key);
		return NULL;
	}
	return v->valuestring;
}

static int reg_jcounter(const cJSON *c, const char *key, uint64_t max, uint64_t *out, char *err,
                        size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return err_setf(err, err_len, -EINVAL, "counters.%s: an integer 0-%llu is required",
		                key, (unsigned long long)max);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

/* A string array of at most `max` entries into `out` (pointers into the JSON). */
static int reg_jstrs(const cJSON *o, const char *key, const char **out, size_t max, size_t *n,
                     const char *place, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;

	*n = 0;
	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "%s.%s: an array is required", place, key);
	cJSON_ArrayForEach(e, a)
	{
		if (*n >= max)
			return err_setf(err, err_len, -E2BIG, "%s.%s: at most %zu entries", place,
			                key, max);
		if (!cJSON_IsString(e))
			return err_setf(err, err_len, -EINVAL, "%s.%s[%zu]: a string is required",
			                place, key, *n);
		out[(*n)++] = e->valuestring;
	}
	return 0;
}

static int reg_jaddr(const cJSON *o, const char *key, bool with_port, int family,
                     struct io_addr *out, const char *place, char *err, size_t err_len)
{
	int rc = 0;
	const char *s = reg_jstr(o, key, false, place, &rc, err, err_len);

	if (rc)
		return rc;
	if (io_addr_parse(out, s, 0) || (family && out->family != family) ||
	    (!with_port && (strchr(s, ']') || out->port != 0)))
		return err_setf(err, err_len, -EINVAL, "%s.%s: \"%.60s\" is not a valid address",
		                place, key, s);
	return 0;
}

static bool reg_in_v6_48(const struct io_addr *a)
{
	return a->family == IO_AF_INET6 && memcmp(a->ip, reg_v6_prefix, 6) == 0;
}

static int reg_from_users(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "users"), *u;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "users: an array is required");
	cJSON_ArrayForEach(u, a)
	{
		const char *login, *role, *display, *token;
		enum reg_role ro;

		snprintf(place, sizeof(place), "users[%zu]", i++);
		login = reg_jstr(u, "login", false, place, &rc, err, err_len);
		role = reg_jstr(u, "role", false, place, &rc, err, err_len);
		display = reg_jstr(u, "display_name", false, place, &rc, err, err_len);
		token = reg_jstr(u, "token", true, place, &rc, err, err_len);
		if (rc)
			return rc;
		if (reg_role_parse(role, &ro) || ro == REG_ROLE_NONE)
			return err_setf(err, err_len, -EINVAL, "%s.role: unknown role \"%.40s\"",
			                place, role);
		if (registry_user(r, login))
			return err_setf(err, err_len, -EINVAL, "%s.login: %.80s appears twice",
			                place, login);
		rc = registry_user_set(r, login, ro, display, token, sub, sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
	}
	return 0;
}

static int reg_from_nodes(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "nodes"), *o;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "nodes: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *tags[REG_MAX_TAGS];
		struct reg_node_info info = {.tags = tags};
		struct io_addr a4, a6;

		snprintf(place, sizeof(place), "nodes[%zu]", i++);
		if (r->n_nodes >= REG_MAX_NODES)
			return err_setf(err, err_len, -ENOSPC, "%s: at most %d nodes", place,
			                REG_MAX_NODES);
		info.name = reg_jstr(o, "name", false, place, &rc, err, err_len);
		info.user = reg_jstr(o, "user", false, place, &rc, err, err_len);
		info.region = reg_jstr(o, "region", false, place, &rc, err, err_len);
		info.tls_key = reg_jstr(o, "tls_key", true, place, &rc, err, err_len);
		if (rc)
			return rc;
		rc = reg_jstrs(o, "tags", tags, REG_MAX_TAGS, &info.n_tags, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "addr4", false, IO_AF_INET, &a4, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "addr6", false, IO_AF_INET6, &a6, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "endpoint", true, 0, &info.endpoint, place, err, err_len);
		if (rc)
			return rc;
		rc = reg_node_info_check(r, &info, false, sub, sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
		if (registry_node_index(r, info.name) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s.name: %s appears twice", place,
			                info.name);
		if ((io_addr_v4_host(&a4) & REG_V4_CGNAT_MASK) != REG_V4_CGNAT ||
		    !reg_in_v6_48(&a6))
			return err_setf(
			    err, err_len, -EINVAL,
			    "%s: addresses outside 100.64.0.0/10 or fd7a:115c:a1e0::/48", place);
		if (reg_addr_taken(r, &a4) || reg_addr_taken(r, &a6))
			return err_setf(err, err_len, -EINVAL, "%s: address already in use", place);
		rc = reg_node_add(r, &info, &a4, &a6);
		if (rc < 0)
			return err_setf(err, err_len, rc, "out of memory");
		rc = 0;
	}
	return 0;
}

static int reg_from_services(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "services"), *o;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "services: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *tags[REG_MAX_TAGS], *ports[REG_MAX_PORTS];
		struct reg_service_def def = {.tags = tags, .ports = ports};
		struct reg_service s;

		snprintf(place, sizeof(place), "services[%zu]", i++);
		if (r->n_services >= REG_MAX_SERVICES)
			return err_setf(err, err_len, -ENOSPC, "%s: at most %d services", place,
			                REG_MAX_SERVICES);
		def.name = reg_jstr(o, "name", false, place, &rc, err, err_len);
		def.description = reg_jstr(o, "description", false, place, &rc, err, err_len);
		if (!rc)
			rc = reg_jstrs(o, "tags", tags, REG_MAX_TAGS, &def.n_tags, place, err,
			               err_len);
		if (!rc)
			rc = reg_jstrs(o, "ports", ports, REG_MAX_PORTS, &def.n_ports, place, err,
			               err_len);
		if (rc)
			return rc;
		if (registry_service_index(r, def.name) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s.name: %s appears twice", place,
			                def.name);
		rc = reg_service_build(r, &def, false, &s, sub, sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
		rc = reg_jaddr(o, "vip4", false, IO_AF_INET, &s.vip4, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "vip6", false, IO_AF_INET6, &s.vip6, place, err, err_len);
		if (!rc && ((io_addr_v4_host(&s.vip4) & REG_V4_CGNAT_MASK) != REG_V4_CGNAT ||
		            io_addr_v4_host(&s.vip4) == REG_V4_QUAD100 || !reg_in_v6_48(&s.vip6)))
			rc = err_setf(err, err_len, -EINVAL,
			              "%s: VIPs outside 100.64.0.0/10 (or 100.100.100.100) or "
			              "fd7a:115c:a1e0::/48",
			              place);
		if (!rc && (reg_addr_taken(r, &s.vip4) || reg_addr_taken(r, &s.vip6)))
			rc = err_setf(err, err_len, -EINVAL, "%s: VIP already in use", place);
		if (!rc && reg_service_add(r, &s))
			rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		if (rc) {
			reg_service_clear(&s);
			return rc;
		}
	}
	return 0;
}

static int reg_from_decisions(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "decisions"), *o;
	size_t i = 0;
	char place[48];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "decisions: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *svc, *node, *dec;
		int ni, hi;
		unsigned d;

		snprintf(place, sizeof(place), "decisions[%zu]", i++);
		svc = reg_jstr(o, "service", false, place, &rc, err, err_len);
		node = reg_jstr(o, "node", false, place, &rc, err, err_len);
		dec = reg_jstr(o, "decision", false, place, &rc, err, err_len);
		if (rc)
			return rc;
		for (d = REG_DECISION_APPROVED; d <= REG_DECISION_REVOKED; d++)
			if (strcmp(dec, reg_decision_names[d]) == 0)
				break;
		if (d > REG_DECISION_REVOKED)
			return err_setf(err, err_len, -EINVAL,
			                "%s.decision: approved, rejected or revoked", place);
		if (registry_service_index(r, svc) < 0)
			return err_setf(err, err_len, -EINVAL, "%s.service: %.80s is not defined",
			                place, svc);
		ni = registry_node_index(r, node);
		if (ni < 0)
			return err_setf(err, err_len, -EINVAL, "%s.node: %.80s is not known", place,
			                node);
		if (registry_host_index(r, svc, node) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s: a second decision for %s on %s",
			                place, svc, node);
		hi = reg_host_get(r, svc, (size_t)ni, err, err_len);
		if (hi < 0)
			return hi;
		r->hosts[hi].decision = (enum reg_decision)d;
	}
	return 0;
}

/* "hosting" (optional: older state files have none): host records that
 * advertise again, their nodes lost until they reconnect. */
static int reg_from_hosting(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "hosting"), *o;
	size_t i = 0;
	char place[48];
	int rc = 0;

	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "hosting: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const cJSON *tun = cJSON_GetObjectItemCaseSensitive(o, "tun");
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(o, "ports"), *p;
		const char *svc, *node;
		struct reg_host *h;
		int ni, hi;

		snprintf(place, sizeof(place), "hosting[%zu]", i++);
		svc = reg_jstr(o, "service", false, place, &rc, err, err_len);
		node = reg_jstr(o, "node", false, place, &rc, err, err_len);
		if (rc)
			return rc;
		if (!registry_service_name_valid(svc, err, err_len))
			return -EINVAL;
		if (!cJSON_IsBool(tun) || !cJSON_IsArray(ports))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"tun\" (a boolean) and \"ports\" (an array) are "
			                "required",
			                place);
		if (cJSON_GetArraySize(ports) > REG_MAX_PORTS)
			return err_setf(err, err_len, -E2BIG, "%s.ports: at most %d", place,
			                REG_MAX_PORTS);
		ni = registry_node_index(r, node);
		if (ni < 0)
			return err_setf(err, err_len, -EINVAL, "%s.node: %.80s is not known", place,
			                node);
		if (!r->nodes[ni].pub.n_tags)
			return err_setf(err, err_len, -EINVAL,
			                "%s.node: %.80s is untagged and cannot host", place, node);
		hi = registry_host_index(r, svc, node);
		if (hi >= 0 && r->hosts[hi].advertising)
			return err_setf(err, err_len, -EINVAL, "%s: %s on %s appears twice", place,
			                svc, node);
		hi = reg_host_get(r, svc, (size_t)ni, err, err_len);
		if (hi < 0)
			return hi;
		h = &r->hosts[hi];
		cJSON_ArrayForEach(p, ports)
		{
			if (!cJSON_IsNumber(p) || p->valuedouble < 1 || p->valuedouble > 65535 ||
			    p->valuedouble != (double)(int)p->valuedouble)
				return err_setf(err, err_len, -EINVAL,
				                "%s.ports: numbers 1-65535 are required", place);
			h->config_ports[h->n_config_ports++] = (uint16_t)p->valueint;
		}
		h->advertising = true;
		h->tun = cJSON_IsTrue(tun);
		r->nodes[ni].pub.lost = true;
	}
	return 0;
}

int registry_from_json(const char *text, size_t len, struct registry **out, char *err,
                       size_t err_len)
{
	cJSON *root = NULL;
	const cJSON *c;
	struct registry *r = NULL;
	struct policy *p = NULL;
	const char *tailnet, *ptext;
	uint64_t gen = 0;
	char sub[POLICY_ERR_LEN];
	int rc = 0;

	if (!text)
		return err_setf(err, err_len, -EINVAL, "no registry document");
	root = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(root)) {
		rc = err_setf(err, err_len, -EINVAL, "registry document: malformed JSON object");
		goto done;
	}
	tailnet = reg_jstr(root, "tailnet", false, "registry", &rc, err, err_len);
	ptext = reg_jstr(root, "policy", false, "registry", &rc, err, err_len);
	if (rc)
		goto done;
	rc = registry_new(&r, tailnet);
	if (rc) {
		rc =
		    err_setf(err, err_len, rc, "registry.tailnet: \"%.80s\" is not valid", tailnet);
		goto done;
	}
	c = cJSON_GetObjectItemCaseSensitive(root, "counters");
	if (!cJSON_IsObject(c)) {
		rc = err_setf(err, err_len, -EINVAL, "counters: an object is required");
		goto done;
	}
	rc = reg_jcounter(c, "generation", 1ull << 52, &gen, err, err_len);
	if (!rc)
		rc =
		    reg_jcounter(c, "next_node", REG_NODE_MAX_K + 1, &r->next_node_k, err, err_len);
	if (!rc)
		rc = reg_jcounter(c, "next_service", REG_SVC_MAX_K + 1, &r->next_svc_k, err,
		                  err_len);
	if (rc)
		goto done;
	rc = policy_parse(ptext, strlen(ptext), &p, sub, sizeof(sub));
	if (rc) {
		rc = err_setf(err, err_len, rc, "policy: %s", sub);
		goto done;
	}
	rc = registry_set_policy(r, NULL, p, err, err_len);
	if (rc)
		goto done;
	p = NULL;
	rc = reg_from_users(r, root, err, err_len);
	if (!rc)
		rc = reg_from_nodes(r, root, err, err_len);
	if (!rc)
		rc = reg_from_services(r, root, err, err_len);
	if (!rc)
		rc = reg_from_decisions(r, root, err, err_len);
	if (!rc)
		rc = reg_from_hosting(r, root, err, err_len);
	if (rc)
		goto done;
	r->generation = gen;
	*out = r;
	r = NULL;
done:
	if (p)
		policy_free(p);
	registry_free(r);
	cJSON_Delete(root);
	return rc;
}
