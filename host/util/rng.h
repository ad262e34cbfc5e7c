/* Deterministic random numbers: xoshiro256** seeded through splitmix64. The same seed gives the
 * same stream on every machine, which is what makes runs reproducible bit for bit. */
#ifndef LETHE_RNG_H
#define LETHE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s[4];
};

/* Seeds from (seed, stream): different streams of one seed are independent. */
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(struct rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(struct rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached second value, so the stream position is simple). */
double rng_normal(struct rng *r);
/* Fisher-Yates shuffle of n 32-bit values. */
void rng_shuffle_u32(struct rng *r, uint32_t *v, size_t n);
void rng_shuffle_u64(struct rng *r, uint64_t *v, size_t n);

#endif
