/* Builds and runs a world from a scenario (see world.h): world_new picks
 * the shape (bare underlay or tailnet, world_build.c) and starts the
 * underlay workload; world_run runs simulated time in segments up to each
 * timeline action (world_timeline.c) and workload start
 * (world_workloads.c); world_free tears it down and closes the outputs
 * (world_outputs.c). */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "sim/world_int.h"

#include "lib/base/errfmt.h"
#include "lib/base/outfile.h"
#include "lib/wire/tls.h"
#include "sim/io_sim.h"
#include "sim/workload/workload_http.h"
#include "sim/workload/workload_tcp.h"
#include "sim/workload/workload_udp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool world_needs_tailnet(const struct scenario *sc)
{
	if (sc->n_users || sc->policy_json || sc->n_services || sc->n_workloads ||
	    sc->clipped_tailnet_action)
		return true;
	for (int g = 0; g < sc->group_count; g++) {
		const struct scenario_node_group *gr = &sc->groups[g];
		if (gr->n_tags || gr->user >= 0 || gr->n_backends || gr->n_serve)
			return true;
	}
	for (size_t i = 0; i < sc->n_events; i++)
		if (scenario_event_needs_tailnet(&sc->events[i]))
			return true;
	return false;
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
	free(w->ca_pem);
	free(w->service_vips);
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
		free(w->tc->files);
		free(w->tc->group_file0);
		free(w->tc->file_data);
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
