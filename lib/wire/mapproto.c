/* The map session protocol codec: framing, message parsing and netmap
 * delta application (see mapproto.h). Pure code, no I/O. */
#include "lib/wire/mapproto.h"

#include "lib/base/buf.h"
#include "lib/base/check.h"
#include "lib/base/errfmt.h"
#include "lib/base/hash.h"
#include "lib/base/htab.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Largest integer a JSON number carries exactly. */
#define MP_MAX_SAFE_INT 9007199254740991.0
/* Longest peer name quoted into an error message. */
#define MP_QUOTE_MAX 64

static const char *const mp_type_names[] = {
    [MAPPROTO_NONE] = "none",
    [MAPPROTO_HELLO] = "hello",
    [MAPPROTO_ADVERTISE] = "advertise",
    [MAPPROTO_ACK] = "ack",
    [MAPPROTO_RESYNC] = "resync",
    [MAPPROTO_HEARTBEAT] = "heartbeat",
    [MAPPROTO_WELCOME] = "welcome",
    [MAPPROTO_NETMAP] = "netmap",
    [MAPPROTO_DRAIN_CONFIRMED] = "drain_confirmed",
    [MAPPROTO_ADVERTISE_REFUSED] = "advertise_refused",
    [MAPPROTO_ERROR] = "error",
    [MAPPROTO_LIVENESS] = "liveness",
    [MAPPROTO_ROTATE_KEY] = "rotate_key",
    [MAPPROTO_KEY_ROTATED] = "key_rotated",
};

#define MP_N_TYPES (sizeof(mp_type_names) / sizeof(mp_type_names[0]))

ssize_t mapproto_frame_parse(const uint8_t *buf, size_t len, size_t max_frame,
                             const uint8_t **payload, size_t *payload_len, bool *zlib)
{
	uint32_t n;

	if (len < MAPPROTO_HDR_LEN)
		return -2;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	if (n & MAPPROTO_FRAME_ZLIB) {
		if (!zlib)
			return -1;
		n &= ~MAPPROTO_FRAME_ZLIB;
	}
	if (zlib)
		*zlib = buf[0] & 0x80;
	if (n == 0 || n > max_frame)
		return -1;
	if (len - MAPPROTO_HDR_LEN < n)
		return -2;
	*payload = buf + MAPPROTO_HDR_LEN;
	*payload_len = n;
	return (ssize_t)(MAPPROTO_HDR_LEN + (size_t)n);
}

void mapproto_frame_header(uint8_t hdr[MAPPROTO_HDR_LEN], uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

int mapproto_deflate(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	uLong cap = compressBound((uLong)len);
	uint8_t *buf;

	if (len >= MAPPROTO_FRAME_ZLIB)
		return -EOVERFLOW;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	/* Level 1: most of level 6's gain on JSON at a fraction of the time;
	 * control compresses each large map it sends. */
	uLongf got = cap;
	if (compress2(buf, &got, in, (uLong)len, 1) != Z_OK || got >= len) {
		free(buf);
		return -EOVERFLOW;
	}
	*out = buf;
	*out_len = got;
	return 0;
}

int mapproto_inflate(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *out_len)
{
	z_stream z = {0};
	struct buf b = BUF_INIT(max_out);
	size_t first = len * 4 < max_out ? len * 4 : max_out;
	int zr, rc = 0;

	if (len == 0 || len > UINT32_MAX || max_out == 0)
		return -EINVAL;
	if (buf_reserve(&b, first < 256 && max_out >= 256 ? 256 : first) ||
	    inflateInit(&z) != Z_OK) {
		buf_free(&b);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	for (;;) {
		size_t room = buf_room(&b) < UINT32_MAX ? buf_room(&b) : UINT32_MAX;

		z.next_out = (Bytef *)b.data + b.len;
		z.avail_out = (uInt)room;
		zr = inflate(&z, Z_NO_FLUSH);
		buf_commit(&b, room - z.avail_out);
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_MEM_ERROR) {
			rc = -ENOMEM;
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = -EINVAL;
			break;
		}
		if (z.avail_out > 0) { /* wants input there is none of: truncated */
			rc = -EINVAL;
			break;
		}
		rc = buf_reserve(&b, 1); /* doubles; -E2BIG when max_out is full */
		if (rc)
			break;
	}
	if (rc == 0 && z.avail_in != 0)
		rc = -EINVAL; /* bytes after the stream's end */
	if (rc == 0 && z.total_out == 0)
		rc = -EINVAL;
	*out_len = b.len;
	inflateEnd(&z);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*out = (uint8_t *)buf_take(&b, NULL);
	return *out ? 0 : -ENOMEM;
}

const char *mapproto_type_name(enum mapproto_type t)
{
	if ((size_t)t >= MP_N_TYPES)
		return "unknown";
	return mp_type_names[t];
}

/* Whether bytes [from, len) are JSON whitespace only. */
static bool mp_only_space(const uint8_t *p, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

/* Accepts one JSON object (whitespace around it allowed, nothing else)
 * with a known string "type". */
enum mapproto_type mapproto_parse(const uint8_t *payload, size_t len, cJSON **out, char *err,
                                  size_t err_len)
{
	const char *end = NULL;
	const cJSON *type;
	cJSON *root;

	*out = NULL;
	if (err && err_len)
		err[0] = '\0';
	root = cJSON_ParseWithLengthOpts((const char *)payload, len, &end, false);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= (const char *)payload && at <= (const char *)payload + len
		                 ? (size_t)(at - (const char *)payload)
		                 : len;
		err_setf(err, err_len, 0, "message: invalid JSON near byte %zu", off);
		return MAPPROTO_NONE;
	}
	if (!end || end < (const char *)payload ||
	    !mp_only_space(payload, (size_t)(end - (const char *)payload), len)) {
		err_setf(err, err_len, 0, "message: bytes after the JSON value");
		goto fail;
	}
	if (!cJSON_IsObject(root)) {
		err_setf(err, err_len, 0, "message: expected a JSON object");
		goto fail;
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!type) {
		err_setf(err, err_len, 0, "message.type: missing");
		goto fail;
	}
	if (!cJSON_IsString(type)) {
		err_setf(err, err_len, 0, "message.type: expected a string");
		goto fail;
	}
	for (size_t t = MAPPROTO_NONE + 1; t < MP_N_TYPES; t++) {
		if (strcmp(type->valuestring, mp_type_names[t]) == 0) {
			*out = root;
			return (enum mapproto_type)t;
		}
	}
	err_setf(err, err_len, 0, "message.type: unknown type \"%.*s\"", MP_QUOTE_MAX,
	         type->valuestring);
fail:
	cJSON_Delete(root);
	return MAPPROTO_NONE;
}

/* ---- deltas ------------------------------------------------------------ */

/* A whole number 0..2^53 in member `key` of `obj`. */
static bool mp_get_version(const cJSON *obj, const char *key, uint64_t *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > MP_MAX_SAFE_INT ||
	    item->valuedouble != floor(item->valuedouble))
		return false;
	*out = (uint64_t)item->valuedouble;
	return true;
}

/* The entries of one keyed array (peers, filter) of the copy being
 * changed, by key: what a delta did to each. */
struct mp_entry {
	const char *name; /* points into the item, or the message once removed */
	cJSON *item;      /* NULL: removed */
	bool upserted;
	bool removed;
};

struct mp_entries {
	struct mp_entry *e; /* room for every entry the table will see */
	size_t n;
	struct htab ix; /* name -> e[i] */
};

static bool mp_entry_eq(const void *ctx, size_t idx, const void *key)
{
	return strcmp(((const struct mp_entry *)ctx)[idx].name, key) == 0;
}

static int mp_entries_init(struct mp_entries *t, size_t n)
{
	t->e = calloc(n ? n : 1, sizeof(*t->e));
	if (!t->e || htab_reserve(&t->ix, n))
		return -ENOMEM;
	return 0;
}

static void mp_entries_free(struct mp_entries *t)
{
	free(t->e);
	htab_free(&t->ix);
}

/* The entry for `name`, or NULL. */
static struct mp_entry *mp_entry_find(struct mp_entries *t, const char *name)
{
	long i = htab_find(&t->ix, hash_str(name), mp_entry_eq, t->e, name);

	return i < 0 ? NULL : &t->e[i];
}

/* The entry for `name`, added empty when absent (within the room reserved,
 * so this never allocates). */
static struct mp_entry *mp_entry_get(struct mp_entries *t, const char *name)
{
	struct mp_entry *e = mp_entry_find(t, name);

	if (e)
		return e;
	e = &t->e[t->n];
	*e = (struct mp_entry){.name = name};
	CHECK(htab_insert(&t->ix, hash_str(name), t->n++) == 0);
	return e;
}

/* Arrays a delta changes entry by entry, each entry keyed by a string
 * member; the rest of the map changes through "set". */
struct mp_keyed {
	const char *array, *key, *upsert, *remove;
};

static const struct mp_keyed mp_keyed[] = {
    {"peers", "name", "peers_upsert", "peers_remove"},
    {"filter", "id", "filter_upsert", "filter_remove"},
};

#define MP_N_KEYED (sizeof(mp_keyed) / sizeof(mp_keyed[0]))

static const char *mp_entry_key(const cJSON *entry, const char *key)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(entry, key);

	return cJSON_IsString(k) && k->valuestring[0] ? k->valuestring : NULL;
}

struct mp_sort_item {
	const char *key; /* NULL sorts first */
	cJSON *item;
};

static int mp_cmp_sort_item(const void *a, const void *b)
{
	const char *x = ((const struct mp_sort_item *)a)->key;
	const char *y = ((const struct mp_sort_item *)b)->key;

	if (!x || !y)
		return x ? 1 : (y ? -1 : 0);
	return strcmp(x, y);
}

/* Sorts a keyed array by its key (strcmp), so a map after a delta lists
 * entries in the order control generates them. */
static int mp_sort_keyed(cJSON *arr, const char *key)
{
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	struct mp_sort_item *items;
	cJSON *item;

	if (n < 2)
		return 0;
	items = malloc(n * sizeof(*items));
	if (!items)
		return -ENOMEM;
	cJSON_ArrayForEach(item, arr)
	{
		items[i].key = mp_entry_key(item, key);
		items[i++].item = item;
	}
	for (i = 0; i < n; i++)
		cJSON_DetachItemViaPointer(arr, items[i].item);
	qsort(items, n, sizeof(*items), mp_cmp_sort_item);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, items[i].item);
	free(items);
	return 0;
}

/* Checks one upsert (`is_remove` false) or remove list's shape. */
static int mp_check_list(const cJSON *m, const struct mp_keyed *k, bool is_remove, char *err,
                         size_t err_len)
{
	const cJSON *item;
	size_t i = 0;

	if (!cJSON_IsArray(m))
		return err_setf(err, err_len, -EINVAL, "delta.%s: expected an array", m->string);
	cJSON_ArrayForEach(item, m)
	{
		if (is_remove && (!cJSON_IsString(item) || !item->valuestring[0]))
			return err_setf(err, err_len, -EINVAL,
			                "delta.%s[%zu]: expected a non-empty string", m->string, i);
		if (!is_remove && (!cJSON_IsObject(item) || !mp_entry_key(item, k->key)))
			return err_setf(err, err_len, -EINVAL,
			                "delta.%s[%zu]: expected an object with a non-empty \"%s\"",
			                m->string, i, k->key);
		i++;
	}
	return 0;
}

/* Checks the delta's own shape (members, types, keys) before anything is
 * touched. */
static int mp_check_delta(const cJSON *delta, char *err, size_t err_len)
{
	const cJSON *m, *item;
	int rc;

	if (!cJSON_IsObject(delta))
		return err_setf(err, err_len, -EINVAL, "netmap.delta: expected an object");
	cJSON_ArrayForEach(m, delta)
	{
		bool known = false;

		for (size_t k = 0; k < MP_N_KEYED && !known; k++) {
			bool up = strcmp(m->string, mp_keyed[k].upsert) == 0;
			bool rm = strcmp(m->string, mp_keyed[k].remove) == 0;

			if (!up && !rm)
				continue;
			known = true;
			if ((rc = mp_check_list(m, &mp_keyed[k], rm, err, err_len)))
				return rc;
		}
		if (known)
			continue;
		if (strcmp(m->string, "set") != 0)
			return err_setf(err, err_len, -EINVAL, "delta.%.*s: unknown member",
			                MP_QUOTE_MAX, m->string);
		if (!cJSON_IsObject(m))
			return err_setf(err, err_len, -EINVAL, "delta.set: expected an object");
		cJSON_ArrayForEach(item, m)
		{
			bool keyed = false;

			for (size_t k = 0; k < MP_N_KEYED; k++)
				keyed |= strcmp(item->string, mp_keyed[k].array) == 0;
			if (strcmp(item->string, "version") == 0)
				return err_setf(err, err_len, -EINVAL,
				                "delta.set.version: not settable (the message's "
				                "version applies)");
			if (keyed && (strcmp(item->string, "peers") == 0 ||
			              cJSON_GetObjectItemCaseSensitive(delta, "filter_upsert") ||
			              cJSON_GetObjectItemCaseSensitive(delta, "filter_remove")))
				return err_setf(err, err_len, -EINVAL,
				                "delta.set.%s: not settable (it changes by "
				                "upsert/remove)",
				                item->string);
		}
	}
	return 0;
}

/* The removals of one keyed array, in order: each names an entry the map
 * holds and not one removed before. */
static int mp_apply_removals(cJSON *arr, const struct mp_keyed *k, const cJSON *rm,
                             struct mp_entries *t, char *err, size_t err_len)
{
	const cJSON *c;
	size_t i = 0;

	cJSON_ArrayForEach(c, rm)
	{
		struct mp_entry *s = mp_entry_find(t, c->valuestring);

		if (!s || !s->item)
			return err_setf(err, err_len, -EINVAL,
			                "delta.%s[%zu]: no entry \"%.*s\" in the map", k->remove, i,
			                MP_QUOTE_MAX, c->valuestring);
		/* The key now points into the message, which outlives the table. */
		s->name = c->valuestring;
		cJSON_Delete(cJSON_DetachItemViaPointer(arr, s->item));
		s->item = NULL;
		s->removed = true;
		i++;
	}
	return 0;
}

/* The upserts of one keyed array, in order: each replaces its entry in
 * place or is appended (*appended set); no key is upserted twice or also
 * removed. */
static int mp_apply_upserts(cJSON *arr, const struct mp_keyed *k, const cJSON *up,
                            struct mp_entries *t, bool *appended, char *err, size_t err_len)
{
	const cJSON *c;
	size_t i = 0;

	cJSON_ArrayForEach(c, up)
	{
		const char *name = mp_entry_key(c, k->key);
		struct mp_entry *s = mp_entry_get(t, name);
		cJSON *dup;

		if (s->removed || s->upserted)
			return err_setf(err, err_len, -EINVAL, "delta.%s[%zu]: \"%.*s\" is also %s",
			                k->upsert, i, MP_QUOTE_MAX, name,
			                s->removed ? "removed" : "upserted before");
		dup = cJSON_Duplicate(c, true);
		if (!dup)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		if (s->item) {
			cJSON_ReplaceItemViaPointer(arr, s->item, dup);
		} else {
			cJSON_AddItemToArray(arr, dup);
			*appended = true;
		}
		s->name = mp_entry_key(dup, k->key);
		s->item = dup;
		s->upserted = true;
		i++;
	}
	return 0;
}

/* Applies one keyed array's changes to `map` (a private copy): removals,
 * then upserts (replaced in place or appended; appending restores key
 * order). */
static int mp_apply_keyed(cJSON *map, const struct mp_keyed *k, const cJSON *rm, const cJSON *up,
                          char *err, size_t err_len)
{
	struct mp_entries t = {0};
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(map, k->array), *item;
	bool appended = false;
	int rc;

	if (!cJSON_GetArraySize(rm) && !cJSON_GetArraySize(up))
		return 0;
	if (arr && !cJSON_IsArray(arr))
		return err_setf(err, err_len, -EINVAL, "map.%s: not an array", k->array);
	if (!arr && !(arr = cJSON_AddArrayToObject(map, k->array)))
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	if (mp_entries_init(&t, (size_t)cJSON_GetArraySize(arr) + (size_t)cJSON_GetArraySize(up))) {
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(item, arr)
	{
		const char *name = mp_entry_key(item, k->key);

		if (name)
			mp_entry_get(&t, name)->item = item;
	}
	rc = mp_apply_removals(arr, k, rm, &t, err, err_len);
	if (rc == 0)
		rc = mp_apply_upserts(arr, k, up, &t, &appended, err, err_len);
	if (rc == 0 && appended && mp_sort_keyed(arr, k->key))
		rc = err_setf(err, err_len, -ENOMEM, "out of memory");
out:
	mp_entries_free(&t);
	return rc;
}

/* Replaces (or with null removes) each top-level member named in `set`. */
static int mp_apply_set(cJSON *map, const cJSON *set, char *err, size_t err_len)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, set)
	{
		cJSON *dup;

		if (cJSON_IsNull(m)) {
			cJSON_DeleteItemFromObjectCaseSensitive(map, m->string);
			continue;
		}
		dup = cJSON_Duplicate(m, true);
		if (!dup)
			return err_setf(err, err_len, -ENOMEM, "out of memory");
		if (cJSON_GetObjectItemCaseSensitive(map, m->string))
			cJSON_ReplaceItemInObjectCaseSensitive(map, m->string, dup);
		else
			cJSON_AddItemToObject(map, m->string, dup);
	}
	return 0;
}

/* Validates the whole message first, applies it to a copy, and swaps the
 * copy's members into `map` only when every step succeeded. */
int mapproto_apply_delta(cJSON *map, const cJSON *msg, char *err, size_t err_len)
{
	uint64_t version, base, have;
	const cJSON *delta;
	cJSON *copy, *tmp, *v;
	int rc;

	if (err && err_len)
		err[0] = '\0';
	if (!cJSON_IsObject(map))
		return err_setf(err, err_len, -EINVAL, "map: expected an object");
	if (!cJSON_IsObject(msg))
		return err_setf(err, err_len, -EINVAL, "netmap: expected an object");
	if (!mp_get_version(msg, "version", &version))
		return err_setf(err, err_len, -EINVAL,
		                "netmap.version: expected a whole number >= 0");
	if (!mp_get_version(msg, "base", &base))
		return err_setf(err, err_len, -EINVAL, "netmap.base: expected a whole number >= 0");
	delta = cJSON_GetObjectItemCaseSensitive(msg, "delta");
	if (!delta)
		return err_setf(err, err_len, -EINVAL, "netmap.delta: missing");
	if ((rc = mp_check_delta(delta, err, err_len)))
		return rc;
	if (!mp_get_version(map, "version", &have) || have != base)
		return err_setf(err, err_len, -ESTALE,
		                "netmap.base: %llu, but the map held is not that version",
		                (unsigned long long)base);

	copy = cJSON_Duplicate(map, true);
	if (!copy)
		return err_setf(err, err_len, -ENOMEM, "out of memory");
	rc = 0;
	for (size_t k = 0; k < MP_N_KEYED && !rc; k++)
		rc = mp_apply_keyed(
		    copy, &mp_keyed[k], cJSON_GetObjectItemCaseSensitive(delta, mp_keyed[k].remove),
		    cJSON_GetObjectItemCaseSensitive(delta, mp_keyed[k].upsert), err, err_len);
	if (!rc)
		rc = mp_apply_set(copy, cJSON_GetObjectItemCaseSensitive(delta, "set"), err,
		                  err_len);
	if (!rc) {
		v = cJSON_CreateNumber((double)version);
		if (!v || !cJSON_ReplaceItemInObjectCaseSensitive(copy, "version", v)) {
			cJSON_Delete(v);
			rc = err_setf(err, err_len, -ENOMEM, "out of memory");
		}
	}
	if (rc) {
		cJSON_Delete(copy);
		return rc;
	}
	/* cJSON items carry no parent pointer: swapping the member lists
	 * moves the whole new content under the caller's root. */
	tmp = map->child;
	map->child = copy->child;
	copy->child = tmp;
	cJSON_Delete(copy);
	return 0;
}
