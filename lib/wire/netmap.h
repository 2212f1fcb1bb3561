/* The netmap: everything a node daemon knows about its tailnet, as control
 * (or, before control exists, a JSON file or the local API) hands it over.
 *
 * Pure code: parse, validate, look up. No I/O. A netmap is immutable once
 * built; the daemon swaps in a new one as a whole (a bad document changes
 * nothing). The same JSON form is what control sends in a map session.
 *
 *   {"version": 7, "tailnet": "example.ts.net",
 *    "self":  {"name": "web-us", "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"],
 *              "tags": ["tag:web"], "user": "", "display_name": ""},
 *    "peers": [{"name": "client-0", "addresses": ["100.64.0.3"],
 *               "endpoint": "10.0.0.3:41641", "user": "bob@example.com",
 *               "display_name": "Bob", "tags": [], "key": "<44 base64>"}],
 *    "services": [{"name": "svc:web", "addresses": ["100.100.0.5", "fd7a:115c:a1e0:ab12::5"],
 *                  "ports": ["tcp:443"], "hosts": ["web-us", "web-eu"]}],
 *    "host_services": [{"name": "svc:web", "addresses": ["100.100.0.5", ...]}],
 *    "filter": [{"src": ["100.64.0.3/32", "*"], "proto": ["tcp"],
 *                "dst": [{"net": "100.100.0.5/32", "ports": "443"},
 *                        {"net": "100.64.0.1/32", "ports": "8000-8100"}]}],
 *    "dns": [{"name": "web.example.ts.net", "addresses": ["100.100.0.5", ...]}]}
 *
 * - `services[].hosts` is steering's answer for THIS node: peer names,
 *   best first. New flows to the service's VIPs go to the first host that
 *   is not known dead locally; existing flows stay pinned (STR-6).
 * - `host_services` lists the services this node is approved to host,
 *   with their VIPs: the daemon puts those VIPs on its TUN device.
 * - `filter` is what THIS node accepts from peers (the grants compiled for
 *   it as a destination); "*" means any source, ports "*" any port.
 *   Packets of flows this node initiated, or already accepted, are
 *   allowed back regardless.
 * - `dns` is the MagicDNS records this node may resolve (ACL-1).
 *
 * Validation (netmap.c): every address is in the tailnet prefixes; a
 * tailnet address belongs to one node, a VIP to one service (and is never
 * a node's address); peer names, endpoints, service names and DNS names
 * are unique; `hosts` name peers (this node's own name is skipped: it
 * reaches a VIP it hosts locally); an endpoint without a port gets
 * NETMAP_DEFAULT_PORT; `ports` are "tcp:N" or "tcp:N-M"; filter `src` and
 * `dst.net` are "*", an address or a prefix, `dst.ports` "*", "N" or "N-M",
 * `proto` "tcp"/"udp"/"icmp" or 1-255 (absent: any); DNS names are stored
 * lower-case without a trailing dot. Unknown members are ignored, so
 * control may add fields before every daemon knows them.
 */
#ifndef LIB_WIRE_NETMAP_H
#define LIB_WIRE_NETMAP_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETMAP_MAX_JSON_BYTES   (64u << 20)
#define NETMAP_MAX_PEERS        100000
#define NETMAP_MAX_SERVICES     4096
#define NETMAP_MAX_ADDRS        8  /* per node or service */
#define NETMAP_MAX_TAGS         32 /* per node */
#define NETMAP_MAX_HOSTS        64 /* ranked hosts per service */
#define NETMAP_MAX_FILTER_RULES 4096
#define NETMAP_MAX_RULE_ENTRIES NETMAP_MAX_PEERS /* sources or destinations per rule */
#define NETMAP_MAX_NAME         253
#define NETMAP_ERR_LEN          512
#define NETMAP_DEFAULT_PORT     41641 /* underlay UDP port when an endpoint names none */

/* An address prefix; `bits` 0 with family IO_AF_NONE means "any". */
struct netmap_prefix {
	struct io_addr addr; /* port unused */
	uint8_t bits;
};

struct netmap_node {
	char *name;
	size_t n_addrs;
	struct io_addr addrs[NETMAP_MAX_ADDRS]; /* tailnet addresses, port 0 */
	struct io_addr endpoint;                /* underlay UDP endpoint (peers only) */
	char *user;                             /* login, "" for tagged nodes */
	char *display_name;
	size_t n_tags;
	char **tags;
	/* Its node key (SEC-1), which is its WireGuard public key: "key" in
	 * the document, base64 as `wg` shows keys; optional (a netmap from a
	 * file or written before keys has none). */
	bool has_key;
	uint8_t key[32];
};

struct netmap_service {
	char *name; /* "svc:web" */
	size_t n_addrs;
	struct io_addr addrs[NETMAP_MAX_ADDRS]; /* the VIP pair */
	size_t n_ports;
	struct {
		uint16_t first, last;
	} * ports; /* empty with do_not_validate */
	bool do_not_validate;
	size_t n_hosts;
	int *hosts; /* indexes into peers[], best first */
};

struct netmap_filter_dst {
	struct netmap_prefix net;
	uint16_t port_first, port_last; /* 0-65535 for "*" */
};

enum netmap_proto {
	NETMAP_PROTO_ANY = 0,
	NETMAP_PROTO_TCP = 6,
	NETMAP_PROTO_UDP = 17,
	NETMAP_PROTO_ICMP = 1,
};

struct netmap_filter_rule {
	size_t n_src;
	struct netmap_prefix *src;
	size_t n_proto; /* 0: any */
	uint8_t *proto;
	size_t n_dst;
	struct netmap_filter_dst *dst;
};

struct netmap_dns_record {
	char *name; /* fully qualified, lower case, no trailing dot */
	size_t n_addrs;
	struct io_addr addrs[NETMAP_MAX_ADDRS];
};

struct netmap {
	uint64_t version;
	char *tailnet;
	struct netmap_node self;
	size_t n_peers;
	struct netmap_node *peers;
	size_t n_services;
	struct netmap_service *services;
	size_t n_host_services;
	struct netmap_service *host_services; /* hosts/ports unused */
	size_t n_rules;
	struct netmap_filter_rule *rules;
	size_t n_dns;
	struct netmap_dns_record *dns;
	void *index; /* private lookup tables built by netmap_from_json */
};

/* Parses and validates a whole document into `out` (zeroed first). On
 * error returns -EINVAL/-E2BIG/-ENOMEM with a message naming the place
 * (`peers[3].endpoint: ...`) and leaves `out` empty. */
int netmap_from_json(const char *text, size_t len, struct netmap *out, char *err, size_t err_len);
char *netmap_to_json(const struct netmap *nm); /* malloc'd */
void netmap_free(struct netmap *nm);

/* Lookups, O(1) expected (hash tables in `index`). */
int netmap_peer_by_addr(const struct netmap *nm, const struct io_addr *tailnet_addr);
int netmap_peer_by_name(const struct netmap *nm, const char *name);
/* The peer whose underlay endpoint (ip and port) is `endpoint`, or -1. */
int netmap_peer_by_endpoint(const struct netmap *nm, const struct io_addr *endpoint);
/* The peer with this node key (a WireGuard handshake names its sender by
 * it), or -1. Keys are unique among peers and never this node's own. */
int netmap_peer_by_key(const struct netmap *nm, const uint8_t key[32]);
const struct netmap_service *netmap_service_by_vip(const struct netmap *nm,
                                                   const struct io_addr *vip);
const struct netmap_service *netmap_service_by_name(const struct netmap *nm, const char *name);
const struct netmap_service *netmap_host_service_by_vip(const struct netmap *nm,
                                                        const struct io_addr *vip);
const struct netmap_dns_record *netmap_dns_lookup(const struct netmap *nm, const char *name);
bool netmap_is_self_addr(const struct netmap *nm, const struct io_addr *addr);

/* The packet filter: may `src` open a flow to dst:port with `proto`? */
bool netmap_filter_allows(const struct netmap *nm, const struct io_addr *src,
                          const struct io_addr *dst, uint8_t proto, uint16_t dst_port);

#endif
