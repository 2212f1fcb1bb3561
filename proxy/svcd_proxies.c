/* svcd_proxies.c: the Service Proxies: which should run, creating, updating, lingering,
 * reconciling. */
#define _GNU_SOURCE
#include "lib/base/errfmt.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/svcd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The implementation for a port type: L7 for HTTP(S), L4 for TCP and
 * TLS-terminated TCP (L3 services have no proxy). */
static const struct svc_proxy_ops *proxy_ops_for(enum serve_type type)
{
	switch (type) {
	case SERVE_TYPE_HTTP:
	case SERVE_TYPE_HTTPS:
		return &http_proxy_svc_ops;
	case SERVE_TYPE_TCP:
	case SERVE_TYPE_TLS_TCP:
		return &tcp_proxy_svc_ops;
	case SERVE_TYPE_NONE:
	case SERVE_TYPE_TUN:
		break;
	}
	CHECK(!"a port type without a Service Proxy");
	return NULL;
}

static size_t proxy_open(const struct svcd_proxy *p)
{
	return p->impl->ops->open_connections(p->impl);
}

static void proxy_stop_accepting(struct svcd_proxy *p)
{
	p->impl->ops->stop_accepting(p->impl);
	p->lingering = true;
}

/* Frees a proxy: open connections are reset (counted in the event). */
void svcd_proxy_destroy(struct svcd *d, size_t idx, const char *reason)
{
	CHECK(idx < d->n_proxies);
	struct svcd_proxy *p = &d->proxies[idx];
	size_t open = proxy_open(p);

	if (open) {
		p->impl->ops->abort_all(p->impl);
		io_event(d->io, "connections_reset", IO_STR("service", p->service),
		         IO_U64("port", p->port), IO_U64("count", open), IO_STR("reason", reason));
	}
	p->impl->ops->free(p->impl);
	svcd_cert_put(p->cert);
	for (size_t i = 0; i < p->n_retired; i++)
		svcd_cert_put(p->retired[i]);
	io_event(d->io, "proxy_stopped", IO_STR("service", p->service), IO_U64("port", p->port),
	         IO_STR("type", serve_type_name(p->type)), IO_STR("reason", reason),
	         IO_U64("reset", open));
	d->proxies[idx] = d->proxies[--d->n_proxies];
}

static bool svcd_whois(void *ctx, const struct io_addr *client, char *login, size_t login_len,
                       char *name, size_t name_len)
{
	struct svcd *d = ctx;
	int i;

	if (!d->nm)
		return false;
	i = netmap_peer_by_addr(d->nm, client);
	if (i < 0)
		return false;
	const struct netmap_node *peer = &d->nm->peers[i];
	if (!peer->user || !peer->user[0])
		return false; /* tagged node: no identity */
	snprintf(login, login_len, "%s", peer->user);
	snprintf(name, name_len, "%s",
	         peer->display_name && peer->display_name[0] ? peer->display_name : peer->user);
	return true;
}

/* A TCP target "host:port" as an address: IP literals and localhost only
 * (the daemon does no name resolution through the seam). */
static int svcd_parse_target(const char *text, struct io_addr *out)
{
	char buf[SERVE_MAX_TARGET_LEN + 1];

	if (strncmp(text, "localhost:", 10) == 0) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%s", text + 10);
		text = buf;
	}
	if (io_addr_parse(out, text, 0) < 0 || out->port == 0)
		return -EINVAL;
	return 0;
}

/* What a proxy for port `sp` is given: 0, or -EINVAL when a TCP port's
 * target is no address. */
static int proxy_config(struct svcd *d, const char *label, const struct serve_port *sp,
                        struct tls_ctx *tls, struct svc_proxy_config *out)
{
	*out = (struct svc_proxy_config){
	    .label = label,
	    .port = sp,
	    .tls = tls,
	    .whois = svcd_whois,
	    .whois_ctx = d,
	    .os_entropy = d->os_entropy,
	};
	if (sp->type == SERVE_TYPE_HTTP || sp->type == SERVE_TYPE_HTTPS)
		return 0;
	return svcd_parse_target(sp->tcp_forward, &out->target);
}

/* Checks what the serve grammar cannot: TLS ports need the certificate
 * the daemon was started with; TCP targets must be addresses. */
int svcd_check_config(const struct svcd *d, const struct serve_config *cfg, char *err,
                      size_t err_len)
{
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct serve_service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->n_ports; j++) {
			const struct serve_port *p = &svc->ports[j];
			struct io_addr a;

			if ((p->type == SERVE_TYPE_HTTPS || p->type == SERVE_TYPE_TLS_TCP) &&
			    !d->tls && !d->key_pem)
				return err_setf(
				    err, err_len, -EINVAL,
				    "%s: port %u (%s) needs a TLS certificate, but svcd was "
				    "started without --cert and --key",
				    svc->name, p->port, serve_type_name(p->type));
			if (p->tcp_forward && svcd_parse_target(p->tcp_forward, &a) < 0)
				return err_setf(
				    err, err_len, -EINVAL,
				    "%s: port %u: cannot forward to \"%.200s\": the target "
				    "must be an IP address or localhost with a port",
				    svc->name, p->port, p->tcp_forward);
		}
	}
	return 0;
}

const struct netmap_service *svcd_hosted(const struct svcd *d, const char *service)
{
	if (!d->nm)
		return NULL;
	for (size_t i = 0; i < d->nm->n_host_services; i++)
		if (strcmp(d->nm->host_services[i].name, service) == 0)
			return &d->nm->host_services[i];
	return NULL;
}

/* The port config a proxy for (service, port) should run, or NULL when no
 * proxy should accept connections there now. */
static const struct serve_port *svcd_wanted(const struct svcd *d, const char *service,
                                            uint16_t port)
{
	const struct serve_service *svc = serve_config_find(&d->cfg, service);
	const struct svcd_svc *s;

	if (!svc || svc->tun || !svcd_hosted(d, service))
		return NULL;
	switch (serve_adv_get(&d->adv, service)) {
	case SERVE_ADV_ACTIVE:
		break;
	case SERVE_ADV_DRAINING:
		s = svcd_svc_find_const(d, service);
		if (s && s->drained)
			return NULL;
		break;
	case SERVE_ADV_NONE:
		return NULL;
	}
	return serve_service_find_port(svc, port);
}

static bool proxy_vips_match(const struct svcd_proxy *p, const struct netmap_service *hs)
{
	if (!hs || hs->n_addrs != p->n_vips)
		return false;
	for (size_t i = 0; i < p->n_vips; i++)
		if (!io_addr_equal(&p->vips[i], &hs->addrs[i], false))
			return false;
	return true;
}

static struct svcd_proxy *proxy_find_active(struct svcd *d, const char *service, uint16_t port)
{
	for (size_t i = 0; i < d->n_proxies; i++) {
		struct svcd_proxy *p = &d->proxies[i];
		if (!p->lingering && p->port == port && strcmp(p->service, service) == 0)
			return p;
	}
	return NULL;
}

/* Room for one more proxy in d->proxies. False (reported) at the limit or
 * out of memory. */
static bool proxy_slot_reserve(struct svcd *d, const struct netmap_service *hs,
                               const struct serve_port *sp)
{
	if (d->n_proxies >= SVCD_MAX_PROXIES) {
		io_event(d->io, "limit_hit", IO_STR("limit", "svcd_max_proxies"),
		         IO_I64("max", SVCD_MAX_PROXIES));
		return false;
	}
	if (d->n_proxies == d->cap_proxies) {
		size_t cap = d->cap_proxies ? 2 * d->cap_proxies : 8;
		struct svcd_proxy *np = realloc(d->proxies, cap * sizeof(*np));
		if (!np) {
			io_event(d->io, "proxy_error", IO_STR("service", hs->name),
			         IO_U64("port", sp->port), IO_STR("what", "ENOMEM"));
			return false;
		}
		d->proxies = np;
		d->cap_proxies = cap;
	}
	return true;
}

/* Makes the proxy (not listening yet) in p->impl, with the server context
 * a TLS port needs: control's certificate for the service, else --cert
 * (L7-5). 0, or -errno (reported). */
static int proxy_make(struct svcd *d, struct svcd_proxy *p, const struct netmap_service *hs,
                      const struct serve_port *sp)
{
	struct tls_ctx *tls = NULL;
	struct svc_proxy_config pc;
	char label[SERVE_NAME_MAX + 8];

	snprintf(label, sizeof(label), "%s:%u", hs->name, sp->port);
	if (sp->type == SERVE_TYPE_HTTPS || sp->type == SERVE_TYPE_TLS_TCP) {
		p->cert = svcd_cert_for(d, hs->name);
		tls = p->cert ? p->cert->ctx : d->tls;
		if (!tls) {
			io_event(d->io, "proxy_error", IO_STR("service", hs->name),
			         IO_U64("port", sp->port), IO_STR("what", "no certificate yet"));
			return -ENOENT;
		}
	}
	int rc = proxy_config(d, label, sp, tls, &pc);
	if (rc == 0)
		rc = proxy_ops_for(sp->type)->create(&p->impl, d->io, &pc);
	if (rc < 0)
		io_event(d->io, "proxy_error", IO_STR("service", hs->name),
		         IO_U64("port", sp->port), IO_STR("what", "create"), IO_I64("errno", -rc));
	return rc;
}

/* Listens on every VIP of the service with the port. Returns how many
 * listen; `addrs` gets them as a JSON array, *in_use whether an address
 * was still taken. IPv6 VIPs may fail where the world has no IPv6 (the
 * sim): tolerated silently. */
static size_t proxy_listen_all(struct svcd *d, struct svcd_proxy *p,
                               const struct netmap_service *hs, const struct serve_port *sp,
                               char *addrs, size_t addrs_len, bool *in_use)
{
	size_t listening = 0, ao = 1;

	addrs[0] = '[';
	addrs[1] = '\0';
	for (size_t i = 0; i < hs->n_addrs; i++) {
		struct io_addr a = hs->addrs[i];
		char txt[IO_ADDR_STRLEN];

		a.port = sp->port;
		int rc = p->impl->ops->listen(p->impl, &a);
		io_addr_format(&a, true, txt, sizeof(txt));
		*in_use |= rc == -EADDRINUSE;
		if (rc < 0) {
			if (rc != -EAFNOSUPPORT)
				io_event(d->io, "proxy_error", IO_STR("service", hs->name),
				         IO_U64("port", sp->port), IO_STR("what", "listen"),
				         IO_STR("local", txt), IO_I64("errno", -rc));
			continue;
		}
		listening++;
		if (ao < addrs_len - IO_ADDR_STRLEN - 5)
			ao += (size_t)snprintf(addrs + ao, addrs_len - ao, "%s\"%s\"",
			                       ao > 1 ? "," : "", txt);
	}
	snprintf(addrs + ao, addrs_len - ao, "]");
	return listening;
}

/* Creates and starts the proxy for one port on every VIP of the service. */
static void proxy_create(struct svcd *d, const struct netmap_service *hs,
                         const struct serve_port *sp)
{
	struct svcd_proxy p;
	char addrs[IO_EVENT_FIELDS_MAX / 2 + 2];
	bool in_use = false;

	if (!proxy_slot_reserve(d, hs, sp))
		return;
	memset(&p, 0, sizeof(p));
	snprintf(p.service, sizeof(p.service), "%s", hs->name);
	p.port = sp->port;
	p.type = sp->type;
	p.n_vips = hs->n_addrs < NETMAP_MAX_ADDRS ? hs->n_addrs : NETMAP_MAX_ADDRS;
	memcpy(p.vips, hs->addrs, p.n_vips * sizeof(p.vips[0]));
	if (proxy_make(d, &p, hs, sp) < 0)
		return;
	if (proxy_listen_all(d, &p, hs, sp, addrs, sizeof(addrs), &in_use) == 0) {
		p.impl->ops->free(p.impl);
		io_event(d->io, "proxy_error", IO_STR("service", hs->name),
		         IO_U64("port", sp->port), IO_STR("what", "no address to listen on"));
		/* A listener on the same address closed just now (a proxy
		 * replaced for a new certificate) may hold it for a moment. */
		if (in_use && !io_timer_armed(&d->retry_timer))
			d->io->ops->timer_arm(d->io, &d->retry_timer, SVCD_LISTEN_RETRY_US);
		return;
	}
	if (p.cert)
		p.cert->refs++;
	d->proxies[d->n_proxies++] = p;
	io_event(d->io, "proxy_listening", IO_STR("service", hs->name), IO_U64("port", sp->port),
	         IO_STR("type", serve_type_name(sp->type)), IO_JSON("local", addrs));
}

/* Updates a running proxy in place (CFG-6): new handlers or target for new
 * requests/connections; what is open keeps what it had. */
static void proxy_update(struct svcd *d, struct svcd_proxy *p, const struct serve_port *sp)
{
	struct svc_proxy_config pc;

	if (proxy_config(d, NULL, sp, NULL, &pc) < 0)
		return; /* svcd_check_config refused such a target already */
	int rc = p->impl->ops->update(p->impl, &pc);
	if (rc < 0)
		io_event(d->io, "proxy_error", IO_STR("service", p->service),
		         IO_U64("port", p->port), IO_STR("what", "set_handlers"),
		         IO_I64("errno", -rc));
}

static bool svcd_any_lingering(const struct svcd *d)
{
	for (size_t i = 0; i < d->n_proxies; i++)
		if (d->proxies[i].lingering || d->proxies[i].n_retired)
			return true;
	return false;
}

/* Retired certificates go once no connection that may use them is open. */
static void proxy_release_retired(struct svcd_proxy *p)
{
	if (!p->n_retired || proxy_open(p) > 0)
		return;
	for (size_t i = 0; i < p->n_retired; i++)
		svcd_cert_put(p->retired[i]);
	p->n_retired = 0;
}

static bool svcd_service_lingering(const struct svcd *d, const char *service)
{
	for (size_t i = 0; i < d->n_proxies; i++)
		if (d->proxies[i].lingering && strcmp(d->proxies[i].service, service) == 0)
			return true;
	return false;
}

/* Frees lingering proxies whose last connection ended, and reports a
 * drained service with nothing open left as drain_complete (DRN-3: it can
 * now be removed without breaking anyone). */
static void svcd_sweep_lingering(struct svcd *d)
{
	char name[SERVE_NAME_MAX + 1];

	for (size_t i = 0; i < d->n_proxies; i++)
		proxy_release_retired(&d->proxies[i]);
	for (size_t i = 0; i < d->n_proxies;) {
		struct svcd_proxy *p = &d->proxies[i];
		struct svcd_svc *s;

		if (!p->lingering || proxy_open(p) > 0) {
			i++;
			continue;
		}
		bool rotated = p->rotated;
		snprintf(name, sizeof(name), "%s", p->service);
		svcd_proxy_destroy(d, i, rotated ? "cert_rotated" : "drained");
		s = svcd_svc_find(d, name);
		if (!rotated && !svcd_service_lingering(d, name) && (!s || !s->draining)) {
			/* cleared while draining: its state is gone already */
			io_event(d->io, "drain_complete", IO_STR("service", name));
		}
	}
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (s->used && s->draining && s->drained && !s->complete &&
		    !svcd_service_lingering(d, s->name) && svcd_open_connections(d, s->name) == 0) {
			s->complete = true;
			io_event(d->io, "drain_complete", IO_STR("service", s->name));
		}
	}
	if (svcd_any_lingering(d) && !io_timer_armed(&d->linger_timer))
		d->io->ops->timer_arm(d->io, &d->linger_timer, SVCD_LINGER_SWEEP_US);
}

void svcd_linger_fired(struct io_timer *t)
{
	struct svcd *d = container_of(t, struct svcd, linger_timer);
	svcd_sweep_lingering(d);
}

void svcd_retry_fired(struct io_timer *t)
{
	struct svcd *d = container_of(t, struct svcd, retry_timer);
	svcd_reconcile(d);
}

/* A new certificate for a running TLS proxy (L7-5), in place: the listener
 * stays, so no connection is refused in between and none waiting in its
 * accept queue is reset; new handshakes use the new context, while the
 * old one stays alive, retired, until the connections that may use it have
 * ended. 0, or -errno: the caller starts a new proxy instead. */
static int proxy_rotate(struct svcd *d, struct svcd_proxy *p, const struct serve_port *sp)
{
	struct svcd_cert *next = svcd_cert_for(d, p->service);
	struct tls_ctx *tls = next ? next->ctx : d->tls;
	struct svc_proxy_config pc;
	size_t open = proxy_open(p);

	if (!tls)
		return -ENOENT;
	if (open > 0 && p->cert && p->n_retired == SVCD_RETIRED_CERTS_MAX)
		return -ENOSPC;
	if (proxy_config(d, NULL, sp, tls, &pc) < 0)
		return -EINVAL;
	int rc = p->impl->ops->update(p->impl, &pc);
	if (rc < 0)
		return rc;
	if (next)
		next->refs++;
	if (open > 0 && p->cert)
		p->retired[p->n_retired++] = p->cert;
	else
		svcd_cert_put(p->cert);
	p->cert = next;
	io_event(d->io, "proxy_cert_rotated", IO_STR("service", p->service),
	         IO_U64("port", p->port), IO_U64("open_connections", open),
	         IO_U64("retired", p->n_retired));
	if (p->n_retired && !io_timer_armed(&d->linger_timer))
		d->io->ops->timer_arm(d->io, &d->linger_timer, SVCD_LINGER_SWEEP_US);
	return 0;
}

/* Makes the running proxies match config, advertisement, drain state and
 * netmap: updates in place, creates, stops. A proxy no longer wanted
 * lingers when its service is draining (DRN-2) and is aborted otherwise
 * (DRN-4). */
void svcd_reconcile(struct svcd *d)
{
	for (size_t i = 0; i < d->n_proxies;) {
		struct svcd_proxy *p = &d->proxies[i];
		const struct serve_port *sp;
		const struct svcd_svc *s;

		if (p->lingering) {
			i++;
			continue;
		}
		sp = svcd_wanted(d, p->service, p->port);
		if (sp && !proxy_vips_match(p, svcd_hosted(d, p->service))) {
			/* control moved the service to new VIPs: start over there */
			svcd_proxy_destroy(d, i, "vip_changed");
			continue;
		}
		if (sp && sp->type == p->type && p->cert != svcd_cert_for(d, p->service) &&
		    (p->type == SERVE_TYPE_HTTPS || p->type == SERVE_TYPE_TLS_TCP)) {
			if (proxy_rotate(d, p, sp) == 0) {
				i++;
				continue;
			}
			/* Cannot rotate in place: new connections get the new
			 * certificate from a new proxy; open ones finish on the
			 * old one. */
			if (proxy_open(p) == 0) {
				svcd_proxy_destroy(d, i, "cert_rotated");
				continue;
			}
			proxy_stop_accepting(p);
			p->rotated = true;
			i++;
			continue;
		}
		if (sp && sp->type == p->type) {
			proxy_update(d, p, sp);
			i++;
			continue;
		}
		s = svcd_svc_find_const(d, p->service);
		if (s && s->draining && proxy_open(p) > 0) {
			proxy_stop_accepting(p);
			io_event(d->io, "proxy_stopped_accepting", IO_STR("service", p->service),
			         IO_U64("port", p->port),
			         IO_U64("open_connections", proxy_open(p)));
			i++;
			continue;
		}
		svcd_proxy_destroy(d, i, s && s->draining ? "drained" : "removed");
	}
	for (size_t i = 0; d->nm && i < d->nm->n_host_services; i++) {
		const struct netmap_service *hs = &d->nm->host_services[i];
		const struct serve_service *svc = serve_config_find(&d->cfg, hs->name);

		for (size_t j = 0; svc && j < svc->n_ports; j++) {
			const struct serve_port *sp = &svc->ports[j];
			if (svcd_wanted(d, hs->name, sp->port) &&
			    !proxy_find_active(d, hs->name, sp->port))
				proxy_create(d, hs, sp);
		}
	}
	svcd_sweep_lingering(d);
}

size_t svcd_open_connections(const struct svcd *d, const char *service)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_proxies; i++)
		if (strcmp(d->proxies[i].service, service) == 0)
			n += proxy_open(&d->proxies[i]);
	return n;
}

bool svcd_is_listening(const struct svcd *d, const char *service, uint16_t port)
{
	return proxy_find_active((struct svcd *)d, service, port) != NULL;
}
