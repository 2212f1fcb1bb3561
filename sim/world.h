/* A simulated world built from a scenario (SCENARIO.md), what simrun runs.
 *
 * Two shapes, chosen by what the scenario uses:
 * - a bare underlay world (no users, policy, services, backends, serve
 *   lines, tags, tailnet workloads or node faults): one router per region,
 *   region links, every node on its access link, the built-in underlay
 *   workload (project key underlay_workload). Nothing else runs.
 * - a tailnet (sim/tailnet.h): the same topology plus control on its own
 *   node in the control region and a node daemon per node (backends, serve
 *   lines); the scenario's services are defined at t=0 by the first owner
 *   (else admin, else network-admin) user; the tailnet workloads start at
 *   their `start` on every client node `from` matches.
 * Both shapes apply the timeline at its times (world_run runs in segments
 * up to each action) and write one `timeline` event per action.
 *
 * Outputs under options->out_dir:
 *   reports/<name>/events.jsonl              every event (io_event.h lines)
 *   reports/<name>/control-state.json        control's state file (removed at
 *                                            world_free unless keep_state)
 *   pcaps/<name>/<node>-underlay.pcap        selected nodes (and control)
 *   pcaps/<name>/<node>-tailnet.pcap         the daemon's tailnet capture;
 *                                            <node>-tailnet-restart-<n>.pcap after
 *                                            the n-th restart
 * One world per process (ns-3's simulator is a singleton).
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include "sim/scenario/scenario.h"
#include "sim/workload/workload_rr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* With more nodes than this, pcaps default to none (one open file each). */
#define WORLD_PCAP_DEFAULT_MAX_NODES 200
/* File descriptors kept free for everything that is not a pcap. */
#define WORLD_FD_RESERVE 64
#define WORLD_PATH_MAX   4096
/* Longest `detail` text of a timeline event (the rest is cut). */
#define WORLD_DETAIL_MAX 512
/* Drain grace of the daemons while control has not confirmed (svcd.h). */
#define WORLD_DRAIN_GRACE_US (5ull * 1000000)

struct world_options {
	const char *out_dir;       /* "." when NULL */
	const char *pcap;          /* "all", "none", a node-name glob, or NULL: the default */
	FILE *notes;               /* where notes and warnings go; NULL: none */
	const char *scenario_dir;  /* set-policy FILE is relative to it; NULL: "." */
	const char *scenario_file; /* the scenario's path, for messages; NULL: "scenario" */
	bool keep_state;           /* keep control's state file after the run */
	/* Called by world_free for each output it could not write completely
	 * (events.jsonl, underlay pcaps), with why; NULL: not told. */
	void (*output_failed)(void *ctx, const char *path, const char *why);
	void *output_ctx;
};

struct world_node {
	char name[SCENARIO_NAME_MAX + 1];
	int ns3_node;
	int region;
	struct io *io; /* bare: owned; tailnet: the tailnet's */
	struct workload_rr_node *rr;
	bool pcap;
	char *tailnet_pcap; /* path, or NULL */
};

struct tailnet;
struct world_tn;
struct world_client;
struct outfile;

struct world {
	const struct scenario *sc;
	struct ns3w_world *ns3;
	struct tailnet *tn;  /* NULL: a bare underlay world */
	struct world_tn *tc; /* the tailnet's config (tailnet shape) */
	uint32_t node_count;
	struct world_node *nodes;
	struct workload_rr_peer *peers;
	struct workload_rr_config rr_config;
	int *link_ids;                            /* ns3w link id per scenario link */
	struct scenario_link_params *link_params; /* their current parameters */
	size_t next_event;                        /* timeline entries applied */
	size_t *starts;                           /* workload indexes by start time */
	size_t next_start;
	struct world_client *clients;
	size_t n_clients, cap_clients;
	struct tls_ctx *tls;          /* HTTPS workloads' client context (trusts control's CA) */
	char *ca_pem;                 /* control's CA certificate, taken when the tailnet starts */
	struct io_addr *service_vips; /* per scenario service, as control defined it at t=0 */
	FILE *events;
	struct outfile *events_out; /* events' stream state: why a write failed */
	void (*output_failed)(void *ctx, const char *path, const char *why);
	void *output_ctx;
	FILE *notes;
	uint64_t timeline_events;
	uint64_t expected_failures; /* timeline actions that failed as their expect_error said */
	size_t *cuts;               /* partitions in force: indexes into sc->events */
	size_t n_cuts;
	bool keep_state;
	char scenario_dir[WORLD_PATH_MAX];
	char scenario_file[WORLD_PATH_MAX];
	char events_path[WORLD_PATH_MAX];
	char report_dir[WORLD_PATH_MAX];
	char pcap_dir[WORLD_PATH_MAX];
	char state_path[WORLD_PATH_MAX];
	uint32_t pcap_count; /* files */
};

/* Does the scenario need control and daemons (the tailnet shape)? */
bool world_needs_tailnet(const struct scenario *sc);

/* Builds the world for `sc` (borrowed; must outlive the world), starts
 * every node at time 0 and, in the tailnet shape, defines the scenario's
 * services. On failure returns -errno with a one-line reason in `why`,
 * and nothing is left behind except created directories. */
int world_new(const struct scenario *sc, const struct world_options *options, struct world **out,
              char *why, size_t why_len);
/* Runs simulated time up to `until_us`, applying every timeline action and
 * starting every workload due on the way. 0, or -errno with `why` (a whole
 * message, starting with the scenario's path) when a workload cannot
 * start (its target does not resolve), the simulation stopped early, or a
 * timeline action could not be carried out (EXP-6: `file:line`, its time,
 * the action and the reason; the timeline event says it too). An action
 * marked expect_error must fail with a reason containing that text: then
 * the run goes on; if it succeeds or fails otherwise, the run fails. */
int world_run(struct world *w, uint64_t until_us, char *why, size_t why_len);
uint64_t world_now_us(const struct world *w);
uint64_t world_events_executed(const struct world *w);
/* Stops workloads and nodes, closes the pcaps and the events file, removes
 * control's state file unless kept. Returns 0, or the -errno of an output
 * that could not be written completely (events.jsonl first: the run is
 * then not trustworthy; -EIO for a pcap); options->output_failed hears of
 * each one. */
int world_free(struct world *w);

/* Parses a --pcap value: 0 for all/none/a glob, -EINVAL for an empty one. */
int world_pcap_check(const char *value);
/* Makes a directory and its parents (mkdir -p); 0 or -errno. */
int world_mkdirs(const char *path);

#endif
