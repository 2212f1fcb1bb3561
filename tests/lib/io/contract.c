/* The seam contract: what every backend of lib/io/io.h promises, checked
 * with the same code against epoll (real sockets in namespaces) and sim
 * (ns-3). Only fixture.h and io.h are used here; every wait is in the
 * world's time through fixture_run_until, so the suite means the same in
 * simulated and wall-clock time.
 *
 * Each test keeps its fixture in `contract_fixture` so the .fini hook frees
 * it (and the namespaces behind it) even when an assertion fails inside a
 * callback. */
#include "lib/io/io_event.h"
#include "tests/lib/io/fixture.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CONTRACT_SUITE
#define CONTRACT_SUITE seam
#endif

/* How late a timer may fire. Real time on a busy 2-core machine is noisy;
 * the simulator builds this file with 0 (a timer fires exactly on time). */
#ifndef CONTRACT_TIMER_SLACK_US
#define CONTRACT_TIMER_SLACK_US 50000
#endif

/* Generous world-time bound for anything that should take milliseconds. */
#define WORLD_TIMEOUT_US (20ull * 1000 * 1000)

#define NO_HANDLE (-1)

#define contract_container_of(ptr, type, member)                                                   \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static struct fixture *contract_fixture;

static void contract_teardown(void)
{
	if (contract_fixture)
		fixture_free(contract_fixture);
	contract_fixture = NULL;
}

/* A fixture for one test, or a skipped test when the machine can't run it. */
static struct fixture *contract_setup(bool with_tun)
{
	const char *reason = NULL;

	contract_fixture = fixture_new(with_tun, &reason);
	if (!contract_fixture)
		prereq_missing("fixture unavailable: %s", reason ? reason : "(no reason given)");
	return contract_fixture;
}

static bool flag_is_set(void *arg)
{
	return *(const bool *)arg;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* Lets the world run for `duration_us` of its own time. */
static void run_for(struct fixture *f, uint64_t duration_us)
{
	fixture_run_until(f, never, NULL, duration_us);
}

/* For handles whose events a test ignores. */
static void noop_sock_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

static const char *fmt_addr(const struct io_addr *a, char *buf)
{
	return io_addr_format(a, true, buf, IO_ADDR_STRLEN);
}

/* Listens on node0's underlay address with a kernel-chosen port, returning
 * the handle and the bound address (port filled in). */
static int listen_on_node0(struct fixture *f, io_sock_fn fn, void *ctx, struct io_addr *bound)
{
	struct io *io = f->node[0].io;
	struct io_addr local = f->node[0].underlay;

	local.port = 0;
	int h = io->ops->tcp_listen(io, &local, 16, fn, ctx);
	cr_assert_geq(h, 0, "tcp_listen failed: %d", h);
	int rc = io->ops->sock_name(io, h, false, bound);
	cr_assert_eq(rc, 0, "sock_name(listener) failed: %d", rc);
	cr_assert_neq(bound->port, 0, "listener has no port");
	cr_assert(io_addr_equal(bound, &f->node[0].underlay, false), "listener bound elsewhere");
	return h;
}

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 131u + (i >> 9));
}

/* The n bytes at buf are the pattern from stream offset `at` on. */
static void assert_pattern(const uint8_t *buf, size_t n, size_t at, const char *what)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(buf[i], pattern_byte(at + i), "%s corrupt at byte %zu", what, at + i);
}

/* ---- echo over TCP ---------------------------------------------------- */

#define ECHO_TOTAL  (100u * 1024u)
#define ECHO_CHUNK  4000u
#define ECHO_BUFLEN 16384u

struct echo_test {
	struct fixture *f;
	int listener;
	int server;
	uint8_t srv_buf[ECHO_BUFLEN];
	size_t srv_len, srv_off;
	bool srv_eof;
	int client;
	bool connected;
	size_t sent, received;
	bool done;
};

/* Echoes what it reads; stops reading while a reply is unsent and resumes
 * on IO_WRITABLE, which the contract promises after a short write. */
static void echo_server_pump(struct echo_test *t)
{
	struct io *io = t->f->node[0].io;

	for (;;) {
		while (t->srv_off < t->srv_len) {
			ssize_t n = io->ops->tcp_write(io, t->server, t->srv_buf + t->srv_off,
			                               t->srv_len - t->srv_off);
			if (n == -EAGAIN || n == 0)
				return;
			cr_assert_gt(n, 0, "server write failed: %zd", n);
			t->srv_off += (size_t)n;
		}
		ssize_t n = io->ops->tcp_read(io, t->server, t->srv_buf, sizeof(t->srv_buf));
		if (n == -EAGAIN)
			return;
		cr_assert_geq(n, 0, "server read failed: %zd", n);
		if (n == 0) {
			t->srv_eof = true;
			return;
		}
		t->srv_len = (size_t)n;
		t->srv_off = 0;
	}
}

static void echo_server_cb(void *ctx, int handle, unsigned events)
{
	struct echo_test *t = ctx;

	cr_assert_eq(handle, t->server);
	cr_assert_eq(events & IO_ERROR, 0, "server saw IO_ERROR");
	echo_server_pump(t);
}

static void echo_listener_cb(void *ctx, int handle, unsigned events)
{
	struct echo_test *t = ctx;
	struct io *io = t->f->node[0].io;
	struct io_addr peer;

	cr_assert_eq(handle, t->listener);
	cr_assert(events & IO_READABLE);
	for (;;) {
		int h = io->ops->tcp_accept(io, handle, &peer, echo_server_cb, t);
		if (h == -EAGAIN)
			return;
		cr_assert_geq(h, 0, "accept failed: %d", h);
		cr_assert_eq(t->server, NO_HANDLE, "more than one connection accepted");
		t->server = h;
		/* Data may already be queued; the contract only reports new bytes. */
		echo_server_pump(t);
	}
}

static void echo_client_pump(struct echo_test *t)
{
	struct io *io = t->f->node[1].io;
	uint8_t buf[ECHO_CHUNK];

	while (t->sent < ECHO_TOTAL) {
		size_t len = ECHO_TOTAL - t->sent < ECHO_CHUNK ? ECHO_TOTAL - t->sent : ECHO_CHUNK;
		for (size_t i = 0; i < len; i++)
			buf[i] = pattern_byte(t->sent + i);
		ssize_t n = io->ops->tcp_write(io, t->client, buf, len);
		if (n == -EAGAIN || n == 0)
			break;
		cr_assert_gt(n, 0, "client write failed: %zd", n);
		cr_assert_leq((size_t)n, len);
		t->sent += (size_t)n;
	}
	for (;;) {
		ssize_t n = io->ops->tcp_read(io, t->client, buf, sizeof(buf));
		if (n == -EAGAIN)
			break;
		cr_assert_gt(n, 0, "client read returned %zd after %zu bytes", n, t->received);
		assert_pattern(buf, (size_t)n, t->received, "echo");
		t->received += (size_t)n;
		cr_assert_leq(t->received, ECHO_TOTAL, "echo returned too much");
	}
	if (t->received == ECHO_TOTAL)
		t->done = true;
}

static void echo_client_cb(void *ctx, int handle, unsigned events)
{
	struct echo_test *t = ctx;

	cr_assert_eq(handle, t->client);
	cr_assert_eq(events & IO_ERROR, 0, "client saw IO_ERROR");
	if (events & IO_WRITABLE)
		t->connected = true;
	if (t->connected)
		echo_client_pump(t);
}

Test(CONTRACT_SUITE, tcp_echo_returns_every_byte_in_order, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	static struct echo_test t;
	struct io_addr srv;

	memset(&t, 0, sizeof(t));
	t.f = f;
	t.server = NO_HANDLE;
	t.listener = listen_on_node0(f, echo_listener_cb, &t, &srv);
	struct io *io1 = f->node[1].io;
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, echo_client_cb, &t);
	cr_assert_geq(t.client, 0, "tcp_connect failed: %d", t.client);

	cr_assert(fixture_run_until(f, flag_is_set, &t.done, WORLD_TIMEOUT_US),
	          "echo incomplete: sent %zu received %zu", t.sent, t.received);
	cr_assert_eq(t.sent, ECHO_TOTAL);

	/* A graceful close reaches the server as EOF. */
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert(fixture_run_until(f, flag_is_set, &t.srv_eof, WORLD_TIMEOUT_US),
	          "server never saw EOF after client close");
	struct io *io0 = f->node[0].io;
	cr_assert_eq(io0->ops->close(io0, t.server, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- backpressure ------------------------------------------------------ */

#define PRESS_CHUNK     65536u
#define PRESS_MAX_BYTES (256u * 1024u * 1024u) /* a send path must fill before this */

struct press_test {
	struct fixture *f;
	int listener, server, client;
	bool connected;
	bool refused;      /* a client write returned -EAGAIN or came up short */
	unsigned writable; /* IO_WRITABLE after the connect completed */
	unsigned writable_before_drain;
	bool server_draining;
	bool finished_writing;
	size_t sent, received;
	uint8_t chunk[PRESS_CHUNK];
};

static bool press_all_received(void *arg)
{
	const struct press_test *t = arg;
	return t->finished_writing && t->received == t->sent;
}

static void press_server_drain(struct press_test *t)
{
	struct io *io = t->f->node[0].io;
	uint8_t buf[16384];

	while (t->server_draining) {
		ssize_t n = io->ops->tcp_read(io, t->server, buf, sizeof(buf));
		if (n == -EAGAIN)
			return;
		cr_assert_gt(n, 0, "server read returned %zd", n);
		assert_pattern(buf, (size_t)n, t->received, "stream");
		t->received += (size_t)n;
	}
}

static void press_server_cb(void *ctx, int handle, unsigned events)
{
	struct press_test *t = ctx;

	(void)handle;
	cr_assert_eq(events & IO_ERROR, 0);
	press_server_drain(t);
}

static void press_listener_cb(void *ctx, int handle, unsigned events)
{
	struct press_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	int h = io->ops->tcp_accept(io, handle, NULL, press_server_cb, t);
	if (h == -EAGAIN)
		return;
	cr_assert_geq(h, 0);
	t->server = h;
}

/* Writes until the send path refuses. Once the server drains and a new
 * IO_WRITABLE arrives, one more accepted write finishes the test. */
static void press_client_write(struct press_test *t)
{
	struct io *io = t->f->node[1].io;

	while (!t->finished_writing) {
		for (size_t i = 0; i < PRESS_CHUNK; i++)
			t->chunk[i] = pattern_byte(t->sent + i);
		ssize_t n = io->ops->tcp_write(io, t->client, t->chunk, PRESS_CHUNK);
		if (n == -EAGAIN || n == 0) {
			t->refused = true;
			return;
		}
		cr_assert_gt(n, 0, "client write failed: %zd", n);
		t->sent += (size_t)n;
		cr_assert_lt(t->sent, PRESS_MAX_BYTES, "writes never refused");
		if (t->server_draining && t->writable > t->writable_before_drain)
			t->finished_writing = true;
		else if ((size_t)n < PRESS_CHUNK)
			t->refused = true;
	}
}

static void press_client_cb(void *ctx, int handle, unsigned events)
{
	struct press_test *t = ctx;

	(void)handle;
	cr_assert_eq(events & IO_ERROR, 0);
	if (!(events & IO_WRITABLE))
		return;
	if (t->connected) {
		cr_assert(t->refused, "IO_WRITABLE without a refused write");
		t->writable++;
	}
	t->connected = true;
	press_client_write(t);
}

Test(CONTRACT_SUITE, writable_follows_a_refused_write, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	static struct press_test t;
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv;

	memset(&t, 0, sizeof(t));
	t.f = f;
	t.server = NO_HANDLE;
	t.listener = listen_on_node0(f, press_listener_cb, &t, &srv);
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, press_client_cb, &t);
	cr_assert_geq(t.client, 0);
	cr_assert(fixture_run_until(f, flag_is_set, &t.refused, WORLD_TIMEOUT_US),
	          "the send path never filled (%zu bytes written)", t.sent);
	/* Space frees while data moves into the peer's receive buffer; wait
	 * until the whole path is full and writing stalls. */
	size_t before;
	int rounds = 0;
	do {
		before = t.sent;
		run_for(f, 50000);
		cr_assert_lt(++rounds, 200, "writing never stalled while the peer read nothing");
	} while (t.sent != before);
	cr_assert_neq(t.server, NO_HANDLE);

	/* The server starts reading; bytes already queued were announced
	 * before, so the first drain is ours to start. */
	t.writable_before_drain = t.writable;
	t.server_draining = true;
	press_server_drain(&t);
	cr_assert(fixture_run_until(f, press_all_received, &t, WORLD_TIMEOUT_US),
	          "writable %u (before drain %u) sent %zu received %zu", t.writable,
	          t.writable_before_drain, t.sent, t.received);
	cr_assert_gt(t.writable, t.writable_before_drain);
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.server, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- connection failures --------------------------------------------- */

struct fail_test {
	struct fixture *f;
	int listener;
	int server;
	int client;
	bool connected;
	bool saw_error;
	bool callback_after_error_ok;
	ssize_t read_result; /* first non-EAGAIN read result; 1 = none yet */
	bool got_result;
	bool server_got_hello;
};

static void fail_client_cb(void *ctx, int handle, unsigned events)
{
	struct fail_test *t = ctx;
	struct io *io = t->f->node[1].io;
	uint8_t buf[256];

	cr_assert_eq(handle, t->client);
	if (events & IO_ERROR)
		t->saw_error = true;
	if ((events & IO_WRITABLE) && !t->saw_error && !t->connected) {
		t->connected = true;
		ssize_t n = io->ops->tcp_write(io, handle, "hello", 5);
		cr_assert_eq(n, 5, "write of hello returned %zd", n);
	}
	if (t->got_result)
		return;
	for (;;) {
		ssize_t n = io->ops->tcp_read(io, handle, buf, sizeof(buf));
		if (n == -EAGAIN)
			break;
		if (n > 0)
			continue;
		t->read_result = n;
		t->got_result = true;
		break;
	}
}

Test(CONTRACT_SUITE, connect_to_closed_port_is_refused, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct fail_test t = {.f = f, .server = NO_HANDLE, .read_result = 1};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr closed;

	/* A port that was just in use and is now closed: nothing listens. */
	int l = listen_on_node0(f, noop_sock_cb, NULL, &closed);
	cr_assert_eq(io0->ops->close(io0, l, false), 0);

	t.client = io1->ops->tcp_connect(io1, &closed, NULL, fail_client_cb, &t);
	cr_assert_geq(t.client, 0, "tcp_connect must start, failing later: %d", t.client);
	cr_assert_not(t.saw_error, "callback ran inside tcp_connect");

	cr_assert(fixture_run_until(f, flag_is_set, &t.saw_error, WORLD_TIMEOUT_US),
	          "no IO_ERROR for a refused connect");
	cr_assert_not(t.connected, "refused connect reported IO_WRITABLE first");
	cr_assert_eq(t.read_result, -ECONNREFUSED, "read after refusal returned %zd",
	             t.read_result);
	/* The error sticks until close. */
	uint8_t buf[8];
	cr_assert_eq(io1->ops->tcp_read(io1, t.client, buf, sizeof(buf)), -ECONNREFUSED);
	cr_assert_eq(io1->ops->tcp_write(io1, t.client, "x", 1), -ECONNREFUSED);
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
}

static void reset_server_cb(void *ctx, int handle, unsigned events)
{
	struct fail_test *t = ctx;
	struct io *io = t->f->node[0].io;
	uint8_t buf[64];

	(void)events;
	cr_assert_eq(handle, t->server);
	for (;;) {
		ssize_t n = io->ops->tcp_read(io, handle, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (n == 5 && memcmp(buf, "hello", 5) == 0)
			t->server_got_hello = true;
	}
}

static void fail_listener_cb(void *ctx, int handle, unsigned events)
{
	struct fail_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	for (;;) {
		int h = io->ops->tcp_accept(io, handle, NULL, reset_server_cb, t);
		if (h == -EAGAIN)
			return;
		cr_assert_geq(h, 0, "accept failed: %d", h);
		t->server = h;
		reset_server_cb(t, h, IO_READABLE);
	}
}

Test(CONTRACT_SUITE, abortive_close_resets_the_peer, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct fail_test t = {.f = f, .server = NO_HANDLE, .read_result = 1};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv;

	t.listener = listen_on_node0(f, fail_listener_cb, &t, &srv);
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, fail_client_cb, &t);
	cr_assert_geq(t.client, 0);
	cr_assert(fixture_run_until(f, flag_is_set, &t.server_got_hello, WORLD_TIMEOUT_US),
	          "server never received hello");
	cr_assert_not(t.got_result, "client read ended early: %zd", t.read_result);

	cr_assert_eq(io0->ops->close(io0, t.server, true), 0);
	cr_assert(fixture_run_until(f, flag_is_set, &t.got_result, WORLD_TIMEOUT_US),
	          "client never noticed the reset");
	cr_assert_eq(t.read_result, -ECONNRESET, "read after RST returned %zd", t.read_result);
	cr_assert(t.saw_error, "reset not reported as IO_ERROR");
	uint8_t buf[8];
	cr_assert_eq(io1->ops->tcp_read(io1, t.client, buf, sizeof(buf)), -ECONNRESET);
	cr_assert_eq(io1->ops->tcp_write(io1, t.client, "x", 1), -ECONNRESET);
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- half-close ------------------------------------------------------- */

struct half_test {
	struct fixture *f;
	int listener, server, client;
	char srv_got[64];
	size_t srv_len;
	bool srv_eof;
	bool replied;
	char cli_got[64];
	size_t cli_len;
	bool cli_eof;
	bool cli_shut;
};

/* Reads handle until it would block, appending to got[*len..cap); true
 * once the peer's end of stream was read. */
static bool read_into(struct io *io, int handle, char *got, size_t cap, size_t *len,
                      const char *who)
{
	for (;;) {
		ssize_t n = io->ops->tcp_read(io, handle, got + *len, cap - *len);
		if (n == -EAGAIN)
			return false;
		cr_assert_geq(n, 0, "%s read failed: %zd", who, n);
		if (n == 0)
			return true;
		*len += (size_t)n;
		cr_assert_lt(*len, cap);
	}
}

static void half_server_cb(void *ctx, int handle, unsigned events)
{
	struct half_test *t = ctx;
	struct io *io = t->f->node[0].io;

	cr_assert_eq(events & IO_ERROR, 0);
	if (read_into(io, handle, t->srv_got, sizeof(t->srv_got), &t->srv_len, "server"))
		t->srv_eof = true;
	if (t->srv_eof && !t->replied) {
		/* The client's FIN closed only its sending side: we still write. */
		ssize_t n = io->ops->tcp_write(io, handle, "reply", 5);
		cr_assert_eq(n, 5, "server write after peer FIN returned %zd", n);
		t->replied = true;
		cr_assert_eq(io->ops->close(io, handle, false), 0);
	}
}

static void half_listener_cb(void *ctx, int handle, unsigned events)
{
	struct half_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	for (;;) {
		int h = io->ops->tcp_accept(io, handle, NULL, half_server_cb, t);
		if (h == -EAGAIN)
			return;
		cr_assert_geq(h, 0);
		t->server = h;
		half_server_cb(t, h, IO_READABLE);
	}
}

static void half_client_cb(void *ctx, int handle, unsigned events)
{
	struct half_test *t = ctx;
	struct io *io = t->f->node[1].io;

	cr_assert_eq(events & IO_ERROR, 0);
	if ((events & IO_WRITABLE) && !t->cli_shut) {
		cr_assert_eq(io->ops->tcp_write(io, handle, "request", 7), 7);
		cr_assert_eq(io->ops->tcp_shutdown(io, handle), 0);
		t->cli_shut = true;
	}
	if (!t->cli_shut)
		return;
	if (read_into(io, handle, t->cli_got, sizeof(t->cli_got), &t->cli_len, "client"))
		t->cli_eof = true;
}

Test(CONTRACT_SUITE, half_close_delivers_eof_and_keeps_the_other_direction,
     .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct half_test t = {.f = f, .server = NO_HANDLE};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv;

	t.listener = listen_on_node0(f, half_listener_cb, &t, &srv);
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, half_client_cb, &t);
	cr_assert_geq(t.client, 0);

	cr_assert(fixture_run_until(f, flag_is_set, &t.cli_eof, WORLD_TIMEOUT_US),
	          "client never saw EOF (server eof=%d replied=%d client got %zu bytes)", t.srv_eof,
	          t.replied, t.cli_len);
	cr_assert(t.srv_eof);
	cr_assert_eq(t.srv_len, 7);
	cr_assert_eq(memcmp(t.srv_got, "request", 7), 0);
	cr_assert_eq(t.cli_len, 5, "client got %zu bytes before EOF", t.cli_len);
	cr_assert_eq(memcmp(t.cli_got, "reply", 5), 0);
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- write after the peer has gone ------------------------------------ */

struct gone_test {
	struct fixture *f;
	int listener, server, client;
	bool connected;
	bool server_closed;
	bool client_eof;
	ssize_t write_error;
	bool write_failed;
	size_t writes_ok;
	struct io_timer tick;
};

static void gone_server_accept_cb(void *ctx, int handle, unsigned events)
{
	struct gone_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	for (;;) {
		int h = io->ops->tcp_accept(io, handle, NULL, noop_sock_cb, NULL);
		if (h == -EAGAIN)
			return;
		cr_assert_geq(h, 0);
		/* Gone at once, gracefully: the client only learns by writing. */
		cr_assert_eq(io->ops->close(io, h, false), 0);
		t->server_closed = true;
	}
}

static void gone_client_cb(void *ctx, int handle, unsigned events)
{
	struct gone_test *t = ctx;
	struct io *io = t->f->node[1].io;
	uint8_t buf[64];

	if (events & IO_WRITABLE)
		t->connected = true;
	for (;;) {
		ssize_t n = io->ops->tcp_read(io, handle, buf, sizeof(buf));
		if (n == 0)
			t->client_eof = true;
		if (n <= 0)
			break;
	}
}

/* Writes a little every few milliseconds until a write fails. */
static void gone_tick(struct io_timer *timer)
{
	struct gone_test *t = contract_container_of(timer, struct gone_test, tick);
	struct io *io = t->f->node[1].io;
	uint8_t buf[1024];

	memset(buf, 'w', sizeof(buf));
	/* Write only once the FIN was read, so the error must come from writing. */
	if (t->connected && t->client_eof) {
		ssize_t n = io->ops->tcp_write(io, t->client, buf, sizeof(buf));
		if (n < 0 && n != -EAGAIN) {
			t->write_error = n;
			t->write_failed = true;
			return;
		}
		if (n > 0)
			t->writes_ok++;
	}
	io->ops->timer_arm(io, &t->tick, 5000);
}

Test(CONTRACT_SUITE, write_after_peer_closed_eventually_fails, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	static struct gone_test t;
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv;

	memset(&t, 0, sizeof(t));
	t.f = f;
	t.tick.fn = gone_tick;
	t.listener = listen_on_node0(f, gone_server_accept_cb, &t, &srv);
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, gone_client_cb, &t);
	cr_assert_geq(t.client, 0);
	io1->ops->timer_arm(io1, &t.tick, 5000);

	cr_assert(fixture_run_until(f, flag_is_set, &t.write_failed, WORLD_TIMEOUT_US),
	          "writes kept succeeding after the peer closed (%zu ok, eof=%d)", t.writes_ok,
	          t.client_eof);
	cr_assert_lt(t.write_error, 0);
	cr_assert(t.client_eof, "client never read EOF");
	if (io_timer_armed(&t.tick))
		io1->ops->timer_disarm(io1, &t.tick);
	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- addresses, accept, close ----------------------------------------- */

struct name_test {
	struct fixture *f;
	int listener, server, client;
	struct io_addr accept_peer;
	bool connected, accepted;
};

static bool name_both_ready(void *arg)
{
	const struct name_test *t = arg;
	return t->connected && t->accepted;
}

static void name_listener_cb(void *ctx, int handle, unsigned events)
{
	struct name_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	int h = io->ops->tcp_accept(io, handle, &t->accept_peer, noop_sock_cb, NULL);
	if (h == -EAGAIN)
		return;
	cr_assert_geq(h, 0);
	t->server = h;
	t->accepted = true;
}

static void name_client_cb(void *ctx, int handle, unsigned events)
{
	struct name_test *t = ctx;

	(void)handle;
	cr_assert_eq(events & IO_ERROR, 0);
	if (events & IO_WRITABLE)
		t->connected = true;
}

Test(CONTRACT_SUITE, sock_name_reports_local_and_peer_endpoints, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct name_test t = {.f = f, .server = NO_HANDLE};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv, local1 = f->node[1].underlay, a, b;
	char s1[IO_ADDR_STRLEN], s2[IO_ADDR_STRLEN];

	t.listener = listen_on_node0(f, name_listener_cb, &t, &srv);
	local1.port = 0;
	t.client = io1->ops->tcp_connect(io1, &srv, &local1, name_client_cb, &t);
	cr_assert_geq(t.client, 0);
	cr_assert(fixture_run_until(f, name_both_ready, &t, WORLD_TIMEOUT_US));

	/* Client: local is node1's underlay address, peer is the listener. */
	cr_assert_eq(io1->ops->sock_name(io1, t.client, false, &a), 0);
	cr_assert(io_addr_equal(&a, &f->node[1].underlay, false), "client local %s",
	          fmt_addr(&a, s1));
	cr_assert_neq(a.port, 0);
	cr_assert_eq(io1->ops->sock_name(io1, t.client, true, &b), 0);
	cr_assert(io_addr_equal(&b, &srv, true), "client peer %s, want %s", fmt_addr(&b, s1),
	          fmt_addr(&srv, s2));

	/* Server: the mirror image, and accept's `peer` agrees. */
	struct io_addr c, d;
	cr_assert_eq(io0->ops->sock_name(io0, t.server, false, &c), 0);
	cr_assert(io_addr_equal(&c, &srv, true), "server local %s", fmt_addr(&c, s1));
	cr_assert_eq(io0->ops->sock_name(io0, t.server, true, &d), 0);
	cr_assert(io_addr_equal(&d, &a, true), "server peer %s, client local %s", fmt_addr(&d, s1),
	          fmt_addr(&a, s2));
	cr_assert(io_addr_equal(&t.accept_peer, &a, true), "accept peer %s",
	          fmt_addr(&t.accept_peer, s1));

	cr_assert_eq(io1->ops->close(io1, t.client, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.server, false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

Test(CONTRACT_SUITE, accept_returns_eagain_when_nothing_is_pending, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct io *io0 = f->node[0].io;
	struct io_addr srv;
	int l = listen_on_node0(f, noop_sock_cb, NULL, &srv);
	cr_assert_eq(io0->ops->tcp_accept(io0, l, NULL, noop_sock_cb, NULL), -EAGAIN);
	run_for(f, 20000);
	cr_assert_eq(io0->ops->tcp_accept(io0, l, NULL, noop_sock_cb, NULL), -EAGAIN);
	cr_assert_eq(io0->ops->close(io0, l, false), 0);
}

/* ---- running out of handles (REL-1) ------------------------------------ */

#define STARVE_MAX_HANDLES 4 /* node 0: the listener and three connections */
#define STARVE_CLIENTS     6

struct starve_test {
	struct fixture *f;
	int listener;
	int accepted[STARVE_CLIENTS];
	unsigned n_accepted;
	unsigned emfile_seen;
	unsigned listener_calls;
	int clients[STARVE_CLIENTS];
};

static void starve_listener_cb(void *ctx, int handle, unsigned events)
{
	struct starve_test *t = ctx;
	struct io *io = t->f->node[0].io;

	cr_assert_eq(handle, t->listener);
	cr_assert(events & IO_READABLE);
	t->listener_calls++;
	for (;;) {
		int h = io->ops->tcp_accept(io, handle, NULL, noop_sock_cb, NULL);
		if (h == -EAGAIN)
			return;
		if (h == -EMFILE) {
			t->emfile_seen++;
			return;
		}
		cr_assert_geq(h, 0, "accept failed: %d", h);
		cr_assert_lt(t->n_accepted, STARVE_CLIENTS, "more connections than clients");
		t->accepted[t->n_accepted++] = h;
	}
}

static bool starve_accepted_3(void *arg)
{
	const struct starve_test *t = arg;
	return t->n_accepted == 3 && t->emfile_seen > 0;
}

static bool starve_accepted_4(void *arg)
{
	return ((const struct starve_test *)arg)->n_accepted == 4;
}

static bool starve_accepted_all(void *arg)
{
	return ((const struct starve_test *)arg)->n_accepted == STARVE_CLIENTS;
}

/* REL-1: with the handle table full, accept answers -EMFILE and the
 * connections wait in the listener's queue; closing a handle, with no new
 * connection arriving, makes the listener hear IO_READABLE again. Before
 * the fix the queued connections were never accepted (edge-triggered
 * readiness had already been spent). */
Test(CONTRACT_SUITE, rel1_listener_accepts_again_once_a_handle_frees, .fini = contract_teardown,
     .timeout = 60)
{
	const struct fixture_options opts = {.node0_max_handles = STARVE_MAX_HANDLES};
	const char *reason = NULL;
	struct starve_test t = {.listener = NO_HANDLE};

	contract_fixture = fixture_new_with(&opts, &reason);
	if (!contract_fixture)
		prereq_missing("fixture unavailable: %s", reason ? reason : "(no reason given)");
	t.f = contract_fixture;
	struct io *io0 = t.f->node[0].io, *io1 = t.f->node[1].io;
	struct io_addr srv;
	size_t in_use, max;

	t.listener = listen_on_node0(t.f, starve_listener_cb, &t, &srv);
	io0->ops->handle_count(io0, &in_use, &max);
	cr_assert_eq(max, STARVE_MAX_HANDLES, "handle_count max %zu", max);
	cr_assert_eq(in_use, 1, "the listener is the one handle in use, not %zu", in_use);
	for (int i = 0; i < STARVE_CLIENTS; i++) {
		t.clients[i] = io1->ops->tcp_connect(io1, &srv, NULL, noop_sock_cb, NULL);
		cr_assert_geq(t.clients[i], 0, "connect %d failed: %d", i, t.clients[i]);
	}
	cr_assert(fixture_run_until(t.f, starve_accepted_3, &t, WORLD_TIMEOUT_US),
	          "accepted %u, -EMFILE seen %u times", t.n_accepted, t.emfile_seen);
	io0->ops->handle_count(io0, &in_use, &max);
	cr_assert_eq(in_use, STARVE_MAX_HANDLES);
	/* Nothing frees: no accept, and no busy retrying either. */
	unsigned calls = t.listener_calls;
	run_for(t.f, 300000);
	cr_assert_eq(t.n_accepted, 3);
	cr_assert_leq(t.listener_calls, calls + 5, "listener woken %u times while starved",
	              t.listener_calls - calls);

	cr_assert_eq(io0->ops->close(io0, t.accepted[0], false), 0);
	cr_assert(fixture_run_until(t.f, starve_accepted_4, &t, WORLD_TIMEOUT_US),
	          "a freed handle did not resume accepting (accepted %u)", t.n_accepted);
	for (unsigned i = 1; i < 4; i++)
		cr_assert_eq(io0->ops->close(io0, t.accepted[i], false), 0);
	cr_assert(fixture_run_until(t.f, starve_accepted_all, &t, WORLD_TIMEOUT_US),
	          "queued connections left behind (accepted %u of %d)", t.n_accepted,
	          STARVE_CLIENTS);
	for (unsigned i = 4; i < t.n_accepted; i++)
		cr_assert_eq(io0->ops->close(io0, t.accepted[i], false), 0);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
	io0->ops->handle_count(io0, &in_use, &max);
	cr_assert_eq(in_use, 0, "%zu handles still counted after closing all", in_use);
}

struct closed_test {
	struct fixture *f;
	int listener, server, client;
	bool closed;
	bool accepted;
	unsigned calls_after_close;
};

static bool closed_and_accepted(void *arg)
{
	const struct closed_test *t = arg;
	return t->closed && t->accepted;
}

/* Closes the client on its first notification, whatever it is. */
static void closed_client_cb(void *ctx, int handle, unsigned events)
{
	struct closed_test *t = ctx;
	struct io *io = t->f->node[1].io;

	(void)handle;
	(void)events;
	if (t->closed) {
		t->calls_after_close++;
		return;
	}
	cr_assert_eq(io->ops->close(io, t->client, false), 0);
	t->closed = true;
}

static void closed_listener_cb(void *ctx, int handle, unsigned events)
{
	struct closed_test *t = ctx;
	struct io *io = t->f->node[0].io;

	(void)events;
	int h = io->ops->tcp_accept(io, handle, NULL, noop_sock_cb, NULL);
	if (h == -EAGAIN)
		return;
	cr_assert_geq(h, 0);
	t->server = h;
	t->accepted = true;
}

Test(CONTRACT_SUITE, no_callback_runs_after_close, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct closed_test t = {.f = f, .server = NO_HANDLE};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr srv;

	t.listener = listen_on_node0(f, closed_listener_cb, &t, &srv);
	t.client = io1->ops->tcp_connect(io1, &srv, NULL, closed_client_cb, &t);
	cr_assert_geq(t.client, 0);
	cr_assert(fixture_run_until(f, closed_and_accepted, &t, WORLD_TIMEOUT_US));
	/* Traffic towards the closed handle must not wake its callback. */
	io0->ops->tcp_write(io0, t.server, "late data", 9);
	cr_assert_eq(io0->ops->close(io0, t.server, true), 0);
	run_for(f, 100000);
	cr_assert_eq(t.calls_after_close, 0, "%u callbacks after close", t.calls_after_close);
	cr_assert_eq(io0->ops->close(io0, t.listener, false), 0);
}

/* ---- timers, clock, randomness ---------------------------------------- */

#define TIMER_COUNT 6

struct timer_slot {
	struct io_timer timer;
	struct timer_test *test;
	int id;
	uint64_t deadline_us;
	uint64_t fired_us;
	int fired_count;
	bool rearm_once;
};

struct timer_test {
	struct io *io;
	struct timer_slot slot[TIMER_COUNT];
	int order[2 * TIMER_COUNT];
	int nfired;
	int expect_fires;
	bool done;
};

static void timer_test_fired(struct io_timer *timer)
{
	struct timer_slot *s = contract_container_of(timer, struct timer_slot, timer);
	struct timer_test *t = s->test;
	uint64_t now = t->io->ops->now_us(t->io);

	cr_assert_not(io_timer_armed(timer), "timer still armed inside its callback");
	cr_assert_lt(t->nfired, 2 * TIMER_COUNT);
	t->order[t->nfired++] = s->id;
	s->fired_count++;
	s->fired_us = now;
	cr_assert_geq(now, s->deadline_us, "timer %d fired %llu us early", s->id,
	              (unsigned long long)(s->deadline_us - now));
	cr_assert_leq(now - s->deadline_us, CONTRACT_TIMER_SLACK_US, "timer %d fired %llu us late",
	              s->id, (unsigned long long)(now - s->deadline_us));
	if (s->rearm_once) {
		/* Re-arming from the callback is allowed and fires again. */
		s->rearm_once = false;
		s->deadline_us = now + 30000;
		t->io->ops->timer_arm(t->io, timer, 30000);
	}
	if (t->nfired == t->expect_fires)
		t->done = true;
}

Test(CONTRACT_SUITE, timers_fire_in_deadline_order_on_time, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	static struct timer_test t;
	struct io *io = f->node[0].io;
	/* Out of order on purpose; slot 3 is disarmed before it is due, slot 5
	 * re-arms itself once from its callback. */
	static const uint64_t delay_us[TIMER_COUNT] = {30000, 10000, 50000, 15000, 20000, 5000};

	memset(&t, 0, sizeof(t));
	t.io = io;
	uint64_t now = io->ops->now_us(io);
	for (int i = 0; i < TIMER_COUNT; i++) {
		struct timer_slot *s = &t.slot[i];
		s->test = &t;
		s->id = i;
		s->timer.fn = timer_test_fired;
		s->deadline_us = now + delay_us[i];
		s->rearm_once = i == 5;
		cr_assert_not(io_timer_armed(&s->timer));
		io->ops->timer_arm(io, &s->timer, delay_us[i]);
		cr_assert(io_timer_armed(&s->timer));
	}
	io->ops->timer_disarm(io, &t.slot[3].timer);
	cr_assert_not(io_timer_armed(&t.slot[3].timer));
	io->ops->timer_disarm(io, &t.slot[3].timer); /* disarming twice is harmless */
	t.expect_fires = TIMER_COUNT;                /* five timers, one of them twice */

	cr_assert(fixture_run_until(f, flag_is_set, &t.done, WORLD_TIMEOUT_US),
	          "only %d timers fired", t.nfired);
	run_for(f, 60000); /* nothing else is due */
	cr_assert_eq(t.nfired, TIMER_COUNT);
	static const int want[TIMER_COUNT] = {5, 1, 4, 0, 5, 2};
	for (int i = 0; i < TIMER_COUNT; i++)
		cr_assert_eq(t.order[i], want[i], "fire #%d was timer %d, want %d", i, t.order[i],
		             want[i]);
	cr_assert_eq(t.slot[3].fired_count, 0, "disarmed timer fired");
	cr_assert_geq(io->ops->now_us(io), now + 50000);
}

Test(CONTRACT_SUITE, clock_is_monotonic_and_random_varies, .fini = contract_teardown, .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct io *io = f->node[0].io;
	uint64_t t0 = io->ops->now_us(io);

	run_for(f, 10000);
	uint64_t t1 = io->ops->now_us(io);
	cr_assert_geq(t1, t0 + 10000, "clock moved %llu us in a 10 ms run",
	              (unsigned long long)(t1 - t0));
	uint64_t r[8];
	for (int i = 0; i < 8; i++)
		r[i] = io->ops->random_u64(io);
	for (int i = 1; i < 8; i++)
		cr_assert_neq(r[i], r[0], "random_u64 repeated itself");
}

/* The line of the first event of `type` in `events`, copied into `out`. */
static bool event_line(const char *events, const char *type, char *out, size_t cap)
{
	char needle[96];

	snprintf(needle, sizeof(needle), "\"type\":\"%s\"", type);
	const char *at = events ? strstr(events, needle) : NULL;
	if (!at)
		return false;
	const char *start = at, *end = strchr(at, '\n');
	while (start > events && start[-1] != '\n')
		start--;
	size_t len = end ? (size_t)(end - start) : strlen(start);
	if (len >= cap)
		return false;
	memcpy(out, start, len);
	out[len] = '\0';
	return true;
}

/* Every event is one line holding its type and whole members: fields too
 * long (for io_event's payload or for a line) keep their leading members
 * and end with "truncated":true, never half a member or nothing at all,
 * and never a crash (the two backends used to differ). */
Test(CONTRACT_SUITE, emit_writes_one_line_and_marks_what_it_cut, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct io *io = f->node[0].io;
	char big[3 * IO_EVENT_FIELDS_MAX], line[2 * IO_EVENT_FIELDS_MAX];

	io->ops->emit(io, "probe_empty", "");
	io->ops->emit(io, "probe_plain", "\"port\":443,\"peer\":\"100.64.0.2\"");
	io_event(io, "probe_emitf", IO_U64("n", 7), IO_STR("name", "x\"y"));
	/* Members past io_event's payload maximum. */
	char a[901], b[101], d[201];
	snprintf(a, sizeof(a), "%0900d", 1);
	snprintf(b, sizeof(b), "%0100d", 2);
	snprintf(d, sizeof(d), "%0200d", 4);
	io_event(io, "probe_long_emitf", IO_STR("a", a), IO_STR("b", b), IO_U64("c", 1),
	         IO_STR("d", d));
	size_t o = 0;
	for (int i = 0; o < sizeof(big) - 64; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"m%02d\":\"%040d\"",
		                      i ? "," : "", i, i);
	io->ops->emit(io, "probe_long_line", big);
	io->ops->emit(f->node[1].io, "probe_other_node", "\"node\":1");

	char *events = fixture_events(f, 0);
	cr_assert_not_null(events, "the fixture's events could not be read");
	cr_assert(event_line(events, "probe_empty", line, sizeof(line)), "%s", events);
	cr_assert(strstr(line, "\"node\":\"") && line[strlen(line) - 1] == '}', "%s", line);
	cr_assert(event_line(events, "probe_plain", line, sizeof(line)));
	cr_assert(strstr(line, ",\"port\":443,\"peer\":\"100.64.0.2\"}"), "%s", line);
	cr_assert(event_line(events, "probe_emitf", line, sizeof(line)));
	cr_assert(strstr(line, "\"n\":7,\"name\":\"x\\\"y\"}"), "%s", line);

	cr_assert(event_line(events, "probe_long_emitf", line, sizeof(line)));
	cr_assert(strstr(line, "\"a\":\"0000"), "the members that fit are kept: %s", line);
	cr_assert_null(strstr(line, "\"b\":"), "a member that does not fit is dropped whole: %s",
	               line);
	cr_assert(strstr(line, ",\"truncated\":true}"), "the cut is marked: %s", line);

	cr_assert(event_line(events, "probe_long_line", line, sizeof(line)));
	cr_assert_lt(strlen(line), IO_EVENT_LINE_MAX, "one line at most IO_EVENT_LINE_MAX");
	cr_assert(strstr(line, "\"m00\":\"0000"), "%s", line);
	cr_assert(strstr(line, ",\"truncated\":true}"), "%s", line);
	/* The last member kept is whole: "mNN":"<40 digits>" before the mark. */
	const char *mark = strstr(line, ",\"truncated\":true}");
	cr_assert(mark - line > 50);
	cr_assert_eq(mark[-1], '"', "%s", line);
	cr_assert_eq(strspn(mark - 41, "0123456789"), 40, "%s", mark - 60);
	cr_assert_eq(memcmp(mark - 49, ",\"m", 3), 0, "%s", mark - 60);
	cr_assert_null(strstr(events, "probe_other_node"), "node 1's event went to node 0");
	free(events);
	events = fixture_events(f, 1);
	cr_assert(events && strstr(events, "\"type\":\"probe_other_node\",\"node\":1}"));
	free(events);
}

/* ---- UDP -------------------------------------------------------------- */

struct udp_test {
	struct fixture *f;
	int h0, h1;
	struct io_addr a0, a1;
	bool ping_ok, pong_ok;
};

static void udp_node0_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                         const struct io_addr *src)
{
	struct udp_test *t = ctx;
	struct io *io = t->f->node[0].io;
	char s1[IO_ADDR_STRLEN], s2[IO_ADDR_STRLEN];

	cr_assert_eq(handle, t->h0);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(data, "ping", 4), 0);
	cr_assert(io_addr_equal(src, &t->a1, true), "ping from %s, want %s", fmt_addr(src, s1),
	          fmt_addr(&t->a1, s2));
	t->ping_ok = true;
	cr_assert_geq(io->ops->udp_send(io, handle, "pong", 4, src), 0);
}

static void udp_node1_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                         const struct io_addr *src)
{
	struct udp_test *t = ctx;

	cr_assert_eq(handle, t->h1);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(data, "pong", 4), 0);
	cr_assert(io_addr_equal(src, &t->a0, true));
	t->pong_ok = true;
}

Test(CONTRACT_SUITE, udp_datagram_crosses_between_nodes_and_back, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(false);
	struct udp_test t = {.f = f};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;

	struct io_addr l0 = f->node[0].underlay, l1 = f->node[1].underlay;
	l0.port = 0;
	l1.port = 0;
	t.h0 = io0->ops->udp_open(io0, &l0, udp_node0_cb, &t);
	cr_assert_geq(t.h0, 0, "udp_open: %d", t.h0);
	t.h1 = io1->ops->udp_open(io1, &l1, udp_node1_cb, &t);
	cr_assert_geq(t.h1, 0, "udp_open: %d", t.h1);
	cr_assert_eq(io0->ops->sock_name(io0, t.h0, false, &t.a0), 0);
	cr_assert_eq(io1->ops->sock_name(io1, t.h1, false, &t.a1), 0);
	cr_assert_neq(t.a0.port, 0);
	cr_assert(io_addr_equal(&t.a1, &f->node[1].underlay, false));

	cr_assert_geq(io1->ops->udp_send(io1, t.h1, "ping", 4, &t.a0), 0);
	cr_assert_not(t.ping_ok, "datagram delivered inside udp_send");
	cr_assert(fixture_run_until(f, flag_is_set, &t.pong_ok, WORLD_TIMEOUT_US),
	          "ping=%d pong=%d", t.ping_ok, t.pong_ok);
	cr_assert_eq(io0->ops->close(io0, t.h0, false), 0);
	cr_assert_eq(io1->ops->close(io1, t.h1, false), 0);
}

/* ---- TUN: a packet crosses the overlay -------------------------------- */

#define TUN_PAYLOAD "through the tailnet"

struct tun_test {
	struct fixture *f;
	int relay0, relay1; /* underlay UDP sockets carrying raw packets */
	struct io_addr relay1_addr;
	int app0, app1; /* tailnet UDP sockets of the "applications" */
	struct io_addr app0_addr, app1_addr;
	unsigned relayed;
	unsigned other_packets;
	int tun_write_rc; /* 1 until node1 writes to its device */
	bool delivered;
};

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Node0's stack sent a packet to the tailnet: relay IPv4 packets for node1
 * over the underlay, ignore the rest (IPv6 router solicitations etc.). */
static void tun_node0_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	struct tun_test *t = ctx;
	struct io *io = t->f->node[0].io;

	if (len < 20 || (pkt[0] >> 4) != 4 ||
	    be32_at(pkt + 16) != io_addr_v4_host(&t->f->node[1].tailnet)) {
		t->other_packets++;
		return;
	}
	cr_assert_eq(pkt[9], 17, "expected UDP, got protocol %u", pkt[9]);
	cr_assert_eq(be32_at(pkt + 12), io_addr_v4_host(&t->f->node[0].tailnet),
	             "source is not node0's tailnet address");
	cr_assert_geq(io->ops->udp_send(io, t->relay0, pkt, len, &t->relay1_addr), 0);
	t->relayed++;
}

static void tun_node1_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	struct tun_test *t = ctx;

	(void)pkt;
	(void)len;
	t->other_packets++;
}

static void tun_relay1_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                          const struct io_addr *src)
{
	struct tun_test *t = ctx;
	struct io *io = t->f->node[1].io;

	(void)handle;
	(void)src;
	t->tun_write_rc = io->ops->tun_write(io, data, len);
}

static void tun_unexpected_dgram(void *ctx, int handle, const uint8_t *data, size_t len,
                                 const struct io_addr *src)
{
	(void)ctx;
	(void)handle;
	(void)data;
	(void)len;
	(void)src;
	cr_assert_fail("datagram on a socket that should receive nothing");
}

static void tun_app1_cb(void *ctx, int handle, const uint8_t *data, size_t len,
                        const struct io_addr *src)
{
	struct tun_test *t = ctx;
	char s1[IO_ADDR_STRLEN], s2[IO_ADDR_STRLEN];

	cr_assert_eq(handle, t->app1);
	cr_assert_eq(len, strlen(TUN_PAYLOAD));
	cr_assert_eq(memcmp(data, TUN_PAYLOAD, len), 0);
	cr_assert(io_addr_equal(src, &t->app0_addr, true), "payload from %s, want %s",
	          fmt_addr(src, s1), fmt_addr(&t->app0_addr, s2));
	t->delivered = true;
}

Test(CONTRACT_SUITE, tun_packet_crosses_the_overlay_to_the_peer_stack, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(true);
	struct tun_test t = {.f = f, .tun_write_rc = 1};
	struct io *io0 = f->node[0].io, *io1 = f->node[1].io;
	struct io_addr a;

	cr_assert_eq(f->node[0].tailnet.family, IO_AF_INET);
	cr_assert_eq(f->node[1].tailnet.family, IO_AF_INET);
	cr_assert_eq(io0->ops->tun_attach(io0, tun_node0_packet, &t), 0);
	cr_assert_eq(io1->ops->tun_attach(io1, tun_node1_packet, &t), 0);

	/* The underlay relay: node0 -> node1, as the daemon's data plane would. */
	a = f->node[0].underlay;
	a.port = 0;
	t.relay0 = io0->ops->udp_open(io0, &a, tun_unexpected_dgram, &t);
	cr_assert_geq(t.relay0, 0);
	a = f->node[1].underlay;
	a.port = 0;
	t.relay1 = io1->ops->udp_open(io1, &a, tun_relay1_cb, &t);
	cr_assert_geq(t.relay1, 0);
	cr_assert_eq(io1->ops->sock_name(io1, t.relay1, false, &t.relay1_addr), 0);

	/* Applications on the tailnet addresses. */
	a = f->node[1].tailnet;
	a.port = 0;
	t.app1 = io1->ops->udp_open(io1, &a, tun_app1_cb, &t);
	cr_assert_geq(t.app1, 0, "udp_open on node1's tailnet address: %d", t.app1);
	cr_assert_eq(io1->ops->sock_name(io1, t.app1, false, &t.app1_addr), 0);
	a = f->node[0].tailnet;
	a.port = 0;
	t.app0 = io0->ops->udp_open(io0, &a, tun_unexpected_dgram, &t);
	cr_assert_geq(t.app0, 0, "udp_open on node0's tailnet address: %d", t.app0);
	cr_assert_eq(io0->ops->sock_name(io0, t.app0, false, &t.app0_addr), 0);
	cr_assert(io_addr_equal(&t.app0_addr, &f->node[0].tailnet, false));

	int rc = io0->ops->udp_send(io0, t.app0, TUN_PAYLOAD, strlen(TUN_PAYLOAD), &t.app1_addr);
	cr_assert_geq(rc, 0, "udp_send into the tailnet: %d", rc);
	cr_assert(fixture_run_until(f, flag_is_set, &t.delivered, WORLD_TIMEOUT_US),
	          "not delivered: relayed %u, tun_write %d, other packets %u", t.relayed,
	          t.tun_write_rc, t.other_packets);
	cr_assert_eq(t.relayed, 1);
	cr_assert_geq(t.tun_write_rc, 0, "tun_write returned %d", t.tun_write_rc);

	for (int i = 0; i < 2; i++) {
		struct io *io = f->node[i].io;
		int h1 = i ? t.relay1 : t.relay0, h2 = i ? t.app1 : t.app0;
		cr_assert_eq(io->ops->close(io, h1, false), 0);
		cr_assert_eq(io->ops->close(io, h2, false), 0);
	}
}

/* A service VIP can be listened on before the device holds it, and the
 * address can be added and removed at run time. */
Test(CONTRACT_SUITE, tun_addresses_come_and_go_and_vips_bind_early, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(true);
	struct io *io0 = f->node[0].io;
	struct io_addr vip, got;

	cr_assert_eq(io_addr_parse(&vip, "100.100.7.9", 0), 0);
	int l = io0->ops->tcp_listen(io0, &vip, 8, noop_sock_cb, NULL);
	cr_assert_geq(l, 0, "listen on an unassigned VIP: %d", l);
	cr_assert_eq(io0->ops->sock_name(io0, l, false, &got), 0);
	cr_assert(io_addr_equal(&got, &vip, false));

	cr_assert_eq(io0->ops->tun_addr_add(io0, &vip, 32), 0);
	cr_assert_eq(io0->ops->tun_addr_del(io0, &vip, 32), 0);
	cr_assert_eq(io0->ops->close(io0, l, false), 0);
}

/* ---- TUN: detaching --------------------------------------------------- */

struct tun_detach_test {
	struct fixture *f;
	unsigned first, second; /* IPv4 packets for node1 seen by each callback */
};

static bool tun_is_for_node1(const struct fixture *f, const uint8_t *pkt, size_t len)
{
	return len >= 20 && (pkt[0] >> 4) == 4 &&
	       be32_at(pkt + 16) == io_addr_v4_host(&f->node[1].tailnet);
}

static void tun_detach_first(void *ctx, const uint8_t *pkt, size_t len)
{
	struct tun_detach_test *t = ctx;

	if (tun_is_for_node1(t->f, pkt, len))
		t->first++;
}

static void tun_detach_second(void *ctx, const uint8_t *pkt, size_t len)
{
	struct tun_detach_test *t = ctx;

	if (tun_is_for_node1(t->f, pkt, len))
		t->second++;
}

static bool tun_first_saw_one(void *arg)
{
	return ((const struct tun_detach_test *)arg)->first > 0;
}

static bool tun_second_saw_one(void *arg)
{
	return ((const struct tun_detach_test *)arg)->second > 0;
}

/* tun_attach(io, NULL, NULL) detaches: nothing more reaches the old
 * callback, not even a packet the stack routed just before; a later
 * tun_attach gets the device's packets again. */
Test(CONTRACT_SUITE, tun_detach_stops_delivery_to_the_old_callback, .fini = contract_teardown,
     .timeout = 60)
{
	struct fixture *f = contract_setup(true);
	struct tun_detach_test t = {.f = f};
	struct io *io0 = f->node[0].io;
	struct io_addr a = f->node[0].tailnet, dst = f->node[1].tailnet;

	a.port = 0;
	dst.port = 9;
	int app = io0->ops->udp_open(io0, &a, tun_unexpected_dgram, &t);
	cr_assert_geq(app, 0, "udp_open on node0's tailnet address: %d", app);

	cr_assert_eq(io0->ops->tun_attach(io0, tun_detach_first, &t), 0);
	cr_assert_geq(io0->ops->udp_send(io0, app, "one", 3, &dst), 0);
	cr_assert(fixture_run_until(f, tun_first_saw_one, &t, WORLD_TIMEOUT_US));
	cr_assert_eq(t.first, 1);

	/* routed to the device, possibly already queued there, then detached */
	cr_assert_geq(io0->ops->udp_send(io0, app, "two", 3, &dst), 0);
	cr_assert_eq(io0->ops->tun_attach(io0, NULL, NULL), 0);
	cr_assert_geq(io0->ops->udp_send(io0, app, "three", 5, &dst), 0);
	run_for(f, 300 * 1000);
	cr_assert_eq(t.first, 1, "%u packets reached a detached callback", t.first - 1);

	cr_assert_eq(io0->ops->tun_attach(io0, tun_detach_second, &t), 0);
	cr_assert_geq(io0->ops->udp_send(io0, app, "four", 4, &dst), 0);
	cr_assert(fixture_run_until(f, tun_second_saw_one, &t, WORLD_TIMEOUT_US));
	cr_assert_eq(t.first, 1);
	cr_assert_eq(t.second, 1);
	cr_assert_eq(io0->ops->close(io0, app, false), 0);
}
