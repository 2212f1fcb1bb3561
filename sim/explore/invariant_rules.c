/* The safety invariants (invariant.h): grants, eligibility, stream
 * integrity, durable admin writes. request-outcome is judged while the
 * events are read (invariant.c). */
#include "sim/explore/invariant_int.h"

#include <string.h>

static uint64_t inv_sub(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

uint8_t inv_proto(const struct scenario_workload *w)
{
	return w->kind == SCENARIO_WORKLOAD_UDP_ECHO ? POLICY_PROTO_UDP : POLICY_PROTO_TCP;
}

int inv_req_service(const struct inv_run *r, const struct inv_req *q)
{
	const struct scenario_workload *w = &r->sc->workloads[q->workload];

	return w->target == SCENARIO_TARGET_SERVICE ? scenario_service_find(r->sc, w->service) : -1;
}

/* grant-safety: every connection a host accepted, and every answer a
 * client got from a service, is allowed by the policy for that client,
 * service, protocol and port. */
/* "100.64.0.3:49154" into buf. */
static const char *inv_addr(uint32_t ip, uint16_t port, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u.%u:%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255, ip & 255,
	         port);
	return buf;
}

/* The acceptances a host's tailnet packets prove (hosts with a pcap). */
static void inv_check_packet_grants(struct inv_run *r)
{
	char from[32], to[32];

	for (size_t i = 0; i < r->n_pacc; i++) {
		const struct inv_pkt_accept *a = &r->pacc[i];
		uint32_t client = inv_ip_node(r, a->peer_ip);
		/* a UDP answer may belong to a flow opened earlier (ACL-4: new flows) */
		int g = a->proto == POLICY_PROTO_TCP
		            ? inv_granted(r, client, a->service, a->proto, a->port, a->t_us)
		            : inv_granted_answer(r, client, a->service, a->proto, a->port, a->t_us);
		if (g < 0)
			continue;
		inv_checked(r, INVARIANT_GRANT);
		if (g == 0)
			inv_violation(
			    r, INVARIANT_GRANT, a->t_us, a->host,
			    "%s accepted %s from %s to %s %s:%u that no grant allows: "
			    "packet at %llu us %s -> %s (%s)",
			    r->names[a->host],
			    a->proto == POLICY_PROTO_TCP ? "a connection" : "a datagram",
			    r->names[client], a->proto == POLICY_PROTO_TCP ? "tcp" : "udp",
			    r->sc->services[a->service].name, a->port, (unsigned long long)a->t_us,
			    inv_addr(a->src_ip, a->port, from, sizeof(from)),
			    inv_addr(a->peer_ip, a->peer_port, to, sizeof(to)),
			    a->proto == POLICY_PROTO_TCP ? "SYN-ACK" : "UDP answer");
	}
}

static void inv_check_grants(struct inv_run *r)
{
	char svc_name[SCENARIO_SERVICE_NAME_MAX + 1];

	inv_check_packet_grants(r);
	for (size_t i = 0; i < r->n_acc; i++) {
		const struct inv_accept *a = &r->acc[i];
		if (r->pcap_host[a->host])
			continue; /* judged from its packets */
		uint32_t client = inv_ip_node(r, a->peer_ip);
		int g = client == INV_NONE ? -1
		                           : inv_granted(r, client, a->service, POLICY_PROTO_TCP,
		                                         a->port, a->t_us);
		if (g < 0)
			continue;
		inv_checked(r, INVARIANT_GRANT);
		if (g == 0) {
			snprintf(svc_name, sizeof(svc_name), "%s",
			         r->sc->services[a->service].name);
			inv_violation(
			    r, INVARIANT_GRANT, a->t_us, a->host,
			    "%s accepted a connection from %s to %s:%u that no grant allows",
			    r->names[a->host], r->names[client], svc_name, a->port);
		}
	}
	for (size_t i = 0; i < r->n_req; i++) {
		const struct inv_req *q = &r->req[i];
		const struct scenario_workload *w = &r->sc->workloads[q->workload];
		int svc = inv_req_service(r, q);
		if (q->outcome != INV_OK || svc < 0)
			continue;
		int g = inv_granted_answer(r, q->client, svc, inv_proto(w), w->port, q->start_us);
		if (g < 0)
			continue;
		inv_checked(r, INVARIANT_GRANT);
		if (g == 0)
			inv_violation(
			    r, INVARIANT_GRANT, q->done_us, q->client,
			    "%s got an answer from %s:%u (workload %s, host %s) that no grant "
			    "allows",
			    r->names[q->client], w->service, w->port, w->name,
			    q->host == INV_NONE ? "-" : r->names[q->host]);
	}
}

/* eligible-safety: a host accepts a new connection for a service only if it
 * was eligible (serving, advertised or drained less than the drain bound,
 * approved, alive) at some time in the settle bound before, outside the
 * windows of faults that can delay what it learns. */
static void inv_check_eligible_one(struct inv_run *r, uint32_t host, int service, uint64_t t_us,
                                   const char *packet)
{
	uint64_t from = inv_sub(t_us, r->settle_us);
	int e = inv_eligible_during(r, host, service, from, t_us);
	if (e < 0)
		return;
	inv_checked(r, INVARIANT_ELIGIBLE);
	if (e == 0 && !inv_in_window(r, from, t_us, INV_FAULT_WINDOWS, NULL)) {
		int ap = inv_approval_at(r, host, service, t_us);
		inv_violation(r, INVARIANT_ELIGIBLE, t_us, host,
		              "%s accepted a new connection for %s while not eligible (%s)%s",
		              r->names[host], r->sc->services[service].name,
		              ap == INV_APPROVED   ? "drained, cleared or not serving"
		              : ap == INV_PENDING  ? "not approved"
		              : ap == INV_REJECTED ? "rejected"
		                                   : "revoked",
		              packet);
	}
}

static void inv_check_eligible(struct inv_run *r)
{
	char from[32], to[32], packet[128];

	/* a host with a pcap: each SYN-ACK it sent (UDP has no new connection) */
	for (size_t i = 0; i < r->n_pacc; i++) {
		const struct inv_pkt_accept *a = &r->pacc[i];
		if (a->proto != POLICY_PROTO_TCP)
			continue;
		snprintf(packet, sizeof(packet), ": SYN-ACK at %llu us %s -> %s",
		         (unsigned long long)a->t_us,
		         inv_addr(a->src_ip, a->port, from, sizeof(from)),
		         inv_addr(a->peer_ip, a->peer_port, to, sizeof(to)));
		inv_check_eligible_one(r, a->host, a->service, a->t_us, packet);
	}
	for (size_t i = 0; i < r->n_acc; i++) {
		const struct inv_accept *a = &r->acc[i];
		if (!r->pcap_host[a->host])
			inv_check_eligible_one(r, a->host, a->service, a->t_us, "");
	}
}

/* stream-integrity: an echo the client calls ok carried back exactly the
 * bytes it sent (the workload checks their order; the count is checked
 * here against the scenario's request size). */
static void inv_check_streams(struct inv_run *r)
{
	for (size_t i = 0; i < r->n_req; i++) {
		const struct inv_req *q = &r->req[i];
		const struct scenario_workload *w = &r->sc->workloads[q->workload];
		if (w->kind != SCENARIO_WORKLOAD_TCP_ECHO && w->kind != SCENARIO_WORKLOAD_UDP_ECHO)
			continue;
		inv_checked(r, INVARIANT_STREAM);
		uint64_t want = w->request_bytes ? w->request_bytes : 64;
		if (q->outcome == INV_OK && q->bytes != want)
			inv_violation(
			    r, INVARIANT_STREAM, q->done_us, q->client,
			    "%s: an echo of %llu bytes came back as %llu and was called ok",
			    w->name, (unsigned long long)want, (unsigned long long)q->bytes);
	}
}

/* admin-durable: after control restarts, what it says of a (service, host)
 * never contradicts an admin decision acknowledged before the crash. */
static void inv_check_admin(struct inv_run *r)
{
	const struct scenario *sc = r->sc;

	for (size_t i = 0; i < sc->n_events; i++) {
		const struct scenario_event *c = &sc->events[i];
		if (c->expect_error || (c->action != SCENARIO_ACTION_CONTROL_CRASH &&
		                        c->action != SCENARIO_ACTION_CONTROL_TORN_WRITE))
			continue;
		uint64_t restart = UINT64_MAX;
		for (size_t k = i + 1; k < sc->n_events && restart == UINT64_MAX; k++)
			if (sc->events[k].action == SCENARIO_ACTION_CONTROL_RESTART &&
			    !sc->events[k].expect_error)
				restart = sc->events[k].at_us;
		for (size_t k = 0; restart != UINT64_MAX && k < r->n_chg; k++) {
			const struct inv_change *d = &r->chg[k];
			if (d->at_us >= c->at_us || d->host == INV_NONE || d->service < 0 ||
			    (d->what != INV_C_APPROVE && d->what != INV_C_REJECT &&
			     d->what != INV_C_REVOKE))
				continue;
			inv_checked(r, INVARIANT_ADMIN_DURABLE);
			for (size_t s = 0; s < r->n_st; s++) {
				const struct inv_state *st = &r->st[s];
				if (st->t_us < restart || st->host != d->host ||
				    st->service != d->service)
					continue;
				int a = inv_approval_at(r, d->host, d->service, st->t_us);
				bool live = strcmp(st->state, "Connected") == 0 ||
				            strcmp(st->state, "Draining") == 0;
				bool bad = (a == INV_REJECTED || a == INV_REVOKED) ? live
				           : a == INV_APPROVED
				               ? strcmp(st->state, "Pending approval") == 0 ||
				                     strcmp(st->state, "Rejected") == 0
				               : false;
				if (bad)
					inv_violation(
					    r, INVARIANT_ADMIN_DURABLE, st->t_us, d->host,
					    "after control's restart %s shows as '%s' for %s, "
					    "against an admin decision made before its crash",
					    r->names[d->host], st->state,
					    sc->services[d->service].name);
			}
		}
	}
}

void inv_check_safety(struct inv_run *r)
{
	inv_check_grants(r);
	inv_check_eligible(r);
	inv_check_streams(r);
	inv_check_admin(r);
}
