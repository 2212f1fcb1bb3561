/* The local API between `svcctl` (or any local client) and `svcd`: a Unix
 * stream socket carrying one JSON object per line in each direction, one
 * response per request, in order.
 *
 * Requests:
 *   {"op":"serve","argv":["serve","--service=svc:web","--https=443","8080"]}
 *   {"op":"serve-config","document":"<a serve config JSON document>"}   CFG-10
 *   {"op":"netmap","document":"<a netmap JSON document>"}
 *   {"op":"status","json":true}          (`serve status [--json]`)
 *   {"op":"rotate-key"}                  a new node key (SEC-2)
 * Responses:
 *   {"status":0,"output":"..."}   0: done; 1: the command failed (output
 *                                 says why); 2: the request itself was bad
 *
 * Documents travel as JSON strings so the daemon's own validators report
 * errors in them (with their places) rather than the transport.
 *
 * Pure code: framing, parsing and formatting only; no I/O, no process state.
 */
#ifndef LIB_WIRE_LOCALAPI_H
#define LIB_WIRE_LOCALAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Longest request line (bytes, without the newline): a whole serve config
 * or netmap document, escaped, must fit. */
#define LOCALAPI_MAX_REQUEST_BYTES (1u << 20)
/* Longest response line the client accepts (bytes, without the newline). */
#define LOCALAPI_MAX_RESPONSE_BYTES (8u << 20)
/* Words in a serve argv, and bytes in one word. */
#define LOCALAPI_MAX_ARGS    32
#define LOCALAPI_MAX_ARG_LEN (4096 + 64)
#define LOCALAPI_ERR_LEN     256

enum localapi_op {
	LOCALAPI_OP_NONE = 0,
	LOCALAPI_OP_SERVE,        /* argv */
	LOCALAPI_OP_SERVE_CONFIG, /* document */
	LOCALAPI_OP_NETMAP,       /* document */
	LOCALAPI_OP_STATUS,       /* json */
	LOCALAPI_OP_ROTATE_KEY,   /* nothing: a new node key (SEC-2) */
};

enum localapi_status {
	LOCALAPI_STATUS_OK = 0,
	LOCALAPI_STATUS_FAILED = 1,      /* the command ran and failed */
	LOCALAPI_STATUS_BAD_REQUEST = 2, /* the request could not be understood */
};

/* A parsed request; every pointer is owned (free with localapi_request_free). */
struct localapi_request {
	enum localapi_op op;
	int argc;
	char *argv[LOCALAPI_MAX_ARGS + 1]; /* NULL-terminated */
	char *document;                    /* NUL-terminated; may hold NULs before doc_len */
	size_t doc_len;
	bool json;
};

/* Finds the end of the first line in buf[0..len). Returns the line's
 * length including its '\n' (> 0), -2 when no newline has arrived yet and
 * the line could still fit in `max` bytes, or -1 when it cannot (no
 * newline within max + 1 bytes): the peer is over the limit. */
ssize_t localapi_frame(const char *buf, size_t len, size_t max);

/* Reads f to its end into a malloc'd, NUL-terminated buffer of at most max
 * bytes (the documents svcctl sends and svcd loads at start) and sets *len.
 * NULL with errno: EFBIG past max, the read's own errno on a read error
 * (EISDIR for a directory; EIO when stdio kept none), ENOMEM. The caller
 * opens and closes f. */
char *localapi_read_stream(FILE *f, size_t max, size_t *len);

/* The same for a file by path, "-" meaning standard input (left open). */
char *localapi_read_file(const char *path, size_t max, size_t *len);

/* Parses one request line (with or without its '\n'). Returns 0 with *out
 * filled, or -EINVAL (not JSON, unknown op, a member missing or of the wrong
 * type), -E2BIG (over a limit) or -ENOMEM, with `err` saying exactly what;
 * *out is then empty. */
int localapi_request_parse(const char *line, size_t len, struct localapi_request *out, char *err,
                           size_t err_len);
void localapi_request_free(struct localapi_request *req);

/* The request line for `req` (with its '\n'), malloc'd; NULL on -ENOMEM or
 * when it would exceed LOCALAPI_MAX_REQUEST_BYTES (then *too_big is set). */
char *localapi_request_format(const struct localapi_request *req, bool *too_big);

/* A response line (with its '\n'), malloc'd; NULL on -ENOMEM. `output` may
 * be NULL (empty). Invalid UTF-8 is passed through as cJSON does. */
char *localapi_response_format(enum localapi_status status, const char *output);

/* Parses a response line. Returns 0 with *status and *output (malloc'd),
 * or -EINVAL/-ENOMEM with `err`. */
int localapi_response_parse(const char *line, size_t len, int *status, char **output, char *err,
                            size_t err_len);

/* "serve", "serve-config", "netmap", "status"; "none" otherwise. */
const char *localapi_op_name(enum localapi_op op);

#endif
