/* The one growable byte buffer (buf.h): bounded, NUL-terminated, with
 * sticky errors. */
#include "lib/base/buf.h"

#include "lib/base/check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64

void buf_init(struct buf *b, size_t max)
{
	*b = BUF_INIT(max);
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_fail(struct buf *b, int err)
{
	b->err = err;
	return err;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return b->err;
	if (n > b->max || b->len > b->max - n)
		return buf_fail(b, -E2BIG);
	if (n <= b->cap - b->len && b->data)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < b->len + n)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap + 1);
	if (!p)
		return buf_fail(b, -ENOMEM);
	if (!b->data)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_commit(struct buf *b, size_t n)
{
	CHECK(n <= b->cap - b->len);
	b->len += n;
	b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	int rc = buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, data, n);
	buf_commit(b, n);
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	if (b->err)
		return b->err;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b, -EINVAL);
	rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
	return 0;
}

void buf_drop_front(struct buf *b, size_t n)
{
	CHECK(n <= b->len);
	if (!n)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *buf_take(struct buf *b, size_t *len)
{
	char *out = NULL;

	if (!b->err && buf_reserve(b, 0) == 0) {
		out = b->data;
		if (len)
			*len = b->len;
		buf_init(b, b->max);
	}
	buf_free(b);
	return out;
}
