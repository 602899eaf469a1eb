/*
 * TSC calibration. CPUID leaf 0x15 gives the TSC/crystal ratio and, on
 * most parts, the crystal frequency (SDM vol. 2A, CPUID leaf 15H); leaf
 * 0x16 gives the base frequency in MHz. Where neither says, count TSC
 * ticks across a PIT channel 2 countdown: the PIT runs at 1.193182 MHz on
 * every PC (Intel 8254 datasheet), and channel 2's output is readable at
 * port 0x61 bit 5 without interrupts.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "kernel/time.h"

#define PIT_HZ 1193182ull
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_61 0x61		/* bit 0: gate ch2, bit 1: speaker, bit 5: ch2 out */
#define PIT_CAL_MS 10ull
#define PIT_CAL_ROUNDS 3

static u64 khz_from_cpuid(void)
{
	u32 max = cpuid(0, 0).eax;
	struct cpuid_regs r;

	if (max >= 0x15) {
		r = cpuid(0x15, 0);	/* eax: denominator, ebx: numerator, ecx: Hz */
		if (r.eax && r.ebx && r.ecx) {
			ticks_source = "CPUID 0x15";
			return (u64)r.ecx * r.ebx / r.eax / 1000;
		}
	}
	if (max >= 0x16) {
		r = cpuid(0x16, 0);
		if (r.eax & 0xffff) {
			ticks_source = "CPUID 0x16";
			return (u64)(r.eax & 0xffff) * 1000;
		}
	}
	return 0;
}

/* TSC ticks during one PIT_CAL_MS countdown of channel 2 (mode 0). */
static u64 pit_measure(void)
{
	u16 count = PIT_HZ * PIT_CAL_MS / 1000;
	u64 start, end;
	u8 p61 = inb(PORT_61);

	outb(PORT_61, (p61 & ~0x02) | 0x01);	/* gate on, speaker off */
	outb(PIT_CMD, 0xb0);	/* channel 2, lobyte/hibyte, mode 0, binary */
	outb(PIT_CH2, count & 0xff);
	outb(PIT_CH2, count >> 8);
	start = rdtsc();
	while (!(inb(PORT_61) & 0x20))
		;
	end = rdtsc();
	outb(PORT_61, p61);
	return end - start;
}

void tsc_calibrate(void)
{
	u64 khz = khz_from_cpuid(), best = ~0ull;

	if (khz) {
		ticks_per_ms = khz;
		return;
	}
	/* The shortest of a few rounds: an emulator or an SMI can only make
	 * a round longer. */
	for (int i = 0; i < PIT_CAL_ROUNDS; i++) {
		u64 t = pit_measure();

		best = MIN(best, t);
	}
	ticks_per_ms = best / PIT_CAL_MS;
	ticks_source = "PIT channel 2";
}
