/* http_proxy.c: the proxy, its listeners and the Service Proxy ops. */
#define _GNU_SOURCE
#include "lib/io/fs.h"
#include "lib/io/io_event.h"
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* limit_hit for `count` shed connections, the last of them from shed_peer. */
static void hp_shed_flush(struct event_gap *gap, uint64_t count)
{
	struct http_proxy *p = container_of(gap, struct http_proxy, shed_gap);

	io_event(p->io, "limit_hit", IO_STR("proxy", p->name), IO_STR("limit", p->shed_limit),
	         IO_STR("peer", p->shed_peer), IO_U64("count", count));
}

/* A connection accepted and closed at once because of `limit`. */
static void hp_shed(struct http_proxy *p, const char *limit, const char *peer)
{
	p->shed_limit = limit;
	snprintf(p->shed_peer, sizeof(p->shed_peer), "%s", peer);
	uint64_t n = event_gap_note(&p->shed_gap);
	if (n)
		hp_shed_flush(&p->shed_gap, n);
}

static void hp_reject_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

static void hp_listen_cb(void *ctx, int listener, unsigned events)
{
	struct http_proxy *p = ctx;
	struct io *io = p->io;

	(void)events;
	for (;;) {
		struct io_addr peer;
		char ip[IO_ADDR_STRLEN];

		/* REL-1: past its own limit, or when a client and its upstream
		 * would eat into the node's handle reserve, the proxy sheds:
		 * accept and close, so the client learns at once. */
		bool full = p->conns.n >= p->max_conns;
		if (full || io_handles_scarce(io, 2)) {
			int h = io->ops->tcp_accept(io, listener, &peer, hp_reject_cb, p);
			if (h < 0)
				return;
			io_addr_format(&peer, false, ip, sizeof(ip));
			hp_shed(p, full ? "max_conns" : "node_handles", ip);
			io->ops->close(io, h, false);
			continue;
		}
		struct hp_conn *c = hp_conn_new(p);
		if (!c) {
			/* Out of memory: take the connection off the queue and drop it. */
			int h = io->ops->tcp_accept(io, listener, &peer, hp_reject_cb, p);
			if (h < 0)
				return;
			io->ops->close(io, h, true);
			io_event(io, "proxy_error", IO_STR("proxy", p->name),
			         IO_STR("what", "out of memory"));
			continue;
		}
		int h = io->ops->tcp_accept(io, listener, &c->peer, hp_client_cb, c);
		if (h < 0) {
			http_head_free(c->req);
			free(c->in);
			free(c);
			return;
		}
		c->handle = h;
		io_addr_format(&c->peer, false, c->peer_ip, sizeof(c->peer_ip));
		c->start_us = c->last_active_us = c->idle_since_us = hp_now(p);
		list_push_front(&p->conns, &c->link);
		if (p->whois)
			c->has_identity = p->whois(p->whois_ctx, &c->peer, c->login,
			                           sizeof(c->login), c->uname, sizeof(c->uname));
		if (p->tls)
			c->tls = tls_conn_new_server(p->tls, io, h);
		io_event(io, "conn_accepted", IO_STR("proxy", p->name), IO_STR("peer", c->peer_ip),
		         IO_U64("conns", p->conns.n));
		if (p->tls && !c->tls) {
			hp_conn_end(c, true, "out of memory");
			continue;
		}
		hp_conn_run(c);
	}
}

/* `set`, or `def` when 0 (unset); at most `max`. */
static uint64_t hp_limit(uint64_t set, uint64_t def, uint64_t max)
{
	uint64_t v = set ? set : def;

	return v < max ? v : max;
}

/* The timeouts of `cfg`, 0 meaning the default. */
static void hp_set_timeouts(struct http_proxy *p, const struct http_proxy_config *cfg)
{
	p->idle_timeout_us =
	    hp_limit(cfg->idle_timeout_us, HTTP_PROXY_DEFAULT_IDLE_TIMEOUT_US, UINT64_MAX);
	p->head_timeout_us =
	    hp_limit(cfg->head_timeout_us, HTTP_PROXY_DEFAULT_HEAD_TIMEOUT_US, UINT64_MAX);
	p->upstream_timeout_us =
	    hp_limit(cfg->upstream_timeout_us, HTTP_PROXY_DEFAULT_UPSTREAM_TIMEOUT_US, UINT64_MAX);
	p->handshake_timeout_us =
	    hp_limit(cfg->handshake_timeout_us, TLS_HANDSHAKE_TIMEOUT_US, UINT64_MAX);
	p->upstream_idle_timeout_us = hp_limit(
	    cfg->upstream_idle_timeout_us, HTTP_PROXY_DEFAULT_UPSTREAM_IDLE_TIMEOUT_US, UINT64_MAX);
}

/* The size limits of `cfg`, 0 meaning the default, clamped to what the
 * HTTP parser allows; the buffer bound is raised to hold a whole head and
 * a read. */
static void hp_set_limits(struct http_proxy *p, const struct http_proxy_config *cfg)
{
	p->max_conns = (uint32_t)hp_limit(cfg->max_conns, HTTP_PROXY_DEFAULT_MAX_CONNS, UINT32_MAX);
	p->max_head_bytes = hp_limit(cfg->max_head_bytes, HTTP_MSG_DEFAULT_MAX_HEAD_BYTES,
	                             HTTP_MSG_LIMIT_HEAD_BYTES);
	p->max_headers =
	    hp_limit(cfg->max_headers, HTTP_MSG_DEFAULT_MAX_HEADERS, HTTP_MSG_LIMIT_HEADERS);
	p->max_idle_upstreams = cfg->max_idle_upstreams == HTTP_PROXY_NO_IDLE_UPSTREAMS
	                            ? 0
	                            : hp_limit(cfg->max_idle_upstreams,
	                                       HTTP_PROXY_DEFAULT_MAX_IDLE_UPSTREAMS, UINT64_MAX);
	p->max_buffered =
	    hp_limit(cfg->max_buffered_bytes, HTTP_PROXY_DEFAULT_MAX_BUFFERED, UINT64_MAX);
	/* A buffer must hold a whole head plus one read. */
	size_t floor = p->max_head_bytes + HTTP_MSG_REWRITE_SLACK + SERVE_MAX_TARGET_LEN +
	               2 * HTTP_PROXY_READ_CHUNK + HP_FRAMING_SLACK;
	if (p->max_buffered < floor)
		p->max_buffered = floor;
}

int http_proxy_new(struct http_proxy **out, struct io *io, const struct http_proxy_config *cfg)
{
	struct http_proxy *p;
	int rc;

	CHECK(out && io && cfg);
	*out = NULL;
	if (!cfg->handlers || (cfg->handlers->type == SERVE_TYPE_HTTPS) != (cfg->tls != NULL) ||
	    (cfg->tls && !tls_ctx_is_server(cfg->tls)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->base.ops = &http_proxy_svc_ops;
	p->io = io;
	event_gap_init(&p->shed_gap, io, HTTP_PROXY_SHED_EVENT_GAP_US, hp_shed_flush);
	snprintf(p->name, sizeof(p->name), "%s", cfg->name ? cfg->name : "http");
	rc = hp_handlers_new(&p->handlers, cfg->handlers);
	if (rc < 0) {
		free(p);
		return rc;
	}
	/* Files come through the seam; a seam without a tree of its own
	 * serves the host's. */
	p->fs = io->fs;
	if (!p->fs) {
		rc = io_fs_host_new(&p->own_fs);
		if (rc < 0) {
			http_proxy_free(p);
			return rc;
		}
		p->fs = p->own_fs;
	}
	p->tls = cfg->tls;
	p->whois = cfg->whois;
	p->whois_ctx = cfg->whois_ctx;
	p->os_entropy = cfg->os_entropy;
	if ((cfg->upstream_ca_file && !(p->up_ca_file = strdup(cfg->upstream_ca_file))) ||
	    (cfg->upstream_ca_pem && !(p->up_ca_pem = strdup(cfg->upstream_ca_pem)))) {
		http_proxy_free(p);
		return -ENOMEM;
	}
	hp_set_limits(p, cfg);
	hp_set_timeouts(p, cfg);
	p->pool_timer.fn = hp_pool_timer_fn;
	*out = p;
	return 0;
}

int http_proxy_listen(struct http_proxy *p, const struct io_addr *addr, struct io_addr *bound)
{
	struct io *io = p->io;

	if (p->n_listeners == HTTP_PROXY_MAX_LISTENERS)
		return -E2BIG;
	if (p->draining)
		return -ESHUTDOWN;
	int h = io->ops->tcp_listen(io, addr, HTTP_PROXY_BACKLOG, hp_listen_cb, p);
	if (h < 0)
		return h;
	if (bound) {
		int rc = io->ops->sock_name(io, h, false, bound);
		if (rc < 0) {
			io->ops->close(io, h, false);
			return rc;
		}
	}
	p->listeners[p->n_listeners++] = h;
	char a[IO_ADDR_STRLEN];
	struct io_addr local;
	if (io->ops->sock_name(io, h, false, &local) == 0)
		io_addr_format(&local, true, a, sizeof(a));
	else
		io_addr_format(addr, true, a, sizeof(a));
	io_event(io, "proxy_listen", IO_STR("proxy", p->name), IO_STR("addr", a));
	return 0;
}

int http_proxy_set_handlers(struct http_proxy *p, const struct serve_port *handlers)
{
	struct hp_handlers *hs;

	if (handlers && (handlers->type == SERVE_TYPE_HTTPS) != (p->tls != NULL))
		return -EINVAL;
	int rc = hp_handlers_new(&hs, handlers);
	if (rc < 0)
		return rc;
	/* Requests in flight hold copies of what they need (route, mount);
	 * idle connections to upstreams the new handlers may not name go. */
	hp_handlers_free(p->handlers);
	p->handlers = hs;
	hp_pool_close_all(p, false);
	io_event(p->io, "proxy_handlers", IO_STR("proxy", p->name),
	         IO_U64("handlers", hs->port.n_handlers));
	return 0;
}

void http_proxy_stop_accepting(struct http_proxy *p)
{
	for (size_t i = 0; i < p->n_listeners; i++)
		p->io->ops->close(p->io, p->listeners[i], false);
	p->n_listeners = 0;
	p->draining = true;
	hp_pool_close_all(p, false);
	io_event(p->io, "proxy_drain", IO_STR("proxy", p->name), IO_U64("open", p->conns.n));
	struct list_node *n, *tmp;
	list_for_each_safe(n, tmp, &p->conns)
	{
		struct hp_conn *c = list_item(n, struct hp_conn, link);
		/* An idle keep-alive connection may go; one that has not sent
		 * its first request yet may have it on the wire already, so it
		 * is served once (with Connection: close) instead: no client
		 * sees a reset because of a drain (DRN-1). */
		if (c->state == HP_IDLE && c->requests > 0 && !http_parser_in_message(&c->parser))
			hp_conn_end(c, false, "drained");
		else
			c->close_after = true;
	}
}

void http_proxy_abort_all(struct http_proxy *p)
{
	while (!list_empty(&p->conns))
		hp_conn_end(list_item(p->conns.first, struct hp_conn, link), true, "aborted");
	hp_pool_close_all(p, true);
}

size_t http_proxy_open_connections(const struct http_proxy *p)
{
	return p->conns.n;
}

size_t http_proxy_peak_buffered(const struct http_proxy *p)
{
	return p->peak_buffered;
}

struct http_proxy_upstream_stats http_proxy_upstream_stats(const struct http_proxy *p)
{
	return (struct http_proxy_upstream_stats){
	    .opened = p->upstreams_opened, .reused = p->upstreams_reused, .idle = p->pool.n};
}

void http_proxy_free(struct http_proxy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_listeners; i++)
		p->io->ops->close(p->io, p->listeners[i], false);
	event_gap_stop(&p->shed_gap);
	while (!list_empty(&p->conns))
		hp_conn_end(list_item(p->conns.first, struct hp_conn, link), false,
		            "proxy stopped");
	hp_pool_close_all(p, false);
	hp_handlers_free(p->handlers);
	tls_ctx_free(p->up_tls_verify);
	tls_ctx_free(p->up_tls_insecure);
	free(p->up_ca_file);
	free(p->up_ca_pem);
	io_fs_free(p->own_fs);
	free(p);
}

static struct http_proxy *hp_from_svc(struct svc_proxy *sp)
{
	CHECK(sp->ops == &http_proxy_svc_ops);
	return (struct http_proxy *)sp;
}

static int hp_svc_create(struct svc_proxy **out, struct io *io, const struct svc_proxy_config *cfg)
{
	const struct http_proxy_config hc = {
	    .name = cfg->label,
	    .handlers = cfg->port,
	    .tls = cfg->tls,
	    .whois = cfg->whois,
	    .whois_ctx = cfg->whois_ctx,
	    .os_entropy = cfg->os_entropy,
	};
	struct http_proxy *p;
	int rc = http_proxy_new(&p, io, &hc);

	*out = rc == 0 ? &p->base : NULL;
	return rc;
}

static int hp_svc_listen(struct svc_proxy *sp, const struct io_addr *addr)
{
	return http_proxy_listen(hp_from_svc(sp), addr, NULL);
}

static int hp_svc_update(struct svc_proxy *sp, const struct svc_proxy_config *cfg)
{
	struct http_proxy *p = hp_from_svc(sp);

	if (cfg->tls && (!p->tls || !tls_ctx_is_server(cfg->tls)))
		return -EINVAL; /* HTTPS stays HTTPS: only its context changes */
	int rc = http_proxy_set_handlers(p, cfg->port);
	if (rc == 0 && cfg->tls)
		p->tls = cfg->tls;
	return rc;
}

static void hp_svc_stop_accepting(struct svc_proxy *sp)
{
	http_proxy_stop_accepting(hp_from_svc(sp));
}

static void hp_svc_abort_all(struct svc_proxy *sp)
{
	http_proxy_abort_all(hp_from_svc(sp));
}

static size_t hp_svc_open_connections(const struct svc_proxy *sp)
{
	CHECK(sp->ops == &http_proxy_svc_ops);
	return http_proxy_open_connections((const struct http_proxy *)sp);
}

static void hp_svc_free(struct svc_proxy *sp)
{
	http_proxy_free(hp_from_svc(sp));
}

const struct svc_proxy_ops http_proxy_svc_ops = {
    .name = "l7",
    .create = hp_svc_create,
    .listen = hp_svc_listen,
    .update = hp_svc_update,
    .stop_accepting = hp_svc_stop_accepting,
    .abort_all = hp_svc_abort_all,
    .open_connections = hp_svc_open_connections,
    .free = hp_svc_free,
};
