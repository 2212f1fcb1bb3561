/* Handles (struct ns3w_sock): the world's list of them, readiness
 * delivered to C from events of their own (never inside ns-3's call stack),
 * closing a handle (cut off from ns-3 first), names, errno, and UDP. */
#include "sim/ns3w/ns3w_int.h"

namespace ns3w_impl
{

void sock_list_add(struct ns3w_world *w, struct ns3w_sock *s)
{
	s->prev = nullptr;
	s->next = w->socks;
	if (w->socks)
		w->socks->prev = s;
	w->socks = s;
}

void sock_list_del(struct ns3w_world *w, struct ns3w_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		w->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = nullptr;
}

void sock_free(struct ns3w_sock *s);

/* Delivers the pending readiness bits to the handle's callback. */
void sock_notify_fire(struct ns3w_sock *s)
{
	s->notify_ev = nullptr;
	unsigned ev = s->pending;
	s->pending = 0;
	if (!ev || s->closed)
		return;
	if (s->kind == SOCK_UDP) {
		s->in_cb++;
		while (!s->dgrams.empty() && !s->closed) {
			Datagram d = std::move(s->dgrams.front());
			s->dgrams.pop_front();
			if (s->dfn)
				s->dfn(s->ctx, s, d.data.data(), d.data.size(), d.ip, d.port);
		}
		s->in_cb--;
	} else if (s->fn) {
		s->in_cb++;
		s->fn(s->ctx, s, ev);
		s->in_cb--;
	}
	if (s->closed && !s->in_cb)
		sock_free(s);
}

/* Records readiness and makes sure one deliver event is on its way. A
 * handle without a callback (an unaccepted connection) keeps the bits. */
void sock_post(struct ns3w_sock *s, unsigned events)
{
	s->pending |= events;
	if (s->notify_ev || s->closed)
		return;
	if (s->kind != SOCK_UDP && !s->fn)
		return;
	s->notify_ev = schedule_ctx(s->world, s->node, 0, &sock_notify_fire, s);
}

struct ns3w_sock *sock_new(struct ns3w_world *w, enum sock_kind kind, int node)
{
	struct ns3w_sock *s = new ns3w_sock;
	s->world = w;
	s->kind = kind;
	s->node = node;
	s->glue = Create<Glue>();
	s->glue->sock = s;
	sock_list_add(w, s);
	return s;
}

void sock_free(struct ns3w_sock *s)
{
	sock_list_del(s->world, s);
	delete s;
}

/* Cuts the handle off ns-3 (no callback can reach it afterwards) and
 * closes the ns-3 socket gracefully or with a RST. */
void sock_detach(struct ns3w_sock *s, bool abort_conn)
{
	s->glue->sock = nullptr;
	if (s->notify_ev) {
		s->notify_ev->Cancel();
		s->notify_ev = nullptr;
	}
	s->pending = 0;
	s->dgrams.clear();
	while (!s->acceptq.empty()) {
		struct ns3w_sock *c = s->acceptq.front();
		s->acceptq.pop_front();
		sock_detach(c, true);
		sock_free(c);
	}
	Ptr<Socket> so = s->s;
	if (!so)
		return;
	s->s = nullptr;
	so->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
	if (s->kind != SOCK_TCP_CONN)
		so->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
	so->SetDataSentCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
	if (s->kind == SOCK_UDP) {
		so->Close();
		return;
	}
	so->SetConnectCallback(MakeNullCallback<void, Ptr<Socket>>(),
	                       MakeNullCallback<void, Ptr<Socket>>());
	so->SetCloseCallbacks(MakeNullCallback<void, Ptr<Socket>>(),
	                      MakeNullCallback<void, Ptr<Socket>>());
	if (s->kind == SOCK_TCP_LISTEN) {
		so->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address &>(),
		                      MakeNullCallback<void, Ptr<Socket>, const Address &>());
		so->Close();
		return;
	}
	tcp_conn_detach(s, so, abort_conn);
}

int sock_errno(Ptr<Socket> so)
{
	switch (so->GetErrno()) {
	case Socket::ERROR_NOTERROR:
		return -EIO;
	case Socket::ERROR_ISCONN:
		return -EISCONN;
	case Socket::ERROR_NOTCONN:
		return -ENOTCONN;
	case Socket::ERROR_MSGSIZE:
		return -EMSGSIZE;
	case Socket::ERROR_AGAIN:
		return -EAGAIN;
	case Socket::ERROR_SHUTDOWN:
		return -EPIPE;
	case Socket::ERROR_OPNOTSUPP:
		return -EOPNOTSUPP;
	case Socket::ERROR_AFNOSUPPORT:
		return -EAFNOSUPPORT;
	case Socket::ERROR_INVAL:
		return -EINVAL;
	case Socket::ERROR_BADF:
		return -EBADF;
	case Socket::ERROR_NOROUTETOHOST:
		return -EHOSTUNREACH;
	case Socket::ERROR_NODEV:
		return -ENODEV;
	case Socket::ERROR_ADDRNOTAVAIL:
		return -EADDRNOTAVAIL;
	case Socket::ERROR_ADDRINUSE:
		return -EADDRINUSE;
	default:
		return -EIO;
	}
}

/* Whether a valid `node` may send from `ip`: 0 (any) or one of its
 * addresses. Listening and UDP sockets may bind an address before the node
 * holds it (a VIP; the epoll backend uses IP_FREEBIND), but like Linux
 * nothing leaves from an address the node lacks. */
bool node_may_send_from(const struct ns3w_world *w, int node, uint32_t ip)
{
	return !ip || w->hosts[node].rt->local_if(ip) >= 0;
}

void udp_on_recv(Ptr<Glue> g, Ptr<Socket> so)
{
	Address from;
	Ptr<Packet> p;
	while ((p = so->RecvFrom(from))) {
		struct ns3w_sock *s = glue_sock(g);
		if (!s)
			continue; /* drain and drop */
		if (s->dgrams.size() >= NS3W_MAX_QUEUED)
			continue;
		Datagram d;
		d.data.resize(p->GetSize());
		p->CopyData(d.data.data(), p->GetSize());
		if (InetSocketAddress::IsMatchingType(from)) {
			InetSocketAddress a = InetSocketAddress::ConvertFrom(from);
			d.ip = a.GetIpv4().Get();
			d.port = a.GetPort();
		}
		s->dgrams.push_back(std::move(d));
		sock_post(s, NS3W_READABLE);
	}
}

} // namespace ns3w_impl

/* ---- UDP ---- */

extern "C" struct ns3w_sock *ns3w_udp_open(struct ns3w_world *w, int node, uint32_t ip,
                                           uint16_t port, ns3w_dgram_fn fn, void *ctx, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!node_valid(w, node) || !fn) {
		*err = -EINVAL;
		return nullptr;
	}
	Ptr<Socket> so = Socket::CreateSocket(w->hosts[node].node, UdpSocketFactory::GetTypeId());
	if (so->Bind(InetSocketAddress(Ipv4Address(ip), port)) < 0) {
		*err = sock_errno(so);
		so->Close();
		return nullptr;
	}
	struct ns3w_sock *s = sock_new(w, SOCK_UDP, node);
	s->s = so;
	s->dfn = fn;
	s->ctx = ctx;
	s->bound_ip = ip;
	so->SetRecvCallback(MakeBoundCallback(&udp_on_recv, s->glue));
	*err = 0;
	return s;
}

extern "C" int ns3w_udp_send(struct ns3w_sock *s, const void *data, size_t len, uint32_t dst_ip,
                             uint16_t dst_port)
{
	if (!s || s->kind != SOCK_UDP || s->closed || (!data && len) || !dst_port)
		return -EINVAL;
	if (len > 65507)
		return -EMSGSIZE;
	if (!s->world->finalized)
		return -EAGAIN;
	if (!node_may_send_from(s->world, s->node, s->bound_ip))
		return -EADDRNOTAVAIL;
	Ptr<Packet> p = Create<Packet>((const uint8_t *)data, (uint32_t)len);
	if (s->s->SendTo(p, 0, InetSocketAddress(Ipv4Address(dst_ip), dst_port)) < 0)
		return sock_errno(s->s);
	return 0;
}

extern "C" int ns3w_sock_name(struct ns3w_sock *s, bool peer, uint32_t *ip, uint16_t *port)
{
	if (!s || s->closed)
		return -EINVAL;
	if (!s->s)
		return -ENOTCONN;
	Address a;
	int r = peer ? s->s->GetPeerName(a) : s->s->GetSockName(a);
	if (r < 0 || !InetSocketAddress::IsMatchingType(a))
		return peer ? -ENOTCONN : -EINVAL;
	InetSocketAddress in = InetSocketAddress::ConvertFrom(a);
	if (ip)
		*ip = in.GetIpv4().Get();
	if (port)
		*port = in.GetPort();
	return 0;
}

extern "C" int ns3w_sock_close(struct ns3w_sock *s, bool abort_conn)
{
	if (!s || s->closed)
		return -EINVAL;
	sock_detach(s, abort_conn);
	s->closed = true;
	if (!s->in_cb)
		sock_free(s);
	return 0;
}
