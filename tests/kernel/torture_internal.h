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
extern u64 tt_trapped_checked[MAX_CPUS], tt_nmi_mid[MAX_CPUS], tt_nmi_stopped_runs[MAX_CPUS];
/* Bumped by the step hook at every step boundary, before the injectors. */
extern u64 tt_step_seq;

/* One pass through every site, each outcome checked; strict: also the
 * stale-code check (no patch ran during the pass). */
void run_sites(const char *where, bool strict);
/* The NMI handler's pass, with its traps and its timing accounted. */
void nmi_run_sites(struct cpu *c);

#endif
