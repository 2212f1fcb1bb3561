/* ns3w: the C interface over ns-3 3.37 (see ns3w.h for the contract).
 *
 * Shape of the world: one ns-3 Node per region router and per host, a
 * point-to-point link per host (host <-> its router) and per region link
 * (router <-> router). Addresses are assigned by hand (no Ipv4AddressHelper,
 * so no traffic-control queue discs) and routing is Ns3wRouting below:
 * arithmetic/hash lookups instead of ns-3's linear static routes.
 *
 * Callbacks into C only ever run from events this file schedules itself
 * (zero-delay "deliver" events): never inside an ns-3 call stack and never
 * inside the C call that caused them. So C code may close, abort or free
 * anything from a callback, and ns-3 objects are never destroyed under
 * their own feet.
 */
#include "sim/ns3w/ns3w.h"

#include <ns3/core-module.h>
#include <ns3/internet-module.h>
#include <ns3/network-module.h>
#include <ns3/point-to-point-module.h>
#include <ns3/virtual-net-device-module.h>

#include <dlfcn.h>

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

using namespace ns3;

/* ns-3 3.37's TcpTxBuffer::NextSeg (rule 2 of RFC 6675's NextSeg) offers
 * new data while the bytes in flight are <= the peer's window, so with
 * exactly a window in flight it names a segment the window has no room for;
 * TcpSocketBase::SendPendingData then asks for 0 bytes, CopyFromSequence
 * returns no item and SendDataPacket dies on it (in TcpRateLinux::SkbSent).
 * It happens to any sender that fills a small or closing window: a node
 * slow to read its maps, a 10,000-node registration storm. This
 * definition, which the dynamic linker prefers over libns3-internet's own
 * (the library calls it through its PLT), asks the original and turns that
 * answer into "nothing to send now"; the next ACK sends again. */
namespace ns3
{
bool TcpTxBuffer::NextSeg(SequenceNumber32 *seq, SequenceNumber32 *seqHigh, bool isRecovery) const
{
	using next_seg_fn =
	    bool (*)(const TcpTxBuffer *, SequenceNumber32 *, SequenceNumber32 *, bool);
	/* the original's address: resolved once, constant afterwards */
	static const next_seg_fn original = reinterpret_cast<next_seg_fn>(
	    dlsym(RTLD_NEXT, "_ZNK3ns311TcpTxBuffer7NextSegEPNS_14SequenceNumberIjiEES3_b"));
	NS3W_ASSERT(original);
	if (!original(this, seq, seqHigh, isRecovery))
		return false;
	bool new_data = *seq >= m_firstByteSeq.Get() + m_sentSize;
	if (new_data && m_sentSize >= m_rWndCallback())
		return false;
	return SizeFromSequence(*seq) > 0;
}
} // namespace ns3

namespace
{

constexpr uint32_t NS3W_TAILNET_NET = 0x64400000u;  /* 100.64.0.0 */
constexpr uint32_t NS3W_TAILNET_MASK = 0xffc00000u; /* /10 */
constexpr uint32_t NS3W_HOST_BASE = 0x0a000000u;    /* 10.0.0.0 + n + 1 */
constexpr uint32_t NS3W_ROUTER_BASE = 0x0b000000u;  /* 11.0.0.0 + n + 1 */
constexpr uint32_t NS3W_RLINK_BASE = 0x0c000000u;   /* 12.0.0.0 + 4k + 1/2 */
constexpr int NS3W_MAX_REGIONS = 256;
constexpr int NS3W_MAX_REGION_LINKS = 4096;
constexpr int NS3W_MAX_NODES = 1 << 22;
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

bool ns3w_is_tailnet(uint32_t ip)
{
	return (ip & NS3W_TAILNET_MASK) == NS3W_TAILNET_NET;
}

/* Region of the host/router address `ip` belongs to lives in the world;
 * these only decode the fixed addressing scheme. Return -1 when `ip` is not
 * of that kind. */
int64_t ns3w_decode(uint32_t ip, uint32_t base, uint64_t count)
{
	if (ip <= base || (uint64_t)(ip - base - 1) >= count)
		return -1;
	return (int64_t)(ip - base - 1);
}

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

TypeId LinkDrop::GetTypeId()
{
	static TypeId tid = TypeId("ns3w::LinkDrop")
	                        .SetParent<ErrorModel>()
	                        .SetGroupName("Ns3w")
	                        .AddConstructor<LinkDrop>();
	return tid;
}

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

struct Datagram {
	std::vector<uint8_t> data;
	uint32_t ip = 0;
	uint16_t port = 0;
};

struct Link {
	bool region_link = false;
	int index = -1; /* region link k or host n */
	Ptr<PointToPointNetDevice> dev[2];
	Ptr<PointToPointChannel> ch;
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
	 * next to its predecessor's dying connections. Pruned as it grows. */
	std::vector<Ptr<TcpSocketBase>> closing;
	size_t closing_pruned = 0;
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

TypeId Ns3wRouting::GetTypeId()
{
	static TypeId tid = TypeId("ns3w::Ns3wRouting")
	                        .SetParent<Ipv4RoutingProtocol>()
	                        .SetGroupName("Ns3w")
	                        .AddConstructor<Ns3wRouting>();
	return tid;
}

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
};

enum sock_kind {
	SOCK_TCP_LISTEN = 1,
	SOCK_TCP_CONN,
	SOCK_UDP,
};

} // namespace

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
	InternetStackHelper stack;
	struct ns3w_sock *socks = nullptr;
	struct ns3w_timer *timers = nullptr;
};

namespace
{

/* ---- routing ---- */

void Ns3wRouting::SetIpv4(Ptr<Ipv4> ip)
{
	ipv4 = ip;
	locals.clear();
	for (uint32_t i = 0; i < ip->GetNInterfaces(); i++)
		for (uint32_t j = 0; j < ip->GetNAddresses(i); j++)
			NotifyAddAddress(i, ip->GetAddress(i, j));
}

void Ns3wRouting::NotifyAddAddress(uint32_t interface, Ipv4InterfaceAddress address)
{
	uint32_t ip = address.GetLocal().Get();
	/* a router's 11.x/12.x addresses are found arithmetically */
	if (host < 0 && (ip >> 24 == 11 || ip >> 24 == 12))
		return;
	for (auto &l : locals)
		if (l.first == ip)
			return;
	locals.emplace_back(ip, interface);
	tun_route = nullptr;
	src_routes.clear();
}

void Ns3wRouting::NotifyRemoveAddress(uint32_t interface, Ipv4InterfaceAddress address)
{
	uint32_t ip = address.GetLocal().Get();
	for (size_t i = 0; i < locals.size(); i++) {
		if (locals[i].first == ip && locals[i].second == interface) {
			locals.erase(locals.begin() + (long)i);
			break;
		}
	}
	tun_route = nullptr;
	src_routes.clear();
}

int64_t Ns3wRouting::local_if(uint32_t ip) const
{
	for (auto &l : locals)
		if (l.first == ip)
			return l.second;
	if (host >= 0)
		return -1;
	const struct ns3w_world *w = world;
	int64_t n = ns3w_decode(ip, NS3W_ROUTER_BASE, w->hosts.size());
	if (n >= 0)
		return w->hosts[n].region == region ? (int64_t)w->hosts[n].router_if : -1;
	int64_t k = ns3w_decode(ip, NS3W_RLINK_BASE, (uint64_t)w->rlinks.size() * 4);
	if (k >= 0) {
		const RegionLink &rl = w->rlinks[k / 4];
		if (k % 4 == 0 && rl.a == region)
			return rl.if_a;
		if (k % 4 == 1 && rl.b == region)
			return rl.if_b;
	}
	return -1;
}

Ptr<Ipv4Route> Ns3wRouting::local_route(uint32_t dst, uint32_t src, uint32_t ifindex) const
{
	Ptr<Ipv4Route> r = Create<Ipv4Route>();
	r->SetDestination(Ipv4Address(dst));
	r->SetSource(Ipv4Address(src ? src : dst));
	r->SetGateway(Ipv4Address::GetZero());
	r->SetOutputDevice(ipv4->GetNetDevice(ifindex));
	return r;
}

/* A router's route towards `dst` (not local), or null when unreachable. */
Ptr<Ipv4Route> Ns3wRouting::router_route(uint32_t dst) const
{
	const struct ns3w_world *w = world;
	int dst_region = -1;
	int64_t n = ns3w_decode(dst, NS3W_HOST_BASE, w->hosts.size());
	if (n < 0)
		n = ns3w_decode(dst, NS3W_ROUTER_BASE, w->hosts.size());
	if (n >= 0) {
		const Host &h = w->hosts[n];
		if (h.region == region)
			return h.from_router;
		dst_region = h.region;
	} else {
		int64_t k = ns3w_decode(dst, NS3W_RLINK_BASE, (uint64_t)w->rlinks.size() * 4);
		if (k < 0 || k % 4 > 1)
			return nullptr;
		const RegionLink &rl = w->rlinks[k / 4];
		dst_region = k % 4 == 0 ? rl.a : rl.b;
		if (dst_region == region)
			return nullptr;
	}
	if (!w->finalized)
		return nullptr;
	int link = w->next_link[(size_t)region * w->regions.size() + (size_t)dst_region];
	if (link < 0)
		return nullptr;
	const RegionLink &rl = w->rlinks[link];
	return rl.a == region ? rl.from_a : rl.from_b;
}

/* `base` (a host's default route out of its tun or access device) with the
 * source `src` instead, made once per source and kept until the node's
 * addresses change. */
Ptr<Ipv4Route> Ns3wRouting::with_source(const Ptr<Ipv4Route> &base, bool tun, uint32_t src)
{
	/* a loopback source cannot leave the node (Linux drops it as martian) */
	if (!base || !src || src >> 24 == 127 || base->GetSource().Get() == src)
		return base;
	for (auto &sr : src_routes)
		if (sr.src == src && sr.tun == tun)
			return sr.route;
	/* only local addresses get here, each at most once per device */
	NS3W_ASSERT(src_routes.size() < 2 * locals.size());
	Ptr<Ipv4Route> r = Create<Ipv4Route>();
	r->SetSource(Ipv4Address(src));
	r->SetGateway(base->GetGateway());
	r->SetOutputDevice(base->GetOutputDevice());
	src_routes.push_back({src, tun, r});
	return r;
}

/* A host honours the source a socket is bound to when it is one of the
 * host's own addresses, whatever the device (like Linux); any other source,
 * or none, gets the device's default address. */
Ptr<Ipv4Route> Ns3wRouting::RouteOutput(Ptr<Packet>, const Ipv4Header &header, Ptr<NetDevice>,
                                        Socket::SocketErrno &sockerr)
{
	uint32_t dst = header.GetDestination().Get();
	sockerr = Socket::ERROR_NOTERROR;
	uint32_t src = 0;
	if (host >= 0) {
		src = header.GetSource().Get();
		if (local_if(src) < 0)
			src = connect_src;
	}
	int64_t lif = local_if(dst);
	if (lif >= 0)
		return local_route(dst, src, (uint32_t)lif);
	if (host < 0) {
		Ptr<Ipv4Route> r = router_route(dst);
		if (!r)
			sockerr = Socket::ERROR_NOROUTETOHOST;
		return r;
	}
	Host &h = world->hosts[host];
	if (ns3w_is_tailnet(dst) && h.tun) {
		if (!tun_route) {
			uint32_t def = 0;
			for (uint32_t j = 0; j < ipv4->GetNAddresses(h.tun->ifindex); j++) {
				uint32_t a = ipv4->GetAddress(h.tun->ifindex, j).GetLocal().Get();
				if (ns3w_is_tailnet(a)) {
					def = a;
					break;
				}
			}
			if (!def)
				def = NS3W_HOST_BASE + (uint32_t)host + 1;
			tun_route = Create<Ipv4Route>();
			tun_route->SetSource(Ipv4Address(def));
			tun_route->SetGateway(Ipv4Address::GetZero());
			tun_route->SetOutputDevice(h.tun->dev);
		}
		return with_source(tun_route, true, src);
	}
	return with_source(access_route, false, src);
}

bool Ns3wRouting::RouteInput(Ptr<const Packet> p, const Ipv4Header &header,
                             Ptr<const NetDevice> idev, UnicastForwardCallback ucb,
                             MulticastForwardCallback, LocalDeliverCallback lcb, ErrorCallback)
{
	uint32_t dst = header.GetDestination().Get();
	if (local_if(dst) >= 0 || header.GetDestination().IsBroadcast()) {
		lcb(p, header, (uint32_t)ipv4->GetInterfaceForDevice(idev));
		return true;
	}
	if (host >= 0)
		return false; /* hosts do not forward */
	if (!world->blocked.empty()) {
		uint32_t src = header.GetSource().Get();
		uint64_t key =
		    src < dst ? ((uint64_t)src << 32 | dst) : ((uint64_t)dst << 32 | src);
		if (std::binary_search(world->blocked.begin(), world->blocked.end(), key))
			return true; /* partitioned pair: dropped */
	}
	Ptr<Ipv4Route> r = router_route(dst);
	if (!r)
		return false;
	ucb(r, p, header);
	return true;
}

/* Lowest-latency first hop per region pair over up region links
 * (Dijkstra from every region; ties go to the lower region/link index so
 * the result never depends on anything but the topology). */
void world_recompute_routes(struct ns3w_world *w)
{
	size_t R = w->regions.size();
	w->next_link.assign(R * R, -1);
	std::vector<uint64_t> dist(R);
	std::vector<int> first(R);
	std::vector<bool> done(R);
	for (size_t src = 0; src < R; src++) {
		std::fill(dist.begin(), dist.end(), UINT64_MAX);
		std::fill(first.begin(), first.end(), -1);
		std::fill(done.begin(), done.end(), false);
		dist[src] = 0;
		for (;;) {
			size_t u = R;
			for (size_t i = 0; i < R; i++)
				if (!done[i] && dist[i] != UINT64_MAX &&
				    (u == R || dist[i] < dist[u]))
					u = i;
			if (u == R)
				break;
			done[u] = true;
			for (size_t k = 0; k < w->rlinks.size(); k++) {
				const RegionLink &rl = w->rlinks[k];
				const Link &l = w->links[rl.link];
				if (!l.up)
					continue;
				size_t v;
				if ((size_t)rl.a == u)
					v = (size_t)rl.b;
				else if ((size_t)rl.b == u)
					v = (size_t)rl.a;
				else
					continue;
				/* latency first, then hop count */
				uint64_t d = dist[u] + l.params.latency_us * 1024 + 1;
				if (d < dist[v]) {
					dist[v] = d;
					first[v] = u == src ? (int)k : first[u];
				}
			}
		}
		for (size_t dst = 0; dst < R; dst++)
			w->next_link[src * R + dst] = dst == src ? -1 : first[dst];
	}
}

/* ---- links ---- */

Ptr<Ipv4Route> make_route(uint32_t src, uint32_t gw, Ptr<NetDevice> dev)
{
	Ptr<Ipv4Route> r = Create<Ipv4Route>();
	r->SetSource(Ipv4Address(src));
	r->SetGateway(Ipv4Address(gw));
	r->SetOutputDevice(dev);
	return r;
}

/* Routers take packets straight from their devices into IPv4: the generic
 * path scans a handler list as long as the router's device count. */
bool router_rx(Ipv4L3Protocol *ip, Ptr<NetDevice> dev, Ptr<const Packet> p, uint16_t proto,
               const Address &from)
{
	if (proto != Ipv4L3Protocol::PROT_NUMBER)
		return false;
	ip->Receive(dev, p, proto, from, dev->GetAddress(), NetDevice::PACKET_HOST);
	return true;
}

bool params_valid(const struct ns3w_link_params *p)
{
	return p && p->loss >= 0.0 && p->loss <= 1.0 && p->latency_us <= 3600ull * 1000000;
}

void link_apply(struct ns3w_world *w, int id)
{
	Link &l = w->links[id];
	uint64_t bps = l.params.bandwidth_bps ? l.params.bandwidth_bps : NS3W_DEFAULT_BPS;
	l.ch->SetAttribute("Delay", TimeValue(MicroSeconds((int64_t)l.params.latency_us)));
	for (int i = 0; i < 2; i++) {
		l.dev[i]->SetDataRate(DataRate(bps));
		if (!l.drop[i] && (l.params.loss > 0.0 || !l.up)) {
			l.drop[i] = CreateObject<LinkDrop>();
			l.drop[i]->rv = CreateObject<UniformRandomVariable>();
			/* fixed streams: the same seed gives the same drops in any process */
			l.drop[i]->rv->SetStream((int64_t)id * 2 + i);
			l.dev[i]->SetReceiveErrorModel(l.drop[i]);
		}
		if (l.drop[i]) {
			l.drop[i]->down = !l.up;
			l.drop[i]->loss = l.params.loss;
		}
	}
}

/* A point-to-point link between two nodes; returns its link id. */
int link_create(struct ns3w_world *w, Ptr<Node> a, Ptr<Node> b, const struct ns3w_link_params *p,
                bool region_link, int index)
{
	Link l;
	l.region_link = region_link;
	l.index = index;
	l.params = *p;
	l.ch = CreateObject<PointToPointChannel>();
	Ptr<Node> nodes[2] = {a, b};
	for (int i = 0; i < 2; i++) {
		l.dev[i] = CreateObject<PointToPointNetDevice>();
		l.dev[i]->SetAddress(Mac48Address::Allocate());
		l.dev[i]->SetMtu(NS3W_UNDERLAY_MTU);
		Ptr<DropTailQueue<Packet>> q = CreateObject<DropTailQueue<Packet>>();
		q->SetMaxSize(QueueSize(QueueSizeUnit::PACKETS, NS3W_DEVICE_QUEUE_PACKETS));
		l.dev[i]->SetQueue(q);
		nodes[i]->AddDevice(l.dev[i]);
		l.dev[i]->Attach(l.ch);
	}
	w->links.push_back(l);
	int id = (int)w->links.size() - 1;
	link_apply(w, id);
	return id;
}

uint32_t add_if(Ptr<Ipv4L3Protocol> ip, Ptr<NetDevice> dev, uint32_t addr, uint16_t mtu)
{
	uint32_t i = ip->AddInterface(dev);
	ip->AddAddress(i, Ipv4InterfaceAddress(Ipv4Address(addr), Ipv4Mask(0xffffffffu)));
	ip->SetMetric(i, 1);
	ip->GetInterface(i)->GetDevice()->SetMtu(mtu);
	ip->SetUp(i);
	return i;
}

/* ---- deferred delivery to C ---- */

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

uint32_t node_context(const struct ns3w_world *w, int node)
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

struct ns3w_sock *glue_sock(const Ptr<Glue> &g)
{
	return g->sock;
}

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

void tcp_set_callbacks(struct ns3w_sock *s)
{
	s->s->SetRecvCallback(MakeBoundCallback(&tcp_on_recv, s->glue));
	s->s->SetSendCallback(MakeBoundCallback(&tcp_on_send, s->glue));
	s->s->SetCloseCallbacks(MakeBoundCallback(&tcp_on_normal_close, s->glue),
	                        MakeBoundCallback(&tcp_on_error_close, s->glue));
	Ptr<TcpSocketBase> tcp = DynamicCast<TcpSocketBase>(s->s);
	NS3W_ASSERT(tcp);
	TcpPeek::connect_rx(PeekPointer(tcp), MakeBoundCallback(&tcp_on_rx, s->glue));
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

/* Cuts the handle off ns-3 (no callback can reach it afterwards) and
 * closes the ns-3 socket gracefully or with a RST. */
bool closing_gone(const Ptr<TcpSocketBase> &t)
{
	TcpSocket::TcpStates_t st = TcpPeek::state(PeekPointer(t));
	return st == TcpSocket::CLOSED || st == TcpSocket::LISTEN;
}

void closing_add(struct ns3w_world *w, int node, const Ptr<TcpSocketBase> &t)
{
	Host &h = w->hosts[node];
	if (h.closing.size() >= 2 * h.closing_pruned + 64) {
		h.closing.erase(std::remove_if(h.closing.begin(), h.closing.end(), closing_gone),
		                h.closing.end());
		h.closing_pruned = h.closing.size();
	}
	h.closing.push_back(t);
}

/* Drops the endpoints of closing connections bound to ip:port on `node`;
 * returns how many. */
size_t closing_release(struct ns3w_world *w, int node, uint32_t ip, uint16_t port)
{
	Host &h = w->hosts[node];
	std::vector<Ptr<TcpSocketBase>> keep;
	size_t n = 0;
	for (auto &t : h.closing) {
		if (closing_gone(t))
			continue;
		Address a;
		bool match = t->GetSockName(a) == 0 && InetSocketAddress::IsMatchingType(a);
		if (match) {
			InetSocketAddress ia = InetSocketAddress::ConvertFrom(a);
			match = ia.GetPort() == port && (!ip || ia.GetIpv4().Get() == ip);
		}
		if (!match) {
			keep.push_back(t);
			continue;
		}
		/* Its timers go with the endpoint: nothing of it runs again. */
		TcpPeek::drop_endpoint(PeekPointer(t));
		n++;
	}
	h.closing.swap(keep);
	h.closing_pruned = h.closing.size();
	return n;
}

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
	if (has_endpoint)
		closing_add(s->world, s->node, tcp);
	/* the socket frees itself once ns-3 is done with it; the wrapper's
	 * reference must not be the last one to go inside this event */
	linger(so);
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

bool node_valid(const struct ns3w_world *w, int node)
{
	return w && node >= 0 && (size_t)node < w->hosts.size();
}

/* Whether a valid `node` may send from `ip`: 0 (any) or one of its
 * addresses. Listening and UDP sockets may bind an address before the node
 * holds it (a VIP; the epoll backend uses IP_FREEBIND), but like Linux
 * nothing leaves from an address the node lacks. */
bool node_may_send_from(const struct ns3w_world *w, int node, uint32_t ip)
{
	return !ip || w->hosts[node].rt->local_if(ip) >= 0;
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

/* ---- UDP ---- */

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

/* ---- tun ---- */

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* ns-3 leaves checksums at zero unless checksumming is on globally (which
 * costs on every hop): fill in the IPv4 header and TCP checksums of the
 * packets leaving through the tailnet device, so captures and any real
 * stack downstream see valid packets. */
void fix_checksums(uint8_t *pkt, size_t len)
{
	if (len < 20 || pkt[0] >> 4 != 4)
		return;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t total = (size_t)(pkt[2] << 8 | pkt[3]);
	if (ihl < 20 || ihl > len || total > len || total < ihl)
		return;
	pkt[10] = pkt[11] = 0;
	uint16_t c = csum_fold(csum_add(0, pkt, ihl));
	pkt[10] = (uint8_t)(c >> 8);
	pkt[11] = (uint8_t)c;
	bool fragment = (pkt[6] & 0x3f) || pkt[7];
	if (fragment || pkt[9] != 6 || total - ihl < 20)
		return;
	uint8_t *tcp = pkt + ihl;
	size_t tlen = total - ihl;
	tcp[16] = tcp[17] = 0;
	uint32_t sum = csum_add(0, pkt + 12, 8);
	sum += 6 + (uint32_t)tlen;
	sum = csum_add(sum, tcp, tlen);
	c = csum_fold(sum);
	tcp[16] = (uint8_t)(c >> 8);
	tcp[17] = (uint8_t)c;
}

void tun_flush_fire(Tun *t)
{
	t->flush_ev = nullptr;
	while (!t->queue.empty()) {
		std::vector<uint8_t> pkt = std::move(t->queue.front());
		t->queue.pop_front();
		if (t->fn)
			t->fn(t->ctx, pkt.data(), pkt.size());
	}
}

bool tun_on_send(struct ns3w_world *w, int node, Ptr<Packet> p, const Address &, const Address &,
                 uint16_t)
{
	Host &h = w->hosts[node];
	Tun *t = h.tun.get();
	uint32_t len = p->GetSize();
	if (len > NS3W_MAX_PACKET)
		return false;
	std::vector<uint8_t> pkt(len);
	p->CopyData(pkt.data(), len);
	fix_checksums(pkt.data(), len);
	if (t->pcap)
		t->pcap->Write(Simulator::Now(), pkt.data(), len);
	if (!t->fn || t->queue.size() >= NS3W_MAX_QUEUED)
		return true; /* nobody listening: the packet is lost, as on a real tun */
	t->queue.push_back(std::move(pkt));
	if (!t->flush_ev)
		t->flush_ev = schedule_ctx(w, node, 0, &tun_flush_fire, t);
	return true;
}

} // namespace

/* ---- world ---- */

extern "C" struct ns3w_world *ns3w_world_new(const struct ns3w_world_config *config)
{
	if (!config)
		return nullptr;
	/* ns-3's simulator is a singleton: the world marks itself in ns-3's
	 * own name registry instead of a global of ours */
	if (Names::Find<Object>("/Names/ns3w-world"))
		return nullptr;
	Names::Add("ns3w-world", CreateObject<Object>());

	struct ns3w_world *w = new ns3w_world;
	w->config = *config;
	if (!w->config.seed)
		w->config.seed = 1;
	if (!w->config.run)
		w->config.run = 1;
	if (!w->config.tcp_mss)
		w->config.tcp_mss = 1448;
	if (!w->config.tcp_msl_us)
		w->config.tcp_msl_us = NS3W_DEFAULT_TCP_MSL_US;

	RngSeedManager::SetSeed((uint32_t)std::min<uint64_t>(w->config.seed, UINT32_MAX));
	RngSeedManager::SetRun(w->config.run);
	ObjectFactory sched;
	sched.SetTypeId("ns3::PriorityQueueScheduler");
	Simulator::SetScheduler(sched);

	Config::SetDefault("ns3::Ipv4::WeakEsModel", BooleanValue(false));
	Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(w->config.tcp_mss));
	Config::SetDefault("ns3::TcpSocketBase::MaxSegLifetime",
	                   DoubleValue((double)w->config.tcp_msl_us / 1e6));
	/* Failures surface within ~10-20 simulated seconds: a refused-free
	 * connect gives up after 4 SYNs (1+2+4+8 s = 15 s), an established
	 * connection after 5 retransmissions (~12.6 s from a 200 ms RTO). */
	Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(1)));
	Config::SetDefault("ns3::TcpSocket::ConnCount", UintegerValue(4));
	Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(5));
	Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(MilliSeconds(200)));
	/* Linux's delayed-ACK timeout starts at 40 ms; ns-3's default (200 ms)
	 * equals the minimum RTO, so a lone last segment of an answer races
	 * its own retransmission timer and loses half the time. */
	Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(MilliSeconds(40)));

	w->stack.SetIpv6StackInstall(false);
	w->stack.SetRoutingHelper(Ns3wRoutingHelper());
	return w;
}

extern "C" void ns3w_world_free(struct ns3w_world *w)
{
	if (!w)
		return;
	NS3W_ASSERT(!w->running);
	while (w->socks) {
		struct ns3w_sock *s = w->socks;
		sock_list_del(w, s);
		s->glue->sock = nullptr;
		if (s->notify_ev)
			s->notify_ev->Cancel();
		for (struct ns3w_sock *c : s->acceptq)
			c->glue->sock = nullptr; /* still on the list; freed in turn */
		s->acceptq.clear();
		delete s;
	}
	while (w->timers) {
		struct ns3w_timer *t = w->timers;
		w->timers = t->next;
		t->ev->Cancel();
		delete t;
	}
	for (Host &h : w->hosts)
		if (h.tun && h.tun->flush_ev)
			h.tun->flush_ev->Cancel();
	Simulator::Destroy();
	delete w;
	Names::Clear();
}

extern "C" int ns3w_region_add(struct ns3w_world *w)
{
	if (!w)
		return -EINVAL;
	if (w->finalized)
		return -EBUSY;
	if (w->regions.size() >= (size_t)NS3W_MAX_REGIONS)
		return -ENOSPC;
	Region r;
	r.node = CreateObject<Node>();
	w->stack.Install(r.node);
	r.ip = r.node->GetObject<Ipv4L3Protocol>();
	r.rt = DynamicCast<Ns3wRouting>(r.ip->GetRoutingProtocol());
	NS3W_ASSERT(r.rt);
	r.rt->world = w;
	r.rt->region = (int)w->regions.size();
	r.rt->SetIpv4(r.ip);
	w->regions.push_back(r);
	return (int)w->regions.size() - 1;
}

extern "C" int ns3w_region_link(struct ns3w_world *w, int a, int b,
                                const struct ns3w_link_params *params)
{
	if (!w || !params_valid(params) || a == b || a < 0 || b < 0 ||
	    (size_t)a >= w->regions.size() || (size_t)b >= w->regions.size())
		return -EINVAL;
	if (w->finalized)
		return -EBUSY;
	if (w->rlinks.size() >= (size_t)NS3W_MAX_REGION_LINKS)
		return -ENOSPC;
	int k = (int)w->rlinks.size();
	RegionLink rl;
	rl.a = a;
	rl.b = b;
	rl.link = link_create(w, w->regions[a].node, w->regions[b].node, params, true, k);
	Link &l = w->links[rl.link];
	uint32_t ip_a = NS3W_RLINK_BASE + 4 * (uint32_t)k + 1, ip_b = ip_a + 1;
	rl.if_a = add_if(w->regions[a].ip, l.dev[0], ip_a, NS3W_UNDERLAY_MTU);
	rl.if_b = add_if(w->regions[b].ip, l.dev[1], ip_b, NS3W_UNDERLAY_MTU);
	for (int i = 0; i < 2; i++) {
		Ipv4L3Protocol *ip = PeekPointer(w->regions[i ? b : a].ip);
		l.dev[i]->SetReceiveCallback(MakeBoundCallback(&router_rx, ip));
	}
	rl.from_a = make_route(ip_a, ip_b, l.dev[0]);
	rl.from_b = make_route(ip_b, ip_a, l.dev[1]);
	w->rlinks.push_back(rl);
	return rl.link;
}

extern "C" int ns3w_node_add(struct ns3w_world *w, int region,
                             const struct ns3w_link_params *access, bool tun)
{
	if (!w || !params_valid(access) || region < 0 || (size_t)region >= w->regions.size())
		return -EINVAL;
	if (w->finalized)
		return -EBUSY;
	if (w->hosts.size() >= (size_t)NS3W_MAX_NODES)
		return -ENOSPC;
	int n = (int)w->hosts.size();
	w->hosts.emplace_back();
	Host &h = w->hosts.back();
	h.region = region;
	h.node = CreateObject<Node>();
	w->stack.Install(h.node);
	Ptr<Ipv4L3Protocol> ip = h.node->GetObject<Ipv4L3Protocol>();
	h.rt = DynamicCast<Ns3wRouting>(ip->GetRoutingProtocol());
	NS3W_ASSERT(h.rt);
	h.rt->world = w;
	h.rt->host = n;
	h.rt->SetIpv4(ip);

	Region &r = w->regions[region];
	h.link = link_create(w, h.node, r.node, access, false, n);
	Link &l = w->links[h.link];
	uint32_t host_ip = NS3W_HOST_BASE + (uint32_t)n + 1;
	uint32_t router_ip = NS3W_ROUTER_BASE + (uint32_t)n + 1;
	h.access_if = add_if(ip, l.dev[0], host_ip, NS3W_UNDERLAY_MTU);
	h.router_if = add_if(r.ip, l.dev[1], router_ip, NS3W_UNDERLAY_MTU);
	l.dev[1]->SetReceiveCallback(MakeBoundCallback(&router_rx, PeekPointer(r.ip)));
	h.rt->access_route = make_route(host_ip, router_ip, l.dev[0]);
	h.from_router = make_route(router_ip, host_ip, l.dev[1]);

	if (tun) {
		h.tun = std::make_unique<Tun>();
		h.tun->dev = CreateObject<VirtualNetDevice>();
		h.tun->dev->SetAddress(Mac48Address::Allocate());
		h.tun->dev->SetMtu(NS3W_TUN_MTU);
		h.node->AddDevice(h.tun->dev);
		h.tun->dev->SetSendCallback(MakeBoundCallback(&tun_on_send, w, n));
		h.tun->ifindex = ip->AddInterface(h.tun->dev);
		ip->SetMetric(h.tun->ifindex, 1);
		ip->SetUp(h.tun->ifindex);
	}
	return n;
}

extern "C" int ns3w_finalize(struct ns3w_world *w)
{
	if (!w)
		return -EINVAL;
	if (w->finalized)
		return -EALREADY;
	if (w->regions.empty())
		return -EINVAL;
	world_recompute_routes(w);
	w->finalized = true;
	return 0;
}

extern "C" int ns3w_node_count(const struct ns3w_world *w)
{
	return w ? (int)w->hosts.size() : 0;
}

extern "C" uint32_t ns3w_node_underlay_ip(const struct ns3w_world *w, int node)
{
	if (!node_valid(w, node))
		return 0;
	return NS3W_HOST_BASE + (uint32_t)node + 1;
}

extern "C" int ns3w_node_region(const struct ns3w_world *w, int node)
{
	if (!node_valid(w, node))
		return -EINVAL;
	return w->hosts[node].region;
}

extern "C" int ns3w_node_access_link(const struct ns3w_world *w, int node)
{
	if (!node_valid(w, node))
		return -EINVAL;
	return w->hosts[node].link;
}

extern "C" int ns3w_link_set_up(struct ns3w_world *w, int link, bool up)
{
	if (!w || link < 0 || (size_t)link >= w->links.size())
		return -EINVAL;
	Link &l = w->links[link];
	if (l.up == up)
		return 0;
	l.up = up;
	link_apply(w, link);
	if (l.region_link && w->finalized)
		world_recompute_routes(w);
	return 0;
}

extern "C" int ns3w_block_pair(struct ns3w_world *w, int node_a, int node_b, bool blocked)
{
	if (!node_valid(w, node_a) || !node_valid(w, node_b) || node_a == node_b)
		return -EINVAL;
	uint32_t a = NS3W_HOST_BASE + (uint32_t)node_a + 1;
	uint32_t b = NS3W_HOST_BASE + (uint32_t)node_b + 1;
	uint64_t key = a < b ? ((uint64_t)a << 32 | b) : ((uint64_t)b << 32 | a);
	auto it = std::lower_bound(w->blocked.begin(), w->blocked.end(), key);
	bool present = it != w->blocked.end() && *it == key;
	if (blocked && !present)
		w->blocked.insert(it, key);
	else if (!blocked && present)
		w->blocked.erase(it);
	return 0;
}

extern "C" int ns3w_link_set_params(struct ns3w_world *w, int link,
                                    const struct ns3w_link_params *params)
{
	if (!w || link < 0 || (size_t)link >= w->links.size() || !params_valid(params))
		return -EINVAL;
	Link &l = w->links[link];
	bool latency_changed = l.params.latency_us != params->latency_us;
	l.params = *params;
	link_apply(w, link);
	if (l.region_link && latency_changed && w->finalized)
		world_recompute_routes(w);
	return 0;
}

/* ---- time ---- */

extern "C" uint64_t ns3w_now_us(const struct ns3w_world *)
{
	return (uint64_t)Simulator::Now().GetMicroSeconds();
}

namespace
{
void stop_now(int)
{
	Simulator::Stop();
}
} // namespace

extern "C" uint64_t ns3w_run(struct ns3w_world *w, uint64_t until_us)
{
	NS3W_ASSERT(w && !w->running);
	uint64_t now = ns3w_now_us(w);
	if (until_us <= now)
		return now;
	/* our own stop event, cancelled afterwards: Simulator::Stop(delay)
	 * would leave one behind when ns3w_stop() ends the run early */
	EventId stop = Simulator::Schedule(MicroSeconds((int64_t)(until_us - now)), &stop_now, 0);
	w->running = true;
	Simulator::Run();
	w->running = false;
	Simulator::Cancel(stop);
	return ns3w_now_us(w);
}

extern "C" void ns3w_stop(struct ns3w_world *)
{
	Simulator::Stop();
}

extern "C" uint64_t ns3w_events_executed(const struct ns3w_world *)
{
	return Simulator::GetEventCount();
}

namespace
{
void timer_fire(struct ns3w_timer *t)
{
	struct ns3w_world *w = t->world;
	ns3w_timer_fn fn = t->fn;
	void *ctx = t->ctx;
	if (t->prev)
		t->prev->next = t->next;
	else
		w->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	delete t;
	fn(ctx);
}
} // namespace

extern "C" struct ns3w_timer *ns3w_timer_start(struct ns3w_world *w, int node, uint64_t delay_us,
                                               ns3w_timer_fn fn, void *ctx)
{
	NS3W_ASSERT(w && fn);
	NS3W_ASSERT(node == -1 || node_valid(w, node));
	struct ns3w_timer *t = new ns3w_timer;
	t->world = w;
	t->fn = fn;
	t->ctx = ctx;
	t->next = w->timers;
	if (w->timers)
		w->timers->prev = t;
	w->timers = t;
	t->ev = schedule_ctx(w, node, delay_us, &timer_fire, t);
	return t;
}

extern "C" void ns3w_timer_cancel(struct ns3w_world *w, struct ns3w_timer *t)
{
	if (!t)
		return;
	NS3W_ASSERT(w && t->world == w);
	t->ev->Cancel();
	if (t->prev)
		t->prev->next = t->next;
	else
		w->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	delete t;
}

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

/* ---- tun ---- */

namespace
{
Tun *host_tun(struct ns3w_world *w, int node)
{
	if (!node_valid(w, node))
		return nullptr;
	return w->hosts[node].tun.get();
}
} // namespace

extern "C" int ns3w_tun_attach(struct ns3w_world *w, int node, ns3w_packet_fn fn, void *ctx)
{
	Tun *t = host_tun(w, node);
	if (!t)
		return node_valid(w, node) ? -ENODEV : -EINVAL;
	t->fn = fn;
	t->ctx = ctx;
	if (!fn)
		t->queue.clear();
	return 0;
}

extern "C" int ns3w_tun_write(struct ns3w_world *w, int node, const void *pkt, size_t len)
{
	Tun *t = host_tun(w, node);
	if (!t)
		return node_valid(w, node) ? -ENODEV : -EINVAL;
	const uint8_t *b = (const uint8_t *)pkt;
	if (!b || len < 20 || len > NS3W_MAX_PACKET || b[0] >> 4 != 4)
		return -EINVAL;
	size_t ihl = (size_t)(b[0] & 0x0f) * 4;
	size_t total = (size_t)(b[2] << 8 | b[3]);
	if (ihl < 20 || total < ihl || total > len)
		return -EINVAL;
	if (t->pcap)
		t->pcap->Write(Simulator::Now(), b, (uint32_t)total);
	Ptr<Packet> p = Create<Packet>(b, (uint32_t)total);
	t->dev->Receive(p, Ipv4L3Protocol::PROT_NUMBER, t->dev->GetAddress(), t->dev->GetAddress(),
	                NetDevice::PACKET_HOST);
	return 0;
}

extern "C" int ns3w_tun_addr_add(struct ns3w_world *w, int node, uint32_t ip, int prefix_len)
{
	Tun *t = host_tun(w, node);
	if (!t)
		return node_valid(w, node) ? -ENODEV : -EINVAL;
	if (!ip || prefix_len < 0 || prefix_len > 32)
		return -EINVAL;
	Ptr<Ipv4> ipv4 = w->hosts[node].node->GetObject<Ipv4>();
	for (uint32_t j = 0; j < ipv4->GetNAddresses(t->ifindex); j++)
		if (ipv4->GetAddress(t->ifindex, j).GetLocal().Get() == ip)
			return -EEXIST;
	uint32_t mask = prefix_len ? 0xffffffffu << (32 - prefix_len) : 0;
	ipv4->AddAddress(t->ifindex, Ipv4InterfaceAddress(Ipv4Address(ip), Ipv4Mask(mask)));
	return 0;
}

extern "C" int ns3w_tun_addr_del(struct ns3w_world *w, int node, uint32_t ip)
{
	Tun *t = host_tun(w, node);
	if (!t)
		return node_valid(w, node) ? -ENODEV : -EINVAL;
	Ptr<Ipv4> ipv4 = w->hosts[node].node->GetObject<Ipv4>();
	for (uint32_t j = 0; j < ipv4->GetNAddresses(t->ifindex); j++) {
		if (ipv4->GetAddress(t->ifindex, j).GetLocal().Get() == ip) {
			ipv4->RemoveAddress(t->ifindex, j);
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

/* ---- pcap ---- */

extern "C" int ns3w_pcap_underlay(struct ns3w_world *w, int node, const char *path)
{
	if (!node_valid(w, node) || !path)
		return -EINVAL;
	Host &h = w->hosts[node];
	if (h.pcap)
		return -EALREADY;
	FILE *probe = fopen(path, "wb");
	if (!probe)
		return -errno;
	fclose(probe);
	PcapHelper helper;
	h.pcap = helper.CreateFile(path, std::ios::out, PcapHelper::DLT_PPP);
	h.pcap_path = path;
	Link &l = w->links[h.link];
	helper.HookDefaultSink<PointToPointNetDevice>(l.dev[0], "PromiscSniffer", h.pcap);
	return 0;
}

extern "C" int ns3w_pcap_tun(struct ns3w_world *w, int node, const char *path)
{
	Tun *t = host_tun(w, node);
	if (!t)
		return node_valid(w, node) ? -ENODEV : -EINVAL;
	if (!path)
		return -EINVAL;
	if (t->pcap)
		return -EALREADY;
	FILE *probe = fopen(path, "wb");
	if (!probe)
		return -errno;
	fclose(probe);
	PcapHelper helper;
	t->pcap = helper.CreateFile(path, std::ios::out, PcapHelper::DLT_RAW);
	t->pcap_path = path;
	return 0;
}

/* Closes one capture; a stream that failed on the way (or while flushing
 * now) is reported with the errno of the flush, or 0 when the flush
 * worked and an earlier write had failed (the stream kept no errno). */
static void pcap_close_one(Ptr<PcapFileWrapper> &pcap, const std::string &path,
                           ns3w_pcap_failed_fn fn, void *ctx, size_t *failed)
{
	if (!pcap)
		return;
	errno = 0;
	pcap->Close();
	int err = errno;
	if (pcap->Fail()) {
		(*failed)++;
		if (fn)
			fn(ctx, path.c_str(), -err);
	}
	pcap = nullptr;
}

extern "C" size_t ns3w_pcap_close_all(struct ns3w_world *w, ns3w_pcap_failed_fn fn, void *ctx)
{
	size_t failed = 0;

	NS3W_ASSERT(!w->running);
	for (Host &h : w->hosts) {
		pcap_close_one(h.pcap, h.pcap_path, fn, ctx, &failed);
		if (h.tun)
			pcap_close_one(h.tun->pcap, h.tun->pcap_path, fn, ctx, &failed);
	}
	return failed;
}
