/* The epoll backend's loop (see io_epoll.h): one epoll set for every node
 * and the program's own fds, the cached monotonic clock, and the timers of
 * every node in one min-heap (equal deadlines fire in arming order). An
 * iteration waits, dispatches readiness, runs deferred notifications and
 * fires due timers. */
#define _GNU_SOURCE
#include "lib/io/io_epoll_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

uint64_t ep_clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- timers ------------------------------------------------------------ */

static bool timer_before(const struct timer_entry *a, const struct timer_entry *b)
{
	if (a->timer->deadline_us != b->timer->deadline_us)
		return a->timer->deadline_us < b->timer->deadline_us;
	return a->seq < b->seq;
}

static void heap_place(struct io_loop *loop, size_t i, struct timer_entry e)
{
	loop->heap[i] = e;
	e.timer->heap_index = i;
}

static void heap_sift_up(struct io_loop *loop, size_t i)
{
	struct timer_entry e = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(&e, &loop->heap[parent]))
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, e);
}

static void heap_sift_down(struct io_loop *loop, size_t i)
{
	struct timer_entry e = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len &&
		    timer_before(&loop->heap[child + 1], &loop->heap[child]))
			child++;
		if (!timer_before(&loop->heap[child], &e))
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, e);
}

static void heap_remove(struct io_loop *loop, size_t i)
{
	CHECK(i < loop->heap_len);
	struct io_timer *t = loop->heap[i].timer;
	loop->heap_len--;
	if (i != loop->heap_len) {
		struct io_timer *moved = loop->heap[loop->heap_len].timer;
		heap_place(loop, i, loop->heap[loop->heap_len]);
		heap_sift_down(loop, i);
		heap_sift_up(loop, moved->heap_index);
	}
	t->backend_ref = NULL;
	t->heap_index = 0;
}

void epoll_timer_disarm(struct io *io, struct io_timer *timer)
{
	struct io_epoll *ep = to_epoll(io);

	if (!timer->backend_ref)
		return;
	CHECK(timer->backend_ref == ep);
	CHECK(timer->heap_index < ep->loop->heap_len &&
	      ep->loop->heap[timer->heap_index].timer == timer);
	heap_remove(ep->loop, timer->heap_index);
}

/* Arms (or re-arms) `timer` to fire delay_us after the loop's cached now. */
void epoll_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us)
{
	struct io_epoll *ep = to_epoll(io);
	struct io_loop *loop = ep->loop;

	CHECK(timer->fn);
	epoll_timer_disarm(io, timer);
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		CHECK(cap <= IO_LOOP_MAX_TIMERS);
		struct timer_entry *heap = realloc(loop->heap, cap * sizeof(*heap));
		CHECK(heap);
		loop->heap = heap;
		loop->heap_cap = cap;
	}
	timer->deadline_us =
	    delay_us > UINT64_MAX - loop->now_us ? UINT64_MAX : loop->now_us + delay_us;
	timer->backend_ref = ep;
	size_t i = loop->heap_len++;
	loop->heap[i] = (struct timer_entry){timer, loop->next_seq++};
	timer->heap_index = i;
	heap_sift_up(loop, i);
}

/* Timers the owner left armed would fire into freed memory: drop them
 * and rebuild the heap from what is left. */
void ep_loop_drop_timers(struct io_loop *loop, struct io_epoll *ep)
{
	size_t kept = 0;

	for (size_t i = 0; i < loop->heap_len; i++) {
		struct io_timer *t = loop->heap[i].timer;
		if (t->backend_ref == ep) {
			t->backend_ref = NULL;
			t->heap_index = 0;
		} else {
			heap_place(loop, kept++, loop->heap[i]);
		}
	}
	loop->heap_len = kept;
	for (size_t i = kept / 2; i-- > 0;)
		heap_sift_down(loop, i);
}

/* Fires due timers; at most as many as were armed on entry, so a timer that
 * re-arms itself with no delay cannot hold the loop. */
static void loop_fire_timers(struct io_loop *loop)
{
	size_t budget = loop->heap_len;

	while (budget-- > 0 && loop->heap_len > 0) {
		struct io_timer *t = loop->heap[0].timer;
		if (t->deadline_us > loop->now_us)
			break;
		heap_remove(loop, 0);
		loop->callbacks++;
		t->fn(t);
	}
}

/* ---- the loop ---------------------------------------------------------- */

struct io_loop *io_loop_new(void)
{
	struct io_loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = errno;
		free(loop);
		errno = err;
		return NULL;
	}
	loop->now_us = ep_clock_now_us();
	for (int i = 0; i < IO_LOOP_MAX_WATCHES; i++)
		loop->watches[i].fd = -1;
	return loop;
}

static uint64_t watch_data(const struct io_loop *loop, int i)
{
	return ((uint64_t)loop->watches[i].gen << 32) | ((uint64_t)IO_LOOP_WATCH_NODE << 16) |
	       (uint64_t)i;
}

int io_loop_watch_fd(struct io_loop *loop, int fd, uint32_t events, io_loop_fd_fn fn, void *ctx)
{
	int i, free_i = -1;

	CHECK(fd >= 0 && fn != NULL);
	for (i = 0; i < IO_LOOP_MAX_WATCHES; i++) {
		if (loop->watches[i].fd == fd)
			break;
		if (free_i < 0 && loop->watches[i].fd < 0)
			free_i = i;
	}
	bool add = i == IO_LOOP_MAX_WATCHES;
	if (add) {
		if (free_i < 0)
			return -ENOSPC;
		i = free_i;
		loop->watches[i].gen = ++loop->next_gen;
	}
	struct epoll_event ev = {.events = events};
	ev.data.u64 = watch_data(loop, i);
	if (epoll_ctl(loop->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	loop->watches[i].fd = fd;
	loop->watches[i].fn = fn;
	loop->watches[i].ctx = ctx;
	return 0;
}

int io_loop_unwatch_fd(struct io_loop *loop, int fd)
{
	for (int i = 0; i < IO_LOOP_MAX_WATCHES; i++) {
		struct loop_watch *w = &loop->watches[i];
		if (w->fd != fd)
			continue;
		(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->fd = -1;
		w->gen = ++loop->next_gen; /* stale readiness in this batch is ignored */
		return 0;
	}
	return -ENOENT;
}

void io_loop_free(struct io_loop *loop)
{
	if (!loop)
		return;
	for (int i = 0; i < IO_LOOP_MAX_NODES; i++)
		CHECK(!loop->nodes[i]);
	close(loop->epfd);
	free(loop->heap);
	free(loop);
}

uint64_t io_loop_now_us(const struct io_loop *loop)
{
	return loop->now_us;
}

void io_loop_update_time(struct io_loop *loop)
{
	loop->now_us = ep_clock_now_us();
}

static bool loop_has_deferred(const struct io_loop *loop)
{
	for (int i = 0; i < IO_LOOP_MAX_NODES; i++)
		if (loop->nodes[i] && loop->nodes[i]->deferred_len)
			return true;
	return false;
}

/* How long epoll may sleep, in microseconds (-1: no limit): until the
 * next timer, capped by the caller's max_wait_ms. */
static int64_t loop_wait_us(const struct io_loop *loop, int max_wait_ms)
{
	int64_t cap = max_wait_ms < 0 ? -1 : (int64_t)max_wait_ms * 1000;

	if (loop_has_deferred(loop))
		return 0;
	if (loop->heap_len == 0)
		return cap;
	uint64_t deadline = loop->heap[0].timer->deadline_us;
	if (deadline <= loop->now_us)
		return 0;
	uint64_t us = deadline - loop->now_us;
	if (cap >= 0 && us > (uint64_t)cap)
		return cap;
	return us > INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)us;
}

/* epoll_pwait2 sleeps to the microsecond; plain epoll_wait (kernels before
 * 5.11) rounds up to whole milliseconds so we never wake just early. */
static int loop_wait(struct io_loop *loop, struct epoll_event *evs, int64_t wait_us)
{
	if (!loop->no_pwait2) {
		struct timespec ts = {.tv_sec = wait_us / 1000000,
		                      .tv_nsec = (long)(wait_us % 1000000) * 1000};
		int n = epoll_pwait2(loop->epfd, evs, IO_EPOLL_WAIT_EVENTS,
		                     wait_us < 0 ? NULL : &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		loop->no_pwait2 = true;
	}
	int64_t ms = wait_us < 0 ? -1 : (wait_us + 999) / 1000;
	return epoll_wait(loop->epfd, evs, IO_EPOLL_WAIT_EVENTS, ms > INT_MAX ? INT_MAX : (int)ms);
}

int io_loop_run_once(struct io_loop *loop, int max_wait_ms)
{
	struct epoll_event evs[IO_EPOLL_WAIT_EVENTS];

	loop->callbacks = 0;
	int n = loop_wait(loop, evs, loop_wait_us(loop, max_wait_ms));
	int err = errno;
	loop->now_us = ep_clock_now_us();
	if (n < 0) {
		if (err != EINTR)
			return -err;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		uint32_t gen = (uint32_t)(d >> 32);
		unsigned node_id = (unsigned)(d >> 16) & 0xffffu;
		int h = (int)(d & 0xffffu);
		if (node_id == IO_LOOP_WATCH_NODE) {
			struct loop_watch *w = h < IO_LOOP_MAX_WATCHES ? &loop->watches[h] : NULL;
			if (w && w->fd >= 0 && w->gen == gen) {
				loop->callbacks++;
				w->fn(w->ctx, w->fd, evs[i].events);
			}
			continue;
		}
		struct io_epoll *ep = node_id < IO_LOOP_MAX_NODES ? loop->nodes[node_id] : NULL;
		/* Stale readiness of a handle closed earlier in this batch. */
		if (ep && ep_slot_alive(ep, h, gen))
			ep_slot_dispatch_epoll(ep, h, evs[i].events);
	}
	for (int i = 0; i < IO_LOOP_MAX_NODES; i++)
		if (loop->nodes[i] && loop->nodes[i]->deferred_len)
			ep_node_run_deferred(loop->nodes[i]);
	loop_fire_timers(loop);
	return (int)loop->callbacks;
}

int io_loop_run_until(struct io_loop *loop, bool (*done)(void *arg), void *arg,
                      uint64_t deadline_us)
{
	loop->now_us = ep_clock_now_us();
	for (;;) {
		if (done && done(arg))
			return 1;
		if (loop->now_us >= deadline_us)
			return 0;
		uint64_t left_ms = (deadline_us - loop->now_us + 999) / 1000;
		int rc = io_loop_run_once(loop, left_ms > 1000 ? 1000 : (int)left_ms);
		if (rc < 0)
			return rc;
	}
}
