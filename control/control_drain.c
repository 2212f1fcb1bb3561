/* Drain confirmation (DRN-1/3): a host that starts draining a service waits
 * for every session whose last map ranked it to ack a map that no longer
 * does (or to close); then it gets drain_confirmed. */
#include "control/control_int.h"

#include "lib/base/mutant.h"

#include <stdlib.h>
#include <string.h>

static bool ctl_ranks_has(const cJSON *ranks, const char *service, const char *host)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(ranks, service);
	const cJSON *e;

	cJSON_ArrayForEach(e, a)
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, host) == 0)
			return true;
	}
	return false;
}

void ctl_drain_free(struct ctl_drain *d)
{
	free(d->service);
	free(d->w);
}

void ctl_drain_remove(struct control *c, size_t i)
{
	ctl_drain_free(&c->drains[i]);
	c->drains[i] = c->drains[--c->n_drains];
}

/* Confirms drains without waiters (sends drain_confirmed to the host). The
 * record is removed before anything is sent: a send may close a session,
 * which walks the drain table again. */
void ctl_drain_check(struct control *c)
{
	for (size_t i = 0; i < c->n_drains;) {
		if (c->drains[i].n_left && !MUTANT("drain-confirmed-without-acks")) {
			i++;
			continue;
		}
		char *service = c->drains[i].service;
		size_t host = c->drains[i].host;
		c->drains[i].service = NULL;
		ctl_drain_remove(c, i);
		struct ctl_session *hs = host < c->by_node_cap ? c->by_node[host] : NULL;
		io_event(c->io, "drain_confirmed", IO_STR("node_name", ctl_node_name(c, (int)host)),
		         IO_STR("service", service));
		if (hs && !hs->closed)
			ctl_session_send_simple(hs, "drain_confirmed", "service", service, NULL,
			                        NULL);
		free(service);
		i = 0;
	}
}

static int ctl_drain_find(const struct control *c, const char *service, size_t host)
{
	for (size_t i = 0; i < c->n_drains; i++)
		if (c->drains[i].host == host && strcmp(c->drains[i].service, service) == 0)
			return (int)i;
	return -1;
}

static int ctl_waiter_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ctl_waiter *)a)->session_id;
	uint64_t y = ((const struct ctl_waiter *)b)->session_id;

	return x < y ? -1 : x > y;
}

/* Host `host` started draining `service`: note every session whose last
 * map ranks it. */
void ctl_drain_start(struct control *c, const char *service, size_t host)
{
	const char *hname = ctl_node_name(c, (int)host);

	if (ctl_drain_find(c, service, host) >= 0 || c->n_drains == CTL_MAX_DRAINS)
		return;
	if (c->n_drains == c->cap_drains) {
		size_t ncap = c->cap_drains ? c->cap_drains * 2 : 8;
		struct ctl_drain *nd = realloc(c->drains, ncap * sizeof(*nd));
		if (!nd)
			return;
		c->drains = nd;
		c->cap_drains = ncap;
	}
	struct ctl_drain d = {.service = strdup(service), .host = host};
	if (!d.service)
		return;
	size_t cap = 0;
	for (size_t i = 0; i < c->n_sessions; i++) {
		struct ctl_session *s = c->sessions[i];
		if (s->closed || s->node < 0 || !ctl_ranks_has(s->ranks, service, hname))
			continue;
		if (d.n_waiters == cap) {
			cap = cap ? cap * 2 : 16;
			struct ctl_waiter *nw = realloc(d.w, cap * sizeof(*nw));
			if (!nw) {
				ctl_drain_free(&d);
				return;
			}
			d.w = nw;
		}
		d.w[d.n_waiters++] = (struct ctl_waiter){.session_id = s->id};
	}
	if (d.n_waiters)
		qsort(d.w, d.n_waiters, sizeof(*d.w), ctl_waiter_cmp);
	d.n_left = d.n_waiters;
	io_event(c->io, "drain_started", IO_STR("node_name", hname), IO_STR("service", service),
	         IO_U64("waiting", d.n_waiters));
	c->drains[c->n_drains++] = d;
}

static struct ctl_waiter *ctl_waiter_find(const struct ctl_drain *d, uint64_t id)
{
	const struct ctl_waiter key = {.session_id = id};

	if (!d->n_waiters)
		return NULL;
	return bsearch(&key, d->w, d->n_waiters, sizeof(*d->w), ctl_waiter_cmp);
}

/* A map of `version` went to session `s` (ranks = what it ranks now). */
void ctl_drain_sent(struct control *c, const struct ctl_session *s, uint64_t version)
{
	for (size_t i = 0; i < c->n_drains; i++) {
		struct ctl_drain *d = &c->drains[i];
		struct ctl_waiter *w = ctl_waiter_find(d, s->id);
		if (w && !w->done && !w->need_version &&
		    !ctl_ranks_has(s->ranks, d->service, ctl_node_name(c, (int)d->host)))
			w->need_version = version;
	}
}

/* Session `id` acked `version` (UINT64_MAX: the session is gone). */
void ctl_drain_acked(struct control *c, uint64_t id, uint64_t version)
{
	for (size_t i = 0; i < c->n_drains; i++) {
		struct ctl_drain *d = &c->drains[i];
		struct ctl_waiter *w = ctl_waiter_find(d, id);
		if (w && !w->done &&
		    (version == UINT64_MAX || (w->need_version && version >= w->need_version))) {
			w->done = true;
			d->n_left--;
		}
	}
	ctl_drain_check(c);
}

void ctl_drain_session_gone(struct control *c, uint64_t session_id)
{
	ctl_drain_acked(c, session_id, UINT64_MAX);
}
