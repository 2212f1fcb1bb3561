/* A simulated world built from a scenario: the ns-3 topology (one router
 * per region, region links, every node on its own access link with a
 * tailnet device), one sim seam (io_sim) per node writing events to
 * <out>/reports/<name>/events.jsonl, underlay pcaps in
 * <out>/pcaps/<name>/<node>-underlay.pcap, and the built-in underlay
 * workload. One world per process (ns-3's simulator is a singleton).
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include "scenario.h"
#include "workload_rr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* With more nodes than this, pcaps default to none (one open file each). */
#define WORLD_PCAP_DEFAULT_MAX_NODES 200
/* File descriptors kept free for everything that is not a pcap. */
#define WORLD_FD_RESERVE 64
#define WORLD_PATH_MAX   4096

struct world_options {
	const char *out_dir; /* "." when NULL */
	const char *pcap;    /* "all", "none", a node-name glob, or NULL: the default */
	FILE *notes;         /* where notes go (e.g. the pcap default); NULL: none */
};

struct world_node {
	char name[SCENARIO_NAME_MAX + 1];
	int ns3_node;
	struct io *io;
	struct workload_rr_node *rr;
	bool pcap;
};

struct world {
	const struct scenario *sc;
	struct ns3w_world *ns3;
	uint32_t node_count;
	struct world_node *nodes;
	struct workload_rr_peer *peers;
	struct workload_rr_config rr_config;
	FILE *events;
	char events_path[WORLD_PATH_MAX];
	char pcap_dir[WORLD_PATH_MAX];
	uint32_t pcap_count;
};

/* Builds the world for `sc` (borrowed; must outlive the world) and starts
 * every node at time 0. On failure returns -errno with a one-line reason
 * in `why`, and nothing is left behind except created directories. */
int world_new(const struct scenario *sc, const struct world_options *options, struct world **out,
              char *why, size_t why_len);
/* Runs simulated time up to `until_us`; returns the time reached. */
uint64_t world_run(struct world *w, uint64_t until_us);
uint64_t world_now_us(const struct world *w);
uint64_t world_events_executed(const struct world *w);
/* Stops the nodes, closes the pcaps and the events file. Returns 0, or
 * -EIO when writing the events failed (the run is then not trustworthy). */
int world_free(struct world *w);

/* Parses a --pcap value: 0 for all/none/a glob, -EINVAL for an empty one. */
int world_pcap_check(const char *value);
/* Makes a directory and its parents (mkdir -p); 0 or -errno. */
int world_mkdirs(const char *path);

#endif
