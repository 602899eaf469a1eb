/*
 * What the bench.* tests share (bench.h).
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

u64 bench_samples[SAMPLES_MAX];
u64 bench_sync_samples[SAMPLES_MAX];
u64 bench_floor_ns;		/* 3 x median broadcast sync round trip */
/* 3 x median (the site's first byte rewritten with itself + a sync):
 * what three writes and three syncs cost on the platform when other CPUs
 * are running that code, before any protocol (0: not measured). */
u64 bench_code_floor_ns;
u64 bench_code_write_ns;
u64 bench_code_samples[SAMPLES_MAX];

struct stats stats_of(u64 *v, unsigned n)
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
int spread(char *buf, size_t size, unsigned n, struct stats s)
{
	return ksnprintf(buf, size,
			 "n=%u min_ns=%llu p25_ns=%llu median_ns=%llu p75_ns=%llu p99_ns=%llu max_ns=%llu",
			 n, (unsigned long long)ticks_to_ns(s.min), (unsigned long long)ticks_to_ns(s.p25),
			 (unsigned long long)ticks_to_ns(s.median), (unsigned long long)ticks_to_ns(s.p75),
			 (unsigned long long)ticks_to_ns(s.p99), (unsigned long long)ticks_to_ns(s.max));
}

/* A patch figure is compared with the floor measured with it (three
 * broadcast syncs); a sync or IPI figure has no floor to compare with. */
void print_stats(const char *head, unsigned n, struct stats s, bool with_floor)
{
	u64 ratio_x1000 = bench_floor_ns ? ticks_to_ns(s.median) * 1000 / bench_floor_ns : 0;
	u64 code_x1000 = bench_code_floor_ns ? ticks_to_ns(s.median) * 1000 / bench_code_floor_ns : 0;
	char fig[256], ratio[160] = "";
	int len = 0;

	spread(fig, sizeof(fig), n, s);
	if (with_floor)
		len = ksnprintf(ratio, sizeof(ratio), " floor_ns=%llu floor_ratio=%llu.%03llu",
				(unsigned long long)bench_floor_ns, (unsigned long long)(ratio_x1000 / 1000),
				(unsigned long long)(ratio_x1000 % 1000));
	if (with_floor && bench_code_floor_ns)
		ksnprintf(ratio + len, sizeof(ratio) - len,
			  " code_floor_ns=%llu code_floor_ratio=%llu.%03llu code_write_ns=%llu",
			  (unsigned long long)bench_code_floor_ns, (unsigned long long)(code_x1000 / 1000),
			  (unsigned long long)(code_x1000 % 1000), (unsigned long long)bench_code_write_ns);
	diag("bench: %s sync=%s %s median_ticks=%llu%s", head, sync_mode_name(), fig,
	     (unsigned long long)s.median, ratio);
}

/* The first patch a benchmark could not make: the figure is then not a
 * measurement, and the test says so instead of printing it. */
static const char *bench_failure;

void bench_failed(const char *why)
{
	if (!bench_failure)
		bench_failure = why;
}

bool bench_prepare(struct patch_batch *b, struct patch_site *sites, unsigned n)
{
	const char *why = patch_batch_prepare(b, sites, n);

	if (why)
		bench_failed(why);
	return !why;
}

bool bench_apply(struct patch_batch *b)
{
	if (!patch_apply(b))
		return true;
	bench_failed("patch_apply failed (see the report above)");
	return false;
}

/* Ends a benchmark test: a pass only if every patch it timed was made. */
void bench_verdict(void)
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

struct flip_site bench_site;
static u32 spin_stop;
static u64 spin_passes[MAX_CPUS];

static void spinner(void *arg)
{
	bool tight = arg != NULL;
	int id = this_cpu()->id;

	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
		bench_site.fn(bench_site.a, bench_site.b);
		spin_passes[id]++;
		if (!tight)
			cpu_relax();
	}
}

void spinners_start(bool tight)
{
	memset(spin_passes, 0, sizeof(spin_passes));
	__atomic_store_n(&spin_stop, 0, __ATOMIC_RELEASE);
	smp_call_others(spinner, tight ? (void *)1 : NULL, 0);
}

u64 spinners_stop(void)
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

/* Runs each(p) under every safe protocol in turn with the torture delays
 * off, on the branch site; then puts the protocol and delays back. */
void each_safe_protocol(void (*each)(const struct patch_proto *p))
{
	const struct patch_proto *saved = proto;

	quiet_begin();
	kit_flip_site(&bench_site, SITE_BRANCH);
	for (const struct patch_proto *const *p = patch_protocols; *p; p++) {
		if (!(*p)->safe)
			continue;
		patch_use_protocol(*p);
		each(*p);
	}
	patch_use_protocol(saved);
	quiet_end();
}
