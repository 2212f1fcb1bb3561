/* Internal to svc_serve: what the pieces of the serve config share.
 *
 *   serve_config.c    the model: build, copy, free, look up, insert, remove;
 *                     the advertisement state
 *   serve_validate.c  names (SVC-1), targets (CFG-3), mounts (CFG-4), a
 *                     built config's invariants; the helpers below
 *   serve_json.c      the JSON form, in and out (CFG-9, CFG-10)
 *   serve_cmd.c       the `serve` command grammar (serve_cmd.h)
 */
#ifndef PROXY_SERVE_SERVE_INT_H
#define PROXY_SERVE_SERVE_INT_H

#include "proxy/serve/serve_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest piece of user text quoted into a message, and a buffer that
 * holds one quoted. */
#define SERVE_QUOTE_MAX 80
#define QBUF_LEN        (SERVE_QUOTE_MAX * 4 + 16)

/* Writes `s` (n bytes) as a double-quoted string safe to print: control and
 * non-ASCII bytes as \xNN, cut at SERVE_QUOTE_MAX with "...". */
const char *sv_quote_n(char *buf, size_t buf_len, const char *s, size_t n);
const char *sv_quote(char *buf, size_t buf_len, const char *s);

/* Parses 1-65535 from exactly `n` decimal digits (numarg.h). 0, -1 not a
 * number, -2 out of range. Targets are typed by hand, so unless
 * `canonical` (the JSON document's keys) leading zeros are skipped. */
int sv_parse_port_n(const char *s, size_t n, bool canonical, uint16_t *port);

/* Lexical clean of an absolute path, like Go's path.Clean: collapses '//',
 * drops '.', resolves '..' (never above '/'), no trailing '/' except root.
 * `out` needs strlen(in) + 2 bytes. */
void sv_clean_path(const char *in, char *out);

static inline bool is_web_type(enum serve_type t)
{
	return t == SERVE_TYPE_HTTPS || t == SERVE_TYPE_HTTP;
}

static inline bool is_tcp_type(enum serve_type t)
{
	return t == SERVE_TYPE_TCP || t == SERVE_TYPE_TLS_TCP;
}

#endif
