/* An HTTP client workload on the seam: one client node sends GET (or, with
 * a request body, POST) requests to a target (a service VIP and port) with
 * Poisson arrivals from the node's seeded random source, over TLS when given
 * a client context.
 *
 * Connections: by default one new TCP connection per request
 * (`Connection: close`). With `keepalive` the client keeps persistent
 * HTTP/1.1 connections to the target: an arrival takes an idle connection
 * when there is one, else opens a new one (in-flight requests stay bounded
 * by max_outstanding); one request at a time per connection (no
 * pipelining). After a whole response the connection goes back to the idle
 * set, unless the response said `Connection: close`, the server closed it,
 * or bytes followed the response: then it is closed. A GET that fails on a
 * reused connection before any response byte is retried once on a new
 * connection, as HTTP clients do for idempotent requests (RFC 9110 9.2.2):
 * the server may have closed the idle connection while the request was on
 * its way (a drain does). Its event then says "retried":true and its
 * latency includes the failed attempt; a POST is not retried. An idle connection the server closes
 * is dropped without an event. At stop_us (when non-zero) idle connections close gracefully
 * (close_notify first with TLS) and busy ones close after their response; wh_client_free closes
 * every connection.
 *
 * Response size: with response_bytes > 0 each request carries
 * `X-Response-Bytes: N` (apps/http_backend.h answers with exactly N body
 * bytes) and a whole response whose body length differs counts as
 * http_error. (reports/ tallies outcomes from a fixed list, so there is no
 * separate "short" outcome.)
 *
 * Per request one event `request_done`:
 *   "workload":"browse","client":"client-0","host":"web-us","start_us":N,
 *   "latency_us":N,"outcome":"ok","status":200,"bytes":N[,"retried":true]
 * latency runs to the last response byte (or to the failure) from the
 * connect call on a new connection, or from the request's first byte
 * written on a reused one (no handshake in it). outcome: ok (a whole
 * response with status < 500 and, when asked for, the right body size),
 * http_error (status >= 500 or a body size mismatch), refused, reset (the
 * connection failed or closed before a whole response), timeout (no
 * completion within timeout_us: the connection is aborted), overload (more
 * than max_outstanding requests in flight: skipped). `host` is the node that
 * served it, as the embedder's host callback names it when the connection
 * completes ("" unknown); a reused connection keeps its host.
 * A done callback gets the same facts in memory.
 *
 * Random draws: at creation one gap; at each arrival the next gap (an
 * Exp(rate) gap as workload_client.h draws it).
 */
#ifndef SIM_WORKLOAD_WORKLOAD_HTTP_H
#define SIM_WORKLOAD_WORKLOAD_HTTP_H

#include "lib/io/io.h"
#include "sim/workload/workload_client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tls_ctx;

struct wh_config {
	const char *name;        /* workload name (events) */
	const char *client;      /* client node name (events) */
	struct io_addr target;   /* VIP:port */
	const char *host_header; /* Host (and SNI with TLS); NULL: the target address */
	const char *path;        /* NULL: "/" */
	uint64_t request_bytes;  /* body bytes (POST); 0: GET */
	uint64_t response_bytes; /* body bytes asked for and checked; 0: any */
	bool keepalive;          /* persistent connections (see above) */
	double rate_per_s;
	uint64_t start_us, stop_us; /* absolute seam times */
	uint64_t timeout_us;        /* 0: WH_DEFAULT_TIMEOUT_US */
	uint32_t max_outstanding;   /* 0: WH_DEFAULT_MAX_OUTSTANDING */
	struct tls_ctx *tls;        /* HTTPS when set (borrowed) */
	wh_host_fn host_fn;
	void *host_ctx;
	wh_done_fn done_fn;
	void *done_ctx;
};

struct wh_client;

/* Starts the arrivals. 0 and *out, or -EINVAL/-ENOMEM. */
int wh_client_new(struct wh_client **out, struct io *io, const struct wh_config *config);
/* Stops arrivals; requests in flight are aborted without events, idle
 * keepalive connections closed gracefully. NULL ok. */
void wh_client_free(struct wh_client *c);
/* Sends one request now (outside the arrival process). */
int wh_client_request(struct wh_client *c);
size_t wh_client_in_flight(const struct wh_client *c);
/* Connections open now (busy and idle), and opened since creation. */
size_t wh_client_connections(const struct wh_client *c);
uint64_t wh_client_connections_opened(const struct wh_client *c);

#endif
