/* io_loop_watch_fd: the main program's own fds on the epoll loop (the svcd
 * binary's local API socket and signalfd). */
#include "lib/io/io_epoll.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

struct watch_rec {
	struct io_loop *loop;
	int calls;
	uint32_t events;
	int unwatch_fd; /* >= 0: unwatch this fd from inside the callback */
};

static void rec_fn(void *ctx, int fd, uint32_t events)
{
	struct watch_rec *r = ctx;
	char buf[16];

	r->calls++;
	r->events = events;
	if (r->unwatch_fd >= 0)
		io_loop_unwatch_fd(r->loop, r->unwatch_fd);
	if (events & EPOLLIN)
		(void)read(fd, buf, sizeof(buf));
}

Test(io_loop_watch, a_readable_fd_calls_back_and_unwatch_stops_it)
{
	struct io_loop *loop = io_loop_new();
	int p[2];
	struct watch_rec r = {.loop = loop, .unwatch_fd = -1};

	cr_assert_not_null(loop);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(io_loop_watch_fd(loop, p[0], EPOLLIN, rec_fn, &r), 0);
	io_loop_run_once(loop, 0);
	cr_assert_eq(r.calls, 0, "nothing to read yet");
	cr_assert_eq(write(p[1], "x", 1), 1);
	io_loop_run_once(loop, 100);
	cr_assert_eq(r.calls, 1);
	cr_assert(r.events & EPOLLIN);
	cr_assert_eq(io_loop_unwatch_fd(loop, p[0]), 0);
	cr_assert_eq(io_loop_unwatch_fd(loop, p[0]), -ENOENT);
	cr_assert_eq(write(p[1], "y", 1), 1);
	io_loop_run_once(loop, 10);
	cr_assert_eq(r.calls, 1, "no callback after unwatch");
	close(p[0]);
	close(p[1]);
	io_loop_free(loop);
}

Test(io_loop_watch, changing_events_and_unwatching_a_peer_inside_a_batch)
{
	struct io_loop *loop = io_loop_new();
	int a[2], b[2];
	struct watch_rec ra = {.loop = loop, .unwatch_fd = -1}, rb = {.loop = loop};

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	/* watching the write end for EPOLLOUT fires at once; switch it off */
	cr_assert_eq(io_loop_watch_fd(loop, a[1], EPOLLOUT, rec_fn, &ra), 0);
	io_loop_run_once(loop, 100);
	cr_assert_eq(ra.calls, 1);
	cr_assert(ra.events & EPOLLOUT);
	cr_assert_eq(io_loop_watch_fd(loop, a[1], 0, rec_fn, &ra), 0, "modify in place");
	io_loop_run_once(loop, 10);
	cr_assert_eq(ra.calls, 1);

	/* two ready fds; whichever runs first unwatches the other */
	rb.unwatch_fd = a[0];
	ra.unwatch_fd = b[0];
	ra.calls = rb.calls = 0;
	cr_assert_eq(io_loop_watch_fd(loop, a[0], EPOLLIN, rec_fn, &ra), 0);
	cr_assert_eq(io_loop_watch_fd(loop, b[0], EPOLLIN, rec_fn, &rb), 0);
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "x", 1), 1);
	io_loop_run_once(loop, 100);
	cr_assert_eq(ra.calls + rb.calls, 1, "the unwatched one did not run");
	io_loop_unwatch_fd(loop, a[0]);
	io_loop_unwatch_fd(loop, b[0]);
	io_loop_unwatch_fd(loop, a[1]);
	for (int i = 0; i < 2; i++)
		close(a[i]), close(b[i]);
	io_loop_free(loop);
}

Test(io_loop_watch, the_watch_table_is_bounded)
{
	struct io_loop *loop = io_loop_new();
	int p[2];
	struct watch_rec r = {.loop = loop, .unwatch_fd = -1};
	int fds[IO_LOOP_MAX_WATCHES];

	cr_assert_eq(pipe(p), 0);
	for (int i = 0; i < IO_LOOP_MAX_WATCHES; i++) {
		fds[i] = dup(p[0]);
		cr_assert_geq(fds[i], 0);
		cr_assert_eq(io_loop_watch_fd(loop, fds[i], EPOLLIN, rec_fn, &r), 0);
	}
	int extra = dup(p[0]);
	cr_assert_eq(io_loop_watch_fd(loop, extra, EPOLLIN, rec_fn, &r), -ENOSPC);
	for (int i = 0; i < IO_LOOP_MAX_WATCHES; i++) {
		io_loop_unwatch_fd(loop, fds[i]);
		close(fds[i]);
	}
	cr_assert_eq(io_loop_watch_fd(loop, extra, EPOLLIN, rec_fn, &r), 0, "slots are reused");
	io_loop_unwatch_fd(loop, extra);
	close(extra);
	close(p[0]);
	close(p[1]);
	io_loop_free(loop);
}
