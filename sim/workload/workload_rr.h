/* The built-in underlay TCP request/response workload, written only
 * against the seam (lib/io/io.h), so it runs on either backend. The
 * benchmark's plain ns-3 twin (bench/rr_plain.cc) reimplements exactly
 * this specification; change both together.
 *
 * Every node runs
 * - a server listening on its underlay address at `port`: per accepted
 *   connection it reads until it has `request_bytes`, then writes
 *   `response_bytes`, and closes (gracefully) when it reads EOF;
 * - a client with Poisson arrivals at `rate_per_s`. Random numbers come
 *   from the node's io->ops->random_u64, drawn in this order:
 *     at creation (time 0): gap_1; the first arrival is at start + gap_1;
 *     at each arrival (time t): target draw r, then the next gap g; the
 *     next arrival is at t + g, made only if t + g < stop.
 *   A gap is Exp(rate): u = ((x >> 11) + 1) * 2^-53 in (0, 1],
 *   gap_us = round(-ln(u) / rate * 1e6). The target is
 *   i = r % (n - 1), plus one if i >= self (uniform among the others).
 *   Per arrival the client opens a NEW TCP connection to
 *   target:port, writes `request_bytes`, reads until it has
 *   `response_bytes`, then closes gracefully.
 *
 * Per request one event `rr_done` with fields
 *   "peer":"<target node name>","latency_us":N,"outcome":"ok"
 * latency_us runs from the connect call to the last response byte (or to
 * the failure); outcome is ok | refused | reset | timeout | overload.
 * reset also covers a server that closed before the whole response.
 * timeout: no completion within timeout_us (10 s) -> the connection is
 * aborted (RST). overload: more than max_outstanding requests of this node
 * were in flight; the arrival is skipped (latency_us 0, no connection).
 * Requests still in flight when the run ends emit nothing.
 * A server beyond WORKLOAD_RR_SERVER_CONNS_MAX open connections resets
 * new ones at once (event `rr_server_overload`).
 */
#ifndef SIM_WORKLOAD_WORKLOAD_RR_H
#define SIM_WORKLOAD_WORKLOAD_RR_H

#include "lib/io/io.h"

#include <stdint.h>

#define WORKLOAD_RR_TIMEOUT_US       (10ull * 1000000ull)
#define WORKLOAD_RR_OUTSTANDING_MAX  1000
#define WORKLOAD_RR_SERVER_CONNS_MAX 8192
#define WORKLOAD_RR_BACKLOG          1024

struct workload_rr_config {
	double rate_per_s; /* 0: no client */
	uint64_t request_bytes;
	uint64_t response_bytes;
	uint64_t start_us;
	uint64_t stop_us;
	uint16_t port;
	uint64_t timeout_us;      /* 0: WORKLOAD_RR_TIMEOUT_US */
	uint32_t max_outstanding; /* 0: WORKLOAD_RR_OUTSTANDING_MAX */
};

/* One node as the others see it. `name` must be JSON-safe text (it is
 * escaped anyway) and outlive the workload. */
struct workload_rr_peer {
	const char *name;
	struct io_addr addr; /* underlay address; the port is ignored */
};

/* Per-request outcome counts of one node's client. */
struct workload_rr_stats {
	uint64_t ok, refused, reset, timeout, overload;
};

struct workload_rr_node;

/* Starts node `self` of `peers[0..peer_count-1]` on `io` (which must be the
 * node's own seam, at the start of the run): listens, arms the first
 * arrival. `peers` and `config` are borrowed and must outlive the node.
 * Returns 0 or -errno (listen failed, no memory). */
int workload_rr_node_new(struct io *io, const struct workload_rr_config *config,
                         const struct workload_rr_peer *peers, uint32_t peer_count, uint32_t self,
                         struct workload_rr_node **out);
/* Aborts open connections, disarms timers, frees; no event is emitted.
 * Accepts NULL. Call before freeing the node's io. */
void workload_rr_node_free(struct workload_rr_node *node);
void workload_rr_node_stats(const struct workload_rr_node *node, struct workload_rr_stats *out);

#endif
