/* svcd: the node daemon (see svcd.h). */
#define _GNU_SOURCE
#include "proxy/svcd.h"
#include "lib/base/check.h"

#include "lib/io/io_event.h"
#include "lib/wire/ca.h"
#include "lib/wire/localapi.h"
#include "lib/wire/mapproto.h"
#include "lib/wire/netmap.h"
#include "lib/wire/packet.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/magicdns.h"
#include "proxy/mapclient.h"
#include "proxy/serve/serve_cmd.h"
#include "proxy/serve/serve_config.h"
#include "proxy/svc_proxy.h"

#include "lib/base/errfmt.h"
#include <cjson/cJSON.h>
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
/* When a listen found its address still in use: try again after this. */
#define SVCD_LISTEN_RETRY_US (100ull * 1000)
/* How often lingering proxies are checked for their last connection. */
#define SVCD_LINGER_SWEEP_US (200ull * 1000)
/* Shortest gap between two service_non_tcp_refused events. */
#define SVCD_EVENT_GAP_US (1000000ull)
#define SVCD_NAME_MAX     128
#define SVCD_ERR_LEN      512

/* A service's certificate from control (L7-5) and the server context made
 * of it with the node's key. Proxies hold references: a rotated
 * certificate's context lives until the last proxy using it is freed. */
struct svcd_cert {
	unsigned refs;
	char service[SERVE_NAME_MAX + 1];
	char *pem;
	struct tls_ctx *ctx;
};

struct svcd_proxy {
	char service[SERVE_NAME_MAX + 1];
	uint16_t port;
	enum serve_type type;
	bool lingering;         /* stopped accepting; kept only until its connections end */
	bool rotated;           /* lingering because its certificate changed, not a drain */
	struct svcd_cert *cert; /* a reference, or NULL: the --cert context */
	struct svc_proxy *impl; /* the L7 or L4 proxy, through its ops */
	size_t n_vips;          /* the service VIPs it was started for */
	struct io_addr vips[NETMAP_MAX_ADDRS];
};

/* Runtime drain state of a service (the advertisement state itself lives
 * in `adv`). */
struct svcd_svc {
	struct svcd *d;
	bool used;
	char name[SERVE_NAME_MAX + 1];
	bool draining; /* drain started, not undone */
	bool drained;  /* confirmed (or grace over): listeners closed */
	bool complete; /* drain_complete reported */
	struct io_timer grace;
	struct io_timer settle; /* confirmed, waiting for handshakes on their way */
	const char *settle_by;  /* "control" or "grace" while settling */
};

struct svcd {
	struct io *io;
	char name[SVCD_NAME_MAX];
	uint64_t drain_grace_us;
	bool os_entropy;

	struct dataplane *dp;
	struct netmap *nm;   /* NULL before the first netmap */
	struct tls_ctx *tls; /* from --cert/--key: the fallback for every service */

	/* Control (config.control): the map session, the node's TLS key,
	 * and the per-service certificates control issued. */
	struct mapclient *mc;
	char *key_pem;
	struct svcd_cert **certs;
	size_t n_certs;
	bool dns;           /* MagicDNS answers packets to 100.100.100.100:53 */
	bool config_tagged; /* config.tags given with config.control */

	struct serve_config cfg;
	struct serve_adv adv;
	struct svcd_svc svcs[SERVE_MAX_SERVICES];

	struct svcd_proxy *proxies;
	size_t n_proxies, cap_proxies;
	struct io_timer linger_timer;
	struct io_timer retry_timer; /* reconcile again after EADDRINUSE */

	uint64_t non_tcp_refused; /* since the last event */
	uint64_t non_tcp_last_event_us;
	bool non_tcp_event_sent;
};

/* ---- LIM-1: the data plane's deliver hook ------------------------------- */

/* LIM-1: a packet the data plane accepted for a hosted VIP reaches the
 * stack only when it is TCP or its service runs at L3 (dataplane_config's
 * deliver hook; `pi` is the data plane's parse of `pkt`). */
static bool svcd_packet_allowed(void *ctx, const uint8_t *pkt, size_t len,
                                const struct packet_info *pi)
{
	struct svcd *d = ctx;
	const struct netmap_service *hs;
	const struct serve_service *svc;

	(void)pkt;
	(void)len;
	if (!d->nm)
		return true; /* the data plane judged it already */
	if (pi->proto == PACKET_PROTO_TCP)
		return true;
	hs = netmap_host_service_by_vip(d->nm, &pi->dst);
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
		         pi->proto, io_addr_format(&pi->dst, pi->has_ports, dst, sizeof(dst)),
		         (unsigned long long)d->non_tcp_refused);
		d->non_tcp_refused = 0;
		d->non_tcp_last_event_us = now;
		d->non_tcp_event_sent = true;
	}
	return false;
}

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

/* Closes a draining service's listeners: control confirmed (DRN-1/3), or
 * the grace ran out without a control session; first the handshakes
 * already on their way get SVCD_DRAIN_SETTLE_US from their first packet
 * (see "Settle" in svcd.h). */
static void svc_drained(struct svcd_svc *s, const char *by)
{
	struct svcd *d = s->d;
	uint64_t now = d->io->ops->now_us(d->io);
	uint64_t last = dataplane_last_inbound_flow_us(d->dp, s->name);

	if (io_timer_armed(&s->grace))
		d->io->ops->timer_disarm(d->io, &s->grace);
	if (last && now < last + SVCD_DRAIN_SETTLE_US) {
		uint64_t wait = last + SVCD_DRAIN_SETTLE_US - now;
		if (!s->settle_by)
			io_emitf(d->io, "drain_settling",
			         "\"service\":\"%s\",\"wait_us\":%llu,\"by\":\"%s\"", s->name,
			         (unsigned long long)wait, by);
		s->settle_by = by;
		if (io_timer_armed(&s->settle))
			d->io->ops->timer_disarm(d->io, &s->settle);
		d->io->ops->timer_arm(d->io, &s->settle, wait);
		return;
	}
	s->settle_by = NULL;
	s->drained = true;
	io_emitf(d->io, "host_drained", "\"service\":\"%s\",\"open_connections\":%zu,\"by\":\"%s\"",
	         s->name, svcd_open_connections(d, s->name), by);
	svcd_reconcile(d);
}

static void svc_settle_fired(struct io_timer *t)
{
	struct svcd_svc *s = svcd_container_of(t, struct svcd_svc, settle);

	if (s->draining && !s->drained && s->settle_by)
		svc_drained(s, s->settle_by);
}

/* The grace: with a control session up, only control's confirmation
 * closes the listeners, so the timer is not armed then (see
 * svcd_mc_connected for the fallback while control is unreachable). */
static void svc_grace_fired(struct io_timer *t)
{
	struct svcd_svc *s = svcd_container_of(t, struct svcd_svc, grace);

	if (s->d->mc && mapclient_connected(s->d->mc))
		return;
	svc_drained(s, "grace");
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
		s->settle.fn = svc_settle_fired;
		return s;
	}
	return NULL;
}

static void svc_state_release(struct svcd *d, struct svcd_svc *s)
{
	if (io_timer_armed(&s->grace))
		d->io->ops->timer_disarm(d->io, &s->grace);
	if (io_timer_armed(&s->settle))
		d->io->ops->timer_disarm(d->io, &s->settle);
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
			bool await_control = d->mc && mapclient_connected(d->mc);

			s->draining = true;
			s->drained = false;
			s->complete = false;
			s->settle_by = NULL;
			if (io_timer_armed(&s->settle))
				d->io->ops->timer_disarm(d->io, &s->settle);
			if (!await_control)
				d->io->ops->timer_arm(d->io, &s->grace, d->drain_grace_us);
			io_emitf(d->io, "host_draining",
			         "\"service\":\"%s\",\"grace_us\":%llu,\"open_connections\":%zu,"
			         "\"until\":\"%s\"",
			         e->name, (unsigned long long)d->drain_grace_us,
			         svcd_open_connections(d, e->name),
			         await_control ? "control_confirms" : "grace");
		} else if (e->state == SERVE_ADV_ACTIVE) {
			if (io_timer_armed(&s->grace))
				d->io->ops->timer_disarm(d->io, &s->grace);
			if (io_timer_armed(&s->settle))
				d->io->ops->timer_disarm(d->io, &s->settle);
			s->settle_by = NULL;
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

/* ---- certificates from control (L7-5) ---------------------------------- */

static void cert_put(struct svcd_cert *c)
{
	if (!c || --c->refs > 0)
		return;
	tls_ctx_free(c->ctx);
	free(c->pem);
	free(c);
}

/* The certificate control issued for `service`, or NULL. */
static struct svcd_cert *svcd_cert_for(const struct svcd *d, const char *service)
{
	for (size_t i = 0; i < d->n_certs; i++)
		if (strcmp(d->certs[i]->service, service) == 0)
			return d->certs[i];
	return NULL;
}

/* Rebuilds the certificate table from a netmap document's
 * host_services[].cert_pem (members netmap_from_json ignores). Unchanged
 * PEMs keep their context; a certificate that does not load with the
 * node's key is reported and that service falls back to --cert. */
static void svcd_update_certs(struct svcd *d, const cJSON *doc)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(doc, "host_services"), *it;
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(hs);
	struct svcd_cert **next = NULL;

	if (!d->key_pem)
		return;
	if (cap > NETMAP_MAX_SERVICES)
		cap = NETMAP_MAX_SERVICES;
	if (cap && !(next = calloc(cap, sizeof(*next)))) {
		io_emitf(d->io, "svcd_warning", "\"what\":\"certificates\",\"errno\":%d", ENOMEM);
		return;
	}
	cJSON_ArrayForEach(it, hs)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *pem = cJSON_GetObjectItemCaseSensitive(it, "cert_pem");
		struct svcd_cert *c;

		if (n == cap)
			break;
		if (!cJSON_IsString(name) || !cJSON_IsString(pem) ||
		    strlen(name->valuestring) > SERVE_NAME_MAX)
			continue;
		c = svcd_cert_for(d, name->valuestring);
		if (c && strcmp(c->pem, pem->valuestring) == 0) {
			c->refs++;
			next[n++] = c;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || !(c->pem = strdup(pem->valuestring))) {
			free(c);
			continue;
		}
		char terr[TLS_ERR_LEN] = "";
		const struct tls_ctx_config tc = {.server = true,
		                                  .cert_pem = c->pem,
		                                  .key_pem = d->key_pem,
		                                  .os_entropy = d->os_entropy};
		int rc = tls_ctx_new(&c->ctx, d->io, &tc, terr, sizeof(terr));
		if (rc < 0) {
			char esc[2 * TLS_ERR_LEN];
			io_json_escape(esc, sizeof(esc), terr);
			io_emitf(d->io, "cert_refused",
			         "\"service\":\"%s\",\"errno\":%d,\"why\":\"%s\"",
			         name->valuestring, -rc, esc);
			free(c->pem);
			free(c);
			continue;
		}
		snprintf(c->service, sizeof(c->service), "%s", name->valuestring);
		c->refs = 1;
		next[n++] = c;
		io_emitf(d->io, "cert_installed", "\"service\":\"%s\"", c->service);
	}
	for (size_t i = 0; i < d->n_certs; i++)
		cert_put(d->certs[i]);
	free(d->certs);
	d->certs = next;
	d->n_certs = n;
}

/* ---- proxies ------------------------------------------------------------ */

/* The implementation for a port type: L7 for HTTP(S), L4 for TCP and
 * TLS-terminated TCP (L3 services have no proxy). */
static const struct svc_proxy_ops *proxy_ops_for(enum serve_type type)
{
	switch (type) {
	case SERVE_TYPE_HTTP:
	case SERVE_TYPE_HTTPS:
		return &http_proxy_svc_ops;
	default:
		return &tcp_proxy_svc_ops;
	}
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
static void proxy_destroy(struct svcd *d, size_t idx, const char *reason)
{
	struct svcd_proxy *p = &d->proxies[idx];
	size_t open = proxy_open(p);

	if (open) {
		p->impl->ops->abort_all(p->impl);
		io_emitf(d->io, "connections_reset",
		         "\"service\":\"%s\",\"port\":%u,\"count\":%zu,\"reason\":\"%s\"",
		         p->service, p->port, open, reason);
	}
	p->impl->ops->free(p->impl);
	cert_put(p->cert);
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
static int svcd_check_config(const struct svcd *d, const struct serve_config *cfg, char *err,
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
	struct tls_ctx *tls = NULL;
	char label[SERVE_NAME_MAX + 8];
	int rc = 0;
	size_t listening = 0;
	bool in_use = false;

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
	if (sp->type == SERVE_TYPE_HTTPS || sp->type == SERVE_TYPE_TLS_TCP) {
		/* L7-5: control's certificate for the service, else --cert. */
		p.cert = svcd_cert_for(d, hs->name);
		tls = p.cert ? p.cert->ctx : d->tls;
		if (!tls) {
			io_emitf(d->io, "proxy_error",
			         "\"service\":\"%s\",\"port\":%u,\"what\":\"no certificate yet\"",
			         hs->name, sp->port);
			return;
		}
	}
	struct svc_proxy_config pc;
	rc = proxy_config(d, label, sp, tls, &pc);
	if (rc == 0)
		rc = proxy_ops_for(sp->type)->create(&p.impl, d->io, &pc);
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
		rc = p.impl->ops->listen(p.impl, &a);
		io_addr_format(&a, true, txt, sizeof(txt));
		in_use |= rc == -EADDRINUSE;
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
		p.impl->ops->free(p.impl);
		io_emitf(d->io, "proxy_error",
		         "\"service\":\"%s\",\"port\":%u,\"what\":\"no address to listen on\"",
		         hs->name, sp->port);
		/* A listener on the same address closed just now (a proxy
		 * replaced for a new certificate) may hold it for a moment. */
		if (in_use && !io_timer_armed(&d->retry_timer))
			d->io->ops->timer_arm(d->io, &d->retry_timer, SVCD_LISTEN_RETRY_US);
		return;
	}
	if (p.cert)
		p.cert->refs++;
	d->proxies[d->n_proxies++] = p;
	io_emitf(d->io, "proxy_listening",
	         "\"service\":\"%s\",\"port\":%u,\"type\":\"%s\",\"local\":[%s]", hs->name,
	         sp->port, serve_type_name(sp->type), addrs);
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
		io_emitf(d->io, "proxy_error",
		         "\"service\":\"%s\",\"port\":%u,\"what\":\"set_handlers\",\"errno\":%d",
		         p->service, p->port, -rc);
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
		bool rotated = p->rotated;
		snprintf(name, sizeof(name), "%s", p->service);
		proxy_destroy(d, i, rotated ? "cert_rotated" : "drained");
		s = svc_state(d, name);
		if (!rotated && !svcd_service_lingering(d, name) && (!s || !s->draining)) {
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

static void svcd_retry_fired(struct io_timer *t)
{
	struct svcd *d = svcd_container_of(t, struct svcd, retry_timer);
	svcd_reconcile(d);
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
		if (sp && sp->type == p->type && p->cert != svcd_cert_for(d, p->service) &&
		    (p->type == SERVE_TYPE_HTTPS || p->type == SERVE_TYPE_TLS_TCP)) {
			/* A new certificate: new connections get it from a new
			 * proxy; open ones finish on the old one. */
			if (proxy_open(p) == 0) {
				proxy_destroy(d, i, "cert_rotated");
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

/* ---- the map session with control ---------------------------------------- */

static int svcd_apply_netmap(struct svcd *d, const cJSON *doc, const char *json, size_t len,
                             char *err, size_t err_len);

static int svcd_mc_apply(void *ctx, const cJSON *doc, const char *text, size_t len,
                         uint64_t version, char *err, size_t err_len)
{
	struct svcd *d = ctx;
	(void)version;
	return svcd_apply_netmap(d, doc, text, len, err, err_len);
}

static void svcd_mc_drain_confirmed(void *ctx, const char *service)
{
	svcd_drain_confirmed(ctx, service);
}

/* The session came up or went down. While it is down, draining services
 * fall back to the grace, counted from the loss (DRN-3 cannot be confirmed
 * without control); once it is up again control's word is awaited. */
static void svcd_mc_connected(void *ctx, bool up)
{
	struct svcd *d = ctx;

	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (!s->used || !s->draining || s->drained)
			continue;
		if (up && io_timer_armed(&s->grace))
			d->io->ops->timer_disarm(d->io, &s->grace);
		else if (!up && !io_timer_armed(&s->grace))
			d->io->ops->timer_arm(d->io, &s->grace, d->drain_grace_us);
	}
}

/* Sends control the advertisement: every advertised or draining service
 * with the ports its serve config handles. */
static void svcd_readvertise(struct svcd *d)
{
	cJSON *arr;
	int rc = -ENOMEM;

	if (!d->mc)
		return;
	arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < d->adv.n; i++) {
		const struct serve_adv_entry *e = &d->adv.e[i];
		const struct serve_service *svc = serve_config_find(&d->cfg, e->name);
		cJSON *o = cJSON_CreateObject(), *ports;

		if (!o)
			goto out;
		cJSON_AddItemToArray(arr, o);
		if (!cJSON_AddStringToObject(o, "name", e->name) ||
		    !cJSON_AddBoolToObject(o, "draining", e->state == SERVE_ADV_DRAINING) ||
		    !cJSON_AddBoolToObject(o, "tun", svc && svc->tun) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			goto out;
		for (size_t j = 0; svc && j < svc->n_ports; j++) {
			cJSON *n = cJSON_CreateNumber(svc->ports[j].port);
			if (!n)
				goto out;
			cJSON_AddItemToArray(ports, n);
		}
	}
	if (arr)
		rc = mapclient_advertise(d->mc, arr);
out:
	if (rc < 0)
		io_emitf(d->io, "svcd_warning", "\"what\":\"advertise\",\"errno\":%d", -rc);
	cJSON_Delete(arr);
}

/* Starts the map session: the node's TLS key from the seam's random
 * (L7-5), then the client. */
static int svcd_start_control(struct svcd *d, const struct svcd_config *config, char *err,
                              size_t err_len)
{
	uint8_t seed[CA_SEED_LEN];
	char *pub = NULL, ep[IO_ADDR_STRLEN];
	struct io_addr under = config->underlay;
	int rc;

	for (size_t i = 0; i < CA_SEED_LEN; i += 8) {
		uint64_t r = d->io->ops->random_u64(d->io);
		memcpy(seed + i, &r, 8);
	}
	rc = ca_keypair_from_seed(seed, &d->key_pem, &pub);
	if (rc < 0)
		return err_setf(err, err_len, rc, "node TLS key: %s", strerror(-rc));
	if (under.port == 0)
		under.port = DATAPLANE_DEFAULT_PORT;
	struct mapclient_config mcfg = {
	    .control = *config->control,
	    .node = d->name,
	    .user = config->user,
	    .region = config->region && config->region[0] ? config->region : "default",
	    .tags = config->tags,
	    .n_tags = config->n_tags,
	    .endpoint =
	        under.family != IO_AF_NONE ? io_addr_format(&under, true, ep, sizeof(ep)) : NULL,
	    .tls_key = pub,
	    .first_connect_delay_us = config->control_connect_delay_us,
	    .cb = {.apply = svcd_mc_apply,
	           .drain_confirmed = svcd_mc_drain_confirmed,
	           .connected = svcd_mc_connected},
	    .ctx = d,
	};
	if (mcfg.control.port == 0)
		mcfg.control.port = MAPPROTO_DEFAULT_PORT;
	rc = mapclient_new(&d->mc, d->io, &mcfg);
	free(pub);
	if (rc < 0)
		return err_setf(err, err_len, rc, "map session: %s",
		                rc == -EINVAL ? "bad control settings (name, tags)"
		                              : strerror(-rc));
	return 0;
}

/* One's-complement sum over 16-bit words (IPv4 header and UDP checksums). */
static uint32_t svcd_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t svcd_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* MagicDNS (SVC-3): a DNS query the node's stack sends to
 * 100.100.100.100:53 reaches the data plane's local handler (the address
 * is never put on the TUN device, see dataplane.h); the answer comes from
 * the current netmap and goes back into the stack as an IPv4/UDP packet
 * from 100.100.100.100:53. Anything else to that address is dropped. */
static void svcd_on_local_packet(void *ctx, const uint8_t *pkt, size_t len,
                                 const struct packet_info *pi)
{
	struct svcd *d = ctx;
	uint8_t reply[20 + 8 + MAGICDNS_MAX_REPLY];

	if (pi->proto != PACKET_PROTO_UDP || !pi->has_ports || pi->dst.port != MAGICDNS_PORT ||
	    pi->l4_offset + 8 > pi->len || pi->len > len)
		return;
	const uint8_t *query = pkt + pi->l4_offset + 8;
	size_t qlen = pi->len - pi->l4_offset - 8;
	ssize_t n = magicdns_answer(d->nm, query, qlen, reply + 28, MAGICDNS_MAX_REPLY);
	if (n <= 0)
		return;
	size_t total = 28 + (size_t)n;
	uint32_t src = DATAPLANE_LOCAL_ADDR_V4;
	/* IPv4 header. */
	memset(reply, 0, 28);
	reply[0] = 0x45;
	reply[2] = (uint8_t)(total >> 8);
	reply[3] = (uint8_t)total;
	reply[8] = 64;
	reply[9] = PACKET_PROTO_UDP;
	reply[12] = (uint8_t)(src >> 24);
	reply[13] = (uint8_t)(src >> 16);
	reply[14] = (uint8_t)(src >> 8);
	reply[15] = (uint8_t)src;
	memcpy(reply + 16, pi->src.ip, 4);
	uint16_t ck = svcd_csum_fold(svcd_csum_add(0, reply, 20));
	reply[10] = (uint8_t)(ck >> 8);
	reply[11] = (uint8_t)ck;
	/* UDP header with the checksum over the pseudo-header. */
	uint8_t *udp = reply + 20;
	size_t ulen = 8 + (size_t)n;
	udp[0] = MAGICDNS_PORT >> 8;
	udp[1] = MAGICDNS_PORT & 0xff;
	udp[2] = (uint8_t)(pi->src.port >> 8);
	udp[3] = (uint8_t)pi->src.port;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	uint8_t pseudo[12] = {reply[12],
	                      reply[13],
	                      reply[14],
	                      reply[15],
	                      reply[16],
	                      reply[17],
	                      reply[18],
	                      reply[19],
	                      0,
	                      PACKET_PROTO_UDP,
	                      (uint8_t)(ulen >> 8),
	                      (uint8_t)ulen};
	ck = svcd_csum_fold(svcd_csum_add(svcd_csum_add(0, pseudo, sizeof(pseudo)), udp, ulen));
	if (ck == 0)
		ck = 0xffff;
	udp[6] = (uint8_t)(ck >> 8);
	udp[7] = (uint8_t)ck;
	(void)dataplane_local_reply(d->dp, reply, total);
}

static int svcd_start_dns(struct svcd *d, char *err, size_t err_len)
{
	(void)err;
	(void)err_len;
	dataplane_set_local_handler(d->dp, svcd_on_local_packet, d);
	d->dns = true;
	return 0;
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
	d->linger_timer.fn = svcd_linger_fired;
	d->retry_timer.fn = svcd_retry_fired;
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
	                                    .pcap_path = config->tailnet_pcap,
	                                    .deliver = svcd_packet_allowed,
	                                    .deliver_ctx = d};
	d->dp = dataplane_new(io, &dc, &rc);
	if (!d->dp) {
		err_setf(err, err_len, rc, "data plane: %s", strerror(-rc));
		goto out_free;
	}
	if (config->magic_dns) {
		rc = svcd_start_dns(d, err, err_len);
		if (rc < 0)
			goto out_dp;
	}
	if (config->control) {
		d->config_tagged = config->n_tags > 0;
		rc = svcd_start_control(d, config, err, err_len);
		if (rc < 0)
			goto out_dns;
	}
	io_emitf(io, "svcd_started", "\"name\":\"%s\",\"tls\":%s,\"control\":%s,\"magic_dns\":%s",
	         d->name, d->tls ? "true" : "false", d->mc ? "true" : "false",
	         d->dns ? "true" : "false");
	*out = d;
	return 0;

out_dns:
	dataplane_set_local_handler(d->dp, NULL, NULL);
out_dp:
	dataplane_free(d->dp);
out_free:
	free(d->key_pem);
	tls_ctx_free(d->tls);
	serve_config_free(&d->cfg);
	free(d);
	return rc;
}

void svcd_free(struct svcd *d)
{
	if (!d)
		return;
	mapclient_free(d->mc);
	if (d->dns)
		dataplane_set_local_handler(d->dp, NULL, NULL);
	while (d->n_proxies)
		proxy_destroy(d, d->n_proxies - 1, "shutdown");
	free(d->proxies);
	if (io_timer_armed(&d->linger_timer))
		d->io->ops->timer_disarm(d->io, &d->linger_timer);
	if (io_timer_armed(&d->retry_timer))
		d->io->ops->timer_disarm(d->io, &d->retry_timer);
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++)
		if (d->svcs[i].used)
			svc_state_release(d, &d->svcs[i]);
	dataplane_free(d->dp);
	if (d->nm) {
		netmap_free(d->nm);
		free(d->nm);
	}
	for (size_t i = 0; i < d->n_certs; i++)
		cert_put(d->certs[i]);
	free(d->certs);
	free(d->key_pem);
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
	return svcd_apply_netmap(d, NULL, json, len, err, err_len);
}

/* Swaps in a netmap: `json` parsed by netmap_from_json, and (with a node
 * key) the certificates it carries, from `doc` or, when NULL, from `json`
 * parsed again. */
static int svcd_apply_netmap(struct svcd *d, const cJSON *doc, const char *json, size_t len,
                             char *err, size_t err_len)
{
	struct netmap *nm = calloc(1, sizeof(*nm));
	cJSON *parsed = NULL;
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
	if (d->key_pem) {
		if (!doc)
			doc = parsed = cJSON_ParseWithLength(json, len);
		svcd_update_certs(d, doc);
		cJSON_Delete(parsed);
	}
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

void svcd_drain_confirmed(struct svcd *d, const char *service)
{
	struct svcd_svc *s = svc_state(d, service);

	if (!s || !s->draining || s->drained)
		return;
	svc_drained(s, "control");
}

const struct netmap *svcd_netmap(const struct svcd *d)
{
	return d->nm;
}

uint64_t svcd_netmap_version(const struct svcd *d)
{
	return d->nm ? d->nm->version : 0;
}

bool svcd_control_connected(const struct svcd *d)
{
	return d->mc && mapclient_connected(d->mc);
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
		svcd_readvertise(d);
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
		/* before control's first map, the tags this node claims */
		bool tagged = d->nm ? d->nm->self.n_tags > 0 : d->config_tagged;
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
	svcd_readvertise(d);

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
