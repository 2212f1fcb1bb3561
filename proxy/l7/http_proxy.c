/* The L7 Service Proxy (see http_proxy.h). */
#define _GNU_SOURCE
#include "proxy/l7/http_proxy.h"
#include "lib/base/check.h"

#include "lib/base/hex.h"
#include "lib/io/event_gap.h"
#include "lib/io/io_event.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Body bytes one feed can add on top of what it consumes (one chunk header
 * split across reads, and the final "0\r\n\r\n"). */
#define HP_FRAMING_SLACK 64
/* Room a local response head needs (status line, a few headers). */
#define HP_LOCAL_HEAD_ROOM 2048
#define HP_EVENT_STR       256 /* longest string field in an event, bytes */
#define HP_HOST_MAX        255

enum hp_up_kind {
	HP_UP_HTTP = 0,
	HP_UP_HTTPS,
	HP_UP_HTTPS_INSECURE,
};

/* A parsed Proxy target: where and how to connect, what to prefix. */
struct hp_route {
	bool ok; /* false: the host cannot be resolved through the seam */
	enum hp_up_kind kind;
	struct io_addr addr;
	char host[HP_HOST_MAX + 1];
	char *base; /* path prefix without a trailing '/', maybe "" */
};

/* The handlers in force: a deep copy of the daemon's serve_port. */
struct hp_handlers {
	struct serve_port port;
	struct hp_route *routes; /* one per handler (Proxy ones filled) */
};

struct hp_buf {
	char *data;
	size_t off, len; /* pending bytes are data[off, len) */
	size_t alloc, cap;
};

enum hp_state {
	HP_IDLE = 0, /* waiting for a request head */
	HP_LOCAL,    /* answering from the proxy itself (text, file, error) */
	HP_UPSTREAM, /* relaying to and from an upstream */
};

struct hp_conn;

/* An upstream connection: serving one client connection's exchange
 * (`conn`), or idle in the proxy's pool (`conn` NULL) for the next
 * request to the same route from any client connection. */
struct hp_up {
	struct http_proxy *p;
	struct hp_conn *conn;
	struct hp_up *pool_prev, *pool_next; /* while idle, newest first */
	uint64_t idle_since_us;
	int handle;
	struct tls_conn *tls;
	bool connected;
	bool eof;
	bool reused;
	bool got_bytes; /* the current response has begun */
	/* Feed the parser once more even without new bytes: after a head it
	 * reports the end of a body-less response only on its next call. */
	bool kick;
	int error; /* negative errno once failed */
	/* The route key, for reuse by the next request. */
	enum hp_up_kind kind;
	struct io_addr addr;
	char host[HP_HOST_MAX + 1];
	struct hp_buf out;
	char *in;
	size_t in_off, in_len;
	struct http_head *head;
	struct http_parser parser;
};

struct hp_conn {
	struct http_proxy *p;
	struct hp_conn *prev, *next;
	int handle;
	struct tls_conn *tls;
	struct io_addr peer;
	char peer_ip[IO_ADDR_STRLEN];
	bool has_identity;
	char login[HTTP_MSG_IDENTITY_MAX + 1];
	char uname[HTTP_MSG_IDENTITY_MAX + 1];
	uint64_t start_us, last_active_us, idle_since_us, head_start_us;
	uint64_t bytes_in, bytes_out;
	uint32_t requests;
	struct io_timer timer;

	char *in;
	size_t in_off, in_len;
	bool client_eof;
	bool kick; /* feed the parser even without new bytes */
	struct http_head *req;
	struct http_parser parser;
	struct hp_buf out;
	bool close_after; /* close once this exchange is done */
	bool closing;     /* flush, then close */

	/* The exchange in progress. */
	enum hp_state state;
	bool req_done, resp_done, resp_started;
	bool discard_body;
	bool head_request;
	bool client_http10;
	enum http_body_mode req_body_up; /* framing towards the upstream */
	enum http_body_mode resp_body;   /* framing towards the client */
	int status;
	uint64_t req_start_us, req_body_bytes, resp_body_bytes;
	char method[24];
	char path[HP_EVENT_STR];
	char mount[SERVE_MAX_PATH_LEN + 1];
	char upstream[IO_ADDR_STRLEN + 8];
	struct hp_route route; /* copy for this request (base malloc'd) */
	bool retried;

	/* A local answer: head fields, then a body from memory or a file. */
	bool local_head_sent;
	int local_status;
	const char *local_type;
	char local_extra[SERVE_MAX_PATH_LEN + 64];
	char *mem_body;
	size_t mem_len, mem_off;
	int fd;
	uint64_t file_left;

	struct hp_up *up;
};

struct http_proxy {
	struct svc_proxy base; /* first: svcd holds a struct svc_proxy * (svc_proxy.h) */
	struct io *io;
	char name[HTTP_PROXY_NAME_MAX + 1];
	struct hp_handlers *handlers;
	struct tls_ctx *tls;
	struct tls_ctx *up_tls_verify, *up_tls_insecure; /* made on first use */
	char *up_ca_file, *up_ca_pem;
	bool os_entropy;
	svc_proxy_whois_fn whois;
	void *whois_ctx;
	uint32_t max_conns;
	size_t max_head_bytes, max_headers, max_buffered;
	uint64_t idle_timeout_us, head_timeout_us, upstream_timeout_us, handshake_timeout_us;
	int listeners[HTTP_PROXY_MAX_LISTENERS];
	size_t n_listeners;
	bool draining;
	struct hp_conn *conns;
	size_t n_conns;
	size_t peak_buffered;
	/* Idle upstream connections, newest at the head (taken first, the
	 * most likely to be alive), oldest at the tail (expired first). */
	struct hp_up *pool_head, *pool_tail;
	size_t n_pool, max_idle_upstreams;
	uint64_t upstream_idle_timeout_us;
	struct io_timer pool_timer;
	/* Connections shed at a limit: one limit_hit a second, with a count,
	 * so a flood cannot grow the events file a line per connection. */
	struct event_gap shed_gap;
	const char *shed_limit;
	char shed_peer[IO_ADDR_STRLEN];
	uint64_t upstreams_opened, upstreams_reused;
};

static void hp_conn_run(struct hp_conn *c);
static void hp_conn_end(struct hp_conn *c, bool abort, const char *reason);

/* --- small helpers ----------------------------------------------------------- */

static uint64_t hp_now(const struct http_proxy *p)
{
	return p->io->ops->now_us(p->io);
}

static void hp_esc(char *out, size_t cap, const char *in)
{
	if (io_json_escape(out, cap, in) < 0 && cap > 0)
		out[0] = '\0';
}

static size_t hp_buf_pending(const struct hp_buf *b)
{
	return b->len - b->off;
}

static size_t hp_buf_room(const struct hp_buf *b)
{
	return b->cap - hp_buf_pending(b);
}

/* Makes `n` contiguous bytes writable at data + len. 0 or -ENOSPC/-ENOMEM. */
static int hp_buf_reserve(struct hp_buf *b, size_t n)
{
	if (n > hp_buf_room(b))
		return -ENOSPC;
	if (b->off > 0 && b->alloc - b->len < n) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->alloc - b->len < n) {
		size_t want = b->alloc ? b->alloc : 4096;
		while (want - b->len < n)
			want *= 2;
		if (want > b->cap)
			want = b->cap;
		char *d = realloc(b->data, want);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->alloc = want;
	}
	return 0;
}

static int hp_buf_put(struct hp_buf *b, const void *data, size_t n)
{
	int rc = hp_buf_reserve(b, n);

	if (rc < 0)
		return rc;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return 0;
}

static void hp_buf_free(struct hp_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Appends body bytes framed as `mode` (chunked bodies get a chunk each). */
static int hp_put_body(struct hp_buf *b, enum http_body_mode mode, const char *data, size_t n)
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
	b->len += (size_t)hn + n + 2;
	return 0;
}

static void hp_route_clear(struct hp_route *r)
{
	free(r->base);
	memset(r, 0, sizeof(*r));
}

/* Parses "http://host[:port][/base]" (also https, https+insecure). Names
 * other than IP literals and "localhost" cannot be resolved through the
 * seam: the route is kept but marked !ok (requests get 502). */
static int hp_route_parse(struct hp_route *r, const char *url)
{
	const char *rest;
	uint16_t def_port;
	char auth[HP_HOST_MAX + 16];

	memset(r, 0, sizeof(*r));
	if (strncmp(url, "http://", 7) == 0) {
		r->kind = HP_UP_HTTP;
		rest = url + 7;
		def_port = 80;
	} else if (strncmp(url, "https+insecure://", 17) == 0) {
		r->kind = HP_UP_HTTPS_INSECURE;
		rest = url + 17;
		def_port = 443;
	} else if (strncmp(url, "https://", 8) == 0) {
		r->kind = HP_UP_HTTPS;
		rest = url + 8;
		def_port = 443;
	} else {
		return -EINVAL;
	}
	size_t alen = strcspn(rest, "/?#");
	if (alen == 0 || alen >= sizeof(auth))
		return -EINVAL;
	memcpy(auth, rest, alen);
	auth[alen] = '\0';
	const char *path = rest + alen;
	size_t plen = strcspn(path, "?#");
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	r->base = strndup(path, plen);
	if (!r->base)
		return -ENOMEM;

	/* The host part, without brackets or port. */
	const char *h = auth, *hend;
	if (auth[0] == '[') {
		h = auth + 1;
		hend = strchr(auth, ']');
		if (!hend)
			goto out_bad;
	} else {
		hend = strchr(auth, ':');
		if (!hend)
			hend = auth + alen;
	}
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(hend - h), h);
	if (strcasecmp(r->host, "localhost") == 0) {
		char alt[HP_HOST_MAX + 16];
		snprintf(alt, sizeof(alt), "127.0.0.1%s", auth + 9);
		r->ok = io_addr_parse(&r->addr, alt, def_port) == 0;
	} else {
		r->ok = io_addr_parse(&r->addr, auth, def_port) == 0;
	}
	return 0;

out_bad:
	hp_route_clear(r);
	return -EINVAL;
}

/* Copies a route into a connection. A keep-alive connection usually asks
 * the same route again: its base string is then kept, not duplicated. */
static int hp_route_copy(struct hp_route *dst, const struct hp_route *src)
{
	const char *want = src->base ? src->base : "";
	char *base = dst->base;

	if (base && strcmp(base, want) == 0) {
		*dst = *src;
		dst->base = base;
		return 0;
	}
	hp_route_clear(dst);
	*dst = *src;
	dst->base = strdup(want);
	return dst->base ? 0 : -ENOMEM;
}

static void hp_handlers_free(struct hp_handlers *hs)
{
	if (!hs)
		return;
	for (size_t i = 0; i < hs->port.n_handlers; i++) {
		free(hs->port.handlers[i].mount);
		free(hs->port.handlers[i].value);
		if (hs->routes)
			hp_route_clear(&hs->routes[i]);
	}
	free(hs->port.handlers);
	free(hs->routes);
	free(hs);
}

/* Deep-copies an HTTP/HTTPS port and parses its Proxy targets. */
static int hp_handlers_new(struct hp_handlers **out, const struct serve_port *src)
{
	struct hp_handlers *hs;

	if (!src || (src->type != SERVE_TYPE_HTTP && src->type != SERVE_TYPE_HTTPS) ||
	    src->n_handlers == 0 || src->n_handlers > SERVE_MAX_HANDLERS)
		return -EINVAL;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	hs->port.port = src->port;
	hs->port.type = src->type;
	hs->port.handlers = calloc(src->n_handlers, sizeof(*hs->port.handlers));
	hs->routes = calloc(src->n_handlers, sizeof(*hs->routes));
	if (!hs->port.handlers || !hs->routes)
		goto out_nomem;
	for (size_t i = 0; i < src->n_handlers; i++) {
		const struct serve_handler *sh = &src->handlers[i];
		struct serve_handler *dh = &hs->port.handlers[i];

		hs->port.n_handlers = i + 1;
		dh->kind = sh->kind;
		dh->mount = strdup(sh->mount ? sh->mount : "/");
		dh->value = strdup(sh->value ? sh->value : "");
		if (!dh->mount || !dh->value)
			goto out_nomem;
		if (sh->kind == SERVE_HANDLER_PROXY) {
			int rc = hp_route_parse(&hs->routes[i], dh->value);
			if (rc < 0) {
				hp_handlers_free(hs);
				return rc;
			}
		}
	}
	*out = hs;
	return 0;

out_nomem:
	hp_handlers_free(hs);
	return -ENOMEM;
}

/* --- events ---------------------------------------------------------------- */

static void hp_emit_request(struct hp_conn *c)
{
	struct http_proxy *p = c->p;
	char method[64], path[2 * HP_EVENT_STR], mount[2 * HP_EVENT_STR], up[64];

	if (p->io->events_off)
		return;
	hp_esc(method, sizeof(method), c->method);
	hp_esc(path, sizeof(path), c->path);
	hp_esc(mount, sizeof(mount), c->mount);
	hp_esc(up, sizeof(up), c->upstream);
	io_emitf(p->io, "http_request",
	         "\"proxy\":\"%s\",\"peer\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
	         "\"mount\":\"%s\",\"status\":%d,\"upstream\":\"%s\",\"latency_us\":%llu,"
	         "\"bytes_in\":%llu,\"bytes_out\":%llu",
	         p->name, c->peer_ip, method, path, mount, c->status, up,
	         (unsigned long long)(hp_now(p) - c->req_start_us),
	         (unsigned long long)c->req_body_bytes, (unsigned long long)c->resp_body_bytes);
}

static void hp_limit_hit(struct http_proxy *p, const char *limit, const char *peer)
{
	io_emitf(p->io, "limit_hit", "\"proxy\":\"%s\",\"limit\":\"%s\",\"peer\":\"%s\"", p->name,
	         limit, peer);
}

/* limit_hit for `count` shed connections, the last of them from shed_peer. */
static void hp_shed_flush(struct event_gap *gap, uint64_t count)
{
	struct http_proxy *p = container_of(gap, struct http_proxy, shed_gap);

	io_emitf(p->io, "limit_hit",
	         "\"proxy\":\"%s\",\"limit\":\"%s\",\"peer\":\"%s\",\"count\":%llu", p->name,
	         p->shed_limit, p->shed_peer, (unsigned long long)count);
}

/* A connection accepted and closed at once because of `limit`. */
static void hp_shed(struct http_proxy *p, const char *limit, const char *peer)
{
	p->shed_limit = limit;
	snprintf(p->shed_peer, sizeof(p->shed_peer), "%s", peer);
	uint64_t n = event_gap_note(&p->shed_gap);
	if (n)
		hp_shed_flush(&p->shed_gap, n);
}

/* --- streams: plain or TLS over one seam handle ------------------------------ */

static ssize_t hp_sread(struct io *io, int handle, struct tls_conn *tls, void *buf, size_t len)
{
	return tls ? tls_conn_read(tls, buf, len) : io->ops->tcp_read(io, handle, buf, len);
}

static ssize_t hp_swrite(struct io *io, int handle, struct tls_conn *tls, const void *buf,
                         size_t len)
{
	return tls ? tls_conn_write(tls, buf, len) : io->ops->tcp_write(io, handle, buf, len);
}

/* Writes out pending bytes of `b`; *progress when any left. 0 or -errno. */
static int hp_flush(struct io *io, int handle, struct tls_conn *tls, struct hp_buf *b,
                    uint64_t *counter, bool *progress)
{
	while (hp_buf_pending(b) > 0) {
		ssize_t w = hp_swrite(io, handle, tls, b->data + b->off, hp_buf_pending(b));
		if (w == -EAGAIN || w == -ENOTCONN)
			return 0;
		if (w < 0)
			return (int)w;
		if (w == 0)
			return 0;
		b->off += (size_t)w;
		if (counter)
			*counter += (uint64_t)w;
		*progress = true;
	}
	b->off = b->len = 0;
	return 0;
}

static void hp_track_peak(struct hp_conn *c)
{
	size_t total = c->out.alloc + HTTP_PROXY_READ_CHUNK;

	if (c->up)
		total += c->up->out.alloc + HTTP_PROXY_READ_CHUNK;
	if (total > c->p->peak_buffered)
		c->p->peak_buffered = total;
}

/* --- upstream connections ------------------------------------------------------ */

static void hp_up_destroy(struct hp_up *up, bool abort)
{
	struct http_proxy *p = up->p;

	if (up->tls)
		tls_conn_free(up->tls);
	if (up->handle >= 0)
		p->io->ops->close(p->io, up->handle, abort);
	hp_buf_free(&up->out);
	free(up->in);
	http_head_free(up->head);
	free(up);
}

/* Closes the client connection's upstream leg, if any. */
static void hp_up_free(struct hp_conn *c, bool abort)
{
	if (!c->up)
		return;
	hp_up_destroy(c->up, abort);
	c->up = NULL;
}

/* --- the idle upstream pool ------------------------------------------------- */

static void hp_pool_unlink(struct http_proxy *p, struct hp_up *up)
{
	if (up->pool_prev)
		up->pool_prev->pool_next = up->pool_next;
	else
		p->pool_head = up->pool_next;
	if (up->pool_next)
		up->pool_next->pool_prev = up->pool_prev;
	else
		p->pool_tail = up->pool_prev;
	up->pool_prev = up->pool_next = NULL;
	p->n_pool--;
}

static void hp_pool_arm(struct http_proxy *p)
{
	if (!p->pool_tail || io_timer_armed(&p->pool_timer))
		return;
	uint64_t now = hp_now(p), at = p->pool_tail->idle_since_us + p->upstream_idle_timeout_us;
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

static void hp_pool_timer_fn(struct io_timer *t)
{
	struct http_proxy *p = container_of(t, struct http_proxy, pool_timer);
	uint64_t now = hp_now(p);

	while (p->pool_tail && p->pool_tail->idle_since_us + p->upstream_idle_timeout_us <= now) {
		struct hp_up *up = p->pool_tail;
		hp_pool_unlink(p, up);
		hp_up_destroy(up, false);
	}
	hp_pool_arm(p);
}

/* The exchange on `c` is over: its upstream connection goes to the pool
 * when it is clean (whole request sent, whole response read, kept alive),
 * else it is closed. */
static void hp_pool_put(struct hp_conn *c)
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
	up->pool_next = p->pool_head;
	if (p->pool_head)
		p->pool_head->pool_prev = up;
	else
		p->pool_tail = up;
	p->pool_head = up;
	p->n_pool++;
	if (p->n_pool > p->max_idle_upstreams) {
		struct hp_up *oldest = p->pool_tail;
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
	for (struct hp_up *up = p->pool_head; up; up = up->pool_next) {
		if (hp_up_matches(up, r)) {
			hp_pool_unlink(p, up);
			return up;
		}
	}
	return NULL;
}

static void hp_pool_close_all(struct http_proxy *p, bool abort)
{
	while (p->pool_head) {
		struct hp_up *up = p->pool_head;
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
			char e[2 * TLS_ERR_LEN];
			hp_esc(e, sizeof(e), err);
			io_emitf(p->io, "proxy_error", "\"proxy\":\"%s\",\"what\":\"%s\"", p->name,
			         e);
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
	up->out.cap = p->max_buffered;
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

/* --- local answers ------------------------------------------------------------- */

static void hp_local_reset(struct hp_conn *c)
{
	free(c->mem_body);
	c->mem_body = NULL;
	c->mem_len = c->mem_off = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->file_left = 0;
	c->local_head_sent = false;
	c->local_extra[0] = '\0';
	c->local_type = NULL;
}

/* Starts a local answer with a body from memory (copied). */
static int hp_local_mem(struct hp_conn *c, int status, const char *type, const char *body,
                        size_t len)
{
	hp_local_reset(c);
	c->state = HP_LOCAL;
	c->status = c->local_status = status;
	c->local_type = type;
	c->mem_body = malloc(len ? len : 1);
	if (!c->mem_body)
		return -ENOMEM;
	memcpy(c->mem_body, body, len);
	c->mem_len = len;
	return 0;
}

/* The proxy's own error answer; the connection closes after it when
 * `close` (the request stream can no longer be trusted). */
static void hp_local_error(struct hp_conn *c, int status, const char *why, bool close)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_msg_reason(status),
	                 why ? why : "");

	if (close) {
		c->close_after = true;
		c->req_done = true; /* read no more of this request */
	}
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	if (hp_local_mem(c, status, "text/plain; charset=utf-8", body, (size_t)n) < 0)
		c->close_after = true;
}

static bool hp_local_done(const struct hp_conn *c)
{
	return c->local_head_sent && c->mem_off == c->mem_len && c->file_left == 0;
}

/* Produces the local answer into the client buffer as room allows. */
static int hp_local_step(struct hp_conn *c, bool *progress)
{
	if (!c->local_head_sent) {
		uint64_t len = c->fd >= 0 ? c->file_left : c->mem_len;
		int rc = hp_buf_reserve(&c->out, HP_LOCAL_HEAD_ROOM + strlen(c->local_extra));
		if (rc == -ENOSPC)
			return 0;
		if (rc < 0)
			return rc;
		int n =
		    http_msg_write_simple(c->local_status, c->local_type, len, false,
		                          c->local_extra[0] ? c->local_extra : NULL, c->close_after,
		                          c->out.data + c->out.len, c->out.alloc - c->out.len);
		CHECK(n > 0);
		c->out.len += (size_t)n;
		c->local_head_sent = c->resp_started = true;
		*progress = true;
		if (c->head_request) {
			c->mem_off = c->mem_len;
			c->file_left = 0;
		}
	}
	while (c->mem_off < c->mem_len && hp_buf_room(&c->out) > 0) {
		size_t n = c->mem_len - c->mem_off;
		if (n > hp_buf_room(&c->out))
			n = hp_buf_room(&c->out);
		if (n > HTTP_PROXY_READ_CHUNK)
			n = HTTP_PROXY_READ_CHUNK;
		int rc = hp_buf_put(&c->out, c->mem_body + c->mem_off, n);
		if (rc < 0)
			return rc;
		c->mem_off += n;
		c->resp_body_bytes += n;
		*progress = true;
	}
	while (c->file_left > 0 && hp_buf_room(&c->out) >= HTTP_PROXY_READ_CHUNK) {
		size_t want = c->file_left < HTTP_PROXY_READ_CHUNK ? (size_t)c->file_left
		                                                   : HTTP_PROXY_READ_CHUNK;
		int rc = hp_buf_reserve(&c->out, want);
		if (rc < 0)
			return rc;
		ssize_t r = read(c->fd, c->out.data + c->out.len, want);
		if (r <= 0)
			return -EIO; /* the file shrank or failed: the length is a lie now */
		c->out.len += (size_t)r;
		c->file_left -= (uint64_t)r;
		c->resp_body_bytes += (uint64_t)r;
		*progress = true;
	}
	if (hp_local_done(c) && !c->resp_done) {
		c->resp_done = true;
		*progress = true;
	}
	return 0;
}

/* --- file and directory handler (SPEC L7-3) ------------------------------------ */

static const char *hp_content_type(const char *name)
{
	static const char *const types[][2] = {
	    {"html", "text/html; charset=utf-8"},
	    {"htm", "text/html; charset=utf-8"},
	    {"css", "text/css; charset=utf-8"},
	    {"js", "text/javascript; charset=utf-8"},
	    {"mjs", "text/javascript; charset=utf-8"},
	    {"json", "application/json"},
	    {"txt", "text/plain; charset=utf-8"},
	    {"md", "text/markdown; charset=utf-8"},
	    {"xml", "text/xml; charset=utf-8"},
	    {"svg", "image/svg+xml"},
	    {"png", "image/png"},
	    {"jpg", "image/jpeg"},
	    {"jpeg", "image/jpeg"},
	    {"gif", "image/gif"},
	    {"webp", "image/webp"},
	    {"ico", "image/vnd.microsoft.icon"},
	    {"wasm", "application/wasm"},
	    {"pdf", "application/pdf"},
	    {"mp4", "video/mp4"},
	    {"woff2", "font/woff2"},
	};
	const char *slash = strrchr(name, '/');
	const char *dot = strrchr(slash ? slash : name, '.');

	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}

/* Decodes %XX escapes of the `len` bytes at `in` (a clean path, not
 * NUL-terminated) into `out`, NUL-terminated; false on a bad escape, NUL, an
 * encoded slash or no room (http_msg_path_is_clean refused those already). */
static bool hp_path_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\0')
			return false;
		if (c == '%') {
			int hi = i + 2 < len ? hex_nibble(in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_nibble(in[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0) || hi * 16 + lo == '/')
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

/* True when `real` (a resolved path) is `real_root` or lies under it. */
static bool hp_under_root(const char *real, const char *real_root)
{
	size_t rl = strlen(real_root);

	if (strncmp(real, real_root, rl) != 0)
		return false;
	return real[rl] == '\0' || real[rl] == '/' || (rl == 1 && real_root[0] == '/');
}

/* Opens `name` (relative to `dirfd`, or absolute) as an O_PATH handle and
 * checks what was opened rather than what the name meant a moment before:
 * the kernel's own path of the handle (/proc/self/fd) must lie under
 * `real_root`. So a symbolic link anywhere on the way that leads out, or one
 * swapped in after any earlier check, is refused, while links that stay in
 * the root work as before; and O_PATH never opens the object itself (no
 * FIFO waits for a writer, no device sees an open). Without /proc nothing
 * is served (fail closed). Returns the handle with *st and `real` (PATH_MAX
 * bytes) filled, -EXDEV when it is outside the root, or -errno. */
static int hp_path_open(int dirfd, const char *name, const char *real_root, struct stat *st,
                        char *real)
{
	char link[32];
	int fd = openat(dirfd, name, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, PATH_MAX - 1);
	int rc = n < 0 ? -errno : 0;
	if (rc == 0 && (size_t)n >= PATH_MAX - 1)
		rc = -ENAMETOOLONG;
	if (rc == 0) {
		real[n] = '\0';
		if (!hp_under_root(real, real_root))
			rc = -EXDEV;
	}
	if (rc == 0 && fstat(fd, st) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Opens the very file an O_PATH handle names for reading (through its
 * /proc/self/fd link: no path is resolved again). fd or -errno. */
static int hp_path_reopen(int pfd)
{
	char link[32];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd);
	int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Serves the regular file behind the O_PATH handle `pfd` (closed here). */
static int hp_local_file(struct hp_conn *c, int pfd, const char *real)
{
	struct stat st;
	int fd = hp_path_reopen(pfd);

	close(pfd);
	/* Check again on what was opened: the handle named a regular file. */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		hp_local_error(c, 404, "no such file", false);
		return 0;
	}
	hp_local_reset(c);
	c->state = HP_LOCAL;
	c->status = c->local_status = 200;
	c->local_type = hp_content_type(real);
	c->fd = fd;
	c->file_left = (uint64_t)st.st_size;
	return 0;
}

/* HTML-escapes the `len` bytes at `in` (a slice: nothing past `len` is
 * read) into `out`, NUL-terminated. Returns the length written, or -ENOSPC
 * when it does not fit. */
static int hp_html_escape(char *out, size_t cap, const char *in, size_t len)
{
	size_t o = 0;

	if (cap == 0)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (in[i]) {
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '&':
			rep = "&amp;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (cap - o <= n) {
			out[0] = '\0';
			return -ENOSPC;
		}
		memcpy(out + o, rep ? rep : in + i, n);
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

/* Percent-encodes every byte of the slice `in`/`len` but RFC 3986's
 * unreserved ones into `out`, NUL-terminated. Length or -ENOSPC. */
static int hp_url_escape(char *out, size_t cap, const char *in, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (cap == 0)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
		             ch == '~';
		size_t n = plain ? 1 : 3;
		if (cap - o <= n) {
			out[0] = '\0';
			return -ENOSPC;
		}
		if (plain) {
			out[o] = (char)ch;
		} else {
			out[o] = '%';
			out[o + 1] = hex[ch >> 4];
			out[o + 2] = hex[ch & 15];
		}
		o += n;
	}
	out[o] = '\0';
	return (int)o;
}

/* A sorted HTML listing of the directory behind the O_PATH handle `dfd`,
 * titled with the request path (the slice `path`/`path_len`), at most
 * HTTP_PROXY_DIR_LISTING_MAX bytes. 414 when the escaped path alone would
 * take half of that. */
static int hp_local_listing(struct hp_conn *c, int dfd, const char *path, size_t path_len)
{
	static const char tail[] = "</pre>\n";
	const size_t max = HTTP_PROXY_DIR_LISTING_MAX;
	struct dirent **names = NULL;
	int n = scandirat(dfd, ".", &names, NULL, alphasort);
	char *page = malloc(max);
	size_t len = 0;
	char esc[NAME_MAX * 6 + 8], uesc[NAME_MAX * 3 + 8];
	int rc = 0;

	if (n < 0 || !page) {
		hp_local_error(c, n < 0 ? 404 : 503, "cannot list the directory", false);
		goto out_free;
	}
	len = (size_t)snprintf(page, max, "<!doctype html>\n<title>");
	int t = hp_html_escape(page + len, max / 2, path, path_len);
	if (t < 0) {
		hp_local_error(c, 414, "path too long for a listing", false);
		goto out_free;
	}
	len += (size_t)t;
	len += (size_t)snprintf(page + len, max - len, "</title>\n<pre>\n");
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t nl = strlen(nm);
		bool is_dir = names[i]->d_type == DT_DIR;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		/* Names are at most NAME_MAX bytes: the buffers always fit. */
		CHECK(hp_html_escape(esc, sizeof(esc), nm, nl) >= 0);
		CHECK(hp_url_escape(uesc, sizeof(uesc), nm, nl) >= 0);
		size_t room = max - len - sizeof(tail);
		int w = snprintf(page + len, room, "<a href=\"%s%s\">%s%s</a>\n", uesc,
		                 is_dir ? "/" : "", esc, is_dir ? "/" : "");
		if (w < 0 || (size_t)w >= room)
			break; /* full: the listing ends here */
		len += (size_t)w;
	}
	memcpy(page + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	rc = hp_local_mem(c, 200, "text/html; charset=utf-8", page, len);

out_free:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(page);
	return rc;
}

/* A directory: its index.html when that is a regular file in the root, a
 * 404 when it is a link leading out, else a listing. Closes `dfd`. */
static int hp_serve_dir(struct hp_conn *c, int dfd, const char *real_root, const char *req_path,
                        size_t req_path_len)
{
	char real[PATH_MAX];
	struct stat st;
	int rc;

	if (req_path_len == 0 || req_path[req_path_len - 1] != '/') {
		close(dfd);
		/* Relative links in the listing need the trailing slash. The
		 * redirect names only the last segment, relative ("./name/"):
		 * echoing the path would send `GET //evil.example` to another
		 * site (an open redirect), and "./" keeps a segment with a colon
		 * from reading as a scheme. */
		const char *seg = req_path + req_path_len;
		while (seg > req_path && seg[-1] != '/')
			seg--;
		char name[NAME_MAX + 1], esc[3 * NAME_MAX + 1];
		size_t seg_len = (size_t)(req_path + req_path_len - seg);
		if (!hp_path_decode(seg, seg_len, name, sizeof(name)) ||
		    hp_url_escape(esc, sizeof(esc), name, strlen(name)) < 0 ||
		    strlen(esc) + 20 > sizeof(c->local_extra)) {
			hp_local_error(c, 404, "not found", false);
			return 0;
		}
		rc = hp_local_mem(c, 301, "text/plain; charset=utf-8", "", 0);
		snprintf(c->local_extra, sizeof(c->local_extra), "Location: ./%s/\r\n", esc);
		return rc;
	}
	int ifd = hp_path_open(dfd, "index.html", real_root, &st, real);
	if (ifd >= 0 && S_ISREG(st.st_mode)) {
		close(dfd);
		return hp_local_file(c, ifd, real);
	}
	if (ifd >= 0)
		close(ifd);
	if (ifd == -EXDEV) {
		close(dfd);
		hp_local_error(c, 404, "not found", false);
		return 0;
	}
	rc = hp_local_listing(c, dfd, req_path, req_path_len);
	close(dfd);
	return rc;
}

/* Serves `rest` (the request path with the mount stripped, starting with
 * '/'; a slice of the request head) from the file or directory `root`.
 * Never leaves the root: the path is clean (no dot segments) and every
 * object is opened first and checked after (hp_path_open), so neither
 * symbolic links nor links swapped in during the request lead out. Only
 * regular files and directories are served. `req_path` is the whole
 * request path (for redirects and the listing's title). */
static int hp_serve_path(struct hp_conn *c, const char *root, const char *rest, size_t rest_len,
                         const char *req_path, size_t req_path_len)
{
	struct stat st;
	char rel[PATH_MAX], full[PATH_MAX], real_root[PATH_MAX], real[PATH_MAX];
	int fd;

	if (c->req->method != HTTP_GET && c->req->method != HTTP_HEAD) {
		hp_local_error(c, 405, "files answer GET and HEAD only", false);
		snprintf(c->local_extra, sizeof(c->local_extra), "Allow: GET, HEAD\r\n");
		return 0;
	}
	if (!realpath(root, real_root) ||
	    (fd = hp_path_open(AT_FDCWD, real_root, real_root, &st, real)) < 0)
		goto out_not_found;
	if (S_ISREG(st.st_mode)) {
		if (rest_len > 1) {
			close(fd);
			goto out_not_found;
		}
		return hp_local_file(c, fd, real);
	}
	close(fd);
	if (!S_ISDIR(st.st_mode) || !hp_path_decode(rest, rest_len, rel, sizeof(rel)) ||
	    snprintf(full, sizeof(full), "%s%s", real_root, rel) >= (int)sizeof(full) ||
	    (fd = hp_path_open(AT_FDCWD, full, real_root, &st, real)) < 0)
		goto out_not_found;
	if (S_ISDIR(st.st_mode))
		return hp_serve_dir(c, fd, real_root, req_path, req_path_len);
	if (S_ISREG(st.st_mode))
		return hp_local_file(c, fd, real);
	close(fd); /* FIFOs, sockets, devices: not files to serve */

out_not_found:
	hp_local_error(c, 404, "not found", false);
	return 0;
}

/* --- requests ------------------------------------------------------------------ */

static int hp_req_body(void *ctx, const char *data, size_t len)
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
	    .tls = c->tls != NULL,
	    .user_login = c->has_identity ? c->login : NULL,
	    .user_name = c->has_identity ? c->uname : NULL,
	    .body = c->req_body_up,
	    .content_length = c->req->content_length,
	    .close = false,
	};
	int rc = hp_buf_reserve(&up->out, c->p->max_head_bytes + HTTP_MSG_REWRITE_SLACK + tcap);
	if (rc == 0) {
		int n = http_msg_write_request(c->req, &fw, up->out.data + up->out.len,
		                               up->out.alloc - up->out.len);
		if (n < 0)
			rc = n;
		else
			up->out.len += (size_t)n;
	}
	if (t != stack_target)
		free(t);
	return rc;
}

/* Starts (or restarts, after a reused connection failed) the upstream leg
 * of the current request: on an idle pooled connection to its route, or
 * on a new one when there is none or `fresh` asks for it. */
static int hp_up_start(struct hp_conn *c, bool fresh)
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

/* A request head is complete: route it and start answering. */
static int hp_dispatch(struct hp_conn *c)
{
	struct http_proxy *p = c->p;
	struct http_head *r = c->req;
	const char *target = http_head_target(r);
	size_t plen = 0;

	while (plen < r->target_len && target[plen] != '?')
		plen++;
	c->requests++;
	c->req_start_us = hp_now(p);
	c->req_done = c->resp_done = c->resp_started = false;
	c->req_body_bytes = c->resp_body_bytes = 0;
	c->status = 0;
	c->retried = false;
	c->discard_body = true;
	c->mount[0] = c->upstream[0] = '\0';
	/* method, path and upstream only feed the http_request event. */
	bool events = !p->io->events_off;
	if (events) {
		snprintf(c->method, sizeof(c->method), "%s", llhttp_method_name(r->method));
		snprintf(c->path, sizeof(c->path), "%.*s", (int)(plen < 200 ? plen : 200), target);
	}
	c->head_request = r->method == HTTP_HEAD;
	c->client_http10 = r->http_minor == 0;
	c->req_body_up = r->body;
	if (p->draining || !r->keep_alive || c->client_http10)
		c->close_after = true;

	const struct hp_handlers *hs = p->handlers;
	const struct serve_handler *h = serve_port_match(&hs->port, target, plen);
	if (!h) {
		hp_local_error(c, 404, "no handler for this path", false);
		return 0;
	}
	size_t idx = (size_t)(h - hs->port.handlers);
	size_t mlen = strlen(h->mount);
	size_t mcopy = mlen < sizeof(c->mount) - 1 ? mlen : sizeof(c->mount) - 1;
	memcpy(c->mount, h->mount, mcopy);
	c->mount[mcopy] = '\0';
	while (mlen > 0 && h->mount[mlen - 1] == '/')
		mlen--;

	switch (h->kind) {
	case SERVE_HANDLER_TEXT:
		return hp_local_mem(c, 200, "text/plain; charset=utf-8", h->value,
		                    strlen(h->value));
	case SERVE_HANDLER_PATH: {
		const char *rest = target + mlen;
		size_t rest_len = plen - mlen;
		return hp_serve_path(c, h->value, rest_len ? rest : "/", rest_len ? rest_len : 1,
		                     target, plen);
	}
	case SERVE_HANDLER_PROXY:
		break;
	default:
		hp_local_error(c, 500, "unknown handler kind", false);
		return 0;
	}

	if (hp_route_copy(&c->route, &hs->routes[idx]) < 0)
		return -ENOMEM;
	if (events)
		io_addr_format(&c->route.addr, true, c->upstream, sizeof(c->upstream));
	if (!c->route.ok) {
		snprintf(c->upstream, sizeof(c->upstream), "%.*s", (int)sizeof(c->upstream) - 1,
		         c->route.host);
		hp_local_error(c, 502, "upstream host cannot be resolved", c->req_body_up != 0);
		return 0;
	}
	c->state = HP_UPSTREAM;
	c->discard_body = false;
	int rc = hp_up_start(c, false);
	if (rc < 0) {
		hp_up_free(c, true);
		c->discard_body = true;
		hp_local_error(c, 502, "upstream connect failed", c->req_body_up != 0);
	}
	return 0;
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

/* Reads and parses the upstream's response while the client buffer has
 * room. 0, or -errno to reset the client connection. */
static int hp_up_input(struct hp_conn *c, bool *progress)
{
	struct http_proxy *p = c->p;
	struct hp_up *up = c->up;

	while (c->up == up && c->state == HP_UPSTREAM && !c->resp_done) {
		/* Room for what is buffered, or for the next read. */
		size_t pending = up->in_len - up->in_off;
		size_t need = (pending ? pending : HTTP_PROXY_READ_CHUNK) + HP_FRAMING_SLACK;
		if (!c->resp_started)
			need += p->max_head_bytes + HTTP_MSG_REWRITE_SLACK;
		if (hp_buf_room(&c->out) < need)
			return 0;
		if (up->in_off == up->in_len && !up->kick) {
			if (up->error)
				return hp_up_fail(c, 502, "upstream connection failed");
			if (up->eof) {
				enum http_parse_status st = http_parser_finish(&up->parser);
				if (st == HTTP_PARSE_DONE)
					goto done;
				if (!up->got_bytes)
					return hp_up_fail(c, 502,
					                  "upstream closed without answering");
				return hp_up_fail(c, 502, "upstream closed mid-response");
			}
			if (!up->connected)
				return 0;
			up->in_off = up->in_len = 0;
			ssize_t n =
			    hp_sread(p->io, up->handle, up->tls, up->in, HTTP_PROXY_READ_CHUNK);
			if (n == -EAGAIN)
				return 0;
			if (n < 0) {
				up->error = (int)n;
				continue;
			}
			if (n == 0) {
				up->eof = true;
				continue;
			}
			up->in_len = (size_t)n;
			up->got_bytes = true;
			*progress = true;
			c->last_active_us = hp_now(p);
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
		case HTTP_PARSE_HEAD: {
			struct http_head *h = up->head;
			int n;
			if (h->status / 100 == 1) {
				/* Interim answers (100 Continue) go through to 1.1 clients. */
				if (!c->client_http10) {
					if (hp_buf_reserve(&c->out, p->max_head_bytes +
					                                HTTP_MSG_REWRITE_SLACK) ==
					    0) {
						n = http_msg_write_response(
						    h, HTTP_BODY_NONE, 0, false,
						    c->out.data + c->out.len,
						    c->out.alloc - c->out.len);
						if (n > 0)
							c->out.len += (size_t)n;
					}
				}
				http_parser_resume(&up->parser);
				up->kick = true;
				break;
			}
			c->status = h->status;
			c->resp_body = hp_client_framing(c, h);
			if (c->resp_body == HTTP_BODY_EOF)
				c->close_after = true;
			int rc =
			    hp_buf_reserve(&c->out, p->max_head_bytes + HTTP_MSG_REWRITE_SLACK);
			if (rc < 0)
				return rc;
			n = http_msg_write_response(h, c->resp_body, h->content_length,
			                            c->close_after, c->out.data + c->out.len,
			                            c->out.alloc - c->out.len);
			if (n < 0)
				return hp_up_fail(c, 502, "upstream response head too large");
			c->out.len += (size_t)n;
			c->resp_started = true;
			http_parser_resume(&up->parser);
			up->kick = true;
			break;
		}
		case HTTP_PARSE_DONE:
			if (up->head->status / 100 == 1) {
				http_parser_resume(&up->parser);
				break;
			}
			goto done;
		case HTTP_PARSE_ERROR:
			return hp_up_fail(c, 502, up->parser.why);
		}
	}
	return 0;

done:
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

/* Reads and parses client bytes while the current phase can take them.
 * Returns 0, 1 to close gracefully, or -errno to reset. */
static int hp_client_input(struct hp_conn *c, bool *progress)
{
	struct http_proxy *p = c->p;

	for (;;) {
		if (c->closing || c->parser.paused || c->parser.error_status)
			return 0;
		/* An answer that ends the connection reads no more requests. */
		if (c->state != HP_IDLE && c->req_done)
			return 0;
		if (c->state == HP_UPSTREAM && c->up &&
		    hp_buf_room(&c->up->out) < c->in_len - c->in_off + HTTP_PROXY_READ_CHUNK)
			return 0;
		if (c->in_off == c->in_len && !c->kick) {
			if (c->client_eof) {
				if (c->state != HP_IDLE && !c->req_done)
					return -ECONNRESET; /* cut off mid-request */
				if (c->state == HP_IDLE)
					return 1;
				c->close_after = true;
				return 0;
			}
			c->in_off = c->in_len = 0;
			ssize_t n =
			    hp_sread(p->io, c->handle, c->tls, c->in, HTTP_PROXY_READ_CHUNK);
			if (n == -EAGAIN)
				return 0;
			if (n < 0)
				return (int)n;
			*progress = true;
			if (n == 0) {
				c->client_eof = true;
				continue;
			}
			c->in_len = (size_t)n;
			c->bytes_in += (uint64_t)n;
			c->last_active_us = hp_now(p);
			if (c->state == HP_IDLE && c->head_start_us == 0)
				c->head_start_us = c->last_active_us;
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
		case HTTP_PARSE_HEAD: {
			*progress = true;
			int rc = hp_dispatch(c);
			if (rc < 0)
				return rc;
			if (!c->parser.error_status)
				http_parser_resume(&c->parser);
			c->kick = true;
			if (c->req_done) /* an error answer that ends the connection */
				return 0;
			break;
		}
		case HTTP_PARSE_DONE:
			*progress = true;
			c->req_done = true;
			if (c->req_body_up == HTTP_BODY_CHUNKED && c->up &&
			    c->state == HP_UPSTREAM && hp_buf_put(&c->up->out, "0\r\n\r\n", 5) < 0)
				return -ENOSPC;
			return 0;
		case HTTP_PARSE_ERROR: {
			int status = c->parser.error_status ? c->parser.error_status : 400;
			*progress = true;
			if (c->state == HP_UPSTREAM) {
				if (c->resp_started)
					return -ECONNRESET;
				hp_up_free(c, true);
			}
			if (c->state != HP_IDLE && c->resp_started)
				return -ECONNRESET;
			if (status == 431)
				hp_limit_hit(p, "max_head_bytes", c->peer_ip);
			if (c->state == HP_IDLE) {
				/* Log the refused request too. */
				c->requests++;
				c->req_start_us = hp_now(p);
				snprintf(c->method, sizeof(c->method), "-");
				c->path[0] = c->mount[0] = c->upstream[0] = '\0';
				c->req_body_bytes = c->resp_body_bytes = 0;
				c->resp_done = c->resp_started = false;
			}
			c->discard_body = true;
			hp_local_error(c, status, c->parser.why, true);
			return 0;
		}
		}
	}
}

/* --- the connection loop -------------------------------------------------------- */

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
			c->requests++;
			c->req_start_us = c->head_start_us;
			snprintf(c->method, sizeof(c->method), "-");
			c->path[0] = c->mount[0] = c->upstream[0] = '\0';
			c->req_body_bytes = c->resp_body_bytes = 0;
			c->resp_done = c->resp_started = false;
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

static void hp_conn_run(struct hp_conn *c)
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

static void hp_client_cb(void *ctx, int handle, unsigned events)
{
	struct hp_conn *c = ctx;

	(void)handle;
	if (c->tls) {
		int rc = tls_conn_on_event(c->tls, events);
		if (rc < 0) {
			char why[2 * TLS_ERR_LEN];
			hp_esc(why, sizeof(why), tls_conn_error(c->tls));
			io_emitf(c->p->io, "tls_error",
			         "\"proxy\":\"%s\",\"peer\":\"%s\",\"why\":\"%s\"", c->p->name,
			         c->peer_ip, why);
			hp_conn_end(c, true, "tls error");
			return;
		}
	}
	hp_conn_run(c);
}

static void hp_conn_end(struct hp_conn *c, bool abort, const char *reason)
{
	struct http_proxy *p = c->p;
	char why[128];

	if (c->state != HP_IDLE)
		hp_emit_request(c);
	hp_esc(why, sizeof(why), reason);
	io_emitf(p->io, "conn_closed",
	         "\"proxy\":\"%s\",\"peer\":\"%s\",\"bytes_in\":%llu,\"bytes_out\":%llu,"
	         "\"duration_us\":%llu,\"requests\":%u,\"reason\":\"%s\",\"abort\":%s",
	         p->name, c->peer_ip, (unsigned long long)c->bytes_in,
	         (unsigned long long)c->bytes_out, (unsigned long long)(hp_now(p) - c->start_us),
	         c->requests, why, abort ? "true" : "false");
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
	hp_buf_free(&c->out);
	http_head_free(c->req);
	free(c->in);
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->n_conns--;
	free(c);
}

/* --- accepting ------------------------------------------------------------------ */

static void hp_reject_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

static struct hp_conn *hp_conn_new(struct http_proxy *p)
{
	struct hp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->p = p;
	c->handle = -1;
	c->fd = -1;
	c->in = malloc(HTTP_PROXY_READ_CHUNK);
	c->req = http_head_new(p->max_head_bytes, p->max_headers);
	if (!c->in || !c->req) {
		free(c->in);
		http_head_free(c->req);
		free(c);
		return NULL;
	}
	c->out.cap = p->max_buffered;
	c->timer.fn = hp_timer_fn;
	http_parser_init(&c->parser, true, c->req, hp_req_body, c);
	return c;
}

static void hp_listen_cb(void *ctx, int listener, unsigned events)
{
	struct http_proxy *p = ctx;
	struct io *io = p->io;

	(void)events;
	for (;;) {
		struct io_addr peer;
		char ip[IO_ADDR_STRLEN];

		/* REL-1: past its own limit, or when a client and its upstream
		 * would eat into the node's handle reserve, the proxy sheds:
		 * accept and close, so the client learns at once. */
		bool full = p->n_conns >= p->max_conns;
		if (full || io_handles_scarce(io, 2)) {
			int h = io->ops->tcp_accept(io, listener, &peer, hp_reject_cb, p);
			if (h < 0)
				return;
			io_addr_format(&peer, false, ip, sizeof(ip));
			hp_shed(p, full ? "max_conns" : "node_handles", ip);
			io->ops->close(io, h, false);
			continue;
		}
		struct hp_conn *c = hp_conn_new(p);
		if (!c) {
			/* Out of memory: take the connection off the queue and drop it. */
			int h = io->ops->tcp_accept(io, listener, &peer, hp_reject_cb, p);
			if (h < 0)
				return;
			io->ops->close(io, h, true);
			io_emitf(io, "proxy_error", "\"proxy\":\"%s\",\"what\":\"out of memory\"",
			         p->name);
			continue;
		}
		int h = io->ops->tcp_accept(io, listener, &c->peer, hp_client_cb, c);
		if (h < 0) {
			http_head_free(c->req);
			free(c->in);
			free(c);
			return;
		}
		c->handle = h;
		io_addr_format(&c->peer, false, c->peer_ip, sizeof(c->peer_ip));
		c->start_us = c->last_active_us = c->idle_since_us = hp_now(p);
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		p->n_conns++;
		if (p->whois)
			c->has_identity = p->whois(p->whois_ctx, &c->peer, c->login,
			                           sizeof(c->login), c->uname, sizeof(c->uname));
		if (p->tls)
			c->tls = tls_conn_new_server(p->tls, io, h);
		io_emitf(io, "conn_accepted", "\"proxy\":\"%s\",\"peer\":\"%s\",\"conns\":%zu",
		         p->name, c->peer_ip, p->n_conns);
		if (p->tls && !c->tls) {
			hp_conn_end(c, true, "out of memory");
			continue;
		}
		hp_conn_run(c);
	}
}

/* --- the proxy -------------------------------------------------------------------- */

int http_proxy_new(struct http_proxy **out, struct io *io, const struct http_proxy_config *cfg)
{
	struct http_proxy *p;
	int rc;

	CHECK(out && io && cfg);
	*out = NULL;
	if (!cfg->handlers || (cfg->handlers->type == SERVE_TYPE_HTTPS) != (cfg->tls != NULL) ||
	    (cfg->tls && !tls_ctx_is_server(cfg->tls)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->base.ops = &http_proxy_svc_ops;
	p->io = io;
	event_gap_init(&p->shed_gap, io, HTTP_PROXY_SHED_EVENT_GAP_US, hp_shed_flush);
	hp_esc(p->name, sizeof(p->name), cfg->name ? cfg->name : "http");
	rc = hp_handlers_new(&p->handlers, cfg->handlers);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->tls = cfg->tls;
	p->whois = cfg->whois;
	p->whois_ctx = cfg->whois_ctx;
	p->os_entropy = cfg->os_entropy;
	if ((cfg->upstream_ca_file && !(p->up_ca_file = strdup(cfg->upstream_ca_file))) ||
	    (cfg->upstream_ca_pem && !(p->up_ca_pem = strdup(cfg->upstream_ca_pem)))) {
		http_proxy_free(p);
		return -ENOMEM;
	}
	p->max_conns = cfg->max_conns ? cfg->max_conns : HTTP_PROXY_DEFAULT_MAX_CONNS;
	p->max_head_bytes =
	    cfg->max_head_bytes ? cfg->max_head_bytes : HTTP_MSG_DEFAULT_MAX_HEAD_BYTES;
	if (p->max_head_bytes > HTTP_MSG_LIMIT_HEAD_BYTES)
		p->max_head_bytes = HTTP_MSG_LIMIT_HEAD_BYTES;
	p->max_headers = cfg->max_headers ? cfg->max_headers : HTTP_MSG_DEFAULT_MAX_HEADERS;
	if (p->max_headers > HTTP_MSG_LIMIT_HEADERS)
		p->max_headers = HTTP_MSG_LIMIT_HEADERS;
	p->idle_timeout_us =
	    cfg->idle_timeout_us ? cfg->idle_timeout_us : HTTP_PROXY_DEFAULT_IDLE_TIMEOUT_US;
	p->head_timeout_us =
	    cfg->head_timeout_us ? cfg->head_timeout_us : HTTP_PROXY_DEFAULT_HEAD_TIMEOUT_US;
	p->upstream_timeout_us = cfg->upstream_timeout_us ? cfg->upstream_timeout_us
	                                                  : HTTP_PROXY_DEFAULT_UPSTREAM_TIMEOUT_US;
	p->handshake_timeout_us =
	    cfg->handshake_timeout_us ? cfg->handshake_timeout_us : TLS_HANDSHAKE_TIMEOUT_US;
	p->max_buffered =
	    cfg->max_buffered_bytes ? cfg->max_buffered_bytes : HTTP_PROXY_DEFAULT_MAX_BUFFERED;
	p->max_idle_upstreams = cfg->max_idle_upstreams ? cfg->max_idle_upstreams
	                                                : HTTP_PROXY_DEFAULT_MAX_IDLE_UPSTREAMS;
	if (cfg->max_idle_upstreams == HTTP_PROXY_NO_IDLE_UPSTREAMS)
		p->max_idle_upstreams = 0;
	p->upstream_idle_timeout_us = cfg->upstream_idle_timeout_us
	                                  ? cfg->upstream_idle_timeout_us
	                                  : HTTP_PROXY_DEFAULT_UPSTREAM_IDLE_TIMEOUT_US;
	p->pool_timer.fn = hp_pool_timer_fn;
	/* A buffer must hold a whole head plus one read. */
	size_t floor = p->max_head_bytes + HTTP_MSG_REWRITE_SLACK + SERVE_MAX_TARGET_LEN +
	               2 * HTTP_PROXY_READ_CHUNK + HP_FRAMING_SLACK;
	if (p->max_buffered < floor)
		p->max_buffered = floor;
	*out = p;
	return 0;
}

int http_proxy_listen(struct http_proxy *p, const struct io_addr *addr, struct io_addr *bound)
{
	struct io *io = p->io;

	if (p->n_listeners == HTTP_PROXY_MAX_LISTENERS)
		return -E2BIG;
	if (p->draining)
		return -ESHUTDOWN;
	int h = io->ops->tcp_listen(io, addr, HTTP_PROXY_BACKLOG, hp_listen_cb, p);
	if (h < 0)
		return h;
	if (bound) {
		int rc = io->ops->sock_name(io, h, false, bound);
		if (rc < 0) {
			io->ops->close(io, h, false);
			return rc;
		}
	}
	p->listeners[p->n_listeners++] = h;
	char a[IO_ADDR_STRLEN];
	struct io_addr local;
	if (io->ops->sock_name(io, h, false, &local) == 0)
		io_addr_format(&local, true, a, sizeof(a));
	else
		io_addr_format(addr, true, a, sizeof(a));
	io_emitf(io, "proxy_listen", "\"proxy\":\"%s\",\"addr\":\"%s\"", p->name, a);
	return 0;
}

int http_proxy_set_handlers(struct http_proxy *p, const struct serve_port *handlers)
{
	struct hp_handlers *hs;

	if (handlers && (handlers->type == SERVE_TYPE_HTTPS) != (p->tls != NULL))
		return -EINVAL;
	int rc = hp_handlers_new(&hs, handlers);
	if (rc < 0)
		return rc;
	/* Requests in flight hold copies of what they need (route, mount);
	 * idle connections to upstreams the new handlers may not name go. */
	hp_handlers_free(p->handlers);
	p->handlers = hs;
	hp_pool_close_all(p, false);
	io_emitf(p->io, "proxy_handlers", "\"proxy\":\"%s\",\"handlers\":%zu", p->name,
	         hs->port.n_handlers);
	return 0;
}

void http_proxy_stop_accepting(struct http_proxy *p)
{
	for (size_t i = 0; i < p->n_listeners; i++)
		p->io->ops->close(p->io, p->listeners[i], false);
	p->n_listeners = 0;
	p->draining = true;
	hp_pool_close_all(p, false);
	io_emitf(p->io, "proxy_drain", "\"proxy\":\"%s\",\"open\":%zu", p->name, p->n_conns);
	for (struct hp_conn *c = p->conns, *next; c; c = next) {
		next = c->next;
		/* An idle keep-alive connection may go; one that has not sent
		 * its first request yet may have it on the wire already, so it
		 * is served once (with Connection: close) instead: no client
		 * sees a reset because of a drain (DRN-1). */
		if (c->state == HP_IDLE && c->requests > 0 && !http_parser_in_message(&c->parser))
			hp_conn_end(c, false, "drained");
		else
			c->close_after = true;
	}
}

void http_proxy_abort_all(struct http_proxy *p)
{
	while (p->conns)
		hp_conn_end(p->conns, true, "aborted");
	hp_pool_close_all(p, true);
}

size_t http_proxy_open_connections(const struct http_proxy *p)
{
	return p->n_conns;
}

size_t http_proxy_peak_buffered(const struct http_proxy *p)
{
	return p->peak_buffered;
}

struct http_proxy_upstream_stats http_proxy_upstream_stats(const struct http_proxy *p)
{
	return (struct http_proxy_upstream_stats){
	    .opened = p->upstreams_opened, .reused = p->upstreams_reused, .idle = p->n_pool};
}

void http_proxy_free(struct http_proxy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_listeners; i++)
		p->io->ops->close(p->io, p->listeners[i], false);
	event_gap_stop(&p->shed_gap);
	while (p->conns)
		hp_conn_end(p->conns, false, "proxy stopped");
	hp_pool_close_all(p, false);
	hp_handlers_free(p->handlers);
	tls_ctx_free(p->up_tls_verify);
	tls_ctx_free(p->up_tls_insecure);
	free(p->up_ca_file);
	free(p->up_ca_pem);
	free(p);
}

/* --- the Service Proxy ops (proxy/svc_proxy.h) ------------------------------------- */

static struct http_proxy *hp_from_svc(struct svc_proxy *sp)
{
	CHECK(sp->ops == &http_proxy_svc_ops);
	return (struct http_proxy *)sp;
}

static int hp_svc_create(struct svc_proxy **out, struct io *io, const struct svc_proxy_config *cfg)
{
	const struct http_proxy_config hc = {
	    .name = cfg->label,
	    .handlers = cfg->port,
	    .tls = cfg->tls,
	    .whois = cfg->whois,
	    .whois_ctx = cfg->whois_ctx,
	    .os_entropy = cfg->os_entropy,
	};
	struct http_proxy *p;
	int rc = http_proxy_new(&p, io, &hc);

	*out = rc == 0 ? &p->base : NULL;
	return rc;
}

static int hp_svc_listen(struct svc_proxy *sp, const struct io_addr *addr)
{
	return http_proxy_listen(hp_from_svc(sp), addr, NULL);
}

static int hp_svc_update(struct svc_proxy *sp, const struct svc_proxy_config *cfg)
{
	return http_proxy_set_handlers(hp_from_svc(sp), cfg->port);
}

static void hp_svc_stop_accepting(struct svc_proxy *sp)
{
	http_proxy_stop_accepting(hp_from_svc(sp));
}

static void hp_svc_abort_all(struct svc_proxy *sp)
{
	http_proxy_abort_all(hp_from_svc(sp));
}

static size_t hp_svc_open_connections(const struct svc_proxy *sp)
{
	CHECK(sp->ops == &http_proxy_svc_ops);
	return http_proxy_open_connections((const struct http_proxy *)sp);
}

static void hp_svc_free(struct svc_proxy *sp)
{
	http_proxy_free(hp_from_svc(sp));
}

const struct svc_proxy_ops http_proxy_svc_ops = {
    .name = "l7",
    .create = hp_svc_create,
    .listen = hp_svc_listen,
    .update = hp_svc_update,
    .stop_accepting = hp_svc_stop_accepting,
    .abort_all = hp_svc_abort_all,
    .open_connections = hp_svc_open_connections,
    .free = hp_svc_free,
};
