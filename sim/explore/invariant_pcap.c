/* The hosts' tailnet packets as evidence (invariant.h, EXP-2): what a
 * host's own stack answered, independent of its daemon's conn_accepted
 * claims. The data plane captures a packet leaving the stack before any of
 * its checks (dp_from_tun) and one entering it after the packet filter but
 * before svcd's deliver hook (dp_from_underlay), so an inbound packet
 * proves nothing; an answer the stack sent does:
 *   - a TCP SYN-ACK from a service VIP:port to a client's address: the
 *     stack had a listener there and took the client's handshake;
 *   - a UDP datagram from the host (a VIP, or its own address: the data
 *     plane rewrites an L3 answer's source to the VIP after the capture) to
 *     a client's address:port, answering a datagram that client:port sent
 *     to a VIP:port on the same host: the datagram was taken.
 * VIPs are named by clients' outbound flow_new lines (the service the
 * client's netmap, from control, maps that address to), a client by its
 * own outbound flows (invariant.c); neither is the host's claim. A packet
 * whose VIP or peer is not known that way is not judged. Files are
 * streamed record by record (libpcap), never loaded whole. */
#include "sim/explore/invariant_int.h"

#include "lib/base/errfmt.h"
#include "lib/base/hash.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Recent datagrams sent to a VIP, per host file: a direct-mapped cache of
 * (client ip, client port, service port) -> VIP. A datagram whose entry
 * was overwritten is not judged (never misjudged: keys compare whole). */
#define INV_UDP_SLOTS 4096u

struct inv_udp_slot {
	uint32_t client, vip;
	uint16_t cport, port;
	bool used;
};

static bool inv_vip_eq(const void *ctx, size_t idx, const void *key)
{
	const struct inv_run *r = ctx;

	return r->vip_addr[idx] == *(const uint32_t *)key;
}

/* The service of VIP `ip`; -1 not a VIP, -2 claimed by two services. */
static int inv_vip_svc(const struct inv_run *r, uint32_t ip)
{
	long i = htab_find(&r->vip_index, hash_mix64(ip), inv_vip_eq, r, &ip);
	return i < 0 ? -1 : r->vip_svc[i];
}

int inv_vip_add(struct inv_run *r, uint32_t vip, int svc)
{
	long i = htab_find(&r->vip_index, hash_mix64(vip), inv_vip_eq, r, &vip);

	if (i >= 0) {
		if (r->vip_svc[i] != svc)
			r->vip_svc[i] = -2;
		return 0;
	}
	if (r->n_vip >= SCENARIO_NODES_MAX * 4u)
		return 0;
	if (inv_grow((void **)&r->vip_addr, &r->cap_vip, r->n_vip, sizeof(uint32_t)) < 0)
		return -ENOMEM;
	void *p = realloc(r->vip_svc, r->cap_vip * sizeof(int));
	if (!p)
		return -ENOMEM;
	r->vip_svc = p;
	r->vip_addr[r->n_vip] = vip;
	r->vip_svc[r->n_vip] = svc;
	if (htab_insert(&r->vip_index, hash_mix64(vip), r->n_vip) < 0)
		return -ENOMEM;
	r->n_vip++;
	return 0;
}

/* "<dir>/<node>-tailnet.pcap", or with "-restart-<n>" for n > 0. */
static int inv_pcap_path(const struct inv_run *r, uint32_t node, unsigned n, char *out, size_t cap)
{
	int len =
	    n ? snprintf(out, cap, "%s/%s-tailnet-restart-%u.pcap", r->pcap_dir, r->names[node], n)
	      : snprintf(out, cap, "%s/%s-tailnet.pcap", r->pcap_dir, r->names[node]);
	return len < 0 || (size_t)len >= cap ? -ENAMETOOLONG : 0;
}

/* 1: the file is there (a regular file), 0: not, or -errno. */
static int inv_pcap_exists(const char *path, uint64_t *size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 1;
}

int inv_pcap_find(struct inv_run *r, char *err, size_t errcap)
{
	char path[4096];
	uint64_t size;

	r->pcap_host = calloc(r->sc->node_count ? r->sc->node_count : 1, sizeof(bool));
	if (!r->pcap_host)
		return -ENOMEM;
	for (uint32_t i = 0; r->pcap_dir && i < r->sc->node_count; i++) {
		if (inv_pcap_path(r, i, 0, path, sizeof(path)) < 0)
			return err_setf(err, errcap, -ENAMETOOLONG, "%s: pcap path too long",
			                r->pcap_dir);
		int e = inv_pcap_exists(path, &size);
		if (e < 0)
			return err_setf(err, errcap, e, "%s: cannot read: %s", path, strerror(-e));
		r->pcap_host[i] = e == 1;
	}
	return 0;
}

static int inv_pacc_add(struct inv_run *r, struct inv_pkt_accept a)
{
	if (inv_grow((void **)&r->pacc, &r->cap_pacc, r->n_pacc, sizeof(*r->pacc)) < 0)
		return -ENOMEM;
	r->pacc[r->n_pacc++] = a;
	return 0;
}

static uint32_t inv_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t inv_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static struct inv_udp_slot *inv_udp_slot(struct inv_udp_slot *tab, uint32_t client, uint16_t cport,
                                         uint16_t port)
{
	uint64_t h = hash_mix64((uint64_t)client << 32 | (uint64_t)cport << 16 | port);
	return &tab[h % INV_UDP_SLOTS];
}

/* One IPv4 packet of `host`'s capture: an acceptance it proves, if any.
 * -EINVAL for a record that is not an IP packet. */
static int inv_pcap_packet(struct inv_run *r, uint32_t host, uint64_t t, const uint8_t *p,
                           size_t len, struct inv_udp_slot *udp)
{
	if (len < 1 || (p[0] >> 4 != 4 && p[0] >> 4 != 6))
		return -EINVAL;
	if (p[0] >> 4 == 6)
		return 0; /* the simulated tailnet is IPv4 (README) */
	size_t ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || len < ihl)
		return -EINVAL;
	if ((inv_be16(p + 6) & 0x1fff) != 0)
		return 0; /* a later fragment: no ports */
	uint8_t proto = p[9];
	uint32_t src = inv_be32(p + 12), dst = inv_be32(p + 16);
	const uint8_t *l4 = p + ihl;
	size_t l4len = len - ihl;
	if ((proto == 6 && l4len < 14) || (proto == 17 && l4len < 8) || (proto != 6 && proto != 17))
		return 0; /* not TCP or UDP, or a header cut by the snap length */
	uint16_t sport = inv_be16(l4), dport = inv_be16(l4 + 2);
	uint32_t client = inv_ip_node(r, dst);
	int svc;

	if (proto == 6) {
		/* SYN and ACK, no RST: the stack's answer to a handshake */
		if ((l4[13] & 0x16) != 0x12)
			return 0;
		svc = inv_vip_svc(r, src);
	} else {
		if (inv_vip_svc(r, dst) >= 0) { /* a datagram to a VIP: remember it */
			struct inv_udp_slot *s = inv_udp_slot(udp, src, sport, dport);
			*s = (struct inv_udp_slot){
			    .client = src, .vip = dst, .cport = sport, .port = dport, .used = true};
			return 0;
		}
		svc = inv_vip_svc(r, src);
		if (svc == -1) { /* an answer from the host's own address */
			struct inv_udp_slot *s = inv_udp_slot(udp, dst, dport, sport);
			if (s->used && s->client == dst && s->cport == dport && s->port == sport)
				svc = inv_vip_svc(r, s->vip);
		}
	}
	/* a peer that is this host itself: its own connection's answer */
	if (svc < 0 || client == INV_NONE || client == host)
		return 0;
	return inv_pacc_add(
	    r, (struct inv_pkt_accept){.t_us = t,
	                               .host = host,
	                               .peer_ip = dst,
	                               .src_ip = src,
	                               .service = svc,
	                               .port = sport,
	                               .peer_port = dport,
	                               .proto = proto == 6 ? POLICY_PROTO_TCP : POLICY_PROTO_UDP});
}

static int inv_pcap_file(struct inv_run *r, uint32_t host, const char *path, uint64_t size,
                         struct inv_udp_slot *udp, char *err, size_t errcap)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t packets = 0;
	int rc = 0, n;

	if (size > r->limits.pcap_bytes)
		return err_setf(err, errcap, -EFBIG, "%s: %llu bytes, more than the limit %llu",
		                path, (unsigned long long)size,
		                (unsigned long long)r->limits.pcap_bytes);
	pcap_t *pc =
	    pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!pc)
		return err_setf(err, errcap, -EINVAL, "%s: not a readable pcap: %s", path, ebuf);
	int link = pcap_datalink(pc);
	if (link != DLT_RAW) {
		pcap_close(pc);
		return err_setf(err, errcap, -EINVAL, "%s: link type %d, not raw IP", path, link);
	}
	memset(udp, 0, INV_UDP_SLOTS * sizeof(*udp));
	while ((n = pcap_next_ex(pc, &h, &data)) == 1) {
		if (++packets > r->limits.pcap_packets) {
			rc = err_setf(err, errcap, -E2BIG, "%s: more than %llu packets", path,
			              (unsigned long long)r->limits.pcap_packets);
			break;
		}
		uint64_t t = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
		rc = inv_pcap_packet(r, host, t, data, h->caplen, udp);
		if (rc == -EINVAL) {
			rc = err_setf(err, errcap, -EINVAL, "%s: packet %llu is not an IP packet",
			              path, (unsigned long long)packets);
			break;
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && n == PCAP_ERROR)
		rc = err_setf(err, errcap, -EINVAL, "%s: packet %llu: %s", path,
		              (unsigned long long)packets + 1, pcap_geterr(pc));
	pcap_close(pc);
	return rc;
}

int inv_pcap_read(struct inv_run *r, char *err, size_t errcap)
{
	char path[4096];
	struct inv_udp_slot *udp = NULL;
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < r->sc->node_count; i++) {
		if (!r->pcap_host[i])
			continue;
		if (!udp && !(udp = malloc(INV_UDP_SLOTS * sizeof(*udp))))
			return -ENOMEM;
		/* the first capture, then one per restart until one is missing */
		for (unsigned n = 0; rc == 0 && n <= INVARIANT_PCAP_RESTARTS_MAX; n++) {
			uint64_t size = 0;
			rc = inv_pcap_path(r, i, n, path, sizeof(path));
			if (rc == 0)
				rc = inv_pcap_exists(path, &size);
			if (rc == 0)
				break;
			if (rc < 0) {
				rc = err_setf(err, errcap, rc, "%s: cannot read: %s", path,
				              strerror(-rc));
				break;
			}
			rc = inv_pcap_file(r, i, path, size, udp, err, errcap);
		}
	}
	free(udp);
	return rc;
}

void inv_pcap_free(struct inv_run *r)
{
	free(r->pacc);
	free(r->pcap_host);
	free(r->vip_addr);
	free(r->vip_svc);
	htab_free(&r->vip_index);
}
