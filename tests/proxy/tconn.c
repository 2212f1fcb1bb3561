/* The whole-daemon tests' TCP client (see tconn.h). */
#include "tests/proxy/tconn.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void tconn_flush(struct tconn *c)
{
	while (c->connected && c->tx_off < c->tx_len) {
		ssize_t w =
		    c->io->ops->tcp_write(c->io, c->h, c->tx + c->tx_off, c->tx_len - c->tx_off);
		if (w <= 0)
			break;
		c->tx_off += (size_t)w;
	}
}

static void tconn_cb(void *ctx, int h, unsigned events)
{
	struct tconn *c = ctx;
	(void)h;

	if (events & IO_WRITABLE) {
		c->connected = true;
		tconn_flush(c);
	}
	if (events & (IO_READABLE | IO_ERROR)) {
		for (;;) {
			char buf[4096];
			ssize_t n = c->io->ops->tcp_read(c->io, c->h, buf, sizeof(buf));
			if (n == 0)
				c->eof = true;
			if (n < 0 && n != -EAGAIN)
				c->err = (int)n;
			if (n <= 0)
				break;
			size_t room = sizeof(c->rx) - 1 - c->rx_len;
			size_t take = (size_t)n < room ? (size_t)n : room;
			memcpy(c->rx + c->rx_len, buf, take);
			c->rx_len += take;
			c->rx[c->rx_len] = '\0';
		}
	}
}

int tconn_open(struct tconn *c, struct io *io, const struct io_addr *to, const char *tx)
{
	memset(c, 0, sizeof(*c));
	c->io = io;
	c->tx = tx;
	c->tx_len = tx ? strlen(tx) : 0;
	c->h = io->ops->tcp_connect(io, to, NULL, tconn_cb, c);
	return c->h;
}

void tconn_send(struct tconn *c, const char *tx)
{
	c->tx = tx;
	c->tx_len = strlen(tx);
	c->tx_off = 0;
	c->rx_len = 0;
	c->rx[0] = '\0';
	tconn_flush(c);
}

void tconn_close(struct tconn *c)
{
	c->io->ops->close(c->io, c->h, false);
}

bool tconn_has(void *wait)
{
	struct tconn_wait *w = wait;
	return w->c->err || w->c->eof || strstr(w->c->rx, w->want);
}

bool tconn_up(void *conn)
{
	struct tconn *c = conn;
	return c->connected || c->err;
}

bool tconn_finished(void *conn)
{
	struct tconn *c = conn;
	return c->eof || c->err;
}

void tconn_echo_roundtrip(struct dpf *f, struct tconn *c, const char *msg, uint64_t timeout_us)
{
	struct tconn_wait w = {c, msg};

	tconn_send(c, msg);
	cr_assert(dpf_run_until(f, tconn_has, &w, timeout_us), "no echo of %s", msg);
	cr_assert_eq(c->err, 0, "echo of %s: error %d", msg, c->err);
	cr_assert(strstr(c->rx, msg), "echo of %s: got %s", msg, c->rx);
}
