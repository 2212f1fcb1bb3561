/* What the client workloads (workload_http.h, workload_tcp.h,
 * workload_udp.h) share: the outcome of one request, its publication (the
 * `request_done` event, then the embedder's done callback), the names a
 * client reports under, the host that served a connection, and Poisson
 * arrivals drawn from the seam's random source.
 *
 * A gap between arrivals is Exp(rate): with x one draw of
 * io->ops->random_u64, u = ((x >> 11) + 1) * 2^-53 and
 * gap_us = -ln(u) / rate * 1e6.
 */
#ifndef SIM_WORKLOAD_WORKLOAD_CLIENT_H
#define SIM_WORKLOAD_WORKLOAD_CLIENT_H

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

/* Fills in a client's limits left 0 in its config: `timeout_default` and
 * WH_DEFAULT_MAX_OUTSTANDING. */
void wh_limits_default(uint64_t *timeout_us, uint64_t timeout_default, uint32_t *max_outstanding);

/* Writes into `out` the node `fn` names for the connection behind `handle`
 * (local and peer address from the seam; `remote` instead of the peer when
 * set, for a UDP socket); leaves `out` alone when an address is unknown. */
void wh_host_lookup(struct io *io, int handle, const struct io_addr *remote, wh_host_fn fn,
                    void *ctx, char *out, size_t cap);

#endif
