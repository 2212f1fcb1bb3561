/* The epoll backend's TUN device (see io.h): opened in the node's
 * namespace, brought up and routed over rtnetlink (the tailnet prefixes go
 * to it; addresses come and go with the data plane). Packets the device
 * delivers are read by the handle dispatch (io_epoll_sock.c). */
#define _GNU_SOURCE
#include "lib/io/io_epoll_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_EPOLL_NL_BUF 1024

/* The tailnet prefixes routed to the TUN device. */
#define TAILNET_V4_PREFIX     0x64400000u /* 100.64.0.0 */
#define TAILNET_V4_PREFIX_LEN 10
#define TAILNET_V6_PREFIX_LEN 48

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
int ep_tun_setup(struct io_epoll *ep, const char *name)
{
	struct ifreq ifr;

	if (strlen(name) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	int rc = ep_ns_enter(ep);
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
	ep_ns_leave(ep);
	if (err) {
		if (fd >= 0)
			close(fd);
		return -err;
	}
	struct timeval tv = {.tv_sec = 2};
	(void)setsockopt(ep->nl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	int h = ep_slot_install(ep, fd, SLOT_TUN, EPOLLIN);
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
		io_event(&ep->io, "tun_ipv6_unavailable", IO_I64("errno", -rc));
	return 0;
}

/* fn == NULL detaches (see io.h): tun_drain keeps reading the device and
 * drops what it reads, so the kernel queue cannot fill up meanwhile. */
int epoll_tun_attach(struct io *io, io_packet_fn fn, void *ctx)
{
	struct io_epoll *ep = to_epoll(io);

	if (ep->tun_handle < 0)
		return -ENODEV;
	ep->tun_fn = fn;
	ep->tun_ctx = fn ? ctx : NULL;
	return 0;
}

int epoll_tun_write(struct io *io, const void *pkt, size_t len)
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
int epoll_tun_addr_add(struct io *io, const struct io_addr *addr, int prefix_len)
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

int epoll_tun_addr_del(struct io *io, const struct io_addr *addr, int prefix_len)
{
	struct io_epoll *ep = to_epoll(io);
	int rc = tun_addr_check(ep, addr, prefix_len);

	return rc < 0 ? rc : nl_addr(ep, false, addr, prefix_len);
}
