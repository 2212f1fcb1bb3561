/* What each map session is sent: its netmap (full or delta, deflated when
 * large) from mapgen, the steering and service/host state events a pass
 * causes, the recompute pass over every session, and the service
 * certificates mapgen asks for (issued once per node, service and key). */
#define _GNU_SOURCE
#include "control/control_int.h"

#include "lib/base/check.h"
#include "lib/wire/mapproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mapgen's certificate callback: issued once per (node, service, key). */
const char *ctl_cert_fn(void *ctx, size_t node, const char *service)
{
	struct control *c = ctx;
	const struct reg_node *n = registry_node(c->reg, node);
	char err[CA_ERR_LEN] = "";
	char *dns = NULL, *pem;

	if (!n || !n->tls_key || strncmp(service, "svc:", 4) != 0)
		return NULL;
	for (size_t i = 0; i < c->n_certs; i++) {
		struct ctl_cert *ce = &c->certs[i];
		if (ce->node == node && strcmp(ce->service, service) == 0) {
			if (strcmp(ce->key, n->tls_key) == 0)
				return ce->pem;
			/* The node's key changed: issue again. */
			free(ce->pem);
			free(ce->key);
			free(ce->service);
			*ce = c->certs[--c->n_certs];
			break;
		}
	}
	if (c->n_certs == CTL_MAX_CERTS)
		return NULL;
	if (c->n_certs == c->cap_certs) {
		size_t ncap = c->cap_certs ? c->cap_certs * 2 : 16;
		struct ctl_cert *nc = realloc(c->certs, ncap * sizeof(*nc));
		if (!nc)
			return NULL;
		c->certs = nc;
		c->cap_certs = ncap;
	}
	if (asprintf(&dns, "%s.%s", service + 4, c->tailnet) < 0)
		return NULL;
	pem = ca_issue(c->ca, n->tls_key, dns, ++c->cert_serial, err, sizeof(err));
	if (!pem) {
		io_event(c->io, "cert_failed", IO_STR("node_name", n->name),
		         IO_STR("service", service), IO_STR("error", err));
		free(dns);
		return NULL;
	}
	struct ctl_cert *ce = &c->certs[c->n_certs];
	ce->node = node;
	ce->service = strdup(service);
	ce->key = strdup(n->tls_key);
	ce->pem = pem;
	if (!ce->service || !ce->key) {
		free(ce->service);
		free(ce->key);
		free(pem);
		free(dns);
		return NULL;
	}
	c->n_certs++;
	io_event(c->io, "cert_issued", IO_STR("node_name", n->name), IO_STR("service", service),
	         IO_STR("dns", dns));
	free(dns);
	return pem;
}

/* {"svc:x": [hosts]} from a netmap's services. */
static cJSON *ctl_ranks_of(const cJSON *map)
{
	cJSON *r = cJSON_CreateObject();
	const cJSON *svc;

	if (!r)
		return NULL;
	cJSON_ArrayForEach(svc, cJSON_GetObjectItemCaseSensitive(map, "services"))
	{
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(svc, "name"));
		const cJSON *hosts = cJSON_GetObjectItemCaseSensitive(svc, "hosts");
		if (!name)
			continue;
		cJSON *copy = hosts ? cJSON_Duplicate(hosts, true) : cJSON_CreateArray();
		if (copy)
			cJSON_AddItemToObject(r, name, copy);
	}
	return r;
}

static const char *ctl_first_host(const cJSON *ranks, const char *service)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(ranks, service);
	return cJSON_GetStringValue(cJSON_GetArrayItem(a, 0));
}

/* Steering events: a client's first host for a service changed. */
static void ctl_steering_events(struct control *c, const struct ctl_session *s, const cJSON *old,
                                const cJSON *now)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, now)
	{
		const char *was = ctl_first_host(old, e->string);
		const char *is = ctl_first_host(now, e->string);
		if ((was || is) && (!was || !is || strcmp(was, is) != 0))
			io_event(c->io, "steering", IO_STR("node_name", ctl_node_name(c, s->node)),
			         IO_STR("service", e->string), IO_STR("host", is ? is : ""),
			         IO_STR("previous", was ? was : ""));
	}
	cJSON_ArrayForEach(e, old)
	{
		const char *was = ctl_first_host(old, e->string);
		if (was && !cJSON_GetObjectItemCaseSensitive(now, e->string))
			io_event(c->io, "steering", IO_STR("node_name", ctl_node_name(c, s->node)),
			         IO_STR("service", e->string), IO_STR("host", ""),
			         IO_STR("previous", was));
	}
}

/* Brings one session up to date (nothing sent when its map is unchanged). */
void ctl_session_send_map(struct ctl_session *s)
{
	struct control *c = s->c;
	bool is_delta = false;
	size_t len = 0;
	cJSON *map, *ranks;
	char *msg;

	if (s->closed || s->node < 0)
		return;
	if (s->out_off < s->out.len) {
		s->map_pending = true;
		return;
	}
	s->map_pending = false;
	map = mapgen_node_map(c->mg, (size_t)s->node, s->version_sent + 1);
	if (!map) {
		ctl_session_fail(s, "out of memory building the netmap");
		return;
	}
	ranks = ctl_ranks_of(map);
	errno = 0;
	msg = mapgen_message(s->sent, map, &is_delta, &len);
	cJSON_Delete(map);
	if (!msg) {
		cJSON_Delete(ranks);
		if (errno == ENOMEM)
			ctl_session_fail(s, "out of memory building the netmap");
		return;
	}
	s->version_sent++;
	if (ranks) {
		ctl_steering_events(c, s, s->ranks, ranks);
		cJSON_Delete(s->ranks);
		s->ranks = ranks;
	}
	ctl_drain_sent(c, s, s->version_sent);
	/* A large map goes deflated to a node that takes it (any failure:
	 * as it is). */
	uint8_t *z = NULL;
	size_t wire = len;
	if (s->zlib && len >= MAPPROTO_COMPRESS_MIN &&
	    mapproto_deflate((const uint8_t *)msg, len, &z, &wire) < 0) {
		z = NULL;
		wire = len;
	}
	if (wire > s->max_msg)
		s->max_msg = wire;
	io_event(c->io, "netmap_sent", IO_STR("node_name", ctl_node_name(c, s->node)),
	         IO_U64("version", s->version_sent), IO_STR("kind", is_delta ? "delta" : "full"),
	         IO_U64("bytes", len), IO_U64("wire_bytes", wire));
	ctl_session_queue(s, z ? (const void *)z : msg, wire, z != NULL);
	free(z);
	free(msg);
}

/* The state recorded for `key` at the last pass, or NULL. The registry
 * keeps its order between passes, so the entry after the last one found
 * is tried first: a pass costs O(n), not O(n^2). */
static const char *ctl_prev_state(const struct control *c, const cJSON **cursor, const char *key)
{
	const cJSON *e = *cursor;

	if (!e || strcmp(e->string, key) != 0)
		e = cJSON_GetObjectItemCaseSensitive(c->prev_states, key);
	if (!e)
		return NULL;
	*cursor = e->next;
	return cJSON_GetStringValue(e);
}

/* Emits service_state / host_state for every state that changed. Hosts are
 * the registry's host records (advertised or decided); nodes pre-approved
 * by policy alone show in the admin view but get no events: finding them
 * costs a walk over every node per service. */
void ctl_state_events(struct control *c)
{
	cJSON *now = cJSON_CreateObject();
	const cJSON *cursor = c->prev_states ? c->prev_states->child : NULL;

	if (!now)
		return;
	for (size_t i = 0; i < registry_service_count(c->reg); i++) {
		const struct reg_service *svc = registry_service(c->reg, i);
		const char *st = reg_state_name(registry_service_state(c->reg, svc->name));
		const char *was = ctl_prev_state(c, &cursor, svc->name);
		cJSON_AddStringToObject(now, svc->name, st);
		if (!was || strcmp(was, st) != 0)
			io_event(c->io, "service_state", IO_STR("service", svc->name),
			         IO_STR("state", st), IO_STR("previous", was ? was : ""));
	}
	for (size_t i = 0; i < registry_host_count(c->reg); i++) {
		const struct reg_host *h = registry_host(c->reg, i);
		char key[2 * REG_MAX_NAME + 2];
		if (registry_service_index(c->reg, h->service) < 0)
			continue;
		snprintf(key, sizeof(key), "%s %s", h->service, h->node);
		const char *st = reg_state_name(registry_host_state(c->reg, h));
		const char *was = ctl_prev_state(c, &cursor, key);
		cJSON_AddStringToObject(now, key, st);
		if (!was || strcmp(was, st) != 0)
			io_event(c->io, "host_state", IO_STR("service", h->service),
			         IO_STR("node_name", h->node), IO_STR("state", st),
			         IO_STR("previous", was ? was : ""));
	}
	cJSON_Delete(c->prev_states);
	c->prev_states = now;
}

void ctl_recompute_fn(struct io_timer *t)
{
	struct control *c = container_of(t, struct control, recompute_timer);

	for (size_t i = 0; i < c->n_sessions; i++)
		ctl_session_send_map(c->sessions[i]);
	ctl_drain_check(c);
	ctl_state_events(c);
	if (c->dirty && ctl_save(c) < 0 && !io_timer_armed(&c->recompute_timer))
		c->io->ops->timer_arm(c->io, &c->recompute_timer, CTL_SAVE_RETRY_US);
	ctl_reap(c);
}
