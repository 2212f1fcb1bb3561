/* lib/base/htab.h: an index over the caller's array finds what was
 * inserted, forgets what was removed (probe chains stay whole when entries
 * move back), follows retargeted items, and never allocates within what
 * was reserved. */
#include "lib/base/hash.h"
#include "lib/base/htab.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define N 500

struct names {
	char name[N][16];
};

static bool name_eq(const void *ctx, size_t idx, const void *key)
{
	const struct names *ns = ctx;

	return strcmp(ns->name[idx], key) == 0;
}

static void fill(struct names *ns)
{
	for (int i = 0; i < N; i++)
		snprintf(ns->name[i], sizeof(ns->name[i]), "node-%d", i);
}

Test(htab, empty_table_finds_nothing)
{
	struct htab t = {0};
	struct names ns;

	fill(&ns);
	cr_assert_eq(htab_find(&t, hash_str("node-1"), name_eq, &ns, "node-1"), -1);
	htab_free(&t);
}

Test(htab, finds_every_inserted_key_and_no_other)
{
	static struct names ns;
	struct htab t = {0};

	fill(&ns);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(htab_insert(&t, hash_str(ns.name[i]), i), 0);
	cr_assert_eq(t.n, N);
	cr_assert_leq(t.n * 2, t.cap);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(htab_find(&t, hash_str(ns.name[i]), name_eq, &ns, ns.name[i]),
		             (long)i);
	cr_assert_eq(htab_find(&t, hash_str("node-x"), name_eq, &ns, "node-x"), -1);
	htab_free(&t);
	cr_assert_eq(t.cap, 0);
}

/* Every key hashes to the same slot: removal must shift the chain back. */
static uint64_t colliding(size_t i)
{
	return 7 + ((uint64_t)i << 40);
}

Test(htab, removal_keeps_colliding_chains_reachable)
{
	static struct names ns;
	struct htab t = {0};

	fill(&ns);
	for (size_t i = 0; i < 40; i++)
		cr_assert_eq(htab_insert(&t, colliding(i), i), 0);
	for (size_t i = 0; i < 40; i += 3)
		htab_remove(&t, colliding(i), i);
	for (size_t i = 0; i < 40; i++) {
		long want = i % 3 ? (long)i : -1;
		cr_assert_eq(htab_find(&t, colliding(i), name_eq, &ns, ns.name[i]), want, "i=%zu",
		             i);
	}
	htab_free(&t);
}

/* Keys whose full hashes are equal are told apart by the caller's eq. */
Test(htab, equal_hashes_are_told_apart_by_the_key)
{
	static struct names ns;
	struct htab t = {0};

	fill(&ns);
	for (size_t i = 0; i < 10; i++)
		cr_assert_eq(htab_insert(&t, 42, i), 0);
	for (size_t i = 0; i < 10; i++)
		cr_assert_eq(htab_find(&t, 42, name_eq, &ns, ns.name[i]), (long)i, "i=%zu", i);
	cr_assert_eq(htab_find(&t, 42, name_eq, &ns, "node-x"), -1);
	htab_free(&t);
}

Test(htab, same_index_under_two_hashes_removes_the_named_one)
{
	static struct names ns;
	struct htab t = {0};

	fill(&ns);
	strcpy(ns.name[1], "alias");
	cr_assert_eq(htab_insert(&t, 5, 1), 0);
	cr_assert_eq(htab_insert(&t, 5 + 16, 1), 0); /* same home slot */
	htab_remove(&t, 5 + 16, 1);
	cr_assert_eq(htab_find(&t, 5, name_eq, &ns, "alias"), 1);
	cr_assert_eq(htab_find(&t, 5 + 16, name_eq, &ns, "alias"), -1);
	htab_free(&t);
}

Test(htab, retarget_follows_a_moved_item)
{
	static struct names ns;
	struct htab t = {0};

	fill(&ns);
	cr_assert_eq(htab_insert(&t, hash_str(ns.name[9]), 9), 0);
	strcpy(ns.name[2], ns.name[9]);
	htab_retarget(&t, hash_str(ns.name[9]), 9, 2);
	cr_assert_eq(htab_find(&t, hash_str("node-9"), name_eq, &ns, "node-9"), 2);
	htab_free(&t);
}

Test(htab, reserve_sizes_once)
{
	static struct names ns;
	struct htab t = {0};
	struct htab_slot *slots;

	fill(&ns);
	cr_assert_eq(htab_reserve(&t, N), 0);
	slots = t.slots;
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(htab_insert(&t, hash_str(ns.name[i]), i), 0);
	cr_assert_eq(t.slots, slots, "no growth within the reservation");
	htab_free(&t);
}
