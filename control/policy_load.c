/* Loading the policy's sections into tables, validating each with a
 * message that names the place: groups and tagOwners, grants (selectors
 * and port specs, sorted and merged), autoApprovers. */
#include "control/policy_int.h"

#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- groups and tagOwners ---- */

/* Loads `groups`: valid names, each a list of user logins (no nesting),
 * none defined twice; the table ends sorted for lookups. */
int pol_load_groups(struct policy *p, const cJSON *obj, char *err, size_t err_len)
{
	char where[POL_PATH_LEN];
	size_t n = 0;
	int rc;

	if (!cJSON_IsObject(obj))
		return err_setf(err, err_len, -EINVAL, "groups: must be an object");
	for (const cJSON *it = obj->child; it; it = it->next)
		n++;
	if (n > POLICY_MAX_GROUPS)
		return err_setf(err, err_len, -E2BIG, "groups: more than %d groups",
		                POLICY_MAX_GROUPS);
	if (!n)
		return 0;
	p->groups = calloc(n, sizeof(*p->groups));
	if (!p->groups)
		return -ENOMEM;
	for (const cJSON *it = obj->child; it; it = it->next) {
		struct pol_group *g = &p->groups[p->n_groups++];
		int idx = 0;

		if (strlen(it->string) > POLICY_MAX_NAME)
			return err_setf(err, err_len, -E2BIG,
			                "groups: a group name is longer than %d characters",
			                POLICY_MAX_NAME);
		if (!pol_is_group(it->string))
			return err_setf(err, err_len, -EINVAL,
			                "groups: \"%s\" is not a valid group name "
			                "(group: + letters, digits, '-', '_' or '.')",
			                it->string);
		snprintf(where, sizeof(where), "groups: %s", it->string);
		rc = pol_check_string_array(it, where, "user logins", err, err_len);
		if (rc < 0)
			return rc;
		g->name = it->string;
		if (rc) {
			g->members = calloc((size_t)rc, sizeof(*g->members));
			if (!g->members)
				return -ENOMEM;
		}
		for (const cJSON *m = it->child; m; m = m->next, idx++) {
			if (pol_is_group(m->valuestring))
				return err_setf(err, err_len, -EINVAL,
				                "%s[%d]: \"%s\": groups cannot contain groups",
				                where, idx, m->valuestring);
			if (!pol_is_user(m->valuestring))
				return err_setf(err, err_len, -EINVAL,
				                "%s[%d]: \"%s\" is not a user login (name@domain)",
				                where, idx, m->valuestring);
			g->members[g->n_members++] = m->valuestring;
		}
	}
	qsort(p->groups, p->n_groups, sizeof(*p->groups), pol_cmp_group);
	for (size_t i = 1; i < p->n_groups; i++)
		if (strcmp(p->groups[i - 1].name, p->groups[i].name) == 0)
			return err_setf(err, err_len, -EINVAL, "groups: %s: defined twice",
			                p->groups[i].name);
	return 0;
}

/* First pass: the tag names (so owner lists may name other tags). */
int pol_load_tag_names(struct policy *p, const cJSON *obj, char *err, size_t err_len)
{
	size_t n = 0;

	if (!cJSON_IsObject(obj))
		return err_setf(err, err_len, -EINVAL, "tagOwners: must be an object");
	for (const cJSON *it = obj->child; it; it = it->next)
		n++;
	if (n > POLICY_MAX_TAGS)
		return err_setf(err, err_len, -E2BIG, "tagOwners: more than %d tags",
		                POLICY_MAX_TAGS);
	if (!n)
		return 0;
	p->tags = calloc(n, sizeof(*p->tags));
	if (!p->tags)
		return -ENOMEM;
	for (const cJSON *it = obj->child; it; it = it->next) {
		if (strlen(it->string) > POLICY_MAX_NAME)
			return err_setf(err, err_len, -E2BIG,
			                "tagOwners: a tag name is longer than %d characters",
			                POLICY_MAX_NAME);
		if (!pol_is_tag(it->string))
			return err_setf(err, err_len, -EINVAL,
			                "tagOwners: \"%s\" is not a valid tag "
			                "(tag: + letters, digits, '-' or '_')",
			                it->string);
		p->tags[p->n_tags++] = it->string;
	}
	qsort(p->tags, p->n_tags, sizeof(*p->tags), pol_cmp_str);
	for (size_t i = 1; i < p->n_tags; i++)
		if (strcmp(p->tags[i - 1], p->tags[i]) == 0)
			return err_setf(err, err_len, -EINVAL, "tagOwners: %s: defined twice",
			                p->tags[i]);
	return 0;
}

/* Second pass: every owner is a user, a defined group, an owned tag or an
 * admin autogroup. */
int pol_check_tag_owners(const struct policy *p, const cJSON *obj, char *err, size_t err_len)
{
	char where[POL_PATH_LEN];
	int rc;

	for (const cJSON *it = obj->child; it; it = it->next) {
		int idx = 0;

		snprintf(where, sizeof(where), "tagOwners: %s", it->string);
		rc = pol_check_string_array(it, where, "owners", err, err_len);
		if (rc < 0)
			return rc;
		for (const cJSON *o = it->child; o; o = o->next, idx++) {
			const char *s = o->valuestring;
			const struct pol_group *g;

			if (pol_has_prefix(s, "tag:"))
				rc = pol_check_tag_use(p, s, where, idx, err, err_len);
			else if (pol_has_prefix(s, "group:"))
				rc = pol_check_group_use(p, s, where, idx, &g, err, err_len);
			else if (!strcmp(s, "autogroup:admin") || !strcmp(s, "autogroup:member") ||
			         !strcmp(s, "autogroup:owner") ||
			         !strcmp(s, "autogroup:network-admin") || pol_is_user(s))
				rc = 0;
			else
				rc = err_setf(
				    err, err_len, -EINVAL,
				    "%s[%d]: \"%s\" is not a tag owner (a user, group, tag or "
				    "autogroup:admin)",
				    where, idx, s);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- grants ---- */

/* Parses one `ip` entry; NULL on success, else why not. */
static const char *pol_parse_port_spec(const char *s, struct policy_port_range *r)
{
	unsigned long a, b;
	char *end;

	r->proto = POLICY_PROTO_ANY;
	if (pol_has_prefix(s, "tcp:")) {
		r->proto = POLICY_PROTO_TCP;
		s += 4;
	} else if (pol_has_prefix(s, "udp:")) {
		r->proto = POLICY_PROTO_UDP;
		s += 4;
	} else if (strchr(s, ':')) {
		return "unknown protocol (tcp: or udp:)";
	}
	if (!strcmp(s, "*")) {
		r->first = 1;
		r->last = 65535;
		return NULL;
	}
	if (!isdigit((unsigned char)*s))
		return "not a port, a range N-M or *";
	a = strtoul(s, &end, 10);
	if (end - s > 5 || a < 1 || a > 65535)
		return "port out of range 1-65535";
	b = a;
	if (*end == '-') {
		const char *t = end + 1;

		if (!isdigit((unsigned char)*t))
			return "not a port, a range N-M or *";
		b = strtoul(t, &end, 10);
		if (end - t > 5 || b < 1 || b > 65535)
			return "port out of range 1-65535";
		if (b < a)
			return "range is reversed";
	}
	if (*end)
		return "not a port, a range N-M or *";
	r->first = (uint16_t)a;
	r->last = (uint16_t)b;
	return NULL;
}

int pol_cmp_range(const void *a, const void *b)
{
	const struct policy_port_range *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return 0;
}

/* Appends r to the sorted list dst[0..*n) merging with its last entry when
 * they overlap or touch. `cap` bounds dst; returns false when full. */
bool pol_range_push(struct policy_port_range *dst, size_t *n, size_t cap,
                    const struct policy_port_range *r)
{
	if (*n) {
		struct policy_port_range *last = &dst[*n - 1];

		if (last->proto == r->proto && (unsigned)r->first <= (unsigned)last->last + 1) {
			if (r->last > last->last)
				last->last = r->last;
			return true;
		}
	}
	if (*n >= cap)
		return false;
	dst[(*n)++] = *r;
	return true;
}

/* Loads a grant's `ip` list into its sorted, merged port ranges. */
static int pol_load_ports(struct pol_grant *g, const cJSON *arr, const char *where, char *err,
                          size_t err_len)
{
	int n = pol_check_string_array(arr, where, "port specs", err, err_len);
	struct policy_port_range *tmp;
	size_t idx = 0, m = 0;

	if (n <= 0)
		return n;
	tmp = calloc((size_t)n, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (const cJSON *it = arr->child; it; it = it->next, idx++) {
		const char *why = pol_parse_port_spec(it->valuestring, &tmp[idx]);

		if (why) {
			free(tmp);
			return err_setf(err, err_len, -EINVAL, "%s[%zu]: \"%s\": %s", where, idx,
			                it->valuestring, why);
		}
	}
	qsort(tmp, idx, sizeof(*tmp), pol_cmp_range);
	for (size_t i = 0; i < idx; i++)
		pol_range_push(tmp, &m, idx, &tmp[i]);
	g->ports = tmp;
	g->n_ports = m;
	return 0;
}

/* Loads a src (is_src) or dst list into its per-kind arrays. */
static int pol_load_sel(const struct policy *p, struct pol_sel *sel, const cJSON *arr,
                        const char *where, bool is_src, char *err, size_t err_len)
{
	int n = pol_check_string_array(arr, where, "selectors", err, err_len);
	int idx = 0, rc;
	void **block;

	if (n <= 0)
		return n;
	block = calloc((size_t)n * 4, sizeof(void *));
	if (!block)
		return -ENOMEM;
	sel->block = block;
	sel->tags = (const char **)block;
	sel->users = (const char **)(block + n);
	sel->svcs = (const char **)(block + 2 * n);
	sel->groups = (const struct pol_group **)(block + 3 * n);
	for (const cJSON *it = arr->child; it; it = it->next, idx++) {
		const char *s = it->valuestring;
		const struct pol_group *g;
		const char *why;

		if (!strcmp(s, "*")) {
			sel->any = true;
		} else if (pol_has_prefix(s, "tag:")) {
			rc = pol_check_tag_use(p, s, where, idx, err, err_len);
			if (rc)
				return rc;
			sel->tags[sel->n_tags++] = s;
		} else if (pol_has_prefix(s, "group:")) {
			rc = pol_check_group_use(p, s, where, idx, &g, err, err_len);
			if (rc)
				return rc;
			sel->groups[sel->n_groups++] = g;
		} else if (pol_has_prefix(s, "svc:")) {
			if (is_src)
				return err_setf(err, err_len, -EINVAL,
				                "%s[%d]: \"%s\": a service cannot be a source",
				                where, idx, s);
			why = pol_svc_name_problem(s);
			if (why)
				return err_setf(
				    err, err_len, -EINVAL,
				    "%s[%d]: \"%s\" is not a valid service name (SVC-1: %s)", where,
				    idx, s, why);
			sel->svcs[sel->n_svcs++] = s;
		} else if (pol_has_prefix(s, "autogroup:")) {
			if (!is_src || strcmp(s, "autogroup:member"))
				return err_setf(err, err_len, -EINVAL,
				                "%s[%d]: \"%s\" is not supported here%s", where,
				                idx, s, is_src ? " (only autogroup:member)" : "");
			sel->member = true;
		} else if (pol_is_user(s)) {
			sel->users[sel->n_users++] = s;
		} else {
			return err_setf(err, err_len, -EINVAL,
			                "%s[%d]: \"%s\" is not a valid selector (%s)", where, idx,
			                s,
			                is_src ? "tag:, group:, a user login, autogroup:member or *"
			                       : "svc:, tag:, group:, a user login or *");
		}
	}
	return 0;
}

/* Loads `grants`: each an object with exactly src, dst and ip. */
int pol_load_grants(struct policy *p, const cJSON *arr, char *err, size_t err_len)
{
	static const char *const keys[] = {"src", "dst", "ip"};
	char where[POL_PATH_LEN], sub[POL_PATH_LEN];
	size_t n = 0, idx = 0;
	int rc;

	if (!cJSON_IsArray(arr))
		return err_setf(err, err_len, -EINVAL, "grants: must be an array");
	for (const cJSON *it = arr->child; it; it = it->next)
		n++;
	if (n > POLICY_MAX_GRANTS)
		return err_setf(err, err_len, -E2BIG, "grants: %zu grants, at most %d", n,
		                POLICY_MAX_GRANTS);
	if (!n)
		return 0;
	p->grants = calloc(n, sizeof(*p->grants));
	if (!p->grants)
		return -ENOMEM;
	for (const cJSON *it = arr->child; it; it = it->next, idx++) {
		struct pol_grant *g = &p->grants[p->n_grants++];

		snprintf(where, sizeof(where), "grants[%zu]", idx);
		if (!cJSON_IsObject(it))
			return err_setf(err, err_len, -EINVAL, "%s: must be an object", where);
		rc = pol_check_keys(it, keys, 3, where, err, err_len);
		if (rc)
			return rc;
		for (size_t k = 0; k < 3; k++)
			if (!cJSON_GetObjectItemCaseSensitive(it, keys[k]))
				return err_setf(err, err_len, -EINVAL, "%s: missing \"%s\"", where,
				                keys[k]);
		snprintf(sub, sizeof(sub), "grants[%zu].src", idx);
		rc = pol_load_sel(p, &g->src, cJSON_GetObjectItemCaseSensitive(it, "src"), sub,
		                  true, err, err_len);
		if (rc)
			return rc;
		snprintf(sub, sizeof(sub), "grants[%zu].dst", idx);
		rc = pol_load_sel(p, &g->dst, cJSON_GetObjectItemCaseSensitive(it, "dst"), sub,
		                  false, err, err_len);
		if (rc)
			return rc;
		snprintf(sub, sizeof(sub), "grants[%zu].ip", idx);
		rc = pol_load_ports(g, cJSON_GetObjectItemCaseSensitive(it, "ip"), sub, err,
		                    err_len);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- autoApprovers ---- */

/* An autoApprovers.services key: a defined service tag (*is_tag) or a
 * valid service name. 0 or -errno with err. */
static int pol_approver_key(const struct policy *p, const char *key, const char *where,
                            bool *is_tag, char *err, size_t err_len)
{
	const char *why;

	*is_tag = false;
	if (pol_has_prefix(key, "tag:")) {
		if (!pol_is_tag(key))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%s\" is not a valid tag "
			                "(tag: + letters, digits, '-' or '_')",
			                where, key);
		if (!policy_tag_known(p, key))
			return err_setf(err, err_len, -EINVAL,
			                "%s: tag \"%s\" is not defined in tagOwners", where, key);
		*is_tag = true;
		return 0;
	}
	if (pol_has_prefix(key, "svc:")) {
		why = pol_svc_name_problem(key);
		if (why)
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"%s\" is not a valid service name (SVC-1: %s)", where,
			                key, why);
		return 0;
	}
	return err_setf(err, err_len, -EINVAL,
	                "autoApprovers.services: \"%s\" is not a service name (svc:) or "
	                "a service tag (tag:)",
	                key);
}

/* The node tags an auto-approver entry lists (each owned in tagOwners)
 * into a->tags. 0 or -errno with err. */
static int pol_approver_tags(const struct policy *p, struct pol_approver *a, const cJSON *list,
                             const char *where, char *err, size_t err_len)
{
	int idx = 0;
	int rc = pol_check_string_array(list, where, "node tags", err, err_len);

	if (rc < 0)
		return rc;
	if (rc) {
		a->tags = calloc((size_t)rc, sizeof(*a->tags));
		if (!a->tags)
			return -ENOMEM;
	}
	for (const cJSON *t = list->child; t; t = t->next, idx++) {
		if (!pol_has_prefix(t->valuestring, "tag:"))
			return err_setf(err, err_len, -EINVAL,
			                "%s[%d]: \"%s\" is not a tag (auto-approvers are node "
			                "tags)",
			                where, idx, t->valuestring);
		rc = pol_check_tag_use(p, t->valuestring, where, idx, err, err_len);
		if (rc)
			return rc;
		a->tags[a->n_tags++] = t->valuestring;
	}
	return 0;
}

/* Loads autoApprovers.services: keys svc:X or an owned tag, values owned
 * node tags. `routes` and `exitNode` are accepted and ignored. */
int pol_load_approvers(struct policy *p, const cJSON *obj, char *err, size_t err_len)
{
	static const char *const keys[] = {"services", "routes", "exitNode"};
	char where[POL_PATH_LEN];
	const cJSON *svcs;
	size_t n = 0;
	int rc;

	if (!cJSON_IsObject(obj))
		return err_setf(err, err_len, -EINVAL, "autoApprovers: must be an object");
	rc = pol_check_keys(obj, keys, 3, "autoApprovers", err, err_len);
	if (rc)
		return rc;
	svcs = cJSON_GetObjectItemCaseSensitive(obj, "services");
	if (!svcs)
		return 0;
	if (!cJSON_IsObject(svcs))
		return err_setf(err, err_len, -EINVAL, "autoApprovers.services: must be an object");
	for (const cJSON *it = svcs->child; it; it = it->next)
		n++;
	if (n > POLICY_MAX_APPROVERS)
		return err_setf(err, err_len, -E2BIG,
		                "autoApprovers.services: more than %d entries",
		                POLICY_MAX_APPROVERS);
	if (!n)
		return 0;
	p->apprs = calloc(n, sizeof(*p->apprs));
	if (!p->apprs)
		return -ENOMEM;
	for (const cJSON *it = svcs->child; it; it = it->next) {
		struct pol_approver *a = &p->apprs[p->n_apprs];
		const char *key = it->string;

		if (strlen(key) > POLICY_MAX_NAME)
			return err_setf(
			    err, err_len, -E2BIG,
			    "autoApprovers.services: a key is longer than %d characters",
			    POLICY_MAX_NAME);
		for (size_t i = 0; i < p->n_apprs; i++)
			if (!strcmp(p->apprs[i].key, key))
				return err_setf(err, err_len, -EINVAL,
				                "autoApprovers.services: duplicate key \"%s\"",
				                key);
		p->n_apprs++;
		snprintf(where, sizeof(where), "autoApprovers.services[\"%s\"]", key);
		rc = pol_approver_key(p, key, where, &a->key_is_tag, err, err_len);
		if (rc)
			return rc;
		a->key = key;
		rc = pol_approver_tags(p, a, it, where, err, err_len);
		if (rc)
			return rc;
	}
	return 0;
}
