/* The registry's base (see registry.h for the contract): create and free,
 * names, roles and states, users, the policy, and the storage every part
 * uses: plain arrays in order of creation, with hash indexes over them
 * (lib/base/htab.h, keys hashed with lib/base/hash.h): nodes by
 * name and by address, services by name and by VIP, hosts by (service,
 * node). Host records are also listed per service name ("groups") and per
 * node so that ranking is O(hosts of the service) and an advertisement
 * O(hosts of the node). The other parts: registry_nodes.c,
 * registry_services.c, registry_approval.c, registry_json.c. */
#include "control/registry_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ---------------------------------------------------- */

/* (service, node): the service's bytes and its NUL, then the node's. */
uint64_t reg_hash_pair(const char *a, const char *b)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, a, strlen(a) + 1);

	return hash_mix64(hash_fnv1a_str(h, b));
}

uint64_t reg_hash_addr(const struct io_addr *a)
{
	uint8_t fam = a->family;
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, &fam, 1);

	return hash_mix64(hash_fnv1a(h, a->ip, fam == IO_AF_INET6 ? 16 : 4));
}

static bool reg_addr_same(const struct io_addr *a, const struct io_addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->ip, b->ip, a->family == IO_AF_INET6 ? 16 : 4) == 0;
}

int reg_strdup(char **out, const char *s)
{
	char *c = strdup(s ? s : "");

	if (!c)
		return -ENOMEM;
	*out = c;
	return 0;
}

int reg_grow(void **arr, size_t *cap, size_t need, size_t elem)
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

int reg_vec_push(struct reg_vec *v, size_t x)
{
	int rc = reg_grow((void **)&v->v, &v->cap, v->n + 1, sizeof(*v->v));

	if (rc)
		return rc;
	v->v[v->n++] = x;
	return 0;
}

/* Removes the first `x` (order not kept). */
void reg_vec_remove(struct reg_vec *v, size_t x)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i] == x) {
			v->v[i] = v->v[--v->n];
			return;
		}
	}
}

void reg_vec_replace(struct reg_vec *v, size_t from, size_t to)
{
	for (size_t i = 0; i < v->n; i++) {
		if (v->v[i] == from) {
			v->v[i] = to;
			return;
		}
	}
}

/* ---- index keys: does the item at idx have this key? --------------- */

int reg_lookup(const struct registry *r, const struct htab *index, uint64_t hash, htab_eq_fn eq,
               const void *key)
{
	long i = htab_find(index, hash, eq, r, key);

	return i < 0 ? -ENOENT : (int)i;
}

bool reg_match_node_name(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	return strcmp(r->nodes[idx].pub.name, key) == 0;
}

bool reg_match_node_key(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	const struct reg_node *n = &r->nodes[idx].pub;
	return (n->has_key && memcmp(n->key, key, REG_KEY_LEN) == 0) ||
	       (n->has_next_key && memcmp(n->next_key, key, REG_KEY_LEN) == 0);
}

bool reg_match_node_addr(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	const struct reg_node *n = &r->nodes[idx].pub;

	return reg_addr_same(&n->addr4, key) || reg_addr_same(&n->addr6, key);
}

bool reg_match_svc_name(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	return strcmp(r->services[idx].name, key) == 0;
}

bool reg_match_svc_vip(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	const struct reg_service *s = &r->services[idx];

	return reg_addr_same(&s->vip4, key) || reg_addr_same(&s->vip6, key);
}

bool reg_match_group(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
	return strcmp(r->groups[idx].service, key) == 0;
}

bool reg_match_host(const void *ctx, size_t idx, const void *key)
{
	const struct registry *r = ctx;
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

#define REG_N_NAMES(names) (sizeof(names) / sizeof((names)[0]))

/* The index of `text` in `names` (case-insensitive), or -EINVAL. */
static int reg_name_lookup(const char *const *names, size_t n, const char *text)
{
	for (size_t i = 0; text && i < n; i++)
		if (strcasecmp(text, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static const char *const reg_role_names[] = {
    [REG_ROLE_NONE] = "none",     [REG_ROLE_OWNER] = "owner",
    [REG_ROLE_ADMIN] = "admin",   [REG_ROLE_NETWORK_ADMIN] = "network-admin",
    [REG_ROLE_MEMBER] = "member",
};

const char *reg_role_name(enum reg_role role)
{
	if ((unsigned)role >= REG_N_NAMES(reg_role_names))
		return "none";
	return reg_role_names[role];
}

int reg_role_parse(const char *text, enum reg_role *out)
{
	int i = reg_name_lookup(reg_role_names, REG_N_NAMES(reg_role_names), text);

	if (i < 0)
		return i;
	*out = (enum reg_role)i;
	return 0;
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
	if ((unsigned)s >= REG_N_NAMES(reg_state_names))
		return "Offline";
	return reg_state_names[s];
}

int reg_state_parse(const char *text, enum reg_state *out)
{
	int i = reg_name_lookup(reg_state_names, REG_N_NAMES(reg_state_names), text);

	if (i < 0)
		return i;
	*out = (enum reg_state)i;
	return 0;
}

/* Tags: "tag:" + letters, digits, '-', '_' (what the policy can own). */
bool reg_tag_wellformed(const char *t)
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

int reg_tags_check(const struct registry *r, const char *what, const char *const *tags,
                   size_t n_tags, bool allow_none, bool check_policy, char *err, size_t err_len)
{
	if (n_tags == 0 && !allow_none)
		return err_setf(err, err_len, -EINVAL, "%s: give at least one tag", what);
	if (n_tags > REG_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d tags", what, REG_MAX_TAGS);
	for (size_t i = 0; i < n_tags; i++) {
		if (!reg_tag_wellformed(tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%.80s\" is not a tag (tag:NAME)", what,
			                tags[i] ? tags[i] : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(tags[i], tags[j]) == 0)
				return err_setf(err, err_len, -EINVAL, "%s: tag %s given twice",
				                what, tags[i]);
		if (check_policy && !policy_tag_known(r->policy, tags[i]))
			return err_setf(err, err_len, -EPERM,
			                "%s: tag %s is not owned in the policy (tagOwners)", what,
			                tags[i]);
	}
	return 0;
}

/* Names of nodes, users and regions: printable, no spaces, bounded. */
bool reg_plain_name(const char *s, bool allow_empty)
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

void reg_tags_free(char **tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tags[i]);
}

void reg_service_clear(struct reg_service *s)
{
	free(s->name);
	free(s->description);
	reg_tags_free(s->tags, s->n_tags);
	memset(s, 0, sizeof(*s));
}

void reg_host_clear(struct reg_host *h)
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
	for (size_t i = 0; i < r->n_authkeys; i++)
		reg_authkey_clear(&r->authkeys[i]);
	free(r->authkeys);
	htab_free(&r->node_by_name);
	htab_free(&r->node_by_addr);
	htab_free(&r->node_by_key);
	htab_free(&r->svc_by_name);
	htab_free(&r->svc_by_vip);
	htab_free(&r->host_by_key);
	htab_free(&r->group_by_name);
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

/* SHA-256 of `text` in lowercase hex: what the registry keeps of every
 * secret (tokens, auth keys). 0, or -ENOMEM when OpenSSL fails. */
int reg_sha256_hex(const char *text, char out[REG_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len * 2 != REG_SHA256_HEX_LEN) {
		out[0] = '\0';
		return -ENOMEM;
	}
	hex_encode(md, md_len, out);
	return 0;
}

bool reg_sha256_hex_valid(const char *s)
{
	if (!s || strlen(s) != REG_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < REG_SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The user whose token hashes to `sha256` (hex), or -1. */
static long reg_user_by_token_hash(const struct registry *r, const char *sha256)
{
	for (size_t i = 0; i < r->n_users; i++)
		if (r->users[i].token_sha256[0] &&
		    CRYPTO_memcmp(r->users[i].token_sha256, sha256, REG_SHA256_HEX_LEN) == 0)
			return (long)i;
	return -1;
}

int reg_user_put(struct registry *r, const char *login, enum reg_role role,
                 const char *display_name, const char *token_sha256, char *err, size_t err_len)
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
	if (token_sha256 && !reg_sha256_hex_valid(token_sha256))
		return err_setf(err, err_len, -EINVAL,
		                "%s: a token's hash is %d lowercase hex digits (SHA-256)", login,
		                REG_SHA256_HEX_LEN);
	if (token_sha256) {
		long o = reg_user_by_token_hash(r, token_sha256);

		if (o >= 0 && o != i)
			return err_setf(err, err_len, -EEXIST, "%s: token already belongs to %s",
			                login, r->users[o].login);
		memcpy(u.token_sha256, token_sha256, sizeof(u.token_sha256));
	}
	if (i < 0 && r->n_users >= REG_MAX_USERS)
		return err_setf(err, err_len, -ENOSPC, "at most %d users", REG_MAX_USERS);
	if (reg_strdup(&u.login, login) || reg_strdup(&u.display_name, display_name))
		goto nomem;
	if (i < 0) {
		if (reg_grow((void **)&r->users, &r->cap_users, r->n_users + 1, sizeof(u)))
			goto nomem;
		r->users[r->n_users++] = u;
	} else {
		free(r->users[i].login);
		free(r->users[i].display_name);
		r->users[i] = u;
	}
	r->generation++;
	return 0;
nomem:
	free(u.login);
	free(u.display_name);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

/* Creates or updates a user; a token must be unique among users. */
int registry_user_set(struct registry *r, const char *login, enum reg_role role,
                      const char *display_name, const char *token, char *err, size_t err_len)
{
	char sha256[REG_SHA256_HEX_LEN + 1];

	if (token && !reg_plain_name(token, false))
		return err_setf(err, err_len, -EINVAL,
		                "%s: a token is 1-%d printable characters without spaces",
		                login ? login : "", REG_MAX_NAME);
	if (token && reg_sha256_hex(token, sha256) < 0)
		return err_setf(err, err_len, -ENOMEM, "%s: the token could not be hashed",
		                login ? login : "");
	return reg_user_put(r, login, role, display_name, token ? sha256 : NULL, err, err_len);
}

const struct reg_user *registry_user(const struct registry *r, const char *login)
{
	long i = reg_user_find(r, login);

	return i < 0 ? NULL : &r->users[i];
}

const struct reg_user *registry_user_by_token(const struct registry *r, const char *token)
{
	char sha256[REG_SHA256_HEX_LEN + 1];
	long i;

	if (!token || !*token || reg_sha256_hex(token, sha256) < 0)
		return NULL;
	i = reg_user_by_token_hash(r, sha256);
	return i < 0 ? NULL : &r->users[i];
}

bool registry_is_admin(const struct registry *r, const char *login)
{
	const struct reg_user *u = registry_user(r, login);

	return u && (u->role == REG_ROLE_OWNER || u->role == REG_ROLE_ADMIN ||
	             u->role == REG_ROLE_NETWORK_ADMIN);
}

/* SVC-6/APR-2: 0 when `actor` may act, else -EPERM with the reason. */
int reg_require_admin(const struct registry *r, const char *actor, const char *what, char *err,
                      size_t err_len)
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
