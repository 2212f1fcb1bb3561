/* The contract fixture for the epoll backend: two nodes on one loop.
 * Without TUN both live in the current namespace on loopback (127.0.0.1
 * and 127.0.0.2). With TUN each gets its own network namespace, the two
 * joined by a veth pair (10.200.0.1/24 and 10.200.0.2/24), and a TUN device
 * holding 100.64.0.(i+1)/32. The namespaces are the test's, made with
 * `ip` here; the library itself only ever setns()es into them. */
#define _GNU_SOURCE
#include "tests/lib/io/fixture.h"

#include "lib/io/io_epoll.h"
#include "tests/support/netns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture_epoll {
	struct fixture f; /* first: handed out to tests */
	struct io_loop *loop;
	FILE *events[2];
	char netns[2][NETNS_NAME_MAX]; /* empty until made */
};

static bool fixture_make_namespaces(struct fixture_epoll *fe, const char **skip_reason)
{
	char veth[2][NETNS_NAME_MAX], cidr[32];

	for (int i = 0; i < 2; i++) {
		if (!netns_add(fe->netns[i], "tsc", (char)('a' + i), skip_reason))
			return false;
		netns_unique_name(veth[i], sizeof(veth[i]), "tv", (char)('a' + i));
	}
	if (!netns_veth(fe->netns[0], veth[0], fe->netns[1], veth[1])) {
		*skip_reason = "cannot create a veth pair between namespaces (no veth support?)";
		return false;
	}
	for (int i = 0; i < 2; i++) {
		snprintf(cidr, sizeof(cidr), "10.200.0.%d/24", i + 1);
		if (!netns_addr_up(fe->netns[i], veth[i], cidr)) {
			*skip_reason = "cannot configure the veth pair inside the namespaces";
			return false;
		}
	}
	return true;
}

struct fixture *fixture_new(bool with_tun, const char **skip_reason)
{
	const struct fixture_options opts = {.with_tun = with_tun};

	return fixture_new_with(&opts, skip_reason);
}

struct fixture *fixture_new_with(const struct fixture_options *opts, const char **skip_reason)
{
	bool with_tun = opts->with_tun;
	struct fixture_epoll *fe = calloc(1, sizeof(*fe));
	static const char *const names[2] = {"node0", "node1"};
	int err;

	*skip_reason = NULL;
	if (!fe) {
		*skip_reason = "out of memory";
		return NULL;
	}
	if (with_tun) {
		if (!netns_can_run_tun(skip_reason))
			goto out_free;
		if (!fixture_make_namespaces(fe, skip_reason))
			goto out_free;
	}
	fe->loop = io_loop_new();
	if (!fe->loop) {
		*skip_reason = "epoll_create1 failed";
		goto out_free;
	}
	for (int i = 0; i < 2; i++) {
		fe->events[i] = tmpfile();
		if (!fe->events[i]) {
			*skip_reason = "cannot create a temporary file for events";
			goto out_free;
		}
		struct io_epoll_config cfg = {
		    .node_name = names[i],
		    .netns = with_tun ? fe->netns[i] : NULL,
		    .tun_name = with_tun ? "tailnet0" : NULL,
		    .events = fe->events[i],
		    .seed = 0x5eed0000u + (uint64_t)i,
		    .max_handles = i == 0 ? opts->node0_max_handles : 0,
		};
		struct fixture_node *node = &fe->f.node[i];
		node->io = io_epoll_new(fe->loop, &cfg, &err);
		if (!node->io) {
			*skip_reason = with_tun ? "cannot create a TUN node in a namespace"
			                        : "cannot create an epoll node";
			fprintf(stderr, "fixture_epoll: io_epoll_new(%s): %s\n", names[i],
			        strerror(-err));
			goto out_free;
		}
		if (with_tun) {
			io_addr_v4(&node->underlay, 0x0ac80001u + (uint32_t)i, 0); /* 10.200.0.x */
			io_addr_v4(&node->tailnet, 0x64400001u + (uint32_t)i, 0);  /* 100.64.0.x */
			err = node->io->ops->tun_addr_add(node->io, &node->tailnet, 32);
			if (err < 0) {
				*skip_reason =
				    "cannot assign the tailnet address to the TUN device";
				fprintf(stderr, "fixture_epoll: tun_addr_add: %s\n",
				        strerror(-err));
				goto out_free;
			}
		} else {
			io_addr_v4(&node->underlay, 0x7f000001u + (uint32_t)i, 0); /* 127.0.0.x */
			node->tailnet.family = IO_AF_NONE;
		}
	}
	/* Setting up namespaces is slow: start the tests from a fresh clock. */
	io_loop_update_time(fe->loop);
	return &fe->f;

out_free:
	fixture_free(&fe->f);
	return NULL;
}

void fixture_free(struct fixture *f)
{
	struct fixture_epoll *fe = (struct fixture_epoll *)f;

	if (!fe)
		return;
	for (int i = 0; i < 2; i++)
		io_epoll_free(fe->f.node[i].io);
	if (fe->loop)
		io_loop_free(fe->loop);
	for (int i = 0; i < 2; i++)
		if (fe->events[i])
			fclose(fe->events[i]);
	for (int i = 0; i < 2; i++)
		netns_del(fe->netns[i]);
	free(fe);
}

bool fixture_run_until(struct fixture *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us)
{
	struct fixture_epoll *fe = (struct fixture_epoll *)f;

	io_loop_update_time(fe->loop);
	uint64_t deadline = io_loop_now_us(fe->loop) + timeout_us;
	int rc = io_loop_run_until(fe->loop, done, arg, deadline);
	if (rc < 0)
		fprintf(stderr, "fixture_epoll: loop failed: %s\n", strerror(-rc));
	return rc == 1 || (rc == 0 && done && done(arg));
}

char *fixture_events(struct fixture *f, int i)
{
	struct fixture_epoll *fe = (struct fixture_epoll *)f;

	return fixture_read_events(fe->events[i]);
}
