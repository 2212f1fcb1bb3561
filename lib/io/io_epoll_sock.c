/* The epoll backend's handles (see io.h for the contract): the handle
 * table with its generations (stale readiness is told from live), sockets
 * created in the node's namespace, readiness turned into seam events,
 * notifications an op causes deferred to the loop, and the TCP and UDP
 * ops. The TUN device's fd is a handle too (read here by tun_drain). */
#define _GNU_SOURCE
#include "lib/io/io_epoll_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_EPOLL_MAX_BACKLOG 4096
/* How soon a listener starved by the kernel's descriptor limit tries again. */
#define IO_EPOLL_STARVE_RETRY_US (100u * 1000u)

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

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

int ep_ns_enter(struct io_epoll *ep)
{
	if (ep->target_ns < 0)
		return 0;
	if (setns(ep->target_ns, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

/* Failing to return leaves the thread in the wrong world: crash. */
void ep_ns_leave(struct io_epoll *ep)
{
	if (ep->target_ns < 0)
		return;
	CHECK(setns(ep->home_ns, CLONE_NEWNET) == 0);
}

/* A non-blocking close-on-exec socket created in the node's namespace. */
static int sock_open(struct io_epoll *ep, int domain, int type, int protocol)
{
	int rc = ep_ns_enter(ep);
	if (rc < 0)
		return rc;
	int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	int err = errno;
	ep_ns_leave(ep);
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

/* Closes fd after a failed call; returns that call's -errno. */
static int sock_fail(int fd)
{
	int err = errno;

	close(fd);
	return -err;
}

/* A socket of `type` bound to `local`: a TCP one with SO_REUSEADDR and
 * TCP_NODELAY, an IPv6 one v6-only, any of them allowed a non-local
 * address (freebind); listening when backlog > 0. The fd, or -errno. */
static int sock_open_bound(struct io_epoll *ep, const struct io_addr *local, int type, int backlog)
{
	struct sockaddr_storage ss;
	int sl = addr_to_sockaddr(local, &ss);

	if (sl < 0)
		return sl;
	int fd = sock_open(ep, ss.ss_family, type, 0);
	if (fd < 0)
		return fd;
	if (type == SOCK_STREAM) {
		sock_set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
		sock_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	}
	if (ss.ss_family == AF_INET6)
		sock_set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	sock_set_freebind(fd, ss.ss_family);
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0))
		return sock_fail(fd);
	return fd;
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

void ep_starve_timer_fn(struct io_timer *timer)
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
int ep_slot_install(struct io_epoll *ep, int fd, enum epoll_slot_kind kind, uint32_t events)
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

bool ep_slot_alive(struct io_epoll *ep, int h, uint32_t gen)
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
			if (!ep_slot_alive(ep, h, gen))
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

void ep_slot_dispatch_epoll(struct io_epoll *ep, int h, uint32_t ev)
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
void ep_node_run_deferred(struct io_epoll *ep)
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
		if (ep_slot_alive(ep, d->handle, d->gen))
			slot_dispatch_deferred(ep, d->handle, d->events);
	}
}

/* A socket from sock_open_bound in a new slot of `kind` that waits for
 * input, with ctx for its callback (the caller sets the callback). The
 * handle, or -errno. */
static int slot_open_bound(struct io_epoll *ep, const struct io_addr *local, int type, int backlog,
                           enum epoll_slot_kind kind, void *ctx)
{
	int fd = sock_open_bound(ep, local, type, backlog);
	if (fd < 0)
		return fd;
	int h = ep_slot_install(ep, fd, kind, EPOLLIN);
	if (h >= 0)
		ep->slots[h].ctx = ctx;
	return h;
}

/* ---- TCP ------------------------------------------------------------- */

int epoll_tcp_listen(struct io *io, const struct io_addr *local, int backlog, io_sock_fn fn,
                     void *ctx)
{
	struct io_epoll *ep = to_epoll(io);

	if (backlog < 1)
		backlog = 1;
	if (backlog > IO_EPOLL_MAX_BACKLOG)
		backlog = IO_EPOLL_MAX_BACKLOG;
	int h = slot_open_bound(ep, local, SOCK_STREAM, backlog, SLOT_LISTENER, ctx);
	if (h >= 0)
		ep->slots[h].sock_fn = fn;
	return h;
}

int epoll_tcp_connect(struct io *io, const struct io_addr *remote, const struct io_addr *local,
                      io_sock_fn fn, void *ctx)
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
		if (bind(fd, (struct sockaddr *)&ls, (socklen_t)ll) < 0)
			return sock_fail(fd);
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
	int h = ep_slot_install(ep, fd, SLOT_CONN, err ? 0 : EPOLLIN | EPOLLOUT | EPOLLRDHUP);
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

int epoll_tcp_accept(struct io *io, int listener, struct io_addr *peer, io_sock_fn fn, void *ctx)
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
		int h = ep_slot_install(ep, fd, SLOT_CONN, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
		if (h < 0)
			return h;
		ep->slots[h].sock_fn = fn;
		ep->slots[h].ctx = ctx;
		return h;
	}
	return -EAGAIN;
}

/* The connection behind `handle` in *out, or why it cannot be used:
 * -EBADF (no connection) or the error it already met. */
static int conn_usable(struct io_epoll *ep, int handle, struct epoll_slot **out)
{
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind != SLOT_CONN)
		return -EBADF;
	if (s->error)
		return s->error;
	*out = s;
	return 0;
}

/* A read or write failed with err: a connection failure stays with the
 * connection (later calls report it). Returns -err. */
static ssize_t conn_failed(struct epoll_slot *s, int err)
{
	if (errno_is_connection_failure(err)) {
		s->error = -err;
		s->connecting = false;
	}
	return -err;
}

ssize_t epoll_tcp_read(struct io *io, int handle, void *buf, size_t len)
{
	struct epoll_slot *s = NULL;
	int rc = conn_usable(to_epoll(io), handle, &s);

	if (rc)
		return rc;
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
		return conn_failed(s, err);
	}
}

ssize_t epoll_tcp_write(struct io *io, int handle, const void *buf, size_t len)
{
	struct epoll_slot *s = NULL;
	int rc = conn_usable(to_epoll(io), handle, &s);

	if (rc)
		return rc;
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
		return conn_failed(s, err);
	}
}

int epoll_tcp_shutdown(struct io *io, int handle)
{
	struct epoll_slot *s = NULL;
	int rc = conn_usable(to_epoll(io), handle, &s);

	if (rc)
		return rc;
	if (shutdown(s->fd, SHUT_WR) < 0)
		return -errno;
	return 0;
}

int epoll_sock_name(struct io *io, int handle, bool peer, struct io_addr *out)
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

int epoll_udp_open(struct io *io, const struct io_addr *local, io_dgram_fn fn, void *ctx)
{
	struct io_epoll *ep = to_epoll(io);

	if (!local)
		return -EINVAL;
	int h = slot_open_bound(ep, local, SOCK_DGRAM, 0, SLOT_UDP, ctx);
	if (h >= 0)
		ep->slots[h].dgram_fn = fn;
	return h;
}

int epoll_udp_send(struct io *io, int handle, const void *data, size_t len,
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

void ep_slot_close(struct io_epoll *ep, int h, bool abort_conn)
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

int epoll_close(struct io *io, int handle, bool abort)
{
	struct io_epoll *ep = to_epoll(io);
	struct epoll_slot *s = slot_get(ep, handle);

	if (!s || s->kind == SLOT_TUN)
		return -EBADF;
	ep_slot_close(ep, handle, abort);
	return 0;
}
