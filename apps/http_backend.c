/* A small HTTP/1.1 origin server on the seam (see http_backend.h). */
#include "apps/http_backend.h"
#include "lib/base/check.h"
#include "lib/base/list.h"

#include "lib/wire/http_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HB_READ_CHUNK (16 * 1024)
#define HB_NAME_MAX   64

enum hb_kind {
	HB_PLAIN = 0, /* `left` bytes, Content-Length */
	HB_CHUNKED,   /* `left` bytes, chunked */
	HB_ECHO,      /* the request body, chunked */
	HB_HEADERS,   /* the request head, Content-Length */
	HB_RESET,
};

struct hb_conn {
	struct http_backend *b;
	struct list_node link; /* in the backend's conns */
	int handle;
	bool eof;
	bool active;    /* a request is being answered */
	bool waiting;   /* service time running */
	bool answering; /* response head queued, body in progress */
	bool req_done, resp_done, close_after;
	enum hb_kind kind;
	uint64_t left;
	uint64_t req_bytes, resp_bytes;
	int status;
	char path[128];
	struct http_head *head;
	struct http_parser parser;
	struct io_timer timer;
	char in[HB_READ_CHUNK];
	size_t in_off, in_len;
	char *head_copy; /* HB_HEADERS answer */
	size_t head_copy_len, head_copy_off;
	size_t out_off, out_len;
	char out[HTTP_BACKEND_OUT_BYTES];
};

struct http_backend {
	struct io *io;
	char name[HB_NAME_MAX];
	uint64_t service_time_us, body_bytes;
	uint64_t fault_delay_us; /* http_backend_set_fault */
	int fault_status;
	int listener;
	struct list_head conns;
	struct http_backend_stats stats;
	char last_head[HTTP_BACKEND_LAST_HEAD];
};

static void hb_run(struct hb_conn *c);

static size_t hb_room(const struct hb_conn *c)
{
	return sizeof(c->out) - (c->out_len - c->out_off);
}

static void hb_put(struct hb_conn *c, const void *data, size_t n)
{
	CHECK(n <= hb_room(c));
	if (sizeof(c->out) - c->out_len < n) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

static void hb_put_chunk(struct hb_conn *c, const char *data, size_t n)
{
	char hdr[24];
	int hn = http_msg_chunk_header(n, hdr, sizeof(hdr));

	CHECK(hn > 0);
	hb_put(c, hdr, (size_t)hn);
	hb_put(c, data, n);
	hb_put(c, "\r\n", 2);
}

static void hb_close(struct hb_conn *c, bool abort)
{
	struct http_backend *b = c->b;

	b->io->ops->timer_disarm(b->io, &c->timer);
	b->io->ops->close(b->io, c->handle, abort);
	list_remove(&b->conns, &c->link);
	http_head_free(c->head);
	free(c->head_copy);
	free(c);
}

static int hb_on_body(void *ctx, const char *data, size_t len)
{
	struct hb_conn *c = ctx;

	c->req_bytes += len;
	c->b->stats.bytes_in_body += len;
	if (c->kind == HB_ECHO && c->answering) {
		hb_put_chunk(c, data, len);
		c->resp_bytes += len;
	}
	return 0;
}

/* Keeps a copy of the request head as "Name: value\n" lines. */
static void hb_copy_head(struct hb_conn *c)
{
	struct http_backend *b = c->b;
	const struct http_head *h = c->head;
	size_t n = 0, cap = sizeof(b->last_head);

	n += (size_t)snprintf(b->last_head, cap, "%s %.*s\n", llhttp_method_name(h->method),
	                      (int)h->target_len, http_head_target(h));
	for (size_t i = 0; i < h->n_headers && n < cap; i++)
		n += (size_t)snprintf(b->last_head + n, cap - n, "%.*s: %.*s\n",
		                      (int)h->hdr[i].name_len, h->text.data + h->hdr[i].name_off,
		                      (int)h->hdr[i].value_len, h->text.data + h->hdr[i].value_off);
	if (n >= cap)
		n = cap - 1;
	b->last_head[n] = '\0';
}

/* X-Response-Bytes: N overrides the body size; a malformed or over-limit
 * value (or a repeated header) gets 400 with an empty body. */
static void hb_response_bytes(struct hb_conn *c)
{
	size_t len;
	const char *v = http_head_get(c->head, "X-Response-Bytes", &len);
	uint64_t n = 0;

	if (!v)
		return;
	if (len == 0 || len > 20 || http_head_count(c->head, "X-Response-Bytes") != 1)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			goto bad;
		n = n * 10 + (uint64_t)(v[i] - '0');
		if (n > HTTP_BACKEND_MAX_RESPONSE_BYTES)
			goto bad;
	}
	c->left = n;
	return;
bad:
	c->status = 400;
	c->left = 0;
}

/* A head arrived: pick the answer from the path. */
static void hb_request(struct hb_conn *c)
{
	struct http_backend *b = c->b;
	const char *t = http_head_target(c->head);
	size_t tl = c->head->target_len;
	uint64_t delay = b->service_time_us;

	snprintf(c->path, sizeof(c->path), "%.*s", (int)tl, t);
	c->req_done = c->resp_done = c->answering = false;
	c->req_bytes = c->resp_bytes = 0;
	c->status = 200;
	c->kind = HB_PLAIN;
	c->left = b->body_bytes;
	c->close_after = !c->head->keep_alive;
	b->stats.requests++;
	hb_copy_head(c);
	if (strncmp(c->path, "/echo", 5) == 0) {
		c->kind = HB_ECHO;
		c->left = 0;
		delay = 0;
	} else if (strncmp(c->path, "/bytes/", 7) == 0) {
		c->left = strtoull(c->path + 7, NULL, 10);
	} else if (strncmp(c->path, "/chunked/", 9) == 0) {
		c->kind = HB_CHUNKED;
		c->left = strtoull(c->path + 9, NULL, 10);
	} else if (strncmp(c->path, "/headers", 8) == 0) {
		c->kind = HB_HEADERS;
		free(c->head_copy);
		c->head_copy = strdup(b->last_head);
		c->head_copy_len = c->head_copy ? strlen(c->head_copy) : 0;
		c->head_copy_off = 0;
		c->left = c->head_copy_len;
	} else if (strncmp(c->path, "/sleep/", 7) == 0) {
		delay = strtoull(c->path + 7, NULL, 10);
		if (delay > HTTP_BACKEND_MAX_SLEEP_US)
			delay = HTTP_BACKEND_MAX_SLEEP_US;
	} else if (strncmp(c->path, "/reset", 6) == 0) {
		c->kind = HB_RESET;
		delay = 0;
	}
	if (c->kind == HB_PLAIN || c->kind == HB_CHUNKED)
		hb_response_bytes(c);
	if (b->fault_status) {
		c->kind = HB_PLAIN;
		c->status = b->fault_status;
		c->left = 0;
	}
	/* An echo streams the body back as it arrives: held back, the bytes
	 * read meanwhile would have nowhere to go, so a slow origin delays
	 * every answer but that one. */
	if (c->kind != HB_ECHO)
		delay += b->fault_delay_us;
	if (c->head->method == HTTP_HEAD)
		c->left = 0;
	c->waiting = delay > 0;
	if (c->waiting)
		b->io->ops->timer_arm(b->io, &c->timer, delay);
}

/* Queues the response head, then as much body as fits. */
static void hb_answer(struct hb_conn *c, bool *progress)
{
	if (c->waiting || c->resp_done)
		return;
	if (!c->answering) {
		char head[256];
		bool chunked = c->kind == HB_CHUNKED || c->kind == HB_ECHO;
		const char *type =
		    c->kind == HB_HEADERS ? "text/plain" : "application/octet-stream";
		int n = http_msg_write_simple(c->status, type, c->left, chunked, NULL,
		                              c->close_after, head, sizeof(head));
		CHECK(n > 0);
		if (hb_room(c) < (size_t)n)
			return;
		hb_put(c, head, (size_t)n);
		c->answering = true;
		*progress = true;
		if (c->head->method == HTTP_HEAD)
			c->left = 0;
	}
	while (c->left > 0 && hb_room(c) > 64) {
		char buf[4096];
		size_t n = hb_room(c) - 64;
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > c->left)
			n = (size_t)c->left;
		if (c->kind == HB_HEADERS) {
			memcpy(buf, c->head_copy + c->head_copy_off, n);
			c->head_copy_off += n;
		} else {
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)('a' + (c->resp_bytes + i) % 26);
		}
		if (c->kind == HB_CHUNKED)
			hb_put_chunk(c, buf, n);
		else
			hb_put(c, buf, n);
		c->left -= n;
		c->resp_bytes += n;
		*progress = true;
	}
	bool body_done = c->kind == HB_ECHO ? c->req_done : c->left == 0;
	if (body_done && hb_room(c) >= 8) {
		if (c->kind == HB_CHUNKED || c->kind == HB_ECHO)
			hb_put(c, "0\r\n\r\n", 5);
		c->resp_done = true;
		*progress = true;
	}
}

static void hb_finish(struct hb_conn *c)
{
	struct http_backend *b = c->b;
	b->stats.bytes_out_body += c->resp_bytes;
	io_event(b->io, "backend_request", IO_STR("backend", b->name), IO_STR("path", c->path),
	         IO_I64("status", c->status), IO_U64("bytes_in", c->req_bytes),
	         IO_U64("bytes_out", c->resp_bytes));
	c->answering = c->active = false;
	c->req_done = c->resp_done = false;
	http_parser_resume(&c->parser);
}

/* What a connection does after one step of hb_step's loop. */
enum hb_next {
	HB_NEXT_GONE = 0, /* it was closed (and freed) */
	HB_NEXT_WAIT,     /* nothing more to do until the next readiness */
	HB_NEXT_LOOP,     /* start the loop over */
	HB_NEXT_ON,       /* go on to the loop's next step */
};

/* Writes what is queued until the socket is full. False when the
 * connection broke (it is closed). */
static bool hb_flush(struct hb_conn *c, bool *progress)
{
	struct io *io = c->b->io;

	while (c->out_off < c->out_len) {
		ssize_t w =
		    io->ops->tcp_write(io, c->handle, c->out + c->out_off, c->out_len - c->out_off);
		if (w == -EAGAIN)
			break;
		if (w <= 0) {
			hb_close(c, true);
			return false;
		}
		c->out_off += (size_t)w;
		*progress = true;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return true;
}

/* Answers the request in progress: a finished exchange ends (the
 * connection waits to close when it asked for that); a request wholly read
 * waits for its answer, and echo waits for room for what it reflects. */
static enum hb_next hb_answer_step(struct hb_conn *c, bool *progress)
{
	if (!c->active)
		return HB_NEXT_ON;
	hb_answer(c, progress);
	if (c->req_done && c->resp_done) {
		if (c->close_after)
			return HB_NEXT_WAIT;
		hb_finish(c);
		*progress = true;
		return HB_NEXT_LOOP;
	}
	if (c->req_done)
		return HB_NEXT_WAIT;
	if (c->kind == HB_ECHO && hb_room(c) < HB_READ_CHUNK + 64)
		return HB_NEXT_WAIT;
	return HB_NEXT_ON;
}

/* Reads more when every byte read is parsed; the peer's end closes the
 * connection once nothing more is owed (reset mid-request). */
static enum hb_next hb_read(struct hb_conn *c, bool *progress)
{
	struct io *io = c->b->io;

	if (c->in_off < c->in_len)
		return HB_NEXT_ON;
	if (c->eof) {
		hb_close(c, c->active || http_parser_in_message(&c->parser));
		return HB_NEXT_GONE;
	}
	ssize_t n = io->ops->tcp_read(io, c->handle, c->in, sizeof(c->in));
	if (n == -EAGAIN)
		return HB_NEXT_WAIT;
	if (n < 0) {
		hb_close(c, true);
		return HB_NEXT_GONE;
	}
	*progress = true;
	if (n == 0) {
		c->eof = true;
		return HB_NEXT_LOOP;
	}
	c->in_off = 0;
	c->in_len = (size_t)n;
	return HB_NEXT_ON;
}

/* Feeds the unparsed input to the parser: a malformed request gets 400 and
 * the connection closes; a new request's head starts its answer (the reset
 * kind resets instead). */
static enum hb_next hb_parse(struct hb_conn *c, bool *progress)
{
	struct io *io = c->b->io;
	size_t used;
	enum http_parse_status st =
	    http_parser_feed(&c->parser, c->in + c->in_off, c->in_len - c->in_off, &used);

	c->in_off += used;
	if (st == HTTP_PARSE_ERROR) {
		char resp[128];
		int n = http_msg_write_simple(400, NULL, 0, false, NULL, true, resp, sizeof(resp));
		io->ops->tcp_write(io, c->handle, resp, (size_t)n);
		hb_close(c, false);
		return HB_NEXT_GONE;
	}
	if (st == HTTP_PARSE_HEAD) {
		hb_request(c);
		c->active = true;
		*progress = true;
		if (c->kind == HB_RESET) {
			hb_close(c, true);
			return HB_NEXT_GONE;
		}
		/* Echo answers at once, streaming the body as it comes. */
		hb_answer(c, progress);
		http_parser_resume(&c->parser);
		/* A bodiless request completes on an empty feed. */
		st = http_parser_feed(&c->parser, c->in + c->in_off, 0, &used);
		if (st == HTTP_PARSE_ERROR)
			return HB_NEXT_LOOP;
	}
	if (st == HTTP_PARSE_DONE)
		c->req_done = true;
	return HB_NEXT_LOOP;
}

/* One pass: flush, then answer, read and parse until there is nothing to
 * do. Returns false when the connection is gone. */
static bool hb_step(struct hb_conn *c, bool *progress)
{
	if (!hb_flush(c, progress))
		return false;
	if (c->active && c->req_done && c->resp_done && c->close_after) {
		if (c->out_len == 0) {
			hb_close(c, false);
			return false;
		}
		return true;
	}
	for (;;) {
		enum hb_next next = hb_answer_step(c, progress);
		if (next == HB_NEXT_ON)
			next = hb_read(c, progress);
		if (next == HB_NEXT_ON)
			next = hb_parse(c, progress);
		if (next == HB_NEXT_GONE)
			return false;
		if (next == HB_NEXT_WAIT)
			return true;
	}
}

static void hb_run(struct hb_conn *c)
{
	for (;;) {
		bool progress = false;
		if (!hb_step(c, &progress))
			return;
		if (!progress)
			return;
	}
}

static void hb_conn_cb(void *ctx, int handle, unsigned events)
{
	(void)handle;
	if (events & IO_ERROR) {
		hb_close(ctx, true);
		return;
	}
	hb_run(ctx);
}

static void hb_timer_fn(struct io_timer *t)
{
	struct hb_conn *c = container_of(t, struct hb_conn, timer);

	c->waiting = false;
	hb_run(c);
}

static void hb_listen_cb(void *ctx, int listener, unsigned events)
{
	struct http_backend *b = ctx;
	struct io *io = b->io;

	(void)events;
	for (;;) {
		struct io_addr peer;
		struct hb_conn *c = calloc(1, sizeof(*c));

		if (!c)
			return;
		c->b = b;
		c->timer.fn = hb_timer_fn;
		c->head = http_head_new(HTTP_BACKEND_HEAD_BYTES, HTTP_MSG_DEFAULT_MAX_HEADERS);
		if (!c->head) {
			free(c);
			return;
		}
		http_parser_init(&c->parser, true, c->head, hb_on_body, c);
		c->handle = io->ops->tcp_accept(io, listener, &peer, hb_conn_cb, c);
		if (c->handle < 0) {
			http_head_free(c->head);
			free(c);
			return;
		}
		b->stats.conns_accepted++;
		if (b->conns.n >= HTTP_BACKEND_MAX_CONNS) {
			io->ops->close(io, c->handle, false);
			http_head_free(c->head);
			free(c);
			continue;
		}
		list_push_front(&b->conns, &c->link);
		hb_run(c);
	}
}

int http_backend_new(struct http_backend **out, struct io *io,
                     const struct http_backend_config *cfg, const struct io_addr *addr,
                     struct io_addr *bound)
{
	struct http_backend *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->io = io;
	const char *name = cfg && cfg->name ? cfg->name : "backend";
	if (strlen(name) < sizeof(b->name))
		memcpy(b->name, name, strlen(name) + 1); /* a longer name is left empty */
	b->service_time_us = cfg ? cfg->service_time_us : 0;
	b->body_bytes = cfg ? cfg->body_bytes : 0;
	b->listener = io->ops->tcp_listen(io, addr, 128, hb_listen_cb, b);
	if (b->listener < 0) {
		int rc = b->listener;
		free(b);
		return rc;
	}
	if (bound) {
		int rc = io->ops->sock_name(io, b->listener, false, bound);
		if (rc < 0) {
			io->ops->close(io, b->listener, false);
			free(b);
			return rc;
		}
	}
	*out = b;
	return 0;
}

void http_backend_free(struct http_backend *b)
{
	if (!b)
		return;
	b->io->ops->close(b->io, b->listener, false);
	while (!list_empty(&b->conns))
		hb_close(list_item(b->conns.first, struct hb_conn, link), false);
	free(b);
}

const struct http_backend_stats *http_backend_stats(const struct http_backend *b)
{
	return &b->stats;
}

const char *http_backend_last_head(const struct http_backend *b)
{
	return b->last_head;
}

size_t http_backend_open_connections(const struct http_backend *b)
{
	return b->conns.n;
}

int http_backend_set_fault(struct http_backend *b, uint64_t extra_delay_us, int error_status)
{
	if (extra_delay_us > HTTP_BACKEND_MAX_FAULT_DELAY_US ||
	    (error_status != 0 && (error_status < 500 || error_status > 599)))
		return -EINVAL;
	b->fault_delay_us = extra_delay_us;
	b->fault_status = error_status;
	return 0;
}
