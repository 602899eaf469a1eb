/*
 * bench.*: what patching costs, per protocol, on the same workload, next
 * to the floor physics sets for it. One machine-readable line per figure:
 *   # bench: name=... protocol=... sync=broadcast|deferred cpus=N sites=N spin=... n=N median_ns=... ...
 * Benchmarks run with no torture delays (delay= is set to 0 for them unless
 * given) and never pass or fail on a figure: they fail only when the
 * measurement itself could not be made.
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

static void nothing(void *arg)
{
}

/* Median broadcast sync round trip, a trap protocol's unit of cost. */
static struct stats measure_sync(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		u64 t0 = timestamp();

		sync_all_cpus();
		bench_samples[i] = timestamp() - t0;
	}
	return stats_of(bench_samples, n);
}

DEFINE_TEST(bench, ipi_rtt, 2, TEST_BENCH,
	    "IPI round trip to each CPU, and broadcast-and-wait-for-all-acks")
{
	unsigned n = MIN(test_iters(1000), SAMPLES_MAX);
	char head[96];
	struct stats s;

	for (unsigned c = 1; c < cpus_possible; c++) {
		if (!cpu_is_online(c))
			continue;
		for (unsigned i = 0; i < n; i++) {
			u64 t0 = timestamp();

			smp_call(c, nothing, NULL, SMP_IRQ | SMP_WAIT);
			bench_samples[i] = timestamp() - t0;
		}
		ksnprintf(head, sizeof(head), "name=ipi_rtt to=%u cpus=%u", c, cpus_online());
		print_stats(head, n, stats_of(bench_samples, n), false);
	}
	s = measure_sync(n);
	bench_floor_ns = 3 * ticks_to_ns(s.median);
	ksnprintf(head, sizeof(head), "name=sync_rtt cpus=%u", cpus_online());
	print_stats(head, n, s, false);
	bench_verdict();
}

static u64 write_samples[SAMPLES_MAX];
static struct patch_site flip_ps;
static struct patch_batch flip_b;

/* The site to its other state (the i-th flip): the time patch_apply took,
 * or 0 if the patch could not be made. */
static u64 flip_once(unsigned i)
{
	u64 t0;

	patch_site_init(&flip_ps, bench_site.addr, &bench_site.state[(i + 1) % 2]);
	if (!bench_prepare(&flip_b, &flip_ps, 1))
		return 0;
	t0 = timestamp();
	if (!bench_apply(&flip_b))
		return 0;
	return timestamp() - t0;
}

/* The site's first byte written over with itself, then a sync: the
 * platform's price for making CPUs that run some code see a write to it
 * (QEMU's TCG throws away and translates again the code on the page; a
 * real CPU's self-modifying-code detection clears its pipeline), which
 * the bare sync does not pay and every write of a protocol does. The
 * bytes stay the same, so the spinners run what they ran. The write alone
 * is timed too (*write): how much of that price the writer pays before
 * any sync. */
static u64 code_write_sync(u64 *write)
{
	u8 same = READ_ONCE(bench_site.addr[0]);
	u64 t0 = timestamp();

	patch_raw_write(bench_site.addr, &same, 1);
	*write = timestamp() - t0;
	sync_all_cpus();
	return timestamp() - t0;
}

/* One site flipped n times; returns the latencies' stats. A bare sync,
 * and a code write with its sync, are timed between patches, so that the
 * floors come from the same moments as the figure they are compared with. */
static struct stats flip_latency(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		u64 t0 = timestamp();

		sync_all_cpus();
		bench_sync_samples[i] = timestamp() - t0;
		bench_code_samples[i] = code_write_sync(&write_samples[i]);
		bench_samples[i] = flip_once(i);
	}
	bench_floor_ns = 3 * ticks_to_ns(stats_of(bench_sync_samples, n).median);
	bench_code_floor_ns = 3 * ticks_to_ns(stats_of(bench_code_samples, n).median);
	bench_code_write_ns = ticks_to_ns(stats_of(write_samples, n).median);
	if (n % 2)
		flip_once(n);	/* back to state 0 */
	return stats_of(bench_samples, n);
}

static unsigned latency_n;

static void patch_latency(const struct patch_proto *p)
{
	static const char *const modes[] = { "idle", "pause", "tight" };
	char head[160];

	for (unsigned m = 0; m < 3; m++) {
		/* A tight spinner never yields its host thread under
		 * single-threaded TCG: each sync waits for a timeslice,
		 * so take fewer samples there. */
		unsigned k = m == 2 ? MAX(latency_n / 20, 5u) : latency_n;
		struct stats s;

		if (m)
			spinners_start(m == 2);
		s = flip_latency(k);
		if (m)
			spinners_stop();
		ksnprintf(head, sizeof(head), "name=patch_latency protocol=%s cpus=%u sites=1 spin=%s",
			  p->name, cpus_online(), modes[m]);
		print_stats(head, k, s, true);
		bench_code_floor_ns = bench_code_write_ns = 0;
	}
}

DEFINE_TEST(bench, patch_latency, 2, TEST_BENCH,
	    "one-site patch latency per protocol: others idle, spinning with pause, spinning tight")
{
	latency_n = MIN(test_iters(400), SAMPLES_MAX);
	each_safe_protocol(patch_latency);
	bench_verdict();
}

#define SPIN_WINDOW_MS 300
#define SPIN_WINDOWS 5

/* Spinner passes in a window, with no patching or patching. Only patches
 * run in a patching window (no floor syncs between them), so what the
 * spinners lose is charged to the patches alone. */
static u64 spin_window(bool patching, u64 *patches)
{
	unsigned i = 0;
	u64 end;

	spinners_start(false);
	end = timestamp() + ms_to_ticks(SPIN_WINDOW_MS);
	while (timestamp() < end) {
		if (!patching) {
			smp_poll(), cpu_relax();
			continue;
		}
		flip_once(i++);
		(*patches)++;
	}
	if (i % 2)
		flip_once(i);	/* back to state 0, outside the window */
	return spinners_stop();
}

/* Hundredths as "-1.25". */
static void centi(char *buf, size_t size, s64 v)
{
	u64 a = v < 0 ? (u64)-v : (u64)v;

	ksnprintf(buf, size, "%s%llu.%02llu", v < 0 ? "-" : "", (unsigned long long)(a / 100),
		  (unsigned long long)(a % 100));
}

/* Idle and patching windows alternate, SPIN_WINDOWS pairs; the loss per
 * patch of each pair, in hundredths of a pass, gives the spread. */
static void spinner_cost(const struct patch_proto *p)
{
	u64 idle_sum = 0, busy_sum = 0, patch_sum = 0;
	s64 loss[SPIN_WINDOWS];
	char med[24], lo[24], hi[24];

	for (unsigned w = 0; w < SPIN_WINDOWS; w++) {
		u64 patches = 0, idle = spin_window(false, &patches);
		u64 busy = spin_window(true, &patches);

		loss[w] = (s64)(idle - busy) * 100 / (s64)MAX(patches, 1ull);
		idle_sum += idle, busy_sum += busy, patch_sum += patches;
	}
	for (unsigned i = 1; i < SPIN_WINDOWS; i++)	/* sort the losses */
		for (unsigned j = i; j && loss[j - 1] > loss[j]; j--) {
			s64 t = loss[j];

			loss[j] = loss[j - 1];
			loss[j - 1] = t;
		}
	centi(med, sizeof(med), loss[SPIN_WINDOWS / 2]);
	centi(lo, sizeof(lo), loss[0]);
	centi(hi, sizeof(hi), loss[SPIN_WINDOWS - 1]);
	diag("bench: name=spinner_cost protocol=%s sync=%s cpus=%u spin=pause window_ms=%u n=%u "
	     "passes_idle=%llu passes_patching=%llu patches=%llu lost_passes_per_patch=%s "
	     "lost_min=%s lost_max=%s",
	     p->name, sync_mode_name(), cpus_online(), SPIN_WINDOW_MS, SPIN_WINDOWS, (unsigned long long)idle_sum,
	     (unsigned long long)busy_sum, (unsigned long long)patch_sum, med, lo, hi);
}

DEFINE_TEST(bench, spinner_cost, 2, TEST_BENCH,
	    "what a spinning CPU loses per patch: passes per second with and without patching")
{
	each_safe_protocol(spinner_cost);
	bench_verdict();
}

static void scaling(const struct patch_proto *p)
{
	char head[128];

	ksnprintf(head, sizeof(head), "name=scaling protocol=%s cpus=%u sites=1 spin=idle",
		  p->name, cpus_online());
	print_stats(head, latency_n, flip_latency(latency_n), true);
	bench_code_floor_ns = bench_code_write_ns = 0;
}

DEFINE_TEST(bench, scaling, 2, TEST_BENCH,
	    "one-site patch latency per protocol as the number of online CPUs grows")
{
	unsigned top = cpus_possible;

	latency_n = MIN(test_iters(400), SAMPLES_MAX);
	/* From all CPUs down to two: take the highest offline each round. */
	for (unsigned c = top; c >= 2; c--) {
		each_safe_protocol(scaling);
		if (c > 2 && cpu_offline(c - 1))
			return test_error("CPU %u would not go offline", c - 1);
	}
	for (unsigned c = 2; c < top; c++)
		if (cpu_online(c))
			test_error("CPU %u did not come back", c);
	bench_verdict();
}
