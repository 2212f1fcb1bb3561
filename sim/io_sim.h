/* The sim backend of the seam (lib/io/io.h): one `struct io` per simulated
 * node, every op carried out by the ns-3 wrapper (sim/ns3w/ns3w.h) on simulated
 * time.
 *
 * Handles are small ints (>= 1) indexing a per-node table that grows in
 * chunks which never move, so the table's entries can be handed to ns3w as
 * callback contexts. IPv4 only: IPv6 addresses get -EAFNOSUPPORT. Timers are
 * ns3w timers; `io_timer.backend_ref` holds the ns3w timer while armed and
 * is cleared before the timer's function runs, so it may re-arm itself.
 * Events are JSON lines (lib/io/io_event.h) stamped with simulated time.
 * Files: every node has an in-memory tree of its own (`io->fs`,
 * lib/io/fs.h's memory backend), empty until its owner adds to it
 * (io_fs_mem_add_file); the host's filesystem is never seen.
 *
 * Pause (a gray failure: SIGSTOP, then SIGCONT): the node's daemon uses
 * its own view of the node's seam (io_sim_daemon_io), and what it opens
 * or arms there stops while it is paused: no timer of it fires, no
 * readiness, datagram or TUN packet is handed to it, so it sends nothing;
 * nothing is closed, and the node's stack goes on (TCP acks and buffers
 * until its windows close; UDP keeps up to a Linux receive buffer per
 * socket, the TUN a tun device's queue, then drops). The node's other
 * programs (backends, clients) use the node's own view and run on. On
 * resume, everything held is handed over in arrival order, from an event
 * of its own, and timers that came due fire late.
 *
 * An idle node costs a few hundred bytes; the read/write path allocates
 * nothing.
 */
#ifndef SIM_IO_SIM_H
#define SIM_IO_SIM_H

#include "lib/io/io.h"
#include "sim/ns3w/ns3w.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Longest node name accepted (bytes, without the terminator). */
#define IO_SIM_NAME_MAX 128
/* Open handles (sockets) per node, and armed timers per node. */
#define IO_SIM_HANDLES_MAX 65536
#define IO_SIM_TIMERS_MAX  (1u << 20)

struct io_sim_config {
	struct ns3w_world *world;
	int node;             /* ns3w node id */
	const char *name;     /* node name used in events; copied */
	uint64_t seed;        /* mixed with `node` to seed this node's random_u64 */
	FILE *events;         /* JSON lines sink (io_event_format); NULL = discard */
	uint32_t max_handles; /* 0: IO_SIM_HANDLES_MAX */
};

/* A node's seam on `config->world` (finalized), with an empty file tree. Returns NULL with *err set
 * to -EINVAL (bad config) or -ENOMEM. */
struct io *io_sim_new(const struct io_sim_config *config, int *err);
/* Closes every open handle gracefully (no callback runs after) and cancels
 * the timers still armed, without writing to them (their owners may be
 * gone already), and frees the file tree (no file handle may be open).
 * Accepts NULL. */
void io_sim_free(struct io *io);
/* The node's seam as its daemon sees it (the same node, table, clock and
 * random stream; pausable). The view lives as long as `io`. */
struct io *io_sim_daemon_io(struct io *io);
/* Stops (resumes) the daemon's view of the node; -EALREADY when already
 * paused (not paused). io_sim_resume reports what the pause held and what
 * the node's stack dropped for want of room (NULL: not wanted). */
int io_sim_pause(struct io *io);
int io_sim_resume(struct io *io, uint64_t *held, uint64_t *dropped);
/* Events passed to ops->emit so far (written or discarded). */
uint64_t io_sim_events_emitted(const struct io *io);

#endif
