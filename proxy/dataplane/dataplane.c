/* The data plane as an object (see dataplane.h for the design and
 * dataplane_int.h for the map of its files): creating and freeing it,
 * swapping in a netmap (peers keep their failover state and flows their
 * host by peer name, STR-6; a host that left the map with open
 * connections awaits probing's verdict, STR-7), the addresses it holds on
 * the TUN device, drop counting with its rate-limited events, and the
 * queries of dataplane.h. */
#include "proxy/dataplane/dataplane_int.h"

#include "lib/base/check.h"
#include "lib/base/mutant.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- drops and their events ---------------------------------------------- */

static const char *const dp_drop_names[DATAPLANE_DROP_COUNT] = {
    [DATAPLANE_DROP_NO_NETMAP] = "no_netmap",
    [DATAPLANE_DROP_TUN_MALFORMED] = "tun_malformed",
    [DATAPLANE_DROP_TUN_OVERSIZED] = "tun_oversized",
    [DATAPLANE_DROP_NO_ROUTE] = "no_route",
    [DATAPLANE_DROP_NO_HOST] = "no_host",
    [DATAPLANE_DROP_VIP_OUTBOUND] = "vip_outbound_refused",
    [DATAPLANE_DROP_SEND_FAILED] = "send_failed",
    [DATAPLANE_DROP_BAD_HEADER] = "bad_header",
    [DATAPLANE_DROP_UNSUPPORTED_TYPE] = "unsupported_type",
    [DATAPLANE_DROP_OVERSIZED] = "oversized",
    [DATAPLANE_DROP_MALFORMED] = "malformed",
    [DATAPLANE_DROP_UNKNOWN_PEER] = "unknown_peer",
    [DATAPLANE_DROP_FORGED_SOURCE] = "forged_source",
    [DATAPLANE_DROP_NOT_FOR_US] = "not_for_us",
    [DATAPLANE_DROP_FILTER] = "filter_refused",
    [DATAPLANE_DROP_TUN_WRITE_FAILED] = "tun_write_failed",
    [DATAPLANE_DROP_BAD_PROBE] = "bad_probe",
    [DATAPLANE_DROP_AWAITING_VERDICT] = "awaiting_verdict",
};

const char *dataplane_drop_name(enum dataplane_drop reason)
{
	CHECK((unsigned)reason < DATAPLANE_DROP_COUNT);
	return dp_drop_names[reason];
}

static void dp_emit_drop(struct dataplane *dp, enum dataplane_drop reason,
                         const struct packet_info *pi)
{
	struct dp_drop_state *st = &dp->drop_state[reason];
	char s[IO_ADDR_STRLEN], d[IO_ADDR_STRLEN];

	if (pi && pi->family != IO_AF_NONE) {
		if (!dp->io->events_off)
			io_event(
			    dp->io, dp_drop_names[reason], IO_U64("count", st->pending),
			    IO_U64("proto", pi->proto),
			    IO_STR("src", io_addr_format(&pi->src, pi->has_ports, s, sizeof(s))),
			    IO_STR("dst", io_addr_format(&pi->dst, pi->has_ports, d, sizeof(d))));
	} else {
		io_event(dp->io, dp_drop_names[reason], IO_U64("count", st->pending));
	}
	st->pending = 0;
	st->last_event_us = dp->now_us;
	st->evented = true;
}

void dp_timer_by(struct dataplane *dp, struct io_timer *t, uint64_t *due_us, uint64_t deadline_us)
{
	if (io_timer_armed(t)) {
		if (*due_us <= deadline_us)
			return;
		dp->io->ops->timer_disarm(dp->io, t);
	}
	*due_us = deadline_us;
	dp->io->ops->timer_arm(dp->io, t, deadline_us - dp->now_us);
}

/* Reports the evictions counted since the last report. */
void dp_emit_evicted(struct dataplane *dp)
{
	io_event(dp->io, "flow_evicted", IO_U64("count", dp->evict_state.pending),
	         IO_U64("max_flows", dp->max_flows));
	dp->evict_state.pending = 0;
	dp->evict_state.last_event_us = dp->now_us;
	dp->evict_state.evented = true;
}

/* Counts a drop; reports it at once unless this reason was reported less
 * than DATAPLANE_EVENT_GAP_US ago, in which case the sweep reports the
 * accumulated count later. `pi` may be NULL or unparsed. */
void dp_drop(struct dataplane *dp, enum dataplane_drop reason, const struct packet_info *pi)
{
	struct dp_drop_state *st = &dp->drop_state[reason];

	dp->stats.drops[reason]++;
	st->pending++;
	if (!st->evented || dp->now_us - st->last_event_us >= DATAPLANE_EVENT_GAP_US)
		dp_emit_drop(dp, reason, pi);
	else
		dp_sweep_arm(dp, st->last_event_us + DATAPLANE_EVENT_GAP_US);
}

void dp_flush_drops(struct dataplane *dp)
{
	for (int r = 0; r < DATAPLANE_DROP_COUNT; r++) {
		struct dp_drop_state *st = &dp->drop_state[r];
		if (!st->pending)
			continue;
		if (dp->now_us - st->last_event_us >= DATAPLANE_EVENT_GAP_US)
			dp_emit_drop(dp, (enum dataplane_drop)r, NULL);
		else
			dp_sweep_arm(dp, st->last_event_us + DATAPLANE_EVENT_GAP_US);
	}
	if (dp->evict_state.pending &&
	    dp->now_us - dp->evict_state.last_event_us >= DATAPLANE_EVENT_GAP_US) {
		dp_emit_evicted(dp);
	} else if (dp->evict_state.pending) {
		dp_sweep_arm(dp, dp->evict_state.last_event_us + DATAPLANE_EVENT_GAP_US);
	}
}

/* ---- TUN addresses ------------------------------------------------------- */

static int dp_addr_cmp(const void *pa, const void *pb)
{
	const struct io_addr *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->ip, b->ip, 16);
}

static int dp_tun_change(struct dataplane *dp, const struct io_addr *a, bool add)
{
	int bits = a->family == IO_AF_INET ? 32 : 128;
	int rc = add ? dp->io->ops->tun_addr_add(dp->io, a, bits)
	             : dp->io->ops->tun_addr_del(dp->io, a, bits);
	char s[IO_ADDR_STRLEN];

	if (add && rc == -EEXIST)
		rc = 0;
	/* A backend without IPv6 (the sim) cannot hold the v6 half of an
	 * address pair: not an error, the address just stays off the device. */
	if (rc == -EAFNOSUPPORT)
		return rc;
	if (!add && (rc == -EADDRNOTAVAIL || rc == -ENOENT || rc == -ESRCH))
		rc = 0;
	if (rc < 0)
		io_event(dp->io, "tun_addr_failed", IO_STR("op", add ? "add" : "del"),
		         IO_STR("addr", io_addr_format(a, false, s, sizeof(s))),
		         IO_I64("errno", -rc));
	return rc;
}

/* Brings the device's addresses to this node's own plus its hosted VIPs,
 * touching only the differences (merge of two sorted lists). */
static int dp_tun_sync(struct dataplane *dp, const struct netmap *nm)
{
	size_t n = 0, i = 0, j = 0, kept = 0;
	struct io_addr *want = NULL, *held;
	int first_err = 0, rc;

	if (nm) {
		size_t cap = nm->self.n_addrs;
		for (size_t s = 0; s < nm->n_host_services; s++)
			cap += nm->host_services[s].n_addrs;
		if (cap > DATAPLANE_MAX_TUN_ADDRS)
			cap = DATAPLANE_MAX_TUN_ADDRS;
		want = calloc(cap ? cap : 1, sizeof(*want));
		if (!want)
			return -ENOMEM;
		for (size_t a = 0; a < nm->self.n_addrs && n < cap; a++)
			want[n++] = nm->self.addrs[a];
		for (size_t s = 0; s < nm->n_host_services; s++)
			for (size_t a = 0; a < nm->host_services[s].n_addrs && n < cap; a++)
				want[n++] = nm->host_services[s].addrs[a];
		for (size_t a = 0; a < n; a++)
			want[a].port = 0;
		qsort(want, n, sizeof(*want), dp_addr_cmp);
	}
	/* The new held list is at most |held| + |want| long. */
	held = calloc(dp->n_tun_addrs + n + 1, sizeof(*held));
	if (!held) {
		free(want);
		return -ENOMEM;
	}
	while (i < dp->n_tun_addrs || j < n) {
		int c = i == dp->n_tun_addrs ? 1
		        : j == n             ? -1
		                             : dp_addr_cmp(&dp->tun_addrs[i], &want[j]);
		if (c == 0) {
			held[kept++] = want[j];
			i++;
			j++;
			while (j < n && dp_addr_cmp(&want[j], &want[j - 1]) == 0)
				j++;
		} else if (c < 0) {
			rc = dp_tun_change(dp, &dp->tun_addrs[i], false);
			if (rc < 0) {
				held[kept++] = dp->tun_addrs[i]; /* still there */
				if (!first_err)
					first_err = rc;
			}
			i++;
		} else {
			rc = dp_tun_change(dp, &want[j], true);
			if (rc == 0)
				held[kept++] = want[j];
			else if (!first_err && rc != -EAFNOSUPPORT)
				first_err = rc;
			j++;
			while (j < n && dp_addr_cmp(&want[j], &want[j - 1]) == 0)
				j++;
		}
	}
	qsort(held, kept, sizeof(*held), dp_addr_cmp);
	free(dp->tun_addrs);
	free(want);
	dp->tun_addrs = held;
	dp->n_tun_addrs = kept;
	dp->stats.tun_addrs = kept;
	return first_err;
}

/* ---- new and free -------------------------------------------------------- */

/* Installed on the device when the data plane goes away. */
static void dp_tun_detached(void *ctx, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	(void)len;
}

struct dataplane *dataplane_new(struct io *io, const struct dataplane_config *config, int *err)
{
	struct dataplane *dp;
	struct io_addr local;
	int rc;

	*err = 0;
	if (!io || !config || config->max_flows > DATAPLANE_MAX_FLOWS_LIMIT ||
	    config->probe_after_us > DATAPLANE_PROBE_AFTER_MAX_US) {
		*err = -EINVAL;
		return NULL;
	}
	dp = calloc(1, sizeof(*dp));
	if (!dp) {
		*err = -ENOMEM;
		return NULL;
	}
	dp->io = io;
	dp->deliver = config->deliver;
	dp->deliver_ctx = config->deliver_ctx;
	dp->udp = -1;
	dp->max_flows = config->max_flows ? config->max_flows : DATAPLANE_DEFAULT_MAX_FLOWS;
	dp->free_head = DP_NONE;
	for (int c = 0; c < DP_CLASS_COUNT; c++)
		dp->lru_head[c] = dp->lru_tail[c] = DP_NONE;
	dp->sweep.fn = dp_sweep_fn;
	dp->probe.fn = dp_probe_fn;
	dp->probe_after_us =
	    config->probe_after_us ? config->probe_after_us : DATAPLANE_PROBE_AFTER_US;
	dp->pend_free = DP_NONE;
	dp->now_us = io->ops->now_us(io);
	dp->hash_seed = io->ops->random_u64(io);
	rc = dp_grow(dp);
	if (rc < 0)
		goto out_free;

	local = config->listen;
	if (local.family == IO_AF_NONE)
		io_addr_v4(&local, 0, 0);
	if (local.port == 0)
		local.port = DATAPLANE_DEFAULT_PORT;
	dp->udp = io->ops->udp_open(io, &local, dp_from_underlay, dp);
	if (dp->udp < 0) {
		rc = dp->udp;
		goto out_free;
	}
	if (io->ops->sock_name(io, dp->udp, false, &dp->endpoint) < 0)
		dp->endpoint = local;
	rc = io->ops->tun_attach(io, dp_from_tun, dp);
	if (rc < 0)
		goto out_free;
	dp->tun_attached = true;
	if (config->pcap_path) {
		rc = dp_pcap_open(dp, config->pcap_path);
		if (rc < 0)
			goto out_free;
	}
	return dp;

out_free:
	dataplane_free(dp);
	*err = rc;
	return NULL;
}

void dataplane_free(struct dataplane *dp)
{
	if (!dp)
		return;
	if (io_timer_armed(&dp->sweep))
		dp->io->ops->timer_disarm(dp->io, &dp->sweep);
	if (io_timer_armed(&dp->probe))
		dp->io->ops->timer_disarm(dp->io, &dp->probe);
	dp->nm = NULL; /* may be gone already: nothing below reads it */
	if (dp->n_tun_addrs)
		dp_tun_sync(dp, NULL);
	if (dp->tun_attached)
		dp->io->ops->tun_attach(dp->io, dp_tun_detached, NULL);
	if (dp->udp >= 0)
		dp->io->ops->close(dp->io, dp->udp, false);
	dp_pcap_close(dp);
	free(dp->recent);
	free(dp->departed);
	free(dp->tun_addrs);
	free(dp->peers);
	free(dp->active);
	free(dp->pend);
	free(dp->flows);
	htab_free(&dp->index);
	free(dp);
}

/* ---- the netmap swap ----------------------------------------------------- */

/* What a new netmap does to the current peer slots (the old map's peers,
 * then the departed): per slot its index in the new numbering or -1; then
 * the new peer tables and what happened to the flows. */
struct dp_remap {
	int32_t *to;
	uint32_t *open; /* per slot: flows dp_flow_resettable holds */
	size_t n_old, n_old_peers, n_departed;
	uint64_t over_limit;   /* open flows dropped: DATAPLANE_DEPARTED_MAX reached */
	struct dp_peer *peers; /* the new tables (dp_remap_peers) */
	uint32_t *active;
	size_t n_active;
	struct dp_departed *departed;
	uint64_t kept, dropped, held; /* flows (dp_remap_flows) */
};

static const char *dp_slot_name(const struct dataplane *dp, size_t i)
{
	const struct dp_departed *d = dp_departed_of(dp, (int32_t)i);

	if (d)
		return d->waiting ? d->name : NULL;
	return dp->nm->peers[i].name;
}

/* Plans the renumbering: a peer `nm` still lists keeps its state by name;
 * one it no longer lists, with open outbound TCP flows, becomes (or stays)
 * a departed peer, at most DATAPLANE_DEPARTED_MAX of them. */
static int dp_remap_plan(const struct dataplane *dp, const struct netmap *nm, struct dp_remap *r)
{
	memset(r, 0, sizeof(*r));
	r->n_old = dp_n_slots(dp);
	r->n_old_peers = dp->nm ? dp->nm->n_peers : 0;
	r->to = malloc((r->n_old ? r->n_old : 1) * sizeof(*r->to));
	r->open = calloc(r->n_old ? r->n_old : 1, sizeof(*r->open));
	if (!r->to || !r->open) {
		free(r->to);
		free(r->open);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < dp->cap; i++) {
		const struct dp_flow *f = &dp->flows[i];
		if (f->cls != DP_CLASS_FREE && f->peer >= 0 && (size_t)f->peer < r->n_old &&
		    dp_flow_resettable(f))
			r->open[f->peer]++;
	}
	for (size_t i = 0; i < r->n_old; i++) {
		const char *name = dp_slot_name(dp, i);
		r->to[i] = name && nm ? netmap_peer_by_name(nm, name) : -1;
		if (r->to[i] >= 0 || !name || !nm || !r->open[i])
			continue;
		if (r->n_departed == DATAPLANE_DEPARTED_MAX) {
			r->over_limit += r->open[i];
			continue;
		}
		r->to[i] = (int32_t)(nm->n_peers + r->n_departed++);
	}
	return 0;
}

/* After the swap, for the peers this map made departed: one probing
 * already judged dead (or marked dead) has its flows reset now; any other
 * is probed. Returns the flows that left the table. */
static uint64_t dp_departed_start(struct dataplane *dp, const struct dp_remap *r)
{
	uint64_t reset = 0;

	for (size_t i = 0; i < r->n_old; i++) {
		int32_t peer = r->to[i];
		/* Departed now, not by an earlier map (that one's probing goes on). */
		if (peer < 0 || (size_t)peer < dp->nm->n_peers || i >= r->n_old_peers)
			continue;
		struct dp_peer *p = &dp->peers[peer];
		io_event(dp->io, "host_left", IO_STR("peer", dp_peer_name(dp, peer)),
		         IO_U64("flows_held", r->open[i]));
		if (p->dead || p->admin_dead) {
			reset += dp_reset_flows(dp, peer, "left_map");
			reset += dp_departed_release(dp, peer, false);
			continue;
		}
		if (p->unanswered_since_us)
			continue; /* a suspicion already under way goes on */
		/* Judged at the pace of a peer that stopped answering data (a
		 * slow or far one gets the same time to answer), with one early
		 * PING that lets a live one prove it at once. */
		p->unanswered_since_us = dp->now_us ? dp->now_us : 1;
		p->pings = 0;
		dp_ping(dp, peer);
	}
	return reset;
}

/* The new peer tables for `nm` (slots numbered as r->to says), with the
 * failover state (dead marks, suspicions, nonces) of every peer the new
 * map keeps carried over by name. 0 or -ENOMEM (nothing changed). */
static int dp_remap_peers(struct dataplane *dp, const struct netmap *nm, struct dp_remap *r)
{
	size_t n_new = nm ? nm->n_peers + r->n_departed : 0;

	if (n_new) {
		r->peers = calloc(n_new, sizeof(*r->peers));
		r->active = calloc(n_new, sizeof(*r->active));
		r->departed = r->n_departed ? calloc(r->n_departed, sizeof(*r->departed)) : NULL;
		if (!r->peers || !r->active || (r->n_departed && !r->departed)) {
			free(r->peers);
			free(r->active);
			free(r->departed);
			return -ENOMEM;
		}
		for (size_t j = 0; j < nm->n_peers; j++)
			r->peers[j].nonce_base = dp->io->ops->random_u64(dp->io);
	}
	for (size_t i = 0; i < r->n_old; i++) {
		int32_t j = r->to[i];
		if (j < 0)
			continue;
		r->peers[j] = dp->peers[i];
		if ((size_t)j >= nm->n_peers) {
			struct dp_departed *d = &r->departed[(size_t)j - nm->n_peers];
			d->waiting = true;
			d->endpoint = *dp_peer_endpoint(dp, (int32_t)i);
			snprintf(d->name, sizeof(d->name), "%s", dp_slot_name(dp, i));
		}
		r->peers[j].active =
		    (size_t)j >= nm->n_peers || r->peers[j].dead || r->peers[j].unanswered_since_us;
		if (r->peers[j].active)
			r->active[r->n_active++] = (uint32_t)j;
	}
	return 0;
}

/* Re-pins every flow to its peer's new slot (STR-6); a flow whose peer
 * the new map dropped goes, except an open TCP flow of a departed peer,
 * which is held for the verdict. Counts into r->kept, dropped, held. */
static void dp_remap_flows(struct dataplane *dp, const struct netmap *nm, struct dp_remap *r)
{
	const struct netmap *old = dp->nm;

	for (uint32_t i = 0; i < dp->cap; i++) {
		struct dp_flow *f = &dp->flows[i];
		if (f->cls == DP_CLASS_FREE)
			continue;
		int32_t j = old && f->peer >= 0 && (size_t)f->peer < r->n_old ? r->to[f->peer] : -1;
		/* Only open TCP flows wait for a departed peer's verdict. */
		if (j >= 0 && (size_t)j >= nm->n_peers && !dp_flow_resettable(f))
			j = -1;
		if (MUTANT("pinning-lost-on-map-change"))
			j = -1;
		if (j < 0) {
			dp_flow_remove(dp, f);
			r->dropped++;
			continue;
		}
		f->peer = j;
		if ((size_t)j < nm->n_peers)
			r->kept++;
		else
			r->held++;
	}
}

/* Installs the new peer tables and the map. */
static void dp_remap_commit(struct dataplane *dp, const struct netmap *nm, struct dp_remap *r)
{
	free(dp->peers);
	free(dp->active);
	free(dp->departed);
	dp->peers = r->peers;
	dp->active = r->active;
	dp->n_active = r->n_active;
	dp->departed = r->departed;
	dp->n_departed = r->n_departed;
	dp->nm = nm;
}

static void dp_emit_netmap_applied(struct dataplane *dp, const struct netmap *nm,
                                   const struct dp_remap *r)
{
	if (nm)
		io_event(dp->io, "netmap_applied", IO_U64("version", nm->version),
		         IO_U64("peers", nm->n_peers), IO_U64("services", nm->n_services),
		         IO_U64("host_services", nm->n_host_services),
		         IO_U64("flows_kept", r->kept), IO_U64("flows_dropped", r->dropped),
		         IO_U64("flows_held", r->held));
	else
		io_event(dp->io, "netmap_applied", IO_JSON("version", "null"),
		         IO_U64("flows_dropped", r->dropped));
}

int dataplane_set_netmap(struct dataplane *dp, const struct netmap *nm)
{
	struct dp_remap r;
	int rc;

	dp->now_us = dp->io->ops->now_us(dp->io);
	if (dp_remap_plan(dp, nm, &r) < 0)
		return -ENOMEM;
	if (dp_remap_peers(dp, nm, &r) < 0) {
		free(r.to);
		free(r.open);
		return -ENOMEM;
	}
	dp_remap_flows(dp, nm, &r);
	dp_remap_commit(dp, nm, &r);
	if (r.over_limit)
		io_event(dp->io, "host_left_limit", IO_U64("flows_dropped", r.over_limit),
		         IO_I64("limit", DATAPLANE_DEPARTED_MAX));
	rc = dp_tun_sync(dp, nm);
	if (r.n_departed) {
		uint64_t reset = dp_departed_start(dp, &r);
		r.held -= reset;
		r.dropped += reset;
	}
	if (r.n_active)
		dp_probe_arm(dp, dp->now_us);
	dp->stats.flows_dropped_by_netmap += r.dropped;
	dp->stats.netmaps_applied++;
	free(r.to);
	free(r.open);
	dp_emit_netmap_applied(dp, nm, &r);
	return rc;
}

/* ---- queries ------------------------------------------------------------- */

void dataplane_stats(const struct dataplane *dp, struct dataplane_stats *out)
{
	*out = dp->stats;
	out->flows_active = dp->used;
}

const char *dataplane_flow_host(const struct dataplane *dp, const struct dataplane_tuple *tuple)
{
	struct packet_info pi;
	struct dp_flow_key key;
	struct dp_flow *f;
	bool src_is_a;

	memset(&pi, 0, sizeof(pi));
	pi.family = tuple->src.family;
	pi.proto = tuple->proto;
	pi.src = tuple->src;
	pi.dst = tuple->dst;
	pi.has_ports = tuple->proto == PACKET_PROTO_TCP || tuple->proto == PACKET_PROTO_UDP;
	dp_key(&pi, &key, &src_is_a);
	f = dp_flow_find((struct dataplane *)dp, &key);
	return f && dp->nm ? dp_peer_name(dp, f->peer) : NULL;
}

int dataplane_endpoint(const struct dataplane *dp, struct io_addr *out)
{
	*out = dp->endpoint;
	return 0;
}
