/*
 * The stub architecture's <arch/inline.h>: what kernel/arch.h asks of
 * every architecture, declared and implemented nowhere. Only the
 * Makefile's contract check uses arch/stub: generic code that compiles
 * against it reaches an architecture through kernel/arch.h alone. It is
 * also the list a new port starts from.
 */
#ifndef PT_STUB_ARCH_INLINE_H
#define PT_STUB_ARCH_INLINE_H

#include "kernel/types.h"

struct cpu;

typedef unsigned long irqflags_t;

void cpu_relax(void);
void irq_disable(void);
void irq_enable(void);
irqflags_t irq_save(void);
void irq_restore(irqflags_t f);
bool irqs_enabled(void);
u64 timestamp(void);
void mb(void);
void rmb(void);
void wmb(void);
__noreturn void halt_forever(void);
void wait_for_interrupt(void);
struct cpu *arch_this_cpu(void);

#endif
