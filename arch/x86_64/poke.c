/*
 * x86 side of the patching engine: writing code through the alias,
 * serializing, and the #BP / #UD trap handlers that emulate a site.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"
#include "arch/x86_64/insn.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/traps.h"
#include "kernel/fault.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"

#define INT3 0xcc
/* 0x06 (PUSH ES) is invalid in 64-bit mode (SDM vol. 2D, table A-2, "i64"):
 * one byte that faults with #UD, like RISC-V's all-zero word (docs/design.md §3.5). */
#define INVALID_OPCODE 0x06

u8 arch_trap_byte(enum trap_kind k)
{
	return k == TRAP_INVALID_OPCODE ? INVALID_OPCODE : INT3;
}

extern char __patchable_start[], __patchable_end[];
extern u8 bp_entry_gap_enabled;

/* The trap the chosen protocol writes: the other one is not ours. */
static enum trap_kind live_trap;

void arch_serialize(void)
{
	if (cpu_features.serialize)
		__asm__ __volatile__(".byte 0x0f, 0x01, 0xe8" ::: "memory");	/* SERIALIZE */
	else
		serialize_cpuid();
}

void arch_text_write(u8 *addr, const u8 *bytes, size_t len)
{
	volatile u8 *alias = text_alias_map(addr, len);

	for (size_t i = 0; i < len; i++)
		alias[i] = bytes[i];
}

bool arch_emulate(struct trap_frame *f, const struct insn *in, u8 *addr, bool push_call)
{
	u64 site = (u64)(uintptr_t)addr;

	switch (in->kind) {
	case INSN_CALL32:
		if (push_call) {
			/* The interrupted stack: entry.asm left a gap under it. */
			f->rsp -= 8;
			*(u64 *)(uintptr_t)f->rsp = site + in->len;
		}
		f->rip = in->target;
		return true;
	case INSN_RET:
		f->rip = *(u64 *)(uintptr_t)f->rsp;
		f->rsp += 8;
		return true;
	case INSN_NOP:
	case INSN_NOP_SPLIT:
	case INSN_JMP8:
	case INSN_JMP32:
	case INSN_JCC8:
	case INSN_JCC32:
		f->rip = insn_next_ip(in, site, f->rflags);
		return true;
	default:
		return false;
	}
}

/* The writable alias lives only as long as a patch. */
void arch_text_done(void)
{
	text_alias_unmap();
}

void arch_frame_restart(struct trap_frame *f, u8 *addr)
{
	f->rip = (u64)(uintptr_t)addr;
}

static bool in_patchable(const u8 *p)
{
	return p >= (u8 *)__patchable_start && p < (u8 *)__patchable_end;
}

/* #BP is a trap: RIP is past the int3. */
static bool bp_handler(struct trap_frame *f)
{
	u8 *addr = (u8 *)(uintptr_t)(f->rip - 1);

	if (live_trap != TRAP_BREAKPOINT || !in_patchable(addr))
		return false;
	switch (patch_trap(f, addr, false)) {
	case PATCH_TRAP_HANDLED:
		return true;
	case PATCH_TRAP_RETRY:
		f->rip = (u64)(uintptr_t)addr;
		return true;
	}
	/* Not a site the engine ever patched (patch_trap classifies every
	 * trap at one: live, engine bug, stale code or late): an int3 that
	 * is not the engine's (padding, a jump into the middle of an
	 * instruction, one written and removed behind the engine's back) is
	 * an unexpected #BP, reported at once (docs/design.md §4). */
	return false;
}

/* #UD is a fault: RIP is at the invalid opcode (trap-first protocol). */
static bool ud_handler(struct trap_frame *f)
{
	u8 *addr = (u8 *)(uintptr_t)f->rip;

	if (live_trap == TRAP_BREAKPOINT || !in_patchable(addr))
		return false;
	/* Emulated, or re-run at the same RIP. Anything else, whatever its
	 * byte (a ud2 among the sites), is not a trap of the engine's: an
	 * unexpected #UD at once, not an instruction re-run forever. */
	return patch_trap(f, addr, true) != PATCH_TRAP_NOT_OURS;
}

void arch_patch_init(enum trap_kind k)
{
	live_trap = k;
	trap_set_handler(VEC_BP, bp_handler);
	trap_set_handler(VEC_UD, ud_handler);
}

/* Off only for unsafe-no-gap: the #BP and #UD entries then leave no room
 * for an emulated CALL's push (entry.asm). */
void arch_trap_entry_gap(bool on)
{
	bp_entry_gap_enabled = on;
}

extern const u8 entry_edge_text_start[], entry_edge_text_end[];

bool arch_text_in_entry(const void *addr, unsigned len)
{
	const u8 *p = addr;

	return p < entry_edge_text_end && p + len > entry_edge_text_start;
}
