/*
 * The whole contract between the generic code (kernel/, tests/kernel/) and
 * an architecture (arch/<arch>/). Generic code includes this header and
 * nothing under arch/; the Makefile's contract check compiles every
 * generic file against a stub architecture (arch/stub/include) to keep it
 * so.
 *
 * An architecture provides three headers in arch/<arch>/include/arch/,
 * which the Makefile puts on the include path for its ARCH:
 *
 *   <arch/inline.h>  static inlines: cpu_relax, irq_disable, irq_enable,
 *                    irqflags_t irq_save / irq_restore, irqs_enabled,
 *                    timestamp (ticks; kernel/time.h converts), mb, rmb,
 *                    wmb, halt_forever, wait_for_interrupt and
 *                    arch_this_cpu (the per-CPU pointer);
 *   <arch/defs.h>    ARCH_MAX_CPUS, ARCH_HW_ID_NAME (what struct cpu's
 *                    hw_id is called in reports), struct recovery (what
 *                    recovery_set saves), struct arch_cpu (its part of
 *                    every per-CPU area) and struct arch_context (a
 *                    preemptible context's saved interrupt frame);
 *   <arch/insn.h>    INSN_MAX, enum insn_kind and struct insn, with at
 *                    least the members kind and len: the instructions
 *                    patched into live code;
 *
 * and implements every function declared below. kernel/ never names a
 * register, an instruction or an interrupt controller.
 *
 * For the tests, an architecture also provides the sites they patch: the
 * site kit declared in tests/kernel/sitekit.h (arch/<arch>/tests/).
 */
#ifndef PT_ARCH_H
#define PT_ARCH_H

#include "kernel/types.h"

#ifndef PT_HOST
#include <arch/inline.h>
#endif
#include <arch/defs.h>
#include <arch/insn.h>

struct boot_info;
struct cpu;
struct trap_frame;	/* the architecture's; generic code only passes it on */

/* Boot ------------------------------------------------------------------ */

/* Copies the boot loader's information; false if it is not one we know. */
bool arch_parse_boot_info(u32 magic, u32 info, struct boot_info *bi);
/* Early setup of the boot CPU: descriptor tables, traps, serial. */
void arch_early_init(void);
/* Paging, memory, timers: everything after the boot info is safe. Sets
 * ticks_per_ms and ticks_source (kernel/time.h). */
void arch_init(struct boot_info *bi);
/* Banner lines describing the CPU, hypervisor, interrupt controller,
 * timer. */
void arch_print_banner(void);
/* Ends the run: tells the emulator the verdict, or halts / reboots. */
void arch_finish(int verdict, unsigned reboot_seconds) __noreturn;

/* Verdicts for arch_finish, as seen by the emulator's exit status. */
enum verdict {
	VERDICT_SUCCESS,
	VERDICT_FAILURE,
	VERDICT_USAGE,
};

/* The architecture's own boot option, listed with the generic ones (x86:
 * apic=, the local APIC's mode). The first choice is the default; the
 * index of the one given goes to arch_smp_setup(). */
extern const char arch_option_name[];
extern const char arch_option_help[];
extern const char *const arch_option_choices[];	/* NULL-terminated */

/* Whether a virtual address is mapped (for reports and tests). */
bool arch_addr_mapped(u64 va);

/* The console: serial (and screen where there is one). */
bool arch_console_init(void);
void arch_console_write(const char *s, size_t n);
/* The screen, for the screen console (kernel/screen.h): NULL when there
 * is none to draw on. Called once, after arch_init. */
struct screen_dev;
const struct screen_dev *arch_screen_probe(void);

/* Faults ------------------------------------------------------------------ */

/* A setjmp for traps: returns 0 when called, 1 when a trap handler
 * abandoned the code that faulted and resumed here (arch_frame_resume, or
 * the architecture's own handling of a fault inside fault_try()). */
int recovery_set(struct recovery *r) __attribute__((returns_twice));

/* SMP and interrupts ------------------------------------------------------ */

/* Interrupt kinds the kernel uses; the architecture maps them to vectors
 * and acknowledges them. Handlers run with interrupts off. */
enum ipi_kind {
	IPI_CALL,	/* an SMP call is waiting in the mailbox */
	IPI_WAKE,	/* wake an idle CPU: task work is waiting */
	IPI_TIMER,	/* the local periodic timer */
	IPI_STORM,	/* fixed-vector storms from tests */
	IPI_SYNC,	/* the patching protocols' sync */
	IPI_KINDS,
};

/* Sets up interrupt delivery on the boot CPU with the choice of the
 * architecture's option (an index into arch_option_choices). Returns NULL
 * or why that choice is impossible here. */
const char *arch_smp_setup(unsigned choice);
/* Fills cpus[] (boot CPU first) with at most max CPUs the firmware
 * describes; returns how many, or 0 with err set. */
unsigned arch_enumerate_cpus(unsigned max, char *err, size_t errlen);
/* Enabled CPUs the firmware describes, and where that came from. */
unsigned arch_cpus_described(void);
const char *arch_cpu_source(void);
/* Starts a described CPU; 0, or -1 when it never checked in. */
int arch_cpu_start(struct cpu *c);
/* Puts a parked CPU back where only arch_cpu_start can wake it (x86:
 * INIT, wait-for-SIPI). */
void arch_cpu_stop(struct cpu *c);
/* The calling CPU's hardware ID (ARCH_HW_ID_NAME), read from the hardware. */
u32 arch_cpu_hw_id(void);
/* The interrupt controller in use, for the banner (x86: "APIC xAPIC"). */
const char *arch_irq_controller(void);

void arch_set_ipi_handler(enum ipi_kind kind, void (*fn)(struct trap_frame *f));
void arch_send_ipi(const struct cpu *c, enum ipi_kind kind);
void arch_send_ipi_all_but_self(enum ipi_kind kind);
void arch_send_self_ipi(enum ipi_kind kind);
void arch_send_nmi(const struct cpu *c);
void arch_send_nmi_all_but_self(void);
/* Claims NMIs: the handler returns true when the NMI was its own. */
void arch_set_nmi_handler(bool (*fn)(struct trap_frame *f));
/* This CPU's periodic timer, IPI_TIMER every period_ns; 0 stops it. */
void arch_timer_periodic(u64 period_ns);

/* Trap frames --------------------------------------------------------- */

/* Where a trap interrupted, for reports. */
u64 arch_frame_ip(const struct trap_frame *f);
bool arch_frame_irqs_were_on(const struct trap_frame *f);
void arch_frame_report(const struct trap_frame *f, const char *why);
/* Makes the trap return to r's point, where recovery_set returns 1. */
void arch_frame_resume(struct trap_frame *f, const struct recovery *r);
/* Makes the trapped frame re-execute the instruction at addr. */
void arch_frame_restart(struct trap_frame *f, u8 *addr);

/* Preemptible contexts ------------------------------------------------ */

/*
 * A context is the interrupt frame it was preempted with (struct
 * arch_context, <arch/defs.h>): switching is done in an interrupt handler,
 * by saving the interrupted frame into one context and making the frame
 * return into another. The interrupt must have arrived on the interrupted
 * context's own stack (no separate interrupt stack), so that every
 * context's frame and stack stay its own (docs/design.md §13.3).
 */
/* A context that starts at entry(arg) on the stack [stack, stack + size),
 * interrupts on. entry must never return. */
void arch_context_init(struct arch_context *ctx, void (*entry)(void *), void *arg,
		       void *stack, size_t size);
/* In an interrupt handler returning to process level: saves the
 * interrupted frame f into from and makes f return into to. */
void arch_context_switch(struct trap_frame *f, struct arch_context *from,
			 const struct arch_context *to);
/* Where a saved context resumes. */
u64 arch_context_ip(const struct arch_context *ctx);

/* Instructions ---------------------------------------------------------- */

/* Builders: fill *in; false when the architecture has no such instruction
 * with these arguments (e.g. a NOP of a length it cannot make), and then
 * *in is left as it was. Lengths are in bytes; which ones exist is the
 * architecture's (x86: NOP 1..8, JMP 2 or 5, RET 1..8 with padding).
 * Whether a target is reachable is insn_encode()'s business, since it
 * depends on the address. */
bool insn_nop(struct insn *in, unsigned len);
bool insn_jmp(struct insn *in, unsigned len, u64 target);
bool insn_call(struct insn *in, u64 target);
bool insn_ret(struct insn *in, unsigned len);
/* The poison instruction: one that always faults (x86: UD2), for
 * descriptors that must never be executed again. */
void insn_ud2(struct insn *in);

/* Encodes in at address addr into out[in->len]; returns in->len, or -1
 * when a target is out of reach or in is not something a builder would
 * have made. Nothing is written to out on failure. */
int insn_encode(const struct insn *in, u64 addr, u8 *out);
/* Decodes the instruction at addr from bytes[0..avail), only the kinds
 * the builders make; returns its length, or -1 when it is none of ours or
 * truncated. */
int insn_decode(const u8 *bytes, size_t avail, u64 addr, struct insn *out);
/* A short name of the kind ("jmp8", "call32"...); "?" for anything else. */
const char *insn_kind_name(enum insn_kind k);
/* Human-readable ("jmp 0x1234", "nop5"...) into buf; returns the length
 * of the full text, like snprintf (buf always terminated when size > 0). */
int insn_format(const struct insn *in, char *buf, size_t size);

/* Patching primitives ------------------------------------------------- */

/* What a protocol writes over a site's first byte while it changes: a
 * breakpoint (x86: INT3), or an invalid opcode (x86: a one-byte opcode
 * that raises #UD, like RISC-V's all-zero instruction). */
enum trap_kind { TRAP_BREAKPOINT, TRAP_INVALID_OPCODE };
u8 arch_trap_byte(enum trap_kind k);
/* Writes code bytes through this CPU's writable alias of the page(s).
 * It does not serialize: the engine does, once per write step (a CPUID
 * per write was a VM exit per write under KVM). */
void arch_text_write(u8 *addr, const u8 *bytes, size_t len);
/* The patch is done: drop this CPU's writable alias. */
void arch_text_done(void);
/* A serializing instruction (x86: SERIALIZE or CPUID, SDM vol. 3A 9.3). */
void arch_serialize(void);
/* Whether [addr, addr + len) is patchable text that an entry runs before
 * its dispatcher can serialize (x86: the edge sites of entry.asm): a CPU
 * leaving a quiescent state runs it unserialized (docs/design.md §8.7). */
bool arch_text_in_entry(const void *addr, unsigned len);
/* Makes the trapped frame continue as if the instruction at addr had
 * executed; false when it cannot be emulated. push_call false leaves out
 * a CALL's return address (a negative control's defect). */
bool arch_emulate(struct trap_frame *f, const struct insn *in, u8 *addr, bool push_call);
/* Installs the trap handlers for a protocol trapping with kind k: traps
 * at patchable text go to patch_trap() (kernel/patch.h). */
void arch_patch_init(enum trap_kind k);
/* Whether the trap entry leaves room under the interrupted stack for an
 * emulated CALL's push (x86: entry.asm moves the CPU's frame down; only
 * the unsafe-no-gap control turns it off). An architecture whose CALL
 * pushes nothing ignores it. */
void arch_trap_entry_gap(bool on);

#endif
