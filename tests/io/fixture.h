/* What the seam contract suite (tests/io/contract.c) needs from a backend:
 * two nodes that can reach each other, optionally each with a TUN device,
 * and a way to run their world. One implementation per backend
 * (fixture_epoll.c, fixture_sim.c); the test code is the same for both. */
#ifndef TESTS_IO_FIXTURE_H
#define TESTS_IO_FIXTURE_H

#include "io.h"

#include <stdbool.h>
#include <stdint.h>

struct fixture_node {
	struct io *io;
	struct io_addr underlay; /* where the other node reaches this one (port 0) */
	struct io_addr tailnet;  /* address on its TUN device; family IO_AF_NONE without */
};

struct fixture {
	struct fixture_node node[2];
	void *priv;
};

/* Two nodes joined by a link. With `with_tun`, node i's TUN device holds
 * 100.64.0.(i+1)/32 and the stack routes 100.64.0.0/10 to it. Returns NULL
 * with *skip_reason set when this machine cannot run the backend (no
 * privileges for network namespaces or /dev/net/tun). */
struct fixture *fixture_new(bool with_tun, const char **skip_reason);
void fixture_free(struct fixture *f);

/* Runs the world until done(arg) holds or timeout_us of the world's time
 * passes; returns done(arg). */
bool fixture_run_until(struct fixture *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us);

#endif
