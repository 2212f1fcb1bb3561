/* TCP echo and stream workloads (see workload_tcp.h). */
#include "sim/workload/workload_tcp.h"

#include "lib/base/check.h"
#include "lib/base/list.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WT_IO_CHUNK (16 * 1024)

struct wt_conn {
	struct wt_client *c;
	struct list_node link; /* in the client's b.conns */
	int handle;
	bool connected, finishing;
	bool idle;                 /* echo keepalive: no request on it, kept for the next */
	uint64_t start_us, end_us; /* end_us: stream stops writing then */
	/* The request in progress: since when, and `received` when it began
	 * (an echo keepalive connection carries several, back to back). */
	uint64_t req_start_us, req_base;
	uint64_t target; /* bytes to send in all so far */
	uint64_t sent, received;
	uint64_t last_progress_us;
	struct io_timer tick;    /* stream: next write; echo: unused */
	struct io_timer timeout; /* no progress for timeout_us */
	char host[WH_NAME_MAX + 1];
};

/* Echo uses the base's arrivals, and its stop with keepalive. */
struct wt_client {
	struct wh_base b;
	struct wt_config cfg;
	struct io_timer start; /* stream: opens the streams at start_us */
};
_Static_assert(offsetof(struct wt_client, b) == 0, "allocated through its wh_base");

static uint64_t wt_now(const struct wt_client *c)
{
	return c->b.io->ops->now_us(c->b.io);
}

static void wt_report(struct wt_client *c, struct wt_conn *k, enum wh_outcome o)
{
	wh_base_report(&c->b, k ? k->host : NULL, k ? k->req_start_us : 0,
	               k ? k->received - k->req_base : 0, o, 0, false);
}

static void wt_conn_free(struct wt_conn *k, bool abort)
{
	struct wt_client *c = k->c;

	list_remove(&c->b.conns, &k->link);
	if (!k->idle)
		c->b.in_flight--;
	c->b.io->ops->timer_disarm(c->b.io, &k->tick);
	c->b.io->ops->timer_disarm(c->b.io, &k->timeout);
	if (k->handle >= 0)
		c->b.io->ops->close(c->b.io, k->handle, abort);
	free(k);
}

static void wt_end(struct wt_conn *k, enum wh_outcome o)
{
	wt_report(k->c, k, o);
	wt_conn_free(k, o != WH_OK);
}

/* An echo request came back whole: reported, and with keepalive (before
 * stop) its connection waits, idle, for the next arrival. */
static void wt_echo_done(struct wt_conn *k)
{
	struct wt_client *c = k->c;

	if (!c->cfg.keepalive || c->b.stopped) {
		wt_end(k, WH_OK);
		return;
	}
	wt_report(c, k, WH_OK);
	k->idle = true;
	k->finishing = false;
	c->b.in_flight--;
	c->b.io->ops->timer_disarm(c->b.io, &k->timeout);
}

static void wt_progress(struct wt_conn *k)
{
	struct wt_client *c = k->c;

	k->last_progress_us = wt_now(c);
	c->b.io->ops->timer_arm(c->b.io, &k->timeout, c->cfg.timeout_us);
}

/* Writes the pattern up to `target`. 0 or -errno. */
static int wt_send(struct wt_conn *k)
{
	struct wt_client *c = k->c;
	char buf[WT_IO_CHUNK];

	while (k->sent < k->target) {
		size_t n =
		    k->target - k->sent < sizeof(buf) ? (size_t)(k->target - k->sent) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)('a' + (k->sent + i) % 26);
		ssize_t w = c->b.io->ops->tcp_write(c->b.io, k->handle, buf, n);
		if (w == -EAGAIN)
			return 0;
		if (w < 0)
			return (int)w;
		k->sent += (uint64_t)w;
	}
	return 0;
}

/* Reads echoes. Returns true when the connection ended (k freed). */
static bool wt_receive(struct wt_conn *k)
{
	struct wt_client *c = k->c;
	char buf[WT_IO_CHUNK];

	for (;;) {
		ssize_t n = c->b.io->ops->tcp_read(c->b.io, k->handle, buf, sizeof(buf));
		if (n == -EAGAIN)
			break;
		if (k->idle) {
			/* Nothing is owed on an idle connection: the server closed it
			 * (dropped quietly) or sent bytes unasked (closed). */
			wt_conn_free(k, n > 0);
			return true;
		}
		if (n <= 0) {
			/* EOF before everything came back, or an error. */
			bool whole = n == 0 && k->finishing && k->received == k->target;
			wt_end(k, whole ? WH_OK : n == -ECONNREFUSED ? WH_REFUSED : WH_RESET);
			return true;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != (char)('a' + (k->received + (uint64_t)i) % 26)) {
				wt_end(k, WH_RESET);
				return true;
			}
		k->received += (uint64_t)n;
		if (k->received > k->sent) {
			wt_end(k, WH_RESET);
			return true;
		}
		wt_progress(k);
	}
	if (k->finishing && k->received == k->target) {
		if (c->cfg.kind == WT_ECHO) {
			bool kept = c->cfg.keepalive && !c->b.stopped;
			wt_echo_done(k);
			return !kept;
		}
		wt_end(k, WH_OK);
		return true;
	}
	return false;
}

static void wt_on_sock(void *ctx, int handle, unsigned events)
{
	struct wt_conn *k = ctx;
	struct wt_client *c = k->c;

	(void)handle;
	if (events & IO_ERROR) {
		if (k->idle)
			wt_conn_free(k, true);
		else
			wt_end(k, k->connected ? WH_RESET : WH_REFUSED);
		return;
	}
	if (k->idle) {
		wt_receive(k);
		return;
	}
	if (!k->connected && (events & (IO_WRITABLE | IO_READABLE))) {
		k->connected = true;
		wh_host_lookup(c->b.io, k->handle, NULL, c->cfg.host_fn, c->cfg.host_ctx, k->host,
		               sizeof(k->host));
		wt_progress(k);
	}
	if (k->connected && wt_send(k) < 0) {
		wt_end(k, WH_RESET);
		return;
	}
	wt_receive(k);
}

static void wt_on_timeout(struct io_timer *t)
{
	struct wt_conn *k = container_of(t, struct wt_conn, timeout);

	/* An idle stream between writes makes no progress and owes nothing. */
	if (k->received == k->target && !k->finishing && k->c->cfg.kind == WT_STREAM) {
		wt_progress(k);
		return;
	}
	wt_end(k, WH_TIMEOUT);
}

static void wt_on_tick(struct io_timer *t)
{
	struct wt_conn *k = container_of(t, struct wt_conn, tick);
	struct wt_client *c = k->c;
	uint64_t now = wt_now(c);

	if (now >= k->end_us) {
		if (!k->connected) {
			/* It never got through: nothing echoed is no success. */
			wt_end(k, WH_TIMEOUT);
			return;
		}
		k->finishing = true;
		if (k->received == k->target) {
			wt_end(k, WH_OK);
			return;
		}
		return; /* the last echoes complete it in wt_receive */
	}
	if (k->connected) {
		if (k->received == k->target)
			wt_progress(k); /* caught up: the lag clock restarts */
		k->target += c->cfg.chunk_bytes;
		if (wt_send(k) < 0) {
			wt_end(k, WH_RESET);
			return;
		}
	}
	c->b.io->ops->timer_arm(c->b.io, &k->tick, c->cfg.interval_us);
}

static struct wt_conn *wt_open(struct wt_client *c)
{
	struct wt_conn *k;

	if (c->b.in_flight >= c->cfg.max_outstanding) {
		wt_report(c, NULL, WH_OVERLOAD);
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->c = c;
	k->handle = -1;
	k->tick.fn = wt_on_tick;
	k->timeout.fn = wt_on_timeout;
	k->start_us = k->req_start_us = wt_now(c);
	wh_base_add(&c->b, &k->link, true);
	c->b.io->ops->timer_arm(c->b.io, &k->timeout, c->cfg.timeout_us);
	k->handle = c->b.io->ops->tcp_connect(c->b.io, &c->cfg.target, NULL, wt_on_sock, k);
	if (k->handle < 0) {
		k->handle = -1;
		wt_end(k, WH_REFUSED);
		return NULL;
	}
	return k;
}

/* An idle keepalive connection, made busy with the next echo request; NULL
 * when there is none or the limit on requests in flight is reached. */
static struct wt_conn *wt_reuse(struct wt_client *c)
{
	struct wt_conn *k = NULL;
	struct list_node *n;

	for (n = c->b.conns.first; n; n = n->next) {
		k = list_item(n, struct wt_conn, link);
		if (k->idle)
			break;
		k = NULL;
	}
	if (!k || c->b.in_flight >= c->cfg.max_outstanding)
		return NULL;
	k->idle = false;
	c->b.in_flight++;
	k->req_start_us = wt_now(c);
	k->req_base = k->received;
	return k;
}

/* One echo request: on an idle connection (latency from its first byte
 * written) or a new one (from the connect). */
static void wt_echo_request(struct wt_client *c)
{
	struct wt_conn *k = c->cfg.keepalive ? wt_reuse(c) : NULL;

	if (k) {
		k->target += c->cfg.request_bytes;
		k->finishing = true;
		wt_progress(k);
		if (wt_send(k) < 0)
			wt_end(k, WH_RESET);
		return;
	}
	k = wt_open(c);
	if (k) {
		k->target = c->cfg.request_bytes;
		k->finishing = true;
	}
}

static void wt_on_arrival(struct wh_base *b)
{
	wt_echo_request(container_of(b, struct wt_client, b));
}

static bool wt_idle(struct list_node *n)
{
	return list_item(n, struct wt_conn, link)->idle;
}

/* Idle ones close gracefully at stop; all abort when the client is freed. */
static void wt_drop(struct list_node *n, bool freeing)
{
	wt_conn_free(list_item(n, struct wt_conn, link), freeing);
}

static const struct wh_conn_ops wt_conn_ops = {
    .request = wt_on_arrival, .idle = wt_idle, .drop = wt_drop};

static void wt_on_start(struct io_timer *t)
{
	struct wt_client *c = container_of(t, struct wt_client, start);
	uint64_t now = wt_now(c);

	for (uint32_t i = 0; i < c->cfg.connections; i++) {
		struct wt_conn *k = wt_open(c);
		if (!k)
			continue;
		k->end_us = c->cfg.hold_us ? now + c->cfg.hold_us : c->cfg.stop_us;
		if (k->end_us > c->cfg.stop_us)
			k->end_us = c->cfg.stop_us;
		c->b.io->ops->timer_arm(c->b.io, &k->tick, c->cfg.interval_us);
	}
}

int wt_client_new(struct wt_client **out, struct io *io, const struct wt_config *config)
{
	struct wt_client *c;
	int rc;

	if (config->connections > WT_MAX_STREAMS || config->chunk_bytes > WT_MAX_CHUNK_BYTES ||
	    (config->kind == WT_ECHO && !(config->rate_per_s >= 0)))
		return -EINVAL;
	c = wh_base_new(sizeof(*c), io, &wt_conn_ops, config->name, config->client, config->done_fn,
	                config->done_ctx, &rc);
	if (!c)
		return rc;
	c->cfg = *config;
	if (!c->cfg.request_bytes)
		c->cfg.request_bytes = 64;
	if (!c->cfg.connections)
		c->cfg.connections = 1;
	if (!c->cfg.chunk_bytes)
		c->cfg.chunk_bytes = 1024;
	if (!c->cfg.interval_us)
		c->cfg.interval_us = 100000;
	wh_limits_default(&c->cfg.timeout_us, WH_DEFAULT_TIMEOUT_US, &c->cfg.max_outstanding);
	c->start.fn = wt_on_start;
	uint64_t now = io->ops->now_us(io);
	uint64_t start = c->cfg.start_us > now ? c->cfg.start_us : now;
	if (c->cfg.kind == WT_ECHO) {
		wh_base_start(&c->b, c->cfg.rate_per_s, c->cfg.start_us, c->cfg.stop_us);
		if (c->cfg.keepalive && c->cfg.stop_us)
			wh_base_stop_at(&c->b, c->cfg.stop_us);
	} else if (start < c->cfg.stop_us) {
		wh_arm_at(io, &c->start, start);
	}
	*out = c;
	return 0;
}

void wt_client_free(struct wt_client *c)
{
	if (!c)
		return;
	c->b.io->ops->timer_disarm(c->b.io, &c->start);
	wh_base_free(&c->b);
}

WH_CONN_COUNTERS(wt_client, struct wt_client)

int wt_client_request(struct wt_client *c)
{
	if (c->cfg.kind != WT_ECHO)
		return -EINVAL;
	wt_echo_request(c);
	return 0;
}
