/* Evaluating the policy: which ports a node may reach on a service or on
 * another node (the union over matching grants), and whether a host is
 * approved automatically. */
#include "control/policy_int.h"

#include "lib/base/mutant.h"

#include <stdlib.h>
#include <string.h>

/* ---- evaluation ---- */

/* Do the lists share a name? (NULL entries in the caller's list are skipped.) */
static bool pol_tags_meet(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (a[i] && !strcmp(a[i], b[j]))
				return true;
	return false;
}

/* Does the user-owned, untagged node belong to the users or groups of sel? */
static bool pol_sel_has_user(const struct pol_sel *sel, const struct policy_node *n)
{
	if (n->n_tags || !n->user || !*n->user)
		return false;
	for (size_t i = 0; i < sel->n_users; i++)
		if (!strcmp(sel->users[i], n->user))
			return true;
	for (size_t i = 0; i < sel->n_groups; i++) {
		const struct pol_group *g = sel->groups[i];

		for (size_t j = 0; j < g->n_members; j++)
			if (!strcmp(g->members[j], n->user))
				return true;
	}
	return false;
}

/* Does the src list admit node n (see the selector meanings in policy.h)? */
static bool pol_src_matches(const struct pol_sel *sel, const struct policy_node *n)
{
	if (sel->any)
		return true;
	if (sel->member && !n->n_tags && n->user && *n->user)
		return true;
	if (pol_tags_meet(n->tags, n->n_tags, sel->tags, sel->n_tags))
		return true;
	return pol_sel_has_user(sel, n);
}

static bool pol_dst_matches_svc(const struct pol_sel *sel, const struct policy_service *svc)
{
	if (sel->any)
		return true;
	for (size_t i = 0; i < sel->n_svcs; i++)
		if (svc->name && !strcmp(sel->svcs[i], svc->name))
			return true;
	if (MUTANT("grant-tag-dst-ignored"))
		return false;
	return pol_tags_meet(svc->tags, svc->n_tags, sel->tags, sel->n_tags);
}

static bool pol_dst_matches_node(const struct pol_sel *sel, const struct policy_node *n)
{
	if (sel->any)
		return true;
	if (pol_tags_meet(n->tags, n->n_tags, sel->tags, sel->n_tags))
		return true;
	return pol_sel_has_user(sel, n);
}

/* Unions the sorted, merged list r[0..n) into out (also sorted and merged).
 * Ranges beyond POLICY_MAX_PORT_RANGES are dropped and flagged. */
static void pol_ports_union(struct policy_ports *out, const struct policy_port_range *r, size_t n)
{
	struct policy_port_range tmp[POLICY_MAX_PORT_RANGES + POLICY_MAX_SELECTORS];
	size_t i = 0, j = 0, m = 0;
	bool full = false;

	if (!out->n && n <= POLICY_MAX_PORT_RANGES) {
		memcpy(out->r, r, n * sizeof(*r));
		out->n = n;
		return;
	}
	while (i < out->n || j < n) {
		const struct policy_port_range *next;

		if (j >= n || (i < out->n && pol_cmp_range(&out->r[i], &r[j]) <= 0))
			next = &out->r[i++];
		else
			next = &r[j++];
		if (!pol_range_push(tmp, &m, sizeof(tmp) / sizeof(tmp[0]), next))
			full = true;
	}
	if (m > POLICY_MAX_PORT_RANGES) {
		m = POLICY_MAX_PORT_RANGES;
		full = true;
	}
	memcpy(out->r, tmp, m * sizeof(*tmp));
	out->n = m;
	if (full)
		out->truncated = true;
}

/* The union of the ports of every grant from `src` to `svc` (when given)
 * or else to the node `node`. */
static void pol_grant_ports(const struct policy *p, const struct policy_node *src,
                            const struct policy_service *svc, const struct policy_node *node,
                            struct policy_ports *out)
{
	out->n = 0;
	out->truncated = false;
	for (size_t i = 0; i < p->n_grants; i++) {
		const struct pol_grant *g = &p->grants[i];

		if (g->n_ports && pol_src_matches(&g->src, src) &&
		    (svc ? pol_dst_matches_svc(&g->dst, svc) : pol_dst_matches_node(&g->dst, node)))
			pol_ports_union(out, g->ports, g->n_ports);
	}
}

void policy_service_ports(const struct policy *p, const struct policy_node *src,
                          const struct policy_service *svc, struct policy_ports *out)
{
	pol_grant_ports(p, src, svc, NULL, out);
}

void policy_node_ports(const struct policy *p, const struct policy_node *src,
                       const struct policy_node *dst, struct policy_ports *out)
{
	pol_grant_ports(p, src, NULL, dst, out);
}

bool policy_auto_approves(const struct policy *p, const struct policy_service *svc,
                          const struct policy_node *host)
{
	if (!host->n_tags)
		return false;
	for (size_t i = 0; i < p->n_apprs; i++) {
		const struct pol_approver *a = &p->apprs[i];
		bool key_ok;

		if (a->key_is_tag)
			key_ok = pol_tags_meet(svc->tags, svc->n_tags, &a->key, 1);
		else
			key_ok = svc->name && !strcmp(svc->name, a->key);
		if (key_ok && (MUTANT("auto-approver-ignores-host-tags") ||
		               pol_tags_meet(host->tags, host->n_tags, a->tags, a->n_tags)))
			return true;
	}
	return false;
}

bool policy_ports_allow(const struct policy_ports *ports, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < ports->n; i++) {
		const struct policy_port_range *r = &ports->r[i];

		if ((r->proto == POLICY_PROTO_ANY || r->proto == proto) && r->first <= port &&
		    port <= r->last)
			return true;
	}
	return false;
}
