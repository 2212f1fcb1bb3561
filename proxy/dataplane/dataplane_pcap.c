/* The tailnet pcap (see dataplane.h, "Tailnet pcap"): every packet
 * crossing the TUN device, both directions, in a LINKTYPE_RAW file stamped
 * with the seam's clock, so a simulated run writes the same bytes every
 * time. The file is written through lib/base/outfile.h, which keeps why a
 * write failed; this file alone knows libpcap. */
#define _GNU_SOURCE /* outfile.h: fopencookie */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/outfile.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_PCAP_SNAPLEN 65535

struct dp_pcap {
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	struct outfile out; /* the dumper's stream: why a write failed */
	char *path;
	bool failed; /* pcap_write_failed said once */
};

/* The tailnet pcap lost bytes (a full disk): said once, with the reason;
 * the file is incomplete from here on. */
static void dp_pcap_failed(struct dataplane *dp)
{
	struct dp_pcap *pc = dp->pcap;

	if (pc->failed)
		return;
	pc->failed = true;
	io_event(dp->io, "pcap_write_failed", IO_STR("path", pc->path),
	         IO_STR("error", strerror(-pc->out.err)));
}

void dp_pcap(struct dataplane *dp, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;

	if (!dp->pcap || !dp->pcap->dumper)
		return;
	h.ts.tv_sec = (time_t)(dp->now_us / 1000000);
	h.ts.tv_usec = (suseconds_t)(dp->now_us % 1000000);
	h.caplen = (bpf_u_int32)(len < DP_PCAP_SNAPLEN ? len : DP_PCAP_SNAPLEN);
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)dp->pcap->dumper, &h, pkt);
	if (dp->pcap->out.err)
		dp_pcap_failed(dp);
}

int dp_pcap_open(struct dataplane *dp, const char *path)
{
	struct dp_pcap *pc = calloc(1, sizeof(*pc));
	FILE *f = NULL;

	dp->pcap = pc;
	if (!pc)
		return -EIO;
	pc->path = strdup(path);
	pc->pcap = pcap_open_dead(DLT_RAW, DP_PCAP_SNAPLEN);
	if (pc->pcap && pc->path)
		f = outfile_open(&pc->out, path, false);
	if (f)
		pc->dumper = pcap_dump_fopen(pc->pcap, f);
	if (!pc->dumper) {
		if (f)
			fclose(f);
		return -EIO;
	}
	return 0;
}

void dp_pcap_close(struct dataplane *dp)
{
	struct dp_pcap *pc = dp->pcap;

	if (!pc)
		return;
	if (pc->dumper) {
		pcap_dump_close(pc->dumper); /* the last flush may fail too */
		if (pc->out.err)
			dp_pcap_failed(dp);
	}
	if (pc->pcap)
		pcap_close(pc->pcap);
	free(pc->path);
	free(pc);
	dp->pcap = NULL;
}
