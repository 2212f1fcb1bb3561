/* Tailnet devices: packets the node's stack sends (checksums filled in,
 * captured, delivered to C from their own event) and packets C writes into
 * the stack, and the device's addresses. */
#include "sim/ns3w/ns3w_int.h"

namespace ns3w_impl
{

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

} // namespace ns3w_impl

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
