/* Internal to the epoll backend (io_epoll.h): the node and loop structs and
 * what the backend's files call in each other.
 *
 *   io_epoll.c       a node's life (new, free, namespaces, the descriptor
 *                    limit), the ops table, time, randomness and events
 *   io_epoll_loop.c  the loop: epoll_wait, the program's own fds, the
 *                    clock, and the timers (a min-heap over the loop)
 *   io_epoll_sock.c  the handle table, readiness dispatch and deferred
 *                    notifications, and the TCP and UDP ops
 *   io_epoll_tun.c   the TUN device and its configuration over rtnetlink
 */
#ifndef LIB_IO_IO_EPOLL_INT_H
#define LIB_IO_IO_EPOLL_INT_H

#include "lib/io/io_epoll.h"

#include "lib/base/check.h"
#include "lib/base/rng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define IO_EPOLL_MAX_PACKET  65535
#define IO_EPOLL_RX_BATCH    64  /* datagrams/packets per wakeup, for fairness */
#define IO_EPOLL_WAIT_EVENTS 128 /* readiness events per epoll_wait */

enum epoll_slot_kind {
	SLOT_FREE = 0,
	SLOT_LISTENER,
	SLOT_CONN,
	SLOT_UDP,
	SLOT_TUN,
};

struct epoll_slot {
	int fd;
	uint8_t kind;
	bool connecting;     /* connect started, neither completed nor failed */
	bool want_write;     /* a write came up short: report the next IO_WRITABLE */
	bool error_reported; /* IO_ERROR delivered for `error` */
	bool in_epoll;
	/* A read came back short: the receive queue was empty then, and new
	 * data brings a new edge, so the next read can answer -EAGAIN without
	 * a recv() (one syscall less per message; HAProxy does the same). */
	bool rx_drained;
	bool rx_closing; /* the peer's FIN or an error was seen: always recv() */
	/* A listener whose accept found no handle (ours or the kernel's): it
	 * hears IO_READABLE again once one frees, as its queue has no new edge. */
	bool accept_starved;
	int error;    /* sticky -errno of a failed connection; 0 when none */
	uint32_t gen; /* loop-unique; tells stale readiness from live */
	unsigned deferred_events;
	int deferred_pos; /* index into the node's deferred list, or -1 */
	int next_free;
	io_sock_fn sock_fn;
	io_dgram_fn dgram_fn;
	void *ctx;
};

/* One deferred notification taken off the list for dispatch. */
struct epoll_deferred {
	int handle;
	uint32_t gen;
	unsigned events;
};

struct io_epoll {
	struct io io; /* first: the daemon's handle */
	struct io_loop *loop;
	int node_id;
	char node_name[64];
	FILE *events;
	int home_ns;   /* the namespace to return to, or -1 */
	int target_ns; /* the node's namespace, or -1 for the current one */
	uint64_t rng[RNG_STATE_WORDS];

	struct epoll_slot *slots;
	unsigned max_handles;
	unsigned used_handles;
	int free_head;
	unsigned starved_listeners;
	/* Retries starved listeners when the kernel, not our table, ran out:
	 * a descriptor freed elsewhere in the process tells us nothing. */
	struct io_timer starve_timer;
	int *deferred; /* handles with deferred_events, at most one entry each */
	unsigned deferred_len;
	struct epoll_deferred *deferred_run;

	int tun_handle; /* internal slot of the TUN fd, or -1 */
	int tun_ifindex;
	int nl_fd; /* NETLINK_ROUTE socket in the node's namespace, or -1 */
	uint32_t nl_seq;
	io_packet_fn tun_fn;
	void *tun_ctx;

	uint8_t rx_buf[IO_EPOLL_MAX_PACKET];
};

struct timer_entry {
	struct io_timer *timer;
	uint64_t seq; /* equal deadlines fire in arming order */
};

/* A watched fd of the main program; epoll data marks it with node id
 * IO_LOOP_WATCH_NODE and its index. */
struct loop_watch {
	int fd; /* -1: free */
	uint32_t gen;
	io_loop_fd_fn fn;
	void *ctx;
};
#define IO_LOOP_WATCH_NODE 0xffffu

struct io_loop {
	int epfd;
	struct loop_watch watches[IO_LOOP_MAX_WATCHES];
	uint64_t now_us;
	uint32_t next_gen;
	uint64_t next_seq;
	unsigned callbacks; /* run during the current iteration */
	bool no_pwait2;     /* the kernel lacks epoll_pwait2 */
	struct io_epoll *nodes[IO_LOOP_MAX_NODES];
	struct timer_entry *heap;
	size_t heap_len, heap_cap;
};

extern const struct io_ops epoll_ops;

static inline struct io_epoll *to_epoll(struct io *io)
{
	CHECK(io && io->ops == &epoll_ops);
	return (struct io_epoll *)io;
}

/* ---- io_epoll_loop.c ---------------------------------------------------- */

uint64_t ep_clock_now_us(void);
void epoll_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us);
void epoll_timer_disarm(struct io *io, struct io_timer *timer);
/* Drops the timers node `ep` left armed, as it goes away. */
void ep_loop_drop_timers(struct io_loop *loop, struct io_epoll *ep);

/* ---- io_epoll_sock.c ---------------------------------------------------- */

/* Sockets and the TUN fd are created inside the node's namespace. */
int ep_ns_enter(struct io_epoll *ep);
void ep_ns_leave(struct io_epoll *ep);
/* Takes ownership of `fd`: on failure it is closed. Returns the handle. */
int ep_slot_install(struct io_epoll *ep, int fd, enum epoll_slot_kind kind, uint32_t events);
void ep_slot_close(struct io_epoll *ep, int h, bool abort_conn);
bool ep_slot_alive(struct io_epoll *ep, int h, uint32_t gen);
/* Readiness from epoll_wait, and the notifications deferred to the loop. */
void ep_slot_dispatch_epoll(struct io_epoll *ep, int h, uint32_t ev);
void ep_node_run_deferred(struct io_epoll *ep);
void ep_starve_timer_fn(struct io_timer *timer);
int epoll_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                     void *ctx);
int epoll_tcp_connect(struct io *io, const struct io_addr *remote, const struct io_addr *local,
                      io_sock_fn fn, void *ctx);
int epoll_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn, void *ctx);
ssize_t epoll_tcp_read(struct io *io, int handle, void *buf, size_t len);
ssize_t epoll_tcp_write(struct io *io, int handle, const void *buf, size_t len);
int epoll_tcp_shutdown(struct io *io, int handle);
int epoll_sock_name(struct io *io, int handle, bool peer, struct io_addr *out);
int epoll_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx);
int epoll_udp_send(struct io *io, int handle, const void *data, size_t len,
                   const struct io_addr *dst);
int epoll_close(struct io *io, int handle, bool abort);

/* ---- io_epoll_tun.c ----------------------------------------------------- */

/* Opens the device named `name` in the node's namespace, brings it up and
 * routes the tailnet prefixes to it. 0 or -errno. */
int ep_tun_setup(struct io_epoll *ep, const char *name);
int epoll_tun_attach(struct io *io, io_packet_fn fn, void *ctx);
int epoll_tun_write(struct io *io, const void *pkt, size_t len);
int epoll_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len);
int epoll_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len);

#endif
