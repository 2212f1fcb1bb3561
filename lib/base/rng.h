/* The seam's pseudo-random generator, shared by the epoll and the simulated
 * backends so that both draw from the same algorithm: xoshiro256** (Blackman
 * and Vigna, public domain) seeded through splitmix64, whose finalizer is
 * hash.h's hash_mix64. The state is a caller-owned uint64_t[RNG_STATE_WORDS];
 * nothing here keeps state of its own. */
#ifndef LIB_BASE_RNG_H
#define LIB_BASE_RNG_H

#include "lib/base/hash.h"

#include <stddef.h>
#include <stdint.h>

#define RNG_STATE_WORDS 4

static inline uint64_t rng_rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Advances *state and returns the next splitmix64 output: turns any seed,
 * zero included, into well-mixed words. */
static inline uint64_t rng_splitmix64(uint64_t *state)
{
	return hash_mix64(*state += HASH_GOLDEN64);
}

/* Fills s from seed; the same seed always gives the same stream, and the
 * resulting state is never all zero. */
static inline void rng_seed(uint64_t s[RNG_STATE_WORDS], uint64_t seed)
{
	for (int i = 0; i < RNG_STATE_WORDS; i++)
		s[i] = rng_splitmix64(&seed);
}

/* Returns the next xoshiro256** output and advances s. */
static inline uint64_t rng_next_u64(uint64_t s[RNG_STATE_WORDS])
{
	uint64_t result = rng_rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl64(s[3], 45);
	return result;
}

/* len bytes of the stream (little-endian words) into buf. */
static inline void rng_fill(uint64_t s[RNG_STATE_WORDS], void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t r = rng_next_u64(s);
		for (size_t b = 0; b < 8 && i + b < len; b++)
			p[i + b] = (uint8_t)(r >> (8 * b));
	}
}

#endif
