/*
 * Context tracking, after RCU's dynticks (docs/design.md §8.6): per CPU a
 * counter whose low bit says whether the CPU is watched (patch-side
 * readers on it are visible), a nesting of tasks and interrupts, and a
 * nesting of NMI-like entries. Idle and the AP bring-up path are not
 * watched (an extended quiescent state, EQS). The NMI variant leaves the
 * EQS only when the CPU is in it and its exit undoes exactly that, so it
 * nests inside anything; the interrupt variant assumes that nothing but
 * its own nesting ever watched the CPU.
 *
 * A checker asserts the model on every transition (the counter's parity,
 * the nestings, the balance of a hook at its return) and reports the
 * first violation with the CPU, its context and the event trail.
 * Tracking is per CPU and on only while a test wants it (ct_cpu_start).
 */
#ifndef PT_CTRACK_H
#define PT_CTRACK_H

#include "kernel/types.h"

/* How a trap entered, for the dispatcher's calls below. */
enum ct_entry {
	CT_ENTRY_IRQ,	/* an interrupt: the interrupt variant */
	CT_ENTRY_NMI,	/* an NMI, once its depth is raised: the NMI variant */
	CT_ENTRY_EXC,	/* any other exception: the NMI variant, as an IST entry does */
};

/* The nesting a running task holds (RCU's "task exit idle" value): far
 * above any interrupt nesting. */
#define CT_TASK (1ll << 20)

struct ct_snap {
	u64 ctr;
	s64 nest, nmi_nest;
};

/* The calling CPU, with interrupts off: tracking on, starting in the EQS
 * (idle: as the idle loop and bring-up leave it) or in a task. */
void ct_cpu_start(bool idle);
/* Tracking off; returns false (a violation reported) when the CPU is not
 * back in the state it started in. */
bool ct_cpu_stop(void);
bool ct_tracking(void);

/* Transitions; every one checked. Interrupts must be off around the idle
 * ones (as around rcu_idle_enter). */
void ct_idle_enter(void);
void ct_idle_exit(void);
void ct_irq_enter(void);
void ct_irq_exit(void);
void ct_nmi_enter(void);
void ct_nmi_exit(void);
bool ct_watching(void);

/* Called by the architecture's trap dispatcher around every handler
 * (after an NMI's depth is raised, before it is lowered). */
void ct_trap_enter(enum ct_entry k);
void ct_trap_exit(enum ct_entry k);

/* The checker's other assertions: a read side that needs the CPU
 * watched, and a hook that must leave the state as it found it. */
void ct_snap(struct ct_snap *s);
void ct_assert_watched(const char *what);
void ct_assert_balanced(const struct ct_snap *before, const char *what);

/* The edge site whose hook runs on this CPU now (NULL: none), named in
 * reports; returns the one it replaces, to be put back. */
const char *ct_hook_site(const char *site, u64 addr, u64 *prev_addr);

/* Violations since ct_reset(); the counts of the test that wants them. */
void ct_reset(void);
u64 ct_violations(void);
/* "'rule' at transition, CPU c, in the hook at edge site S" */
const char *ct_first_violation(void);
/* Violations whose CPU was running a hook at site (counted by name). */
u64 ct_violations_at(const char *site);
/* The deepest nestings seen by transitions: NMI-like entries, interrupts
 * above a task or the EQS. */
s64 ct_max_nmi_nest(void);
s64 ct_max_irq_nest(void);

/* The event trail's text for a ct event (kernel/events.c). */
void ct_describe(u64 a, u64 b, char *buf, unsigned long size);

#endif
