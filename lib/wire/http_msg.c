/* HTTP/1.1 message heads on top of llhttp (see http_msg.h): the head
 * model and its lookups, the header checks the proxy applies (hop-by-hop,
 * framing, clean paths), the incremental parser that fills a head, and the
 * writers of request, response, interim and chunk heads. */
#include "lib/wire/http_msg.h"

#include "lib/base/check.h"
#include "lib/base/hex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_MSG_HEADERS_INFO "https://tailscale.com/s/serve-headers"

/* --- heads ---------------------------------------------------------------- */

struct http_head *http_head_new(size_t max_head_bytes, size_t max_headers)
{
	struct http_head *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (max_head_bytes > HTTP_MSG_LIMIT_HEAD_BYTES)
		max_head_bytes = HTTP_MSG_LIMIT_HEAD_BYTES;
	if (max_headers > HTTP_MSG_LIMIT_HEADERS)
		max_headers = HTTP_MSG_LIMIT_HEADERS;
	if (max_headers == 0)
		max_headers = 1;
	if (max_head_bytes < 64)
		max_head_bytes = 64;
	h->max_headers = max_headers;
	/* Text grows on demand up to the limit: most heads are small. */
	buf_init(&h->text, max_head_bytes);
	h->hdr = calloc(max_headers, sizeof(*h->hdr));
	if (buf_reserve(&h->text, max_head_bytes < 2048 ? max_head_bytes : 2048) || !h->hdr) {
		http_head_free(h);
		return NULL;
	}
	return h;
}

void http_head_free(struct http_head *h)
{
	if (!h)
		return;
	buf_free(&h->text);
	free(h->hdr);
	free(h);
}

void http_head_reset(struct http_head *h)
{
	h->request = false;
	h->method = 0;
	h->status = 0;
	h->http_major = h->http_minor = 0;
	h->target_off = h->target_len = 0;
	h->reason_off = h->reason_len = 0;
	h->body = HTTP_BODY_NONE;
	h->content_length = 0;
	h->keep_alive = false;
	h->n_headers = 0;
	buf_reset(&h->text);
}

static bool http_name_is(const struct http_head *h, const struct http_header *x, const char *name)
{
	size_t n = strlen(name);

	return x->name_len == n && strncasecmp(h->text.data + x->name_off, name, n) == 0;
}

const char *http_head_get(const struct http_head *h, const char *name, size_t *len)
{
	for (size_t i = 0; i < h->n_headers; i++) {
		if (http_name_is(h, &h->hdr[i], name)) {
			if (len)
				*len = h->hdr[i].value_len;
			return h->text.data + h->hdr[i].value_off;
		}
	}
	if (len)
		*len = 0;
	return NULL;
}

size_t http_head_count(const struct http_head *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		n += http_name_is(h, &h->hdr[i], name);
	return n;
}

/* --- checks ---------------------------------------------------------------- */

static bool http_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool http_msg_list_has(const char *v, size_t len, const char *token)
{
	size_t tn = strlen(token);
	size_t i = 0;

	while (i < len) {
		while (i < len && (http_ows(v[i]) || v[i] == ','))
			i++;
		size_t s = i;
		while (i < len && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && http_ows(v[e - 1]))
			e--;
		if (e - s == tn && strncasecmp(v + s, token, tn) == 0)
			return true;
	}
	return false;
}

bool http_msg_is_hop_by_hop(const struct http_head *h, const char *name, size_t len)
{
	static const char *const fixed[] = {
	    "connection",
	    "proxy-connection",
	    "keep-alive",
	    "te",
	    "trailer",
	    "transfer-encoding",
	    "upgrade",
	    "proxy-authenticate",
	    "proxy-authorization",
	};
	char lower[64];

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strlen(fixed[i]) == len && strncasecmp(fixed[i], name, len) == 0)
			return true;
	/* Connection may not strip Host: the request must keep one. */
	if (len >= sizeof(lower) || (len == 4 && strncasecmp(name, "host", 4) == 0))
		return false;
	memcpy(lower, name, len);
	lower[len] = '\0';
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *x = &h->hdr[i];
		if (http_name_is(h, x, "connection") &&
		    http_msg_list_has(h->text.data + x->value_off, x->value_len, lower))
			return true;
	}
	return false;
}

/* Client-sent copies of what the proxy itself sets (SPEC L7-4). */
static bool http_is_proxy_owned(const char *name, size_t len)
{
	static const char *const exact[] = {
	    "x-forwarded-for",
	    "x-forwarded-host",
	    "x-forwarded-proto",
	    "tailscale-headers-info",
	};
	static const char prefix[] = "tailscale-user-";

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strlen(exact[i]) == len && strncasecmp(exact[i], name, len) == 0)
			return true;
	return len >= sizeof(prefix) - 1 && strncasecmp(name, prefix, sizeof(prefix) - 1) == 0;
}

bool http_msg_path_is_clean(const char *path, size_t len)
{
	if (len == 0 || path[0] != '/')
		return false;
	size_t i = 0;
	while (i < len) {
		/* One segment after a '/'. */
		i++;
		size_t dots = 0, other = 0;
		while (i < len && path[i] != '/') {
			char c = path[i];
			if (c == '\0' || c == '\\' || c == '#')
				return false;
			if (c == '%') {
				if (i + 2 >= len)
					return false;
				int hi = hex_nibble(path[i + 1]), lo = hex_nibble(path[i + 2]);
				if (hi < 0 || lo < 0)
					return false;
				int v = hi * 16 + lo;
				if (v == 0 || v == '/' || v == '\\')
					return false;
				if (v == '.')
					dots++;
				else
					other++;
				i += 3;
				continue;
			}
			if (c == '.')
				dots++;
			else
				other++;
			i++;
		}
		if (other == 0 && (dots == 1 || dots == 2))
			return false;
	}
	return true;
}

/* --- the parser ------------------------------------------------------------- */

static struct http_parser *hp_of(llhttp_t *ll)
{
	return ll->data;
}

static int hp_error(struct http_parser *p, int status, const char *why)
{
	if (!p->error_status) {
		p->error_status = status;
		p->why = why;
	}
	return HPE_USER;
}

static int hp_append(struct http_parser *p, const char *at, size_t len)
{
	int rc = buf_append(&p->head->text, at, len);

	if (rc == -E2BIG)
		return hp_error(p, 431, "head too large");
	if (rc)
		return hp_error(p, 503, "out of memory");
	return 0;
}

static int hp_on_message_begin(llhttp_t *ll)
{
	struct http_parser *p = hp_of(ll);

	http_head_reset(p->head);
	p->in_head = true;
	p->in_message = true;
	p->value_done = false;
	p->last_was_value = false;
	p->head_bytes = 0;
	return 0;
}

/* Appends one piece of a span of the head (the target, the reason) that
 * llhttp may hand over in several pieces: the span starts at its first. */
static int hp_append_span(struct http_parser *p, const char *at, size_t len, uint32_t *off,
                          uint32_t *span_len)
{
	if (*span_len == 0)
		*off = (uint32_t)p->head->text.len;
	*span_len += (uint32_t)len;
	return hp_append(p, at, len);
}

static int hp_on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = hp_of(ll);

	return hp_append_span(p, at, len, &p->head->target_off, &p->head->target_len);
}

static int hp_on_status(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = hp_of(ll);

	return hp_append_span(p, at, len, &p->head->reason_off, &p->head->reason_len);
}

/* RFC 9110 tchar: llhttp 8 lets a space before the colon into the name,
 * which a backend might read as another header (smuggling). */
static bool http_is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hp_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = hp_of(ll);
	struct http_head *h = p->head;

	for (size_t i = 0; i < len; i++)
		if (!http_is_tchar((unsigned char)at[i]))
			return hp_error(p, p->ll.type == HTTP_REQUEST ? 400 : 502,
			                "invalid character in a header name");
	p->value_done = false;

	if (h->n_headers == 0 || p->last_was_value) {
		if (h->n_headers == h->max_headers)
			return hp_error(p, 431, "too many headers");
		struct http_header *x = &h->hdr[h->n_headers++];
		x->name_off = (uint32_t)h->text.len;
		x->name_len = 0;
		x->value_off = (uint32_t)h->text.len;
		x->value_len = 0;
		p->last_was_value = false;
	}
	h->hdr[h->n_headers - 1].name_len += (uint32_t)len;
	return hp_append(p, at, len);
}

static int hp_on_header_field_complete(llhttp_t *ll)
{
	struct http_parser *p = hp_of(ll);
	struct http_head *h = p->head;

	/* An empty value gets no value callback: place it here. */
	h->hdr[h->n_headers - 1].value_off = (uint32_t)h->text.len;
	p->last_was_value = true;
	return 0;
}

static int hp_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = hp_of(ll);
	struct http_head *h = p->head;

	if (p->value_done)
		return hp_error(p, p->ll.type == HTTP_REQUEST ? 400 : 502,
		                "obsolete line folding in a header");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)at[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return hp_error(p, 400, "control character in a header value");
	}
	h->hdr[h->n_headers - 1].value_len += (uint32_t)len;
	return hp_append(p, at, len);
}

static int hp_on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = hp_of(ll);
	struct http_header *x = &p->head->hdr[p->head->n_headers - 1];

	/* llhttp keeps trailing whitespace; it is not part of the value. */
	while (x->value_len > 0 && http_ows(p->head->text.data[x->value_off + x->value_len - 1]))
		x->value_len--;
	p->value_done = true;
	return 0;
}

static bool hp_is_chunked_only(const struct http_head *h)
{
	size_t len = 0;
	const char *v = http_head_get(h, "transfer-encoding", &len);

	if (!v)
		return false;
	while (len > 0 && http_ows(*v))
		v++, len--;
	while (len > 0 && http_ows(v[len - 1]))
		len--;
	return len == 7 && strncasecmp(v, "chunked", 7) == 0;
}

/* The checks llhttp leaves to the user, for either direction. Returns 0 or
 * an HTTP status to answer with. */
static int hp_check_head(struct http_parser *p)
{
	struct http_head *h = p->head;
	size_t n_te = http_head_count(h, "transfer-encoding");
	size_t n_cl = http_head_count(h, "content-length");
	int bad = h->request ? 400 : 502;

	if (h->http_major != 1 || h->http_minor > 1)
		return hp_error(p, h->request ? 505 : 502, "unsupported HTTP version"), -1;
	if (n_cl > 1)
		return hp_error(p, bad, "more than one Content-Length"), -1;
	if (n_te > 1)
		return hp_error(p, bad, "more than one Transfer-Encoding"), -1;
	if (n_te && n_cl)
		return hp_error(p, bad, "both Content-Length and Transfer-Encoding"), -1;
	if (n_te && !hp_is_chunked_only(h))
		return hp_error(p, h->request ? 501 : 502, "unsupported Transfer-Encoding"), -1;
	if (!h->request)
		return 0;

	size_t n_host = http_head_count(h, "host");
	/* HTTP/1.0 may omit Host, but the request goes on as HTTP/1.1 and
	 * X-Forwarded-Host needs it: one Host, always. */
	if (n_host != 1)
		return hp_error(p, 400, "missing or repeated Host"), -1;
	if (h->method == HTTP_CONNECT)
		return hp_error(p, 405, "CONNECT is not supported"), -1;
	const char *t = h->text.data + h->target_off;
	size_t plen = 0;
	while (plen < h->target_len && t[plen] != '?')
		plen++;
	if (!http_msg_path_is_clean(t, plen))
		return hp_error(p, 400, "request target is not a clean origin-form path"), -1;
	for (size_t i = plen; i < h->target_len; i++)
		if (t[i] == '#')
			return hp_error(p, 400, "fragment in request target"), -1;
	return 0;
}

static int hp_on_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = hp_of(ll);
	struct http_head *h = p->head;

	h->request = ll->type == HTTP_REQUEST;
	h->method = ll->method;
	h->status = ll->status_code;
	h->http_major = ll->http_major;
	h->http_minor = ll->http_minor;
	if (hp_check_head(p) < 0)
		return -1;
	if (h->request) {
		/* Upgrade is hop-by-hop and never forwarded: this stays an
		 * ordinary request whose body (if any) follows. */
		ll->upgrade = 0;
	} else if (h->status == 101) {
		return hp_error(p, 502, "upstream switched protocols"), -1;
	}
	if (ll->flags & F_CHUNKED) {
		h->body = HTTP_BODY_CHUNKED;
	} else if (ll->flags & F_CONTENT_LENGTH) {
		h->body = HTTP_BODY_LENGTH;
		h->content_length = ll->content_length;
	} else if (!h->request && !p->skip_body && llhttp_message_needs_eof(ll)) {
		h->body = HTTP_BODY_EOF;
	}
	if (!h->request &&
	    (p->skip_body || h->status / 100 == 1 || h->status == 204 || h->status == 304))
		h->body = HTTP_BODY_NONE;
	h->keep_alive = llhttp_should_keep_alive(ll) != 0;
	p->in_head = false;
	if (!h->request && p->skip_body) {
		/* llhttp must be told "no body" now (return 1), so the head is
		 * reported when the message completes, just after. */
		p->head_unreported = true;
		return 1;
	}
	p->paused = true;
	p->pause_status = HTTP_PARSE_HEAD;
	return HPE_PAUSED;
}

static int hp_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = hp_of(ll);

	if (p->on_body && p->on_body(p->body_ctx, at, len) != 0)
		return hp_error(p, 500, "body sink failed");
	return 0;
}

static int hp_on_message_complete(llhttp_t *ll)
{
	struct http_parser *p = hp_of(ll);

	p->in_message = false;
	p->paused = true;
	p->pause_status = HTTP_PARSE_DONE;
	if (p->head_unreported) {
		p->head_unreported = false;
		p->done_pending = true;
		p->pause_status = HTTP_PARSE_HEAD;
	}
	return HPE_PAUSED;
}

void http_parser_init(struct http_parser *p, bool request, struct http_head *head,
                      http_body_fn on_body, void *body_ctx)
{
	memset(p, 0, sizeof(*p));
	llhttp_settings_init(&p->settings);
	p->settings.on_message_begin = hp_on_message_begin;
	p->settings.on_url = hp_on_url;
	p->settings.on_status = hp_on_status;
	p->settings.on_header_field = hp_on_header_field;
	p->settings.on_header_field_complete = hp_on_header_field_complete;
	p->settings.on_header_value = hp_on_header_value;
	p->settings.on_header_value_complete = hp_on_header_value_complete;
	p->settings.on_headers_complete = hp_on_headers_complete;
	p->settings.on_body = hp_on_body;
	p->settings.on_message_complete = hp_on_message_complete;
	llhttp_init(&p->ll, request ? HTTP_REQUEST : HTTP_RESPONSE, &p->settings);
	p->ll.data = p;
	p->head = head;
	p->on_body = on_body;
	p->body_ctx = body_ctx;
	p->max_head_bytes = head->text.max;
	http_head_reset(head);
}

enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len,
                                        size_t *consumed)
{
	*consumed = 0;
	if (p->error_status)
		return HTTP_PARSE_ERROR;
	CHECK(!p->paused); /* resume after HEAD/DONE first */
	if (p->done_pending) {
		/* llhttp is still paused after the message of a reported head. */
		p->done_pending = false;
		p->paused = true;
		p->pause_status = HTTP_PARSE_DONE;
		return HTTP_PARSE_DONE;
	}
	bool was_in_head = p->in_head;
	llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
	size_t used = len;

	if (e == HPE_PAUSED)
		used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
	if (p->in_head || was_in_head) {
		/* Bytes of this head so far (padding and line ends included). */
		p->head_bytes += used;
		if (p->head_bytes > p->max_head_bytes) {
			hp_error(p, 431, "head too large");
			return HTTP_PARSE_ERROR;
		}
	}
	if (p->in_head || was_in_head || (e == HPE_PAUSED && p->pause_status == HTTP_PARSE_HEAD)) {
		/* llhttp 8 unfolds obs-fold silently; a proxy must refuse it. */
		for (size_t i = 0; i < used; i++) {
			char c = data[i];
			if (p->prev_byte == '\n' && (c == ' ' || c == '\t')) {
				hp_error(p, p->ll.type == HTTP_REQUEST ? 400 : 502,
				         "obsolete line folding in a header");
				return HTTP_PARSE_ERROR;
			}
			p->prev_byte = c;
		}
	} else {
		p->prev_byte = 0;
	}
	*consumed = used;
	switch (e) {
	case HPE_OK:
		return HTTP_PARSE_MORE;
	case HPE_PAUSED:
		CHECK(p->paused);
		return p->pause_status;
	default:
		break;
	}
	if (!p->error_status)
		hp_error(p, p->ll.type == HTTP_REQUEST ? 400 : 502,
		         llhttp_get_error_reason(&p->ll));
	return HTTP_PARSE_ERROR;
}

void http_parser_resume(struct http_parser *p)
{
	CHECK(p->paused);
	p->paused = false;
	if (!p->done_pending)
		llhttp_resume(&p->ll);
}

void http_parser_expect_no_body(struct http_parser *p, bool no_body)
{
	p->skip_body = no_body;
}

enum http_parse_status http_parser_finish(struct http_parser *p)
{
	if (p->error_status)
		return HTTP_PARSE_ERROR;
	CHECK(!p->paused);
	llhttp_errno_t e = llhttp_finish(&p->ll);
	if (e == HPE_OK && !p->in_message)
		return HTTP_PARSE_MORE;
	if (e == HPE_PAUSED)
		return HTTP_PARSE_DONE;
	hp_error(p, p->ll.type == HTTP_REQUEST ? 400 : 502, "connection closed mid-message");
	return HTTP_PARSE_ERROR;
}

bool http_parser_in_message(const struct http_parser *p)
{
	return p->in_message;
}

/* --- writers --------------------------------------------------------------- */

struct http_out {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void out_bytes(struct http_out *o, const char *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_str(struct http_out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

/* A decimal number without printf: heads are written once per proxied
 * message, where vsnprintf showed up in profiles. */
static void out_u64(struct http_out *o, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	out_bytes(o, digits + sizeof(digits) - n, n);
}

__attribute__((format(printf, 2, 3))) static void out_fmt(struct http_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->overflow = true;
	else
		o->len += (size_t)n;
}

static int out_done(struct http_out *o)
{
	return o->overflow ? -ENOSPC : (int)o->len;
}

/* A header value: as is when printable ASCII, else RFC 2047 Q-encoded UTF-8
 * (what Go's mime.QEncoding does), so names with any characters survive. */
static void out_identity(struct http_out *o, const char *name, const char *v)
{
	size_t n = strnlen(v, HTTP_MSG_IDENTITY_MAX);
	bool plain = true;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			plain = false;
	out_fmt(o, "%s: ", name);
	if (plain) {
		out_bytes(o, v, n);
	} else {
		out_str(o, "=?utf-8?q?");
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c == ' ')
				out_str(o, "_");
			else if (c < 0x21 || c > 0x7e || c == '=' || c == '?' || c == '_')
				out_fmt(o, "=%02X", c);
			else
				out_bytes(o, (const char *)&c, 1);
		}
		out_str(o, "?=");
	}
	out_str(o, "\r\n");
}

static void out_header(struct http_out *o, const struct http_head *h, const struct http_header *x)
{
	out_bytes(o, h->text.data + x->name_off, x->name_len);
	out_str(o, ": ");
	out_bytes(o, h->text.data + x->value_off, x->value_len);
	out_str(o, "\r\n");
}

static bool http_is_framing(const struct http_head *h, const struct http_header *x)
{
	return http_name_is(h, x, "content-length") || http_name_is(h, x, "transfer-encoding");
}

int http_msg_write_request(const struct http_head *req, const struct http_forward *fw, char *out,
                           size_t cap)
{
	struct http_out o = {.buf = out, .cap = cap};
	size_t host_len = 0;
	const char *host = http_head_get(req, "host", &host_len);

	out_str(&o, llhttp_method_name((llhttp_method_t)req->method));
	out_bytes(&o, " ", 1);
	out_bytes(&o, fw->target, fw->target_len);
	out_str(&o, " HTTP/1.1\r\n");
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *x = &req->hdr[i];
		const char *name = req->text.data + x->name_off;

		if (http_msg_is_hop_by_hop(req, name, x->name_len) ||
		    http_is_proxy_owned(name, x->name_len) || http_is_framing(req, x))
			continue;
		out_header(&o, req, x);
	}
	out_str(&o, "X-Forwarded-For: ");
	out_str(&o, fw->client_ip);
	out_str(&o, "\r\n");
	if (host) {
		out_str(&o, "X-Forwarded-Host: ");
		out_bytes(&o, host, host_len);
		out_str(&o, "\r\n");
	}
	out_str(&o, fw->tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
	if (fw->user_login) {
		out_identity(&o, "Tailscale-User-Login", fw->user_login);
		out_identity(&o, "Tailscale-User-Name", fw->user_name ? fw->user_name : "");
		out_str(&o, "Tailscale-Headers-Info: " HTTP_MSG_HEADERS_INFO "\r\n");
	}
	if (fw->body == HTTP_BODY_LENGTH) {
		out_str(&o, "Content-Length: ");
		out_u64(&o, fw->content_length);
		out_str(&o, "\r\n");
	} else if (fw->body == HTTP_BODY_CHUNKED)
		out_str(&o, "Transfer-Encoding: chunked\r\n");
	if (fw->close)
		out_str(&o, "Connection: close\r\n");
	out_str(&o, "\r\n");
	return out_done(&o);
}

int http_msg_write_response(const struct http_head *resp, enum http_body_mode body,
                            uint64_t content_length, bool close, char *out, size_t cap)
{
	struct http_out o = {.buf = out, .cap = cap};
	bool informational = resp->status / 100 == 1;

	out_str(&o, "HTTP/1.1 ");
	out_u64(&o, resp->status);
	out_bytes(&o, " ", 1);
	out_bytes(&o, resp->text.data + resp->reason_off, resp->reason_len);
	out_str(&o, "\r\n");
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *x = &resp->hdr[i];
		const char *name = resp->text.data + x->name_off;

		if (http_msg_is_hop_by_hop(resp, name, x->name_len))
			continue;
		/* A body-less answer (HEAD, 304) keeps its informative length. */
		if (http_is_framing(resp, x) &&
		    !(body == HTTP_BODY_NONE && http_name_is(resp, x, "content-length") &&
		      resp->status != 204 && !informational))
			continue;
		out_header(&o, resp, x);
	}
	if (body == HTTP_BODY_LENGTH) {
		out_str(&o, "Content-Length: ");
		out_u64(&o, content_length);
		out_str(&o, "\r\n");
	} else if (body == HTTP_BODY_CHUNKED)
		out_str(&o, "Transfer-Encoding: chunked\r\n");
	if (close && !informational)
		out_str(&o, "Connection: close\r\n");
	out_str(&o, "\r\n");
	return out_done(&o);
}

/* Every status of RFC 9110 section 15, with RFC 6585's and RFC 8297's,
 * in order: the one table of reason phrases for everything we send. */
static const struct http_reason {
	uint16_t status;
	const char *phrase;
} http_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {305, "Use Proxy"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {511, "Network Authentication Required"},
};

const char *http_msg_reason(int status)
{
	static const char *const classes[] = {"Informational", "Success", "Redirection",
	                                      "Client Error", "Server Error"};
	size_t lo = 0, hi = sizeof(http_reasons) / sizeof(http_reasons[0]);

	CHECK(status >= 100 && status <= 599);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (http_reasons[mid].status == status)
			return http_reasons[mid].phrase;
		if (http_reasons[mid].status < status)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Unregistered: the class's name, never an empty phrase. */
	return classes[status / 100 - 1];
}

int http_msg_write_interim(int status, char *out, size_t cap)
{
	struct http_out o = {.buf = out, .cap = cap};

	CHECK(status / 100 == 1);
	out_fmt(&o, "HTTP/1.1 %d %s\r\n\r\n", status, http_msg_reason(status));
	return out_done(&o);
}

int http_msg_write_simple(int status, const char *content_type, uint64_t content_length,
                          bool chunked, const char *extra, bool close, char *out, size_t cap)
{
	struct http_out o = {.buf = out, .cap = cap};

	out_fmt(&o, "HTTP/1.1 %d %s\r\n", status, http_msg_reason(status));
	if (content_type)
		out_fmt(&o, "Content-Type: %s\r\n", content_type);
	if (chunked)
		out_str(&o, "Transfer-Encoding: chunked\r\n");
	else
		out_fmt(&o, "Content-Length: %llu\r\n", (unsigned long long)content_length);
	if (extra)
		out_str(&o, extra);
	if (close)
		out_str(&o, "Connection: close\r\n");
	out_str(&o, "\r\n");
	return out_done(&o);
}

int http_msg_chunk_header(size_t len, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%zx\r\n", len);

	return (n < 0 || (size_t)n >= cap) ? -ENOSPC : n;
}
