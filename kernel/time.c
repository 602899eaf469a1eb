/* Timestamp calibration results and busy waits (see time.h). */
#include "kernel/time.h"

u64 ticks_per_ms;
const char *ticks_source = "uncalibrated";

void delay_ns(u64 ns)
{
	u64 end = timestamp() + ns_to_ticks(ns);

	while (timestamp() < end)
		cpu_relax();
}
