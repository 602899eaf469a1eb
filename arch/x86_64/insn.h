/*
 * The few x86-64 instructions poketorture writes into live code, and reads
 * back: multi-byte NOPs, near JMP/CALL/Jcc with rel8/rel32, RET, INT3, UD2.
 * Encoding, decoding, and the Jcc condition test the #BP emulation needs.
 * Pure C, shared with the host unit tests (tests/host/test_insn.c).
 *
 * Opcodes are from the Intel SDM vol. 2 instruction pages (JMP, CALL, Jcc,
 * RET, INT3, UD2, NOP); condition codes from SDM vol. 1 appendix B.
 */
#ifndef PT_X86_INSN_H
#define PT_X86_INSN_H

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
	INSN_KINDS,
};

struct insn {
	enum insn_kind kind;
	u8 len;		/* bytes the site occupies (RET: 1 + padding; NOP: 1..8) */
	u8 cc;		/* Jcc condition code 0..15 (SDM vol. 1 appendix B, table B-1) */
	u64 target;	/* absolute target of JMP/CALL/Jcc */
};

/* Builders: fill *in; false when the kind cannot take the arguments (e.g.
 * NOP len 0 or 9), and then *in is left as it was. Reachability of the
 * target is insn_encode()'s business, since it depends on the address. */
bool insn_nop(struct insn *in, unsigned len);
bool insn_jmp(struct insn *in, unsigned len /* 2 or 5 */, u64 target);
bool insn_call(struct insn *in, u64 target);
bool insn_jcc(struct insn *in, unsigned len /* 2 or 6 */, unsigned cc, u64 target);
bool insn_ret(struct insn *in, unsigned len /* 1..8: RET + INT3 padding */);
void insn_int3(struct insn *in);
void insn_ud2(struct insn *in);

/* Encodes in at address addr into out[in->len]; returns in->len, or -1 when
 * a relative displacement does not fit (rel8/rel32 from the end of the
 * instruction) or in is not something a builder would have made. Nothing is
 * written to out on failure. */
int insn_encode(const struct insn *in, u64 addr, u8 *out);

/* Decodes the instruction at addr from bytes[0..avail); only the kinds
 * above (RET decodes as len 1; NOPs only in their recommended forms, plus
 * 0x90 and 66 90); returns its length, or -1 when it is none of ours or
 * truncated. */
int insn_decode(const u8 *bytes, size_t avail, u64 addr, struct insn *out);

/* Whether Jcc with condition cc is taken given RFLAGS (CF bit0, PF bit2,
 * ZF bit6, SF bit7, OF bit11). False for cc > 15. */
bool jcc_taken(unsigned cc, u64 rflags);

/* The address execution continues at after in at addr: target for
 * JMP/CALL/taken Jcc, addr+len otherwise (NOP, untaken Jcc, INT3, UD2).
 * A CALL's return address, the one it pushes, is addr + in->len. For RET:
 * 0 (it depends on the stack). */
u64 insn_next_ip(const struct insn *in, u64 addr, u64 rflags);

/* "nop", "jmp8", "jmp32", "call32", "jcc8", "jcc32", "ret", "int3", "ud2";
 * "?" for anything else. */
const char *insn_kind_name(enum insn_kind k);

/* Human-readable: "jmp 0x1234", "nop5", "jne 0x...", "ret+pad3", into buf;
 * returns the length of the full text, like snprintf (buf always
 * terminated when size > 0). */
int insn_format(const struct insn *in, char *buf, size_t size);

/* The recommended NOP of len bytes (1..8) into out; other lengths write
 * nothing. */
void nop_fill(u8 *out, unsigned len);

#endif
