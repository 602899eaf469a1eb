/*
 * <arch/insn.h> for x86_64: the instruction types kernel/arch.h names.
 * The few x86-64 instructions poketorture writes into live code and reads
 * back: multi-byte NOPs, near JMP/CALL/Jcc with rel8/rel32, RET, INT3, UD2.
 * The functions on them are declared in kernel/arch.h (the ones every
 * architecture has) and arch/x86_64/insn.h (the x86 ones).
 *
 * Opcodes are from the Intel SDM vol. 2 instruction pages (JMP, CALL, Jcc,
 * RET, INT3, UD2, NOP); condition codes from SDM vol. 1 appendix B.
 */
#ifndef PT_X86_ARCH_INSN_H
#define PT_X86_ARCH_INSN_H

#include "kernel/types.h"

#define INSN_MAX 8	/* longest instruction we patch: the 8-byte NOP */

enum insn_kind {
	INSN_NOP,	/* recommended multi-byte NOP, 1..8 bytes (SDM vol. 2B, NOP, table 4-12) */
	INSN_JMP8,	/* EB cb */
	INSN_JMP32,	/* E9 cd */
	INSN_CALL32,	/* E8 cd */
	INSN_JCC8,	/* 70+cc cb */
	INSN_JCC32,	/* 0F 80+cc cd */
	INSN_RET,	/* C3, followed by INT3 (CC) padding up to len */
	INSN_INT3,	/* CC */
	INSN_UD2,	/* 0F 0B */
	/* Two instructions as one site: JMP rel8 0 (EB 00, to the next
	 * byte) and a recommended NOP of len - 2 bytes; 3..8 bytes in all.
	 * Under a binary translator the JMP ends a translated block, so an
	 * interrupt may land between the two (docs/design.md §13.3). Runs
	 * as a NOP of len bytes; insn_decode never returns it. */
	INSN_NOP_SPLIT,
	INSN_KINDS,
};

struct insn {
	enum insn_kind kind;
	u8 len;		/* bytes the site occupies (RET: 1 + padding; NOP: 1..8) */
	u8 cc;		/* Jcc condition code 0..15 (SDM vol. 1 appendix B, table B-1) */
	u64 target;	/* absolute target of JMP/CALL/Jcc */
};

#endif
