/*
 * Host unit tests of arch/x86_64/insn.c: builders, encode/decode round
 * trips at several addresses with the rel8/rel32 limits exactly at the
 * edge and one past, the recommended NOPs byte for byte, rejection of
 * junk, truncated input and NOP forms we do not accept, jcc_taken against
 * an independent reference over every combination of the five status
 * flags, insn_next_ip and insn_format.
 *
 * The fixed byte vectors marked "GNU as" were produced by assembling with
 * GNU as 2.x (`as --64`), linking at the address shown with
 * `ld -Ttext=ADDR`, and reading the bytes back with `objdump -d`; the
 * test itself runs no tools.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86_64/insn.h"

#define CANARY 0xa5

/* Shows bytes as "0f 1f 00" for failure messages. */
static const char *hex(const u8 *b, size_t n)
{
	static char bufs[2][3 * 16 + 1];
	static int which;
	char *s = bufs[which ^= 1];

	s[0] = '\0';
	for (size_t i = 0; i < n && i < 16; i++)
		sprintf(s + 3 * i, i ? " %02x" : "%02x", b[i]);
	return s;
}

static void assert_bytes(const u8 *got, const u8 *want, size_t n)
{
	if (memcmp(got, want, n))
		fail_msg("bytes %s, expected %s", hex(got, n), hex(want, n));
}

static void assert_insn_equal(const struct insn *a, const struct insn *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->cc, b->cc);
	assert_int_equal(a->target, b->target);
}

/* Decodes from a heap copy of exactly avail bytes, so AddressSanitizer
 * catches any read past them. */
static int decode_exact(const u8 *bytes, size_t avail, u64 addr, struct insn *out)
{
	u8 *copy = malloc(avail ? avail : 1);
	int ret;

	assert_non_null(copy);
	memcpy(copy, bytes, avail);
	ret = insn_decode(copy, avail, addr, out);
	free(copy);
	return ret;
}

/* Builds the instruction of kind k (its shortest/only length; Jcc with
 * condition cc) aimed at target. */
static void build(struct insn *in, enum insn_kind k, unsigned cc, u64 target)
{
	switch (k) {
	case INSN_NOP:
		assert_true(insn_nop(in, 5));
		break;
	case INSN_JMP8:
		assert_true(insn_jmp(in, 2, target));
		break;
	case INSN_JMP32:
		assert_true(insn_jmp(in, 5, target));
		break;
	case INSN_CALL32:
		assert_true(insn_call(in, target));
		break;
	case INSN_JCC8:
		assert_true(insn_jcc(in, 2, cc, target));
		break;
	case INSN_JCC32:
		assert_true(insn_jcc(in, 6, cc, target));
		break;
	case INSN_RET:
		assert_true(insn_ret(in, 1));
		break;
	case INSN_INT3:
		insn_int3(in);
		break;
	case INSN_UD2:
		insn_ud2(in);
		break;
	case INSN_NOP_SPLIT:
		assert_true(insn_nop_split(in, 5));
		break;
	default:
		fail_msg("kind %d", k);
	}
}

static bool has_target(enum insn_kind k)
{
	return k == INSN_JMP8 || k == INSN_JMP32 || k == INSN_CALL32 ||
	       k == INSN_JCC8 || k == INSN_JCC32;
}

static bool is_rel8(enum insn_kind k)
{
	return k == INSN_JMP8 || k == INSN_JCC8;
}

/* Encodes in at addr, checks the returned length and that nothing past it
 * was written, then decodes it back (with junk after it) and compares. */
static void roundtrip(const struct insn *in, u64 addr)
{
	u8 buf[INSN_MAX + 4];
	struct insn back;

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(insn_encode(in, addr, buf), in->len);
	for (size_t i = in->len; i < sizeof(buf); i++)
		assert_int_equal(buf[i], CANARY);
	memset(&back, 0x5a, sizeof(back));
	assert_int_equal(decode_exact(buf, sizeof(buf), addr, &back), in->len);
	assert_insn_equal(&back, in);
	/* And with exactly its own bytes available. */
	assert_int_equal(decode_exact(buf, in->len, addr, &back), in->len);
	assert_insn_equal(&back, in);
}

/* The encoding must fail and leave out untouched. */
static void encode_fails(const struct insn *in, u64 addr)
{
	u8 buf[INSN_MAX];

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(insn_encode(in, addr, buf), -1);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], CANARY);
}

/* ------------------------------------------------------------------ */
/* GNU as vectors                                                     */

struct vec {
	u64 addr;
	u8 len;
	u8 bytes[INSN_MAX];
	enum insn_kind kind;
	u8 cc;
	u64 target;
	const char *text;	/* insn_format() */
};

/* Confirmed with GNU as / objdump (see the top of the file). */
static const struct vec gnu_as[] = {
	/* Linked at 0x401000: recommended NOPs written as nop, xchg %ax,%ax,
	 * nopl (%rax), {disp8} nopl 0(%rax), {disp8} nopl 0(%rax,%rax,1),
	 * {disp8} nopw 0(%rax,%rax,1), {disp32} nopl 0(%rax),
	 * {disp32} nopl 0(%rax,%rax,1); then ret, int3, ud2. */
	{ 0x401000, 1, { 0x90 }, INSN_NOP, 0, 0, "nop1" },
	{ 0x401001, 2, { 0x66, 0x90 }, INSN_NOP, 0, 0, "nop2" },
	{ 0x401003, 3, { 0x0f, 0x1f, 0x00 }, INSN_NOP, 0, 0, "nop3" },
	{ 0x401006, 4, { 0x0f, 0x1f, 0x40, 0x00 }, INSN_NOP, 0, 0, "nop4" },
	{ 0x40100a, 5, { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, INSN_NOP, 0, 0, "nop5" },
	{ 0x40100f, 6, { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 }, INSN_NOP, 0, 0, "nop6" },
	{ 0x401015, 7, { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	  INSN_NOP, 0, 0, "nop7" },
	{ 0x40101c, 8, { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	  INSN_NOP, 0, 0, "nop8" },
	{ 0x401024, 1, { 0xc3 }, INSN_RET, 0, 0, "ret" },
	{ 0x401025, 1, { 0xcc }, INSN_INT3, 0, 0, "int3" },
	{ 0x401026, 2, { 0x0f, 0x0b }, INSN_UD2, 0, 0, "ud2" },
	/* Branches, same link address. */
	{ 0x401100, 2, { 0xeb, 0x7f }, INSN_JMP8, 0, 0x401181, "jmp 0x401181" },
	{ 0x401110, 2, { 0xeb, 0x80 }, INSN_JMP8, 0, 0x401092, "jmp 0x401092" },
	{ 0x401120, 5, { 0xe9, 0x34, 0x12, 0x00, 0x00 }, INSN_JMP32, 0,
	  0x402359, "jmp 0x402359" },
	{ 0x401130, 5, { 0xe8, 0xd0, 0xff, 0xff, 0xff }, INSN_CALL32, 0,
	  0x401105, "call 0x401105" },
	{ 0x401140, 2, { 0x75, 0x10 }, INSN_JCC8, 0x5, 0x401152, "jne 0x401152" },
	{ 0x401150, 6, { 0x0f, 0x8f, 0xb0, 0xff, 0xff, 0xff }, INSN_JCC32, 0xf,
	  0x401106, "jg 0x401106" },
	{ 0x401160, 2, { 0x70, 0xfe }, INSN_JCC8, 0x0, 0x401160, "jo 0x401160" },
	{ 0x401170, 6, { 0x0f, 0x80, 0xfa, 0xff, 0xff, 0xff }, INSN_JCC32, 0x0,
	  0x401170, "jo 0x401170" },
	{ 0x401180, 5, { 0xe9, 0xff, 0xff, 0xff, 0x7f }, INSN_JMP32, 0,
	  0x80401184, "jmp 0x80401184" },
	/* Linked at 0xffffffff80100000 (the kernel's high half). */
	{ 0xffffffff80100000, 5, { 0xe8, 0xfb, 0xff, 0xef, 0xff }, INSN_CALL32, 0,
	  0xffffffff80000000, "call 0xffffffff80000000" },
	{ 0xffffffff80100005, 5, { 0xe9, 0xf6, 0xff, 0x1f, 0x00 }, INSN_JMP32, 0,
	  0xffffffff80300000, "jmp 0xffffffff80300000" },
	{ 0xffffffff8010000a, 6, { 0x0f, 0x82, 0x00, 0x00, 0x00, 0x00 }, INSN_JCC32, 0x2,
	  0xffffffff80100010, "jb 0xffffffff80100010" },
	{ 0xffffffff80100010, 2, { 0xeb, 0xee }, INSN_JMP8, 0, 0xffffffff80100000,
	  "jmp 0xffffffff80100000" },
	/* Linked at 0xffffffff90000000: the rel32 and rel8 limits. The jmp
	 * wraps past 2^64, as objdump also computes it. */
	{ 0xffffffff90000000, 6, { 0x0f, 0x8e, 0x00, 0x00, 0x00, 0x80 }, INSN_JCC32, 0xe,
	  0xffffffff10000006, "jle 0xffffffff10000006" },
	{ 0xffffffff90000006, 5, { 0xe9, 0xff, 0xff, 0xff, 0x7f }, INSN_JMP32, 0,
	  0x1000000a, "jmp 0x1000000a" },
	{ 0xffffffff9000000b, 5, { 0xe8, 0x00, 0x00, 0x00, 0x80 }, INSN_CALL32, 0,
	  0xffffffff10000010, "call 0xffffffff10000010" },
	{ 0xffffffff90000010, 2, { 0x7d, 0x80 }, INSN_JCC8, 0xd, 0xffffffff8fffff92,
	  "jge 0xffffffff8fffff92" },
	{ 0xffffffff90000012, 2, { 0x78, 0x7f }, INSN_JCC8, 0x8, 0xffffffff90000093,
	  "js 0xffffffff90000093" },
};

static void test_gnu_as_vectors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(gnu_as); i++) {
		const struct vec *v = &gnu_as[i];
		struct insn in = { .kind = v->kind, .len = v->len, .cc = v->cc,
				   .target = v->target }, back;
		u8 buf[INSN_MAX];
		char text[64];

		assert_int_equal(insn_encode(&in, v->addr, buf), v->len);
		assert_bytes(buf, v->bytes, v->len);
		assert_int_equal(decode_exact(v->bytes, v->len, v->addr, &back), v->len);
		assert_insn_equal(&back, &in);
		insn_format(&back, text, sizeof(text));
		assert_string_equal(text, v->text);
	}
}

/* GNU as, linked at 0x401000: for each condition in cc order (jo jno jb
 * jae je jne jbe ja js jns jp jnp jl jge jle jg), "1: jCC 1b" then
 * "2: {disp32} jCC 2b", i.e. each a branch to itself. */
static const u8 gnu_as_jcc_self[16][8] = {
	{ 0x70, 0xfe, 0x0f, 0x80, 0xfa, 0xff, 0xff, 0xff },
	{ 0x71, 0xfe, 0x0f, 0x81, 0xfa, 0xff, 0xff, 0xff },
	{ 0x72, 0xfe, 0x0f, 0x82, 0xfa, 0xff, 0xff, 0xff },
	{ 0x73, 0xfe, 0x0f, 0x83, 0xfa, 0xff, 0xff, 0xff },
	{ 0x74, 0xfe, 0x0f, 0x84, 0xfa, 0xff, 0xff, 0xff },
	{ 0x75, 0xfe, 0x0f, 0x85, 0xfa, 0xff, 0xff, 0xff },
	{ 0x76, 0xfe, 0x0f, 0x86, 0xfa, 0xff, 0xff, 0xff },
	{ 0x77, 0xfe, 0x0f, 0x87, 0xfa, 0xff, 0xff, 0xff },
	{ 0x78, 0xfe, 0x0f, 0x88, 0xfa, 0xff, 0xff, 0xff },
	{ 0x79, 0xfe, 0x0f, 0x89, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7a, 0xfe, 0x0f, 0x8a, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7b, 0xfe, 0x0f, 0x8b, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7c, 0xfe, 0x0f, 0x8c, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7d, 0xfe, 0x0f, 0x8d, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7e, 0xfe, 0x0f, 0x8e, 0xfa, 0xff, 0xff, 0xff },
	{ 0x7f, 0xfe, 0x0f, 0x8f, 0xfa, 0xff, 0xff, 0xff },
};

static const char *const gnu_as_jcc_names[16] = {
	"jo", "jno", "jb", "jae", "je", "jne", "jbe", "ja",
	"js", "jns", "jp", "jnp", "jl", "jge", "jle", "jg",
};

/* Every condition code, both sizes: the opcode and the whole encoding. */
static void test_jcc_opcodes(void **state)
{
	for (unsigned cc = 0; cc < 16; cc++) {
		u64 a8 = 0x401000 + 8 * cc, a32 = a8 + 2;
		struct insn j8, j32, back;
		u8 buf[INSN_MAX];
		char text[64], want[64];

		assert_true(insn_jcc(&j8, 2, cc, a8));
		assert_true(insn_jcc(&j32, 6, cc, a32));
		assert_int_equal(insn_encode(&j8, a8, buf), 2);
		assert_int_equal(buf[0], 0x70 + cc);
		assert_bytes(buf, gnu_as_jcc_self[cc], 2);
		assert_int_equal(insn_encode(&j32, a32, buf), 6);
		assert_int_equal(buf[0], 0x0f);
		assert_int_equal(buf[1], 0x80 + cc);
		assert_bytes(buf, gnu_as_jcc_self[cc] + 2, 6);

		assert_int_equal(decode_exact(gnu_as_jcc_self[cc], 8, a8, &back), 2);
		assert_insn_equal(&back, &j8);
		assert_int_equal(decode_exact(gnu_as_jcc_self[cc] + 2, 6, a32, &back), 6);
		assert_insn_equal(&back, &j32);

		insn_format(&j32, text, sizeof(text));
		snprintf(want, sizeof(want), "%s %#llx", gnu_as_jcc_names[cc],
			 (unsigned long long)a32);
		assert_string_equal(text, want);
	}
}

/* ------------------------------------------------------------------ */
/* NOPs                                                               */

/* SDM vol. 2B, NOP, table 4-12 (the same bytes GNU as gave above). */
static const u8 nop_bytes[INSN_MAX + 1][INSN_MAX] = {
	[1] = { 0x90 },
	[2] = { 0x66, 0x90 },
	[3] = { 0x0f, 0x1f, 0x00 },
	[4] = { 0x0f, 0x1f, 0x40, 0x00 },
	[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[6] = { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
	[7] = { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
	[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
};

static void test_nop_bytes(void **state)
{
	for (unsigned len = 1; len <= INSN_MAX; len++) {
		u8 buf[INSN_MAX + 2];
		struct insn in;

		memset(buf, CANARY, sizeof(buf));
		nop_fill(buf, len);
		assert_bytes(buf, nop_bytes[len], len);
		for (size_t i = len; i < sizeof(buf); i++)
			assert_int_equal(buf[i], CANARY);

		assert_true(insn_nop(&in, len));
		assert_int_equal(in.kind, INSN_NOP);
		assert_int_equal(in.len, len);
		memset(buf, CANARY, sizeof(buf));
		assert_int_equal(insn_encode(&in, 0x1000 + len, buf), (int)len);
		assert_bytes(buf, nop_bytes[len], len);
		assert_int_equal(buf[len], CANARY);
		roundtrip(&in, 0xffffffff80000000 + len);
	}
}

static void test_nop_fill_bad_length(void **state)
{
	u8 buf[16];

	memset(buf, CANARY, sizeof(buf));
	nop_fill(buf, 0);
	nop_fill(buf, INSN_MAX + 1);
	nop_fill(buf, 15);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], CANARY);
}

/* ------------------------------------------------------------------ */
/* Builders                                                           */

static void test_builders(void **state)
{
	struct insn in;

	assert_true(insn_jmp(&in, 2, 0x1234));
	assert_int_equal(in.kind, INSN_JMP8);
	assert_int_equal(in.len, 2);
	assert_int_equal(in.target, 0x1234);
	assert_true(insn_jmp(&in, 5, 0x5678));
	assert_int_equal(in.kind, INSN_JMP32);
	assert_int_equal(in.len, 5);
	assert_int_equal(in.target, 0x5678);
	assert_true(insn_call(&in, 0xffffffff80001000));
	assert_int_equal(in.kind, INSN_CALL32);
	assert_int_equal(in.len, 5);
	assert_int_equal(in.target, 0xffffffff80001000);
	assert_true(insn_jcc(&in, 2, 7, 0x10));
	assert_int_equal(in.kind, INSN_JCC8);
	assert_int_equal(in.len, 2);
	assert_int_equal(in.cc, 7);
	assert_true(insn_jcc(&in, 6, 15, 0x20));
	assert_int_equal(in.kind, INSN_JCC32);
	assert_int_equal(in.len, 6);
	assert_int_equal(in.cc, 15);
	assert_int_equal(in.target, 0x20);
	for (unsigned len = 1; len <= INSN_MAX; len++) {
		assert_true(insn_ret(&in, len));
		assert_int_equal(in.kind, INSN_RET);
		assert_int_equal(in.len, len);
	}
	insn_int3(&in);
	assert_int_equal(in.kind, INSN_INT3);
	assert_int_equal(in.len, 1);
	insn_ud2(&in);
	assert_int_equal(in.kind, INSN_UD2);
	assert_int_equal(in.len, 2);
}

/* Refused arguments leave *in as it was. */
static void test_builders_reject(void **state)
{
	struct insn in, before;

	memset(&in, 0x77, sizeof(in));
	before = in;
	assert_false(insn_nop(&in, 0));
	assert_false(insn_nop(&in, 9));
	assert_false(insn_nop(&in, 100));
	for (unsigned len = 0; len <= 10; len++) {
		if (len != 2 && len != 5)
			assert_false(insn_jmp(&in, len, 0x1000));
		if (len != 2 && len != 6)
			assert_false(insn_jcc(&in, len, 4, 0x1000));
	}
	assert_false(insn_jcc(&in, 2, 16, 0x1000));
	assert_false(insn_jcc(&in, 6, 16, 0x1000));
	assert_false(insn_jcc(&in, 6, ~0u, 0x1000));
	assert_false(insn_ret(&in, 0));
	assert_false(insn_ret(&in, 9));
	assert_memory_equal(&in, &before, sizeof(in));
}

/* ------------------------------------------------------------------ */
/* Round trips                                                        */

static const u64 addrs[] = {
	0x0, 0x1000, 0x401000, 0x7ffffffff000, 0xffff800000000000,
	0xffffffff80000000, 0xffffffff8012345f, 0xfffffffffffff000,
};

/* Targets relative to the end of the instruction: within rel8 for the
 * short forms, within rel32 for the others. */
static const s64 rel8s[] = { 0, 1, -1, 2, -2, 0x40, -0x40, 127, -128 };
static const s64 rel32s[] = {
	0, 1, -1, -5, -6, 0x80, -0x81, 0x12345, -0x12345, 0x10000000,
	-0x10000000, 0x7fffffff, -0x7fffffff - 1,
};

static void test_roundtrip_all_kinds(void **state)
{
	unsigned n = 0;

	for (size_t a = 0; a < ARRAY_SIZE(addrs); a++) {
		for (enum insn_kind k = 0; k < INSN_KINDS; k++) {
			if (k == INSN_NOP_SPLIT)
				continue;	/* decodes as its JMP: test_nop_split */
			const s64 *rels = is_rel8(k) ? rel8s : rel32s;
			size_t nr = is_rel8(k) ? ARRAY_SIZE(rel8s) : ARRAY_SIZE(rel32s);

			for (size_t r = 0; r < nr; r++) {
				/* Every cc for Jcc, rotating with the target. */
				unsigned cc = (unsigned)(a + r) % 16;
				struct insn in;
				u64 end;

				build(&in, k, cc, 0);
				end = addrs[a] + in.len;
				if (has_target(k))
					build(&in, k, cc, end + (u64)rels[r]);
				roundtrip(&in, addrs[a]);
				n++;
			}
		}
	}
	print_message("%u round trips\n", n);
}

/* Every Jcc condition in both sizes, forward and backward. */
static void test_roundtrip_every_cc(void **state)
{
	for (unsigned cc = 0; cc < 16; cc++) {
		struct insn in;

		assert_true(insn_jcc(&in, 2, cc, 0x401000 + 2 + 100));
		roundtrip(&in, 0x401000);
		assert_true(insn_jcc(&in, 2, cc, 0x401000 + 2 - 100));
		roundtrip(&in, 0x401000);
		assert_true(insn_jcc(&in, 6, cc, 0xffffffff81000000));
		roundtrip(&in, 0xffffffff80100000);
		assert_true(insn_jcc(&in, 6, cc, 0xffffffff80000000));
		roundtrip(&in, 0xffffffff80100000);
	}
}

/* RET with padding encodes as C3 CC..., decodes as a bare RET followed by
 * INT3s. */
static void test_ret_padding(void **state)
{
	for (unsigned len = 1; len <= INSN_MAX; len++) {
		u8 buf[INSN_MAX + 1];
		struct insn in, back;

		memset(buf, CANARY, sizeof(buf));
		assert_true(insn_ret(&in, len));
		assert_int_equal(insn_encode(&in, 0x2000, buf), (int)len);
		assert_int_equal(buf[0], 0xc3);
		for (unsigned i = 1; i < len; i++)
			assert_int_equal(buf[i], 0xcc);
		assert_int_equal(buf[len], CANARY);

		assert_int_equal(decode_exact(buf, len, 0x2000, &back), 1);
		assert_int_equal(back.kind, INSN_RET);
		assert_int_equal(back.len, 1);
		for (unsigned i = 1; i < len; i++) {
			assert_int_equal(decode_exact(buf + i, len - i, 0x2000 + i, &back), 1);
			assert_int_equal(back.kind, INSN_INT3);
		}
	}
}

/* GNU as, matching ret; int3; int3; int3 linked at 0xffffffff80100012. */
static void test_ret_padding_gnu_as(void **state)
{
	static const u8 want[] = { 0xc3, 0xcc, 0xcc, 0xcc };
	struct insn in;
	u8 buf[4];

	assert_true(insn_ret(&in, 4));
	assert_int_equal(insn_encode(&in, 0xffffffff80100012, buf), 4);
	assert_bytes(buf, want, 4);
}

/* ------------------------------------------------------------------ */
/* Displacement limits                                                */

/* rel8: -128..127 from the end of the 2-byte instruction. */
static void test_rel8_limits(void **state)
{
	for (size_t a = 0; a < ARRAY_SIZE(addrs); a++) {
		u64 addr = addrs[a], end = addr + 2;
		struct insn in;
		u8 buf[INSN_MAX];

		assert_true(insn_jmp(&in, 2, end + 127));
		roundtrip(&in, addr);
		assert_int_equal(insn_encode(&in, addr, buf), 2);
		assert_int_equal(buf[1], 0x7f);
		assert_true(insn_jmp(&in, 2, end - 128));
		roundtrip(&in, addr);
		assert_int_equal(insn_encode(&in, addr, buf), 2);
		assert_int_equal(buf[1], 0x80);
		assert_true(insn_jmp(&in, 2, end + 128));
		encode_fails(&in, addr);
		assert_true(insn_jmp(&in, 2, end - 129));
		encode_fails(&in, addr);

		assert_true(insn_jcc(&in, 2, 4, end + 127));
		roundtrip(&in, addr);
		assert_true(insn_jcc(&in, 2, 5, end - 128));
		roundtrip(&in, addr);
		assert_true(insn_jcc(&in, 2, 4, end + 128));
		encode_fails(&in, addr);
		assert_true(insn_jcc(&in, 2, 5, end - 129));
		encode_fails(&in, addr);
		/* Far away in either direction. */
		assert_true(insn_jcc(&in, 2, 5, end + 0x100000000ull));
		encode_fails(&in, addr);
		assert_true(insn_jmp(&in, 2, end - 0x8000000000000000ull));
		encode_fails(&in, addr);
	}
}

/* Every rel8 from -200 to 200 around the edges: encodes iff in range, and
 * the byte is the displacement. */
static void test_rel8_sweep(void **state)
{
	const u64 addr = 0xffffffff80200000;

	for (int rel = -200; rel <= 200; rel++) {
		bool fits = rel >= -128 && rel <= 127;
		struct insn in;
		u8 buf[INSN_MAX];

		assert_true(insn_jmp(&in, 2, addr + 2 + (u64)(s64)rel));
		if (!fits) {
			encode_fails(&in, addr);
			continue;
		}
		assert_int_equal(insn_encode(&in, addr, buf), 2);
		assert_int_equal(buf[0], 0xeb);
		assert_int_equal((s8)buf[1], rel);
		roundtrip(&in, addr);
	}
}

/* rel32: -2^31..2^31-1 from the end of the 5- or 6-byte instruction. */
static void test_rel32_limits(void **state)
{
	static const u8 max[4] = { 0xff, 0xff, 0xff, 0x7f };
	static const u8 min[4] = { 0x00, 0x00, 0x00, 0x80 };

	for (size_t a = 0; a < ARRAY_SIZE(addrs); a++) {
		u64 addr = addrs[a];

		for (int which = 0; which < 3; which++) {
			struct insn in;
			u8 buf[INSN_MAX];
			u64 end;

			if (which == 0)
				insn_jmp(&in, 5, 0);
			else if (which == 1)
				insn_call(&in, 0);
			else
				insn_jcc(&in, 6, 12, 0);
			end = addr + in.len;

			in.target = end + 0x7fffffffull;
			roundtrip(&in, addr);
			assert_int_equal(insn_encode(&in, addr, buf), in.len);
			assert_bytes(buf + in.len - 4, max, 4);
			in.target = end - 0x80000000ull;
			roundtrip(&in, addr);
			assert_int_equal(insn_encode(&in, addr, buf), in.len);
			assert_bytes(buf + in.len - 4, min, 4);

			in.target = end + 0x80000000ull;
			encode_fails(&in, addr);
			in.target = end - 0x80000001ull;
			encode_fails(&in, addr);
			in.target = end + 0x100000000ull;
			encode_fails(&in, addr);
			in.target = end ^ 0x8000000000000000ull;
			encode_fails(&in, addr);
		}
	}
}

/* The kernel cannot reach user space (or the direct map) with rel32. */
static void test_rel32_kernel_to_low(void **state)
{
	struct insn in;

	assert_true(insn_call(&in, 0x401000));
	encode_fails(&in, 0xffffffff80100000);
	assert_true(insn_jmp(&in, 5, 0xffff888000000000));
	encode_fails(&in, 0xffffffff80100000);
	/* But 2 GiB below the kernel image is in reach. */
	assert_true(insn_jmp(&in, 5, 0xffffffff00100005));
	roundtrip(&in, 0xffffffff80100000);
}

/* insn_encode refuses what no builder would make, writing nothing. */
static void test_encode_rejects_invalid(void **state)
{
	struct insn in;

	in = (struct insn){ .kind = INSN_KINDS, .len = 1 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = (enum insn_kind)200, .len = 1 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_NOP, .len = 0 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_NOP, .len = 9 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_JMP8, .len = 5, .target = 5 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_JMP32, .len = 2, .target = 2 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_JCC8, .len = 2, .cc = 16, .target = 2 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_JCC32, .len = 6, .cc = 0xff, .target = 6 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_RET, .len = 0 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_INT3, .len = 2 };
	encode_fails(&in, 0);
	in = (struct insn){ .kind = INSN_UD2, .len = 1 };
	encode_fails(&in, 0);
}

/* ------------------------------------------------------------------ */
/* Decoding: what is refused                                          */

static void decode_fails(const u8 *b, size_t n)
{
	struct insn out, before;

	memset(&out, 0x3c, sizeof(out));
	before = out;
	if (decode_exact(b, n, 0x1000, &out) != -1)
		fail_msg("%s decoded as %s len %u", hex(b, n),
			 insn_kind_name(out.kind), out.len);
	assert_memory_equal(&out, &before, sizeof(out));
}

#define REJECT(...) do { \
	static const u8 b_[] = { __VA_ARGS__ }; \
	decode_fails(b_, sizeof(b_)); \
} while (0)

/* Which first bytes decode, with zeros after them: exactly ours. */
static void test_decode_first_byte(void **state)
{
	for (unsigned op = 0; op < 256; op++) {
		u8 b[INSN_MAX] = { (u8)op };
		bool ours = op == 0x90 || (op >= 0x70 && op <= 0x7f) ||
			    op == 0xeb || op == 0xe9 || op == 0xe8 ||
			    op == 0xc3 || op == 0xcc;
		struct insn out;
		int len = decode_exact(b, sizeof(b), 0x1000, &out);

		if (ours != (len > 0))
			fail_msg("opcode %02x: decode returned %d", op, len);
	}
}

/* After 0F, with zeros after: UD2, Jcc rel32, and 0F 1F 00 (nop3). */
static void test_decode_second_byte(void **state)
{
	for (unsigned op = 0; op < 256; op++) {
		u8 b[INSN_MAX] = { 0x0f, (u8)op };
		bool ours = op == 0x0b || op == 0x1f || (op >= 0x80 && op <= 0x8f);
		struct insn out;
		int len = decode_exact(b, sizeof(b), 0x1000, &out);

		if (ours != (len > 0))
			fail_msg("opcode 0f %02x: decode returned %d", op, len);
	}
}

static void test_decode_rejects_junk(void **state)
{
	REJECT(0x00, 0x00);
	REJECT(0xc2, 0x08, 0x00);		/* ret imm16 */
	REJECT(0xcb);				/* far ret */
	REJECT(0xcd, 0x03);			/* int 3, two-byte form */
	REJECT(0xf1);				/* int1 */
	REJECT(0x0f, 0xb9, 0x00);		/* ud1 */
	REJECT(0x0f, 0xff, 0x00);		/* ud0 */
	REJECT(0xff, 0xe0);			/* jmp *%rax */
	REJECT(0xff, 0x15, 0, 0, 0, 0);		/* call *0(%rip) */
	REJECT(0xe3, 0x10);			/* jrcxz */
	REJECT(0xe2, 0x10);			/* loop */
	REJECT(0xea, 0, 0, 0, 0, 0, 0);		/* far jmp (invalid in 64-bit) */
	/* Prefixed branches are none of ours. */
	REJECT(0x3e, 0x74, 0x10);		/* ds (branch taken hint) je */
	REJECT(0x2e, 0x75, 0x10);		/* cs (not taken hint) jne */
	REJECT(0xf2, 0xe9, 0, 0, 0, 0);		/* bnd jmp */
	REJECT(0xf2, 0xc3);			/* bnd ret */
	REJECT(0x48, 0xe9, 0, 0, 0, 0);		/* rex.w jmp */
	REJECT(0x66, 0xe9, 0, 0, 0, 0);		/* data16 jmp */
	REJECT(0x66, 0xe8, 0, 0, 0, 0);		/* data16 call */
	REJECT(0x66, 0x0f, 0x84, 0, 0, 0, 0);	/* data16 je */
	REJECT(0xf3, 0xc3);			/* rep ret */
	REJECT(0x66, 0xc3);			/* data16 ret */
	REJECT(0x66, 0xcc);
	REJECT(0x66, 0x0f, 0x0b);
	REJECT(0xf3, 0x0f, 0x1e, 0xfa);		/* endbr64 */
}

/* NOP encodings other than the recommended ones (and 90, 66 90). */
static void test_decode_rejects_other_nops(void **state)
{
	REJECT(0xf3, 0x90);			/* pause */
	REJECT(0x48, 0x90);			/* rex.w nop */
	REJECT(0x41, 0x90);			/* xchg %eax,%r8d: not a nop */
	REJECT(0x66, 0x66, 0x90);		/* data16 xchg %ax,%ax */
	REJECT(0x87, 0xc0);			/* xchg %eax,%eax */
	REJECT(0x89, 0xf6);			/* mov %esi,%esi */
	REJECT(0x8d, 0x76, 0x00);		/* lea 0(%rsi),%esi */
	REJECT(0x0f, 0x1f, 0xc0);		/* nop %eax */
	REJECT(0x0f, 0x1f, 0x01);		/* nopl (%rcx) */
	REJECT(0x0f, 0x1f, 0x04, 0x00);		/* nopl (%rax,%rax,1): SIB, no disp */
	REJECT(0x0f, 0x1f, 0x40, 0x01);		/* nopl 1(%rax) */
	REJECT(0x0f, 0x1f, 0x40, 0x80);		/* nopl -0x80(%rax) */
	REJECT(0x0f, 0x1f, 0x44, 0x00, 0x01);	/* nopl 1(%rax,%rax,1) */
	REJECT(0x0f, 0x1f, 0x44, 0x08, 0x00);	/* nopl 0(%rax,%rcx,1) */
	REJECT(0x0f, 0x1f, 0x80, 0x01, 0x00, 0x00, 0x00);
	REJECT(0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x80);
	REJECT(0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x01);
	REJECT(0x0f, 0x1f, 0x84, 0x40, 0x00, 0x00, 0x00, 0x00);
	REJECT(0x66, 0x0f, 0x1f, 0x00);		/* nopw (%rax) */
	REJECT(0x66, 0x0f, 0x1f, 0x40, 0x00);	/* nopw 0(%rax) */
	REJECT(0x66, 0x0f, 0x1f, 0x44, 0x00, 0x01);
	REJECT(0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00);	/* 9-byte nopw */
	REJECT(0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00);	/* cs nopw, 10 */
	REJECT(0x66, 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00);
	REJECT(0x0f, 0x18, 0x00);		/* prefetchnta (%rax) */
	REJECT(0x0f, 0x19, 0x00);		/* reserved-NOP space */
	REJECT(0x0f, 0x0d, 0x00);		/* prefetch */
	REJECT(0x0f, 0x1e, 0x00);
}

/* Every strict prefix of each of our encodings is refused (RET is one
 * byte, so only its empty prefix is). */
static void test_decode_truncated(void **state)
{
	static const u8 empty[1] = { 0x90 };
	struct insn out;

	assert_int_equal(decode_exact(empty, 0, 0x1000, &out), -1);
	for (size_t i = 0; i < ARRAY_SIZE(gnu_as); i++) {
		const struct vec *v = &gnu_as[i];

		for (size_t n = 0; n < v->len; n++)
			decode_fails(v->bytes, n);
	}
	for (unsigned cc = 0; cc < 16; cc++) {
		decode_fails(gnu_as_jcc_self[cc], 1);
		for (size_t n = 0; n < 6; n++)
			decode_fails(gnu_as_jcc_self[cc] + 2, n);
	}
}

/* A linear sweep through the GNU as NOP/RET/INT3/UD2 run at 0x401000,
 * all in one buffer. */
static void test_decode_sweep(void **state)
{
	static const u8 text[] = {
		0x90, 0x66, 0x90, 0x0f, 0x1f, 0x00, 0x0f, 0x1f, 0x40, 0x00,
		0x0f, 0x1f, 0x44, 0x00, 0x00, 0x66, 0x0f, 0x1f, 0x44, 0x00,
		0x00, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x1f,
		0x84, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc3, 0xcc, 0x0f, 0x0b,
	};
	static const enum insn_kind kinds[] = {
		INSN_NOP, INSN_NOP, INSN_NOP, INSN_NOP, INSN_NOP, INSN_NOP,
		INSN_NOP, INSN_NOP, INSN_RET, INSN_INT3, INSN_UD2,
	};
	static const u8 lens[] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 2 };
	size_t off = 0;

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		struct insn out;
		int len = decode_exact(text + off, sizeof(text) - off, 0x401000 + off, &out);

		assert_int_equal(len, lens[i]);
		assert_int_equal(out.kind, kinds[i]);
		assert_int_equal(out.len, lens[i]);
		off += len;
	}
	assert_int_equal(off, sizeof(text));
}

/* ------------------------------------------------------------------ */
/* jcc_taken                                                          */

/* RFLAGS bits (SDM vol. 1, figure 3-8). */
#define F_CF (1ull << 0)
#define F_PF (1ull << 2)
#define F_ZF (1ull << 6)
#define F_SF (1ull << 7)
#define F_OF (1ull << 11)

struct flags {
	bool cf, pf, zf, sf, of;
};

/*
 * The reference: SDM vol. 1, appendix B, table B-1 ("EFLAGS Condition
 * Codes"), one row per mnemonic with the condition exactly as the table
 * states it, each written out on its own (not derived from its pair).
 */
static bool c_o(struct flags f)  { return f.of == 1; }
static bool c_no(struct flags f) { return f.of == 0; }
static bool c_b(struct flags f)  { return f.cf == 1; }
static bool c_ae(struct flags f) { return f.cf == 0; }
static bool c_e(struct flags f)  { return f.zf == 1; }
static bool c_ne(struct flags f) { return f.zf == 0; }
static bool c_be(struct flags f) { return f.cf == 1 || f.zf == 1; }
static bool c_a(struct flags f)  { return f.cf == 0 && f.zf == 0; }
static bool c_s(struct flags f)  { return f.sf == 1; }
static bool c_ns(struct flags f) { return f.sf == 0; }
static bool c_p(struct flags f)  { return f.pf == 1; }
static bool c_np(struct flags f) { return f.pf == 0; }
static bool c_l(struct flags f)  { return f.sf != f.of; }
static bool c_ge(struct flags f) { return f.sf == f.of; }
static bool c_le(struct flags f) { return f.zf == 1 || f.sf != f.of; }
static bool c_g(struct flags f)  { return f.zf == 0 && f.sf == f.of; }

static const struct {
	u8 cc;			/* tttn, as in 70+cc and 0F 80+cc */
	const char *mnemonic;
	bool (*cond)(struct flags);
} ref[16] = {
	{ 0x0, "jo", c_o },   { 0x1, "jno", c_no },
	{ 0x2, "jb", c_b },   { 0x3, "jae", c_ae },
	{ 0x4, "je", c_e },   { 0x5, "jne", c_ne },
	{ 0x6, "jbe", c_be }, { 0x7, "ja", c_a },
	{ 0x8, "js", c_s },   { 0x9, "jns", c_ns },
	{ 0xa, "jp", c_p },   { 0xb, "jnp", c_np },
	{ 0xc, "jl", c_l },   { 0xd, "jge", c_ge },
	{ 0xe, "jle", c_le }, { 0xf, "jg", c_g },
};

/* The 32 combinations of the five flags, numbered by bit: CF, PF, ZF, SF, OF. */
static struct flags combo(unsigned m)
{
	return (struct flags){ .cf = m & 1, .pf = m & 2, .zf = m & 4,
			       .sf = m & 8, .of = m & 16 };
}

static u64 to_rflags(struct flags f)
{
	return (f.cf ? F_CF : 0) | (f.pf ? F_PF : 0) | (f.zf ? F_ZF : 0) |
	       (f.sf ? F_SF : 0) | (f.of ? F_OF : 0);
}

static void test_jcc_taken_all_flags(void **state)
{
	/* Bits that must not matter: reserved bit 1, AF, TF, IF, DF, IOPL,
	 * NT, RF, VM, AC, VIF, VIP, ID, and bits above 31. */
	static const u64 noise[] = {
		0, 1ull << 1, 1ull << 4, 1ull << 8, 1ull << 9, 1ull << 10,
		3ull << 12, 1ull << 14, 1ull << 16, 1ull << 17, 1ull << 18,
		0x3f0000, 0xffffffff00000000ull,
		~(F_CF | F_PF | F_ZF | F_SF | F_OF),
	};
	unsigned taken[16] = { 0 };

	for (unsigned i = 0; i < 16; i++) {
		unsigned cc = ref[i].cc;

		assert_int_equal(cc, i);
		for (unsigned m = 0; m < 32; m++) {
			struct flags f = combo(m);
			bool want = ref[i].cond(f);

			for (size_t n = 0; n < ARRAY_SIZE(noise); n++) {
				u64 rflags = to_rflags(f) | noise[n];

				if (jcc_taken(cc, rflags) != want)
					fail_msg("%s rflags %#llx: got %d, want %d",
						 ref[i].mnemonic,
						 (unsigned long long)rflags,
						 !want, want);
			}
			taken[cc] += want;
		}
	}
	/* Sanity of the reference itself: each pair splits the 32 cases. */
	for (unsigned cc = 0; cc < 16; cc += 2)
		assert_int_equal(taken[cc] + taken[cc + 1], 32);
}

static void test_jcc_taken_bad_cc(void **state)
{
	for (unsigned cc = 16; cc < 40; cc++) {
		assert_false(jcc_taken(cc, 0));
		assert_false(jcc_taken(cc, ~0ull));
	}
	assert_false(jcc_taken(~0u, 0));
}

/* Each reference row's mnemonic is what insn_format prints. */
static void test_jcc_names(void **state)
{
	for (unsigned i = 0; i < 16; i++) {
		struct insn in;
		char text[64], want[64];

		assert_true(insn_jcc(&in, 2, ref[i].cc, 0xabc));
		insn_format(&in, text, sizeof(text));
		snprintf(want, sizeof(want), "%s 0xabc", ref[i].mnemonic);
		assert_string_equal(text, want);
	}
}

/* ------------------------------------------------------------------ */
/* insn_next_ip                                                       */

static void test_next_ip(void **state)
{
	const u64 addr = 0xffffffff80100000, far = 0xffffffff80000000;
	struct insn in;

	for (unsigned len = 1; len <= INSN_MAX; len++) {
		insn_nop(&in, len);
		assert_int_equal(insn_next_ip(&in, addr, 0), addr + len);
		insn_ret(&in, len);
		assert_int_equal(insn_next_ip(&in, addr, 0), 0);
		assert_int_equal(insn_next_ip(&in, addr, ~0ull), 0);
	}
	insn_jmp(&in, 2, addr + 0x40);
	assert_int_equal(insn_next_ip(&in, addr, 0), addr + 0x40);
	insn_jmp(&in, 2, addr - 0x40);
	assert_int_equal(insn_next_ip(&in, addr, ~0ull), addr - 0x40);
	insn_jmp(&in, 5, far);
	assert_int_equal(insn_next_ip(&in, addr, 0), far);
	insn_call(&in, far);
	assert_int_equal(insn_next_ip(&in, addr, 0), far);
	insn_int3(&in);
	assert_int_equal(insn_next_ip(&in, addr, 0), addr + 1);
	insn_ud2(&in);
	assert_int_equal(insn_next_ip(&in, addr, 0), addr + 2);

	/* Jcc: taken or not, for every condition and flag combination. */
	for (unsigned i = 0; i < 16; i++) {
		for (unsigned m = 0; m < 32; m++) {
			struct flags f = combo(m);
			u64 rflags = to_rflags(f);
			bool want = ref[i].cond(f);

			insn_jcc(&in, 2, ref[i].cc, addr + 2 + 0x10);
			assert_int_equal(insn_next_ip(&in, addr, rflags),
					 want ? addr + 2 + 0x10 : addr + 2);
			insn_jcc(&in, 6, ref[i].cc, far);
			assert_int_equal(insn_next_ip(&in, addr, rflags),
					 want ? far : addr + 6);
		}
	}
}

/* Decoded from bytes, then followed: je/jne on ZF. */
static void test_next_ip_decoded(void **state)
{
	static const u8 je[] = { 0x74, 0x10 };
	static const u8 jne32[] = { 0x0f, 0x85, 0xf0, 0xff, 0xff, 0xff };
	struct insn in;

	assert_int_equal(insn_decode(je, sizeof(je), 0x1000, &in), 2);
	assert_int_equal(insn_next_ip(&in, 0x1000, F_ZF), 0x1012);
	assert_int_equal(insn_next_ip(&in, 0x1000, 0), 0x1002);
	assert_int_equal(insn_decode(jne32, sizeof(jne32), 0x1000, &in), 6);
	assert_int_equal(in.target, 0x1006 - 0x10);
	assert_int_equal(insn_next_ip(&in, 0x1000, 0), 0xff6);
	assert_int_equal(insn_next_ip(&in, 0x1000, F_ZF), 0x1006);
}

/* ------------------------------------------------------------------ */
/* Names and formatting                                               */

/* The split NOP: two instructions that run as one NOP; it decodes as
 * its first, the JMP to the next byte. */
static void test_nop_split(void **state)
{
	static const u8 five[] = { 0xeb, 0x00, 0x0f, 0x1f, 0x00 };
	static const u8 three[] = { 0xeb, 0x00, 0x90 };
	struct insn in, back;
	u8 buf[INSN_MAX];
	char txt[32];

	(void)state;
	assert_false(insn_nop_split(&in, 2));
	assert_false(insn_nop_split(&in, INSN_MAX + 1));
	assert_true(insn_nop_split(&in, 5));
	assert_int_equal(insn_encode(&in, 0x401000, buf), 5);
	assert_memory_equal(buf, five, 5);
	assert_int_equal(insn_next_ip(&in, 0x401000, 0), 0x401005);
	insn_format(&in, txt, sizeof(txt));
	assert_string_equal(txt, "jmp+0;nop3");
	assert_int_equal(insn_decode(buf, 5, 0x401000, &back), 2);
	assert_int_equal(back.kind, INSN_JMP8);
	assert_int_equal(back.target, 0x401002);
	assert_true(insn_nop_split(&in, 3));
	assert_int_equal(insn_encode(&in, 0x401000, buf), 3);
	assert_memory_equal(buf, three, 3);
}

static void test_kind_names(void **state)
{
	static const char *const want[INSN_KINDS] = {
		[INSN_NOP] = "nop", [INSN_JMP8] = "jmp8", [INSN_JMP32] = "jmp32",
		[INSN_CALL32] = "call32", [INSN_JCC8] = "jcc8",
		[INSN_JCC32] = "jcc32", [INSN_RET] = "ret", [INSN_INT3] = "int3",
		[INSN_UD2] = "ud2", [INSN_NOP_SPLIT] = "nopsplit",
	};

	for (enum insn_kind k = 0; k < INSN_KINDS; k++)
		assert_string_equal(insn_kind_name(k), want[k]);
	assert_string_equal(insn_kind_name(INSN_KINDS), "?");
	assert_string_equal(insn_kind_name((enum insn_kind)-1), "?");
}

static void format_is(const struct insn *in, const char *want)
{
	char buf[64];

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(insn_format(in, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_format(void **state)
{
	struct insn in;
	char small[6];

	insn_nop(&in, 1);
	format_is(&in, "nop1");
	insn_nop(&in, 5);
	format_is(&in, "nop5");
	insn_nop(&in, 8);
	format_is(&in, "nop8");
	insn_jmp(&in, 2, 0x1234);
	format_is(&in, "jmp 0x1234");
	insn_jmp(&in, 5, 0xffffffff80001000);
	format_is(&in, "jmp 0xffffffff80001000");
	insn_jmp(&in, 5, 0);
	format_is(&in, "jmp 0x0");
	insn_call(&in, 0xdeadbeef);
	format_is(&in, "call 0xdeadbeef");
	insn_jcc(&in, 2, 5, 0xffffffff80100042);
	format_is(&in, "jne 0xffffffff80100042");
	insn_jcc(&in, 6, 4, 0x10);
	format_is(&in, "je 0x10");
	insn_ret(&in, 1);
	format_is(&in, "ret");
	insn_ret(&in, 4);
	format_is(&in, "ret+pad3");
	insn_ret(&in, 8);
	format_is(&in, "ret+pad7");
	insn_int3(&in);
	format_is(&in, "int3");
	insn_ud2(&in);
	format_is(&in, "ud2");
	in = (struct insn){ .kind = INSN_KINDS, .len = 1 };
	format_is(&in, "(bad)");
	in = (struct insn){ .kind = INSN_JCC8, .len = 2, .cc = 16 };
	format_is(&in, "(bad)");

	/* Too small a buffer: truncated, terminated, full length returned. */
	insn_jmp(&in, 5, 0x123456);
	memset(small, CANARY, sizeof(small));
	assert_int_equal(insn_format(&in, small, sizeof(small)), 12);
	assert_string_equal(small, "jmp 0");
	assert_int_equal(insn_format(&in, NULL, 0), 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gnu_as_vectors),
		cmocka_unit_test(test_jcc_opcodes),
		cmocka_unit_test(test_nop_bytes),
		cmocka_unit_test(test_nop_fill_bad_length),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_builders_reject),
		cmocka_unit_test(test_roundtrip_all_kinds),
		cmocka_unit_test(test_roundtrip_every_cc),
		cmocka_unit_test(test_ret_padding),
		cmocka_unit_test(test_ret_padding_gnu_as),
		cmocka_unit_test(test_rel8_limits),
		cmocka_unit_test(test_rel8_sweep),
		cmocka_unit_test(test_rel32_limits),
		cmocka_unit_test(test_rel32_kernel_to_low),
		cmocka_unit_test(test_encode_rejects_invalid),
		cmocka_unit_test(test_decode_first_byte),
		cmocka_unit_test(test_decode_second_byte),
		cmocka_unit_test(test_decode_rejects_junk),
		cmocka_unit_test(test_decode_rejects_other_nops),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_sweep),
		cmocka_unit_test(test_jcc_taken_all_flags),
		cmocka_unit_test(test_jcc_taken_bad_cc),
		cmocka_unit_test(test_jcc_names),
		cmocka_unit_test(test_next_ip),
		cmocka_unit_test(test_next_ip_decoded),
		cmocka_unit_test(test_nop_split),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("insn", tests, NULL, NULL);
}
