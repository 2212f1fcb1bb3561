/* Private to the registry (registry*.c): struct registry, its hash indexes
 * and per-service host groups, and the helpers one registry file calls in
 * another. Not for code outside the registry. */
#ifndef CONTROL_REGISTRY_INT_H
#define CONTROL_REGISTRY_INT_H

#include "control/registry.h"
#include "lib/base/hash.h"
#include "lib/base/htab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	struct htab node_by_name, node_by_addr, node_by_key;

	size_t n_services, cap_services;
	struct reg_service *services;
	struct htab svc_by_name, svc_by_vip;

	size_t n_hosts, cap_hosts;
	struct reg_host *hosts;
	struct htab host_by_key;

	size_t n_groups, cap_groups;
	struct reg_group *groups;
	struct htab group_by_name;

	size_t n_authkeys, cap_authkeys; /* in order of creation */
	struct reg_authkey *authkeys;
};

/* The key of the host index: (service name, node name). */
struct reg_host_key {
	const char *service, *node;
};

/* ---- registry.c ---- */

/* Index hashes (lib/base/hash.h): of a (service, node) key, of an address. */
uint64_t reg_hash_pair(const char *a, const char *b);
uint64_t reg_hash_addr(const struct io_addr *a);
/* strdup of s (NULL: ""): 0 or -ENOMEM. */
int reg_strdup(char **out, const char *s);
/* Grows *arr (elements of `elem` bytes) to hold `need`, doubling. */
int reg_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* Index lists: append, remove the first x (order not kept), replace. */
int reg_vec_push(struct reg_vec *v, size_t x);
void reg_vec_remove(struct reg_vec *v, size_t x);
void reg_vec_replace(struct reg_vec *v, size_t from, size_t to);
/* The index of the item `key` names in `index` (over r's arrays), or
 * -ENOENT. */
int reg_lookup(const struct registry *r, const struct htab *index, uint64_t hash, htab_eq_fn eq,
               const void *key);
/* Index keys: does the item at idx (of ctx, the registry) have this key? */
bool reg_match_node_name(const void *ctx, size_t idx, const void *key);
bool reg_match_node_addr(const void *ctx, size_t idx, const void *key);
bool reg_match_node_key(const void *ctx, size_t idx, const void *key);
bool reg_match_svc_name(const void *ctx, size_t idx, const void *key);
bool reg_match_svc_vip(const void *ctx, size_t idx, const void *key);
bool reg_match_group(const void *ctx, size_t idx, const void *key);
bool reg_match_host(const void *ctx, size_t idx, const void *key);
/* Name rules: a well-formed "tag:" name; a plain name (at most
 * REG_MAX_NAME printable characters, no spaces; empty when allowed). */
bool reg_tag_wellformed(const char *t);
bool reg_plain_name(const char *s, bool allow_empty);
/* Checks tags for a node or an auth key: 1 (or 0 when `allow_none`) to
 * REG_MAX_TAGS well-formed, distinct tags, owned in the policy when
 * `check_policy`. `what` names the owner in messages. 0 or -errno. */
int reg_tags_check(const struct registry *r, const char *what, const char *const *tags,
                   size_t n_tags, bool allow_none, bool check_policy, char *err, size_t err_len);
/* Frees what records own (the records stay). */
void reg_tags_free(char **tags, size_t n);
void reg_service_clear(struct reg_service *s);
void reg_host_clear(struct reg_host *h);
/* SHA-256 of `text` as lowercase hex: 0, or -ENOMEM. Is `s` such a digest? */
int reg_sha256_hex(const char *text, char out[REG_SHA256_HEX_LEN + 1]);
bool reg_sha256_hex_valid(const char *s);
/* registry_user_set with the token already hashed (`token_sha256`: hex
 * digest or NULL), as a saved state holds it. */
int reg_user_put(struct registry *r, const char *login, enum reg_role role,
                 const char *display_name, const char *token_sha256, char *err, size_t err_len);
/* 0, or -EPERM with err unless `actor` is an owner, admin or network
 * admin (`what`: the action refused). */
int reg_require_admin(const struct registry *r, const char *actor, const char *what, char *err,
                      size_t err_len);

/* ---- registry_nodes.c ---- */

/* Is the tailnet address a node's address or a service's VIP? */
bool reg_addr_taken(const struct registry *r, const struct io_addr *a);
/* Checks a registration (names, tags the policy owns when check_policy). */
int reg_node_info_check(const struct registry *r, const struct reg_node_info *info,
                        bool check_policy, char *err, size_t err_len);
/* Appends a checked node with its addresses, indexed. 0 or -ENOMEM. */
int reg_node_add(struct registry *r, const struct reg_node_info *info, const struct io_addr *a4,
                 const struct io_addr *a6);

/* ---- registry_services.c ---- */

/* The service `name`, or NULL. */
const struct reg_service *reg_service_named(const struct registry *r, const char *name);
/* A service record from a definition, checked. 0 or -errno with err. */
int reg_service_build(const struct registry *r, const struct reg_service_def *def,
                      bool check_policy, struct reg_service *s, char *err, size_t err_len);
/* Appends a built service, indexed by name and VIPs. 0 or -ENOMEM. */
int reg_service_add(struct registry *r, struct reg_service *s);
/* The host records naming `service`, or NULL. */
struct reg_group *reg_group_find(const struct registry *r, const char *service);
/* The host record for (service, node index), created when new: its
 * index, or -errno with err. */
int reg_host_get(struct registry *r, const char *service, size_t node, char *err, size_t err_len);

/* ---- registry_authkeys.c ---- */

/* Appends a checked key (copied: tags and created_by duplicated). 0 or
 * -ENOMEM. */
int reg_authkey_add(struct registry *r, const struct reg_authkey *k);
void reg_authkey_clear(struct reg_authkey *k);

#endif
