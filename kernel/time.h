/* Time in timestamp ticks (the arch's cycle counter), and conversions. */
#ifndef PT_TIME_H
#define PT_TIME_H

#include "kernel/arch.h"

extern u64 ticks_per_ms;	/* set by the arch's calibration */
extern const char *ticks_source;	/* how it was measured */

static inline u64 ticks_to_ns(u64 t)
{
	return ticks_per_ms ? t * 1000000 / ticks_per_ms : 0;
}

static inline u64 ns_to_ticks(u64 ns)
{
	return ns * ticks_per_ms / 1000000;
}

static inline u64 ms_to_ticks(u64 ms)
{
	return ms * ticks_per_ms;
}

/* Busy-waits (with cpu_relax) for the given time. */
void delay_ns(u64 ns);

#endif
