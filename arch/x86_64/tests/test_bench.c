/*
 * bench.*: what patching costs, per protocol, on the same workload, next
 * to the floor physics sets for it. One machine-readable line per figure:
 *   # bench: name=... protocol=... cpus=N sites=N spin=... n=N median_ns=... ...
 * Benchmarks run with no torture delays (delay= is set to 0 for them unless
 * given) and never pass or fail on a figure: they fail only when the
 * measurement itself could not be made.
 */
#include "arch/x86_64/tests/torture.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define SAMPLES_MAX 4096

static u64 samples[SAMPLES_MAX];
static u64 floor_ns;		/* 3 x median broadcast sync round trip */

struct stats {
	u64 median, p99, max;
};

static struct stats stats_of(u64 *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++)	/* insertion sort: n is small */
		for (unsigned j = i; j && v[j - 1] > v[j]; j--) {
			u64 t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return (struct stats){ v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], v[n - 1] };
}

static void print_stats(const char *head, unsigned n, struct stats s, bool with_floor)
{
	u64 ratio_x1000 = floor_ns ? ticks_to_ns(s.median) * 1000 / floor_ns : 0;

	diag("bench: %s n=%u median_ns=%llu p99_ns=%llu max_ns=%llu median_ticks=%llu%s%llu.%03llu",
	     head, n, (unsigned long long)ticks_to_ns(s.median),
	     (unsigned long long)ticks_to_ns(s.p99), (unsigned long long)ticks_to_ns(s.max),
	     (unsigned long long)s.median, with_floor ? " floor_ratio=" : " x=",
	     (unsigned long long)(ratio_x1000 / 1000), (unsigned long long)(ratio_x1000 % 1000));
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

/* Median broadcast sync round trip, the int3 protocol's unit of cost. */
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
	test_pass();
}

static struct tsite site;
static u32 spin_stop;
static u64 spin_passes[MAX_CPUS];

static void spinner(void *arg)
{
	bool tight = arg != NULL;
	int id = this_cpu()->id;

	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
		site.fn(0, 0);
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

static u64 sync_samples[SAMPLES_MAX];

/* One site flipped n times; returns the latencies' stats. A bare sync is
 * timed between patches, so that the floor comes from the same moments
 * as the figure it is compared with. */
static struct stats flip_latency(unsigned n)
{
	static struct patch_site ps;
	static struct patch_batch b;

	for (unsigned i = 0; i < n; i++) {
		u64 t0 = timestamp();

		sync_all_cpus();
		sync_samples[i] = timestamp() - t0;
		patch_site_init(&ps, site.site, &site.state[(i + 1) % 2]);
		patch_batch_prepare(&b, &ps, 1);
		t0 = timestamp();
		patch_apply(&b);
		samples[i] = timestamp() - t0;
	}
	floor_ns = 3 * ticks_to_ns(stats_of(sync_samples, n).median);
	if (n % 2) {
		patch_site_init(&ps, site.site, &site.state[0]);
		patch_batch_prepare(&b, &ps, 1);
		patch_apply(&b);
	}
	return stats_of(samples, n);
}

static const char *const safe_protocols[] = {
	"int3", "int3-batch", "cpumask", "stop-machine", "trap-first", NULL,
};

DEFINE_TEST(bench, patch_latency, 2, TEST_BENCH,
	    "one-site patch latency per protocol: others idle, spinning with pause, spinning tight")
{
	const struct patch_proto *saved = proto;
	unsigned n = MIN(test_iters(400), SAMPLES_MAX);
	char head[160];

	quiet_begin();
	tsite_jmp(&site, sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	for (const char *const *p = safe_protocols; *p; p++) {
		static const char *const modes[] = { "idle", "pause", "tight" };

		patch_use_protocol(patch_proto_find(*p));
		for (unsigned m = 0; m < 3; m++) {
			/* A tight spinner never yields its host thread under
			 * single-threaded TCG: each sync waits for a timeslice,
			 * so take fewer samples there. */
			unsigned k = m == 2 ? MAX(n / 20, 5u) : n;
			struct stats s;

			if (m)
				spinners_start(m == 2);
			s = flip_latency(k);
			if (m)
				spinners_stop();
			ksnprintf(head, sizeof(head), "name=patch_latency protocol=%s cpus=%u sites=1 spin=%s",
				  *p, cpus_online(), modes[m]);
			print_stats(head, k, s, true);
		}
	}
	patch_use_protocol(saved);
	quiet_end();
	test_pass();
}

DEFINE_TEST(bench, batch, 1, TEST_BENCH,
	    "per batching protocol: 1 to 1024 sites per patch, ns per patch and per site")
{
	static const unsigned sizes[] = { 1, 4, 16, 64, 256, 1024 };
	static struct patch_site ps[SF_MANY];
	static struct patch_batch b;
	const struct patch_proto *saved = proto;
	unsigned reps = MAX(test_iters(400) / 40, 3u);

	quiet_begin();
	for (const char *const *p = safe_protocols; *p; p++) {
		const struct patch_proto *pp = patch_proto_find(*p);

		if (!pp->batching)
			continue;
		patch_use_protocol(pp);
		for (unsigned k = 0; k < ARRAY_SIZE(sizes); k++) {
			unsigned sz = sizes[k];

			for (unsigned r = 0; r < reps * 2; r++) {
				struct insn in;
				u64 t0;

				for (unsigned i = 0; i < sz; i++) {
					if (r % 2)
						insn_nop(&in, 5);
					else
						insn_call(&in, (u64)(uintptr_t)sf_count);
					patch_site_init(&ps[i], sf_many_sites + 5 * i, &in);
				}
				patch_batch_prepare(&b, ps, sz);
				t0 = timestamp();
				patch_apply(&b);
				samples[r] = timestamp() - t0;
			}
			struct stats s = stats_of(samples, reps * 2);

			diag("bench: name=batch protocol=%s cpus=%u sites=%u n=%u median_ns=%llu per_site_ns=%llu max_ns=%llu",
			     *p, cpus_online(), sz, reps * 2, (unsigned long long)ticks_to_ns(s.median),
			     (unsigned long long)(ticks_to_ns(s.median) / sz),
			     (unsigned long long)ticks_to_ns(s.max));
		}
	}
	patch_use_protocol(saved);
	quiet_end();
	test_pass();
}

DEFINE_TEST(bench, spinner_cost, 2, TEST_BENCH,
	    "what a spinning CPU loses per patch: passes per second with and without patching")
{
	const struct patch_proto *saved = proto;
	u64 window = ms_to_ticks(300);

	quiet_begin();
	tsite_jmp(&site, sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	for (const char *const *p = safe_protocols; *p; p++) {
		u64 idle, busy, patches = 0, end;

		patch_use_protocol(patch_proto_find(*p));
		spinners_start(false);
		end = timestamp() + window;
		while (timestamp() < end)
			smp_poll(), cpu_relax();
		idle = spinners_stop();
		spinners_start(false);
		end = timestamp() + window;
		while (timestamp() < end) {
			flip_latency(2);
			patches += 2;
		}
		busy = spinners_stop();
		diag("bench: name=spinner_cost protocol=%s cpus=%u spin=pause window_ms=300 "
		     "passes_idle=%llu passes_patching=%llu patches=%llu lost_passes_per_patch=%lld.%02lld",
		     *p, cpus_online(), (unsigned long long)idle, (unsigned long long)busy,
		     (unsigned long long)patches,
		     (long long)((s64)(idle - busy) / (s64)MAX(patches, 1ull)),
		     (long long)(((s64)(idle - busy) * 100 / (s64)MAX(patches, 1ull)) % 100));
	}
	patch_use_protocol(saved);
	quiet_end();
	test_pass();
}

DEFINE_TEST(bench, scaling, 2, TEST_BENCH,
	    "one-site int3 patch latency as the number of online CPUs grows")
{
	const struct patch_proto *saved = proto;
	unsigned n = MIN(test_iters(400), SAMPLES_MAX), top = cpus_possible;
	char head[128];

	quiet_begin();
	tsite_jmp(&site, sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	/* From all CPUs down to two: take the highest offline each round. */
	for (unsigned c = top; c >= 2; c--) {
		for (const char *const *p = safe_protocols; *p; p++) {
			patch_use_protocol(patch_proto_find(*p));
			ksnprintf(head, sizeof(head), "name=scaling protocol=%s cpus=%u sites=1 spin=idle",
				  *p, cpus_online());
			print_stats(head, n, flip_latency(n), true);
		}
		if (c > 2 && cpu_offline(c - 1))
			return test_error("CPU %u would not go offline", c - 1);
	}
	for (unsigned c = 2; c < top; c++)
		if (cpu_online(c))
			test_error("CPU %u did not come back", c);
	patch_use_protocol(saved);
	quiet_end();
	test_pass();
}
