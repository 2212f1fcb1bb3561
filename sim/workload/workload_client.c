/* What the client workloads share (see workload_client.h). */
#include "sim/workload/workload_client.h"

#include "lib/base/check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wh_outcome_name(enum wh_outcome o)
{
	static const char *const names[] = {
	    [WH_OK] = "ok",       [WH_HTTP_ERROR] = "http_error", [WH_REFUSED] = "refused",
	    [WH_RESET] = "reset", [WH_TIMEOUT] = "timeout",       [WH_OVERLOAD] = "overload",
	};
	return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

/* One Exp(rate) gap (see workload_client.h). */
static uint64_t wh_poisson_gap_us(struct io *io, double rate_per_s)
{
	uint64_t x = io->ops->random_u64(io);
	double u = (double)((x >> 11) + 1) * 0x1p-53;

	return (uint64_t)llround(-log(u) / rate_per_s * 1e6);
}

/* One arrival: the owner's request, then the next arrival. */
static void wh_on_arrival(struct io_timer *t)
{
	struct wh_arrivals *a = container_of(t, struct wh_arrivals, timer);
	uint64_t now = a->io->ops->now_us(a->io);

	a->fn(a);
	uint64_t gap = wh_poisson_gap_us(a->io, a->rate_per_s);
	if (now + gap < a->stop_us)
		a->io->ops->timer_arm(a->io, &a->timer, gap);
}

void wh_arrivals_start(struct wh_arrivals *a, struct io *io, double rate_per_s, uint64_t start_us,
                       uint64_t stop_us, void (*fn)(struct wh_arrivals *a))
{
	*a = (struct wh_arrivals){.timer.fn = wh_on_arrival,
	                          .io = io,
	                          .rate_per_s = rate_per_s,
	                          .stop_us = stop_us,
	                          .fn = fn};
	if (!(rate_per_s > 0))
		return;
	uint64_t now = io->ops->now_us(io);
	uint64_t first = (start_us > now ? start_us : now) + wh_poisson_gap_us(io, rate_per_s);
	if (first < stop_us)
		io->ops->timer_arm(io, &a->timer, first - now);
}

void wh_arrivals_stop(struct wh_arrivals *a)
{
	if (a->io)
		a->io->ops->timer_disarm(a->io, &a->timer);
}

void wh_arm_at(struct io *io, struct io_timer *timer, uint64_t at_us)
{
	uint64_t now = io->ops->now_us(io);

	io->ops->timer_arm(io, timer, at_us > now ? at_us - now : 0);
}

/* The request_done event for `r`, then fn (when set). */
static void wh_result_publish(struct io *io, const struct wh_result *r, wh_done_fn fn, void *ctx)
{
	const struct io_field fields[] = {
	    IO_STR("workload", r->workload),
	    IO_STR("client", r->client),
	    IO_STR("host", r->host),
	    IO_U64("start_us", r->start_us),
	    IO_U64("latency_us", r->latency_us),
	    IO_STR("outcome", wh_outcome_name(r->outcome)),
	    IO_I64("status", r->status),
	    IO_U64("bytes", r->bytes),
	    IO_BOOL("retried", true), /* only a retried request carries it */
	};
	size_t n = sizeof(fields) / sizeof(fields[0]);

	io_event_emit(io, "request_done", fields, r->retried ? n : n - 1);
	if (fn)
		fn(ctx, r);
}

int wh_ident_init(struct wh_ident *id, const char *name, const char *client, wh_done_fn fn,
                  void *ctx)
{
	if (!name || !client || strlen(name) > WH_NAME_MAX || strlen(client) > WH_NAME_MAX)
		return -EINVAL;
	snprintf(id->name, sizeof(id->name), "%s", name);
	snprintf(id->client, sizeof(id->client), "%s", client);
	id->done_fn = fn;
	id->done_ctx = ctx;
	return 0;
}

void wh_ident_report(struct io *io, const struct wh_ident *id, const char *host, uint64_t start_us,
                     uint64_t bytes, enum wh_outcome o, int status, bool retried)
{
	uint64_t now = io->ops->now_us(io);
	struct wh_result res = {.workload = id->name,
	                        .client = id->client,
	                        .host = host ? host : "",
	                        .start_us = host ? start_us : now,
	                        .latency_us = host ? now - start_us : 0,
	                        .bytes = bytes,
	                        .outcome = o,
	                        .status = status,
	                        .retried = retried};

	wh_result_publish(io, &res, id->done_fn, id->done_ctx);
}

void wh_limits_default(uint64_t *timeout_us, uint64_t timeout_default, uint32_t *max_outstanding)
{
	if (!*timeout_us)
		*timeout_us = timeout_default;
	if (!*max_outstanding)
		*max_outstanding = WH_DEFAULT_MAX_OUTSTANDING;
}

void wh_host_lookup(struct io *io, int handle, const struct io_addr *remote, wh_host_fn fn,
                    void *ctx, char *out, size_t cap)
{
	struct io_addr local, peer;

	if (!fn || io->ops->sock_name(io, handle, false, &local) < 0)
		return;
	if (!remote) {
		if (io->ops->sock_name(io, handle, true, &peer) < 0)
			return;
		remote = &peer;
	}
	const char *h = fn(ctx, &local, remote);
	snprintf(out, cap, "%s", h ? h : "");
}

static void wh_base_on_arrival(struct wh_arrivals *a)
{
	struct wh_base *b = container_of(a, struct wh_base, arrivals);

	b->ops->request(b);
}

/* stop_us: no more keepalive; idle connections close. */
static void wh_base_on_stop(struct io_timer *t)
{
	struct wh_base *b = container_of(t, struct wh_base, stop);
	struct list_node *n, *next;

	b->stopped = true;
	for (n = b->conns.first; n; n = next) {
		next = n->next;
		if (b->ops->idle(n))
			b->ops->drop(n, false);
	}
}

void *wh_base_new(size_t size, struct io *io, const struct wh_conn_ops *ops, const char *name,
                  const char *client, wh_done_fn done_fn, void *done_ctx, int *err)
{
	struct wh_ident id;
	struct wh_base *b;

	CHECK(size >= sizeof(*b));
	*err = wh_ident_init(&id, name, client, done_fn, done_ctx);
	if (*err < 0)
		return NULL;
	b = calloc(1, size);
	if (!b) {
		*err = -ENOMEM;
		return NULL;
	}
	b->io = io;
	b->ops = ops;
	b->id = id;
	b->stop.fn = wh_base_on_stop;
	return b;
}

void wh_base_start(struct wh_base *b, double rate_per_s, uint64_t start_us, uint64_t stop_us)
{
	wh_arrivals_start(&b->arrivals, b->io, rate_per_s, start_us, stop_us, wh_base_on_arrival);
}

void wh_base_stop_at(struct wh_base *b, uint64_t stop_us)
{
	wh_arm_at(b->io, &b->stop, stop_us);
}

void wh_base_add(struct wh_base *b, struct list_node *n, bool opened)
{
	list_push_front(&b->conns, n);
	b->in_flight++;
	if (opened)
		b->conns_opened++;
}

void wh_base_report(struct wh_base *b, const char *host, uint64_t start_us, uint64_t bytes,
                    enum wh_outcome o, int status, bool retried)
{
	wh_ident_report(b->io, &b->id, host, start_us, bytes, o, status, retried);
}

void wh_base_free(struct wh_base *b)
{
	wh_arrivals_stop(&b->arrivals);
	b->io->ops->timer_disarm(b->io, &b->stop);
	while (!list_empty(&b->conns))
		b->ops->drop(b->conns.first, true);
	free(b);
}
