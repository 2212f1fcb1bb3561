/* TCP client workloads on the seam, against an echo service (L4 proxy to a
 * tcp-echo backend):
 *
 * - echo: Poisson arrivals (same draws as workload_http.h); per arrival a
 *   new connection writes `request_bytes`, reads them back, closes. One
 *   `request_done` event per request (same fields as workload_http.h;
 *   status 0; outcome ok when every byte came back in order). With
 *   `keepalive` the connection stays open, idle, after its echo and the
 *   next arrival writes on it (a new one when none is idle); a reused
 *   request's latency runs from its first byte written; an idle connection
 *   the server closes is dropped quietly, one that breaks under a request
 *   counts as reset (no silent retry); idle ones close at stop_us.
 * - stream: at start, `connections` long-lived connections; each writes
 *   `chunk_bytes` every `interval_us` and reads the echo, until `stop_us`
 *   (or `hold_us` after it opened), then closes gracefully. One
 *   `request_done` per stream when it ends: ok when it lived its whole
 *   time with every byte echoed, reset when the connection broke (what a
 *   drain must never cause), timeout when the echo lagged more than
 *   timeout_us behind. latency_us is the stream's lifetime. A new stream
 *   does not replace a broken one.
 *
 * Bytes are a pattern ('a' + offset % 26) checked on the way back.
 */
#ifndef SIM_WORKLOAD_WORKLOAD_TCP_H
#define SIM_WORKLOAD_WORKLOAD_TCP_H

#include "sim/workload/workload_http.h"

#include <stdbool.h>
#include <stdint.h>

#define WT_MAX_STREAMS     4096
#define WT_MAX_CHUNK_BYTES (64u << 10)

enum wt_kind {
	WT_ECHO = 0,
	WT_STREAM,
};

struct wt_config {
	enum wt_kind kind;
	const char *name, *client;
	struct io_addr target;
	uint64_t request_bytes; /* echo: bytes per request (0: 64) */
	double rate_per_s;      /* echo */
	bool keepalive;         /* echo: reuse idle connections */
	uint32_t connections;   /* stream: how many (0: 1) */
	uint64_t chunk_bytes;   /* stream: bytes per write (0: 1024) */
	uint64_t interval_us;   /* stream: between writes (0: 100 ms) */
	uint64_t hold_us;       /* stream: lifetime; 0: until stop */
	uint64_t start_us, stop_us;
	uint64_t timeout_us; /* 0: WH_DEFAULT_TIMEOUT_US */
	uint32_t max_outstanding;
	wh_host_fn host_fn;
	void *host_ctx;
	wh_done_fn done_fn;
	void *done_ctx;
};

struct wt_client;

int wt_client_new(struct wt_client **out, struct io *io, const struct wt_config *config);
void wt_client_free(struct wt_client *c);
size_t wt_client_in_flight(const struct wt_client *c);
size_t wt_client_connections(const struct wt_client *c); /* open: busy and idle */
uint64_t wt_client_connections_opened(const struct wt_client *c);
/* One echo request now, outside the arrival process (tests). 0, or -EINVAL
 * for a stream workload. */
int wt_client_request(struct wt_client *c);

#endif
