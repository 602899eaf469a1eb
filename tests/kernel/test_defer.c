/*
 * The deferred sync (docs/design.md §8.7) under its races: one CPU patches
 * a site while the others sit halted in their idle loops, and right before
 * each patch it wakes one of them with an interrupt or an NMI whose
 * handler runs the site. A woken CPU leaves its quiescent state exactly
 * while syncs read it, and the handler runs patchable text right after
 * the entry: the entry must have serialized first. The deferred sync's
 * checker (kernel/defer.c) watches every transition and every run; the
 * handler checks what the site returned.
 *
 *   poke.deferred_idle      the scenario, deferral forced on for its run
 *   poke.deferred_nmi_exit  the same woken by interrupts only, with an NMI
 *                           inside each exit that owes a serialization,
 *                           after the word says running and before the
 *                           CPU serialized: the NMI must serialize first
 *   neg.defer_noserialize   a CPU leaves the state without serializing
 *   neg.defer_unordered     the patcher reads the state, waits, then writes
 *   poke.deferred_entry     the same with the NMI entry's own edge site:
 *                           entry text runs before the serialization, so
 *                           its patches must defer nobody
 *   neg.defer_entry         they defer quiescent CPUs all the same
 */
#include "kernel/defer.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"
#include "tests/kernel/sitekit.h"

#define SETTLE_NS 20000		/* lets a woken CPU halt again, now and then */
#define HANDLER_RUNS 4		/* site runs per handler */

static struct flip_site ds;
static u64 started, done;	/* patches begun and completed */
static u32 state;		/* the site's state after the last completed patch */
static u8 nmi_want[MAX_CPUS];
static u64 irq_runs, irq_idle_runs, nmi_runs, nmi_idle_runs, odd, stale;
/* The site is in entry text (the NMI entry's edge site): NMIs only, which
 * run it on their way in; nothing to call. */
static bool edge_mode;

/* Runs the site from a handler. No patch in flight from before the run
 * to after it: the result must be the completed patch's. */
static void run_site(bool nmi, bool first)
{
	bool from_eqs = qs_trap_from_eqs();
	u64 s0 = __atomic_load_n(&started, __ATOMIC_ACQUIRE);
	u64 d0 = __atomic_load_n(&done, __ATOMIC_ACQUIRE);
	u32 to = READ_ONCE(state), r;

	qs_site_run(nmi ? "an NMI handler's site" : "an interrupt handler's site");
	r = ds.fn(ds.a, ds.b);
	if (r != ds.result[0] && r != ds.result[1])
		__atomic_fetch_add(&odd, 1, __ATOMIC_RELAXED);
	else if (s0 == d0 && __atomic_load_n(&started, __ATOMIC_ACQUIRE) == s0 && r != ds.result[to])
		__atomic_fetch_add(&stale, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(nmi ? &nmi_runs : &irq_runs, 1, __ATOMIC_RELAXED);
	if (from_eqs && first)
		__atomic_fetch_add(nmi ? &nmi_idle_runs : &irq_idle_runs, 1, __ATOMIC_RELAXED);
}

/* A handler that goes on running the site for a while, yielding between
 * runs (pause: a vCPU switch under single-threaded TCG): a CPU counted as
 * deferred while it runs is then seen running after the sync. */
static void run_sites(bool nmi)
{
	for (unsigned i = 0; i < HANDLER_RUNS; i++) {
		run_site(nmi, i == 0);
		cpu_relax();
	}
}

static u32 waker_pending;	/* the waker's wake-up not handled yet */

static void on_storm(void)
{
	run_sites(false);
	__atomic_store_n(&waker_pending, 0, __ATOMIC_RELEASE);
}

static bool on_nmi(struct trap_frame *f)
{
	if (!__atomic_exchange_n(&nmi_want[this_cpu()->id], 0, __ATOMIC_ACQ_REL))
		return false;
	if (!READ_ONCE(edge_mode)) {
		run_sites(true);
		return true;
	}
	__atomic_fetch_add(&nmi_runs, 1, __ATOMIC_RELAXED);
	if (qs_trap_from_eqs())
		__atomic_fetch_add(&nmi_idle_runs, 1, __ATOMIC_RELAXED);
	return true;
}

static int flip(unsigned to)
{
	static struct patch_site s;
	static struct patch_batch b;
	const char *why;
	int ret;

	if (patch_site_init(&s, ds.addr, &ds.state[to]))
		return test_fail("cannot encode the site's state %u", to), -1;
	why = patch_batch_prepare(&b, &s, 1);
	if (why)
		return test_fail("batch refused: %s", why), -1;
	__atomic_add_fetch(&started, 1, __ATOMIC_ACQ_REL);
	ret = patch_apply(&b);
	WRITE_ONCE(state, to);
	__atomic_add_fetch(&done, 1, __ATOMIC_ACQ_REL);
	return ret ? test_fail("patch %u failed", to), -1 : 0;
}

/* The next other online CPU after *t. */
static int next_cpu(int *t)
{
	for (unsigned k = 0; k < cpus_possible; k++) {
		*t = (*t + 1) % (int)cpus_possible;
		if (*t != this_cpu()->id && cpu_is_online(*t))
			return *t;
	}
	return -1;
}

/* poke.deferred_nmi_exit: interrupts wake the CPUs, and each exit from
 * the EQS that owes a serialization takes an NMI in its window. */
static bool exit_nmi_mode;
static u64 exit_nmis, exit_nmi_misses;
static u32 exit_hooks_busy;

#define EXIT_NMI_WAIT_MS 10
#define EXIT_NMI_MIN_POLLS 100

/* Inside an exit (qs_leave_hook): an NMI to this CPU, whose handler runs
 * the site, and a wait until it has. An NMI cannot nest in an NMI, so an
 * exit from an NMI's own entry (not in this test: interrupts wake) would
 * only time out, counted. A self-NMI is taken at the next instruction
 * boundary (SDM vol. 3A 6.7), so the wait counts polls as well as time:
 * a host that deschedules this vCPU for longer than the budget, between
 * the NMI and the first poll, lets the time run out with no boundary
 * passed where QEMU delivers it (a loaded host under MTTCG did: "1 NMIs
 * ... not taken within 10 ms"). A miss is both the time and the polls. */
static void nmi_inside_exit(u64 old)
{
	int id = this_cpu()->id;
	unsigned polls = 0;
	u64 end;

	if (!(old & QS_OWED))
		return;
	__atomic_add_fetch(&exit_hooks_busy, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&nmi_want[id], 1, __ATOMIC_RELEASE);
	send_nmi(id);
	end = timestamp() + ms_to_ticks(EXIT_NMI_WAIT_MS);
	while (__atomic_load_n(&nmi_want[id], __ATOMIC_ACQUIRE) &&
	       (timestamp() < end || polls < EXIT_NMI_MIN_POLLS)) {
		cpu_relax();
		polls++;
	}
	if (__atomic_exchange_n(&nmi_want[id], 0, __ATOMIC_ACQ_REL))
		__atomic_add_fetch(&exit_nmi_misses, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&exit_nmis, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&exit_hooks_busy, 1, __ATOMIC_ACQ_REL);
}

static void wake(int c)
{
	if (READ_ONCE(exit_nmi_mode)) {
		ipi_storm(c, 1);
	} else if (READ_ONCE(edge_mode) || rng_range(&this_cpu()->rng, 0, 3) == 0) {
		__atomic_store_n(&nmi_want[c], 1, __ATOMIC_RELEASE);
		send_nmi(c);
	} else {
		ipi_storm(c, 1);
	}
}

/* A waker (neg.defer_unordered): another CPU wakes the target with an
 * interrupt whenever it finds it halted, so that under single-threaded
 * TCG, where a pause switches vCPUs, the wake-up lands in whatever pause
 * the patcher is in, the unordered patcher's window included. One
 * wake-up at a time, and no NMIs: under that defect the word may say
 * halted while the CPU runs, and NMIs sent on its word would nest in the
 * handler's traps (an IRET unmasks NMIs) without end. */
static u32 waker_stop;
static int waker_target;

static void waker(void *arg)
{
	this_cpu()->doing = "waking a CPU whenever it halts (neg.defer_unordered)";
	while (!__atomic_load_n(&waker_stop, __ATOMIC_ACQUIRE)) {
		if (!__atomic_load_n(&waker_pending, __ATOMIC_ACQUIRE) && qs_quiescent(waker_target)) {
			__atomic_store_n(&waker_pending, 1, __ATOMIC_RELEASE);
			ipi_storm(waker_target, 1);
		}
		cpu_relax();
	}
	this_cpu()->doing = NULL;
}

/* One wake-up (an NMI one time in four) if the patcher wakes, then a
 * patch. */
static int round_one(int *t, bool wakes)
{
	int c = next_cpu(t);

	if (c < 0)
		return -1;
	if (wakes)
		wake(c);
	if (flip(READ_ONCE(state) ^ 1))
		return -1;
	if (rng_range(&this_cpu()->rng, 0, 3) == 0)
		delay_ns(SETTLE_NS);
	return 0;
}

/* The waker's CPU: the last, not the first a sync reads. */
static int last_other_cpu(void)
{
	int w = -1;

	for (unsigned c = 0; c < cpus_possible; c++)
		if ((int)c != this_cpu()->id && cpu_is_online(c))
			w = (int)c;
	return w;
}

struct defer_run {
	unsigned rounds;
	int waker;		/* the waker's CPU, -1: none */
	bool patcher_wakes;	/* the patcher wakes a CPU before each patch */
	bool edge;		/* the site is the NMI entry's edge site */
	bool exit_nmi;		/* interrupts wake; an NMI inside each owing exit */
	struct qs_stats before, after;
	u64 ms;
};

/* The scenario, deferral forced on, sites back as they were. */
static void defer_scenario(struct defer_run *run)
{
	bool saved = sync_deferred;
	u64 t0 = timestamp();
	int t = this_cpu()->id;
	unsigned i;

	if (run->edge)
		kit_edge_site(&ds, EDGE_NMI_ENTRY);
	else
		kit_flip_site(&ds, SITE_BRANCH_SPARE);
	WRITE_ONCE(edge_mode, run->edge);
	started = done = 0;
	state = 0;
	irq_runs = irq_idle_runs = nmi_runs = nmi_idle_runs = odd = stale = 0;
	qs_stats(&run->before);
	WRITE_ONCE(sync_deferred, true);
	nmi_register(on_nmi);
	WRITE_ONCE(smp_storm_hook, on_storm);
	WRITE_ONCE(exit_nmi_mode, run->exit_nmi);
	if (run->exit_nmi)
		WRITE_ONCE(qs_leave_hook, nmi_inside_exit);
	if (run->waker >= 0) {
		waker_target = next_cpu(&t);	/* the first a sync reads */
		__atomic_store_n(&waker_stop, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&waker_pending, 0, __ATOMIC_RELEASE);
		smp_call(run->waker, waker, NULL, 0);
	}
	for (i = 0; i < run->rounds; i++)
		if (round_one(&t, run->patcher_wakes))
			break;
	if (run->waker >= 0) {
		__atomic_store_n(&waker_stop, 1, __ATOMIC_RELEASE);
		smp_wait_idle(run->waker);
	}
	if (READ_ONCE(state))
		flip(0);
	WRITE_ONCE(qs_leave_hook, NULL);
	/* A hook in flight waits for its NMI: on_nmi stays until it is done
	 * (a generous budget: it ends as soon as the hooks have). */
	for (u64 end = timestamp() + ms_to_ticks(100 * EXIT_NMI_WAIT_MS);
	     __atomic_load_n(&exit_hooks_busy, __ATOMIC_ACQUIRE) && timestamp() < end;)
		smp_poll(), cpu_relax();
	WRITE_ONCE(exit_nmi_mode, false);
	delay_ns(SETTLE_NS);	/* the last handlers finish */
	WRITE_ONCE(smp_storm_hook, NULL);
	nmi_unregister(on_nmi);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		nmi_want[c] = 0;
	WRITE_ONCE(sync_deferred, saved);
	WRITE_ONCE(edge_mode, false);
	qs_stats(&run->after);
	run->ms = ticks_to_ns(timestamp() - t0) / 1000000;
	run->rounds = i;
}

static void print_run(const char *name, const struct defer_run *run)
{
	const struct qs_stats *a = &run->after, *b = &run->before;

	diag("%s: %u patches in %llu ms (protocol %s); syncs that deferred a CPU %llu (%llu CPUs), "
	     "EQS exits %llu, that serialized %llu; site runs in interrupts %llu, interrupts from "
	     "idle that ran it %llu; in NMIs %llu, NMIs in idle that ran it %llu; handler runs "
	     "stale %llu, neither result %llu", name, run->rounds, (unsigned long long)run->ms,
	     proto->name,
	     (unsigned long long)(a->syncs_deferring - b->syncs_deferring),
	     (unsigned long long)(a->cpus_deferred - b->cpus_deferred),
	     (unsigned long long)(a->exits - b->exits),
	     (unsigned long long)(a->exits_serialized - b->exits_serialized),
	     (unsigned long long)irq_runs, (unsigned long long)irq_idle_runs,
	     (unsigned long long)nmi_runs, (unsigned long long)nmi_idle_runs,
	     (unsigned long long)stale, (unsigned long long)odd);
}

/* stop-machine's rendezvous takes every CPU, quiescent or not: a CPU
 * leaving the EQS while the whole instruction is being written would run
 * it torn, so it never defers (docs/design.md §8.7). */
static bool protocol_defers(void)
{
	return proto != patch_proto_find("stop-machine");
}

DEFINE_TEST(poke, deferred_idle, 2, 0,
	    "syncs defer CPUs halted in idle while interrupts and NMIs wake them to run the site")
{
	struct defer_run run = { .rounds = test_iters(150), .waker = -1, .patcher_wakes = true };
	const struct qs_stats *a = &run.after, *b = &run.before;

	if (!protocol_defers())
		return test_skip("protocol %s rendezvous every CPU: nothing is deferred", proto->name);
	/* With three CPUs or more, a waker too: CPUs then also leave the
	 * EQS in the patcher's own pauses, syncs included. */
	if (cpus_online() >= 3)
		run.waker = last_other_cpu();
	defer_scenario(&run);
	print_run("poke.deferred_idle", &run);
	test_check(!odd, "%llu handler runs returned neither state's result", (unsigned long long)odd);
	if (stale)
		test_detect(DET_OUTCOME, "%llu handler runs returned the old instruction's result after "
			    "its patch completed", (unsigned long long)stale);
	if (a->syncs_deferring == b->syncs_deferring)
		return test_error("no sync deferred a CPU");
	if (a->exits_serialized == b->exits_serialized)
		return test_error("no CPU left the EQS owing a serialization");
	if (!irq_idle_runs || !nmi_idle_runs)
		return test_error("no %s from idle ran the site", irq_idle_runs ? "NMI" : "interrupt");
	test_pass();
}

DEFINE_TEST(poke, deferred_nmi_exit, 2, 0,
	    "an NMI inside a deferred CPU's exit from idle, after its word says running and before it serialized")
{
	struct defer_run run = { .rounds = test_iters(150), .waker = -1, .patcher_wakes = true,
				 .exit_nmi = true };

	if (!protocol_defers())
		return test_skip("protocol %s rendezvous every CPU: nothing is deferred", proto->name);
	exit_nmis = exit_nmi_misses = 0;
	defer_scenario(&run);
	print_run("poke.deferred_nmi_exit", &run);
	diag("poke.deferred_nmi_exit: %llu NMIs ran the site inside an exit that owed a serialization; "
	     "%llu not taken within %d ms", (unsigned long long)exit_nmis,
	     (unsigned long long)exit_nmi_misses, EXIT_NMI_WAIT_MS);
	test_check(!odd, "%llu handler runs returned neither state's result", (unsigned long long)odd);
	test_check(!exit_nmi_misses, "%llu NMIs sent inside an exit were not taken within %d ms",
		   (unsigned long long)exit_nmi_misses, EXIT_NMI_WAIT_MS);
	if (stale)
		test_detect(DET_OUTCOME, "%llu handler runs returned the old instruction's result after "
			    "its patch completed", (unsigned long long)stale);
	if (!exit_nmis)
		return test_error("no NMI ran inside an exit that owed a serialization");
	test_pass();
}

/* A control: the scenario with a defect built in, until the deferred
 * sync's checker caught it (at most 8 runs). */
static void defer_control(const char *name, enum qs_defect d, bool edge)
{
	const struct patch_proto *saved = proto;
	struct defer_run run = { .edge = edge };
	unsigned tries;
	u64 lo, hi;

	/* The first protocol, the default: one site per sequence, three
	 * syncs, the standard wait. */
	patch_use_protocol(patch_protocols[0]);
	/* The unordered patcher's window must see the CPU leave: a waker
	 * CPU wakes it whenever the patcher pauses (no torture delays: the
	 * window's pause is then the patcher's first in a sync). */
	patch_get_delay(&lo, &hi);
	if (d == QS_UNORDERED)
		patch_set_delay(0, 0);
	run.waker = d == QS_UNORDERED ? last_other_cpu() : -1;
	run.patcher_wakes = d != QS_UNORDERED;
	test_expect_detection(true);
	qs_defect = d;
	for (tries = 1; tries <= 8; tries++) {
		run.rounds = test_iters(150);
		defer_scenario(&run);
		print_run(name, &run);
		if (test_detections(DET_DEFER))
			break;
	}
	qs_defect = QS_SOUND;
	qs_forgive();
	test_expect_detection(false);
	patch_set_delay(lo, hi);
	patch_use_protocol(saved);
	for (int k = 0; k < DET_COUNT; k++)
		if (test_detections(k))
			diag("%s: %s fired %llu times", name, detector_name(k),
			     (unsigned long long)test_detections(k));
	if (!test_detections(DET_DEFER))
		return test_fail("the defect went unseen by the %s, the detector it requires, in %u "
				 "runs", detector_name(DET_DEFER), tries - 1);
	diag("%s: required detector: the %s (run %u)", name, detector_name(DET_DEFER), tries);
	test_pass();
}

DEFINE_TEST(neg, defer_noserialize, 2, 0,
	    "a CPU that leaves its quiescent state without serializing is caught by the deferred-sync checker")
{
	defer_control("neg.defer_noserialize", QS_NO_SERIALIZE, false);
}

DEFINE_TEST(neg, defer_unordered, 3, 0,
	    "a patcher that reads the quiescent state, then writes it after a delay, is caught by the deferred-sync checker")
{
	defer_control("neg.defer_unordered", QS_UNORDERED, false);
}

DEFINE_TEST(poke, deferred_entry, 2, 0,
	    "a patch of entry text defers no CPU: CPUs halted in idle, woken by NMIs, run it on their way out")
{
	struct defer_run run = { .rounds = test_iters(60), .waker = -1, .patcher_wakes = true,
				 .edge = true };
	const struct qs_stats *a = &run.after, *b = &run.before;

	if (!protocol_defers())
		return test_skip("protocol %s rendezvous every CPU: nothing is deferred", proto->name);
	defer_scenario(&run);
	print_run("poke.deferred_entry", &run);
	test_check(a->syncs_deferring == b->syncs_deferring,
		   "%llu syncs of entry text deferred %llu CPUs",
		   (unsigned long long)(a->syncs_deferring - b->syncs_deferring),
		   (unsigned long long)(a->cpus_deferred - b->cpus_deferred));
	if (!nmi_idle_runs)
		return test_error("no NMI woke a CPU from idle to run the patched entry text");
	test_pass();
}

DEFINE_TEST(neg, defer_entry, 2, 0,
	    "syncs of entry text that defer quiescent CPUs are caught by the deferred-sync checker")
{
	defer_control("neg.defer_entry", QS_DEFER_ENTRY, true);
}
