/* The tailnet policy: HuJSON pre-pass, validation and evaluation (see policy.h).
 *
 * The parsed cJSON tree stays alive inside the policy: every name the
 * evaluation tables point to is a string of that tree, so the tables are
 * plain pointer arrays built once in policy_parse.
 */
#include "control/policy.h"

#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define POL_PATH_LEN    (POLICY_MAX_NAME + 128)
#define POL_MAX_SUGGEST 64 /* keys longer than this get no "did you mean" */

struct pol_group {
	const char *name;
	const char **members;
	size_t n_members;
};

/* One src or dst list, split by selector kind. */
struct pol_sel {
	bool any;
	bool member; /* autogroup:member */
	const char **tags;
	size_t n_tags;
	const char **users;
	size_t n_users;
	const struct pol_group **groups;
	size_t n_groups;
	const char **svcs;
	size_t n_svcs;
	void *block; /* the one allocation behind the arrays above */
};

struct pol_grant {
	struct pol_sel src, dst;
	struct policy_port_range *ports; /* sorted, merged */
	size_t n_ports;
};

struct pol_approver {
	bool key_is_tag;
	const char *key;
	const char **tags;
	size_t n_tags;
};

struct policy {
	char *text;
	size_t len;
	cJSON *root;
	struct pol_group *groups; /* sorted by name */
	size_t n_groups;
	const char **tags; /* tagOwners keys, sorted */
	size_t n_tags;
	struct pol_grant *grants;
	size_t n_grants;
	struct pol_approver *apprs;
	size_t n_apprs;
};

/* ---- HuJSON pre-pass ---- */

/* 1-based line and column of byte offset `off` in text. */
static void pol_line_col(const char *text, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;

	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int pol_syntax_err(const char *text, size_t off, char *err, size_t err_len, const char *what)
{
	unsigned line, col;

	pol_line_col(text, off, &line, &col);
	return err_setf(err, err_len, -EINVAL, "line %u, column %u: %s", line, col, what);
}

/* The last byte before `end` in out[] that is not blank, or -1. */
static long pol_prev_nonblank(const char *out, size_t end)
{
	while (end > 0) {
		char c = out[end - 1];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return (long)(end - 1);
		end--;
	}
	return -1;
}

/* Copies text[0..len) to out (len+1 bytes, NUL-terminated), blanking comments
 * and trailing commas so every remaining byte keeps its line and column.
 * Refuses NUL bytes, "\u0000" escapes (cJSON would cut the string there) and
 * unterminated block comments. */
static int pol_strip_hujson(const char *text, size_t len, char *out, char *err, size_t err_len)
{
	size_t i = 0;

	while (i < len) {
		char c = text[i];

		if (c == '\0')
			return pol_syntax_err(text, i, err, err_len, "NUL byte in document");
		if (c == '"') {
			out[i++] = c;
			while (i < len && text[i] != '"') {
				if (text[i] == '\0')
					return pol_syntax_err(text, i, err, err_len,
					                      "NUL byte in document");
				if (text[i] == '\\' && i + 1 < len) {
					if (len - i >= 6 && memcmp(text + i, "\\u0000", 6) == 0)
						return pol_syntax_err(
						    text, i, err, err_len,
						    "\\u0000 is not allowed in strings");
					out[i] = text[i];
					i++;
					if (text[i] == '\0')
						return pol_syntax_err(text, i, err, err_len,
						                      "NUL byte in document");
				}
				out[i] = text[i];
				i++;
			}
			if (i < len)
				out[i++] = '"';
			continue;
		}
		if (c == '/' && i + 1 < len && text[i + 1] == '/') {
			while (i < len && text[i] != '\n') {
				if (text[i] == '\0')
					return pol_syntax_err(text, i, err, err_len,
					                      "NUL byte in document");
				out[i++] = ' ';
			}
			continue;
		}
		if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			size_t start = i;

			out[i++] = ' ';
			out[i++] = ' ';
			while (i < len && !(text[i] == '*' && i + 1 < len && text[i + 1] == '/')) {
				if (text[i] == '\0')
					return pol_syntax_err(text, i, err, err_len,
					                      "NUL byte in document");
				out[i] = text[i] == '\n' || text[i] == '\r' ? text[i] : ' ';
				i++;
			}
			if (i >= len)
				return pol_syntax_err(text, start, err, err_len,
				                      "unterminated /* comment");
			out[i++] = ' ';
			out[i++] = ' ';
			continue;
		}
		if (c == ']' || c == '}') {
			long comma = pol_prev_nonblank(out, i);

			if (comma >= 0 && out[comma] == ',') {
				long before = pol_prev_nonblank(out, (size_t)comma);

				/* Only a comma after a value is a trailing comma:
				 * "[,]" stays an error. */
				if (before >= 0 && !strchr("[{,:", out[before]))
					out[comma] = ' ';
			}
		}
		out[i++] = c;
	}
	out[len] = '\0';
	return 0;
}

/* ---- names ---- */

static bool pol_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool pol_name_chars(const char *s, const char *extra)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool pol_is_tag(const char *s)
{
	return pol_has_prefix(s, "tag:") && pol_name_chars(s + 4, "-_");
}

static bool pol_is_group(const char *s)
{
	return pol_has_prefix(s, "group:") && pol_name_chars(s + 6, "-_.");
}

static bool pol_is_user(const char *s)
{
	const char *at = strchr(s, '@');

	if (!at || at == s || at[1] == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f || *s == '"' ||
		    *s == '\\')
			return false;
	return true;
}

/* NULL when `s` is a valid service name (SVC-1), else the rule it breaks. */
static const char *pol_svc_name_problem(const char *s)
{
	size_t n;

	if (!pol_has_prefix(s, "svc:"))
		return "it must start with \"svc:\"";
	s += 4;
	n = strlen(s);
	if (n < 1 || n > 63)
		return "the label after \"svc:\" must be 1-63 characters";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return "the label may hold only letters, digits and '-'";
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return "the label must start and end with a letter or digit";
	return NULL;
}

static int pol_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int pol_cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct pol_group *)a)->name, ((const struct pol_group *)b)->name);
}

static const struct pol_group *pol_find_group(const struct policy *p, const char *name)
{
	struct pol_group key = {.name = name};

	if (!p->n_groups)
		return NULL;
	return bsearch(&key, p->groups, p->n_groups, sizeof(key), pol_cmp_group);
}

bool policy_tag_known(const struct policy *p, const char *tag)
{
	if (!tag || !p->n_tags)
		return false;
	return bsearch(&tag, p->tags, p->n_tags, sizeof(*p->tags), pol_cmp_str) != NULL;
}

/* ---- "did you mean" ---- */

static size_t pol_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[POL_MAX_SUGGEST + 1];

	if (la > POL_MAX_SUGGEST || lb > POL_MAX_SUGGEST)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
			                      tolower((unsigned char)b[j - 1]));

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Checks that obj's keys are all in known[] and none repeats. `where` names
 * the object in messages ("" for the top level). */
static int pol_check_keys(const cJSON *obj, const char *const *known, size_t n_known,
                          const char *where, char *err, size_t err_len)
{
	unsigned long seen = 0;
	const char *sep = *where ? ": " : "";

	for (const cJSON *it = obj->child; it; it = it->next) {
		size_t k;

		for (k = 0; k < n_known; k++)
			if (strcmp(it->string, known[k]) == 0)
				break;
		if (k == n_known) {
			const char *best = NULL;
			size_t best_d = 3;

			for (size_t j = 0; j < n_known; j++) {
				size_t d = pol_edit_distance(it->string, known[j]);

				if (d < best_d) {
					best_d = d;
					best = known[j];
				}
			}
			if (best)
				return err_setf(err, err_len, -EINVAL,
				                "%s%sunknown key \"%.64s\" (did you mean \"%s\"?)",
				                where, sep, it->string, best);
			return err_setf(err, err_len, -EINVAL, "%s%sunknown key \"%.64s\"", where,
			                sep, it->string);
		}
		if (seen & (1ul << k))
			return err_setf(err, err_len, -EINVAL, "%s%sduplicate key \"%s\"", where,
			                sep, it->string);
		seen |= 1ul << k;
	}
	return 0;
}

/* An array of strings of at most POLICY_MAX_SELECTORS names, each at most
 * POLICY_MAX_NAME long. Returns its length or -errno. */
static int pol_check_string_array(const cJSON *arr, const char *where, const char *what, char *err,
                                  size_t err_len)
{
	int n = 0;

	if (!cJSON_IsArray(arr))
		return err_setf(err, err_len, -EINVAL, "%s: must be an array of %s", where, what);
	for (const cJSON *it = arr->child; it; it = it->next, n++) {
		if (n >= POLICY_MAX_SELECTORS)
			return err_setf(err, err_len, -E2BIG, "%s: more than %d entries", where,
			                POLICY_MAX_SELECTORS);
		if (!cJSON_IsString(it))
			return err_setf(err, err_len, -EINVAL, "%s[%d]: must be a string", where,
			                n);
		if (strlen(it->valuestring) > POLICY_MAX_NAME)
			return err_setf(err, err_len, -E2BIG, "%s[%d]: longer than %d characters",
			                where, n, POLICY_MAX_NAME);
	}
	return n;
}

/* A tag used somewhere must be well-formed and owned in tagOwners. */
static int pol_check_tag_use(const struct policy *p, const char *s, const char *where, int idx,
                             char *err, size_t err_len)
{
	if (!pol_is_tag(s))
		return err_setf(
		    err, err_len, -EINVAL,
		    "%s[%d]: \"%s\" is not a valid tag (tag: + letters, digits, '-' or '_')", where,
		    idx, s);
	if (!policy_tag_known(p, s))
		return err_setf(err, err_len, -EINVAL,
		                "%s[%d]: tag \"%s\" is not defined in tagOwners", where, idx, s);
	return 0;
}

static int pol_check_group_use(const struct policy *p, const char *s, const char *where, int idx,
                               const struct pol_group **out, char *err, size_t err_len)
{
	if (!pol_is_group(s))
		return err_setf(err, err_len, -EINVAL,
		                "%s[%d]: \"%s\" is not a valid group name "
		                "(group: + letters, digits, '-', '_' or '.')",
		                where, idx, s);
	*out = pol_find_group(p, s);
	if (!*out)
		return err_setf(err, err_len, -EINVAL,
		                "%s[%d]: group \"%s\" is not defined in groups", where, idx, s);
	return 0;
}

/* ---- groups and tagOwners ---- */

/* Loads `groups`: valid names, each a list of user logins (no nesting),
 * none defined twice; the table ends sorted for lookups. */
static int pol_load_groups(struct policy *p, const cJSON *obj, char *err, size_t err_len)
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
static int pol_load_tag_names(struct policy *p, const cJSON *obj, char *err, size_t err_len)
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
static int pol_check_tag_owners(const struct policy *p, const cJSON *obj, char *err, size_t err_len)
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

static int pol_cmp_range(const void *a, const void *b)
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
static bool pol_range_push(struct policy_port_range *dst, size_t *n, size_t cap,
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
static int pol_load_grants(struct policy *p, const cJSON *arr, char *err, size_t err_len)
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

/* Loads autoApprovers.services: keys svc:X or an owned tag, values owned
 * node tags. `routes` and `exitNode` are accepted and ignored. */
static int pol_load_approvers(struct policy *p, const cJSON *obj, char *err, size_t err_len)
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
		const char *why;
		int idx = 0;

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
		if (pol_has_prefix(key, "tag:")) {
			if (!pol_is_tag(key))
				return err_setf(err, err_len, -EINVAL,
				                "%s: \"%s\" is not a valid tag "
				                "(tag: + letters, digits, '-' or '_')",
				                where, key);
			if (!policy_tag_known(p, key))
				return err_setf(err, err_len, -EINVAL,
				                "%s: tag \"%s\" is not defined in tagOwners", where,
				                key);
			a->key_is_tag = true;
		} else if (pol_has_prefix(key, "svc:")) {
			why = pol_svc_name_problem(key);
			if (why)
				return err_setf(
				    err, err_len, -EINVAL,
				    "%s: \"%s\" is not a valid service name (SVC-1: %s)", where,
				    key, why);
		} else {
			return err_setf(
			    err, err_len, -EINVAL,
			    "autoApprovers.services: \"%s\" is not a service name (svc:) or "
			    "a service tag (tag:)",
			    key);
		}
		a->key = key;
		rc = pol_check_string_array(it, where, "node tags", err, err_len);
		if (rc < 0)
			return rc;
		if (rc) {
			a->tags = calloc((size_t)rc, sizeof(*a->tags));
			if (!a->tags)
				return -ENOMEM;
		}
		for (const cJSON *t = it->child; t; t = t->next, idx++) {
			if (!pol_has_prefix(t->valuestring, "tag:"))
				return err_setf(
				    err, err_len, -EINVAL,
				    "%s[%d]: \"%s\" is not a tag (auto-approvers are node "
				    "tags)",
				    where, idx, t->valuestring);
			rc = pol_check_tag_use(p, t->valuestring, where, idx, err, err_len);
			if (rc)
				return rc;
			a->tags[a->n_tags++] = t->valuestring;
		}
	}
	return 0;
}

/* ---- parse ---- */

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_groups; i++)
		free(p->groups[i].members);
	free(p->groups);
	free(p->tags);
	for (size_t i = 0; i < p->n_grants; i++) {
		free(p->grants[i].src.block);
		free(p->grants[i].dst.block);
		free(p->grants[i].ports);
	}
	free(p->grants);
	for (size_t i = 0; i < p->n_apprs; i++)
		free(p->apprs[i].tags);
	free(p->apprs);
	cJSON_Delete(p->root);
	free(p->text);
	free(p);
}

/* Strips, parses and validates p->text into p's tables. On failure p is
 * half-built; the caller frees it. Groups and tag names load before the
 * lists that refer to them. */
static int pol_build(struct policy *p, char *err, size_t err_len)
{
	static const char *const keys[] = {"groups", "tagOwners", "grants", "autoApprovers",
	                                   "acls",   "hosts",     "ssh",    "tests"};
	const cJSON *groups, *owners, *grants, *apprs;
	char *clean;
	const char *end = NULL;
	int rc;

	clean = malloc(p->len + 1);
	if (!clean)
		return -ENOMEM;
	rc = pol_strip_hujson(p->text, p->len, clean, err, err_len);
	if (rc) {
		free(clean);
		return rc;
	}
	p->root = cJSON_ParseWithLengthOpts(clean, p->len + 1, &end, true);
	if (!p->root) {
		size_t off = end && end >= clean ? (size_t)(end - clean) : 0;

		if (off > p->len)
			off = p->len;
		free(clean);
		return pol_syntax_err(p->text, off, err, err_len, "invalid JSON");
	}
	free(clean);
	if (!cJSON_IsObject(p->root))
		return err_setf(err, err_len, -EINVAL, "the policy must be a JSON object");
	rc = pol_check_keys(p->root, keys, sizeof(keys) / sizeof(keys[0]), "", err, err_len);
	if (rc)
		return rc;
	groups = cJSON_GetObjectItemCaseSensitive(p->root, "groups");
	owners = cJSON_GetObjectItemCaseSensitive(p->root, "tagOwners");
	grants = cJSON_GetObjectItemCaseSensitive(p->root, "grants");
	apprs = cJSON_GetObjectItemCaseSensitive(p->root, "autoApprovers");
	if (groups && (rc = pol_load_groups(p, groups, err, err_len)))
		return rc;
	if (owners && (rc = pol_load_tag_names(p, owners, err, err_len)))
		return rc;
	if (owners && (rc = pol_check_tag_owners(p, owners, err, err_len)))
		return rc;
	if (grants && (rc = pol_load_grants(p, grants, err, err_len)))
		return rc;
	if (apprs && (rc = pol_load_approvers(p, apprs, err, err_len)))
		return rc;
	return 0;
}

int policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t err_len)
{
	struct policy *p;
	int rc;

	*out = NULL;
	if (len > POLICY_MAX_BYTES)
		return err_setf(err, err_len, -E2BIG, "the policy is %zu bytes, at most %u", len,
		                POLICY_MAX_BYTES);
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	p->text = malloc(len + 1);
	if (!p->text) {
		free(p);
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->len = len;
	rc = pol_build(p, err, err_len);
	if (rc) {
		if (rc == -ENOMEM)
			err_setf(err, err_len, -ENOMEM, "out of memory");
		policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

const char *policy_text(const struct policy *p)
{
	return p->text;
}

int policy_new_empty(struct policy **out)
{
	static const char empty[] = "{}\n";

	return policy_parse(empty, sizeof(empty) - 1, out, NULL, 0);
}

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
		if (key_ok && pol_tags_meet(host->tags, host->n_tags, a->tags, a->n_tags))
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
