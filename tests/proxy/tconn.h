/* A test TCP client on the seam for the whole-daemon tests (test_svcd.c,
 * test_mapclient.c): writes a request once connected, collects the answer
 * (NUL-terminated, the first TCONN_RX - 1 bytes), notes EOF and errors. */
#ifndef TESTS_PROXY_TCONN_H
#define TESTS_PROXY_TCONN_H

#include "lib/io/io.h"
#include "tests/proxy/dp_fixture.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCONN_RX 16384

struct tconn {
	struct io *io;
	int h;
	bool connected, eof;
	int err; /* the error reads returned (-ECONNRESET, -ECONNREFUSED, ...) */
	const char *tx;
	size_t tx_len, tx_off;
	char rx[TCONN_RX];
	size_t rx_len;
};

/* Connects from `io` to `to`; `tx` (may be NULL, not copied) goes out once
 * connected. Returns the handle or the seam's -errno. */
int tconn_open(struct tconn *c, struct io *io, const struct io_addr *to, const char *tx);
/* Sends `tx` (not copied) and forgets what was received so far. */
void tconn_send(struct tconn *c, const char *tx);
void tconn_close(struct tconn *c);

/* dpf_run_until predicates. */
struct tconn_wait {
	struct tconn *c;
	const char *want;
};
bool tconn_has(void *wait);      /* struct tconn_wait: `want` arrived, or EOF or an error */
bool tconn_up(void *conn);       /* struct tconn: connected, or failed */
bool tconn_finished(void *conn); /* struct tconn: EOF or an error */

/* Sends `msg` and asserts it comes back, whole and without an error,
 * within `timeout_us` of fixture time. */
void tconn_echo_roundtrip(struct dpf *f, struct tconn *c, const char *msg, uint64_t timeout_us);

#endif
