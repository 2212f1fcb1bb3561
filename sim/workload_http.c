/* The HTTP client workload (see workload_http.h). */
#include "workload_http.h"

#include "check.h"
#include "http_msg.h"
#include "tls.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WH_READ_CHUNK   (16 * 1024)
#define WH_HEAD_BYTES   (16 * 1024)
#define WH_HEADERS      64
#define WH_REQ_HEAD_MAX 1024

struct wh_req {
	struct wh_client *c;
	struct wh_req *next, *prev;
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
	char host[WH_NAME_MAX + 1];
};

struct wh_client {
	struct io *io;
	struct wh_config cfg;
	char name[WH_NAME_MAX + 1], client[WH_NAME_MAX + 1];
	char host_header[256], path[1024];
	struct io_timer arrival;
	struct wh_req *reqs; /* in flight */
	size_t in_flight;
};

const char *wh_outcome_name(enum wh_outcome o)
{
	static const char *const names[] = {
	    [WH_OK] = "ok",       [WH_HTTP_ERROR] = "http_error", [WH_REFUSED] = "refused",
	    [WH_RESET] = "reset", [WH_TIMEOUT] = "timeout",       [WH_OVERLOAD] = "overload",
	};
	return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

uint64_t wh_poisson_gap_us(struct io *io, double rate_per_s)
{
	uint64_t x = io->ops->random_u64(io);
	double u = (double)((x >> 11) + 1) * 0x1p-53;

	return (uint64_t)llround(-log(u) / rate_per_s * 1e6);
}

void wh_result_publish(struct io *io, const struct wh_result *r, wh_done_fn fn, void *ctx)
{
	io_emitf(io, "request_done",
	         "\"workload\":\"%s\",\"client\":\"%s\",\"host\":\"%s\",\"start_us\":%llu,"
	         "\"latency_us\":%llu,\"outcome\":\"%s\",\"status\":%d,\"bytes\":%llu",
	         r->workload, r->client, r->host, (unsigned long long)r->start_us,
	         (unsigned long long)r->latency_us, wh_outcome_name(r->outcome), r->status,
	         (unsigned long long)r->bytes);
	if (fn)
		fn(ctx, r);
}

static uint64_t wh_gap_us(struct wh_client *c)
{
	return wh_poisson_gap_us(c->io, c->cfg.rate_per_s);
}

static void wh_report(struct wh_client *c, struct wh_req *r, enum wh_outcome o, int status)
{
	uint64_t now = c->io->ops->now_us(c->io);
	struct wh_result res = {.workload = c->name,
	                        .client = c->client,
	                        .host = r ? r->host : "",
	                        .start_us = r ? r->start_us : now,
	                        .latency_us = r ? now - r->start_us : 0,
	                        .bytes = r ? r->bytes_in : 0,
	                        .outcome = o,
	                        .status = status};

	wh_result_publish(c->io, &res, c->cfg.done_fn, c->cfg.done_ctx);
}

static void wh_req_free(struct wh_req *r, bool abort)
{
	struct wh_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->in_flight--;
	c->io->ops->timer_disarm(c->io, &r->timeout);
	tls_conn_free(r->tls);
	if (r->handle >= 0)
		c->io->ops->close(c->io, r->handle, abort);
	http_head_free(r->head);
	free(r);
}

static void wh_req_end(struct wh_req *r, enum wh_outcome o, int status)
{
	wh_report(r->c, r, o, status);
	wh_req_free(r, o != WH_OK && o != WH_HTTP_ERROR);
}

static ssize_t wh_read(struct wh_req *r, void *buf, size_t len)
{
	struct io *io = r->c->io;
	return r->tls ? tls_conn_read(r->tls, buf, len)
	              : io->ops->tcp_read(io, r->handle, buf, len);
}

static ssize_t wh_write(struct wh_req *r, const void *buf, size_t len)
{
	struct io *io = r->c->io;
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

/* Reads the response. Returns true when the request ended (r is freed). */
static bool wh_receive(struct wh_req *r)
{
	char buf[WH_READ_CHUNK];

	for (;;) {
		ssize_t n = wh_read(r, buf, sizeof(buf));
		if (n == -EAGAIN)
			return false;
		if (n < 0) {
			wh_req_end(r, n == -ECONNREFUSED ? WH_REFUSED : WH_RESET, 0);
			return true;
		}
		if (n == 0) {
			enum http_parse_status st = http_parser_finish(&r->parser);
			if (st == HTTP_PARSE_DONE)
				wh_req_end(r, r->head->status >= 500 ? WH_HTTP_ERROR : WH_OK,
				           r->head->status);
			else
				wh_req_end(r, WH_RESET, 0);
			return true;
		}
		size_t off = 0;
		while (off < (size_t)n) {
			size_t used = 0;
			enum http_parse_status st =
			    http_parser_feed(&r->parser, buf + off, (size_t)n - off, &used);
			off += used;
			if (st == HTTP_PARSE_HEAD) {
				http_parser_resume(&r->parser);
			} else if (st == HTTP_PARSE_DONE) {
				int status = r->head->status;
				wh_req_end(r, status >= 500 ? WH_HTTP_ERROR : WH_OK, status);
				return true;
			} else if (st == HTTP_PARSE_ERROR) {
				wh_req_end(r, WH_RESET, 0);
				return true;
			} else if (used == 0) {
				break;
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
		if (c->cfg.host_fn) {
			struct io_addr local, remote;
			if (c->io->ops->sock_name(c->io, r->handle, false, &local) == 0 &&
			    c->io->ops->sock_name(c->io, r->handle, true, &remote) == 0) {
				const char *h = c->cfg.host_fn(c->cfg.host_ctx, &local, &remote);
				snprintf(r->host, sizeof(r->host), "%s", h ? h : "");
			}
		}
	}
	if (r->tls) {
		int rc = tls_conn_on_event(r->tls, events);
		if (rc < 0) {
			wh_req_end(r, r->connected ? WH_RESET : WH_REFUSED, 0);
			return;
		}
	} else if (events & IO_ERROR) {
		char probe;
		ssize_t e = c->io->ops->tcp_read(c->io, r->handle, &probe, 1);
		wh_req_end(r, e == -ECONNREFUSED || !r->connected ? WH_REFUSED : WH_RESET, 0);
		return;
	}
	if (r->connected) {
		int rc = wh_send(r);
		if (rc < 0) {
			wh_req_end(r, WH_RESET, 0);
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

int wh_client_request(struct wh_client *c)
{
	struct wh_req *r;
	char target[IO_ADDR_STRLEN];
	const char *host = c->host_header[0]
	                       ? c->host_header
	                       : io_addr_format(&c->cfg.target, true, target, sizeof(target));
	int n;

	if (c->in_flight >= c->cfg.max_outstanding) {
		wh_report(c, NULL, WH_OVERLOAD, 0);
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
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
	if (c->cfg.request_bytes)
		n = snprintf(r->head_text, sizeof(r->head_text),
		             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %llu\r\n"
		             "Connection: close\r\n\r\n",
		             c->path, host, (unsigned long long)c->cfg.request_bytes);
	else
		n = snprintf(r->head_text, sizeof(r->head_text),
		             "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c->path,
		             host);
	CHECK(n > 0 && (size_t)n < sizeof(r->head_text));
	r->head_len = (size_t)n;
	r->body_left = c->cfg.request_bytes;
	r->start_us = c->io->ops->now_us(c->io);
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->in_flight++;
	c->io->ops->timer_arm(c->io, &r->timeout, c->cfg.timeout_us);
	r->handle = c->io->ops->tcp_connect(c->io, &c->cfg.target, NULL, wh_on_sock, r);
	if (r->handle < 0) {
		int err = r->handle;
		r->handle = -1;
		wh_req_end(r, WH_REFUSED, 0);
		return err;
	}
	if (c->cfg.tls) {
		r->tls = tls_conn_new_client(c->cfg.tls, c->io, r->handle,
		                             c->host_header[0] ? host : NULL);
		if (!r->tls) {
			wh_req_end(r, WH_RESET, 0);
			return -ENOMEM;
		}
	}
	return 0;
}

static void wh_on_arrival(struct io_timer *t)
{
	struct wh_client *c = container_of(t, struct wh_client, arrival);
	uint64_t now = c->io->ops->now_us(c->io);
	uint64_t gap;

	wh_client_request(c);
	gap = wh_gap_us(c);
	if (now + gap < c->cfg.stop_us)
		c->io->ops->timer_arm(c->io, &c->arrival, gap);
}

int wh_client_new(struct wh_client **out, struct io *io, const struct wh_config *config)
{
	struct wh_client *c;
	uint64_t now, gap;

	if (!config->name || !config->client || !(config->rate_per_s >= 0) ||
	    strlen(config->name) > WH_NAME_MAX || strlen(config->client) > WH_NAME_MAX ||
	    (config->host_header && strlen(config->host_header) >= 256) ||
	    (config->path && (strlen(config->path) >= 1024 || config->path[0] != '/')))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->io = io;
	c->cfg = *config;
	snprintf(c->name, sizeof(c->name), "%s", config->name);
	snprintf(c->client, sizeof(c->client), "%s", config->client);
	snprintf(c->host_header, sizeof(c->host_header), "%s",
	         config->host_header ? config->host_header : "");
	snprintf(c->path, sizeof(c->path), "%s", config->path ? config->path : "/");
	if (!c->cfg.timeout_us)
		c->cfg.timeout_us = WH_DEFAULT_TIMEOUT_US;
	if (!c->cfg.max_outstanding)
		c->cfg.max_outstanding = WH_DEFAULT_MAX_OUTSTANDING;
	c->arrival.fn = wh_on_arrival;
	if (c->cfg.rate_per_s > 0) {
		now = io->ops->now_us(io);
		gap = wh_gap_us(c);
		uint64_t first = (c->cfg.start_us > now ? c->cfg.start_us : now) + gap;
		if (first < c->cfg.stop_us)
			io->ops->timer_arm(io, &c->arrival, first - now);
	}
	*out = c;
	return 0;
}

void wh_client_free(struct wh_client *c)
{
	if (!c)
		return;
	c->io->ops->timer_disarm(c->io, &c->arrival);
	while (c->reqs)
		wh_req_free(c->reqs, true);
	free(c);
}

size_t wh_client_in_flight(const struct wh_client *c)
{
	return c->in_flight;
}
