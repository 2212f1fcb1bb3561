/* rr_plain: the wrapper-overhead benchmark's reference side.
 *
 * The underlay TCP request/response workload that `simrun` runs through
 * ns3w and the seam, written as a plain, tuned ns-3 3.37 C++ program with
 * the standard idioms (helpers, Socket callbacks, Simulator::Schedule,
 * ns-3 random variables). Same topology, addresses, ns-3 settings and
 * workload as bench/rr-1k.yaml; see docs/benchmarks.md.
 *
 * Topology: R region routers, a full mesh of region links (10 Gbit/s; link
 * k joins the k-th pair (a, b), a < b, in lexicographic order, with one-way
 * latency 40 + 40 k / (pairs - 1) ms: 40, 48, .. 80 ms for 4 regions.
 * Any two links are longer than a third, so the direct link is strictly
 * the lowest-latency path and the wrapper's lowest-latency routing takes
 * the same paths as these direct routes), and N
 * hosts, host i in region i / ceil(N / R) (contiguous groups, as simrun
 * assigns `count` groups listed one per region), each on its own access
 * link (1 ms, 1 Gbit/s). Addresses follow sim/ns3w/ns3w.h.
 *
 * Routing: Ipv4StaticRouting only. Hosts: default route to their router.
 * Routers: a host route per local host on its access interface, and a host
 * route per other host via the direct region link (the mesh makes it the
 * shortest path). The wrapper uses a hash-based routing protocol instead,
 * so the comparison covers the whole path, routing included.
 */
#include "lib/base/check.h"

#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace ns3;

enum {
	RR_PORT = 7000,
	RR_MAX_NODES = 1 << 20,
	RR_MAX_REGIONS = 64,
};

/* --routing: what routers look up. host: a static host route per host
 * (the plain user's choice, the default); prefix: static host routes for
 * local hosts, CIDR prefixes for other regions; direct: ns3w's own tricks
 * (a per-host table of prebuilt routes, router devices handing packets
 * straight to IPv4), to isolate the cost of the C layer itself. */
enum rr_routing {
	RR_ROUTING_HOST = 0,
	RR_ROUTING_PREFIX,
	RR_ROUTING_DIRECT,
};

struct rr_config {
	uint32_t nodes = 1000;
	uint32_t regions = 4;
	double duration_s = 30.0;
	double rate_per_s = 0.5;
	double start_s = 0.0;
	uint32_t request_bytes = 200;
	uint32_t response_bytes = 2000;
	double timeout_s = 10.0;
	uint64_t seed = 1;
	rr_routing routing = RR_ROUTING_HOST;
	std::string out = "rr_plain.jsonl";
};

struct rr_bench;

/* One host: its node, address and a pointer back to the shared bench. */
struct rr_host {
	rr_bench *bench;
	Ptr<Node> node;
	uint32_t index;
	Ipv4Address ip;
};

/* One client request, freed when it finishes (ok or failed). */
struct rr_client {
	rr_host *host;
	Ptr<Socket> sock;
	Time start;
	uint32_t received_bytes;
	EventId timeout;
};

/* One accepted server connection, freed when its socket is closed. */
struct rr_server_conn {
	rr_bench *bench;
	Ptr<Socket> sock;
	uint32_t received_bytes;
	uint32_t sent_bytes;
	bool responding;
};

struct rr_bench {
	rr_config cfg;
	std::vector<rr_host> hosts;
	Ptr<ExponentialRandomVariable> interarrival;
	Ptr<UniformRandomVariable> pick;
	std::vector<int64_t> latencies_us;
	uint64_t failed = 0;
	uint64_t started = 0;
	FILE *out = nullptr;
};

static void rr_client_arrival(rr_host *host);

/* Records one finished request and writes its line; the client is freed
 * by the caller. */
static void rr_record(rr_bench *b, const rr_client *c, bool ok)
{
	int64_t now_us = Simulator::Now().GetMicroSeconds();
	int64_t lat_us = now_us - c->start.GetMicroSeconds();
	if (ok)
		b->latencies_us.push_back(lat_us);
	else
		b->failed++;
	fprintf(b->out, "{\"t_us\":%" PRId64 ",\"latency_us\":%" PRId64 ",\"outcome\":\"%s\"}\n",
	        now_us, lat_us, ok ? "ok" : "failed");
}

/* Ends a client request: detaches every callback (the TCP object outlives
 * us through FIN_WAIT/TIME_WAIT) and closes. */
static void rr_client_finish(rr_client *c, bool ok)
{
	rr_record(c->host->bench, c, ok);
	c->timeout.Cancel();
	c->sock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
	c->sock->SetConnectCallback(MakeNullCallback<void, Ptr<Socket>>(),
	                            MakeNullCallback<void, Ptr<Socket>>());
	c->sock->SetCloseCallbacks(MakeNullCallback<void, Ptr<Socket>>(),
	                           MakeNullCallback<void, Ptr<Socket>>());
	c->sock->Close();
	delete c;
}

static void rr_client_timeout(rr_client *c)
{
	rr_client_finish(c, false);
}

static void rr_client_error(rr_client *c, Ptr<Socket>)
{
	rr_client_finish(c, false);
}

/* Drains the response; at the last byte the request is done. */
static void rr_client_recv(rr_client *c, Ptr<Socket> sock)
{
	uint32_t want = c->host->bench->cfg.response_bytes;
	Ptr<Packet> p;
	while ((p = sock->Recv())) {
		c->received_bytes += p->GetSize();
		if (c->received_bytes >= want) {
			rr_client_finish(c, true);
			return;
		}
	}
}

/* Connected: the request fits the (empty) send buffer in one Send. */
static void rr_client_connected(rr_client *c, Ptr<Socket> sock)
{
	int sent = sock->Send(Create<Packet>(c->host->bench->cfg.request_bytes));
	CHECK(sent == (int)c->host->bench->cfg.request_bytes);
}

/* Picks a uniform target among the other hosts. */
static uint32_t rr_pick_target(rr_bench *b, uint32_t self)
{
	uint32_t t = b->pick->GetInteger(0, b->cfg.nodes - 2);
	return t >= self ? t + 1 : t;
}

/* A Poisson arrival on `host`: start one request and schedule the next. */
static void rr_client_arrival(rr_host *host)
{
	rr_bench *b = host->bench;
	uint32_t target = rr_pick_target(b, host->index);

	rr_client *c = new rr_client();
	c->host = host;
	c->start = Simulator::Now();
	c->sock = Socket::CreateSocket(host->node, TcpSocketFactory::GetTypeId());
	CHECK(c->sock->Bind() == 0);
	c->sock->SetConnectCallback(MakeBoundCallback(&rr_client_connected, c),
	                            MakeBoundCallback(&rr_client_error, c));
	c->sock->SetRecvCallback(MakeBoundCallback(&rr_client_recv, c));
	c->sock->SetCloseCallbacks(MakeBoundCallback(&rr_client_error, c),
	                           MakeBoundCallback(&rr_client_error, c));
	c->timeout = Simulator::Schedule(Seconds(b->cfg.timeout_s), &rr_client_timeout, c);
	b->started++;
	int rc = c->sock->Connect(InetSocketAddress(b->hosts[target].ip, RR_PORT));
	if (rc != 0) {
		rr_client_finish(c, false);
	}

	Time next = Seconds(b->interarrival->GetValue());
	if (Simulator::Now() + next < Seconds(b->cfg.duration_s))
		Simulator::Schedule(next, &rr_client_arrival, host);
}

static void rr_server_close(rr_server_conn *s)
{
	s->sock->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
	s->sock->SetSendCallback(MakeNullCallback<void, Ptr<Socket>, uint32_t>());
	s->sock->SetCloseCallbacks(MakeNullCallback<void, Ptr<Socket>>(),
	                           MakeNullCallback<void, Ptr<Socket>>());
	s->sock->Close();
	delete s;
}

/* Sends as much of the response as the buffer takes; continued from the
 * send callback if the buffer was full. */
static void rr_server_push(rr_server_conn *s)
{
	uint32_t total = s->bench->cfg.response_bytes;
	while (s->sent_bytes < total) {
		uint32_t n = std::min(total - s->sent_bytes, s->sock->GetTxAvailable());
		if (n == 0)
			return;
		int sent = s->sock->Send(Create<Packet>(n));
		if (sent <= 0)
			return;
		s->sent_bytes += (uint32_t)sent;
	}
}

static void rr_server_send(rr_server_conn *s, Ptr<Socket>, uint32_t)
{
	if (s->responding)
		rr_server_push(s);
}

static void rr_server_recv(rr_server_conn *s, Ptr<Socket> sock)
{
	Ptr<Packet> p;
	while ((p = sock->Recv()))
		s->received_bytes += p->GetSize();
	if (!s->responding && s->received_bytes >= s->bench->cfg.request_bytes) {
		s->responding = true;
		rr_server_push(s);
	}
}

/* Peer's FIN (or an error): close our side. */
static void rr_server_peer_closed(rr_server_conn *s, Ptr<Socket>)
{
	rr_server_close(s);
}

/* An accepted socket is a fork without callbacks: set them all here. */
static void rr_server_accept(rr_bench *b, Ptr<Socket> sock, const Address &)
{
	rr_server_conn *s = new rr_server_conn();
	s->bench = b;
	s->sock = sock;
	sock->SetRecvCallback(MakeBoundCallback(&rr_server_recv, s));
	sock->SetSendCallback(MakeBoundCallback(&rr_server_send, s));
	sock->SetCloseCallbacks(MakeBoundCallback(&rr_server_peer_closed, s),
	                        MakeBoundCallback(&rr_server_peer_closed, s));
	rr_server_recv(s, sock);
}

static Ipv4Address rr_ip(uint32_t base, uint32_t offset)
{
	return Ipv4Address(base + offset);
}

/* Adds `dev` to its node's IPv4 with a /32 address and brings it up,
 * without Ipv4AddressHelper (it installs an FqCoDel queue disc). */
static uint32_t rr_add_iface(Ptr<NetDevice> dev, Ipv4Address addr)
{
	Ptr<Ipv4> ipv4 = dev->GetNode()->GetObject<Ipv4>();
	int32_t ifi = ipv4->AddInterface(dev);
	CHECK(ifi >= 0);
	ipv4->AddAddress(ifi, Ipv4InterfaceAddress(addr, Ipv4Mask::GetOnes()));
	ipv4->SetUp(ifi);
	return (uint32_t)ifi;
}

static Ptr<Ipv4StaticRouting> rr_static(Ptr<Node> node)
{
	Ipv4StaticRoutingHelper h;
	return h.GetStaticRouting(node->GetObject<Ipv4>());
}

static uint32_t rr_region_of(const rr_config &cfg, uint32_t host)
{
	uint32_t per = (cfg.nodes + cfg.regions - 1) / cfg.regions;
	return host / per;
}

/* Covers region `region`'s contiguous host range with the fewest CIDR
 * prefixes, each routed via `next_hop` on `iface` (the --routing prefix
 * variant: fewer entries for Ipv4StaticRouting's linear lookup). */
static void rr_add_range_routes(Ptr<Ipv4StaticRouting> rt, const rr_config &cfg, uint32_t region,
                                Ipv4Address next_hop, uint32_t iface)
{
	uint32_t per = (cfg.nodes + cfg.regions - 1) / cfg.regions;
	uint64_t lo = 0x0a000000u + (uint64_t)region * per + 1;
	uint64_t hi = 0x0a000000u + std::min<uint64_t>((uint64_t)(region + 1) * per, cfg.nodes);
	while (lo <= hi) {
		uint32_t len = 32;
		while (len > 8) {
			uint64_t size = 1ull << (32 - (len - 1));
			if (lo % size != 0 || lo + size - 1 > hi)
				break;
			len--;
		}
		uint32_t mask = len == 0 ? 0 : 0xffffffffu << (32 - len);
		rt->AddNetworkRouteTo(Ipv4Address((uint32_t)lo), Ipv4Mask(mask), next_hop, iface);
		lo += 1ull << (32 - len);
	}
}

/* --routing direct: ns3w's approach written in plain ns-3. A host sends
 * everything to its router; a router indexes prebuilt routes by host
 * number (10.0.0.0 + n + 1). No allocation or scan per packet. */
class RrDirectRouting : public Ipv4RoutingProtocol
{
public:
	static TypeId GetTypeId()
	{
		static TypeId tid = TypeId("rr::DirectRouting")
		                        .SetParent<Ipv4RoutingProtocol>()
		                        .AddConstructor<RrDirectRouting>();
		return tid;
	}

	bool is_router = false;
	Ipv4Address self;                    /* hosts: their address */
	Ptr<Ipv4Route> default_route;        /* hosts: via the router */
	std::vector<Ptr<Ipv4Route>> to_host; /* routers: by host index */
	Ptr<Ipv4> ipv4;

	Ptr<Ipv4Route> lookup(Ipv4Address dst) const
	{
		if (!is_router)
			return default_route;
		uint32_t n = dst.Get() - 0x0a000001u;
		return n < to_host.size() ? to_host[n] : nullptr;
	}
	Ptr<Ipv4Route> RouteOutput(Ptr<Packet>, const Ipv4Header &h, Ptr<NetDevice>,
	                           Socket::SocketErrno &err) override
	{
		Ptr<Ipv4Route> r = lookup(h.GetDestination());
		err = r ? Socket::ERROR_NOTERROR : Socket::ERROR_NOROUTETOHOST;
		return r;
	}
	bool RouteInput(Ptr<const Packet> p, const Ipv4Header &h, Ptr<const NetDevice> idev,
	                UnicastForwardCallback ucb, MulticastForwardCallback,
	                LocalDeliverCallback lcb, ErrorCallback) override
	{
		if (!is_router) {
			if (h.GetDestination() != self)
				return false;
			lcb(p, h, (uint32_t)ipv4->GetInterfaceForDevice(idev));
			return true;
		}
		Ptr<Ipv4Route> r = lookup(h.GetDestination());
		if (!r)
			return false;
		ucb(r, p, h);
		return true;
	}
	void NotifyInterfaceUp(uint32_t) override
	{
	}
	void NotifyInterfaceDown(uint32_t) override
	{
	}
	void NotifyAddAddress(uint32_t, Ipv4InterfaceAddress) override
	{
	}
	void NotifyRemoveAddress(uint32_t, Ipv4InterfaceAddress) override
	{
	}
	void SetIpv4(Ptr<Ipv4> ip) override
	{
		ipv4 = ip;
	}
	void PrintRoutingTable(Ptr<OutputStreamWrapper>, Time::Unit) const override
	{
	}

protected:
	void DoDispose() override
	{
		ipv4 = nullptr;
		default_route = nullptr;
		to_host.clear();
		Ipv4RoutingProtocol::DoDispose();
	}
};

static Ptr<Ipv4Route> rr_route(Ipv4Address src, Ipv4Address gw, Ptr<NetDevice> dev)
{
	Ptr<Ipv4Route> r = Create<Ipv4Route>();
	r->SetSource(src);
	r->SetGateway(gw);
	r->SetOutputDevice(dev);
	return r;
}

/* Router devices hand IPv4 packets straight to IPv4 (--routing direct):
 * Node's generic path scans a handler list as long as the device count. */
static bool rr_router_rx(Ipv4L3Protocol *ip, Ptr<NetDevice> dev, Ptr<const Packet> p,
                         uint16_t proto, const Address &from)
{
	if (proto != Ipv4L3Protocol::PROT_NUMBER)
		return false;
	ip->Receive(dev, p, proto, from, dev->GetAddress(), NetDevice::PACKET_HOST);
	return true;
}

/* Replaces static routing by RrDirectRouting on every node. */
static void rr_install_direct(rr_bench *b, NodeContainer &routers, NodeContainer &hosts,
                              const std::vector<uint32_t> &mesh_if,
                              const std::vector<Ipv4Address> &mesh_nh,
                              const std::vector<uint32_t> &access_if)
{
	const rr_config &cfg = b->cfg;
	for (uint32_t r = 0; r < cfg.regions; r++) {
		Ptr<Ipv4> ip = routers.Get(r)->GetObject<Ipv4>();
		Ptr<RrDirectRouting> rt = CreateObject<RrDirectRouting>();
		rt->is_router = true;
		for (uint32_t n = 0; n < cfg.nodes; n++) {
			uint32_t hr = rr_region_of(cfg, n);
			uint32_t pair = r * cfg.regions + hr;
			if (hr == r)
				rt->to_host.push_back(
				    rr_route(ip->GetAddress(access_if[n], 0).GetLocal(),
				             b->hosts[n].ip, ip->GetNetDevice(access_if[n])));
			else
				rt->to_host.push_back(
				    rr_route(ip->GetAddress(mesh_if[pair], 0).GetLocal(),
				             mesh_nh[pair], ip->GetNetDevice(mesh_if[pair])));
		}
		ip->SetRoutingProtocol(rt);
		Ipv4L3Protocol *l3 = PeekPointer(routers.Get(r)->GetObject<Ipv4L3Protocol>());
		for (uint32_t i = 1; i < ip->GetNInterfaces(); i++)
			ip->GetNetDevice(i)->SetReceiveCallback(
			    MakeBoundCallback(&rr_router_rx, l3));
	}
	for (uint32_t n = 0; n < cfg.nodes; n++) {
		Ptr<Ipv4> ip = hosts.Get(n)->GetObject<Ipv4>();
		Ptr<RrDirectRouting> rt = CreateObject<RrDirectRouting>();
		rt->self = b->hosts[n].ip;
		rt->default_route =
		    rr_route(b->hosts[n].ip, rr_ip(0x0b000000u, n + 1), ip->GetNetDevice(1));
		ip->SetRoutingProtocol(rt);
	}
}

/* Region mesh: link k joins pair k; fills the interface and the next hop
 * for every (from, to) region pair. */
static void rr_build_mesh(const rr_config &cfg, NodeContainer &routers,
                          std::vector<uint32_t> &mesh_if, std::vector<Ipv4Address> &mesh_nh)
{
	uint32_t r_count = cfg.regions;
	uint32_t pairs = r_count * (r_count - 1) / 2;
	PointToPointHelper mesh;
	mesh.SetDeviceAttribute("DataRate", StringValue("10Gbps"));
	uint32_t k = 0;
	for (uint32_t a = 0; a < r_count; a++) {
		for (uint32_t bb = a + 1; bb < r_count; bb++, k++) {
			uint64_t lat_us = pairs > 1 ? 40000 + 40000ull * k / (pairs - 1) : 40000;
			mesh.SetChannelAttribute("Delay", TimeValue(MicroSeconds((int64_t)lat_us)));
			NetDeviceContainer d = mesh.Install(routers.Get(a), routers.Get(bb));
			Ipv4Address ea = rr_ip(0x0c000000u, 4 * k + 1);
			Ipv4Address eb = rr_ip(0x0c000000u, 4 * k + 2);
			mesh_if[a * r_count + bb] = rr_add_iface(d.Get(0), ea);
			mesh_if[bb * r_count + a] = rr_add_iface(d.Get(1), eb);
			mesh_nh[a * r_count + bb] = eb;
			mesh_nh[bb * r_count + a] = ea;
		}
	}
}

/* Each host's access link to its region's router, its address and default
 * route; fills the router side's interface per host. */
static void rr_build_access(rr_bench *b, NodeContainer &routers, NodeContainer &hosts,
                            std::vector<uint32_t> &access_if)
{
	const rr_config &cfg = b->cfg;
	PointToPointHelper access;
	access.SetDeviceAttribute("DataRate", StringValue("1Gbps"));
	access.SetChannelAttribute("Delay", TimeValue(MilliSeconds(1)));
	b->hosts.resize(cfg.nodes);
	for (uint32_t n = 0; n < cfg.nodes; n++) {
		uint32_t r = rr_region_of(cfg, n);
		NetDeviceContainer d = access.Install(hosts.Get(n), routers.Get(r));
		Ipv4Address hip = rr_ip(0x0a000000u, n + 1);
		Ipv4Address rip = rr_ip(0x0b000000u, n + 1);
		uint32_t hif = rr_add_iface(d.Get(0), hip);
		access_if[n] = rr_add_iface(d.Get(1), rip);
		rr_static(hosts.Get(n))->SetDefaultRoute(rip, hif);
		b->hosts[n] = rr_host{b, hosts.Get(n), n, hip};
	}
}

/* The routers' static routes (--routing host or prefix). */
static void rr_install_static(rr_bench *b, NodeContainer &routers,
                              const std::vector<uint32_t> &mesh_if,
                              const std::vector<Ipv4Address> &mesh_nh,
                              const std::vector<uint32_t> &access_if)
{
	const rr_config &cfg = b->cfg;
	uint32_t r_count = cfg.regions;
	for (uint32_t r = 0; r < r_count; r++) {
		Ptr<Ipv4StaticRouting> rt = rr_static(routers.Get(r));
		for (uint32_t n = 0; n < cfg.nodes; n++) {
			uint32_t hr = rr_region_of(cfg, n);
			if (hr == r)
				rt->AddHostRouteTo(b->hosts[n].ip, access_if[n]);
			else if (cfg.routing == RR_ROUTING_HOST)
				rt->AddHostRouteTo(b->hosts[n].ip, mesh_nh[r * r_count + hr],
				                   mesh_if[r * r_count + hr]);
		}
		if (cfg.routing != RR_ROUTING_PREFIX)
			continue;
		for (uint32_t hr = 0; hr < r_count; hr++) {
			if (hr != r)
				rr_add_range_routes(rt, cfg, hr, mesh_nh[r * r_count + hr],
				                    mesh_if[r * r_count + hr]);
		}
	}
}

/* A listener on every host, and each host's first client arrival. */
static void rr_start_hosts(rr_bench *b)
{
	const rr_config &cfg = b->cfg;
	for (rr_host &h : b->hosts) {
		Ptr<Socket> l = Socket::CreateSocket(h.node, TcpSocketFactory::GetTypeId());
		CHECK(l->Bind(InetSocketAddress(Ipv4Address::GetAny(), RR_PORT)) == 0);
		CHECK(l->Listen() == 0);
		l->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address &>(),
		                     MakeBoundCallback(&rr_server_accept, b));
		Time first = Seconds(cfg.start_s + b->interarrival->GetValue());
		if (first < Seconds(cfg.duration_s))
			Simulator::ScheduleWithContext(h.node->GetId(), first, &rr_client_arrival,
			                               &h);
	}
}

/* Builds routers, region mesh, hosts, routes, and the servers. */
static void rr_build(rr_bench *b)
{
	const rr_config &cfg = b->cfg;
	uint32_t r_count = cfg.regions;

	NodeContainer routers;
	routers.Create(r_count);
	NodeContainer hosts;
	hosts.Create(cfg.nodes);

	InternetStackHelper stack;
	stack.SetIpv6StackInstall(false);
	Ipv4StaticRoutingHelper static_routing;
	stack.SetRoutingHelper(static_routing);
	stack.Install(routers);
	stack.Install(hosts);

	std::vector<uint32_t> mesh_if(r_count * r_count, 0);
	std::vector<Ipv4Address> mesh_nh(r_count * r_count);
	std::vector<uint32_t> access_if(cfg.nodes);
	rr_build_mesh(cfg, routers, mesh_if, mesh_nh);
	rr_build_access(b, routers, hosts, access_if);
	if (cfg.routing == RR_ROUTING_DIRECT)
		rr_install_direct(b, routers, hosts, mesh_if, mesh_nh, access_if);
	else
		rr_install_static(b, routers, mesh_if, mesh_nh, access_if);
	rr_start_hosts(b);
}

static void rr_usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [--nodes N] [--regions R] [--duration SECONDS] [--rate PER_S]\n"
	        "          [--seed N] [--out FILE] [--routing host|prefix|direct]\n",
	        argv0);
	exit(2);
}

static rr_config rr_parse(int argc, char **argv)
{
	rr_config cfg;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			rr_usage(argv[0]);
		const char *v = argv[++i];
		if (!strcmp(a, "--nodes"))
			cfg.nodes = (uint32_t)strtoul(v, nullptr, 10);
		else if (!strcmp(a, "--regions"))
			cfg.regions = (uint32_t)strtoul(v, nullptr, 10);
		else if (!strcmp(a, "--duration"))
			cfg.duration_s = strtod(v, nullptr);
		else if (!strcmp(a, "--rate"))
			cfg.rate_per_s = strtod(v, nullptr);
		else if (!strcmp(a, "--seed"))
			cfg.seed = strtoull(v, nullptr, 10);
		else if (!strcmp(a, "--out"))
			cfg.out = v;
		else if (!strcmp(a, "--routing") && !strcmp(v, "host"))
			cfg.routing = RR_ROUTING_HOST;
		else if (!strcmp(a, "--routing") && !strcmp(v, "prefix"))
			cfg.routing = RR_ROUTING_PREFIX;
		else if (!strcmp(a, "--routing") && !strcmp(v, "direct"))
			cfg.routing = RR_ROUTING_DIRECT;
		else
			rr_usage(argv[0]);
	}
	if (cfg.nodes < 2 || cfg.nodes > RR_MAX_NODES || cfg.regions < 1 ||
	    cfg.regions > RR_MAX_REGIONS || cfg.regions > cfg.nodes || cfg.duration_s <= 0 ||
	    cfg.rate_per_s <= 0 || cfg.seed < 1)
		rr_usage(argv[0]);
	return cfg;
}

static double rr_percentile_ms(std::vector<int64_t> &v, double q)
{
	if (v.empty())
		return 0.0;
	size_t rank = (size_t)(q * (double)v.size());
	if (rank >= v.size())
		rank = v.size() - 1;
	std::nth_element(v.begin(), v.begin() + (long)rank, v.end());
	return (double)v[rank] / 1000.0;
}

int main(int argc, char **argv)
{
	using clock = std::chrono::steady_clock;
	rr_bench b;
	b.cfg = rr_parse(argc, argv);

	auto t0 = clock::now();
	ObjectFactory sched;
	sched.SetTypeId("ns3::PriorityQueueScheduler");
	Simulator::SetScheduler(sched);
	RngSeedManager::SetSeed((uint32_t)b.cfg.seed);
	RngSeedManager::SetRun(1);
	Config::SetDefault("ns3::Ipv4::WeakEsModel", BooleanValue(false));
	Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(1448));
	Config::SetDefault("ns3::TcpSocketBase::MaxSegLifetime", DoubleValue(1.0));

	b.interarrival = CreateObject<ExponentialRandomVariable>();
	b.interarrival->SetAttribute("Mean", DoubleValue(1.0 / b.cfg.rate_per_s));
	b.pick = CreateObject<UniformRandomVariable>();

	b.out = fopen(b.cfg.out.c_str(), "w");
	if (!b.out) {
		perror(b.cfg.out.c_str());
		return 2;
	}
	std::vector<char> outbuf(1 << 20);
	setvbuf(b.out, outbuf.data(), _IOFBF, outbuf.size());
	b.latencies_us.reserve((size_t)(b.cfg.nodes * b.cfg.rate_per_s * b.cfg.duration_s * 1.2));

	rr_build(&b);
	auto t1 = clock::now();
	Simulator::Stop(Seconds(b.cfg.duration_s));
	Simulator::Run();
	auto t2 = clock::now();
	uint64_t events = Simulator::GetEventCount();
	Simulator::Destroy();
	fclose(b.out);

	double build_s = std::chrono::duration<double>(t1 - t0).count();
	double run_s = std::chrono::duration<double>(t2 - t1).count();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t ok = b.latencies_us.size();
	double p50 = rr_percentile_ms(b.latencies_us, 0.50);
	double p99 = rr_percentile_ms(b.latencies_us, 0.99);

	printf("rr_plain: nodes=%u regions=%u duration=%.3fs rate=%.3f/s seed=%" PRIu64 "\n",
	       b.cfg.nodes, b.cfg.regions, b.cfg.duration_s, b.cfg.rate_per_s, b.cfg.seed);
	printf("wall_s=%.3f build_s=%.3f run_s=%.3f events=%" PRIu64
	       " events_per_s=%.0f sim_s_per_wall_s=%.3f\n",
	       build_s + run_s, build_s, run_s, events, (double)events / run_s,
	       b.cfg.duration_s / (build_s + run_s));
	printf("requests started=%" PRIu64 " ok=%" PRIu64 " failed=%" PRIu64 " unfinished=%" PRIu64
	       " p50_ms=%.3f p99_ms=%.3f peak_rss_kib=%ld\n",
	       b.started, ok, b.failed, b.started - ok - b.failed, p50, p99, ru.ru_maxrss);
	return 0;
}
