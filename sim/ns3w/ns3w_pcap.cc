/* Captures: a node's underlay (its access device, PPP) and tailnet
 * device (raw IP), and closing them all with each failure reported. */
#include "sim/ns3w/ns3w_int.h"

namespace
{
/* Opens a capture file at `path` with link type `dlt`; a path that cannot
 * be written is refused first with its errno (ns-3 would abort). */
int pcap_open(const char *path, PcapHelper::DataLinkType dlt, Ptr<PcapFileWrapper> *out)
{
	FILE *probe = fopen(path, "wb");
	if (!probe)
		return -errno;
	fclose(probe);
	PcapHelper helper;
	*out = helper.CreateFile(path, std::ios::out, dlt);
	return 0;
}
} // namespace

extern "C" int ns3w_pcap_underlay(struct ns3w_world *w, int node, const char *path)
{
	if (!node_valid(w, node) || !path)
		return -EINVAL;
	Host &h = w->hosts[node];
	if (h.pcap)
		return -EALREADY;
	int err = pcap_open(path, PcapHelper::DLT_PPP, &h.pcap);
	if (err)
		return err;
	h.pcap_path = path;
	Link &l = w->links[h.link];
	PcapHelper helper;
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
	int err = pcap_open(path, PcapHelper::DLT_RAW, &t->pcap);
	if (err)
		return err;
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
