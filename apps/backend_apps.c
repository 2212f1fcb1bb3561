/* Backend programs on the seam (see backend_apps.h). */
#include "apps/backend_apps.h"
#include "lib/base/check.h"
#include "lib/base/list.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ba_conn {
	struct backend_tcp *b;
	struct list_node link; /* in the backend's conns */
	uint64_t id;
	int handle;
	bool eof;
	bool write_blocked;
	uint64_t bytes_in, bytes_out;
	uint32_t off, len; /* echo: pending bytes in buf[off, len) */
	uint8_t buf[];     /* BACKEND_TCP_ECHO_BUF_BYTES for echo, none for sink */
};

struct backend_tcp {
	struct io *io;
	struct backend_tcp_config config;
	int listener;
	struct io_addr local;
	struct list_head conns;
	uint64_t next_id;
	struct backend_tcp_stats stats;
};

struct backend_udp_echo {
	struct io *io;
	int handle;
	struct io_addr local;
	struct backend_udp_stats stats;
};

static const char *ba_app_name(const struct backend_tcp *b)
{
	return b->config.kind == BACKEND_TCP_ECHO ? "tcp-echo" : "tcp-sink";
}

static void ba_conn_close(struct ba_conn *c, bool reset, const char *how)
{
	struct backend_tcp *b = c->b;
	struct io *io = b->io;

	io->ops->close(io, c->handle, reset);
	list_remove(&b->conns, &c->link);
	CHECK(b->stats.open > 0);
	b->stats.open--;
	b->stats.closed++;
	io_event(io, "backend_conn_closed", IO_STR("app", ba_app_name(b)), IO_U64("conn", c->id),
	         IO_U64("bytes_in", c->bytes_in), IO_U64("bytes_out", c->bytes_out),
	         IO_STR("how", how));
	free(c);
}

/* True when the configured fault says this connection must reset now. */
static bool ba_fault_due(const struct ba_conn *c)
{
	uint64_t limit = c->b->config.reset_after_bytes;

	return limit && c->bytes_in >= limit;
}

/* Echo: writes what is pending, reads more when the buffer has room, and
 * closes after the client's EOF once everything went back. Returns true
 * when the connection was closed. */
static bool ba_echo_pump(struct ba_conn *c)
{
	struct backend_tcp *b = c->b;
	struct io *io = b->io;

	for (;;) {
		bool progress = false;

		if (c->len > c->off && !c->write_blocked) {
			ssize_t w =
			    io->ops->tcp_write(io, c->handle, c->buf + c->off, c->len - c->off);
			if (w == -EAGAIN) {
				c->write_blocked = true;
			} else if (w < 0) {
				ba_conn_close(c, true, "write_error");
				return true;
			} else {
				c->off += (uint32_t)w;
				c->bytes_out += (uint64_t)w;
				b->stats.bytes_out += (uint64_t)w;
				if (c->off == c->len)
					c->off = c->len = 0;
				else
					c->write_blocked = true;
				progress = w > 0;
			}
		}
		if (!c->eof && c->len < BACKEND_TCP_ECHO_BUF_BYTES) {
			ssize_t r = io->ops->tcp_read(io, c->handle, c->buf + c->len,
			                              BACKEND_TCP_ECHO_BUF_BYTES - c->len);
			if (r == 0) {
				c->eof = true;
				progress = true;
			} else if (r > 0) {
				c->len += (uint32_t)r;
				c->bytes_in += (uint64_t)r;
				b->stats.bytes_in += (uint64_t)r;
				if (ba_fault_due(c)) {
					ba_conn_close(c, true, "fault_reset");
					return true;
				}
				progress = true;
			} else if (r != -EAGAIN) {
				ba_conn_close(c, true, "reset");
				return true;
			}
		}
		if (c->eof && c->len == c->off) {
			ba_conn_close(c, false, "normal");
			return true;
		}
		if (!progress)
			return false;
	}
}

/* Sink: reads everything queued and forgets it; closes at EOF. */
static void ba_sink_pump(struct ba_conn *c)
{
	struct backend_tcp *b = c->b;
	struct io *io = b->io;
	uint8_t chunk[BACKEND_TCP_SINK_CHUNK];

	for (;;) {
		ssize_t r = io->ops->tcp_read(io, c->handle, chunk, sizeof(chunk));
		if (r == -EAGAIN)
			return;
		if (r == 0) {
			ba_conn_close(c, false, "normal");
			return;
		}
		if (r < 0) {
			ba_conn_close(c, true, "reset");
			return;
		}
		c->bytes_in += (uint64_t)r;
		b->stats.bytes_in += (uint64_t)r;
		if (ba_fault_due(c)) {
			ba_conn_close(c, true, "fault_reset");
			return;
		}
	}
}

static void ba_conn_cb(void *ctx, int handle, unsigned events)
{
	struct ba_conn *c = ctx;

	CHECK(handle == c->handle);
	if (events & IO_ERROR) {
		ba_conn_close(c, true, "reset");
		return;
	}
	if (events & IO_WRITABLE)
		c->write_blocked = false;
	if (c->b->config.kind == BACKEND_TCP_ECHO)
		ba_echo_pump(c);
	else
		ba_sink_pump(c);
}

static void ba_noop_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

static void ba_listener_cb(void *ctx, int handle, unsigned events)
{
	struct backend_tcp *b = ctx;
	struct io *io = b->io;
	size_t extra = b->config.kind == BACKEND_TCP_ECHO ? BACKEND_TCP_ECHO_BUF_BYTES : 0;

	(void)events;
	CHECK(handle == b->listener);
	for (;;) {
		struct io_addr peer;
		char text[IO_ADDR_STRLEN];
		struct ba_conn *c = NULL;
		int h;

		if (b->stats.open < b->config.max_conns)
			c = malloc(sizeof(*c) + extra);
		if (!c) {
			h = io->ops->tcp_accept(io, handle, NULL, ba_noop_cb, NULL);
			if (h < 0)
				return;
			io->ops->close(io, h, true);
			b->stats.refused_over_limit++;
			io_event(io, "limit_hit", IO_STR("app", ba_app_name(b)),
			         IO_STR("limit", "backend_conns_max"),
			         IO_U64("max", b->config.max_conns));
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->b = b;
		h = io->ops->tcp_accept(io, handle, &peer, ba_conn_cb, c);
		if (h < 0) {
			free(c);
			return;
		}
		c->handle = h;
		c->id = ++b->next_id;
		list_push_front(&b->conns, &c->link);
		b->stats.open++;
		b->stats.accepted++;
		if (!io->events_off)
			io_event(io, "backend_conn_accepted", IO_STR("app", ba_app_name(b)),
			         IO_U64("conn", c->id),
			         IO_STR("peer", io_addr_format(&peer, true, text, sizeof(text))));
		/* Bytes may already be queued; the seam reports only new ones. */
		ba_conn_cb(c, h, IO_READABLE);
	}
}

int backend_tcp_start(struct io *io, const struct backend_tcp_config *config,
                      struct backend_tcp **out)
{
	struct backend_tcp *b;
	char text[IO_ADDR_STRLEN];

	CHECK(io && config && out);
	*out = NULL;
	if (config->kind != BACKEND_TCP_ECHO && config->kind != BACKEND_TCP_SINK)
		return -EINVAL;
	if (config->max_conns > BACKEND_TCP_CONNS_MAX_LIMIT)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->io = io;
	b->config = *config;
	if (!b->config.max_conns)
		b->config.max_conns = BACKEND_TCP_CONNS_MAX_DEFAULT;
	b->listener =
	    io->ops->tcp_listen(io, &config->local, BACKEND_TCP_BACKLOG, ba_listener_cb, b);
	if (b->listener < 0) {
		int err = b->listener;
		free(b);
		return err;
	}
	if (io->ops->sock_name(io, b->listener, false, &b->local) < 0)
		b->local = config->local;
	io_event(io, "backend_listening", IO_STR("app", ba_app_name(b)),
	         IO_STR("local", io_addr_format(&b->local, true, text, sizeof(text))));
	*out = b;
	return 0;
}

int backend_tcp_echo_start(struct io *io, const struct io_addr *local, struct backend_tcp **out)
{
	const struct backend_tcp_config cfg = {.kind = BACKEND_TCP_ECHO, .local = *local};

	return backend_tcp_start(io, &cfg, out);
}

int backend_tcp_sink_start(struct io *io, const struct io_addr *local, struct backend_tcp **out)
{
	const struct backend_tcp_config cfg = {.kind = BACKEND_TCP_SINK, .local = *local};

	return backend_tcp_start(io, &cfg, out);
}

void backend_tcp_local_addr(const struct backend_tcp *b, struct io_addr *out)
{
	*out = b->local;
}

void backend_tcp_get_stats(const struct backend_tcp *b, struct backend_tcp_stats *out)
{
	*out = b->stats;
}

void backend_tcp_stop(struct backend_tcp *b)
{
	if (b->listener >= 0)
		b->io->ops->close(b->io, b->listener, false);
	b->listener = -1;
}

void backend_tcp_free(struct backend_tcp *b)
{
	if (!b)
		return;
	backend_tcp_stop(b);
	while (!list_empty(&b->conns))
		ba_conn_close(list_item(b->conns.first, struct ba_conn, link), true, "stopped");
	free(b);
}

static void ba_udp_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                      const struct io_addr *src)
{
	struct backend_udp_echo *b = ctx;
	struct io *io = b->io;

	CHECK(handle == b->handle);
	if (len > BACKEND_UDP_DGRAM_MAX)
		return;
	if (io->ops->udp_send(io, handle, data, len, src) < 0) {
		b->stats.send_errors++;
		return;
	}
	b->stats.datagrams++;
	b->stats.bytes += len;
}

int backend_udp_echo_start(struct io *io, const struct io_addr *local,
                           struct backend_udp_echo **out)
{
	struct backend_udp_echo *b;
	char text[IO_ADDR_STRLEN];

	CHECK(io && local && out);
	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->io = io;
	b->handle = io->ops->udp_open(io, local, ba_udp_cb, b);
	if (b->handle < 0) {
		int err = b->handle;
		free(b);
		return err;
	}
	if (io->ops->sock_name(io, b->handle, false, &b->local) < 0)
		b->local = *local;
	io_event(io, "backend_listening", IO_STR("app", "udp-echo"),
	         IO_STR("local", io_addr_format(&b->local, true, text, sizeof(text))));
	*out = b;
	return 0;
}

void backend_udp_echo_local_addr(const struct backend_udp_echo *b, struct io_addr *out)
{
	*out = b->local;
}

void backend_udp_echo_get_stats(const struct backend_udp_echo *b, struct backend_udp_stats *out)
{
	*out = b->stats;
}

void backend_udp_echo_free(struct backend_udp_echo *b)
{
	if (!b)
		return;
	b->io->ops->close(b->io, b->handle, false);
	free(b);
}
