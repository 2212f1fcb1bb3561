/* See io_tap.h. */
#include "tests/lib/io/io_tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct io *tap_inner(struct io *io)
{
	return ((struct io_tap *)(void *)io)->inner;
}

static int tap_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                          void *ctx)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_listen(in, local, backlog, fn, ctx);
}

static int tap_tcp_connect(struct io *io, const struct io_addr *remote, const struct io_addr *local,
                           io_sock_fn fn, void *ctx)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_connect(in, remote, local, fn, ctx);
}

static int tap_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
                          void *ctx)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_accept(in, listener, peer, fn, ctx);
}

static ssize_t tap_tcp_read(struct io *io, int handle, void *buf, size_t len)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_read(in, handle, buf, len);
}

static ssize_t tap_tcp_write(struct io *io, int handle, const void *buf, size_t len)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_write(in, handle, buf, len);
}

static int tap_tcp_shutdown(struct io *io, int handle)
{
	struct io *in = tap_inner(io);
	return in->ops->tcp_shutdown(in, handle);
}

static int tap_sock_name(struct io *io, int handle, bool peer, struct io_addr *out)
{
	struct io *in = tap_inner(io);
	return in->ops->sock_name(in, handle, peer, out);
}

static int tap_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	struct io *in = tap_inner(io);
	return in->ops->udp_open(in, local, fn, ctx);
}

static int tap_udp_send(struct io *io, int handle, const void *data, size_t len,
                        const struct io_addr *dst)
{
	struct io *in = tap_inner(io);
	return in->ops->udp_send(in, handle, data, len, dst);
}

static int tap_close(struct io *io, int handle, bool abort_conn)
{
	struct io *in = tap_inner(io);
	return in->ops->close(in, handle, abort_conn);
}

static void tap_handle_count(struct io *io, size_t *in_use, size_t *max)
{
	struct io *in = tap_inner(io);
	in->ops->handle_count(in, in_use, max);
}

static int tap_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	struct io *in = tap_inner(io);
	return in->ops->tun_attach(in, fn, ctx);
}

static int tap_tun_write(struct io *io, const void *pkt, size_t len)
{
	struct io *in = tap_inner(io);
	return in->ops->tun_write(in, pkt, len);
}

static int tap_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io *in = tap_inner(io);
	return in->ops->tun_addr_add(in, addr, prefix_len);
}

static int tap_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io *in = tap_inner(io);
	return in->ops->tun_addr_del(in, addr, prefix_len);
}

static void tap_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us)
{
	struct io *in = tap_inner(io);
	in->ops->timer_arm(in, timer, delay_us);
}

static void tap_timer_disarm(struct io *io, struct io_timer *timer)
{
	struct io *in = tap_inner(io);
	in->ops->timer_disarm(in, timer);
}

static uint64_t tap_now_us(struct io *io)
{
	struct io *in = tap_inner(io);
	return in->ops->now_us(in);
}

static uint64_t tap_wall_us(struct io *io)
{
	struct io *in = tap_inner(io);
	return in->ops->wall_us(in);
}

static uint64_t tap_random_u64(struct io *io)
{
	struct io *in = tap_inner(io);
	return in->ops->random_u64(in);
}

static void tap_random_secret(struct io *io, void *buf, size_t len)
{
	struct io *in = tap_inner(io);
	in->ops->random_secret(in, buf, len);
}

static void tap_emit(struct io *io, const char *type, const char *fields)
{
	struct io_tap *tap = (struct io_tap *)(void *)io;
	struct io *in = tap->inner;

	if (tap->echo)
		fprintf(stderr, "event %s {%s}\n", type, fields);
	if (tap->count < IO_TAP_EVENTS_MAX) {
		struct io_tap_event *e = &tap->events[tap->count++];
		snprintf(e->type, sizeof(e->type), "%s", type);
		snprintf(e->fields, sizeof(e->fields), "%s", fields);
	} else {
		tap->dropped++;
	}
	in->ops->emit(in, type, fields);
}

struct io_tap *io_tap_new(struct io *inner)
{
	struct io_tap *tap = calloc(1, sizeof(*tap));

	if (!tap)
		return NULL;
	tap->events = calloc(IO_TAP_EVENTS_MAX, sizeof(*tap->events));
	if (!tap->events) {
		free(tap);
		return NULL;
	}
	tap->inner = inner;
	tap->ops = (struct io_ops){
	    .tcp_listen = tap_tcp_listen,
	    .tcp_connect = tap_tcp_connect,
	    .tcp_accept = tap_tcp_accept,
	    .tcp_read = tap_tcp_read,
	    .tcp_write = tap_tcp_write,
	    .tcp_shutdown = tap_tcp_shutdown,
	    .sock_name = tap_sock_name,
	    .udp_open = tap_udp_open,
	    .udp_send = tap_udp_send,
	    .close = tap_close,
	    .handle_count = tap_handle_count,
	    .tun_attach = tap_tun_attach,
	    .tun_write = tap_tun_write,
	    .tun_addr_add = tap_tun_addr_add,
	    .tun_addr_del = tap_tun_addr_del,
	    .timer_arm = tap_timer_arm,
	    .timer_disarm = tap_timer_disarm,
	    .now_us = tap_now_us,
	    .wall_us = tap_wall_us,
	    .random_u64 = tap_random_u64,
	    .random_secret = tap_random_secret,
	    .emit = tap_emit,
	};
	tap->io.ops = &tap->ops;
	tap->io.node_name = inner->node_name;
	tap->io.fs = inner->fs;
	tap->echo = getenv("TAP_EVENTS") != NULL;
	return tap;
}

void io_tap_free(struct io_tap *tap)
{
	if (!tap)
		return;
	free(tap->events);
	free(tap);
}

static bool tap_match(const struct io_tap_event *e, const char *type, const char *needle)
{
	return strcmp(e->type, type) == 0 && (!needle || strstr(e->fields, needle));
}

size_t io_tap_count(const struct io_tap *tap, const char *type, const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < tap->count; i++)
		if (tap_match(&tap->events[i], type, needle))
			n++;
	return n;
}

const struct io_tap_event *io_tap_last(const struct io_tap *tap, const char *type,
                                       const char *needle)
{
	for (size_t i = tap->count; i > 0; i--)
		if (tap_match(&tap->events[i - 1], type, needle))
			return &tap->events[i - 1];
	return NULL;
}

void io_tap_dump(const struct io_tap *tap)
{
	for (size_t i = 0; i < tap->count; i++)
		fprintf(stderr, "  event: %s {%s}\n", tap->events[i].type, tap->events[i].fields);
	if (tap->dropped)
		fprintf(stderr, "  (%zu more events not kept)\n", tap->dropped);
}
