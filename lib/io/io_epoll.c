/* The epoll backend of the seam (see io.h for the contract, io_epoll.h for
 * the loop). Edge-triggered readiness, non-blocking sockets, notifications
 * that an op causes are deferred to the loop, a min-heap of caller-owned
 * timers, a TUN device configured over rtnetlink, and optional network
 * namespaces entered around every socket creation. */
#define _GNU_SOURCE
#include "lib/io/io_epoll.h"
#include "lib/base/check.h"

#include "lib/io/io_event.h"

#include "lib/base/rng.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_EPOLL_MAX_PACKET  65535
#define IO_EPOLL_RX_BATCH    64  /* datagrams/packets per wakeup, for fairness */
#define IO_EPOLL_WAIT_EVENTS 128 /* readiness events per epoll_wait */
#define IO_EPOLL_MAX_BACKLOG 4096
#define IO_EPOLL_NL_BUF      1024
/* Descriptors a process needs beside its nodes' handles (epoll, netlink,
 * event files, files a handler serves). */
#define IO_EPOLL_FD_MARGIN 64
/* How soon a listener starved by the kernel's descriptor limit tries again. */
#define IO_EPOLL_STARVE_RETRY_US (100u * 1000u)

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* The tailnet prefixes routed to the TUN device. */
#define TAILNET_V4_PREFIX     0x64400000u /* 100.64.0.0 */
#define TAILNET_V4_PREFIX_LEN 10
#define TAILNET_V6_PREFIX_LEN 48

enum epoll_slot_kind {
	SLOT_FREE = 0,
	SLOT_LISTENER,
	SLOT_CONN,
	SLOT_UDP,
	SLOT_TUN,
};

struct epoll_slot {
	int fd;
	uint8_t kind;
	bool connecting;     /* connect started, neither completed nor failed */
	bool want_write;     /* a write came up short: report the next IO_WRITABLE */
	bool error_reported; /* IO_ERROR delivered for `error` */
	bool in_epoll;
	/* A read came back short: the receive queue was empty then, and new
	 * data brings a new edge, so the next read can answer -EAGAIN without
	 * a recv() (one syscall less per message; HAProxy does the same). */
	bool rx_drained;
	bool rx_closing; /* the peer's FIN or an error was seen: always recv() */
	/* A listener whose accept found no handle (ours or the kernel's): it
	 * hears IO_READABLE again once one frees, as its queue has no new edge. */
	bool accept_starved;
	int error;    /* sticky -errno of a failed connection; 0 when none */
	uint32_t gen; /* loop-unique; tells stale readiness from live */
	unsigned deferred_events;
	int deferred_pos; /* index into the node's deferred list, or -1 */
	int next_free;
	io_sock_fn sock_fn;
	io_dgram_fn dgram_fn;
	void *ctx;
};

/* One deferred notification taken off the list for dispatch. */
struct epoll_deferred {
	int handle;
	uint32_t gen;
	unsigned events;
};

struct io_epoll {
	struct io io; /* first: the daemon's handle */
	struct io_loop *loop;
	int node_id;
	char node_name[64];
	FILE *events;
	int home_ns;   /* the namespace to return to, or -1 */
	int target_ns; /* the node's namespace, or -1 for the current one */
	uint64_t rng[RNG_STATE_WORDS];

	struct epoll_slot *slots;
	unsigned max_handles;
	unsigned used_handles;
	int free_head;
	unsigned starved_listeners;
	/* Retries starved listeners when the kernel, not our table, ran out:
	 * a descriptor freed elsewhere in the process tells us nothing. */
	struct io_timer starve_timer;
	int *deferred; /* handles with deferred_events, at most one entry each */
	unsigned deferred_len;
	struct epoll_deferred *deferred_run;

	int tun_handle; /* internal slot of the TUN fd, or -1 */
	int tun_ifindex;
	int nl_fd; /* NETLINK_ROUTE socket in the node's namespace, or -1 */
	uint32_t nl_seq;
	io_packet_fn tun_fn;
	void *tun_ctx;

	uint8_t rx_buf[IO_EPOLL_MAX_PACKET];
};

struct timer_entry {
	struct io_timer *timer;
	uint64_t seq; /* equal deadlines fire in arming order */
};

/* A watched fd of the main program; epoll data marks it with node id
 * IO_LOOP_WATCH_NODE and its index. */
struct loop_watch {
	int fd; /* -1: free */
	uint32_t gen;
	io_loop_fd_fn fn;
	void *ctx;
};
#define IO_LOOP_WATCH_NODE 0xffffu

struct io_loop {
	int epfd;
	struct loop_watch watches[IO_LOOP_MAX_WATCHES];
	uint64_t now_us;
	uint32_t next_gen;
	uint64_t next_seq;
	unsigned callbacks; /* run during the current iteration */
	bool no_pwait2;     /* the kernel lacks epoll_pwait2 */
	struct io_epoll *nodes[IO_LOOP_MAX_NODES];
	struct timer_entry *heap;
	size_t heap_len, heap_cap;
};

static const struct io_ops epoll_ops;

static struct io_epoll *to_epoll(struct io *io)
{
	CHECK(io && io->ops == &epoll_ops);
	return (struct io_epoll *)io;
}

static uint64_t clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- addresses --------------------------------------------------------- */

/* Fills `ss` from `a`; returns the sockaddr length, or -EAFNOSUPPORT. */
static int addr_to_sockaddr(const struct io_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == IO_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip, 4);
		return (int)sizeof(*sin);
	}
	if (a->family == IO_AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return (int)sizeof(*sin6);
	}
	return -EAFNOSUPPORT;
}

static int addr_from_sockaddr(struct io_addr *out, const struct sockaddr_storage *ss)
{
	memset(out, 0, sizeof(*out));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		out->family = IO_AF_INET;
		out->port = ntohs(sin->sin_port);
		memcpy(out->ip, &sin->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		/* A v4-mapped peer is reported as the IPv4 address it is. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			out->family = IO_AF_INET;
			memcpy(out->ip, (const uint8_t *)&sin6->sin6_addr + 12, 4);
		} else {
			out->family = IO_AF_INET6;
			memcpy(out->ip, &sin6->sin6_addr, 16);
		}
		out->port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* ---- namespaces and sockets ----------------------------------------- */

static int ns_enter(struct io_epoll *ep)
{
	if (ep->target_ns < 0)
		return 0;
	if (setns(ep->target_ns, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

/* Failing to return leaves the thread in the wrong world: crash. */
static void ns_leave(struct io_epoll *ep)
{
	if (ep->target_ns < 0)
		return;
	CHECK(setns(ep->home_ns, CLONE_NEWNET) == 0);
}

/* A non-blocking close-on-exec socket created in the node's namespace. */
static int sock_open(struct io_epoll *ep, int domain, int type, int protocol)
{
	int rc = ns_enter(ep);
	if (rc < 0)
		return rc;
	int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	int err = errno;
	ns_leave(ep);
	return fd < 0 ? -err : fd;
}

static void sock_set_int(int fd, int level, int name, int value)
{
	/* Best effort: every option set here has a sane fallback. */
	(void)setsockopt(fd, level, name, &value, sizeof(value));
}

static int sock_pending_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Lets a socket bind an address the node does not hold yet (a VIP). */
static void sock_set_freebind(int fd, int domain)
{
	if (domain == AF_INET6)
		sock_set_int(fd, SOL_IPV6, IPV6_FREEBIND, 1);
	sock_set_int(fd, SOL_IP, IP_FREEBIND, 1);
}

static bool errno_is_connection_failure(int err)
{
	return err == ECONNREFUSED || err == ECONNRESET || err == ETIMEDOUT || err == ENETUNREACH ||
	       err == EHOSTUNREACH || err == ECONNABORTED;
}

/* ---- handle table ------------------------------------------------------ */

static struct epoll_slot *slot_get(struct io_epoll *ep, int handle)
{
	if (handle < 0 || (unsigned)handle >= ep->max_handles)
		return NULL;
	struct epoll_slot *s = &ep->slots[handle];
	return s->kind == SLOT_FREE ? NULL : s;
}

static int slot_alloc(struct io_epoll *ep, int fd, enum epoll_slot_kind kind)
{
	if (ep->free_head < 0)
		return -EMFILE;
	int h = ep->free_head;
	struct epoll_slot *s = &ep->slots[h];
	ep->free_head = s->next_free;
	ep->used_handles++;
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->kind = (uint8_t)kind;
	s->deferred_pos = -1;
	s->next_free = -1;
	if (++ep->loop->next_gen == 0)
		ep->loop->next_gen = 1;
	s->gen = ep->loop->next_gen;
	return h;
}

static void slot_defer(struct io_epoll *ep, int h, unsigned events);

/* Tells every starved listener to try accepting again (deferred). */
static void wake_starved_listeners(struct io_epoll *ep)
{
	for (unsigned h = 0; h < ep->max_handles && ep->starved_listeners > 0; h++) {
		struct epoll_slot *s = &ep->slots[h];
		if (s->kind == SLOT_LISTENER && s->accept_starved) {
			s->accept_starved = false;
			ep->starved_listeners--;
			slot_defer(ep, (int)h, IO_READABLE);
		}
	}
	CHECK(ep->starved_listeners == 0);
}

static void starve_timer_fn(struct io_timer *timer)
{
	struct io_epoll *ep = container_of(timer, struct io_epoll, starve_timer);

	wake_starved_listeners(ep);
}

static void slot_release(struct io_epoll *ep, int h)
{
	struct epoll_slot *s = &ep->slots[h];

	CHECK(s->kind != SLOT_FREE && ep->used_handles > 0);
	ep->used_handles--;
	if (s->accept_starved)
		ep->starved_listeners--;
	if (s->deferred_pos >= 0) {
		/* Swap-remove from the deferred list. */
		unsigned pos = (unsigned)s->deferred_pos;
		int last = ep->deferred[--ep->deferred_len];
		ep->deferred[pos] = last;
		ep->slots[last].deferred_pos = (int)pos;
	}
	memset(s, 0, sizeof(*s));
	s->kind = SLOT_FREE;
	s->fd = -1;
	s->deferred_pos = -1;
	s->next_free = ep->free_head;
	ep->free_head = h;
	if (ep->starved_listeners > 0)
		wake_starved_listeners(ep);
}

static int slot_watch(struct io_epoll *ep, int h, uint32_t events)
{
	struct epoll_slot *s = &ep->slots[h];
	struct epoll_event ev = {
	    .events = events | EPOLLET,
	    .data.u64 = (uint64_t)s->gen << 32 | (uint64_t)ep->node_id << 16 | (uint64_t)h,
	};

	if (epoll_ctl(ep->loop->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	s->in_epoll = true;
	return 0;
}

/* Takes ownership of `fd`: on failure it is closed. Returns the handle. */
static int slot_install(struct io_epoll *ep, int fd, enum epoll_slot_kind kind, uint32_t events)
{
	int h = slot_alloc(ep, fd, kind);
	if (h < 0) {
		close(fd);
		return h;
	}
	if (events) {
		int rc = slot_watch(ep, h, events);
		if (rc < 0) {
			close(fd);
			slot_release(ep, h);
			return rc;
		}
	}
	return h;
}

/* Queues a notification for the next loop iteration, so that no callback
 * runs inside the op that caused it. */
static void slot_defer(struct io_epoll *ep, int h, unsigned events)
{
	struct epoll_slot *s = &ep->slots[h];

	s->deferred_events |= events;
	if (s->deferred_pos < 0) {
		CHECK(ep->deferred_len < ep->max_handles);
		s->deferred_pos = (int)ep->deferred_len;
		ep->deferred[ep->deferred_len++] = h;
	}
}

static bool slot_alive(struct io_epoll *ep, int h, uint32_t gen)
{
	struct epoll_slot *s = slot_get(ep, h);
	return s && s->gen == gen;
}

/* ---- dispatch ---------------------------------------------------------- */

static void notify_sock(struct io_epoll *ep, int h, unsigned events)
{
	struct epoll_slot *s = &ep->slots[h];

	if (!events || !s->sock_fn)
		return;
	ep->loop->callbacks++;
	s->sock_fn(s->ctx, h, events);
}

/* Turns readiness of a TCP connection into seam events, updating the
 * connect/error/want-write state on the way. */
static unsigned conn_events(struct epoll_slot *s, uint32_t ev)
{
	unsigned out = 0;

	/* Any input edge ends a short-read shortcut; after the peer's FIN the
	 * EOF that follows the data has no edge of its own, so reads always
	 * go to the kernel from then on. */
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rx_closing = true;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rx_drained = false;
	if (!s->error && (s->connecting || (ev & (EPOLLERR | EPOLLHUP)))) {
		int err = sock_pending_error(s->fd);
		/* A reset in CLOSE_WAIT surfaces as EPIPE; it is still a reset. */
		if (err == EPIPE)
			err = ECONNRESET;
		if (err)
			s->error = -err;
	}
	if (s->error) {
		s->connecting = false;
		if (!s->error_reported) {
			s->error_reported = true;
			out |= IO_ERROR;
		}
		return out;
	}
	if (s->connecting) {
		if (!(ev & EPOLLOUT))
			return 0;
		s->connecting = false;
		s->want_write = false;
		out |= IO_WRITABLE;
	} else if ((ev & EPOLLOUT) && s->want_write) {
		s->want_write = false;
		out |= IO_WRITABLE;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		out |= IO_READABLE;
	return out;
}

/* Delivers up to IO_EPOLL_RX_BATCH datagrams; more wait for the next
 * iteration so one busy socket cannot starve the others. */
static void udp_drain(struct io_epoll *ep, int h)
{
	uint32_t gen = ep->slots[h].gen;

	for (int i = 0; i < IO_EPOLL_RX_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct io_addr src;
		ssize_t n = recvfrom(ep->slots[h].fd, ep->rx_buf, sizeof(ep->rx_buf), MSG_DONTWAIT,
		                     (struct sockaddr *)&ss, &sl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue; /* ICMP errors and the like: datagram sockets go on */
		}
		if (addr_from_sockaddr(&src, &ss) < 0)
			continue;
		struct epoll_slot *s = &ep->slots[h];
		if (s->dgram_fn) {
			ep->loop->callbacks++;
			s->dgram_fn(s->ctx, h, ep->rx_buf, (size_t)n, &src);
			if (!slot_alive(ep, h, gen))
				return;
		}
	}
	slot_defer(ep, h, IO_READABLE);
}

static void tun_drain(struct io_epoll *ep, int h)
{
	for (int i = 0; i < IO_EPOLL_RX_BATCH; i++) {
		ssize_t n = read(ep->slots[h].fd, ep->rx_buf, sizeof(ep->rx_buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			return; /* device gone; nothing sane to report it to */
		}
		if (n > 0 && ep->tun_fn) {
			ep->loop->callbacks++;
			ep->tun_fn(ep->tun_ctx, ep->rx_buf, (size_t)n);
		}
	}
	slot_defer(ep, h, IO_READABLE);
}

static void slot_dispatch_epoll(struct io_epoll *ep, int h, uint32_t ev)
{
	struct epoll_slot *s = &ep->slots[h];

	switch (s->kind) {
	case SLOT_LISTENER:
		if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
			notify_sock(ep, h, IO_READABLE);
		break;
	case SLOT_CONN:
		notify_sock(ep, h, conn_events(s, ev));
		break;
	case SLOT_UDP:
		if (ev & (EPOLLIN | EPOLLERR))
			udp_drain(ep, h);
		break;
	case SLOT_TUN:
		if (ev & EPOLLIN)
			tun_drain(ep, h);
		break;
	default:
		CHECK(!"dispatch on a free slot");
	}
}

static void slot_dispatch_deferred(struct io_epoll *ep, int h, unsigned events)
{
	struct epoll_slot *s = &ep->slots[h];

	switch (s->kind) {
	case SLOT_LISTENER:
		notify_sock(ep, h, events);
		break;
	case SLOT_CONN:
		if (events & IO_ERROR) {
			if (s->error_reported)
				events &= ~(unsigned)IO_ERROR;
			s->error_reported = true;
		}
		notify_sock(ep, h, events);
		break;
	case SLOT_UDP:
		udp_drain(ep, h);
		break;
	case SLOT_TUN:
		tun_drain(ep, h);
		break;
	default:
		CHECK(!"deferred dispatch on a free slot");
	}
}

/* Runs the notifications queued before this point; ones queued meanwhile
 * wait for the next iteration. */
static void node_run_deferred(struct io_epoll *ep)
{
	unsigned n = ep->deferred_len;

	for (unsigned i = 0; i < n; i++) {
		int h = ep->deferred[i];
		struct epoll_slot *s = &ep->slots[h];
		ep->deferred_run[i] = (struct epoll_deferred){h, s->gen, s->deferred_events};
		s->deferred_events = 0;
		s->deferred_pos = -1;
	}
	ep->deferred_len = 0;
	for (unsigned i = 0; i < n; i++) {
		struct epoll_deferred *d = &ep->deferred_run[i];
		if (slot_alive(ep, d->handle, d->gen))
			slot_dispatch_deferred(ep, d->handle, d->events);
	}
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

static void epoll_timer_disarm(struct io *io, struct io_timer *timer)
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
static void epoll_timer_arm(struct io *io, struct io_timer *timer, uint64_t delay_us)
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
	loop->now_us = clock_now_us();
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
	loop->now_us = clock_now_us();
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
	loop->now_us = clock_now_us();
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
		if (ep && slot_alive(ep, h, gen))
			slot_dispatch_epoll(ep, h, evs[i].events);
	}
	for (int i = 0; i < IO_LOOP_MAX_NODES; i++)
		if (loop->nodes[i] && loop->nodes[i]->deferred_len)
			node_run_deferred(loop->nodes[i]);
	loop_fire_timers(loop);
	return (int)loop->callbacks;
}

int io_loop_run_until(struct io_loop *loop, bool (*done)(void *arg), void *arg,
                      uint64_t deadline_us)
{
	loop->now_us = clock_now_us();
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

/* ---- TCP ------------------------------------------------------------- */

static int epoll_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                            void *ctx)
{
	struct io_epoll *ep = to_epoll(io);
	struct sockaddr_storage ss;
	int sl = addr_to_sockaddr(local, &ss);

	if (sl < 0)
		return sl;
	int fd = sock_open(ep, ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	sock_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (ss.ss_family == AF_INET6)
		sock_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	sock_set_freebind(fd, ss.ss_family);
	if (backlog < 1)
		backlog = 1;
	if (backlog > IO_EPOLL_MAX_BACKLOG)
		backlog = IO_EPOLL_MAX_BACKLOG;
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0 || listen(fd, backlog) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	int h = slot_install(ep, fd, SLOT_LISTENER, EPOLLIN);
	if (h < 0)
		return h;
	ep->slots[h].sock_fn = fn;
	ep->slots[h].ctx = ctx;
	return h;
}

static int epoll_tcp_connect(struct io *io, const struct io_addr *remote,
                             const struct io_addr *local, io_sock_fn fn, void *ctx)
{
	struct io_epoll *ep = to_epoll(io);
	struct sockaddr_storage rs, ls;
	int rl = addr_to_sockaddr(remote, &rs);

	if (rl < 0)
		return rl;
	if (remote->port == 0)
		return -EINVAL;
	int fd = sock_open(ep, rs.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (rs.ss_family == AF_INET6)
		sock_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (local) {
		int ll = addr_to_sockaddr(local, &ls);
		if (ll < 0 || ls.ss_family != rs.ss_family) {
			close(fd);
			return -EINVAL;
		}
		sock_set_freebind(fd, ls.ss_family);
		if (local->port == 0)
			sock_set_int(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1);
		if (bind(fd, (struct sockaddr *)&ls, (socklen_t)ll) < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
	}
	int err = 0;
	if (connect(fd, (struct sockaddr *)&rs, (socklen_t)rl) < 0 && errno != EINPROGRESS) {
		err = errno;
		if (!errno_is_connection_failure(err)) {
			close(fd);
			return -err;
		}
	}
	/* An immediate failure is a handle in error, reported by the loop. */
	int h = slot_install(ep, fd, SLOT_CONN, err ? 0 : EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	if (h < 0)
		return h;
	struct epoll_slot *s = &ep->slots[h];
	s->sock_fn = fn;
	s->ctx = ctx;
	if (err) {
		s->error = -err;
		slot_defer(ep, h, IO_ERROR);
	} else {
		s->connecting = true;
	}
	return h;
}

/* Marks a listener that could not accept for want of a descriptor; it is
 * woken when one of ours frees, or after a delay when the kernel's limit
 * (`by_kernel`) was the cause. Returns -EMFILE for the caller. */
static int listener_starve(struct io_epoll *ep, struct epoll_slot *ls, bool by_kernel)
{
	if (!ls->accept_starved) {
		ls->accept_starved = true;
		ep->starved_listeners++;
	}
	if (by_kernel && !io_timer_armed(&ep->starve_timer))
		epoll_timer_arm(&ep->io, &ep->starve_timer, IO_EPOLL_STARVE_RETRY_US);
	return -EMFILE;
}

static int epoll_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn,
                            void *ctx)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *ls = slot_get(ep, listener);

	if (!ls || ls->kind != SLOT_LISTENER)
		return -EBADF;
	if (ep->free_head < 0)
		return listener_starve(ep, ls, false); /* stays queued in the kernel */
	for (int tries = 0; tries < 16; tries++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(ls->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			/* Connections that died while queued: take the next. */
			if (err == ECONNABORTED || err == EPROTO || err == EINTR)
				continue;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				return listener_starve(ep, ls, true);
			return err == EWOULDBLOCK ? -EAGAIN : -err;
		}
		sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
		if (peer && addr_from_sockaddr(peer, &ss) < 0)
			memset(peer, 0, sizeof(*peer));
		int h = slot_install(ep, fd, SLOT_CONN, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
		if (h < 0)
			return h;
		ep->slots[h].sock_fn = fn;
		ep->slots[h].ctx = ctx;
		return h;
	}
	return -EAGAIN;
}

static ssize_t epoll_tcp_read(struct io *io, int handle, void *buf, size_t len)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind != SLOT_CONN)
		return -EBADF;
	if (s->error)
		return s->error;
	if (len == 0)
		return -EINVAL;
	if (s->rx_drained)
		return -EAGAIN;
	for (;;) {
		ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
		if (n > 0 && (size_t)n < len && !s->rx_closing)
			s->rx_drained = true;
		if (n >= 0)
			return n;
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EWOULDBLOCK)
			return -EAGAIN;
		if (errno_is_connection_failure(err)) {
			s->error = -err;
			s->connecting = false;
		}
		return -err;
	}
}

static ssize_t epoll_tcp_write(struct io *io, int handle, const void *buf, size_t len)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind != SLOT_CONN)
		return -EBADF;
	if (s->error)
		return s->error;
	if (len == 0)
		return 0;
	for (;;) {
		ssize_t n = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			if ((size_t)n < len)
				s->want_write = true;
			return n;
		}
		int err = errno;
		if (err == EINTR)
			continue;
		if (err == EWOULDBLOCK) {
			s->want_write = true;
			return -EAGAIN;
		}
		if (errno_is_connection_failure(err)) {
			s->error = -err;
			s->connecting = false;
		}
		return -err;
	}
}

static int epoll_tcp_shutdown(struct io *io, int handle)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind != SLOT_CONN)
		return -EBADF;
	if (s->error)
		return s->error;
	if (shutdown(s->fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

static int epoll_sock_name(struct io *io, int handle, bool peer, struct io_addr *out)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!s || s->kind == SLOT_TUN)
		return -EBADF;
	int rc = peer ? getpeername(s->fd, (struct sockaddr *)&ss, &sl)
	              : getsockname(s->fd, (struct sockaddr *)&ss, &sl);
	if (rc < 0)
		return -errno;
	return addr_from_sockaddr(out, &ss);
}

/* ---- UDP ------------------------------------------------------------- */

static int epoll_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	struct io_epoll *ep = to_epoll(io);
	struct sockaddr_storage ss;

	if (!local)
		return -EINVAL;
	int sl = addr_to_sockaddr(local, &ss);
	if (sl < 0)
		return sl;
	int fd = sock_open(ep, ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		return fd;
	if (ss.ss_family == AF_INET6)
		sock_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	sock_set_freebind(fd, ss.ss_family);
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	int h = slot_install(ep, fd, SLOT_UDP, EPOLLIN);
	if (h < 0)
		return h;
	ep->slots[h].dgram_fn = fn;
	ep->slots[h].ctx = ctx;
	return h;
}

static int epoll_udp_send(struct io *io, int handle, const void *data, size_t len,
                          const struct io_addr *dst)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);
	struct sockaddr_storage ss;

	if (!s || s->kind != SLOT_UDP)
		return -EBADF;
	if (len > IO_EPOLL_MAX_PACKET)
		return -EMSGSIZE;
	int sl = addr_to_sockaddr(dst, &ss);
	if (sl < 0)
		return sl;
	for (;;) {
		ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
		                   (struct sockaddr *)&ss, (socklen_t)sl);
		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

/* ---- close ------------------------------------------------------------- */

static void slot_close(struct io_epoll *ep, int h, bool abort_conn)
{
	struct epoll_slot *s = &ep->slots[h];

	if (abort_conn && s->kind == SLOT_CONN) {
		/* Linger 0: close sends RST and drops queued data. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (s->in_epoll)
		(void)epoll_ctl(ep->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	slot_release(ep, h);
}

static int epoll_close(struct io *io, int handle, bool abort)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind == SLOT_TUN)
		return -EBADF;
	slot_close(ep, handle, abort);
	return 0;
}

/* ---- rtnetlink -------------------------------------------------------- */

struct nl_msg {
	struct nlmsghdr nh;
	char body[IO_EPOLL_NL_BUF - sizeof(struct nlmsghdr)];
} __attribute__((aligned(NLMSG_ALIGNTO)));

static void *nl_start(struct nl_msg *m, uint16_t type, uint16_t flags, size_t fixed_len)
{
	memset(m, 0, sizeof(*m));
	m->nh.nlmsg_type = type;
	m->nh.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	m->nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(fixed_len);
	return NLMSG_DATA(&m->nh);
}

static void nl_attr(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->nh.nlmsg_len);
	CHECK(off + RTA_SPACE(len) <= sizeof(*m));
	struct rtattr *rta = (struct rtattr *)((char *)m + off);
	rta->rta_type = type;
	rta->rta_len = (uint16_t)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	m->nh.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
}

/* NLMSG_OK(r, left) without its int/u32 comparison (clang warns about it
 * in our code). `left` stays signed: NLMSG_NEXT may take it below zero past
 * the last message, which must end the walk, not wrap around. */
static bool nl_msg_ok(const struct nlmsghdr *r, int left)
{
	return left >= (int)sizeof(*r) && r->nlmsg_len >= sizeof(*r) &&
	       r->nlmsg_len <= (unsigned)left;
}

/* Sends one request and waits for its acknowledgement; returns 0 or the
 * kernel's -errno. */
static int nl_transact(struct io_epoll *ep, struct nl_msg *m)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	union {
		struct nlmsghdr nh;
		char buf[4096];
	} reply;

	m->nh.nlmsg_seq = ++ep->nl_seq;
	if (sendto(ep->nl_fd, m, m->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (int tries = 0; tries < 16; tries++) {
		ssize_t n = recv(ep->nl_fd, reply.buf, sizeof(reply.buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int left = (int)n;
		for (struct nlmsghdr *r = &reply.nh; nl_msg_ok(r, left); r = NLMSG_NEXT(r, left)) {
			if (r->nlmsg_seq != m->nh.nlmsg_seq || r->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(r);
			return e->error;
		}
	}
	return -EIO;
}

static int nl_link_up(struct io_epoll *ep)
{
	struct nl_msg m;
	struct ifinfomsg *ifi = nl_start(&m, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ep->tun_ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_transact(ep, &m);
}

static int nl_route_add(struct io_epoll *ep, int family, const uint8_t *dst, int prefix_len)
{
	struct nl_msg m;
	struct rtmsg *rt = nl_start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));
	uint32_t oif = (uint32_t)ep->tun_ifindex;

	rt->rtm_family = (uint8_t)family;
	rt->rtm_dst_len = (uint8_t)prefix_len;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	nl_attr(&m, RTA_DST, dst, family == AF_INET ? 4 : 16);
	nl_attr(&m, RTA_OIF, &oif, sizeof(oif));
	return nl_transact(ep, &m);
}

static int nl_addr(struct io_epoll *ep, bool add, const struct io_addr *addr, int prefix_len)
{
	struct nl_msg m;
	bool v6 = addr->family == IO_AF_INET6;
	struct ifaddrmsg *ifa = nl_start(&m, add ? RTM_NEWADDR : RTM_DELADDR,
	                                 add ? NLM_F_CREATE | NLM_F_EXCL : 0, sizeof(*ifa));
	size_t alen = v6 ? 16 : 4;

	ifa->ifa_family = v6 ? AF_INET6 : AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix_len;
	/* No duplicate detection: a tentative address could not be bound. */
	ifa->ifa_flags = v6 ? IFA_F_NODAD : 0;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ep->tun_ifindex;
	nl_attr(&m, IFA_LOCAL, addr->ip, alen);
	nl_attr(&m, IFA_ADDRESS, addr->ip, alen);
	return nl_transact(ep, &m);
}

/* ---- TUN --------------------------------------------------------------- */

/* Opens the device and the netlink socket inside the node's namespace,
 * then brings the device up and routes the tailnet to it. */
static int tun_setup(struct io_epoll *ep, const char *name)
{
	struct ifreq ifr;

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	int rc = ns_enter(ep);
	if (rc < 0)
		return rc;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int err = fd < 0 ? errno : 0;
	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
		memcpy(ifr.ifr_name, name, strlen(name));
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			err = errno;
		} else {
			ep->tun_ifindex = (int)if_nametoindex(ifr.ifr_name);
			if (ep->tun_ifindex == 0)
				err = errno;
		}
		if (!err) {
			ep->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
			if (ep->nl_fd < 0)
				err = errno;
		}
	}
	ns_leave(ep);
	if (err) {
		if (fd >= 0)
			close(fd);
		return -err;
	}
	struct timeval tv = {.tv_sec = 2};
	(void)setsockopt(ep->nl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	int h = slot_install(ep, fd, SLOT_TUN, EPOLLIN);
	if (h < 0)
		return h;
	ep->tun_handle = h;
	rc = nl_link_up(ep);
	if (rc < 0)
		return rc;
	uint32_t v4 = htonl(TAILNET_V4_PREFIX);
	rc = nl_route_add(ep, AF_INET, (const uint8_t *)&v4, TAILNET_V4_PREFIX_LEN);
	if (rc < 0)
		return rc;
	static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
	rc = nl_route_add(ep, AF_INET6, v6, TAILNET_V6_PREFIX_LEN);
	if (rc < 0)
		io_emitf(&ep->io, "tun_ipv6_unavailable", "\"errno\":%d", -rc);
	return 0;
}

/* fn == NULL detaches (see io.h): tun_drain keeps reading the device and
 * drops what it reads, so the kernel queue cannot fill up meanwhile. */
static int epoll_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	struct io_epoll *ep = to_epoll(io);

	if (ep->tun_handle < 0)
		return -ENODEV;
	ep->tun_fn = fn;
	ep->tun_ctx = fn ? ctx : NULL;
	return 0;
}

static int epoll_tun_write(struct io *io, const void *pkt, size_t len)
{
	struct io_epoll *ep = to_epoll(io);

	if (ep->tun_handle < 0)
		return -ENODEV;
	if (len == 0)
		return -EINVAL;
	if (len > IO_EPOLL_MAX_PACKET)
		return -EMSGSIZE;
	for (;;) {
		ssize_t n = write(ep->slots[ep->tun_handle].fd, pkt, len);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static int tun_addr_check(struct io_epoll *ep, const struct io_addr *addr, int prefix_len)
{
	if (ep->tun_handle < 0)
		return -ENODEV;
	if (addr->family != IO_AF_INET && addr->family != IO_AF_INET6)
		return -EAFNOSUPPORT;
	if (prefix_len < 0 || prefix_len > (addr->family == IO_AF_INET ? 32 : 128))
		return -EINVAL;
	return 0;
}

/* Linux drops a device's routes when its last address of a family goes,
 * so the tailnet route is put back (idempotently, NLM_F_REPLACE) with
 * every address added: a data plane restarted on the device keeps it. */
static int epoll_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io_epoll *ep = to_epoll(io);
	int rc = tun_addr_check(ep, addr, prefix_len);

	if (rc < 0)
		return rc;
	rc = nl_addr(ep, true, addr, prefix_len);
	if (rc < 0)
		return rc;
	if (addr->family == IO_AF_INET) {
		uint32_t v4 = htonl(TAILNET_V4_PREFIX);
		(void)nl_route_add(ep, AF_INET, (const uint8_t *)&v4, TAILNET_V4_PREFIX_LEN);
	} else {
		static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
		(void)nl_route_add(ep, AF_INET6, v6, TAILNET_V6_PREFIX_LEN);
	}
	return 0;
}

static int epoll_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io_epoll *ep = to_epoll(io);
	int rc = tun_addr_check(ep, addr, prefix_len);

	return rc < 0 ? rc : nl_addr(ep, false, addr, prefix_len);
}

/* ---- time, chance, events --------------------------------------------- */

static uint64_t epoll_now_us(struct io *io)
{
	return to_epoll(io)->loop->now_us;
}

/* xoshiro256**: fast, seeded, good enough for jitter and choices. */
static uint64_t epoll_random_u64(struct io *io)
{
	return rng_next_u64(to_epoll(io)->rng);
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

static const struct io_ops epoll_ops = {
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
    .random_u64 = epoll_random_u64,
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

struct io *io_epoll_new(struct io_loop *loop, const struct io_epoll_config *cfg, int *err)
{
	CHECK(loop && cfg && cfg->node_name && err);
	unsigned max_handles = cfg->max_handles ? cfg->max_handles : IO_EPOLL_DEFAULT_HANDLES;
	int node_id = -1, rc;

	if (max_handles > IO_EPOLL_MAX_HANDLES) {
		*err = -EINVAL;
		return NULL;
	}
	max_handles = fit_fd_limit(max_handles);
	for (int i = 0; i < IO_LOOP_MAX_NODES && node_id < 0; i++)
		if (!loop->nodes[i])
			node_id = i;
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
	ep->max_handles = max_handles;
	ep->slots = calloc(max_handles, sizeof(*ep->slots));
	ep->deferred = calloc(max_handles, sizeof(*ep->deferred));
	ep->deferred_run = calloc(max_handles, sizeof(*ep->deferred_run));
	if (!ep->slots || !ep->deferred || !ep->deferred_run) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < max_handles; i++) {
		ep->slots[i].fd = -1;
		ep->slots[i].deferred_pos = -1;
		ep->slots[i].next_free = i + 1 < max_handles ? (int)i + 1 : -1;
	}
	ep->free_head = 0;
	ep->starve_timer.fn = starve_timer_fn;

	uint64_t seed = cfg->seed;
	if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = clock_now_us();
	rng_seed(ep->rng, seed);

	loop->nodes[node_id] = ep;
	rc = node_open_ns(ep, cfg->netns);
	if (rc < 0)
		goto out_free_node;
	if (cfg->tun_name) {
		rc = tun_setup(ep, cfg->tun_name);
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
			slot_close(ep, (int)h, false);
	/* Timers the owner left armed would fire into freed memory: drop them
	 * and rebuild the heap from what is left. */
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
