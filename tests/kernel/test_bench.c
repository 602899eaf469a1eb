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
#include "tests/kernel/sitekit.h"

#define SAMPLES_MAX 4096

static u64 samples[SAMPLES_MAX];
static u64 sync_samples[SAMPLES_MAX];
static u64 floor_ns;		/* 3 x median broadcast sync round trip */
/* 3 x median (the site's first byte rewritten with itself + a sync):
 * what three writes and three syncs cost on the platform when other CPUs
 * are running that code, before any protocol (0: not measured). */
static u64 code_floor_ns;
static u64 code_samples[SAMPLES_MAX];

/* A figure and its spread: every benchmark line has n, the quartiles and
 * the extremes, so that a median is never read without its noise. */
struct stats {
	u64 min, p25, median, p75, p99, max;
};

static struct stats stats_of(u64 *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)	/* insertion sort: n is small */
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			u64 t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return (struct stats){ v[0], v[n / 4], v[n / 2], v[(n * 3) / 4],
			       v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], v[n - 1] };
}

/* "n=... min_ns=... p25_ns=... median_ns=... p75_ns=... p99_ns=... max_ns=..." */
static int spread(char *buf, size_t size, unsigned n, struct stats s)
{
	return ksnprintf(buf, size,
			 "n=%u min_ns=%llu p25_ns=%llu median_ns=%llu p75_ns=%llu p99_ns=%llu max_ns=%llu",
			 n, (unsigned long long)ticks_to_ns(s.min), (unsigned long long)ticks_to_ns(s.p25),
			 (unsigned long long)ticks_to_ns(s.median), (unsigned long long)ticks_to_ns(s.p75),
			 (unsigned long long)ticks_to_ns(s.p99), (unsigned long long)ticks_to_ns(s.max));
}

/* A patch figure is compared with the floor measured with it (three
 * broadcast syncs); a sync or IPI figure has no floor to compare with. */
static void print_stats(const char *head, unsigned n, struct stats s, bool with_floor)
{
	u64 ratio_x1000 = floor_ns ? ticks_to_ns(s.median) * 1000 / floor_ns : 0;
	u64 code_x1000 = code_floor_ns ? ticks_to_ns(s.median) * 1000 / code_floor_ns : 0;
	char fig[256], ratio[112] = "";
	int len = 0;

	spread(fig, sizeof(fig), n, s);
	if (with_floor)
		len = ksnprintf(ratio, sizeof(ratio), " floor_ns=%llu floor_ratio=%llu.%03llu",
				(unsigned long long)floor_ns, (unsigned long long)(ratio_x1000 / 1000),
				(unsigned long long)(ratio_x1000 % 1000));
	if (with_floor && code_floor_ns)
		ksnprintf(ratio + len, sizeof(ratio) - len,
			  " code_floor_ns=%llu code_floor_ratio=%llu.%03llu",
			  (unsigned long long)code_floor_ns, (unsigned long long)(code_x1000 / 1000),
			  (unsigned long long)(code_x1000 % 1000));
	diag("bench: %s sync=%s %s median_ticks=%llu%s", head, sync_mode_name(), fig,
	     (unsigned long long)s.median, ratio);
}

/* The first patch a benchmark could not make: the figure is then not a
 * measurement, and the test says so instead of printing it. */
static const char *bench_failure;

static void bench_failed(const char *why)
{
	if (!bench_failure)
		bench_failure = why;
}

static bool bench_prepare(struct patch_batch *b, struct patch_site *sites, unsigned n)
{
	const char *why = patch_batch_prepare(b, sites, n);

	if (why)
		bench_failed(why);
	return !why;
}

static bool bench_apply(struct patch_batch *b)
{
	if (!patch_apply(b))
		return true;
	bench_failed("patch_apply failed (see the report above)");
	return false;
}

/* Ends a benchmark test: a pass only if every patch it timed was made. */
static void bench_verdict(void)
{
	if (bench_failure)
		test_error("a patch could not be made, so no figure above is a measurement: %s",
			   bench_failure);
	else
		test_pass();
	bench_failure = NULL;
}

static u64 saved_lo, saved_hi;

static void quiet_begin(void)
{
	patch_get_delay(&saved_lo, &saved_hi);
	if (!opts.delay_given)
		patch_set_delay(0, 0);
}

static void quiet_end(void)
{
	patch_set_delay(saved_lo, saved_hi);
}

static void nothing(void *arg)
{
}

/* Median broadcast sync round trip, a trap protocol's unit of cost. */
static struct stats measure_sync(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		u64 t0 = timestamp();

		sync_all_cpus();
		samples[i] = timestamp() - t0;
	}
	return stats_of(samples, n);
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
			samples[i] = timestamp() - t0;
		}
		ksnprintf(head, sizeof(head), "name=ipi_rtt to=%u cpus=%u", c, cpus_online());
		print_stats(head, n, stats_of(samples, n), false);
	}
	s = measure_sync(n);
	floor_ns = 3 * ticks_to_ns(s.median);
	ksnprintf(head, sizeof(head), "name=sync_rtt cpus=%u", cpus_online());
	print_stats(head, n, s, false);
	bench_verdict();
}

static struct flip_site site;
static u32 spin_stop;
static u64 spin_passes[MAX_CPUS];

static void spinner(void *arg)
{
	bool tight = arg != NULL;
	int id = this_cpu()->id;

	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
		site.fn(site.a, site.b);
		spin_passes[id]++;
		if (!tight)
			cpu_relax();
	}
}

static void spinners_start(bool tight)
{
	memset(spin_passes, 0, sizeof(spin_passes));
	__atomic_store_n(&spin_stop, 0, __ATOMIC_RELEASE);
	smp_call_others(spinner, tight ? (void *)1 : NULL, 0);
}

static u64 spinners_stop(void)
{
	u64 total = 0;

	__atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++) {
		if (cpu_is_online(i))
			smp_wait_idle(i);
		total += spin_passes[i];
	}
	return total;
}

static struct patch_site flip_ps;
static struct patch_batch flip_b;

/* The site to its other state (the i-th flip): the time patch_apply took,
 * or 0 if the patch could not be made. */
static u64 flip_once(unsigned i)
{
	u64 t0;

	patch_site_init(&flip_ps, site.addr, &site.state[(i + 1) % 2]);
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
 * bytes stay the same, so the spinners run what they ran. */
static u64 code_write_sync(void)
{
	u8 same = READ_ONCE(site.addr[0]);
	u64 t0 = timestamp();

	patch_raw_write(site.addr, &same, 1);
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
		sync_samples[i] = timestamp() - t0;
		code_samples[i] = code_write_sync();
		samples[i] = flip_once(i);
	}
	floor_ns = 3 * ticks_to_ns(stats_of(sync_samples, n).median);
	code_floor_ns = 3 * ticks_to_ns(stats_of(code_samples, n).median);
	if (n % 2)
		flip_once(n);	/* back to state 0 */
	return stats_of(samples, n);
}

/* Runs each(p) under every safe protocol in turn with the torture delays
 * off, on the branch site; then puts the protocol and delays back. */
static void each_safe_protocol(void (*each)(const struct patch_proto *p))
{
	const struct patch_proto *saved = proto;

	quiet_begin();
	kit_flip_site(&site, SITE_BRANCH);
	for (const struct patch_proto *const *p = patch_protocols; *p; p++) {
		if (!(*p)->safe)
			continue;
		patch_use_protocol(*p);
		each(*p);
	}
	patch_use_protocol(saved);
	quiet_end();
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
		code_floor_ns = 0;
	}
}

DEFINE_TEST(bench, patch_latency, 2, TEST_BENCH,
	    "one-site patch latency per protocol: others idle, spinning with pause, spinning tight")
{
	latency_n = MIN(test_iters(400), SAMPLES_MAX);
	each_safe_protocol(patch_latency);
	bench_verdict();
}

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
		samples[r] = 0;
		if (!bench_prepare(&b, ps, sz))
			continue;
		t0 = timestamp();
		if (bench_apply(&b))
			samples[r] = timestamp() - t0;
	}
	return stats_of(samples, batch_reps * 2);
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

#define SPIN_WINDOW_MS 300
#define SPIN_WINDOWS 5

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
		samples[r] = (timestamp() - t0) / STREAM_LEN;
		*syncs += patch_syncs() - s0;
		for (unsigned k = 0; k < per_stream; k++) {
			t0 = timestamp();
			sync_all_cpus();
			sync_samples[nsync++] = timestamp() - t0;
		}
	}
	*done = r;
	floor_ns = 3 * ticks_to_ns(stats_of(sync_samples, nsync).median);
	return stats_of(samples, r);
}

/* Others idle, spinning with pause and spinning tight through the branch
 * site. Under single-threaded TCG a tight spinner holds the only host
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
	code_floor_ns = 0;
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
