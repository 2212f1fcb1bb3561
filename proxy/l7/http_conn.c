/* http_conn.c: one client connection's state machine (buffers, reads, parsing, timeouts, the end).
 */
#define _GNU_SOURCE
#include "lib/io/io_event.h"
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes `n` contiguous bytes writable at data + len. 0, -ENOSPC when
 * they would pass the maximum (nothing changes: wait for a flush), or
 * -ENOMEM. */
int hp_buf_reserve(struct buf *b, size_t n)
{
	if (n > hp_buf_room(b))
		return -ENOSPC;
	return buf_reserve(b, n);
}

int hp_buf_put(struct buf *b, const void *data, size_t n)
{
	if (n > hp_buf_room(b))
		return -ENOSPC;
	return buf_append(b, data, n);
}

/* Appends body bytes framed as `mode` (chunked bodies get a chunk each). */
int hp_put_body(struct buf *b, enum http_body_mode mode, const char *data, size_t n)
{
	char hdr[24];
	int rc, hn;

	if (n == 0)
		return 0;
	if (mode != HTTP_BODY_CHUNKED)
		return hp_buf_put(b, data, n);
	hn = http_msg_chunk_header(n, hdr, sizeof(hdr));
	CHECK(hn > 0);
	rc = hp_buf_reserve(b, (size_t)hn + n + 2);
	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, hdr, (size_t)hn);
	memcpy(b->data + b->len + hn, data, n);
	memcpy(b->data + b->len + hn + n, "\r\n", 2);
	buf_commit(b, (size_t)hn + n + 2);
	return 0;
}

static void hp_emit_request(struct hp_conn *c)
{
	struct http_proxy *p = c->p;

	if (p->io->events_off)
		return;
	io_event(p->io, "http_request", IO_STR("proxy", p->name), IO_STR("peer", c->peer_ip),
	         IO_STR("method", c->method), IO_STR("path", c->path), IO_STR("mount", c->mount),
	         IO_I64("status", c->status), IO_STR("upstream", c->upstream),
	         IO_U64("latency_us", (hp_now(p) - c->req_start_us)),
	         IO_U64("bytes_in", c->req_body_bytes), IO_U64("bytes_out", c->resp_body_bytes));
}

static void hp_limit_hit(struct http_proxy *p, const char *limit, const char *peer)
{
	io_event(p->io, "limit_hit", IO_STR("proxy", p->name), IO_STR("limit", limit),
	         IO_STR("peer", peer));
}

ssize_t hp_sread(struct io *io, int handle, struct tls_conn *tls, void *buf, size_t len)
{
	return tls ? tls_conn_read(tls, buf, len) : io->ops->tcp_read(io, handle, buf, len);
}

static ssize_t hp_swrite(struct io *io, int handle, struct tls_conn *tls, const void *buf,
                         size_t len)
{
	return tls ? tls_conn_write(tls, buf, len) : io->ops->tcp_write(io, handle, buf, len);
}

/* Writes out pending bytes of `b`; *progress when any left. 0 or -errno. */
static int hp_flush(struct io *io, int handle, struct tls_conn *tls, struct buf *b,
                    uint64_t *counter, bool *progress)
{
	size_t done = 0;
	int rc = 0;

	while (done < b->len) {
		ssize_t w = hp_swrite(io, handle, tls, b->data + done, b->len - done);
		if (w <= 0) {
			rc = w == -EAGAIN || w == -ENOTCONN || w == 0 ? 0 : (int)w;
			break;
		}
		done += (size_t)w;
		if (counter)
			*counter += (uint64_t)w;
		*progress = true;
	}
	buf_drop_front(b, done);
	return rc;
}

static void hp_track_peak(struct hp_conn *c)
{
	size_t total = c->out.cap + HTTP_PROXY_READ_CHUNK;

	if (c->up)
		total += c->up->out.cap + HTTP_PROXY_READ_CHUNK;
	if (total > c->p->peak_buffered)
		c->p->peak_buffered = total;
}

/* The exchange is complete on both sides: log it and get ready for the
 * next request (or close). */
static void hp_finish_exchange(struct hp_conn *c)
{
	hp_emit_request(c);
	if (c->up)
		hp_pool_put(c);
	hp_local_reset(c);
	/* The route stays: the next request on this connection overwrites it
	 * (reusing its base string when the handler is the same). */
	c->state = HP_IDLE;
	c->idle_since_us = hp_now(c->p);
	c->head_start_us = 0;
	if (c->close_after || c->p->draining) {
		c->closing = true;
		return;
	}
	http_parser_resume(&c->parser);
	c->kick = true;
}

/* Whether the client's bytes can be taken now: not while closing, paused
 * or failed, not after an answer that ends the connection, not while the
 * upstream buffer lacks room for them. */
static bool hp_client_can_read(const struct hp_conn *c)
{
	if (c->closing || c->parser.paused || c->parser.error_status)
		return false;
	if (c->state != HP_IDLE && c->req_done)
		return false;
	if (c->state == HP_UPSTREAM && c->up &&
	    hp_buf_room(&c->up->out) < c->in_len - c->in_off + HTTP_PROXY_READ_CHUNK)
		return false;
	return true;
}

enum hp_client_read {
	HP_CLIENT_READ_PARSE = 0, /* bytes (or a kick) to feed the parser */
	HP_CLIENT_READ_AGAIN,     /* EOF seen: look again */
	HP_CLIENT_READ_RETURN,    /* hp_client_input returns *rc */
};

/* Reads the client's next bytes when the parser has none left. */
static enum hp_client_read hp_client_read(struct hp_conn *c, bool *progress, int *rc)
{
	struct http_proxy *p = c->p;

	*rc = 0;
	if (c->in_off != c->in_len || c->kick)
		return HP_CLIENT_READ_PARSE;
	if (c->client_eof) {
		if (c->state != HP_IDLE && !c->req_done)
			*rc = -ECONNRESET; /* cut off mid-request */
		else if (c->state == HP_IDLE)
			*rc = 1;
		else
			c->close_after = true;
		return HP_CLIENT_READ_RETURN;
	}
	c->in_off = c->in_len = 0;
	ssize_t n = hp_sread(p->io, c->handle, c->tls, c->in, HTTP_PROXY_READ_CHUNK);
	if (n == -EAGAIN)
		return HP_CLIENT_READ_RETURN;
	if (n < 0) {
		*rc = (int)n;
		return HP_CLIENT_READ_RETURN;
	}
	*progress = true;
	if (n == 0) {
		c->client_eof = true;
		return HP_CLIENT_READ_AGAIN;
	}
	c->in_len = (size_t)n;
	c->bytes_in += (uint64_t)n;
	c->last_active_us = hp_now(p);
	if (c->state == HP_IDLE && c->head_start_us == 0)
		c->head_start_us = c->last_active_us;
	return HP_CLIENT_READ_PARSE;
}

/* Marks a request the proxy refuses before routing it (bad or late head)
 * as this connection's next one, so its http_request event is written. */
static void hp_refused_request(struct hp_conn *c, uint64_t start_us)
{
	c->requests++;
	c->req_start_us = start_us;
	snprintf(c->method, sizeof(c->method), "-");
	c->path[0] = c->mount[0] = c->upstream[0] = '\0';
	c->req_body_bytes = c->resp_body_bytes = 0;
	c->resp_done = c->resp_started = false;
}

/* The request stream is malformed (or over a limit): answer with the
 * parser's status and close, or reset when an answer had begun. */
static int hp_client_parse_error(struct hp_conn *c)
{
	struct http_proxy *p = c->p;
	int status = c->parser.error_status ? c->parser.error_status : 400;

	if (c->state == HP_UPSTREAM) {
		if (c->resp_started)
			return -ECONNRESET;
		hp_up_free(c, true);
	}
	if (c->state != HP_IDLE && c->resp_started)
		return -ECONNRESET;
	if (status == 431)
		hp_limit_hit(p, "max_head_bytes", c->peer_ip);
	if (c->state == HP_IDLE)
		hp_refused_request(c, hp_now(p)); /* log the refused request too */
	c->discard_body = true;
	hp_local_error(c, status, c->parser.why, true);
	return 0;
}

/* Reads and parses client bytes while the current phase can take them.
 * Returns 0, 1 to close gracefully, or -errno to reset. */
static int hp_client_input(struct hp_conn *c, bool *progress)
{
	for (;;) {
		int rc;

		if (!hp_client_can_read(c))
			return 0;
		switch (hp_client_read(c, progress, &rc)) {
		case HP_CLIENT_READ_PARSE:
			break;
		case HP_CLIENT_READ_AGAIN:
			continue;
		case HP_CLIENT_READ_RETURN:
			return rc;
		}
		c->kick = false;
		size_t used;
		enum http_parse_status st =
		    http_parser_feed(&c->parser, c->in + c->in_off, c->in_len - c->in_off, &used);
		c->in_off += used;
		if (used)
			*progress = true;
		switch (st) {
		case HTTP_PARSE_MORE:
			break;
		case HTTP_PARSE_HEAD:
			*progress = true;
			rc = hp_dispatch(c);
			if (rc < 0)
				return rc;
			if (!c->parser.error_status)
				http_parser_resume(&c->parser);
			c->kick = true;
			if (c->req_done) /* an error answer that ends the connection */
				return 0;
			break;
		case HTTP_PARSE_DONE:
			*progress = true;
			c->req_done = true;
			if (c->req_body_up == HTTP_BODY_CHUNKED && c->up &&
			    c->state == HP_UPSTREAM && hp_buf_put(&c->up->out, "0\r\n\r\n", 5) < 0)
				return -ENOSPC;
			return 0;
		case HTTP_PARSE_ERROR:
			*progress = true;
			return hp_client_parse_error(c);
		}
	}
}

static uint64_t hp_deadline(const struct hp_conn *c)
{
	const struct http_proxy *p = c->p;

	if (c->tls && !tls_conn_handshake_done(c->tls))
		return c->start_us + p->handshake_timeout_us;
	if (c->state == HP_IDLE && !c->closing) {
		if (c->head_start_us)
			return c->head_start_us + p->head_timeout_us;
		return c->idle_since_us +
		       (c->requests == 0 ? p->head_timeout_us : p->idle_timeout_us);
	}
	if (c->state == HP_UPSTREAM && !c->resp_started)
		return c->req_start_us + p->upstream_timeout_us;
	return c->last_active_us + p->idle_timeout_us;
}

static void hp_timer_fn(struct io_timer *t)
{
	struct hp_conn *c = container_of(t, struct hp_conn, timer);
	struct http_proxy *p = c->p;
	uint64_t now = hp_now(p);

	if (now < hp_deadline(c)) {
		hp_conn_run(c);
		return;
	}
	if (c->tls && !tls_conn_handshake_done(c->tls)) {
		hp_limit_hit(p, "handshake_timeout", c->peer_ip);
		hp_conn_end(c, true, "handshake timeout");
		return;
	}
	if (c->state == HP_IDLE && !c->closing) {
		if (c->head_start_us) {
			hp_limit_hit(p, "head_timeout", c->peer_ip);
			hp_refused_request(c, c->head_start_us);
			hp_local_error(c, 408, "request head not received in time", true);
			hp_conn_run(c);
			return;
		}
		if (c->requests == 0)
			hp_limit_hit(p, "head_timeout", c->peer_ip);
		hp_conn_end(c, false, c->requests == 0 ? "head timeout" : "idle timeout");
		return;
	}
	if (c->state == HP_UPSTREAM && !c->resp_started) {
		hp_limit_hit(p, "upstream_timeout", c->peer_ip);
		hp_up_free(c, true);
		c->discard_body = true;
		c->state = HP_LOCAL;
		hp_local_error(c, 504, "upstream did not answer in time", true);
		hp_conn_run(c);
		return;
	}
	hp_limit_hit(p, "idle_timeout", c->peer_ip);
	hp_conn_end(c, true, "stalled");
}

/* One pass over everything the connection can do; *progress when bytes
 * moved or state changed. 0, 1 (close gracefully now) or -errno (reset). */
static int hp_conn_step(struct hp_conn *c, bool *progress)
{
	struct http_proxy *p = c->p;
	enum hp_state before = c->state;
	int rc;

	rc = hp_flush(p->io, c->handle, c->tls, &c->out, &c->bytes_out, progress);
	if (rc < 0)
		return rc;
	if (*progress)
		c->last_active_us = hp_now(p);
	if (c->closing) {
		if (hp_buf_pending(&c->out) == 0 && (!c->tls || tls_conn_pending_out(c->tls) == 0))
			return 1;
		return 0;
	}
	if (c->up && c->up->connected && !c->up->error) {
		bool up_progress = false;
		rc = hp_flush(p->io, c->up->handle, c->up->tls, &c->up->out, NULL, &up_progress);
		if (rc < 0)
			c->up->error = rc;
		if (up_progress) {
			*progress = true;
			c->last_active_us = hp_now(p);
		}
	}
	rc = hp_client_input(c, progress);
	if (rc != 0)
		return rc;
	if (c->state == HP_LOCAL) {
		rc = hp_local_step(c, progress);
		if (rc < 0)
			return rc;
	}
	if (c->state == HP_UPSTREAM && c->up) {
		rc = hp_up_input(c, progress);
		if (rc < 0)
			return rc;
	}
	if (c->state != HP_IDLE && c->req_done && c->resp_done) {
		hp_finish_exchange(c);
		*progress = true;
	}
	hp_track_peak(c);
	if (c->state != before)
		*progress = true;
	return 0;
}

void hp_conn_run(struct hp_conn *c)
{
	struct http_proxy *p = c->p;

	for (;;) {
		bool progress = false;
		int rc = hp_conn_step(c, &progress);

		if (rc == 1) {
			hp_conn_end(c, false, c->client_eof ? "client closed" : "done");
			return;
		}
		if (rc < 0) {
			hp_conn_end(c, true, strerror(-rc));
			return;
		}
		if (!progress)
			break;
	}
	uint64_t now = hp_now(p), deadline = hp_deadline(c);
	p->io->ops->timer_disarm(p->io, &c->timer);
	p->io->ops->timer_arm(p->io, &c->timer, deadline > now ? deadline - now : 0);
}

void hp_client_cb(void *ctx, int handle, unsigned events)
{
	struct hp_conn *c = ctx;

	(void)handle;
	if (c->tls) {
		int rc = tls_conn_on_event(c->tls, events);
		if (rc < 0) {
			io_event(c->p->io, "tls_error", IO_STR("proxy", c->p->name),
			         IO_STR("peer", c->peer_ip), IO_STR("why", tls_conn_error(c->tls)));
			hp_conn_end(c, true, "tls error");
			return;
		}
	}
	hp_conn_run(c);
}

void hp_conn_end(struct hp_conn *c, bool abort, const char *reason)
{
	struct http_proxy *p = c->p;

	if (c->state != HP_IDLE)
		hp_emit_request(c);
	io_event(p->io, "conn_closed", IO_STR("proxy", p->name), IO_STR("peer", c->peer_ip),
	         IO_U64("bytes_in", c->bytes_in), IO_U64("bytes_out", c->bytes_out),
	         IO_U64("duration_us", (hp_now(p) - c->start_us)), IO_U64("requests", c->requests),
	         IO_STR("reason", reason), IO_BOOL("abort", abort));
	hp_up_free(c, abort);
	p->io->ops->timer_disarm(p->io, &c->timer);
	if (c->tls) {
		/* After the peer's FIN, no more bytes go out (the sim's TCP
		 * also mishandles a write in CLOSE_WAIT followed by close). */
		if (!abort && !c->client_eof)
			tls_conn_close_notify(c->tls);
		tls_conn_free(c->tls);
	}
	p->io->ops->close(p->io, c->handle, abort);
	hp_local_reset(c);
	hp_route_clear(&c->route);
	buf_free(&c->out);
	http_head_free(c->req);
	free(c->in);
	list_remove(&p->conns, &c->link);
	free(c);
}

struct hp_conn *hp_conn_new(struct http_proxy *p)
{
	struct hp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->p = p;
	c->handle = -1;
	c->fh = -1;
	c->in = malloc(HTTP_PROXY_READ_CHUNK);
	c->req = http_head_new(p->max_head_bytes, p->max_headers);
	if (!c->in || !c->req) {
		free(c->in);
		http_head_free(c->req);
		free(c);
		return NULL;
	}
	buf_init(&c->out, p->max_buffered);
	c->timer.fn = hp_timer_fn;
	http_parser_init(&c->parser, true, c->req, hp_req_body, c);
	return c;
}
