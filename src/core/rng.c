/* xoshiro256** seeded by splitmix64, with machine-independent uniform and normal draws. */
#include "clgan/rng.h"

#include <math.h>

/*
 * The normal draw must give the same bits everywhere, so a fused multiply-add
 * must not replace a multiply and an add (clang honours the pragma; GCC does
 * not contract in ISO C mode, which the build uses).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define LN2       0.6931471805599453094
#define HALF_PI   1.5707963267948966192
#define SQRT_HALF 0.7071067811865475244

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void clg_rng_seed(clg_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

uint64_t clg_rng_next_u64(clg_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float clg_rng_uniform(clg_rng *rng) {
    return (float)(clg_rng_next_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

double clg_rng_uniform_double(clg_rng *rng) {
    return (double)(clg_rng_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t clg_rng_below(clg_rng *rng, uint64_t n) {
    uint64_t threshold, x;

    if (n == 0) return 0;
    /* Values below 2^64 mod n would make small results more likely: draw again. */
    threshold = (0 - n) % n;
    do {
        x = clg_rng_next_u64(rng);
    } while (x < threshold);
    return x % n;
}

void clg_rng_shuffle(clg_rng *rng, size_t *items, size_t count) {
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)clg_rng_below(rng, i);
        size_t t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
}

/* Natural logarithm of x > 0 from frexp and the atanh series; the same bits everywhere. */
static double portable_log(double x) {
    int e;
    double m = frexp(x, &e), s, s2, sum = 0.0;

    if (m < SQRT_HALF) {
        m *= 2.0;
        e--;
    }
    /* log m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), with |s| < 0.172. */
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    for (int k = 23; k >= 1; k -= 2) sum = sum * s2 + 1.0 / k;
    return 2.0 * s * sum + e * LN2;
}

/* Taylor series of cos and sin for |x| <= pi/4, in nested (Horner) form. */
static void series_cos_sin(double x, double *c, double *s) {
    double x2 = x * x, cc = 1.0, ss = 1.0;

    for (int k = 10; k >= 1; k--) {
        cc = 1.0 - x2 / ((2.0 * k - 1.0) * (2.0 * k)) * cc;
        ss = 1.0 - x2 / ((2.0 * k) * (2.0 * k + 1.0)) * ss;
    }
    *c = cc;
    *s = x * ss;
}

/* cos(2 pi u) for u in [0, 1), reduced exactly to an angle within pi/4. */
static double portable_cos_2pi(double u) {
    double t = u * 4.0, f, c, s, cos_t, sin_t;
    int quadrant = (int)t, swapped = 0;

    f = t - quadrant;
    if (f > 0.5) {
        f = 1.0 - f;
        swapped = 1;
    }
    series_cos_sin(f * HALF_PI, &c, &s);
    cos_t = swapped ? s : c;
    sin_t = swapped ? c : s;
    switch (quadrant & 3) {
    case 0:
        return cos_t;
    case 1:
        return -sin_t;
    case 2:
        return -cos_t;
    default:
        return sin_t;
    }
}

float clg_rng_normal(clg_rng *rng, float mean, float std) {
    double u1 = 1.0 - clg_rng_uniform_double(rng); /* in (0, 1], so the log is finite */
    double u2 = clg_rng_uniform_double(rng);
    double z = sqrt(-2.0 * portable_log(u1)) * portable_cos_2pi(u2);
    return mean + std * (float)z;
}
