/* The trap frame built by entry.asm and the trap dispatch interface. */
#ifndef PT_X86_TRAPS_H
#define PT_X86_TRAPS_H

#include "kernel/percpu.h"

/* Must match the push order in entry.asm. */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};

/* Exception vectors (SDM vol. 3A, table 6-1). */
enum {
	VEC_DE = 0, VEC_DB = 1, VEC_NMI = 2, VEC_BP = 3, VEC_OF = 4,
	VEC_BR = 5, VEC_UD = 6, VEC_NM = 7, VEC_DF = 8, VEC_TS = 10,
	VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14, VEC_MF = 16,
	VEC_AC = 17, VEC_MC = 18, VEC_XM = 19, VEC_VE = 20, VEC_CP = 21,
	VEC_SPURIOUS = 0xff,
};

/* #PF error code bits (SDM vol. 3A, 4.7). */
#define PF_P	(1u << 0)
#define PF_W	(1u << 1)
#define PF_U	(1u << 2)
#define PF_RSVD	(1u << 3)
#define PF_I	(1u << 4)
#define PF_PK	(1u << 5)
#define PF_SS	(1u << 6)

/* Makes the trap return to r's point, where recovery_set returns 1. */
void trap_resume_at(struct trap_frame *f, const struct recovery *r);

/* A handler claims a trap by returning true. At most one per vector for
 * exceptions (#BP, #UD: the patching engine), one per interrupt vector. */
typedef bool (*trap_handler_t)(struct trap_frame *f);
void trap_set_handler(unsigned vector, trap_handler_t fn);

/* The entry stubs' stack alignment as trap_dispatch saw it, per vector:
 * whether an entry happened since the reset, and how many entries ever
 * came with RSP off the SysV ABI's 16-byte alignment. */
void trap_entry_align_reset(unsigned vector);
bool trap_entry_align_seen(unsigned vector);
u64 trap_entry_misaligned(unsigned vector);

/* Prints the full report of an unexpected trap. */
void trap_report(const struct trap_frame *f, const char *why);
const char *trap_name(unsigned vector);

struct cpu;
void gdt_init_cpu(struct cpu *c);
void idt_init(void);
void idt_load(void);

#endif
