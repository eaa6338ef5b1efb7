/* clgan's seeded pseudo-random numbers: the same seed gives the same numbers everywhere. */
#ifndef CLGAN_RNG_H
#define CLGAN_RNG_H

/*
 * A clg_rng is a small value (no allocation) holding the state of a
 * xoshiro256** generator. clg_rng_seed() expands a 64-bit seed into that
 * state with splitmix64, so any seed, including 0, is fine, and nearby seeds
 * give unrelated streams. Copying the struct forks the stream.
 *
 * Every function here gives bit-identical results on every machine and
 * compiler: the uniforms are built from integer bits, clg_rng_below() rejects
 * instead of taking a biased modulo, and clg_rng_normal() (Box-Muller) uses
 * the library's own logarithm and cosine, written in plain double arithmetic,
 * rather than the C library's, whose last bits differ between systems.
 *
 * The library uses one of these wherever it needs chance: weight
 * initialisation, data augmentation and shuffling, and the image pool. A
 * clg_rng is not thread-safe; give each thread its own.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_rng {
    uint64_t s[4];
} clg_rng;

/* Start the stream for seed. */
void clg_rng_seed(clg_rng *rng, uint64_t seed);

/* The next 64 random bits. */
uint64_t clg_rng_next_u64(clg_rng *rng);

/* A float uniform in [0, 1), a multiple of 2^-24. */
float clg_rng_uniform(clg_rng *rng);

/* A double uniform in [0, 1), a multiple of 2^-53. */
double clg_rng_uniform_double(clg_rng *rng);

/* A normal deviate with the given mean and standard deviation (one Box-Muller draw). */
float clg_rng_normal(clg_rng *rng, float mean, float std);

/* An unbiased integer in [0, n); 0 when n is 0. */
uint64_t clg_rng_below(clg_rng *rng, uint64_t n);

/* Shuffle count items in place (Fisher-Yates, from the last element down). */
void clg_rng_shuffle(clg_rng *rng, size_t *items, size_t count);

#ifdef __cplusplus
}
#endif

#endif
