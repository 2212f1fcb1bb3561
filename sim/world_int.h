/* Internal to svc_world: what the world's files share (world.c, the
 * lifecycle and the run; world_build.c, the two shapes; world_outputs.c,
 * files and pcaps; world_timeline.c, timeline actions; world_workloads.c,
 * tailnet workloads). */
#ifndef SIM_WORLD_INT_H
#define SIM_WORLD_INT_H

#include "sim/world.h"

#include "sim/ns3w/ns3w.h"
#include "sim/tailnet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORLD_EVENTS_BUFFER (1u << 20)
#define WORLD_ADMIN_OUT_MAX (64u << 10)
#define WORLD_LINE_MAX      (SCENARIO_LINE_MAX + WORLD_PATH_MAX + 64)

/* The tailnet's configuration, built from the scenario (tailnet.h borrows
 * every pointer for the world's lifetime). */
struct world_tn {
	struct tn_config config;
	struct tn_node_spec *nodes;
	struct tn_link_spec *links;
	struct tn_user_spec *users;
	/* Every group's files (world_tn_files): specs in group order, the
	 * first of group g at group_file0[g], their bytes made once in
	 * file_data (each node's tree copies them). */
	struct tn_file_spec *files;
	size_t *group_file0;
	uint8_t *file_data;
};

/* One client node of one tailnet workload. */
struct world_client {
	struct world *w;
	uint32_t node;
	struct wh_client *http;
	struct wt_client *tcp;
	struct wu_client *udp;
};

/* ---- world_build.c ---- */

/* The bare shape: topology and one seam per node. */
int world_build_bare(struct world *w, const struct world_options *opt, char *why, size_t why_len);
/* The tailnet shape: control and a daemon per node, services defined. */
int world_build_tailnet(struct world *w, const struct world_options *opt, char *why,
                        size_t why_len);
int world_start_underlay_workload(struct world *w, char *why, size_t why_len);
void world_ns3_params(const struct scenario_link_params *in, struct ns3w_link_params *out);
/* Writes `in` into `out` as a double-quoted admin-command word. */
void world_quote(char *out, size_t cap, const char *in);

/* ---- world_outputs.c ---- */

/* A line to options->notes, when given. */
void world_note(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Which nodes get pcaps, within the open-file limit. */
int world_select_pcaps(struct world *w, const struct world_options *opt, char *why, size_t why_len);
/* Output folders and the events file; pcap paths per node. */
int world_open_outputs(struct world *w, const struct world_options *opt, char *why, size_t why_len);
/* Underlay captures: after the topology is final, before time runs. */
int world_underlay_pcaps(struct world *w, const struct world_options *opt, char *why,
                         size_t why_len);
/* --keep-state: control's stored state as a file. 0 or -errno with a note. */
int world_keep_state(struct world *w);
/* Tells options->output_failed of an output not written completely. */
void world_output_failed(struct world *w, const char *path, int err);
/* ns3w_pcap_close_all's callback (ctx: the world). */
void world_pcap_failed(void *ctx, const char *path, int err);

/* ---- world_timeline.c ---- */

/* Applies one timeline entry now (see world_run for what fails the run). */
int world_apply(struct world *w, const struct scenario_event *e, char *why, size_t why_len);

/* ---- world_workloads.c ---- */

/* Starts a tailnet workload's clients now. */
int world_start_workload(struct world *w, const struct scenario_workload *wl, char *why,
                         size_t why_len);

#endif
