/*
 * Hotplug against the text lock (docs/design.md §13.2): CPU hotplug,
 * driven from a CPU that is not the patcher, holds the hotplug lock and
 * patches text as the CPU comes up, while the patcher patches; the
 * lock-order checker (kernel/lockorder.c) watches every acquisition.
 *
 *   poke.hotplug_lock   the safe order (hotplug lock outside the text
 *                       lock) under concurrent hotplug: no inversion, no
 *                       hang, and the two really met
 *   neg.lock_order      the inverted order, hotplug and patching one after
 *                       the other so that they cannot deadlock: the order
 *                       checker must still see it
 *   neg.lock_deadlock   the inverted order under concurrent hotplug: the
 *                       deadlock happens and the watchdog must see it
 */
#include "kernel/lockorder.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"
#include "tests/kernel/sitekit.h"

#define HL_CYCLES 6		/* hotplug cycles a run aims at */
#define HL_MS 1500		/* ... within this long */
#define HL_STOP_MS 10000
#define HL_YIELD_MS 20		/* let a waiter for the hotplug lock in */

extern bool patch_lock_order_inverted;

static struct flip_site hl_site[2];	/* [0] the patcher's, [1] the hotplug path's */
static u32 hl_state[2];
static u32 hl_stop, hl_patcher_done, hl_driver_done;
static u64 hl_patches, hl_cycles, hl_concurrent, hl_up_patches, hl_bad;
static int hl_victim;

/* Flips site i into its other state (static descriptors, never on a
 * stack: patch_batch_prepare) and checks it on this CPU. */
static int hl_flip(unsigned i)
{
	static struct patch_site ps[2];
	static struct patch_batch b[2];
	struct flip_site *f = &hl_site[i];
	unsigned to = !hl_state[i];

	if (patch_site_init(&ps[i], f->addr, &f->state[to]) ||
	    patch_batch_prepare(&b[i], &ps[i], 1) || patch_apply(&b[i]))
		return -1;
	hl_state[i] = to;
	if (f->fn(f->a, f->b) != f->result[to])
		__atomic_add_fetch(&hl_bad, 1, __ATOMIC_RELAXED);
	return 0;
}

/* cpu_online's hook, on the driver, still holding the hotplug lock: text
 * patched as a CPU comes up. */
static void up_hook(int cpu)
{
	if (!hl_flip(1))
		__atomic_add_fetch(&hl_up_patches, 1, __ATOMIC_RELAXED);
}

static void driver(void *arg)
{
	this_cpu()->doing = "hotplug: taking a CPU offline and online, patching as it comes up";
	while (!__atomic_load_n(&hl_stop, __ATOMIC_ACQUIRE)) {
		u64 p0 = __atomic_load_n(&hl_patches, __ATOMIC_ACQUIRE);

		if (cpu_offline(hl_victim)) {
			test_fail("CPU %d did not go offline", hl_victim);
			break;
		}
		olock_yield(&hotplug_lock, HL_YIELD_MS);
		if (cpu_online(hl_victim)) {
			test_fail("CPU %d did not come back", hl_victim);
			break;
		}
		olock_yield(&hotplug_lock, HL_YIELD_MS);
		hl_cycles++;
		if (__atomic_load_n(&hl_patches, __ATOMIC_ACQUIRE) != p0)
			hl_concurrent++;
	}
	this_cpu()->doing = NULL;
	__atomic_store_n(&hl_driver_done, 1, __ATOMIC_RELEASE);
}

/* Patches until told to stop, or HL_CYCLES hotplug cycles, or HL_MS. */
static void patcher(void *arg)
{
	u64 end = timestamp() + ms_to_ticks(HL_MS);

	this_cpu()->doing = "patching against hotplug";
	while (!READ_ONCE(hl_stop) && timestamp() < end && READ_ONCE(hl_cycles) < HL_CYCLES) {
		if (hl_flip(0))
			break;
		__atomic_add_fetch(&hl_patches, 1, __ATOMIC_RELEASE);
		olock_yield(&hotplug_lock, HL_YIELD_MS);
	}
	this_cpu()->doing = NULL;
	__atomic_store_n(&hl_patcher_done, 1, __ATOMIC_RELEASE);
}

static void hl_begin(int victim)
{
	kit_flip_site(&hl_site[0], SITE_BRANCH);
	kit_flip_site(&hl_site[1], SITE_BRANCH_SPARE);
	hl_state[0] = hl_state[1] = 0;
	hl_stop = hl_patcher_done = hl_driver_done = 0;
	hl_patches = hl_cycles = hl_concurrent = hl_up_patches = hl_bad = 0;
	hl_victim = victim;
	WRITE_ONCE(cpu_up_text_hook, up_hook);
}

/* Stops the driver (the locks are free by now), brings the victim back
 * and leaves both sites in state 0, through the engine. */
static void hl_end(int driver_cpu)
{
	u64 end = timestamp() + ms_to_ticks(HL_STOP_MS);

	__atomic_store_n(&hl_stop, 1, __ATOMIC_RELEASE);
	while (driver_cpu > 0 && !__atomic_load_n(&hl_driver_done, __ATOMIC_ACQUIRE)) {
		if (timestamp() > end) {
			test_fail("the hotplug driver did not stop within %d ms", HL_STOP_MS);
			break;
		}
		smp_poll();
		cpu_relax();
	}
	WRITE_ONCE(cpu_up_text_hook, NULL);
	if (!cpu_is_online(hl_victim))
		cpu_online(hl_victim);
	for (unsigned i = 0; i < 2; i++)
		if (hl_state[i])
			hl_flip(i);
}

static void print_counts(const char *name, u64 waits_h, u64 waits_t)
{
	struct lockorder_stats st;

	lockorder_stats(&st);
	diag("%s: %llu patches, %llu hotplug cycles of CPU %d (%llu with patches made during "
	     "them), %llu patches by the hotplug path as the CPU came up", name,
	     (unsigned long long)hl_patches, (unsigned long long)hl_cycles, hl_victim,
	     (unsigned long long)hl_concurrent, (unsigned long long)hl_up_patches);
	diag("%s: waits for the hotplug lock %llu, for the text lock %llu; lock-order checks "
	     "%llu, distinct ordered pairs %llu, inversions %llu", name,
	     (unsigned long long)waits_h, (unsigned long long)waits_t,
	     (unsigned long long)st.checks, (unsigned long long)st.pairs,
	     (unsigned long long)st.inversions);
}

DEFINE_TEST(poke, hotplug_lock, 3, 0,
	    "CPU hotplug from another CPU, patching text as a CPU comes up, against the patcher: the safe lock order")
{
	u64 wh = hotplug_lock.waits, wt = text_lock.waits;
	struct lockorder_stats st0, st;

	lockorder_stats(&st0);
	hl_begin(cpus_online() - 1);
	smp_call(1, driver, NULL, 0);
	patcher(NULL);
	hl_end(1);
	wh = hotplug_lock.waits - wh;
	wt = text_lock.waits - wt;
	print_counts("poke.hotplug_lock", wh, wt);
	lockorder_stats(&st);
	test_check(!hl_bad, "%llu site runs after a patch returned the old outcome",
		   (unsigned long long)hl_bad);
	if (!hl_cycles || !hl_concurrent || !hl_up_patches)
		return test_error("hotplug and patching did not run together: %llu cycles, %llu "
				  "with patches, %llu patches as a CPU came up",
				  (unsigned long long)hl_cycles, (unsigned long long)hl_concurrent,
				  (unsigned long long)hl_up_patches);
	if (!wh)
		return test_error("the patcher and hotplug never waited for each other's lock");
	if (st.checks == st0.checks)
		return test_error("the lock-order checker checked no pair");
	test_pass();
}

DEFINE_TEST(neg, lock_order, 3, 0,
	    "the text lock taken before the hotplug lock is caught by the lock-order checker in a run that cannot deadlock")
{
	u64 caught0 = watchdog_expected_caught();

	lockorder_reset();
	test_expect_detection(true);
	WRITE_ONCE(patch_lock_order_inverted, true);
	/* One hotplug cycle alone (hotplug, then text as the CPU comes up),
	 * then patches alone (text, then hotplug): never both at once. */
	hl_begin(cpus_online() - 1);
	smp_call(1, driver, NULL, 0);
	while (!__atomic_load_n(&hl_driver_done, __ATOMIC_ACQUIRE) && !READ_ONCE(hl_cycles))
		smp_poll(), cpu_relax();
	__atomic_store_n(&hl_stop, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&hl_driver_done, __ATOMIC_ACQUIRE))
		smp_poll(), cpu_relax();
	for (unsigned i = 0; i < 4; i++)
		if (!hl_flip(0))
			hl_patches++;
	WRITE_ONCE(patch_lock_order_inverted, false);
	print_counts("neg.lock_order", 0, 0);
	/* Forget the wrong order it was taught before the sites are put back
	 * in the right one, which it would now call an inversion. */
	lockorder_reset();
	hl_end(1);
	test_expect_detection(false);
	diag("neg.lock_order: caught by the lock-order checker %llu, the watchdog %llu (no "
	     "deadlock: hotplug and patching never overlapped)",
	     (unsigned long long)test_detections(DET_LOCK_ORDER),
	     (unsigned long long)(watchdog_expected_caught() - caught0));
	if (!test_detections(DET_LOCK_ORDER))
		return test_fail("the inverted lock order went unseen by the lock-order checker, "
				 "the detector it requires");
	diag("neg.lock_order: required detector: the lock-order checker");
	test_pass();
}

/* The patcher on an AP: the watchdog unwinds a stuck AP to its idle loop
 * and only counts a stall it was told to expect. */
#define DL_PATCHER 1
#define DL_DRIVER 2
#define DL_WAIT_MS 15000

DEFINE_TEST(neg, lock_deadlock, 4, 0,
	    "the text lock taken before the hotplug lock deadlocks against hotplug patching as a CPU comes up; the watchdog sees it")
{
	u64 caught0 = watchdog_expected_caught(), end;
	u64 order;

	lockorder_reset();
	test_expect_detection(true);
	watchdog_expect_stall(DL_PATCHER);
	WRITE_ONCE(patch_lock_order_inverted, true);
	hl_begin(cpus_online() - 1);
	smp_call(DL_DRIVER, driver, NULL, 0);
	smp_call(DL_PATCHER, patcher, NULL, 0);
	/* The patcher waits for the hotplug lock with interrupts off, holding
	 * the text lock that the driver, holding the hotplug lock, waits for:
	 * no tick on the patcher's CPU, until the watchdog unwinds it. */
	end = timestamp() + ms_to_ticks(DL_WAIT_MS);
	while (watchdog_expected_caught() == caught0 &&
	       !__atomic_load_n(&hl_patcher_done, __ATOMIC_ACQUIRE) && timestamp() < end)
		smp_poll(), cpu_relax();
	__atomic_store_n(&hl_stop, 1, __ATOMIC_RELEASE);
	if (watchdog_expected_caught() == caught0 && !hl_patcher_done) {
		/* Deadlocked and unseen: nothing can be undone safely (freeing
		 * the text lock would let both patch at once). */
		WRITE_ONCE(patch_lock_order_inverted, false);
		watchdog_expect_stall(-1);
		test_expect_detection(false);
		return test_fail("the deadlock of the inverted lock order went unseen by the "
				 "watchdog, the detector it requires: CPUs %d and %d still hang after "
				 "%d ms", DL_PATCHER, DL_DRIVER, DL_WAIT_MS);
	}
	/* What the unwound patcher held: the driver may then go on. */
	if (watchdog_expected_caught() != caught0) {
		patch_force_reset();
		lockorder_forget_cpu(DL_PATCHER);
	}
	WRITE_ONCE(patch_lock_order_inverted, false);
	print_counts("neg.lock_deadlock", 0, 0);
	lockorder_reset();	/* as in neg.lock_order */
	hl_end(DL_DRIVER);
	watchdog_expect_stall(-1);
	test_expect_detection(false);
	order = test_detections(DET_LOCK_ORDER);
	diag("neg.lock_deadlock: caught by the watchdog %llu, the lock-order checker %llu",
	     (unsigned long long)test_detections(DET_WATCHDOG), (unsigned long long)order);
	if (!test_detections(DET_WATCHDOG))
		return test_fail("the deadlock of the inverted lock order went unseen by the "
				 "watchdog, the detector it requires (%s)",
				 hl_patcher_done ? "the patcher finished: no deadlock happened" :
				 "the patcher never finished and was not unwound");
	diag("neg.lock_deadlock: required detector: the watchdog");
	test_pass();
}
