/* The L4 Service Proxy (see tcp_proxy.h): accepting, relaying with
 * backpressure and half-close, the connection's end, and the Service
 * Proxy ops (proxy/svc_proxy.h). One cohesive state machine per
 * connection, kept in one file. Each direction's buffer is a fixed slice
 * of the connection's single allocation (no growth, no lib/base/buf). */
#include "proxy/l4/tcp_proxy.h"
#include "lib/base/check.h"
#include "lib/base/list.h"
#include "lib/io/event_gap.h"

#include "lib/io/io_event.h"
#include "lib/wire/tls.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tp_how {
	TP_HOW_NORMAL = 0,
	TP_HOW_RESET,
	TP_HOW_ABORTED,
};

enum tp_phase {
	TP_PHASE_HANDSHAKE = 0, /* TLS only: the client's handshake runs */
	TP_PHASE_CONNECTING,    /* target connect in flight */
	TP_PHASE_RELAYING,
};

/* One end of a relayed connection. */
struct tp_side {
	int handle;
	struct tls_conn *tls; /* client side under --tls-terminated-tcp, else NULL */
	bool readable;        /* may have bytes (or EOF) queued: read until -EAGAIN */
	bool write_blocked;   /* a write was short or refused: wait for IO_WRITABLE */
	bool eof;             /* read returned 0 */
	bool shut;            /* we sent FIN (tcp_shutdown) on this side */
};

/* Bytes read from one side, not yet written to the other. */
struct tp_buf {
	uint8_t *data;
	uint32_t off, len;
};

struct tp_conn {
	struct tcp_proxy *p;
	struct list_node link; /* in the proxy's open connections */
	uint64_t id;
	enum tp_phase phase;
	struct tp_side client, upstream;
	struct tp_buf up, down; /* client->target, target->client */
	uint64_t bytes_up, bytes_down;
	uint64_t start_us, last_active_us;
	struct io_timer timer; /* handshake, then connect, then idle timeout */
	char peer[IO_ADDR_STRLEN];
};

struct tp_listener {
	int handle;
	struct io_addr addr;
};

struct tcp_proxy {
	struct svc_proxy base; /* first: svcd holds a struct svc_proxy * (svc_proxy.h) */
	struct io *io;
	struct tcp_proxy_config config; /* label points at `label` below */
	char label[TCP_PROXY_LABEL_MAX + 1];
	struct tp_listener listeners[TCP_PROXY_LISTENERS_MAX];
	unsigned listener_count;
	bool stopped; /* stop_accepting was called */
	bool drained_reported;
	bool tearing_down;
	struct io_timer drain_timer;
	struct event_gap refuse_gap; /* limit_hit for refused connections */
	const char *refuse_limit;
	uint32_t refuse_max;
	struct list_head conns; /* open connections, newest first */
	struct tp_conn *spare;  /* one allocation kept for the next accept */
	uint64_t next_id;
	struct tcp_proxy_stats stats;
};

static const char *tp_how_name(enum tp_how how)
{
	switch (how) {
	case TP_HOW_NORMAL:
		return "normal";
	case TP_HOW_RESET:
		return "reset";
	case TP_HOW_ABORTED:
		return "aborted";
	}
	return "unknown";
}

/* A short word for a connect failure. */
static const char *tp_errno_reason(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "refused";
	case -ETIMEDOUT:
		return "timeout";
	case -ECONNRESET:
		return "reset";
	case -ENETUNREACH:
	case -EHOSTUNREACH:
		return "unreachable";
	case -EAFNOSUPPORT:
		return "address_family";
	case -EADDRNOTAVAIL:
		return "address_unavailable";
	case -ENOMEM:
	case -ENOBUFS:
	case -EMFILE:
	case -ENFILE:
		return "no_resources";
	default:
		return "error";
	}
}

static size_t tp_conn_alloc_size(const struct tcp_proxy *p)
{
	return sizeof(struct tp_conn) + 2 * (size_t)p->config.buf_bytes;
}

/* A zeroed connection with its two buffers, linked into the open list. */
static struct tp_conn *tp_conn_get(struct tcp_proxy *p)
{
	struct tp_conn *c = p->spare;
	uint8_t *bufs;

	if (c) {
		p->spare = NULL;
	} else {
		c = malloc(tp_conn_alloc_size(p));
		if (!c)
			return NULL;
	}
	bufs = (uint8_t *)(c + 1);
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->client.handle = -1;
	c->upstream.handle = -1;
	c->up.data = bufs;
	c->down.data = bufs + p->config.buf_bytes;
	return c;
}

static void tp_conn_put(struct tcp_proxy *p, struct tp_conn *c)
{
	CHECK(!io_timer_armed(&c->timer));
	if (!p->spare && !p->tearing_down)
		p->spare = c;
	else
		free(c);
}

/* Open connections; at most config.max_conns, so it fits the API's type. */
static uint32_t tp_open(const struct tcp_proxy *p)
{
	return (uint32_t)p->conns.n;
}

static void tp_conn_link(struct tcp_proxy *p, struct tp_conn *c)
{
	list_push_front(&p->conns, &c->link);
}

static void tp_conn_unlink(struct tcp_proxy *p, struct tp_conn *c)
{
	CHECK(list_linked(&p->conns, &c->link));
	list_remove(&p->conns, &c->link);
}

static void tp_drain_fire(struct io_timer *timer)
{
	struct tcp_proxy *p = container_of(timer, struct tcp_proxy, drain_timer);

	if (p->drained_reported || tp_open(p) > 0)
		return;
	p->drained_reported = true;
	io_event(p->io, "tcp_proxy_drained", IO_STR("service", p->label));
	if (p->config.on_drained)
		p->config.on_drained(p->config.on_drained_ctx, p); /* may free p: last */
}

/* Reports the end of a drain from a fresh callback, never from inside the
 * caller's own stack, so on_drained may free the proxy. */
static void tp_maybe_drained(struct tcp_proxy *p)
{
	struct io *io = p->io;

	if (!p->stopped || tp_open(p) > 0 || p->drained_reported || p->tearing_down)
		return;
	if (!io_timer_armed(&p->drain_timer))
		io->ops->timer_arm(io, &p->drain_timer, 0);
}

/* Ends a connection: both handles closed (reset unless `how` is normal),
 * one conn_closed event, memory released. */
static void tp_conn_end(struct tp_conn *c, enum tp_how how, const char *reason)
{
	struct tcp_proxy *p = c->p;
	struct io *io = p->io;
	uint64_t now = io->ops->now_us(io);
	bool abort_conn = how != TP_HOW_NORMAL;

	if (io_timer_armed(&c->timer))
		io->ops->timer_disarm(io, &c->timer);
	tls_conn_free(c->client.tls);
	c->client.tls = NULL;
	if (c->client.handle >= 0)
		io->ops->close(io, c->client.handle, abort_conn);
	if (c->upstream.handle >= 0)
		io->ops->close(io, c->upstream.handle, abort_conn);
	switch (how) {
	case TP_HOW_NORMAL:
		p->stats.closed_normal++;
		break;
	case TP_HOW_RESET:
		p->stats.closed_reset++;
		break;
	case TP_HOW_ABORTED:
		p->stats.closed_aborted++;
		break;
	}
	p->stats.bytes_up += c->bytes_up;
	p->stats.bytes_down += c->bytes_down;
	io_event(io, "conn_closed", IO_STR("service", p->label), IO_U64("conn", c->id),
	         IO_STR("peer", c->peer), IO_U64("bytes_up", c->bytes_up),
	         IO_U64("bytes_down", c->bytes_down), IO_U64("duration_us", (now - c->start_us)),
	         IO_STR("how", tp_how_name(how)), IO_STR("reason", reason));
	tp_conn_unlink(p, c);
	tp_conn_put(p, c);
	tp_maybe_drained(p);
}

/* The target could not be reached: tell, and reset the client. */
static void tp_upstream_failed(struct tp_conn *c, int err)
{
	struct tcp_proxy *p = c->p;
	char target[IO_ADDR_STRLEN];
	char reason[48];

	p->stats.upstream_failed++;
	io_addr_format(&p->config.target, true, target, sizeof(target));
	io_event(p->io, "conn_upstream_failed", IO_STR("service", p->label), IO_U64("conn", c->id),
	         IO_STR("peer", c->peer), IO_STR("target", target),
	         IO_STR("reason", tp_errno_reason(err)));
	snprintf(reason, sizeof(reason), "upstream_%s", tp_errno_reason(err));
	tp_conn_end(c, TP_HOW_ABORTED, reason);
}

static int tp_connect_upstream(struct tp_conn *c);

/* The client's TLS failed (bad handshake, bad record): tell why, reset. */
static void tp_tls_failed(struct tp_conn *c)
{
	struct tcp_proxy *p = c->p;

	io_event(p->io, "tls_failed", IO_STR("service", p->label), IO_U64("conn", c->id),
	         IO_STR("peer", c->peer), IO_STR("error", tls_conn_error(c->client.tls)));
	tp_conn_end(c, TP_HOW_RESET, "tls_error");
}

static ssize_t tp_side_read(struct io *io, struct tp_side *s, void *buf, size_t len)
{
	if (s->tls)
		return tls_conn_read(s->tls, buf, len);
	return io->ops->tcp_read(io, s->handle, buf, len);
}

static ssize_t tp_side_write(struct io *io, struct tp_side *s, const void *buf, size_t len)
{
	if (s->tls)
		return tls_conn_write(s->tls, buf, len);
	return io->ops->tcp_write(io, s->handle, buf, len);
}

static int tp_side_shutdown(struct io *io, struct tp_side *s)
{
	if (s->tls)
		return tls_conn_shutdown(s->tls);
	return io->ops->tcp_shutdown(io, s->handle);
}

/* True once everything written to the side has left for the seam: TLS
 * keeps ciphertext (and its close_notify + FIN) until the seam takes it. */
static bool tp_side_flushed(const struct tp_side *s)
{
	return !s->tls || tls_conn_pending_out(s->tls) == 0;
}

/* Moves bytes from `src` through `b` to `dst` until nothing more can move
 * now; `dst_ready` is false while dst is still connecting. Sends FIN to dst
 * once src's EOF and every buffered byte went through. Returns 0, or a
 * negative errno with *failed naming the side that failed. */
static int tp_pump(struct tp_conn *c, struct tp_side *src, struct tp_side *dst, struct tp_buf *b,
                   uint64_t *count, bool dst_ready, struct tp_side **failed)
{
	struct io *io = c->p->io;
	uint32_t cap = c->p->config.buf_bytes;

	for (;;) {
		bool progress = false;

		if (b->len > b->off && dst_ready && !dst->write_blocked) {
			ssize_t w = tp_side_write(io, dst, b->data + b->off, b->len - b->off);
			if (w == -EAGAIN) {
				dst->write_blocked = true;
			} else if (w < 0) {
				*failed = dst;
				return (int)w;
			} else {
				b->off += (uint32_t)w;
				*count += (uint64_t)w;
				if (b->off == b->len)
					b->off = b->len = 0;
				else if (!dst->tls)
					dst->write_blocked = true; /* IO_WRITABLE follows */
				/* TLS takes a record at a time: a short write
				 * is no sign of a full socket, -EAGAIN is. */
				progress = w > 0;
			}
		}
		if (b->len == b->off && src->eof && !dst->shut && dst_ready) {
			int err = tp_side_shutdown(io, dst);
			if (err < 0) {
				*failed = dst;
				return err;
			}
			dst->shut = true;
		}
		if (!src->eof && src->readable) {
			if (b->len == cap && b->off > 0) {
				memmove(b->data, b->data + b->off, b->len - b->off);
				b->len -= b->off;
				b->off = 0;
			}
			if (b->len < cap) {
				ssize_t r = tp_side_read(io, src, b->data + b->len, cap - b->len);
				if (r == -EAGAIN) {
					src->readable = false;
				} else if (r < 0) {
					*failed = src;
					return (int)r;
				} else if (r == 0) {
					src->eof = true;
					progress = true;
				} else {
					b->len += (uint32_t)r;
					progress = true;
				}
			}
		}
		if (!progress)
			return 0;
	}
}

static bool tp_direction_done(const struct tp_side *src, const struct tp_side *dst,
                              const struct tp_buf *b)
{
	return src->eof && dst->shut && b->len == b->off && tp_side_flushed(dst);
}

/* Relays what can move now in both directions and ends the connection when
 * both are done or a side failed. */
static void tp_conn_run(struct tp_conn *c, uint64_t now)
{
	struct tp_side *failed = NULL;
	uint64_t before = c->bytes_up + c->bytes_down;
	bool relaying = c->phase == TP_PHASE_RELAYING;
	int err;

	err = tp_pump(c, &c->client, &c->upstream, &c->up, &c->bytes_up, relaying, &failed);
	if (!err && relaying)
		err = tp_pump(c, &c->upstream, &c->client, &c->down, &c->bytes_down, true, &failed);
	if (!err && c->phase == TP_PHASE_HANDSHAKE && c->client.tls &&
	    tls_conn_handshake_done(c->client.tls)) {
		if (tp_connect_upstream(c) < 0)
			return; /* ended */
	}
	if (err) {
		const char *reason;
		if (failed == &c->client && err == -EPROTO && c->client.tls) {
			tp_tls_failed(c);
			return;
		}
		if (failed == &c->client)
			reason = err == -ECONNRESET ? "client_reset" : "client_error";
		else
			reason = err == -ECONNRESET ? "upstream_reset" : "upstream_error";
		tp_conn_end(c, TP_HOW_RESET, reason);
		return;
	}
	if (c->phase == TP_PHASE_HANDSHAKE && c->client.eof) {
		/* Gone before proving itself: nothing to forward. */
		tp_conn_end(c, TP_HOW_NORMAL, "client_closed_in_handshake");
		return;
	}
	if (relaying && tp_direction_done(&c->client, &c->upstream, &c->up) &&
	    tp_direction_done(&c->upstream, &c->client, &c->down)) {
		tp_conn_end(c, TP_HOW_NORMAL, "eof");
		return;
	}
	if (c->bytes_up + c->bytes_down != before)
		c->last_active_us = now;
}

static void tp_conn_timer(struct io_timer *timer)
{
	struct tp_conn *c = container_of(timer, struct tp_conn, timer);
	struct tcp_proxy *p = c->p;
	struct io *io = p->io;
	uint64_t now = io->ops->now_us(io);
	uint64_t idle = p->config.idle_timeout_us;

	if (c->phase == TP_PHASE_HANDSHAKE) {
		tp_conn_end(c, TP_HOW_ABORTED, "tls_handshake_timeout");
		return;
	}
	if (c->phase == TP_PHASE_CONNECTING) {
		tp_upstream_failed(c, -ETIMEDOUT);
		return;
	}
	CHECK(idle > 0);
	if (now - c->last_active_us >= idle) {
		tp_conn_end(c, TP_HOW_ABORTED, "idle_timeout");
		return;
	}
	io->ops->timer_arm(io, &c->timer, idle - (now - c->last_active_us));
}

static void tp_client_cb(void *ctx, int handle, unsigned events)
{
	struct tp_conn *c = ctx;
	struct io *io = c->p->io;

	CHECK(handle == c->client.handle);
	if (events & IO_ERROR) {
		tp_conn_end(c, TP_HOW_RESET, "client_reset");
		return;
	}
	if (c->client.tls) {
		/* Any readiness may move the handshake, decrypt a record or
		 * flush ciphertext: retry both ways after it. */
		int err = tls_conn_on_event(c->client.tls, events);
		if (err == -EPROTO) {
			tp_tls_failed(c);
			return;
		}
		if (err < 0) {
			tp_conn_end(c, TP_HOW_RESET,
			            err == -ECONNRESET ? "client_reset" : "client_error");
			return;
		}
		c->client.readable = true;
		c->client.write_blocked = false;
	}
	if (events & IO_READABLE)
		c->client.readable = true;
	if (events & IO_WRITABLE)
		c->client.write_blocked = false;
	tp_conn_run(c, io->ops->now_us(io));
}

static void tp_upstream_cb(void *ctx, int handle, unsigned events)
{
	struct tp_conn *c = ctx;
	struct tcp_proxy *p = c->p;
	struct io *io = p->io;
	uint64_t now = io->ops->now_us(io);

	CHECK(handle == c->upstream.handle);
	if (c->phase == TP_PHASE_CONNECTING) {
		if (events & IO_ERROR) {
			uint8_t byte;
			ssize_t r = io->ops->tcp_read(io, handle, &byte, 1);
			tp_upstream_failed(c, r < 0 && r != -EAGAIN ? (int)r : -ECONNREFUSED);
			return;
		}
		if (!(events & IO_WRITABLE))
			return;
		c->phase = TP_PHASE_RELAYING;
		c->upstream.readable = true; /* a server may speak first */
		c->last_active_us = now;
		if (io_timer_armed(&c->timer))
			io->ops->timer_disarm(io, &c->timer);
		if (p->config.idle_timeout_us)
			io->ops->timer_arm(io, &c->timer, p->config.idle_timeout_us);
	} else if (events & IO_ERROR) {
		tp_conn_end(c, TP_HOW_RESET, "upstream_reset");
		return;
	}
	if (events & IO_READABLE)
		c->upstream.readable = true;
	if (events & IO_WRITABLE)
		c->upstream.write_blocked = false;
	tp_conn_run(c, now);
}

/* Refused connections are closed before any callback could run. */
static void tp_noop_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

/* limit_hit for `count` refused connections (the last one's limit). */
static void tp_refuse_flush(struct event_gap *gap, uint64_t count)
{
	struct tcp_proxy *p = container_of(gap, struct tcp_proxy, refuse_gap);

	io_event(p->io, "limit_hit", IO_STR("service", p->label), IO_STR("limit", p->refuse_limit),
	         IO_U64("max", p->refuse_max), IO_U64("count", count));
}

/* Accepts one connection and resets it: a flood of them writes one
 * limit_hit a second, with its count. */
static void tp_refuse(struct tcp_proxy *p, int listener, const char *limit, uint32_t max)
{
	struct io *io = p->io;
	int h = io->ops->tcp_accept(io, listener, NULL, tp_noop_cb, p);

	if (h < 0)
		return;
	io->ops->close(io, h, true);
	p->stats.refused_over_limit++;
	p->refuse_limit = limit;
	p->refuse_max = max;
	uint64_t n = event_gap_note(&p->refuse_gap);
	if (n)
		tp_refuse_flush(&p->refuse_gap, n);
}

/* Starts relaying an accepted connection: connect to the target, report. */
static void tp_conn_start(struct tcp_proxy *p, struct tp_conn *c, const struct io_addr *peer,
                          int listener_index)
{
	struct io *io = p->io;
	char local[IO_ADDR_STRLEN];

	c->id = ++p->next_id;
	c->start_us = io->ops->now_us(io);
	c->last_active_us = c->start_us;
	c->timer.fn = tp_conn_timer;
	c->client.readable = true; /* bytes may already be queued */
	io_addr_format(peer, true, c->peer, sizeof(c->peer));
	io_addr_format(&p->listeners[listener_index].addr, true, local, sizeof(local));
	tp_conn_link(p, c);
	p->stats.accepted++;
	io_event(io, "conn_accepted", IO_STR("service", p->label), IO_U64("conn", c->id),
	         IO_STR("peer", c->peer), IO_STR("local", local));

	if (p->config.tls) {
		c->client.tls = tls_conn_new_server(p->config.tls, io, c->client.handle);
		if (!c->client.tls) {
			tp_conn_end(c, TP_HOW_ABORTED, "no_memory");
			return;
		}
		c->phase = TP_PHASE_HANDSHAKE;
		io->ops->timer_arm(io, &c->timer, p->config.handshake_timeout_us);
		return; /* the target is dialled once the client proved itself */
	}
	tp_connect_upstream(c);
}

/* Dials the target for `c`. Returns 0, or -1 when the connection ended
 * (its memory is gone then). */
static int tp_connect_upstream(struct tp_conn *c)
{
	struct tcp_proxy *p = c->p;
	struct io *io = p->io;
	int h;

	if (io_timer_armed(&c->timer))
		io->ops->timer_disarm(io, &c->timer);
	c->phase = TP_PHASE_CONNECTING;
	h = io->ops->tcp_connect(io, &p->config.target, NULL, tp_upstream_cb, c);
	if (h < 0) {
		tp_upstream_failed(c, h);
		return -1;
	}
	c->upstream.handle = h;
	io->ops->timer_arm(io, &c->timer, p->config.connect_timeout_us);
	return 0;
}

static void tp_listener_cb(void *ctx, int handle, unsigned events)
{
	struct tcp_proxy *p = ctx;
	struct io *io = p->io;
	int index = -1;

	(void)events;
	for (unsigned i = 0; i < p->listener_count; i++)
		if (p->listeners[i].handle == handle)
			index = (int)i;
	CHECK(index >= 0);
	for (;;) {
		struct io_addr peer;
		struct tp_conn *c;
		int h;

		if (tp_open(p) >= p->config.max_conns) {
			/* Drain the backlog so clients learn at once, not by timeout. */
			uint64_t before = p->stats.refused_over_limit;
			tp_refuse(p, handle, "tcp_proxy_conns_max", p->config.max_conns);
			if (p->stats.refused_over_limit == before)
				return;
			continue;
		}
		/* REL-1: a client and its upstream take two handles; shed it while
		 * the node's table still has room to accept and close. */
		if (io_handles_scarce(io, 2)) {
			uint64_t before = p->stats.refused_over_limit;
			tp_refuse(p, handle, "node_handles", tp_open(p));
			if (p->stats.refused_over_limit == before)
				return;
			continue;
		}
		c = tp_conn_get(p);
		if (!c) {
			uint64_t before = p->stats.refused_over_limit;
			tp_refuse(p, handle, "memory", tp_open(p));
			if (p->stats.refused_over_limit == before)
				return;
			continue;
		}
		h = io->ops->tcp_accept(io, handle, &peer, tp_client_cb, c);
		if (h < 0) {
			tp_conn_put(p, c);
			return; /* -EAGAIN, or an error the next readiness retries */
		}
		c->client.handle = h;
		tp_conn_start(p, c, &peer, index);
	}
}

int tcp_proxy_new(struct tcp_proxy **out, struct io *io, const struct tcp_proxy_config *config)
{
	struct tcp_proxy *p;
	const char *label;

	CHECK(io && config && out);
	*out = NULL;
	if (config->target.family != IO_AF_INET && config->target.family != IO_AF_INET6)
		return -EINVAL;
	if (config->target.port == 0)
		return -EINVAL;
	if (config->max_conns > TCP_PROXY_CONNS_MAX_LIMIT)
		return -EINVAL;
	if (config->buf_bytes && (config->buf_bytes < TCP_PROXY_BUF_BYTES_MIN ||
	                          config->buf_bytes > TCP_PROXY_BUF_BYTES_MAX))
		return -EINVAL;
	if (config->tls && !tls_ctx_is_server(config->tls))
		return -EINVAL;
	label = config->label ? config->label : "";
	if (strlen(label) > TCP_PROXY_LABEL_MAX)
		return -EINVAL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->base.ops = &tcp_proxy_svc_ops;
	p->io = io;
	event_gap_init(&p->refuse_gap, io, TCP_PROXY_REFUSE_EVENT_GAP_US, tp_refuse_flush);
	p->config = *config;
	memcpy(p->label, label, strlen(label) + 1);
	p->config.label = p->label;
	if (!p->config.max_conns)
		p->config.max_conns = TCP_PROXY_CONNS_MAX_DEFAULT;
	if (!p->config.buf_bytes)
		p->config.buf_bytes = TCP_PROXY_BUF_BYTES_DEFAULT;
	if (!p->config.connect_timeout_us)
		p->config.connect_timeout_us = TCP_PROXY_CONNECT_TIMEOUT_US_DEFAULT;
	if (!p->config.handshake_timeout_us)
		p->config.handshake_timeout_us = TCP_PROXY_TLS_HANDSHAKE_TIMEOUT_US_DEFAULT;
	p->drain_timer.fn = tp_drain_fire;
	for (unsigned i = 0; i < TCP_PROXY_LISTENERS_MAX; i++)
		p->listeners[i].handle = -1;
	*out = p;
	return 0;
}

int tcp_proxy_listen(struct tcp_proxy *p, const struct io_addr *addr)
{
	struct io *io = p->io;
	struct tp_listener *l;
	char text[IO_ADDR_STRLEN];
	int h;

	CHECK(addr);
	if (p->stopped)
		return -EBUSY;
	if (p->listener_count >= TCP_PROXY_LISTENERS_MAX)
		return -ENOSPC;
	l = &p->listeners[p->listener_count];
	h = io->ops->tcp_listen(io, addr, TCP_PROXY_BACKLOG, tp_listener_cb, p);
	if (h < 0)
		return h;
	l->handle = h;
	if (io->ops->sock_name(io, h, false, &l->addr) < 0)
		l->addr = *addr;
	p->listener_count++;
	io_event(io, "tcp_proxy_listening", IO_STR("service", p->label),
	         IO_STR("local", io_addr_format(&l->addr, true, text, sizeof(text))));
	return 0;
}

int tcp_proxy_local_addr(const struct tcp_proxy *p, unsigned index, struct io_addr *out)
{
	if (index >= p->listener_count)
		return -ENOENT;
	*out = p->listeners[index].addr;
	return 0;
}

void tcp_proxy_set_target(struct tcp_proxy *p, const struct io_addr *target)
{
	char text[IO_ADDR_STRLEN];

	CHECK(target && (target->family == IO_AF_INET || target->family == IO_AF_INET6));
	p->config.target = *target;
	io_event(p->io, "tcp_proxy_target_changed", IO_STR("service", p->label),
	         IO_STR("target", io_addr_format(target, true, text, sizeof(text))));
}

static void tp_close_listeners(struct tcp_proxy *p)
{
	struct io *io = p->io;

	for (unsigned i = 0; i < p->listener_count; i++) {
		if (p->listeners[i].handle >= 0)
			io->ops->close(io, p->listeners[i].handle, false);
		p->listeners[i].handle = -1;
	}
}

void tcp_proxy_stop_accepting(struct tcp_proxy *p)
{
	if (p->stopped)
		return;
	p->stopped = true;
	tp_close_listeners(p);
	io_event(p->io, "tcp_proxy_stopped_accepting", IO_STR("service", p->label),
	         IO_U64("open", tp_open(p)));
	tp_maybe_drained(p);
}

void tcp_proxy_abort_all(struct tcp_proxy *p)
{
	while (!list_empty(&p->conns))
		tp_conn_end(list_item(p->conns.first, struct tp_conn, link), TP_HOW_ABORTED,
		            "abort_all");
}

uint32_t tcp_proxy_open_connections(const struct tcp_proxy *p)
{
	return tp_open(p);
}

void tcp_proxy_get_stats(const struct tcp_proxy *p, struct tcp_proxy_stats *out)
{
	*out = p->stats;
}

void tcp_proxy_free(struct tcp_proxy *p)
{
	struct io *io;

	if (!p)
		return;
	io = p->io;
	p->tearing_down = true;
	tcp_proxy_abort_all(p);
	tp_close_listeners(p);
	event_gap_stop(&p->refuse_gap);
	if (io_timer_armed(&p->drain_timer))
		io->ops->timer_disarm(io, &p->drain_timer);
	free(p->spare);
	free(p);
}

/* ---- the Service Proxy ops (proxy/svc_proxy.h) ---------------------------- */

static struct tcp_proxy *tp_from_svc(struct svc_proxy *sp)
{
	CHECK(sp->ops == &tcp_proxy_svc_ops);
	return (struct tcp_proxy *)sp;
}

static int tp_svc_create(struct svc_proxy **out, struct io *io, const struct svc_proxy_config *cfg)
{
	const struct tcp_proxy_config tc = {
	    .label = cfg->label,
	    .target = cfg->target,
	    .tls = cfg->tls,
	};
	struct tcp_proxy *p;
	int rc = tcp_proxy_new(&p, io, &tc);

	*out = rc == 0 ? &p->base : NULL;
	return rc;
}

static int tp_svc_listen(struct svc_proxy *sp, const struct io_addr *addr)
{
	return tcp_proxy_listen(tp_from_svc(sp), addr);
}

/* Only the target can change in place; an unchanged one is no event. */
static int tp_svc_update(struct svc_proxy *sp, const struct svc_proxy_config *cfg)
{
	struct tcp_proxy *p = tp_from_svc(sp);

	if (cfg->tls && (!p->config.tls || !tls_ctx_is_server(cfg->tls)))
		return -EINVAL; /* TLS-terminated stays so: only its context changes */
	if (!io_addr_equal(&cfg->target, &p->config.target, true))
		tcp_proxy_set_target(p, &cfg->target);
	if (cfg->tls)
		p->config.tls = cfg->tls;
	return 0;
}

static void tp_svc_stop_accepting(struct svc_proxy *sp)
{
	tcp_proxy_stop_accepting(tp_from_svc(sp));
}

static void tp_svc_abort_all(struct svc_proxy *sp)
{
	tcp_proxy_abort_all(tp_from_svc(sp));
}

static size_t tp_svc_open_connections(const struct svc_proxy *sp)
{
	CHECK(sp->ops == &tcp_proxy_svc_ops);
	return tcp_proxy_open_connections((const struct tcp_proxy *)sp);
}

static void tp_svc_free(struct svc_proxy *sp)
{
	tcp_proxy_free(tp_from_svc(sp));
}

const struct svc_proxy_ops tcp_proxy_svc_ops = {
    .name = "l4",
    .create = tp_svc_create,
    .listen = tp_svc_listen,
    .update = tp_svc_update,
    .stop_accepting = tp_svc_stop_accepting,
    .abort_all = tp_svc_abort_all,
    .open_connections = tp_svc_open_connections,
    .free = tp_svc_free,
};
