/* The one hash: FNV-1a 64 over bytes, and splitmix64's finalizer to spread
 * its weak bits when the value picks a table slot. rng.h draws its seeding
 * sequence from the same finalizer. Every value here is part of the output
 * wherever a hash decides an order or a digest is printed, so these
 * functions never change. */
#ifndef LIB_BASE_HASH_H
#define LIB_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_INIT  0xcbf29ce484222325ull /* FNV-1a 64 offset basis */
#define HASH_FNV1A_PRIME 0x100000001b3ull
#define HASH_GOLDEN64    0x9e3779b97f4a7c15ull /* 2^64 / phi: splitmix64's step */

/* Continues FNV-1a 64 from `h` (HASH_FNV1A_INIT to start) over n bytes;
 * feeding a key in pieces gives the same value as feeding it whole. */
static inline uint64_t hash_fnv1a(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = (const uint8_t *)data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= HASH_FNV1A_PRIME;
	}
	return h;
}

/* hash_fnv1a over the bytes of s, without its NUL. */
static inline uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= HASH_FNV1A_PRIME;
	}
	return h;
}

/* splitmix64's finalizer: every input bit reaches every output bit, and it
 * is a bijection (distinct inputs stay distinct). */
static inline uint64_t hash_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A one-multiply finalizer, weaker than hash_mix64. It stays because
 * control's map generation orders sources by it (changing it would change
 * generated maps); new code uses hash_mix64. */
static inline uint64_t hash_mix64_lite(uint64_t x)
{
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 32);
}

/* The table hash of n bytes: FNV-1a, then mixed. */
static inline uint64_t hash_bytes(const void *data, size_t n)
{
	return hash_mix64(hash_fnv1a(HASH_FNV1A_INIT, data, n));
}

/* The table hash of a string (its bytes, without the NUL). */
static inline uint64_t hash_str(const char *s)
{
	return hash_mix64(hash_fnv1a_str(HASH_FNV1A_INIT, s));
}

/* Folds one 64-bit word into a running hash `h` (a seed to start): for keys
 * made of whole words, cheaper than hashing their bytes; the order of the
 * words counts. */
static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
	return hash_mix64(h ^ w) + HASH_GOLDEN64;
}

#endif
