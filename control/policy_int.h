/* Private to the tailnet policy (policy*.c): struct policy and its
 * evaluation tables, and the helpers one policy file calls in another. */
#ifndef CONTROL_POLICY_INT_H
#define CONTROL_POLICY_INT_H

#include "control/policy.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

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

/* ---- policy.c ---- */

/* Name rules: a prefix; tag:, group: and user (login@domain) names. */
bool pol_has_prefix(const char *s, const char *prefix);
bool pol_is_tag(const char *s);
bool pol_is_group(const char *s);
bool pol_is_user(const char *s);
/* NULL when `s` is a valid service name (SVC-1), else the rule it breaks. */
const char *pol_svc_name_problem(const char *s);
/* qsort orders: strings, groups by name. */
int pol_cmp_str(const void *a, const void *b);
int pol_cmp_group(const void *a, const void *b);
/* Checks: an object's keys (with "did you mean"), a list of names (its
 * length), a tag or group used somewhere (owned, defined); -errno with err
 * when one fails. */
int pol_check_keys(const cJSON *obj, const char *const *known, size_t n_known, const char *where,
                   char *err, size_t err_len);
int pol_check_string_array(const cJSON *arr, const char *where, const char *what, char *err,
                           size_t err_len);
int pol_check_tag_use(const struct policy *p, const char *s, const char *where, int idx, char *err,
                      size_t err_len);
int pol_check_group_use(const struct policy *p, const char *s, const char *where, int idx,
                        const struct pol_group **out, char *err, size_t err_len);

/* ---- policy_load.c ---- */

/* Section loaders, 0 or -errno with err naming the place: groups, then
 * tagOwners in two passes (names first, so owners may name tags), grants,
 * autoApprovers. */
int pol_load_groups(struct policy *p, const cJSON *obj, char *err, size_t err_len);
int pol_load_tag_names(struct policy *p, const cJSON *obj, char *err, size_t err_len);
int pol_check_tag_owners(const struct policy *p, const cJSON *obj, char *err, size_t err_len);
/* Port ranges: their order, and appending to a sorted list with merging
 * (false when `cap` is reached). */
int pol_cmp_range(const void *a, const void *b);
bool pol_range_push(struct policy_port_range *dst, size_t *n, size_t cap,
                    const struct policy_port_range *r);
int pol_load_grants(struct policy *p, const cJSON *arr, char *err, size_t err_len);
int pol_load_approvers(struct policy *p, const cJSON *obj, char *err, size_t err_len);

#endif
