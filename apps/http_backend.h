/* A small HTTP/1.1 origin server on the seam: the upstream behind the L7
 * proxy in tests and a workload program for simulations.
 *
 * Every request is answered after `service_time_us` (simulated or real
 * time) with `body_bytes` bytes (Content-Length), unless its path asks for
 * something else:
 *   /echo...        the request body streamed back (chunked)
 *   /bytes/N        N bytes, Content-Length
 *   /chunked/N      N bytes, chunked
 *   /headers...     the request head as received (text/plain), so callers
 *                   can see what a proxy forwarded
 *   /sleep/US...    answers after US microseconds instead (at most
 *                   HTTP_BACKEND_MAX_SLEEP_US)
 *   /reset...       resets the connection without answering
 * A request header `X-Response-Bytes: N` (decimal, at most
 * HTTP_BACKEND_MAX_RESPONSE_BYTES) sets the body size of a default, /bytes
 * or /chunked answer, overriding both; a malformed, repeated or over-limit value gets
 * 400 with an empty body (the connection stays usable).
 * Keep-alive and pipelining are honoured (one request at a time). Bodies are
 * generated and consumed in chunks: memory per connection stays bounded.
 * Origin faults (http_backend_set_fault): every answer late by a further
 * delay (a slow origin), or every request answered with an error status
 * and an empty body (an origin that answers errors), while the program
 * still accepts and reads like a healthy one.
 * Events: backend_request {path, status, bytes_in, bytes_out}.
 */
#ifndef APPS_HTTP_BACKEND_H
#define APPS_HTTP_BACKEND_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_BACKEND_MAX_CONNS  4096
#define HTTP_BACKEND_OUT_BYTES  (64 * 1024) /* response bytes buffered per connection */
#define HTTP_BACKEND_HEAD_BYTES (64 * 1024) /* longest request head accepted */
#define HTTP_BACKEND_LAST_HEAD  (16 * 1024) /* kept copy of the last request head */
/* Largest X-Response-Bytes (= SCENARIO_SIZE_MAX, 100 MB). */
#define HTTP_BACKEND_MAX_RESPONSE_BYTES 100000000ull
/* Longest /sleep/US (an hour). */
#define HTTP_BACKEND_MAX_SLEEP_US (3600ull * 1000000)
/* Longest extra delay of a slow origin (a minute); not added to /echo. */
#define HTTP_BACKEND_MAX_FAULT_DELAY_US (60ull * 1000000)

struct http_backend_config {
	uint64_t service_time_us; /* delay before each answer */
	uint64_t body_bytes;      /* default answer size */
	const char *name;         /* events; copied */
};

struct http_backend_stats {
	uint64_t requests;
	uint64_t conns_accepted;
	uint64_t bytes_in_body; /* request body bytes received */
	uint64_t bytes_out_body;
};

struct http_backend;

/* Listens on `addr` (port 0 picks one; *bound gets it). 0 and *out, or
 * -errno. */
int http_backend_new(struct http_backend **out, struct io *io,
                     const struct http_backend_config *cfg, const struct io_addr *addr,
                     struct io_addr *bound);
void http_backend_free(struct http_backend *b);
const struct http_backend_stats *http_backend_stats(const struct http_backend *b);
/* The last request head received, as "Name: value\n" lines after the
 * request line ("" before any). */
const char *http_backend_last_head(const struct http_backend *b);
size_t http_backend_open_connections(const struct http_backend *b);
/* From the next request on: answers `extra_delay_us` later than they would
 * be, and with `error_status` (500..599) and no body when not 0. Both 0:
 * healthy again. -EINVAL for another status or a delay over
 * HTTP_BACKEND_MAX_FAULT_DELAY_US. */
int http_backend_set_fault(struct http_backend *b, uint64_t extra_delay_us, int error_status);

#endif
