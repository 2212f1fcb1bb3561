/* TCP on ns-3 with Linux's behaviour where the daemon depends on it: a
 * reset told from a FIN or a timeout, a FIN sent only once the peer has
 * every byte, a RST for data to a closed connection, a reopened window
 * announced, a listen next to its predecessor's dying connections, and an
 * accept queue that resets what overflows it. */
#include "sim/ns3w/ns3w_int.h"

namespace ns3w_impl
{

void tcp_on_recv(Ptr<Glue> g, Ptr<Socket>)
{
	struct ns3w_sock *s = glue_sock(g);
	if (s)
		sock_post(s, NS3W_READABLE);
}

void tcp_fin_when_drained(const Ptr<Glue> &g, const Ptr<Socket> &so);

void tcp_on_send(Ptr<Glue> g, Ptr<Socket> so, uint32_t avail)
{
	struct ns3w_sock *s = glue_sock(g);
	if (s && s->want_write && avail > 0) {
		s->want_write = false;
		sock_post(s, NS3W_WRITABLE);
	}
	tcp_fin_when_drained(g, so);
}

void tcp_fail(struct ns3w_sock *s, int err)
{
	if (s->err)
		return;
	s->err = err;
	s->connecting = false;
	sock_post(s, NS3W_ERROR | NS3W_READABLE | NS3W_WRITABLE);
}

void tcp_on_connected(Ptr<Glue> g, Ptr<Socket>)
{
	struct ns3w_sock *s = glue_sock(g);
	if (!s || s->err)
		return;
	s->connecting = false;
	s->connected = true;
	if (s->shut_pending) {
		s->shut_pending = false;
		s->fin_deferred = true;
		tcp_fin_when_drained(g, s->s);
	}
	sock_post(s, NS3W_WRITABLE);
}

void tcp_on_connect_failed(Ptr<Glue> g, Ptr<Socket>)
{
	struct ns3w_sock *s = glue_sock(g);
	if (s)
		tcp_fail(s, -ETIMEDOUT); /* a RST was seen by tcp_on_rx first */
}

void tcp_on_normal_close(Ptr<Glue> g, Ptr<Socket>)
{
	struct ns3w_sock *s = glue_sock(g);
	if (!s || s->err)
		return;
	if (s->connecting) {
		tcp_fail(s, -ECONNREFUSED);
		return;
	}
	s->peer_fin = true;
	sock_post(s, NS3W_READABLE);
}

void tcp_on_error_close(Ptr<Glue> g, Ptr<Socket>)
{
	struct ns3w_sock *s = glue_sock(g);
	if (s)
		tcp_fail(s, s->connecting ? -ECONNREFUSED : -ETIMEDOUT);
}

/* Every received segment passes here before TCP processes it: the only
 * reliable way to tell a reset from a FIN or a timeout. */
void tcp_on_rx(Ptr<Glue> g, Ptr<const Packet>, const TcpHeader &h, Ptr<const TcpSocketBase> tcp)
{
	struct ns3w_sock *s = glue_sock(g);
	uint8_t flags = h.GetFlags();
	if (s && (flags & TcpHeader::RST))
		tcp_fail(s, s->connecting ? -ECONNREFUSED : -ECONNRESET);
	if ((flags & (TcpHeader::FIN | TcpHeader::ACK)) == (TcpHeader::FIN | TcpHeader::ACK) &&
	    !(flags & TcpHeader::RST) &&
	    (!g->peer_fin_acked || h.GetAckNumber() > g->peer_fin_ack)) {
		g->peer_fin_acked = true;
		g->peer_fin_ack = h.GetAckNumber();
		/* a close may be waiting for exactly this acknowledgment */
		Ptr<Socket> so = ConstCast<TcpSocketBase>(tcp);
		Simulator::ScheduleNow(&tcp_fin_when_drained, g, so);
	}
}

/* Every segment sent passes here. ns-3 3.37 takes only its pure ACKs for
 * the last ACK sent, and echoes a peer's timestamp only for a segment at
 * or below it (RFC 7323's TS.Recent rule): an end that always answers
 * with data (a map session's acknowledgments) then echoes one old
 * timestamp for ever, the peer measures round trips of many seconds and
 * its retransmission timeout grows to a minute, so a lost map update
 * waits that long. Found by the explore sweep: chaos-mixed seed 136. */
void tcp_on_tx(Ptr<const Packet>, const TcpHeader &h, Ptr<const TcpSocketBase> tcp)
{
	if (h.GetFlags() & TcpHeader::ACK)
		TcpPeek::ack_sent(PeekPointer(ConstCast<TcpSocketBase>(tcp)), h.GetAckNumber());
}

void tcp_set_callbacks(struct ns3w_sock *s)
{
	s->s->SetRecvCallback(MakeBoundCallback(&tcp_on_recv, s->glue));
	s->s->SetSendCallback(MakeBoundCallback(&tcp_on_send, s->glue));
	s->s->SetCloseCallbacks(MakeBoundCallback(&tcp_on_normal_close, s->glue),
	                        MakeBoundCallback(&tcp_on_error_close, s->glue));
	Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(s->s);
	NS3W_ASSERT(tcp);
	TcpPeek::connect_rx(PeekPointer(tcp), MakeBoundCallback(&tcp_on_rx, s->glue));
	TcpPeek::connect_tx(PeekPointer(tcp), MakeCallback(&tcp_on_tx));
}

void keep_alive(Ptr<Socket>)
{
}

bool tcp_has_endpoint(TcpSocket::TcpStates_t st)
{
	return st != TcpSocket::CLOSED && st != TcpSocket::LISTEN && st != TcpSocket::TIME_WAIT;
}

/* Holds `so` for NS3W_LINGER_US: called whenever the wrapper drops its last
 * reference to a TCP socket it may just have ended. */
void linger(const Ptr<Socket> &so)
{
	Simulator::Schedule(MicroSeconds((int64_t)NS3W_LINGER_US), &keep_alive, so);
}

bool tcp_tx_empty(const Ptr<Socket> &so)
{
	return static_cast<TcpSocketBase *>(PeekPointer(so))->GetTxBuffer()->Size() == 0;
}

/* Every byte queued was sent and acknowledged, counting the ACK a peer's
 * FIN carried (see Glue::peer_fin_ack). */
bool tcp_tx_acked(const Ptr<Glue> &g, const Ptr<Socket> &so)
{
	Ptr<TcpTxBuffer> tx = static_cast<TcpSocketBase *>(PeekPointer(so))->GetTxBuffer();
	return tx->Size() == 0 || (g->peer_fin_acked && g->peer_fin_ack >= tx->TailSequence());
}

/* Sends the FIN a shutdown or graceful close asked for, from its own event
 * (never inside ns-3's ACK processing). */
void tcp_fin_now(Ptr<Glue> g, Ptr<Socket> so)
{
	g->fin_ev = false;
	struct ns3w_sock *s = glue_sock(g);
	if (s && s->fin_deferred && !s->err) {
		s->fin_deferred = false;
		s->fin_sent = true;
		so->ShutdownSend();
	} else if (!s && g->close_pending) {
		g->close_pending = false;
		Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(so);
		if (tcp_has_endpoint(TcpPeek::state(PeekPointer(tcp))))
			so->Close();
		linger(so);
	}
}

/* ns-3 sends a FIN asked for while data is queued together with the last
 * segment and enters LAST_ACK (or CLOSING); there it takes any ACK for the
 * ACK of its FIN and ends the connection, so segments lost after that are
 * never retransmitted and the peer waits forever. A graceful close that
 * comes in LAST_ACK tears the connection down at once the same way. So
 * the wrapper hands ns-3 the FIN only once the peer acknowledged every
 * byte: the FIN then travels alone, one round trip after the data. Called
 * when a FIN is asked for and from the send callback (ACK progress). */
void tcp_fin_when_drained(const Ptr<Glue> &g, const Ptr<Socket> &so)
{
	struct ns3w_sock *s = glue_sock(g);
	if (s ? !s->fin_deferred : !g->close_pending)
		return;
	if (g->fin_ev || !tcp_tx_acked(g, so))
		return;
	g->fin_ev = true;
	Simulator::ScheduleNow(&tcp_fin_now, g, so);
}

void orphan_rst(Ptr<Socket> so)
{
	Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(so);
	if (tcp_has_endpoint(TcpPeek::state(PeekPointer(tcp))))
		TcpPeek::send_rst(PeekPointer(tcp));
	linger(so);
}

/* Data for a connection the C side closed has no reader: answer with a RST
 * as Linux does, so the peer's writes fail instead of vanishing. Sent from
 * its own event, never from inside ns-3's receive path. */
void orphan_on_recv(Ptr<Glue> g, Ptr<Socket> so)
{
	if (g->orphan_reset)
		return;
	g->orphan_reset = true;
	Simulator::ScheduleNow(&orphan_rst, so);
}

/* ns-3 is done with the connection: it gave back the endpoint (and with
 * it its own reference, TcpL4Protocol's list of sockets). Not the state:
 * a RST ns-3 sends (TcpPeek::send_rst, an abort or orphan_rst) and a
 * dropped SYN_SENT endpoint leave it as it was, ESTABLISHED or SYN_SENT. */
bool closing_gone(const Ptr<TcpSocketBase> &t)
{
	return !TcpPeek::has_endpoint(PeekPointer(t));
}

/* Holds the mark in the socket's data-sent callback (a slot the wrapper
 * leaves empty once the handle is closed); called when ns-3 reports
 * acknowledged data, with nothing to do. */
void closing_mark_hold(Ptr<ClosingMark>, Ptr<Socket>, uint32_t)
{
}

ClosingMark::~ClosingMark()
{
	if (!world)
		return;
	std::vector<ClosingMark *> &list = world->hosts[node].closing;
	NS3W_ASSERT(index < list.size() && list[index] == this);
	list[index] = list.back();
	list[index]->index = index;
	list.pop_back();
}

/* Puts `t` on its host's closing list for as long as the socket lives. The
 * list holds no reference: the entry's mark is held by the socket alone,
 * so ns-3 frees the socket when it is done with it (and the wrapper's
 * lingering events are), as it would any socket, and the mark takes the
 * entry off the list from the socket's destructor. (A list of references
 * kept what ns-3 let go of until a prune: 220 MiB of closed sockets after
 * 30 simulated seconds of rr-1k, and sockets ended by a RST for ever.) */
void closing_add(struct ns3w_world *w, int node, const Ptr<TcpSocketBase> &t)
{
	std::vector<ClosingMark *> &list = w->hosts[node].closing;
	Ptr<ClosingMark> m = Create<ClosingMark>();
	m->world = w;
	m->node = node;
	m->index = list.size();
	m->tcp = PeekPointer(t);
	list.push_back(PeekPointer(m));
	t->SetDataSentCallback(MakeBoundCallback(&closing_mark_hold, m));
}

/* Drops the endpoints of closing connections bound to ip:port on `node`;
 * returns how many. */
size_t closing_release(struct ns3w_world *w, int node, uint32_t ip, uint16_t port)
{
	/* Collected first: ns-3 lets go of a socket whose endpoint goes, and
	 * its mark then leaves the list (when `drop` goes, after the walk). */
	std::vector<Ptr<TcpSocketBase>> drop;
	for (ClosingMark *m : w->hosts[node].closing) {
		Ptr<TcpSocketBase> t = m->tcp;
		if (closing_gone(t))
			continue;
		Address a;
		bool match = t->GetSockName(a) == 0 && InetSocketAddress::IsMatchingType(a);
		if (match) {
			InetSocketAddress ia = InetSocketAddress::ConvertFrom(a);
			match = ia.GetPort() == port && (!ip || ia.GetIpv4().Get() == ip);
		}
		if (match)
			drop.push_back(t);
	}
	/* Their timers go with the endpoints: nothing of them runs again. */
	for (const Ptr<TcpSocketBase> &t : drop)
		TcpPeek::drop_endpoint(PeekPointer(t));
	return drop.size();
}

/* The TCP connection part of sock_detach: its socket `so` already cut
 * off the handle. */
void tcp_conn_detach(struct ns3w_sock *s, Ptr<Socket> so, bool abort_conn)
{
	Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(so);
	NS3W_ASSERT(tcp);
	TcpSocket::TcpStates_t st = TcpPeek::state(PeekPointer(tcp));
	bool has_endpoint = !s->err && tcp_has_endpoint(st);
	if (abort_conn && has_endpoint) {
		/* Linux answers nothing for an abort in SYN_SENT (no RST to a
		 * peer that never answered); ns-3 would send one. */
		if (st == TcpSocket::SYN_SENT)
			TcpPeek::drop_endpoint(PeekPointer(tcp));
		else
			TcpPeek::send_rst(PeekPointer(tcp));
	} else if (has_endpoint && !s->fin_sent) {
		/* Unread data makes ns-3 answer Close() with a RST at once (as
		 * Linux does); otherwise the FIN waits for the data (see
		 * tcp_fin_when_drained). */
		if (so->GetRxAvailable() > 0 || tcp_tx_empty(so) || st == TcpSocket::SYN_SENT ||
		    st == TcpSocket::SYN_RCVD) {
			so->Close();
		} else {
			s->glue->close_pending = true;
			tcp_fin_when_drained(s->glue, so);
		}
		so->SetRecvCallback(MakeBoundCallback(&orphan_on_recv, s->glue));
	} else if (has_endpoint) {
		/* Our FIN is out: ns-3 finishes on its own, and Close() in
		 * LAST_ACK or CLOSING would end the connection before the peer
		 * acknowledged it. */
		so->SetRecvCallback(MakeBoundCallback(&orphan_on_recv, s->glue));
	}
	if (!s->glue->close_pending)
		so->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
	if (has_endpoint && !closing_gone(tcp))
		closing_add(s->world, s->node, tcp);
	/* the socket frees itself once ns-3 is done with it; the wrapper's
	 * reference must not be the last one to go inside this event */
	linger(so);
}

/* ---- TCP accept ---- */

bool tcp_on_conn_request(Ptr<Glue> g, Ptr<Socket>, const Address &)
{
	struct ns3w_sock *l = glue_sock(g);
	return l && l->acceptq.size() < l->backlog;
}

void tcp_on_new_conn(Ptr<Glue> g, Ptr<Socket> child, const Address &)
{
	struct ns3w_sock *l = glue_sock(g);
	if (!l || l->acceptq.size() >= l->backlog) {
		/* SYNs are only turned away while the queue is full, so several
		 * handshakes racing for the last places can overshoot: reset the
		 * surplus (Linux's tcp_abort_on_overflow) rather than let clients
		 * believe in a connection nobody will accept. */
		Simulator::ScheduleNow(&orphan_rst, child);
		return;
	}
	struct ns3w_sock *c = sock_new(l->world, SOCK_TCP_CONN, l->node);
	c->s = child;
	c->connected = true;
	tcp_set_callbacks(c);
	l->acceptq.push_back(c);
	sock_post(l, NS3W_READABLE);
}

} // namespace ns3w_impl

/* ---- TCP ---- */

namespace
{
Ptr<Socket> tcp_socket(struct ns3w_world *w, int node)
{
	return Socket::CreateSocket(w->hosts[node].node, TcpSocketFactory::GetTypeId());
}

/* A socket for an outgoing connection: a copy of the node's template. */
Ptr<Socket> tcp_connect_socket(struct ns3w_world *w, int node)
{
	Host &h = w->hosts[node];
	if (!h.tcp_template) {
		h.tcp_template = DynamicCast<TcpSocketBase>(tcp_socket(w, node));
		h.tcp_l4 = h.node->GetObject<TcpL4Protocol>();
		NS3W_ASSERT(h.tcp_template && h.tcp_l4);
	}
	Ptr<TcpSocketBase> s = TcpPeek::fork(PeekPointer(h.tcp_template));
	h.tcp_l4->AddSocket(s);
	return s;
}
} // namespace

extern "C" struct ns3w_sock *ns3w_tcp_listen(struct ns3w_world *w, int node, uint32_t ip,
                                             uint16_t port, int backlog, ns3w_sock_fn fn, void *ctx,
                                             int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!node_valid(w, node) || !fn) {
		*err = -EINVAL;
		return nullptr;
	}
	Ptr<Socket> so = tcp_socket(w, node);
	int bound = so->Bind(InetSocketAddress(Ipv4Address(ip), port));
	if (bound < 0 && so->GetErrno() == Socket::ERROR_ADDRINUSE && port &&
	    closing_release(w, node, ip, port) > 0)
		bound = so->Bind(InetSocketAddress(Ipv4Address(ip), port));
	if (bound < 0 && so->GetErrno() == Socket::ERROR_ADDRINUSE && port) {
		Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(so);
		if (tcp && TcpPeek::bind_reuse(PeekPointer(tcp), Ipv4Address(ip), port))
			bound = 0;
	}
	if (bound < 0 || so->Listen() < 0) {
		*err = sock_errno(so);
		so->Close();
		return nullptr;
	}
	struct ns3w_sock *s = sock_new(w, SOCK_TCP_LISTEN, node);
	s->s = so;
	s->fn = fn;
	s->ctx = ctx;
	s->backlog = backlog <= 0 ? NS3W_DEFAULT_BACKLOG : std::min(backlog, NS3W_MAX_BACKLOG);
	so->SetAcceptCallback(MakeBoundCallback(&tcp_on_conn_request, s->glue),
	                      MakeBoundCallback(&tcp_on_new_conn, s->glue));
	*err = 0;
	return s;
}

extern "C" struct ns3w_sock *ns3w_tcp_connect(struct ns3w_world *w, int node, uint32_t dst_ip,
                                              uint16_t dst_port, uint32_t src_ip, ns3w_sock_fn fn,
                                              void *ctx, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!node_valid(w, node) || !fn || !dst_ip || !dst_port) {
		*err = -EINVAL;
		return nullptr;
	}
	if (!w->finalized) {
		*err = -EAGAIN;
		return nullptr;
	}
	if (!node_may_send_from(w, node, src_ip)) {
		*err = -EADDRNOTAVAIL;
		return nullptr;
	}
	Ptr<Socket> so = tcp_connect_socket(w, node);
	if (so->Bind(InetSocketAddress(Ipv4Address(src_ip), 0)) < 0) {
		*err = sock_errno(so);
		so->Close();
		return nullptr;
	}
	struct ns3w_sock *s = sock_new(w, SOCK_TCP_CONN, node);
	s->s = so;
	s->fn = fn;
	s->ctx = ctx;
	s->connecting = true;
	tcp_set_callbacks(s);
	so->SetConnectCallback(MakeBoundCallback(&tcp_on_connected, s->glue),
	                       MakeBoundCallback(&tcp_on_connect_failed, s->glue));
	Ns3wRouting *rt = PeekPointer(w->hosts[node].rt);
	rt->connect_src = src_ip; /* see Ns3wRouting::connect_src */
	int rc = so->Connect(InetSocketAddress(Ipv4Address(dst_ip), dst_port));
	rt->connect_src = 0;
	if (rc < 0) {
		/* no route: report it like any failed connect, later */
		tcp_fail(s, sock_errno(so) == -EHOSTUNREACH ? -EHOSTUNREACH : -ECONNREFUSED);
	}
	*err = 0;
	return s;
}

extern "C" struct ns3w_sock *ns3w_tcp_accept(struct ns3w_sock *l, ns3w_sock_fn fn, void *ctx,
                                             uint32_t *peer_ip, uint16_t *peer_port, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!l || l->kind != SOCK_TCP_LISTEN || !fn || l->closed) {
		*err = -EINVAL;
		return nullptr;
	}
	if (l->acceptq.empty()) {
		*err = -EAGAIN;
		return nullptr;
	}
	struct ns3w_sock *c = l->acceptq.front();
	l->acceptq.pop_front();
	c->fn = fn;
	c->ctx = ctx;
	uint32_t ip = 0;
	uint16_t port = 0;
	ns3w_sock_name(c, true, &ip, &port);
	if (peer_ip)
		*peer_ip = ip;
	if (peer_port)
		*peer_port = port;
	/* data, EOF or a reset may have come before the accept */
	if (c->pending || c->err || c->peer_fin || (c->s && c->s->GetRxAvailable() > 0))
		sock_post(c, NS3W_READABLE | (c->err ? (unsigned)NS3W_ERROR : 0u));
	*err = 0;
	return c;
}

extern "C" ssize_t ns3w_tcp_read(struct ns3w_sock *s, void *buf, size_t len)
{
	if (!s || s->kind != SOCK_TCP_CONN || s->closed || (!buf && len))
		return -EINVAL;
	if (s->err)
		return s->err;
	if (!len)
		return 0;
	if (s->s->GetRxAvailable() > 0) {
		TcpSocketBase *tcp = static_cast<TcpSocketBase *>(PeekPointer(s->s));
		uint32_t mss = s->world->config.tcp_mss;
		bool window_was_shut = TcpPeek::rx_space(tcp) < mss;
		int n = s->s->Recv((uint8_t *)buf, (uint32_t)std::min(len, NS3W_MAX_IO), 0);
		if (n > 0) {
			/* ns-3 sends no window update when the application reads;
			 * a sender stopped on a window below one segment (it
			 * probes only a window of exactly 0) would wait forever.
			 * Linux announces the reopened window, so do we. */
			if (window_was_shut && s->connected && !s->peer_fin &&
			    TcpPeek::rx_space(tcp) >= mss)
				TcpPeek::send_ack(tcp);
			return n;
		}
	}
	if (s->peer_fin)
		return 0;
	return -EAGAIN;
}

extern "C" ssize_t ns3w_tcp_write(struct ns3w_sock *s, const void *buf, size_t len)
{
	if (!s || s->kind != SOCK_TCP_CONN || s->closed || (!buf && len))
		return -EINVAL;
	if (s->err)
		return s->err;
	if (s->shut_wr)
		return -EPIPE;
	if (!len)
		return 0;
	uint32_t avail = s->s->GetTxAvailable();
	size_t n = std::min({len, (size_t)avail, NS3W_MAX_IO});
	if (!n) {
		s->want_write = true;
		return -EAGAIN;
	}
	int sent = s->s->Send(Create<Packet>((const uint8_t *)buf, (uint32_t)n), 0);
	if (sent < 0) {
		int e = sock_errno(s->s);
		if (e == -EAGAIN || e == -EMSGSIZE) {
			s->want_write = true;
			return -EAGAIN;
		}
		return e;
	}
	if ((size_t)sent < len)
		s->want_write = true;
	return sent;
}

extern "C" int ns3w_tcp_shutdown(struct ns3w_sock *s)
{
	if (!s || s->kind != SOCK_TCP_CONN || s->closed)
		return -EINVAL;
	if (s->err)
		return s->err;
	if (s->shut_wr)
		return 0;
	s->shut_wr = true;
	if (s->connecting) {
		s->shut_pending = true;
		return 0;
	}
	s->fin_deferred = true;
	tcp_fin_when_drained(s->glue, s->s);
	return 0;
}

extern "C" size_t ns3w_tcp_closed_alive(const struct ns3w_world *w)
{
	if (!w)
		return 0;
	size_t n = 0;
	for (const Host &h : w->hosts)
		n += h.closing.size();
	return n;
}
