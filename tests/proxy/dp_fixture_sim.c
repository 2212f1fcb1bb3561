/* The three-node data plane fixture on the sim backend: one ns3w world
 * (seed 1), one region, three TUN hosts on 1 ms access links. */
#include "lib/base/check.h"
#include "sim/io_sim.h"
#include "sim/ns3w/ns3w.h"
#include "tests/proxy/dp_fixture.h"

#include <stdio.h>
#include <stdlib.h>

/* Simulated time between two looks at the caller's condition. */
#define DPF_STEP_US 1000

static const char *const dpf_names[DPF_NODES] = {"client", "host-a", "host-b"};

struct dpf_sim {
	struct dpf f;
	struct ns3w_world *world;
};

struct dpf *dpf_new(const char **skip_reason)
{
	const struct ns3w_world_config wc = {.seed = 1, .run = 1};
	const struct ns3w_link_params access = {.latency_us = 1000};
	struct dpf_sim *fs = calloc(1, sizeof(*fs));
	int region, err = 0;

	(void)skip_reason;
	CHECK(fs != NULL);
	fs->world = ns3w_world_new(&wc);
	CHECK(fs->world != NULL);
	region = ns3w_region_add(fs->world);
	CHECK(region >= 0);
	for (int i = 0; i < DPF_NODES; i++)
		CHECK(ns3w_node_add(fs->world, region, &access, true) == i);
	CHECK(ns3w_finalize(fs->world) == 0);
	fs->f.events = tmpfile();
	CHECK(fs->f.events != NULL);
	for (int i = 0; i < DPF_NODES; i++) {
		const struct io_sim_config ic = {.world = fs->world,
		                                 .node = i,
		                                 .name = dpf_names[i],
		                                 .seed = wc.seed,
		                                 .events = fs->f.events};
		struct dpf_node *n = &fs->f.node[i];

		n->io = io_sim_new(&ic, &err);
		CHECK(n->io != NULL);
		n->name = dpf_names[i];
		io_addr_v4(&n->underlay, ns3w_node_underlay_ip(fs->world, i), 0);
	}
	fs->f.priv = fs;
	return &fs->f;
}

void dpf_free(struct dpf *f)
{
	if (!f)
		return;
	struct dpf_sim *fs = f->priv;

	for (int i = 0; i < DPF_NODES; i++)
		io_sim_free(f->node[i].io);
	ns3w_world_free(fs->world);
	fclose(f->events);
	free(fs);
}

void dpf_node_restart_tun(struct dpf *f, int i)
{
	(void)f;
	(void)i;
}

bool dpf_run_until(struct dpf *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us)
{
	struct dpf_sim *fs = f->priv;
	uint64_t now = ns3w_now_us(fs->world);
	uint64_t deadline = now + timeout_us;

	while (!done(arg)) {
		if (now >= deadline)
			return false;
		uint64_t until = deadline - now > DPF_STEP_US ? now + DPF_STEP_US : deadline;
		uint64_t reached = ns3w_run(fs->world, until);
		CHECK(reached > now);
		now = reached;
	}
	return true;
}
