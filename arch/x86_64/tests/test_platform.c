/*
 * platform.cmc: cross-modifying code on this platform, with no patching
 * protocol in the way, in two kinds of rounds.
 *
 * (1) Synchronized: every other CPU keeps running the probe, and the
 * writer waits until each has run the current (old) code, so that a
 * translation or cached copy of it exists; then it writes the new code
 * and at once sends the sync, an IPI whose handler serializes (SDM vol.
 * 3A 9.3) and runs the probe. Having run the old code, each reader
 * holds still (interrupts on, not running the probe) until its check has
 * run, so that every check is informative: the last code the CPU ran
 * there was the old one, and nothing but the sync stands between that
 * and the check. It must return the new value: stale code
 * then is a defect of the platform (CPU, hypervisor or emulator: QEMU
 * before 8.1 under multi-threaded TCG), reported as such, and the test
 * fails. A check counts as informative when the CPU's last run before
 * the IPI returned the old value, i.e. it had the old code in hand.
 *
 * (2) Unsynchronized: write, no sync, and measure how long the other
 * CPUs take to run the new code; x86 promises nothing there (SDM 8.1.3),
 * so it is a finding, not a verdict.
 */
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define UNSYNCED_WAIT_MS 200
#define READY_WAIT_MS 500	/* for each CPU to run the old code */

u32 cmc_probe(void);

static u32 target, old_target, stop, hold, round;
static u32 checked[MAX_CPUS];		/* the round whose check ran */
static u32 last_val[MAX_CPUS];		/* each reader's last probe result */
static u8 ran_old[MAX_CPUS];
static u64 seen_at[MAX_CPUS];
static u64 checks[MAX_CPUS], informative[MAX_CPUS], stale[MAX_CPUS];

static void write_probe(u32 v)
{
	patch_raw_write((u8 *)(uintptr_t)cmc_probe + 1, (const u8 *)&v, 4);
}

/* In the sync IPI handler: serialize, then run the code. */
static void check_after_sync(void *arg)
{
	int id = this_cpu()->id;
	bool had_old = READ_ONCE(last_val[id]) == READ_ONCE(old_target);

	arch_serialize();
	checks[id]++;
	informative[id] += had_old;
	if (cmc_probe() != READ_ONCE(target))
		stale[id]++;
	WRITE_ONCE(checked[id], READ_ONCE(round));
}

/* A synchronized round's reader that ran the old code waits for its check. */
static void hold_for_check(int id)
{
	while (READ_ONCE(hold) && READ_ONCE(ran_old[id]) &&
	       READ_ONCE(checked[id]) != READ_ONCE(round))
		cpu_relax();
}

static void reader(void *arg)
{
	int id = this_cpu()->id;

	this_cpu()->doing = "running platform.cmc's probe";
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		u32 v = cmc_probe();

		WRITE_ONCE(last_val[id], v);
		if (v == READ_ONCE(old_target))
			WRITE_ONCE(ran_old[id], 1);
		if (!seen_at[id] && v == READ_ONCE(target))
			seen_at[id] = timestamp();
		hold_for_check(id);
		if (!opts.spin_tight)
			cpu_relax();
	}
	this_cpu()->doing = NULL;
}

/* Waits until every other CPU ran the probe with value v; returns how
 * many did not within READY_WAIT_MS. */
static unsigned wait_ran_old(u32 v)
{
	u64 end = timestamp() + ms_to_ticks(READY_WAIT_MS);
	unsigned late = 0;

	memset(ran_old, 0, sizeof(ran_old));
	WRITE_ONCE(old_target, v);
	for (unsigned i = 1; i < cpus_possible; i++) {
		while (cpu_is_online(i) && !READ_ONCE(ran_old[i]) && timestamp() < end)
			smp_poll(), cpu_relax();
		late += cpu_is_online(i) && !ran_old[i];
	}
	return late;
}

/* (1): write, sync at once, check in the sync's handler. Returns the
 * value left in the probe. */
static u32 synced_rounds(unsigned rounds, u32 v, unsigned *not_ready)
{
	WRITE_ONCE(hold, 1);
	for (unsigned r = 1; r <= rounds; r++) {
		u32 next = 0x1000 + r;

		WRITE_ONCE(round, r);
		*not_ready += wait_ran_old(v);
		WRITE_ONCE(target, next);
		write_probe(next);
		smp_call_others(check_after_sync, NULL, SMP_IRQ | SMP_WAIT);
		v = next;
	}
	WRITE_ONCE(hold, 0);
	return v;
}

static void nothing(void *arg)
{
}

static int cmp_u64(u64 a, u64 b)
{
	return a < b ? -1 : a > b;
}

static void sort_u64(u64 *a, unsigned n)
{
	for (unsigned i = 1; i < n; i++)	/* insertion sort: few */
		for (unsigned j = i; j && cmp_u64(a[j - 1], a[j]) > 0; j--) {
			u64 t = a[j];

			a[j] = a[j - 1];
			a[j - 1] = t;
		}
}

/* (2): write, no sync, time until each CPU runs the new code. */
static void unsynced_rounds(unsigned rounds, u32 v)
{
	static u64 lat[MAX_CPUS * 64];
	unsigned lat_n = 0, never = 0;

	for (unsigned r = 1; r <= rounds; r++) {
		u32 next = 0x2000 + r;
		u64 t0, end;

		wait_ran_old(v);
		memset(seen_at, 0, sizeof(seen_at));
		WRITE_ONCE(target, next);
		t0 = timestamp();
		write_probe(next);
		end = t0 + ms_to_ticks(UNSYNCED_WAIT_MS);
		for (unsigned i = 1; i < cpus_possible; i++) {
			while (cpu_is_online(i) && !READ_ONCE(seen_at[i]) && timestamp() < end)
				smp_poll(), cpu_relax();
			if (!seen_at[i])
				never += cpu_is_online(i);
			else if (lat_n < ARRAY_SIZE(lat))
				lat[lat_n++] = seen_at[i] > t0 ? seen_at[i] - t0 : 0;
		}
		/* A sync before the next round, so that each starts clean. */
		smp_call_others(nothing, NULL, SMP_IRQ | SMP_WAIT);
		v = next;
	}
	sort_u64(lat, lat_n);
	if (lat_n)
		diag("platform.cmc finding: without a sync, the other CPUs ran the new code after "
		     "median %llu ns, max %llu ns (%u sightings); %u times not within %d ms",
		     (unsigned long long)ticks_to_ns(lat[lat_n / 2]),
		     (unsigned long long)ticks_to_ns(lat[lat_n - 1]), lat_n, never, UNSYNCED_WAIT_MS);
	else
		diag("platform.cmc finding: without a sync, the new code was never run within %d ms "
		     "(%u times)", UNSYNCED_WAIT_MS, never);
}

DEFINE_TEST(platform, cmc, 2, 0,
	    "does every CPU run code another CPU wrote: after a sync (must), and without one (measured)")
{
	unsigned rounds = test_iters(50), not_ready = 0;
	u64 n_checks = 0, n_inf = 0, n_stale = 0;
	u32 v;

	memset(checks, 0, sizeof(checks));
	memset(informative, 0, sizeof(informative));
	memset(stale, 0, sizeof(stale));
	memset(last_val, 0, sizeof(last_val));
	memset(checked, 0, sizeof(checked));
	stop = 0;
	round = 0;
	target = 0;
	write_probe(0);
	smp_call_others(reader, NULL, 0);
	v = synced_rounds(rounds, 0, &not_ready);
	unsynced_rounds(rounds, v);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++) {
		if (cpu_is_online(i))
			smp_wait_idle(i);
		n_checks += checks[i];
		n_inf += informative[i];
		n_stale += stale[i];
	}
	write_probe(0);
	diag("platform.cmc finding: after a sync: %llu checks (%u rounds x %u CPUs, one per CPU "
	     "per round), %llu informative (the CPU had just run the old code), %llu stale; "
	     "%u times a CPU had not run the old code within %d ms",
	     (unsigned long long)n_checks, rounds, cpus_online() - 1, (unsigned long long)n_inf,
	     (unsigned long long)n_stale, not_ready, READY_WAIT_MS);
	if (n_stale) {
		patch_note_platform_defects(n_stale);
		diag("platform.cmc finding: PLATFORM DEFECT: %llu of %llu checks ran stale code after "
		     "a synchronized write; a defect of the CPU, hypervisor or emulator, not of a "
		     "patching protocol", (unsigned long long)n_stale, (unsigned long long)n_checks);
		return test_fail("platform defect: stale code executed after a sync");
	}
	test_pass();
}
