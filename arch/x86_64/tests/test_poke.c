/*
 * poke.selftest_*: the engine, one piece at a time, under whichever
 * protocol= was chosen. Every instruction kind is patched and executed;
 * the trap handler's emulation of every kind is exercised from the step
 * hook (the site really holds the trap byte then); batches of 1 to the
 * maximum are found by binary search; bad batches are refused untouched.
 */
#include "arch/x86_64/tests/sites.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define T(n, l, o) { #n, n, n##_site, n##_target, l, o }
const struct site_target site_targets[] = {
	T(sf_site2, 2, false), T(sf_site5, 5, false), T(sf_site6, 6, false),
	T(sf_site2_odd, 2, true), T(sf_site5_odd, 5, true), T(sf_site6_odd, 6, true),
};
const unsigned site_targets_count = ARRAY_SIZE(site_targets);

/* Flag pairs for cmp a, b: equal, below, above, signed overflow. */
static const u64 cmp_pairs[][2] = {
	{ 5, 5 }, { 1, 2 }, { 2, 1 }, { 0x8000000000000000ull, 1 }, { 0, 0x7fffffffffffffffull },
};

/* RFLAGS after `cmp a, b`, straight from the CPU. */
static u64 flags_of_cmp(u64 a, u64 b)
{
	u64 f;

	__asm__ __volatile__("cmp %2, %1; pushfq; popq %0" : "=r"(f) : "r"(a), "r"(b) : "cc");
	return f;
}

/* What a site function must return with `in` at its site. */
static u32 expected_result(const struct insn *in, u64 a, u64 b)
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

static int patch_one(u8 *site, const struct insn *in)
{
	static struct patch_site s;
	static struct patch_batch b;
	const char *why;

	if (patch_site_init(&s, site, in))
		return test_fail("cannot encode %s at %p", insn_kind_name(in->kind), site), -1;
	why = patch_batch_prepare(&b, &s, 1);
	if (why)
		return test_fail("batch refused: %s", why), -1;
	return patch_apply(&b);
}

/* Checks one site function against the instruction at its site. */
static void check_run(const char *what, site_fn fn, const struct insn *in, u8 *site)
{
	u64 ok_before = sf_callee_ok;

	sf_expect_ret = (u64)(uintptr_t)site + in->len;
	for (unsigned p = 0; p < ARRAY_SIZE(cmp_pairs); p++) {
		u64 a = cmp_pairs[p][0], b = cmp_pairs[p][1];
		u32 got = fn(a, b), want = expected_result(in, a, b);

		test_check(got == want, "%s: %s(%#llx, %#llx) returned %u, expected %u", what,
			   insn_kind_name(in->kind), (unsigned long long)a,
			   (unsigned long long)b, got, want);
	}
	if (in->kind == INSN_CALL32)
		test_check(sf_callee_ok - ok_before == ARRAY_SIZE(cmp_pairs),
			   "%s: the callee saw %llu good calls", what,
			   (unsigned long long)(sf_callee_ok - ok_before));
}

/* The instructions a site of len bytes can hold, for target t. */
static unsigned kinds_for(const struct site_target *t, struct insn *out)
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

static void check_clean(void)
{
	test_check(!sf_canary_bad && !sf_callee_bad,
		   "stack canary broken %llu times, callee saw %llu wrong return addresses (last %#llx)",
		   (unsigned long long)sf_canary_bad, (unsigned long long)sf_callee_bad,
		   (unsigned long long)sf_bad_ret);
}

DEFINE_TEST(poke, selftest_kinds, 1, 0,
	    "each instruction kind patched into a site, then executed (both stack alignments)")
{
	struct insn kinds[24], ret;
	unsigned patches = 0;

	for (unsigned i = 0; i < site_targets_count; i++) {
		const struct site_target *t = &site_targets[i];
		unsigned n = kinds_for(t, kinds);

		for (unsigned k = 0; k < n; k++) {
			if (patch_one(t->site, &kinds[k]))
				return;
			check_run(t->name, t->fn, &kinds[k], t->site);
			patches++;
		}
	}
	insn_ret(&ret, 5);
	if (!patch_one(sf_ret5_site, &ret))
		test_check(sf_ret5(0, 0) == 3, "RET with padding did not return at the site");
	insn_nop(&ret, 5);
	patch_one(sf_ret5_site, &ret);
	test_check(sf_ret5(0, 0) == 1, "NOP5 back at the RET site did not fall through");
	check_clean();
	diag("%u patches of %u sites, every result as the CPU computes it", patches + 2,
	     site_targets_count + 1);
	test_pass();
}

/* Emulation from inside the protocol: at each step boundary where the
 * site holds a trap byte, run the site function on this CPU. */
static const struct site_target *bp_target;
static const struct insn *bp_insn;
static u32 bp_runs, bp_bad;

static void run_at_step(enum patch_step s)
{
	if (s != STEP_TAIL && s != STEP_HEAD)
		return;
	sf_expect_ret = (u64)(uintptr_t)bp_target->site + bp_insn->len;
	for (unsigned p = 0; p < ARRAY_SIZE(cmp_pairs); p++) {
		u64 a = cmp_pairs[p][0], b = cmp_pairs[p][1];

		if (bp_target->fn(a, b) != expected_result(bp_insn, a, b))
			bp_bad++;
		bp_runs++;
	}
}

/* The cpumask protocol runs a step on whichever CPU acknowledged last:
 * the hook, and so the traps, may happen anywhere. */
static u64 all_trap_hits(void)
{
	u64 n = 0;

	for (unsigned i = 0; i < cpus_possible; i++)
		n += patch_trap_hits(i);
	return n;
}

DEFINE_TEST(poke, selftest_bp, 1, 0,
	    "trap emulation of every kind at both stack alignments, CALL checked by its callee")
{
	struct insn kinds[24];
	u64 hits = all_trap_hits(), ok = sf_callee_ok;

	if (!strcmp(proto->name, "stop-machine") || !strcmp(proto->name, "unsafe-direct") ||
	    !strcmp(proto->name, "unsafe-bytewise"))
		return test_skip("protocol %s never leaves a trap byte in a site", proto->name);
	bp_runs = bp_bad = 0;
	patch_step_hook = run_at_step;
	for (unsigned i = 0; i < site_targets_count; i++) {
		const struct site_target *t = &site_targets[i];
		unsigned n = kinds_for(t, kinds);

		for (unsigned k = 0; k < n; k++) {
			bp_target = t;
			bp_insn = &kinds[k];
			if (patch_one(t->site, &kinds[k]))
				break;
		}
	}
	patch_step_hook = NULL;
	hits = all_trap_hits() - hits;
	diag("%u site runs inside the protocol, %llu trapped and emulated, %llu CALLs checked by the callee",
	     bp_runs, (unsigned long long)hits, (unsigned long long)(sf_callee_ok - ok));
	test_check(bp_bad == 0, "%u of %u emulated runs gave the wrong result", bp_bad, bp_runs);
	test_check(hits >= bp_runs, "only %llu of %u runs trapped", (unsigned long long)hits, bp_runs);
	check_clean();
	if (!bp_runs)
		return test_error("no site ran while trapped: the scenario did not happen");
	test_pass();
}

static struct patch_site many[SF_MANY];
static struct patch_batch many_batch;

/* Patches k of the many sites, chosen and ordered at random, into CALLs;
 * then (to_call false) the same k back into NOPs. */
static int patch_many(unsigned k, bool to_call, struct rng *r)
{
	static u16 order[SF_MANY];
	const char *why;

	for (unsigned i = 0; i < SF_MANY && to_call; i++)
		order[i] = i;
	for (unsigned i = SF_MANY - 1; i > 0 && to_call; i--) {
		unsigned j = rng_range(r, 0, i);
		u16 t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < k; i++) {
		u8 *site = sf_many_sites + 5 * order[i];
		struct insn in;

		if (to_call)
			insn_call(&in, (u64)(uintptr_t)sf_count);
		else
			insn_nop(&in, 5);
		if (patch_site_init(&many[i], site, &in))
			return test_fail("cannot encode site %u", order[i]), -1;
	}
	why = patch_batch_prepare(&many_batch, many, k);
	if (why)
		return test_fail("batch of %u refused: %s", k, why), -1;
	return patch_apply(&many_batch);
}

static u64 many_hits_at_step;
static unsigned many_expect;

static void run_many_at_step(enum patch_step s)
{
	if (s != STEP_HEAD)
		return;
	sf_count_hits = 0;
	sf_many(0, 0);
	many_hits_at_step = sf_count_hits;
}

DEFINE_TEST(poke, selftest_batch, 1, 0,
	    "batches of 1 to the maximum, added out of order, found by the trap handler")
{
	static const unsigned sizes[] = { 1, 2, 3, 16, 255, 256, SF_MANY };
	bool traps = strcmp(proto->name, "stop-machine") && strcmp(proto->name, "unsafe-direct") &&
		     strcmp(proto->name, "unsafe-bytewise");
	struct rng r;

	rng_seed(&r, opts_seed(), 0xba7c);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned k = sizes[i];
		u64 t0 = timestamp();

		many_hits_at_step = ~0ull;
		many_expect = k;
		patch_step_hook = traps ? run_many_at_step : NULL;
		if (patch_many(k, true, &r))
			break;
		patch_step_hook = NULL;
		sf_count_hits = 0;
		sf_many(0, 0);
		test_check(sf_count_hits == k, "%u sites patched to CALL, %llu calls ran", k,
			   (unsigned long long)sf_count_hits);
		if (traps)
			test_check(many_hits_at_step == k,
				   "with the trap bytes in, %llu of %u sites were emulated as CALL",
				   (unsigned long long)many_hits_at_step, k);
		diag("batch of %4u sites: %llu us", k,
		     (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
		if (patch_many(k, false, &r))	/* back to NOP5 */
			break;
		sf_count_hits = 0;
		sf_many(0, 0);
		test_check(sf_count_hits == 0, "after restoring, %llu calls still ran",
			   (unsigned long long)sf_count_hits);
	}
	patch_step_hook = NULL;
	test_pass();
}

static u64 checksum_patchable(void)
{
	extern char __patchable_start[], __patchable_end[];
	u64 h = 1469598103934665603ull;	/* FNV-1a */

	for (const u8 *p = (u8 *)__patchable_start; p < (u8 *)__patchable_end; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static void expect_refused(const char *what, struct patch_site *s, unsigned n)
{
	static struct patch_batch b;
	const char *why = patch_batch_prepare(&b, s, n);

	if (test_check(why != NULL, "%s: accepted", what))
		diag("%s: refused: %s", what, why);
}

DEFINE_TEST(poke, selftest_reject, 1, 0,
	    "bad batches are refused before anything is written")
{
	struct patch_site s[2];
	struct insn in;
	u64 before = checksum_patchable();

	insn_jmp(&in, 5, (u64)(uintptr_t)sf_site5_target);
	patch_site_init(&s[0], sf_site5_site, &in);
	s[0].old[0] ^= 0xff;
	expect_refused("site not holding the expected old bytes", s, 1);

	insn_nop(&in, 5);
	patch_site_init(&s[0], (u8 *)(uintptr_t)test_pass, &in);
	expect_refused("site outside patchable text", s, 1);

	patch_site_init(&s[0], sf_many_sites, &in);
	patch_site_init(&s[1], sf_many_sites + 3, &in);
	expect_refused("overlapping sites", s, 2);

	expect_refused("empty batch", s, 0);
	test_check(checksum_patchable() == before, "patchable text changed by refused batches");
	test_pass();
}

/* Spinners for selftest_smp: run sf_site5 until told to stop. */
static u32 spin_stop;
static u64 spin_passes[MAX_CPUS], spin_fell[MAX_CPUS], spin_jumped[MAX_CPUS], spin_odd[MAX_CPUS];

static void spin_site5(void *arg)
{
	int id = this_cpu()->id;

	this_cpu()->doing = "spinning through sf_site5 (poke.selftest_smp)";
	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
		u32 r = sf_site5(0, 0);

		spin_passes[id]++;
		if (r == 1)
			spin_fell[id]++;
		else if (r == 2)
			spin_jumped[id]++;
		else
			spin_odd[id]++;
		cpu_relax();
	}
	this_cpu()->doing = NULL;
}

static void toggle(unsigned n)
{
	struct insn jmp, nop;

	insn_jmp(&jmp, 5, (u64)(uintptr_t)sf_site5_target);
	insn_nop(&nop, 5);
	for (unsigned i = 0; i < n; i++) {
		if (patch_one(sf_site5_site, i % 2 ? &nop : &jmp))
			return;
		test_check(sf_site5(0, 0) == (i % 2 ? 1u : 2u), "patch %u: this CPU ran the old code", i);
	}
	if (n % 2)
		patch_one(sf_site5_site, &nop);
}

DEFINE_TEST(poke, selftest_smp, 2, 0,
	    "NOP5<->JMP32 toggles with the other CPUs idle, then spinning through the site")
{
	unsigned n = test_iters(200);
	u64 passes = 0, odd = 0, fell = 0, jumped = 0, traps = 0, t0 = timestamp();

	toggle(n);
	diag("idle: %u patches in %llu us", n, (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
	memset(spin_passes, 0, sizeof(spin_passes));
	memset(spin_fell, 0, sizeof(spin_fell));
	memset(spin_jumped, 0, sizeof(spin_jumped));
	memset(spin_odd, 0, sizeof(spin_odd));
	for (unsigned i = 0; i < cpus_possible; i++)
		traps -= patch_trap_hits(i);
	__atomic_store_n(&spin_stop, 0, __ATOMIC_RELEASE);
	smp_call_others(spin_site5, NULL, 0);
	t0 = timestamp();
	toggle(n);
	diag("spinning: %u patches in %llu us", n, (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
	__atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++)
		if (cpu_is_online(i))
			smp_wait_idle(i);
	for (unsigned i = 0; i < cpus_possible; i++) {
		passes += spin_passes[i];
		fell += spin_fell[i];
		jumped += spin_jumped[i];
		odd += spin_odd[i];
		traps += patch_trap_hits(i);
	}
	diag("spinners: %llu passes, %llu fell through, %llu jumped, %llu trapped and emulated",
	     (unsigned long long)passes, (unsigned long long)fell, (unsigned long long)jumped,
	     (unsigned long long)traps);
	test_check(odd == 0, "%llu spinner passes returned neither old nor new", (unsigned long long)odd);
	check_clean();
	if (!passes)
		return test_error("the spinners never ran");
	test_pass();
}
