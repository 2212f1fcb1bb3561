/* Secrets the registry keeps only as SHA-256 hashes (SEC-1): admin bearer
 * tokens, in memory and in the saved state, and the state written before
 * tokens were hashed (a plaintext "token"), which still loads; auth keys:
 * made by admins, used by joining nodes, expiry, one-off, revocation,
 * limits and persistence. */
#include "control/policy.h"
#include "control/registry.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALICE       "alice@example.com"
#define ALICE_TOKEN "tok-alice-5f2c9e41d7"

static struct registry *reg;
static char err[REG_ERR_LEN];

#define NOW_S 1767225600ull /* 2026-01-01T00:00:00Z */

static const char test_policy[] =
    "{\"tagOwners\": {\"tag:web\": [\"alice@example.com\"], \"tag:db\": "
    "[\"alice@example.com\"]}}";

static void setup(void)
{
	struct policy *p = NULL;
	char perr[POLICY_ERR_LEN];

	cr_assert_eq(registry_new(&reg, "example.ts.net"), 0);
	cr_assert_eq(policy_parse(test_policy, strlen(test_policy), &p, perr, sizeof(perr)), 0,
	             "%s", perr);
	cr_assert_eq(registry_set_policy(reg, NULL, p, err, sizeof(err)), 0, "%s", err);
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

/* ---- auth keys ------------------------------------------------------------ */

/* Creates a key as `actor` from random bytes seeded by `seed`: its rc,
 * the key's text in `key`. */
static int make_key(const char *actor, bool reusable, uint64_t expires_s, const char *tag,
                    uint8_t seed, char key[REG_AUTHKEY_TEXT_LEN + 1])
{
	uint8_t random[REG_AUTHKEY_RANDOM];
	const char *tags[1] = {tag};

	for (size_t i = 0; i < sizeof(random); i++)
		random[i] = (uint8_t)(seed * 31 + i);
	key[0] = '\0';
	return registry_authkey_create(reg, actor, reusable, expires_s, tags, tag ? 1 : 0, NOW_S,
	                               random, key, REG_AUTHKEY_TEXT_LEN + 1, err, sizeof(err));
}

static const struct reg_authkey *key_of(const char *key)
{
	char id[REG_AUTHKEY_ID_LEN + 1];
	int i;

	snprintf(id, sizeof(id), "%s", key + strlen(REG_AUTHKEY_PREFIX));
	i = registry_authkey_index(reg, id);
	cr_assert_geq(i, 0, "no key %s", id);
	return registry_authkey(reg, (size_t)i);
}

static int use_key(const char *key, uint64_t now_s)
{
	return registry_authkey_use(reg, key, now_s, NULL, NULL, err, sizeof(err));
}

Test(secrets, sec1_an_auth_key_is_shown_once_and_lets_a_node_join_with_its_tags)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];
	const char *const *tags = NULL;
	size_t n_tags = 0;
	uint64_t gen = registry_generation(reg);

	cr_assert_eq(make_key(ALICE, false, 0, "tag:web", 1, key), 0, "%s", err);
	cr_assert_gt(registry_generation(reg), gen);
	cr_assert_eq(strlen(key), REG_AUTHKEY_TEXT_LEN);
	cr_assert_eq(strncmp(key, "svckey-", 7), 0, "%s", key);
	cr_assert_eq(key[7 + REG_AUTHKEY_ID_LEN], '-', "%s", key);
	/* What the registry keeps: the id, the hash, who and when. */
	const struct reg_authkey *k = key_of(key);
	cr_assert_eq(strncmp(k->id, key + 7, REG_AUTHKEY_ID_LEN), 0);
	/* The hash, recomputed here with OpenSSL, of the whole key text. */
	unsigned char md[32];
	char want[2 * 32 + 1];
	cr_assert(SHA256((const unsigned char *)key, strlen(key), md) != NULL);
	for (int b = 0; b < 32; b++)
		snprintf(want + 2 * b, 3, "%02x", md[b]);
	cr_assert_str_eq(k->secret_sha256, want);
	cr_assert_str_eq(k->created_by, ALICE);
	cr_assert_eq(k->created_s, NOW_S);
	cr_assert(!k->reusable && !k->revoked && k->uses == 0 && k->expires_s == 0);

	gen = registry_generation(reg);
	cr_assert_eq(registry_authkey_use(reg, key, NOW_S + 5, &tags, &n_tags, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_gt(registry_generation(reg), gen);
	cr_assert_eq(n_tags, 1);
	cr_assert_str_eq(tags[0], "tag:web");
	cr_assert_eq(key_of(key)->uses, 1);
}

Test(secrets, sec1_a_one_off_auth_key_is_spent_by_its_first_use)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];

	cr_assert_eq(make_key(ALICE, false, 0, NULL, 2, key), 0, "%s", err);
	cr_assert(reg_authkey_usable(key_of(key), NOW_S));
	cr_assert_eq(use_key(key, NOW_S), 0, "%s", err);
	cr_assert(reg_authkey_spent(key_of(key)));
	cr_assert_eq(use_key(key, NOW_S), -EKEYREVOKED);
	cr_assert(strstr(err, "is one-off and was already used"), "%s", err);
	cr_assert_eq(key_of(key)->uses, 1, "a refused use is not counted");
}

Test(secrets, sec1_a_reusable_auth_key_counts_every_use)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];

	cr_assert_eq(make_key(ALICE, true, 0, "tag:db", 3, key), 0, "%s", err);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(use_key(key, NOW_S + (uint64_t)i), 0, "%s", err);
	cr_assert_eq(key_of(key)->uses, 5);
	cr_assert(!reg_authkey_spent(key_of(key)));
}

Test(secrets, sec1_an_expired_auth_key_is_refused)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1], id_text[48];

	cr_assert_eq(make_key(ALICE, true, NOW_S + 3600, NULL, 4, key), 0, "%s", err);
	cr_assert_eq(use_key(key, NOW_S + 3599), 0, "%s", err);
	cr_assert_eq(use_key(key, NOW_S + 3600), -EKEYEXPIRED);
	snprintf(id_text, sizeof(id_text), "auth key %.19s-...", key);
	cr_assert(strstr(err, id_text) && strstr(err, "expired at 2026-01-01T01:00:00Z"), "%s",
	          err);
	cr_assert_null(strstr(err, key + 8 + REG_AUTHKEY_ID_LEN), "no secret in: %s", err);
	/* An expiry not after now is refused when the key is made. */
	cr_assert_eq(make_key(ALICE, true, NOW_S, NULL, 5, key), -EINVAL);
	cr_assert(strstr(err, "is not after now"), "%s", err);
}

Test(secrets, sec1_a_revoked_auth_key_is_refused)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];
	uint64_t gen;

	cr_assert_eq(make_key(ALICE, true, 0, NULL, 6, key), 0, "%s", err);
	gen = registry_generation(reg);
	cr_assert_eq(registry_authkey_revoke(reg, ALICE, key_of(key)->id, err, sizeof(err)), 0,
	             "%s", err);
	cr_assert_gt(registry_generation(reg), gen);
	cr_assert(key_of(key)->revoked);
	cr_assert_eq(use_key(key, NOW_S), -EKEYREVOKED);
	cr_assert(strstr(err, "was revoked"), "%s", err);
	cr_assert_eq(registry_authkey_revoke(reg, ALICE, key_of(key)->id, err, sizeof(err)),
	             -EALREADY);
	cr_assert_eq(registry_authkey_revoke(reg, ALICE, "0123456789ab", err, sizeof(err)),
	             -ENOENT);
	cr_assert(strstr(err, "no auth key with id \"0123456789ab\""), "%s", err);
}

Test(secrets, sec1_an_unknown_or_malformed_auth_key_is_refused_without_echoing_it)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1], wrong[REG_AUTHKEY_TEXT_LEN + 1];
	static const char *const malformed[] = {
	    "",
	    "svckey-",
	    "tskey-0123456789ab-0123456789abcdef0123456789abcdef",
	    "svckey-0123456789AB-0123456789abcdef0123456789abcdef",
	    "svckey-0123456789ab-0123456789abcdef0123456789abcde",
	    "svckey-0123456789ab_0123456789abcdef0123456789abcdef",
	    "svckey-0123456789ab-0123456789abcdef0123456789abcdef0"};

	cr_assert_eq(make_key(ALICE, true, 0, NULL, 7, key), 0, "%s", err);
	/* Its id with another secret: not known, and nothing is counted. */
	memcpy(wrong, key, sizeof(wrong));
	wrong[REG_AUTHKEY_TEXT_LEN - 1] = wrong[REG_AUTHKEY_TEXT_LEN - 1] == '0' ? '1' : '0';
	cr_assert_eq(use_key(wrong, NOW_S), -ENOENT);
	cr_assert(strstr(err, "is not known"), "%s", err);
	cr_assert_eq(key_of(key)->uses, 0);
	cr_assert_eq(use_key("svckey-0123456789ab-0123456789abcdef0123456789abcdef", NOW_S),
	             -ENOENT);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		cr_assert_eq(use_key(malformed[i], NOW_S), -EINVAL, "%s", malformed[i]);
		cr_assert(strstr(err, "not an auth key"), "%s", err);
		cr_assert_null(strstr(err, "0123456789abcdef"), "echoed: %s", err);
	}
	cr_assert_eq(use_key(NULL, NOW_S), -EINVAL);
}

Test(secrets, sec1_only_admins_create_tagged_auth_keys_or_revoke_any)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];
	uint64_t gen = registry_generation(reg);

	cr_assert_eq(make_key("bob@example.com", true, 0, "tag:web", 8, key), -EPERM);
	cr_assert(strstr(err, "bob@example.com (member) may not create a tagged auth key"), "%s",
	          err);
	cr_assert_eq(make_key("nobody@example.com", true, 0, NULL, 8, key), -EPERM);
	cr_assert(strstr(err, "unknown user"), "%s", err);
	cr_assert_eq(registry_authkey_count(reg), 0);
	cr_assert_eq(registry_generation(reg), gen);
	/* A member's own key, without tags: its nodes will be the member's. */
	cr_assert_eq(make_key("bob@example.com", false, 0, NULL, 7, key), 0, "%s", err);
	cr_assert_str_eq(key_of(key)->created_by, "bob@example.com");
	cr_assert_eq(make_key(ALICE, true, 0, NULL, 8, key), 0, "%s", err);
	cr_assert_eq(
	    registry_authkey_revoke(reg, "bob@example.com", key_of(key)->id, err, sizeof(err)),
	    -EPERM);
	cr_assert(!key_of(key)->revoked);
}

Test(secrets, sec1_auth_key_tags_are_well_formed_distinct_and_owned_in_the_policy)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1];
	uint8_t random[REG_AUTHKEY_RANDOM] = {9};
	const char *twice[] = {"tag:web", "tag:web"};
	const char *many[REG_MAX_TAGS + 1];

	cr_assert_eq(make_key(ALICE, true, 0, "web", 9, key), -EINVAL);
	cr_assert(strstr(err, "\"web\" is not a tag"), "%s", err);
	cr_assert_eq(make_key(ALICE, true, 0, "tag:nobodys", 9, key), -EPERM);
	cr_assert(strstr(err, "tag:nobodys is not owned in the policy"), "%s", err);
	cr_assert_eq(registry_authkey_create(reg, ALICE, true, 0, twice, 2, NOW_S, random, key,
	                                     sizeof(key), err, sizeof(err)),
	             -EINVAL);
	cr_assert(strstr(err, "tag:web given twice"), "%s", err);
	for (size_t i = 0; i < REG_MAX_TAGS + 1; i++)
		many[i] = "tag:web";
	cr_assert_eq(registry_authkey_create(reg, ALICE, true, 0, many, REG_MAX_TAGS + 1, NOW_S,
	                                     random, key, sizeof(key), err, sizeof(err)),
	             -E2BIG);
	cr_assert_eq(registry_authkey_count(reg), 0);
}

Test(secrets, sec1_auth_keys_are_limited_and_only_unusable_ones_make_room)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1], first[REG_AUTHKEY_TEXT_LEN + 1];
	uint8_t random[REG_AUTHKEY_RANDOM] = {0};

	for (uint32_t i = 0; i < REG_MAX_AUTHKEYS; i++) {
		memcpy(random, &i, sizeof(i));
		cr_assert_eq(registry_authkey_create(reg, ALICE, true, 0, NULL, 0, NOW_S, random,
		                                     key, sizeof(key), err, sizeof(err)),
		             0, "%u: %s", i, err);
		if (i == 0)
			memcpy(first, key, sizeof(key));
	}
	random[4] = 1;
	cr_assert_eq(registry_authkey_create(reg, ALICE, true, 0, NULL, 0, NOW_S, random, key,
	                                     sizeof(key), err, sizeof(err)),
	             -ENOSPC);
	cr_assert(strstr(err, "at most 4096 auth keys"), "%s", err);
	/* A key that can no longer be used makes room, the oldest first. */
	const struct reg_authkey *k = registry_authkey(reg, 10);
	char id[REG_AUTHKEY_ID_LEN + 1];
	memcpy(id, k->id, sizeof(id));
	cr_assert_eq(registry_authkey_revoke(reg, ALICE, id, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(registry_authkey_create(reg, ALICE, true, 0, NULL, 0, NOW_S, random, key,
	                                     sizeof(key), err, sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(registry_authkey_count(reg), REG_MAX_AUTHKEYS);
	cr_assert_eq(registry_authkey_index(reg, id), -ENOENT);
	cr_assert_eq(use_key(first, NOW_S), 0, "%s", err);
	cr_assert_eq(use_key(key, NOW_S), 0, "%s", err);
}

Test(secrets, sec1_the_saved_state_holds_auth_key_hashes_and_keys_survive_a_reload)
{
	char one_off[REG_AUTHKEY_TEXT_LEN + 1], reusable[REG_AUTHKEY_TEXT_LEN + 1];
	char revoked[REG_AUTHKEY_TEXT_LEN + 1];
	struct registry *r2 = NULL, *keep = reg;
	char *j, *j2;

	cr_assert_eq(make_key(ALICE, false, NOW_S + 60, "tag:web", 10, one_off), 0, "%s", err);
	cr_assert_eq(make_key(ALICE, true, 0, "tag:db", 11, reusable), 0, "%s", err);
	cr_assert_eq(make_key(ALICE, true, 0, NULL, 12, revoked), 0, "%s", err);
	cr_assert_eq(use_key(reusable, NOW_S), 0, "%s", err);
	cr_assert_eq(registry_authkey_revoke(reg, ALICE, key_of(revoked)->id, err, sizeof(err)), 0);
	j = registry_to_json(reg);
	cr_assert(j);
	/* Neither a key's text nor its secret part is stored. */
	cr_assert_null(strstr(j, one_off + 8 + REG_AUTHKEY_ID_LEN), "%s", j);
	cr_assert_null(strstr(j, reusable + 8 + REG_AUTHKEY_ID_LEN), "%s", j);
	cr_assert_null(strstr(j, "svckey-"), "%s", j);
	cr_assert(strstr(j, key_of(one_off)->secret_sha256), "%s", j);

	cr_assert_eq(registry_from_json(j, strlen(j), &r2, err, sizeof(err)), 0, "%s", err);
	j2 = registry_to_json(r2);
	cr_assert_str_eq(j, j2);
	reg = r2;
	cr_assert_eq(registry_authkey_count(reg), 3);
	cr_assert_eq(key_of(reusable)->uses, 1);
	cr_assert_eq(key_of(one_off)->expires_s, NOW_S + 60);
	cr_assert_eq(use_key(revoked, NOW_S), -EKEYREVOKED);
	cr_assert_eq(use_key(one_off, NOW_S + 60), -EKEYEXPIRED);
	cr_assert_eq(use_key(one_off, NOW_S), 0, "%s", err);
	cr_assert_eq(use_key(one_off, NOW_S), -EKEYREVOKED);
	cr_assert_eq(use_key(reusable, NOW_S), 0, "%s", err);
	reg = keep;
	registry_free(r2);
	free(j2);
	free(j);
}

/* A stored auth key with `from` replaced by `to` is refused naming `place`. */
static void stored_key_refused(const char *from, const char *to, const char *place)
{
	struct registry *r2 = NULL;
	char *j = registry_to_json(reg), *bad = replaced(j, from, to);

	cr_assert_neq(registry_from_json(bad, strlen(bad), &r2, err, sizeof(err)), 0, "%s", bad);
	cr_assert_null(r2);
	cr_assert(strstr(err, place), "want '%s' in '%s'", place, err);
	free(bad);
	free(j);
}

Test(secrets, sec1_a_stored_auth_key_with_a_bad_field_is_refused_with_the_place)
{
	char key[REG_AUTHKEY_TEXT_LEN + 1], id[64], hash[80];

	cr_assert_eq(make_key(ALICE, true, 0, "tag:web", 13, key), 0, "%s", err);
	snprintf(id, sizeof(id), "\"%s\"", key_of(key)->id);
	snprintf(hash, sizeof(hash), "\"%s\"", key_of(key)->secret_sha256);
	stored_key_refused(id, "\"0123\"", "authkeys[0].id: 12 lowercase hex digits");
	stored_key_refused(hash, "\"abc\"", "authkeys[0].secret_sha256: 64 lowercase hex");
	stored_key_refused("\"reusable\":\ttrue", "\"reusable\":\t1",
	                   "authkeys[0].reusable: true or false");
	stored_key_refused("\"uses\":\t0", "\"uses\":\t-1", "authkeys[0].uses: an integer");
	stored_key_refused("\"expires_s\":\t0", "\"expires_s\":\t0.5",
	                   "authkeys[0].expires_s: an integer");
	stored_key_refused("\"tag:web\"", "\"web\"", "authkeys[0].tags: ");
	stored_key_refused("\"created_by\":\t\"alice@example.com\"", "\"created_by\":\t\"a b\"",
	                   "authkeys[0].created_by: a login or");
	stored_key_refused("\"authkeys\":\t[", "\"authkeys\":\t[7, ", "authkeys[0]: an object");
}
