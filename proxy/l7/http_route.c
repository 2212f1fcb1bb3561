/* http_route.c: request routing (handlers, Proxy targets, dispatch by mount). */
#define _GNU_SOURCE
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hp_route_clear(struct hp_route *r)
{
	free(r->base);
	memset(r, 0, sizeof(*r));
}

/* Parses "http://host[:port][/base]" (also https, https+insecure). Names
 * other than IP literals and "localhost" cannot be resolved through the
 * seam: the route is kept but marked !ok (requests get 502). */
static int hp_route_parse(struct hp_route *r, const char *url)
{
	const char *rest;
	uint16_t def_port;
	char auth[HP_HOST_MAX + 16];

	memset(r, 0, sizeof(*r));
	if (strncmp(url, "http://", 7) == 0) {
		r->kind = HP_UP_HTTP;
		rest = url + 7;
		def_port = 80;
	} else if (strncmp(url, "https+insecure://", 17) == 0) {
		r->kind = HP_UP_HTTPS_INSECURE;
		rest = url + 17;
		def_port = 443;
	} else if (strncmp(url, "https://", 8) == 0) {
		r->kind = HP_UP_HTTPS;
		rest = url + 8;
		def_port = 443;
	} else {
		return -EINVAL;
	}
	size_t alen = strcspn(rest, "/?#");
	if (alen == 0 || alen >= sizeof(auth))
		return -EINVAL;
	memcpy(auth, rest, alen);
	auth[alen] = '\0';
	const char *path = rest + alen;
	size_t plen = strcspn(path, "?#");
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	r->base = strndup(path, plen);
	if (!r->base)
		return -ENOMEM;

	/* The host part, without brackets or port. */
	const char *h = auth, *hend;
	if (auth[0] == '[') {
		h = auth + 1;
		hend = strchr(auth, ']');
		if (!hend)
			goto out_clear_route;
	} else {
		hend = strchr(auth, ':');
		if (!hend)
			hend = auth + alen;
	}
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(hend - h), h);
	if (strcasecmp(r->host, "localhost") == 0) {
		char alt[HP_HOST_MAX + 16];
		snprintf(alt, sizeof(alt), "127.0.0.1%s", auth + 9);
		r->ok = io_addr_parse(&r->addr, alt, def_port) == 0;
	} else {
		r->ok = io_addr_parse(&r->addr, auth, def_port) == 0;
	}
	return 0;

out_clear_route:
	hp_route_clear(r);
	return -EINVAL;
}

/* Copies a route into a connection. A keep-alive connection usually asks
 * the same route again: its base string is then kept, not duplicated. */
static int hp_route_copy(struct hp_route *dst, const struct hp_route *src)
{
	const char *want = src->base ? src->base : "";
	char *base = dst->base;

	if (base && strcmp(base, want) == 0) {
		*dst = *src;
		dst->base = base;
		return 0;
	}
	hp_route_clear(dst);
	*dst = *src;
	dst->base = strdup(want);
	return dst->base ? 0 : -ENOMEM;
}

void hp_handlers_free(struct hp_handlers *hs)
{
	if (!hs)
		return;
	for (size_t i = 0; i < hs->port.n_handlers; i++) {
		free(hs->port.handlers[i].mount);
		free(hs->port.handlers[i].value);
		if (hs->routes)
			hp_route_clear(&hs->routes[i]);
	}
	free(hs->port.handlers);
	free(hs->routes);
	free(hs);
}

/* Deep-copies an HTTP/HTTPS port and parses its Proxy targets. */
int hp_handlers_new(struct hp_handlers **out, const struct serve_port *src)
{
	struct hp_handlers *hs;

	if (!src || (src->type != SERVE_TYPE_HTTP && src->type != SERVE_TYPE_HTTPS) ||
	    src->n_handlers == 0 || src->n_handlers > SERVE_MAX_HANDLERS)
		return -EINVAL;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->port.port = src->port;
	hs->port.type = src->type;
	hs->port.handlers = calloc(src->n_handlers, sizeof(*hs->port.handlers));
	hs->routes = calloc(src->n_handlers, sizeof(*hs->routes));
	if (!hs->port.handlers || !hs->routes)
		goto out_free_handlers;
	for (size_t i = 0; i < src->n_handlers; i++) {
		const struct serve_handler *sh = &src->handlers[i];
		struct serve_handler *dh = &hs->port.handlers[i];

		hs->port.n_handlers = i + 1;
		dh->kind = sh->kind;
		dh->mount = strdup(sh->mount ? sh->mount : "/");
		dh->value = strdup(sh->value ? sh->value : "");
		if (!dh->mount || !dh->value)
			goto out_free_handlers;
		if (sh->kind == SERVE_HANDLER_PROXY) {
			int rc = hp_route_parse(&hs->routes[i], dh->value);
			if (rc < 0) {
				hp_handlers_free(hs);
				return rc;
			}
		}
	}
	*out = hs;
	return 0;

out_free_handlers:
	hp_handlers_free(hs);
	return -ENOMEM;
}

/* A new exchange on `c` for its complete request head (the path is the
 * target's first `plen` bytes): counters reset, the framing and
 * keep-alive decided. */
static void hp_request_begin(struct hp_conn *c, size_t plen)
{
	struct http_proxy *p = c->p;
	const struct http_head *r = c->req;

	c->requests++;
	c->req_start_us = hp_now(p);
	c->req_done = c->resp_done = c->resp_started = false;
	c->req_body_bytes = c->resp_body_bytes = 0;
	c->status = 0;
	c->retried = false;
	c->discard_body = true;
	c->mount[0] = c->upstream[0] = '\0';
	/* method, path and upstream only feed the http_request event. */
	if (!p->io->events_off) {
		snprintf(c->method, sizeof(c->method), "%s", llhttp_method_name(r->method));
		snprintf(c->path, sizeof(c->path), "%.*s", (int)(plen < 200 ? plen : 200),
		         http_head_target(r));
	}
	c->head_request = r->method == HTTP_HEAD;
	c->client_http10 = r->http_minor == 0;
	c->req_body_up = r->body;
	if (p->draining || !r->keep_alive || c->client_http10)
		c->close_after = true;
}

/* A Proxy handler's request: on its route's upstream (pooled or new), or
 * a 502 when the route cannot be reached. 0 or -ENOMEM. */
static int hp_dispatch_proxy(struct hp_conn *c, const struct hp_route *route)
{
	if (hp_route_copy(&c->route, route) < 0)
		return -ENOMEM;
	if (!c->p->io->events_off)
		io_addr_format(&c->route.addr, true, c->upstream, sizeof(c->upstream));
	if (!c->route.ok) {
		snprintf(c->upstream, sizeof(c->upstream), "%.*s", (int)sizeof(c->upstream) - 1,
		         c->route.host);
		hp_local_error(c, 502, "upstream host cannot be resolved", c->req_body_up != 0);
		return 0;
	}
	c->state = HP_UPSTREAM;
	c->discard_body = false;
	int rc = hp_up_start(c, false);
	if (rc < 0) {
		hp_up_free(c, true);
		c->discard_body = true;
		hp_local_error(c, 502, "upstream connect failed", c->req_body_up != 0);
	}
	return 0;
}

/* A request head is complete: route it by the longest matching mount and
 * start answering. 0 or -errno (the connection is reset). */
int hp_dispatch(struct hp_conn *c)
{
	const struct hp_handlers *hs = c->p->handlers;
	const char *target = http_head_target(c->req);
	size_t plen = 0;

	while (plen < c->req->target_len && target[plen] != '?')
		plen++;
	hp_request_begin(c, plen);
	const struct serve_handler *h = serve_port_match(&hs->port, target, plen);
	if (!h) {
		hp_local_error(c, 404, "no handler for this path", false);
		return 0;
	}
	size_t mlen = strlen(h->mount);
	size_t mcopy = mlen < sizeof(c->mount) - 1 ? mlen : sizeof(c->mount) - 1;
	memcpy(c->mount, h->mount, mcopy);
	c->mount[mcopy] = '\0';
	while (mlen > 0 && h->mount[mlen - 1] == '/')
		mlen--;

	switch (h->kind) {
	case SERVE_HANDLER_TEXT:
		return hp_local_mem(c, 200, "text/plain; charset=utf-8", h->value,
		                    strlen(h->value));
	case SERVE_HANDLER_PATH: {
		const char *rest = target + mlen;
		size_t rest_len = plen - mlen;
		return hp_serve_path(c, h->value, rest_len ? rest : "/", rest_len ? rest_len : 1,
		                     target, plen);
	}
	case SERVE_HANDLER_PROXY:
		return hp_dispatch_proxy(c, &hs->routes[h - hs->port.handlers]);
	default:
		hp_local_error(c, 500, "unknown handler kind", false);
		return 0;
	}
}
