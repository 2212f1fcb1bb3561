/* lib/base/hash.h: FNV-1a 64 and the splitmix64 finalizer give the
 * published values (outputs that depend on them stay the same), pieces hash
 * like the whole, and rng.h's seeding is splitmix64 through hash_mix64. */
#include "lib/base/hash.h"
#include "lib/base/rng.h"

#include <criterion/criterion.h>
#include <string.h>

Test(hash, fnv1a_gives_the_published_values)
{
	cr_assert_eq(hash_fnv1a(HASH_FNV1A_INIT, "", 0), 0xcbf29ce484222325ull);
	cr_assert_eq(hash_fnv1a(HASH_FNV1A_INIT, "a", 1), 0xaf63dc4c8601ec8cull);
	cr_assert_eq(hash_fnv1a(HASH_FNV1A_INIT, "foobar", 6), 0x85944171f73967e8ull);
	cr_assert_eq(hash_fnv1a_str(HASH_FNV1A_INIT, "foobar"), 0x85944171f73967e8ull);
}

Test(hash, fnv1a_in_pieces_equals_whole)
{
	const char *s = "peer-17.tailnet.example";
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, s, 7);

	cr_assert_eq(hash_fnv1a(h, s + 7, strlen(s) - 7), hash_fnv1a_str(HASH_FNV1A_INIT, s));
}

Test(hash, mix64_is_the_splitmix64_finalizer)
{
	/* splitmix64 seeded with 0: the first outputs of the reference code. */
	uint64_t state = 0;

	cr_assert_eq(rng_splitmix64(&state), 0xe220a8397b1dcdafull);
	cr_assert_eq(rng_splitmix64(&state), 0x6e789e6aa1b965f4ull);
	cr_assert_eq(hash_mix64(HASH_GOLDEN64), 0xe220a8397b1dcdafull);
	cr_assert_eq(hash_mix64(0), 0);
}

Test(hash, mix64_lite_is_one_multiply_between_two_folds)
{
	uint64_t x = 0x0123456789abcdefull, y = x ^ (x >> 29);

	y *= 0xbf58476d1ce4e5b9ull;
	cr_assert_eq(hash_mix64_lite(x), y ^ (y >> 32));
}

Test(hash, table_hashes_are_mixed_fnv)
{
	cr_assert_eq(hash_str("web"), hash_mix64(hash_fnv1a(HASH_FNV1A_INIT, "web", 3)));
	cr_assert_eq(hash_bytes("web", 3), hash_str("web"));
	cr_assert_neq(hash_word(hash_word(0, 1), 2), hash_word(hash_word(0, 2), 1));
	cr_assert_neq(hash_word(0, 0), 0);
}
