/*
 * The NMI hazards of a sync wait (docs/design.md §8.5), as torture
 * injectors (torture.h's T_NMI_SYNC_WAIT, T_NMI_WAITERS, T_SITE_IN_WAIT):
 * NMIs sent from inside the patcher's sync waits, to itself or to the
 * others, and NMI handlers that wait until that sync wait ended.
 */
#ifndef PT_TESTS_NMI_HAZARD_H
#define PT_TESTS_NMI_HAZARD_H

#include "kernel/percpu.h"
#include "tests/kernel/torture.h"

/* What a run saw, summed over the CPUs. */
struct nmi_hazard_result {
	int patcher;		/* the CPU whose sync waits the hook saw; -1: none */
	u64 waits_hooked;	/* sync waits (and cpumask steps) the hook fired in */
	u64 steps_elsewhere;	/* steps that moved on while the patcher waited */
	u64 patcher_nmis_in_wait;	/* NMIs that landed on the patcher in a sync wait */
	u64 patcher_traps[PATCHER_TRAP_KINDS];	/* the engine's, during the run */
	u64 nmi_waits;		/* NMI handlers that waited behind the patcher's sync */
	u64 nmi_no_wait;	/* ...and that did not: they interrupted a handler */
	u64 acks_in_wait;	/* syncs answered from inside those waits */
	u64 waits_answered;	/* waits that answered at least one */
	u64 longest_wait_us;
};

/* torture_run's: arms the hooks for t's flags; disarms them. */
void nmi_hazard_begin(const struct torture *t);
void nmi_hazard_end(void);
/* The torture NMI handler's pass under those flags: waits (other CPUs,
 * T_NMI_WAITERS), then runs the sites. */
void nmi_hazard_run(struct trap_frame *f, struct cpu *c);
void nmi_hazard_collect(struct nmi_hazard_result *h);
/* A control's own cause, besides its required detector: false (and the
 * test failed) when the run showed another one (test_neg.c). */
bool nmi_hazard_control_cause(const char *name, unsigned flags);

#endif
