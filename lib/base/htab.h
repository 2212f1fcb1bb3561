/* The one hash table: an index from keys to the positions of items the
 * caller keeps in its own array (peers of a netmap, nodes of the registry,
 * flows of the data plane). The table holds (hash, index) pairs only; the
 * caller hashes a key (hash.h) and says, through a callback, whether the
 * item at an index has that key. Open addressing with linear probing, at
 * most half full, deletion by backward shift (no tombstones).
 *
 * Nothing iterates the table: whoever needs all items walks the caller's
 * array, so the order of any output never depends on hash values. A zeroed
 * struct htab is an empty table. */
#ifndef LIB_BASE_HTAB_H
#define LIB_BASE_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab_slot {
	uint64_t hash;
	size_t idx1; /* index + 1; 0: empty */
};

struct htab {
	size_t cap, n; /* cap: 0 or a power of two */
	struct htab_slot *slots;
};

/* Does the item at `idx` of the caller's array (found through ctx) have
 * this key? */
typedef bool (*htab_eq_fn)(const void *ctx, size_t idx, const void *key);

/* Frees the slots; the table is empty (and reusable) afterwards. */
void htab_free(struct htab *t);

/* Makes room for n entries in all, so that inserting up to n never
 * allocates (nor fails). Returns 0 or -ENOMEM (the table is unchanged). */
int htab_reserve(struct htab *t, size_t n);

/* Adds (hash -> idx), growing as needed. The caller has checked that the
 * key is absent if keys must be unique. Returns 0 or -ENOMEM. */
int htab_insert(struct htab *t, uint64_t hash, size_t idx);

/* The index of the item whose key is `key` (eq(ctx, index, key) true),
 * or -1 when there is none. */
long htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *ctx,
               const void *key);

/* Removes the entry (hash -> idx), which must be present. */
void htab_remove(struct htab *t, uint64_t hash, size_t idx);

/* Makes the entry (hash -> from), which must be present, point at `to`
 * (the caller moved the item within its array). */
void htab_retarget(struct htab *t, uint64_t hash, size_t from, size_t to);

#endif
