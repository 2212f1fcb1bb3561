/* The catalogue of planted defects (EXP-5; see lib/base/mutant.h), the one
 * list of every name MUTANT() may be given. X(name, requirement, where,
 * what it breaks): scripts/mutants.sh reads these lines for its kill
 * table, so each entry stays on one line. Compiled only into a mutant
 * build (lib/base/mutant.c), so an ordinary build holds none of the names. */
#ifndef LIB_BASE_MUTANT_CATALOGUE_H
#define LIB_BASE_MUTANT_CATALOGUE_H

/* clang-format off */
#define MUTANT_CATALOGUE(X) \
X("drain-accepts-new-flows", "DRN-1", "proxy/svcd_proxies.c", "a drained host keeps its listeners and accepts new connections") \
X("filter-ignores-ports", "ACL-3", "proxy/dataplane/dataplane_filter.c", "the host's packet filter admits a granted source on any port") \
X("failover-ignores-probes", "STR-4", "proxy/dataplane/dataplane_probe.c", "unanswered probes never mark a host dead: new flows keep going to it") \
X("pinning-lost-on-map-change", "STR-6", "proxy/dataplane/dataplane.c", "every netmap change forgets the flow table, so open flows are steered afresh") \
X("stale-netmap-accepted", "ACL-4", "proxy/mapclient.c", "a delta on another base is acked as applied: the daemon keeps its old map for good") \
X("l4-halfclose-drops-tail", "L4-1", "proxy/l4/tcp_proxy.c", "on EOF the L4 proxy sends FIN at once and drops the bytes still buffered") \
X("no-reset-for-dead-host", "STR-7", "proxy/dataplane/dataplane_flow.c", "flows pinned to a dead or departed host are never reset at the client") \
X("l7-forwarded-proto-https", "L7-4", "proxy/l7/http_upstream.c", "X-Forwarded-Proto says https on plain HTTP") \
X("l4-connection-limit-ignored", "REL-1", "proxy/l4/tcp_proxy.c", "the L4 proxy accepts connections past its limit") \
X("vip-source-allowed", "LIM-2", "proxy/dataplane/dataplane_filter.c", "a host may open connections from a VIP") \
X("revoke-never-reaches-clients", "APR-5", "control/registry_approval.c", "a revoked host stays in clients' rankings") \
X("pending-host-carries-traffic", "APR-1", "control/registry_approval.c", "a host with no decision counts as approved") \
X("approvals-forgotten-on-restart", "APR-2", "control/registry_json.c", "approve/reject/revoke decisions are not saved: a restarted control forgets them") \
X("steering-ignores-region", "STR-3", "control/registry_approval.c", "ranking ignores region and latency: only the rendezvous hash orders hosts") \
X("drain-confirmed-without-acks", "DRN-3", "control/control_drain.c", "control confirms a drain before every client acked the map without the host") \
X("ack-before-durable", "REL-3", "control/control_admin_cmd.c", "an admin write whose save failed is acknowledged and applied anyway") \
X("grant-tag-dst-ignored", "ACL-2", "control/policy_eval.c", "a grant whose dst is a tag reaches no service carrying the tag") \
X("auto-approver-ignores-host-tags", "APR-3", "control/policy_eval.c", "autoApprovers approve any tagged host, whatever its tags")
/* clang-format on */

#endif
