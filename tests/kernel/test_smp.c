/* smp.*: CPU bring-up, IPIs, NMIs, the start gate, hotplug and the
 * watchdog's negative control. Counts are exact: an IPI is only sent
 * again once the previous one was seen, so coalescing cannot hide a loss. */
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

#define WAIT_MS 2000

static u64 hits[MAX_CPUS];
static u32 seen_hw_id[MAX_CPUS];

static void count_hit(void *arg)
{
	__atomic_fetch_add(&hits[this_cpu()->id], 1, __ATOMIC_RELAXED);
}

static void record_hw_id(void *arg)
{
	seen_hw_id[this_cpu()->id] = arch_cpu_hw_id();
}

/* Waits (generously) for *p to reach v; false on timeout. */
static bool wait_for(const u64 *p, u64 v, u64 ms)
{
	u64 end = timestamp() + ms_to_ticks(ms);

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < v) {
		if (timestamp() > end)
			return false;
		smp_poll();
		cpu_relax();
	}
	return true;
}

DEFINE_TEST(smp, online, 1, 0,
	    "every enabled CPU the firmware describes is online and runs code on the right APIC")
{
	unsigned described = arch_cpus_described(), online = cpus_online();

	diag("described by %s: %u enabled CPUs; online: %u; started: %u",
	     arch_cpu_source(), described, online, cpus_possible);
	test_check(online == cpus_possible, "%u of %u started CPUs online", online, cpus_possible);
	test_check(cpus_possible == MIN(described, cpus_limit()),
		   "%u CPUs started, expected %u (described %u, limit %u)", cpus_possible,
		   MIN(described, cpus_limit()), described, cpus_limit());
	for (unsigned i = 0; i < cpus_possible; i++) {
		if (!cpu_is_online(i))
			continue;
		seen_hw_id[i] = ~0u;
		smp_call(i, record_hw_id, NULL, SMP_WAIT);
		test_check(seen_hw_id[i] == cpus[i].hw_id,
			   "CPU %u answered from APIC ID %u, expected %u", i, seen_hw_id[i],
			   cpus[i].hw_id);
	}
	test_pass();
}

static void ipi_round_trips(unsigned rounds)
{
	u64 best = ~0ull, total = 0;

	for (unsigned i = 1; i < cpus_possible; i++) {
		u64 before = hits[i];

		for (unsigned r = 0; r < rounds; r++) {
			u64 t0 = timestamp(), t;

			smp_call(i, count_hit, NULL, SMP_IRQ | SMP_WAIT);
			t = timestamp() - t0;
			best = MIN(best, t);
			total += t;
		}
		test_check(hits[i] - before == rounds, "CPU %u ran %llu of %u calls", i,
			   (unsigned long long)(hits[i] - before), rounds);
	}
	diag("round trip to one CPU: mean %llu ns, best %llu ns over %u calls",
	     (unsigned long long)ticks_to_ns(total / (rounds * (cpus_possible - 1))),
	     (unsigned long long)ticks_to_ns(best), rounds * (cpus_possible - 1));
}

/* The hardware all-but-self shorthand, one round at a time. */
static void shorthand_broadcast(unsigned rounds)
{
	u64 base[MAX_CPUS];

	for (unsigned i = 0; i < cpus_possible; i++)
		base[i] = cpus[i].storm_received;
	for (unsigned r = 1; r <= rounds; r++) {
		arch_send_ipi_all_but_self(IPI_STORM);
		for (unsigned i = 1; i < cpus_possible; i++) {
			if (!wait_for(&cpus[i].storm_received, base[i] + r, WAIT_MS)) {
				test_fail("round %u: CPU %u got no all-but-self IPI", r, i);
				return;
			}
		}
	}
	test_check(cpus[0].storm_received == base[0], "the sender received its own all-but-self IPI");
}

/* Rounds of smp.ipi when iters= is not given: 200, fewer past 64 CPUs so
 * that the round trips to each CPU stay near 12800 in all. Under
 * single-threaded TCG one round trip costs time in proportion to the CPU
 * count, so 200 rounds at 288 CPUs (57400 round trips, 8 ms each in a slow
 * host phase) overran even a budget grown with N^2. */
#define IPI_ROUNDS 200
#define IPI_CALLS_TOTAL 12800
#define IPI_ROUNDS_MIN 20

static unsigned ipi_default_rounds(void)
{
	unsigned others = cpus_online() > 1 ? cpus_online() - 1 : 1;

	return MAX(IPI_ROUNDS_MIN, MIN(IPI_ROUNDS, IPI_CALLS_TOTAL / others));
}

DEFINE_TEST(smp, ipi, 2, 0,
	    "IPI round trips to each CPU and all-but-self broadcasts, counted exactly")
{
	unsigned rounds = test_iters(ipi_default_rounds());
	u64 before[MAX_CPUS];

	ipi_round_trips(rounds);
	for (unsigned i = 1; i < cpus_possible; i++)
		before[i] = hits[i];
	for (unsigned r = 0; r < rounds; r++)
		smp_call_others(count_hit, NULL, SMP_IRQ | SMP_WAIT);
	for (unsigned i = 1; i < cpus_possible; i++)
		test_check(hits[i] - before[i] == rounds, "CPU %u ran %llu of %u broadcast calls",
			   i, (unsigned long long)(hits[i] - before[i]), rounds);
	shorthand_broadcast(rounds);
	diag("%u rounds each: per-CPU calls, mailbox broadcasts, shorthand broadcasts", rounds);
	test_pass();
}

static u64 nmi_hits[MAX_CPUS];
static bool nmi_counting;

static bool count_nmi(struct trap_frame *f)
{
	if (!READ_ONCE(nmi_counting))
		return false;
	__atomic_fetch_add(&nmi_hits[this_cpu()->id], 1, __ATOMIC_RELAXED);
	return true;
}

static u32 irqoff_release;

static void spin_irqs_off(void *arg)
{
	irqflags_t f = irq_save();

	this_cpu()->doing = "spinning with interrupts off (smp.nmi)";
	while (!__atomic_load_n(&irqoff_release, __ATOMIC_ACQUIRE))
		cpu_relax();
	this_cpu()->doing = NULL;
	irq_restore(f);
}

DEFINE_TEST(smp, nmi, 2, 0,
	    "an NMI reaches each CPU, all but self, and a CPU spinning with interrupts off")
{
	unsigned rounds = test_iters(50);

	nmi_register(count_nmi);
	WRITE_ONCE(nmi_counting, true);
	for (unsigned i = 1; i < cpus_possible; i++)
		for (unsigned r = 1; r <= rounds; r++) {
			u64 want = nmi_hits[i] + 1;

			send_nmi(i);
			if (!test_check(wait_for(&nmi_hits[i], want, WAIT_MS),
					"CPU %u: NMI %u not handled", i, r))
				goto out;
		}
	for (unsigned r = 1; r <= rounds; r++) {
		u64 want[MAX_CPUS];

		for (unsigned i = 1; i < cpus_possible; i++)
			want[i] = nmi_hits[i] + 1;
		arch_send_nmi_all_but_self();	/* the hardware shorthand */
		for (unsigned i = 1; i < cpus_possible; i++)
			if (!test_check(wait_for(&nmi_hits[i], want[i], WAIT_MS),
					"CPU %u: all-but-self NMI %u not handled", i, r))
				goto out;
	}
	__atomic_store_n(&irqoff_release, 0, __ATOMIC_RELEASE);
	smp_call(1, spin_irqs_off, NULL, 0);
	{
		u64 want = nmi_hits[1] + 1;

		send_nmi(1);
		test_check(wait_for(&nmi_hits[1], want, WAIT_MS),
			   "CPU 1 spinning with interrupts off did not take the NMI");
	}
	__atomic_store_n(&irqoff_release, 1, __ATOMIC_RELEASE);
	smp_wait_idle(1);
	test_check(nmi_hits[0] == 0, "the sender took %llu of its own NMIs",
		   (unsigned long long)nmi_hits[0]);
	diag("%u NMIs to each of %u CPUs, %u all-but-self rounds, one to a CPU with interrupts off",
	     rounds, cpus_possible - 1, rounds);
	test_pass();
out:
	WRITE_ONCE(nmi_counting, false);
	nmi_unregister(count_nmi);
	__atomic_store_n(&irqoff_release, 1, __ATOMIC_RELEASE);
}

static struct start_gate gate;

static void gate_task(void *arg)
{
	gate_wait(&gate);
}

DEFINE_TEST(smp, barrier, 1, 0, "a start gate releases every CPU; the skew is measured")
{
	unsigned rounds = test_iters(20);
	u64 best = ~0ull, worst = 0, sum = 0;

	for (unsigned r = 0; r < rounds; r++) {
		u64 skew;

		gate_init(&gate, cpus_online());
		smp_call_others(gate_task, NULL, 0);
		gate_wait(&gate);
		for (unsigned i = 0; i < cpus_possible; i++) {
			if (cpu_is_online(i))
				smp_wait_idle(i);
			test_check(!cpu_is_online(i) || gate.released[i],
				   "round %u: CPU %u never passed the gate", r, i);
		}
		skew = gate_skew_ticks(&gate);
		best = MIN(best, skew);
		worst = MAX(worst, skew);
		sum += skew;
	}
	diag("start skew over %u CPUs, %u rounds: best %llu ns, mean %llu ns, worst %llu ns",
	     cpus_online(), rounds, (unsigned long long)ticks_to_ns(best),
	     (unsigned long long)ticks_to_ns(sum / rounds), (unsigned long long)ticks_to_ns(worst));
	test_pass();
}

DEFINE_TEST(smp, hotplug, 2, 0, "each AP goes offline and comes back many times, and runs code")
{
	unsigned cycles = test_iters(5);

	for (unsigned r = 0; r < cycles; r++)
		for (unsigned i = 1; i < cpus_possible; i++) {
			unsigned before = cpus_online();
			u64 want = hits[i] + 1;

			if (!test_check(!cpu_offline(i), "CPU %u would not go offline", i))
				return;
			test_check(cpus_online() == before - 1 && !cpu_is_online(i),
				   "CPU %u still counted online", i);
			if (!test_check(!cpu_online(i), "CPU %u did not come back (cycle %u)", i, r))
				return;
			smp_call(i, count_hit, NULL, SMP_WAIT);
			test_check(hits[i] == want, "CPU %u back online but ran no code", i);
		}
	diag("%u offline/online cycles of each of %u APs", cycles, cpus_possible - 1);
	test_pass();
}

static bool wait_until_caught(u64 n, u64 ms)
{
	u64 end = timestamp() + ms_to_ticks(ms);

	while (watchdog_expected_caught() < n) {
		if (timestamp() > end)
			return false;
		smp_poll();
		cpu_relax();
	}
	return true;
}

static u32 nmi_hang_cpu = ~0u;

static void hang_irqs_off(void *arg)
{
	irq_disable();
	this_cpu()->doing = "hanging on purpose with interrupts off (smp.watchdog)";
	for (;;)
		cpu_relax();
}

static bool hang_in_nmi(struct trap_frame *f)
{
	if (READ_ONCE(nmi_hang_cpu) != (u32)this_cpu()->id)
		return false;
	WRITE_ONCE(nmi_hang_cpu, ~0u);
	for (;;)	/* NMIs stay blocked: only INIT gets it out */
		cpu_relax();
}

DEFINE_TEST(smp, watchdog, 2, 0,
	    "negative control: a CPU hung on purpose is caught, reported and recovered")
{
	int victim = cpus_possible - 1;
	u64 caught = watchdog_expected_caught(), restarts = watchdog_restarts();
	/* The catch is counted once the report is out: ~2 KB through an
	 * emulated UART, over 5 s at 288 CPUs under TCG. */
	u64 budget = WATCHDOG_STALL_MS + WATCHDOG_NMI_ANSWER_MS + 5000 + 70 * cpus_possible;

	diag("case 1: CPU %d spins with interrupts off", victim);
	watchdog_expect_stall(victim);
	smp_call(victim, hang_irqs_off, NULL, 0);
	if (!test_check(wait_until_caught(caught + 1, budget),
			"the watchdog did not catch CPU %d within %llu ms", victim,
			(unsigned long long)budget))
		return;
	smp_call(victim, count_hit, NULL, SMP_WAIT);
	diag("case 1: caught, and CPU %d runs code again", victim);

	diag("case 2: CPU %d hangs inside an NMI handler, so the watchdog's NMI cannot land",
	     victim);
	nmi_register(hang_in_nmi);
	WRITE_ONCE(nmi_hang_cpu, victim);
	watchdog_expect_stall(victim);
	send_nmi(victim);
	test_check(wait_until_caught(caught + 2, budget),
		   "the watchdog did not recover CPU %d stuck in NMI", victim);
	nmi_unregister(hang_in_nmi);
	test_check(watchdog_restarts() == restarts + 1, "expected one INIT+SIPI restart, saw %llu",
		   (unsigned long long)(watchdog_restarts() - restarts));
	if (test_check(cpu_is_online(victim), "CPU %d did not come back", victim)) {
		u64 want = hits[victim] + 1;

		smp_call(victim, count_hit, NULL, SMP_WAIT);
		test_check(hits[victim] == want, "CPU %d back but ran no code", victim);
	}
	test_pass();
}
