/* The three-node data plane fixture on the real backend: namespaces
 * <pid>a/b/c, each with a veth into a bridge that lives in a fourth
 * namespace <pid>s (10.201.0.1-3/24), and a TUN device "tailnet0" per
 * node, all on one epoll loop. Deleting the namespaces removes every
 * device with them. */
#define _GNU_SOURCE
#include "tests/proxy/dp_fixture.h"

#include "lib/io/io_epoll.h"
#include "tests/support/netns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dpf_names[DPF_NODES] = {"client", "host-a", "host-b"};

struct dpf_epoll {
	struct dpf f; /* first: handed out to tests */
	struct io_loop *loop;
	char netns[DPF_NODES + 1][NETNS_NAME_MAX]; /* the last one holds the bridge */
};

static bool dpf_make_namespaces(struct dpf_epoll *fe, const char **skip_reason)
{
	const char *sw = fe->netns[DPF_NODES];
	char dv[NETNS_NAME_MAX], sv[NETNS_NAME_MAX], cidr[32];

	for (int i = 0; i <= DPF_NODES; i++)
		if (!netns_add(fe->netns[i], "tdp", i == DPF_NODES ? 's' : (char)('a' + i),
		               skip_reason))
			return false;
	if (!netns_sh("ip -n %s link add br0 type bridge", sw) ||
	    !netns_sh("ip -n %s link set br0 up", sw)) {
		*skip_reason = "cannot create a bridge in a namespace (no bridge support?)";
		return false;
	}
	for (int i = 0; i < DPF_NODES; i++) {
		netns_unique_name(dv, sizeof(dv), "dv", (char)('a' + i));
		netns_unique_name(sv, sizeof(sv), "sv", (char)('a' + i));
		snprintf(cidr, sizeof(cidr), "10.201.0.%d/24", i + 1);
		if (!netns_veth(fe->netns[i], dv, sw, sv) ||
		    !netns_sh("ip -n %s link set %s master br0 up", sw, sv) ||
		    !netns_addr_up(fe->netns[i], dv, cidr)) {
			*skip_reason = "cannot wire the namespaces to the bridge";
			return false;
		}
	}
	return true;
}

struct dpf *dpf_new(const char **skip_reason)
{
	struct dpf_epoll *fe = calloc(1, sizeof(*fe));
	int err;

	*skip_reason = NULL;
	if (!fe) {
		*skip_reason = "out of memory";
		return NULL;
	}
	if (!netns_can_run_tun(skip_reason))
		goto out_free;
	if (!dpf_make_namespaces(fe, skip_reason))
		goto out_free;
	fe->loop = io_loop_new();
	if (!fe->loop) {
		*skip_reason = "epoll_create1 failed";
		goto out_free;
	}
	fe->f.events = tmpfile();
	if (!fe->f.events) {
		*skip_reason = "tmpfile failed";
		goto out_free;
	}
	for (int i = 0; i < DPF_NODES; i++) {
		struct io_epoll_config cfg = {
		    .node_name = dpf_names[i],
		    .netns = fe->netns[i],
		    .tun_name = "tailnet0",
		    .events = fe->f.events,
		    .seed = 0xd9000000u + (uint64_t)i,
		};
		struct dpf_node *n = &fe->f.node[i];
		n->io = io_epoll_new(fe->loop, &cfg, &err);
		if (!n->io) {
			*skip_reason = "cannot create a TUN node in a namespace";
			fprintf(stderr, "dp_fixture_epoll: io_epoll_new(%s): %s\n", dpf_names[i],
			        strerror(-err));
			goto out_free;
		}
		n->name = dpf_names[i];
		io_addr_v4(&n->underlay, 0x0ac90001u + (uint32_t)i, 0); /* 10.201.0.x */
	}
	io_loop_update_time(fe->loop);
	fe->f.priv = fe;
	return &fe->f;

out_free:
	dpf_free(&fe->f);
	return NULL;
}

void dpf_free(struct dpf *f)
{
	struct dpf_epoll *fe = (struct dpf_epoll *)f;

	if (!fe)
		return;
	for (int i = 0; i < DPF_NODES; i++)
		io_epoll_free(fe->f.node[i].io);
	if (fe->loop)
		io_loop_free(fe->loop);
	if (fe->f.events)
		fclose(fe->f.events);
	for (int i = 0; i <= DPF_NODES; i++)
		netns_del(fe->netns[i]);
	free(fe);
}

void dpf_node_restart_tun(struct dpf *f, int i)
{
	struct dpf_epoll *fe = (struct dpf_epoll *)f;

	if (!netns_sh("ip -n %s route replace 100.64.0.0/10 dev tailnet0", fe->netns[i]))
		fprintf(stderr, "dp_fixture_epoll: cannot restore the tailnet route of %s\n",
		        dpf_names[i]);
}

bool dpf_run_until(struct dpf *f, bool (*done)(void *arg), void *arg, uint64_t timeout_us)
{
	struct dpf_epoll *fe = (struct dpf_epoll *)f;

	io_loop_update_time(fe->loop);
	uint64_t deadline = io_loop_now_us(fe->loop) + timeout_us;
	int rc = io_loop_run_until(fe->loop, done, arg, deadline);
	if (rc < 0)
		fprintf(stderr, "dp_fixture_epoll: loop failed: %s\n", strerror(-rc));
	return rc == 1 || (rc == 0 && done && done(arg));
}
