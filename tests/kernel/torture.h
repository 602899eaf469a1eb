/*
 * The torture harness: spinners through live sites, a patcher flipping
 * them, and injectors that put interrupts, hotplug and a second patcher in
 * the middle of each protocol step. The sites come from the
 * architecture's site kit (sitekit.h).
 */
#ifndef PT_TESTS_TORTURE_H
#define PT_TESTS_TORTURE_H

#include "kernel/patch.h"
#include "kernel/test.h"
#include "tests/kernel/sitekit.h"

#define TSITES_MAX 8
#define TORTURE_STORM_BURST 4	/* storm IPIs per target CPU per step */

#define T_NMI_SPINNERS (1u << 0)	/* NMIs to the spinners in every step */
#define T_NMI_PATCHER (1u << 1)		/* NMIs to the patching CPU in every step */
#define T_NMI_NESTED (1u << 2)		/* NMI bursts: a trap inside NMI, then more NMIs */
#define T_IPI_STORM (1u << 3)		/* fixed-vector IPIs to the spinners */
#define T_IRQOFF (1u << 4)		/* spinners keep interrupts off for stretches */
#define T_DELAYED_HANDLER (1u << 5)	/* trap handlers held up */
#define T_HOTPLUG (1u << 6)		/* a CPU goes offline/online mid-patch */
#define T_TWO_PATCHERS (1u << 7)	/* a second CPU patches other sites */
#define T_ON_AP (1u << 8)		/* patch from an AP (negative controls) */
/* The scenario's hazard is the trap handler (an emulated push, flags, a
 * pop, a handler held up, a trap inside an NMI): under a protocol that
 * never leaves a trap byte it does not happen, and the test skips. */
#define T_NEEDS_TRAPS (1u << 9)
/* The NMI hazards of a sync wait (nmi_hazard.c, docs/design.md §8.5):
 * an NMI to the patcher from inside each of its sync waits; NMIs to the
 * others from there, whose handlers wait until that sync wait ended,
 * answering syncs meanwhile, or not (a control); the patcher running the
 * sites itself from its sync wait, interrupts off (a control's twin); no
 * spinners at all (the controls whose deadlock is the patcher's own). */
#define T_NMI_SYNC_WAIT (1u << 10)
#define T_NMI_WAITERS (1u << 11)
#define T_NMI_WAIT_NOPOLL (1u << 12)
#define T_SITE_IN_WAIT (1u << 13)
#define T_NO_SPINNERS (1u << 14)
/* A second CPU writes half of every write step at the same moment as the
 * patcher (kernel/cowrite.h), running the sites in between; batching
 * protocols only (one site per sequence leaves nothing to split). */
#define T_COWRITER (1u << 15)
/* Trap handlers held up only after using the descriptor, before they drop
 * their reference, until their patch is retired (kernel/patch.h,
 * HANDLER_HOLD_END; at most 50 ms): a retirement that does not wait for
 * them then lands there, where nothing they run shows it, and only the
 * check at the reference's drop can. For controls: a protocol that waits
 * for the reference makes every such trap wait the 50 ms. */
#define T_HANDLER_LATE (1u << 16)

struct torture {
	const char *name;
	struct flip_site sites[TSITES_MAX];
	unsigned n;
	unsigned flags;
	u64 iters;		/* patches; 0: the default */
	u64 ms;			/* or run this long (seconds=); 0: iters */
	u64 share;		/* iters runs left in this test (mix rounds), for
				 * their share of its time budget; 0: 1 */
	/* A negative control: stop once the detector it requires has fired
	 * this many times (0: run every patch). */
	unsigned stop_caught;
	enum detector stop_det;
};

/* What happened, for the test's checks and its report. Every count is
 * observed where it happens (received, landed, trapped), never inferred
 * from what was sent. */
struct torture_result {
	u64 patches, passes, traps;
	u64 trapped_checked;	/* passes that trapped, held to the new outcome */
	u64 nmis_sent, nmis_handled;
	u64 nmis_mid_patch;	/* NMIs whose site runs all fell inside one step */
	u64 nmi_nested;		/* by the kernel's NMI depth */
	u64 nmi_nested_own;	/* by the torture handler's own depth */
	u64 nmi_stopped_runs;	/* NMI site runs while stop-machine held the world */
	u64 nmis_unsent;	/* NMIs a CPU handled beyond those sent to it */
	u64 cpus_without_nmi;	/* spinners sent NMIs that handled none */
	u64 storm_ipis, storm_received, storms_unsent, cpus_without_storm;
	u64 hotplug_cycles, online_hook_runs, second_patches;
	u64 cowrite_jobs;	/* write steps the co-writer wrote its share of */
	u64 cowrite_taken_back;	/* ... that the patcher had to write alone */
	u64 cowrite_interleaved;	/* site writes begun mid-write of the other */
	unsigned spinners;	/* CPUs that spun (no patcher, victim, second) */
	u64 retire_waits;	/* retirements that waited for a trap handler */
	u64 handovers;		/* patches pipelined with the previous (int3-pipe) */
	u64 bad;		/* wrong outcomes (also reported) */
	u64 canary_bad, callee_bad;	/* sitekit.h's counts, during this run */
	bool aborted;		/* a crash or the watchdog unwound the patcher */
};

/* Adds the kit's sites of roles[] (up to SITE_NONE) to t. */
void torture_add_sites(struct torture *t, const enum site_role *roles, unsigned n);
/* Prints each site of t and the two states it flips between. */
void torture_describe(const struct torture *t);
/* Runs the torture; fills r. Returns false if the run was unwound. */
bool torture_run(struct torture *t, struct torture_result *r);
/* Prints r; checks that the scenario's events really happened (an error
 * otherwise) and that nothing went wrong. */
void torture_check(const struct torture *t, const struct torture_result *r);

/* Whether the protocol of the moment ever leaves a trap byte in a site
 * (the whole-instruction and stop-machine ones do not). */
bool proto_leaves_trap_bytes(void);

#endif
