/* The epoll backend of the seam (see io.h for the contract, io_epoll.h for
 * the loop, io_epoll_int.h for the map of its files): a node's life (its
 * handle table sized to the descriptor limit, its network namespace, its
 * TUN device), the ops table, and the clock, randomness and event ops. */
#define _GNU_SOURCE
#include "lib/io/io_epoll_int.h"

#include "lib/io/io_event.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Descriptors a process needs beside its nodes' handles (epoll, netlink,
 * event files, files a handler serves). */
#define IO_EPOLL_FD_MARGIN 64

/* ---- time, chance, events --------------------------------------------- */

static uint64_t epoll_now_us(struct io *io)
{
	return to_epoll(io)->loop->now_us;
}

static uint64_t epoll_wall_us(struct io *io)
{
	struct timespec ts;

	(void)io;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xoshiro256**: fast, seeded, good enough for jitter and choices. */
static uint64_t epoll_random_u64(struct io *io)
{
	return rng_next_u64(to_epoll(io)->rng);
}

static void epoll_random_secret(struct io *io, void *buf, size_t len)
{
	uint8_t *p = buf;

	(void)io;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		/* Only a signal interrupts it (it blocks until the pool is
		 * seeded, then never fails); CHECK rather than a weak key. */
		if (n < 0) {
			CHECK(errno == EINTR);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void epoll_emit(struct io *io, const char *type, const char *fields)
{
	struct io_epoll *ep = to_epoll(io);
	char line[IO_EVENT_LINE_MAX];

	if (!ep->events)
		return;
	/* Fields too long for a line are cut after a whole member and marked;
	 * only a type past IO_EVENT_TYPE_MAX (a programming error) fails. */
	int n = io_event_format(line, sizeof(line), ep->loop->now_us, ep->node_name, type,
	                        fields ? fields : "");
	CHECK(n > 0);
	fwrite(line, 1, (size_t)n, ep->events);
}

static void epoll_handle_count(struct io *io, size_t *in_use, size_t *max)
{
	struct io_epoll *ep = to_epoll(io);

	*in_use = ep->used_handles;
	*max = ep->max_handles;
}

const struct io_ops epoll_ops = {
    .tcp_listen = epoll_tcp_listen,
    .tcp_connect = epoll_tcp_connect,
    .tcp_accept = epoll_tcp_accept,
    .tcp_read = epoll_tcp_read,
    .tcp_write = epoll_tcp_write,
    .tcp_shutdown = epoll_tcp_shutdown,
    .sock_name = epoll_sock_name,
    .udp_open = epoll_udp_open,
    .udp_send = epoll_udp_send,
    .close = epoll_close,
    .handle_count = epoll_handle_count,
    .tun_attach = epoll_tun_attach,
    .tun_write = epoll_tun_write,
    .tun_addr_add = epoll_tun_addr_add,
    .tun_addr_del = epoll_tun_addr_del,
    .timer_arm = epoll_timer_arm,
    .timer_disarm = epoll_timer_disarm,
    .now_us = epoll_now_us,
    .wall_us = epoll_wall_us,
    .random_u64 = epoll_random_u64,
    .random_secret = epoll_random_secret,
    .emit = epoll_emit,
};

/* ---- node lifetime ---------------------------------------------------- */

static int node_open_ns(struct io_epoll *ep, const char *netns)
{
	char path[PATH_MAX];

	if (!netns)
		return 0;
	if (strchr(netns, '/') || strlen(netns) > NAME_MAX)
		return -EINVAL;
	snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	ep->home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ep->home_ns < 0)
		return -errno;
	ep->target_ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ep->target_ns < 0)
		return -errno;
	return 0;
}

/* A handle table the process's descriptor limit can back: raises the soft
 * limit towards `want` plus a margin (as far as the hard limit allows) and,
 * when that is not enough, shrinks the table to fit, so the node's own
 * accounting (io_handles_scarce) sees the real ceiling. */
static unsigned fit_fd_limit(unsigned want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)want + IO_EPOLL_FD_MARGIN;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return want;
	struct rlimit raised = rl;
	raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		rl = raised;
	if (rl.rlim_cur >= need)
		return want;
	return rl.rlim_cur > 2 * IO_EPOLL_FD_MARGIN ? (unsigned)(rl.rlim_cur - IO_EPOLL_FD_MARGIN)
	                                            : IO_EPOLL_FD_MARGIN;
}

/* A node slot of the loop nobody uses, or -1. */
static int loop_free_node_id(const struct io_loop *loop)
{
	for (int i = 0; i < IO_LOOP_MAX_NODES; i++)
		if (!loop->nodes[i])
			return i;
	return -1;
}

/* The handle table of max_handles slots, all on the free list, and the
 * queues of deferred notifications. 0 or -ENOMEM (the caller frees). */
static int ep_alloc_handles(struct io_epoll *ep, unsigned max_handles)
{
	ep->max_handles = max_handles;
	ep->slots = calloc(max_handles, sizeof(*ep->slots));
	ep->deferred = calloc(max_handles, sizeof(*ep->deferred));
	ep->deferred_run = calloc(max_handles, sizeof(*ep->deferred_run));
	if (!ep->slots || !ep->deferred || !ep->deferred_run)
		return -ENOMEM;
	for (unsigned i = 0; i < max_handles; i++) {
		ep->slots[i].fd = -1;
		ep->slots[i].deferred_pos = -1;
		ep->slots[i].next_free = i + 1 < max_handles ? (int)i + 1 : -1;
	}
	ep->free_head = 0;
	return 0;
}

struct io *io_epoll_new(struct io_loop *loop, const struct io_epoll_config *cfg, int *err)
{
	CHECK(loop && cfg && cfg->node_name && err);
	unsigned max_handles = cfg->max_handles ? cfg->max_handles : IO_EPOLL_DEFAULT_HANDLES;
	int node_id, rc;

	if (max_handles > IO_EPOLL_MAX_HANDLES) {
		*err = -EINVAL;
		return NULL;
	}
	max_handles = fit_fd_limit(max_handles);
	node_id = loop_free_node_id(loop);
	if (node_id < 0) {
		*err = -ENOSPC;
		return NULL;
	}
	struct io_epoll *ep = calloc(1, sizeof(*ep));
	if (!ep) {
		*err = -ENOMEM;
		return NULL;
	}
	ep->io.ops = &epoll_ops;
	snprintf(ep->node_name, sizeof(ep->node_name), "%s", cfg->node_name);
	ep->io.node_name = ep->node_name;
	ep->loop = loop;
	ep->node_id = node_id;
	ep->events = cfg->events;
	ep->io.events_off = cfg->events == NULL;
	ep->home_ns = ep->target_ns = -1;
	ep->tun_handle = -1;
	ep->nl_fd = -1;
	rc = ep_alloc_handles(ep, max_handles);
	if (rc < 0)
		goto out_free;
	ep->starve_timer.fn = ep_starve_timer_fn;

	uint64_t seed = cfg->seed;
	if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = ep_clock_now_us();
	rng_seed(ep->rng, seed);

	loop->nodes[node_id] = ep;
	rc = node_open_ns(ep, cfg->netns);
	if (rc < 0)
		goto out_free_node;
	if (cfg->tun_name) {
		rc = ep_tun_setup(ep, cfg->tun_name);
		if (rc < 0)
			goto out_free_node;
	}
	*err = 0;
	return &ep->io;

out_free_node:
	io_epoll_free(&ep->io);
	*err = rc;
	return NULL;
out_free:
	free(ep->slots);
	free(ep->deferred);
	free(ep->deferred_run);
	free(ep);
	*err = rc;
	return NULL;
}

void io_epoll_free(struct io *io)
{
	if (!io)
		return;
	struct io_epoll *ep = to_epoll(io);
	struct io_loop *loop = ep->loop;

	for (unsigned h = 0; h < ep->max_handles; h++)
		if (ep->slots[h].kind != SLOT_FREE)
			ep_slot_close(ep, (int)h, false);
	ep_loop_drop_timers(loop, ep);
	if (ep->nl_fd >= 0)
		close(ep->nl_fd);
	if (ep->target_ns >= 0)
		close(ep->target_ns);
	if (ep->home_ns >= 0)
		close(ep->home_ns);
	loop->nodes[ep->node_id] = NULL;
	free(ep->slots);
	free(ep->deferred);
	free(ep->deferred_run);
	free(ep);
}
