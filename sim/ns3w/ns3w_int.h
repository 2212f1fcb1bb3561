/* Internal to ns3w (C++ only): what the wrapper's files share behind the
 * one C header ns3w.h. The types the C handles hide (struct ns3w_world,
 * ns3w_sock, ns3w_timer), the per-node and per-link state, the routing
 * protocol, the access to TcpSocketBase's protected members, and the
 * helpers each file offers the others.
 *
 * Shape of the world: one ns-3 Node per region router and per host, a
 * point-to-point link per host (host <-> its router) and per region link
 * (router <-> router). Addresses are assigned by hand (no Ipv4AddressHelper,
 * so no traffic-control queue discs) and routing is Ns3wRouting
 * (ns3w_routing.cc): arithmetic/hash lookups instead of ns-3's linear static
 * routes.
 *
 * Callbacks into C only ever run from events the wrapper schedules itself
 * (zero-delay "deliver" events, schedule_ctx): never inside an ns-3 call
 * stack and never inside the C call that caused them. So C code may close,
 * abort or free anything from a callback, and ns-3 objects are never
 * destroyed under their own feet.
 *
 * The files: ns3w_world.cc (the world and its topology), ns3w_routing.cc,
 * ns3w_time.cc (running time, timers), ns3w_sock.cc (handles, deferred
 * delivery, UDP), ns3w_tcp.cc (TCP), ns3w_tun.cc (tailnet devices),
 * ns3w_pcap.cc (captures), ns3w_tcp_fix.cc (the fix to ns-3's TCP).
 */
#ifndef SIM_NS3W_NS3W_INT_H
#define SIM_NS3W_NS3W_INT_H

#include "sim/ns3w/ns3w.h"

#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>
#include <ns3/virtual-net-device-module.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

/* GCC 12 flags ns-3's Ptr release inside Callback::Bind as use-after-free;
 * it is a false positive of the inliner, not our code. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#define NS3W_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "ns3w: assertion failed: %s (%s:%d)\n", #c, __FILE__,      \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Private to the wrapper's .cc files: ns-3's names unqualified. */
using namespace ns3;

namespace ns3w_impl
{

constexpr uint32_t NS3W_TAILNET_NET = 0x64400000u;  /* 100.64.0.0 */
constexpr uint32_t NS3W_TAILNET_MASK = 0xffc00000u; /* /10 */
constexpr uint32_t NS3W_HOST_BASE = 0x0a000000u;    /* 10.0.0.0 + n + 1 */
constexpr uint32_t NS3W_ROUTER_BASE = 0x0b000000u;  /* 11.0.0.0 + n + 1 */
constexpr uint32_t NS3W_RLINK_BASE = 0x0c000000u;   /* 12.0.0.0 + 4k + 1/2 */
constexpr int NS3W_MAX_REGIONS = 256;
constexpr int NS3W_MAX_REGION_LINKS = 4096;
constexpr int NS3W_MAX_NODES = 1 << 22;
/* QualityChannel's random streams, after LinkDrop's (2 per link). */
constexpr int64_t NS3W_QUALITY_STREAM_BASE = 2 * ((int64_t)NS3W_MAX_NODES + NS3W_MAX_REGION_LINKS);
constexpr int NS3W_MAX_BACKLOG = 4096;
constexpr int NS3W_DEFAULT_BACKLOG = 128;
constexpr size_t NS3W_MAX_QUEUED = 1024; /* datagrams/packets waiting for delivery per handle */
constexpr size_t NS3W_MAX_IO = 1u << 20; /* bytes moved per read/write call */
constexpr size_t NS3W_MAX_PACKET = 65535;
constexpr uint64_t NS3W_DEFAULT_BPS = 10000000000ull;
/* Room for a full 1500-byte tailnet packet plus the overlay's UDP/IP and a
 * small daemon header, so the underlay never fragments overlay traffic. */
constexpr uint16_t NS3W_UNDERLAY_MTU = 1600;
constexpr uint16_t NS3W_TUN_MTU = 1500;
constexpr uint32_t NS3W_DEVICE_QUEUE_PACKETS = 1000;
/* How long a TCP socket the C side let go of is held after the wrapper's
 * last call into it. ns-3 schedules events on a socket by raw pointer
 * (NotifyDataSent, NotifySend: now; SendPendingData: one time step later)
 * and does not cancel all of them when the connection ends, so the last
 * reference must not drop inside the event that ended it. */
constexpr uint64_t NS3W_LINGER_US = 1000;

/* Drops every packet while its link is down, else a `loss` fraction. */
class LinkDrop : public ErrorModel
{
public:
	static TypeId GetTypeId();
	bool down = false;
	double loss = 0.0;
	Ptr<UniformRandomVariable> rv;

private:
	bool DoCorrupt(Ptr<Packet>) override
	{
		if (down)
			return true;
		if (loss <= 0.0)
			return false;
		if (loss >= 1.0)
			return true;
		return rv->GetValue() < loss;
	}
	void DoReset() override
	{
	}
};

/* A point-to-point channel whose delay varies per packet (jitter, held
 * back packets, duplicates: ns3w_link_params). With all three 0 it is
 * PointToPointChannel itself: the same events, no draw. Draws come from
 * one stream per direction (fixed numbers, as LinkDrop's), created at
 * the first need, so the same seed gives the same packets. Unlike the
 * base class it fires no TxRxPointToPoint trace (netanim only) for the
 * packets it varies. */
class QualityChannel : public PointToPointChannel
{
public:
	static TypeId GetTypeId();
	uint64_t jitter_us = 0;
	double reorder = 0.0, duplicate = 0.0;
	int64_t stream = 0; /* of the direction from device 0; +1 the other */
	Ptr<UniformRandomVariable> rv[2];

	bool TransmitStart(Ptr<const Packet> p, Ptr<PointToPointNetDevice> src,
	                   Time txTime) override;
};

class Ns3wRouting;

/* ns-3 callbacks hold this, not the C handle: closing a handle clears
 * `sock`, so a late ns-3 callback finds nothing to call. */
struct Glue : public SimpleRefCount<Glue> {
	struct ns3w_sock *sock = nullptr;
	bool orphan_reset = false; /* a closed connection got data: RST sent */
	/* closed gracefully with data unacknowledged: Close() (the FIN) waits
	 * until the peer acknowledged everything (see tcp_fin_when_drained) */
	bool close_pending = false;
	bool fin_ev = false; /* a tcp_fin_now event is on its way */
	/* The acknowledgment a peer's FIN carried. ns-3 does not process the
	 * ACK field of a FIN|ACK segment in ESTABLISHED: the data it covers
	 * stays "unacknowledged" until a retransmission timeout, and a close
	 * waiting for it (tcp_fin_when_drained) would wait with it. */
	bool peer_fin_acked = false;
	SequenceNumber32 peer_fin_ack;
};

/* An entry of Host::closing, owned by its socket alone (bound into the
 * socket's data-sent callback): the socket's destructor frees it, and it
 * takes the entry off the list. `world` null: the list is gone (world
 * freed), nothing to take off. */
struct ClosingMark : public SimpleRefCount<ClosingMark> {
	struct ns3w_world *world = nullptr;
	int node = -1;
	size_t index = 0; /* in world->hosts[node].closing */
	TcpSocketBase *tcp = nullptr;
	~ClosingMark();
};

struct Datagram {
	std::vector<uint8_t> data;
	uint32_t ip = 0;
	uint16_t port = 0;
};

struct Link {
	bool region_link = false;
	int index = -1; /* region link k or host n */
	Ptr<PointToPointNetDevice> dev[2];
	Ptr<QualityChannel> ch;
	Ptr<LinkDrop> drop[2];
	struct ns3w_link_params params = {};
	bool up = true;
};

struct RegionLink {
	int a = -1, b = -1, link = -1;
	uint32_t if_a = 0, if_b = 0;
	Ptr<Ipv4Route> from_a, from_b; /* router routes out over this link */
};

struct Region {
	Ptr<Node> node;
	Ptr<Ipv4L3Protocol> ip;
	Ptr<Ns3wRouting> rt;
};

struct Tun {
	Ptr<VirtualNetDevice> dev;
	uint32_t ifindex = 0;
	ns3w_packet_fn fn = nullptr;
	void *ctx = nullptr;
	std::deque<std::vector<uint8_t>> queue;
	Ptr<EventImpl> flush_ev;
	Ptr<PcapFileWrapper> pcap;
	std::string pcap_path;
};

struct Host {
	int region = -1;
	int link = -1;
	Ptr<Node> node;
	Ptr<Ns3wRouting> rt;
	uint32_t access_if = 0; /* on the host */
	uint32_t router_if = 0; /* on the router */
	Ptr<Ipv4Route> from_router;
	std::unique_ptr<Tun> tun;
	Ptr<PcapFileWrapper> pcap;
	std::string pcap_path;
	/* Connections the wrapper closed while ns-3 still held their endpoint
	 * (FIN_WAIT, LAST_ACK, TIME_WAIT...): a listen on their local address
	 * drops them, as Linux's SO_REUSEADDR lets a restarted server bind
	 * next to its predecessor's dying connections. Each entry leaves the
	 * list when its socket is freed (see ClosingMark). */
	std::vector<ClosingMark *> closing;
	/* A never-used socket new connecting sockets are copied from: ns-3's
	 * Socket::CreateSocket builds every part through the attribute system
	 * (about a quarter of a short connection's cost); a copy does not. */
	Ptr<TcpSocketBase> tcp_template;
	Ptr<TcpL4Protocol> tcp_l4;
};

/* The routing protocol of every node (see the file comment). */
class Ns3wRouting : public Ipv4RoutingProtocol
{
public:
	static TypeId GetTypeId();

	struct ns3w_world *world = nullptr;
	int host = -1;   /* host index, or -1 on a router */
	int region = -1; /* router's region (routers only) */
	Ptr<Ipv4> ipv4;
	/* Addresses of this node not covered by the arithmetic scheme. */
	std::vector<std::pair<uint32_t, uint32_t>> locals;
	Ptr<Ipv4Route> access_route, tun_route;
	/* Copies of access_route/tun_route with another local source, for
	 * sockets bound to that address. At most two per local address; emptied
	 * whenever an address comes or goes. */
	struct SrcRoute {
		uint32_t src;
		bool tun;
		Ptr<Ipv4Route> route;
	};
	std::vector<SrcRoute> src_routes;
	/* Address the TCP socket now connecting is bound to (0: none). ns-3's
	 * TcpSocketBase::SetupEndpoint asks for a route with no source in the
	 * header and then takes the route's source as its local address, which
	 * would silently rebind it: ns3w_tcp_connect sets this around Connect(). */
	uint32_t connect_src = 0;

	Ptr<Ipv4Route> RouteOutput(Ptr<Packet> p, const Ipv4Header &header, Ptr<NetDevice> oif,
	                           Socket::SocketErrno &sockerr) override;
	bool RouteInput(Ptr<const Packet> p, const Ipv4Header &header, Ptr<const NetDevice> idev,
	                UnicastForwardCallback ucb, MulticastForwardCallback mcb,
	                LocalDeliverCallback lcb, ErrorCallback ecb) override;
	void NotifyInterfaceUp(uint32_t) override
	{
	}
	void NotifyInterfaceDown(uint32_t) override
	{
	}
	void NotifyAddAddress(uint32_t interface, Ipv4InterfaceAddress address) override;
	void NotifyRemoveAddress(uint32_t interface, Ipv4InterfaceAddress address) override;
	void SetIpv4(Ptr<Ipv4> ip) override;
	void PrintRoutingTable(Ptr<OutputStreamWrapper> stream, Time::Unit) const override
	{
		*stream->GetStream()
		    << "ns3w routing (host " << host << ", region " << region << ")\n";
	}

	int64_t local_if(uint32_t ip) const;
	Ptr<Ipv4Route> router_route(uint32_t dst) const;
	Ptr<Ipv4Route> local_route(uint32_t dst, uint32_t src, uint32_t ifindex) const;
	Ptr<Ipv4Route> with_source(const Ptr<Ipv4Route> &base, bool tun, uint32_t src);

protected:
	void DoDispose() override
	{
		ipv4 = nullptr;
		access_route = nullptr;
		tun_route = nullptr;
		src_routes.clear();
		Ipv4RoutingProtocol::DoDispose();
	}
};

class Ns3wRoutingHelper : public Ipv4RoutingHelper
{
public:
	Ns3wRoutingHelper *Copy() const override
	{
		return new Ns3wRoutingHelper(*this);
	}
	Ptr<Ipv4RoutingProtocol> Create(Ptr<Node>) const override
	{
		return CreateObject<Ns3wRouting>();
	}
};

/* Reaches two protected members of TcpSocketBase: forming the member
 * pointer through a derived class is allowed, using it on a base object too. */
struct TcpPeek : public TcpSocketBase {
	static void send_rst(TcpSocketBase *s)
	{
		(s->*(&TcpPeek::SendRST))();
	}
	/* what SendRST does, without the RST */
	static void drop_endpoint(TcpSocketBase *s)
	{
		(s->*(&TcpPeek::DeallocateEndPoint))();
	}
	/* receive-buffer space this end would advertise, in bytes */
	static uint32_t rx_space(TcpSocketBase *s)
	{
		Ptr<TcpRxBuffer> rb = (s->*(&TcpPeek::m_tcb))->m_rxBuffer;
		return rb->MaxBufferSize() - std::min(rb->MaxBufferSize(), rb->Size());
	}
	static void send_ack(TcpSocketBase *s)
	{
		(s->*(&TcpPeek::SendEmptyPacket))(TcpHeader::ACK);
	}
	/* a new closed socket with the template's settings (see Host) */
	static Ptr<TcpSocketBase> fork(TcpSocketBase *tmpl)
	{
		Ptr<TcpSocketBase> s = (tmpl->*(&TcpPeek::Fork))();
		/* the copy would keep calling the template's SendEmptyPacket */
		Ptr<TcpSocketState> tcb = PeekPointer(s)->*(&TcpPeek::m_tcb);
		tcb->m_sendEmptyPacketCallback =
		    MakeCallback(&TcpPeek::SendEmptyPacket, PeekPointer(s));
		return s;
	}
	/* Bind as Linux does with SO_REUSEADDR (which the epoll backend
	 * sets): only another listener on ip:port (an endpoint with a wildcard
	 * peer) refuses it. ns-3's Bind also refuses while connections of an
	 * earlier listener still hold the port: children still in SYN_RCVD
	 * after it closed (a crashed daemon's) keep it for seconds. */
	static bool bind_reuse(TcpSocketBase *s, Ipv4Address ip, uint16_t port)
	{
		Ptr<TcpL4Protocol> tcp = s->*(&TcpPeek::m_tcp);
		Ipv4EndPoint *ep =
		    tcp->Allocate(s->GetBoundNetDevice(), ip, port, Ipv4Address::GetAny(), 0);
		if (!ep)
			return false;
		s->*(&TcpPeek::m_endPoint) = ep;
		return (s->*(&TcpPeek::SetupCallback))() == 0;
	}
	/* ns-3 still holds the connection (DeallocateEndPoint not yet run) */
	static bool has_endpoint(TcpSocketBase *s)
	{
		return s->*(&TcpPeek::m_endPoint) || s->*(&TcpPeek::m_endPoint6);
	}
	static TcpSocket::TcpStates_t state(TcpSocketBase *s)
	{
		return (s->*(&TcpPeek::m_state)).Get();
	}
	/* the "Rx" trace source without the by-name lookup (a visible cost
	 * when thousands of connections open per simulated second) */
	template <typename CB> static void connect_rx(TcpSocketBase *s, const CB &cb)
	{
		(s->*(&TcpPeek::m_rxTrace)).ConnectWithoutContext(cb);
	}
	template <typename CB> static void connect_tx(TcpSocketBase *s, const CB &cb)
	{
		(s->*(&TcpPeek::m_txTrace)).ConnectWithoutContext(cb);
	}
	/* an ACK went out (with data or without): Last.ACK.sent of RFC 7323 */
	static void ack_sent(TcpSocketBase *s, SequenceNumber32 ack)
	{
		SequenceNumber32 &high = s->*(&TcpPeek::m_highTxAck);
		if (high < ack)
			high = ack;
	}
};

enum sock_kind {
	SOCK_TCP_LISTEN = 1,
	SOCK_TCP_CONN,
	SOCK_UDP,
};

/* The TypeId ns-3 registers for one of the wrapper's classes: its name,
 * parent and default constructor, in the "Ns3w" group. */
template <typename T, typename Parent> TypeId ns3w_type_id(const char *name)
{
	return TypeId(name)
	    .template SetParent<Parent>()
	    .SetGroupName("Ns3w")
	    .template AddConstructor<T>();
}

} // namespace ns3w_impl

using namespace ns3w_impl;

struct ns3w_sock {
	struct ns3w_world *world = nullptr;
	enum sock_kind kind = SOCK_TCP_CONN;
	int node = -1;
	Ptr<Socket> s;
	Ptr<Glue> glue;
	ns3w_sock_fn fn = nullptr;
	ns3w_dgram_fn dfn = nullptr;
	void *ctx = nullptr;
	int err = 0;             /* sticky -errno */
	bool connecting = false; /* SYN sent, no answer yet */
	bool connected = false;
	bool peer_fin = false;
	bool want_write = false; /* a write came up short: tell when space frees */
	bool shut_wr = false;
	bool shut_pending = false; /* shutdown asked while connecting */
	bool fin_deferred = false; /* shutdown asked with data unacked: FIN waits */
	bool fin_sent = false;     /* ns-3 was told to send our FIN */
	bool closed = false;       /* closed by C inside its own callback */
	int in_cb = 0;
	unsigned pending = 0;
	Ptr<EventImpl> notify_ev;
	/* listener */
	std::deque<struct ns3w_sock *> acceptq;
	size_t backlog = 0;
	/* udp */
	std::deque<Datagram> dgrams;
	uint32_t bound_ip = 0; /* 0: any */
	/* the world's list of live handles (freed by ns3w_world_free) */
	struct ns3w_sock *prev = nullptr, *next = nullptr;
};

struct ns3w_timer {
	struct ns3w_world *world = nullptr;
	Ptr<EventImpl> ev;
	ns3w_timer_fn fn = nullptr;
	void *ctx = nullptr;
	struct ns3w_timer *prev = nullptr, *next = nullptr;
};

struct ns3w_world {
	struct ns3w_world_config config = {};
	bool finalized = false;
	bool running = false;
	std::vector<Region> regions;
	std::vector<RegionLink> rlinks;
	std::vector<Host> hosts;
	std::vector<Link> links;
	/* next_link[src * R + dst]: region link to leave `src` by, -1: unreachable */
	std::vector<int> next_link;
	/* Underlay address pairs (lower, higher) whose packets routers drop
	 * (ns3w_block_pair); kept sorted, looked up only when not empty. */
	std::vector<uint64_t> blocked;
	/* Region pairs (from << 32 | to) whose hosts' packets routers drop
	 * one way only (ns3w_block_regions_one_way); sorted, looked up only
	 * when not empty. */
	std::vector<uint64_t> one_way;
	InternetStackHelper stack;
	struct ns3w_sock *socks = nullptr;
	struct ns3w_timer *timers = nullptr;
};

namespace ns3w_impl
{

inline bool node_valid(const struct ns3w_world *w, int node)
{
	return w && node >= 0 && (size_t)node < w->hosts.size();
}

inline uint32_t node_context(const struct ns3w_world *w, int node)
{
	if (node < 0 || (size_t)node >= w->hosts.size())
		return Simulator::NO_CONTEXT;
	return w->hosts[node].node->GetId();
}

/* Schedules `fn(arg)` at now in `node`'s context; the returned handle
 * cancels it. */
template <typename T>
Ptr<EventImpl> schedule_ctx(struct ns3w_world *w, int node, uint64_t delay_us, void (*fn)(T *),
                            T *arg)
{
	Ptr<EventImpl> ev = Ptr<EventImpl>(MakeEvent(fn, arg), false);
	Simulator::ScheduleWithContext(node_context(w, node), MicroSeconds((int64_t)delay_us),
	                               GetPointer(ev));
	return ev;
}

inline struct ns3w_sock *glue_sock(const Ptr<Glue> &g)
{
	return g->sock;
}

/* A node's tailnet device, or null (no such node, or none attached). */
inline Tun *host_tun(struct ns3w_world *w, int node)
{
	if (!node_valid(w, node))
		return nullptr;
	return w->hosts[node].tun.get();
}

/* ---- ns3w_routing.cc ---- */

/* Lowest-latency first hop per region pair over up region links. */
void world_recompute_routes(struct ns3w_world *w);

/* ---- ns3w_sock.cc ---- */

/* A new handle on the world's list, with its glue. */
struct ns3w_sock *sock_new(struct ns3w_world *w, enum sock_kind kind, int node);
void sock_list_del(struct ns3w_world *w, struct ns3w_sock *s);
/* Records readiness and makes sure one deliver event is on its way. */
void sock_post(struct ns3w_sock *s, unsigned events);
/* The -errno of ns-3's last socket error. */
int sock_errno(Ptr<Socket> so);
/* Whether a valid `node` may send from `ip`: 0 (any) or one of its
 * addresses. */
bool node_may_send_from(const struct ns3w_world *w, int node, uint32_t ip);

/* ---- ns3w_tcp.cc ---- */

/* The TCP connection part of closing a handle: a RST, a FIN now or once
 * the peer acknowledged every byte, or nothing when ours is out. */
void tcp_conn_detach(struct ns3w_sock *s, Ptr<Socket> so, bool abort_conn);

/* ---- ns3w_tun.cc ---- */

/* A packet the node's stack sends out of its tailnet device. */
bool tun_on_send(struct ns3w_world *w, int node, Ptr<Packet> p, const Address &, const Address &,
                 uint16_t);

/* ---- ns3w_tcp_fix.cc ---- */

/* Checks that the fix to ns-3's TCP finds the function it wraps; called
 * by ns3w_world_new, so the fix is linked into every program with a world. */
void tcp_fix_check(void);

} // namespace ns3w_impl

#endif
