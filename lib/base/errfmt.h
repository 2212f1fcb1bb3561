/* One helper for the error messages every parser and the daemon hand back:
 * a printf-style message written into a caller-owned buffer. Header-only so
 * that the pure-C libraries (svc_serve, svcctl's wire format) need no
 * extra link dependency. */
#ifndef LIB_BASE_ERRFMT_H
#define LIB_BASE_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the message into err (err_len bytes, always NUL-terminated and
 * truncated to fit) when the caller gave a buffer; err may be NULL or
 * err_len 0, then nothing is written. Returns rc unchanged so that a
 * failure reads `return err_setf(err, err_len, -EINVAL, "...", ...);`. */
__attribute__((format(printf, 4, 5))) static inline int err_setf(char *err, size_t err_len, int rc,
                                                                 const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
