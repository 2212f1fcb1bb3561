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
static void inv_check_grants(struct inv_run *r)
{
	char svc_name[SCENARIO_SERVICE_NAME_MAX + 1];

	for (size_t i = 0; i < r->n_acc; i++) {
		const struct inv_accept *a = &r->acc[i];
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
		int g = inv_granted(r, q->client, svc, inv_proto(w), w->port, q->start_us);
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
static void inv_check_eligible(struct inv_run *r)
{
	for (size_t i = 0; i < r->n_acc; i++) {
		const struct inv_accept *a = &r->acc[i];
		uint64_t from = inv_sub(a->t_us, r->settle_us);
		int e = inv_eligible_during(r, a->host, a->service, from, a->t_us);
		if (e < 0)
			continue;
		inv_checked(r, INVARIANT_ELIGIBLE);
		if (e == 0 && !inv_in_window(r, from, a->t_us, INV_FAULT_WINDOWS, NULL)) {
			int ap = inv_approval_at(r, a->host, a->service, a->t_us);
			inv_violation(r, INVARIANT_ELIGIBLE, a->t_us, a->host,
			              "%s accepted a new connection for %s while not eligible (%s)",
			              r->names[a->host], r->sc->services[a->service].name,
			              ap == INV_APPROVED   ? "drained, cleared or not serving"
			              : ap == INV_PENDING  ? "not approved"
			              : ap == INV_REJECTED ? "rejected"
			                                   : "revoked");
		}
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
