/* Tailnet workloads started at their `start`: the target resolved from
 * control's registry (or a literal VIP), then one client per node `from`
 * matches (HTTP or HTTPS, TCP echo or stream, UDP echo), each told how
 * to find the host its flow went to in its own data plane. */
#include "sim/world_int.h"

#include "control/control.h"
#include "control/registry.h"
#include "lib/base/errfmt.h"
#include "lib/wire/netmap.h"
#include "lib/wire/packet.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/serve/serve_cmd.h"
#include "proxy/svcd.h"
#include "sim/workload/workload_http.h"
#include "sim/workload/workload_tcp.h"
#include "sim/workload/workload_udp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The host a client's flow went to: its pin in the client's data plane
 * (NULL while the client's daemon is down). A UDP workload's socket has
 * no local address, so the flow's source is the client's own tailnet
 * address of the target's family, from its netmap. */
static const char *world_flow_host_proto(struct world_client *c, uint8_t proto,
                                         const struct io_addr *local, const struct io_addr *remote)
{
	struct svcd *d = c->w->tn->nodes[c->node].daemon;
	struct dataplane_tuple t = {.proto = proto, .src = *local, .dst = *remote};
	const struct netmap *nm = d ? svcd_netmap(d) : NULL;

	if (!nm)
		return NULL;
	if (proto == PACKET_PROTO_UDP) {
		size_t i = 0;
		while (i < nm->self.n_addrs && nm->self.addrs[i].family != remote->family)
			i++;
		if (i == nm->self.n_addrs)
			return NULL;
		memcpy(t.src.ip, nm->self.addrs[i].ip, sizeof(t.src.ip));
		t.src.family = remote->family;
	}
	return dataplane_flow_host(svcd_dataplane(d), &t);
}

static const char *world_flow_host(void *ctx, const struct io_addr *local,
                                   const struct io_addr *remote)
{
	return world_flow_host_proto(ctx, PACKET_PROTO_TCP, local, remote);
}

static const char *world_flow_host_udp(void *ctx, const struct io_addr *local,
                                       const struct io_addr *remote)
{
	return world_flow_host_proto(ctx, PACKET_PROTO_UDP, local, remote);
}

/* Is wl's port of its service served as HTTPS by some node's serve line
 * (`--https=N`, or no type flag: HTTPS 443, CFG-2)? */
static bool world_workload_https(const struct world *w, const struct scenario_workload *wl)
{
	const struct scenario *sc = w->sc;
	struct serve_op *op;
	char err[256];
	bool https = false;

	if (wl->target != SCENARIO_TARGET_SERVICE || wl->kind != SCENARIO_WORKLOAD_HTTP)
		return false;
	op = malloc(sizeof(*op));
	if (!op)
		return false;
	for (int g = 0; g < sc->group_count && !https; g++)
		for (size_t k = 0; k < sc->groups[g].n_serve && !https; k++) {
			const char *text = sc->groups[g].serve[k].text;
			if (serve_cmd_parse_line(text, strlen(text), op, err, sizeof(err)) == 0 &&
			    op->verb == SERVE_VERB_SET && !strcmp(op->service, wl->service) &&
			    op->port == wl->port && op->type == SERVE_TYPE_HTTPS)
				https = true;
		}
	free(op);
	return https;
}

/* The first IPv4 address of a list. */
static bool first_ipv4(const struct io_addr *addrs, size_t n, struct io_addr *out)
{
	for (size_t i = 0; i < n; i++)
		if (addrs[i].family == IO_AF_INET) {
			*out = addrs[i];
			return true;
		}
	return false;
}

/* While control is down, the names still resolve where the clients'
 * MagicDNS resolves them: the last maps their daemons applied. The first
 * client daemon of wl that knows the target answers. */
static bool world_resolve_from_maps(const struct world *w, const struct scenario_workload *wl,
                                    struct io_addr *out)
{
	for (uint32_t n = 0; n < w->node_count; n++) {
		const struct svcd *d = w->tn->nodes[n].daemon;
		const struct netmap *nm = d ? svcd_netmap(d) : NULL;
		if (!nm || !scenario_workload_has_client(w->sc, wl, n))
			continue;
		for (size_t i = 0; wl->target == SCENARIO_TARGET_SERVICE && i < nm->n_services; i++)
			if (strcmp(nm->services[i].name, wl->service) == 0 &&
			    first_ipv4(nm->services[i].addrs, nm->services[i].n_addrs, out))
				return true;
		for (size_t i = 0; wl->target != SCENARIO_TARGET_SERVICE && i < nm->n_peers; i++)
			if (strcmp(nm->peers[i].name, w->nodes[wl->node].name) == 0 &&
			    first_ipv4(nm->peers[i].addrs, nm->peers[i].n_addrs, out))
				return true;
	}
	return false;
}

/* wl's target address now: a service's VIP or a node's tailnet address
 * from control's registry (while control is down, from the clients' last
 * maps, else a service's VIP as defined at t=0), or the literal. */
static int world_resolve(struct world *w, const struct scenario_workload *wl, struct io_addr *out,
                         char *why, size_t why_len)
{
	const struct registry *r;
	int i;

	if (wl->target == SCENARIO_TARGET_VIP) {
		if (io_addr_parse(out, wl->address, wl->port) < 0 || out->family != IO_AF_INET)
			return err_setf(why, why_len, -EAFNOSUPPORT,
			                "workload %s: target %s: only IPv4 VIPs run in simulation",
			                wl->name, wl->address);
		out->port = wl->port;
		return 0;
	}
	if (!w->tn->control && world_resolve_from_maps(w, wl, out)) {
		out->port = wl->port;
		return 0;
	}
	i = wl->target == SCENARIO_TARGET_SERVICE ? scenario_service_find(w->sc, wl->service) : -1;
	if (!w->tn->control && i >= 0 && w->service_vips[i].family) {
		*out = w->service_vips[i];
		out->port = wl->port;
		return 0;
	}
	if (!w->tn->control)
		return err_setf(why, why_len, -ENOTCONN,
		                "workload %s starts while control is down: its target %s is in "
		                "no client's map yet",
		                wl->name, wl->to);
	r = control_registry(w->tn->control);
	if (wl->target == SCENARIO_TARGET_SERVICE) {
		i = registry_service_index(r, wl->service);
		if (i < 0)
			return err_setf(why, why_len, -ENOENT,
			                "workload %s: service %s is not defined when it starts",
			                wl->name, wl->service);
		*out = registry_service(r, (size_t)i)->vip4;
	} else {
		i = registry_node_index(r, w->nodes[wl->node].name);
		if (i < 0)
			return err_setf(why, why_len, -ENOENT,
			                "workload %s: node %s has not registered with control by "
			                "%.3fs",
			                wl->name, w->nodes[wl->node].name,
			                (double)ns3w_now_us(w->ns3) / 1e6);
		*out = registry_node(r, (size_t)i)->addr4;
	}
	out->port = wl->port;
	return 0;
}

/* One client of wl on node n, of wl's kind, toward `target` from now. */
static int world_client_new(struct world *w, const struct scenario_workload *wl,
                            struct world_client *c, const struct io_addr *target, bool https)
{
	uint32_t n = c->node;
	uint64_t now = ns3w_now_us(w->ns3);

	if (wl->kind == SCENARIO_WORKLOAD_HTTP) {
		const struct wh_config hc = {.name = wl->name,
		                             .client = w->nodes[n].name,
		                             .target = *target,
		                             .host_header = wl->host_name,
		                             .path = wl->path,
		                             .request_bytes = wl->request_bytes,
		                             .response_bytes = wl->response_bytes,
		                             .keepalive =
		                                 wl->connection == SCENARIO_CONNECTION_KEEPALIVE,
		                             .rate_per_s = wl->rate_per_s,
		                             .start_us = now,
		                             .stop_us = wl->stop_us,
		                             .tls = https ? w->tls : NULL,
		                             .host_fn = world_flow_host,
		                             .host_ctx = c};
		return wh_client_new(&c->http, w->nodes[n].io, &hc);
	}
	if (wl->kind == SCENARIO_WORKLOAD_UDP_ECHO) {
		const struct wu_config uc = {.name = wl->name,
		                             .client = w->nodes[n].name,
		                             .target = *target,
		                             .request_bytes = wl->request_bytes,
		                             .rate_per_s = wl->rate_per_s,
		                             .start_us = now,
		                             .stop_us = wl->stop_us,
		                             .host_fn = world_flow_host_udp,
		                             .host_ctx = c};
		return wu_client_new(&c->udp, w->nodes[n].io, &uc);
	}
	const struct wt_config tc = {.kind = wl->kind == SCENARIO_WORKLOAD_TCP_STREAM ? WT_STREAM
	                                                                              : WT_ECHO,
	                             .name = wl->name,
	                             .client = w->nodes[n].name,
	                             .target = *target,
	                             .request_bytes = wl->request_bytes,
	                             .rate_per_s = wl->rate_per_s,
	                             .keepalive = wl->connection == SCENARIO_CONNECTION_KEEPALIVE,
	                             .connections = wl->connections,
	                             .hold_us = wl->hold_us,
	                             .start_us = now,
	                             .stop_us = wl->stop_us,
	                             .host_fn = world_flow_host,
	                             .host_ctx = c};
	return wt_client_new(&c->tcp, w->nodes[n].io, &tc);
}

/* The resolved target, then one client per node wl's `from` matches (the
 * HTTPS clients share one TLS context that trusts control's CA). */
int world_start_workload(struct world *w, const struct scenario_workload *wl, char *why,
                         size_t why_len)
{
	struct io_addr target;
	bool https = world_workload_https(w, wl);
	int rc = world_resolve(w, wl, &target, why, why_len);

	if (rc < 0)
		return rc;
	for (uint32_t n = 0; n < w->node_count; n++) {
		if (!scenario_workload_has_client(w->sc, wl, n))
			continue;
		if (w->n_clients >= w->cap_clients)
			return err_setf(why, why_len, -EOVERFLOW, "workload %s: too many clients",
			                wl->name);
		struct world_client *c = &w->clients[w->n_clients];
		c->w = w;
		c->node = n;
		if (https && !w->tls) {
			const struct tls_ctx_config tc = {.ca_pem = w->ca_pem};
			char err[256] = "";
			rc = tls_ctx_new(&w->tls, w->nodes[n].io, &tc, err, sizeof(err));
			if (rc < 0)
				return err_setf(why, why_len, rc, "workload %s: TLS client: %s",
				                wl->name, err);
		}
		rc = world_client_new(w, wl, c, &target, https);
		if (rc < 0)
			return err_setf(why, why_len, rc, "workload %s on %s failed to start",
			                wl->name, w->nodes[n].name);
		w->n_clients++;
	}
	return 0;
}
