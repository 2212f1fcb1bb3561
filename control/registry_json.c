/* Registry persistence: the registry as a JSON document (users, nodes,
 * services, decisions, which hosts were serving) and back, validating every
 * field of a stored document before it is trusted. */
#include "control/registry_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"
#include "lib/base/mutant.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reg_decision_names[] = {
    [REG_DECISION_NONE] = "none",
    [REG_DECISION_APPROVED] = "approved",
    [REG_DECISION_REJECTED] = "rejected",
    [REG_DECISION_REVOKED] = "revoked",
};

/* ---- persistence ------------------------------------------------------ */

static cJSON *reg_str_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(v[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static bool reg_add_addr(cJSON *o, const char *key, const struct io_addr *a, bool with_port)
{
	char buf[IO_ADDR_STRLEN];

	return cJSON_AddStringToObject(o, key, io_addr_format(a, with_port, buf, sizeof(buf)));
}

static bool reg_json_users(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "users");

	for (size_t i = 0; a && i < r->n_users; i++) {
		const struct reg_user *u = &r->users[i];
		cJSON *o = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "login", u->login) ||
		    !cJSON_AddStringToObject(o, "role", reg_role_name(u->role)) ||
		    !cJSON_AddStringToObject(o, "display_name", u->display_name) ||
		    !(u->token_sha256[0]
		          ? cJSON_AddStringToObject(o, "token_sha256", u->token_sha256)
		          : cJSON_AddNullToObject(o, "token_sha256")))
			return false;
	}
	return a != NULL;
}

static bool reg_json_nodes(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "nodes");

	for (size_t i = 0; a && i < r->n_nodes; i++) {
		const struct reg_node *n = &r->nodes[i].pub;
		cJSON *o = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "name", n->name) ||
		    !cJSON_AddStringToObject(o, "user", n->user) ||
		    !cJSON_AddStringToObject(o, "region", n->region) ||
		    !cJSON_AddItemToObject(o, "tags", reg_str_array(n->tags, n->n_tags)) ||
		    !reg_add_addr(o, "addr4", &n->addr4, false) ||
		    !reg_add_addr(o, "addr6", &n->addr6, false) ||
		    !reg_add_addr(o, "endpoint", &n->endpoint, true) ||
		    !(n->tls_key ? cJSON_AddStringToObject(o, "tls_key", n->tls_key)
		                 : cJSON_AddNullToObject(o, "tls_key")))
			return false;
		/* Only when set: state written before set-tags existed reads the same. */
		if (n->tags_by_admin && !cJSON_AddTrueToObject(o, "tags_by_admin"))
			return false;
		if (n->key_revoked && !cJSON_AddTrueToObject(o, "key_revoked"))
			return false;
		if (n->has_key) {
			char hex[2 * REG_KEY_LEN + 1];
			hex_encode(n->key, REG_KEY_LEN, hex);
			if (!cJSON_AddStringToObject(o, "key", hex))
				return false;
		}
		if (n->has_next_key) {
			char hex[2 * REG_KEY_LEN + 1];
			hex_encode(n->next_key, REG_KEY_LEN, hex);
			if (!cJSON_AddStringToObject(o, "next_key", hex))
				return false;
		}
	}
	return a != NULL;
}

static bool reg_json_services(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "services");

	for (size_t i = 0; a && i < r->n_services; i++) {
		const struct reg_service *s = &r->services[i];
		cJSON *o = cJSON_CreateObject(), *ports;

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "name", s->name) ||
		    !cJSON_AddStringToObject(o, "description", s->description) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			return false;
		if (s->do_not_validate &&
		    !cJSON_AddItemToArray(ports, cJSON_CreateString("do-not-validate")))
			return false;
		for (size_t j = 0; j < s->n_ports; j++) {
			char buf[32];

			if (s->ports[j].first == s->ports[j].last)
				snprintf(buf, sizeof(buf), "tcp:%u", s->ports[j].first);
			else
				snprintf(buf, sizeof(buf), "tcp:%u-%u", s->ports[j].first,
				         s->ports[j].last);
			if (!cJSON_AddItemToArray(ports, cJSON_CreateString(buf)))
				return false;
		}
		if (!cJSON_AddItemToObject(o, "tags", reg_str_array(s->tags, s->n_tags)) ||
		    !reg_add_addr(o, "vip4", &s->vip4, false) ||
		    !reg_add_addr(o, "vip6", &s->vip6, false))
			return false;
	}
	return a != NULL;
}

static bool reg_json_decisions(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "decisions");

	for (size_t i = 0; a && i < r->n_hosts; i++) {
		const struct reg_host *h = &r->hosts[i];
		cJSON *o;

		if (h->decision == REG_DECISION_NONE || MUTANT("approvals-forgotten-on-restart"))
			continue;
		o = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(a, o) ||
		    !cJSON_AddStringToObject(o, "service", h->service) ||
		    !cJSON_AddStringToObject(o, "node", h->node) ||
		    !cJSON_AddStringToObject(o, "decision", reg_decision_names[h->decision]))
			return false;
	}
	return a != NULL;
}

/* What the active hosts of nodes not known dead advertise (STR-8): a
 * restarted control keeps them in steering until they had time to
 * reconnect. Draining hosts are left out: a drain restarts with the
 * host's next advertisement. */
static bool reg_json_hosting(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "hosting");

	for (size_t i = 0; a && i < r->n_hosts; i++) {
		const struct reg_host *h = &r->hosts[i];
		int ni = registry_node_index(r, h->node);
		cJSON *o, *ports;

		CHECK(ni >= 0);
		if (!h->advertising || h->draining ||
		    (!r->nodes[ni].pub.alive && !r->nodes[ni].pub.lost))
			continue;
		o = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(a, o) ||
		    !cJSON_AddStringToObject(o, "service", h->service) ||
		    !cJSON_AddStringToObject(o, "node", h->node) ||
		    !cJSON_AddBoolToObject(o, "tun", h->tun) ||
		    !(ports = cJSON_AddArrayToObject(o, "ports")))
			return false;
		for (size_t j = 0; j < h->n_config_ports; j++)
			if (!cJSON_AddItemToArray(ports, cJSON_CreateNumber(h->config_ports[j])))
				return false;
	}
	return a != NULL;
}

/* Auth keys by their secret's hash, never the secret (SEC-1). */
static bool reg_json_authkeys(const struct registry *r, cJSON *root)
{
	cJSON *a = cJSON_AddArrayToObject(root, "authkeys");

	for (size_t i = 0; a && i < r->n_authkeys; i++) {
		const struct reg_authkey *k = &r->authkeys[i];
		cJSON *o = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "id", k->id) ||
		    !cJSON_AddStringToObject(o, "secret_sha256", k->secret_sha256) ||
		    !cJSON_AddBoolToObject(o, "reusable", k->reusable) ||
		    !cJSON_AddNumberToObject(o, "expires_s", (double)k->expires_s) ||
		    !cJSON_AddItemToObject(o, "tags", reg_str_array(k->tags, k->n_tags)) ||
		    !cJSON_AddStringToObject(o, "created_by", k->created_by) ||
		    !cJSON_AddNumberToObject(o, "created_s", (double)k->created_s) ||
		    !cJSON_AddNumberToObject(o, "uses", (double)k->uses) ||
		    !cJSON_AddBoolToObject(o, "revoked", k->revoked))
			return false;
	}
	return a != NULL;
}

/* The persistent state as a JSON document (malloc'd), NULL without memory. */
char *registry_to_json(const struct registry *r)
{
	cJSON *root = cJSON_CreateObject(), *c;
	char *out = NULL;

	if (!root || !cJSON_AddStringToObject(root, "tailnet", r->tailnet))
		goto done;
	c = cJSON_AddObjectToObject(root, "counters");
	if (!c || !cJSON_AddNumberToObject(c, "generation", (double)r->generation) ||
	    !cJSON_AddNumberToObject(c, "next_node", (double)r->next_node_k) ||
	    !cJSON_AddNumberToObject(c, "next_service", (double)r->next_svc_k))
		goto done;
	if (!reg_json_users(r, root) ||
	    !cJSON_AddStringToObject(root, "policy", policy_text(r->policy)) ||
	    !reg_json_nodes(r, root) || !reg_json_services(r, root) ||
	    !reg_json_decisions(r, root) || !reg_json_hosting(r, root) ||
	    !reg_json_authkeys(r, root))
		goto done;
	out = cJSON_Print(root);
done:
	cJSON_Delete(root);
	return out;
}

/* JSON reading helpers: each names the place on failure. */
static const char *reg_jstr(const cJSON *o, const char *key, bool nullable, const char *place,
                            int *rc, char *err, size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (*rc)
		return NULL;
	if (nullable && (!v || cJSON_IsNull(v)))
		return NULL;
	if (!cJSON_IsString(v)) {
		*rc = err_setf(err, err_len, -EINVAL, "%s.%s: a string is required", place, key);
		return NULL;
	}
	return v->valuestring;
}

/* A whole number 0..2^53 (what a JSON number holds exactly) at o.key. */
static int reg_juint(const cJSON *o, const char *key, uint64_t *out, const char *place, char *err,
                     size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)(1ull << 53) ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return err_setf(err, err_len, -EINVAL, "%s.%s: an integer 0-2^53 is required",
		                place, key);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

/* A boolean at o.key. */
static int reg_jbool(const cJSON *o, const char *key, bool *out, const char *place, char *err,
                     size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsBool(v))
		return err_setf(err, err_len, -EINVAL, "%s.%s: true or false is required", place,
		                key);
	*out = cJSON_IsTrue(v);
	return 0;
}

static int reg_jcounter(const cJSON *c, const char *key, uint64_t max, uint64_t *out, char *err,
                        size_t err_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return err_setf(err, err_len, -EINVAL, "counters.%s: an integer 0-%llu is required",
		                key, (unsigned long long)max);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

/* A string array of at most `max` entries into `out` (pointers into the JSON). */
static int reg_jstrs(const cJSON *o, const char *key, const char **out, size_t max, size_t *n,
                     const char *place, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *e;

	*n = 0;
	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "%s.%s: an array is required", place, key);
	cJSON_ArrayForEach(e, a)
	{
		if (*n >= max)
			return err_setf(err, err_len, -E2BIG, "%s.%s: at most %zu entries", place,
			                key, max);
		if (!cJSON_IsString(e))
			return err_setf(err, err_len, -EINVAL, "%s.%s[%zu]: a string is required",
			                place, key, *n);
		out[(*n)++] = e->valuestring;
	}
	return 0;
}

static int reg_jaddr(const cJSON *o, const char *key, bool with_port, int family,
                     struct io_addr *out, const char *place, char *err, size_t err_len)
{
	int rc = 0;
	const char *s = reg_jstr(o, key, false, place, &rc, err, err_len);

	if (rc)
		return rc;
	if (io_addr_parse(out, s, 0) || (family && out->family != family) ||
	    (!with_port && (strchr(s, ']') || out->port != 0)))
		return err_setf(err, err_len, -EINVAL, "%s.%s: \"%.60s\" is not a valid address",
		                place, key, s);
	return 0;
}

static bool reg_in_v6_48(const struct io_addr *a)
{
	return a->family == IO_AF_INET6 && memcmp(a->ip, reg_v6_prefix, 6) == 0;
}

static int reg_from_users(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "users"), *u;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "users: an array is required");
	cJSON_ArrayForEach(u, a)
	{
		const char *login, *role, *display, *token, *token_sha256;
		char hashed[REG_SHA256_HEX_LEN + 1];
		enum reg_role ro;

		snprintf(place, sizeof(place), "users[%zu]", i++);
		login = reg_jstr(u, "login", false, place, &rc, err, err_len);
		role = reg_jstr(u, "role", false, place, &rc, err, err_len);
		display = reg_jstr(u, "display_name", false, place, &rc, err, err_len);
		token_sha256 = reg_jstr(u, "token_sha256", true, place, &rc, err, err_len);
		/* State written before tokens were hashed holds the token itself. */
		token = reg_jstr(u, "token", true, place, &rc, err, err_len);
		if (rc)
			return rc;
		if (token && token_sha256)
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"token\" (old form) and \"token_sha256\" both given",
			                place);
		if (token_sha256 && !reg_sha256_hex_valid(token_sha256))
			return err_setf(err, err_len, -EINVAL,
			                "%s.token_sha256: %d lowercase hex digits are required",
			                place, REG_SHA256_HEX_LEN);
		if (token && (!reg_plain_name(token, false) || reg_sha256_hex(token, hashed) < 0))
			return err_setf(err, err_len, -EINVAL,
			                "%s.token: 1-%d printable characters without spaces are "
			                "required",
			                place, REG_MAX_NAME);
		if (reg_role_parse(role, &ro) || ro == REG_ROLE_NONE)
			return err_setf(err, err_len, -EINVAL, "%s.role: unknown role \"%.40s\"",
			                place, role);
		if (registry_user(r, login))
			return err_setf(err, err_len, -EINVAL, "%s.login: %.80s appears twice",
			                place, login);
		rc = reg_user_put(r, login, ro, display, token ? hashed : token_sha256, sub,
		                  sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
	}
	return 0;
}

static int reg_from_nodes(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "nodes"), *o;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "nodes: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *tags[REG_MAX_TAGS];
		struct reg_node_info info = {.tags = tags};
		struct io_addr a4, a6;

		snprintf(place, sizeof(place), "nodes[%zu]", i++);
		if (r->n_nodes >= REG_MAX_NODES)
			return err_setf(err, err_len, -ENOSPC, "%s: at most %d nodes", place,
			                REG_MAX_NODES);
		info.name = reg_jstr(o, "name", false, place, &rc, err, err_len);
		info.user = reg_jstr(o, "user", false, place, &rc, err, err_len);
		info.region = reg_jstr(o, "region", false, place, &rc, err, err_len);
		info.tls_key = reg_jstr(o, "tls_key", true, place, &rc, err, err_len);
		if (rc)
			return rc;
		rc = reg_jstrs(o, "tags", tags, REG_MAX_TAGS, &info.n_tags, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "addr4", false, IO_AF_INET, &a4, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "addr6", false, IO_AF_INET6, &a6, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "endpoint", true, 0, &info.endpoint, place, err, err_len);
		if (rc)
			return rc;
		rc = reg_node_info_check(r, &info, false, sub, sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
		if (registry_node_index(r, info.name) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s.name: %s appears twice", place,
			                info.name);
		if ((io_addr_v4_host(&a4) & REG_V4_CGNAT_MASK) != REG_V4_CGNAT ||
		    !reg_in_v6_48(&a6))
			return err_setf(
			    err, err_len, -EINVAL,
			    "%s: addresses outside 100.64.0.0/10 or fd7a:115c:a1e0::/48", place);
		if (reg_addr_taken(r, &a4) || reg_addr_taken(r, &a6))
			return err_setf(err, err_len, -EINVAL, "%s: address already in use", place);
		const cJSON *by_admin = cJSON_GetObjectItemCaseSensitive(o, "tags_by_admin");
		if (by_admin && !cJSON_IsBool(by_admin))
			return err_setf(err, err_len, -EINVAL,
			                "%s.tags_by_admin: true or false is required", place);
		if (cJSON_IsTrue(by_admin) && !info.n_tags)
			return err_setf(err, err_len, -EINVAL,
			                "%s.tags_by_admin: an admin's tags are at least one",
			                place);
		const char *key_hex = reg_jstr(o, "key", true, place, &rc, err, err_len);
		uint8_t key[REG_KEY_LEN];
		if (rc)
			return rc;
		if (key_hex && !hex_decode(key_hex, key, sizeof(key)))
			return err_setf(err, err_len, -EINVAL, "%s.key: 64 hex digits are required",
			                place);
		if (key_hex && registry_node_by_key(r, key) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s.key: the key of another node",
			                place);
		info.key = key_hex ? key : NULL;
		rc = reg_node_add(r, &info, &a4, &a6);
		if (rc < 0)
			return err_setf(err, err_len, rc, "out of memory");
		r->nodes[rc].pub.tags_by_admin = cJSON_IsTrue(by_admin);
		const cJSON *revoked = cJSON_GetObjectItemCaseSensitive(o, "key_revoked");
		if (revoked && !cJSON_IsBool(revoked))
			return err_setf(err, err_len, -EINVAL,
			                "%s.key_revoked: true or false is required", place);
		r->nodes[rc].pub.key_revoked = cJSON_IsTrue(revoked);
		int jrc = 0;
		const char *next_hex = reg_jstr(o, "next_key", true, place, &jrc, err, err_len);
		if (jrc)
			return jrc;
		if (next_hex) {
			uint8_t next[REG_KEY_LEN];
			char sub2[REG_ERR_LEN];
			if (!hex_decode(next_hex, next, sizeof(next)))
				return err_setf(err, err_len, -EINVAL,
				                "%s.next_key: 64 hex digits are required", place);
			if (registry_node_set_next_key(r, r->n_nodes - 1, next, sub2,
			                               sizeof(sub2)) < 0)
				return err_setf(err, err_len, -EINVAL, "%s.next_key: %s", place,
				                sub2);
		}
		rc = 0;
	}
	return 0;
}

static int reg_from_services(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "services"), *o;
	size_t i = 0;
	char place[48], sub[REG_ERR_LEN];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "services: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *tags[REG_MAX_TAGS], *ports[REG_MAX_PORTS];
		struct reg_service_def def = {.tags = tags, .ports = ports};
		struct reg_service s;

		snprintf(place, sizeof(place), "services[%zu]", i++);
		if (r->n_services >= REG_MAX_SERVICES)
			return err_setf(err, err_len, -ENOSPC, "%s: at most %d services", place,
			                REG_MAX_SERVICES);
		def.name = reg_jstr(o, "name", false, place, &rc, err, err_len);
		def.description = reg_jstr(o, "description", false, place, &rc, err, err_len);
		if (!rc)
			rc = reg_jstrs(o, "tags", tags, REG_MAX_TAGS, &def.n_tags, place, err,
			               err_len);
		if (!rc)
			rc = reg_jstrs(o, "ports", ports, REG_MAX_PORTS, &def.n_ports, place, err,
			               err_len);
		if (rc)
			return rc;
		if (registry_service_index(r, def.name) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s.name: %s appears twice", place,
			                def.name);
		rc = reg_service_build(r, &def, false, &s, sub, sizeof(sub));
		if (rc)
			return err_setf(err, err_len, rc, "%s: %s", place, sub);
		rc = reg_jaddr(o, "vip4", false, IO_AF_INET, &s.vip4, place, err, err_len);
		if (!rc)
			rc = reg_jaddr(o, "vip6", false, IO_AF_INET6, &s.vip6, place, err, err_len);
		if (!rc && ((io_addr_v4_host(&s.vip4) & REG_V4_CGNAT_MASK) != REG_V4_CGNAT ||
		            io_addr_v4_host(&s.vip4) == REG_V4_QUAD100 || !reg_in_v6_48(&s.vip6)))
			rc = err_setf(err, err_len, -EINVAL,
			              "%s: VIPs outside 100.64.0.0/10 (or 100.100.100.100) or "
			              "fd7a:115c:a1e0::/48",
			              place);
		if (!rc && (reg_addr_taken(r, &s.vip4) || reg_addr_taken(r, &s.vip6)))
			rc = err_setf(err, err_len, -EINVAL, "%s: VIP already in use", place);
		if (!rc && reg_service_add(r, &s))
			rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		if (rc) {
			reg_service_clear(&s);
			return rc;
		}
	}
	return 0;
}

static int reg_from_decisions(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "decisions"), *o;
	size_t i = 0;
	char place[48];
	int rc = 0;

	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "decisions: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *svc, *node, *dec;
		int ni, hi;
		unsigned d;

		snprintf(place, sizeof(place), "decisions[%zu]", i++);
		svc = reg_jstr(o, "service", false, place, &rc, err, err_len);
		node = reg_jstr(o, "node", false, place, &rc, err, err_len);
		dec = reg_jstr(o, "decision", false, place, &rc, err, err_len);
		if (rc)
			return rc;
		for (d = REG_DECISION_APPROVED; d <= REG_DECISION_REVOKED; d++)
			if (strcmp(dec, reg_decision_names[d]) == 0)
				break;
		if (d > REG_DECISION_REVOKED)
			return err_setf(err, err_len, -EINVAL,
			                "%s.decision: approved, rejected or revoked", place);
		if (registry_service_index(r, svc) < 0)
			return err_setf(err, err_len, -EINVAL, "%s.service: %.80s is not defined",
			                place, svc);
		ni = registry_node_index(r, node);
		if (ni < 0)
			return err_setf(err, err_len, -EINVAL, "%s.node: %.80s is not known", place,
			                node);
		if (registry_host_index(r, svc, node) >= 0)
			return err_setf(err, err_len, -EINVAL, "%s: a second decision for %s on %s",
			                place, svc, node);
		hi = reg_host_get(r, svc, (size_t)ni, err, err_len);
		if (hi < 0)
			return hi;
		r->hosts[hi].decision = (enum reg_decision)d;
	}
	return 0;
}

/* "hosting" (optional: older state files have none): host records that
 * advertise again, their nodes lost until they reconnect. */
static int reg_from_hosting(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "hosting"), *o;
	size_t i = 0;
	char place[48];
	int rc = 0;

	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "hosting: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const cJSON *tun = cJSON_GetObjectItemCaseSensitive(o, "tun");
		const cJSON *ports = cJSON_GetObjectItemCaseSensitive(o, "ports"), *p;
		const char *svc, *node;
		struct reg_host *h;
		int ni, hi;

		snprintf(place, sizeof(place), "hosting[%zu]", i++);
		svc = reg_jstr(o, "service", false, place, &rc, err, err_len);
		node = reg_jstr(o, "node", false, place, &rc, err, err_len);
		if (rc)
			return rc;
		if (!registry_service_name_valid(svc, err, err_len))
			return -EINVAL;
		if (!cJSON_IsBool(tun) || !cJSON_IsArray(ports))
			return err_setf(err, err_len, -EINVAL,
			                "%s: \"tun\" (a boolean) and \"ports\" (an array) are "
			                "required",
			                place);
		if (cJSON_GetArraySize(ports) > REG_MAX_PORTS)
			return err_setf(err, err_len, -E2BIG, "%s.ports: at most %d", place,
			                REG_MAX_PORTS);
		ni = registry_node_index(r, node);
		if (ni < 0)
			return err_setf(err, err_len, -EINVAL, "%s.node: %.80s is not known", place,
			                node);
		if (!r->nodes[ni].pub.n_tags)
			return err_setf(err, err_len, -EINVAL,
			                "%s.node: %.80s is untagged and cannot host", place, node);
		hi = registry_host_index(r, svc, node);
		if (hi >= 0 && r->hosts[hi].advertising)
			return err_setf(err, err_len, -EINVAL, "%s: %s on %s appears twice", place,
			                svc, node);
		hi = reg_host_get(r, svc, (size_t)ni, err, err_len);
		if (hi < 0)
			return hi;
		h = &r->hosts[hi];
		cJSON_ArrayForEach(p, ports)
		{
			if (!cJSON_IsNumber(p) || p->valuedouble < 1 || p->valuedouble > 65535 ||
			    p->valuedouble != (double)(int)p->valuedouble)
				return err_setf(err, err_len, -EINVAL,
				                "%s.ports: numbers 1-65535 are required", place);
			h->config_ports[h->n_config_ports++] = (uint16_t)p->valueint;
		}
		h->advertising = true;
		h->tun = cJSON_IsTrue(tun);
		r->nodes[ni].pub.lost = true;
	}
	return 0;
}

/* One stored auth key into `k` (its strings point into the JSON), checked. */
static int reg_from_authkey(const struct registry *r, const cJSON *o, const char *place,
                            struct reg_authkey *k, const char **tags, char *err, size_t err_len)
{
	const char *id, *sha256;
	char sub[REG_ERR_LEN];
	int rc = 0;

	id = reg_jstr(o, "id", false, place, &rc, err, err_len);
	sha256 = reg_jstr(o, "secret_sha256", false, place, &rc, err, err_len);
	k->created_by = (char *)reg_jstr(o, "created_by", false, place, &rc, err, err_len);
	if (!rc)
		rc = reg_jbool(o, "reusable", &k->reusable, place, err, err_len);
	if (!rc)
		rc = reg_jbool(o, "revoked", &k->revoked, place, err, err_len);
	if (!rc)
		rc = reg_juint(o, "expires_s", &k->expires_s, place, err, err_len);
	if (!rc)
		rc = reg_juint(o, "created_s", &k->created_s, place, err, err_len);
	if (!rc)
		rc = reg_juint(o, "uses", &k->uses, place, err, err_len);
	if (!rc)
		rc = reg_jstrs(o, "tags", tags, REG_MAX_TAGS, &k->n_tags, place, err, err_len);
	if (rc)
		return rc;
	if (strlen(id) != REG_AUTHKEY_ID_LEN ||
	    strspn(id, "0123456789abcdef") != REG_AUTHKEY_ID_LEN)
		return err_setf(err, err_len, -EINVAL,
		                "%s.id: %d lowercase hex digits are required", place,
		                REG_AUTHKEY_ID_LEN);
	if (registry_authkey_index(r, id) >= 0)
		return err_setf(err, err_len, -EINVAL, "%s.id: %s appears twice", place, id);
	if (!reg_sha256_hex_valid(sha256))
		return err_setf(err, err_len, -EINVAL,
		                "%s.secret_sha256: %d lowercase hex digits are required", place,
		                REG_SHA256_HEX_LEN);
	/* "": the operator's own key (control_authkey_issue), no user behind it. */
	if (!reg_plain_name(k->created_by, true))
		return err_setf(err, err_len, -EINVAL, "%s.created_by: a login or \"\" is required",
		                place);
	/* The policy may have changed since: the tags' form is checked, not
	 * their owners, as for stored nodes. */
	rc = reg_tags_check(r, place, tags, k->n_tags, true, false, sub, sizeof(sub));
	if (rc)
		return err_setf(err, err_len, rc, "%s.tags: %s", place, sub);
	memcpy(k->id, id, sizeof(k->id));
	memcpy(k->secret_sha256, sha256, sizeof(k->secret_sha256));
	memcpy(k->tags, tags, k->n_tags * sizeof(tags[0]));
	return 0;
}

/* "authkeys" (optional: older state files have none). */
static int reg_from_authkeys(struct registry *r, const cJSON *root, char *err, size_t err_len)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "authkeys"), *o;
	size_t i = 0;
	char place[48];

	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return err_setf(err, err_len, -EINVAL, "authkeys: an array is required");
	cJSON_ArrayForEach(o, a)
	{
		const char *tags[REG_MAX_TAGS];
		struct reg_authkey k = {0};
		int rc;

		snprintf(place, sizeof(place), "authkeys[%zu]", i++);
		if (r->n_authkeys >= REG_MAX_AUTHKEYS)
			return err_setf(err, err_len, -ENOSPC, "%s: at most %d auth keys", place,
			                REG_MAX_AUTHKEYS);
		if (!cJSON_IsObject(o))
			return err_setf(err, err_len, -EINVAL, "%s: an object is required", place);
		rc = reg_from_authkey(r, o, place, &k, tags, err, err_len);
		if (rc)
			return rc;
		if (reg_authkey_add(r, &k) < 0)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
	}
	return 0;
}

int registry_from_json(const char *text, size_t len, struct registry **out, char *err,
                       size_t err_len)
{
	cJSON *root = NULL;
	const cJSON *c;
	struct registry *r = NULL;
	struct policy *p = NULL;
	const char *tailnet, *ptext;
	uint64_t gen = 0;
	char sub[POLICY_ERR_LEN];
	int rc = 0;

	if (!text)
		return err_setf(err, err_len, -EINVAL, "no registry document");
	root = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(root)) {
		rc = err_setf(err, err_len, -EINVAL, "registry document: malformed JSON object");
		goto done;
	}
	tailnet = reg_jstr(root, "tailnet", false, "registry", &rc, err, err_len);
	ptext = reg_jstr(root, "policy", false, "registry", &rc, err, err_len);
	if (rc)
		goto done;
	rc = registry_new(&r, tailnet);
	if (rc) {
		rc =
		    err_setf(err, err_len, rc, "registry.tailnet: \"%.80s\" is not valid", tailnet);
		goto done;
	}
	c = cJSON_GetObjectItemCaseSensitive(root, "counters");
	if (!cJSON_IsObject(c)) {
		rc = err_setf(err, err_len, -EINVAL, "counters: an object is required");
		goto done;
	}
	rc = reg_jcounter(c, "generation", 1ull << 52, &gen, err, err_len);
	if (!rc)
		rc =
		    reg_jcounter(c, "next_node", REG_NODE_MAX_K + 1, &r->next_node_k, err, err_len);
	if (!rc)
		rc = reg_jcounter(c, "next_service", REG_SVC_MAX_K + 1, &r->next_svc_k, err,
		                  err_len);
	if (rc)
		goto done;
	rc = policy_parse(ptext, strlen(ptext), &p, sub, sizeof(sub));
	if (rc) {
		rc = err_setf(err, err_len, rc, "policy: %s", sub);
		goto done;
	}
	rc = registry_set_policy(r, NULL, p, err, err_len);
	if (rc)
		goto done;
	p = NULL;
	rc = reg_from_users(r, root, err, err_len);
	if (!rc)
		rc = reg_from_nodes(r, root, err, err_len);
	if (!rc)
		rc = reg_from_services(r, root, err, err_len);
	if (!rc)
		rc = reg_from_decisions(r, root, err, err_len);
	if (!rc)
		rc = reg_from_hosting(r, root, err, err_len);
	if (!rc)
		rc = reg_from_authkeys(r, root, err, err_len);
	if (rc)
		goto done;
	r->generation = gen;
	*out = r;
	r = NULL;
done:
	if (p)
		policy_free(p);
	registry_free(r);
	cJSON_Delete(root);
	return rc;
}
