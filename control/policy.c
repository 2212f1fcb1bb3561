/* The tailnet policy (see policy.h): the HuJSON pre-pass, name rules, the
 * "did you mean" checks of keys and names, and policy_parse, which loads
 * the sections (policy_load.c) into evaluation tables (policy_eval.c).
 *
 * The parsed cJSON tree stays alive inside the policy: every name the
 * evaluation tables point to is a string of that tree, so the tables are
 * plain pointer arrays built once in policy_parse. */
#include "control/policy_int.h"

#include "lib/base/errfmt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

bool pol_has_prefix(const char *s, const char *prefix)
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

bool pol_is_tag(const char *s)
{
	return pol_has_prefix(s, "tag:") && pol_name_chars(s + 4, "-_");
}

bool pol_is_group(const char *s)
{
	return pol_has_prefix(s, "group:") && pol_name_chars(s + 6, "-_.");
}

bool pol_is_user(const char *s)
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
const char *pol_svc_name_problem(const char *s)
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

int pol_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int pol_cmp_group(const void *a, const void *b)
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
int pol_check_keys(const cJSON *obj, const char *const *known, size_t n_known, const char *where,
                   char *err, size_t err_len)
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
int pol_check_string_array(const cJSON *arr, const char *where, const char *what, char *err,
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
int pol_check_tag_use(const struct policy *p, const char *s, const char *where, int idx, char *err,
                      size_t err_len)
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

int pol_check_group_use(const struct policy *p, const char *s, const char *where, int idx,
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
