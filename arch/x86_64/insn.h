/*
 * x86-64 instructions: the builders and helpers only x86 has, next to the
 * ones kernel/arch.h declares for every architecture (insn_nop, insn_jmp,
 * insn_call, insn_ret, insn_ud2, insn_encode, insn_decode, insn_kind_name,
 * insn_format). The types are in <arch/insn.h>. Pure C, shared with the
 * host unit tests (tests/host/test_insn.c).
 */
#ifndef PT_X86_INSN_H
#define PT_X86_INSN_H

#include "kernel/arch.h"

/* Jcc with condition cc (0..15, SDM vol. 1 appendix B, table B-1); len 2
 * (rel8) or 6 (rel32). False, *in unchanged, for other arguments. */
bool insn_jcc(struct insn *in, unsigned len /* 2 or 6 */, unsigned cc, u64 target);
void insn_int3(struct insn *in);
/* JMP rel8 0 then a NOP: len bytes (3..8) that run as a NOP but are two
 * instructions (INSN_NOP_SPLIT). False, *in unchanged, for other lengths. */
bool insn_nop_split(struct insn *in, unsigned len);

/* Whether Jcc with condition cc is taken given RFLAGS (CF bit0, PF bit2,
 * ZF bit6, SF bit7, OF bit11). False for cc > 15. */
bool jcc_taken(unsigned cc, u64 rflags);

/* The address execution continues at after in at addr: target for
 * JMP/CALL/taken Jcc, addr+len otherwise (NOP, untaken Jcc, INT3, UD2).
 * A CALL's return address, the one it pushes, is addr + in->len. For RET:
 * 0 (it depends on the stack). */
u64 insn_next_ip(const struct insn *in, u64 addr, u64 rflags);

/* The recommended NOP of len bytes (1..8) into out; other lengths write
 * nothing. */
void nop_fill(u8 *out, unsigned len);

#endif
