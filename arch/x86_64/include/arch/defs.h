/*
 * <arch/defs.h> for x86_64: the limits and types kernel/arch.h names but
 * leaves to the architecture: how many CPUs, what a CPU's hardware ID is
 * called, the recovery record of recovery_set(), and the x86 part of every
 * CPU's per-CPU area.
 */
#ifndef PT_X86_ARCH_DEFS_H
#define PT_X86_ARCH_DEFS_H

#include "kernel/types.h"

#define ARCH_MAX_CPUS 288	/* QEMU's pc machine limit; APIC IDs may be sparse */
#define ARCH_HW_ID_NAME "APIC ID"	/* what struct cpu's hw_id is, in reports */

/* 64-bit TSS (SDM vol. 3A, 8.7, figure 8-11). */
struct __packed tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
};

/* IST slots (1-based in the IDT gate). #DF must have its own stack: it is
 * how a kernel stack overflow into the guard page gets reported rather
 * than triple-faulting. #MC may arrive anywhere. NMI deliberately runs on
 * the interrupted stack: see traps.c. */
enum { IST_DF = 1, IST_MC = 2, IST_COUNT = 2 };

#define GDT_ENTRIES 7	/* null, code, data, TSS (2 slots), spare x2 */
#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18

/* Callee-saved state to resume at (recovery.asm; recovery_set() in
 * kernel/arch.h). */
struct recovery {
	u64 rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags;
};

/* A preemptible context: its saved struct trap_frame (traps.h), 22
 * quadwords; arch/x86_64/context.c checks the size. */
struct arch_context {
	u64 frame[22];
};

struct arch_cpu {
	u64 gdt[GDT_ENTRIES] __aligned(16);
	struct tss64 tss __aligned(16);
	u64 ist_top[IST_COUNT + 1];
	bool started;		/* checked in from the trampoline */
};

#endif
