/* What the seam contract suite (tests/lib/io/contract.c) needs from a backend:
 * two nodes that can reach each other, optionally each with a TUN device,
 * and a way to run their world. One implementation per backend
 * (fixture_epoll.c, fixture_sim.c); the test code is the same for both. */
#ifndef TESTS_LIB_IO_FIXTURE_H
#define TESTS_LIB_IO_FIXTURE_H

#include "lib/io/io.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

struct fixture_options {
	bool with_tun;
	unsigned node0_max_handles; /* node 0's handle table; 0: the backend's default */
};
struct fixture *fixture_new_with(const struct fixture_options *opts, const char **skip_reason);
void fixture_free(struct fixture *f);

/* Every event line node `i` emitted so far, NUL-terminated (malloc'd). */
char *fixture_events(struct fixture *f, int i);

/* Runs the world until done(arg) holds or timeout_us of the world's time
 * passes; returns done(arg). */
bool fixture_run_until(struct fixture *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us);

/* The whole of an events file written so far (the fixtures' helper). */
static inline char *fixture_read_events(FILE *events)
{
	if (!events || fflush(events) != 0)
		return NULL;
	long len = ftell(events);
	char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (!text)
		return NULL;
	rewind(events);
	size_t got = fread(text, 1, (size_t)len, events);
	text[got] = '\0';
	fseek(events, 0, SEEK_END);
	return text;
}

#endif
