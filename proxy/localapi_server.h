/* The local API server of the real `svcd` (lib/wire/localapi.h is the wire
 * format): a listening Unix stream socket on the epoll loop, at most
 * LOCALAPI_SERVER_MAX_CLIENTS connections served at once, one request
 * answered at a time per connection by a caller-given handler.
 *
 * No client can lock the others out (REL-6):
 *   - Idle timeout: a connection must deliver a whole request line within
 *     `idle_us` of being accepted (or of its previous answer going out),
 *     and must take its answer within `idle_us`; otherwise it is closed
 *     (`local_api_idle_closed`). Bytes that trickle in do not extend the
 *     deadline, so a slow sender cannot hold a slot either.
 *   - Refusal the client can read: past the limit a connection gets one
 *     answer line {"status":1,"output":"svcd: too many local API clients
 *     ..."}, then a half-close (FIN) while its request is read and thrown
 *     away, so the client's own write succeeds and it reads the answer
 *     rather than a reset or a broken pipe. Such refused connections
 *     linger for at most LOCALAPI_SERVER_REFUSE_LINGER_US, at most
 *     LOCALAPI_SERVER_MAX_REFUSING at once (past that: the answer, then an
 *     immediate close). `local_api_refused` reports them, at most one
 *     event per second with the count.
 *
 * Real mode only (raw sockets on io_loop_watch_fd, like svcd_main.c): the
 * simulator's daemons have no local API socket. Clock, timers and events
 * go through the node's seam.
 */
#ifndef PROXY_LOCALAPI_SERVER_H
#define PROXY_LOCALAPI_SERVER_H

#include "lib/io/io.h"
#include "lib/io/io_epoll.h"

#include <stddef.h>
#include <stdint.h>

#define LOCALAPI_SERVER_MAX_CLIENTS      16
#define LOCALAPI_SERVER_MAX_REFUSING     16
#define LOCALAPI_SERVER_IDLE_US          (3ull * 1000000)
#define LOCALAPI_SERVER_REFUSE_LINGER_US (1ull * 1000000)
/* Most request bytes a refused connection may send before it is closed. */
#define LOCALAPI_SERVER_REFUSE_DISCARD_MAX (64u << 10)

/* Answers one request line (with its '\n'): a malloc'd response line, or
 * NULL when out of memory (the connection is then closed). */
typedef char *(*localapi_server_handler_fn)(void *ctx, const char *line, size_t len);

struct localapi_server_config {
	struct io_loop *loop;
	struct io *io;    /* the node on `loop`: clock, timers, events */
	int listen_fd;    /* listening, non-blocking; watched here, closed by the caller */
	uint64_t idle_us; /* 0: LOCALAPI_SERVER_IDLE_US */
	localapi_server_handler_fn handle;
	void *ctx;
};

struct localapi_server;

/* Starts serving `listen_fd`. 0 and *out, or -errno. */
int localapi_server_new(struct localapi_server **out, const struct localapi_server_config *cfg);
/* Closes every connection and stops watching the listener. Accepts NULL.
 * Call before the node (cfg->io) is freed. */
void localapi_server_free(struct localapi_server *s);

/* Connections being served (not counting refused ones lingering). */
unsigned localapi_server_clients(const struct localapi_server *s);

#endif
