/* svcd: the node daemon (see svcd.h). */
#define _GNU_SOURCE
#include "svcd.h"
#include "check.h"

#include "dataplane.h"
#include "http_proxy.h"
#include "localapi.h"
#include "netmap.h"
#include "packet.h"
#include "serve_cmd.h"
#include "serve_config.h"
#include "tcp_proxy.h"
#include "tls.h"

#include "errfmt.h"
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define svcd_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Proxies at once: every port of every service, plus as many lingering
 * behind a drain. */
#define SVCD_MAX_PROXIES (2 * SERVE_MAX_SERVICES * SERVE_MAX_PORTS)
/* How often lingering proxies are checked for their last connection. */
#define SVCD_LINGER_SWEEP_US (200ull * 1000)
/* Shortest gap between two service_non_tcp_refused events. */
#define SVCD_EVENT_GAP_US (1000000ull)
#define SVCD_NAME_MAX     128
#define SVCD_ERR_LEN      512

struct svcd_proxy {
	char service[SERVE_NAME_MAX + 1];
	uint16_t port;
	enum serve_type type;
	bool lingering; /* stopped accepting; kept only until its connections end */
	struct http_proxy *http;
	struct tcp_proxy *tcp;
	struct io_addr target; /* TCP types: where connections go */
	size_t n_vips;         /* the service VIPs it was started for */
	struct io_addr vips[NETMAP_MAX_ADDRS];
};

/* Runtime drain state of a service (the advertisement state itself lives
 * in `adv`). */
struct svcd_svc {
	struct svcd *d;
	bool used;
	char name[SERVE_NAME_MAX + 1];
	bool draining; /* drain started, not undone */
	bool drained;  /* grace over: listeners closed */
	bool complete; /* drain_complete reported */
	struct io_timer grace;
};

/* The seam the data plane sees: the node's, with tun_write filtered
 * (LIM-1). `io` first so a `struct io *` converts back. */
struct svcd_io {
	struct io io;
	struct io *real;
	struct svcd *d;
};

struct svcd {
	struct io *io;
	struct svcd_io shim;
	char name[SVCD_NAME_MAX];
	uint64_t drain_grace_us;
	bool os_entropy;

	struct dataplane *dp;
	struct netmap *nm; /* NULL before the first netmap */
	struct tls_ctx *tls;

	struct serve_config cfg;
	struct serve_adv adv;
	struct svcd_svc svcs[SERVE_MAX_SERVICES];

	struct svcd_proxy *proxies;
	size_t n_proxies, cap_proxies;
	struct io_timer linger_timer;

	uint64_t non_tcp_refused; /* since the last event */
	uint64_t non_tcp_last_event_us;
	bool non_tcp_event_sent;
};

static const struct io_ops svcd_shim_ops;

/* ---- the LIM-1 seam wrapper -------------------------------------------- */

static struct io *shim_real(struct io *io)
{
	CHECK(io->ops == &svcd_shim_ops);
	return ((struct svcd_io *)io)->real;
}

static int shim_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                           void *ctx)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_listen(r, local, backlog, fn, ctx);
}

static int shim_tcp_connect(struct io *io, const struct io_addr *remote,
                            const struct io_addr *local, io_sock_fn fn, void *ctx)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_connect(r, remote, local, fn, ctx);
}

static int shim_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
                           void *ctx)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_accept(r, listener, peer, fn, ctx);
}

static ssize_t shim_tcp_read(struct io *io, int handle, void *buf, size_t len)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_read(r, handle, buf, len);
}

static ssize_t shim_tcp_write(struct io *io, int handle, const void *buf, size_t len)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_write(r, handle, buf, len);
}

static int shim_tcp_shutdown(struct io *io, int handle)
{
	struct io *r = shim_real(io);
	return r->ops->tcp_shutdown(r, handle);
}

static int shim_sock_name(struct io *io, int handle, bool peer, struct io_addr *out)
{
	struct io *r = shim_real(io);
	return r->ops->sock_name(r, handle, peer, out);
}

static int shim_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	struct io *r = shim_real(io);
	return r->ops->udp_open(r, local, fn, ctx);
}

static int shim_udp_send(struct io *io, int handle, const void *data, size_t len,
                         const struct io_addr *dst)
{
	struct io *r = shim_real(io);
	return r->ops->udp_send(r, handle, data, len, dst);
}

static int shim_close(struct io *io, int handle, bool abort_conn)
{
	struct io *r = shim_real(io);
	return r->ops->close(r, handle, abort_conn);
}

static int shim_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	struct io *r = shim_real(io);
	return r->ops->tun_attach(r, fn, ctx);
}

/* LIM-1: a packet the data plane accepted for a hosted VIP reaches the
 * stack only when it is TCP or its service runs at L3. */
static bool svcd_packet_allowed(struct svcd *d, const void *pkt, size_t len)
{
	struct packet_info pi;
	const struct netmap_service *hs;
	const struct serve_service *svc;

	if (!d->nm || packet_parse(pkt, len, &pi) < 0)
		return true; /* the data plane judged it already */
	if (pi.proto == PACKET_PROTO_TCP)
		return true;
	hs = netmap_host_service_by_vip(d->nm, &pi.dst);
	if (!hs)
		return true;
	svc = serve_config_find(&d->cfg, hs->name);
	if (svc && svc->tun)
		return true;

	uint64_t now = d->io->ops->now_us(d->io);
	d->non_tcp_refused++;
	if (!d->non_tcp_event_sent || now - d->non_tcp_last_event_us >= SVCD_EVENT_GAP_US) {
		char dst[IO_ADDR_STRLEN];
		io_emitf(d->io, "service_non_tcp_refused",
		         "\"service\":\"%s\",\"proto\":%u,\"dst\":\"%s\",\"count\":%llu", hs->name,
		         pi.proto, io_addr_format(&pi.dst, pi.has_ports, dst, sizeof(dst)),
		         (unsigned long long)d->non_tcp_refused);
		d->non_tcp_refused = 0;
		d->non_tcp_last_event_us = now;
		d->non_tcp_event_sent = true;
	}
	return false;
}

static int shim_tun_write(struct io *io, const void *pkt, size_t len)
{
	struct svcd_io *s = (struct svcd_io *)io;

	CHECK(io->ops == &svcd_shim_ops);
	if (!svcd_packet_allowed(s->d, pkt, len))
		return (int)len; /* dropped by policy, not a device failure */
	return s->real->ops->tun_write(s->real, pkt, len);
}

static int shim_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io *r = shim_real(io);
	return r->ops->tun_addr_add(r, addr, prefix_len);
}

static int shim_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io *r = shim_real(io);
	return r->ops->tun_addr_del(r, addr, prefix_len);
}

static void shim_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us)
{
	struct io *r = shim_real(io);
	r->ops->timer_arm(r, timer, delay_us);
}

static void shim_timer_disarm(struct io *io, struct io_timer *timer)
{
	struct io *r = shim_real(io);
	r->ops->timer_disarm(r, timer);
}

static uint64_t shim_now_us(struct io *io)
{
	struct io *r = shim_real(io);
	return r->ops->now_us(r);
}

static uint64_t shim_random_u64(struct io *io)
{
	struct io *r = shim_real(io);
	return r->ops->random_u64(r);
}

static void shim_emit(struct io *io, const char *type, const char *fields)
{
	struct io *r = shim_real(io);
	r->ops->emit(r, type, fields);
}

static const struct io_ops svcd_shim_ops = {
    .tcp_listen = shim_tcp_listen,
    .tcp_connect = shim_tcp_connect,
    .tcp_accept = shim_tcp_accept,
    .tcp_read = shim_tcp_read,
    .tcp_write = shim_tcp_write,
    .tcp_shutdown = shim_tcp_shutdown,
    .sock_name = shim_sock_name,
    .udp_open = shim_udp_open,
    .udp_send = shim_udp_send,
    .close = shim_close,
    .tun_attach = shim_tun_attach,
    .tun_write = shim_tun_write,
    .tun_addr_add = shim_tun_addr_add,
    .tun_addr_del = shim_tun_addr_del,
    .timer_arm = shim_timer_arm,
    .timer_disarm = shim_timer_disarm,
    .now_us = shim_now_us,
    .random_u64 = shim_random_u64,
    .emit = shim_emit,
};

/* ---- service drain state ---------------------------------------------- */

static struct svcd_svc *svc_state(struct svcd *d, const char *name)
{
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++)
		if (d->svcs[i].used && strcmp(d->svcs[i].name, name) == 0)
			return &d->svcs[i];
	return NULL;
}

static const struct svcd_svc *svc_state_const(const struct svcd *d, const char *name)
{
	return svc_state((struct svcd *)d, name);
}

static void svcd_reconcile(struct svcd *d);

static void svc_grace_fired(struct io_timer *t)
{
	struct svcd_svc *s = svcd_container_of(t, struct svcd_svc, grace);
	struct svcd *d = s->d;

	s->drained = true;
	io_emitf(d->io, "host_drained", "\"service\":\"%s\",\"open_connections\":%zu", s->name,
	         svcd_open_connections(d, s->name));
	svcd_reconcile(d);
}

/* Drain state for `name`, created when absent. NULL when every slot is
 * taken (cannot happen: advertised services are bounded by the same
 * limit, and slots are released when a service stops being advertised). */
static struct svcd_svc *svc_state_get(struct svcd *d, const char *name)
{
	struct svcd_svc *s = svc_state(d, name);

	if (s)
		return s;
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		s = &d->svcs[i];
		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->d = d;
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->grace.fn = svc_grace_fired;
		return s;
	}
	return NULL;
}

static void svc_state_release(struct svcd *d, struct svcd_svc *s)
{
	if (io_timer_armed(&s->grace))
		d->io->ops->timer_disarm(d->io, &s->grace);
	memset(s, 0, sizeof(*s));
}

/* Reacts to advertisement changes from `old` to d->adv: starts a drain
 * (event, grace timer), undoes one (DRN-5), or announces advertising. */
static void svcd_adv_transitions(struct svcd *d, const struct serve_adv *old)
{
	for (size_t i = 0; i < d->adv.n; i++) {
		const struct serve_adv_entry *e = &d->adv.e[i];
		enum serve_adv_state was = serve_adv_get(old, e->name);
		struct svcd_svc *s;

		if (e->state == was)
			continue;
		s = svc_state_get(d, e->name);
		CHECK(s != NULL);
		if (e->state == SERVE_ADV_DRAINING) {
			s->draining = true;
			s->drained = false;
			s->complete = false;
			d->io->ops->timer_arm(d->io, &s->grace, d->drain_grace_us);
			io_emitf(d->io, "host_draining",
			         "\"service\":\"%s\",\"grace_us\":%llu,\"open_connections\":%zu",
			         e->name, (unsigned long long)d->drain_grace_us,
			         svcd_open_connections(d, e->name));
		} else if (e->state == SERVE_ADV_ACTIVE) {
			if (io_timer_armed(&s->grace))
				d->io->ops->timer_disarm(d->io, &s->grace);
			io_emitf(d->io, "host_advertising", "\"service\":\"%s\",\"undrained\":%s",
			         e->name, s->draining ? "true" : "false");
			s->draining = false;
			s->drained = false;
		}
	}
	for (size_t i = 0; i < old->n; i++)
		if (serve_adv_get(&d->adv, old->e[i].name) == SERVE_ADV_NONE)
			io_emitf(d->io, "host_not_advertising", "\"service\":\"%s\"",
			         old->e[i].name);
}

/* Forgets drain state of services no longer advertised, once reconcile
 * has decided the fate of their proxies. */
static void svcd_release_states(struct svcd *d)
{
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (s->used && serve_adv_get(&d->adv, s->name) == SERVE_ADV_NONE)
			svc_state_release(d, s);
	}
}

/* ---- proxies ------------------------------------------------------------ */

static size_t proxy_open(const struct svcd_proxy *p)
{
	if (p->http)
		return http_proxy_open_connections(p->http);
	if (p->tcp)
		return tcp_proxy_open_connections(p->tcp);
	return 0;
}

static void proxy_stop_accepting(struct svcd_proxy *p)
{
	if (p->http)
		http_proxy_stop_accepting(p->http);
	if (p->tcp)
		tcp_proxy_stop_accepting(p->tcp);
	p->lingering = true;
}

/* Frees a proxy: open connections are reset (counted in the event). */
static void proxy_destroy(struct svcd *d, size_t idx, const char *reason)
{
	struct svcd_proxy *p = &d->proxies[idx];
	size_t open = proxy_open(p);

	if (open) {
		if (p->http)
			http_proxy_abort_all(p->http);
		if (p->tcp)
			tcp_proxy_abort_all(p->tcp);
		io_emitf(d->io, "connections_reset",
		         "\"service\":\"%s\",\"port\":%u,\"count\":%zu,\"reason\":\"%s\"",
		         p->service, p->port, open, reason);
	}
	http_proxy_free(p->http);
	tcp_proxy_free(p->tcp);
	io_emitf(d->io, "proxy_stopped",
	         "\"service\":\"%s\",\"port\":%u,\"type\":\"%s\",\"reason\":\"%s\",\"reset\":%zu",
	         p->service, p->port, serve_type_name(p->type), reason, open);
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

/* Checks what the serve grammar cannot: TLS ports need the certificate
 * the daemon was started with; TCP targets must be addresses. */
static int svcd_check_config(const struct svcd *d, const struct serve_config *cfg, char *err,
                             size_t err_len)
{
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct serve_service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->n_ports; j++) {
			const struct serve_port *p = &svc->ports[j];
			struct io_addr a;

			if ((p->type == SERVE_TYPE_HTTPS || p->type == SERVE_TYPE_TLS_TCP) &&
			    !d->tls)
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

static const struct netmap_service *svcd_hosted(const struct svcd *d, const char *service)
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
		s = svc_state_const(d, service);
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

/* Creates and starts the proxy for one port on every VIP of the service.
 * IPv6 VIPs may fail where the world has no IPv6 (the sim): tolerated. */
static void proxy_create(struct svcd *d, const struct netmap_service *hs,
                         const struct serve_port *sp)
{
	struct svcd_proxy p;
	char label[SERVE_NAME_MAX + 8];
	int rc = 0;
	size_t listening = 0;

	if (d->n_proxies >= SVCD_MAX_PROXIES) {
		io_emitf(d->io, "limit_hit", "\"limit\":\"svcd_max_proxies\",\"max\":%d",
		         SVCD_MAX_PROXIES);
		return;
	}
	if (d->n_proxies == d->cap_proxies) {
		size_t cap = d->cap_proxies ? 2 * d->cap_proxies : 8;
		struct svcd_proxy *np = realloc(d->proxies, cap * sizeof(*np));
		if (!np) {
			io_emitf(d->io, "proxy_error",
			         "\"service\":\"%s\",\"port\":%u,\"what\":\"ENOMEM\"", hs->name,
			         sp->port);
			return;
		}
		d->proxies = np;
		d->cap_proxies = cap;
	}
	memset(&p, 0, sizeof(p));
	snprintf(p.service, sizeof(p.service), "%s", hs->name);
	p.port = sp->port;
	p.type = sp->type;
	p.n_vips = hs->n_addrs < NETMAP_MAX_ADDRS ? hs->n_addrs : NETMAP_MAX_ADDRS;
	memcpy(p.vips, hs->addrs, p.n_vips * sizeof(p.vips[0]));
	snprintf(label, sizeof(label), "%s:%u", hs->name, sp->port);
	if (sp->type == SERVE_TYPE_HTTP || sp->type == SERVE_TYPE_HTTPS) {
		const struct http_proxy_config hc = {
		    .name = label,
		    .handlers = sp,
		    .tls = sp->type == SERVE_TYPE_HTTPS ? d->tls : NULL,
		    .whois = svcd_whois,
		    .whois_ctx = d,
		    .os_entropy = d->os_entropy,
		};
		rc = http_proxy_new(&p.http, d->io, &hc);
	} else {
		struct tcp_proxy_config tc = {
		    .label = label,
		    .tls = sp->type == SERVE_TYPE_TLS_TCP ? d->tls : NULL,
		};
		rc = svcd_parse_target(sp->tcp_forward, &tc.target);
		if (rc == 0)
			rc = tcp_proxy_new(d->io, &tc, &p.tcp);
		p.target = tc.target;
	}
	if (rc < 0) {
		io_emitf(d->io, "proxy_error",
		         "\"service\":\"%s\",\"port\":%u,\"what\":\"create\",\"errno\":%d",
		         hs->name, sp->port, -rc);
		return;
	}

	char addrs[IO_EVENT_FIELDS_MAX / 2];
	size_t ao = 0;
	addrs[0] = '\0';
	for (size_t i = 0; i < hs->n_addrs; i++) {
		struct io_addr a = hs->addrs[i];
		char txt[IO_ADDR_STRLEN];

		a.port = sp->port;
		rc = p.http ? http_proxy_listen(p.http, &a, NULL) : tcp_proxy_listen(p.tcp, &a);
		io_addr_format(&a, true, txt, sizeof(txt));
		if (rc < 0) {
			if (rc != -EAFNOSUPPORT)
				io_emitf(d->io, "proxy_error",
				         "\"service\":\"%s\",\"port\":%u,\"what\":\"listen\","
				         "\"local\":\"%s\",\"errno\":%d",
				         hs->name, sp->port, txt, -rc);
			continue;
		}
		listening++;
		if (ao < sizeof(addrs) - IO_ADDR_STRLEN - 4)
			ao += (size_t)snprintf(addrs + ao, sizeof(addrs) - ao, "%s\"%s\"",
			                       ao ? "," : "", txt);
	}
	if (listening == 0) {
		http_proxy_free(p.http);
		tcp_proxy_free(p.tcp);
		io_emitf(d->io, "proxy_error",
		         "\"service\":\"%s\",\"port\":%u,\"what\":\"no address to listen on\"",
		         hs->name, sp->port);
		return;
	}
	d->proxies[d->n_proxies++] = p;
	io_emitf(d->io, "proxy_listening",
	         "\"service\":\"%s\",\"port\":%u,\"type\":\"%s\",\"local\":[%s]", hs->name,
	         sp->port, serve_type_name(sp->type), addrs);
}

/* Updates a running proxy in place (CFG-6): new handlers or target for new
 * requests/connections; what is open keeps what it had. */
static void proxy_update(struct svcd *d, struct svcd_proxy *p, const struct serve_port *sp)
{
	if (p->http) {
		int rc = http_proxy_set_handlers(p->http, sp);
		if (rc < 0)
			io_emitf(
			    d->io, "proxy_error",
			    "\"service\":\"%s\",\"port\":%u,\"what\":\"set_handlers\",\"errno\":%d",
			    p->service, p->port, -rc);
	} else if (p->tcp) {
		struct io_addr t;
		if (svcd_parse_target(sp->tcp_forward, &t) == 0 &&
		    !io_addr_equal(&t, &p->target, true)) {
			tcp_proxy_set_target(p->tcp, &t);
			p->target = t;
		}
	}
}

static bool svcd_any_lingering(const struct svcd *d)
{
	for (size_t i = 0; i < d->n_proxies; i++)
		if (d->proxies[i].lingering)
			return true;
	return false;
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

	for (size_t i = 0; i < d->n_proxies;) {
		struct svcd_proxy *p = &d->proxies[i];
		struct svcd_svc *s;

		if (!p->lingering || proxy_open(p) > 0) {
			i++;
			continue;
		}
		snprintf(name, sizeof(name), "%s", p->service);
		proxy_destroy(d, i, "drained");
		s = svc_state(d, name);
		if (!svcd_service_lingering(d, name) && (!s || !s->draining)) {
			/* cleared while draining: its state is gone already */
			io_emitf(d->io, "drain_complete", "\"service\":\"%s\"", name);
		}
	}
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (s->used && s->draining && s->drained && !s->complete &&
		    !svcd_service_lingering(d, s->name) && svcd_open_connections(d, s->name) == 0) {
			s->complete = true;
			io_emitf(d->io, "drain_complete", "\"service\":\"%s\"", s->name);
		}
	}
	if (svcd_any_lingering(d) && !io_timer_armed(&d->linger_timer))
		d->io->ops->timer_arm(d->io, &d->linger_timer, SVCD_LINGER_SWEEP_US);
}

static void svcd_linger_fired(struct io_timer *t)
{
	struct svcd *d = svcd_container_of(t, struct svcd, linger_timer);
	svcd_sweep_lingering(d);
}

/* Makes the running proxies match config, advertisement, drain state and
 * netmap: updates in place, creates, stops. A proxy no longer wanted
 * lingers when its service is draining (DRN-2) and is aborted otherwise
 * (DRN-4). */
static void svcd_reconcile(struct svcd *d)
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
			proxy_destroy(d, i, "vip_changed");
			continue;
		}
		if (sp && sp->type == p->type) {
			proxy_update(d, p, sp);
			i++;
			continue;
		}
		s = svc_state_const(d, p->service);
		if (s && s->draining && proxy_open(p) > 0) {
			proxy_stop_accepting(p);
			io_emitf(d->io, "proxy_stopped_accepting",
			         "\"service\":\"%s\",\"port\":%u,\"open_connections\":%zu",
			         p->service, p->port, proxy_open(p));
			i++;
			continue;
		}
		proxy_destroy(d, i, s && s->draining ? "drained" : "removed");
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

/* ---- lifecycle ---------------------------------------------------------- */

int svcd_new(struct svcd **out, struct io *io, const struct svcd_config *config)
{
	struct svcd *d;
	int rc;
	char *err = config->err;
	size_t err_len = config->err_len;

	CHECK(out && io && config);
	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	d->io = io;
	snprintf(d->name, sizeof(d->name), "%s", config->name ? config->name : "svcd");
	d->drain_grace_us =
	    config->drain_grace_us ? config->drain_grace_us : SVCD_DEFAULT_DRAIN_GRACE_US;
	d->os_entropy = config->os_entropy;
	d->shim.io.ops = &svcd_shim_ops;
	d->shim.io.node_name = io->node_name;
	d->shim.real = io;
	d->shim.d = d;
	d->linger_timer.fn = svcd_linger_fired;
	serve_config_init(&d->cfg, "");
	serve_adv_init(&d->adv);

	if (config->cert_file || config->key_file) {
		char terr[TLS_ERR_LEN];
		const struct tls_ctx_config tc = {.server = true,
		                                  .cert_file = config->cert_file,
		                                  .key_file = config->key_file,
		                                  .os_entropy = config->os_entropy};
		if (!config->cert_file || !config->key_file) {
			rc = err_setf(err, err_len, -EINVAL, "--cert and --key go together");
			goto out_free;
		}
		terr[0] = '\0';
		rc = tls_ctx_new(&d->tls, io, &tc, terr, sizeof(terr));
		if (rc < 0) {
			err_setf(err, err_len, rc, "TLS certificate/key: %s", terr);
			goto out_free;
		}
	}

	const struct dataplane_config dc = {.listen = config->underlay,
	                                    .max_flows = config->max_flows,
	                                    .pcap_path = config->tailnet_pcap};
	d->dp = dataplane_new(&d->shim.io, &dc, &rc);
	if (!d->dp) {
		err_setf(err, err_len, rc, "data plane: %s", strerror(-rc));
		goto out_free;
	}
	io_emitf(io, "svcd_started", "\"name\":\"%s\",\"tls\":%s", d->name,
	         d->tls ? "true" : "false");
	*out = d;
	return 0;

out_free:
	tls_ctx_free(d->tls);
	serve_config_free(&d->cfg);
	free(d);
	return rc;
}

void svcd_free(struct svcd *d)
{
	if (!d)
		return;
	while (d->n_proxies)
		proxy_destroy(d, d->n_proxies - 1, "shutdown");
	free(d->proxies);
	if (io_timer_armed(&d->linger_timer))
		d->io->ops->timer_disarm(d->io, &d->linger_timer);
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++)
		if (d->svcs[i].used)
			svc_state_release(d, &d->svcs[i]);
	dataplane_free(d->dp);
	if (d->nm) {
		netmap_free(d->nm);
		free(d->nm);
	}
	tls_ctx_free(d->tls);
	serve_config_free(&d->cfg);
	free(d);
}

struct dataplane *svcd_dataplane(const struct svcd *d)
{
	return d->dp;
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

/* ---- netmap and config -------------------------------------------------- */

int svcd_set_netmap_json(struct svcd *d, const char *json, size_t len, char *err, size_t err_len)
{
	struct netmap *nm = calloc(1, sizeof(*nm));
	int rc;

	if (!nm)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	rc = netmap_from_json(json, len, nm, err, err_len);
	if (rc < 0) {
		free(nm);
		return rc;
	}
	rc = dataplane_set_netmap(d->dp, nm);
	if (rc < 0)
		io_emitf(d->io, "svcd_warning", "\"what\":\"tun addresses\",\"errno\":%d", -rc);
	if (d->nm) {
		netmap_free(d->nm);
		free(d->nm);
	}
	d->nm = nm;
	if (nm->tailnet && strlen(nm->tailnet) <= SERVE_MAX_SUFFIX_LEN)
		snprintf(d->cfg.suffix, sizeof(d->cfg.suffix), "%s", nm->tailnet);
	svcd_reconcile(d);
	return 0;
}

int svcd_set_serve_config_json(struct svcd *d, const char *json, size_t len, char *err,
                               size_t err_len)
{
	struct serve_config tmp;
	int rc;

	rc = serve_config_from_json(json, len, d->cfg.suffix, &tmp, err, err_len);
	if (rc < 0)
		return rc;
	rc = svcd_check_config(d, &tmp, err, err_len);
	if (rc == 0) {
		serve_config_swap(&d->cfg, &tmp);
		io_emitf(d->io, "serve_applied", "\"verb\":\"config\",\"services\":%zu",
		         d->cfg.n_services);
		svcd_reconcile(d);
	}
	serve_config_free(&tmp);
	return rc;
}

char *svcd_serve_status_json(const struct svcd *d)
{
	return serve_config_to_json(&d->cfg, true);
}

static const char *verb_name(enum serve_verb v)
{
	switch (v) {
	case SERVE_VERB_SET:
		return "set";
	case SERVE_VERB_OFF:
		return "off";
	case SERVE_VERB_DRAIN:
		return "drain";
	case SERVE_VERB_CLEAR:
		return "clear";
	case SERVE_VERB_RESET:
		return "reset";
	case SERVE_VERB_ADVERTISE:
		return "advertise";
	case SERVE_VERB_STATUS:
		return "status";
	case SERVE_VERB_NONE:
		break;
	}
	return "none";
}

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The CFG-12 message for a SET: approved when the netmap lists the
 * service among those this host may host; then its VIPs are shown. */
static char *svcd_set_message(const struct svcd *d, const struct serve_op *op)
{
	const struct netmap_service *hs = svcd_hosted(d, op->service);
	char bufs[NETMAP_MAX_ADDRS][IO_ADDR_STRLEN];
	const char *addrs[NETMAP_MAX_ADDRS];
	size_t n = 0;

	for (size_t i = 0; hs && i < hs->n_addrs && i < NETMAP_MAX_ADDRS; i++) {
		addrs[n] = io_addr_format(&hs->addrs[i], false, bufs[n], sizeof(bufs[n]));
		n++;
	}
	return serve_cmd_message(&d->cfg, op, hs != NULL, n ? addrs : NULL, n);
}

/* Runs a parsed op. Returns 0 or -errno; *out gets the malloc'd text the
 * CLI prints (or NULL on -ENOMEM). */
static int svcd_run_op(struct svcd *d, const struct serve_op *op, char **out)
{
	char err[SVCD_ERR_LEN];
	struct serve_config tmp;
	struct serve_adv *tadv, *old;
	int rc;

	*out = NULL;
	if (op->verb == SERVE_VERB_STATUS) {
		*out = op->json ? serve_config_to_json(&d->cfg, true)
		                : serve_status_text(&d->cfg, &d->adv);
		if (*out && op->json) {
			size_t n = strlen(*out);
			char *s = realloc(*out, n + 2);
			if (s) {
				s[n] = '\n';
				s[n + 1] = '\0';
				*out = s;
			}
		}
		return *out ? 0 : -ENOMEM;
	}
	if (op->verb == SERVE_VERB_SET || op->verb == SERVE_VERB_ADVERTISE) {
		bool tagged = d->nm && d->nm->self.n_tags > 0;
		if (!serve_host_may_serve(tagged, op->service, err, sizeof(err))) {
			*out = xprintf("%s\n", err);
			return -EPERM;
		}
	}
	tadv = malloc(2 * sizeof(*tadv));
	if (!tadv)
		return -ENOMEM;
	old = tadv + 1;
	*tadv = d->adv;
	*old = d->adv;
	rc = serve_config_clone(&tmp, &d->cfg);
	if (rc < 0) {
		free(tadv);
		return rc;
	}
	err[0] = '\0';
	rc = serve_cmd_apply(&tmp, tadv, op, err, sizeof(err));
	if (rc == 0)
		rc = svcd_check_config(d, &tmp, err, sizeof(err));
	if (rc < 0) {
		*out = xprintf("%s\n", err);
		goto out_free;
	}
	serve_config_swap(&d->cfg, &tmp);
	d->adv = *tadv;
	io_emitf(d->io, "serve_applied", "\"verb\":\"%s\",\"service\":\"%s\",\"port\":%u",
	         verb_name(op->verb), op->service, op->port);
	svcd_adv_transitions(d, old);
	svcd_reconcile(d);
	svcd_release_states(d);

	switch (op->verb) {
	case SERVE_VERB_SET:
		*out = svcd_set_message(d, op);
		break;
	case SERVE_VERB_DRAIN:
		*out = xprintf("%s is draining: no new connections will be steered to this host; "
		               "open connections continue.\n",
		               op->service);
		break;
	case SERVE_VERB_ADVERTISE:
		*out = xprintf("%s is advertised by this host.\n", op->service);
		break;
	default:
		*out = strdup("");
		break;
	}
	if (!*out)
		rc = -ENOMEM;
out_free:
	serve_config_free(&tmp);
	free(tadv);
	return rc;
}

static int svcd_copy_out(char *text, int rc, char *out, size_t out_len)
{
	if (out && out_len) {
		if (text)
			snprintf(out, out_len, "%s", text);
		else
			snprintf(out, out_len, "%s\n", strerror(-rc));
	}
	free(text);
	return rc;
}

static int svcd_serve_argv_alloc(struct svcd *d, int argc, char **argv, char **out)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SVCD_ERR_LEN];
	int rc;

	*out = NULL;
	if (!op)
		return -ENOMEM;
	err[0] = '\0';
	rc = serve_cmd_parse(argc, argv, op, err, sizeof(err));
	if (rc < 0)
		*out = xprintf("%s\n", err);
	else
		rc = svcd_run_op(d, op, out);
	free(op);
	return rc;
}

int svcd_serve_argv(struct svcd *d, int argc, char **argv, char *out, size_t out_len)
{
	char *text;
	int rc = svcd_serve_argv_alloc(d, argc, argv, &text);
	return svcd_copy_out(text, rc, out, out_len);
}

int svcd_serve_line(struct svcd *d, const char *line, char *out, size_t out_len)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[SVCD_ERR_LEN];
	char *text = NULL;
	int rc;

	if (!op)
		return svcd_copy_out(NULL, -ENOMEM, out, out_len);
	err[0] = '\0';
	rc = serve_cmd_parse_line(line, strlen(line), op, err, sizeof(err));
	if (rc < 0)
		text = xprintf("%s\n", err);
	else
		rc = svcd_run_op(d, op, &text);
	free(op);
	return svcd_copy_out(text, rc, out, out_len);
}

/* ---- the local API ------------------------------------------------------ */

char *svcd_local_request(struct svcd *d, const char *line, size_t len)
{
	struct localapi_request req;
	char err[SVCD_ERR_LEN];
	char *text = NULL, *resp;
	int rc;

	err[0] = '\0';
	rc = localapi_request_parse(line, len, &req, err, sizeof(err));
	if (rc < 0) {
		char msg[SVCD_ERR_LEN + 32];
		snprintf(msg, sizeof(msg), "bad request: %s\n", err);
		return localapi_response_format(LOCALAPI_STATUS_BAD_REQUEST, msg);
	}
	switch (req.op) {
	case LOCALAPI_OP_SERVE:
		rc = svcd_serve_argv_alloc(d, req.argc, req.argv, &text);
		break;
	case LOCALAPI_OP_SERVE_CONFIG:
		rc = svcd_set_serve_config_json(d, req.document, req.doc_len, err, sizeof(err));
		text = rc < 0 ? xprintf("serve config refused: %s\n", err) : strdup("");
		break;
	case LOCALAPI_OP_NETMAP:
		rc = svcd_set_netmap_json(d, req.document, req.doc_len, err, sizeof(err));
		text = rc < 0 ? xprintf("netmap refused: %s\n", err) : strdup("");
		break;
	case LOCALAPI_OP_STATUS: {
		struct serve_op op = {.verb = SERVE_VERB_STATUS, .json = req.json};
		rc = svcd_run_op(d, &op, &text);
		break;
	}
	case LOCALAPI_OP_NONE:
		CHECK(!"parsed request without an op");
	}
	localapi_request_free(&req);
	if (!text && rc == 0)
		rc = -ENOMEM;
	resp = localapi_response_format(rc == 0 ? LOCALAPI_STATUS_OK : LOCALAPI_STATUS_FAILED,
	                                text ? text : strerror(-rc));
	free(text);
	return resp;
}
