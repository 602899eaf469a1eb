/*
 * SMP primitives the protocols and the torture tests are built from:
 * calls to other CPUs through per-CPU mailboxes, NMIs, IPI storms, a start
 * gate with measured skew, and CPU offline/online.
 */
#ifndef PT_SMP_H
#define PT_SMP_H

#include "kernel/percpu.h"

#define SMP_WAIT (1u << 0)	/* return only when fn has returned */
#define SMP_IRQ (1u << 1)	/* run fn in the IPI handler (interrupts off),
				 * even while the target runs a task */

/* Brings up to max CPUs online; prints what happened. */
void smp_init(unsigned max_cpus);
unsigned cpus_online(void);
/* The cpus= limit in force (MAX_CPUS when not given). */
unsigned cpus_limit(void);
/* Inline: the sync and checker loops ask it of every CPU, on every step. */
static inline bool cpu_is_online(int cpu)
{
	return cpu >= 0 && (unsigned)cpu < cpus_possible && READ_ONCE(cpus[cpu].online);
}

/* Runs fn(arg) on cpu. Without SMP_IRQ it runs in the target's idle loop
 * with interrupts on, after any task already running there finishes. */
void smp_call(int cpu, void (*fn)(void *), void *arg, unsigned flags);
/* Runs fn(arg) on every online CPU but this one, in parallel. */
void smp_call_others(void (*fn)(void *), void *arg, unsigned flags);
/* Waits until cpu has finished every task posted to it. */
void smp_wait_idle(int cpu);
/* Runs any IRQ-context call posted to this CPU: wait loops call it, so
 * two CPUs waiting on each other with interrupts off cannot deadlock. */
void smp_poll(void);
/* Prints whom c spins on in an SMP call, if anyone, as of the timestamp
 * now (for watchdog reports). */
void smp_report_wait(const struct cpu *c, u64 now);

void send_nmi(int cpu);
/* An NMI to every other online CPU (one by one; see smp.c). */
void send_nmi_all_but_self(void);
void send_self_ipi_storm(void);
/* Sends count fixed-vector IPIs to cpu (as fast as the interrupt
 * controller takes them). */
void ipi_storm(int cpu, unsigned count);
/* Run by the storm IPI's handler when set (a test's: poke.deferred_idle). */
extern void (*smp_storm_hook)(void);

/* A start gate: the participants spin until the last one arrives, then
 * note when they were released. skew = latest - earliest release. */
struct start_gate {
	u32 expected;
	u32 arrived;
	u32 open;
	u64 released[MAX_CPUS];
};
void gate_init(struct start_gate *g, unsigned participants);
void gate_wait(struct start_gate *g);
u64 gate_skew_ticks(const struct start_gate *g);

/* Takes cpu out of every mask and parks it (wait-for-SIPI); 0 or -1. */
int cpu_offline(int cpu);
/* Starts a parked cpu again through the trampoline; 0 or -1. */
int cpu_online(int cpu);
/* cpu_online without the hotplug lock or the text hook: the watchdog's
 * restart of a wedged CPU, from a timer tick, must not wait for a lock
 * that CPU may hold. */
int cpu_restart_online(int cpu);

/* Hook run on a CPU coming online after its serializing instruction and
 * before it marks itself online (tests use it to run patch sites there). */
extern void (*cpu_online_hook)(struct cpu *c);
/* Run by cpu_online on the CPU that brought cpu up, still holding the
 * hotplug lock: text patched as a CPU comes up (kernel/lockorder.h). */
extern void (*cpu_up_text_hook)(int cpu);

#endif
