/* svcd's local API server (see localapi_server.h): per client, read one
 * request line, answer it, repeat, each step under the idle deadline;
 * clients over the limit are answered, refused and counted in
 * local_api_refused events. */
#define _GNU_SOURCE
#include "proxy/localapi_server.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/wire/localapi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_READ_CHUNK       65536
#define API_REFUSED_EVERY_US (1000ull * 1000) /* at most one local_api_refused a second */

enum api_conn_state {
	API_CONN_FREE = 0,
	API_CONN_READING,  /* waiting for a whole request line */
	API_CONN_WRITING,  /* an answer is going out */
	API_CONN_REFUSING, /* refused: answered, half-closed, reading to EOF */
};

struct api_conn {
	struct localapi_server *srv;
	enum api_conn_state state;
	int fd;
	uint64_t id;
	uint64_t since_us; /* when the current deadline started */
	struct io_timer deadline;
	struct buf in; /* request bytes: one line of at most the limit, and a read */
	char *out;
	size_t out_len, out_off;
	size_t discarded; /* refusing: request bytes thrown away */
	bool close_after; /* a protocol error: answer, then hang up */
};

struct localapi_server {
	struct io_loop *loop;
	struct io *io;
	int listen_fd;
	uint64_t idle_us;
	localapi_server_handler_fn handle;
	void *ctx;
	uint64_t next_id;
	struct api_conn clients[LOCALAPI_SERVER_MAX_CLIENTS];
	struct api_conn refusing[LOCALAPI_SERVER_MAX_REFUSING];
	/* Refusals not reported yet, and when the last report went out. */
	uint64_t refused, refused_at_once, refused_last_us;
	bool refused_reported_once;
	struct io_timer refused_timer;
};

static const char *const api_state_names[] = {
    [API_CONN_FREE] = "free",
    [API_CONN_READING] = "request",
    [API_CONN_WRITING] = "response",
    [API_CONN_REFUSING] = "refused",
};

static uint64_t api_now(const struct localapi_server *s)
{
	return s->io->ops->now_us(s->io);
}

static void conn_fd_fn(void *ctx, int fd, uint32_t events);

static void conn_close(struct api_conn *c)
{
	struct localapi_server *s = c->srv;

	CHECK(c->state != API_CONN_FREE && c->fd >= 0);
	s->io->ops->timer_disarm(s->io, &c->deadline);
	io_loop_unwatch_fd(s->loop, c->fd);
	close(c->fd);
	buf_free(&c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* (Re)starts the connection's one deadline: `delay_us` from now. */
static void conn_deadline(struct api_conn *c, uint64_t delay_us)
{
	struct io *io = c->srv->io;

	c->since_us = api_now(c->srv);
	io->ops->timer_disarm(io, &c->deadline);
	io->ops->timer_arm(io, &c->deadline, delay_us);
}

/* Waits for the next request: level-triggered reads, a fresh deadline. */
static int conn_wait_request(struct api_conn *c)
{
	c->state = API_CONN_READING;
	conn_deadline(c, c->srv->idle_us);
	return io_loop_watch_fd(c->srv->loop, c->fd, EPOLLIN, conn_fd_fn, c);
}

/* Answers the first complete line buffered, if any: the next is read only
 * once this answer has been written. */
static void conn_process(struct api_conn *c)
{
	struct localapi_server *s = c->srv;
	ssize_t n =
	    localapi_frame(c->in.data ? c->in.data : "", c->in.len, LOCALAPI_MAX_REQUEST_BYTES);

	CHECK(c->state == API_CONN_READING && !c->out);
	if (n == -2)
		return;
	if (n == -1) {
		char msg[128];
		snprintf(msg, sizeof(msg), "bad request: longer than %u bytes\n",
		         LOCALAPI_MAX_REQUEST_BYTES);
		c->out = localapi_response_format(LOCALAPI_STATUS_BAD_REQUEST, msg);
		c->close_after = true;
	} else {
		c->out = s->handle(s->ctx, c->in.data, (size_t)n);
		buf_drop_front(&c->in, (size_t)n);
	}
	if (!c->out) {
		conn_close(c);
		return;
	}
	c->out_len = strlen(c->out);
	c->out_off = 0;
	c->state = API_CONN_WRITING;
	conn_deadline(c, s->idle_us);
	if (io_loop_watch_fd(s->loop, c->fd, EPOLLOUT, conn_fd_fn, c) < 0)
		conn_close(c);
}

static void conn_write(struct api_conn *c)
{
	ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (w < 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)w;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	if (c->close_after || conn_wait_request(c) < 0) {
		conn_close(c);
		return;
	}
	conn_process(c);
}

static void conn_read(struct api_conn *c)
{
	/* Reads happen with no whole line buffered, so at most the limit. */
	if (buf_reserve(&c->in, API_READ_CHUNK) < 0) {
		conn_close(c);
		return;
	}
	ssize_t r = recv(c->fd, c->in.data + c->in.len, buf_room(&c->in), 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	buf_commit(&c->in, (size_t)r);
	conn_process(c);
}

/* A refused connection: throw its request away until it hangs up. */
static void conn_discard(struct api_conn *c)
{
	char buf[4096];
	ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0)
		c->discarded += (size_t)r;
	if (r <= 0 || c->discarded > LOCALAPI_SERVER_REFUSE_DISCARD_MAX)
		conn_close(c);
}

static void conn_fd_fn(void *ctx, int fd, uint32_t events)
{
	struct api_conn *c = ctx;
	(void)fd;

	switch (c->state) {
	case API_CONN_WRITING:
		conn_write(c);
		return;
	case API_CONN_READING:
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			conn_read(c);
		return;
	case API_CONN_REFUSING:
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			conn_discard(c);
		return;
	case API_CONN_FREE:
		break;
	}
	CHECK(!"conn_fd_fn: callback for a free slot");
}

/* The deadline passed: an idle or stalled client (or a refused one that
 * kept its connection open) loses its slot. */
static void conn_deadline_fn(struct io_timer *t)
{
	struct api_conn *c = container_of(t, struct api_conn, deadline);
	struct localapi_server *s = c->srv;

	if (c->state == API_CONN_READING) {
		/* Best effort: say why, for a client that is merely slow. */
		char msg[128];
		snprintf(msg, sizeof(msg), "svcd: no complete request within %llu ms; closed\n",
		         (unsigned long long)(s->idle_us / 1000));
		char *line = localapi_response_format(LOCALAPI_STATUS_BAD_REQUEST, msg);
		if (line)
			(void)send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
		free(line);
	}
	if (c->state != API_CONN_REFUSING)
		io_event(s->io, "local_api_idle_closed", IO_U64("client", c->id),
		         IO_STR("waiting_for", api_state_names[c->state]),
		         IO_U64("idle_us", api_now(s) - c->since_us),
		         IO_U64("bytes", c->state == API_CONN_READING ? c->in.len
		                                                      : c->out_len - c->out_off));
	conn_close(c);
}

static void refused_report(struct localapi_server *s)
{
	if (!s->refused)
		return;
	io_event(s->io, "local_api_refused", IO_U64("count", s->refused),
	         IO_U64("closed_at_once", s->refused_at_once),
	         IO_I64("limit", LOCALAPI_SERVER_MAX_CLIENTS));
	s->refused = s->refused_at_once = 0;
	s->refused_last_us = api_now(s);
	s->refused_reported_once = true;
}

static void refused_timer_fn(struct io_timer *t)
{
	refused_report(container_of(t, struct localapi_server, refused_timer));
}

/* Counts a refusal; reports at once unless a report went out less than a
 * second ago (then the timer reports the sum). */
static void refused_count(struct localapi_server *s, bool at_once)
{
	uint64_t now = api_now(s);

	s->refused++;
	s->refused_at_once += at_once;
	if (!s->refused_reported_once || now - s->refused_last_us >= API_REFUSED_EVERY_US) {
		refused_report(s);
		return;
	}
	if (!io_timer_armed(&s->refused_timer))
		s->io->ops->timer_arm(s->io, &s->refused_timer,
		                      s->refused_last_us + API_REFUSED_EVERY_US - now);
}

/* Over the limit: the answer goes out now (it fits any socket buffer),
 * then FIN; the connection lingers to read the client's request, so that
 * the client's write neither fails nor turns our close into a reset. */
static void conn_refuse(struct localapi_server *s, int fd)
{
	char msg[160];
	struct api_conn *c = NULL;

	snprintf(msg, sizeof(msg),
	         "svcd: too many local API clients (limit %d); try again in a few seconds\n",
	         LOCALAPI_SERVER_MAX_CLIENTS);
	char *line = localapi_response_format(LOCALAPI_STATUS_FAILED, msg);
	if (line)
		(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
	(void)shutdown(fd, SHUT_WR);
	for (int i = 0; i < LOCALAPI_SERVER_MAX_REFUSING && !c; i++)
		if (s->refusing[i].state == API_CONN_FREE)
			c = &s->refusing[i];
	if (c) {
		*c = (struct api_conn){
		    .srv = s, .state = API_CONN_REFUSING, .fd = fd, .id = ++s->next_id};
		c->deadline.fn = conn_deadline_fn;
		conn_deadline(c, LOCALAPI_SERVER_REFUSE_LINGER_US);
		if (io_loop_watch_fd(s->loop, fd, EPOLLIN, conn_fd_fn, c) == 0) {
			refused_count(s, false);
			return;
		}
		conn_close(c);
		refused_count(s, true);
		return;
	}
	close(fd);
	refused_count(s, true);
}

static void listen_fd_fn(void *ctx, int fd, uint32_t events)
{
	struct localapi_server *s = ctx;
	(void)events;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		struct api_conn *c = NULL;
		for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS && !c; i++)
			if (s->clients[i].state == API_CONN_FREE)
				c = &s->clients[i];
		if (!c) {
			conn_refuse(s, cfd);
			continue;
		}
		*c = (struct api_conn){
		    .srv = s,
		    .fd = cfd,
		    .id = ++s->next_id,
		    .in = BUF_INIT(LOCALAPI_MAX_REQUEST_BYTES + API_READ_CHUNK),
		};
		c->deadline.fn = conn_deadline_fn;
		c->state = API_CONN_READING;
		if (conn_wait_request(c) < 0)
			conn_close(c);
	}
}

int localapi_server_new(struct localapi_server **out, const struct localapi_server_config *cfg)
{
	struct localapi_server *s;
	int rc;

	CHECK(cfg->loop && cfg->io && cfg->handle && cfg->listen_fd >= 0);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = cfg->loop;
	s->io = cfg->io;
	s->listen_fd = cfg->listen_fd;
	s->idle_us = cfg->idle_us ? cfg->idle_us : LOCALAPI_SERVER_IDLE_US;
	s->handle = cfg->handle;
	s->ctx = cfg->ctx;
	s->refused_timer.fn = refused_timer_fn;
	for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	for (int i = 0; i < LOCALAPI_SERVER_MAX_REFUSING; i++)
		s->refusing[i].fd = -1;
	rc = io_loop_watch_fd(s->loop, s->listen_fd, EPOLLIN, listen_fd_fn, s);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void localapi_server_free(struct localapi_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS; i++)
		if (s->clients[i].state != API_CONN_FREE)
			conn_close(&s->clients[i]);
	for (int i = 0; i < LOCALAPI_SERVER_MAX_REFUSING; i++)
		if (s->refusing[i].state != API_CONN_FREE)
			conn_close(&s->refusing[i]);
	refused_report(s);
	s->io->ops->timer_disarm(s->io, &s->refused_timer);
	io_loop_unwatch_fd(s->loop, s->listen_fd);
	free(s);
}

unsigned localapi_server_clients(const struct localapi_server *s)
{
	unsigned n = 0;

	for (int i = 0; i < LOCALAPI_SERVER_MAX_CLIENTS; i++)
		n += s->clients[i].state != API_CONN_FREE;
	return n;
}
