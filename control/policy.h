/* The tailnet policy document: who may reach which service on which ports,
 * and which hosts are approved automatically.
 *
 * Pure code: parse, validate, evaluate. No I/O, no process state.
 *
 * The document is HuJSON-style JSON: `//` and `/ * ... * /` comments and
 * trailing commas before `]` or `}` are accepted (stripped, keeping line
 * and column numbers, before cJSON parses it). Shape:
 *
 *   {
 *     "groups":    {"group:eng": ["alice@example.com", "bob@example.com"]},
 *     "tagOwners": {"tag:web": ["alice@example.com", "group:eng", "autogroup:admin"]},
 *     "grants": [
 *       {"src": ["tag:client", "autogroup:member", "group:eng", "bob@example.com", "*"],
 *        "dst": ["svc:web", "tag:prod-service", "*"],
 *        "ip":  ["443", "8000-8100", "tcp:5432", "udp:53", "*"]}
 *     ],
 *     "autoApprovers": {"services": {"svc:web": ["tag:web"], "tag:prod-service": ["tag:infra"]}}
 *   }
 *
 * Meaning:
 * - A src selector matches a node: `tag:T` (the node carries T), a user
 *   login (the node is owned by that user and untagged), `group:G` (owned by
 *   a member of G, untagged), `autogroup:member` (any untagged user-owned
 *   node), `*` (any node).
 * - A dst selector names services and nodes: `svc:X` (service X),
 *   `tag:T` (every service carrying tag T, and every node carrying T),
 *   a user login or `group:G` (that user's untagged nodes), `*` (every
 *   service and every node).
 * - `ip` entries: `N`, `N-M`, `*` (TCP and UDP), or `tcp:...`/`udp:...`
 *   (one protocol). Ports 1-65535.
 * - autoApprovers.services: key `svc:X` or `tag:T` (every service carrying
 *   T); value: node tags; a host carrying one of them is approved for that
 *   service without an admin (APR-3).
 *
 * Validation refuses the whole document with one message naming the place
 * (`grants[2].dst[0]: "svc:We b" is not a valid service name`), also with
 * line:col when the JSON itself is malformed. Rules checked: known
 * top-level keys only (plus "acls", "hosts", "ssh", "tests" which are
 * accepted and ignored); every tag used anywhere is owned in tagOwners;
 * every group used is defined; selectors and ports well-formed; limits.
 */
#ifndef CONTROL_POLICY_H
#define CONTROL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_BYTES     (1u << 20)
#define POLICY_MAX_GRANTS    1024
#define POLICY_MAX_SELECTORS 256 /* entries in one src/dst/ip/owner list */
#define POLICY_MAX_GROUPS    1024
#define POLICY_MAX_TAGS      1024
#define POLICY_MAX_APPROVERS 1024
#define POLICY_MAX_NAME      253
#define POLICY_ERR_LEN       512

/* The identity of a node as policy sees it. */
struct policy_node {
	const char *user; /* owner login; "" or NULL for none */
	const char *const *tags;
	size_t n_tags; /* a tagged node is not a member of its user's groups */
};

/* The identity of a service as policy sees it. */
struct policy_service {
	const char *name; /* "svc:web" */
	const char *const *tags;
	size_t n_tags;
};

enum policy_proto {
	POLICY_PROTO_ANY = 0,
	POLICY_PROTO_TCP = 6,
	POLICY_PROTO_UDP = 17,
};

struct policy_port_range {
	uint8_t proto; /* enum policy_proto */
	uint16_t first, last;
};

/* What a grant evaluation yields: a set of port ranges (a small list,
 * merged and sorted by proto then first port; empty = no access). */
#define POLICY_MAX_PORT_RANGES 64
struct policy_ports {
	size_t n;
	struct policy_port_range r[POLICY_MAX_PORT_RANGES];
	bool truncated; /* more ranges than fit: treat as refused beyond r[] */
};

struct policy;

/* Validation details (added by the implementation, same contract):
 * - Limits give -E2BIG: the document, grants, groups, tags, approvers, the
 *   entries of one list (POLICY_MAX_SELECTORS) and each name
 *   (POLICY_MAX_NAME). Everything else malformed gives -EINVAL.
 * - A raw NUL byte or a "\u0000" escape is refused (line:col).
 * - Group members are user logins (groups do not nest); tagOwners values
 *   are users, groups, tags or autogroup:admin/member/owner/network-admin.
 * - Grants need exactly "src", "dst" and "ip"; a src may not be svc:.
 * - autoApprovers also accepts (and ignores) "routes" and "exitNode".
 * - Evaluation: port sets of all matching grants are unioned; if the union
 *   has more than POLICY_MAX_PORT_RANGES ranges the highest are dropped and
 *   `truncated` is set (refusing more, never admitting more). */

/* Parses and validates. Returns 0 and *out, or -EINVAL/-E2BIG/-ENOMEM with
 * `err` naming the place; nothing is allocated on failure. */
int policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t err_len);
void policy_free(struct policy *p);
/* The text it was parsed from (for persistence and GET /api/policy). */
const char *policy_text(const struct policy *p);
/* An empty policy: no grants, no tagOwners, no autoApprovers. */
int policy_new_empty(struct policy **out);

/* Is `tag` owned in tagOwners (may a node carry it)? */
bool policy_tag_known(const struct policy *p, const char *tag);

/* Ports on which `src` may reach service `svc` (ACL-1/2/3). */
void policy_service_ports(const struct policy *p, const struct policy_node *src,
                          const struct policy_service *svc, struct policy_ports *out);
/* Ports on which `src` may reach node `dst` directly (node-to-node). */
void policy_node_ports(const struct policy *p, const struct policy_node *src,
                       const struct policy_node *dst, struct policy_ports *out);
/* Would policy approve `host` for `svc` automatically (APR-3)? */
bool policy_auto_approves(const struct policy *p, const struct policy_service *svc,
                          const struct policy_node *host);

/* Whether a port set admits (proto, port): a range of `proto` or of
 * POLICY_PROTO_ANY covers the port. Asked with POLICY_PROTO_ANY, only
 * POLICY_PROTO_ANY ranges count. */
bool policy_ports_allow(const struct policy_ports *ports, uint8_t proto, uint16_t port);

#endif
