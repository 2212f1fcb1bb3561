/* The one JSON-lines form of a structured event, shared by both backends
 * so real mode and simrun write identical lines:
 *   {"t_us":1234,"node":"web-us","type":"conn_accepted",<fields>}
 */
#ifndef LIB_IO_IO_EVENT_H
#define LIB_IO_IO_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Longest line io_event_format writes, newline included. */
#define IO_EVENT_LINE_MAX 1400
/* Longest node name and event type (bytes before escaping): with them a
 * line always has room for its head and the truncation mark. */
#define IO_EVENT_NODE_MAX 128
#define IO_EVENT_TYPE_MAX 64
/* The member that marks an event whose fields did not all fit. */
#define IO_EVENT_TRUNCATED "\"truncated\":true"

/* Writes one line (with '\n') into buf and returns its length. `node` and
 * `type` are JSON-escaped; `fields` is trusted to be JSON members or "".
 * Fields that do not fit are cut after the last whole member that does,
 * and IO_EVENT_TRUNCATED is added: a reader never sees half a member.
 * Returns -ENOSPC when not even the head and the mark fit (a tiny `cap`,
 * or a node or type longer than its maximum). */
int io_event_format(char *buf, size_t cap, uint64_t t_us, const char *node, const char *type,
                    const char *fields);

/* The length of the longest prefix of `fields` (`len` bytes, possibly cut
 * short mid-member) that is whole members and at most `max_len` bytes:
 * a top-level comma ends each member; commas inside strings, objects and
 * arrays do not. */
size_t io_event_fields_cut(const char *fields, size_t len, size_t max_len);

/* Escapes `in` as the inside of a JSON string into `out` (always
 * terminated); returns the length written, or -ENOSPC when truncated. */
int io_json_escape(char *out, size_t cap, const char *in);

#endif
