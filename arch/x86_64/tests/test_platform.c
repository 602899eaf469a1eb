/*
 * platform.cmc: cross-modifying code on this platform, with no patching
 * protocol in the way. (1) After a write and a proper sync (an IPI whose
 * handler serializes, acknowledged), every CPU must run the new code:
 * stale execution then is a defect of the platform (CPU, hypervisor or
 * emulator: QEMU before 8.1 under multi-threaded TCG), reported as such.
 * (2) Without a sync, how long other CPUs take to see the write, measured
 * and printed; x86 promises nothing there (SDM 8.1.3), so it is a finding,
 * not a verdict.
 */
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define UNSYNCED_WAIT_MS 200

u32 cmc_probe(void);

static u32 target, stop;
static u64 seen_at[MAX_CPUS], stale_after_sync[MAX_CPUS];

static void write_probe(u32 v)
{
	patch_raw_write((u8 *)(uintptr_t)cmc_probe + 1, (const u8 *)&v, 4);
}

/* In the sync IPI handler: serialize (SDM 9.3), then run the code. */
static void check_after_sync(void *arg)
{
	arch_serialize();
	if (cmc_probe() != READ_ONCE(target))
		stale_after_sync[this_cpu()->id]++;
}

static void reader(void *arg)
{
	int id = this_cpu()->id;

	this_cpu()->doing = "running platform.cmc's probe";
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		if (!seen_at[id] && cmc_probe() == READ_ONCE(target))
			seen_at[id] = timestamp();
		if (!opts.spin_tight)
			cpu_relax();
	}
	this_cpu()->doing = NULL;
}

static int cmp_u64(u64 a, u64 b)
{
	return a < b ? -1 : a > b;
}

DEFINE_TEST(platform, cmc, 2, 0,
	    "does every CPU run code another CPU wrote: after a sync (must), and without one (measured)")
{
	unsigned rounds = test_iters(50), lat_n = 0, never = 0;
	static u64 lat[MAX_CPUS * 64];
	u64 stale = 0;

	memset(stale_after_sync, 0, sizeof(stale_after_sync));
	stop = 0;
	smp_call_others(reader, NULL, 0);
	for (unsigned r = 1; r <= rounds; r++) {
		u64 t0, end;

		memset(seen_at, 0, sizeof(seen_at));
		WRITE_ONCE(target, 0x1000 + r);
		t0 = timestamp();
		write_probe(0x1000 + r);	/* (2): no sync */
		end = t0 + ms_to_ticks(UNSYNCED_WAIT_MS);
		for (unsigned i = 1; i < cpus_possible; i++) {
			while (cpu_is_online(i) && !READ_ONCE(seen_at[i]) && timestamp() < end)
				smp_poll(), cpu_relax();
			if (!seen_at[i])
				never++;
			else if (lat_n < ARRAY_SIZE(lat))
				lat[lat_n++] = seen_at[i] > t0 ? seen_at[i] - t0 : 0;
		}
		/* (1): a sync, then every CPU must see it. */
		smp_call_others(check_after_sync, NULL, SMP_IRQ | SMP_WAIT);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++) {
		if (cpu_is_online(i))
			smp_wait_idle(i);
		stale += stale_after_sync[i];
	}
	write_probe(0);
	for (unsigned i = 1; i < lat_n; i++)	/* insertion sort: few */
		for (unsigned j = i; j && cmp_u64(lat[j - 1], lat[j]) > 0; j--) {
			u64 t = lat[j];

			lat[j] = lat[j - 1];
			lat[j - 1] = t;
		}
	if (lat_n)
		diag("platform.cmc finding: an unsynchronized write was seen by the other CPUs after "
		     "median %llu ns, max %llu ns (%u sightings); %u times not within %d ms",
		     (unsigned long long)ticks_to_ns(lat[lat_n / 2]),
		     (unsigned long long)ticks_to_ns(lat[lat_n - 1]), lat_n, never, UNSYNCED_WAIT_MS);
	else
		diag("platform.cmc finding: an unsynchronized write was never seen within %d ms (%u times)",
		     UNSYNCED_WAIT_MS, never);
	if (stale) {
		diag("platform.cmc finding: PLATFORM DEFECT: %llu times a CPU ran stale code after a "
		     "synchronized write (%u rounds); a defect of the CPU, hypervisor or emulator, "
		     "not of a patching protocol", (unsigned long long)stale, rounds);
		return test_fail("platform defect: stale code executed after a sync");
	}
	diag("platform.cmc finding: after a sync every CPU ran the new code, %u rounds x %u CPUs",
	     rounds, cpus_online() - 1);
	test_pass();
}
