/* Secrets the registry keeps only as SHA-256 hashes (SEC-1): admin bearer
 * tokens, in memory and in the saved state, and the state written before
 * tokens were hashed (a plaintext "token"), which still loads. */
#include "control/registry.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALICE       "alice@example.com"
#define ALICE_TOKEN "tok-alice-5f2c9e41d7"

static struct registry *reg;
static char err[REG_ERR_LEN];

static void setup(void)
{
	cr_assert_eq(registry_new(&reg, "example.ts.net"), 0);
	cr_assert_eq(
	    registry_user_set(reg, ALICE, REG_ROLE_OWNER, "Alice", ALICE_TOKEN, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(registry_user_set(reg, "bob@example.com", REG_ROLE_MEMBER, "Bob", NULL, err,
	                               sizeof(err)),
	             0, "%s", err);
}

static void teardown(void)
{
	registry_free(reg);
	reg = NULL;
}

TestSuite(secrets, .init = setup, .fini = teardown);

/* `json` with the first `from` replaced by `to` (malloc'd). */
static char *replaced(const char *json, const char *from, const char *to)
{
	const char *at = strstr(json, from);
	char *out;

	cr_assert(at, "'%s' not in %s", from, json);
	out = malloc(strlen(json) + strlen(to) + 1);
	cr_assert(out);
	memcpy(out, json, (size_t)(at - json));
	strcpy(out + (at - json), to);
	strcat(out, at + strlen(from));
	return out;
}

/* The saved state with alice's hashed token written the old way. */
static char *old_format_state(const char *token)
{
	char *j = registry_to_json(reg), *old, from[REG_SHA256_HEX_LEN + 32], to[128];

	cr_assert(j);
	snprintf(from, sizeof(from), "\"token_sha256\":\t\"%s\"",
	         registry_user(reg, ALICE)->token_sha256);
	snprintf(to, sizeof(to), "\"token\":\t\"%s\"", token);
	old = replaced(j, from, to);
	free(j);
	return old;
}

Test(secrets, sec1_the_registry_keeps_an_admin_token_only_as_its_sha256)
{
	const struct reg_user *u = registry_user(reg, ALICE);

	/* SHA-256("tok-alice-5f2c9e41d7"), computed with sha256sum. */
	cr_assert_str_eq(u->token_sha256,
	                 "65461fe1b205e5a200f798c213f2341b0a51acc646c559910b0cdef2893c938a");
	cr_assert_str_eq(registry_user(reg, "bob@example.com")->token_sha256, "");
}

Test(secrets, sec1_the_token_authenticates_and_nothing_else_does)
{
	cr_assert_str_eq(registry_user_by_token(reg, ALICE_TOKEN)->login, ALICE);
	cr_assert_null(registry_user_by_token(reg, "tok-alice-5f2c9e41d8"));
	cr_assert_null(registry_user_by_token(reg, registry_user(reg, ALICE)->token_sha256),
	               "the hash itself is not a token");
	cr_assert_null(registry_user_by_token(reg, ""));
	cr_assert_null(registry_user_by_token(reg, NULL));
}

Test(secrets, sec1_two_users_never_share_a_token)
{
	cr_assert_eq(registry_user_set(reg, "bob@example.com", REG_ROLE_MEMBER, "Bob", ALICE_TOKEN,
	                               err, sizeof(err)),
	             -EEXIST);
	cr_assert(strstr(err, "already belongs to alice@example.com"), "%s", err);
	/* Setting the same user again with the same token is an update. */
	cr_assert_eq(
	    registry_user_set(reg, ALICE, REG_ROLE_ADMIN, "Alice", ALICE_TOKEN, err, sizeof(err)),
	    0, "%s", err);
	cr_assert_eq(registry_user(reg, ALICE)->role, REG_ROLE_ADMIN);
}

Test(secrets, sec1_the_saved_state_holds_the_token_hash_never_the_token)
{
	struct registry *r2 = NULL;
	char *j = registry_to_json(reg);

	cr_assert(j);
	cr_assert_null(strstr(j, ALICE_TOKEN), "%s", j);
	cr_assert_null(strstr(j, "\"token\""), "%s", j);
	cr_assert(strstr(j, registry_user(reg, ALICE)->token_sha256), "%s", j);
	cr_assert_eq(registry_from_json(j, strlen(j), &r2, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(registry_user_by_token(r2, ALICE_TOKEN)->login, ALICE);
	registry_free(r2);
	free(j);
}

Test(secrets, sec1_state_with_a_plaintext_token_from_before_hashing_loads_and_authenticates)
{
	struct registry *r2 = NULL;
	char *old = old_format_state("tok-from-an-old-state"), *again;

	cr_assert_eq(registry_from_json(old, strlen(old), &r2, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(registry_user_by_token(r2, "tok-from-an-old-state")->login, ALICE);
	cr_assert_null(registry_user_by_token(r2, ALICE_TOKEN));
	/* Saved again, it is in the new form: no plaintext left. */
	again = registry_to_json(r2);
	cr_assert_null(strstr(again, "tok-from-an-old-state"), "%s", again);
	cr_assert(strstr(again, "\"token_sha256\""), "%s", again);
	free(again);
	registry_free(r2);
	free(old);
}

Test(secrets, sec1_a_token_and_its_hash_both_given_or_a_bad_hash_is_refused_with_the_place)
{
	struct registry *r2 = NULL;
	char *j = registry_to_json(reg), *both, *bad, *bad_old;
	char from[REG_SHA256_HEX_LEN + 32], to[REG_SHA256_HEX_LEN + 64];

	snprintf(from, sizeof(from), "\"token_sha256\":\t\"%s\"",
	         registry_user(reg, ALICE)->token_sha256);
	snprintf(to, sizeof(to), "\"token\": \"x\", %s", from);
	both = replaced(j, from, to);
	cr_assert_eq(registry_from_json(both, strlen(both), &r2, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "users[0]") && strstr(err, "both given"), "%s", err);

	snprintf(to, sizeof(to), "\"token_sha256\": \"%.63sG\"",
	         registry_user(reg, ALICE)->token_sha256);
	bad = replaced(j, from, to);
	cr_assert_eq(registry_from_json(bad, strlen(bad), &r2, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "users[0].token_sha256: 64 lowercase hex digits"), "%s", err);

	bad_old = old_format_state("has a space");
	cr_assert_eq(registry_from_json(bad_old, strlen(bad_old), &r2, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "users[0].token: 1-253 printable characters"), "%s", err);
	cr_assert_null(r2);
	free(bad_old);
	free(bad);
	free(both);
	free(j);
}
