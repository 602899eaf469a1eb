/*
 * The local APIC timer as every CPU's periodic tick (SDM vol. 3A 11.5.4).
 * Its input clock is model-specific, so it is measured against the TSC
 * once on the boot CPU; every CPU's timer runs at the same rate.
 */
#include "arch/x86_64/apic.h"
#include "arch/x86_64/smp.h"
#include "kernel/time.h"

#define TIMER_DIVIDE_16 0x3	/* divide configuration register encoding */
#define CALIBRATE_MS 10

static u64 apic_ticks_per_ms;

void timer_calibrate(void)
{
	u64 start;
	u32 left;

	apic->write(APIC_TIMER_DIV, TIMER_DIVIDE_16);
	apic->write(APIC_LVT_TIMER, LVT_MASKED);
	apic->write(APIC_TIMER_INIT, 0xffffffff);
	start = timestamp();
	while (timestamp() - start < ms_to_ticks(CALIBRATE_MS))
		cpu_relax();
	left = apic->read(APIC_TIMER_COUNT);
	apic->write(APIC_TIMER_INIT, 0);
	apic_ticks_per_ms = (0xffffffffull - left) / CALIBRATE_MS;
}

u64 timer_ticks_per_ms(void)
{
	return apic_ticks_per_ms;
}

void arch_timer_periodic(u64 period_ns)
{
	u64 count = apic_ticks_per_ms * period_ns / 1000000;

	if (!period_ns || !count) {
		apic->write(APIC_LVT_TIMER, LVT_MASKED);
		apic->write(APIC_TIMER_INIT, 0);
		return;
	}
	apic->write(APIC_TIMER_DIV, TIMER_DIVIDE_16);
	apic->write(APIC_LVT_TIMER, LVT_TIMER_PERIODIC | VEC_TIMER);
	apic->write(APIC_TIMER_INIT, (u32)MIN(count, 0xffffffffull));
}
