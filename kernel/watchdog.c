/* The watchdog (see watchdog.h). */
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

#define NMI_FNS 4
/*
 * How many other CPUs one tick checks. Every online CPU ticks, so a full
 * scan per tick costs N^2 checks per tick period: at 288 CPUs under TCG,
 * where all vCPUs share one host thread, that was a large share of what
 * the emulator did (smp.ipi's 57400 round trips did not finish in 60 s
 * with it, took 34 s without). A cursor shared by all
 * tickers hands out CPUs in turn instead, at least 8 and N / 16 a tick,
 * so that a lone ticker still covers every CPU in 16 of its ticks.
 * (A longer tick at many CPUs was tried: at 288 CPUs under TCG, a 90 ms
 * tick made smp.ipi's round trips 3x slower, 1.33 ms mean against 0.47
 * ms with 10 ms, same host load: the emulator's round robin seems to
 * move on at the ticks' kicks.)
 */
#define CHECKS_PER_TICK 8

enum { WD_NONE, WD_SAMPLE_AND_UNWIND };

static struct spinlock wd_lock = SPINLOCK_INIT;
static u64 test_deadline;		/* 0: no test running */
static u64 test_budget_ms;
static bool deadline_fired;
static bool wd_stopped;
static int expected_cpu = -1;
static u64 expected_caught, restarts;
static nmi_fn nmi_fns[NMI_FNS];
static unsigned check_cursor;		/* under wd_lock */
static u64 checker_gap;			/* the checking CPU's own tick gap */

void nmi_register(nmi_fn fn)
{
	for (int i = 0; i < NMI_FNS; i++) {
		if (!nmi_fns[i]) {
			WRITE_ONCE(nmi_fns[i], fn);
			return;
		}
	}
	panic("nmi_register: more than %d NMI users", NMI_FNS);
}

void nmi_unregister(nmi_fn fn)
{
	for (int i = 0; i < NMI_FNS; i++)
		if (nmi_fns[i] == fn)
			WRITE_ONCE(nmi_fns[i], NULL);
}

void watchdog_test_begin(u64 budget_ms)
{
	test_budget_ms = budget_ms;
	deadline_fired = false;
	WRITE_ONCE(test_deadline, timestamp() + ms_to_ticks(budget_ms));
}

u64 watchdog_test_deadline(void)
{
	return READ_ONCE(test_deadline);
}

void watchdog_test_end(void)
{
	WRITE_ONCE(test_deadline, 0);
	WRITE_ONCE(expected_cpu, -1);
}

void watchdog_expect_stall(int cpu)
{
	WRITE_ONCE(expected_cpu, cpu);
}

u64 watchdog_expected_caught(void)
{
	return READ_ONCE(expected_caught);
}

u64 watchdog_restarts(void)
{
	return READ_ONCE(restarts);
}

/* On the stuck CPU, in NMI context: report, then unwind. */
static bool watchdog_nmi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	struct recovery *r;
	bool expected, busy = c->wd_busy;
	u64 at = timestamp();		/* before the slow printing */

	if (__atomic_exchange_n(&c->wd_action, WD_NONE, __ATOMIC_ACQ_REL) != WD_SAMPLE_AND_UNWIND)
		return false;
	expected = READ_ONCE(expected_cpu) == c->id;
	/* The report goes out with NMIs blocked and no tick, and through an
	 * emulated serial port with hundreds of vCPUs that takes seconds (8 s
	 * at 288 CPUs under TCG): not a stall to sample again, and
	 * for CPU 0 not one to panic over. The stall clock restarts when the
	 * report is out, as if the NMI had been answered only then. */
	WRITE_ONCE(c->wd_busy, true);
	arch_frame_report(f, expected ? "WATCHDOG (expected by the test)" : "WATCHDOG");
	diag("  CPU %d was %s; interrupts were %s", c->id,
	     c->doing ? c->doing : "running an unnamed task",
	     arch_frame_irqs_were_on(f) ? "on" : "off");
	smp_report_wait(c, at);
	WRITE_ONCE(c->wd_nmi_at, timestamp());
	WRITE_ONCE(c->wd_busy, busy);
	if (expected) {
		if (test_expecting_detection())
			test_detect(DET_WATCHDOG, "watchdog: CPU %d stuck, unwound", c->id);
		__atomic_fetch_add(&expected_caught, 1, __ATOMIC_RELAXED);
		WRITE_ONCE(expected_cpu, -1);
		r = c->abort;
	} else if (c->id == 0 && !test_expecting_detection()) {
		r = test_crash_recovery("the watchdog");
	} else {
		test_detect(DET_WATCHDOG, "watchdog: CPU %d stuck, unwound to %s", c->id,
			    c->id ? "its idle loop" : "the test");
		r = c->abort;
	}
	c->doing = NULL;
	if (r)
		arch_frame_resume(f, r);
	return true;
}

static void sample(struct cpu *t, const char *why)
{
	diag("WATCHDOG: CPU %d (" ARCH_HW_ID_NAME " %u) %s; sampling it by NMI", t->id, t->hw_id, why);
	t->wd_nmi_at = timestamp();
	__atomic_store_n(&t->wd_action, WD_SAMPLE_AND_UNWIND, __ATOMIC_RELEASE);
	arch_send_nmi(t);
}

/* A CPU that ignores the NMI too (stuck inside an NMI handler, or
 * wedged): INIT it and start it again through the trampoline. */
static void restart(struct cpu *t)
{
	bool expected = READ_ONCE(expected_cpu) == t->id;
	int err;

	failure_begin(t->id, 0);
	diag("WATCHDOG: CPU %d did not answer the NMI within %d ms; it was %s", t->id,
	     WATCHDOG_NMI_ANSWER_MS, t->doing ? t->doing : "running an unnamed task");
	failure_context(t->id, 0);
	if (t->id == 0) {
		/* The test runner cannot be restarted: the run would be lost
		 * without a verdict. End it here, with the report above. */
		panic("watchdog: the test runner (CPU 0) is stuck and cannot be unwound");
	}

	diag("WATCHDOG: CPU %d: INIT + SIPI", t->id);
	/* In a negative control every catch is the detection it waits for;
	 * elsewhere only an unexpected one is a failure. */
	if (!expected || test_expecting_detection())
		test_detect(DET_WATCHDOG, "watchdog: CPU %d stuck with NMIs blocked", t->id);
	WRITE_ONCE(t->online, false);
	t->wd_action = WD_NONE;
	arch_cpu_stop(t);
	/* The restart waits for the CPU with this tick's interrupts off:
	 * nobody should take that for a stall of ours. */
	WRITE_ONCE(this_cpu()->wd_busy, true);
	err = cpu_restart_online(t->id);
	this_cpu()->last_tick = timestamp();
	WRITE_ONCE(this_cpu()->wd_busy, false);
	if (err)
		diag("WATCHDOG: CPU %d did not come back; the run goes on without it", t->id);
	else
		diag("WATCHDOG: CPU %d restarted", t->id);
	/* Counted only now, so that a test waiting on the count sees the
	 * CPU back (or gone for good). */
	__atomic_fetch_add(&restarts, 1, __ATOMIC_RELEASE);
	if (expected) {
		WRITE_ONCE(expected_cpu, -1);
		__atomic_fetch_add(&expected_caught, 1, __ATOMIC_RELEASE);
	}
}

/* Signed: another CPU may stamp a time later than our `now`. */
static bool older_than(u64 now, u64 then, u64 ms)
{
	return (s64)(now - then) > (s64)ms_to_ticks(ms);
}

static void check_cpu(struct cpu *t, u64 now)
{
	if (READ_ONCE(t->wd_busy) || !READ_ONCE(t->wd_armed))
		return;
	if (READ_ONCE(t->wd_action) != WD_NONE) {
		if (older_than(now, t->wd_nmi_at, WATCHDOG_NMI_ANSWER_MS))
			restart(t);
		return;
	}
	if (!older_than(now, READ_ONCE(t->last_tick), WATCHDOG_STALL_MS)) {
		t->wd_reported = false;
		return;
	}
	if (!t->wd_reported) {
		char why[128];

		/* It just answered an NMI (reported, unwound): a full stall
		 * period from then to tick again. */
		if (!older_than(now, READ_ONCE(t->wd_nmi_at), WATCHDOG_STALL_MS))
			return;

		/* The checker's own gap tells a stall of t from a pause of
		 * the whole machine (an emulator the host did not run). */
		ksnprintf(why, sizeof(why), "stopped answering: no timer tick for %llu ms "
			  "(CPU %d's own last tick was %llu ms before)",
			  (unsigned long long)(ticks_to_ns(now - t->last_tick) / 1000000),
			  this_cpu()->id, (unsigned long long)(ticks_to_ns(checker_gap) / 1000000));
		t->wd_reported = true;
		sample(t, why);
	} else if (older_than(now, t->wd_nmi_at, WATCHDOG_STALL_MS)) {
		/* It took the NMI but is still not ticking: stuck again,
		 * or stuck in a place the unwinding could not leave. */
		restart(t);
		t->wd_reported = false;
	}
}

static void check_deadline(struct trap_frame *f, u64 now)
{
	u64 deadline = READ_ONCE(test_deadline);

	if (!deadline || (s64)(now - deadline) < 0 || deadline_fired)
		return;
	deadline_fired = true;
	diag("WATCHDOG: test %s over its budget of %llu ms",
	     test_current_name() ? test_current_name() : "?",
	     (unsigned long long)test_budget_ms);
	if (this_cpu()->id == 0) {
		/* The runner itself took this tick: unwind it here. */
		this_cpu()->wd_action = WD_SAMPLE_AND_UNWIND;
		spin_unlock(&wd_lock);
		watchdog_nmi(f);
		spin_lock(&wd_lock);
		return;
	}
	sample(&cpus[0], "runs a test past its budget");
}

static void on_tick(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	u64 now = timestamp(), prev = c->last_tick;

	c->ticks++;
	WRITE_ONCE(c->last_tick, now);
	if (READ_ONCE(wd_stopped) || !spin_trylock(&wd_lock))
		return;
	checker_gap = now - prev;
	check_deadline(f, now);
	for (unsigned n = 0; n < MIN(MAX(CHECKS_PER_TICK, cpus_possible / 16), cpus_possible);
	     n++) {
		unsigned i = check_cursor++ % cpus_possible;

		if ((int)i != c->id && READ_ONCE(cpus[i].online))
			check_cpu(&cpus[i], now);
	}
	spin_unlock(&wd_lock);
}

static bool nmi_chain(struct trap_frame *f)
{
	bool claimed = false;

	this_cpu()->nmis_received++;
	/* The watchdog first, and alone when it acts: it may have pointed
	 * the frame elsewhere, and a test's NMI handler must not run on. */
	if (watchdog_nmi(f))
		return true;
	for (int i = 0; i < NMI_FNS; i++) {
		nmi_fn fn = READ_ONCE(nmi_fns[i]);

		if (fn && fn(f))
			claimed = true;
	}
	return claimed;
}

/* After the verdict the test runner halts with interrupts off: nobody may
 * take that for a stall and print after the final line (QEMU 10 ends on
 * isa-debug-exit a little after the write, while the other CPUs still tick). */
void watchdog_stop(void)
{
	WRITE_ONCE(wd_stopped, true);
}

void watchdog_init(void)
{
	arch_set_ipi_handler(IPI_TIMER, on_tick);
	arch_set_nmi_handler(nmi_chain);
}

void watchdog_cpu_start(void)
{
	struct cpu *c = this_cpu();

	c->last_tick = timestamp();
	c->wd_reported = false;
	/* Set while this CPU reported or restarted another: an INIT in the
	 * middle (a CPU restarted while it restarted another) left it set,
	 * and a busy CPU is never checked again: it then hung unseen. */
	WRITE_ONCE(c->wd_busy, false);
	arch_timer_periodic(WATCHDOG_TICK_MS * 1000000ull);
	WRITE_ONCE(c->wd_armed, true);
}
