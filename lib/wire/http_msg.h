/* HTTP/1.1 message heads for the L7 proxy, on top of llhttp.
 *
 * - `struct http_parser` feeds bytes to llhttp in strict mode, collects the
 *   head (request line or status line, headers) into a `struct http_head`
 *   under limits (head bytes, header count), applies the extra checks a proxy
 *   needs to rule out request smuggling (one Host, no Content-Length together
 *   with Transfer-Encoding, no duplicate framing headers, no control bytes in
 *   values, origin-form targets without dot segments), and hands decoded body
 *   bytes to a callback. It pauses after each head and after each message,
 *   so the caller handles exactly one message at a time (pipelined bytes wait).
 * - The writers build the heads the proxy sends: a request for the upstream
 *   (hop-by-hop headers and client-sent forwarding/identity headers removed,
 *   then X-Forwarded-* and Tailscale-User-* set: SPEC L7-4), a response for
 *   the client, and the proxy's own short responses.
 *
 * Pure code: no I/O, no seam; a head allocates its text as it grows.
 */
#ifndef LIB_WIRE_HTTP_MSG_H
#define LIB_WIRE_HTTP_MSG_H

#include "lib/base/buf.h"

#include <llhttp.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MSG_DEFAULT_MAX_HEAD_BYTES (64 * 1024) /* request/status line + headers */
#define HTTP_MSG_DEFAULT_MAX_HEADERS    100
#define HTTP_MSG_LIMIT_HEAD_BYTES       (1 << 20) /* largest max_head_bytes accepted */
#define HTTP_MSG_LIMIT_HEADERS          1000      /* largest max_headers accepted */
#define HTTP_MSG_IDENTITY_MAX           512       /* a login or display name, bytes */
/* Room the writers add on top of the head they copy (forwarding headers,
 * identity, framing): a head buffer of max_head_bytes + this always fits. */
#define HTTP_MSG_REWRITE_SLACK (4 * HTTP_MSG_IDENTITY_MAX + 1024)

struct http_header {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

/* How a message body is delimited. */
enum http_body_mode {
	HTTP_BODY_NONE = 0,
	HTTP_BODY_LENGTH,  /* Content-Length */
	HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked */
	HTTP_BODY_EOF,     /* until the connection closes (responses only) */
};

/* One parsed head. Strings live in `text` and are not NUL-terminated. */
struct http_head {
	bool request;
	uint8_t method; /* llhttp_method_t, requests */
	uint16_t status;
	uint8_t http_major, http_minor;
	uint32_t target_off, target_len; /* requests */
	uint32_t reason_off, reason_len; /* responses */
	/* Framing as llhttp saw it at the end of the head. */
	enum http_body_mode body;
	uint64_t content_length;
	bool keep_alive; /* the sender allows another message after this one */
	size_t n_headers, max_headers;
	struct http_header *hdr; /* max_headers entries */
	struct buf text;         /* what the offsets point into; max: the head's limit */
};

/* A head with room for `max_head_bytes` of text and `max_headers` headers.
 * NULL on -ENOMEM; the limits are clamped to HTTP_MSG_LIMIT_*. */
struct http_head *http_head_new(size_t max_head_bytes, size_t max_headers);
void http_head_free(struct http_head *head);
void http_head_reset(struct http_head *head);

/* The first header called `name` (case-insensitive): its value and length,
 * or NULL. */
const char *http_head_get(const struct http_head *head, const char *name, size_t *len);
size_t http_head_count(const struct http_head *head, const char *name);
static inline const char *http_head_target(const struct http_head *head)
{
	return head->text.data + head->target_off;
}

/* Called with decoded body bytes (chunk framing removed). Return 0, or
 * nonzero to stop with an error. */
typedef int (*http_body_fn)(void *ctx, const char *data, size_t len);

enum http_parse_status {
	HTTP_PARSE_MORE = 0, /* everything consumed; feed more */
	HTTP_PARSE_HEAD,     /* a head is complete (paused): handle it, then resume */
	HTTP_PARSE_DONE,     /* a message is complete (paused): resume for the next */
	HTTP_PARSE_ERROR,    /* malformed or over a limit: see status/why */
};

struct http_parser {
	llhttp_t ll;
	llhttp_settings_t settings;
	struct http_head *head;
	http_body_fn on_body;
	void *body_ctx;
	size_t head_bytes; /* bytes fed while the head is incomplete */
	size_t max_head_bytes;
	bool in_head;        /* between message begin and head complete */
	bool last_was_value; /* header callbacks: a value came last */
	bool value_done;     /* the current header's value is complete */
	char prev_byte;      /* last head byte seen (obs-fold spans feeds) */
	bool in_message;     /* between message begin and message complete */
	bool paused;
	enum http_parse_status pause_status; /* HEAD or DONE while paused */
	bool skip_body;                      /* responses: the request was HEAD */
	bool head_unreported;                /* a body-less head waits for its message end */
	bool done_pending;                   /* report DONE on the next feed */
	int error_status;                    /* 400, 431, 502 ... */
	const char *why;
};

/* Starts a parser for requests or responses writing heads into `head`
 * (whose limits apply). `on_body` may be NULL (bodies are dropped). */
void http_parser_init(struct http_parser *p, bool request, struct http_head *head,
                      http_body_fn on_body, void *body_ctx);

/* Feeds `len` bytes; *consumed says how many were used (the rest must be fed
 * again later). After HEAD or DONE, call http_parser_resume() first. */
enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len,
                                        size_t *consumed);
void http_parser_resume(struct http_parser *p);
/* Responses: the next response answers a HEAD request (no body). */
void http_parser_expect_no_body(struct http_parser *p, bool no_body);
/* The peer closed: DONE when that ends a body delimited by EOF, MORE when
 * no message had begun, ERROR when a message was cut short. */
enum http_parse_status http_parser_finish(struct http_parser *p);
/* True between the first byte of a message and its end. */
bool http_parser_in_message(const struct http_parser *p);

/* --- checks -------------------------------------------------------------- */

/* A request path (no query) with no "." or ".." segments, also
 * percent-encoded, no NUL or backslash, starting with '/'. */
bool http_msg_path_is_clean(const char *path, size_t len);
/* True when the comma-separated header list `value` holds `token`. */
bool http_msg_list_has(const char *value, size_t len, const char *token);
/* True for a header a proxy must not forward (RFC 9110 7.6.1), given the
 * head whose Connection header may name more. */
bool http_msg_is_hop_by_hop(const struct http_head *head, const char *name, size_t len);

/* --- writers: each returns the length written, or -ENOSPC ----------------- */

/* What the proxy adds to a request it forwards (SPEC L7-4). */
struct http_forward {
	const char *target; /* new request target (mount stripped, base added) */
	size_t target_len;
	const char *client_ip;  /* X-Forwarded-For */
	bool tls;               /* X-Forwarded-Proto: https, else http */
	const char *user_login; /* NULL: no identity (tagged client node) */
	const char *user_name;
	enum http_body_mode body; /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;
	bool close; /* Connection: close */
};

int http_msg_write_request(const struct http_head *req, const struct http_forward *fw, char *out,
                           size_t cap);
/* The upstream's response head for the client, framed as `body`. */
int http_msg_write_response(const struct http_head *resp, enum http_body_mode body,
                            uint64_t content_length, bool close, char *out, size_t cap);
/* A response of the proxy's own: status line, Content-Type (NULL: none),
 * Content-Length (or chunked when `chunked`), optional extra header lines
 * ("Name: value\r\n"... or NULL), and Connection: close when `close`. */
int http_msg_write_simple(int status, const char *content_type, uint64_t content_length,
                          bool chunked, const char *extra, bool close, char *out, size_t cap);
/* The reason phrase of a status (100-599; anything else is a programmer
 * error): RFC 9110's for registered codes, the class's name ("Client
 * Error") otherwise; never empty. */
const char *http_msg_reason(int status);
/* An interim (1xx) response, e.g. "HTTP/1.1 100 Continue\r\n\r\n".
 * Length, or -ENOSPC. */
int http_msg_write_interim(int status, char *out, size_t cap);

/* Chunk framing for re-chunked bodies: "<hex>\r\n" (returns its length). */
int http_msg_chunk_header(size_t len, char *out, size_t cap);

#endif
