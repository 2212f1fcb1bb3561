/* `users` and `policy`: principals and their roles, the policy turned
 * into JSON and checked with control's own parser (its errors mapped back
 * to YAML positions), and the tags it owns (every tag a node, a service or
 * an admin define uses must be owned in tagOwners). */
#include "control/policy.h"
#include "sim/scenario/scenario_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- users ---- */

bool ld_load_users(struct loader *ld, const yaml_node_t *map)
{
	struct scenario *sc = ld->sc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	bool ok = true;
	char buf[80];

	if (n > SCENARIO_USERS_MAX) {
		error_at(ld, map, "too many users: %zu (max %d)", n, SCENARIO_USERS_MAX);
		return false;
	}
	sc->users = calloc(n ? n : 1, sizeof(*sc->users));
	if (!sc->users) {
		ld->oom = true;
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_get(ld, p->key), *v = node_get(ld, p->value);
		yaml_node_t *keys[SCENARIO_KEYS_MAX], *vals[SCENARIO_KEYS_MAX];
		struct scenario_user u = {.role = SCENARIO_ROLE_MEMBER};
		bool u_ok = true;

		if (k->type != YAML_SCALAR_NODE || is_null(k)) {
			error_at(ld, k, "expected a user login, got %s",
			         ld_describe(k, buf, sizeof(buf)));
			ok = false;
			continue;
		}
		const char *login = scalar(k);
		if (strlen(login) > SCENARIO_LOGIN_MAX || strpbrk(login, " \t,\"") ||
		    !strchr(login, '@') || login[0] == '@') {
			error_at(ld, k,
			         "user login '%.80s' must look like name@domain (no blanks, "
			         "commas or quotes, at most %d characters)",
			         login, SCENARIO_LOGIN_MAX);
			ok = false;
			continue;
		}
		int dup = scenario_user_find(sc, login);
		if (dup >= 0) {
			error_at(ld, k, "duplicate user '%s'", login);
			ok = false;
			continue;
		}
		if (v->type == YAML_MAPPING_NODE) {
			u_ok = ld_collect(ld, v, SCENARIO_SECTION_USER, " in user", keys, vals);
			if (vals[USER_ROLE]) {
				int r =
				    ld_choice_ref(ld, "role", vals[USER_ROLE], scenario_role_words);
				if (r < 0)
					u_ok = false;
				else
					u.role = (enum scenario_role)r;
			}
			if (vals[USER_DISPLAY_NAME]) {
				const char *d = scalar(vals[USER_DISPLAY_NAME]);
				if (strlen(d) > SCENARIO_DISPLAY_NAME_MAX) {
					error_at(ld, vals[USER_DISPLAY_NAME],
					         "display_name is longer than %d bytes",
					         SCENARIO_DISPLAY_NAME_MAX);
					u_ok = false;
				} else {
					snprintf(u.display_name, sizeof(u.display_name), "%s", d);
				}
			}
		} else if (!is_null(v)) {
			error_at(ld, v, "expected a mapping ({role: ...}) for user '%s', got %s",
			         login, ld_describe(v, buf, sizeof(buf)));
			u_ok = false;
		}
		snprintf(u.login, sizeof(u.login), "%s", login);
		sc->users[sc->n_users++] = u; /* kept even when bad: no cascade of unknown user */
		if (!u_ok)
			ok = false;
	}
	return ok;
}

/* ---- policy ---- */

/* YAML -> cJSON for the policy: mappings are objects, sequences arrays,
 * plain null/true/false the JSON literals, every other scalar a string
 * (so `ip: [443]` means "443"). NULL on error (reported) or OOM, or when
 * *json_bytes, a lower bound of the JSON text's length kept as nodes are
 * added, passes SCENARIO_POLICY_MAX (not reported: the caller does): an
 * alias expands here, so the size is checked as it grows. */
static cJSON *yaml_to_json(struct loader *ld, const yaml_node_t *n, int depth, size_t *json_bytes)
{
	cJSON *out = NULL;
	char buf[80];

	if (depth > 32) {
		error_at(ld, n, "policy nests more than 32 deep");
		return NULL;
	}
	/* a string's quotes, a literal's or an empty collection's length */
	*json_bytes += n->type == YAML_SCALAR_NODE ? strlen(scalar(n)) + 2 : 2;
	if (*json_bytes > SCENARIO_POLICY_MAX)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = scalar(n);
		bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (is_null(n))
			out = cJSON_CreateNull();
		else if (plain && !strcmp(s, "true"))
			out = cJSON_CreateTrue();
		else if (plain && !strcmp(s, "false"))
			out = cJSON_CreateFalse();
		else
			out = cJSON_CreateString(s);
		break;
	}
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (size_t i = 0; out && i < seq_len(n); i++) {
			*json_bytes += i > 0; /* a comma */
			cJSON *c = yaml_to_json(ld, seq_item(ld, n, i), depth + 1, json_bytes);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToArray(out, c);
		}
		break;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     out && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(ld, p->key);
			if (k->type != YAML_SCALAR_NODE || is_null(k)) {
				error_at(ld, k, "expected a key name in policy, got %s",
				         ld_describe(k, buf, sizeof(buf)));
				cJSON_Delete(out);
				return NULL;
			}
			/* "key": and a comma */
			*json_bytes += strlen(scalar(k)) + 3 + (p > n->data.mapping.pairs.start);
			cJSON *c = yaml_to_json(ld, node_get(ld, p->value), depth + 1, json_bytes);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToObject(out, scalar(k), c);
		}
		break;
	case YAML_NO_NODE:
		break;
	}
	if (!out)
		ld->oom = true;
	return out;
}

/* In mapping `map`, the pair whose key is the longest prefix of `p`
 * followed by one of `ends`; its length in *len. */
static yaml_node_pair_t *key_prefix(struct loader *ld, const yaml_node_t *map, const char *p,
                                    const char *ends, size_t *len)
{
	yaml_node_pair_t *best = NULL;

	*len = 0;
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < map->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = node_get(ld, q->key);
		if (k->type != YAML_SCALAR_NODE)
			continue;
		size_t n = strlen(scalar(k));
		if (n > *len && !strncmp(p, scalar(k), n) && p[n] && strchr(ends, p[n])) {
			best = q;
			*len = n;
		}
	}
	return best;
}

/* Maps the place a policy error names (`grants[0].dst[1]: ...`,
 * `tagOwners: tag:web: ...`, `autoApprovers.services["svc:x"][0]: ...`)
 * back to the YAML node it came from; the policy key when nothing
 * matches. */
static const yaml_node_t *policy_place(struct loader *ld, const yaml_node_t *root, const char *msg)
{
	const yaml_node_t *cur = root, *at = root;
	const char *p = msg;
	size_t len;

	for (int steps = 0; *p && steps < 64; steps++) {
		if (*p == '[' && p[1] == '"' && cur->type == YAML_MAPPING_NODE) {
			const char *q = strchr(p + 2, '"');
			yaml_node_pair_t *pair = NULL;
			if (!q || q[1] != ']')
				break;
			for (yaml_node_pair_t *r = cur->data.mapping.pairs.start;
			     r < cur->data.mapping.pairs.top; r++) {
				yaml_node_t *k = node_get(ld, r->key);
				if (k->type == YAML_SCALAR_NODE &&
				    strlen(scalar(k)) == (size_t)(q - p - 2) &&
				    !strncmp(scalar(k), p + 2, (size_t)(q - p - 2)))
					pair = r;
			}
			if (!pair)
				break;
			at = node_get(ld, pair->key);
			cur = node_get(ld, pair->value);
			p = q + 2;
			continue;
		}
		if (*p == '[' && cur->type == YAML_SEQUENCE_NODE) {
			char *end;
			unsigned long i = strtoul(p + 1, &end, 10);
			if (end == p + 1 || *end != ']' || i >= seq_len(cur))
				break;
			cur = at = seq_item(ld, cur, i);
			p = end + 1;
			continue;
		}
		if (cur->type != YAML_MAPPING_NODE)
			break;
		const char *name = p;
		if (*p == '.')
			name = p + 1;
		else if (p[0] == ':' && p[1] == ' ')
			name = p + 2;
		else if (p != msg)
			break;
		yaml_node_pair_t *pair = key_prefix(ld, cur, name, ".[: ", &len);
		if (!pair)
			break;
		at = node_get(ld, pair->key);
		cur = node_get(ld, pair->value);
		p = name + len;
	}
	/* `unknown key "x"` / `duplicate key "x"`: point at that key */
	const char *uk = strstr(p, "key \"");
	if (uk && cur->type == YAML_MAPPING_NODE) {
		uk += 5;
		const char *q = strchr(uk, '"');
		for (yaml_node_pair_t *r = cur->data.mapping.pairs.start;
		     q && r < cur->data.mapping.pairs.top; r++) {
			yaml_node_t *k = node_get(ld, r->key);
			if (k->type == YAML_SCALAR_NODE && strlen(scalar(k)) == (size_t)(q - uk) &&
			    !strncmp(scalar(k), uk, (size_t)(q - uk)))
				at = k;
		}
	}
	return at;
}

const char *ld_policy_text(struct loader *ld, const yaml_node_t *key, const yaml_node_t *map,
                           struct policy **parsed)
{
	char err[POLICY_ERR_LEN];
	struct policy *p = NULL;
	const char *out = NULL;

	size_t json_bytes = 0;
	cJSON *j = yaml_to_json(ld, map, 0, &json_bytes);
	if (!j) {
		if (json_bytes > SCENARIO_POLICY_MAX)
			error_at(ld, key, "policy is more than %u bytes as JSON",
			         SCENARIO_POLICY_MAX);
		return NULL;
	}
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!text) {
		ld->oom = true;
		return NULL;
	}
	size_t len = strlen(text);
	if (len > SCENARIO_POLICY_MAX) {
		error_at(ld, key, "policy is %zu bytes as JSON (max %u)", len, SCENARIO_POLICY_MAX);
		goto out;
	}
	int rc = policy_parse(text, len, &p, err, sizeof(err));
	if (rc == -ENOMEM) {
		ld->oom = true;
		goto out;
	}
	if (rc) {
		const yaml_node_t *at = policy_place(ld, map, err);
		error_at(ld, at == map ? key : at, "policy: %s", err);
		goto out;
	}
	out = ld_strdup(ld, text);
	if (out && parsed) {
		*parsed = p;
		p = NULL;
	}
out:
	policy_free(p);
	free(text);
	return out;
}

bool ld_load_policy(struct loader *ld, const yaml_node_t *key, const yaml_node_t *map)
{
	ld->policy_node = map;
	const char *text = ld_policy_text(ld, key, map, &ld->policy);
	if (!text)
		return false;
	ld->sc->policy_json = strdup(text);
	if (!ld->sc->policy_json) {
		ld->oom = true;
		return false;
	}
	return true;
}

/* ---- tags (owned in policy tagOwners) ---- */

/* A tag used by a node, a service or a define: "tag:x", owned in the
 * policy's tagOwners. */
bool ld_check_tag(struct loader *ld, const yaml_node_t *at, const char *tag)
{
	char hint[160] = "";

	if (strncmp(tag, "tag:", 4) != 0 || !tag[4]) {
		error_at(ld, at, "tag '%.80s' must be 'tag:' and a name", tag);
		return false;
	}
	if (strlen(tag) > SCENARIO_TAG_MAX) {
		error_at(ld, at, "tag '%.40s...' is longer than %d characters", tag,
		         SCENARIO_TAG_MAX);
		return false;
	}
	if (ld->policy && policy_tag_known(ld->policy, tag))
		return true;
	if (!ld->policy_node) {
		error_at(ld, at,
		         "tag '%.80s' is not owned in policy tagOwners (there is no policy)", tag);
		return false;
	}
	if (!ld->policy) /* the policy is bad: reported there */
		return false;
	/* did you mean: among the tagOwners keys of the YAML policy */
	const yaml_node_t *p = ld->policy_node;
	for (yaml_node_pair_t *q = p->data.mapping.pairs.start; q < p->data.mapping.pairs.top;
	     q++) {
		yaml_node_t *k = node_get(ld, q->key), *v = node_get(ld, q->value);
		if (k->type != YAML_SCALAR_NODE || strcmp(scalar(k), "tagOwners") != 0 ||
		    v->type != YAML_MAPPING_NODE)
			continue;
		size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
		const char **c = malloc(sizeof(*c) * (n + 1));
		size_t m = 0;
		for (size_t i = 0; c && i < n; i++) {
			yaml_node_t *tk = node_get(ld, v->data.mapping.pairs.start[i].key);
			if (tk->type == YAML_SCALAR_NODE)
				c[m++] = scalar(tk);
		}
		ld_hint_from(ld, tag, c, m, hint, sizeof(hint));
		free(c);
	}
	error_at(ld, at, "tag '%.80s' is not owned in policy tagOwners%s", tag, hint);
	return false;
}
