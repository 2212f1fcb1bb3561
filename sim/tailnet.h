/* A simulated tailnet: an ns-3 world (sim/ns3w/ns3w.h) with one region router
 * per region, region links, and nodes on access links, where one node runs
 * the coordination server (control/control.h) and every other node runs a
 * node daemon (proxy/svcd.h) with a map session to it, MagicDNS on, and
 * optional backend programs on its loopback. It is the embedding the
 * conformance tests and simrun share: the same daemon and control code as
 * the real binaries, on simulated time.
 *
 * Faults act as they would on real machines:
 * - crash: the daemon's process dies: its TUN device stops passing packets
 *   at once (so the kernel's resets for its sockets go nowhere), then the
 *   daemon's state is freed; backends on the node keep running. restart
 *   starts a fresh daemon and re-runs the node's serve lines.
 * - pause/resume: the daemon's process is stopped (SIGSTOP) and continued
 *   (SIGCONT): it runs nothing meanwhile but closes nothing (io_sim.h,
 *   "Pause"); backends and client programs on the node run on. A crash
 *   while paused frees it all; a restart starts unpaused.
 * - partition/heal: region links (or a node's access link) down/up.
 * - control crash/restart: the control node loses power and comes back
 *   from its state, kept in memory (lib/io/storage.h, control_storage) the
 *   way a disk keeps it: a crash loses what was not durable.
 * - control storage faults: a full disk, failing fsyncs, and a power loss
 *   in the middle of a state write (tn_control_torn_write).
 *
 * Start: every daemon starts at time 0 and registers with control after a
 * random delay below n_nodes x TN_START_SPREAD_PER_NODE_US (at most
 * TN_START_SPREAD_MAX_US): 2 ms for 10 nodes, 200 ms for 1,000, 2 s for
 * 10,000.
 *
 * One tailnet per process at a time (ns-3's simulator is a singleton).
 */
#ifndef SIM_TAILNET_H
#define SIM_TAILNET_H

#include "lib/io/io.h"
#include "lib/io/storage.h"
#include "sim/ns3w/ns3w.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TN_MAX_REGIONS              256
#define TN_MAX_TAGS                 8
#define TN_MAX_SERVE                16 /* serve lines per node */
#define TN_MAX_BACKENDS             8  /* backend programs per node */
#define TN_NAME_MAX                 128
#define TN_START_SPREAD_PER_NODE_US 200
#define TN_START_SPREAD_MAX_US      (2ull * 1000 * 1000)

enum tn_backend_kind {
	TN_BACKEND_NONE = 0,
	TN_BACKEND_HTTP,
	TN_BACKEND_TCP_ECHO,
	TN_BACKEND_TCP_SINK,
	TN_BACKEND_UDP_ECHO,
};

struct tn_backend_spec {
	enum tn_backend_kind kind;
	uint16_t port; /* on 127.0.0.1 */
	uint64_t service_time_us;
	uint64_t body_bytes;
	/* Listen on every local address (0.0.0.0) instead of 127.0.0.1: an
	 * L3 (--tun) service's VIP traffic reaches the host's own stack at
	 * the VIP, where a loopback-only program would never see it. */
	bool any_address;
};

/* A file in a node's own tree (the node's seam, `io->fs`): a serve
 * `path` handler serves it. The bytes are copied. */
struct tn_file_spec {
	const char *path; /* absolute, clean */
	const uint8_t *data;
	size_t len;
};

struct tn_node_spec {
	const char *name;
	int region;       /* index into regions */
	const char *user; /* owner login or NULL */
	size_t n_tags;
	const char *tags[TN_MAX_TAGS];
	size_t n_backends;
	struct tn_backend_spec backends[TN_MAX_BACKENDS];
	size_t n_serve;
	const char *serve[TN_MAX_SERVE]; /* `serve ...` lines run at start and restart */
	size_t n_files;
	const struct tn_file_spec *files; /* put in the node's tree before it starts */
	struct ns3w_link_params access;   /* latency 0: the tailnet's default */
	/* The daemon's tailnet pcap (svcd_config.tailnet_pcap); NULL: none.
	 * A restarted daemon writes "<path without .pcap>-restart-<n>.pcap"
	 * (n = 1, 2, ...): libpcap truncates, and the capture before the
	 * crash is worth keeping. */
	const char *tailnet_pcap;
};

struct tn_link_spec {
	int a, b; /* region indexes */
	struct ns3w_link_params params;
};

struct tn_user_spec {
	const char *login, *role, *display_name;
};

struct tn_config {
	uint64_t seed;
	const char *tailnet; /* NULL: example.ts.net */
	size_t n_regions;
	const char *regions[TN_MAX_REGIONS];
	size_t n_links;
	const struct tn_link_spec *links;
	struct ns3w_link_params access; /* default access link */
	int control_region;
	size_t n_users;
	const struct tn_user_spec *users;
	const char *policy; /* HuJSON text; NULL: empty */
	size_t n_nodes;
	const struct tn_node_spec *nodes;
	FILE *events; /* JSON lines of every node and control; NULL: none */
	uint64_t drain_grace_us;
};

struct tn_backends;

struct tn_node {
	char name[TN_NAME_MAX + 1];
	int ns3_node;
	int region;
	struct io *io;
	struct svcd *daemon; /* NULL while crashed */
	struct io_addr underlay;
	struct tn_backends *backends; /* the node's backend programs */
	/* A slow or erroring origin (tn_origin_degrade): kept across an
	 * origin crash and restart, as a bad deploy would be. */
	uint64_t origin_delay_us;
	int origin_status;
	unsigned restarts; /* tn_restart calls that started a daemon */
	bool paused;       /* its daemon is stopped (tn_pause_node) */
	/* The node key's secret (SEC-1), from the seed and the name: the
	 * same across restarts, as a real node's key file is. */
	uint8_t node_key[32];
	/* The auth key it joins with (SEC-1): one per distinct owner and tag
	 * set, which the world issues as the tailnet's operator. */
	char auth_key[64];
};

struct tailnet {
	struct ns3w_world *ns3;
	const struct tn_config *config; /* borrowed */
	size_t n_nodes;
	struct tn_node *nodes;
	struct io *control_io;
	struct control *control; /* NULL while crashed */
	int control_ns3_node;
	struct io_addr control_addr; /* map port */
	int *region_links;           /* ns3w link ids, per config link */
	/* Control's disk: survives control crashes, lives as long as the
	 * tailnet; its state is the object TN_CONTROL_STATE. */
	struct storage *control_storage;
	unsigned torn_writes; /* tn_control_torn_write calls (picks the cut) */
	/* Control's public key as every daemon pins it (SEC-2): taken from
	 * control's first start (its disk keeps the secret it comes from). */
	uint8_t control_key[32];
};

#define TN_CONTROL_STATE "control-state.json"

/* Builds the world and starts control, then every daemon (serve lines run
 * at once; advertisements reach control through the sessions). 0 or
 * -errno with `why`. */
int tn_new(struct tailnet **out, const struct tn_config *config, char *why, size_t why_len);
void tn_free(struct tailnet *t);

int tn_node_index(const struct tailnet *t, const char *name);
uint64_t tn_now_us(const struct tailnet *t);
/* Runs simulated time until `until_us`. */
void tn_run(struct tailnet *t, uint64_t until_us);
/* Runs until done(arg) (checked every `step_us`) or `timeout_us` passed;
 * returns done(arg). */
bool tn_run_until(struct tailnet *t, bool (*done)(void *arg), void *arg, uint64_t step_us,
                  uint64_t timeout_us);

/* A `serve ...` line on a node's daemon; `out` gets what the CLI prints. */
int tn_serve(struct tailnet *t, int node, const char *line, char *out, size_t out_len);
/* An admin command line (control/control.h) as `user`. */
int tn_admin(struct tailnet *t, const char *user, const char *line, char *out, size_t out_len);
/* set-policy with the policy's text (control_admin_policy) as `user`. */
int tn_admin_policy(struct tailnet *t, const char *user, const char *policy, char *out,
                    size_t out_len);

/* Faults. */
int tn_crash(struct tailnet *t, int node);
int tn_restart(struct tailnet *t, int node);
/* tn_restart with the reason of a failure in `why` (a node that is not
 * down, a daemon or serve line that failed to start). */
int tn_restart_why(struct tailnet *t, int node, char *why, size_t why_len);
/* Stops (continues) a node's daemon; a pause or resume event. -ENOENT
 * for no such node, -EALREADY (with `why`) for a crashed or paused node
 * (pause) or one not paused (resume). */
int tn_pause_node(struct tailnet *t, int node, char *why, size_t why_len);
int tn_resume_node(struct tailnet *t, int node, char *why, size_t why_len);
int tn_partition_regions(struct tailnet *t, int region_a, int region_b, bool cut);
int tn_isolate_node(struct tailnet *t, int node, bool cut);
/* Cuts (or restores) underlay traffic between two nodes only (a
 * node-pair partition: ns3w_block_pair); everything else keeps flowing. */
int tn_partition_nodes(struct tailnet *t, int node_a, int node_b, bool cut);
/* Origin faults: a node's backend programs die (connections reset,
 * listeners closed) while its daemon lives, then start again. -EALREADY
 * when already down (up); an origin_crash / origin_restart event. */
int tn_origin_crash(struct tailnet *t, int node);
int tn_origin_restart(struct tailnet *t, int node, char *why, size_t why_len);
/* Origin faults that keep the backends running: the node's HTTP backends
 * answer `delay_us` late (an origin_slow event) or with `status` 5xx
 * (origin_error), until tn_origin_ok (origin_ok). -ENOTSUP when the node
 * has no HTTP backend, -EALREADY when already degraded (not degraded). */
int tn_origin_degrade(struct tailnet *t, int node, uint64_t delay_us, int status, char *why,
                      size_t why_len);
int tn_origin_ok(struct tailnet *t, int node, char *why, size_t why_len);
int tn_control_crash(struct tailnet *t);
int tn_control_restart(struct tailnet *t);
int tn_control_restart_why(struct tailnet *t, char *why, size_t why_len);
/* Control's disk: a fault from now on (STORAGE_FAULT_NONE: healthy again);
 * a storage_fault event. */
int tn_control_disk_fault(struct tailnet *t, enum storage_fault fault);
/* Control's machine loses power in the middle of writing its state: the
 * write stops at a step the seed picks and control is down (as after
 * tn_control_crash); what the write had not made durable is lost or cut.
 * -EALREADY when control is down. */
int tn_control_torn_write(struct tailnet *t);

#endif
