/*
 * <arch/inline.h> for x86_64: the primitives kernel/arch.h asks of every
 * architecture as static inlines (spin-wait hint, interrupt masking,
 * timestamps, barriers, halting, the per-CPU pointer).
 */
#ifndef PT_X86_ARCH_INLINE_H
#define PT_X86_ARCH_INLINE_H

#include "kernel/types.h"

/* PAUSE in every spin loop: it is the spin-wait hint on hardware, and under
 * single-threaded TCG it ends the translation block so that QEMU schedules
 * the next vCPU; without it a spinner would starve the CPU it waits for. */
static inline void cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

static inline void irq_disable(void)
{
	__asm__ __volatile__("cli" ::: "memory");
}

static inline void irq_enable(void)
{
	__asm__ __volatile__("sti" ::: "memory");
}

typedef unsigned long irqflags_t;

static inline irqflags_t irq_save(void)
{
	irqflags_t f;

	__asm__ __volatile__("pushfq; popq %0; cli" : "=r"(f)::"memory");
	return f;
}

static inline void irq_restore(irqflags_t f)
{
	__asm__ __volatile__("pushq %0; popfq" ::"r"(f) : "memory", "cc");
}

static inline bool irqs_enabled(void)
{
	irqflags_t f;

	__asm__ __volatile__("pushfq; popq %0" : "=r"(f));
	return f & (1ul << 9);
}

/* Timestamp in TSC ticks; tsc_khz (arch timer code) converts. */
static inline u64 timestamp(void)
{
	u32 lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* x86 is TSO: only store->load ordering needs a fence. */
static inline void mb(void)
{
	__asm__ __volatile__("mfence" ::: "memory");
}
#define rmb() barrier()
#define wmb() barrier()

static inline __noreturn void halt_forever(void)
{
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

static inline void wait_for_interrupt(void)
{
	__asm__ __volatile__("sti; hlt; cli" ::: "memory");
}

struct cpu;

/* The per-CPU area is reached through GS base; its first field points to
 * itself, so one GS-relative load gives the pointer. */
static inline struct cpu *arch_this_cpu(void)
{
	struct cpu *c;

	__asm__ __volatile__("movq %%gs:0, %0" : "=r"(c));
	return c;
}

#endif
