/*
 * platform.cmc: cross-modifying code on this platform, with no patching
 * protocol in the way, in two kinds of rounds.
 *
 * (1) Synchronized: every other CPU keeps calling the probe, and the
 * writer waits until each has run the current (old) code, so that a
 * translation or cached copy of it exists and is hot; then it writes the
 * new code and at once syncs (sync_all_cpus: the engine's broadcast IPI,
 * whose handler serializes (x86: SDM vol. 3A 9.3) and acknowledges). The
 * check is each reader's first run of the probe after it acknowledged:
 * it must return the new value. Stale code then is a defect of the
 * platform (CPU, hypervisor or emulator: QEMU before 8.1 under
 * multi-threaded TCG), reported as such, and the test fails. A check is
 * informative when the reader's run just before the acknowledgement
 * returned the old value: it had the old code in hand. Rounds alternate:
 * in a hot round the readers keep running the probe while the write lands
 * (QEMU 7.2's defect needs a vCPU running the code then), so where a
 * write is visible at once (QEMU 10) most of their checks are not
 * informative; in a held round each reader, having run the old code,
 * holds still (interrupts on) until it acknowledged the sync, so every
 * check is informative by construction.
 *
 * (2) Unsynchronized: write, no sync, and measure how long the other
 * CPUs take to run the new code; the architecture need promise nothing
 * there (x86: SDM vol. 3A 8.1.3), so it is a finding, not a verdict.
 */
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "tests/kernel/sitekit.h"

#define UNSYNCED_WAIT_MS 200
#define READY_WAIT_MS 500	/* for each CPU to run the old code */

static u32 target, old_target, stop, round, held;
static u64 want_ack;			/* the sync generation of this round */
static u32 checked[MAX_CPUS];		/* the round whose check ran */
static u8 ran_old[MAX_CPUS];
static u64 seen_at[MAX_CPUS];
static u64 checks[MAX_CPUS], informative[MAX_CPUS], stale[MAX_CPUS];
static u64 held_checks[MAX_CPUS], held_inf[MAX_CPUS], held_stale[MAX_CPUS];

/* (1) The first run after this CPU acknowledged the round's sync. */
static void check_after_sync(int id, u64 ack, u32 prev, u32 v)
{
	u32 r = READ_ONCE(round);

	if (!r || READ_ONCE(checked[id]) == r || ack < READ_ONCE(want_ack))
		return;
	checks[id]++;
	informative[id] += prev == READ_ONCE(old_target);
	held_checks[id] += READ_ONCE(held);
	held_inf[id] += READ_ONCE(held) && prev == READ_ONCE(old_target);
	if (v != READ_ONCE(target)) {
		stale[id]++;
		held_stale[id] += READ_ONCE(held);
	}
	WRITE_ONCE(checked[id], r);
}

/* A held round: having run the old code, wait for the sync without
 * running the probe. */
static void hold_for_sync(struct cpu *c)
{
	u32 r = READ_ONCE(round);

	if (!READ_ONCE(held) || !r || READ_ONCE(checked[c->id]) == r || !READ_ONCE(ran_old[c->id]))
		return;
	while (__atomic_load_n(&c->sync_ack, __ATOMIC_ACQUIRE) < READ_ONCE(want_ack) &&
	       !__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void reader(void *arg)
{
	struct cpu *c = this_cpu();
	int id = c->id;
	u32 prev = 0;

	c->doing = "running platform.cmc's probe";
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		u64 ack = __atomic_load_n(&c->sync_ack, __ATOMIC_ACQUIRE);
		u32 v = kit_probe();

		check_after_sync(id, ack, prev, v);
		if (v == READ_ONCE(old_target))
			WRITE_ONCE(ran_old[id], 1);
		if (!seen_at[id] && v == READ_ONCE(target))
			seen_at[id] = timestamp();
		prev = v;
		hold_for_sync(c);
		if (!opts.spin_tight)
			cpu_relax();
	}
	c->doing = NULL;
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

/* The generation the next sync will have: one past what every CPU has
 * acknowledged (nothing else syncs while this test runs). */
static u64 next_sync_gen(void)
{
	u64 g = 0;

	for (unsigned i = 1; i < cpus_possible; i++)
		if (cpu_is_online(i))
			g = MAX(g, __atomic_load_n(&cpus[i].sync_ack, __ATOMIC_ACQUIRE));
	return g + 1;
}

/* Waits until every other CPU made its check of round r. */
static void wait_checked(u32 r)
{
	u64 end = timestamp() + ms_to_ticks(READY_WAIT_MS);

	for (unsigned i = 1; i < cpus_possible; i++)
		while (cpu_is_online(i) && READ_ONCE(checked[i]) != r && timestamp() < end)
			smp_poll(), cpu_relax();
}

/* (1): write, sync at once; the readers check. Returns the value left
 * in the probe. */
static u32 synced_rounds(unsigned rounds, u32 v, unsigned *not_ready)
{
	for (unsigned r = 1; r <= rounds; r++) {
		u32 next = 0x1000 + r;

		WRITE_ONCE(want_ack, next_sync_gen());
		WRITE_ONCE(held, r % 2 == 0);
		WRITE_ONCE(round, r);
		*not_ready += wait_ran_old(v);
		WRITE_ONCE(target, next);
		kit_probe_write(next);
		sync_all_cpus();
		wait_checked(r);
		v = next;
	}
	WRITE_ONCE(round, 0);
	WRITE_ONCE(held, 0);
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
		kit_probe_write(next);
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
	u64 n_checks = 0, n_inf = 0, n_stale = 0, n_held = 0, n_held_stale = 0, n_held_inf = 0;
	u32 v;

	memset(checks, 0, sizeof(checks));
	memset(informative, 0, sizeof(informative));
	memset(stale, 0, sizeof(stale));
	memset(held_checks, 0, sizeof(held_checks));
	memset(held_stale, 0, sizeof(held_stale));
	memset(held_inf, 0, sizeof(held_inf));
	memset(checked, 0, sizeof(checked));
	stop = 0;
	round = 0;
	target = 0;
	kit_probe_write(0);
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
		n_held += held_checks[i];
		n_held_stale += held_stale[i];
		n_held_inf += held_inf[i];
	}
	kit_probe_write(0);
	diag("platform.cmc finding: after a sync: %llu checks (%u rounds x %u CPUs, one per CPU "
	     "per round), %llu informative (the CPU had just run the old code), %llu stale; "
	     "of them held rounds: %llu checks, %llu informative, %llu stale; "
	     "hot rounds: %llu checks, %llu informative, %llu stale; "
	     "%u times a CPU had not run the old code within %d ms",
	     (unsigned long long)n_checks, rounds, cpus_online() - 1, (unsigned long long)n_inf,
	     (unsigned long long)n_stale, (unsigned long long)n_held,
	     (unsigned long long)n_held_inf, (unsigned long long)n_held_stale,
	     (unsigned long long)(n_checks - n_held), (unsigned long long)(n_inf - n_held_inf),
	     (unsigned long long)(n_stale - n_held_stale), not_ready, READY_WAIT_MS);
	if (n_stale) {
		patch_note_platform_defects(n_stale);
		diag("platform.cmc finding: PLATFORM DEFECT: %llu of %llu checks ran stale code after "
		     "a synchronized write; a defect of the CPU, hypervisor or emulator, not of a "
		     "patching protocol", (unsigned long long)n_stale, (unsigned long long)n_checks);
		return test_fail("platform defect: stale code executed after a sync");
	}
	test_pass();
}
