/* The UDP echo client workload (see workload_udp.h). */
#include "sim/workload/workload_udp.h"

#include "lib/base/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wu_req {
	struct wu_client *c;
	struct wu_req *next, *prev;
	int handle;
	uint64_t seq;
	uint64_t start_us;
	struct io_timer timeout;
	char host[WH_NAME_MAX + 1];
};

struct wu_client {
	struct io *io;
	struct wu_config cfg;
	char name[WH_NAME_MAX + 1], client[WH_NAME_MAX + 1];
	struct io_timer arrival;
	struct wu_req *reqs; /* waiting for their echo */
	size_t in_flight;
	uint64_t next_seq;
};

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
	uint64_t now = c->io->ops->now_us(c->io);
	struct wh_result res = {.workload = c->name,
	                        .client = c->client,
	                        .host = r ? r->host : "",
	                        .start_us = r ? r->start_us : now,
	                        .latency_us = r ? now - r->start_us : 0,
	                        .bytes = bytes,
	                        .outcome = o};

	wh_result_publish(c->io, &res, c->cfg.done_fn, c->cfg.done_ctx);
}

static void wu_req_free(struct wu_req *r)
{
	struct wu_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->in_flight--;
	c->io->ops->timer_disarm(c->io, &r->timeout);
	if (r->handle >= 0)
		c->io->ops->close(c->io, r->handle, false);
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
	if (c->cfg.host_fn) {
		struct io_addr local;
		if (c->io->ops->sock_name(c->io, handle, false, &local) == 0) {
			const char *h = c->cfg.host_fn(c->cfg.host_ctx, &local, &c->cfg.target);
			snprintf(r->host, sizeof(r->host), "%s", h ? h : "");
		}
	}
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
	struct io *io = c->io;
	struct io_addr any = {.family = c->cfg.target.family};
	uint8_t buf[WU_MAX_REQUEST_BYTES];
	size_t n = (size_t)c->cfg.request_bytes;
	struct wu_req *r;
	int rc;

	if (c->in_flight >= c->cfg.max_outstanding) {
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
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->in_flight++;
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

static void wu_on_arrival(struct io_timer *t)
{
	struct wu_client *c = container_of(t, struct wu_client, arrival);
	uint64_t now = c->io->ops->now_us(c->io);
	uint64_t gap;

	wu_client_request(c);
	gap = wh_poisson_gap_us(c->io, c->cfg.rate_per_s);
	if (now + gap < c->cfg.stop_us)
		c->io->ops->timer_arm(c->io, &c->arrival, gap);
}

int wu_client_new(struct wu_client **out, struct io *io, const struct wu_config *config)
{
	struct wu_client *c;

	if (!config->name || !config->client || !(config->rate_per_s >= 0) ||
	    strlen(config->name) > WH_NAME_MAX || strlen(config->client) > WH_NAME_MAX ||
	    (config->request_bytes && (config->request_bytes < WU_MIN_REQUEST_BYTES ||
	                               config->request_bytes > WU_MAX_REQUEST_BYTES)))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->io = io;
	c->cfg = *config;
	snprintf(c->name, sizeof(c->name), "%s", config->name);
	snprintf(c->client, sizeof(c->client), "%s", config->client);
	if (!c->cfg.request_bytes)
		c->cfg.request_bytes = WU_DEFAULT_REQUEST_BYTES;
	if (!c->cfg.timeout_us)
		c->cfg.timeout_us = WU_DEFAULT_TIMEOUT_US;
	if (!c->cfg.max_outstanding)
		c->cfg.max_outstanding = WH_DEFAULT_MAX_OUTSTANDING;
	c->arrival.fn = wu_on_arrival;
	wh_arm_first_arrival(io, &c->arrival, c->cfg.rate_per_s, c->cfg.start_us, c->cfg.stop_us);
	*out = c;
	return 0;
}

void wu_client_free(struct wu_client *c)
{
	if (!c)
		return;
	c->io->ops->timer_disarm(c->io, &c->arrival);
	while (c->reqs)
		wu_req_free(c->reqs);
	free(c);
}

size_t wu_client_in_flight(const struct wu_client *c)
{
	return c->in_flight;
}
