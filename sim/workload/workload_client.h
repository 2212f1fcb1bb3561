/* What the client workloads (workload_http.h, workload_tcp.h,
 * workload_udp.h) share: the outcome of one request, its publication (the
 * `request_done` event, then the embedder's done callback), the names a
 * client reports under, the host that served a connection, Poisson
 * arrivals drawn from the seam's random source, and the base every client
 * starts with (struct wh_base: its seam, names, arrivals, keepalive stop,
 * connections and counters, with their life cycle).
 *
 * A gap between arrivals is Exp(rate): with x one draw of
 * io->ops->random_u64, u = ((x >> 11) + 1) * 2^-53 and
 * gap_us = -ln(u) / rate * 1e6.
 */
#ifndef SIM_WORKLOAD_WORKLOAD_CLIENT_H
#define SIM_WORKLOAD_WORKLOAD_CLIENT_H

#include "lib/base/list.h"
#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WH_DEFAULT_TIMEOUT_US      (10ull * 1000000)
#define WH_DEFAULT_MAX_OUTSTANDING 1024
#define WH_NAME_MAX                128

enum wh_outcome {
	WH_OK = 0,
	WH_HTTP_ERROR,
	WH_REFUSED,
	WH_RESET,
	WH_TIMEOUT,
	WH_OVERLOAD,
};

struct wh_result {
	const char *workload, *client, *host;
	uint64_t start_us, latency_us, bytes;
	enum wh_outcome outcome;
	int status;
	bool retried; /* on a new connection after a reused one failed */
};

/* Names the node a connection from `local` to `remote` went to. */
typedef const char *(*wh_host_fn)(void *ctx, const struct io_addr *local,
                                  const struct io_addr *remote);
typedef void (*wh_done_fn)(void *ctx, const struct wh_result *r);

const char *wh_outcome_name(enum wh_outcome o);

/* A Poisson arrival process: `fn` runs at each arrival, and after it the
 * next is armed one gap later unless that is at or after stop_us. The
 * first comes one gap after max(now, start_us) (rate_per_s <= 0: never).
 * The owner embeds it and recovers itself with container_of in `fn`. */
struct wh_arrivals {
	struct io_timer timer;
	struct io *io;
	double rate_per_s;
	uint64_t stop_us;
	void (*fn)(struct wh_arrivals *a);
};

void wh_arrivals_start(struct wh_arrivals *a, struct io *io, double rate_per_s, uint64_t start_us,
                       uint64_t stop_us, void (*fn)(struct wh_arrivals *a));
/* No more arrivals (harmless when none is armed). */
void wh_arrivals_stop(struct wh_arrivals *a);

/* Arms `timer` to fire at the seam time `at_us` (at once when that has
 * passed). */
void wh_arm_at(struct io *io, struct io_timer *timer, uint64_t at_us);

/* The names a client reports under and where its results go. */
struct wh_ident {
	char name[WH_NAME_MAX + 1], client[WH_NAME_MAX + 1];
	wh_done_fn done_fn;
	void *done_ctx;
};

/* Copies the names; -EINVAL when one is missing or longer than
 * WH_NAME_MAX. */
int wh_ident_init(struct wh_ident *id, const char *name, const char *client, wh_done_fn fn,
                  void *ctx);

/* Publishes one result at the seam's now: for a request that began at
 * start_us and was served by `host`, or, with host NULL, for one that never
 * started (host "", latency 0). */
void wh_ident_report(struct io *io, const struct wh_ident *id, const char *host, uint64_t start_us,
                     uint64_t bytes, enum wh_outcome o, int status, bool retried);

struct wh_base;

/* What a client tells its base about its connections (for UDP: its
 * requests, each on a socket of its own). */
struct wh_conn_ops {
	/* One request, at an arrival. */
	void (*request)(struct wh_base *b);
	/* True when the connection at `n` is idle (keepalive: no request on
	 * it); only asked once wh_base_stop_at armed the stop. */
	bool (*idle)(struct list_node *n);
	/* Closes and frees the connection at `n`: an idle one at stop_us
	 * (`freeing` false), or any one when the client is freed (true). */
	void (*drop)(struct list_node *n, bool freeing);
};

/* The start of every client's struct (its first member, so the client is
 * allocated and freed through it). */
struct wh_base {
	struct io *io;
	const struct wh_conn_ops *ops;
	struct wh_ident id;
	struct wh_arrivals arrivals;
	struct io_timer stop;   /* keepalive: closes the idle connections at stop_us */
	bool stopped;           /* stop_us has passed */
	struct list_head conns; /* the client's connections, busy and idle */
	size_t in_flight;       /* requests in flight */
	uint64_t conns_opened;  /* connections opened since creation */
};

/* Allocates a zeroed client of `size` bytes whose first member is its
 * struct wh_base, set up with the seam, `ops` and the names (as
 * wh_ident_init). The client, or NULL with *err = -EINVAL (names) or
 * -ENOMEM. */
void *wh_base_new(size_t size, struct io *io, const struct wh_conn_ops *ops, const char *name,
                  const char *client, wh_done_fn done_fn, void *done_ctx, int *err);
/* Starts the arrivals (wh_arrivals_start), each one ops->request. */
void wh_base_start(struct wh_base *b, double rate_per_s, uint64_t start_us, uint64_t stop_us);
/* Arms the keepalive stop: at stop_us `stopped` is set and the idle
 * connections are dropped. */
void wh_base_stop_at(struct wh_base *b, uint64_t stop_us);
/* Links a connection that begins a request (in flight); `opened` counts
 * it as a new connection. */
void wh_base_add(struct wh_base *b, struct list_node *n, bool opened);
/* Publishes one result under the client's names (wh_ident_report). */
void wh_base_report(struct wh_base *b, const char *host, uint64_t start_us, uint64_t bytes,
                    enum wh_outcome o, int status, bool retried);
/* Stops the arrivals and the stop timer, drops every connection and frees
 * the client. */
void wh_base_free(struct wh_base *b);

/* Defines the counters of a client that keeps connections (its struct
 * `type` starts with its struct wh_base `b`): PREFIX_in_flight (requests
 * in flight), PREFIX_connections (open now, busy and idle) and
 * PREFIX_connections_opened (since creation). */
#define WH_CONN_COUNTERS(prefix, type)                                                             \
	size_t prefix##_in_flight(const type *c)                                                   \
	{                                                                                          \
		return c->b.in_flight;                                                             \
	}                                                                                          \
	size_t prefix##_connections(const type *c)                                                 \
	{                                                                                          \
		return c->b.conns.n;                                                               \
	}                                                                                          \
	uint64_t prefix##_connections_opened(const type *c)                                        \
	{                                                                                          \
		return c->b.conns_opened;                                                          \
	}

/* Fills in a client's limits left 0 in its config: `timeout_default` and
 * WH_DEFAULT_MAX_OUTSTANDING. */
void wh_limits_default(uint64_t *timeout_us, uint64_t timeout_default, uint32_t *max_outstanding);

/* Writes into `out` the node `fn` names for the connection behind `handle`
 * (local and peer address from the seam; `remote` instead of the peer when
 * set, for a UDP socket); leaves `out` alone when an address is unknown. */
void wh_host_lookup(struct io *io, int handle, const struct io_addr *remote, wh_host_fn fn,
                    void *ctx, char *out, size_t cap);

#endif
