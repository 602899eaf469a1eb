/* A per-CPU ring of the last events (protocol steps, writes, syncs,
 * traps, IPIs, NMIs) with timestamps, dumped merged when something fails:
 * the trail that led to it. */
#ifndef PT_EVENTS_H
#define PT_EVENTS_H

#include "kernel/types.h"

enum event_type {
	EV_STEP, EV_WRITE, EV_SYNC, EV_SYNC_IPI, EV_TRAP, EV_NMI, EV_NOTE, EV_STALE,
	EV_VIOLATION,		/* a: the test's violation number, b: the CPU it names */
	EV_CT,			/* a context-tracking transition (kernel/ctrack.c) */
	EV_TYPES,
};

#define EVENT_RING 32

struct event {
	u64 when;
	u64 a, b;
	u8 type;
};

void event_log(enum event_type type, u64 a, u64 b);
/* Prints the merged trail of every CPU, oldest first (at most n lines). */
void event_dump(unsigned n);

#endif
