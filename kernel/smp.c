/* SMP calls, NMIs, gates, idle loop and hotplug (see smp.h). */
#include "kernel/defer.h"
#include "kernel/fault.h"
#include "kernel/patch_internal.h"
#include "kernel/lockorder.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

struct cpu cpus[MAX_CPUS];
unsigned cpus_possible = 1;
void (*cpu_online_hook)(struct cpu *c);
static u64 boot_ticks;
static unsigned limit = MAX_CPUS;

unsigned cpus_limit(void)
{
	return limit;
}

unsigned cpus_online(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cpus_possible; i++)
		n += READ_ONCE(cpus[i].online);
	return n;
}

/* Runs the posted call, if any. Only the box's CPU calls this. */
static void mailbox_run(struct cpu *c, struct smp_mailbox *m)
{
	u64 seq = __atomic_load_n(&m->posted, __ATOMIC_ACQUIRE);
	void (*fn)(void *);
	void *arg;

	if (seq == m->taken)
		return;
	fn = m->fn;
	arg = m->arg;
	__atomic_store_n(&m->taken, seq, __ATOMIC_RELEASE);
	fn(arg);
	c->calls_run++;
	__atomic_store_n(&m->done, seq, __ATOMIC_RELEASE);
}

void smp_poll(void)
{
	struct cpu *c = this_cpu();

	if (c->self == c)
		mailbox_run(c, &c->irq_box);
}

/* Waits for *p to reach seq in t's mailbox, noting what for in this
 * CPU's wait record (a nested call from smp_poll puts the outer one back). */
static void wait_seq(struct cpu *t, bool irq, const char *what, const u64 *p, u64 seq)
{
	struct smp_wait *w = &this_cpu()->wait, outer = *w;

	*w = (struct smp_wait){ .cpu = t->id, .irq = irq, .seq = seq, .since = timestamp() };
	WRITE_ONCE(w->what, what);
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < seq) {
		smp_poll();
		cpu_relax();
	}
	*w = outer;
}

static struct smp_mailbox *box(struct cpu *t, bool irq)
{
	return irq ? &t->irq_box : &t->task_box;
}

/* Posts a call and returns its sequence number once the target took it. */
static u64 mailbox_post(struct cpu *t, bool irq, void (*fn)(void *), void *arg)
{
	struct smp_mailbox *m = box(t, irq);
	struct smp_wait *w = &this_cpu()->wait, outer = *w;
	u64 seq;

	*w = (struct smp_wait){ .cpu = t->id, .irq = irq, .since = timestamp() };
	WRITE_ONCE(w->what, "lock");
	while (!spin_trylock(&m->lock)) {
		smp_poll();
		cpu_relax();
	}
	*w = outer;
	m->fn = fn;
	m->arg = arg;
	seq = m->posted + 1;
	__atomic_store_n(&m->posted, seq, __ATOMIC_RELEASE);
	arch_send_ipi(t, irq ? IPI_CALL : IPI_WAKE);
	wait_seq(t, irq, "take", &m->taken, seq);
	spin_unlock(&m->lock);
	return seq;
}

void smp_call(int cpu, void (*fn)(void *), void *arg, unsigned flags)
{
	struct cpu *t = &cpus[cpu];
	u64 seq;

	if (cpu == this_cpu()->id) {
		fn(arg);
		return;
	}
	if (!cpu_is_online(cpu))
		panic("smp_call to CPU %d, which is offline", cpu);
	seq = mailbox_post(t, flags & SMP_IRQ, fn, arg);
	if (flags & SMP_WAIT)
		wait_seq(t, flags & SMP_IRQ, "finish", &box(t, flags & SMP_IRQ)->done, seq);
}

void smp_call_others(void (*fn)(void *), void *arg, unsigned flags)
{
	static u64 seqs[MAX_CPUS];
	int self = this_cpu()->id;
	bool irq = flags & SMP_IRQ;

	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			seqs[i] = mailbox_post(&cpus[i], irq, fn, arg);
	if (!(flags & SMP_WAIT))
		return;
	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			wait_seq(&cpus[i], irq, "finish", &box(&cpus[i], irq)->done, seqs[i]);
}

void smp_wait_idle(int cpu)
{
	struct smp_mailbox *m = &cpus[cpu].task_box;

	wait_seq(&cpus[cpu], false, "finish", &m->done,
		 __atomic_load_n(&m->posted, __ATOMIC_ACQUIRE));
}

static u64 ms_since(u64 then, u64 now)
{
	return (s64)(now - then) > 0 ? ticks_to_ns(now - then) / 1000000 : 0;
}

/* For a watchdog report on c: whom it spins on and for how long up to
 * now (when the NMI came: printing the report can take seconds), that
 * mailbox, and the state of the CPU behind it as the report goes out.
 * A hang shows as a wait as old as the budget; slowness as a fresh one. */
void smp_report_wait(const struct cpu *c, u64 now)
{
	const struct smp_wait *w = &c->wait;
	const char *what = READ_ONCE(w->what);
	const struct cpu *t;
	const struct smp_mailbox *m;

	if (!what)
		return;
	t = &cpus[w->cpu];
	m = w->irq ? &t->irq_box : &t->task_box;
	diag("  CPU %d has waited %llu ms on CPU %d (" ARCH_HW_ID_NAME " %u) to %s call %llu in its %s box "
	     "(posted %llu, taken %llu, done %llu)", c->id,
	     (unsigned long long)ms_since(w->since, now), t->id, t->hw_id, what,
	     (unsigned long long)w->seq, w->irq ? "irq" : "task",
	     (unsigned long long)m->posted, (unsigned long long)m->taken,
	     (unsigned long long)m->done);
	diag("  CPU %d: %s%s, %llu ticks (last %llu ms ago), %llu IPIs, %llu calls run; %s",
	     t->id, READ_ONCE(t->online) ? "online" : "offline",
	     READ_ONCE(t->parked) ? " and parked" : "", (unsigned long long)t->ticks,
	     (unsigned long long)ms_since(READ_ONCE(t->last_tick), timestamp()),
	     (unsigned long long)t->ipis_received, (unsigned long long)t->calls_run,
	     t->doing ? t->doing : "idle or an unnamed task");
}

void send_nmi(int cpu)
{
	arch_send_nmi(&cpus[cpu]);
}

/* One NMI per online CPU, never the hardware shorthand: that would also
 * reach a CPU still in the real-mode trampoline, where an NMI (which no
 * CLI masks) goes through the real-mode IVT and triple-faults it. */
void send_nmi_all_but_self(void)
{
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			arch_send_nmi(&cpus[i]);
}

void ipi_storm(int cpu, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		arch_send_ipi(&cpus[cpu], IPI_STORM);
}

void send_self_ipi_storm(void)
{
	arch_send_self_ipi(IPI_STORM);
}

/* Start gate -------------------------------------------------------- */

void gate_init(struct start_gate *g, unsigned participants)
{
	g->expected = participants;
	g->arrived = 0;
	g->open = 0;
	memset(g->released, 0, sizeof(g->released));
}

void gate_wait(struct start_gate *g)
{
	if (__atomic_add_fetch(&g->arrived, 1, __ATOMIC_ACQ_REL) == g->expected)
		__atomic_store_n(&g->open, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&g->open, __ATOMIC_ACQUIRE)) {
		smp_poll();
		cpu_relax();
	}
	g->released[this_cpu()->id] = timestamp();
}

u64 gate_skew_ticks(const struct start_gate *g)
{
	u64 lo = ~0ull, hi = 0;

	for (unsigned i = 0; i < MAX_CPUS; i++) {
		if (!g->released[i])
			continue;
		lo = MIN(lo, g->released[i]);
		hi = MAX(hi, g->released[i]);
	}
	return hi >= lo ? hi - lo : 0;
}

/* Interrupt handlers ------------------------------------------------ */

static void on_call_ipi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();

	c->ipis_received++;
	mailbox_run(c, &c->irq_box);
}

static void on_wake_ipi(struct trap_frame *f)
{
	this_cpu()->ipis_received++;	/* the idle loop does the work */
}

void (*smp_storm_hook)(void);

static void on_storm_ipi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	void (*hook)(void) = READ_ONCE(smp_storm_hook);

	c->ipis_received++;
	c->storm_received++;
	if (hook)
		hook();
}

/* The idle loop: APs live here between tasks ------------------------ */

static void park(struct cpu *c)
{
	WRITE_ONCE(c->wd_armed, false);
	arch_timer_periodic(0);
	WRITE_ONCE(c->online, false);
	mb();
	WRITE_ONCE(c->parked, true);
	qs_park();	/* an EQS: no sync waits for it, ap_entry serializes */
	/* Halted with interrupts off until the INIT that follows. */
	halt_forever();
}

/* Back in the idle loop after a task, nothing is nested: a trap or NMI
 * exit path that did not restore its depth shows here, before it can
 * make a later test's nesting counts lie. Reported and repaired, once per
 * leak. */
static void check_idle_nesting(struct cpu *c)
{
	if (!c->nmi_depth && !c->trap_depth)
		return;
	test_fail("CPU %d back in its idle loop with NMI depth %u, trap depth %u: an exit path "
		  "did not restore them", c->id, c->nmi_depth, c->trap_depth);
	c->nmi_depth = 0;
	c->trap_depth = 0;
}

static __noreturn void idle_loop(struct cpu *c)
{
	struct recovery r;

	/* A watchdog NMI that gives up on a stuck task unwinds to here. */
	if (recovery_set(&r)) {
		c->trap_depth = 0;
		c->nmi_depth = 0;
		c->expect = NULL;
		c->wait.what = NULL;
		c->trap_frame = NULL;	/* the unwound trap's, on a dead frame */
		/* Whatever the task was, it is abandoned: mark it done. */
		__atomic_store_n(&c->task_box.done, c->task_box.taken, __ATOMIC_RELEASE);
	}
	c->abort = &r;
	for (;;) {
		irq_disable();
		/* Out of the EQS, serialized if a sync deferred this CPU, before
		 * a call or task can run a site (docs/design.md §8.7). */
		qs_idle_exit();
		mailbox_run(c, &c->irq_box);
		if (READ_ONCE(c->park_request))
			park(c);
		if (__atomic_load_n(&c->task_box.posted, __ATOMIC_ACQUIRE) != c->task_box.taken) {
			irq_enable();
			mailbox_run(c, &c->task_box);
			check_idle_nesting(c);
			continue;
		}
		qs_idle_enter();
		wait_for_interrupt();	/* sti; hlt: no lost wake-up */
	}
}

void smp_ap_main(struct cpu *c)
{
	/* A CPU restarted by the watchdog abandoned whatever it ran, the
	 * traps and NMIs it was inside included. */
	__atomic_store_n(&c->task_box.done, c->task_box.taken, __ATOMIC_RELEASE);
	c->trap_depth = 0;
	c->nmi_depth = 0;
	c->ticks = 0;
	c->last_tick = timestamp();
	c->wd_reported = false;
	c->parked = false;
	c->park_request = false;
	if (cpu_online_hook)
		cpu_online_hook(c);
	watchdog_cpu_start();
	/* A sync sent before it went offline (the watchdog restarts a CPU
	 * stuck inside an NMI handler) lost its IPI to the INIT: answer it
	 * now, serializing first, or its sender waits for it forever. */
	sync_ack_pending();
	qs_online();
	WRITE_ONCE(c->online, true);
	idle_loop(c);
}

/* After check-in an AP has a few instructions to go before it marks
 * itself online; two seconds is beyond generous. */
static bool wait_online(struct cpu *c)
{
	u64 end = timestamp() + ms_to_ticks(2000);

	while (!READ_ONCE(c->online)) {
		if (timestamp() > end)
			return false;
		smp_poll();
		cpu_relax();
	}
	return true;
}

/* Hotplug ------------------------------------------------------------ */

static int do_cpu_offline(int cpu)
{
	struct cpu *c = &cpus[cpu];
	u64 end = timestamp() + ms_to_ticks(2000);

	if (cpu == 0 || cpu == this_cpu()->id || !cpu_is_online(cpu))
		return -1;
	while (__atomic_load_n(&c->task_box.done, __ATOMIC_ACQUIRE) <
	       __atomic_load_n(&c->task_box.posted, __ATOMIC_ACQUIRE)) {
		if (timestamp() > end) {
			diag("CPU %d is busy with a task: not taken offline", cpu);
			return -1;
		}
		smp_poll();
		cpu_relax();
	}
	WRITE_ONCE(c->park_request, true);
	arch_send_ipi(c, IPI_WAKE);
	while (!READ_ONCE(c->parked)) {
		if (timestamp() > end) {
			diag("CPU %d did not park within 2 s", cpu);
			return -1;
		}
		smp_poll();
		cpu_relax();
	}
	arch_cpu_stop(c);
	return 0;
}

static int do_cpu_online(int cpu)
{
	struct cpu *c = &cpus[cpu];

	if (cpu <= 0 || (unsigned)cpu >= cpus_possible || cpu_is_online(cpu))
		return -1;
	/* The mailboxes restart from where they were: nothing is pending,
	 * cpu_offline waited for that. */
	if (arch_cpu_start(c) || !wait_online(c))
		return -1;
	return 0;
}

/* CPU hotplug holds the hotplug lock (kernel/lockorder.h) from start to
 * end, and patches text as a CPU comes up while it still holds it, the
 * way SMP alternatives are applied: the hotplug lock is outside the text
 * lock (docs/design.md §13.2). */
void (*cpu_up_text_hook)(int cpu);

int cpu_offline(int cpu)
{
	int ret;

	olock_take(&hotplug_lock);
	ret = do_cpu_offline(cpu);
	olock_give(&hotplug_lock);
	return ret;
}

int cpu_restart_online(int cpu)
{
	return do_cpu_online(cpu);
}

int cpu_online(int cpu)
{
	void (*hook)(int) = READ_ONCE(cpu_up_text_hook);
	int ret;

	olock_take(&hotplug_lock);
	ret = do_cpu_online(cpu);
	if (!ret && hook)
		hook(cpu);
	olock_give(&hotplug_lock);
	return ret;
}

/* Boot --------------------------------------------------------------- */

static void start_aps(void)
{
	for (unsigned i = 1; i < cpus_possible; i++) {
		struct cpu *c = &cpus[i];
		u64 t0 = timestamp();

		if (arch_cpu_start(c) || !wait_online(c)) {
			diag("CPU %u (" ARCH_HW_ID_NAME " %u) never checked in: running without it",
			     i, c->hw_id);
			continue;
		}
		diag_verbose("CPU %u (" ARCH_HW_ID_NAME " %u) online in %llu us", i, c->hw_id,
			     (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
	}
}

void smp_init(unsigned max_cpus)
{
	char err[160];
	u64 t0 = timestamp();
	unsigned n;

	limit = max_cpus;
	arch_set_ipi_handler(IPI_CALL, on_call_ipi);
	arch_set_ipi_handler(IPI_WAKE, on_wake_ipi);
	arch_set_ipi_handler(IPI_STORM, on_storm_ipi);
	n = arch_enumerate_cpus(max_cpus, err, sizeof(err));
	if (!n) {
		diag("SMP: %s; running on the boot CPU alone", err);
		n = 1;
	}
	cpus_possible = n;
	cpus[0].online = true;
	start_aps();
	boot_ticks = timestamp() - t0;
	diag("cpus: %u online of %u started (%s), brought up in %llu ms",
	     cpus_online(), cpus_possible, arch_irq_controller(),
	     (unsigned long long)(ticks_to_ns(boot_ticks) / 1000000));
}
