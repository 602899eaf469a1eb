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
#include "arch/x86_64/insn.h"
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

/*
 * SMP. Interrupt kinds the kernel uses; the architecture maps them to
 * vectors and acknowledges them. Handlers run with interrupts off.
 */
enum ipi_kind {
	IPI_CALL,	/* an SMP call is waiting in the mailbox */
	IPI_WAKE,	/* wake an idle CPU: task work is waiting */
	IPI_TIMER,	/* the local periodic timer */
	IPI_STORM,	/* fixed-vector storms from tests */
	IPI_SYNC,	/* the patching protocols' sync */
	IPI_KINDS,
};

struct cpu;
struct trap_frame;

/* Fills cpus[] (boot CPU first) with at most max CPUs the firmware
 * describes; returns how many, or 0 with err set. */
unsigned arch_enumerate_cpus(unsigned max, char *err, size_t errlen);
/* Starts a described CPU through the trampoline; 0, or -1 when it never
 * checked in. */
int arch_cpu_start(struct cpu *c);
/* Puts a parked CPU into wait-for-SIPI (INIT). */
void arch_cpu_stop(struct cpu *c);
void arch_set_ipi_handler(enum ipi_kind kind, void (*fn)(struct trap_frame *f));
void arch_send_ipi(const struct cpu *c, enum ipi_kind kind);
void arch_send_ipi_all_but_self(enum ipi_kind kind);
void arch_send_self_ipi(enum ipi_kind kind);
void arch_send_nmi(const struct cpu *c);
void arch_send_nmi_all_but_self(void);
/* Claims NMIs: returns true when the NMI was ours. */
void arch_set_nmi_handler(bool (*fn)(struct trap_frame *f));
/* This CPU's periodic timer, IPI_TIMER every period_ns; 0 stops it. */
void arch_timer_periodic(u64 period_ns);
/* Where a trap interrupted, for reports. */
u64 arch_frame_ip(const struct trap_frame *f);
bool arch_frame_irqs_were_on(const struct trap_frame *f);
void arch_frame_report(const struct trap_frame *f, const char *why);
void arch_frame_resume(struct trap_frame *f, const struct recovery *r);
const char *arch_apic_mode(void);
/* The calling CPU's hardware ID (APIC ID), read from the hardware. */
u32 arch_cpu_hw_id(void);
/* Enabled CPUs the firmware describes, and where that came from. */
unsigned arch_cpus_described(void);
const char *arch_cpu_source(void);
/* Sets up interrupt delivery on the boot CPU: apic 0 auto, 1 xapic,
 * 2 x2apic. Returns NULL or why the choice is impossible. */
const char *arch_smp_setup(int apic_mode);

/* Patching primitives. */
/* What a protocol writes over a site's first byte while it changes: a
 * breakpoint (x86: int3), or an invalid opcode (seed 004's plan). */
enum trap_kind { TRAP_BREAKPOINT, TRAP_INVALID_OPCODE };
u8 arch_trap_byte(enum trap_kind k);
/* Writes code bytes through this CPU's writable alias of the page(s),
 * then serializes. */
void arch_text_write(u8 *addr, const u8 *bytes, size_t len);
/* The patch is done: drop this CPU's writable alias. */
void arch_text_done(void);
/* A serializing instruction (SDM 9.3: SERIALIZE, or CPUID). */
void arch_serialize(void);
/* Makes the trapped frame continue as if the instruction at addr had
 * executed; false when it cannot be emulated. */
bool arch_emulate(struct trap_frame *f, const struct insn *in, u8 *addr, bool push_call);
/* Installs the trap handlers for the chosen protocol. */
void arch_patch_init(void);
/* Makes the trapped frame re-execute the instruction at addr. */
void arch_frame_restart(struct trap_frame *f, u8 *addr);

/* Verdicts for arch_finish, as seen by the emulator's exit status. */
enum verdict {
	VERDICT_SUCCESS,
	VERDICT_FAILURE,
	VERDICT_USAGE,
};

#endif
