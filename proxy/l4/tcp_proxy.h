/* The L4 Service Proxy (SPEC L4-1, L4-2): a TCP forwarder for one
 * (service, port), written only against the seam (lib/io/io.h).
 *
 * A `struct tcp_proxy` listens on the addresses the daemon gives it (the
 * service's VIPs), and for each accepted connection opens a connection to
 * the target (e.g. 127.0.0.1:5432 on the node) and relays bytes both ways
 * unchanged:
 * - backpressure: one bounded buffer per direction; a side is not read
 *   while the buffer towards the other side is full;
 * - half-close: EOF from one side becomes tcp_shutdown on the other once
 *   the buffered bytes are written; the connection ends when both
 *   directions are done;
 * - a reset (or a failed write) on one side aborts the other;
 * - a refused or timed-out connect to the target aborts the client.
 * With a TLS server context the client side is TLS (L4-2,
 * --tls-terminated-tcp) and the target sees plaintext.
 *
 * Events (io_event; every one carries "service" and "conn", a per-proxy
 * connection number):
 *   conn_accepted        {peer, local}
 *   conn_upstream_failed {peer, target, reason}
 *   conn_closed          {peer, bytes_up, bytes_down, duration_us,
 *                         how: "normal"|"reset"|"aborted", reason}
 *   limit_hit            {limit, max}  (a connection over a limit)
 *   tcp_proxy_listening, tcp_proxy_stopped_accepting, tcp_proxy_drained,
 *   tcp_proxy_target_changed
 * bytes_up counts client->target bytes (plaintext under TLS), bytes_down
 * target->client.
 */
#ifndef PROXY_L4_TCP_PROXY_H
#define PROXY_L4_TCP_PROXY_H

#include "lib/io/io.h"
#include "proxy/svc_proxy.h"

#include <stdbool.h>
#include <stdint.h>

/* Connections open at once per proxy unless the config says fewer. */
#define TCP_PROXY_CONNS_MAX_DEFAULT 4096u
/* Hard ceiling on the configured connection limit. */
#define TCP_PROXY_CONNS_MAX_LIMIT 65536u
/* Bytes buffered per direction per connection (default and bounds). */
#define TCP_PROXY_REFUSE_EVENT_GAP_US (1000u * 1000u) /* refused: a limit_hit a second */
#define TCP_PROXY_BUF_BYTES_DEFAULT   (64u * 1024u)
#define TCP_PROXY_BUF_BYTES_MIN       1024u
#define TCP_PROXY_BUF_BYTES_MAX       (4u * 1024u * 1024u)
/* How long the target may take to accept a connection. */
#define TCP_PROXY_CONNECT_TIMEOUT_US_DEFAULT (10ull * 1000 * 1000)
/* How long a TLS client may take to finish its handshake. */
#define TCP_PROXY_TLS_HANDSHAKE_TIMEOUT_US_DEFAULT (10ull * 1000 * 1000)
/* Addresses one proxy listens on (a VIP pair, plus room). */
#define TCP_PROXY_LISTENERS_MAX 8u
#define TCP_PROXY_BACKLOG       511
/* Longest service label kept for events (bytes, without terminator). */
#define TCP_PROXY_LABEL_MAX 127u

struct tcp_proxy;
struct tls_ctx; /* lib/wire/tls.h: a server context, used when config.tls is set */

/* What the daemon hands a proxy. Zero fields take the defaults above. */
struct tcp_proxy_config {
	const char *label;     /* names the service in events, e.g. "svc:db:5432"; copied */
	struct io_addr target; /* where accepted connections are forwarded */
	struct tls_ctx *tls;   /* non-NULL: terminate TLS (L4-2); borrowed */
	uint32_t max_conns;
	uint32_t buf_bytes;            /* per direction */
	uint64_t connect_timeout_us;   /* target connect */
	uint64_t handshake_timeout_us; /* TLS only */
	uint64_t idle_timeout_us;      /* 0: connections may idle forever */
	/* Called once when, after tcp_proxy_stop_accepting, the last open
	 * connection has ended (DRN-3); may be NULL. It may free the proxy. */
	void (*on_drained)(void *ctx, struct tcp_proxy *p);
	void *on_drained_ctx;
};

/* Counters for tests and status; events remain the record. */
struct tcp_proxy_stats {
	uint64_t accepted;
	uint64_t refused_over_limit;
	uint64_t upstream_failed;
	uint64_t closed_normal, closed_reset, closed_aborted;
	uint64_t bytes_up, bytes_down;
};

/* A proxy with no listener yet. Returns 0 and *out, -EINVAL for a bad
 * config (no target, limits out of bounds, TLS requested in a build
 * without TLS support) or -ENOMEM. */
int tcp_proxy_new(struct tcp_proxy **out, struct io *io, const struct tcp_proxy_config *config);

/* Listens on `addr` (port 0 picks one; see tcp_proxy_local_addr). Returns
 * 0, -ENOSPC past TCP_PROXY_LISTENERS_MAX, -EBUSY after stop_accepting, or
 * the seam's error. */
int tcp_proxy_listen(struct tcp_proxy *p, const struct io_addr *addr);

/* The bound address of listener `index` (in listen order). 0 or -ENOENT. */
int tcp_proxy_local_addr(const struct tcp_proxy *p, unsigned index, struct io_addr *out);

/* Changes where new connections go (CFG-6); open ones keep their target. */
void tcp_proxy_set_target(struct tcp_proxy *p, const struct io_addr *target);

/* Drain (DRN-2): closes every listener so no new connection is accepted;
 * open connections continue to their natural end. Idempotent. */
void tcp_proxy_stop_accepting(struct tcp_proxy *p);

/* Ends every open connection at once with a reset on both sides (DRN-4).
 * Listeners stay as they are. */
void tcp_proxy_abort_all(struct tcp_proxy *p);

uint32_t tcp_proxy_open_connections(const struct tcp_proxy *p);
void tcp_proxy_get_stats(const struct tcp_proxy *p, struct tcp_proxy_stats *out);

/* Aborts open connections, closes listeners, frees. Accepts NULL. Must not
 * be called from inside one of this proxy's own seam callbacks except
 * on_drained. */
void tcp_proxy_free(struct tcp_proxy *p);

#endif
