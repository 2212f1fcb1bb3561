/* mapgen: turns the registry into each node's netmap (lib/wire/netmap.h's JSON
 * form) and into the smallest message that brings a session up to date.
 *
 * Pure code: no I/O. Reads the registry and its policy.
 *
 * Node N's netmap:
 * - self: N's name, addresses, tags, user, display name.
 * - services: every defined service N may reach on some port
 *   (policy_service_ports non-empty), with its VIPs, ports, and `hosts`:
 *   registry_rank_hosts for N (at most NETMAP_MAX_HOSTS names). A service
 *   N may not reach is absent, and so is its DNS record (ACL-1).
 * - dns: `<label>.<tailnet>` -> VIPs for those services.
 * - host_services: services N is approved for and advertises (draining
 *   included: its open connections must keep their VIPs), with VIPs; plus
 *   `"cert_pem"` from the certificate callback when it returns one.
 * - peers: only nodes N talks to: hosts in N's `services[].hosts`, nodes
 *   N may reach directly or that may reach N directly, and, when N hosts a
 *   service, every node allowed to reach that service (replies go to
 *   them). Never all N^2 pairs.
 * - filter: what N accepts, compiled from the grants for N as a
 *   destination: per hosted service, rules with the allowed clients'
 *   addresses as `src`, the VIPs as `dst` with the granted ports and
 *   protocols (ACL-1/2/3); per direct node grant, rules towards N's own
 *   addresses.
 *   Sources are spread over up to 64 buckets by a hash of the node name;
 *   each rule has a stable "id" (`<svc:name|node>|<ports>|<proto>|b/n|k`)
 *   and the array is in id order, so a node joining or leaving changes one
 *   small rule (a filter_upsert in the delta), not the whole filter. Past
 *   NETMAP_MAX_FILTER_RULES rules are dropped (refusing is the safe side).
 * - peers are in name order; nodes without an underlay endpoint, or whose
 *   endpoint another (connected, else alive, else newer) node claims, are
 *   left out (two peers with one endpoint would make the map invalid).
 * - top level "ca_pem" (the tailnet CA, so clients can verify L7-5) when
 *   the options give one.
 *
 * Deltas: a session's `struct mapgen_sent` remembers what it last sent
 * (a digest per section and per peer). mapgen_message() compares the new
 * map with it and returns either nothing (unchanged), a delta, or the
 * full map when the delta would not be smaller (see lib/wire/mapproto.h for
 * both shapes). The receiver applies deltas with mapproto_apply_delta().
 */
#ifndef CONTROL_MAPGEN_H
#define CONTROL_MAPGEN_H

#include "control/registry.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The PEM certificate chain for `node` hosting `service`, or NULL. */
typedef const char *(*mapgen_cert_fn)(void *ctx, size_t node, const char *service);

struct mapgen_options {
	const char *ca_pem; /* NULL: none */
	mapgen_cert_fn cert_fn;
	void *cert_ctx;
};

struct mapgen;

/* Caches per registry generation (who may reach what); `r` must outlive it. */
int mapgen_new(struct mapgen **out, const struct registry *r, const struct mapgen_options *opt);
void mapgen_free(struct mapgen *mg);

/* Node `node`'s whole netmap as a cJSON object (caller frees), with
 * "version": `version`. NULL on -ENOMEM. Recomputes the caches first when
 * the registry's generation moved. */
cJSON *mapgen_node_map(struct mapgen *mg, size_t node, uint64_t version);

/* Whether `client` is allowed to reach `service` on (proto, port) by the
 * current policy (the same evaluation the filter is compiled from). */
bool mapgen_may_reach(struct mapgen *mg, size_t client, const char *service, uint8_t proto,
                      uint16_t port);

/* Per session memory of the last map sent. */
struct mapgen_sent;
struct mapgen_sent *mapgen_sent_new(void);
void mapgen_sent_free(struct mapgen_sent *s);
/* Forget what was sent (the next message is a full map): after a resync. */
void mapgen_sent_reset(struct mapgen_sent *s);

/* The message that brings the receiver from what `sent` remembers to
 * `map` (whose "version" it carries): a malloc'd JSON text, *is_delta
 * telling which kind, or NULL with *is_delta false when nothing changed
 * (and the version is not consumed: the caller may reuse it). On success
 * `sent` now remembers `map`. NULL with errno ENOMEM on failure. */
char *mapgen_message(struct mapgen_sent *sent, const cJSON *map, bool *is_delta, size_t *len);

#endif
