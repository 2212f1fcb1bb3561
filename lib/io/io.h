/* The seam: the only door between daemon/control code and the world.
 *
 * One `struct io` per node. Daemon code holds a `struct io *` and calls
 * through `io->ops`; it never touches a socket, clock, random source or
 * sleep function itself. Two backends fill the ops table: epoll (real
 * sockets, a real TUN device, wall-clock time; lib/io/io_epoll.h) and sim
 * (ns-3 through the C wrapper, simulated time; sim/io_sim.c).
 *
 * Conventions shared by every op:
 * - Acting ops return >= 0 on success or a negative errno.
 * - Nothing blocks. TCP is readiness-based and edge-like: the backend calls
 *   a handle's callback with IO_READABLE when new data, an EOF or a pending
 *   connection arrives, and with IO_WRITABLE when a connect completes or
 *   send space frees up after a short or refused write. The callee must
 *   read/accept until -EAGAIN; it will not be told again about bytes
 *   already queued.
 * - IO_ERROR reports a failed connection (refused, reset, timed out); from
 *   then on read and write return that error (-ECONNREFUSED, -ECONNRESET,
 *   -ETIMEDOUT) until the handle is closed.
 * - UDP and the TUN device push whole datagrams/packets to a callback; the
 *   buffer is valid only during the call.
 * - Callbacks never run inside the op that caused them: a write never calls
 *   back synchronously, so callers need not be re-entrant.
 * - After io_close() no callback runs for that handle again.
 * - Handles are finite (the node's table, the process's descriptors).
 *   tcp_accept answers -EMFILE when none is left and the connection stays
 *   queued; the listener is then told IO_READABLE again once a handle
 *   frees, so a listener never stays stuck. Code that accepts on others'
 *   behalf keeps headroom (io_handles_scarce) and sheds what it cannot
 *   take, so the table does not fill in the first place.
 */
#ifndef LIB_IO_IO_H
#define LIB_IO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* An IPv4 or IPv6 endpoint; `ip` holds 4 or 16 bytes in network order. */
struct io_addr {
	uint8_t family; /* IO_AF_INET or IO_AF_INET6 */
	uint16_t port;  /* host order */
	uint8_t ip[16];
};

enum io_family {
	IO_AF_NONE = 0,
	IO_AF_INET = 4,
	IO_AF_INET6 = 6,
};

enum io_events {
	IO_READABLE = 1u << 0,
	IO_WRITABLE = 1u << 1,
	IO_ERROR = 1u << 2,
};

struct io;

/* Readiness callback for a TCP handle (listener or connection). */
typedef void (*io_sock_fn)(void *ctx, int handle, unsigned events);

/* A whole UDP datagram received on `handle` from `src`. */
typedef void (*io_dgram_fn)(void *ctx, int handle, const uint8_t *data, size_t len,
                            const struct io_addr *src);

/* A whole IP packet the node's stack sent towards the tailnet. */
typedef void (*io_packet_fn)(void *ctx, const uint8_t *pkt, size_t len);

/* A caller-owned timer, kernel timer_list style: the owner embeds it and
 * recovers its context with container_of in `fn`. The backend owns
 * `backend_ref`/`heap_index` while the timer is armed. Disarm before
 * freeing the memory that holds it. */
struct io_timer {
	void (*fn)(struct io_timer *timer);
	void *backend_ref;
	uint64_t deadline_us;
	size_t heap_index;
};

/* The simulator's wall clock at time 0: 2026-01-01 00:00:00 UTC. */
#define IO_SIM_EPOCH_S 1767225600ull

struct io_ops {
	/* TCP. `local` may name a specific address (e.g. a service VIP that
	 * is or will be assigned to the TUN device); port 0 picks one. */
	int (*tcp_listen)(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
	                  void *ctx);
	/* Starts a connect; completion is IO_WRITABLE, failure IO_ERROR.
	 * `local` may be NULL (the stack picks the source address). */
	int (*tcp_connect)(struct io *io, const struct io_addr *remote, const struct io_addr *local,
	                   io_sock_fn fn, void *ctx);
	/* Returns a new handle, or -EAGAIN when no connection is pending. */
	int (*tcp_accept)(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
	                  void *ctx);
	/* Bytes read, 0 at EOF, or -errno. */
	ssize_t (*tcp_read)(struct io *io, int handle, void *buf, size_t len);
	/* Bytes accepted (possibly fewer than `len`), or -errno. */
	ssize_t (*tcp_write)(struct io *io, int handle, const void *buf, size_t len);
	/* Sends FIN after queued data; reading still works (half-close). */
	int (*tcp_shutdown)(struct io *io, int handle);
	/* Local or remote endpoint of a TCP or UDP handle. */
	int (*sock_name)(struct io *io, int handle, bool peer, struct io_addr *out);

	/* UDP on the underlay (or any address of the node). */
	int (*udp_open)(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx);
	int (*udp_send)(struct io *io, int handle, const void *data, size_t len,
	                const struct io_addr *dst);

	/* Closes any handle. Graceful (FIN after queued data) unless `abort`,
	 * which resets a TCP connection (RST) at once. */
	int (*close)(struct io *io, int handle, bool abort);
	/* Handles open now and the most this node may hold at once. */
	void (*handle_count)(struct io *io, size_t *in_use, size_t *max);

	/* The node's TUN device. Packets the stack routes to the tailnet
	 * (100.64.0.0/10, fd7a:115c:a1e0::/48) go to `fn`; tun_write hands a
	 * packet to the stack as if it arrived on the device. A later
	 * tun_attach replaces `fn`; tun_attach(io, NULL, NULL) detaches: from
	 * then on no packet (not even one already read or queued) reaches the
	 * old callback, and packets routed to the device are dropped. */
	int (*tun_attach)(struct io *io, io_packet_fn fn, void *ctx);
	int (*tun_write)(struct io *io, const void *pkt, size_t len);
	int (*tun_addr_add)(struct io *io, const struct io_addr *addr, int prefix_len);
	int (*tun_addr_del)(struct io *io, const struct io_addr *addr, int prefix_len);

	/* Time and chance. */
	void (*timer_arm)(struct io *io, struct io_timer *timer, uint64_t delay_us);
	void (*timer_disarm)(struct io *io, struct io_timer *timer);
	uint64_t (*now_us)(struct io *io); /* monotonic */
	/* Unix time in microseconds, for what outlives a process or crosses to
	 * another (auth key expiry, WireGuard's TAI64N timestamps). The
	 * simulator's starts at IO_SIM_EPOCH_S and moves with simulated time. */
	uint64_t (*wall_us)(struct io *io);
	uint64_t (*random_u64)(struct io *io);
	/* Bytes for secrets (keys, ephemerals, auth keys): the kernel's CSPRNG
	 * for real processes, the seeded stream in the simulator (so a run
	 * replays). random_u64 is for jitter and choices only. */
	void (*random_secret)(struct io *io, void *buf, size_t len);

	/* Structured events: `fields` is a sequence of JSON members without
	 * braces (`"port":443,"peer":"100.64.0.2"`) or "" ; the backend adds
	 * time, node and type. */
	void (*emit)(struct io *io, const char *type, const char *fields);
};

struct io_fs;

/* The handle a daemon receives. `ops` comes first (SQLite io_methods
 * style); `node_name` names the node in events. A backend with no event
 * sink sets `events_off`, so callers skip formatting events nobody reads
 * (a visible cost per proxied request). */
struct io {
	const struct io_ops *ops;
	const char *node_name;
	bool events_off;
	/* Files the node serves (lib/io/fs.h): NULL means the host's
	 * filesystem; the simulator may give a node a tree of its own. Not
	 * owned by the seam. */
	struct io_fs *fs;
};

/* Largest event payload (its members, without braces) passed to ops->emit. */
#define IO_EVENT_FIELDS_MAX 1024

/* One typed member of a structured event; build it with IO_STR, IO_U64,
 * IO_I64, IO_BOOL or IO_JSON so the compiler checks each value's type and
 * no caller writes JSON by hand. */
enum io_field_kind {
	IO_FIELD_STR, /* escaped as a JSON string; NULL is "" */
	IO_FIELD_U64,
	IO_FIELD_I64,
	IO_FIELD_BOOL,
	IO_FIELD_JSON, /* a whole JSON value the caller's own encoder made */
};

struct io_field {
	const char *key; /* a literal: written as is, never escaped */
	enum io_field_kind kind;
	union {
		const char *s;
		uint64_t u;
		int64_t i;
		bool b;
	} v;
};

#define IO_STR(k, val)  ((struct io_field){.key = (k), .kind = IO_FIELD_STR, .v.s = (val)})
#define IO_U64(k, val)  ((struct io_field){.key = (k), .kind = IO_FIELD_U64, .v.u = (val)})
#define IO_I64(k, val)  ((struct io_field){.key = (k), .kind = IO_FIELD_I64, .v.i = (val)})
#define IO_BOOL(k, val) ((struct io_field){.key = (k), .kind = IO_FIELD_BOOL, .v.b = (val)})
#define IO_JSON(k, val) ((struct io_field){.key = (k), .kind = IO_FIELD_JSON, .v.s = (val)})

/* Writes `n` members into `buf` (always terminated) and returns the length.
 * When they do not all fit in `cap`, the leading members that leave room
 * for it are kept whole and "truncated":true ends the payload: the rule
 * ops->emit follows for a line too long for its sink, so both backends cut
 * alike (the contract suite checks it). A payload that fits is never cut. */
size_t io_fields_format(char *buf, size_t cap, const struct io_field *fields, size_t n);

/* Emits event `type` with `n` members through ops->emit; nothing is
 * formatted when the backend has no event sink. */
void io_event_emit(struct io *io, const char *type, const struct io_field *fields, size_t n);

/* io_event(io, "conn_accepted", IO_STR("service", name), IO_U64("port", 443));
 * The array's size is taken without evaluating its members twice. */
#define io_event(io, type, ...)                                                                    \
	io_event_emit((io), (type), (const struct io_field[]){__VA_ARGS__},                        \
	              sizeof((const struct io_field[]){__VA_ARGS__}) / sizeof(struct io_field))

/* An event with no members of its own. */
static inline void io_event_bare(struct io *io, const char *type)
{
	io_event_emit(io, type, NULL, 0);
}

/* Part of the handle table that connections accepted for others (proxied
 * clients and their upstreams) leave free: 1/8, at least 16. It keeps room
 * for the node's own sessions, listeners and for shedding (accept, close). */
#define IO_HANDLES_RESERVE_DIV 8
#define IO_HANDLES_RESERVE_MIN 16

/* Whether taking `want` more handles would eat into the reserve. */
static inline bool io_handles_scarce(struct io *io, size_t want)
{
	size_t in_use, max;

	io->ops->handle_count(io, &in_use, &max);
	size_t reserve = max / IO_HANDLES_RESERVE_DIV;
	if (reserve < IO_HANDLES_RESERVE_MIN)
		reserve = IO_HANDLES_RESERVE_MIN;
	return in_use + want + reserve > max;
}

static inline bool io_timer_armed(const struct io_timer *timer)
{
	return timer->backend_ref != NULL;
}

/* Address helpers (lib/io/io_addr.c). */
#define IO_ADDR_STRLEN 64 /* "[v6]:port" fits */
int io_addr_parse(struct io_addr *out, const char *text, uint16_t default_port);
void io_addr_v4(struct io_addr *out, uint32_t ip_host_order, uint16_t port);
uint32_t io_addr_v4_host(const struct io_addr *addr);
bool io_addr_equal(const struct io_addr *a, const struct io_addr *b, bool with_port);
/* "1.2.3.4:80", "[::1]:80"; without the port when `with_port` is false. */
const char *io_addr_format(const struct io_addr *addr, bool with_port, char *buf, size_t len);

#endif
