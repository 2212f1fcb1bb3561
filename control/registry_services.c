/* Registry services and their hosts: service definitions (ports, tags,
 * VIPs), deletion, the host records advertisements create and update, and
 * admin decisions on hosts (approve, reject, revoke). */
#include "control/registry_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- services --------------------------------------------------------- */

size_t registry_service_count(const struct registry *r)
{
	return r->n_services;
}

const struct reg_service *registry_service(const struct registry *r, size_t index)
{
	return index < r->n_services ? &r->services[index] : NULL;
}

int registry_service_index(const struct registry *r, const char *name)
{
	if (!name)
		return -ENOENT;
	return reg_lookup(r, &r->svc_by_name, hash_str(name), reg_match_svc_name, name);
}

int registry_service_by_vip(const struct registry *r, const struct io_addr *vip)
{
	return reg_lookup(r, &r->svc_by_vip, reg_hash_addr(vip), reg_match_svc_vip, vip);
}

const struct reg_service *reg_service_named(const struct registry *r, const char *name)
{
	int i = registry_service_index(r, name);

	return i < 0 ? NULL : &r->services[i];
}

/* "tcp:N" or "tcp:N-M" with 1 <= N <= M <= 65535, digits only. */
static int reg_port_parse(const char *text, struct reg_port_range *out, char *err, size_t err_len)
{
	const char *p;
	unsigned long v[2] = {0, 0};
	int n = 0;

	if (!text)
		return err_setf(err, err_len, -EINVAL, "a port entry is missing");
	if (strncmp(text, "tcp:", 4) != 0)
		return err_setf(err, err_len, -EINVAL,
		                "%.40s: services carry TCP only (tcp:N or tcp:N-M)", text);
	for (p = text + 4; n < 2; n++) {
		size_t digits = 0;

		while (*p >= '0' && *p <= '9' && digits < 6) {
			v[n] = v[n] * 10 + (unsigned long)(*p - '0');
			p++;
			digits++;
		}
		if (!digits || (*p >= '0' && *p <= '9'))
			return err_setf(err, err_len, -EINVAL,
			                "%.40s: a port is a number 1-65535 (tcp:N or tcp:N-M)",
			                text);
		if (v[n] < 1 || v[n] > 65535)
			return err_setf(err, err_len, -EINVAL, "%.40s: port %lu is outside 1-65535",
			                text, v[n]);
		if (*p == '\0')
			break;
		if (*p != '-' || n == 1)
			return err_setf(err, err_len, -EINVAL,
			                "%.40s: a port entry is tcp:N or tcp:N-M", text);
		p++;
	}
	if (n == 0)
		v[1] = v[0];
	if (v[0] > v[1])
		return err_setf(err, err_len, -EINVAL,
		                "%.40s: a range's first port exceeds its last", text);
	out->first = (uint16_t)v[0];
	out->last = (uint16_t)v[1];
	return 0;
}

/* Validates a definition into `s` (fields newly allocated; `s` zeroed on
 * failure). Tags are checked against the policy when `check_policy`. */
int reg_service_build(const struct registry *r, const struct reg_service_def *def,
                      bool check_policy, struct reg_service *s, char *err, size_t err_len)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (!def)
		return err_setf(err, err_len, -EINVAL, "no service definition");
	if ((def->n_ports && !def->ports) || (def->n_tags && !def->tags))
		return err_setf(err, err_len, -EINVAL, "%.80s: port or tag list missing",
		                def->name ? def->name : "(null)");
	if (!registry_service_name_valid(def->name, err, err_len))
		return -EINVAL;
	if (def->description && strlen(def->description) > REG_MAX_DESC)
		return err_setf(err, err_len, -E2BIG, "%s: a description is at most %d bytes",
		                def->name, REG_MAX_DESC);
	if (def->n_ports == 0)
		return err_setf(err, err_len, -EINVAL,
		                "%s: a service needs ports (tcp:N, tcp:N-M or do-not-validate)",
		                def->name);
	if (def->n_ports > REG_MAX_PORTS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d port entries", def->name,
		                REG_MAX_PORTS);
	if (def->n_tags == 0)
		return err_setf(err, err_len, -EINVAL, "%s: a service needs at least one tag",
		                def->name);
	if (def->n_tags > REG_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "%s: at most %d tags per service", def->name,
		                REG_MAX_TAGS);
	for (size_t i = 0; i < def->n_ports; i++) {
		if (def->ports[i] && strcmp(def->ports[i], "do-not-validate") == 0) {
			if (def->n_ports != 1)
				return err_setf(err, err_len, -EINVAL,
				                "%s: do-not-validate must be the only port entry",
				                def->name);
			s->do_not_validate = true;
			continue;
		}
		rc = reg_port_parse(def->ports[i], &s->ports[i], err, err_len);
		if (rc)
			return rc;
	}
	s->n_ports = s->do_not_validate ? 0 : def->n_ports;
	for (size_t i = 0; i < def->n_tags; i++) {
		if (!reg_tag_wellformed(def->tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%.80s\" is not a tag (tag:NAME)", def->name,
			                def->tags[i] ? def->tags[i] : "");
		if (check_policy && !policy_tag_known(r->policy, def->tags[i]))
			return err_setf(err, err_len, -EINVAL,
			                "%s: tag %s is not owned in the policy (tagOwners)",
			                def->name, def->tags[i]);
	}
	if (reg_strdup(&s->name, def->name) || reg_strdup(&s->description, def->description))
		goto nomem;
	for (size_t i = 0; i < def->n_tags; i++) {
		if (reg_strdup(&s->tags[i], def->tags[i]))
			goto nomem;
		s->n_tags++;
	}
	return 0;
nomem:
	reg_service_clear(s);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

static void reg_svc_vips(uint64_t k, struct io_addr *v4, struct io_addr *v6)
{
	io_addr_v4(v4, REG_V4_SVC_BASE + (uint32_t)k, 0);
	memset(v6, 0, sizeof(*v6));
	v6->family = IO_AF_INET6;
	memcpy(v6->ip, reg_v6_prefix, sizeof(reg_v6_prefix));
	v6->ip[6] = 0xab;
	v6->ip[7] = 0x12;
	for (int i = 0; i < 8; i++)
		v6->ip[15 - i] = (uint8_t)(k >> (8 * i));
}

/* Rebuilds the name and VIP indexes over services[] (after a delete). */
static int reg_service_reindex(struct registry *r)
{
	htab_free(&r->svc_by_name);
	htab_free(&r->svc_by_vip);
	for (size_t i = 0; i < r->n_services; i++) {
		const struct reg_service *s = &r->services[i];

		if (htab_insert(&r->svc_by_name, hash_str(s->name), i) ||
		    htab_insert(&r->svc_by_vip, reg_hash_addr(&s->vip4), i) ||
		    htab_insert(&r->svc_by_vip, reg_hash_addr(&s->vip6), i))
			return -ENOMEM;
	}
	return 0;
}

/* Appends a built service `s` (ownership moves on success) with its VIPs set. */
int reg_service_add(struct registry *r, struct reg_service *s)
{
	size_t idx = r->n_services;
	uint64_t hn = hash_str(s->name), h4 = reg_hash_addr(&s->vip4);

	if (reg_grow((void **)&r->services, &r->cap_services, idx + 1, sizeof(*r->services)))
		return -ENOMEM;
	r->services[idx] = *s;
	r->n_services++;
	if (htab_insert(&r->svc_by_name, hn, idx))
		goto fail;
	if (htab_insert(&r->svc_by_vip, h4, idx))
		goto fail_name;
	if (htab_insert(&r->svc_by_vip, reg_hash_addr(&s->vip6), idx))
		goto fail_v4;
	memset(s, 0, sizeof(*s));
	return 0;
fail_v4:
	htab_remove(&r->svc_by_vip, h4, idx);
fail_name:
	htab_remove(&r->svc_by_name, hn, idx);
fail:
	r->n_services--;
	return -ENOMEM;
}

int registry_define_service(struct registry *r, const char *actor,
                            const struct reg_service_def *def, char *err, size_t err_len)
{
	struct reg_service s;
	int rc, idx;

	rc = reg_require_admin(r, actor, "define services", err, err_len);
	if (rc)
		return rc;
	rc = reg_service_build(r, def, true, &s, err, err_len);
	if (rc)
		return rc;
	idx = registry_service_index(r, def->name);
	if (idx >= 0) {
		s.vip4 = r->services[idx].vip4;
		s.vip6 = r->services[idx].vip6;
		reg_service_clear(&r->services[idx]);
		r->services[idx] = s;
		r->generation++;
		return 0;
	}
	if (r->n_services >= REG_MAX_SERVICES) {
		rc = err_setf(err, err_len, -ENOSPC, "at most %d services", REG_MAX_SERVICES);
		goto fail;
	}
	do {
		if (r->next_svc_k > REG_SVC_MAX_K) {
			rc = err_setf(err, err_len, -ENOSPC, "service addresses exhausted");
			goto fail;
		}
		reg_svc_vips(r->next_svc_k++, &s.vip4, &s.vip6);
	} while (io_addr_v4_host(&s.vip4) == REG_V4_QUAD100 || reg_addr_taken(r, &s.vip4) ||
	         reg_addr_taken(r, &s.vip6));
	rc = reg_service_add(r, &s);
	if (rc) {
		rc = err_setf(err, err_len, rc, "out of memory");
		goto fail;
	}
	r->generation++;
	return 0;
fail:
	reg_service_clear(&s);
	return rc;
}

/* ---- hosts ------------------------------------------------------------ */

size_t registry_host_count(const struct registry *r)
{
	return r->n_hosts;
}

const struct reg_host *registry_host(const struct registry *r, size_t index)
{
	return index < r->n_hosts ? &r->hosts[index] : NULL;
}

int registry_host_index(const struct registry *r, const char *service, const char *node)
{
	struct reg_host_key k = {service, node};

	if (!service || !node)
		return -ENOENT;
	return reg_lookup(r, &r->host_by_key, reg_hash_pair(service, node), reg_match_host, &k);
}

struct reg_group *reg_group_find(const struct registry *r, const char *service)
{
	long i = htab_find(&r->group_by_name, hash_str(service), reg_match_group, r, service);

	return i < 0 ? NULL : &r->groups[i];
}

static struct reg_group *reg_group_get(struct registry *r, const char *service)
{
	struct reg_group *g = reg_group_find(r, service);
	size_t idx = r->n_groups;

	if (g)
		return g;
	if (reg_grow((void **)&r->groups, &r->cap_groups, idx + 1, sizeof(*r->groups)))
		return NULL;
	g = &r->groups[idx];
	memset(g, 0, sizeof(*g));
	if (reg_strdup(&g->service, service))
		return NULL;
	if (htab_insert(&r->group_by_name, hash_str(service), idx)) {
		free(g->service);
		return NULL;
	}
	r->n_groups++;
	return g;
}

/* Finds or creates the record for (service, node index). */
int reg_host_get(struct registry *r, const char *service, size_t node, char *err, size_t err_len)
{
	const char *node_name = r->nodes[node].pub.name;
	int idx = registry_host_index(r, service, node_name);
	struct reg_group *g;
	struct reg_host *h;
	size_t hi = r->n_hosts;

	if (idx >= 0)
		return idx;
	g = reg_group_get(r, service);
	if (!g)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	if (g->hosts.n >= REG_MAX_HOSTS)
		return err_setf(err, err_len, -ENOSPC, "%s: at most %d hosts per service", service,
		                REG_MAX_HOSTS);
	if (reg_grow((void **)&r->hosts, &r->cap_hosts, hi + 1, sizeof(*r->hosts)))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	h = &r->hosts[hi];
	memset(h, 0, sizeof(*h));
	if (reg_strdup(&h->service, service) || reg_strdup(&h->node, node_name))
		goto nomem;
	if (reg_vec_push(&g->hosts, hi))
		goto nomem;
	if (reg_vec_push(&r->nodes[node].hosts, hi))
		goto nomem_g;
	if (htab_insert(&r->host_by_key, reg_hash_pair(service, node_name), hi))
		goto nomem_n;
	r->n_hosts++;
	return (int)hi;
nomem_n:
	r->nodes[node].hosts.n--;
nomem_g:
	g->hosts.n--;
nomem:
	reg_host_clear(h);
	return err_setf(err, err_len, -ENOMEM, "out of memory");
}

/* Removes host record `hi` when it neither advertises nor carries a
 * decision; the last record moves into its place. */
static void reg_host_gc(struct registry *r, size_t hi)
{
	struct reg_host *h = &r->hosts[hi];
	size_t last = r->n_hosts - 1;
	int node = registry_node_index(r, h->node);

	if (h->advertising || h->decision != REG_DECISION_NONE)
		return;
	CHECK(node >= 0);
	htab_remove(&r->host_by_key, reg_hash_pair(h->service, h->node), hi);
	reg_vec_remove(&reg_group_find(r, h->service)->hosts, hi);
	reg_vec_remove(&r->nodes[node].hosts, hi);
	reg_host_clear(h);
	if (hi != last) {
		struct reg_host *m = &r->hosts[last];
		int mnode = registry_node_index(r, m->node);

		CHECK(mnode >= 0);
		htab_retarget(&r->host_by_key, reg_hash_pair(m->service, m->node), last, hi);
		reg_vec_replace(&reg_group_find(r, m->service)->hosts, last, hi);
		reg_vec_replace(&r->nodes[mnode].hosts, last, hi);
		*h = *m;
		memset(m, 0, sizeof(*m));
	}
	r->n_hosts--;
}

int registry_delete_service(struct registry *r, const char *actor, const char *name, char *err,
                            size_t err_len)
{
	struct reg_group *g;
	int rc, idx;

	rc = reg_require_admin(r, actor, "delete services", err, err_len);
	if (rc)
		return rc;
	idx = registry_service_index(r, name);
	if (idx < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such service",
		                name ? name : "(null)");
	reg_service_clear(&r->services[idx]);
	memmove(&r->services[idx], &r->services[idx + 1],
	        (r->n_services - (size_t)idx - 1) * sizeof(*r->services));
	r->n_services--;
	if (reg_service_reindex(r))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	/* Decisions die with the service: a new definition starts pending. */
	g = reg_group_find(r, name);
	for (size_t i = g ? g->hosts.n : 0; i-- > 0;) {
		size_t hi = g->hosts.v[i];

		r->hosts[hi].decision = REG_DECISION_NONE;
		reg_host_gc(r, hi);
		g = reg_group_find(r, name); /* gc never moves groups, but stay honest */
	}
	r->generation++;
	return 0;
}

int registry_advertise(struct registry *r, size_t node, const struct reg_advert *adverts, size_t n,
                       char *err, size_t err_len)
{
	struct reg_node_int *ni;
	bool changed = false;
	int rc = 0;

	if (node >= r->n_nodes)
		return err_setf(err, err_len, -ENOENT, "no such node");
	if (n && !adverts)
		return err_setf(err, err_len, -EINVAL, "advertisement list missing");
	if (n > REG_MAX_SERVICES)
		return err_setf(err, err_len, -E2BIG, "at most %d advertised services",
		                REG_MAX_SERVICES);
	ni = &r->nodes[node];
	/* Withdraw what the new set does not name. */
	for (size_t i = ni->hosts.n; i-- > 0;) {
		size_t hi = ni->hosts.v[i];
		bool named = false;

		for (size_t j = 0; j < n && !named; j++)
			named = adverts[j].service &&
			        strcmp(adverts[j].service, r->hosts[hi].service) == 0;
		if (!named || !ni->pub.n_tags) {
			changed |= r->hosts[hi].advertising;
			r->hosts[hi].advertising = false;
			r->hosts[hi].draining = false;
			r->hosts[hi].n_config_ports = 0;
			reg_host_gc(r, hi);
		}
	}
	for (size_t j = 0; j < n; j++) {
		const struct reg_advert *a = &adverts[j];
		struct reg_host *h;
		int hi, erc;

		if (!ni->pub.n_tags) {
			rc = err_setf(err, err_len, -EPERM,
			              "%s: an untagged node cannot host a service (%.80s); tag it",
			              ni->pub.name, a->service ? a->service : "");
			continue;
		}
		if (!registry_service_name_valid(a->service, err, err_len)) {
			rc = rc ? rc : -EINVAL;
			continue;
		}
		if (a->n_config_ports > REG_MAX_PORTS || (a->n_config_ports && !a->config_ports)) {
			erc = err_setf(err, err_len, -E2BIG, "%s: at most %d configured ports",
			               a->service, REG_MAX_PORTS);
			rc = rc ? rc : erc;
			continue;
		}
		hi = reg_host_get(r, a->service, node, err, err_len);
		if (hi < 0) {
			rc = rc ? rc : hi;
			continue;
		}
		h = &r->hosts[hi];
		changed |= !h->advertising || h->draining != a->draining || h->tun != a->tun ||
		           h->n_config_ports != a->n_config_ports ||
		           (a->n_config_ports && memcmp(h->config_ports, a->config_ports,
		                                        a->n_config_ports * sizeof(uint16_t)));
		h->advertising = true;
		h->draining = a->draining;
		h->tun = a->tun;
		h->n_config_ports = a->n_config_ports;
		if (a->n_config_ports)
			memcpy(h->config_ports, a->config_ports,
			       a->n_config_ports * sizeof(*a->config_ports));
	}
	if (changed)
		r->generation++;
	return rc;
}

int registry_decide(struct registry *r, const char *actor, const char *service, const char *node,
                    enum reg_decision decision, char *err, size_t err_len)
{
	int rc, ni, hi;

	rc = reg_require_admin(r, actor, "approve hosts", err, err_len);
	if (rc)
		return rc;
	if (decision != REG_DECISION_APPROVED && decision != REG_DECISION_REJECTED &&
	    decision != REG_DECISION_REVOKED)
		return err_setf(err, err_len, -EINVAL, "a decision is approve, reject or revoke");
	if (registry_service_index(r, service) < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such service",
		                service ? service : "(null)");
	ni = registry_node_index(r, node);
	if (ni < 0)
		return err_setf(err, err_len, -ENOENT, "%.80s: no such node",
		                node ? node : "(null)");
	hi = reg_host_get(r, service, (size_t)ni, err, err_len);
	if (hi < 0)
		return hi;
	r->hosts[hi].decision = decision;
	r->generation++;
	return 0;
}
