/* The one growable byte buffer: text built piece by piece (JSON, CLI
 * output), and byte queues filled from a socket and drained from the
 * front. Bounded: each buffer has a maximum size, checked before it grows.
 * The bytes are always followed by a NUL (not counted in len), so text can
 * be used as a C string directly.
 *
 * Errors are sticky: once an append fails (-E2BIG past the maximum,
 * -ENOMEM), b->err holds it and further appends do nothing and return it,
 * so a builder can append freely and check once at the end. */
#ifndef LIB_BASE_BUF_H
#define LIB_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data; /* NULL until the first byte; else data[len] == '\0' */
	size_t len; /* bytes held */
	size_t cap; /* bytes that fit without growing (the NUL excluded) */
	size_t max; /* the most bytes it may hold */
	int err;    /* 0, or the first failure */
};

/* A maximum for buffers bounded by their callers' own limits only. */
#define BUF_NO_MAX (SIZE_MAX / 4)

/* An empty buffer that may hold up to max bytes. */
#define BUF_INIT(max_bytes)                                                                        \
	((struct buf){.data = NULL, .len = 0, .cap = 0, .max = (max_bytes), .err = 0})

void buf_init(struct buf *b, size_t max);

/* Frees the bytes; the buffer is empty (same maximum, no error) after. */
void buf_free(struct buf *b);

/* Empties the buffer and clears its error, keeping its memory. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes: the capacity doubles (from 64) until it
 * fits, and is clamped at max, which it reaches rather than stopping short.
 * Returns 0, -E2BIG (len + n > max) or -ENOMEM; both are sticky. */
int buf_reserve(struct buf *b, size_t n);

/* Appends n bytes / a string / printf output. 0 or the (sticky) error;
 * on error nothing is appended. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For reads straight into the buffer: buf_room is how many bytes fit at
 * data + len without growing (after buf_reserve), buf_commit counts n of
 * them as held. */
static inline size_t buf_room(const struct buf *b)
{
	return b->cap - b->len;
}

void buf_commit(struct buf *b, size_t n);

/* Drops the first n (<= len) bytes, moving the rest to the front. */
void buf_drop_front(struct buf *b, size_t n);

/* Hands the bytes to the caller (NUL-terminated, to free(); "" when
 * empty) and leaves the buffer empty. NULL when the buffer holds an error
 * or memory runs out; the buffer is emptied and its error cleared either
 * way. *len (if not NULL) gets the length. */
char *buf_take(struct buf *b, size_t *len);

#endif
