/* Auth keys (SEC-1, see registry.h): made by an admin, presented by a node
 * that joins, revoked by an admin. The registry keeps the SHA-256 of each
 * key's text, never the text: a key is matched by its public id, then its
 * hash compared in constant time. Keys are few (REG_MAX_AUTHKEYS) and
 * looked up only when a node joins or an admin acts, so a plain array in
 * order of creation, searched linearly, is enough. */
#include "control/registry_int.h"

#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hex.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REG_AUTHKEY_PREFIX_LEN (sizeof(REG_AUTHKEY_PREFIX) - 1)

static bool reg_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool reg_authkey_spent(const struct reg_authkey *k)
{
	return !k->reusable && k->uses > 0;
}

static bool reg_authkey_expired(const struct reg_authkey *k, uint64_t now_s)
{
	return k->expires_s != 0 && now_s >= k->expires_s;
}

bool reg_authkey_usable(const struct reg_authkey *k, uint64_t now_s)
{
	return !k->revoked && !reg_authkey_expired(k, now_s) && !reg_authkey_spent(k);
}

size_t registry_authkey_count(const struct registry *r)
{
	return r->n_authkeys;
}

const struct reg_authkey *registry_authkey(const struct registry *r, size_t index)
{
	return index < r->n_authkeys ? &r->authkeys[index] : NULL;
}

int registry_authkey_index(const struct registry *r, const char *id)
{
	for (size_t i = 0; id && i < r->n_authkeys; i++)
		if (strcmp(r->authkeys[i].id, id) == 0)
			return (int)i;
	return -ENOENT;
}

void reg_authkey_clear(struct reg_authkey *k)
{
	reg_tags_free(k->tags, k->n_tags);
	free(k->created_by);
	memset(k, 0, sizeof(*k));
}

int reg_authkey_add(struct registry *r, const struct reg_authkey *k)
{
	struct reg_authkey c = *k;
	size_t n = 0;

	CHECK(k->n_tags <= REG_MAX_TAGS);
	c.created_by = NULL;
	if (reg_grow((void **)&r->authkeys, &r->cap_authkeys, r->n_authkeys + 1, sizeof(c)) ||
	    reg_strdup(&c.created_by, k->created_by))
		goto nomem;
	for (; n < k->n_tags; n++)
		if (reg_strdup(&c.tags[n], k->tags[n]))
			goto nomem;
	r->authkeys[r->n_authkeys++] = c;
	return 0;
nomem:
	c.n_tags = n;
	reg_authkey_clear(&c);
	return -ENOMEM;
}

/* Removes key i, keeping the others in order of creation. */
static void reg_authkey_remove(struct registry *r, size_t i)
{
	CHECK(i < r->n_authkeys);
	reg_authkey_clear(&r->authkeys[i]);
	memmove(&r->authkeys[i], &r->authkeys[i + 1],
	        (r->n_authkeys - i - 1) * sizeof(r->authkeys[0]));
	r->n_authkeys--;
}

/* At the limit, the oldest key that can no longer let a node in makes
 * room: 0, or -ENOSPC when every key is still usable. */
static int reg_authkey_make_room(struct registry *r, uint64_t now_s, char *err, size_t err_len)
{
	if (r->n_authkeys < REG_MAX_AUTHKEYS)
		return 0;
	for (size_t i = 0; i < r->n_authkeys; i++) {
		if (!reg_authkey_usable(&r->authkeys[i], now_s)) {
			reg_authkey_remove(r, i);
			r->generation++;
			return 0;
		}
	}
	return err_setf(err, err_len, -ENOSPC,
	                "at most %d auth keys, and every one can still be used: revoke one first",
	                REG_MAX_AUTHKEYS);
}

/* The public id a key's random bytes give: the first REG_AUTHKEY_ID_LEN
 * hex digits of a hash of them, so the id reveals nothing of the secret. */
static int reg_authkey_id(const uint8_t random[REG_AUTHKEY_RANDOM], char id[REG_AUTHKEY_ID_LEN + 1])
{
	char text[sizeof("svckey-id:") + 2 * REG_AUTHKEY_RANDOM];
	char sha256[REG_SHA256_HEX_LEN + 1];

	memcpy(text, "svckey-id:", sizeof("svckey-id:") - 1);
	hex_encode(random, REG_AUTHKEY_RANDOM, text + sizeof("svckey-id:") - 1);
	if (reg_sha256_hex(text, sha256) < 0)
		return -ENOMEM;
	memcpy(id, sha256, REG_AUTHKEY_ID_LEN);
	id[REG_AUTHKEY_ID_LEN] = '\0';
	return 0;
}

int registry_authkey_create(struct registry *r, const char *actor, bool reusable,
                            uint64_t expires_s, const char *const *tags, size_t n_tags,
                            uint64_t now_s, const uint8_t random[REG_AUTHKEY_RANDOM], char *key_out,
                            size_t key_len, char *err, size_t err_len)
{
	/* A key without tags joins nodes as the creator's own: any user may
	 * make one. Tags name what a node is: an admin's call. */
	int rc =
	    n_tags ? reg_require_admin(r, actor, "create a tagged auth key", err, err_len)
	    : registry_user(r, actor)
	        ? 0
	        : err_setf(err, err_len, -EPERM, "%.100s may not create an auth key: unknown user",
	                   actor ? actor : "(nobody)");

	if (rc)
		return rc;
	return registry_authkey_issue(r, actor, reusable, expires_s, tags, n_tags, now_s, random,
	                              key_out, key_len, err, err_len);
}

int registry_authkey_issue(struct registry *r, const char *owner, bool reusable, uint64_t expires_s,
                           const char *const *tags, size_t n_tags, uint64_t now_s,
                           const uint8_t random[REG_AUTHKEY_RANDOM], char *key_out, size_t key_len,
                           char *err, size_t err_len)
{
	struct reg_authkey k = {.reusable = reusable, .expires_s = expires_s, .created_s = now_s};
	char text[REG_AUTHKEY_TEXT_LEN + 1];
	int rc;

	CHECK(owner != NULL && random != NULL && key_out != NULL && (n_tags == 0 || tags != NULL));
	if (key_len <= REG_AUTHKEY_TEXT_LEN)
		return err_setf(err, err_len, -EINVAL, "no room for the key's %zu characters",
		                REG_AUTHKEY_TEXT_LEN);
	rc = reg_tags_check(r, "auth key", tags, n_tags, true, true, err, err_len);
	if (rc)
		return rc;
	if (expires_s != 0 && expires_s <= now_s)
		return err_setf(err, err_len, -EINVAL,
		                "auth key: expiry %llu is not after now (%llu, Unix seconds)",
		                (unsigned long long)expires_s, (unsigned long long)now_s);
	if (reg_authkey_id(random, k.id) < 0)
		return err_setf(err, err_len, -ENOMEM, "auth key: the id could not be hashed");
	if (registry_authkey_index(r, k.id) >= 0)
		return err_setf(err, err_len, -EEXIST, "auth key id %s is taken: draw again", k.id);
	snprintf(text, sizeof(text), "%s%s-", REG_AUTHKEY_PREFIX, k.id);
	hex_encode(random, REG_AUTHKEY_RANDOM,
	           text + REG_AUTHKEY_PREFIX_LEN + REG_AUTHKEY_ID_LEN + 1);
	CHECK(strlen(text) == REG_AUTHKEY_TEXT_LEN);
	if (reg_sha256_hex(text, k.secret_sha256) < 0)
		return err_setf(err, err_len, -ENOMEM, "auth key: the secret could not be hashed");
	rc = reg_authkey_make_room(r, now_s, err, err_len);
	if (rc)
		return rc;
	k.n_tags = n_tags;
	if (n_tags)
		memcpy(k.tags, tags, n_tags * sizeof(tags[0]));
	k.created_by = (char *)owner;
	if (reg_authkey_add(r, &k) < 0)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	memcpy(key_out, text, sizeof(text));
	r->generation++;
	return 0;
}

/* "2026-01-02T03:04:05Z" for a Unix time (its number when out of range). */
static const char *reg_utc_text(uint64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;

	if ((uint64_t)t != s || !gmtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%llu (Unix seconds)", (unsigned long long)s);
	return buf;
}

/* Is `text` shaped as a key's text ("svckey-" 12 hex "-" 32 hex)? */
static bool reg_authkey_text_valid(const char *text)
{
	const char *id = text + REG_AUTHKEY_PREFIX_LEN;

	return strlen(text) == REG_AUTHKEY_TEXT_LEN &&
	       strncmp(text, REG_AUTHKEY_PREFIX, REG_AUTHKEY_PREFIX_LEN) == 0 &&
	       reg_lower_hex(id, REG_AUTHKEY_ID_LEN) && id[REG_AUTHKEY_ID_LEN] == '-' &&
	       reg_lower_hex(id + REG_AUTHKEY_ID_LEN + 1, 2 * REG_AUTHKEY_RANDOM);
}

int registry_authkey_check(const struct registry *r, const char *key_text, uint64_t now_s,
                           char *err, size_t err_len)
{
	char id[REG_AUTHKEY_ID_LEN + 1], sha256[REG_SHA256_HEX_LEN + 1], when[48];
	const struct reg_authkey *k;
	int i;

	/* Never echo what was presented: it may be a secret with a typo. */
	if (!key_text || !reg_authkey_text_valid(key_text))
		return err_setf(err, err_len, -EINVAL, "not an auth key (want %s<%d hex>-<%d hex>)",
		                REG_AUTHKEY_PREFIX, REG_AUTHKEY_ID_LEN, 2 * REG_AUTHKEY_RANDOM);
	memcpy(id, key_text + REG_AUTHKEY_PREFIX_LEN, REG_AUTHKEY_ID_LEN);
	id[REG_AUTHKEY_ID_LEN] = '\0';
	i = registry_authkey_index(r, id);
	if (reg_sha256_hex(key_text, sha256) < 0)
		return err_setf(err, err_len, -ENOMEM, "auth key: could not be hashed");
	/* The state of a key is told only to whoever holds its secret: the
	 * id alone is public. */
	if (i < 0 || CRYPTO_memcmp(r->authkeys[i].secret_sha256, sha256, REG_SHA256_HEX_LEN) != 0)
		return err_setf(err, err_len, -ENOENT, "auth key %s%s-... is not known",
		                REG_AUTHKEY_PREFIX, id);
	k = &r->authkeys[i];
	if (k->revoked)
		return err_setf(err, err_len, -EKEYREVOKED, "auth key %s%s-... was revoked",
		                REG_AUTHKEY_PREFIX, id);
	if (reg_authkey_expired(k, now_s))
		return err_setf(err, err_len, -EKEYEXPIRED, "auth key %s%s-... expired at %s",
		                REG_AUTHKEY_PREFIX, id,
		                reg_utc_text(k->expires_s, when, sizeof(when)));
	if (reg_authkey_spent(k))
		return err_setf(err, err_len, -EKEYREVOKED,
		                "auth key %s%s-... is one-off and was already used",
		                REG_AUTHKEY_PREFIX, id);
	return i;
}

void registry_authkey_spend(struct registry *r, size_t index)
{
	CHECK(index < r->n_authkeys);
	r->authkeys[index].uses++;
	r->generation++;
}

int registry_authkey_use(struct registry *r, const char *key_text, uint64_t now_s,
                         const char *const **tags_out, size_t *n_tags_out, char *err,
                         size_t err_len)
{
	int i = registry_authkey_check(r, key_text, now_s, err, err_len);

	if (i < 0)
		return i;
	registry_authkey_spend(r, (size_t)i);
	if (tags_out)
		*tags_out = (const char *const *)r->authkeys[i].tags;
	if (n_tags_out)
		*n_tags_out = r->authkeys[i].n_tags;
	return 0;
}

int registry_authkey_revoke(struct registry *r, const char *actor, const char *id, char *err,
                            size_t err_len)
{
	int rc = reg_require_admin(r, actor, "revoke an auth key", err, err_len);
	int i;

	if (rc)
		return rc;
	i = registry_authkey_index(r, id);
	if (i < 0)
		return err_setf(err, err_len, -ENOENT, "no auth key with id \"%.40s\"",
		                id ? id : "");
	if (r->authkeys[i].revoked)
		return err_setf(err, err_len, -EALREADY, "auth key %s%s-... is already revoked",
		                REG_AUTHKEY_PREFIX, r->authkeys[i].id);
	r->authkeys[i].revoked = true;
	r->generation++;
	return 0;
}
