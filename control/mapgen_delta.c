/* Per-session memory of the last map sent and the messages that bring a
 * session up to date: a full map, or a delta of the top-level members and
 * keyed entries that changed (lib/wire/mapproto.h). */
#include "control/mapgen_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-session memory and messages --------------------------------- */

/* Arrays a delta changes entry by entry (see mapproto.h), keyed by a
 * string member of each entry. */
static const struct {
	const char *array, *key, *upsert, *remove;
} mg_keyed[] = {
    {"peers", "name", "peers_upsert", "peers_remove"},
    {"filter", "id", "filter_upsert", "filter_remove"},
};

#define MG_N_KEYED (sizeof(mg_keyed) / sizeof(mg_keyed[0]))

/* A map's keyed entries by name: open addressing of its own (not
 * lib/base/htab.h) because a delta lists removed entries in this table's
 * slot order, so the slots, their hash (hash_mix64_lite) and the table's
 * size are part of every delta's bytes. */
struct mg_dslot {
	char *name; /* NULL: empty */
	uint64_t digest;
};

struct mg_dtable {
	size_t mask;
	struct mg_dslot *slots;
};

/* What one map looked like: a digest per top-level member but "version"
 * and the keyed arrays, and per entry of those by key. */
struct mg_state {
	bool valid;
	uint64_t version;
	size_t n_sections;
	char *section_key[MG_MAX_SECTIONS];
	uint64_t section_digest[MG_MAX_SECTIONS];
	struct mg_dtable keyed[MG_N_KEYED];
};

struct mapgen_sent {
	struct mg_state st;
};

static void mg_state_clear(struct mg_state *st)
{
	for (size_t i = 0; i < st->n_sections; i++)
		free(st->section_key[i]);
	for (size_t k = 0; k < MG_N_KEYED; k++) {
		for (size_t i = 0; st->keyed[k].slots && i <= st->keyed[k].mask; i++)
			free(st->keyed[k].slots[i].name);
		free(st->keyed[k].slots);
	}
	memset(st, 0, sizeof(*st));
}

struct mapgen_sent *mapgen_sent_new(void)
{
	return calloc(1, sizeof(struct mapgen_sent));
}

void mapgen_sent_free(struct mapgen_sent *s)
{
	if (!s)
		return;
	mg_state_clear(&s->st);
	free(s);
}

void mapgen_sent_reset(struct mapgen_sent *s)
{
	mg_state_clear(&s->st);
}

/* The slots of a delta table for n entries: a power of two, at most
 * half full. */
static size_t mg_cap_for(size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap <<= 1;
	return cap;
}

static struct mg_dslot *mg_dfind(const struct mg_dtable *t, const char *name)
{
	size_t i = (size_t)hash_mix64_lite(hash_fnv1a_str(HASH_FNV1A_INIT, name)) & t->mask;

	while (t->slots[i].name && strcmp(t->slots[i].name, name) != 0)
		i = (i + 1) & t->mask;
	return &t->slots[i];
}

/* Digest of an item's compact text; *len gets the text's length. */
static int mg_digest(const cJSON *item, uint64_t *digest, size_t *len)
{
	char *text = cJSON_PrintUnformatted(item);

	if (!text)
		return -ENOMEM;
	*len = strlen(text);
	*digest = hash_fnv1a(HASH_FNV1A_INIT, text, *len);
	free(text);
	return 0;
}

static const char *mg_entry_key(const cJSON *entry, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(entry, key);

	return cJSON_IsString(n) && n->valuestring[0] ? n->valuestring : NULL;
}

static int mg_keyed_index(const char *member)
{
	for (size_t k = 0; k < MG_N_KEYED; k++)
		if (strcmp(member, mg_keyed[k].array) == 0)
			return (int)k;
	return -1;
}

/* Records keyed array `arr` (entries keyed by `key`) into `t`; adds the
 * array's compact length to *full_len. -EINVAL when an entry has no key
 * or a key repeats. */
static int mg_dtable_build(struct mg_dtable *t, const cJSON *arr, const char *key, size_t *full_len)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), cap = mg_cap_for(n), len;
	const cJSON *e;
	uint64_t d;
	int rc;

	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = cap - 1;
	*full_len += n ? 1 + n : 2; /* brackets and commas */
	cJSON_ArrayForEach(e, arr)
	{
		const char *name = mg_entry_key(e, key);
		struct mg_dslot *slot;

		if (!name || !cJSON_IsObject(e))
			return -EINVAL;
		slot = mg_dfind(t, name);
		if (slot->name)
			return -EINVAL;
		if ((rc = mg_digest(e, &d, &len)))
			return rc;
		*full_len += len;
		slot->name = strdup(name);
		if (!slot->name)
			return -ENOMEM;
		slot->digest = d;
	}
	return 0;
}

/* Records `map` into `st`; *full_len gets the length of the map's compact
 * text (exact for plain keys). -EINVAL when the map cannot be tracked
 * entry by entry (then only full maps are sent). */
static int mg_state_build(struct mg_state *st, const cJSON *map, size_t *full_len)
{
	const cJSON *m;
	size_t len;
	uint64_t d;
	int rc, k;

	*full_len = map->child ? 1 : 2; /* braces, less the last comma */
	for (size_t i = 0; i < MG_N_KEYED; i++) {
		size_t cap = mg_cap_for(0);
		st->keyed[i].slots = calloc(cap, sizeof(*st->keyed[i].slots));
		if (!st->keyed[i].slots)
			return -ENOMEM;
		st->keyed[i].mask = cap - 1;
	}
	cJSON_ArrayForEach(m, map)
	{
		if (!m->string)
			return -EINVAL;
		*full_len += strlen(m->string) + 4; /* "key": and a comma */
		if ((k = mg_keyed_index(m->string)) >= 0) {
			if (!cJSON_IsArray(m))
				return -EINVAL;
			free(st->keyed[k].slots);
			st->keyed[k].slots = NULL;
			if ((rc = mg_dtable_build(&st->keyed[k], m, mg_keyed[k].key, full_len)))
				return rc;
			continue;
		}
		if ((rc = mg_digest(m, &d, &len)))
			return rc;
		*full_len += len;
		if (strcmp(m->string, "version") == 0)
			continue;
		if (st->n_sections == MG_MAX_SECTIONS)
			return -EINVAL;
		st->section_key[st->n_sections] = strdup(m->string);
		if (!st->section_key[st->n_sections])
			return -ENOMEM;
		st->section_digest[st->n_sections++] = d;
	}
	st->valid = true;
	return 0;
}

static bool mg_get_version(const cJSON *map, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, "version");

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

/* Adds keyed array k's upserts and removals from `old` to `now`. */
static int mg_delta_keyed(const struct mg_state *old, const struct mg_state *now, size_t k,
                          const cJSON *map, cJSON *delta)
{
	const struct mg_dtable *ot = &old->keyed[k], *nt = &now->keyed[k];
	cJSON *up = NULL, *rm = NULL;
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(map, mg_keyed[k].array))
	{
		const char *name = mg_entry_key(e, mg_keyed[k].key);
		const struct mg_dslot *o = mg_dfind(ot, name);

		if (o->name && o->digest == mg_dfind(nt, name)->digest)
			continue;
		if (!up && !(up = cJSON_AddArrayToObject(delta, mg_keyed[k].upsert)))
			return -ENOMEM;
		if (!cJSON_AddItemToArray(up, cJSON_Duplicate(e, true)))
			return -ENOMEM;
	}
	for (size_t i = 0; i <= ot->mask; i++) {
		const char *name = ot->slots[i].name;
		if (!name || mg_dfind(nt, name)->name)
			continue;
		if (!rm && !(rm = cJSON_AddArrayToObject(delta, mg_keyed[k].remove)))
			return -ENOMEM;
		if (!cJSON_AddItemToArray(rm, cJSON_CreateString(name)))
			return -ENOMEM;
	}
	return 0;
}

/* The delta from `old` to `map` (whose state is `now`) as a message
 * object, or NULL: with *changed false when nothing changed, else out of
 * memory. */
static cJSON *mg_delta(const struct mg_state *old, const struct mg_state *now, const cJSON *map,
                       uint64_t version, bool *changed)
{
	cJSON *msg = cJSON_CreateObject(), *delta, *set = NULL;

	*changed = true; /* a NULL return then means out of memory */
	if (!msg)
		return NULL;
	if (!cJSON_AddStringToObject(msg, "type", "netmap") ||
	    !cJSON_AddNumberToObject(msg, "version", (double)version) ||
	    !cJSON_AddNumberToObject(msg, "base", (double)old->version) ||
	    !(delta = cJSON_AddObjectToObject(msg, "delta")))
		goto nomem;
	for (size_t k = 0; k < MG_N_KEYED; k++)
		if (mg_delta_keyed(old, now, k, map, delta))
			goto nomem;
	for (size_t i = 0; i < now->n_sections; i++) {
		size_t j = 0;
		while (j < old->n_sections && strcmp(old->section_key[j], now->section_key[i]) != 0)
			j++;
		if (j < old->n_sections && old->section_digest[j] == now->section_digest[i])
			continue;
		if (!set && !(set = cJSON_AddObjectToObject(delta, "set")))
			goto nomem;
		if (!cJSON_AddItemToObject(
		        set, now->section_key[i],
		        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(map, now->section_key[i]),
		                        true)))
			goto nomem;
	}
	for (size_t j = 0; j < old->n_sections; j++) {
		size_t i = 0;
		while (i < now->n_sections && strcmp(old->section_key[j], now->section_key[i]) != 0)
			i++;
		if (i < now->n_sections)
			continue;
		if (!set && !(set = cJSON_AddObjectToObject(delta, "set")))
			goto nomem;
		if (!cJSON_AddItemToObject(set, old->section_key[j], cJSON_CreateNull()))
			goto nomem;
	}
	*changed = delta->child != NULL;
	if (!*changed) {
		cJSON_Delete(msg);
		return NULL;
	}
	return msg;
nomem:
	cJSON_Delete(msg);
	return NULL;
}

/* The full message, printed (the map is referenced, not copied). */
static char *mg_full_text(const cJSON *map, uint64_t version)
{
	cJSON *msg = cJSON_CreateObject();
	char *text = NULL;

	if (!msg)
		return NULL;
	if (cJSON_AddStringToObject(msg, "type", "netmap") &&
	    cJSON_AddNumberToObject(msg, "version", (double)version) &&
	    cJSON_AddItemReferenceToObject(msg, "full", (cJSON *)map))
		text = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	return text;
}

char *mapgen_message(struct mapgen_sent *sent, const cJSON *map, bool *is_delta, size_t *len)
{
	struct mg_state now = {0};
	uint64_t version;
	size_t full_len = 0;
	char *text = NULL;
	bool trackable, changed = true;
	int rc;

	*is_delta = false;
	if (len)
		*len = 0;
	if (!cJSON_IsObject(map) || !mg_get_version(map, &version)) {
		errno = EINVAL;
		return NULL;
	}
	rc = mg_state_build(&now, map, &full_len);
	if (rc == -ENOMEM)
		goto nomem;
	trackable = rc == 0;
	now.version = version;
	if (trackable && sent->st.valid) {
		cJSON *msg = mg_delta(&sent->st, &now, map, version, &changed);

		if (!changed) {
			mg_state_clear(&now);
			errno = 0;
			return NULL;
		}
		if (!msg)
			goto nomem;
		text = cJSON_PrintUnformatted(msg);
		cJSON_Delete(msg);
		if (!text)
			goto nomem;
		/* The full message: {"type":"netmap","version":V,"full":MAP} */
		char digits[24];
		size_t full_msg =
		    full_len + 36 +
		    (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)version);
		if (strlen(text) < full_msg) {
			*is_delta = true;
		} else {
			free(text);
			text = NULL;
		}
	}
	if (!text && !(text = mg_full_text(map, version)))
		goto nomem;
	mg_state_clear(&sent->st);
	if (trackable)
		sent->st = now;
	else
		mg_state_clear(&now);
	if (len)
		*len = strlen(text);
	return text;
nomem:
	mg_state_clear(&now);
	*is_delta = false;
	errno = ENOMEM;
	return NULL;
}
