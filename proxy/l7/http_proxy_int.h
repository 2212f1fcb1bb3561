/* Private declarations shared by the L7 proxy's files (proxy/l7/):
 * the proxy, connection, upstream and route structs, and the functions one
 * file calls in another. Not for use outside proxy/l7.
 *
 *   http_proxy.c     the proxy, its listeners and the Service Proxy ops
 *   http_conn.c      one client connection's state machine
 *   http_route.c     routing a request head to its handler
 *   http_upstream.c  upstream connections, the idle pool, the relay
 *   http_local.c     answers the proxy gives itself (text, errors)
 *   http_file.c      the file and directory handler
 */
#ifndef PROXY_L7_HTTP_PROXY_INT_H
#define PROXY_L7_HTTP_PROXY_INT_H

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/list.h"
#include "lib/io/event_gap.h"
#include "lib/io/io.h"
#include "lib/wire/http_msg.h"
#include "lib/wire/tls.h"
#include "proxy/l7/http_proxy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

enum hp_state {
	HP_IDLE = 0, /* waiting for a request head */
	HP_LOCAL,    /* answering from the proxy itself (text, file, error) */
	HP_UPSTREAM, /* relaying to and from an upstream */
};

/* An upstream connection: serving one client connection's exchange
 * (`conn`), or idle in the proxy's pool (`conn` NULL) for the next
 * request to the same route from any client connection. */
struct hp_up {
	struct http_proxy *p;
	struct hp_conn *conn;
	struct list_node pool_link; /* in the proxy's pool while idle */
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
	struct buf out;
	char *in;
	size_t in_off, in_len;
	struct http_head *head;
	struct http_parser parser;
};

struct hp_conn {
	struct http_proxy *p;
	struct list_node link; /* in the proxy's open connections */
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
	struct buf out;
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
	int fh; /* a read handle of the proxy's file seam, or -1 */
	uint64_t file_left;

	struct hp_up *up;
};

struct http_proxy {
	struct svc_proxy base; /* first: svcd holds a struct svc_proxy * (svc_proxy.h) */
	struct io *io;
	struct io_fs *fs;     /* the seam's (io->fs), or own_fs on the host */
	struct io_fs *own_fs; /* made here when the seam has none */
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
	struct list_head conns; /* open client connections, newest first */
	size_t peak_buffered;
	/* Idle upstream connections, newest at the head (taken first, the
	 * most likely to be alive), oldest at the tail (expired first). */
	struct list_head pool;
	size_t max_idle_upstreams;
	uint64_t upstream_idle_timeout_us;
	struct io_timer pool_timer;
	/* Connections shed at a limit: one limit_hit a second, with a count,
	 * so a flood cannot grow the events file a line per connection. */
	struct event_gap shed_gap;
	const char *shed_limit;
	char shed_peer[IO_ADDR_STRLEN];
	uint64_t upstreams_opened, upstreams_reused;
};

static inline uint64_t hp_now(const struct http_proxy *p)
{
	return p->io->ops->now_us(p->io);
}

/* Bytes queued in an output buffer (lib/base/buf.h; written out from the
 * front). */
static inline size_t hp_buf_pending(const struct buf *b)
{
	return b->len;
}

/* Bytes that may still be queued before the buffer is full (its maximum,
 * the proxy's max_buffered): full is a normal state to wait on, so callers
 * check this rather than meet buf's sticky -E2BIG. */
static inline size_t hp_buf_room(const struct buf *b)
{
	return b->max - b->len;
}

/* http_conn.c: one client connection's state machine (buffers, reads, parsing, timeouts, the end)
 */
int hp_buf_reserve(struct buf *b, size_t n);
int hp_buf_put(struct buf *b, const void *data, size_t n);
int hp_put_body(struct buf *b, enum http_body_mode mode, const char *data, size_t n);
ssize_t hp_sread(struct io *io, int handle, struct tls_conn *tls, void *buf, size_t len);
void hp_conn_run(struct hp_conn *c);
void hp_client_cb(void *ctx, int handle, unsigned events);
void hp_conn_end(struct hp_conn *c, bool abort, const char *reason);
struct hp_conn *hp_conn_new(struct http_proxy *p);

/* http_route.c: request routing (handlers, Proxy targets, dispatch by mount) */
void hp_route_clear(struct hp_route *r);
void hp_handlers_free(struct hp_handlers *hs);
int hp_handlers_new(struct hp_handlers **out, const struct serve_port *src);
int hp_dispatch(struct hp_conn *c);

/* http_upstream.c: upstream connections, their idle pool and the relayed exchange */
void hp_up_free(struct hp_conn *c, bool abort);
void hp_pool_timer_fn(struct io_timer *t);
void hp_pool_put(struct hp_conn *c);
void hp_pool_close_all(struct http_proxy *p, bool abort);
int hp_req_body(void *ctx, const char *data, size_t len);
int hp_up_start(struct hp_conn *c, bool fresh);
int hp_up_input(struct hp_conn *c, bool *progress);

/* http_local.c: answers the proxy gives itself (text, redirects, errors) */
void hp_local_reset(struct hp_conn *c);
int hp_local_mem(struct hp_conn *c, int status, const char *type, const char *body, size_t len);
void hp_local_error(struct hp_conn *c, int status, const char *why, bool close);
int hp_local_step(struct hp_conn *c, bool *progress);

/* http_file.c: the file and directory handler (SPEC L7-3) */
int hp_serve_path(struct hp_conn *c, const char *root, const char *rest, size_t rest_len,
                  const char *req_path, size_t req_path_len);

#endif
