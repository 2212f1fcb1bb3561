/* The one JSON-lines form of a structured event, shared by both backends
 * so real mode and simrun write identical lines:
 *   {"t_us":1234,"node":"web-us","type":"conn_accepted",<fields>}
 */
#ifndef PROXY_IO_EVENT_H
#define PROXY_IO_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Longest line io_event_format writes, newline included. */
#define IO_EVENT_LINE_MAX 1400

/* Writes one line (with '\n') into buf; returns its length, or -ENOSPC when
 * it does not fit (nothing useful is written then). `node` and `type` are
 * JSON-escaped; `fields` is trusted to be JSON members or "". */
int io_event_format(char *buf, size_t cap, uint64_t t_us, const char *node, const char *type,
                    const char *fields);

/* Escapes `in` as the inside of a JSON string into `out` (always
 * terminated); returns the length written, or -ENOSPC when truncated. */
int io_json_escape(char *out, size_t cap, const char *in);

#endif
