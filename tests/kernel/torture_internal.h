/* What the torture harness's files (torture.c, torture_pass.c) share. */
#ifndef PT_TESTS_TORTURE_INTERNAL_H
#define PT_TESTS_TORTURE_INTERNAL_H

#include "kernel/percpu.h"
#include "tests/kernel/torture.h"

extern struct torture *tt_cur;		/* the run in progress */
extern u64 tt_started, tt_completed;	/* the main patcher's patches */
extern u64 tt_bad;			/* wrong outcomes */
/* Per CPU: passes that trapped and were held to the new outcome; NMIs
 * whose site runs fell inside one step; NMI site runs while stop-machine
 * held the world. */
/* What each CPU saw during a run, zeroed at its start. */
struct tt_cpu {
	u64 passes, nmi_handled;
	u64 nmi_nested;		/* by the kernel's NMI depth */
	u64 own_nested;		/* by the torture handler's own depth */
	u32 own_depth;
	u8 self_nmi;		/* an NMI to itself is on its way */
	u64 nmi_sent_to, storm_sent_to, storm_recv0;
	u64 trapped_checked, nmi_mid, nmi_stopped_runs;
};
extern struct tt_cpu tt_cpu[MAX_CPUS];
/* Bumped by the step hook at every step boundary, before the injectors. */
extern u64 tt_step_seq;

/* One pass through every site, each outcome checked; strict: also the
 * stale-code check (no patch ran during the pass). */
void run_sites(const char *where, bool strict);
/* The NMI handler's pass, with its traps and its timing accounted. */
void nmi_run_sites(struct cpu *c);

#endif
