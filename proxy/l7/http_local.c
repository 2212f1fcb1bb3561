/* http_local.c: answers the proxy gives itself (text, redirects, errors). */
#define _GNU_SOURCE
#include "lib/io/fs.h"
#include "proxy/l7/http_proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hp_local_reset(struct hp_conn *c)
{
	free(c->mem_body);
	c->mem_body = NULL;
	c->mem_len = c->mem_off = 0;
	if (c->fh >= 0)
		c->p->fs->ops->close(c->p->fs, c->fh);
	c->fh = -1;
	c->file_left = 0;
	c->local_head_sent = false;
	c->local_extra[0] = '\0';
	c->local_type = NULL;
}

/* Starts a local answer with a body from memory (copied). */
int hp_local_mem(struct hp_conn *c, int status, const char *type, const char *body, size_t len)
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
void hp_local_error(struct hp_conn *c, int status, const char *why, bool close)
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
int hp_local_step(struct hp_conn *c, bool *progress)
{
	if (!c->local_head_sent) {
		uint64_t len = c->fh >= 0 ? c->file_left : c->mem_len;
		int rc = hp_buf_reserve(&c->out, HP_LOCAL_HEAD_ROOM + strlen(c->local_extra));
		if (rc == -ENOSPC)
			return 0;
		if (rc < 0)
			return rc;
		int n =
		    http_msg_write_simple(c->local_status, c->local_type, len, false,
		                          c->local_extra[0] ? c->local_extra : NULL, c->close_after,
		                          c->out.data + c->out.len, buf_room(&c->out));
		CHECK(n > 0);
		buf_commit(&c->out, (size_t)n);
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
		ssize_t r = c->p->fs->ops->read(c->p->fs, c->fh, c->out.data + c->out.len, want);
		if (r <= 0)
			return -EIO; /* the file shrank or failed: the length is a lie now */
		buf_commit(&c->out, (size_t)r);
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
