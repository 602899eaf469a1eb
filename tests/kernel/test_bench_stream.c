/*
 * bench.batch and bench.stream: many sites in one patch, and many patches
 * one after another (docs/design.md §12.4).
 */
#include "kernel/defer.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "tests/kernel/bench.h"
#include "tests/kernel/sitekit.h"

static unsigned batch_reps;

/* sz sites of the many-sites block into calls and back, batch_reps times. */
static struct stats batch_of(unsigned sz)
{
	static struct patch_site ps[SITES_MANY];
	static struct patch_batch b;

	for (unsigned r = 0; r < batch_reps * 2; r++) {
		struct insn in;
		u64 t0;

		kit_many_state(&in, r % 2 == 0);
		for (unsigned i = 0; i < sz; i++)
			patch_site_init(&ps[i], kit_many_site(i), &in);
		bench_samples[r] = 0;
		if (!bench_prepare(&b, ps, sz))
			continue;
		t0 = timestamp();
		if (bench_apply(&b))
			bench_samples[r] = timestamp() - t0;
	}
	return stats_of(bench_samples, batch_reps * 2);
}

static void batch(const struct patch_proto *p)
{
	static const unsigned sizes[] = { 1, 4, 16, 64, 256, SITES_MANY };

	if (!p->batching)
		return;
	for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++) {
		unsigned sz = sizes[k];
		struct stats s = batch_of(sz);
		char fig[256];

		spread(fig, sizeof(fig), batch_reps * 2, s);
		diag("bench: name=batch protocol=%s sync=%s cpus=%u sites=%u %s per_site_ns=%llu",
		     p->name, sync_mode_name(), cpus_online(), sz, fig, (unsigned long long)(ticks_to_ns(s.median) / sz));
	}
}

DEFINE_TEST(bench, batch, 1, TEST_BENCH,
	    "per batching protocol: 1 to 1024 sites per patch, ns per patch and per site")
{
	batch_reps = MAX(test_iters(400) / 40, 3u);
	each_safe_protocol(batch);
	bench_verdict();
}

#define STREAM_LEN 64

/* A stream: STREAM_LEN different sites patched one patch_apply each, one
 * after another (many static keys flipped in turn), then patch_flush; the
 * stream's time and broadcast syncs per patch. Each site goes to a call
 * and, in the next stream, back. A bare sync is timed after each stream,
 * so that the floor (three syncs, what any three-sync protocol pays per
 * patch) comes from the same moments as the stream it is compared with.
 *
 * At least min streams, at most max, in pairs (each site ends where it
 * began); past min, no new pair starts once budget_ms have gone by: a
 * stream with a tight spinner takes seconds under single-threaded TCG (a
 * timeslice per sync) and milliseconds where the CPUs run in parallel,
 * which then get the samples they allow.
 * Returns the stats; *done is how many streams ran. */
static struct stats stream_of(unsigned min, unsigned max, u64 budget_ms, u64 *syncs, unsigned *done)
{
	static struct patch_site ps;
	static struct patch_batch b;
	/* At least 16 floor samples, however few the streams. */
	unsigned per_stream = MAX(16 / min, 1u), nsync = 0, r;
	u64 start = timestamp();

	for (r = 0; r < max && (r < min || r % 2 || timestamp() - start < ms_to_ticks(budget_ms)); r++) {
		struct insn in;
		u64 t0 = timestamp(), s0 = patch_syncs();

		kit_many_state(&in, r % 2 == 0);
		for (unsigned i = 0; i < STREAM_LEN; i++) {
			patch_site_init(&ps, kit_many_site(i), &in);
			if (!bench_prepare(&b, &ps, 1) || !bench_apply(&b))
				break;
		}
		patch_flush();
		bench_samples[r] = (timestamp() - t0) / STREAM_LEN;
		*syncs += patch_syncs() - s0;
		for (unsigned k = 0; k < per_stream; k++) {
			t0 = timestamp();
			sync_all_cpus();
			bench_sync_samples[nsync++] = timestamp() - t0;
		}
	}
	*done = r;
	bench_floor_ns = 3 * ticks_to_ns(stats_of(bench_sync_samples, nsync).median);
	return stats_of(bench_samples, r);
}

/* Others idle, spinning with pause and spinning tight through the branch
 * bench_site. Under single-threaded TCG a tight spinner holds the only host
 * thread for a timeslice at every sync, so that mode stops at one pair of
 * streams (each site there and back) once a second has gone by. */
static void stream(const struct patch_proto *p)
{
	static const char *const modes[] = { "idle", "pause", "tight" };
	char head[160];

	for (unsigned m = 0; m < 3; m++) {
		unsigned most = MAX(batch_reps, 3u) * 2, n;
		u64 syncs = 0;
		struct stats s;

		if (m)
			spinners_start(m == 2);
		s = m == 2 ? stream_of(2, most, 1000, &syncs, &n) : stream_of(most, most, 0, &syncs, &n);
		if (m)
			spinners_stop();
		ksnprintf(head, sizeof(head),
			  "name=stream protocol=%s cpus=%u sites=%u spin=%s syncs_per_patch=%llu.%02llu",
			  p->name, cpus_online(), STREAM_LEN, modes[m],
			  (unsigned long long)(syncs / (n * STREAM_LEN)),
			  (unsigned long long)(syncs * 100 / (n * STREAM_LEN) % 100));
		print_stats(head, n, s, true);
	}
}

DEFINE_TEST(bench, stream, 1, TEST_BENCH,
	    "per protocol: 64 sites patched one patch at a time, ns and syncs per patch against three syncs")
{
	batch_reps = MAX(test_iters(400) / 40, 3u);
	each_safe_protocol(stream);
	bench_verdict();
}
