/* The UDP echo client workload (see workload_udp.h). */
#include "sim/workload/workload_udp.h"

#include "lib/base/check.h"
#include "lib/base/list.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wu_req {
	struct wu_client *c;
	struct list_node link; /* in the client's b.conns */
	int handle;
	uint64_t seq;
	uint64_t start_us;
	struct io_timer timeout;
	char host[WH_NAME_MAX + 1];
};

/* Its base's conns are the requests waiting for their echo. */
struct wu_client {
	struct wh_base b;
	struct wu_config cfg;
	uint64_t next_seq;
};
_Static_assert(offsetof(struct wu_client, b) == 0, "allocated through its wh_base");

/* Fills buf (request_bytes) with request seq's datagram. */
static void wu_fill(uint8_t *buf, size_t len, uint64_t seq)
{
	for (size_t i = 0; i < 8; i++)
		buf[i] = (uint8_t)(seq >> (56 - 8 * i));
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)('a' + i % 26);
}

static void wu_report(struct wu_client *c, struct wu_req *r, enum wh_outcome o, uint64_t bytes)
{
	wh_base_report(&c->b, r ? r->host : NULL, r ? r->start_us : 0, bytes, o, 0, false);
}

static void wu_req_free(struct wu_req *r)
{
	struct wu_client *c = r->c;

	list_remove(&c->b.conns, &r->link);
	c->b.in_flight--;
	c->b.io->ops->timer_disarm(c->b.io, &r->timeout);
	if (r->handle >= 0)
		c->b.io->ops->close(c->b.io, r->handle, false);
	free(r);
}

static void wu_req_end(struct wu_req *r, enum wh_outcome o, uint64_t bytes)
{
	wu_report(r->c, r, o, bytes);
	wu_req_free(r);
}

/* A datagram on a request's socket: its echo ends it; others are ignored. */
static void wu_on_dgram(void *ctx, int handle, const uint8_t *data, size_t len,
                        const struct io_addr *src)
{
	struct wu_req *r = ctx;
	struct wu_client *c = r->c;
	uint8_t want[WU_MAX_REQUEST_BYTES];
	size_t n = (size_t)c->cfg.request_bytes;
	uint64_t seq = 0;

	(void)src;
	if (len < 8)
		return;
	for (size_t i = 0; i < 8; i++)
		seq = seq << 8 | data[i];
	if (seq != r->seq)
		return;
	wh_host_lookup(c->b.io, handle, &c->cfg.target, c->cfg.host_fn, c->cfg.host_ctx, r->host,
	               sizeof(r->host));
	wu_fill(want, n, r->seq);
	wu_req_end(r, len == n && memcmp(data, want, n) == 0 ? WH_OK : WH_HTTP_ERROR, len);
}

static void wu_on_timeout(struct io_timer *t)
{
	struct wu_req *r = container_of(t, struct wu_req, timeout);

	wu_req_end(r, WH_TIMEOUT, 0);
}

int wu_client_request(struct wu_client *c)
{
	struct io *io = c->b.io;
	struct io_addr any = {.family = c->cfg.target.family};
	uint8_t buf[WU_MAX_REQUEST_BYTES];
	size_t n = (size_t)c->cfg.request_bytes;
	struct wu_req *r;
	int rc;

	if (c->b.in_flight >= c->cfg.max_outstanding) {
		wu_report(c, NULL, WH_OVERLOAD, 0);
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->seq = c->next_seq++;
	r->timeout.fn = wu_on_timeout;
	r->start_us = io->ops->now_us(io);
	wh_base_add(&c->b, &r->link, false);
	r->handle = io->ops->udp_open(io, &any, wu_on_dgram, r);
	if (r->handle < 0) {
		rc = r->handle;
		r->handle = -1;
		wu_req_end(r, WH_RESET, 0);
		return rc;
	}
	wu_fill(buf, n, r->seq);
	rc = io->ops->udp_send(io, r->handle, buf, n, &c->cfg.target);
	if (rc < 0) {
		wu_req_end(r, rc == -ECONNREFUSED ? WH_REFUSED : WH_RESET, 0);
		return rc;
	}
	io->ops->timer_arm(io, &r->timeout, c->cfg.timeout_us);
	return 0;
}

static void wu_on_arrival(struct wh_base *b)
{
	wu_client_request(container_of(b, struct wu_client, b));
}

static void wu_drop(struct list_node *n, bool freeing)
{
	(void)freeing;
	wu_req_free(list_item(n, struct wu_req, link));
}

static const struct wh_conn_ops wu_conn_ops = {.request = wu_on_arrival, .drop = wu_drop};

int wu_client_new(struct wu_client **out, struct io *io, const struct wu_config *config)
{
	struct wu_client *c;
	int rc;

	if (!(config->rate_per_s >= 0) ||
	    (config->request_bytes && (config->request_bytes < WU_MIN_REQUEST_BYTES ||
	                               config->request_bytes > WU_MAX_REQUEST_BYTES)))
		return -EINVAL;
	c = wh_base_new(sizeof(*c), io, &wu_conn_ops, config->name, config->client, config->done_fn,
	                config->done_ctx, &rc);
	if (!c)
		return rc;
	c->cfg = *config;
	if (!c->cfg.request_bytes)
		c->cfg.request_bytes = WU_DEFAULT_REQUEST_BYTES;
	wh_limits_default(&c->cfg.timeout_us, WU_DEFAULT_TIMEOUT_US, &c->cfg.max_outstanding);
	wh_base_start(&c->b, c->cfg.rate_per_s, c->cfg.start_us, c->cfg.stop_us);
	*out = c;
	return 0;
}

void wu_client_free(struct wu_client *c)
{
	if (c)
		wh_base_free(&c->b);
}

size_t wu_client_in_flight(const struct wu_client *c)
{
	return c->b.in_flight;
}
