/* A world's two shapes from the scenario: the bare underlay (regions,
 * links, nodes on ns-3, one sim seam each) and the tailnet (its config for
 * tailnet.h, then the scenario's services defined at t=0), and the
 * built-in underlay workload on either. */
#include "sim/world_int.h"

#include "control/control.h"
#include "control/registry.h"
#include "lib/base/errfmt.h"
#include "lib/base/rng.h"
#include "lib/io/fs.h"
#include "proxy/serve/serve_cmd.h"
#include "sim/io_sim.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void world_ns3_params(const struct scenario_link_params *in, struct ns3w_link_params *out)
{
	out->latency_us = in->latency_us;
	out->bandwidth_bps = in->bandwidth_bps;
	out->loss = in->loss;
	out->jitter_us = in->jitter_us;
	out->reorder = in->reorder;
	out->duplicate = in->duplicate;
}

static int world_build_topology(struct world *w, char *why, size_t why_len)
{
	const struct scenario *sc = w->sc;
	struct ns3w_link_params p;
	int err;

	for (int r = 0; r < sc->region_count; r++) {
		err = ns3w_region_add(w->ns3);
		if (err != r) {
			err_setf(why, why_len, 0, "ns-3: adding region '%s' failed (%d)",
			         sc->regions[r].name, err);
			return err < 0 ? err : -EPROTO;
		}
	}
	for (int l = 0; l < sc->link_count; l++) {
		world_ns3_params(&sc->links[l].params, &p);
		err = ns3w_region_link(w->ns3, sc->links[l].region_a, sc->links[l].region_b, &p);
		if (err < 0) {
			err_setf(why, why_len, 0, "ns-3: linking regions '%s' and '%s' failed (%s)",
			         sc->regions[sc->links[l].region_a].name,
			         sc->regions[sc->links[l].region_b].name, strerror(-err));
			return err;
		}
		w->link_ids[l] = err;
	}
	world_ns3_params(&sc->access, &p);
	for (uint32_t i = 0; i < w->node_count; i++) {
		err = ns3w_node_add(w->ns3, w->nodes[i].region, &p, true);
		if (err < 0) {
			err_setf(why, why_len, 0, "ns-3: adding node '%s' failed (%s)",
			         w->nodes[i].name, strerror(-err));
			return err;
		}
		w->nodes[i].ns3_node = err;
	}
	err = ns3w_finalize(w->ns3);
	if (err < 0) {
		err_setf(why, why_len, 0, "ns-3: finalizing the topology failed (%s)",
		         strerror(-err));
		return err;
	}
	return 0;
}

int world_start_underlay_workload(struct world *w, char *why, size_t why_len)
{
	const struct scenario_underlay_workload *uw = &w->sc->underlay_workload;
	int err;

	w->rr_config = (struct workload_rr_config){
	    .rate_per_s = uw->rate_per_s,
	    .request_bytes = uw->request_bytes,
	    .response_bytes = uw->response_bytes,
	    .start_us = uw->start_us,
	    .stop_us = uw->stop_us,
	    .port = uw->port,
	};
	for (uint32_t i = 0; i < w->node_count; i++) {
		w->peers[i].name = w->nodes[i].name;
		io_addr_v4(&w->peers[i].addr, ns3w_node_underlay_ip(w->ns3, w->nodes[i].ns3_node),
		           0);
	}
	if (!uw->enabled)
		return 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		err = workload_rr_node_new(w->nodes[i].io, &w->rr_config, w->peers, w->node_count,
		                           i, &w->nodes[i].rr);
		if (err) {
			err_setf(why, why_len, 0, "underlay workload on node '%s': %s",
			         w->nodes[i].name, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* The bare shape: topology and one seam per node. */
int world_build_bare(struct world *w, const struct world_options *opt, char *why, size_t why_len)
{
	struct ns3w_world_config cfg = {.seed = w->sc->seed, .run = 1};
	int err;

	w->ns3 = ns3w_world_new(&cfg);
	if (!w->ns3) {
		err_setf(why, why_len, 0, "cannot create the ns-3 world (one per process)");
		return -EBUSY;
	}
	err = world_build_topology(w, why, why_len);
	if (!err)
		err = world_select_pcaps(w, opt, why, why_len);
	if (!err)
		err = world_open_outputs(w, opt, why, why_len);
	if (!err)
		err = world_underlay_pcaps(w, opt, why, why_len);
	if (err)
		return err;
	/* One splitmix64 step decorrelates the io_sim seeds of nearby
	 * scenario seeds. */
	uint64_t mix = w->sc->seed;
	const uint64_t node_seed = rng_splitmix64(&mix);
	for (uint32_t i = 0; i < w->node_count; i++) {
		struct io_sim_config ic = {
		    .world = w->ns3,
		    .node = w->nodes[i].ns3_node,
		    .name = w->nodes[i].name,
		    .seed = node_seed,
		    .events = w->events,
		};
		w->nodes[i].io = io_sim_new(&ic, &err);
		if (!w->nodes[i].io) {
			err_setf(why, why_len, 0, "cannot start node '%s': %s", w->nodes[i].name,
			         strerror(-err));
			return err;
		}
	}
	return 0;
}

static enum tn_backend_kind world_backend_kind(enum scenario_backend_kind k)
{
	switch (k) {
	case SCENARIO_BACKEND_HTTP:
		return TN_BACKEND_HTTP;
	case SCENARIO_BACKEND_TCP_ECHO:
		return TN_BACKEND_TCP_ECHO;
	case SCENARIO_BACKEND_TCP_SINK:
		return TN_BACKEND_TCP_SINK;
	case SCENARIO_BACKEND_UDP_ECHO:
		return TN_BACKEND_UDP_ECHO;
	}
	return TN_BACKEND_NONE;
}

/* Does one of the group's serve lines run a service at L3 (--tun)? */
static bool world_group_has_tun(const struct scenario_node_group *g)
{
	struct serve_op *op = malloc(sizeof(*op));
	char err[256];
	bool tun = false;

	for (size_t k = 0; op && k < g->n_serve && !tun; k++)
		tun = serve_cmd_parse_line(g->serve[k].text, strlen(g->serve[k].text), op, err,
		                           sizeof(err)) == 0 &&
		      op->verb == SERVE_VERB_SET && op->type == SERVE_TYPE_TUN;
	free(op);
	return tun;
}

/* A node's files always fit its tree: each path of at most
 * SCENARIO_FILE_PATH_MAX bytes has at most half as many parts ("/a/b"). */
_Static_assert(SCENARIO_FILES_MAX *(SCENARIO_FILE_PATH_MAX / 2) <= IO_FS_MEM_NODES_MAX,
               "scenario files may not fill a node's tree");

/* Every group's files, their bytes made once: a group's nodes share them,
 * each node's tree copies them (the loader bounds the total). */
static int world_tn_files(struct world *w)
{
	const struct scenario *sc = w->sc;
	struct world_tn *tc = w->tc;
	size_t n = 0, k = 0;
	uint64_t bytes = 0, off = 0;

	for (int gi = 0; gi < sc->group_count; gi++)
		for (size_t f = 0; f < sc->groups[gi].n_files; f++, n++)
			bytes += sc->groups[gi].files[f].size;
	tc->group_file0 =
	    calloc(sc->group_count ? (size_t)sc->group_count : 1, sizeof(*tc->group_file0));
	tc->files = calloc(n ? n : 1, sizeof(*tc->files));
	tc->file_data = malloc(bytes ? (size_t)bytes : 1);
	if (!tc->group_file0 || !tc->files || !tc->file_data)
		return -ENOMEM;
	for (int gi = 0; gi < sc->group_count; gi++) {
		const struct scenario_node_group *g = &sc->groups[gi];
		tc->group_file0[gi] = k;
		for (size_t f = 0; f < g->n_files; f++) {
			scenario_file_bytes(&g->files[f], tc->file_data + off);
			tc->files[k++] = (struct tn_file_spec){.path = g->files[f].path,
			                                       .data = tc->file_data + off,
			                                       .len = (size_t)g->files[f].size};
			off += g->files[f].size;
		}
	}
	return 0;
}

/* The tailnet's config from the scenario. */
static int world_tn_config(struct world *w)
{
	const struct scenario *sc = w->sc;
	struct world_tn *tc = w->tc;
	struct tn_config *c = &tc->config;

	tc->nodes = calloc(w->node_count, sizeof(*tc->nodes));
	tc->links = calloc(sc->link_count ? (size_t)sc->link_count : 1, sizeof(*tc->links));
	tc->users = calloc(sc->n_users ? sc->n_users : 1, sizeof(*tc->users));
	if (!tc->nodes || !tc->links || !tc->users || world_tn_files(w) < 0)
		return -ENOMEM;
	*c = (struct tn_config){
	    .seed = sc->seed,
	    .tailnet = sc->tailnet[0] ? sc->tailnet : NULL,
	    .n_regions = (size_t)sc->region_count,
	    .n_links = (size_t)sc->link_count,
	    .links = tc->links,
	    .control_region = sc->control_region,
	    .n_users = sc->n_users,
	    .users = tc->users,
	    .policy = sc->policy_json,
	    .n_nodes = w->node_count,
	    .nodes = tc->nodes,
	    .drain_grace_us = WORLD_DRAIN_GRACE_US,
	};
	world_ns3_params(&sc->access, &c->access);
	for (int r = 0; r < sc->region_count && r < TN_MAX_REGIONS; r++)
		c->regions[r] = sc->regions[r].name;
	for (int l = 0; l < sc->link_count; l++) {
		tc->links[l].a = sc->links[l].region_a;
		tc->links[l].b = sc->links[l].region_b;
		world_ns3_params(&sc->links[l].params, &tc->links[l].params);
	}
	for (size_t u = 0; u < sc->n_users; u++) {
		const struct scenario_user *su = &sc->users[u];
		tc->users[u] = (struct tn_user_spec){
		    .login = su->login,
		    .role = scenario_role_name(su->role),
		    .display_name = su->display_name[0] ? su->display_name : su->login};
	}
	for (uint32_t i = 0; i < w->node_count; i++) {
		const struct scenario_node_group *g =
		    scenario_node_name(sc, i, w->nodes[i].name, sizeof(w->nodes[i].name));
		struct tn_node_spec *n = &tc->nodes[i];

		n->name = w->nodes[i].name;
		n->region = g->region;
		n->user = g->user >= 0 ? sc->users[g->user].login : NULL;
		for (size_t k = 0; k < g->n_tags && k < TN_MAX_TAGS; k++)
			n->tags[n->n_tags++] = g->tags[k];
		bool tun = g->n_backends && world_group_has_tun(g);
		for (size_t k = 0; k < g->n_backends && k < TN_MAX_BACKENDS; k++)
			n->backends[n->n_backends++] = (struct tn_backend_spec){
			    .kind = world_backend_kind(g->backends[k].kind),
			    .port = g->backends[k].port,
			    .service_time_us = g->backends[k].service_time_us,
			    .body_bytes = g->backends[k].body_bytes,
			    .any_address = tun};
		for (size_t k = 0; k < g->n_serve && k < TN_MAX_SERVE; k++)
			n->serve[n->n_serve++] = g->serve[k].text;
		n->n_files = g->n_files;
		n->files = &tc->files[tc->group_file0[g - sc->groups]];
		n->access = c->access;
		n->tailnet_pcap = w->nodes[i].tailnet_pcap;
	}
	return 0;
}

/* Writes `in` into `out` as a double-quoted admin-command word. */
void world_quote(char *out, size_t cap, const char *in)
{
	size_t n = 0;

	if (cap < 3)
		return;
	out[n++] = '"';
	for (; *in && n + 3 < cap; in++) {
		if (*in == '"' || *in == '\\')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n++] = '"';
	out[n] = '\0';
}

/* The user services are defined as: the first owner, else admin, else
 * network-admin; NULL when there is none. */
static const char *world_admin_user(const struct scenario *sc)
{
	static const enum scenario_role order[] = {SCENARIO_ROLE_OWNER, SCENARIO_ROLE_ADMIN,
	                                           SCENARIO_ROLE_NETWORK_ADMIN};

	for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++)
		for (size_t u = 0; u < sc->n_users; u++)
			if (sc->users[u].role == order[r])
				return sc->users[u].login;
	return NULL;
}

/* SVC-1 at t=0: the scenario's services, defined by an admin. */
/* The VIPs control gave the scenario's services: a workload that starts
 * while control is down, before any client holds a map, still knows where
 * to send (its requests then fail on their own merits). */
static int world_keep_service_vips(struct world *w)
{
	const struct registry *r = control_registry(w->tn->control);

	w->service_vips =
	    calloc(w->sc->n_services ? w->sc->n_services : 1, sizeof(*w->service_vips));
	if (!w->service_vips)
		return -ENOMEM;
	for (size_t s = 0; s < w->sc->n_services; s++) {
		int i = registry_service_index(r, w->sc->services[s].name);
		if (i >= 0)
			w->service_vips[s] = registry_service(r, (size_t)i)->vip4;
	}
	return 0;
}

static int world_define_services(struct world *w, char *why, size_t why_len)
{
	const struct scenario *sc = w->sc;
	const char *admin = world_admin_user(sc);
	char *line = malloc(WORLD_LINE_MAX), *out = malloc(WORLD_ADMIN_OUT_MAX);
	char *desc = malloc(2 * SCENARIO_DESCRIPTION_MAX + 4);
	int rc = 0;

	if (!line || !out || !desc) {
		rc = -ENOMEM;
		goto out;
	}
	if (sc->n_services && !admin) {
		rc = err_setf(why, why_len, -EINVAL,
		              "services need an owner, admin or network-admin user to define them");
		goto out;
	}
	for (size_t s = 0; s < sc->n_services; s++) {
		const struct scenario_service *sv = &sc->services[s];
		size_t n = (size_t)snprintf(line, WORLD_LINE_MAX, "define %s", sv->name);
		if (sv->ports_text && sv->ports_text[0])
			n += (size_t)snprintf(line + n, WORLD_LINE_MAX - n, " --ports=%s",
			                      sv->ports_text);
		for (size_t k = 0; k < sv->n_tags && n < WORLD_LINE_MAX; k++)
			n += (size_t)snprintf(line + n, WORLD_LINE_MAX - n, "%s%s",
			                      k ? "," : " --tags=", sv->tags[k]);
		if (sv->description && sv->description[0] && n < WORLD_LINE_MAX) {
			world_quote(desc, 2 * SCENARIO_DESCRIPTION_MAX + 4, sv->description);
			n += (size_t)snprintf(line + n, WORLD_LINE_MAX - n, " --description=%s",
			                      desc);
		}
		if (n >= WORLD_LINE_MAX) {
			rc = err_setf(why, why_len, -E2BIG, "%s: definition too long", sv->name);
			goto out;
		}
		rc = tn_admin(w->tn, admin, line, out, WORLD_ADMIN_OUT_MAX);
		if (rc < 0) {
			err_setf(why, why_len, rc, "defining %s as %s failed: %s", sv->name, admin,
			         out);
			goto out;
		}
	}
out:
	free(line);
	free(out);
	free(desc);
	return rc;
}

int world_build_tailnet(struct world *w, const struct world_options *opt, char *why, size_t why_len)
{
	int err;

	w->tc = calloc(1, sizeof(*w->tc));
	if (!w->tc)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->node_count; i++)
		scenario_node_name(w->sc, i, w->nodes[i].name, sizeof(w->nodes[i].name));
	err = world_select_pcaps(w, opt, why, why_len);
	if (!err)
		err = world_open_outputs(w, opt, why, why_len);
	if (!err)
		err = world_tn_config(w);
	if (err)
		return err;
	w->tc->config.events = w->events;
	/* Control's state lives in memory; a file left by an earlier run with
	 * --keep-state would be mistaken for this run's. */
	unlink(w->state_path);
	err = tn_new(&w->tn, &w->tc->config, why, why_len);
	if (err)
		return err;
	w->ns3 = w->tn->ns3;
	/* HTTPS workloads trust control's CA; they may start while control
	 * is down (a fault), so its certificate is kept from the start. */
	w->ca_pem = strdup(control_ca_pem(w->tn->control));
	if (!w->ca_pem)
		return err_setf(why, why_len, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < w->node_count; i++) {
		w->nodes[i].ns3_node = w->tn->nodes[i].ns3_node;
		w->nodes[i].io = w->tn->nodes[i].io;
	}
	for (int l = 0; l < w->sc->link_count; l++)
		w->link_ids[l] = w->tn->region_links[l];
	err = world_underlay_pcaps(w, opt, why, why_len);
	if (!err)
		err = world_define_services(w, why, why_len);
	if (!err)
		err = world_keep_service_vips(w);
	return err;
}
