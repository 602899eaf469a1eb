/* The torture harness: spinners through live sites, a patcher flipping
 * them, and the injectors of DESIGN.md. */
#ifndef PT_X86_TORTURE_H
#define PT_X86_TORTURE_H

#include "arch/x86_64/tests/sites.h"
#include "kernel/patch.h"

#define TSITES_MAX 8

/* A site flipped between two encodings; a pass through it must return
 * result[0] or result[1], and exactly result[state] when no patch ran
 * during the pass. */
struct tsite {
	site_fn fn;
	u8 *site;
	struct insn state[2];
	u32 result[2];
	u64 a, b;
};

#define T_NMI_SPINNERS (1u << 0)	/* NMIs to the spinners in every step */
#define T_NMI_PATCHER (1u << 1)		/* NMIs to the patching CPU in every step */
#define T_NMI_NESTED (1u << 2)		/* NMI bursts: #BP inside NMI, then more NMIs */
#define T_IPI_STORM (1u << 3)		/* fixed-vector IPIs to the spinners */
#define T_IRQOFF (1u << 4)		/* spinners keep interrupts off for stretches */
#define T_DELAYED_HANDLER (1u << 5)	/* trap handlers held up */
#define T_HOTPLUG (1u << 6)		/* a CPU goes offline/online mid-patch */
#define T_TWO_PATCHERS (1u << 7)	/* a second CPU patches other sites */
#define T_ON_AP (1u << 8)		/* patch from an AP (negative controls) */

struct torture {
	const char *name;
	struct tsite sites[TSITES_MAX];
	unsigned n;
	unsigned flags;
	u64 iters;		/* patches; 0: the default */
	u64 ms;			/* or run this long (seconds=); 0: iters */
	u64 share;		/* iters runs left in this test (mix rounds), for
				 * their share of its time budget; 0: 1 */
};

/* What happened, for the test's checks and its report. */
struct torture_result {
	u64 patches, passes, traps, nmis_sent, nmis_handled, nmis_mid_patch;
	u64 nmi_nested, hotplug_cycles, storm_ipis, online_hook_runs, second_patches;
	u64 bad;		/* wrong outcomes (also reported) */
	bool aborted;		/* a crash or the watchdog unwound the patcher */
};

/* Runs the torture; fills r. Returns false if the run was unwound. */
bool torture_run(struct torture *t, struct torture_result *r);
/* Fills sites[] for a scenario: NOP5<->JMP32 and friends. */
void tsite_jmp(struct tsite *s, site_fn fn, u8 *site, u8 *target);
void tsite_call(struct tsite *s, site_fn fn, u8 *site);
void tsite_retarget(struct tsite *s, site_fn fn, u8 *site);
void tsite_jcc(struct tsite *s, site_fn fn, u8 *site, u8 *target, unsigned len, unsigned cc);
/* Prints r; checks that the scenario's events really happened (an error
 * otherwise) and that nothing went wrong. */
void torture_check(const struct torture *t, const struct torture_result *r);

#endif
