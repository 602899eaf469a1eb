/*
 * The deferred sync (docs/design.md §8.7): a CPU in an extended quiescent
 * state (EQS: halted in its idle loop, parked offline) runs no patchable
 * text, so a sync need not interrupt it nor wait for it; it only has to
 * serialize when it leaves the EQS, before its first patchable
 * instruction. One word per CPU holds both halves of that contract:
 *
 *	bit 0	QS_EQS:  the CPU is in the EQS (set and cleared by the CPU)
 *	bit 1	QS_OWED: a sync deferred it; it owes a serialization
 *	63..2	the text write sequence of the latest such sync
 *
 * The patcher sets QS_OWED with a compare-and-exchange that succeeds only
 * while QS_EQS is set; the CPU leaves with an atomic AND that returns the
 * word. Both are read-modify-writes of one location, so they are totally
 * ordered: either the patcher's came first and the CPU sees QS_OWED, or
 * the CPU's came first and the patcher sees a running CPU and sends it
 * the sync IPI (SDM vol. 3A §9.1.2.2: locked operations are atomic and
 * ordered with respect to all other memory operations).
 *
 * The checker: each CPU keeps its own idea of whether it is in the EQS,
 * and asserts at every transition and before running a site that the
 * word agrees (a patcher marked only a quiescent CPU) and that it has
 * serialized after every sync that deferred it (a ledger the patcher
 * writes after each deferral).
 */
#ifndef PT_DEFER_H
#define PT_DEFER_H

#include "kernel/types.h"

struct cpu;
struct patch_batch;

#define QS_EQS 1ull
#define QS_OWED 2ull
#define QS_SEQ_SHIFT 2

/* sync=deferred (the option), or forced by a test: whether syncs defer
 * quiescent CPUs. */
extern bool sync_deferred;
const char *sync_mode_name(void);

/* Negative controls only (neg.defer_*): the defect to build in. */
enum qs_defect {
	QS_SOUND,
	QS_NO_SERIALIZE,	/* the CPU leaves the EQS and does not serialize */
	QS_UNORDERED,		/* the patcher reads the word, waits, then writes it */
	QS_DEFER_ENTRY,		/* syncs of entry text defer quiescent CPUs too */
};
extern enum qs_defect qs_defect;
/* Tests only (poke.deferred_nmi_exit): called inside every exit from the
 * EQS, after the word says running and before what the CPU owes is paid,
 * with the word as it was. */
extern void (*qs_leave_hook)(u64 old);
/* The engine's head write of a site (its new first byte) at write seq:
 * the checker notes those in entry text, which a CPU runs on its way out
 * of the EQS before it serializes. */
void qs_note_text_write(const void *addr, unsigned len, u64 seq);
/* After a control's defect: every CPU, at its next transition, serializes
 * and takes its word and the checker's ledger as that makes them, unchecked
 * once, so that what the defect left does not fail the next test. */
void qs_forgive(void);

/* CPU side. The idle loop enters the EQS with interrupts off, right
 * before it halts, and leaves it first thing after; the trap dispatcher
 * leaves it before any handler (and an NMI or exception puts it back at
 * its exit, an interrupt leaves that to the idle loop it woke). */
void qs_idle_enter(void);
void qs_idle_exit(void);
bool qs_trap_enter(void);
void qs_trap_exit(bool left, bool irq);
/* Whether the trap running on this CPU came from the EQS (tests). */
bool qs_trap_from_eqs(void);
/* Parked offline, halted with interrupts off until INIT; back online
 * after the bring-up serialized (ap_entry). */
void qs_park(void);
void qs_online(void);
/* The checker, before a CPU runs patchable text (tests' handlers, the
 * trap handler): outside the EQS, the word agreeing, serialized after
 * every sync that deferred it. */
void qs_site_run(const char *what);

/* Patcher side. Whether this sync may defer (the mode, the context, and
 * no site of b in entry text that runs before the serialization); then,
 * per CPU, whether it was deferred at write seq (true) or must be IPIed. */
bool qs_sync_may_defer(const struct patch_batch *b);
bool qs_try_defer(unsigned cpu, u64 seq);
/* CPU i serialized after write seq, or is deferred by a sync after it and
 * has not run patchable text since (the checker's and int3-pipe's test). */
bool qs_cpu_saw(unsigned cpu, u64 seq);
/* Whether CPU i's word says it is in the EQS now (tests). */
bool qs_quiescent(unsigned cpu);
/* A sync that deferred n CPUs (counted). */
void qs_note_sync(unsigned deferred);

struct qs_stats {
	u64 syncs_deferring;	/* syncs that deferred at least one CPU */
	u64 cpus_deferred;	/* CPUs deferred, over all syncs */
	u64 exits;		/* EQS exits */
	u64 exits_serialized;	/* exits that found QS_OWED and serialized */
	u64 violations;		/* the checker's */
};
void qs_stats(struct qs_stats *s);
/* The run's line: the mode and what deferral did in all (tests forcing it
 * included). */
void qs_stats_total(void);

#endif
