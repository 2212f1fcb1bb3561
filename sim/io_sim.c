/* The sim backend of the seam: struct io_ops on top of the ns-3 wrapper.
 * See io_sim.h for the model; lib/io/io.h for the rules every op follows. */
#include "sim/io_sim.h"
#include "lib/base/check.h"

#include "lib/io/fs.h"
#include "lib/io/io_event.h"

#include "lib/base/rng.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The readiness callbacks pass ns3w's bits through unchanged. */
_Static_assert((unsigned)IO_READABLE == (unsigned)NS3W_READABLE, "readable bit differs");
_Static_assert((unsigned)IO_WRITABLE == (unsigned)NS3W_WRITABLE, "writable bit differs");
_Static_assert((unsigned)IO_ERROR == (unsigned)NS3W_ERROR, "error bit differs");
_Static_assert(IO_SIM_NAME_MAX <= IO_EVENT_NODE_MAX, "node names must fit an event line");

/* Chunk c of a table holds IO_SIM_CHUNK0 << c slots; chunks never move, so
 * a slot's address is a stable ns3w callback context. 18 chunks cover
 * 8 * (2^18 - 1) slots, more than either limit. */
#define IO_SIM_CHUNK0_SHIFT 3
#define IO_SIM_CHUNKS       18
/* Longest timer delay honoured (~35 years): keeps ns-3's int64 nanosecond
 * time far from overflow. */
#define IO_SIM_DELAY_MAX_US (1ull << 50)

_Static_assert(((1ull << IO_SIM_CHUNKS) - 1) << IO_SIM_CHUNK0_SHIFT >= IO_SIM_TIMERS_MAX,
               "timer table too small");
_Static_assert(((1ull << IO_SIM_CHUNKS) - 1) << IO_SIM_CHUNK0_SHIFT >= IO_SIM_HANDLES_MAX,
               "handle table too small");

enum io_sim_kind {
	IO_SIM_FREE = 0,
	IO_SIM_TCP_LISTENER,
	IO_SIM_TCP_CONN,
	IO_SIM_UDP,
	IO_SIM_TIMER,
};

struct io_sim;

/* One handle or one armed timer. */
struct io_sim_slot {
	struct io_sim *sim;
	void *ref; /* struct ns3w_sock * or struct ns3w_timer * */
	union {
		io_sock_fn sock;
		io_dgram_fn dgram;
		struct io_timer *timer;
	} fn;
	void *ctx;
	int32_t index;
	int32_t next_free; /* while free: next free index, or -1 */
	uint8_t kind;      /* enum io_sim_kind */
	/* A listener whose accept found the table full: told IO_READABLE
	 * again once a handle frees (ns3w reports each connection once). */
	bool starved;
	/* Opened or armed through the daemon's view (io_sim_daemon_io): held
	 * while the daemon is paused. */
	bool daemon;
	/* TIMER: came due while paused; ref points at the slot itself (the
	 * ns3w timer is gone) until the held firing is delivered. */
	bool held_timer;
	unsigned held_events; /* sock events held for delivery on resume */
	uint32_t held_refs;   /* entries of the hold queue naming this slot */
	size_t held_bytes;    /* UDP: bytes of the datagrams held */
};

/* Something the paused daemon was not handed, in arrival order. */
enum io_sim_held_kind {
	IO_SIM_HELD_SOCK = 0, /* the slot's held_events */
	IO_SIM_HELD_TIMER,
	IO_SIM_HELD_DGRAM,
	IO_SIM_HELD_PACKET, /* a TUN packet (no slot) */
};

struct io_sim_held {
	struct io_sim_slot *slot; /* NULL for a packet; and once dropped */
	uint8_t kind;             /* enum io_sim_held_kind */
	bool dropped;             /* its handle closed (or TUN detached) meanwhile */
	uint8_t *data;            /* DGRAM, PACKET: a copy */
	size_t len;
	struct io_addr src; /* DGRAM */
};

struct io_sim_table {
	struct io_sim_slot *chunk[IO_SIM_CHUNKS];
	uint32_t limit; /* most slots in use at once */
	uint32_t high;  /* slots [0, high) have been initialized */
	uint32_t count; /* slots in use */
	int32_t free_head;
};

struct io_sim {
	struct io io; /* first: ops table, node name */
	struct ns3w_world *world;
	int node;
	FILE *events;
	uint64_t events_emitted;
	uint64_t rng[RNG_STATE_WORDS]; /* xoshiro256** state */
	/* Secrets draw from their own stream: keys and handshakes added or
	 * removed never shift a node's jitter and workload draws. */
	uint64_t secret_rng[RNG_STATE_WORDS];
	struct io_sim_table handles;
	struct io_sim_table timers;
	uint32_t starved_listeners;
	struct ns3w_timer *wake; /* pending wake of starved listeners, or NULL */
	/* The daemon's view of this node (io_sim_daemon_io): the same node,
	 * but what it opens and arms stops while the daemon is paused. */
	struct io daemon_io;
	io_packet_fn tun_fn; /* the TUN's reader, called through io_sim_on_packet */
	void *tun_ctx;
	bool tun_daemon; /* attached through the daemon's view */
	bool paused;
	/* What the paused daemon was not handed: entries [held_head, n_held)
	 * in arrival order; delivered on resume from their own event. */
	struct io_sim_held *held;
	size_t held_head, n_held, cap_held;
	size_t held_packets;               /* TUN packets in the queue */
	uint64_t held_count, held_dropped; /* since the last pause */
	struct ns3w_timer *drain;          /* pending delivery after resume, or NULL */
	char name[];                       /* copy of the config's name */
};

static const struct io_ops io_sim_ops, io_sim_daemon_ops;

static struct io_sim *io_sim_of(struct io *io)
{
	CHECK(io != NULL);
	if (io->ops == &io_sim_daemon_ops)
		return container_of(io, struct io_sim, daemon_io);
	CHECK(io->ops == &io_sim_ops);
	return (struct io_sim *)io;
}

static bool io_sim_is_daemon(const struct io *io)
{
	return io->ops == &io_sim_daemon_ops;
}

/* ---- slot tables ---------------------------------------------------- */

static void io_sim_table_init(struct io_sim_table *t, uint32_t limit)
{
	memset(t, 0, sizeof(*t));
	t->limit = limit;
	t->free_head = -1;
}

static unsigned io_sim_chunk_of(uint32_t index)
{
	uint32_t v = (index >> IO_SIM_CHUNK0_SHIFT) + 1;
	return 31u - (unsigned)__builtin_clz(v);
}

static uint32_t io_sim_chunk_base(unsigned chunk)
{
	return ((1u << chunk) - 1u) << IO_SIM_CHUNK0_SHIFT;
}

/* The slot at `index`, which must be below t->high. */
static inline struct io_sim_slot *io_sim_table_at(const struct io_sim_table *t, uint32_t index)
{
	unsigned c = io_sim_chunk_of(index);
	return &t->chunk[c][index - io_sim_chunk_base(c)];
}

/* Takes a free slot (the most recently freed, else a new one) and marks
 * it `kind`. Returns NULL with *err = -EMFILE at the table's limit or
 * -ENOMEM. */
static struct io_sim_slot *io_sim_slot_get(struct io_sim *sim, struct io_sim_table *t,
                                           enum io_sim_kind kind, int *err)
{
	struct io_sim_slot *slot;

	if (t->free_head >= 0) {
		slot = io_sim_table_at(t, (uint32_t)t->free_head);
		CHECK(slot->kind == IO_SIM_FREE);
		t->free_head = slot->next_free;
	} else {
		if (t->high >= t->limit) {
			*err = -EMFILE;
			return NULL;
		}
		unsigned c = io_sim_chunk_of(t->high);
		if (!t->chunk[c]) {
			t->chunk[c] =
			    malloc(sizeof(struct io_sim_slot) << (c + IO_SIM_CHUNK0_SHIFT));
			if (!t->chunk[c]) {
				*err = -ENOMEM;
				return NULL;
			}
		}
		slot = io_sim_table_at(t, t->high);
		slot->index = (int32_t)t->high;
		t->high++;
	}
	slot->sim = sim;
	slot->ref = NULL;
	slot->fn.sock = NULL;
	slot->ctx = NULL;
	slot->next_free = -1;
	slot->kind = (uint8_t)kind;
	slot->starved = false;
	slot->daemon = false;
	slot->held_timer = false;
	slot->held_events = 0;
	slot->held_refs = 0;
	slot->held_bytes = 0;
	t->count++;
	return slot;
}

static void io_sim_held_forget(struct io_sim *sim, const struct io_sim_slot *slot);

static void io_sim_slot_put(struct io_sim_table *t, struct io_sim_slot *slot)
{
	CHECK(slot->kind != IO_SIM_FREE && t->count > 0);
	if (slot->held_refs)
		io_sim_held_forget(slot->sim, slot);
	slot->kind = IO_SIM_FREE;
	slot->ref = NULL;
	slot->next_free = t->free_head;
	t->free_head = slot->index;
	t->count--;
}

/* The slot behind a handle in use, or NULL for a bad or closed handle. */
static inline struct io_sim_slot *io_sim_handle(struct io_sim *sim, int handle)
{
	uint32_t index = (uint32_t)handle - 1u;

	if (handle <= 0 || index >= sim->handles.high)
		return NULL;
	struct io_sim_slot *slot = io_sim_table_at(&sim->handles, index);
	return slot->kind == IO_SIM_FREE ? NULL : slot;
}

static int io_sim_handle_num(const struct io_sim_slot *slot)
{
	return slot->index + 1;
}

static void io_sim_table_release(struct io_sim_table *t)
{
	for (unsigned c = 0; c < IO_SIM_CHUNKS; c++) {
		free(t->chunk[c]);
		t->chunk[c] = NULL;
	}
}

/* ---- pause: what the stopped daemon is not handed ------------------- */

/* Datagrams held per UDP socket (Linux's default receive buffer,
 * net.core.rmem_default) and TUN packets held (a tun device's default
 * txqueuelen): beyond them a stopped process's kernel drops. */
#define IO_SIM_HELD_DGRAM_BYTES 212992
#define IO_SIM_HELD_PACKETS     500

static void io_sim_held_drop(struct io_sim_held *h)
{
	free(h->data);
	h->data = NULL;
	h->dropped = true;
	if (h->slot)
		h->slot->held_refs--;
	h->slot = NULL;
}

/* A handle closed or a timer disarmed: its held entries go. */
static void io_sim_held_forget(struct io_sim *sim, const struct io_sim_slot *slot)
{
	for (size_t i = sim->held_head; i < sim->n_held && slot->held_refs; i++)
		if (sim->held[i].slot == slot)
			io_sim_held_drop(&sim->held[i]);
	CHECK(slot->held_refs == 0);
}

/* Whether a callback for `slot` (NULL: the TUN's) waits: the daemon is
 * paused, or what it held is not all delivered yet (order is kept). */
static bool io_sim_holds(const struct io_sim *sim, const struct io_sim_slot *slot)
{
	bool daemon = slot ? slot->daemon : sim->tun_daemon;

	return daemon && (sim->paused || sim->held_head < sim->n_held);
}

/* Appends an entry (data copied); false when out of memory (the thing is
 * lost, as a kernel short of memory drops). */
static bool io_sim_held_push(struct io_sim *sim, struct io_sim_slot *slot,
                             enum io_sim_held_kind kind, const uint8_t *data, size_t len,
                             const struct io_addr *src)
{
	if (sim->n_held == sim->cap_held) {
		size_t cap = sim->cap_held ? 2 * sim->cap_held : 64;
		struct io_sim_held *h = realloc(sim->held, cap * sizeof(*h));
		if (!h)
			return false;
		sim->held = h;
		sim->cap_held = cap;
	}
	struct io_sim_held *h = &sim->held[sim->n_held];
	*h = (struct io_sim_held){.slot = slot, .kind = (uint8_t)kind, .len = len};
	if (data) {
		h->data = malloc(len ? len : 1);
		if (!h->data)
			return false;
		memcpy(h->data, data, len);
	}
	if (src)
		h->src = *src;
	if (slot)
		slot->held_refs++;
	sim->n_held++;
	sim->held_count++;
	return true;
}

static void io_sim_hold_sock(struct io_sim *sim, struct io_sim_slot *slot, unsigned events)
{
	if (!slot->held_events && !io_sim_held_push(sim, slot, IO_SIM_HELD_SOCK, NULL, 0, NULL))
		return;
	slot->held_events |= events;
}

/* Hands a socket's readiness to its owner, or holds it. */
static void io_sim_deliver_sock(struct io_sim_slot *slot, unsigned events)
{
	if (io_sim_holds(slot->sim, slot)) {
		io_sim_hold_sock(slot->sim, slot, events);
		return;
	}
	slot->fn.sock(slot->ctx, (int)slot->index + 1, events);
}

/* ---- addresses ------------------------------------------------------ */

/* A remote endpoint: must be a whole IPv4 address. */
static int io_sim_remote(const struct io_addr *a, uint32_t *ip, uint16_t *port)
{
	if (!a)
		return -EDESTADDRREQ;
	switch (a->family) {
	case IO_AF_INET:
		*ip = io_addr_v4_host(a);
		*port = a->port;
		return 0;
	case IO_AF_INET6:
		return -EAFNOSUPPORT;
	default:
		return -EINVAL;
	}
}

/* A local endpoint: NULL or family IO_AF_NONE mean any address. */
static int io_sim_local(const struct io_addr *a, uint32_t *ip, uint16_t *port)
{
	*ip = 0;
	*port = 0;
	if (!a)
		return 0;
	if (a->family == IO_AF_NONE) {
		*port = a->port;
		return 0;
	}
	return io_sim_remote(a, ip, port);
}

/* ns3w returns NULL with *err set; never let a missing errno read as 0. */
static int io_sim_err(int err)
{
	return err < 0 ? err : -EIO;
}

/* ---- ns3w callbacks ------------------------------------------------- */

static void io_sim_on_sock(void *ctx, struct ns3w_sock *sock, unsigned events)
{
	struct io_sim_slot *slot = ctx;

	CHECK(slot->ref == sock &&
	      (slot->kind == IO_SIM_TCP_LISTENER || slot->kind == IO_SIM_TCP_CONN));
	io_sim_deliver_sock(slot, events);
}

static void io_sim_on_dgram(void *ctx, struct ns3w_sock *sock, const uint8_t *data, size_t len,
                            uint32_t src_ip, uint16_t src_port)
{
	struct io_sim_slot *slot = ctx;
	struct io_addr src;

	CHECK(slot->ref == sock && slot->kind == IO_SIM_UDP);
	io_addr_v4(&src, src_ip, src_port);
	if (io_sim_holds(slot->sim, slot)) {
		struct io_sim *sim = slot->sim;
		if (slot->held_bytes + len > IO_SIM_HELD_DGRAM_BYTES ||
		    !io_sim_held_push(sim, slot, IO_SIM_HELD_DGRAM, data, len, &src)) {
			sim->held_dropped++;
			return;
		}
		slot->held_bytes += len;
		return;
	}
	slot->fn.dgram(slot->ctx, io_sim_handle_num(slot), data, len, &src);
}

/* A packet the stack routed to the TUN device. */
static void io_sim_on_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	struct io_sim *sim = ctx;

	if (!sim->tun_fn)
		return;
	if (io_sim_holds(sim, NULL)) {
		if (sim->held_packets >= IO_SIM_HELD_PACKETS ||
		    !io_sim_held_push(sim, NULL, IO_SIM_HELD_PACKET, pkt, len, NULL)) {
			sim->held_dropped++;
			return;
		}
		sim->held_packets++;
		return;
	}
	sim->tun_fn(sim->tun_ctx, pkt, len);
}

/* Frees the slot and clears backend_ref before the owner's function runs,
 * so it may re-arm (or free) the timer. */
static void io_sim_on_timer(void *ctx)
{
	struct io_sim_slot *slot = ctx;
	struct io_timer *timer = slot->fn.timer;

	CHECK(slot->kind == IO_SIM_TIMER && timer->backend_ref == slot->ref);
	if (io_sim_holds(slot->sim, slot)) {
		/* It came due; it fires (late) on resume. The ns3w timer is
		 * gone: the slot itself stands for it while it waits. */
		bool held = io_sim_held_push(slot->sim, slot, IO_SIM_HELD_TIMER, NULL, 0, NULL);
		CHECK(held); /* like arming: a timer table or memory exhausted is fatal */
		slot->held_timer = true;
		slot->ref = slot;
		timer->backend_ref = slot;
		return;
	}
	io_sim_slot_put(&slot->sim->timers, slot);
	timer->backend_ref = NULL;
	timer->fn(timer);
}

/* A new handle slot of `kind` for a socket not yet opened, or NULL with
 * *err set (-EMFILE when the table is full). */
static struct io_sim_slot *io_sim_sock_slot(struct io *io, enum io_sim_kind kind, void *ctx,
                                            int *err)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *slot = io_sim_slot_get(sim, &sim->handles, kind, err);

	if (slot) {
		slot->ctx = ctx;
		slot->daemon = io_sim_is_daemon(io);
		*err = 0;
	}
	return slot;
}

/* Ties the ns3w socket `ref` to `slot` and returns its handle; when ns3w
 * could not open it (NULL, `err` says why) the slot goes back. */
static int io_sim_sock_bind(struct io_sim *sim, struct io_sim_slot *slot, struct ns3w_sock *ref,
                            int err)
{
	if (!ref) {
		io_sim_slot_put(&sim->handles, slot);
		return io_sim_err(err);
	}
	slot->ref = ref;
	return io_sim_handle_num(slot);
}

/* ---- TCP ------------------------------------------------------------ */

/* Opens a socket bound to `local`: a TCP listener (`sock_fn`, `backlog`)
 * or a UDP socket (`dgram_fn`), as `kind` says. Returns its handle. */
static int io_sim_open_local(struct io *io, const struct io_addr *local, enum io_sim_kind kind,
                             io_sock_fn sock_fn, io_dgram_fn dgram_fn, int backlog, void *ctx)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *slot;
	struct ns3w_sock *ref;
	uint32_t ip;
	uint16_t port;
	int err = io_sim_local(local, &ip, &port);

	if (err)
		return err;
	slot = io_sim_sock_slot(io, kind, ctx, &err);
	if (!slot)
		return err;
	if (kind == IO_SIM_UDP) {
		slot->fn.dgram = dgram_fn;
		ref = ns3w_udp_open(sim->world, sim->node, ip, port, io_sim_on_dgram, slot, &err);
	} else {
		slot->fn.sock = sock_fn;
		ref = ns3w_tcp_listen(sim->world, sim->node, ip, port, backlog, io_sim_on_sock,
		                      slot, &err);
	}
	return io_sim_sock_bind(sim, slot, ref, err);
}

static int io_sim_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                             void *ctx)
{
	CHECK(fn != NULL);
	return io_sim_open_local(io, local, IO_SIM_TCP_LISTENER, fn, NULL, backlog, ctx);
}

/* `local` may fix the source address but not the source port: ns3w picks
 * ephemeral ports itself, so a local port is refused with -EOPNOTSUPP. */
static int io_sim_tcp_connect(struct io *io, const struct io_addr *remote,
                              const struct io_addr *local, io_sock_fn fn, void *ctx)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *slot;
	struct ns3w_sock *ref;
	uint32_t dst_ip, src_ip;
	uint16_t dst_port, src_port;
	int err;

	CHECK(fn != NULL);
	err = io_sim_remote(remote, &dst_ip, &dst_port);
	if (err)
		return err;
	err = io_sim_local(local, &src_ip, &src_port);
	if (err)
		return err;
	if (src_port != 0)
		return -EOPNOTSUPP;
	slot = io_sim_sock_slot(io, IO_SIM_TCP_CONN, ctx, &err);
	if (!slot)
		return err;
	slot->fn.sock = fn;
	ref = ns3w_tcp_connect(sim->world, sim->node, dst_ip, dst_port, src_ip, io_sim_on_sock,
	                       slot, &err);
	return io_sim_sock_bind(sim, slot, ref, err);
}

/* Tells the starved listeners to accept again; runs as its own simulator
 * event, never inside the close that freed the handle. */
static void io_sim_wake_starved(void *ctx)
{
	struct io_sim *sim = ctx;

	sim->wake = NULL;
	/* Index order keeps the run deterministic; a callback may close or
	 * starve handles, so each slot is looked at afresh. */
	for (uint32_t i = 0; i < sim->handles.high && sim->starved_listeners > 0; i++) {
		struct io_sim_slot *slot = io_sim_table_at(&sim->handles, i);
		if (slot->kind != IO_SIM_TCP_LISTENER || !slot->starved)
			continue;
		slot->starved = false;
		sim->starved_listeners--;
		io_sim_deliver_sock(slot, IO_READABLE);
	}
}

/* Gives a handle back; a starved listener hears about the room. */
static void io_sim_handle_put(struct io_sim *sim, struct io_sim_slot *slot)
{
	if (slot->starved) {
		CHECK(sim->starved_listeners > 0);
		sim->starved_listeners--;
	}
	io_sim_slot_put(&sim->handles, slot);
	if (sim->starved_listeners > 0 && !sim->wake) {
		sim->wake = ns3w_timer_start(sim->world, sim->node, 0, io_sim_wake_starved, sim);
		CHECK(sim->wake != NULL);
	}
}

static int io_sim_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
                             void *ctx)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *lslot = io_sim_handle(sim, listener);
	struct io_sim_slot *slot;
	struct ns3w_sock *ref;
	uint32_t peer_ip = 0;
	uint16_t peer_port = 0;
	int err;

	CHECK(fn != NULL);
	if (!lslot)
		return -EBADF;
	if (lslot->kind != IO_SIM_TCP_LISTENER)
		return -EINVAL;
	slot = io_sim_sock_slot(io, IO_SIM_TCP_CONN, ctx, &err);
	if (!slot) {
		if (err == -EMFILE && !lslot->starved) {
			lslot->starved = true;
			sim->starved_listeners++;
		}
		return err;
	}
	slot->fn.sock = fn;
	ref = ns3w_tcp_accept(lslot->ref, io_sim_on_sock, slot, &peer_ip, &peer_port, &err);
	int h = io_sim_sock_bind(sim, slot, ref, err);
	if (h > 0 && peer)
		io_addr_v4(peer, peer_ip, peer_port);
	return h;
}

/* The connection behind `handle`, or NULL with *err set. */
static inline struct io_sim_slot *io_sim_conn(struct io_sim *sim, int handle, int *err)
{
	struct io_sim_slot *slot = io_sim_handle(sim, handle);

	if (!slot) {
		*err = -EBADF;
		return NULL;
	}
	if (slot->kind != IO_SIM_TCP_CONN) {
		*err = slot->kind == IO_SIM_TCP_LISTENER ? -ENOTCONN : -EOPNOTSUPP;
		return NULL;
	}
	return slot;
}

static ssize_t io_sim_tcp_read(struct io *io, int handle, void *buf, size_t len)
{
	int err;
	struct io_sim_slot *slot = io_sim_conn(io_sim_of(io), handle, &err);

	if (!slot)
		return err;
	return ns3w_tcp_read(slot->ref, buf, len);
}

static ssize_t io_sim_tcp_write(struct io *io, int handle, const void *buf, size_t len)
{
	int err;
	struct io_sim_slot *slot = io_sim_conn(io_sim_of(io), handle, &err);

	if (!slot)
		return err;
	return ns3w_tcp_write(slot->ref, buf, len);
}

static int io_sim_tcp_shutdown(struct io *io, int handle)
{
	int err;
	struct io_sim_slot *slot = io_sim_conn(io_sim_of(io), handle, &err);

	if (!slot)
		return err;
	return ns3w_tcp_shutdown(slot->ref);
}

static int io_sim_sock_name(struct io *io, int handle, bool peer, struct io_addr *out)
{
	struct io_sim_slot *slot = io_sim_handle(io_sim_of(io), handle);
	uint32_t ip = 0;
	uint16_t port = 0;

	if (!slot)
		return -EBADF;
	if (peer && slot->kind != IO_SIM_TCP_CONN)
		return -ENOTCONN;
	int err = ns3w_sock_name(slot->ref, peer, &ip, &port);
	if (err < 0)
		return err;
	io_addr_v4(out, ip, port);
	return 0;
}

/* ---- UDP ------------------------------------------------------------ */

static int io_sim_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	CHECK(fn != NULL);
	return io_sim_open_local(io, local, IO_SIM_UDP, NULL, fn, 0, ctx);
}

static int io_sim_udp_send(struct io *io, int handle, const void *data, size_t len,
                           const struct io_addr *dst)
{
	struct io_sim_slot *slot = io_sim_handle(io_sim_of(io), handle);
	uint32_t ip;
	uint16_t port;

	if (!slot)
		return -EBADF;
	if (slot->kind != IO_SIM_UDP)
		return -EOPNOTSUPP;
	int err = io_sim_remote(dst, &ip, &port);
	if (err)
		return err;
	return ns3w_udp_send(slot->ref, data, len, ip, port);
}

static int io_sim_close(struct io *io, int handle, bool abort_conn)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *slot = io_sim_handle(sim, handle);

	if (!slot)
		return -EBADF;
	int err = ns3w_sock_close(slot->ref, abort_conn);
	io_sim_handle_put(sim, slot);
	return err < 0 ? err : 0;
}

/* ---- TUN ------------------------------------------------------------ */

/* fn == NULL detaches (see io.h); ns3w then drops queued packets too. */
static int io_sim_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	struct io_sim *sim = io_sim_of(io);
	int rc =
	    ns3w_tun_attach(sim->world, sim->node, fn ? io_sim_on_packet : NULL, fn ? sim : NULL);

	if (rc < 0)
		return rc;
	if (!fn || sim->tun_fn != fn || sim->tun_ctx != ctx) /* not for the old reader */
		for (size_t i = sim->held_head; i < sim->n_held; i++)
			if (sim->held[i].kind == IO_SIM_HELD_PACKET && !sim->held[i].dropped) {
				io_sim_held_drop(&sim->held[i]);
				sim->held_packets--;
			}
	sim->tun_fn = fn;
	sim->tun_ctx = fn ? ctx : NULL;
	sim->tun_daemon = io_sim_is_daemon(io);
	return 0;
}

static int io_sim_tun_write(struct io *io, const void *pkt, size_t len)
{
	struct io_sim *sim = io_sim_of(io);

	return ns3w_tun_write(sim->world, sim->node, pkt, len);
}

/* The address of a TUN address change, or -EINVAL for a bad prefix. */
static int io_sim_tun_prefix(const struct io_addr *addr, int prefix_len, uint32_t *ip)
{
	uint16_t port;
	int err = io_sim_remote(addr, ip, &port);

	if (err)
		return err;
	if (prefix_len < 0 || prefix_len > 32)
		return -EINVAL;
	return 0;
}

static int io_sim_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io_sim *sim = io_sim_of(io);
	uint32_t ip;
	int err = io_sim_tun_prefix(addr, prefix_len, &ip);

	return err ? err : ns3w_tun_addr_add(sim->world, sim->node, ip, prefix_len);
}

static int io_sim_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io_sim *sim = io_sim_of(io);
	uint32_t ip;
	int err = io_sim_tun_prefix(addr, prefix_len, &ip);

	return err ? err : ns3w_tun_addr_del(sim->world, sim->node, ip);
}

/* ---- time, chance, events ------------------------------------------- */

static void io_sim_timer_disarm(struct io *io, struct io_timer *timer)
{
	struct io_sim *sim = io_sim_of(io);

	CHECK(timer != NULL);
	if (!timer->backend_ref)
		return;
	/* A timer armed on another node's io fails here rather than later. */
	CHECK(timer->heap_index < sim->timers.high);
	struct io_sim_slot *slot = io_sim_table_at(&sim->timers, (uint32_t)timer->heap_index);
	CHECK(slot->kind == IO_SIM_TIMER && slot->fn.timer == timer &&
	      slot->ref == timer->backend_ref);
	if (!slot->held_timer) /* a held one's ns3w timer already fired */
		ns3w_timer_cancel(sim->world, slot->ref);
	io_sim_slot_put(&sim->timers, slot);
	timer->backend_ref = NULL;
}

/* Arms (or re-arms) `timer` to fire once after `delay_us`. Cannot fail:
 * exhausting the timer table or memory is fatal. */
static void io_sim_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us)
{
	struct io_sim *sim = io_sim_of(io);
	struct io_sim_slot *slot;
	int err = 0;

	CHECK(timer != NULL && timer->fn != NULL);
	if (timer->backend_ref)
		io_sim_timer_disarm(io, timer);
	if (delay_us > IO_SIM_DELAY_MAX_US)
		delay_us = IO_SIM_DELAY_MAX_US;
	slot = io_sim_slot_get(sim, &sim->timers, IO_SIM_TIMER, &err);
	CHECK(slot != NULL);
	slot->daemon = io_sim_is_daemon(io);
	slot->fn.timer = timer;
	slot->ref = ns3w_timer_start(sim->world, sim->node, delay_us, io_sim_on_timer, slot);
	CHECK(slot->ref != NULL);
	timer->backend_ref = slot->ref;
	timer->heap_index = (size_t)slot->index;
	timer->deadline_us = ns3w_now_us(sim->world) + delay_us;
}

static uint64_t io_sim_now_us(struct io *io)
{
	return ns3w_now_us(io_sim_of(io)->world);
}

static uint64_t io_sim_wall_us(struct io *io)
{
	return IO_SIM_EPOCH_S * 1000000u + ns3w_now_us(io_sim_of(io)->world);
}

/* xoshiro256** (see rng.h). */
static uint64_t io_sim_random_u64(struct io *io)
{
	return rng_next_u64(io_sim_of(io)->rng);
}

static void io_sim_random_secret(struct io *io, void *buf, size_t len)
{
	rng_fill(io_sim_of(io)->secret_rng, buf, len);
}

/* Writes one JSON line; fields too long for IO_EVENT_LINE_MAX are cut
 * after a whole member and marked (io_event_format), as on epoll. */
static void io_sim_emit(struct io *io, const char *type, const char *fields)
{
	struct io_sim *sim = io_sim_of(io);
	char line[IO_EVENT_LINE_MAX];

	CHECK(type != NULL);
	sim->events_emitted++;
	if (!sim->events)
		return;
	uint64_t t_us = ns3w_now_us(sim->world);
	int n = io_event_format(line, sizeof(line), t_us, sim->name, type, fields ? fields : "");
	CHECK(n > 0); /* only a type past IO_EVENT_TYPE_MAX can fail */
	fwrite(line, 1, (size_t)n, sim->events);
}

static void io_sim_handle_count(struct io *io, size_t *in_use, size_t *max)
{
	struct io_sim *sim = io_sim_of(io);

	*in_use = sim->handles.count;
	*max = sim->handles.limit;
}

/* Both views of a node share the ops; only the table tells them apart. */
#define IO_SIM_OPS_INIT                                                                            \
	.tcp_listen = io_sim_tcp_listen, .tcp_connect = io_sim_tcp_connect,                        \
	.tcp_accept = io_sim_tcp_accept, .tcp_read = io_sim_tcp_read,                              \
	.tcp_write = io_sim_tcp_write, .tcp_shutdown = io_sim_tcp_shutdown,                        \
	.sock_name = io_sim_sock_name, .udp_open = io_sim_udp_open, .udp_send = io_sim_udp_send,   \
	.close = io_sim_close, .handle_count = io_sim_handle_count,                                \
	.tun_attach = io_sim_tun_attach, .tun_write = io_sim_tun_write,                            \
	.tun_addr_add = io_sim_tun_addr_add, .tun_addr_del = io_sim_tun_addr_del,                  \
	.timer_arm = io_sim_timer_arm, .timer_disarm = io_sim_timer_disarm,                        \
	.now_us = io_sim_now_us, .wall_us = io_sim_wall_us, .random_u64 = io_sim_random_u64,       \
	.random_secret = io_sim_random_secret, .emit = io_sim_emit,

static const struct io_ops io_sim_ops = {IO_SIM_OPS_INIT};
static const struct io_ops io_sim_daemon_ops = {IO_SIM_OPS_INIT};

/* ---- lifetime ------------------------------------------------------- */

struct io *io_sim_new(const struct io_sim_config *config, int *err)
{
	struct io_sim *sim;
	size_t name_len;

	if (!config || !config->world || !config->name || config->node < 0 ||
	    config->node >= ns3w_node_count(config->world) ||
	    config->max_handles > IO_SIM_HANDLES_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	name_len = strnlen(config->name, IO_SIM_NAME_MAX + 1);
	if (name_len > IO_SIM_NAME_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	sim = malloc(sizeof(*sim) + name_len + 1);
	if (!sim || io_fs_mem_new(&sim->io.fs) < 0) {
		free(sim);
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(sim->name, config->name, name_len);
	sim->name[name_len] = '\0';
	sim->io.ops = &io_sim_ops;
	sim->io.node_name = sim->name;
	sim->world = config->world;
	sim->node = config->node;
	sim->events = config->events;
	sim->io.events_off = config->events == NULL;
	sim->events_emitted = 0;
	/* Distinct, reproducible streams per node even when every node is
	 * given the world's seed. */
	uint64_t x = config->seed ^ ((uint64_t)config->node * 0xd1b54a32d192ed03ull);
	rng_seed(sim->rng, x);
	rng_seed(sim->secret_rng, x ^ 0x5ec12e75ec12e75eull);
	io_sim_table_init(&sim->handles,
	                  config->max_handles ? config->max_handles : IO_SIM_HANDLES_MAX);
	sim->starved_listeners = 0;
	sim->wake = NULL;
	io_sim_table_init(&sim->timers, IO_SIM_TIMERS_MAX);
	sim->daemon_io = sim->io;
	sim->daemon_io.ops = &io_sim_daemon_ops;
	sim->tun_fn = NULL;
	sim->tun_ctx = NULL;
	sim->tun_daemon = false;
	sim->paused = false;
	sim->held = NULL;
	sim->held_head = sim->n_held = sim->cap_held = sim->held_packets = 0;
	sim->held_count = sim->held_dropped = 0;
	sim->drain = NULL;
	return &sim->io;
}

void io_sim_free(struct io *io)
{
	if (!io)
		return;
	struct io_sim *sim = io_sim_of(io);

	if (sim->wake)
		ns3w_timer_cancel(sim->world, sim->wake);
	if (sim->drain)
		ns3w_timer_cancel(sim->world, sim->drain);
	for (size_t i = sim->held_head; i < sim->n_held; i++)
		free(sim->held[i].data);
	free(sim->held);
	/* Index order keeps teardown deterministic. */
	for (uint32_t i = 0; i < sim->handles.high; i++) {
		struct io_sim_slot *slot = io_sim_table_at(&sim->handles, i);
		if (slot->kind != IO_SIM_FREE)
			ns3w_sock_close(slot->ref, false);
	}
	for (uint32_t i = 0; i < sim->timers.high; i++) {
		struct io_sim_slot *slot = io_sim_table_at(&sim->timers, i);
		if (slot->kind != IO_SIM_FREE && !slot->held_timer)
			ns3w_timer_cancel(sim->world, slot->ref);
	}
	io_sim_table_release(&sim->handles);
	io_sim_table_release(&sim->timers);
	io_fs_free(sim->io.fs);
	free(sim);
}

uint64_t io_sim_events_emitted(const struct io *io)
{
	CHECK(io != NULL && io->ops == &io_sim_ops);
	return ((const struct io_sim *)io)->events_emitted;
}

struct io *io_sim_daemon_io(struct io *io)
{
	return &io_sim_of(io)->daemon_io;
}

/* Delivers one held entry as its callback would have run. */
static void io_sim_held_deliver(struct io_sim *sim, struct io_sim_held *h)
{
	struct io_sim_slot *slot = h->slot;

	if (slot)
		slot->held_refs--;
	switch (h->kind) {
	case IO_SIM_HELD_SOCK: {
		unsigned events = slot->held_events;
		slot->held_events = 0;
		slot->fn.sock(slot->ctx, io_sim_handle_num(slot), events);
		break;
	}
	case IO_SIM_HELD_TIMER: {
		struct io_timer *timer = slot->fn.timer;
		CHECK(slot->held_timer && timer->backend_ref == slot);
		io_sim_slot_put(&sim->timers, slot);
		timer->backend_ref = NULL;
		timer->fn(timer);
		break;
	}
	case IO_SIM_HELD_DGRAM:
		slot->held_bytes -= h->len;
		slot->fn.dgram(slot->ctx, io_sim_handle_num(slot), h->data, h->len, &h->src);
		break;
	default:
		sim->held_packets--;
		if (sim->tun_fn)
			sim->tun_fn(sim->tun_ctx, h->data, h->len);
		break;
	}
}

/* After resume, in its own simulator event (never inside the action that
 * resumed): everything held, in arrival order, as SIGCONT gives a stopped
 * process its ready sockets and its overdue timers. */
static void io_sim_drain(void *ctx)
{
	struct io_sim *sim = ctx;

	sim->drain = NULL;
	while (!sim->paused && sim->held_head < sim->n_held) {
		/* A callback may close handles or disarm timers held further on
		 * (their entries are dropped) or grow the queue (it may move). */
		struct io_sim_held h = sim->held[sim->held_head++];
		if (!h.dropped)
			io_sim_held_deliver(sim, &h);
		free(h.data);
	}
	if (sim->held_head == sim->n_held)
		sim->held_head = sim->n_held = 0;
}

int io_sim_pause(struct io *io)
{
	struct io_sim *sim = io_sim_of(io);

	if (sim->paused)
		return -EALREADY;
	sim->paused = true;
	sim->held_count = sim->held_dropped = 0;
	return 0;
}

int io_sim_resume(struct io *io, uint64_t *held, uint64_t *dropped)
{
	struct io_sim *sim = io_sim_of(io);

	if (!sim->paused)
		return -EALREADY;
	sim->paused = false;
	if (held)
		*held = sim->held_count;
	if (dropped)
		*dropped = sim->held_dropped;
	if (sim->held_head < sim->n_held && !sim->drain) {
		sim->drain = ns3w_timer_start(sim->world, sim->node, 0, io_sim_drain, sim);
		CHECK(sim->drain != NULL);
	}
	return 0;
}
