/* A UDP echo client workload on the seam, for L3 services (a udp-echo
 * program behind a service VIP: apps/backend_apps.h).
 *
 * One client node sends datagrams to a target (VIP:port) with Poisson
 * arrivals (the same draws as workload_http.h). Per arrival a new UDP
 * socket (a new source port, so a new flow, as DNS clients do) sends one
 * datagram of request_bytes: an 8-byte big-endian sequence number, then the
 * pattern 'a' + offset % 26. The request ends when a datagram carrying its
 * sequence number comes back: ok when it is byte for byte what was sent,
 * http_error when it differs (the fixed outcome list of reports/ has no
 * better name); datagrams with another sequence number are ignored. No echo
 * within timeout_us (default 2 s: a lost datagram is never resent) is a
 * timeout; a send the seam refuses is refused (-ECONNREFUSED) or reset.
 * More than max_outstanding requests waiting: overload (skipped).
 *
 * One `request_done` event per request, the fields of workload_http.h
 * (status 0, bytes = echoed bytes); latency runs from the send to the
 * echo. `host`: the embedder's host callback, asked when the echo arrives
 * with the socket's local address (its IP may be unspecified: the embedder
 * fills in the node's own) and the target. Through an L3 VIP the client
 * only sees the VIP, so only the embedder's flow table can tell which node
 * answered; "" when it cannot.
 */
#ifndef SIM_WORKLOAD_WORKLOAD_UDP_H
#define SIM_WORKLOAD_WORKLOAD_UDP_H

#include "sim/workload/workload_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WU_DEFAULT_TIMEOUT_US    (2ull * 1000000)
#define WU_DEFAULT_REQUEST_BYTES 64u
#define WU_MIN_REQUEST_BYTES     8u    /* the sequence number */
#define WU_MAX_REQUEST_BYTES     1200u /* = SCENARIO_UDP_REQUEST_MAX */

struct wu_config {
	const char *name, *client; /* events */
	struct io_addr target;     /* VIP:port */
	uint64_t request_bytes;    /* 0: 64; 8..1200 */
	double rate_per_s;
	uint64_t start_us, stop_us; /* absolute seam times */
	uint64_t timeout_us;        /* 0: WU_DEFAULT_TIMEOUT_US */
	uint32_t max_outstanding;   /* 0: WH_DEFAULT_MAX_OUTSTANDING */
	wh_host_fn host_fn;
	void *host_ctx;
	wh_done_fn done_fn;
	void *done_ctx;
};

struct wu_client;

/* Starts the arrivals. 0 and *out, or -EINVAL (names, sizes)/-ENOMEM. */
int wu_client_new(struct wu_client **out, struct io *io, const struct wu_config *config);
/* Stops arrivals; requests waiting are dropped without events. NULL ok. */
void wu_client_free(struct wu_client *c);
/* Sends one request now (outside the arrival process). 0 or -errno (the
 * request is then already reported). */
int wu_client_request(struct wu_client *c);
size_t wu_client_in_flight(const struct wu_client *c);

#endif
