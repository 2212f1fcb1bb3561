/* Builds and runs a world from a scenario (see world.h). */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "sim/world.h"

#include "control/control.h"
#include "control/registry.h"
#include "lib/base/errfmt.h"
#include "lib/base/outfile.h"
#include "lib/io/io_event.h"
#include "lib/wire/netmap.h"
#include "lib/wire/packet.h"
#include "lib/wire/tls.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/serve/serve_cmd.h"
#include "proxy/svcd.h"
#include "sim/io_sim.h"
#include "sim/ns3w/ns3w.h"
#include "sim/tailnet.h"
#include "sim/workload/workload_http.h"
#include "sim/workload/workload_rr.h"
#include "sim/workload/workload_tcp.h"
#include "sim/workload/workload_udp.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

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
};

/* One client node of one tailnet workload. */
struct world_client {
	struct world *w;
	uint32_t node;
	struct wh_client *http;
	struct wt_client *tcp;
	struct wu_client *udp;
};

int world_mkdirs(const char *path)
{
	char buf[WORLD_PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int world_pcap_check(const char *value)
{
	return value && value[0] ? 0 : -EINVAL;
}

bool world_needs_tailnet(const struct scenario *sc)
{
	if (sc->n_users || sc->policy_json || sc->n_services || sc->n_workloads)
		return true;
	for (int g = 0; g < sc->group_count; g++) {
		const struct scenario_node_group *gr = &sc->groups[g];
		if (gr->n_tags || gr->user >= 0 || gr->n_backends || gr->n_serve)
			return true;
	}
	for (size_t i = 0; i < sc->n_events; i++) {
		enum scenario_action a = sc->events[i].action;
		if (a != SCENARIO_ACTION_PARTITION && a != SCENARIO_ACTION_HEAL &&
		    a != SCENARIO_ACTION_LINK)
			return true;
	}
	return false;
}

/* Removes the pcaps a previous run left in `dir`, so the folder holds
 * exactly this run's selection. */
static void world_clean_pcaps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[WORLD_PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n <= 5 || strcmp(e->d_name + n - 5, ".pcap") ||
		    (!strstr(e->d_name, "-underlay") && !strstr(e->d_name, "-tailnet")))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

/* splitmix64: decorrelates the io_sim seeds of nearby scenario seeds. */
static uint64_t world_mix(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void world_ns3_params(const struct scenario_link_params *in, struct ns3w_link_params *out)
{
	out->latency_us = in->latency_us;
	out->bandwidth_bps = in->bandwidth_bps;
	out->loss = in->loss;
}

__attribute__((format(printf, 2, 3))) static void world_note(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->notes)
		return;
	va_start(ap, fmt);
	vfprintf(w->notes, fmt, ap);
	va_end(ap);
}

/* Is control's capture wanted? With "all", or a glob naming "control". */
static bool world_pcap_selects(const char *sel, const char *name)
{
	return !strcmp(sel, "all") || (strcmp(sel, "none") != 0 && fnmatch(sel, name, 0) == 0);
}

/* Which nodes get pcaps; refuses a selection that would run out of file
 * descriptors (each capture is one open file). */
static int world_select_pcaps(struct world *w, const struct world_options *opt, char *why,
                              size_t why_len)
{
	const char *sel = opt->pcap;
	uint32_t selected = 0;
	struct rlimit rl;

	if (!sel) {
		if (w->node_count > WORLD_PCAP_DEFAULT_MAX_NODES) {
			world_note(
			    w,
			    "note: %u nodes: no pcaps by default above %d nodes (each pcap is "
			    "one open file); use --pcap all or --pcap 'GLOB'\n",
			    w->node_count, WORLD_PCAP_DEFAULT_MAX_NODES);
			sel = "none";
		} else {
			sel = "all";
		}
	}
	w->pcap_count = 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		bool on = world_pcap_selects(sel, w->nodes[i].name);
		w->nodes[i].pcap = on;
		selected += on;
		w->pcap_count += on ? (w->tc ? 2 : 1) : 0;
	}
	if (w->tc && world_pcap_selects(sel, "control"))
		w->pcap_count++;
	if (opt->pcap && strcmp(sel, "all") && strcmp(sel, "none") && selected == 0)
		world_note(w, "note: --pcap '%s' matches no node; no pcaps written\n", sel);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)w->pcap_count + WORLD_FD_RESERVE > rl.rlim_cur) {
		err_setf(why, why_len, 0,
		         "%u pcaps need %u open files but the limit is %llu; select fewer with "
		         "--pcap 'GLOB' or --pcap none",
		         w->pcap_count, w->pcap_count + WORLD_FD_RESERVE,
		         (unsigned long long)rl.rlim_cur);
		return -EMFILE;
	}
	return 0;
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

/* Output folders and the events file; pcap paths per node. */
static int world_open_outputs(struct world *w, const struct world_options *opt, char *why,
                              size_t why_len)
{
	const char *out = opt->out_dir ? opt->out_dir : ".";
	int err;

	if ((size_t)snprintf(w->report_dir, sizeof(w->report_dir), "%s/reports/%s", out,
	                     w->sc->name) >= sizeof(w->report_dir) - 64 ||
	    (size_t)snprintf(w->pcap_dir, sizeof(w->pcap_dir), "%s/pcaps/%s", out, w->sc->name) >=
	        sizeof(w->pcap_dir) - SCENARIO_NAME_MAX - 64) {
		err_setf(why, why_len, 0, "output path under '%s' is too long", out);
		return -ENAMETOOLONG;
	}
	if ((size_t)snprintf(w->events_path, sizeof(w->events_path), "%s/events.jsonl",
	                     w->report_dir) >= sizeof(w->events_path) ||
	    (size_t)snprintf(w->state_path, sizeof(w->state_path), "%s/control-state.json",
	                     w->report_dir) >= sizeof(w->state_path))
		return -ENAMETOOLONG;
	err = world_mkdirs(w->report_dir);
	if (err) {
		err_setf(why, why_len, 0, "cannot create '%s': %s", w->report_dir, strerror(-err));
		return err;
	}
	w->events_out = calloc(1, sizeof(*w->events_out));
	if (!w->events_out)
		return -ENOMEM;
	w->events = outfile_open(w->events_out, w->events_path, false);
	if (!w->events) {
		err = -errno;
		err_setf(why, why_len, 0, "cannot write '%s': %s", w->events_path, strerror(-err));
		return err;
	}
	setvbuf(w->events, NULL, _IOFBF, WORLD_EVENTS_BUFFER);
	if (w->pcap_count == 0) {
		world_clean_pcaps(w->pcap_dir);
		return 0;
	}
	err = world_mkdirs(w->pcap_dir);
	if (err) {
		err_setf(why, why_len, 0, "cannot create '%s': %s", w->pcap_dir, strerror(-err));
		return err;
	}
	world_clean_pcaps(w->pcap_dir);
	if (!w->tc)
		return 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		if (!w->nodes[i].pcap)
			continue;
		size_t len = strlen(w->pcap_dir) + strlen(w->nodes[i].name) + 32;
		w->nodes[i].tailnet_pcap = malloc(len);
		if (!w->nodes[i].tailnet_pcap)
			return -ENOMEM;
		snprintf(w->nodes[i].tailnet_pcap, len, "%s/%s-tailnet.pcap", w->pcap_dir,
		         w->nodes[i].name);
	}
	return 0;
}

/* Underlay captures: after the topology is final, before time runs. */
static int world_underlay_pcaps(struct world *w, const struct world_options *opt, char *why,
                                size_t why_len)
{
	char path[WORLD_PATH_MAX + SCENARIO_NAME_MAX + 32];
	int err;

	for (uint32_t i = 0; i < w->node_count; i++) {
		if (!w->nodes[i].pcap)
			continue;
		snprintf(path, sizeof(path), "%s/%s-underlay.pcap", w->pcap_dir, w->nodes[i].name);
		err = ns3w_pcap_underlay(w->ns3, w->nodes[i].ns3_node, path);
		if (err < 0) {
			err_setf(why, why_len, 0, "cannot write pcap '%s': %s", path,
			         strerror(-err));
			return err;
		}
	}
	const char *sel = opt->pcap                                      ? opt->pcap
	                  : w->node_count > WORLD_PCAP_DEFAULT_MAX_NODES ? "none"
	                                                                 : "all";
	if (w->tn && world_pcap_selects(sel, "control")) {
		snprintf(path, sizeof(path), "%s/control-underlay.pcap", w->pcap_dir);
		err = ns3w_pcap_underlay(w->ns3, w->tn->control_ns3_node, path);
		if (err < 0) {
			err_setf(why, why_len, 0, "cannot write pcap '%s': %s", path,
			         strerror(-err));
			return err;
		}
	}
	return 0;
}

static int world_start_underlay_workload(struct world *w, char *why, size_t why_len)
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
static int world_build_bare(struct world *w, const struct world_options *opt, char *why,
                            size_t why_len)
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
	for (uint32_t i = 0; i < w->node_count; i++) {
		struct io_sim_config ic = {
		    .world = w->ns3,
		    .node = w->nodes[i].ns3_node,
		    .name = w->nodes[i].name,
		    .seed = world_mix(w->sc->seed),
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

/* The tailnet's config from the scenario. */
static int world_tn_config(struct world *w)
{
	const struct scenario *sc = w->sc;
	struct world_tn *tc = w->tc;
	struct tn_config *c = &tc->config;

	tc->nodes = calloc(w->node_count, sizeof(*tc->nodes));
	tc->links = calloc(sc->link_count ? (size_t)sc->link_count : 1, sizeof(*tc->links));
	tc->users = calloc(sc->n_users ? sc->n_users : 1, sizeof(*tc->users));
	if (!tc->nodes || !tc->links || !tc->users)
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
		n->access = c->access;
		n->tailnet_pcap = w->nodes[i].tailnet_pcap;
	}
	return 0;
}

/* Writes `in` into `out` as a double-quoted admin-command word. */
static void world_quote(char *out, size_t cap, const char *in)
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

static int world_build_tailnet(struct world *w, const struct world_options *opt, char *why,
                               size_t why_len)
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
	for (uint32_t i = 0; i < w->node_count; i++) {
		w->nodes[i].ns3_node = w->tn->nodes[i].ns3_node;
		w->nodes[i].io = w->tn->nodes[i].io;
	}
	for (int l = 0; l < w->sc->link_count; l++)
		w->link_ids[l] = w->tn->region_links[l];
	err = world_underlay_pcaps(w, opt, why, why_len);
	if (!err)
		err = world_define_services(w, why, why_len);
	return err;
}

/* Workload indexes by start time (stable: equal times in file order). */
static int world_sort_starts(struct world *w)
{
	const struct scenario *sc = w->sc;
	size_t total = 0;

	w->starts = calloc(sc->n_workloads ? sc->n_workloads : 1, sizeof(*w->starts));
	if (!w->starts)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n_workloads; i++) {
		size_t j = i;
		while (j > 0 &&
		       sc->workloads[w->starts[j - 1]].start_us > sc->workloads[i].start_us) {
			w->starts[j] = w->starts[j - 1];
			j--;
		}
		w->starts[j] = i;
		for (uint32_t n = 0; n < w->node_count; n++)
			total += scenario_workload_has_client(sc, &sc->workloads[i], n);
	}
	w->clients = calloc(total ? total : 1, sizeof(*w->clients));
	if (!w->clients)
		return -ENOMEM;
	w->cap_clients = total;
	return 0;
}

int world_new(const struct scenario *sc, const struct world_options *options, struct world **out,
              char *why, size_t why_len)
{
	struct world_options none = {0};
	const struct world_options *opt = options ? options : &none;
	struct world *w;
	int err;

	*out = NULL;
	if (!sc || sc->node_count == 0 || sc->seed == 0) {
		err_setf(why, why_len, 0, "invalid scenario");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->sc = sc;
	w->notes = opt->notes;
	w->keep_state = opt->keep_state;
	w->output_failed = opt->output_failed;
	w->output_ctx = opt->output_ctx;
	snprintf(w->scenario_dir, sizeof(w->scenario_dir), "%s",
	         opt->scenario_dir ? opt->scenario_dir : ".");
	snprintf(w->scenario_file, sizeof(w->scenario_file), "%s",
	         opt->scenario_file ? opt->scenario_file : "scenario");
	w->node_count = sc->node_count;
	w->nodes = calloc(w->node_count, sizeof(*w->nodes));
	w->peers = calloc(w->node_count, sizeof(*w->peers));
	w->link_ids = calloc(sc->link_count ? (size_t)sc->link_count : 1, sizeof(*w->link_ids));
	w->link_params =
	    calloc(sc->link_count ? (size_t)sc->link_count : 1, sizeof(*w->link_params));
	w->cuts = calloc(sc->n_events ? sc->n_events : 1, sizeof(*w->cuts));
	if (!w->nodes || !w->peers || !w->link_ids || !w->link_params || !w->cuts) {
		err = -ENOMEM;
		err_setf(why, why_len, 0, "out of memory for %u nodes", w->node_count);
		goto out_free;
	}
	for (int l = 0; l < sc->link_count; l++)
		w->link_params[l] = sc->links[l].params;
	for (uint32_t i = 0; i < w->node_count; i++) {
		const struct scenario_node_group *g =
		    scenario_node_name(sc, i, w->nodes[i].name, sizeof(w->nodes[i].name));
		w->nodes[i].region = g ? g->region : 0;
	}
	err = world_sort_starts(w);
	if (err) {
		err_setf(why, why_len, 0, "out of memory");
		goto out_free;
	}
	if (world_needs_tailnet(sc))
		err = world_build_tailnet(w, opt, why, why_len);
	else
		err = world_build_bare(w, opt, why, why_len);
	if (err)
		goto out_free;
	err = world_start_underlay_workload(w, why, why_len);
	if (err)
		goto out_free;
	*out = w;
	return 0;
out_free:
	if (err == -ENOMEM && (!why[0]))
		err_setf(why, why_len, 0, "out of memory");
	world_free(w);
	return err;
}

/* ---- the timeline ---- */

/* One `timeline` event line, written where the seams write theirs. */
static void world_mark(struct world *w, const char *action, const char *target, const char *detail)
{
	char a[64], t[256], d[2 * WORLD_DETAIL_MAX + 8], fields[IO_EVENT_LINE_MAX];
	char line[IO_EVENT_LINE_MAX];
	char cut[WORLD_DETAIL_MAX + 1];

	snprintf(cut, sizeof(cut), "%s", detail ? detail : "");
	io_json_escape(a, sizeof(a), action);
	io_json_escape(t, sizeof(t), target ? target : "");
	io_json_escape(d, sizeof(d), cut);
	snprintf(fields, sizeof(fields), "\"action\":\"%s\",\"target\":\"%s\",\"detail\":\"%s\"", a,
	         t, d);
	int n =
	    io_event_format(line, sizeof(line), ns3w_now_us(w->ns3), "simrun", "timeline", fields);
	if (n > 0)
		fwrite(line, 1, (size_t)n, w->events);
	w->timeline_events++;
}

static const char *world_region_name(const struct world *w, uint32_t r)
{
	return w->sc->regions[r].name;
}

static int world_cut_regions(struct world *w, uint32_t a, uint32_t b, bool cut)
{
	int hits = 0;

	for (int l = 0; l < w->sc->link_count; l++) {
		const struct scenario_link *sl = &w->sc->links[l];
		if (((uint32_t)sl->region_a == a && (uint32_t)sl->region_b == b) ||
		    ((uint32_t)sl->region_a == b && (uint32_t)sl->region_b == a)) {
			int rc = ns3w_link_set_up(w->ns3, w->link_ids[l], !cut);
			if (rc < 0)
				return rc;
			hits++;
		}
	}
	return hits ? 0 : -ENOENT;
}

static void world_fmt_params(char *out, size_t cap, const struct scenario_link_params *p)
{
	snprintf(out, cap, "latency %.3fms bandwidth %.0fbps loss %.4f%%",
	         (double)p->latency_us / 1000.0, (double)p->bandwidth_bps, p->loss * 100.0);
}

/* The partition in force between the same two regions or nodes as `e`:
 * its index in w->cuts, or w->n_cuts when there is none. */
static size_t world_cut_find(const struct world *w, const struct scenario_event *e)
{
	size_t j = 0;

	for (; j < w->n_cuts; j++) {
		const struct scenario_event *c = &w->sc->events[w->cuts[j]];
		if (c->between_nodes == e->between_nodes &&
		    ((c->a == e->a && c->b == e->b) || (c->a == e->b && c->b == e->a)))
			break;
	}
	return j;
}

/* A partition cuts what is whole, a heal mends what is cut: anything else
 * cannot be carried out (-EALREADY / -ENOENT with the reason). */
static int world_partition(struct world *w, const struct scenario_event *e, char *reason,
                           size_t reason_len)
{
	bool cut = e->action == SCENARIO_ACTION_PARTITION;
	size_t j = world_cut_find(w, e);
	int rc;

	if (cut && j < w->n_cuts)
		return err_setf(reason, reason_len, -EALREADY, "already cut (partition at line %u)",
		                w->sc->events[w->cuts[j]].line);
	if (!cut && j == w->n_cuts)
		return err_setf(reason, reason_len, -ENOENT, "not cut (no partition in force)");
	if (e->between_nodes)
		rc = ns3w_block_pair(w->ns3, w->nodes[e->a].ns3_node, w->nodes[e->b].ns3_node, cut);
	else
		rc = world_cut_regions(w, e->a, e->b, cut);
	if (rc < 0)
		return err_setf(reason, reason_len, rc, "%s", strerror(-rc));
	if (cut)
		w->cuts[w->n_cuts++] = (size_t)(e - w->sc->events);
	else
		w->cuts[j] = w->cuts[--w->n_cuts];
	return 0;
}

/* Why a command failed, from what it printed: control's admin API answers
 * {"error": "..."}, the daemon's serve command a message whose first line
 * says why; with nothing printed, the errno's text. */
static void world_reason(const char *out, int rc, char *reason, size_t reason_len)
{
	cJSON *j = out[0] == '{' ? cJSON_Parse(out) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (cJSON_IsString(msg) && msg->valuestring[0])
		snprintf(reason, reason_len, "%s", msg->valuestring);
	else if (out[0])
		snprintf(reason, reason_len, "%.*s", (int)strcspn(out, "\n"), out);
	else
		snprintf(reason, reason_len, "%s", strerror(-rc));
	cJSON_Delete(j);
}

/* Applies one timeline entry at the current time and writes its timeline
 * event (a failure in its detail). EXP-6: an action that could not be
 * carried out fails the run (-errno, the whole message in `why`) unless the
 * entry's expect_error matches its reason; an entry marked expect_error
 * that succeeds fails the run too. */
static int world_apply(struct world *w, const struct scenario_event *e, char *why, size_t why_len)
{
	const struct scenario *sc = w->sc;
	char target[2 * SCENARIO_NAME_MAX + 8] = "", detail[WORLD_DETAIL_MAX + 1] = "";
	char reason[1024] = "", t[32];
	char *out = malloc(WORLD_ADMIN_OUT_MAX), *line = NULL;
	const char *action = "?";
	int rc = 0;

	scenario_time_text(e->at_us, t, sizeof(t));
	if (!out)
		return err_setf(why, why_len, -ENOMEM, "%s:%u: out of memory at %s",
		                w->scenario_file, e->line, t);
	out[0] = '\0';
	switch (e->action) {
	case SCENARIO_ACTION_SERVE:
		action = "serve";
		snprintf(target, sizeof(target), "%s", w->nodes[e->node].name);
		rc = tn_serve(w->tn, (int)e->node, e->run, out, WORLD_ADMIN_OUT_MAX);
		snprintf(detail, sizeof(detail), "%s", e->run);
		break;
	case SCENARIO_ACTION_CRASH:
		action = "crash";
		snprintf(target, sizeof(target), "%s", w->nodes[e->node].name);
		rc = tn_crash(w->tn, (int)e->node);
		if (rc == -EALREADY)
			snprintf(reason, sizeof(reason), "%s is already down", target);
		break;
	case SCENARIO_ACTION_RESTART:
		action = "restart";
		snprintf(target, sizeof(target), "%s", w->nodes[e->node].name);
		rc = tn_restart_why(w->tn, (int)e->node, reason, sizeof(reason));
		break;
	case SCENARIO_ACTION_PARTITION:
	case SCENARIO_ACTION_HEAL:
		action = e->action == SCENARIO_ACTION_PARTITION ? "partition" : "heal";
		if (e->between_nodes)
			snprintf(target, sizeof(target), "%s,%s", w->nodes[e->a].name,
			         w->nodes[e->b].name);
		else
			snprintf(target, sizeof(target), "%s,%s", world_region_name(w, e->a),
			         world_region_name(w, e->b));
		snprintf(detail, sizeof(detail), "%s", e->between_nodes ? "nodes" : "regions");
		rc = world_partition(w, e, reason, sizeof(reason));
		break;
	case SCENARIO_ACTION_LINK: {
		struct scenario_link_params *p = &w->link_params[e->link];
		struct ns3w_link_params np;
		action = "link";
		snprintf(target, sizeof(target), "%s,%s",
		         world_region_name(w, (uint32_t)sc->links[e->link].region_a),
		         world_region_name(w, (uint32_t)sc->links[e->link].region_b));
		if (e->set_latency)
			p->latency_us = e->params.latency_us;
		if (e->set_bandwidth)
			p->bandwidth_bps = e->params.bandwidth_bps;
		if (e->set_loss)
			p->loss = e->params.loss;
		world_ns3_params(p, &np);
		rc = ns3w_link_set_params(w->ns3, w->link_ids[e->link], &np);
		world_fmt_params(detail, sizeof(detail), p);
		break;
	}
	case SCENARIO_ACTION_ADMIN: {
		const char *user = e->user >= 0 ? sc->users[e->user].login : NULL;
		action = "admin";
		line = malloc(WORLD_LINE_MAX);
		if (!line) {
			rc = -ENOMEM;
			break;
		}
		if (e->verb == SCENARIO_ADMIN_SET_POLICY) {
			char path[WORLD_PATH_MAX + SCENARIO_LINE_MAX + 2], q[2 * sizeof(path)];
			snprintf(target, sizeof(target), "policy");
			if (e->file[0] == '/')
				snprintf(path, sizeof(path), "%s", e->file);
			else
				snprintf(path, sizeof(path), "%s/%s", w->scenario_dir, e->file);
			world_quote(q, sizeof(q), path);
			if ((size_t)snprintf(line, WORLD_LINE_MAX, "set-policy %s", q) >=
			    WORLD_LINE_MAX) {
				rc = -ENAMETOOLONG;
				break;
			}
		} else {
			snprintf(target, sizeof(target), "%s", e->service);
			snprintf(line, WORLD_LINE_MAX, "%s", e->command);
		}
		snprintf(detail, sizeof(detail), "%s (as %s)", e->command, user ? user : "?");
		rc = user ? tn_admin(w->tn, user, line, out, WORLD_ADMIN_OUT_MAX) : -EINVAL;
		break;
	}
	case SCENARIO_ACTION_CONTROL_CRASH:
		action = "control";
		snprintf(target, sizeof(target), "control");
		snprintf(detail, sizeof(detail), "crash");
		rc = tn_control_crash(w->tn);
		if (rc == -EALREADY)
			snprintf(reason, sizeof(reason), "control is already down");
		break;
	case SCENARIO_ACTION_CONTROL_RESTART:
		action = "control";
		snprintf(target, sizeof(target), "control");
		snprintf(detail, sizeof(detail), "restart");
		rc = tn_control_restart_why(w->tn, reason, sizeof(reason));
		break;
	case SCENARIO_ACTION_CONTROL_DISK: {
		static const enum storage_fault faults[] = {
		    [SCENARIO_DISK_OK] = STORAGE_FAULT_NONE,
		    [SCENARIO_DISK_FULL] = STORAGE_FAULT_FULL,
		    [SCENARIO_DISK_FSYNC_FAIL] = STORAGE_FAULT_FSYNC,
		};
		action = "control";
		snprintf(target, sizeof(target), "control");
		snprintf(detail, sizeof(detail), "disk %s", storage_fault_name(faults[e->disk]));
		rc = tn_control_disk_fault(w->tn, faults[e->disk]);
		break;
	}
	case SCENARIO_ACTION_CONTROL_TORN_WRITE:
		action = "control";
		snprintf(target, sizeof(target), "control");
		snprintf(detail, sizeof(detail), "torn-write");
		rc = tn_control_torn_write(w->tn);
		if (rc == -EALREADY)
			snprintf(reason, sizeof(reason), "control is already down");
		break;
	}
	if (rc < 0 && !reason[0])
		world_reason(out, rc, reason, sizeof(reason));
	/* the entry as messages name it */
	char what[WORLD_DETAIL_MAX + 2 * SCENARIO_NAME_MAX + 32];
	if (e->action == SCENARIO_ACTION_SERVE)
		snprintf(what, sizeof(what), "%s on %s", detail, target);
	else if (e->action == SCENARIO_ACTION_ADMIN)
		snprintf(what, sizeof(what), "admin %s as %s", e->command,
		         e->user >= 0 ? sc->users[e->user].login : "?");
	else if (e->action == SCENARIO_ACTION_CONTROL_CRASH ||
	         e->action == SCENARIO_ACTION_CONTROL_RESTART ||
	         e->action == SCENARIO_ACTION_CONTROL_DISK ||
	         e->action == SCENARIO_ACTION_CONTROL_TORN_WRITE)
		snprintf(what, sizeof(what), "control %s", detail);
	else
		snprintf(what, sizeof(what), "%s %s", action, target);
	size_t n = strlen(detail);
	const char *sep = n ? "; " : "";
	int err = 0;
	if (rc < 0 && e->expect_error && strstr(reason, e->expect_error)) {
		snprintf(detail + n, sizeof(detail) - n, "%sfailed as expected: %s", sep, reason);
		world_note(w, "note: %s:%u: at %s (%s) failed as expected: %s\n", w->scenario_file,
		           e->line, t, what, reason);
		w->expected_failures++;
	} else if (rc < 0) {
		snprintf(detail + n, sizeof(detail) - n, "%sfailed: %s", sep, reason);
		err = e->expect_error
		          ? err_setf(why, why_len, rc,
		                     "%s:%u: timeline entry at %s (%s) failed, but not with "
		                     "expect_error's \"%s\": %s",
		                     w->scenario_file, e->line, t, what, e->expect_error, reason)
		          : err_setf(why, why_len, rc,
		                     "%s:%u: timeline entry at %s (%s) could not be carried "
		                     "out: %s",
		                     w->scenario_file, e->line, t, what, reason);
	} else if (e->expect_error) {
		snprintf(detail + n, sizeof(detail) - n, "%ssucceeded, expected to fail", sep);
		err = err_setf(why, why_len, -EPROTO,
		               "%s:%u: timeline entry at %s (%s) succeeded, but expect_error "
		               "says it fails with \"%s\"",
		               w->scenario_file, e->line, t, what, e->expect_error);
	}
	world_mark(w, action, target, detail);
	free(line);
	free(out);
	return err;
}

/* ---- tailnet workloads ---- */

/* The host a client's flow went to: its pin in the client's data plane
 * (NULL while the client's daemon is down). A UDP workload's socket has
 * no local address, so the flow's source is the client's own tailnet
 * address of the target's family, from its netmap. */
static const char *world_flow_host_proto(struct world_client *c, uint8_t proto,
                                         const struct io_addr *local, const struct io_addr *remote)
{
	struct svcd *d = c->w->tn->nodes[c->node].daemon;
	struct dataplane_tuple t = {.proto = proto, .src = *local, .dst = *remote};
	const struct netmap *nm = d ? svcd_netmap(d) : NULL;

	if (!nm)
		return NULL;
	if (proto == PACKET_PROTO_UDP) {
		size_t i = 0;
		while (i < nm->self.n_addrs && nm->self.addrs[i].family != remote->family)
			i++;
		if (i == nm->self.n_addrs)
			return NULL;
		memcpy(t.src.ip, nm->self.addrs[i].ip, sizeof(t.src.ip));
		t.src.family = remote->family;
	}
	return dataplane_flow_host(svcd_dataplane(d), &t);
}

static const char *world_flow_host(void *ctx, const struct io_addr *local,
                                   const struct io_addr *remote)
{
	return world_flow_host_proto(ctx, PACKET_PROTO_TCP, local, remote);
}

static const char *world_flow_host_udp(void *ctx, const struct io_addr *local,
                                       const struct io_addr *remote)
{
	return world_flow_host_proto(ctx, PACKET_PROTO_UDP, local, remote);
}

/* Is wl's port of its service served as HTTPS by some node's serve line
 * (`--https=N`, or no type flag: HTTPS 443, CFG-2)? */
static bool world_workload_https(const struct world *w, const struct scenario_workload *wl)
{
	const struct scenario *sc = w->sc;
	struct serve_op *op;
	char err[256];
	bool https = false;

	if (wl->target != SCENARIO_TARGET_SERVICE || wl->kind != SCENARIO_WORKLOAD_HTTP)
		return false;
	op = malloc(sizeof(*op));
	if (!op)
		return false;
	for (int g = 0; g < sc->group_count && !https; g++)
		for (size_t k = 0; k < sc->groups[g].n_serve && !https; k++) {
			const char *text = sc->groups[g].serve[k].text;
			if (serve_cmd_parse_line(text, strlen(text), op, err, sizeof(err)) == 0 &&
			    op->verb == SERVE_VERB_SET && !strcmp(op->service, wl->service) &&
			    op->port == wl->port && op->type == SERVE_TYPE_HTTPS)
				https = true;
		}
	free(op);
	return https;
}

/* wl's target address now: a service's VIP or a node's tailnet address
 * from control's registry, or the literal. */
static int world_resolve(struct world *w, const struct scenario_workload *wl, struct io_addr *out,
                         char *why, size_t why_len)
{
	const struct registry *r;
	int i;

	if (wl->target == SCENARIO_TARGET_VIP) {
		if (io_addr_parse(out, wl->address, wl->port) < 0 || out->family != IO_AF_INET)
			return err_setf(why, why_len, -EAFNOSUPPORT,
			                "workload %s: target %s: only IPv4 VIPs run in simulation",
			                wl->name, wl->address);
		out->port = wl->port;
		return 0;
	}
	if (!w->tn->control)
		return err_setf(why, why_len, -ENOTCONN,
		                "workload %s starts while control is down: its target %s cannot "
		                "be resolved",
		                wl->name, wl->to);
	r = control_registry(w->tn->control);
	if (wl->target == SCENARIO_TARGET_SERVICE) {
		i = registry_service_index(r, wl->service);
		if (i < 0)
			return err_setf(why, why_len, -ENOENT,
			                "workload %s: service %s is not defined when it starts",
			                wl->name, wl->service);
		*out = registry_service(r, (size_t)i)->vip4;
	} else {
		i = registry_node_index(r, w->nodes[wl->node].name);
		if (i < 0)
			return err_setf(why, why_len, -ENOENT,
			                "workload %s: node %s has not registered with control by "
			                "%.3fs",
			                wl->name, w->nodes[wl->node].name,
			                (double)ns3w_now_us(w->ns3) / 1e6);
		*out = registry_node(r, (size_t)i)->addr4;
	}
	out->port = wl->port;
	return 0;
}

static int world_start_workload(struct world *w, const struct scenario_workload *wl, char *why,
                                size_t why_len)
{
	struct io_addr target;
	bool https = world_workload_https(w, wl);
	uint64_t now = ns3w_now_us(w->ns3);
	int rc = world_resolve(w, wl, &target, why, why_len);

	if (rc < 0)
		return rc;
	for (uint32_t n = 0; n < w->node_count; n++) {
		if (!scenario_workload_has_client(w->sc, wl, n))
			continue;
		if (w->n_clients >= w->cap_clients)
			return err_setf(why, why_len, -EOVERFLOW, "workload %s: too many clients",
			                wl->name);
		struct world_client *c = &w->clients[w->n_clients];
		c->w = w;
		c->node = n;
		if (https && !w->tls) {
			const struct tls_ctx_config tc = {.ca_pem = control_ca_pem(w->tn->control)};
			char err[256] = "";
			rc = tls_ctx_new(&w->tls, w->nodes[n].io, &tc, err, sizeof(err));
			if (rc < 0)
				return err_setf(why, why_len, rc, "workload %s: TLS client: %s",
				                wl->name, err);
		}
		if (wl->kind == SCENARIO_WORKLOAD_HTTP) {
			const struct wh_config hc = {.name = wl->name,
			                             .client = w->nodes[n].name,
			                             .target = target,
			                             .host_header = wl->host_name,
			                             .path = wl->path,
			                             .request_bytes = wl->request_bytes,
			                             .response_bytes = wl->response_bytes,
			                             .keepalive = wl->connection ==
			                                          SCENARIO_CONNECTION_KEEPALIVE,
			                             .rate_per_s = wl->rate_per_s,
			                             .start_us = now,
			                             .stop_us = wl->stop_us,
			                             .tls = https ? w->tls : NULL,
			                             .host_fn = world_flow_host,
			                             .host_ctx = c};
			rc = wh_client_new(&c->http, w->nodes[n].io, &hc);
		} else if (wl->kind == SCENARIO_WORKLOAD_UDP_ECHO) {
			const struct wu_config uc = {.name = wl->name,
			                             .client = w->nodes[n].name,
			                             .target = target,
			                             .request_bytes = wl->request_bytes,
			                             .rate_per_s = wl->rate_per_s,
			                             .start_us = now,
			                             .stop_us = wl->stop_us,
			                             .host_fn = world_flow_host_udp,
			                             .host_ctx = c};
			rc = wu_client_new(&c->udp, w->nodes[n].io, &uc);
		} else {
			const struct wt_config tc = {
			    .kind = wl->kind == SCENARIO_WORKLOAD_TCP_STREAM ? WT_STREAM : WT_ECHO,
			    .name = wl->name,
			    .client = w->nodes[n].name,
			    .target = target,
			    .request_bytes = wl->request_bytes,
			    .rate_per_s = wl->rate_per_s,
			    .keepalive = wl->connection == SCENARIO_CONNECTION_KEEPALIVE,
			    .connections = wl->connections,
			    .hold_us = wl->hold_us,
			    .start_us = now,
			    .stop_us = wl->stop_us,
			    .host_fn = world_flow_host,
			    .host_ctx = c};
			rc = wt_client_new(&c->tcp, w->nodes[n].io, &tc);
		}
		if (rc < 0)
			return err_setf(why, why_len, rc, "workload %s on %s failed to start",
			                wl->name, w->nodes[n].name);
		w->n_clients++;
	}
	return 0;
}

/* The time of the next action (timeline entry or workload start), or
 * UINT64_MAX. */
static uint64_t world_next_action(const struct world *w)
{
	uint64_t t = UINT64_MAX;

	if (w->next_event < w->sc->n_events)
		t = w->sc->events[w->next_event].at_us;
	if (w->next_start < w->sc->n_workloads) {
		uint64_t s = w->sc->workloads[w->starts[w->next_start]].start_us;
		if (s < t)
			t = s;
	}
	return t;
}

int world_run(struct world *w, uint64_t until_us, char *why, size_t why_len)
{
	for (;;) {
		uint64_t now = ns3w_now_us(w->ns3);
		uint64_t next = world_next_action(w);
		uint64_t stop = next <= until_us ? next : until_us;

		if (stop > now && ns3w_run(w->ns3, stop) < stop)
			return err_setf(why, why_len, -EINTR,
			                "%s: the simulation stopped early at %.6fs",
			                w->scenario_file, (double)ns3w_now_us(w->ns3) / 1e6);
		if (next > until_us)
			return 0;
		/* timeline entries first, then the workloads starting then */
		while (w->next_event < w->sc->n_events &&
		       w->sc->events[w->next_event].at_us <= next) {
			int rc = world_apply(w, &w->sc->events[w->next_event++], why, why_len);
			if (rc < 0)
				return rc;
		}
		while (w->next_start < w->sc->n_workloads &&
		       w->sc->workloads[w->starts[w->next_start]].start_us <= next) {
			char sub[1024] = "";
			int rc = world_start_workload(
			    w, &w->sc->workloads[w->starts[w->next_start++]], sub, sizeof(sub));
			if (rc < 0)
				return err_setf(why, why_len, rc, "%s: %s", w->scenario_file, sub);
		}
	}
}

uint64_t world_now_us(const struct world *w)
{
	return ns3w_now_us(w->ns3);
}

uint64_t world_events_executed(const struct world *w)
{
	return ns3w_events_executed(w->ns3);
}

/* --keep-state: control's stored state (what a restart would load) as a
 * file, 0600 like controld's. 0 or -errno with a note. */
static int world_keep_state(struct world *w)
{
	struct storage *mem = w->tn->control_storage, *file = NULL;
	char err[STORAGE_ERR_LEN] = "";
	char *text = NULL;
	size_t len = 0;
	int rc = mem->ops->read(mem, TN_CONTROL_STATE, SIZE_MAX, &text, &len, err, sizeof(err));

	if (rc == 0)
		rc = storage_file_new(&file);
	if (rc == 0)
		rc = file->ops->write(file, w->state_path, text, len, err, sizeof(err));
	if (rc < 0)
		world_note(w, "warning: control's state not kept: %s\n",
		           err[0] ? err : strerror(-rc));
	storage_file_free(file);
	free(text);
	return rc;
}

static void world_output_failed(struct world *w, const char *path, int err)
{
	if (w->output_failed)
		w->output_failed(w->output_ctx, path,
		                 err ? strerror(-err) : "an earlier write failed (errno not kept)");
}

static void world_pcap_failed(void *ctx, const char *path, int err)
{
	world_output_failed(ctx, path, err);
}

int world_free(struct world *w)
{
	int err = 0;

	if (!w)
		return 0;
	/* Index order keeps teardown deterministic. */
	for (size_t i = 0; i < w->n_clients; i++) {
		wh_client_free(w->clients[i].http);
		wt_client_free(w->clients[i].tcp);
		wu_client_free(w->clients[i].udp);
	}
	tls_ctx_free(w->tls);
	if (w->ns3 && ns3w_pcap_close_all(w->ns3, world_pcap_failed, w) && !err)
		err = -EIO;
	for (uint32_t i = 0; w->nodes && i < w->node_count; i++)
		workload_rr_node_free(w->nodes[i].rr);
	if (w->tn) {
		if (w->keep_state && world_keep_state(w) < 0)
			err = -EIO;
		tn_free(w->tn); /* also frees ns-3: flushes and closes the pcaps */
	} else {
		for (uint32_t i = 0; w->nodes && i < w->node_count; i++)
			io_sim_free(w->nodes[i].io);
		if (w->ns3)
			ns3w_world_free(w->ns3);
	}
	if (w->events) {
		int e = outfile_close(w->events_out, w->events);
		if (e) {
			world_output_failed(w, w->events_path, e);
			err = e;
		}
	}
	free(w->events_out);
	if (w->tc) {
		free(w->tc->nodes);
		free(w->tc->links);
		free(w->tc->users);
		free(w->tc);
	}
	for (uint32_t i = 0; w->nodes && i < w->node_count; i++)
		free(w->nodes[i].tailnet_pcap);
	free(w->clients);
	free(w->starts);
	free(w->link_params);
	free(w->link_ids);
	free(w->cuts);
	free(w->peers);
	free(w->nodes);
	free(w);
	return err;
}
