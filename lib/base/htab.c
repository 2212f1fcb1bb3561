/* The one hash table (htab.h): an open-addressing index of (hash, index)
 * pairs over the caller's own array of items. */
#include "lib/base/htab.h"

#include "lib/base/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HTAB_MIN_CAP 16

void htab_free(struct htab *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* Puts an entry into a table known to have a free slot. */
static void htab_place(struct htab *t, uint64_t hash, size_t idx1)
{
	size_t mask = t->cap - 1, i = (size_t)hash & mask;

	while (t->slots[i].idx1)
		i = (i + 1) & mask;
	t->slots[i].hash = hash;
	t->slots[i].idx1 = idx1;
	t->n++;
}

/* Moves every entry into a table of `cap` slots. */
static int htab_rehash(struct htab *t, size_t cap)
{
	struct htab big = {.cap = cap};

	big.slots = calloc(cap, sizeof(*big.slots));
	if (!big.slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].idx1)
			htab_place(&big, t->slots[i].hash, t->slots[i].idx1);
	free(t->slots);
	*t = big;
	return 0;
}

int htab_reserve(struct htab *t, size_t n)
{
	size_t cap = t->cap ? t->cap : HTAB_MIN_CAP;

	while (n > cap / 2) {
		if (cap > SIZE_MAX / 2 / sizeof(struct htab_slot))
			return -ENOMEM;
		cap *= 2;
	}
	return cap == t->cap ? 0 : htab_rehash(t, cap);
}

int htab_insert(struct htab *t, uint64_t hash, size_t idx)
{
	int rc = htab_reserve(t, t->n + 1);

	if (rc)
		return rc;
	htab_place(t, hash, idx + 1);
	return 0;
}

long htab_find(const struct htab *t, uint64_t hash, htab_eq_fn eq, const void *ctx, const void *key)
{
	size_t mask, i;

	if (!t->cap)
		return -1;
	mask = t->cap - 1;
	for (i = (size_t)hash & mask; t->slots[i].idx1; i = (i + 1) & mask)
		if (t->slots[i].hash == hash && eq(ctx, t->slots[i].idx1 - 1, key))
			return (long)(t->slots[i].idx1 - 1);
	return -1;
}

/* The slot holding (hash -> idx); the entry must be present. */
static size_t htab_slot_of(const struct htab *t, uint64_t hash, size_t idx)
{
	size_t mask = t->cap - 1, i;

	CHECK(t->cap);
	for (i = (size_t)hash & mask; t->slots[i].idx1 != idx + 1 || t->slots[i].hash != hash;
	     i = (i + 1) & mask)
		CHECK(t->slots[i].idx1);
	return i;
}

void htab_remove(struct htab *t, uint64_t hash, size_t idx)
{
	size_t mask = t->cap - 1, hole = htab_slot_of(t, hash, idx), j;

	for (j = (hole + 1) & mask; t->slots[j].idx1; j = (j + 1) & mask) {
		size_t home = (size_t)t->slots[j].hash & mask;
		/* j moves into the hole unless its home lies cyclically in (hole, j]. */
		bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);

		if (!stays) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole].idx1 = 0;
	t->n--;
}

void htab_retarget(struct htab *t, uint64_t hash, size_t from, size_t to)
{
	t->slots[htab_slot_of(t, hash, from)].idx1 = to + 1;
}
