/* The contract fixture on the sim backend: one ns3w world (seed 1), one
 * region, two hosts on 1 ms access links, one io_sim per host. */
#include "lib/base/check.h"
#include "sim/io_sim.h"
#include "sim/ns3w/ns3w.h"
#include "tests/lib/io/fixture.h"

#include <stdio.h>
#include <stdlib.h>

/* Simulated time between two looks at the caller's condition. */
#define FIXTURE_STEP_US 1000

struct fixture_sim {
	struct fixture f;
	struct ns3w_world *world;
	FILE *events[2];
};

struct fixture *fixture_new(bool with_tun, const char **skip_reason)
{
	const struct fixture_options opts = {.with_tun = with_tun};

	return fixture_new_with(&opts, skip_reason);
}

struct fixture *fixture_new_with(const struct fixture_options *opts, const char **skip_reason)
{
	bool with_tun = opts->with_tun;
	const struct ns3w_world_config wc = {.seed = 1, .run = 1};
	const struct ns3w_link_params access = {.latency_us = 1000};
	static const char *const names[2] = {"a", "b"};
	struct fixture_sim *fs = calloc(1, sizeof(*fs));
	int region, err = 0;

	(void)skip_reason;
	CHECK(fs != NULL);
	fs->world = ns3w_world_new(&wc);
	CHECK(fs->world != NULL); /* a previous fixture was not freed */
	region = ns3w_region_add(fs->world);
	CHECK(region >= 0);
	for (int i = 0; i < 2; i++)
		CHECK(ns3w_node_add(fs->world, region, &access, with_tun) == i);
	CHECK(ns3w_finalize(fs->world) == 0);

	for (int i = 0; i < 2; i++) {
		fs->events[i] = tmpfile();
		CHECK(fs->events[i] != NULL);
		const struct io_sim_config ic = {
		    .world = fs->world,
		    .node = i,
		    .name = names[i],
		    .seed = wc.seed,
		    .events = fs->events[i],
		    .max_handles = i == 0 ? opts->node0_max_handles : 0,
		};
		struct fixture_node *n = &fs->f.node[i];

		n->io = io_sim_new(&ic, &err);
		CHECK(n->io != NULL);
		io_addr_v4(&n->underlay, ns3w_node_underlay_ip(fs->world, i), 0);
		if (with_tun) {
			io_addr_v4(&n->tailnet, (100u << 24) | (64u << 16) | (uint32_t)(i + 1), 0);
			CHECK(n->io->ops->tun_addr_add(n->io, &n->tailnet, 32) == 0);
		}
	}
	fs->f.priv = fs;
	return &fs->f;
}

void fixture_free(struct fixture *f)
{
	if (!f)
		return;
	struct fixture_sim *fs = f->priv;

	for (int i = 0; i < 2; i++) {
		io_sim_free(f->node[i].io);
		if (fs->events[i])
			fclose(fs->events[i]);
	}
	ns3w_world_free(fs->world);
	free(fs);
}

/* Runs in FIXTURE_STEP_US slices of simulated time, checking `done`
 * between slices, so a condition is seen at most one step late. */
bool fixture_run_until(struct fixture *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us)
{
	struct fixture_sim *fs = f->priv;
	uint64_t now = ns3w_now_us(fs->world);
	uint64_t deadline = now + timeout_us;

	while (!done(arg)) {
		if (now >= deadline)
			return false;
		uint64_t until =
		    deadline - now > FIXTURE_STEP_US ? now + FIXTURE_STEP_US : deadline;
		uint64_t reached = ns3w_run(fs->world, until);
		/* A wrapper that stops early must still let time move on. */
		CHECK(reached > now);
		now = reached;
	}
	return true;
}

char *fixture_events(struct fixture *f, int i)
{
	struct fixture_sim *fs = f->priv;

	return fixture_read_events(fs->events[i]);
}
