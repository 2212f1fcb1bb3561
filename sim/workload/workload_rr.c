/* The built-in underlay request/response workload (see workload_rr.h). */
#include "sim/workload/workload_rr.h"
#include "lib/base/check.h"
#include "lib/base/list.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RR_CHUNK     4096
#define RR_FREE_KEEP 64 /* released connections kept for reuse */

/* Bytes written for requests and responses: read-only, shared. */
static const uint8_t rr_payload[RR_CHUNK] = {[0 ... RR_CHUNK - 1] = 'x'};

struct rr_conn {
	struct workload_rr_node *node;
	struct list_node link; /* in the node's active list, or its free list */
	int handle;
	bool client;
	bool connected;
	bool eof;
	uint32_t peer;
	uint64_t start_us;
	uint64_t bytes_in, bytes_out;
	struct io_timer timeout; /* client only */
};

struct workload_rr_node {
	struct io *io;
	const struct workload_rr_config *config;
	const struct workload_rr_peer *peers;
	uint32_t peer_count, self;
	uint64_t timeout_us;
	uint32_t max_outstanding;
	int listener;
	struct io_timer arrival;
	struct list_head active;    /* clients and server connections */
	struct list_head free_list; /* up to RR_FREE_KEEP kept for reuse */
	uint32_t outstanding;       /* client requests in flight */
	uint32_t server_conns;
	struct workload_rr_stats stats;
};

static struct rr_conn *rr_conn_get(struct workload_rr_node *node, bool client)
{
	struct rr_conn *c = list_item(list_pop_front(&node->free_list), struct rr_conn, link);

	if (!c) {
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->node = node;
	c->client = client;
	c->handle = -1;
	list_push_front(&node->active, &c->link);
	return c;
}

static void rr_conn_put(struct rr_conn *c)
{
	struct workload_rr_node *node = c->node;

	CHECK(!io_timer_armed(&c->timeout));
	list_remove(&node->active, &c->link);
	if (node->free_list.n < RR_FREE_KEEP)
		list_push_front(&node->free_list, &c->link);
	else
		free(c);
}

/* Exp(rate) gap in microseconds from one random draw. */
static uint64_t rr_gap_us(struct workload_rr_node *node)
{
	uint64_t x = node->io->ops->random_u64(node->io);
	double u = (double)((x >> 11) + 1) * 0x1.0p-53;
	double gap = -log(u) / node->config->rate_per_s * 1e6;

	if (gap > 1e15)
		gap = 1e15;
	return (uint64_t)llround(gap);
}

static const char *rr_outcome(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case -ECONNREFUSED:
		return "refused";
	case -ETIMEDOUT:
		return "timeout";
	default:
		return "reset";
	}
}

static void rr_emit(struct workload_rr_node *node, uint32_t peer, uint64_t latency_us,
                    const char *outcome)
{
	io_event(node->io, "rr_done", IO_STR("peer", node->peers[peer].name),
	         IO_U64("latency_us", latency_us), IO_STR("outcome", outcome));
}

/* Ends a client request: one event, the connection closed (aborted for a
 * timeout), the slot released. */
static void rr_client_finish(struct rr_conn *c, int err)
{
	struct workload_rr_node *node = c->node;
	struct io *io = node->io;
	uint64_t now = io->ops->now_us(io);

	if (io_timer_armed(&c->timeout))
		io->ops->timer_disarm(io, &c->timeout);
	if (c->handle >= 0)
		io->ops->close(io, c->handle, err == -ETIMEDOUT);
	switch (err) {
	case 0:
		node->stats.ok++;
		break;
	case -ECONNREFUSED:
		node->stats.refused++;
		break;
	case -ETIMEDOUT:
		node->stats.timeout++;
		break;
	default:
		node->stats.reset++;
		break;
	}
	rr_emit(node, c->peer, now - c->start_us, rr_outcome(err));
	CHECK(node->outstanding > 0);
	node->outstanding--;
	rr_conn_put(c);
}

static void rr_client_timeout(struct io_timer *timer)
{
	rr_client_finish(container_of(timer, struct rr_conn, timeout), -ETIMEDOUT);
}

/* Writes what is left of `total`; returns 0 (done or -EAGAIN) or -errno. */
static int rr_write_some(struct workload_rr_node *node, struct rr_conn *c, uint64_t total)
{
	struct io *io = node->io;

	while (c->bytes_out < total) {
		uint64_t left = total - c->bytes_out;
		size_t n = left < RR_CHUNK ? (size_t)left : RR_CHUNK;
		ssize_t w = io->ops->tcp_write(io, c->handle, rr_payload, n);
		if (w == -EAGAIN)
			return 0;
		if (w < 0)
			return (int)w;
		c->bytes_out += (uint64_t)w;
		if ((size_t)w < n)
			return 0; /* the backend calls back with IO_WRITABLE */
	}
	return 0;
}

/* Reads everything queued; returns 0 (-EAGAIN reached), 1 at EOF, or
 * -errno. */
static int rr_read_all(struct workload_rr_node *node, struct rr_conn *c)
{
	struct io *io = node->io;
	uint8_t buf[RR_CHUNK];

	for (;;) {
		ssize_t r = io->ops->tcp_read(io, c->handle, buf, sizeof(buf));
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return 1;
		c->bytes_in += (uint64_t)r;
	}
}

static void rr_client_cb(void *ctx, int handle, unsigned events)
{
	struct rr_conn *c = ctx;
	struct workload_rr_node *node = c->node;
	int err;

	CHECK(handle == c->handle);
	if (events & IO_WRITABLE)
		c->connected = true;
	if (c->connected) {
		err = rr_write_some(node, c, node->config->request_bytes);
		if (err) {
			rr_client_finish(c, err);
			return;
		}
	}
	err = 0;
	if (events & (IO_READABLE | IO_ERROR))
		err = rr_read_all(node, c);
	if (c->bytes_in >= node->config->response_bytes && c->connected &&
	    c->bytes_out >= node->config->request_bytes) {
		rr_client_finish(c, 0);
		return;
	}
	if (err == 1)
		err = -ECONNRESET; /* EOF before the whole response */
	if (err == 0 && (events & IO_ERROR))
		err = -ECONNRESET;
	if (err)
		rr_client_finish(c, err);
}

/* One arrival: pick a target, start a request (or count an overload),
 * and arm the next arrival. */
static void rr_arrival(struct io_timer *timer)
{
	struct workload_rr_node *node = container_of(timer, struct workload_rr_node, arrival);
	struct io *io = node->io;
	const struct workload_rr_config *cfg = node->config;
	uint64_t now = io->ops->now_us(io);
	uint32_t target = (uint32_t)(io->ops->random_u64(io) % (node->peer_count - 1));

	if (target >= node->self)
		target++;
	if (node->outstanding >= node->max_outstanding) {
		node->stats.overload++;
		rr_emit(node, target, 0, "overload");
	} else {
		struct rr_conn *c = rr_conn_get(node, true);
		if (!c) {
			node->stats.overload++;
			rr_emit(node, target, 0, "overload");
		} else {
			struct io_addr dst = node->peers[target].addr;
			dst.port = cfg->port;
			c->peer = target;
			c->start_us = now;
			c->timeout.fn = rr_client_timeout;
			node->outstanding++;
			int h = io->ops->tcp_connect(io, &dst, NULL, rr_client_cb, c);
			if (h < 0) {
				rr_client_finish(c, h);
			} else {
				c->handle = h;
				io->ops->timer_arm(io, &c->timeout, node->timeout_us);
			}
		}
	}
	uint64_t gap = rr_gap_us(node);
	if (now + gap < cfg->stop_us)
		io->ops->timer_arm(io, &node->arrival, gap);
}

static void rr_server_close(struct rr_conn *c, bool reset)
{
	struct workload_rr_node *node = c->node;

	node->io->ops->close(node->io, c->handle, reset);
	CHECK(node->server_conns > 0);
	node->server_conns--;
	rr_conn_put(c);
}

static void rr_server_cb(void *ctx, int handle, unsigned events)
{
	struct rr_conn *c = ctx;
	struct workload_rr_node *node = c->node;
	int err = 0;

	CHECK(handle == c->handle);
	if (events & (IO_READABLE | IO_ERROR)) {
		err = rr_read_all(node, c);
		if (err < 0) {
			rr_server_close(c, false);
			return;
		}
		if (err == 1)
			c->eof = true;
	}
	if (c->bytes_in >= node->config->request_bytes) {
		err = rr_write_some(node, c, node->config->response_bytes);
		if (err < 0) {
			rr_server_close(c, false);
			return;
		}
	}
	if (c->eof)
		rr_server_close(c, false);
}

static void rr_listener_cb(void *ctx, int handle, unsigned events)
{
	struct workload_rr_node *node = ctx;
	struct io *io = node->io;

	CHECK(handle == node->listener);
	(void)events;
	for (;;) {
		struct rr_conn *c = rr_conn_get(node, false);
		struct io_addr peer;
		int h;

		if (!c) {
			/* no memory: refuse by accepting into nothing */
			return;
		}
		h = io->ops->tcp_accept(io, node->listener, &peer, rr_server_cb, c);
		if (h < 0) {
			rr_conn_put(c);
			return; /* -EAGAIN, or an error the next readiness retries */
		}
		c->handle = h;
		node->server_conns++;
		if (node->server_conns > WORKLOAD_RR_SERVER_CONNS_MAX) {
			io_event(io, "rr_server_overload", IO_U64("open", node->server_conns - 1));
			rr_server_close(c, true);
			continue;
		}
		/* Queued data is reported through the callback later; only
		 * an empty request needs the answer started here. */
		if (node->config->request_bytes == 0 &&
		    rr_write_some(node, c, node->config->response_bytes) < 0)
			rr_server_close(c, false);
	}
}

int workload_rr_node_new(struct io *io, const struct workload_rr_config *config,
                         const struct workload_rr_peer *peers, uint32_t peer_count, uint32_t self,
                         struct workload_rr_node **out)
{
	struct workload_rr_node *node;
	struct io_addr local;

	CHECK(io && config && peers && out && self < peer_count);
	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->io = io;
	node->config = config;
	node->peers = peers;
	node->peer_count = peer_count;
	node->self = self;
	node->timeout_us = config->timeout_us ? config->timeout_us : WORKLOAD_RR_TIMEOUT_US;
	node->max_outstanding =
	    config->max_outstanding ? config->max_outstanding : WORKLOAD_RR_OUTSTANDING_MAX;
	node->arrival.fn = rr_arrival;

	local = peers[self].addr;
	local.port = config->port;
	node->listener = io->ops->tcp_listen(io, &local, WORKLOAD_RR_BACKLOG, rr_listener_cb, node);
	if (node->listener < 0) {
		int err = node->listener;
		free(node);
		return err;
	}
	if (peer_count >= 2 && config->rate_per_s > 0) {
		uint64_t now = io->ops->now_us(io);
		uint64_t first = config->start_us + rr_gap_us(node);
		if (first < config->stop_us)
			io->ops->timer_arm(io, &node->arrival, first > now ? first - now : 0);
	}
	*out = node;
	return 0;
}

void workload_rr_node_free(struct workload_rr_node *node)
{
	if (!node)
		return;
	struct io *io = node->io;

	if (io_timer_armed(&node->arrival))
		io->ops->timer_disarm(io, &node->arrival);
	struct list_node *n;

	while ((n = list_pop_front(&node->active))) {
		struct rr_conn *c = list_item(n, struct rr_conn, link);
		if (io_timer_armed(&c->timeout))
			io->ops->timer_disarm(io, &c->timeout);
		if (c->handle >= 0)
			io->ops->close(io, c->handle, true);
		free(c);
	}
	while ((n = list_pop_front(&node->free_list)))
		free(list_item(n, struct rr_conn, link));
	if (node->listener >= 0)
		io->ops->close(io, node->listener, false);
	free(node);
}

void workload_rr_node_stats(const struct workload_rr_node *node, struct workload_rr_stats *out)
{
	*out = node->stats;
}
