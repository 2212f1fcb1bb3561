/* The real backend of the seam: epoll, non-blocking sockets, a TUN device,
 * CLOCK_MONOTONIC.
 *
 * The loop belongs to the caller (curl multi-socket style): create one
 * `struct io_loop`, create one or more nodes on it with io_epoll_new (each
 * optionally living in its own network namespace, which lets one process
 * run two nodes for the contract tests), then drive it with
 * io_loop_run_once or io_loop_run_until. Single-threaded: every call for a
 * loop and its nodes comes from one thread.
 */
#ifndef LIB_IO_IO_EPOLL_H
#define LIB_IO_IO_EPOLL_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Most nodes one loop serves, and most handles one node may hold. */
#define IO_LOOP_MAX_NODES        64
#define IO_EPOLL_MAX_HANDLES     65535
#define IO_EPOLL_DEFAULT_HANDLES 1024
/* Most timers armed at once over a loop (an armed timer past this aborts). */
#define IO_LOOP_MAX_TIMERS (1u << 20)

struct io_loop;

struct io_epoll_config {
	const char *node_name; /* names the node in events; required */
	const char *netns;     /* NULL: current namespace; else /var/run/netns/<netns> */
	const char *tun_name;  /* NULL: no TUN device */
	FILE *events;          /* JSON lines; NULL discards */
	uint64_t seed;         /* random_u64 seed; 0 seeds from the kernel */
	unsigned max_handles;  /* 0: IO_EPOLL_DEFAULT_HANDLES; fewer when the process's
	                        * descriptor limit cannot back them (it is raised first) */
};

/* Returns a loop, or NULL with errno set. */
struct io_loop *io_loop_new(void);
/* Frees the loop; every node on it must be freed first. */
void io_loop_free(struct io_loop *loop);

/* One iteration: runs deferred notifications, waits up to max_wait_ms
 * (-1: until the next timer or event) for readiness, dispatches it, then
 * fires due timers. Returns the number of callbacks run, or -errno. */
int io_loop_run_once(struct io_loop *loop, int max_wait_ms);

/* Runs iterations until done(arg) holds (checked after each) or the loop's
 * clock reaches deadline_us. Returns 1 when done, 0 at the deadline, or a
 * negative errno from io_loop_run_once. `done` may be NULL (run to the
 * deadline). */
int io_loop_run_until(struct io_loop *loop, bool (*done)(void *arg), void *arg,
                      uint64_t deadline_us);

/* The loop's cached monotonic clock, in microseconds. It is read once per
 * iteration; timers are armed relative to it (libuv's uv_now). */
uint64_t io_loop_now_us(const struct io_loop *loop);
/* Re-reads the clock, for callers that did slow work outside the loop. */
void io_loop_update_time(struct io_loop *loop);

/* The main program's own file descriptors (a local API socket, a
 * signalfd) on the same loop. Level-triggered: `fn` runs once per
 * iteration while the fd is ready for `events` (EPOLLIN/EPOLLOUT bits).
 * Calling again for a watched fd changes its events, callback and context.
 * At most IO_LOOP_MAX_WATCHES fds. 0 or -errno (-ENOSPC past the limit). */
#define IO_LOOP_MAX_WATCHES 256
typedef void (*io_loop_fd_fn)(void *ctx, int fd, uint32_t events);
int io_loop_watch_fd(struct io_loop *loop, int fd, uint32_t events, io_loop_fd_fn fn, void *ctx);
/* Stops watching `fd` (the caller closes it). No callback for it runs
 * afterwards, even one already reported in this iteration. 0 or -ENOENT. */
int io_loop_unwatch_fd(struct io_loop *loop, int fd);

/* Creates a node on `loop`. With cfg->tun_name it opens the TUN device in
 * the node's namespace, brings it up and routes 100.64.0.0/10 (and
 * fd7a:115c:a1e0::/48 where IPv6 works) to it. Returns the node's seam, or
 * NULL with *err = -errno. */
struct io *io_epoll_new(struct io_loop *loop, const struct io_epoll_config *cfg, int *err);

/* Closes every handle of the node, disarms its timers and frees it. Must not
 * be called from one of the node's own callbacks. */
void io_epoll_free(struct io *io);

#endif
