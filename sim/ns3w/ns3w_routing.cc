/* Ns3wRouting, the routing protocol of every node: a host's own addresses,
 * its tailnet device for 100.64.0.0/10 and its access link for the rest; a
 * router's routes by arithmetic on the fixed addressing scheme (hosts
 * 10.0.0.0 + n + 1, their router ends 11.0.0.0 + n + 1, region links
 * 12.0.0.0 + 4k + 1/2) and a first-hop table per region pair, recomputed
 * when a region link goes up or down or changes latency. */
#include "sim/ns3w/ns3w_int.h"

namespace
{
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
} // namespace

namespace ns3w_impl
{

TypeId Ns3wRouting::GetTypeId()
{
	static TypeId tid = ns3w_type_id<Ns3wRouting, Ipv4RoutingProtocol>("ns3w::Ns3wRouting");
	return tid;
}

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
	if (!world->one_way.empty()) {
		uint32_t s = header.GetSource().Get() - NS3W_HOST_BASE - 1;
		uint32_t d = dst - NS3W_HOST_BASE - 1;
		size_t n = world->hosts.size();
		if (s < n && d < n) {
			uint64_t key = (uint64_t)(uint32_t)world->hosts[s].region << 32 |
			               (uint32_t)world->hosts[d].region;
			if (std::binary_search(world->one_way.begin(), world->one_way.end(), key))
				return true; /* one-way partition: dropped */
		}
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

} // namespace ns3w_impl
