/* A three-node world for the data plane tests (client, host-a, host-b),
 * one implementation per backend like tests/lib/io/fixture.h: in sim one ns3w
 * world with three TUN nodes in one region; in real mode three network
 * namespaces on a bridge (in a fourth namespace), each with a TUN device.
 * The TUN devices start without addresses: the data plane puts them on. */
#ifndef TESTS_PROXY_DP_FIXTURE_H
#define TESTS_PROXY_DP_FIXTURE_H

#include "lib/io/io.h"
#include "tests/support/prereq.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DPF_NODES 3

struct dpf_node {
	struct io *io;
	struct io_addr underlay; /* this node's underlay IPv4 address, port 0 */
	const char *name;
};

struct dpf {
	struct dpf_node node[DPF_NODES];
	FILE *events; /* every node's JSON-lines events */
	void *priv;
};

/* NULL with *skip_reason set when the machine cannot run the backend. */
struct dpf *dpf_new(const char **skip_reason);
void dpf_free(struct dpf *f);

/* dpf_new, or (having freed `owner`, the caller's calloc'd test world) the
 * test is skipped when the machine cannot run the backend. */
static inline struct dpf *dpf_new_or_skip(void *owner)
{
	const char *reason = NULL;
	struct dpf *f = dpf_new(&reason);

	if (!f) {
		free(owner);
		prereq_missing("%s", reason ? reason : "backend unavailable");
	}
	return f;
}
/* After node i's data plane was freed and a new one put its addresses
 * back: restores what the backend lost with the addresses (Linux deletes
 * a device's routes with its last IPv4 address, so the epoll fixture
 * re-adds the tailnet route; the sim needs nothing). */
void dpf_node_restart_tun(struct dpf *f, int i);
/* Runs the world until done(arg) or timeout_us of its time; returns done(arg). */
bool dpf_run_until(struct dpf *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us);

static inline bool dpf_never(void *arg)
{
	(void)arg;
	return false;
}

/* Runs the world for `us` of its time. */
static inline void dpf_run_for(struct dpf *f, uint64_t us)
{
	dpf_run_until(f, dpf_never, NULL, us);
}

/* Lines of the event stream holding `a` and (when set) `b`. */
static inline int dpf_events_count(struct dpf *f, const char *a, const char *b)
{
	char line[4096];
	int n = 0;

	fflush(f->events);
	rewind(f->events);
	while (fgets(line, sizeof(line), f->events))
		n += strstr(line, a) && (!b || strstr(line, b));
	fseek(f->events, 0, SEEK_END);
	return n;
}

/* Copies the whole event stream to stderr when the environment variable
 * `env` is set (a debugging aid for a test's teardown). */
static inline void dpf_dump_events_if(struct dpf *f, const char *env)
{
	char line[2048];

	if (!getenv(env))
		return;
	fflush(f->events);
	rewind(f->events);
	while (fgets(line, sizeof(line), f->events))
		fputs(line, stderr);
}

/* The address `s` (a test's literal) at `port`. */
static inline struct io_addr dpf_ip(const char *s, uint16_t port)
{
	struct io_addr a;
	cr_assert_eq(io_addr_parse(&a, s, port), 0, "bad test address %s", s);
	return a;
}

/* Node p's owner as netmap peer members: alice on the client (node 0), the
 * tag:web tag on the hosts. */
static inline const char *dpf_owner_json(int p)
{
	return p == 0 ? "\"user\":\"alice@example.com\",\"display_name\":\"Alice Example\""
	              : "\"user\":\"\",\"tags\":[\"tag:web\"]";
}

/* Writes into out (cap bytes) node `self`'s netmap peers (the body of the
 * JSON array): every other node not in the bit set `omit`, by name, with
 * the tailnet address 100.64.0.(p+1) and its underlay address at `port` as
 * endpoint; with `owners`, its dpf_owner_json members too. */
static inline void dpf_peers_json(const struct dpf *f, int self, unsigned omit, uint16_t port,
                                  bool owners, char *out, size_t cap)
{
	char ep[IO_ADDR_STRLEN];
	size_t o = 0;

	out[0] = '\0';
	for (int p = 0; p < DPF_NODES; p++) {
		if (p == self || (omit & (1u << p)))
			continue;
		struct io_addr e = f->node[p].underlay;
		e.port = port;
		o += (size_t)snprintf(out + o, cap - o,
		                      "%s{\"name\":\"%s\",\"addresses\":[\"100.64.0.%d\"],"
		                      "\"endpoint\":\"%s\"%s%s}",
		                      o ? "," : "", f->node[p].name, p + 1,
		                      io_addr_format(&e, true, ep, sizeof(ep)), owners ? "," : "",
		                      owners ? dpf_owner_json(p) : "");
	}
}

#endif
