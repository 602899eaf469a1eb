/* SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): one add and a 64-bit mix per number, and any
 * seed, zero included, gives a full-period stream. */
#include "kernel/random.h"

static u64 mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(struct rng *r, u64 seed, u64 stream)
{
	r->state = mix64(seed) ^ mix64(stream + 0x9e3779b97f4a7c15ull);
}

u64 rng_next(struct rng *r)
{
	r->state += 0x9e3779b97f4a7c15ull;
	return mix64(r->state);
}

u64 rng_range(struct rng *r, u64 lo, u64 hi)
{
	u64 span = hi - lo + 1;

	if (span == 0)		/* the whole 64-bit range */
		return rng_next(r);
	/* Rejection sampling keeps the result uniform. */
	u64 limit = UINT64_MAX - UINT64_MAX % span;
	u64 x;

	do
		x = rng_next(r);
	while (x >= limit);
	return lo + x % span;
}
