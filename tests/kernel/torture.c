/*
 * The torture harness (see torture.h). One CPU patches; every other CPU
 * but those with a role (hotplug victim, second patcher) spins through
 * the sites (torture_pass.c classifies every pass); injectors put NMIs,
 * storms, hotplug and a second patcher in the middle of each step.
 */
#include "kernel/cowrite.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"
#include "tests/kernel/nmi_hazard.h"
#include "tests/kernel/torture_internal.h"

#define DEFAULT_ITERS 300
#define STOP_WAIT_MS 10000
#define PROGRESS_MS 10000

struct torture *tt_cur;
u64 tt_started, tt_completed;
static u32 stop, nmi_armed;
static u64 hotplug_cycles, hook_runs, second_patches;
static int patcher_cpu, victim_cpu, second_cpu;
static u32 patcher_done, second_waiting;
static bool patcher_aborted;
static unsigned spinner_cpus;
static u64 canary0, callee0;


static void spinner(void *arg)
{
	struct cpu *c = this_cpu();
	bool irqoff = tt_cur->flags & T_IRQOFF;

	c->doing = "spinning through torture sites";
	for (u64 n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
		if (irqoff && n % 64 == 0) {
			irqflags_t f = irq_save();

			/* A long stretch with interrupts off: syncs must wait. */
			for (int k = 0; k < 200 && !READ_ONCE(stop); k++)
				run_sites("spinner, interrupts off", true);
			irq_restore(f);
		}
		run_sites("spinner", true);
		tt_cpu[c->id].passes++;
		if (!opts.spin_tight)
			cpu_relax();
	}
	c->doing = NULL;
}

/*
 * Nesting is counted twice: by the kernel's NMI depth (what the entry
 * code keeps, and what a nested NMI must see), and by this handler's own
 * depth, which nothing else touches. They agree unless the kernel's depth
 * is not restored on some exit path: then every later NMI looks nested.
 */

static bool torture_nmi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();

	if (!READ_ONCE(nmi_armed))
		return false;
	tt_cpu[c->id].nmi_handled++;
	if (c->nmi_depth > 1)
		tt_cpu[c->id].nmi_nested++;
	if (++tt_cpu[c->id].own_depth > 1)
		tt_cpu[c->id].own_nested++;
	/* Nesting on purpose: an NMI to ourselves stays latched while this
	 * handler runs, until the return from a trap taken at a site below
	 * unmasks NMIs (x86: the IRET of a #BP, SDM vol. 3A 6.7.1); then it
	 * lands on top of this one. */
	if (__atomic_exchange_n(&tt_cpu[c->id].self_nmi, 0, __ATOMIC_ACQ_REL)) {
		/* This is our own NMI, nested or not: do not re-arm. */
	} else if ((tt_cur->flags & T_NMI_NESTED) && c->nmi_depth == 1) {
		__atomic_store_n(&tt_cpu[c->id].self_nmi, 1, __ATOMIC_RELEASE);
		send_nmi(c->id);
		__atomic_add_fetch(&tt_cpu[c->id].nmi_sent_to, 1, __ATOMIC_RELAXED);
	}
	if (tt_cur->flags & (T_NMI_SYNC_WAIT | T_NMI_WAITERS))
		nmi_hazard_run(f, c);	/* waits first, when it does */
	else
		nmi_run_sites(c);
	tt_cpu[c->id].own_depth--;
	return true;
}

static void send_nmis_to_others(unsigned burst)
{
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++) {
		if ((int)i == self || !cpu_is_online(i))
			continue;
		for (unsigned k = 0; k < burst; k++)
			send_nmi(i);
		__atomic_add_fetch(&tt_cpu[i].nmi_sent_to, burst, __ATOMIC_RELAXED);
	}
}

/* Runs at every protocol step, on the CPU that performs it. */
static void torture_step(enum patch_step s)
{
	unsigned f = tt_cur->flags;

	__atomic_add_fetch(&tt_step_seq, 1, __ATOMIC_ACQ_REL);
	if (f & T_NMI_SPINNERS)
		send_nmis_to_others(1);
	if (f & T_NMI_NESTED)
		send_nmis_to_others(1);
	if (f & T_NMI_PATCHER) {
		send_nmi(this_cpu()->id);
		__atomic_add_fetch(&tt_cpu[this_cpu()->id].nmi_sent_to, 1, __ATOMIC_RELAXED);
	}
	if (f & T_IPI_STORM)
		for (unsigned i = 0; i < cpus_possible; i++)
			if ((int)i != this_cpu()->id && cpu_is_online(i)) {
				ipi_storm(i, TORTURE_STORM_BURST);
				__atomic_add_fetch(&tt_cpu[i].storm_sent_to, TORTURE_STORM_BURST, __ATOMIC_RELAXED);
			}
	/* Hotplug alternates at every step boundary, so CPUs leave and come
	 * back in the middle of patches; not inside stop-machine's
	 * rendezvous, which holds every other CPU with interrupts off. */
	/* Only by the patcher holding the text lock (and so the hotplug
	 * lock): under cpumask a step of the second patcher's patch may run
	 * on the main patcher's CPU, in an interrupt taken while it waits for
	 * the hotplug lock, which cpu_offline would then wait for too. */
	if ((f & T_HOTPLUG) && this_cpu()->id == patcher_cpu && victim_cpu > 0 &&
	    s != STEP_DIRECT && engine_patching_here()) {
		if (cpu_is_online(victim_cpu)) {
			if (!cpu_offline(victim_cpu))
				hotplug_cycles++;
		} else if (cpu_online(victim_cpu)) {
			test_fail("hotplug: CPU %d did not come back", victim_cpu);
		}
	}
}

/* A CPU coming online runs the sites before it marks itself online. */
static void online_hook(struct cpu *c)
{
	c->doing = "running sites before marking itself online";
	run_sites("CPU coming online", false);
	__atomic_add_fetch(&hook_runs, 1, __ATOMIC_RELAXED);
	c->doing = NULL;
}

static int flip(struct flip_site *sites, unsigned n, unsigned to)
{
	static struct patch_site ps[2][TSITES_MAX];
	static struct patch_batch b[2];
	unsigned slot = this_cpu()->id == second_cpu;
	const char *why;

	for (unsigned i = 0; i < n; i++)
		if (patch_site_init(&ps[slot][i], sites[i].addr, &sites[i].state[to]))
			return test_fail("cannot encode site %p", sites[i].addr), -1;
	why = patch_batch_prepare(&b[slot], ps[slot], n);
	if (why)
		return test_fail("batch refused: %s", why), -1;
	return patch_apply(&b[slot]);
}

/* The text mutex is a trylock loop, not fair: a second patcher that
 * takes it again at once can starve the main one (poke.mix under
 * multi-threaded TCG: 0 patches in a round). Let a patch of the main
 * patcher complete first, or 10 ms pass. */
static void yield_to_patcher(void)
{
	u64 s = __atomic_load_n(&tt_completed, __ATOMIC_ACQUIRE);
	u64 end = timestamp() + ms_to_ticks(10);

	while (__atomic_load_n(&tt_completed, __ATOMIC_ACQUIRE) == s && !READ_ONCE(stop) &&
	       !READ_ONCE(patcher_done) && timestamp() < end)
		cpu_relax();
}

/* The main patcher's side of the same: after its patch, while the second
 * patcher waits for the mutex, let one of its patches through (or 10 ms
 * pass), so that both really patch at the same time (two_patchers
 * requires the second a substantial share). */
static void yield_to_second(void)
{
	u64 s = READ_ONCE(second_patches);
	u64 end = timestamp() + ms_to_ticks(10);

	while (__atomic_load_n(&second_waiting, __ATOMIC_ACQUIRE) &&
	       READ_ONCE(second_patches) == s && !READ_ONCE(stop) && timestamp() < end)
		smp_poll(), cpu_relax();
}

/* The second patcher flips a site of its own, which no spinner runs. */
static void second_patcher(void *arg)
{
	struct flip_site s;

	kit_flip_site(&s, SITE_BRANCH_SPARE);
	for (unsigned i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
		int err;

		__atomic_store_n(&second_waiting, 1, __ATOMIC_RELEASE);
		err = flip(&s, 1, (i + 1) % 2);
		__atomic_store_n(&second_waiting, 0, __ATOMIC_RELEASE);
		if (err)
			break;
		if (s.fn(s.a, s.b) != s.result[(i + 1) % 2])
			test_fail("second patcher: CPU %d ran its old code after its patch", this_cpu()->id);
		__atomic_add_fetch(&second_patches, 1, __ATOMIC_RELEASE);
		yield_to_patcher();
	}
	if (second_patches % 2)
		flip(&s, 1, 0);
}

/* The co-writer: its share of each write step, and passes through the
 * sites between steps (it is a spinner too, the only one at 2 CPUs). */
static void cowriter_idle(void)
{
	run_sites("co-writer", true);
	tt_cpu[this_cpu()->id].passes++;
}

static void cowriter(void *arg)
{
	this_cpu()->doing = "co-writing steps, running the sites";
	patch_cowriter_serve(&stop, cowriter_idle);
	this_cpu()->doing = NULL;
}

/* A run of iters patches stops early once it has used this share of the
 * time left in the test's watchdog budget (divided among t->share runs):
 * on a slow platform (4 vCPUs of multi-threaded TCG on 2 host cores, a
 * sync costing ~10 ms) 300 patches do not fit in 60 s, and a patcher the
 * watchdog unwinds mid-patch leaves a trap byte and a live batch behind
 * for the spinners to trip over. Half: so that the 21 poke.* tests of such
 * a run still fit in run-qemu.sh --timeout 600. */
#define BUDGET_SHARE_NUM 1
#define BUDGET_SHARE_DEN 2

static u64 soft_deadline(const struct torture *t, u64 t0)
{
	u64 dl = watchdog_test_deadline();

	if (dl <= t0)
		return 0;
	return t0 + (dl - t0) / BUDGET_SHARE_DEN * BUDGET_SHARE_NUM / (t->share ? t->share : 1);
}

static void patcher(void *arg)
{
	struct torture *t = tt_cur;
	u64 iters = t->iters ? t->iters : test_iters(DEFAULT_ITERS);
	u64 t0 = timestamp(), last = t0, end = t0 + ms_to_ticks(t->ms);
	u64 soft = soft_deadline(t, t0);

	for (u64 i = 0; t->ms ? timestamp() < end : i < iters; i++) {
		unsigned to = (tt_completed + 1) % 2;

		if (t->stop_caught && test_detections(t->stop_det) >= t->stop_caught)
			break;
		if (!t->ms && soft && timestamp() > soft) {
			diag("%s: stopped after %llu of %llu patches, %u/%u of the test's time budget "
			     "used (a slow platform; seconds= or iters= choose the length)", t->name,
			     (unsigned long long)i, (unsigned long long)iters, BUDGET_SHARE_NUM,
			     BUDGET_SHARE_DEN);
			break;
		}
		__atomic_add_fetch(&tt_started, 1, __ATOMIC_ACQ_REL);
		if (flip(t->sites, t->n, to))
			break;
		__atomic_add_fetch(&tt_completed, 1, __ATOMIC_ACQ_REL);
		run_sites("patcher, after its patch", true);
		if (second_cpu > 0)
			yield_to_second();
		if (t->ms && timestamp() - last > ms_to_ticks(PROGRESS_MS)) {
			last = timestamp();
			diag("%s: %llu patches, %llu s", t->name, (unsigned long long)tt_completed,
			     (unsigned long long)(ticks_to_ns(last - t0) / 1000000000));
		}
	}
	patch_flush();	/* the stream's last sync, with the spinners running */
	__atomic_store_n(&patcher_done, 1, __ATOMIC_RELEASE);
}

static bool is_spinner(unsigned i)
{
	return (int)i != patcher_cpu && (int)i != victim_cpu && (int)i != second_cpu &&
	       !(tt_cur->flags & T_NO_SPINNERS) && cpu_is_online(i);
}

static void stop_everyone(void)
{
	u64 end = timestamp() + ms_to_ticks(STOP_WAIT_MS);

	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++) {
		struct smp_mailbox *m = &cpus[i].task_box;

		while (cpu_is_online(i) &&
		       __atomic_load_n(&m->done, __ATOMIC_ACQUIRE) < READ_ONCE(m->posted)) {
			if (timestamp() > end) {
				test_fail("CPU %u did not stop its torture task within %d ms "
					  "(task posted %llu taken %llu done %llu; %s)", i, STOP_WAIT_MS,
					  (unsigned long long)m->posted, (unsigned long long)m->taken,
					  (unsigned long long)m->done,
					  cpus[i].doing ? cpus[i].doing : "idle");
				break;
			}
			smp_poll();
			cpu_relax();
		}
	}
	if (victim_cpu > 0 && !cpu_is_online(victim_cpu))
		cpu_online(victim_cpu);
}

/* Back to a clean slate after a run a bug (or the watchdog) cut short. */
static void restore_sites(struct torture *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		u8 bytes[INSN_MAX];
		int len = insn_encode(&t->sites[i].state[0], (u64)(uintptr_t)t->sites[i].addr, bytes);

		if (len > 0 && memcmp(t->sites[i].addr, bytes, len))
			patch_raw_write(t->sites[i].addr, bytes, len);
	}
}

static void run_patcher_role(struct torture *t)
{
	struct cpu *volatile c = this_cpu();
	struct recovery *volatile prev = c->abort;
	struct recovery r;

	if (patcher_cpu != 0) {
		/* The count is the run's, not this run's: an earlier control's
		 * catch must not end this one before it began. */
		u64 caught0 = watchdog_expected_caught();

		smp_call(patcher_cpu, patcher, NULL, 0);
		while (!__atomic_load_n(&patcher_done, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&patcher_aborted, __ATOMIC_ACQUIRE) &&
		       (watchdog_expected_caught() == caught0 || !test_expecting_detection()))
			smp_poll(), cpu_relax();
		return;
	}
	if (recovery_set(&r)) {
		c->trap_depth = 0;
		c->nmi_depth = 0;
		patcher_aborted = true;
	} else {
		c->abort = &r;
		patcher(NULL);
	}
	c->abort = prev;
}

static void pick_roles(struct torture *t)
{
	unsigned n = cpus_online();

	patcher_cpu = (t->flags & T_ON_AP) && n > 1 ? 1 : 0;
	victim_cpu = second_cpu = -1;
	/* Each role gets a CPU of its own, and at least one spinner stays. */
	if ((t->flags & T_HOTPLUG) && n >= 3)
		victim_cpu = n - 1;
	if ((t->flags & T_TWO_PATCHERS) && n >= (victim_cpu > 0 ? 4u : 3u))
		second_cpu = victim_cpu > 0 ? n - 2 : n - 1;
	else if ((t->flags & T_COWRITER) && n >= (victim_cpu > 0 ? 3u : 2u))
		second_cpu = victim_cpu > 0 ? n - 2 : n - 1;
	spinner_cpus = 0;
	for (unsigned i = 1; i < cpus_possible; i++)
		spinner_cpus += is_spinner(i);
}

static void reset_counts(void)
{
	tt_started = tt_completed = tt_bad = tt_step_seq = 0;
	hotplug_cycles = hook_runs = second_patches = 0;
	patcher_done = 0;
	patcher_aborted = false;
	stop = 0;
	memset(tt_cpu, 0, sizeof(tt_cpu));
	for (unsigned i = 0; i < cpus_possible; i++)
		tt_cpu[i].storm_recv0 = READ_ONCE(cpus[i].storm_received);
	second_waiting = 0;
	canary0 = READ_ONCE(sf_canary_bad);
	callee0 = READ_ONCE(sf_callee_bad);
}

/* Received against sent, per CPU: an NMI or storm IPI can be lost to
 * coalescing (a pending one absorbs the next, SDM vol. 3A §11.8.4 and
 * §6.7.1), never invented; a spinner that got none at all did not take
 * part. */
static void collect_received(struct torture_result *r)
{
	for (unsigned i = 0; i < cpus_possible; i++) {
		u64 storms = READ_ONCE(cpus[i].storm_received) - tt_cpu[i].storm_recv0;

		r->nmis_sent += tt_cpu[i].nmi_sent_to;
		r->storm_ipis += tt_cpu[i].storm_sent_to;
		r->storm_received += storms;
		if (tt_cpu[i].nmi_handled > tt_cpu[i].nmi_sent_to)
			r->nmis_unsent += tt_cpu[i].nmi_handled - tt_cpu[i].nmi_sent_to;
		if (storms > tt_cpu[i].storm_sent_to)
			r->storms_unsent += storms - tt_cpu[i].storm_sent_to;
		if (is_spinner(i) && tt_cpu[i].nmi_sent_to && !tt_cpu[i].nmi_handled)
			r->cpus_without_nmi++;
		if (is_spinner(i) && tt_cpu[i].storm_sent_to && !storms)
			r->cpus_without_storm++;
	}
}

/* Before anything else patches: the co-writer's counts of this run. */
static struct cowrite_stats cw_run;

static void collect_cowrite(void)
{
	memset(&cw_run, 0, sizeof(cw_run));
	if (!(tt_cur->flags & T_COWRITER) || second_cpu <= 0)
		return;
	patch_cowrite_stats(&cw_run);
	patch_cowriter_set(-1);
}

static void collect(struct torture_result *r, u64 traps0)
{
	memset(r, 0, sizeof(*r));
	r->cowrite_jobs = cw_run.jobs;
	r->cowrite_taken_back = cw_run.taken_back;
	r->cowrite_interleaved = cw_run.interleaved;
	r->patches = tt_completed;
	r->bad = tt_bad;
	r->hotplug_cycles = hotplug_cycles;
	r->online_hook_runs = hook_runs;
	r->second_patches = second_patches;
	r->spinners = spinner_cpus;
	r->aborted = patcher_aborted;
	r->canary_bad = READ_ONCE(sf_canary_bad) - canary0;
	r->callee_bad = READ_ONCE(sf_callee_bad) - callee0;
	for (unsigned i = 0; i < cpus_possible; i++) {
		r->passes += tt_cpu[i].passes;
		r->nmis_handled += tt_cpu[i].nmi_handled;
		r->nmis_mid_patch += tt_cpu[i].nmi_mid;
		r->nmi_nested += tt_cpu[i].nmi_nested;
		r->nmi_nested_own += tt_cpu[i].own_nested;
		r->nmi_stopped_runs += tt_cpu[i].nmi_stopped_runs;
		r->trapped_checked += tt_cpu[i].trapped_checked;
		r->traps += patch_trap_hits(i);
	}
	r->traps -= traps0;
	collect_received(r);
}

/* Puts every site into state[0] through the engine before the run (a
 * call-retarget site does not start in it: it calls in both). */
static int prepare_sites(struct torture *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		u8 bytes[INSN_MAX];
		int len = insn_encode(&t->sites[i].state[0], (u64)(uintptr_t)t->sites[i].addr, bytes);

		if (len <= 0)
			return test_fail("cannot encode site %p", t->sites[i].addr), -1;
		if (!memcmp(t->sites[i].addr, bytes, len))
			continue;
		if (flip(&t->sites[i], 1, 0))
			return -1;
	}
	return 0;
}

bool torture_run(struct torture *t, struct torture_result *r)
{
	u64 traps0 = 0, waits0 = patch_retire_waits(), handovers0 = patch_handovers();

	tt_cur = t;
	reset_counts();
	if (prepare_sites(t)) {
		memset(r, 0, sizeof(*r));
		r->aborted = true;
		return false;
	}
	pick_roles(t);
	for (unsigned i = 0; i < cpus_possible; i++)
		traps0 += patch_trap_hits(i);
	nmi_register(torture_nmi);
	WRITE_ONCE(nmi_armed, true);
	if (t->flags & T_HOTPLUG)
		cpu_online_hook = online_hook;
	if (t->flags & T_DELAYED_HANDLER)
		patch_set_delay(opts.delay_lo, MAX(opts.delay_hi, 200000));
	if (t->flags & T_HANDLER_LATE)
		patch_handler_delay_at = HANDLER_HOLD_END;
	patch_step_hook = torture_step;
	nmi_hazard_begin(t);
	for (unsigned i = 1; i < cpus_possible; i++)
		if (is_spinner(i))
			smp_call(i, spinner, NULL, 0);
	if (second_cpu > 0 && (t->flags & T_COWRITER))
		patch_cowriter_set(second_cpu);
	if (second_cpu > 0)
		smp_call(second_cpu, t->flags & T_COWRITER ? cowriter : second_patcher, NULL, 0);
	run_patcher_role(t);
	collect_cowrite();
	patch_step_hook = NULL;
	nmi_hazard_end();
	stop_everyone();
	WRITE_ONCE(nmi_armed, false);
	nmi_unregister(torture_nmi);
	cpu_online_hook = NULL;
	patch_set_delay(opts.delay_lo, opts.delay_hi);
	patch_handler_delay_at = HANDLER_DELAY_DEFAULT;
	if (patcher_aborted || !patcher_done) {
		patch_force_reset();
		restore_sites(t);
		patcher_aborted = true;
	} else if (tt_completed % 2) {
		flip(t->sites, t->n, 0);	/* leave state[0] behind */
	}
	collect(r, traps0);
	r->retire_waits = patch_retire_waits() - waits0;
	r->handovers = patch_handovers() - handovers0;
	return !r->aborted;
}
