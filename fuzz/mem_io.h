/* An in-memory seam for fuzz targets that drive seam code over TCP.
 *
 * The code under test gets a `struct io` whose TCP ops work on endpoints in
 * memory; the harness plays every other party through "peer" handles it
 * reads and writes itself: it connects clients to the code's listeners and
 * takes the connections the code opens to addresses it serves. The clock
 * moves only when the harness says so; randomness is a fixed sequence.
 * UDP and the TUN device answer -ENOSYS.
 *
 * It keeps the seam's promises (lib/io/io.h) and checks the caller's:
 * readiness is edge-like and queued, so no callback runs inside the op that
 * caused it (mem_io_run delivers them); handle numbers are never reused, and
 * any op on a handle the code closed, or on one it does not own, aborts
 * (FUZZ_ASSERT): a late write would otherwise land on someone else's
 * connection.
 */
#ifndef FUZZ_MEM_IO_H
#define FUZZ_MEM_IO_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MEM_IO_WINDOW 65536 /* default receive buffer of an endpoint, bytes */

struct mem_io;

/* Called with every event the code emits (after the seam's own checks). */
typedef void (*mem_io_emit_fn)(void *ctx, const char *type, const char *fields);

struct mem_io *mem_io_new(mem_io_emit_fn emit, void *emit_ctx);
/* Frees everything; every handle must be closed by then (the code's by the
 * code, the peers by the harness) and no timer armed. */
void mem_io_free(struct mem_io *m);
struct io *mem_io_io(struct mem_io *m);

/* Delivers queued readiness and fires timers that are due, until nothing is
 * left or `max_steps` callbacks ran. Returns the callbacks run. */
size_t mem_io_run(struct mem_io *m, size_t max_steps);
/* Moves the clock by `us`, firing timers in deadline order (each followed
 * by mem_io_run(m, max_steps)). */
void mem_io_advance(struct mem_io *m, uint64_t us, size_t max_steps);
uint64_t mem_io_now(const struct mem_io *m);

/* Connections the code opens to `at` reach the harness (mem_io_take);
 * others are refused. */
void mem_io_serve(struct mem_io *m, const struct io_addr *at);
/* The harness end of the next connection the code opened to a served
 * address, or -EAGAIN. */
int mem_io_take(struct mem_io *m);
/* A client at `from` connects to the code's listener at `to`: returns the
 * harness end, or -ECONNREFUSED when nothing listens there. */
int mem_io_connect(struct mem_io *m, const struct io_addr *from, const struct io_addr *to);

/* The harness ends: the seam's semantics (bytes, 0 at EOF, -EAGAIN,
 * -ECONNRESET; writes take what the other end's window holds). */
ssize_t mem_io_peer_read(struct mem_io *m, int peer, void *buf, size_t len);
ssize_t mem_io_peer_write(struct mem_io *m, int peer, const void *buf, size_t len);
void mem_io_peer_shutdown(struct mem_io *m, int peer);
void mem_io_peer_close(struct mem_io *m, int peer, bool abort);
/* True while the other end is open (the code has not closed it). */
bool mem_io_peer_connected(const struct mem_io *m, int peer);
/* Bytes this peer holds unread before the code's writes to it get -EAGAIN
 * (a slow reader); MEM_IO_WINDOW unless set. */
void mem_io_peer_window(struct mem_io *m, int peer, size_t bytes);

/* Handles the code holds open, and timers it has armed. */
size_t mem_io_code_handles(const struct mem_io *m);
size_t mem_io_armed_timers(const struct mem_io *m);

#endif
