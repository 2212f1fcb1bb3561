/* Builds and runs a world from a scenario (see world.h). */
#include "world.h"

#include "io_sim.h"
#include "ns3w.h"
#include "workload_rr.h"

#include "errfmt.h"
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORLD_EVENTS_BUFFER (1u << 20)

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

/* Removes underlay pcaps a previous run left in `dir`, so the folder
 * holds exactly this run's selection. Only our own file pattern. */
static void world_clean_pcaps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[WORLD_PATH_MAX];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		static const char suffix[] = "-underlay.pcap";
		if (n <= sizeof(suffix) - 1 || strcmp(e->d_name + n - (sizeof(suffix) - 1), suffix))
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

/* Which nodes get an underlay pcap; refuses a selection that would run
 * out of file descriptors. */
static int world_select_pcaps(struct world *w, const struct world_options *opt, char *why,
                              size_t why_len)
{
	const char *sel = opt->pcap;
	struct rlimit rl;

	if (!sel) {
		if (w->node_count > WORLD_PCAP_DEFAULT_MAX_NODES) {
			if (opt->notes)
				fprintf(
				    opt->notes,
				    "note: %u nodes: no pcaps by default above %d nodes (each pcap "
				    "is one open file); use --pcap all or --pcap 'GLOB'\n",
				    w->node_count, WORLD_PCAP_DEFAULT_MAX_NODES);
			sel = "none";
		} else {
			sel = "all";
		}
	}
	w->pcap_count = 0;
	for (uint32_t i = 0; i < w->node_count; i++) {
		bool on = !strcmp(sel, "all") ||
		          (strcmp(sel, "none") != 0 && fnmatch(sel, w->nodes[i].name, 0) == 0);
		w->nodes[i].pcap = on;
		w->pcap_count += on;
	}
	if (opt->pcap && strcmp(sel, "all") && strcmp(sel, "none") && w->pcap_count == 0 &&
	    opt->notes)
		fprintf(opt->notes, "note: --pcap '%s' matches no node; no pcaps written\n", sel);
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
	}
	world_ns3_params(&sc->access, &p);
	for (uint32_t i = 0; i < w->node_count; i++) {
		const struct scenario_node_group *g =
		    scenario_node_name(sc, i, w->nodes[i].name, sizeof(w->nodes[i].name));
		err = ns3w_node_add(w->ns3, g->region, &p, true);
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

static int world_open_outputs(struct world *w, const struct world_options *opt, char *why,
                              size_t why_len)
{
	const char *out = opt->out_dir ? opt->out_dir : ".";
	char dir[WORLD_PATH_MAX];
	int err;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/reports/%s", out, w->sc->name) >= sizeof(dir) ||
	    (size_t)snprintf(w->events_path, sizeof(w->events_path), "%s/events.jsonl", dir) >=
	        sizeof(w->events_path) ||
	    (size_t)snprintf(w->pcap_dir, sizeof(w->pcap_dir), "%s/pcaps/%s", out, w->sc->name) >=
	        sizeof(w->pcap_dir) - SCENARIO_NAME_MAX - 16) {
		err_setf(why, why_len, 0, "output path under '%s' is too long", out);
		return -ENAMETOOLONG;
	}
	err = world_mkdirs(dir);
	if (err) {
		err_setf(why, why_len, 0, "cannot create '%s': %s", dir, strerror(-err));
		return err;
	}
	w->events = fopen(w->events_path, "w");
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
	for (uint32_t i = 0; i < w->node_count; i++) {
		char path[WORLD_PATH_MAX + SCENARIO_NAME_MAX + 32];
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
	return 0;
}

static int world_start_nodes(struct world *w, char *why, size_t why_len)
{
	const struct scenario *sc = w->sc;
	const struct scenario_underlay_workload *uw = &sc->underlay_workload;
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
		struct io_sim_config cfg = {
		    .world = w->ns3,
		    .node = w->nodes[i].ns3_node,
		    .name = w->nodes[i].name,
		    .seed = world_mix(sc->seed),
		    .events = w->events,
		};
		w->nodes[i].io = io_sim_new(&cfg, &err);
		if (!w->nodes[i].io) {
			err_setf(why, why_len, 0, "cannot start node '%s': %s", w->nodes[i].name,
			         strerror(-err));
			return err;
		}
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
	w->node_count = sc->node_count;
	w->nodes = calloc(w->node_count, sizeof(*w->nodes));
	w->peers = calloc(w->node_count, sizeof(*w->peers));
	if (!w->nodes || !w->peers) {
		err = -ENOMEM;
		err_setf(why, why_len, 0, "out of memory for %u nodes", w->node_count);
		goto out_free;
	}
	struct ns3w_world_config cfg = {.seed = sc->seed, .run = 1};
	w->ns3 = ns3w_world_new(&cfg);
	if (!w->ns3) {
		err = -EBUSY;
		err_setf(why, why_len, 0, "cannot create the ns-3 world (one per process)");
		goto out_free;
	}
	err = world_build_topology(w, why, why_len);
	if (err)
		goto out_free;
	err = world_select_pcaps(w, opt, why, why_len);
	if (err)
		goto out_free;
	err = world_open_outputs(w, opt, why, why_len);
	if (err)
		goto out_free;
	err = world_start_nodes(w, why, why_len);
	if (err)
		goto out_free;
	*out = w;
	return 0;
out_free:
	world_free(w);
	return err;
}

uint64_t world_run(struct world *w, uint64_t until_us)
{
	return ns3w_run(w->ns3, until_us);
}

uint64_t world_now_us(const struct world *w)
{
	return ns3w_now_us(w->ns3);
}

uint64_t world_events_executed(const struct world *w)
{
	return ns3w_events_executed(w->ns3);
}

int world_free(struct world *w)
{
	int err = 0;

	if (!w)
		return 0;
	/* Index order keeps teardown deterministic. */
	for (uint32_t i = 0; w->nodes && i < w->node_count; i++)
		workload_rr_node_free(w->nodes[i].rr);
	for (uint32_t i = 0; w->nodes && i < w->node_count; i++)
		io_sim_free(w->nodes[i].io);
	if (w->ns3)
		ns3w_world_free(w->ns3); /* flushes and closes the pcaps */
	if (w->events) {
		if (fflush(w->events) != 0 || ferror(w->events))
			err = -EIO;
		if (fclose(w->events) != 0)
			err = -EIO;
	}
	free(w->peers);
	free(w->nodes);
	free(w);
	return err;
}
