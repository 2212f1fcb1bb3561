/* The registry: control's truth about the tailnet. Users with roles, nodes,
 * services with their VIPs, hosts (a node's relation to a service: what it
 * advertises, its approval), the policy, liveness; and what follows from
 * them: eligibility, steering order, states.
 *
 * Pure code: no I/O, no clock, no process state. The control server feeds
 * it (admin actions, node sessions, heartbeats) and persists it with
 * registry_to_json/registry_from_json. Every change bumps `generation`.
 *
 * Admin actions take the acting user's login and refuse (-EPERM, nothing
 * changes, `err` says why) unless the user's role is owner, admin or
 * network-admin (SVC-6, APR-2). Other refusals: -EINVAL (bad input, the
 * message names the rule: SVC-1 name rules, SVC-4 ports), -ENOENT
 * (unknown service/node/user), -EEXIST, -ENOSPC (a limit).
 *
 * Addresses: node i (in order of first registration, kept across
 * restarts) gets 100.64.0.0 + k and fd7a:115c:a1e0::<same 32 bits>;
 * service VIPs come from 100.100.0.0 + k (never 100.100.100.100) and
 * fd7a:115c:a1e0:ab12::k, from a counter that never goes back, so a VIP is
 * stable for a service's life and not reused by the next definition
 * (SVC-2). Both counters are persisted.
 *
 * Approval of host H for service S (APR-1..5): an explicit admin decision
 * (approved, rejected, revoked) wins; with none, H is approved when the
 * policy's autoApprovers approve it (by S's name or one of S's tags against
 * H's tags). Revoked/rejected stay until an admin approves again.
 *
 * Eligible (STR-2): approved, advertising and not draining, configured for
 * every port S defines (a `tun` host or a do-not-validate service: any
 * config), and the node alive.
 *
 * Steering (STR-3): registry_rank_hosts orders S's eligible hosts for a
 * client: hosts in the client's region first, then by the latency between
 * regions (the latency callback), ties broken by rendezvous hashing of
 * (client, host) names so a region's clients spread over its hosts and a
 * client keeps its host while the set is stable. Hosts that would be
 * eligible but whose node is lost (not alive, not known dead: STR-8)
 * follow every eligible host, in the same order among themselves: a
 * client that can still reach one keeps it as a last resort and keeps
 * its open flows to it, and no client is told a host is gone because
 * control alone lost sight of it.
 *
 * States (STA-1..3), per host for S and per service, by precedence:
 *   host:    Offline (node not alive or not connected) when it advertises or
 *            is approved; Rejected; Draining; Pending approval (advertising,
 *            not approved); Needs configuration (approved, advertising,
 *            config misses a port); Connected (eligible); Pre-approved
 *            (approved, not advertising).
 *   service: Connected (some host Connected) > Draining (some approved host
 *            Draining) > Needs configuration > Pending approval >
 *            Pre-approved > Offline.
 */
#ifndef CONTROL_REGISTRY_H
#define CONTROL_REGISTRY_H

#include "control/policy.h"
#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REG_MAX_USERS      4096
#define REG_MAX_NODES      100000
#define REG_MAX_SERVICES   4096
#define REG_MAX_PORTS      64 /* port ranges per service */
#define REG_MAX_TAGS       32 /* per node or service */
#define REG_MAX_NAME       253
#define REG_MAX_DESC       1024
#define REG_MAX_HOSTS      1024 /* hosts per service */
#define REG_ERR_LEN        512
#define REG_KEY_LEN        32 /* a node key: X25519 public key */
#define REG_SHA256_HEX_LEN 64 /* a SHA-256 digest in lowercase hex */
#define REG_MAX_AUTHKEYS   4096
#define REG_AUTHKEY_ID_LEN 12 /* hex digits of a key's public id */
#define REG_AUTHKEY_RANDOM 16 /* random bytes in a key's secret part */
#define REG_AUTHKEY_PREFIX "svckey-"
/* "svckey-" ID "-" 32 hex digits */
#define REG_AUTHKEY_TEXT_LEN                                                                       \
	(sizeof(REG_AUTHKEY_PREFIX) - 1 + REG_AUTHKEY_ID_LEN + 1 + 2 * REG_AUTHKEY_RANDOM)

enum reg_role {
	REG_ROLE_NONE = 0,
	REG_ROLE_OWNER,
	REG_ROLE_ADMIN,
	REG_ROLE_NETWORK_ADMIN,
	REG_ROLE_MEMBER,
};

enum reg_decision {
	REG_DECISION_NONE = 0, /* no admin decision: policy decides */
	REG_DECISION_APPROVED,
	REG_DECISION_REJECTED,
	REG_DECISION_REVOKED,
};

enum reg_state {
	REG_STATE_OFFLINE = 0,
	REG_STATE_PENDING_APPROVAL,
	REG_STATE_NEEDS_CONFIGURATION,
	REG_STATE_CONNECTED,
	REG_STATE_PRE_APPROVED,
	REG_STATE_DRAINING,
	REG_STATE_REJECTED, /* hosts only */
};

struct reg_user {
	char *login;
	char *display_name;
	enum reg_role role;
	/* SHA-256 (hex) of the admin API bearer token; "": none (sim users).
	 * The token itself is never kept (SEC-1). */
	char token_sha256[REG_SHA256_HEX_LEN + 1];
};

struct reg_port_range {
	uint16_t first, last;
};

struct reg_service {
	char *name; /* "svc:web" */
	char *description;
	size_t n_tags;
	char *tags[REG_MAX_TAGS];
	size_t n_ports;
	struct reg_port_range ports[REG_MAX_PORTS];
	bool do_not_validate;
	struct io_addr vip4, vip6; /* port 0 */
};

struct reg_node {
	char *name;
	char *user; /* owner login or "" */
	char *region;
	size_t n_tags;
	char *tags[REG_MAX_TAGS];
	struct io_addr addr4, addr6; /* tailnet addresses */
	struct io_addr endpoint;     /* underlay UDP endpoint of its data plane */
	char *tls_key;               /* hex Ed25519 public key for certificates, or NULL */
	bool connected;              /* a map session is open */
	bool alive;                  /* heartbeats arrive (the server decides) */
	/* Not alive, yet not known dead (STR-8): its session went silent, or
	 * control started from saved state and has not heard from it. Silence
	 * says control cannot reach the node, not that its clients cannot:
	 * its hosts stay in steering, after every alive host. */
	bool lost;
	/* Its tags were set by an admin (registry_node_set_tags): they are
	 * its tags from then on, a hello's claim no longer changes them. */
	bool tags_by_admin;
	/* Its node key (SEC-1): the key its map sessions prove. A record
	 * saved before keys existed has none until its next session binds
	 * one. */
	bool has_key;
	uint8_t key[REG_KEY_LEN];
	/* An admin revoked its key (registry_node_revoke_key): no session is
	 * accepted for it, and it is no one's peer, until it joins anew. */
	bool key_revoked;
	/* A rotation under way (SEC-2): the key its next session may prove
	 * instead; that session makes it the node's key
	 * (registry_node_register) and the old one is no longer taken. */
	bool has_next_key;
	uint8_t next_key[REG_KEY_LEN];
};

/* What node N says about service S (its advertisement), and the admin's
 * decision on it. A host record exists once either exists. */
struct reg_host {
	char *service; /* may name a service not defined (yet) */
	char *node;
	bool advertising;
	bool draining;
	bool tun; /* an L3 host: every port */
	size_t n_config_ports;
	uint16_t config_ports[REG_MAX_PORTS]; /* ports its serve config handles */
	enum reg_decision decision;
};

/* An auth key (SEC-1): what lets a new node join, and with which tags.
 * Its text, "svckey-<id>-<32 hex>", is shown once when it is made; the
 * registry keeps only the SHA-256 of the whole text. */
struct reg_authkey {
	char id[REG_AUTHKEY_ID_LEN + 1]; /* public: listings, events, revoke */
	char secret_sha256[REG_SHA256_HEX_LEN + 1];
	bool reusable;      /* else one-off: spent by its first use */
	uint64_t expires_s; /* Unix seconds; 0: never */
	size_t n_tags;
	char *tags[REG_MAX_TAGS]; /* the joining node's tags */
	char *created_by;         /* login */
	uint64_t created_s;
	uint64_t uses;
	bool revoked;
};

/* Region latency (one way, microseconds) for steering; NULL: all equal. */
typedef uint64_t (*reg_latency_fn)(void *ctx, const char *region_a, const char *region_b);

struct registry; /* opaque; arrays below are read through accessors */

int registry_new(struct registry **out, const char *tailnet);
void registry_free(struct registry *r);
uint64_t registry_generation(const struct registry *r);
const char *registry_tailnet(const struct registry *r);
void registry_set_latency_fn(struct registry *r, reg_latency_fn fn, void *ctx);

/* Users (bootstrap config; no admin API for users). `token` is the
 * plaintext bearer token (or NULL): only its SHA-256 is kept, and
 * registry_user_by_token hashes what a caller presents to compare
 * (CRYPTO_memcmp). Two users never share a token (-EEXIST). */
int registry_user_set(struct registry *r, const char *login, enum reg_role role,
                      const char *display_name, const char *token, char *err, size_t err_len);
const struct reg_user *registry_user(const struct registry *r, const char *login);
const struct reg_user *registry_user_by_token(const struct registry *r, const char *token);
bool registry_is_admin(const struct registry *r, const char *login);
const char *reg_role_name(enum reg_role role);
int reg_role_parse(const char *text, enum reg_role *out);

/* Policy. registry_set_policy is an admin action; the registry owns `p`
 * only on success. The initial policy (bootstrap) uses actor NULL. */
int registry_set_policy(struct registry *r, const char *actor, struct policy *p, char *err,
                        size_t err_len);
const struct policy *registry_policy(const struct registry *r);

/* Nodes. Register (or update, by name) from a session's hello; tags must
 * be owned in the policy (-EPERM otherwise), region and endpoint given.
 * A node whose tags an admin set keeps them: the hello's claimed tags are
 * checked for form and otherwise ignored (SEC-1: a node's tags come from
 * its auth key or an admin, never from its own claim; issue 15 moves the
 * other tags to auth keys). Returns the node's index (stable for the
 * registry's life) or -errno. */
struct reg_node_info {
	const char *name, *user, *region;
	const char *const *tags;
	size_t n_tags;
	struct io_addr endpoint;
	const char *tls_key; /* may be NULL */
	/* The key the session proved (SEC-2); NULL only when loading state
	 * saved before keys. A name bound to another key, or a key bound to
	 * another name, is refused (-EKEYREJECTED): a name changes hands only
	 * by an explicit rotation. */
	const uint8_t *key;
};
int registry_node_register(struct registry *r, const struct reg_node_info *info, char *err,
                           size_t err_len);
size_t registry_node_count(const struct registry *r);
const struct reg_node *registry_node(const struct registry *r, size_t index);
int registry_node_index(const struct registry *r, const char *name);                /* -ENOENT */
int registry_node_by_key(const struct registry *r, const uint8_t key[REG_KEY_LEN]); /* -ENOENT */
/* Node `index` asks, in a session that proved its current key, to move to
 * `key` (SEC-2). Until a session proves `key`, both are taken. -EEXIST:
 * `key` is another node's (or a pending rotation's); -EINVAL: it is the
 * current key. The same `key` again is 0 (a retry after a crash). */
int registry_node_set_next_key(struct registry *r, size_t index, const uint8_t key[REG_KEY_LEN],
                               char *err, size_t err_len);
/* Admin action (SEC-2): node `node`'s key is revoked: its registration is
 * refused (-EKEYREVOKED) from now on. -ENOENT, -EALREADY, -EPERM. */
int registry_node_revoke_key(struct registry *r, const char *actor, const char *node, char *err,
                             size_t err_len);
int registry_node_by_addr(const struct registry *r, const struct io_addr *addr);
void registry_node_set_connected(struct registry *r, size_t index, bool connected);
/* alive (clears lost), or dead: known gone (its session closed). */
void registry_node_set_alive(struct registry *r, size_t index, bool alive);
/* Not alive, not known dead (see reg_node.lost). */
void registry_node_set_lost(struct registry *r, size_t index);

/* Admin action: the known node `node`'s tags become `tags` (1 to
 * REG_MAX_TAGS, well-formed, distinct, each owned in the policy's
 * tagOwners: the registration checks) and stay so (tags_by_admin) until
 * an admin sets them again. At least one tag: a tagged node stays tagged
 * (CFG-11: untagging would leave its hosts unable to host; a node is
 * untagged by registering it again). -ENOENT (unknown node), -EINVAL (a
 * malformed, repeated or missing tag), -EPERM (not an admin, or a tag not
 * owned), -E2BIG (too many).
 *
 * What follows is computed, not stored: policy sees the node by its new
 * tags, so grants whose src is a tag start or stop matching it as a
 * client (ACL-1/2); auto-approval (APR-3) of its hosts is judged on the
 * new tags, while an explicit decision (approved, rejected, revoked) is
 * kept and still wins; its advertisements stay as the node sent them. */
int registry_node_set_tags(struct registry *r, const char *actor, const char *node,
                           const char *const *tags, size_t n_tags, char *err, size_t err_len);

/* Services (admin actions). define creates or changes (same name: VIPs
 * kept). `ports` entries are "tcp:N", "tcp:N-M" or the single entry
 * "do-not-validate"; `tags` at least one, each owned in the policy. */
struct reg_service_def {
	const char *name, *description;
	const char *const *ports;
	size_t n_ports;
	const char *const *tags;
	size_t n_tags;
};
int registry_define_service(struct registry *r, const char *actor,
                            const struct reg_service_def *def, char *err, size_t err_len);
int registry_delete_service(struct registry *r, const char *actor, const char *name, char *err,
                            size_t err_len);
size_t registry_service_count(const struct registry *r);
const struct reg_service *registry_service(const struct registry *r, size_t index);
int registry_service_index(const struct registry *r, const char *name); /* -ENOENT */
int registry_service_by_vip(const struct registry *r, const struct io_addr *vip);
/* SVC-1 name check alone (also used by clients of the API). */
bool registry_service_name_valid(const char *name, char *err, size_t err_len);

/* Advertisements (from sessions): the node's whole set replaces the last.
 * An untagged node cannot host (CFG-11): its entries are refused with
 * -EPERM and `err` says so, the rest applied. */
struct reg_advert {
	const char *service;
	bool draining, tun;
	size_t n_config_ports;
	const uint16_t *config_ports;
};
int registry_advertise(struct registry *r, size_t node, const struct reg_advert *adverts, size_t n,
                       char *err, size_t err_len);

/* Approvals (admin actions, APR-2/5): `decision` APPROVED, REJECTED or
 * REVOKED for (service, node). The service must be defined and the node
 * known; no advertisement is needed (approving ahead = pre-approved). */
int registry_decide(struct registry *r, const char *actor, const char *service, const char *node,
                    enum reg_decision decision, char *err, size_t err_len);

/* Hosts of a service (every host record naming it), and lookups. */
size_t registry_host_count(const struct registry *r);
const struct reg_host *registry_host(const struct registry *r, size_t index);
int registry_host_index(const struct registry *r, const char *service, const char *node);
bool registry_host_approved(const struct registry *r, const struct reg_host *h);
bool registry_host_auto_approved(const struct registry *r, const struct reg_host *h);
bool registry_host_eligible(const struct registry *r, const struct reg_host *h);
enum reg_state registry_host_state(const struct registry *r, const struct reg_host *h);
enum reg_state registry_service_state(const struct registry *r, const char *service);
const char *reg_state_name(enum reg_state s);               /* "Pending approval", ... */
int reg_state_parse(const char *text, enum reg_state *out); /* case-insensitive */

/* Nodes policy would approve for `service` that have no host record yet
 * are pre-approved too (APR-4); this lists every (node) index that is
 * pre-approved for `service`, best effort up to `max`. Returns the count. */
size_t registry_pre_approved_nodes(const struct registry *r, const char *service, size_t *out,
                                   size_t max);

/* Steering: S's eligible hosts (node indexes) ranked for `client`, best
 * first. Returns the count (<= max). */
size_t registry_rank_hosts(const struct registry *r, size_t client, const char *service,
                           size_t *out, size_t max);

/* Auth keys (SEC-1). Times are Unix seconds the caller passes.
 *
 * registry_authkey_create: any known user may make a key without tags (its
 * nodes join as theirs); one with tags is an admin action (-EPERM). `tags`
 * (0 to REG_MAX_TAGS) follow set-tags' rules: well-formed, distinct, owned
 * in the policy's tagOwners (-EINVAL, -EPERM, -E2BIG). `expires_s` 0 is
 * never, else it must be after `now_s`. The id and secret come from
 * `random` (the caller's seam, so a simulation replays): the key's text
 * goes to key_out (at least REG_AUTHKEY_TEXT_LEN + 1 bytes) and is never
 * kept. With REG_MAX_AUTHKEYS keys, the oldest that can no longer be used
 * (revoked, expired or spent) makes room; -ENOSPC when none can.
 * -EEXIST when the id is taken (draw again).
 *
 * registry_authkey_use checks a presented key: -EINVAL malformed, -ENOENT
 * not known (no id, or the secret does not match), -EKEYREVOKED revoked
 * or a one-off key already used, -EKEYEXPIRED expired. Messages name the
 * key by its id, never its secret. On success the use is counted (a
 * one-off key is spent) and *tags_out, *n_tags_out (either may be NULL)
 * are the key's tags, valid until the registry next changes.
 *
 * registry_authkey_revoke (admin action): -ENOENT unknown id, -EALREADY
 * revoked before. Every change bumps the generation. */
int registry_authkey_create(struct registry *r, const char *actor, bool reusable,
                            uint64_t expires_s, const char *const *tags, size_t n_tags,
                            uint64_t now_s, const uint8_t random[REG_AUTHKEY_RANDOM], char *key_out,
                            size_t key_len, char *err, size_t err_len);
int registry_authkey_use(struct registry *r, const char *key_text, uint64_t now_s,
                         const char *const **tags_out, size_t *n_tags_out, char *err,
                         size_t err_len);
/* registry_authkey_create without the role check: the operator's own
 * provisioning (the simulator's world gives each node a key this way).
 * `owner` ("" for none) is the login the joining node belongs to when the
 * key carries no tags. */
int registry_authkey_issue(struct registry *r, const char *owner, bool reusable, uint64_t expires_s,
                           const char *const *tags, size_t n_tags, uint64_t now_s,
                           const uint8_t random[REG_AUTHKEY_RANDOM], char *key_out, size_t key_len,
                           char *err, size_t err_len);
/* registry_authkey_use in two steps, so a registration refused for
 * another reason spends nothing: the key's index (or the refusal), and
 * counting its use. */
int registry_authkey_check(const struct registry *r, const char *key_text, uint64_t now_s,
                           char *err, size_t err_len);
void registry_authkey_spend(struct registry *r, size_t index);
int registry_authkey_revoke(struct registry *r, const char *actor, const char *id, char *err,
                            size_t err_len);
size_t registry_authkey_count(const struct registry *r);
const struct reg_authkey *registry_authkey(const struct registry *r, size_t index);
int registry_authkey_index(const struct registry *r, const char *id); /* -ENOENT */
/* A one-off key used once: it will never let another node in. */
bool reg_authkey_spent(const struct reg_authkey *k);
/* Could it still let a node join at `now_s` (not revoked, expired, spent)? */
bool reg_authkey_usable(const struct reg_authkey *k, uint64_t now_s);

/* Persistence: everything but liveness and most of the advertisements
 * (sessions bring those back); secrets (tokens, auth keys) as hashes only. What the active (not
 * draining) hosts of nodes alive or lost advertise is saved too ("hosting"), so that a restarted
 * control knows which hosts were serving (STR-8); those nodes load as lost. registry_from_json
 * builds a new registry. */
char *registry_to_json(const struct registry *r); /* malloc'd */
int registry_from_json(const char *text, size_t len, struct registry **out, char *err,
                       size_t err_len);

#endif
