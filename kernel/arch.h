/*
 * What the architecture gives kernel/: CPU-neutral names for relaxing in a
 * spin loop, interrupt masking, timestamps, halting and barriers. Each
 * architecture implements these in its arch_inline.h; kernel/ never names
 * a register or an instruction.
 */
#ifndef PT_ARCH_H
#define PT_ARCH_H

#include "kernel/types.h"

#if defined(__x86_64__) && !defined(PT_HOST)
#include "arch/x86_64/arch_inline.h"
#endif

struct boot_info;

/* Copies the boot loader's information; false if it is not one we know. */
bool arch_parse_boot_info(u32 magic, u32 info, struct boot_info *bi);
/* Early setup of the boot CPU: descriptor tables, traps, serial. */
void arch_early_init(void);
/* Paging, memory, timers: everything after the boot info is safe. */
void arch_init(struct boot_info *bi);
/* Banner lines describing the CPU, hypervisor, APIC, timer. */
void arch_print_banner(void);
/* Ends the run: tells the emulator the verdict, or halts / reboots. */
void arch_finish(int verdict, unsigned reboot_seconds) __noreturn;

/* Whether a virtual address is mapped (for reports and tests). */
bool arch_addr_mapped(u64 va);

/* The console: serial (and screen where there is one). */
bool arch_console_init(void);
void arch_console_write(const char *s, size_t n);

/* Verdicts for arch_finish, as seen by the emulator's exit status. */
enum verdict {
	VERDICT_SUCCESS,
	VERDICT_FAILURE,
	VERDICT_USAGE,
};

#endif
