/* svcd_drain.c: per-service drain state (DRN-1..5): grace, settle, control's confirmation. */
#define _GNU_SOURCE
#include "lib/base/check.h"
#include "proxy/dataplane/dataplane.h"
#include "proxy/mapclient.h"
#include "proxy/svcd_int.h"

#include <stdio.h>
#include <string.h>

struct svcd_svc *svcd_svc_find(struct svcd *d, const char *name)
{
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++)
		if (d->svcs[i].used && strcmp(d->svcs[i].name, name) == 0)
			return &d->svcs[i];
	return NULL;
}

const struct svcd_svc *svcd_svc_find_const(const struct svcd *d, const char *name)
{
	return svcd_svc_find((struct svcd *)d, name);
}

/* Closes a draining service's listeners: control confirmed (DRN-1/3), or
 * the grace ran out without a control session; first the handshakes
 * already on their way get SVCD_DRAIN_SETTLE_US from their first packet
 * (see "Settle" in svcd.h). */
static void svc_drained(struct svcd_svc *s, const char *by)
{
	struct svcd *d = s->d;
	uint64_t now = d->io->ops->now_us(d->io);
	uint64_t last = dataplane_last_inbound_flow_us(d->dp, s->name);

	if (io_timer_armed(&s->grace))
		d->io->ops->timer_disarm(d->io, &s->grace);
	if (last && now < last + SVCD_DRAIN_SETTLE_US) {
		uint64_t wait = last + SVCD_DRAIN_SETTLE_US - now;
		if (!s->settle_by)
			io_event(d->io, "drain_settling", IO_STR("service", s->name),
			         IO_U64("wait_us", wait), IO_STR("by", by));
		s->settle_by = by;
		if (io_timer_armed(&s->settle))
			d->io->ops->timer_disarm(d->io, &s->settle);
		d->io->ops->timer_arm(d->io, &s->settle, wait);
		return;
	}
	s->settle_by = NULL;
	s->drained = true;
	io_event(d->io, "host_drained", IO_STR("service", s->name),
	         IO_U64("open_connections", svcd_open_connections(d, s->name)), IO_STR("by", by));
	svcd_reconcile(d);
}

static void svc_settle_fired(struct io_timer *t)
{
	struct svcd_svc *s = container_of(t, struct svcd_svc, settle);

	if (s->draining && !s->drained && s->settle_by)
		svc_drained(s, s->settle_by);
}

/* The grace: with a control session up, only control's confirmation
 * closes the listeners, so the timer is not armed then (see
 * svcd_mc_connected for the fallback while control is unreachable). */
static void svc_grace_fired(struct io_timer *t)
{
	struct svcd_svc *s = container_of(t, struct svcd_svc, grace);

	if (s->d->mc && mapclient_connected(s->d->mc))
		return;
	svc_drained(s, "grace");
}

/* Drain state for `name`, created when absent. NULL when every slot is
 * taken (cannot happen: advertised services are bounded by the same
 * limit, and slots are released when a service stops being advertised). */
static struct svcd_svc *svc_state_get(struct svcd *d, const char *name)
{
	struct svcd_svc *s = svcd_svc_find(d, name);

	if (s)
		return s;
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		s = &d->svcs[i];
		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->d = d;
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->grace.fn = svc_grace_fired;
		s->settle.fn = svc_settle_fired;
		return s;
	}
	return NULL;
}

void svcd_svc_release(struct svcd *d, struct svcd_svc *s)
{
	if (io_timer_armed(&s->grace))
		d->io->ops->timer_disarm(d->io, &s->grace);
	if (io_timer_armed(&s->settle))
		d->io->ops->timer_disarm(d->io, &s->settle);
	memset(s, 0, sizeof(*s));
}

/* Reacts to advertisement changes from `old` to d->adv: starts a drain
 * (event, grace timer), undoes one (DRN-5), or announces advertising. */
void svcd_adv_transitions(struct svcd *d, const struct serve_adv *old)
{
	for (size_t i = 0; i < d->adv.n; i++) {
		const struct serve_adv_entry *e = &d->adv.e[i];
		enum serve_adv_state was = serve_adv_get(old, e->name);
		struct svcd_svc *s;

		if (e->state == was)
			continue;
		s = svc_state_get(d, e->name);
		CHECK(s != NULL);
		if (e->state == SERVE_ADV_DRAINING) {
			bool await_control = d->mc && mapclient_connected(d->mc);

			s->draining = true;
			s->drained = false;
			s->complete = false;
			s->settle_by = NULL;
			if (io_timer_armed(&s->settle))
				d->io->ops->timer_disarm(d->io, &s->settle);
			if (!await_control)
				d->io->ops->timer_arm(d->io, &s->grace, d->drain_grace_us);
			io_event(d->io, "host_draining", IO_STR("service", e->name),
			         IO_U64("grace_us", d->drain_grace_us),
			         IO_U64("open_connections", svcd_open_connections(d, e->name)),
			         IO_STR("until", await_control ? "control_confirms" : "grace"));
		} else if (e->state == SERVE_ADV_ACTIVE) {
			if (io_timer_armed(&s->grace))
				d->io->ops->timer_disarm(d->io, &s->grace);
			if (io_timer_armed(&s->settle))
				d->io->ops->timer_disarm(d->io, &s->settle);
			s->settle_by = NULL;
			io_event(d->io, "host_advertising", IO_STR("service", e->name),
			         IO_BOOL("undrained", s->draining));
			s->draining = false;
			s->drained = false;
		}
	}
	for (size_t i = 0; i < old->n; i++)
		if (serve_adv_get(&d->adv, old->e[i].name) == SERVE_ADV_NONE)
			io_event(d->io, "host_not_advertising", IO_STR("service", old->e[i].name));
}

/* Forgets drain state of services no longer advertised, once reconcile
 * has decided the fate of their proxies. */
void svcd_release_states(struct svcd *d)
{
	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (s->used && serve_adv_get(&d->adv, s->name) == SERVE_ADV_NONE)
			svcd_svc_release(d, s);
	}
}

/* The session came up or went down. While it is down, draining services
 * fall back to the grace, counted from the loss (DRN-3 cannot be confirmed
 * without control); once it is up again control's word is awaited. */
void svcd_mc_connected(void *ctx, bool up)
{
	struct svcd *d = ctx;

	for (size_t i = 0; i < SERVE_MAX_SERVICES; i++) {
		struct svcd_svc *s = &d->svcs[i];
		if (!s->used || !s->draining || s->drained)
			continue;
		if (up && io_timer_armed(&s->grace))
			d->io->ops->timer_disarm(d->io, &s->grace);
		else if (!up && !io_timer_armed(&s->grace))
			d->io->ops->timer_arm(d->io, &s->grace, d->drain_grace_us);
	}
}

void svcd_drain_confirmed(struct svcd *d, const char *service)
{
	struct svcd_svc *s = svcd_svc_find(d, service);

	if (!s || !s->draining || s->drained)
		return;
	svc_drained(s, "control");
}
