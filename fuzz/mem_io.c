/* An in-memory seam for fuzz targets (see mem_io.h). */
#include "fuzz/mem_io.h"
#include "fuzz/fuzz.h"
#include "lib/base/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEM_IO_BACKLOG 128

struct mem_ep {
	bool open;
	bool harness; /* a peer end the harness drives */
	bool owned;   /* the code holds this handle (listener, connect, accepted) */
	bool listener;
	io_sock_fn fn;
	void *ctx;
	int other; /* the other end of a connection, -1 for a listener */
	struct io_addr local, remote;
	uint8_t *rx; /* bytes this end has not read: rx[rx_off, rx_off + rx_len) */
	size_t rx_off, rx_len, rx_alloc, window;
	bool rx_eof;     /* the other end sent its FIN (after the bytes in rx) */
	bool shut;       /* this end sent its FIN */
	int err;         /* sticky: -ECONNRESET, -ECONNREFUSED */
	bool want_write; /* a short write: IO_WRITABLE once room frees */
	unsigned pending;
	int *backlog; /* listeners: connections not accepted yet, oldest first */
	size_t n_backlog;
};

struct mem_io {
	struct io io; /* first: handed to the code */
	struct io_ops ops;
	struct mem_ep *eps;
	size_t n_eps, cap_eps;
	int *queue; /* handles with readiness pending, oldest first */
	size_t q_head, q_len, q_cap;
	struct io_timer **timers;
	size_t n_timers, cap_timers;
	struct io_addr served[8];
	size_t n_served;
	int *taken; /* harness ends of connections to served addresses */
	size_t t_head, t_len, t_cap;
	uint64_t now, rng;
	uint16_t next_port;
	mem_io_emit_fn emit;
	void *emit_ctx;
};

static struct mem_io *mem_of(struct io *io)
{
	return (struct mem_io *)io;
}

static void *mem_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	p = realloc(p, c * elem);
	FUZZ_ASSERT(p);
	*cap = c;
	return p;
}

/* Pushes onto a FIFO of ints kept as an array with a moving head. */
static void mem_fifo_push(int **a, size_t *head, size_t *len, size_t *cap, int v)
{
	if (*head > 0 && *head + *len == *cap) {
		memmove(*a, *a + *head, *len * sizeof(int));
		*head = 0;
	}
	*a = mem_grow(*a, cap, *head + *len + 1, sizeof(int));
	(*a)[*head + (*len)++] = v;
}

static int mem_fifo_pop(int *a, size_t *head, size_t *len)
{
	int v = a[*head];
	(*head)++;
	if (--*len == 0)
		*head = 0;
	return v;
}

static int mem_ep_new(struct mem_io *m, bool harness)
{
	m->eps = mem_grow(m->eps, &m->cap_eps, m->n_eps + 1, sizeof(*m->eps));
	struct mem_ep *e = &m->eps[m->n_eps];
	memset(e, 0, sizeof(*e));
	e->open = true;
	e->harness = harness;
	e->other = -1;
	e->window = MEM_IO_WINDOW;
	return (int)m->n_eps++;
}

/* The code's own handle: open, owned, and not a harness end. */
static struct mem_ep *mem_code_ep(struct mem_io *m, int h)
{
	FUZZ_ASSERT(h >= 0 && (size_t)h < m->n_eps);
	struct mem_ep *e = &m->eps[h];
	FUZZ_ASSERT(e->open); /* an op on a closed handle */
	FUZZ_ASSERT(e->owned && !e->harness);
	return e;
}

static struct mem_ep *mem_peer_ep(struct mem_io *m, int h)
{
	FUZZ_ASSERT(h >= 0 && (size_t)h < m->n_eps);
	struct mem_ep *e = &m->eps[h];
	FUZZ_ASSERT(e->open && e->harness);
	return e;
}

/* Queues readiness for the code's handle `h` (harness ends poll instead;
 * connections not accepted yet hear of it at accept). */
static void mem_notify(struct mem_io *m, int h, unsigned events)
{
	struct mem_ep *e = &m->eps[h];

	if (!e->open || e->harness || !e->owned)
		return;
	if (e->pending == 0)
		mem_fifo_push(&m->queue, &m->q_head, &m->q_len, &m->q_cap, h);
	e->pending |= events;
}

static void mem_rx_drop(struct mem_ep *e)
{
	free(e->rx);
	e->rx = NULL;
	e->rx_off = e->rx_len = e->rx_alloc = 0;
}

static void mem_rx_put(struct mem_ep *e, const void *data, size_t n)
{
	if (e->rx_off > 0 && e->rx_off + e->rx_len + n > e->rx_alloc) {
		memmove(e->rx, e->rx + e->rx_off, e->rx_len);
		e->rx_off = 0;
	}
	e->rx = mem_grow(e->rx, &e->rx_alloc, e->rx_off + e->rx_len + n, 1);
	memcpy(e->rx + e->rx_off + e->rx_len, data, n);
	e->rx_len += n;
}

static ssize_t mem_read(struct mem_io *m, int h, void *buf, size_t len)
{
	struct mem_ep *e = &m->eps[h];

	FUZZ_ASSERT(!e->listener);
	if (e->err)
		return e->err;
	if (e->rx_len == 0)
		return e->rx_eof ? 0 : -EAGAIN;
	size_t n = len < e->rx_len ? len : e->rx_len;
	memcpy(buf, e->rx + e->rx_off, n);
	e->rx_off += n;
	e->rx_len -= n;
	if (e->rx_len == 0)
		e->rx_off = 0;
	struct mem_ep *o = &m->eps[e->other];
	if (n > 0 && o->open && o->want_write) {
		o->want_write = false;
		mem_notify(m, e->other, IO_WRITABLE);
	}
	return (ssize_t)n;
}

static ssize_t mem_write(struct mem_io *m, int h, const void *buf, size_t len)
{
	struct mem_ep *e = &m->eps[h];

	FUZZ_ASSERT(!e->listener);
	if (e->err)
		return e->err;
	if (e->shut)
		return -EPIPE;
	struct mem_ep *o = &m->eps[e->other];
	if (!o->open)
		return -EPIPE;
	if (len == 0)
		return 0;
	size_t room = o->window > o->rx_len ? o->window - o->rx_len : 0;
	size_t n = len < room ? len : room;
	if (n < len)
		e->want_write = true;
	if (n == 0)
		return -EAGAIN;
	mem_rx_put(o, buf, n);
	mem_notify(m, e->other, IO_READABLE);
	return (ssize_t)n;
}

static void mem_shutdown(struct mem_io *m, int h)
{
	struct mem_ep *e = &m->eps[h];

	FUZZ_ASSERT(!e->listener);
	if (e->shut || e->err)
		return;
	e->shut = true;
	if (m->eps[e->other].open) {
		m->eps[e->other].rx_eof = true;
		mem_notify(m, e->other, IO_READABLE);
	}
}

/* Closes `h`: a FIN to the other end, or a reset with `abort` (its unread
 * bytes are lost, as with a real RST). */
static void mem_close(struct mem_io *m, int h, bool abort)
{
	struct mem_ep *e = &m->eps[h];

	e->open = false;
	e->pending = 0;
	mem_rx_drop(e);
	if (e->listener) {
		/* Connections nobody accepted are reset. */
		for (size_t i = 0; i < e->n_backlog; i++)
			mem_close(m, m->eps[h].backlog[i], true);
		free(m->eps[h].backlog);
		m->eps[h].backlog = NULL;
		m->eps[h].n_backlog = 0;
		return;
	}
	if (e->other < 0) /* a refused connect */
		return;
	struct mem_ep *o = &m->eps[e->other];
	if (!o->open)
		return;
	if (abort) {
		o->err = -ECONNRESET;
		mem_rx_drop(o);
		mem_notify(m, e->other, IO_READABLE | IO_ERROR);
	} else if (!e->shut) {
		o->rx_eof = true;
		mem_notify(m, e->other, IO_READABLE);
	}
}

/* --- the ops the code calls ---------------------------------------------------------- */

static bool mem_listening_at(const struct mem_io *m, const struct io_addr *a)
{
	for (size_t i = 0; i < m->n_eps; i++)
		if (m->eps[i].open && m->eps[i].listener &&
		    io_addr_equal(&m->eps[i].local, a, true))
			return true;
	return false;
}

static int mem_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                          void *ctx)
{
	struct mem_io *m = mem_of(io);
	struct io_addr a = *local;

	(void)backlog;
	FUZZ_ASSERT(fn);
	if (a.port == 0)
		a.port = m->next_port++;
	if (mem_listening_at(m, &a))
		return -EADDRINUSE;
	int h = mem_ep_new(m, false);
	struct mem_ep *e = &m->eps[h];
	e->owned = e->listener = true;
	e->fn = fn;
	e->ctx = ctx;
	e->local = a;
	return h;
}

static bool mem_is_served(const struct mem_io *m, const struct io_addr *a)
{
	for (size_t i = 0; i < m->n_served; i++)
		if (io_addr_equal(&m->served[i], a, true))
			return true;
	return false;
}

static int mem_tcp_connect(struct io *io, const struct io_addr *remote, const struct io_addr *local,
                           io_sock_fn fn, void *ctx)
{
	struct mem_io *m = mem_of(io);

	FUZZ_ASSERT(fn);
	int h = mem_ep_new(m, false);
	m->eps[h].owned = true;
	m->eps[h].fn = fn;
	m->eps[h].ctx = ctx;
	m->eps[h].remote = *remote;
	if (local)
		m->eps[h].local = *local;
	else
		io_addr_v4(&m->eps[h].local, 0x7f000001u, m->next_port++);
	if (!mem_is_served(m, remote)) {
		m->eps[h].err = -ECONNREFUSED;
		mem_notify(m, h, IO_ERROR);
		return h;
	}
	int p = mem_ep_new(m, true);
	m->eps[p].local = *remote;
	m->eps[p].remote = m->eps[h].local;
	m->eps[p].other = h;
	m->eps[h].other = p;
	mem_fifo_push(&m->taken, &m->t_head, &m->t_len, &m->t_cap, p);
	mem_notify(m, h, IO_WRITABLE);
	return h;
}

static int mem_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
                          void *ctx)
{
	struct mem_io *m = mem_of(io);
	struct mem_ep *l = mem_code_ep(m, listener);

	FUZZ_ASSERT(l->listener && fn);
	if (l->n_backlog == 0)
		return -EAGAIN;
	int h = l->backlog[0];
	memmove(l->backlog, l->backlog + 1, --l->n_backlog * sizeof(int));
	struct mem_ep *e = &m->eps[h];
	e->owned = true;
	e->fn = fn;
	e->ctx = ctx;
	if (peer)
		*peer = e->remote;
	/* What came before the accept is announced after it. */
	if (e->rx_len || e->rx_eof || e->err)
		mem_notify(m, h, IO_READABLE | (e->err ? IO_ERROR : 0));
	return h;
}

static ssize_t mem_tcp_read(struct io *io, int h, void *buf, size_t len)
{
	struct mem_io *m = mem_of(io);

	mem_code_ep(m, h);
	return mem_read(m, h, buf, len);
}

static ssize_t mem_tcp_write(struct io *io, int h, const void *buf, size_t len)
{
	struct mem_io *m = mem_of(io);

	mem_code_ep(m, h);
	return mem_write(m, h, buf, len);
}

static int mem_tcp_shutdown(struct io *io, int h)
{
	struct mem_io *m = mem_of(io);

	mem_code_ep(m, h);
	mem_shutdown(m, h);
	return 0;
}

static int mem_sock_name(struct io *io, int h, bool peer, struct io_addr *out)
{
	struct mem_io *m = mem_of(io);
	struct mem_ep *e = mem_code_ep(m, h);

	*out = peer ? e->remote : e->local;
	return 0;
}

static int mem_close_op(struct io *io, int h, bool abort)
{
	struct mem_io *m = mem_of(io);

	mem_code_ep(m, h);
	mem_close(m, h, abort);
	return 0;
}

static int mem_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	(void)io, (void)local, (void)fn, (void)ctx;
	return -ENOSYS;
}

static int mem_udp_send(struct io *io, int h, const void *d, size_t n, const struct io_addr *dst)
{
	(void)io, (void)h, (void)d, (void)n, (void)dst;
	return -ENOSYS;
}

static int mem_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	(void)io, (void)fn, (void)ctx;
	return -ENOSYS;
}

static int mem_tun_write(struct io *io, const void *pkt, size_t len)
{
	(void)io, (void)pkt, (void)len;
	return -ENOSYS;
}

static int mem_tun_addr(struct io *io, const struct io_addr *addr, int prefix_len)
{
	(void)io, (void)addr, (void)prefix_len;
	return -ENOSYS;
}

static void mem_timer_disarm(struct io *io, struct io_timer *t)
{
	struct mem_io *m = mem_of(io);

	if (!t->backend_ref)
		return;
	FUZZ_ASSERT(t->backend_ref == m && t->heap_index < m->n_timers &&
	            m->timers[t->heap_index] == t);
	struct io_timer *last = m->timers[--m->n_timers];
	m->timers[t->heap_index] = last;
	last->heap_index = t->heap_index;
	t->backend_ref = NULL;
}

static void mem_timer_arm(struct io *io, struct io_timer *t, uint64_t delay_us)
{
	struct mem_io *m = mem_of(io);

	FUZZ_ASSERT(t->fn);
	mem_timer_disarm(io, t);
	m->timers = mem_grow(m->timers, &m->cap_timers, m->n_timers + 1, sizeof(*m->timers));
	t->deadline_us = m->now + delay_us;
	t->backend_ref = m;
	t->heap_index = m->n_timers;
	m->timers[m->n_timers++] = t;
}

static uint64_t mem_now_us(struct io *io)
{
	return mem_of(io)->now;
}

static uint64_t mem_wall_us(struct io *io)
{
	return IO_SIM_EPOCH_S * 1000000u + mem_of(io)->now;
}

static uint64_t mem_random_u64(struct io *io)
{
	/* splitmix64: a fixed sequence, so a crash replays exactly. */
	return rng_splitmix64(&mem_of(io)->rng);
}

static void mem_random_secret(struct io *io, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)mem_random_u64(io);
}

static void mem_emit(struct io *io, const char *type, const char *fields)
{
	struct mem_io *m = mem_of(io);

	FUZZ_ASSERT(type && fields);
	if (m->emit)
		m->emit(m->emit_ctx, type, fields);
}

/* Handles the code holds now; the table is nominal (the harness never
 * opens enough connections to come near it). */
#define MEM_IO_MAX_HANDLES 4096

static void mem_handle_count(struct io *io, size_t *in_use, size_t *max)
{
	struct mem_io *m = mem_of(io);
	size_t n = 0;

	for (size_t i = 0; i < m->n_eps; i++)
		n += m->eps[i].open && m->eps[i].owned;
	*in_use = n;
	*max = MEM_IO_MAX_HANDLES;
}

static const struct io_ops mem_ops = {
    .tcp_listen = mem_tcp_listen,
    .tcp_connect = mem_tcp_connect,
    .tcp_accept = mem_tcp_accept,
    .tcp_read = mem_tcp_read,
    .tcp_write = mem_tcp_write,
    .tcp_shutdown = mem_tcp_shutdown,
    .sock_name = mem_sock_name,
    .udp_open = mem_udp_open,
    .udp_send = mem_udp_send,
    .close = mem_close_op,
    .handle_count = mem_handle_count,
    .tun_attach = mem_tun_attach,
    .tun_write = mem_tun_write,
    .tun_addr_add = mem_tun_addr,
    .tun_addr_del = mem_tun_addr,
    .timer_arm = mem_timer_arm,
    .timer_disarm = mem_timer_disarm,
    .now_us = mem_now_us,
    .wall_us = mem_wall_us,
    .random_u64 = mem_random_u64,
    .random_secret = mem_random_secret,
    .emit = mem_emit,
};

/* --- the harness side ------------------------------------------------------------------ */

struct mem_io *mem_io_new(mem_io_emit_fn emit, void *emit_ctx)
{
	struct mem_io *m = calloc(1, sizeof(*m));

	FUZZ_ASSERT(m);
	m->io.ops = &mem_ops;
	m->io.node_name = "fuzz";
	m->now = 1000 * 1000;
	m->next_port = 40000;
	m->emit = emit;
	m->emit_ctx = emit_ctx;
	return m;
}

void mem_io_free(struct mem_io *m)
{
	for (size_t i = 0; i < m->n_eps; i++)
		FUZZ_ASSERT(!m->eps[i].open); /* a handle nobody closed */
	FUZZ_ASSERT(m->n_timers == 0);        /* a timer left armed */
	free(m->eps);
	free(m->queue);
	free(m->timers);
	free(m->taken);
	free(m);
}

struct io *mem_io_io(struct mem_io *m)
{
	return &m->io;
}

/* The armed timer due first, or NULL. */
static struct io_timer *mem_first_timer(const struct mem_io *m)
{
	struct io_timer *first = NULL;

	for (size_t i = 0; i < m->n_timers; i++)
		if (!first || m->timers[i]->deadline_us < first->deadline_us)
			first = m->timers[i];
	return first;
}

size_t mem_io_run(struct mem_io *m, size_t max_steps)
{
	size_t steps = 0;

	while (steps < max_steps) {
		if (m->q_len > 0) {
			int h = mem_fifo_pop(m->queue, &m->q_head, &m->q_len);
			struct mem_ep *e = &m->eps[h];
			unsigned ev = e->pending;
			e->pending = 0;
			if (e->open && ev) {
				steps++;
				e->fn(e->ctx, h, ev);
			}
			continue;
		}
		struct io_timer *t = mem_first_timer(m);
		if (!t || t->deadline_us > m->now)
			break;
		mem_timer_disarm(&m->io, t);
		steps++;
		t->fn(t);
	}
	return steps;
}

void mem_io_advance(struct mem_io *m, uint64_t us, size_t max_steps)
{
	uint64_t target = m->now + us;

	for (;;) {
		mem_io_run(m, max_steps);
		struct io_timer *t = mem_first_timer(m);
		if (!t || t->deadline_us > target)
			break;
		if (t->deadline_us > m->now)
			m->now = t->deadline_us;
	}
	m->now = target;
	mem_io_run(m, max_steps);
}

uint64_t mem_io_now(const struct mem_io *m)
{
	return m->now;
}

void mem_io_serve(struct mem_io *m, const struct io_addr *at)
{
	FUZZ_ASSERT(m->n_served < sizeof(m->served) / sizeof(m->served[0]));
	m->served[m->n_served++] = *at;
}

int mem_io_take(struct mem_io *m)
{
	if (m->t_len == 0)
		return -EAGAIN;
	return mem_fifo_pop(m->taken, &m->t_head, &m->t_len);
}

int mem_io_connect(struct mem_io *m, const struct io_addr *from, const struct io_addr *to)
{
	int l = -1;

	for (size_t i = 0; i < m->n_eps; i++)
		if (m->eps[i].open && m->eps[i].listener &&
		    io_addr_equal(&m->eps[i].local, to, true))
			l = (int)i;
	if (l < 0 || m->eps[l].n_backlog >= MEM_IO_BACKLOG)
		return -ECONNREFUSED;
	int h = mem_ep_new(m, false);
	int p = mem_ep_new(m, true);
	m->eps[h].local = *to;
	m->eps[h].remote = *from;
	m->eps[h].other = p;
	m->eps[p].local = *from;
	m->eps[p].remote = *to;
	m->eps[p].other = h;
	struct mem_ep *le = &m->eps[l];
	le->backlog = realloc(le->backlog, (le->n_backlog + 1) * sizeof(int));
	FUZZ_ASSERT(le->backlog);
	le->backlog[le->n_backlog++] = h;
	mem_notify(m, l, IO_READABLE);
	return p;
}

ssize_t mem_io_peer_read(struct mem_io *m, int peer, void *buf, size_t len)
{
	mem_peer_ep(m, peer);
	return mem_read(m, peer, buf, len);
}

ssize_t mem_io_peer_write(struct mem_io *m, int peer, const void *buf, size_t len)
{
	mem_peer_ep(m, peer);
	return mem_write(m, peer, buf, len);
}

void mem_io_peer_shutdown(struct mem_io *m, int peer)
{
	mem_peer_ep(m, peer);
	mem_shutdown(m, peer);
}

void mem_io_peer_close(struct mem_io *m, int peer, bool abort)
{
	mem_peer_ep(m, peer);
	mem_close(m, peer, abort);
}

bool mem_io_peer_connected(const struct mem_io *m, int peer)
{
	const struct mem_ep *e = &m->eps[peer];

	return e->open && e->other >= 0 && m->eps[e->other].open;
}

void mem_io_peer_window(struct mem_io *m, int peer, size_t bytes)
{
	mem_peer_ep(m, peer)->window = bytes;
}

size_t mem_io_code_handles(const struct mem_io *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_eps; i++)
		n += m->eps[i].open && !m->eps[i].harness;
	return n;
}

size_t mem_io_armed_timers(const struct mem_io *m)
{
	return m->n_timers;
}
