/* The world and its topology: ns3w_world_new (ns-3's defaults for the
 * run), regions, region links and nodes with their access links (and
 * tailnet devices), link state (up, parameters, blocked node pairs), and
 * ns3w_world_free. */
#include "sim/ns3w/ns3w_int.h"

namespace ns3w_impl
{
TypeId LinkDrop::GetTypeId()
{
	static TypeId tid = ns3w_type_id<LinkDrop, ErrorModel>("ns3w::LinkDrop");
	return tid;
}

TypeId QualityChannel::GetTypeId()
{
	static TypeId tid =
	    ns3w_type_id<QualityChannel, PointToPointChannel>("ns3w::QualityChannel");
	return tid;
}

bool QualityChannel::TransmitStart(Ptr<const Packet> p, Ptr<PointToPointNetDevice> src, Time txTime)
{
	if (!jitter_us && reorder <= 0.0 && duplicate <= 0.0)
		return PointToPointChannel::TransmitStart(p, src, txTime);
	int wire = src == GetSource(0) ? 0 : 1;
	Ptr<PointToPointNetDevice> dst = GetDestination(wire);
	if (!rv[wire]) {
		rv[wire] = CreateObject<UniformRandomVariable>();
		rv[wire]->SetStream(stream + wire);
	}
	UniformRandomVariable *r = PeekPointer(rv[wire]);
	/* a held-back packet waits one more trip, so the ones sent after it
	 * (within latency + jitter) arrive first */
	Time hold = std::max(GetDelay() + MicroSeconds((int64_t)jitter_us),
	                     MicroSeconds((int64_t)NS3W_REORDER_MIN_US));
	int copies = duplicate > 0.0 && r->GetValue() < duplicate ? 2 : 1;
	for (int c = 0; c < copies; c++) {
		Time delay = GetDelay();
		if (jitter_us)
			delay += MicroSeconds((int64_t)r->GetInteger(0, (uint32_t)jitter_us));
		if (reorder > 0.0 && r->GetValue() < reorder)
			delay += hold;
		Simulator::ScheduleWithContext(dst->GetNode()->GetId(), txTime + delay,
		                               &PointToPointNetDevice::Receive, dst, p->Copy());
	}
	return true;
}
} // namespace ns3w_impl

namespace
{

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
	return p && p->loss >= 0.0 && p->loss <= 1.0 && p->latency_us <= 3600ull * 1000000 &&
	       p->jitter_us <= NS3W_JITTER_MAX_US && p->reorder >= 0.0 && p->reorder <= 1.0 &&
	       p->duplicate >= 0.0 && p->duplicate <= 1.0;
}

void link_apply(struct ns3w_world *w, int id)
{
	Link &l = w->links[id];
	uint64_t bps = l.params.bandwidth_bps ? l.params.bandwidth_bps : NS3W_DEFAULT_BPS;
	l.ch->SetAttribute("Delay", TimeValue(MicroSeconds((int64_t)l.params.latency_us)));
	l.ch->jitter_us = l.params.jitter_us;
	l.ch->reorder = l.params.reorder;
	l.ch->duplicate = l.params.duplicate;
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
	l.ch = CreateObject<QualityChannel>();
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
	int id = (int)w->links.size();
	l.ch->stream = NS3W_QUALITY_STREAM_BASE + (int64_t)id * 2;
	w->links.push_back(l);
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

} // namespace

extern "C" struct ns3w_world *ns3w_world_new(const struct ns3w_world_config *config)
{
	if (!config)
		return nullptr;
	/* ns-3's simulator is a singleton: the world marks itself in ns-3's
	 * own name registry instead of a global of ours */
	if (Names::Find<Object>("/Names/ns3w-world"))
		return nullptr;
	Names::Add("ns3w-world", CreateObject<Object>());
	tcp_fix_check();

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
	for (Host &h : w->hosts) {
		if (h.tun && h.tun->flush_ev)
			h.tun->flush_ev->Cancel();
		/* the sockets go with the nodes, after the lists */
		for (ClosingMark *m : h.closing)
			m->world = nullptr;
		h.closing.clear();
	}
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

extern "C" int ns3w_link_get_params(const struct ns3w_world *w, int link,
                                    struct ns3w_link_params *out)
{
	if (!w || link < 0 || (size_t)link >= w->links.size())
		return -EINVAL;
	*out = w->links[link].params;
	return 0;
}

extern "C" int ns3w_block_regions_one_way(struct ns3w_world *w, int from_region, int to_region,
                                          bool blocked)
{
	if (!w || from_region < 0 || to_region < 0 || (size_t)from_region >= w->regions.size() ||
	    (size_t)to_region >= w->regions.size() || from_region == to_region)
		return -EINVAL;
	uint64_t key = (uint64_t)from_region << 32 | (uint32_t)to_region;
	auto it = std::lower_bound(w->one_way.begin(), w->one_way.end(), key);
	bool present = it != w->one_way.end() && *it == key;
	if (blocked && !present)
		w->one_way.insert(it, key);
	else if (!blocked && present)
		w->one_way.erase(it);
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
