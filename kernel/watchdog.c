/* The watchdog (see watchdog.h). */
#include "kernel/fault.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

#define NMI_FNS 4

enum { WD_NONE, WD_SAMPLE_AND_UNWIND };

static struct spinlock wd_lock = SPINLOCK_INIT;
static u64 test_deadline;		/* 0: no test running */
static u64 test_budget_ms;
static bool deadline_fired;
static int expected_cpu = -1;
static u64 expected_caught, restarts;
static nmi_fn nmi_fns[NMI_FNS];

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
	bool expected;

	if (__atomic_exchange_n(&c->wd_action, WD_NONE, __ATOMIC_ACQ_REL) != WD_SAMPLE_AND_UNWIND)
		return false;
	expected = READ_ONCE(expected_cpu) == c->id;
	arch_frame_report(f, expected ? "WATCHDOG (expected by the test)" : "WATCHDOG");
	diag("  CPU %d was %s; interrupts were %s", c->id,
	     c->doing ? c->doing : "running an unnamed task",
	     arch_frame_irqs_were_on(f) ? "on" : "off");
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
	diag("WATCHDOG: CPU %d (APIC ID %u) %s; sampling it by NMI", t->id, t->hw_id, why);
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

	if (t->id == 0) {
		/* The test runner cannot be restarted: the run would be lost
		 * without a verdict. End it here, with the report above. */
		panic("watchdog: the test runner (CPU 0) is stuck and cannot be unwound");
	}

	diag("WATCHDOG: CPU %d did not answer the NMI within %d ms; INIT + SIPI",
	     t->id, WATCHDOG_NMI_ANSWER_MS);
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
	err = cpu_online(t->id);
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
		t->wd_reported = true;
		sample(t, "stopped answering: no timer tick for 2 s");
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
	u64 now = timestamp();

	c->ticks++;
	WRITE_ONCE(c->last_tick, now);
	if (!spin_trylock(&wd_lock))
		return;
	check_deadline(f, now);
	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != c->id && READ_ONCE(cpus[i].online))
			check_cpu(&cpus[i], now);
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
	arch_timer_periodic(WATCHDOG_TICK_MS * 1000000ull);
	WRITE_ONCE(c->wd_armed, true);
}
