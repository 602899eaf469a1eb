/*
 * Trap dispatch: exceptions, NMIs and interrupts all arrive here from
 * entry.asm with a struct trap_frame.
 *
 * Where NMIs run: on the interrupted stack, not an IST stack. Every piece
 * of this kernel runs in ring 0 on a valid stack, so there is no window in
 * which an NMI could land on a bad stack, which is what IST exists for.
 * And an IST stack would break the case this suite exists to test: a #BP
 * taken inside an NMI handler returns with IRET, which unmasks NMIs
 * (SDM vol. 3A, 6.7.1); a second NMI may then arrive while the first
 * handler still runs, and on an IST stack it would be pushed over the first
 * one's frame (the reason Linux needs its nested-NMI dance). On the
 * interrupted stack a nested NMI simply nests. #DF keeps an IST stack so
 * that a stack overflow is reported instead of triple-faulting.
 */
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/traps.h"
#include "kernel/ctrack.h"
#include "kernel/defer.h"
#include "kernel/fault.h"
#include "kernel/patch_internal.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/preempt.h"
#include "kernel/printk.h"
#include "kernel/symbols.h"
#include "kernel/test.h"

#define BACKTRACE_MAX 16
#define TRAP_DEPTH_MAX 16	/* deeper nesting means a trap storm loop */

static trap_handler_t handlers[256];
static u64 unexpected_irqs;
static u8 entry_seen[256];		/* plain stores: a flag, not a count */
static u64 entry_misaligned[256];

/*
 * The SysV ABI wants RSP + 8 16-byte aligned at a function's entry: with
 * frame pointers, trap_dispatch's frame address (entry RSP - 8) is then a
 * multiple of 16. Checked on every entry, counted only when wrong, so the
 * hot #BP path pays two tests.
 */
static void note_entry_alignment(u64 vector, u64 frame_addr)
{
	if (!READ_ONCE(entry_seen[vector & 0xff]))	/* no write, so no cache-line bouncing */
		WRITE_ONCE(entry_seen[vector & 0xff], 1);
	if (frame_addr & 15)
		__atomic_fetch_add(&entry_misaligned[vector & 0xff], 1, __ATOMIC_RELAXED);
}

void trap_entry_align_reset(unsigned vector)
{
	WRITE_ONCE(entry_seen[vector & 0xff], 0);
}

bool trap_entry_align_seen(unsigned vector)
{
	return READ_ONCE(entry_seen[vector & 0xff]);
}

u64 trap_entry_misaligned(unsigned vector)
{
	return __atomic_load_n(&entry_misaligned[vector & 0xff], __ATOMIC_RELAXED);
}

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint",
	"#OF overflow", "#BR bound range", "#UD invalid opcode",
	"#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault",
	"#GP general protection", "#PF page fault", "reserved 15",
	"#MF x87 error", "#AC alignment check", "#MC machine check",
	"#XM SIMD exception", "#VE virtualization exception",
	"#CP control protection", "reserved 22", "reserved 23",
	"reserved 24", "reserved 25", "reserved 26", "reserved 27",
	"#HV hypervisor injection", "#VC VMM communication",
	"#SX security exception", "reserved 31",
};

const char *trap_name(unsigned vector)
{
	if (vector < 32)
		return exception_names[vector];
	if (vector == VEC_SPURIOUS)
		return "spurious interrupt";
	return "interrupt";
}

void trap_set_handler(unsigned vector, trap_handler_t fn)
{
	handlers[vector & 0xff] = fn;
}

void trap_resume_at(struct trap_frame *f, const struct recovery *r)
{
	f->rbx = r->rbx;
	f->rbp = r->rbp;
	f->r12 = r->r12;
	f->r13 = r->r13;
	f->r14 = r->r14;
	f->r15 = r->r15;
	f->rsp = r->rsp;
	f->rip = r->rip;
	f->rflags = r->rflags;
	f->rax = 1;	/* recovery_set() "returns" 1 */
}

static void decode_error(const struct trap_frame *f, char *buf, size_t size)
{
	u64 e = f->error_code;

	if (f->vector == VEC_PF) {
		ksnprintf(buf, size, "%s, %s, %s%s%s%s%s; CR2 %#llx",
			  e & PF_P ? "protection violation" : "page not present",
			  e & PF_I ? "instruction fetch" : e & PF_W ? "write" : "read",
			  e & PF_U ? "user" : "supervisor",
			  e & PF_RSVD ? ", reserved bit set" : "",
			  e & PF_PK ? ", protection key" : "",
			  e & PF_SS ? ", shadow stack" : "", "",
			  (unsigned long long)read_cr2());
	} else if (f->vector == VEC_GP || f->vector == VEC_TS ||
		   f->vector == VEC_NP || f->vector == VEC_SS ||
		   f->vector == VEC_AC) {
		/* Selector error code, SDM vol. 3A 6.13. */
		if (e == 0)
			ksnprintf(buf, size, "no selector");
		else
			ksnprintf(buf, size, "%s index %llu%s",
				  e & 2 ? "IDT" : e & 4 ? "LDT" : "GDT",
				  (unsigned long long)(e >> 3),
				  e & 1 ? ", external event" : "");
	} else {
		buf[0] = '\0';
	}
}

static void report_code_bytes(u64 rip)
{
	char line[128];
	int n = 0;

	for (u64 a = rip - 8; a < rip + 8; a++) {
		if (!paging_is_mapped(a))
			n += ksnprintf(line + n, sizeof(line) - n, " ??");
		else
			n += ksnprintf(line + n, sizeof(line) - n,
				       a == rip ? " <%02x>" : " %02x", *(volatile u8 *)a);
	}
	diag("  code:%s", line);
}

/* Walks the frame-pointer chain (every C file is built with frame
 * pointers; entry.asm links trap frames into it). */
static void report_backtrace(u64 rip, u64 rbp)
{
	char sym[96];

	symbolize(rip, sym, sizeof(sym));
	diag("  at %s", sym);
	for (int i = 0; i < BACKTRACE_MAX && rbp; i++) {
		if ((rbp & 7) || !paging_is_mapped(rbp) || !paging_is_mapped(rbp + 15))
			break;
		u64 ret = ((u64 *)rbp)[1];

		if (!ret)
			break;
		symbolize(ret, sym, sizeof(sym));
		diag("  called from %s", sym);
		rbp = ((u64 *)rbp)[0];
	}
}

void trap_report(const struct trap_frame *f, const char *why)
{
	struct cpu *c = this_cpu();
	const char *test = test_current_name();
	char err[160], sym[96];
	bool full = failure_begin(c->id, f->rip);

	decode_error(f, err, sizeof(err));
	diag("%s: %s (vector %llu) on CPU %d in %s%s",
	     why, trap_name(f->vector), (unsigned long long)f->vector, c->id,
	     test ? "test " : "", test ? test : "no test");
	if (!full) {
		/* Rate-limited: the test's first report was in full. */
		symbolize(f->rip, sym, sizeof(sym));
		diag("  RIP %016llx (%s) RSP %016llx, error code %#llx",
		     (unsigned long long)f->rip, sym, (unsigned long long)f->rsp,
		     (unsigned long long)f->error_code);
		failure_context(c->id, f->rip);
		return;
	}
	diag("  error code %#llx%s%s", (unsigned long long)f->error_code,
	     err[0] ? ": " : "", err);
	diag("  RIP %016llx CS %04llx RFLAGS %016llx RSP %016llx SS %04llx",
	     (unsigned long long)f->rip, (unsigned long long)f->cs,
	     (unsigned long long)f->rflags, (unsigned long long)f->rsp,
	     (unsigned long long)f->ss);
	diag("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx",
	     (unsigned long long)f->rax, (unsigned long long)f->rbx,
	     (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	diag("  RSI %016llx RDI %016llx RBP %016llx R8  %016llx",
	     (unsigned long long)f->rsi, (unsigned long long)f->rdi,
	     (unsigned long long)f->rbp, (unsigned long long)f->r8);
	diag("  R9  %016llx R10 %016llx R11 %016llx R12 %016llx",
	     (unsigned long long)f->r9, (unsigned long long)f->r10,
	     (unsigned long long)f->r11, (unsigned long long)f->r12);
	diag("  R13 %016llx R14 %016llx R15 %016llx",
	     (unsigned long long)f->r13, (unsigned long long)f->r14,
	     (unsigned long long)f->r15);
	diag("  CR0 %016llx CR2 %016llx CR3 %016llx CR4 %016llx",
	     (unsigned long long)read_cr0(), (unsigned long long)read_cr2(),
	     (unsigned long long)read_cr3(), (unsigned long long)read_cr4());
	diag("  trap depth %u, NMI depth %u", c->trap_depth, c->nmi_depth);
	report_code_bytes(f->rip);
	report_backtrace(f->rip, f->rbp);
	failure_context(c->id, f->rip);
}

/* A fault inside fault_try(): record it and resume at the try point. */
static bool take_expected(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	struct recovery *r = c->expect;

	if (!r)
		return false;
	c->fault = (struct fault_info){
		.vector = (int)f->vector,
		.error_code = f->error_code,
		.addr = f->vector == VEC_PF ? read_cr2() : 0,
		.ip = f->rip,
	};
	c->expect = NULL;
	trap_resume_at(f, r);
	return true;
}

static void unexpected(struct trap_frame *f, const char *why)
{
	struct recovery *r;

	trap_report(f, why);
	r = test_crash_recovery(trap_name(f->vector));
	if (!r)
		panic("unexpected %s outside any test", trap_name(f->vector));
	trap_resume_at(f, r);
}

/* For entry.asm's trap entry, which reads serial_seq by itself. */
const u64 cpu_serial_seq_offset = offsetof(struct cpu, serial_seq);

static void exception(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	u64 outer = c->trap_entry_seq;
	bool handled;

	/* What this CPU had serialized after when it executed the faulting
	 * instruction, and a trap taken by the handler below must not change
	 * what the handler sees. #BP and #UD bring it in their error code's
	 * slot, read before their entry's edge site (entry.asm: a trap or an
	 * NMI taken there serializes); for the others nothing serializes
	 * between that and here, but an NMI landing in the entry stub. */
	if (f->vector == VEC_BP || f->vector == VEC_UD) {
		c->trap_entry_seq = f->error_code;
		f->error_code = 0;
	} else {
		c->trap_entry_seq = c->serial_seq;
	}
	handled = handlers[f->vector] && handlers[f->vector](f);
	c->trap_entry_seq = outer;
	if (handled)
		return;
	if (take_expected(f))
		return;
	unexpected(f, "UNEXPECTED EXCEPTION");
}

static void interrupt(struct trap_frame *f)
{
	if (handlers[f->vector] && handlers[f->vector](f))
		return;
	if (f->vector == VEC_SPURIOUS)
		return;		/* no EOI for spurious (SDM vol. 3A 11.9) */
	/* Reported, but the interrupted code carries on: with every legacy
	 * source masked, one of these points at a bug in an IPI sender. */
	unexpected_irqs++;
	diag("unexpected interrupt vector %llu on CPU %d (%llu so far)",
	     (unsigned long long)f->vector, this_cpu()->id,
	     (unsigned long long)unexpected_irqs);
}

void trap_dispatch(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	bool nmi = f->vector == VEC_NMI;
	bool from_eqs;

	/* Out of a quiescent state first, serialized if a sync deferred
	 * this CPU: every handler may run a site (docs/design.md §8.7). */
	from_eqs = qs_trap_enter();
	note_entry_alignment(f->vector, (u64)(uintptr_t)__builtin_frame_address(0));
	c->trap_depth++;
	if (nmi)
		c->nmi_depth++;
	if (c->trap_depth > TRAP_DEPTH_MAX) {
		trap_report(f, "TRAP NESTING TOO DEEP");
		panic("traps nested %u deep on CPU %d", c->trap_depth, c->id);
	}
	/* Context tracking (docs/design.md §8.6): an NMI's entry once its
	 * depth is raised, as Linux's nmi_enter(); other exceptions the NMI
	 * way too, as an IST entry; interrupts the interrupt way. */
	ct_trap_enter(nmi ? CT_ENTRY_NMI : f->vector < 32 ? CT_ENTRY_EXC : CT_ENTRY_IRQ);
	if (nmi) {
		if (!handlers[VEC_NMI] || !handlers[VEC_NMI](f))
			diag("unclaimed NMI on CPU %d at RIP %#llx", c->id,
			     (unsigned long long)f->rip);
	} else if (f->vector < 32) {
		exception(f);
	} else {
		interrupt(f);
	}
	ct_trap_exit(nmi ? CT_ENTRY_NMI : f->vector < 32 ? CT_ENTRY_EXC : CT_ENTRY_IRQ);
	if (nmi)
		c->nmi_depth--;
	c->trap_depth--;
	qs_trap_exit(from_eqs, !nmi && f->vector >= 32);
	/* An interrupt returning to process level: where a context may be
	 * switched, or restarted at the start of a block (kernel/preempt.h). */
	if (f->vector >= 32 && !c->trap_depth)
		preempt_irq_return(f, f->vector == VEC_TIMER);
	/* The IRET that follows serializes (SDM 9.3): the checker may count
	 * every write completed before this point as seen by this CPU. */
	c->serial_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
}
