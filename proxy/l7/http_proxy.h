/* The L7 Service Proxy (SPEC L7-1..L7-5): one `struct http_proxy` per
 * (service, port), written only against the seam. The daemon drives it
 * through proxy/svc_proxy.h (`http_proxy_svc_ops`); the files of this
 * folder and what each owns are listed in http_proxy_int.h.
 *
 * It listens on the local addresses the daemon gives it (the service VIPs),
 * optionally terminates TLS, parses HTTP/1.1 requests one at a time per
 * connection (keep-alive and pipelining, but never two requests in flight on
 * one connection), routes each by the longest matching mount of the port's
 * handlers and answers it:
 *  - Proxy: forwards to http://, https:// (verified) or https+insecure://
 *    upstreams with the mount prefix stripped; bodies (Content-Length or
 *    chunked, re-framed on the way) stream both ways with backpressure,
 *    never buffered whole. A finished exchange leaves its upstream
 *    connection in an idle pool shared by all client connections (bounded
 *    in number and idle time), so a proxy holds about as many upstream
 *    connections as it has requests in flight, not one per client;
 *  - Text: 200 text/plain with the text;
 *  - Path: a file, or a directory (index.html or a listing titled with the
 *    request path), never outside it: every file and directory is opened
 *    first and checked after (its own canonical path must lie under the
 *    root), so symbolic links leading out, index.html included, get 404
 *    even when swapped in mid-request. Only regular files and directories
 *    are served (a FIFO or device gets 404, never an open). Files come
 *    through the seam's file interface (lib/io/fs.h, `io->fs`; the host's
 *    filesystem when the seam has none), so the simulator can serve a
 *    tree it controls.
 * Client-sent X-Forwarded-* and Tailscale-User-* headers are dropped, then
 * X-Forwarded-For/-Host/-Proto and, for user-owned client nodes (the daemon's
 * whois callback), Tailscale-User-Login/-Name are set (SPEC L7-4).
 *
 * Errors: 400 malformed (then close), 404 no mount, 405 bad method for a
 * file, 408 head timeout, 431 head over the limits, 502 upstream refused or
 * failed before its response head, 504 upstream timeout. A failure after the
 * response head was sent resets the client connection.
 *
 * Events (io_event; every one carries "proxy":"<name>"): conn_accepted,
 * conn_closed {bytes_in, bytes_out, duration_us, requests, reason},
 * http_request {method, path, mount, status, upstream, latency_us, bytes_in,
 * bytes_out}, limit_hit {limit}, proxy_error {what}.
 */
#ifndef PROXY_L7_HTTP_PROXY_H
#define PROXY_L7_HTTP_PROXY_H

#include "lib/io/io.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/tls.h"
#include "proxy/serve/serve_config.h"
#include "proxy/svc_proxy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults for the limits in `struct http_proxy_config` (0 picks these). */
#define HTTP_PROXY_DEFAULT_MAX_CONNS           1024
#define HTTP_PROXY_DEFAULT_IDLE_TIMEOUT_US     (60ull * 1000 * 1000)
#define HTTP_PROXY_DEFAULT_HEAD_TIMEOUT_US     (10ull * 1000 * 1000)
#define HTTP_PROXY_DEFAULT_UPSTREAM_TIMEOUT_US (30ull * 1000 * 1000)
#define HTTP_PROXY_DEFAULT_MAX_BUFFERED        (256 * 1024)
#define HTTP_PROXY_DEFAULT_MAX_IDLE_UPSTREAMS  64
/* Below the idle timeouts of common servers (nginx 75 s, Go 90 s), above
 * Node's 5 s; a reused connection the upstream had just closed is retried
 * once on a new one anyway. */
#define HTTP_PROXY_DEFAULT_UPSTREAM_IDLE_TIMEOUT_US (15ull * 1000 * 1000)
#define HTTP_PROXY_NO_IDLE_UPSTREAMS                SIZE_MAX    /* max_idle_upstreams: no pool */
#define HTTP_PROXY_MAX_LISTENERS                    8           /* local addresses per proxy */
#define HTTP_PROXY_READ_CHUNK                       (16 * 1024) /* bytes per read */
#define HTTP_PROXY_NAME_MAX                         96
#define HTTP_PROXY_SHED_EVENT_GAP_US                (1000u * 1000u) /* shed connections: a limit_hit a second */
#define HTTP_PROXY_DIR_LISTING_MAX                  (64 * 1024) /* generated listing, bytes */
#define HTTP_PROXY_BACKLOG                          128

struct http_proxy_config {
	const char *name;                  /* for events, e.g. "svc:web:443"; copied */
	const struct serve_port *handlers; /* HTTP or HTTPS port; deep-copied */
	struct tls_ctx *tls;               /* server context (HTTPS) or NULL; not owned */
	svc_proxy_whois_fn whois;          /* may be NULL: no identity headers */
	void *whois_ctx;
	/* Trust anchors for https:// upstreams (PEM file or memory); neither
	 * means the system's default store. */
	const char *upstream_ca_file, *upstream_ca_pem;
	bool os_entropy; /* TLS to upstreams: see tls_ctx_config */
	/* Limits; 0 means the default. */
	uint32_t max_conns;
	size_t max_head_bytes; /* request or response head */
	size_t max_headers;
	uint64_t idle_timeout_us;     /* keep-alive wait for the next request, and stalls */
	uint64_t head_timeout_us;     /* accept (or first byte) to complete head (slowloris) */
	uint64_t upstream_timeout_us; /* request dispatched to upstream response head */
	uint64_t handshake_timeout_us;
	size_t max_buffered_bytes;         /* per direction and connection */
	size_t max_idle_upstreams;         /* pooled idle upstream connections;
	                                      HTTP_PROXY_NO_IDLE_UPSTREAMS: none */
	uint64_t upstream_idle_timeout_us; /* a pooled connection closes after this */
};

struct http_proxy_upstream_stats {
	uint64_t opened; /* upstream connections opened */
	uint64_t reused; /* requests sent on a pooled connection */
	size_t idle;     /* in the pool now */
};

struct http_proxy;

/* A proxy (not listening yet). Returns 0 and *out, or -EINVAL (handlers not
 * HTTP/HTTPS, HTTPS without a server TLS context, no handlers), -ENOMEM. */
int http_proxy_new(struct http_proxy **out, struct io *io, const struct http_proxy_config *cfg);
/* Listens on `addr` (port 0 picks one; *bound gets the real endpoint when
 * not NULL). 0, -E2BIG past HTTP_PROXY_MAX_LISTENERS, or the seam's error. */
int http_proxy_listen(struct http_proxy *p, const struct io_addr *addr, struct io_addr *bound);
/* New requests use these handlers from now on (CFG-6); requests in flight
 * finish with what they had. 0, -EINVAL or -ENOMEM (old ones kept). */
int http_proxy_set_handlers(struct http_proxy *p, const struct serve_port *handlers);
/* Drain: closes the listeners; idle keep-alive connections close now, busy
 * ones after their request, answered with Connection: close. */
void http_proxy_stop_accepting(struct http_proxy *p);
/* Resets every connection at once (DRN-4). */
void http_proxy_abort_all(struct http_proxy *p);
size_t http_proxy_open_connections(const struct http_proxy *p);
/* Largest buffer memory one connection held so far (bytes), for tests of
 * the streaming bound. */
size_t http_proxy_peak_buffered(const struct http_proxy *p);
struct http_proxy_upstream_stats http_proxy_upstream_stats(const struct http_proxy *p);
/* Closes everything (gracefully) and frees. NULL ok. */
void http_proxy_free(struct http_proxy *p);

#endif
