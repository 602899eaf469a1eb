/*
 * The site kit: what an architecture provides for the generic tests of
 * tests/kernel/. Those tests patch live code while other CPUs run it; the
 * kit says where that code is, which states each site flips between and
 * what running it returns in each. Everything else (spinners, patcher
 * roles, injectors, outcome checks, benchmarks, negative controls) is
 * generic. An architecture implements this header in its own folder
 * (x86-64: tests/sitekit.c under arch/, with the sites in sites.asm).
 *
 * A site function, u32 fn(u64 a, u64 b), runs one patchable site and
 * returns what the instruction there did (which value means what is the
 * kit's business: the tests compare with the results it gives). On the
 * way it keeps a canary on its stack and, when the site calls, checks that
 * the callee came back to the end of the site; a broken canary or a wrong
 * return is counted below (and the function returns a value no state
 * yields), never missed.
 */
#ifndef PT_TESTS_SITEKIT_H
#define PT_TESTS_SITEKIT_H

#include "kernel/arch.h"

typedef u32 (*site_fn)(u64 a, u64 b);

/* A site the tests flip between two states. A pass through it returns
 * result[0] or result[1], and exactly result[i] when it holds state[i]
 * and no patch ran during the pass. */
struct flip_site {
	site_fn fn;
	u8 *addr;
	struct insn state[2];
	u32 result[2];
	u64 a, b;		/* the arguments fn runs with */
};

/* The sites the torture scenarios, negative controls and benchmarks flip.
 * Each has a site function of its own, which no other role shares. */
enum site_role {
	SITE_NONE,		/* ends a list of roles */
	SITE_BRANCH,		/* falls through <-> branches to its target */
	SITE_BRANCH_SPARE,	/* the same, run by no spinner: a second patcher's */
	SITE_CALL,		/* falls through <-> calls a callee */
	SITE_CALL_ALIGNED,	/* the same with the stack at its other alignment */
	SITE_CALL_RETARGET,	/* calls one callee <-> calls another */
	SITE_COND,		/* falls through <-> a conditional branch, taken */
	SITE_COND_SHORT,	/* the same in its shortest encoding */
	SITE_COND_NOT_TAKEN,	/* falls through <-> a conditional branch, not taken */
	SITE_COND_SHORT_NOT_TAKEN,
	SITE_RETURN,		/* falls through <-> returns at the site (its stack checked) */
	SITE_LINE,		/* a branch site across a cache-line boundary */
	SITE_PAGE,		/* a branch site across a page boundary */
	SITE_PACK_A,		/* two neighbours packed with no padding, sharing */
	SITE_PACK_B,		/* a cache line and a word: jump <-> call */
	SITE_ROLES,
};

/* Fills s with the site of role r, state[0] being the state it is left in. */
void kit_flip_site(struct flip_site *s, enum site_role r);

/*
 * The self-tests' sites (poke.selftest_kinds and _bp): each is patched
 * into every state it can hold and run with every argument pair.
 */
struct kit_target {
	const char *name;
	site_fn fn;
	u8 *addr;
	u8 *target;		/* where its branches go */
	unsigned len;
};

extern const struct kit_target kit_targets[];
extern const unsigned kit_targets_count;

#define KIT_STATES_MAX 24
/* Every state t can hold (at most KIT_STATES_MAX); the last one is the
 * state the site starts in, so that the self-tests leave it so. */
unsigned kit_states(const struct kit_target *t, struct insn *out);
/* What a target's site function returns for (a, b) with in at its site. */
u32 kit_result(const struct insn *in, u64 a, u64 b);
/* Whether in calls: the callee then checks its return address. */
bool kit_calls(const struct insn *in);

/* Kept by the site functions and callees (see the top of this file). */
extern u64 sf_canary_bad;	/* a stack canary was broken */
extern u64 sf_callee_bad;	/* a callee came back to the wrong place */
extern u64 sf_bad_ret;		/* the last such wrong return address */
extern u64 sf_expect_ret;	/* self-tests: the return address a callee must see */
extern u64 sf_callee_ok;	/* calls whose callee saw exactly sf_expect_ret */

/*
 * A block of SITES_MANY sites in a row, for batches: each falls through,
 * or calls a counter.
 */
#define SITES_MANY 1024
u8 *kit_many_site(unsigned i);
/* A block site's state: falling through (calls false) or calling. */
void kit_many_state(struct insn *in, bool calls);
/* Runs the block once; returns how many of its sites called the counter. */
u64 kit_many_run(void);

/*
 * Edge sites (docs/design.md §8.6): patch sites in the entry code itself,
 * each a NOP or a call to the test's tracer hook, edge_tracer(). The NMI
 * entry's is its very first instruction (before the NMI depth is raised)
 * and its exit's the very last (after it is lowered); the trap entry's
 * is in the breakpoint (and trap-first's trap) entry; the exception
 * entry's is the first instruction of a non-NMI exception's entry, which
 * runs with interrupts as the faulting code had them.
 */
enum edge_site { EDGE_NMI_ENTRY, EDGE_NMI_EXIT, EDGE_TRAP_ENTRY, EDGE_EXC_ENTRY, EDGE_SITES };
/* Fills s: state[0] the NOP the site starts with, state[1] the call to
 * the hook; no site function (fn NULL), results 0. */
void kit_edge_site(struct flip_site *s, enum edge_site e);
const char *kit_edge_name(enum edge_site e);
/* Whether ip, interrupted by a trap, is the trap at edge site e. */
bool kit_edge_trapped_at(enum edge_site e, u64 ip);
/* Claims (on) or releases the exception kit_edge_raise() raises; its
 * handler holds the CPU handler_ns, then resumes after it. */
void kit_edge_arm(bool on, u64 handler_ns);
/* Raises that exception through EDGE_EXC_ENTRY, here and now. */
void kit_edge_raise(void);
/* Called by every edge site in its hook state, in whatever context the
 * entry runs; ip is where the entry interrupted (the trapping instruction
 * for the trap entry). Defined by the test. */
void edge_tracer(enum edge_site e, u64 ip);

/*
 * platform.cmc's probe: a function returning a value held in its own
 * code. kit_probe_write() rewrites that value with patch_raw_write(): no
 * protocol, and no sync of the other CPUs.
 */
u32 kit_probe(void);
void kit_probe_write(u32 v);

/*
 * A block of two or more instructions replaced as a unit
 * (docs/design.md §13.3). In state A it is two instructions, and a
 * context can be interrupted between them; in state B it is one. fn runs
 * it and returns out_a or out_b; a context preempted inside A and resumed
 * in B returns something else (a wrong outcome that the context sees).
 * redirect is the first instruction of A's place rewritten to produce
 * out_b out of line, leaving A's later instructions as they are: patched
 * first, it makes the block unreachable for new entries.
 */
struct mblock {
	u8 *site;		/* the block's first byte */
	unsigned len;		/* its bytes */
	u32 (*fn)(void);
	struct insn seq_a, seq_b, redirect;
	u32 out_a, out_b;
};
void kit_mblock(struct mblock *m);

#endif
