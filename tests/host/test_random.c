/* Host unit tests of kernel/random.c. Every seed here is fixed, so the
 * statistical checks are deterministic: they cannot flake, and their
 * thresholds are generous enough that only a real defect trips them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kernel/random.h"

/* The published SplitMix64 outputs (Steele, Lea and Flood; the same values
 * as Vigna's splitmix64.c) from a given state. */
static void test_splitmix64_vectors(void **state)
{
	static const u64 from0[] = {
		0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
		0x06c45d188009454full, 0xf88bb8a8724c81ecull,
	};
	static const u64 from1234567[] = {
		6457827717110365317ull, 3203168211198807973ull,
		9817491932198370423ull,
	};
	struct rng r;

	r.state = 0;
	for (size_t i = 0; i < ARRAY_SIZE(from0); i++)
		assert_int_equal(rng_next(&r), from0[i]);
	r.state = 1234567;
	for (size_t i = 0; i < ARRAY_SIZE(from1234567); i++)
		assert_int_equal(rng_next(&r), from1234567[i]);
}

static void test_deterministic(void **state)
{
	static const u64 seeds[][2] = {
		{ 0, 0 }, { 1, 0 }, { 0, 1 }, { 42, 7 }, { UINT64_MAX, UINT64_MAX },
	};

	for (size_t s = 0; s < ARRAY_SIZE(seeds); s++) {
		struct rng a, b;

		rng_seed(&a, seeds[s][0], seeds[s][1]);
		rng_seed(&b, seeds[s][0], seeds[s][1]);
		for (int i = 0; i < 1000; i++)
			assert_int_equal(rng_next(&a), rng_next(&b));
		/* Seeding again starts the same stream over. */
		u64 first;

		rng_seed(&a, seeds[s][0], seeds[s][1]);
		first = rng_next(&a);
		rng_seed(&a, seeds[s][0], seeds[s][1]);
		assert_int_equal(rng_next(&a), first);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* No two of the given draws are equal: for independent 64-bit values a
 * repeat among this few is as good as impossible, while streams that were
 * the same, or shifted copies of each other, repeat at once. */
static void assert_all_distinct(u64 *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			fail_msg("value %#llx drawn twice", (unsigned long long)v[i]);
}

static void test_streams_differ(void **state)
{
	enum { STREAMS = 64, DRAWS = 256 };
	static u64 v[STREAMS * DRAWS];
	size_t n = 0;

	for (u64 s = 0; s < STREAMS; s++) {
		struct rng r;

		rng_seed(&r, 12345, s);
		for (int i = 0; i < DRAWS; i++)
			v[n++] = rng_next(&r);
	}
	assert_all_distinct(v, n);
}

static void test_seeds_differ(void **state)
{
	enum { SEEDS = 16, STREAMS = 16, DRAWS = 64 };
	static u64 v[SEEDS * STREAMS * DRAWS];
	size_t n = 0;

	/* Seed and stream are not interchangeable either: (a, b) != (b, a). */
	for (u64 seed = 0; seed < SEEDS; seed++) {
		for (u64 s = 0; s < STREAMS; s++) {
			struct rng r;

			rng_seed(&r, seed, s);
			for (int i = 0; i < DRAWS; i++)
				v[n++] = rng_next(&r);
		}
	}
	assert_all_distinct(v, n);
}

/* Every bit is set about half of the time. */
static void test_bit_balance(void **state)
{
	enum { DRAWS = 20000 };
	unsigned ones[64] = { 0 };
	struct rng r;

	rng_seed(&r, 0, 0);
	for (int i = 0; i < DRAWS; i++) {
		u64 x = rng_next(&r);

		for (int b = 0; b < 64; b++)
			ones[b] += (x >> b) & 1;
	}
	/* Binomial(20000, 1/2): sd 71, so +-500 is 7 sd. */
	for (int b = 0; b < 64; b++)
		assert_in_range(ones[b], DRAWS / 2 - 500, DRAWS / 2 + 500);
}

/* Draws n values from [lo, hi] and checks every one is inside; when the
 * span is small, also that every value of it came up. */
static void check_bounds(u64 lo, u64 hi, unsigned n)
{
	bool seen[64] = { false };
	u64 span = hi - lo + 1;
	struct rng r;

	rng_seed(&r, lo ^ hi, 3);
	for (unsigned i = 0; i < n; i++) {
		u64 x = rng_range(&r, lo, hi);

		if (x < lo || x > hi)
			fail_msg("rng_range(%#llx, %#llx) = %#llx",
				 (unsigned long long)lo, (unsigned long long)hi,
				 (unsigned long long)x);
		if (span && span <= ARRAY_SIZE(seen))
			seen[x - lo] = true;
	}
	if (span && span <= ARRAY_SIZE(seen))
		for (u64 v = 0; v < span; v++)
			if (!seen[v])
				fail_msg("rng_range(%#llx, %#llx) never gave %#llx",
					 (unsigned long long)lo,
					 (unsigned long long)hi,
					 (unsigned long long)(lo + v));
}

static void test_range_bounds(void **state)
{
	check_bounds(0, 1, 10000);
	check_bounds(0, 9, 10000);
	check_bounds(10, 20, 10000);
	check_bounds(1000, 1063, 20000);
	check_bounds(UINT64_MAX - 2, UINT64_MAX, 10000);
	check_bounds(UINT64_MAX - 1, UINT64_MAX, 10000);
	check_bounds(0, 0x8000000000000000ull, 10000);
	check_bounds(1, UINT64_MAX, 10000);
	check_bounds(0, UINT64_MAX - 1, 10000);
	check_bounds(0x7fffffffffffffffull, 0x8000000000000000ull, 1000);
}

static void test_range_single_value(void **state)
{
	static const u64 values[] = { 0, 1, 7, 0x8000000000000000ull, UINT64_MAX };
	struct rng r;

	rng_seed(&r, 99, 0);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++)
		for (int j = 0; j < 100; j++)
			assert_int_equal(rng_range(&r, values[i], values[i]),
					 values[i]);
}

/* [0, UINT64_MAX] is every 64-bit value: exactly rng_next, nothing
 * rejected, nothing folded. */
static void test_range_full(void **state)
{
	struct rng a, b;
	bool high = false, low = false;

	rng_seed(&a, 5, 5);
	rng_seed(&b, 5, 5);
	for (int i = 0; i < 1000; i++) {
		u64 x = rng_range(&a, 0, UINT64_MAX);

		assert_int_equal(x, rng_next(&b));
		high |= x >> 63;
		low |= !(x >> 63);
	}
	assert_true(high && low);
}

/* Pearson's chi-square statistic of observed counts against equal
 * expectation. */
static double chi_square(const unsigned *count, unsigned bins, unsigned n)
{
	double expect = (double)n / bins, chi = 0;

	for (unsigned i = 0; i < bins; i++) {
		double d = count[i] - expect;

		chi += d * d / expect;
	}
	return chi;
}

static void test_range_uniform_small(void **state)
{
	enum { BINS = 10, DRAWS = 100000 };
	unsigned count[BINS] = { 0 };
	struct rng r;
	double chi;

	rng_seed(&r, 2024, 1);
	for (int i = 0; i < DRAWS; i++)
		count[rng_range(&r, 100, 100 + BINS - 1) - 100]++;
	chi = chi_square(count, BINS, DRAWS);
	print_message("chi-square, 10 bins of [100, 109]: %.2f (9 dof)\n", chi);
	/* 9 degrees of freedom: mean 9, P(chi > 40) < 1e-5. */
	assert_true(chi < 40.0);
}

/* A span of 3/4 of 2^64 is where a plain "x % span" goes wrong: the low
 * third of the range would come up twice as often as the others. The
 * rejection sampling must keep the thirds even. */
static void test_range_uniform_large_span(void **state)
{
	enum { DRAWS = 30000 };
	const u64 third = 1ull << 62;
	unsigned count[3] = { 0 };
	struct rng r;
	double chi;

	rng_seed(&r, 7, 7);
	for (int i = 0; i < DRAWS; i++) {
		u64 x = rng_range(&r, 0, 3 * third - 1);

		assert_true(x <= 3 * third - 1);
		count[x / third]++;
	}
	chi = chi_square(count, 3, DRAWS);
	print_message("chi-square, thirds of [0, 3*2^62): %.2f (2 dof)\n", chi);
	/* 2 degrees of freedom: P(chi > 25) < 4e-6; a modulo bias scores
	 * about 3750 here. */
	assert_true(chi < 25.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_splitmix64_vectors),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_streams_differ),
		cmocka_unit_test(test_seeds_differ),
		cmocka_unit_test(test_bit_balance),
		cmocka_unit_test(test_range_bounds),
		cmocka_unit_test(test_range_single_value),
		cmocka_unit_test(test_range_full),
		cmocka_unit_test(test_range_uniform_small),
		cmocka_unit_test(test_range_uniform_large_span),
	};

	return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
