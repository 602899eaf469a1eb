/* Seeded pseudo-random numbers: every random choice a run makes comes from
 * seed= so that a failure replays. Shared with the host unit tests. */
#ifndef PT_RANDOM_H
#define PT_RANDOM_H

#include "kernel/types.h"

struct rng {
	u64 state;
};

/* Independent streams from one seed: one per CPU, per test, ... */
void rng_seed(struct rng *r, u64 seed, u64 stream);
u64 rng_next(struct rng *r);
/* Uniform in [lo, hi] (inclusive); lo <= hi. */
u64 rng_range(struct rng *r, u64 lo, u64 hi);

#endif
