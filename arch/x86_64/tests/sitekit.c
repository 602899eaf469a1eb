/*
 * x86-64's site kit (tests/kernel/sitekit.h): the sites of sites.asm and
 * the instructions they flip between. A site function returns 1 when
 * execution fell through its site, 2 when it branched to its target, 3
 * when a RET at the site returned at once, plus 8 when sf_callee ran and
 * 16 when sf_callee2 did (sites.asm).
 */
#include "arch/x86_64/insn.h"
#include "arch/x86_64/tests/sites.h"
#include "kernel/patch.h"
#include "tests/kernel/sitekit.h"

_Static_assert(SF_MANY == SITES_MANY, "sites.asm's block is the kit's many-sites block");

/* NOP5 <-> JMP rel32: falls through (1), or branches (2). */
static void branch(struct flip_site *s, site_fn fn, u8 *site, u8 *target)
{
	*s = (struct flip_site){ .fn = fn, .addr = site, .result = { 1, 2 } };
	insn_nop(&s->state[0], 5);
	insn_jmp(&s->state[1], 5, (u64)(uintptr_t)target);
}

/* NOP5 <-> CALL rel32 to sf_callee (+8). */
static void call(struct flip_site *s, site_fn fn, u8 *site)
{
	*s = (struct flip_site){ .fn = fn, .addr = site, .result = { 1, 9 } };
	insn_nop(&s->state[0], 5);
	insn_call(&s->state[1], (u64)(uintptr_t)sf_callee);
}

/* CALL sf_callee (+8) <-> CALL sf_callee2 (+16). */
static void retarget(struct flip_site *s, site_fn fn, u8 *site)
{
	*s = (struct flip_site){ .fn = fn, .addr = site, .result = { 9, 17 } };
	insn_call(&s->state[0], (u64)(uintptr_t)sf_callee);
	insn_call(&s->state[1], (u64)(uintptr_t)sf_callee2);
}

/* NOP <-> JB (cc 2) of len bytes, run as cmp 1, 2: below, so taken (2);
 * or run as cmp 2, 1: not below, so not taken (1, as the NOP), and an
 * emulation that gets the direction wrong returns neither. */
static void cond(struct flip_site *s, site_fn fn, u8 *site, u8 *target, unsigned len, bool taken)
{
	*s = (struct flip_site){ .fn = fn, .addr = site, .a = taken ? 1 : 2, .b = taken ? 2 : 1,
				 .result = { 1, taken ? 2 : 1 } };
	insn_nop(&s->state[0], len);
	insn_jcc(&s->state[1], len, 2, (u64)(uintptr_t)target);
}

/* NOP5 <-> RET with INT3 padding: the site function returns 3 at once;
 * run under a check that the RET popped exactly its return address. */
static void ret(struct flip_site *s)
{
	*s = (struct flip_site){ .fn = sf_ret5_stack, .addr = sf_ret5_site, .result = { 1, 3 } };
	insn_nop(&s->state[0], 5);
	insn_ret(&s->state[1], 5);
}

/* JMP rel32 to the function's _target (1) <-> CALL rel32 to its _call
 * (2), neighbours packed in one word (sites.asm); a torn mix returns
 * BAD. */
static void pack(struct flip_site *s, site_fn fn, u8 *site, u8 *target, u8 *callee)
{
	*s = (struct flip_site){ .fn = fn, .addr = site, .result = { 1, 2 } };
	insn_jmp(&s->state[0], 5, (u64)(uintptr_t)target);
	insn_call(&s->state[1], (u64)(uintptr_t)callee);
}

void kit_flip_site(struct flip_site *s, enum site_role r)
{
	switch (r) {
	case SITE_BRANCH:
		return branch(s, sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	case SITE_BRANCH_SPARE:
		return branch(s, sf_flip_d, sf_flip_d_site, sf_flip_d_target);
	case SITE_CALL:
		return call(s, sf_flip_b, sf_flip_b_site);
	case SITE_CALL_ALIGNED:
		return call(s, sf_site5_odd, sf_site5_odd_site);
	case SITE_CALL_RETARGET:
		return retarget(s, sf_flip_c, sf_flip_c_site);
	case SITE_COND:
		return cond(s, sf_jcc_a, sf_jcc_a_site, sf_jcc_a_target, 6, true);
	case SITE_COND_SHORT:
		return cond(s, sf_jcc8_a, sf_jcc8_a_site, sf_jcc8_a_target, 2, true);
	case SITE_COND_NOT_TAKEN:
		return cond(s, sf_jcc_b, sf_jcc_b_site, sf_jcc_b_target, 6, false);
	case SITE_COND_SHORT_NOT_TAKEN:
		return cond(s, sf_jcc8_b, sf_jcc8_b_site, sf_jcc8_b_target, 2, false);
	case SITE_RETURN:
		return ret(s);
	case SITE_LINE:
		return branch(s, sf_line, sf_line_site, sf_line_target);
	case SITE_PAGE:
		return branch(s, sf_page, sf_page_site, sf_page_target);
	case SITE_PACK_A:
		return pack(s, sf_pack_a, sf_pack_a_site, sf_pack_a_target, sf_pack_a_call);
	case SITE_PACK_B:
		return pack(s, sf_pack_b, sf_pack_b_site, sf_pack_b_target, sf_pack_b_call);
	default:
		*s = (struct flip_site){ 0 };
	}
}

/* Sites of 2, 5 and 6 bytes, the lengths of the short and long forms,
 * each at both 16-byte stack alignments (the _odd ones push once more). */
#define T(n, l) { #n, n, n##_site, n##_target, l }
const struct kit_target kit_targets[] = {
	T(sf_site2, 2), T(sf_site5, 5), T(sf_site6, 6),
	T(sf_site2_odd, 2), T(sf_site5_odd, 5), T(sf_site6_odd, 6),
};
const unsigned kit_targets_count = ARRAY_SIZE(kit_targets);

/* JMP rel8 and the 16 Jcc rel8 in 2 bytes; JMP and CALL rel32 in 5; the
 * 16 Jcc rel32 in 6; and the NOP of the length, last. */
unsigned kit_states(const struct kit_target *t, struct insn *out)
{
	unsigned n = 0;
	u64 target = (u64)(uintptr_t)t->target;

	if (t->len == 2) {
		insn_jmp(&out[n++], 2, target);
		for (unsigned cc = 0; cc < 16; cc++)
			insn_jcc(&out[n++], 2, cc, target);
	} else if (t->len == 5) {
		insn_jmp(&out[n++], 5, target);
		insn_call(&out[n++], (u64)(uintptr_t)sf_callee);
	} else {
		for (unsigned cc = 0; cc < 16; cc++)
			insn_jcc(&out[n++], 6, cc, target);
	}
	insn_nop(&out[n++], t->len);
	return n;
}

/* RFLAGS after `cmp a, b`, straight from the CPU: the site functions
 * run that cmp just before their site. */
static u64 flags_of_cmp(u64 a, u64 b)
{
	u64 f;

	__asm__ __volatile__("cmp %2, %1; pushfq; popq %0" : "=r"(f) : "r"(a), "r"(b) : "cc");
	return f;
}

u32 kit_result(const struct insn *in, u64 a, u64 b)
{
	switch (in->kind) {
	case INSN_JMP8:
	case INSN_JMP32:
		return 2;
	case INSN_JCC8:
	case INSN_JCC32:
		return jcc_taken(in->cc, flags_of_cmp(a, b)) ? 2 : 1;
	case INSN_RET:
		return 3;
	case INSN_CALL32:
		return 1 + (in->target == (u64)(uintptr_t)sf_callee2 ? 16 : 8);
	default:
		return 1;
	}
}

bool kit_calls(const struct insn *in)
{
	return in->kind == INSN_CALL32;
}

u8 *kit_many_site(unsigned i)
{
	return sf_many_sites + 5 * i;
}

/* NOP5, or CALL sf_count. */
void kit_many_state(struct insn *in, bool calls)
{
	if (calls)
		insn_call(in, (u64)(uintptr_t)sf_count);
	else
		insn_nop(in, 5);
}

u64 kit_many_run(void)
{
	sf_count_hits = 0;
	sf_many(0, 0);
	return sf_count_hits;
}

/* kit_probe is `mov eax, imm32; ret` (sites.asm): the value is at +1. */
void kit_probe_write(u32 v)
{
	patch_raw_write((u8 *)(uintptr_t)kit_probe + 1, (const u8 *)&v, 4);
}
