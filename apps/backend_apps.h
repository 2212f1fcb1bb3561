/* Small backend programs on the seam (lib/io/io.h), the targets services
 * forward to in tests and in simrun scenarios (`backends:`):
 * - tcp-echo: writes back every byte it reads, with backpressure; at the
 *   client's EOF it finishes the echo and closes (so a half-closed client
 *   still receives the rest, then EOF);
 * - tcp-sink: reads and discards, counting bytes; closes at EOF;
 * - udp-echo: sends every datagram back to its sender.
 * Like sim/workload/workload_rr.c they only use the seam, so they run unchanged in
 * real mode and in the simulator, many per process.
 *
 * Events: backend_listening {app, local}, backend_conn_accepted {app, conn,
 * peer}, backend_conn_closed {app, conn, bytes_in, bytes_out, how}, and
 * limit_hit {app, limit, max}.
 */
#ifndef APPS_BACKEND_APPS_H
#define APPS_BACKEND_APPS_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stdint.h>

/* Connections a TCP backend keeps open at once (beyond: accept + reset). */
#define BACKEND_TCP_CONNS_MAX_DEFAULT 1024u
#define BACKEND_TCP_CONNS_MAX_LIMIT   65536u
/* Echo buffer per connection: bytes read but not yet written back. */
#define BACKEND_TCP_ECHO_BUF_BYTES (64u * 1024u)
/* Read chunk of the sink. */
#define BACKEND_TCP_SINK_CHUNK 16384u
#define BACKEND_TCP_BACKLOG    511
/* Largest datagram udp-echo returns; longer ones are dropped. */
#define BACKEND_UDP_DGRAM_MAX 65507u

enum backend_tcp_kind {
	BACKEND_TCP_ECHO = 0,
	BACKEND_TCP_SINK,
};

struct backend_tcp_config {
	enum backend_tcp_kind kind;
	struct io_addr local; /* where to listen; port 0 picks one */
	uint32_t max_conns;   /* 0: BACKEND_TCP_CONNS_MAX_DEFAULT */
	/* Fault for tests and scenarios: reset a connection once it has read
	 * this many bytes (0: never). */
	uint64_t reset_after_bytes;
};

struct backend_tcp_stats {
	uint64_t accepted;
	uint64_t refused_over_limit;
	uint64_t closed;
	uint64_t bytes_in, bytes_out;
	uint32_t open;
};

struct backend_tcp;
struct backend_udp_echo;

/* Starts a TCP backend listening on config->local. Returns 0 and *out, or
 * -EINVAL, -ENOMEM, or the seam's listen error. */
int backend_tcp_start(struct io *io, const struct backend_tcp_config *config,
                      struct backend_tcp **out);
/* Shorthands with the defaults. */
int backend_tcp_echo_start(struct io *io, const struct io_addr *local, struct backend_tcp **out);
int backend_tcp_sink_start(struct io *io, const struct io_addr *local, struct backend_tcp **out);
/* The bound listening address (the port filled in). */
void backend_tcp_local_addr(const struct backend_tcp *b, struct io_addr *out);
void backend_tcp_get_stats(const struct backend_tcp *b, struct backend_tcp_stats *out);
/* Closes the listener; open connections continue. Idempotent. */
void backend_tcp_stop(struct backend_tcp *b);
/* Resets open connections, closes the listener, frees. Accepts NULL. */
void backend_tcp_free(struct backend_tcp *b);

struct backend_udp_stats {
	uint64_t datagrams, bytes;
	uint64_t send_errors;
};

/* A UDP echo bound to `local` (port 0 picks one). */
int backend_udp_echo_start(struct io *io, const struct io_addr *local,
                           struct backend_udp_echo **out);
void backend_udp_echo_local_addr(const struct backend_udp_echo *b, struct io_addr *out);
void backend_udp_echo_get_stats(const struct backend_udp_echo *b, struct backend_udp_stats *out);
void backend_udp_echo_free(struct backend_udp_echo *b);

#endif
