/* Registry approval, eligibility and states: whether a host is approved
 * (by decision or by policy), eligible to serve, its state and its
 * service's, and steering: each client's ranking of a service's hosts. */
#include "control/registry_int.h"

#include "lib/base/check.h"
#include "lib/base/mutant.h"

#include <stdlib.h>
#include <string.h>

/* ---- approval, eligibility, states ------------------------------------ */

static struct policy_node reg_policy_node(const struct reg_node *n)
{
	struct policy_node pn = {
	    .user = n->user,
	    .tags = (const char *const *)n->tags,
	    .n_tags = n->n_tags,
	};
	return pn;
}

static struct policy_service reg_policy_service(const struct reg_service *s)
{
	struct policy_service ps = {
	    .name = s->name,
	    .tags = (const char *const *)s->tags,
	    .n_tags = s->n_tags,
	};
	return ps;
}

static bool reg_auto(const struct registry *r, const struct reg_service *s,
                     const struct reg_node *n)
{
	struct policy_service ps = reg_policy_service(s);
	struct policy_node pn = reg_policy_node(n);

	return n->n_tags > 0 && policy_auto_approves(r->policy, &ps, &pn);
}

bool registry_host_auto_approved(const struct registry *r, const struct reg_host *h)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);

	return s && ni >= 0 && reg_auto(r, s, &r->nodes[ni].pub);
}

bool registry_host_approved(const struct registry *r, const struct reg_host *h)
{
	if (registry_service_index(r, h->service) < 0)
		return false;
	switch (h->decision) {
	case REG_DECISION_APPROVED:
		return true;
	case REG_DECISION_REJECTED:
	case REG_DECISION_REVOKED:
		return false;
	default:
		return MUTANT("pending-host-carries-traffic") || registry_host_auto_approved(r, h);
	}
}

/* Every port the service defines is in the host's config (STA-2). */
static bool reg_host_configured(const struct reg_service *s, const struct reg_host *h)
{
	if (h->tun || s->do_not_validate)
		return true;
	for (size_t i = 0; i < s->n_ports; i++) {
		for (uint32_t p = s->ports[i].first; p <= s->ports[i].last; p++) {
			bool found = false;

			for (size_t j = 0; j < h->n_config_ports && !found; j++)
				found = h->config_ports[j] == p;
			if (!found)
				return false;
		}
	}
	return true;
}

/* Eligible but for the node's liveness; `node` gets the node's index. */
static bool reg_host_eligible_if_alive(const struct registry *r, const struct reg_host *h,
                                       int *node)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);

	*node = ni;
	return s && ni >= 0 && h->advertising && !h->draining && reg_host_configured(s, h) &&
	       registry_host_approved(r, h);
}

bool registry_host_eligible(const struct registry *r, const struct reg_host *h)
{
	int ni;

	return reg_host_eligible_if_alive(r, h, &ni) && r->nodes[ni].pub.alive;
}

enum reg_state registry_host_state(const struct registry *r, const struct reg_host *h)
{
	const struct reg_service *s = reg_service_named(r, h->service);
	int ni = registry_node_index(r, h->node);
	bool approved = registry_host_approved(r, h);
	const struct reg_node *n;

	if (ni < 0)
		return REG_STATE_OFFLINE;
	n = &r->nodes[ni].pub;
	if ((h->advertising || approved) && (!n->alive || !n->connected))
		return REG_STATE_OFFLINE;
	if (h->decision == REG_DECISION_REJECTED)
		return REG_STATE_REJECTED;
	if (h->advertising && h->draining)
		return REG_STATE_DRAINING;
	if (h->advertising && !approved)
		return REG_STATE_PENDING_APPROVAL;
	if (h->advertising && s && !reg_host_configured(s, h))
		return REG_STATE_NEEDS_CONFIGURATION;
	if (h->advertising)
		return REG_STATE_CONNECTED;
	if (approved)
		return REG_STATE_PRE_APPROVED;
	return REG_STATE_OFFLINE;
}

/* Approved by policy or decision and not advertising (APR-4). */
static bool reg_node_pre_approved(const struct registry *r, const struct reg_service *s,
                                  size_t node)
{
	int hi = registry_host_index(r, s->name, r->nodes[node].pub.name);

	if (hi >= 0)
		return !r->hosts[hi].advertising && registry_host_approved(r, &r->hosts[hi]);
	return reg_auto(r, s, &r->nodes[node].pub);
}

size_t registry_pre_approved_nodes(const struct registry *r, const char *service, size_t *out,
                                   size_t max)
{
	const struct reg_service *s = reg_service_named(r, service);
	size_t n = 0;

	for (size_t i = 0; s && i < r->n_nodes && n < max; i++)
		if (reg_node_pre_approved(r, s, i))
			out[n++] = i;
	return n;
}

enum reg_state registry_service_state(const struct registry *r, const char *service)
{
	static const enum reg_state order[] = {
	    REG_STATE_CONNECTED,        REG_STATE_DRAINING,     REG_STATE_NEEDS_CONFIGURATION,
	    REG_STATE_PENDING_APPROVAL, REG_STATE_PRE_APPROVED,
	};
	const struct reg_service *s = reg_service_named(r, service);
	const struct reg_group *g;
	bool seen[REG_STATE_REJECTED + 1] = {false};
	size_t dummy;

	if (!s)
		return REG_STATE_OFFLINE;
	g = reg_group_find(r, service);
	for (size_t i = 0; g && i < g->hosts.n; i++) {
		const struct reg_host *h = &r->hosts[g->hosts.v[i]];
		enum reg_state st = registry_host_state(r, h);

		if (st == REG_STATE_DRAINING && !registry_host_approved(r, h))
			continue;
		seen[st] = true;
	}
	if (!seen[REG_STATE_CONNECTED] && !seen[REG_STATE_DRAINING] &&
	    !seen[REG_STATE_NEEDS_CONFIGURATION] && !seen[REG_STATE_PENDING_APPROVAL] &&
	    !seen[REG_STATE_PRE_APPROVED])
		seen[REG_STATE_PRE_APPROVED] =
		    registry_pre_approved_nodes(r, service, &dummy, 1) > 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (seen[order[i]])
			return order[i];
	return REG_STATE_OFFLINE;
}

/* ---- steering --------------------------------------------------------- */

struct reg_rank {
	size_t node;
	int lost; /* STR-8: after every alive host */
	int other_region;
	uint64_t latency_us;
	uint64_t hash;
};

static int reg_rank_cmp(const void *a, const void *b)
{
	const struct reg_rank *x = a, *y = b;

	if (x->lost != y->lost)
		return x->lost - y->lost;
	if (x->other_region != y->other_region)
		return x->other_region - y->other_region;
	if (x->latency_us != y->latency_us)
		return x->latency_us < y->latency_us ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash > y->hash ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

size_t registry_rank_hosts(const struct registry *r, size_t client, const char *service,
                           size_t *out, size_t max)
{
	const struct reg_group *g = service ? reg_group_find(r, service) : NULL;
	const struct reg_node *c = registry_node(r, client);
	struct reg_rank *ranks;
	size_t n = 0;

	if (!g || !c || !max || !g->hosts.n)
		return 0;
	ranks = calloc(g->hosts.n, sizeof(*ranks));
	if (!ranks)
		return 0;
	for (size_t i = 0; i < g->hosts.n; i++) {
		const struct reg_host *h = &r->hosts[g->hosts.v[i]];
		int ni;
		const struct reg_node *hn;

		bool ok = reg_host_eligible_if_alive(r, h, &ni);
		if (!ok && MUTANT("revoke-never-reaches-clients") &&
		    h->decision == REG_DECISION_REVOKED)
			ok = ni >= 0 && h->advertising && !h->draining;
		if (!ok)
			continue;
		hn = &r->nodes[ni].pub;
		if (!hn->alive && !hn->lost)
			continue;
		CHECK(!(hn->alive && hn->lost));
		ranks[n].node = (size_t)ni;
		ranks[n].lost = hn->lost;
		ranks[n].other_region = strcmp(hn->region, c->region) != 0;
		if (MUTANT("steering-ignores-region"))
			ranks[n].other_region = 0;
		else if (ranks[n].other_region && r->latency_fn)
			ranks[n].latency_us = r->latency_fn(r->latency_ctx, c->region, hn->region);
		ranks[n].hash = reg_hash_pair(c->name, hn->name);
		n++;
	}
	qsort(ranks, n, sizeof(*ranks), reg_rank_cmp);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = ranks[i].node;
	free(ranks);
	return n;
}
