/* The HTTP client workload (see workload_http.h). */
#include "sim/workload/workload_http.h"

#include "lib/base/check.h"
#include "lib/base/list.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/tls.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WH_READ_CHUNK   (16 * 1024)
#define WH_HEAD_BYTES   (16 * 1024)
#define WH_HEADERS      64
#define WH_REQ_HEAD_MAX 1024

/* One TCP (or TLS) connection and the request it carries. With keepalive
 * it outlives its request: back in the idle set until the next arrival. */
struct wh_req {
	struct wh_client *c;
	struct list_node link; /* in the client's b.conns */
	int handle;
	struct tls_conn *tls;
	uint64_t start_us;
	struct io_timer timeout;
	struct http_head *head;
	struct http_parser parser;
	char head_text[WH_REQ_HEAD_MAX];
	size_t head_len, head_off;
	uint64_t body_left; /* request body bytes still to send */
	uint64_t bytes_in;  /* response body bytes */
	bool connected;
	bool busy;      /* a request is in flight on it (else idle: keepalive) */
	bool reused;    /* the request went out on a connection kept from before */
	bool got_bytes; /* the request's answer has begun */
	bool retried;   /* the request is a retry (see wh_req_fail) */
	char host[WH_NAME_MAX + 1];
};

/* Its base's in_flight counts the busy connections. */
struct wh_client {
	struct wh_base b;
	struct wh_config cfg;
	char host_header[256], path[1024];
};
_Static_assert(offsetof(struct wh_client, b) == 0, "allocated through its wh_base");

static void wh_report(struct wh_client *c, struct wh_req *r, enum wh_outcome o, int status)
{
	wh_base_report(&c->b, r ? r->host : NULL, r ? r->start_us : 0, r ? r->bytes_in : 0, o,
	               status, r && r->retried);
}

/* Unlinks and frees a connection: RST when `abort`, else a graceful close
 * (close_notify first with TLS). */
static void wh_req_free(struct wh_req *r, bool abort)
{
	struct wh_client *c = r->c;

	list_remove(&c->b.conns, &r->link);
	if (r->busy)
		c->b.in_flight--;
	c->b.io->ops->timer_disarm(c->b.io, &r->timeout);
	if (r->tls && !abort)
		tls_conn_close_notify(r->tls);
	tls_conn_free(r->tls);
	if (r->handle >= 0)
		c->b.io->ops->close(c->b.io, r->handle, abort);
	http_head_free(r->head);
	free(r);
}

static void wh_idle_event(struct wh_req *r);

/* Ends the request on r with outcome o. The connection goes back to the
 * idle set when `reusable` (keepalive, a whole response, the server keeps
 * the connection, arrivals not stopped), else it is closed. */
static void wh_req_end_ex(struct wh_req *r, enum wh_outcome o, int status, bool reusable)
{
	struct wh_client *c = r->c;
	bool whole = o == WH_OK || o == WH_HTTP_ERROR;

	wh_report(c, r, o, status);
	if (!(whole && reusable && c->cfg.keepalive && !c->b.stopped && r->head->keep_alive)) {
		wh_req_free(r, !whole);
		return;
	}
	r->busy = false;
	c->b.in_flight--;
	c->b.io->ops->timer_disarm(c->b.io, &r->timeout);
	http_parser_resume(&r->parser);
	/* read to -EAGAIN, so the seam tells us when the server closes it */
	wh_idle_event(r);
}

static void wh_req_end(struct wh_req *r, enum wh_outcome o, int status)
{
	wh_req_end_ex(r, o, status, false);
}

static int wh_open(struct wh_client *c, uint64_t start_us, bool retried);

/* The request on r failed with o before a whole response. A GET that went
 * out on a reused connection and got no byte back is retried once on a new
 * connection (the server may have closed the idle connection as the
 * request went out); anything else ends with o. */
static void wh_req_fail(struct wh_req *r, enum wh_outcome o)
{
	struct wh_client *c = r->c;

	if (r->reused && !r->got_bytes && !r->retried && c->cfg.request_bytes == 0) {
		uint64_t start = r->start_us;
		wh_req_free(r, true);
		if (wh_open(c, start, true) == -ENOMEM)
			wh_report(c, NULL, o, 0); /* the request still gets its event */
		return;
	}
	wh_req_end(r, o, 0);
}

/* The outcome of a whole response: ok, or http_error for a 5xx status or
 * a body whose length differs from the one asked for (response_bytes). */
static enum wh_outcome wh_whole_outcome(const struct wh_req *r)
{
	uint64_t want = r->c->cfg.response_bytes;

	if (r->head->status >= 500)
		return WH_HTTP_ERROR;
	if (want && r->bytes_in != want)
		return WH_HTTP_ERROR;
	return WH_OK;
}

static ssize_t wh_read(struct wh_req *r, void *buf, size_t len)
{
	struct io *io = r->c->b.io;
	return r->tls ? tls_conn_read(r->tls, buf, len)
	              : io->ops->tcp_read(io, r->handle, buf, len);
}

static ssize_t wh_write(struct wh_req *r, const void *buf, size_t len)
{
	struct io *io = r->c->b.io;
	return r->tls ? tls_conn_write(r->tls, buf, len)
	              : io->ops->tcp_write(io, r->handle, buf, len);
}

static int wh_body(void *ctx, const char *data, size_t len)
{
	struct wh_req *r = ctx;

	(void)data;
	r->bytes_in += len;
	return 0;
}

/* Sends what is left of the request. 0, or -errno once it failed. */
static int wh_send(struct wh_req *r)
{
	static const char fill[4096] = {0};

	while (r->head_off < r->head_len) {
		ssize_t n = wh_write(r, r->head_text + r->head_off, r->head_len - r->head_off);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		r->head_off += (size_t)n;
	}
	while (r->body_left) {
		size_t want = r->body_left < sizeof(fill) ? (size_t)r->body_left : sizeof(fill);
		ssize_t n = wh_write(r, fill, want);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		r->body_left -= (uint64_t)n;
	}
	return 0;
}

/* An idle keepalive connection became readable: the server closed it, sent
 * stray bytes or failed. It is dropped without an event (no request on
 * it); bytes TLS consumes itself (alerts, tickets) leave it idle. */
static void wh_idle_event(struct wh_req *r)
{
	char buf[256];
	ssize_t n = wh_read(r, buf, sizeof(buf));

	if (n != -EAGAIN)
		wh_req_free(r, n != 0);
}

/* Reads the response. Returns true when the request ended (r may be freed
 * or idle). */
static bool wh_receive(struct wh_req *r)
{
	char buf[WH_READ_CHUNK];

	for (;;) {
		ssize_t n = wh_read(r, buf, sizeof(buf));
		if (n == -EAGAIN)
			return false;
		if (n < 0) {
			wh_req_fail(r, n == -ECONNREFUSED ? WH_REFUSED : WH_RESET);
			return true;
		}
		if (n == 0) {
			enum http_parse_status st = http_parser_finish(&r->parser);
			if (st == HTTP_PARSE_DONE)
				wh_req_end(r, wh_whole_outcome(r), r->head->status);
			else
				wh_req_fail(r, WH_RESET);
			return true;
		}
		r->got_bytes = true;
		size_t off = 0;
		while (off < (size_t)n) {
			size_t used = 0;
			enum http_parse_status st =
			    http_parser_feed(&r->parser, buf + off, (size_t)n - off, &used);
			off += used;
			if (st == HTTP_PARSE_HEAD) {
				http_parser_resume(&r->parser);
				/* a bodiless response (Content-Length: 0)
				 * completes on an empty feed */
				if (off < (size_t)n)
					continue;
				st = http_parser_feed(&r->parser, buf + off, 0, &used);
			}
			if (st == HTTP_PARSE_MORE) {
				if (used == 0)
					break;
			} else if (st == HTTP_PARSE_DONE) {
				/* bytes after the response: no pipelining, so the
				 * connection cannot be trusted with another request */
				wh_req_end_ex(r, wh_whole_outcome(r), r->head->status,
				              off == (size_t)n);
				return true;
			} else if (st == HTTP_PARSE_ERROR) {
				wh_req_end(r, WH_RESET, 0);
				return true;
			}
		}
	}
}

static void wh_on_sock(void *ctx, int handle, unsigned events)
{
	struct wh_req *r = ctx;
	struct wh_client *c = r->c;

	(void)handle;
	if (!r->connected && (events & (IO_WRITABLE | IO_READABLE)) && !(events & IO_ERROR)) {
		r->connected = true;
		wh_host_lookup(c->b.io, r->handle, NULL, c->cfg.host_fn, c->cfg.host_ctx, r->host,
		               sizeof(r->host));
	}
	if (r->tls) {
		int rc = tls_conn_on_event(r->tls, events);
		if (rc < 0) {
			if (r->busy)
				wh_req_fail(r, r->connected ? WH_RESET : WH_REFUSED);
			else
				wh_req_free(r, true);
			return;
		}
	} else if (events & IO_ERROR) {
		char probe;
		ssize_t e = c->b.io->ops->tcp_read(c->b.io, r->handle, &probe, 1);
		if (r->busy)
			wh_req_fail(r, e == -ECONNREFUSED || !r->connected ? WH_REFUSED : WH_RESET);
		else
			wh_req_free(r, true);
		return;
	}
	if (!r->busy) {
		wh_idle_event(r);
		return;
	}
	if (r->connected) {
		int rc = wh_send(r);
		if (rc < 0) {
			wh_req_fail(r, WH_RESET);
			return;
		}
	}
	wh_receive(r);
}

static void wh_on_timeout(struct io_timer *t)
{
	struct wh_req *r = container_of(t, struct wh_req, timeout);
	wh_req_end(r, WH_TIMEOUT, 0);
}

/* Formats the request head into r. */
static void wh_format_request(struct wh_client *c, struct wh_req *r, const char *host)
{
	const char *conn = c->cfg.keepalive ? "" : "Connection: close\r\n";
	char extra[64] = "";
	int n;

	if (c->cfg.response_bytes)
		snprintf(extra, sizeof(extra), "X-Response-Bytes: %llu\r\n",
		         (unsigned long long)c->cfg.response_bytes);
	if (c->cfg.request_bytes)
		n = snprintf(r->head_text, sizeof(r->head_text),
		             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %llu\r\n%s%s\r\n",
		             c->path, host, (unsigned long long)c->cfg.request_bytes, extra, conn);
	else
		n = snprintf(r->head_text, sizeof(r->head_text),
		             "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n", c->path, host, extra, conn);
	CHECK(n > 0 && (size_t)n < sizeof(r->head_text));
	r->head_len = (size_t)n;
	r->head_off = 0;
	r->body_left = c->cfg.request_bytes;
	r->bytes_in = 0;
}

/* The first idle keepalive connection, or NULL. */
static struct wh_req *wh_idle_conn(struct wh_client *c)
{
	struct list_node *n;

	for (n = c->b.conns.first; n; n = n->next) {
		struct wh_req *r = list_item(n, struct wh_req, link);
		if (!r->busy)
			return r;
	}
	return NULL;
}

/* The Host header's value. */
static const char *wh_host(const struct wh_client *c, char *buf, size_t len)
{
	return c->host_header[0] ? c->host_header : io_addr_format(&c->cfg.target, true, buf, len);
}

int wh_client_request(struct wh_client *c)
{
	struct wh_req *r;
	char target[IO_ADDR_STRLEN];

	if (c->b.in_flight >= c->cfg.max_outstanding) {
		wh_report(c, NULL, WH_OVERLOAD, 0);
		return -EBUSY;
	}
	r = c->cfg.keepalive ? wh_idle_conn(c) : NULL;
	if (!r)
		return wh_open(c, c->b.io->ops->now_us(c->b.io), false);
	/* reused: latency from the request's first byte written */
	wh_format_request(c, r, wh_host(c, target, sizeof(target)));
	r->busy = r->reused = true;
	r->got_bytes = r->retried = false;
	c->b.in_flight++;
	r->start_us = c->b.io->ops->now_us(c->b.io);
	c->b.io->ops->timer_arm(c->b.io, &r->timeout, c->cfg.timeout_us);
	if (wh_send(r) < 0) {
		wh_req_fail(r, WH_RESET);
		return -ECONNRESET;
	}
	return 0;
}

/* A request on a new connection, its latency counted from start_us. */
static int wh_open(struct wh_client *c, uint64_t start_us, bool retried)
{
	char target[IO_ADDR_STRLEN];
	const char *host = wh_host(c, target, sizeof(target));
	struct wh_req *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->c = c;
	r->handle = -1;
	r->timeout.fn = wh_on_timeout;
	r->head = http_head_new(WH_HEAD_BYTES, WH_HEADERS);
	if (!r->head) {
		free(r);
		return -ENOMEM;
	}
	http_parser_init(&r->parser, false, r->head, wh_body, r);
	wh_format_request(c, r, host);
	r->busy = true;
	r->retried = retried;
	r->start_us = start_us;
	wh_base_add(&c->b, &r->link, true);
	c->b.io->ops->timer_arm(c->b.io, &r->timeout, c->cfg.timeout_us);
	r->handle = c->b.io->ops->tcp_connect(c->b.io, &c->cfg.target, NULL, wh_on_sock, r);
	if (r->handle < 0) {
		int err = r->handle;
		r->handle = -1;
		wh_req_end(r, WH_REFUSED, 0);
		return err;
	}
	if (c->cfg.tls) {
		r->tls = tls_conn_new_client(c->cfg.tls, c->b.io, r->handle,
		                             c->host_header[0] ? host : NULL);
		if (!r->tls) {
			wh_req_end(r, WH_RESET, 0);
			return -ENOMEM;
		}
	}
	return 0;
}

static void wh_on_arrival(struct wh_base *b)
{
	wh_client_request(container_of(b, struct wh_client, b));
}

static bool wh_idle(struct list_node *n)
{
	return !list_item(n, struct wh_req, link)->busy;
}

/* At stop_us idle keepalive connections close gracefully (close_notify
 * first with TLS; busy ones close once their response is in); when the
 * client is freed busy ones abort. */
static void wh_drop(struct list_node *n, bool freeing)
{
	struct wh_req *r = list_item(n, struct wh_req, link);

	(void)freeing;
	wh_req_free(r, r->busy);
}

static const struct wh_conn_ops wh_conn_ops = {
    .request = wh_on_arrival, .idle = wh_idle, .drop = wh_drop};

int wh_client_new(struct wh_client **out, struct io *io, const struct wh_config *config)
{
	struct wh_client *c;
	int rc;

	if (!(config->rate_per_s >= 0) ||
	    (config->host_header && strlen(config->host_header) >= 256) ||
	    (config->path && (strlen(config->path) >= 1024 || config->path[0] != '/')))
		return -EINVAL;
	c = wh_base_new(sizeof(*c), io, &wh_conn_ops, config->name, config->client, config->done_fn,
	                config->done_ctx, &rc);
	if (!c)
		return rc;
	c->cfg = *config;
	snprintf(c->host_header, sizeof(c->host_header), "%s",
	         config->host_header ? config->host_header : "");
	snprintf(c->path, sizeof(c->path), "%s", config->path ? config->path : "/");
	wh_limits_default(&c->cfg.timeout_us, WH_DEFAULT_TIMEOUT_US, &c->cfg.max_outstanding);
	if (c->cfg.keepalive && c->cfg.stop_us)
		wh_base_stop_at(&c->b, c->cfg.stop_us);
	wh_base_start(&c->b, c->cfg.rate_per_s, c->cfg.start_us, c->cfg.stop_us);
	*out = c;
	return 0;
}

void wh_client_free(struct wh_client *c)
{
	if (c)
		wh_base_free(&c->b);
}

WH_CONN_COUNTERS(wh_client, struct wh_client)
