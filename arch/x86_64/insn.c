/*
 * Encoding and decoding of the instructions poketorture patches into live
 * code (insn.h lists them). Only these forms exist here: no prefixes, no
 * ModRM beyond the fixed bytes of the recommended NOPs, and every branch
 * carries its displacement as the last field of the instruction.
 *
 * Sources, Intel SDM (Intel 64 and IA-32 Architectures Software
 * Developer's Manual):
 *  - vol. 2A, chapter 3: CALL (E8 cd), INT3 (CC), Jcc (70+cc cb,
 *    0F 80+cc cd), JMP (EB cb, E9 cd); a near relative branch's
 *    displacement counts from the instruction that follows it (the
 *    value of RIP once the branch has been fetched), and rel8/rel32
 *    are sign-extended to 64 bits in 64-bit mode;
 *  - vol. 2B, chapter 4: NOP (table 4-12, the recommended multi-byte
 *    sequences), RET (C3, near return), UD2 (0F 0B);
 *  - vol. 1, section 1.3.1: multi-byte fields are little-endian;
 *  - vol. 1, section 3.4.3 (figure 3-8): the RFLAGS status flag bits;
 *  - vol. 1, appendix B, table B-1: the condition codes and the flags
 *    each one tests; vol. 2D, appendix B.1.4.7 (table B-8): the low bit
 *    of a condition code negates the condition of its pair.
 */
#include "arch/x86_64/insn.h"
#include "kernel/format.h"

/* One-byte opcodes (SDM vol. 2A/2B instruction pages, see above). */
#define OP_JCC8		0x70	/* 70+cc cb: Jcc rel8 */
#define OP_NOP		0x90	/* 90: NOP (XCHG eAX, eAX) */
#define OP_RET		0xc3	/* C3: near RET */
#define OP_INT3		0xcc	/* CC: INT3 */
#define OP_CALL32	0xe8	/* E8 cd: CALL rel32 */
#define OP_JMP32	0xe9	/* E9 cd: JMP rel32 */
#define OP_JMP8		0xeb	/* EB cb: JMP rel8 */
#define OP_ESC		0x0f	/* two-byte opcode escape */
/* Second bytes after 0F. */
#define OP2_UD2		0x0b	/* 0F 0B: UD2 */
#define OP2_JCC32	0x80	/* 0F 80+cc cd: Jcc rel32 */

#define CC_MAX		15	/* condition codes are 4 bits (tttn) */

/* RFLAGS status flags (SDM vol. 1, section 3.4.3, figure 3-8). */
#define RFLAGS_CF	(1ull << 0)
#define RFLAGS_PF	(1ull << 2)
#define RFLAGS_ZF	(1ull << 6)
#define RFLAGS_SF	(1ull << 7)
#define RFLAGS_OF	(1ull << 11)

/* Per kind: its name, the lengths a site of that kind may occupy, and the
 * size of the displacement that ends it (0: none). */
static const struct kind_info {
	const char *name;
	u8 min_len, max_len;
	u8 rel;
} kinds[INSN_KINDS] = {
	[INSN_NOP] = { "nop", 1, INSN_MAX, 0 },
	[INSN_JMP8] = { "jmp8", 2, 2, 1 },
	[INSN_JMP32] = { "jmp32", 5, 5, 4 },
	[INSN_CALL32] = { "call32", 5, 5, 4 },
	[INSN_JCC8] = { "jcc8", 2, 2, 1 },
	[INSN_JCC32] = { "jcc32", 6, 6, 4 },
	[INSN_RET] = { "ret", 1, INSN_MAX, 0 },
	[INSN_INT3] = { "int3", 1, 1, 0 },
	[INSN_UD2] = { "ud2", 2, 2, 0 },
	[INSN_NOP_SPLIT] = { "nopsplit", 3, INSN_MAX, 0 },
};

/* SDM vol. 2B, NOP, table 4-12: the recommended multi-byte NOPs, indexed
 * by length. Lengths 1 and 2 are 90 and 66 90 (XCHG AX, AX). */
static const u8 nops[INSN_MAX + 1][INSN_MAX] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	/* NOP DWORD ptr [EAX] */
	[3] = { 0x0f, 0x1f, 0x00 },
	/* NOP DWORD ptr [EAX + 00H] */
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	/* NOP DWORD ptr [EAX + EAX*1 + 00H] */
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	/* 66 NOP DWORD ptr [EAX + EAX*1 + 00H] */
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	/* NOP DWORD ptr [EAX + 00000000H] */
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	/* NOP DWORD ptr [EAX + EAX*1 + 00000000H] */
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

/* Mnemonic suffixes of the 16 conditions, as GNU objdump prints them
 * (SDM vol. 1, table B-1). */
static const char *const cc_names[CC_MAX + 1] = {
	"o", "no", "b", "ae", "e", "ne", "be", "a",
	"s", "ns", "p", "np", "l", "ge", "le", "g",
};

static bool is_jcc(enum insn_kind k)
{
	return k == INSN_JCC8 || k == INSN_JCC32;
}

/* Whether in is something the builders could have produced. */
static bool insn_valid(const struct insn *in)
{
	const struct kind_info *ki;

	if ((unsigned)in->kind >= INSN_KINDS)
		return false;
	ki = &kinds[in->kind];
	if (in->len < ki->min_len || in->len > ki->max_len)
		return false;
	return !is_jcc(in->kind) || in->cc <= CC_MAX;
}

static void set(struct insn *in, enum insn_kind kind, unsigned len,
		unsigned cc, u64 target)
{
	in->kind = kind;
	in->len = (u8)len;
	in->cc = (u8)cc;
	in->target = target;
}

/* ------------------------------------------------------------------ */
/* Builders                                                           */

bool insn_nop(struct insn *in, unsigned len)
{
	if (len < 1 || len > INSN_MAX)
		return false;
	set(in, INSN_NOP, len, 0, 0);
	return true;
}

bool insn_jmp(struct insn *in, unsigned len, u64 target)
{
	if (len == kinds[INSN_JMP8].min_len)
		set(in, INSN_JMP8, len, 0, target);
	else if (len == kinds[INSN_JMP32].min_len)
		set(in, INSN_JMP32, len, 0, target);
	else
		return false;
	return true;
}

bool insn_call(struct insn *in, u64 target)
{
	set(in, INSN_CALL32, kinds[INSN_CALL32].min_len, 0, target);
	return true;
}

bool insn_jcc(struct insn *in, unsigned len, unsigned cc, u64 target)
{
	if (cc > CC_MAX)
		return false;
	if (len == kinds[INSN_JCC8].min_len)
		set(in, INSN_JCC8, len, cc, target);
	else if (len == kinds[INSN_JCC32].min_len)
		set(in, INSN_JCC32, len, cc, target);
	else
		return false;
	return true;
}

bool insn_ret(struct insn *in, unsigned len)
{
	if (len < 1 || len > INSN_MAX)
		return false;
	set(in, INSN_RET, len, 0, 0);
	return true;
}

void insn_int3(struct insn *in)
{
	set(in, INSN_INT3, 1, 0, 0);
}

void insn_ud2(struct insn *in)
{
	set(in, INSN_UD2, 2, 0, 0);
}

bool insn_nop_split(struct insn *in, unsigned len)
{
	if (len < 3 || len > INSN_MAX)
		return false;
	set(in, INSN_NOP_SPLIT, len, 0, 0);
	return true;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                           */

void nop_fill(u8 *out, unsigned len)
{
	if (len < 1 || len > INSN_MAX)
		return;
	for (unsigned i = 0; i < len; i++)
		out[i] = nops[len][i];
}

/* The displacement from the end of the instruction to its target, modulo
 * 2^64 (the conversion to s64 wraps, as GCC defines it). */
static s64 rel_of(const struct insn *in, u64 addr)
{
	return (s64)(in->target - (addr + in->len));
}

static bool rel_fits(s64 rel, unsigned size)
{
	if (size == 1)
		return rel >= INT8_MIN && rel <= INT8_MAX;
	return rel >= INT32_MIN && rel <= INT32_MAX;
}

/* Little-endian (SDM vol. 1, section 1.3.1). */
static void put_rel(u8 *p, s64 rel, unsigned size)
{
	u64 v = (u64)rel;

	for (unsigned i = 0; i < size; i++, v >>= 8)
		p[i] = (u8)v;
}

/* The bytes before the displacement (all of them if there is none). */
static void put_opcode(const struct insn *in, u8 *out)
{
	switch (in->kind) {
	case INSN_NOP:
		nop_fill(out, in->len);
		break;
	case INSN_JMP8:
		out[0] = OP_JMP8;
		break;
	case INSN_JMP32:
		out[0] = OP_JMP32;
		break;
	case INSN_CALL32:
		out[0] = OP_CALL32;
		break;
	case INSN_JCC8:
		out[0] = OP_JCC8 + in->cc;
		break;
	case INSN_JCC32:
		out[0] = OP_ESC;
		out[1] = OP2_JCC32 + in->cc;
		break;
	case INSN_RET:
		/* RET, then INT3s: a stray jump into the padding traps. */
		out[0] = OP_RET;
		for (unsigned i = 1; i < in->len; i++)
			out[i] = OP_INT3;
		break;
	case INSN_INT3:
		out[0] = OP_INT3;
		break;
	case INSN_UD2:
		out[0] = OP_ESC;
		out[1] = OP2_UD2;
		break;
	case INSN_NOP_SPLIT:
		out[0] = OP_JMP8;
		out[1] = 0;
		nop_fill(out + 2, in->len - 2u);
		break;
	default:
		break;
	}
}

int insn_encode(const struct insn *in, u64 addr, u8 *out)
{
	unsigned size;
	s64 rel;

	if (!insn_valid(in))
		return -1;
	size = kinds[in->kind].rel;
	rel = rel_of(in, addr);
	if (size && !rel_fits(rel, size))
		return -1;
	put_opcode(in, out);
	if (size)
		put_rel(out + in->len - size, rel, size);
	return in->len;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                           */

static bool bytes_equal(const u8 *a, const u8 *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* A recommended NOP, complete within avail bytes. None of them is a
 * prefix of another, so at most one length matches. */
static bool decode_nop(const u8 *b, size_t avail, struct insn *in)
{
	for (unsigned len = 1; len <= INSN_MAX && len <= avail; len++) {
		if (bytes_equal(b, nops[len], len)) {
			set(in, INSN_NOP, len, 0, 0);
			return true;
		}
	}
	return false;
}

/* Kind, length and condition from the opcode bytes alone. */
static bool decode_opcode(const u8 *b, size_t avail, struct insn *in)
{
	u8 op = b[0];

	if (op >= OP_JCC8 && op <= OP_JCC8 + CC_MAX)
		set(in, INSN_JCC8, 2, op - OP_JCC8, 0);
	else if (op == OP_JMP8)
		set(in, INSN_JMP8, 2, 0, 0);
	else if (op == OP_JMP32)
		set(in, INSN_JMP32, 5, 0, 0);
	else if (op == OP_CALL32)
		set(in, INSN_CALL32, 5, 0, 0);
	else if (op == OP_RET)
		set(in, INSN_RET, 1, 0, 0);
	else if (op == OP_INT3)
		set(in, INSN_INT3, 1, 0, 0);
	else if (op != OP_ESC || avail < 2)
		return false;
	else if (b[1] == OP2_UD2)
		set(in, INSN_UD2, 2, 0, 0);
	else if (b[1] >= OP2_JCC32 && b[1] <= OP2_JCC32 + CC_MAX)
		set(in, INSN_JCC32, 6, b[1] - OP2_JCC32, 0);
	else
		return false;
	return true;
}

/* The sign-extended little-endian displacement of size bytes at p. */
static s64 get_rel(const u8 *p, unsigned size)
{
	u64 v = 0;

	for (unsigned i = size; i-- > 0;)
		v = v << 8 | p[i];
	if (size == 1)
		return (s8)v;
	return (s32)v;
}

int insn_decode(const u8 *bytes, size_t avail, u64 addr, struct insn *out)
{
	struct insn in;
	unsigned size;

	if (!avail)
		return -1;
	if (!decode_nop(bytes, avail, &in) && !decode_opcode(bytes, avail, &in))
		return -1;
	if (in.len > avail)
		return -1;
	size = kinds[in.kind].rel;
	if (size)
		in.target = addr + in.len + (u64)get_rel(bytes + in.len - size, size);
	*out = in;
	return in.len;
}

/* ------------------------------------------------------------------ */
/* Execution                                                          */

/*
 * SDM vol. 1, table B-1. Conditions come in pairs: the even code tests
 * the condition, the odd one its negation (vol. 2D, B.1.4.7, the n bit
 * of tttn).
 */
bool jcc_taken(unsigned cc, u64 rflags)
{
	bool cf = rflags & RFLAGS_CF, pf = rflags & RFLAGS_PF;
	bool zf = rflags & RFLAGS_ZF, sf = rflags & RFLAGS_SF;
	bool of = rflags & RFLAGS_OF;
	bool cond;

	if (cc > CC_MAX)
		return false;
	switch (cc >> 1) {
	case 0:		/* O: OF = 1 */
		cond = of;
		break;
	case 1:		/* B, C, NAE: CF = 1 */
		cond = cf;
		break;
	case 2:		/* E, Z: ZF = 1 */
		cond = zf;
		break;
	case 3:		/* BE, NA: CF = 1 or ZF = 1 */
		cond = cf || zf;
		break;
	case 4:		/* S: SF = 1 */
		cond = sf;
		break;
	case 5:		/* P, PE: PF = 1 */
		cond = pf;
		break;
	case 6:		/* L, NGE: SF != OF */
		cond = sf != of;
		break;
	default:	/* LE, NG: ZF = 1 or SF != OF */
		cond = zf || sf != of;
		break;
	}
	return cond != (cc & 1);
}

u64 insn_next_ip(const struct insn *in, u64 addr, u64 rflags)
{
	switch (in->kind) {
	case INSN_JMP8:
	case INSN_JMP32:
	case INSN_CALL32:
		return in->target;
	case INSN_JCC8:
	case INSN_JCC32:
		if (jcc_taken(in->cc, rflags))
			return in->target;
		return addr + in->len;
	case INSN_RET:
		return 0;
	default:
		return addr + in->len;
	}
}

/* ------------------------------------------------------------------ */
/* Names                                                              */

const char *insn_kind_name(enum insn_kind k)
{
	if ((unsigned)k >= INSN_KINDS)
		return "?";
	return kinds[k].name;
}

int insn_format(const struct insn *in, char *buf, size_t size)
{
	unsigned long long target = in->target;

	if (!insn_valid(in))
		return ksnprintf(buf, size, "(bad)");
	switch (in->kind) {
	case INSN_NOP:
		return ksnprintf(buf, size, "nop%u", (unsigned)in->len);
	case INSN_JMP8:
	case INSN_JMP32:
		return ksnprintf(buf, size, "jmp 0x%llx", target);
	case INSN_CALL32:
		return ksnprintf(buf, size, "call 0x%llx", target);
	case INSN_JCC8:
	case INSN_JCC32:
		return ksnprintf(buf, size, "j%s 0x%llx", cc_names[in->cc], target);
	case INSN_RET:
		if (in->len == 1)
			return ksnprintf(buf, size, "ret");
		return ksnprintf(buf, size, "ret+pad%u", (unsigned)in->len - 1);
	case INSN_INT3:
		return ksnprintf(buf, size, "int3");
	case INSN_UD2:
		return ksnprintf(buf, size, "ud2");
	case INSN_NOP_SPLIT:
		return ksnprintf(buf, size, "jmp+0;nop%u", (unsigned)in->len - 2);
	default:
		return ksnprintf(buf, size, "(bad)");
	}
}
