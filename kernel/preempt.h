/*
 * Preemptible contexts and the two ways of replacing a multi-instruction
 * block under them (docs/design.md §13.3).
 *
 * A CPU that starts its contexts here runs, from then on, one of two
 * contexts with their own stacks: the caller (context 0) and a new one
 * (context 1). At every tick of the CPU's timer a seeded choice switches
 * from the interrupted context to the other (the saved interrupt frame is
 * the context, kernel/arch.h). Blocks are address ranges; a context
 * preempted with its instruction pointer strictly inside one is "inside
 * the block".
 *
 * The strategies, one per run (preempt_set_mode):
 *   PREEMPT_NONE     nothing: the IPI syncs of the protocol alone
 *   PREEMPT_QUIESCE  the patcher calls preempt_quiesce() after making
 *                    the block unreachable for new entries, and it waits
 *                    until every context was seen outside every block
 *   PREEMPT_RESTART  a context an interrupt returns into with its
 *                    instruction pointer inside a block restarts at the
 *                    block's first byte
 */
#ifndef PT_PREEMPT_H
#define PT_PREEMPT_H

#include "kernel/arch.h"

enum preempt_mode { PREEMPT_NONE, PREEMPT_QUIESCE, PREEMPT_RESTART };

#define PREEMPT_CPUS_MAX 8	/* CPUs with contexts at once */
#define PREEMPT_STACK 8192

struct pctx {
	struct arch_context regs;	/* valid while switched out */
	int cpu;
	unsigned idx;		/* 0: the starter, 1: the created one */
	bool out;		/* switched out */
	u64 out_ip;		/* where it was switched out */
	u64 out_gen;		/* preempt_block_gen() then */
	u64 qs;			/* times it was seen outside every block */
	struct recovery *expect;	/* its fault_try() point, while switched out */
};

struct preempt_stats {
	u64 ticks;		/* timer ticks in a context */
	u64 switches;		/* preemptions */
	u64 inside;		/* ... of a context inside a block */
	u64 resumed_patched;	/* resumes inside a block patched meanwhile */
	u64 restarts;		/* restart-block: resumes moved to the block's start */
	u64 restarts_patched;	/* ... of a context inside a block patched meanwhile */
	u64 quiesce_calls;	/* quiescence waits */
	u64 quiesce_waited;	/* ... that had to wait */
	u64 quiesce_inside;	/* ... for a context switched out inside a block */
	u64 quiesce_polls;	/* polls in them */
};

void preempt_set_mode(enum preempt_mode m);
enum preempt_mode preempt_get_mode(void);
const char *preempt_mode_name(enum preempt_mode m);

/* The block contexts must not be resumed in the middle of: one at a time,
 * [start, start + len); len 0 clears it. */
void preempt_block_set(u8 *start, unsigned len);
/* Bumped by the patcher before and after each patch of the block: a
 * context resumed inside it with another value was out across a patch. */
void preempt_block_patching(void);
bool preempt_in_block(u64 ip);

/*
 * On the calling CPU: makes the caller context 0 and starts context 1 at
 * entry(arg) on its own stack; the timer ticks every tick_ns (and the
 * switches begin) until preempt_cpu_stop(), which the caller calls as
 * context 0 once context 1 has nothing left to do. Returns context 0, or
 * NULL on a CPU numbered PREEMPT_CPUS_MAX or more.
 */
struct pctx *preempt_cpu_start(void (*entry)(struct pctx *self), u64 tick_ns);
void preempt_cpu_stop(void);
/* A voluntary quiescent point of context x: it is outside every block. */
void preempt_qs(struct pctx *x);

/* The quiescence wait; true when it had to wait, false when every context
 * was already outside. -1 (as true) when timeout_ms passed first. */
int preempt_quiesce(u64 timeout_ms);

/* Interrupt return to process level, from the architecture: switches
 * contexts on a tick, then applies restart-block. */
void preempt_irq_return(struct trap_frame *f, bool tick);

void preempt_stats_reset(void);
void preempt_stats(struct preempt_stats *st);
/* Every CPU stops switching (between tests; a crashed test). */
void preempt_reset(void);

#endif
