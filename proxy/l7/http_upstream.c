/* http_upstream.c: upstream connections, their idle pool and the relayed exchange. */
#define _GNU_SOURCE
#include "lib/base/mutant.h"
#include "lib/io/io_event.h"
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void hp_up_destroy(struct hp_up *up, bool abort)
{
	struct http_proxy *p = up->p;

	if (up->tls)
		tls_conn_free(up->tls);
	if (up->handle >= 0)
		p->io->ops->close(p->io, up->handle, abort);
	buf_free(&up->out);
	free(up->in);
	http_head_free(up->head);
	free(up);
}

/* Closes the client connection's upstream leg, if any. */
void hp_up_free(struct hp_conn *c, bool abort)
{
	if (!c->up)
		return;
	hp_up_destroy(c->up, abort);
	c->up = NULL;
}

static void hp_pool_unlink(struct http_proxy *p, struct hp_up *up)
{
	list_remove(&p->pool, &up->pool_link);
}

static void hp_pool_arm(struct http_proxy *p)
{
	const struct hp_up *oldest = list_item(p->pool.last, struct hp_up, pool_link);

	if (!oldest || io_timer_armed(&p->pool_timer))
		return;
	uint64_t now = hp_now(p), at = oldest->idle_since_us + p->upstream_idle_timeout_us;
	p->io->ops->timer_arm(p->io, &p->pool_timer, at > now ? at - now : 0);
}

/* An idle connection has nothing to say: a byte, EOF or an error ends it.
 * Returns false when it was closed (and freed). */
static bool hp_pool_check(struct hp_up *up)
{
	struct http_proxy *p = up->p;
	uint8_t b[64];
	ssize_t n = -EAGAIN;

	if (!up->error && !up->eof)
		n = hp_sread(p->io, up->handle, up->tls, b, sizeof(b));
	if (n == -EAGAIN)
		return true;
	hp_pool_unlink(p, up);
	hp_up_destroy(up, n > 0);
	return false;
}

void hp_pool_timer_fn(struct io_timer *t)
{
	struct http_proxy *p = container_of(t, struct http_proxy, pool_timer);
	uint64_t now = hp_now(p);

	struct hp_up *up;

	while ((up = list_item(p->pool.last, struct hp_up, pool_link)) &&
	       up->idle_since_us + p->upstream_idle_timeout_us <= now) {
		hp_pool_unlink(p, up);
		hp_up_destroy(up, false);
	}
	hp_pool_arm(p);
}

/* The exchange on `c` is over: its upstream connection goes to the pool
 * when it is clean (whole request sent, whole response read, kept alive),
 * else it is closed. */
void hp_pool_put(struct hp_conn *c)
{
	struct http_proxy *p = c->p;
	struct hp_up *up = c->up;

	c->up = NULL;
	bool clean = c->state == HP_UPSTREAM && c->resp_done && up->connected && !up->eof &&
	             !up->error && !up->kick && up->in_off == up->in_len &&
	             hp_buf_pending(&up->out) == 0 &&
	             (!up->tls || tls_conn_pending_out(up->tls) == 0);
	if (!clean || p->draining || p->max_idle_upstreams == 0) {
		hp_up_destroy(up, false);
		return;
	}
	up->conn = NULL;
	up->idle_since_us = hp_now(p);
	list_push_front(&p->pool, &up->pool_link);
	if (p->pool.n > p->max_idle_upstreams) {
		struct hp_up *oldest = list_item(p->pool.last, struct hp_up, pool_link);
		hp_pool_unlink(p, oldest);
		hp_up_destroy(oldest, false);
	}
	if (hp_pool_check(up))
		hp_pool_arm(p);
}

static bool hp_up_matches(const struct hp_up *up, const struct hp_route *r)
{
	return up->kind == r->kind && io_addr_equal(&up->addr, &r->addr, true) &&
	       strcmp(up->host, r->host) == 0;
}

/* The newest idle connection to the route, taken out of the pool. */
static struct hp_up *hp_pool_take(struct http_proxy *p, const struct hp_route *r)
{
	struct list_node *n;

	list_for_each(n, &p->pool)
	{
		struct hp_up *up = list_item(n, struct hp_up, pool_link);
		if (hp_up_matches(up, r)) {
			hp_pool_unlink(p, up);
			return up;
		}
	}
	return NULL;
}

void hp_pool_close_all(struct http_proxy *p, bool abort)
{
	struct hp_up *up;

	while ((up = list_item(p->pool.first, struct hp_up, pool_link))) {
		hp_pool_unlink(p, up);
		hp_up_destroy(up, abort);
	}
	p->io->ops->timer_disarm(p->io, &p->pool_timer);
}

static void hp_up_cb(void *ctx, int handle, unsigned events)
{
	struct hp_up *up = ctx;

	if (up->handle != handle)
		return;
	if (events & IO_WRITABLE)
		up->connected = true;
	if (up->tls) {
		int rc = tls_conn_on_event(up->tls, events);
		if (rc < 0 && !up->error)
			up->error = rc;
	}
	if (events & IO_ERROR && !up->error)
		up->error = -ECONNRESET;
	if (up->conn)
		hp_conn_run(up->conn);
	else
		hp_pool_check(up);
}

static int hp_resp_body(void *ctx, const char *data, size_t len)
{
	struct hp_up *up = ctx;
	struct hp_conn *c = up->conn;

	c->resp_body_bytes += len;
	if (c->head_request)
		return 0;
	return hp_put_body(&c->out, c->resp_body, data, len) < 0 ? -1 : 0;
}

static struct tls_ctx *hp_up_tls_ctx(struct http_proxy *p, bool insecure)
{
	struct tls_ctx **slot = insecure ? &p->up_tls_insecure : &p->up_tls_verify;
	char err[TLS_ERR_LEN];

	if (!*slot) {
		struct tls_ctx_config tc = {
		    .server = false,
		    .insecure = insecure,
		    .ca_file = p->up_ca_file,
		    .ca_pem = p->up_ca_pem,
		    .os_entropy = p->os_entropy,
		};
		if (tls_ctx_new(slot, p->io, &tc, err, sizeof(err)) < 0) {
			io_event(p->io, "proxy_error", IO_STR("proxy", p->name),
			         IO_STR("what", err));
			*slot = NULL;
		}
	}
	return *slot;
}

/* Opens a new upstream connection for the request's route. 0 or -errno. */
static int hp_up_open(struct hp_conn *c)
{
	struct http_proxy *p = c->p;
	struct hp_up *up = calloc(1, sizeof(*up));

	if (!up)
		return -ENOMEM;
	up->p = p;
	up->conn = c;
	up->handle = -1;
	up->kind = c->route.kind;
	up->addr = c->route.addr;
	memcpy(up->host, c->route.host, sizeof(up->host));
	buf_init(&up->out, p->max_buffered);
	up->in = malloc(HTTP_PROXY_READ_CHUNK);
	up->head = http_head_new(p->max_head_bytes, p->max_headers);
	if (!up->in || !up->head) {
		free(up->in);
		http_head_free(up->head);
		free(up);
		return -ENOMEM;
	}
	http_parser_init(&up->parser, false, up->head, hp_resp_body, up);
	c->up = up;
	int h = p->io->ops->tcp_connect(p->io, &up->addr, NULL, hp_up_cb, up);
	if (h < 0)
		return h;
	up->handle = h;
	p->upstreams_opened++;
	if (up->kind != HP_UP_HTTP) {
		struct tls_ctx *tc = hp_up_tls_ctx(p, up->kind == HP_UP_HTTPS_INSECURE);
		if (!tc)
			return -EPROTO;
		up->tls = tls_conn_new_client(tc, p->io, h, up->host);
		if (!up->tls)
			return -ENOMEM;
	}
	return 0;
}

int hp_req_body(void *ctx, const char *data, size_t len)
{
	struct hp_conn *c = ctx;

	c->req_body_bytes += len;
	if (c->discard_body || !c->up)
		return 0;
	return hp_put_body(&c->up->out, c->req_body_up, data, len) < 0 ? -1 : 0;
}

/* Writes the request head for the upstream into up->out. */
static int hp_up_send_head(struct hp_conn *c, const char *path, size_t path_len)
{
	struct hp_up *up = c->up;
	const char *target = http_head_target(c->req);
	size_t mlen = strlen(c->mount);
	const char *query = memchr(target, '?', c->req->target_len);
	size_t qlen = query ? c->req->target_len - (size_t)(query - target) : 0;
	const char *base = c->route.base ? c->route.base : "";
	size_t blen = strlen(base);

	/* Strip the mount (SPEC L7-2): "/api/" or "/api" on "/api/x" -> "/x". */
	while (mlen > 0 && c->mount[mlen - 1] == '/')
		mlen--;
	const char *rest = path + mlen;
	size_t rest_len = path_len - mlen;
	size_t tcap = blen + rest_len + qlen + 2;
	char stack_target[512];
	/* Most targets are short: no allocation per request for them. */
	char *t = tcap <= sizeof(stack_target) ? stack_target : malloc(tcap);
	if (!t)
		return -ENOMEM;
	size_t tl = 0;
	memcpy(t, base, blen);
	tl += blen;
	if (rest_len == 0 || rest[0] != '/')
		t[tl++] = '/';
	memcpy(t + tl, rest, rest_len);
	tl += rest_len;
	if (qlen)
		memcpy(t + tl, query, qlen);
	tl += qlen;

	struct http_forward fw = {
	    .target = t,
	    .target_len = tl,
	    .client_ip = c->peer_ip,
	    .tls = c->tls != NULL || MUTANT("l7-forwarded-proto-https"),
	    .user_login = c->has_identity ? c->login : NULL,
	    .user_name = c->has_identity ? c->uname : NULL,
	    .body = c->req_body_up,
	    .content_length = c->req->content_length,
	    .close = false,
	};
	int rc = hp_buf_reserve(&up->out, c->p->max_head_bytes + HTTP_MSG_REWRITE_SLACK + tcap);
	if (rc == 0) {
		int n = http_msg_write_request(c->req, &fw, up->out.data + up->out.len,
		                               buf_room(&up->out));
		if (n < 0)
			rc = n;
		else
			buf_commit(&up->out, (size_t)n);
	}
	if (t != stack_target)
		free(t);
	return rc;
}

/* Starts (or restarts, after a reused connection failed) the upstream leg
 * of the current request: on an idle pooled connection to its route, or
 * on a new one when there is none or `fresh` asks for it. */
int hp_up_start(struct hp_conn *c, bool fresh)
{
	const char *target = http_head_target(c->req);
	const char *q = memchr(target, '?', c->req->target_len);
	size_t plen = q ? (size_t)(q - target) : c->req->target_len;
	int rc;

	hp_up_free(c, false);
	if (!fresh)
		c->up = hp_pool_take(c->p, &c->route);
	if (c->up) {
		c->up->conn = c;
		c->up->reused = true;
		c->p->upstreams_reused++;
		http_parser_resume(&c->up->parser);
	} else {
		rc = hp_up_open(c);
		if (rc < 0)
			return rc;
	}
	c->up->got_bytes = false;
	http_parser_expect_no_body(&c->up->parser, c->head_request);
	return hp_up_send_head(c, target, plen);
}

/* The upstream failed before its response head: retry a reused idle
 * connection once, on a new connection, for a bodiless request (the
 * upstream may have closed it as it went idle), else answer 502/504.
 * After the head, the client connection is reset (returns -ECONNRESET). */
static int hp_up_fail(struct hp_conn *c, int status, const char *why)
{
	if (c->resp_started)
		return -ECONNRESET;
	bool retry = status == 502 && c->up && c->up->reused && !c->up->got_bytes &&
	             c->req_body_up == HTTP_BODY_NONE && !c->retried;
	hp_up_free(c, true);
	if (retry) {
		c->retried = true;
		if (hp_up_start(c, true) == 0)
			return 0;
		hp_up_free(c, true);
	}
	c->discard_body = true;
	c->state = HP_LOCAL;
	hp_local_error(c, status, why, !c->req_done);
	return 0;
}

/* Framing towards the client for the upstream's response head. */
static enum http_body_mode hp_client_framing(const struct hp_conn *c, const struct http_head *h)
{
	switch (h->body) {
	case HTTP_BODY_NONE:
	case HTTP_BODY_LENGTH:
		return h->body;
	case HTTP_BODY_CHUNKED:
	case HTTP_BODY_EOF:
		return c->client_http10 ? HTTP_BODY_EOF : HTTP_BODY_CHUNKED;
	}
	return HTTP_BODY_NONE;
}

/* Room in the client buffer for what the upstream may add next: the bytes
 * read and not parsed yet (or a whole read), framing, and before the
 * response head a whole rewritten head. */
static bool hp_up_room(const struct hp_conn *c, const struct hp_up *up)
{
	size_t pending = up->in_len - up->in_off;
	size_t need = (pending ? pending : HTTP_PROXY_READ_CHUNK) + HP_FRAMING_SLACK;

	if (!c->resp_started)
		need += c->p->max_head_bytes + HTTP_MSG_REWRITE_SLACK;
	return hp_buf_room(&c->out) >= need;
}

enum hp_up_read {
	HP_UP_READ_PARSE = 0, /* bytes (or a kick) to feed the parser */
	HP_UP_READ_AGAIN,     /* state changed (error, EOF): look again */
	HP_UP_READ_RETURN,    /* hp_up_input returns *rc */
	HP_UP_READ_END,       /* the response ended with the connection */
};

/* Reads the upstream's next bytes when the parser has none left. */
static enum hp_up_read hp_up_read(struct hp_conn *c, struct hp_up *up, bool *progress, int *rc)
{
	struct http_proxy *p = c->p;

	*rc = 0;
	if (up->in_off != up->in_len || up->kick)
		return HP_UP_READ_PARSE;
	if (up->error) {
		*rc = hp_up_fail(c, 502, "upstream connection failed");
		return HP_UP_READ_RETURN;
	}
	if (up->eof) {
		if (http_parser_finish(&up->parser) == HTTP_PARSE_DONE)
			return HP_UP_READ_END;
		*rc = hp_up_fail(c, 502,
		                 up->got_bytes ? "upstream closed mid-response"
		                               : "upstream closed without answering");
		return HP_UP_READ_RETURN;
	}
	if (!up->connected)
		return HP_UP_READ_RETURN;
	up->in_off = up->in_len = 0;
	ssize_t n = hp_sread(p->io, up->handle, up->tls, up->in, HTTP_PROXY_READ_CHUNK);
	if (n == -EAGAIN)
		return HP_UP_READ_RETURN;
	if (n < 0) {
		up->error = (int)n;
		return HP_UP_READ_AGAIN;
	}
	if (n == 0) {
		up->eof = true;
		return HP_UP_READ_AGAIN;
	}
	up->in_len = (size_t)n;
	up->got_bytes = true;
	*progress = true;
	c->last_active_us = hp_now(p);
	return HP_UP_READ_PARSE;
}

/* The upstream's response head: an interim one (100 Continue) goes
 * through to HTTP/1.1 clients, the final one is rewritten for the client
 * with its framing. Returns 0 to go on parsing, or sets *stop and returns
 * what hp_up_input returns. */
static int hp_up_response_head(struct hp_conn *c, struct hp_up *up, bool *stop)
{
	struct http_proxy *p = c->p;
	struct http_head *h = up->head;
	int n;

	if (h->status / 100 == 1) {
		if (!c->client_http10 &&
		    hp_buf_reserve(&c->out, p->max_head_bytes + HTTP_MSG_REWRITE_SLACK) == 0) {
			n = http_msg_write_response(h, HTTP_BODY_NONE, 0, false,
			                            c->out.data + c->out.len, buf_room(&c->out));
			if (n > 0)
				buf_commit(&c->out, (size_t)n);
		}
		http_parser_resume(&up->parser);
		up->kick = true;
		return 0;
	}
	c->status = h->status;
	c->resp_body = hp_client_framing(c, h);
	if (c->resp_body == HTTP_BODY_EOF)
		c->close_after = true;
	int rc = hp_buf_reserve(&c->out, p->max_head_bytes + HTTP_MSG_REWRITE_SLACK);
	if (rc < 0) {
		*stop = true;
		return rc;
	}
	n = http_msg_write_response(h, c->resp_body, h->content_length, c->close_after,
	                            c->out.data + c->out.len, buf_room(&c->out));
	if (n < 0) {
		*stop = true;
		return hp_up_fail(c, 502, "upstream response head too large");
	}
	buf_commit(&c->out, (size_t)n);
	c->resp_started = true;
	http_parser_resume(&up->parser);
	up->kick = true;
	return 0;
}

/* The whole response is in the client buffer (with the last chunk). The
 * upstream connection is kept for the pool only when it is clean. */
static int hp_up_response_done(struct hp_conn *c, struct hp_up *up, bool *progress)
{
	if (c->resp_body == HTTP_BODY_CHUNKED && hp_buf_put(&c->out, "0\r\n\r\n", 5) < 0)
		return -ENOSPC;
	c->resp_done = true;
	*progress = true;
	/* Leftover bytes after a complete response mean a confused upstream;
	 * an answer before the whole request body went out leaves the rest of
	 * the body in the upstream's stream: neither connection is reused. */
	if (up->in_off != up->in_len || !up->head->keep_alive || !c->req_done)
		up->eof = true;
	return 0;
}

/* Reads and parses the upstream's response while the client buffer has
 * room. 0, or -errno to reset the client connection. */
int hp_up_input(struct hp_conn *c, bool *progress)
{
	struct hp_up *up = c->up;

	while (c->up == up && c->state == HP_UPSTREAM && !c->resp_done) {
		bool stop = false;
		int rc;

		if (!hp_up_room(c, up))
			return 0;
		switch (hp_up_read(c, up, progress, &rc)) {
		case HP_UP_READ_PARSE:
			break;
		case HP_UP_READ_AGAIN:
			continue;
		case HP_UP_READ_RETURN:
			return rc;
		case HP_UP_READ_END:
			return hp_up_response_done(c, up, progress);
		}
		up->kick = false;
		size_t used;
		enum http_parse_status st = http_parser_feed(&up->parser, up->in + up->in_off,
		                                             up->in_len - up->in_off, &used);
		up->in_off += used;
		if (used)
			*progress = true;
		switch (st) {
		case HTTP_PARSE_MORE:
			break;
		case HTTP_PARSE_HEAD:
			rc = hp_up_response_head(c, up, &stop);
			if (stop)
				return rc;
			break;
		case HTTP_PARSE_DONE:
			if (up->head->status / 100 == 1) {
				http_parser_resume(&up->parser);
				break;
			}
			return hp_up_response_done(c, up, progress);
		case HTTP_PARSE_ERROR:
			return hp_up_fail(c, 502, up->parser.why);
		}
	}
	return 0;
}
