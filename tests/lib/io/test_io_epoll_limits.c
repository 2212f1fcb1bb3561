/* The epoll backend against the kernel's descriptor limit (REL-1): the
 * contract suite covers a full handle table on both backends; this covers
 * what only a real process has, RLIMIT_NOFILE. Criterion runs each test in
 * its own process, so lowering the limit here touches nothing else. */
#include "lib/io/io_epoll.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENTS 8

struct limits_test {
	struct io *io;
	int listener;
	int accepted[CLIENTS];
	unsigned n_accepted, emfile_seen;
};

static void noop_cb(void *ctx, int handle, unsigned events)
{
	(void)ctx;
	(void)handle;
	(void)events;
}

static void listener_cb(void *ctx, int handle, unsigned events)
{
	struct limits_test *t = ctx;

	(void)events;
	for (;;) {
		int h = t->io->ops->tcp_accept(t->io, handle, NULL, noop_cb, NULL);
		if (h == -EAGAIN)
			return;
		if (h == -EMFILE) {
			t->emfile_seen++;
			return;
		}
		cr_assert_geq(h, 0, "accept: %d", h);
		cr_assert_lt(t->n_accepted, CLIENTS);
		t->accepted[t->n_accepted++] = h;
	}
}

static bool starved(void *arg)
{
	const struct limits_test *t = arg;
	return t->emfile_seen > 0 && t->n_accepted > 0;
}

static unsigned want_accepted;

static bool accepted_enough(void *arg)
{
	return ((const struct limits_test *)arg)->n_accepted >= want_accepted;
}

Test(io_epoll_limits, rel1_a_listener_starved_by_rlimit_nofile_retries_on_its_own, .timeout = 30)
{
	struct io_loop *loop = io_loop_new();
	cr_assert_not_null(loop);
	const struct io_epoll_config cfg = {.node_name = "limits", .max_handles = 64};
	int err;
	struct limits_test t = {.listener = -1};

	t.io = io_epoll_new(loop, &cfg, &err);
	cr_assert_not_null(t.io, "io_epoll_new: %d", err);
	struct io_addr local, bound;
	io_addr_v4(&local, 0x7f000001u, 0);
	t.listener = t.io->ops->tcp_listen(t.io, &local, 16, listener_cb, &t);
	cr_assert_geq(t.listener, 0);
	cr_assert_eq(t.io->ops->sock_name(t.io, t.listener, false, &bound), 0);

	/* Clients connected (queued in the listener's backlog) before the
	 * limit drops; their descriptors stay valid after it. */
	int clients[CLIENTS], highest = 0;
	for (int i = 0; i < CLIENTS; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(bound.port)};
		sa.sin_addr.s_addr = htonl(0x7f000001u);
		clients[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(clients[i], 0);
		cr_assert_eq(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		if (clients[i] > highest)
			highest = clients[i];
	}
	/* Two descriptors left above the highest in use: the kernel refuses
	 * the third accept while the node's table (64) still has room. */
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)highest + 1 + 2;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	uint64_t now = io_loop_now_us(loop);
	cr_assert_eq(io_loop_run_until(loop, starved, &t, now + 2000000), 1,
	             "accepted %u, EMFILE %u", t.n_accepted, t.emfile_seen);
	unsigned before = t.n_accepted;
	cr_assert_lt(before, CLIENTS);

	/* Free a descriptor the node knows nothing about: only the backend's
	 * own retry can notice. Before the fix the listener stayed stuck. */
	close(clients[CLIENTS - 1]);
	want_accepted = before + 1;
	now = io_loop_now_us(loop);
	cr_assert_eq(io_loop_run_until(loop, accepted_enough, &t, now + 2000000), 1,
	             "no retry after a descriptor freed (accepted %u)", t.n_accepted);

	/* And a freed handle wakes it at once. */
	cr_assert_eq(t.io->ops->close(t.io, t.accepted[0], false), 0);
	want_accepted = t.n_accepted + 1;
	now = io_loop_now_us(loop);
	cr_assert_eq(io_loop_run_until(loop, accepted_enough, &t, now + 50000), 1,
	             "a freed handle did not wake the listener at once");

	for (int i = 0; i < CLIENTS - 1; i++)
		close(clients[i]);
	io_epoll_free(t.io);
	io_loop_free(loop);
}
