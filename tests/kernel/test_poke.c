/*
 * poke.selftest_*: the engine, one piece at a time, under whichever
 * protocol= was chosen. Every instruction kind is patched and executed;
 * the trap handler's emulation of every kind is exercised from the step
 * hook (the site really holds the trap byte then); batches of 1 to the
 * maximum are found by binary search; bad batches are refused untouched.
 */
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "tests/kernel/sitekit.h"
#include "tests/kernel/torture.h"

/* The argument pairs every site runs with: a conditional branch there
 * compares them, so they cover equal, below, above, and both signed
 * overflows. */
static const u64 arg_pairs[][2] = {
	{ 5, 5 }, { 1, 2 }, { 2, 1 }, { 0x8000000000000000ull, 1 }, { 0, 0x7fffffffffffffffull },
};

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
	for (unsigned p = 0; p < ARRAY_SIZE(arg_pairs); p++) {
		u64 a = arg_pairs[p][0], b = arg_pairs[p][1];
		u32 got = fn(a, b), want = kit_result(in, a, b);

		test_check(got == want, "%s: %s(%#llx, %#llx) returned %u, expected %u", what,
			   insn_kind_name(in->kind), (unsigned long long)a,
			   (unsigned long long)b, got, want);
	}
	if (kit_calls(in))
		test_check(sf_callee_ok - ok_before == ARRAY_SIZE(arg_pairs),
			   "%s: the callee saw %llu good calls", what,
			   (unsigned long long)(sf_callee_ok - ok_before));
}

static void check_clean(void)
{
	test_check(!sf_canary_bad && !sf_callee_bad,
		   "stack canary broken %llu times, callee saw %llu wrong return addresses (last %#llx)",
		   (unsigned long long)sf_canary_bad, (unsigned long long)sf_callee_bad,
		   (unsigned long long)sf_bad_ret);
}

typedef void (*state_fn)(const struct kit_target *t, const struct insn *in);

/* Patches every state of every self-test target into its site, one patch
 * each, with before() and after() around the patch; stops at a failed
 * patch. Returns the patches made. */
static unsigned patch_every_state(state_fn before, state_fn after)
{
	struct insn states[KIT_STATES_MAX];
	unsigned patches = 0;

	for (unsigned i = 0; i < kit_targets_count; i++) {
		const struct kit_target *t = &kit_targets[i];
		unsigned n = kit_states(t, states);

		for (unsigned k = 0; k < n; k++) {
			if (before)
				before(t, &states[k]);
			if (patch_one(t->addr, &states[k]))
				return patches;
			if (after)
				after(t, &states[k]);
			patches++;
		}
	}
	return patches;
}

static void check_target(const struct kit_target *t, const struct insn *in)
{
	check_run(t->name, t->fn, in, t->addr);
}

/* A return site: into its returning state and back. */
static void check_return_site(void)
{
	struct flip_site s;

	kit_flip_site(&s, SITE_RETURN);
	if (!patch_one(s.addr, &s.state[1]))
		test_check(s.fn(s.a, s.b) == s.result[1], "a return did not return at the site");
	patch_one(s.addr, &s.state[0]);
	test_check(s.fn(s.a, s.b) == s.result[0], "the return site, put back, did not fall through");
}

DEFINE_TEST(poke, selftest_kinds, 1, 0,
	    "each instruction kind patched into a site, then executed (both stack alignments)")
{
	unsigned patches = patch_every_state(NULL, check_target);

	check_return_site();
	check_clean();
	diag("%u patches of %u sites, every result as the CPU computes it", patches + 2,
	     kit_targets_count + 1);
	test_pass();
}

/* Emulation from inside the protocol: at each step boundary where the
 * site holds a trap byte, run the site function on this CPU. */
static const struct kit_target *bp_target;
static const struct insn *bp_insn;
static u32 bp_runs, bp_bad;

static void run_at_step(enum patch_step s)
{
	if (s != STEP_TAIL && s != STEP_HEAD)
		return;
	sf_expect_ret = (u64)(uintptr_t)bp_target->addr + bp_insn->len;
	for (unsigned p = 0; p < ARRAY_SIZE(arg_pairs); p++) {
		u64 a = arg_pairs[p][0], b = arg_pairs[p][1];

		if (bp_target->fn(a, b) != kit_result(bp_insn, a, b))
			bp_bad++;
		bp_runs++;
	}
}

static void arm_run_at_step(const struct kit_target *t, const struct insn *in)
{
	bp_target = t;
	bp_insn = in;
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
	    "trap emulation of every kind at both stack alignments, calls checked by their callee")
{
	u64 hits = all_trap_hits(), ok = sf_callee_ok;

	if (!proto_leaves_trap_bytes())
		return test_skip("protocol %s never leaves a trap byte in a site", proto->name);
	bp_runs = bp_bad = 0;
	patch_step_hook = run_at_step;
	patch_every_state(arm_run_at_step, NULL);
	patch_step_hook = NULL;
	hits = all_trap_hits() - hits;
	diag("%u site runs inside the protocol, %llu trapped and emulated, %llu calls checked by the callee",
	     bp_runs, (unsigned long long)hits, (unsigned long long)(sf_callee_ok - ok));
	test_check(bp_bad == 0, "%u of %u emulated runs gave the wrong result", bp_bad, bp_runs);
	test_check(hits >= bp_runs, "only %llu of %u runs trapped", (unsigned long long)hits, bp_runs);
	check_clean();
	if (!bp_runs)
		return test_error("no site ran while trapped: the scenario did not happen");
	test_pass();
}

static struct patch_site many[SITES_MANY];
static struct patch_batch many_batch;

/* Patches k of the many sites, chosen and ordered at random, into calls;
 * then (calls false) the same k back. */
static int patch_many(unsigned k, bool calls, struct rng *r)
{
	static u16 order[SITES_MANY];
	const char *why;
	struct insn in;

	for (unsigned i = 0; i < SITES_MANY && calls; i++)
		order[i] = i;
	for (unsigned i = SITES_MANY - 1; i > 0 && calls; i--) {
		unsigned j = rng_range(r, 0, i);
		u16 t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	kit_many_state(&in, calls);
	for (unsigned i = 0; i < k; i++)
		if (patch_site_init(&many[i], kit_many_site(order[i]), &in))
			return test_fail("cannot encode site %u", order[i]), -1;
	why = patch_batch_prepare(&many_batch, many, k);
	if (why)
		return test_fail("batch of %u refused: %s", k, why), -1;
	return patch_apply(&many_batch);
}

static u64 many_hits_at_step;

static void run_many_at_step(enum patch_step s)
{
	if (s == STEP_HEAD)
		many_hits_at_step = kit_many_run();
}

DEFINE_TEST(poke, selftest_batch, 1, 0,
	    "batches of 1 to the maximum, added out of order, found by the trap handler")
{
	static const unsigned sizes[] = { 1, 2, 3, 16, 255, 256, SITES_MANY };
	bool traps = proto_leaves_trap_bytes();
	struct rng r;

	rng_seed(&r, opts_seed(), 0xba7c);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned k = sizes[i];
		u64 t0 = timestamp(), calls;

		many_hits_at_step = ~0ull;
		patch_step_hook = traps ? run_many_at_step : NULL;
		if (patch_many(k, true, &r))
			break;
		patch_step_hook = NULL;
		calls = kit_many_run();
		test_check(calls == k, "%u sites patched to call, %llu calls ran", k,
			   (unsigned long long)calls);
		if (traps)
			test_check(many_hits_at_step == k,
				   "with the trap bytes in, %llu of %u sites were emulated as calls",
				   (unsigned long long)many_hits_at_step, k);
		diag("batch of %4u sites: %llu us", k,
		     (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
		if (patch_many(k, false, &r))	/* back to falling through */
			break;
		calls = kit_many_run();
		test_check(calls == 0, "after restoring, %llu calls still ran", (unsigned long long)calls);
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
	struct flip_site f;
	struct insn in;
	u64 before = checksum_patchable();

	kit_flip_site(&f, SITE_BRANCH);
	patch_site_init(&s[0], f.addr, &f.state[1]);
	s[0].old[0] ^= 0xff;
	expect_refused("site not holding the expected old bytes", s, 1);

	patch_site_init(&s[0], (u8 *)(uintptr_t)test_pass, &f.state[0]);
	expect_refused("site outside patchable text", s, 1);

	kit_many_state(&in, false);
	patch_site_init(&s[0], kit_many_site(0), &in);
	patch_site_init(&s[1], kit_many_site(0) + 1, &in);
	expect_refused("overlapping sites", s, 2);

	expect_refused("empty batch", s, 0);
	test_check(checksum_patchable() == before, "patchable text changed by refused batches");
	test_pass();
}

/* Spinners for selftest_smp: run the branch site until told to stop. */
static struct flip_site smp_site;
static u32 spin_stop;
static u64 spin_passes[MAX_CPUS], spin_fell[MAX_CPUS], spin_jumped[MAX_CPUS], spin_odd[MAX_CPUS];
static u64 spin_trapped_wrong[MAX_CPUS];
/* The patch in flight: bumped before each patch of toggle(), which turns
 * the site into state[smp_to]. */
static u64 smp_seq;
static u32 smp_to;

/* A pass that trapped (no NMI runs sites here) during one patch must have
 * run what the handler emulates: that patch's new instruction. */
static void spin_check_trap(const struct flip_site *s, int id, u32 r, u64 h0, u64 q0, u32 to)
{
	if (patch_trap_hits(id) != h0 && __atomic_load_n(&smp_seq, __ATOMIC_ACQUIRE) == q0 &&
	    r != s->result[to])
		spin_trapped_wrong[id]++;
}

static void spin_site(void *arg)
{
	const struct flip_site *s = &smp_site;
	int id = this_cpu()->id;

	this_cpu()->doing = "spinning through a branch site (poke.selftest_smp)";
	while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
		u64 q0 = __atomic_load_n(&smp_seq, __ATOMIC_ACQUIRE), h0 = patch_trap_hits(id);
		u32 to = READ_ONCE(smp_to);
		u32 r = s->fn(s->a, s->b);

		spin_passes[id]++;
		if (r == s->result[0])
			spin_fell[id]++;
		else if (r == s->result[1])
			spin_jumped[id]++;
		else
			spin_odd[id]++;
		spin_check_trap(s, id, r, h0, q0, to);
		cpu_relax();
	}
	this_cpu()->doing = NULL;
}

static int toggle_to(unsigned to)
{
	WRITE_ONCE(smp_to, to);
	__atomic_add_fetch(&smp_seq, 1, __ATOMIC_ACQ_REL);
	return patch_one(smp_site.addr, &smp_site.state[to]);
}

/* n patches of the branch site, alternately into its branching state and
 * back, each checked on this CPU at once; left falling through. */
static void toggle(unsigned n)
{
	const struct flip_site *s = &smp_site;

	for (unsigned i = 0; i < n; i++) {
		unsigned to = (i + 1) % 2;

		if (toggle_to(to))
			return;
		test_check(s->fn(s->a, s->b) == s->result[to], "patch %u: this CPU ran the old code", i);
	}
	if (n % 2)
		toggle_to(0);
}

DEFINE_TEST(poke, selftest_smp, 2, 0,
	    "a branch site toggled with the other CPUs idle, then spinning through it")
{
	unsigned n = test_iters(200);
	u64 passes = 0, odd = 0, fell = 0, jumped = 0, traps = 0, wrong = 0, t0 = timestamp();

	kit_flip_site(&smp_site, SITE_BRANCH);
	toggle(n);
	diag("idle: %u patches in %llu us", n, (unsigned long long)(ticks_to_ns(timestamp() - t0) / 1000));
	memset(spin_passes, 0, sizeof(spin_passes));
	memset(spin_fell, 0, sizeof(spin_fell));
	memset(spin_jumped, 0, sizeof(spin_jumped));
	memset(spin_odd, 0, sizeof(spin_odd));
	memset(spin_trapped_wrong, 0, sizeof(spin_trapped_wrong));
	for (unsigned i = 0; i < cpus_possible; i++)
		traps -= patch_trap_hits(i);
	__atomic_store_n(&spin_stop, 0, __ATOMIC_RELEASE);
	smp_call_others(spin_site, NULL, 0);
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
		wrong += spin_trapped_wrong[i];
		traps += patch_trap_hits(i);
	}
	diag("spinners: %llu passes, %llu fell through, %llu jumped, %llu trapped and emulated",
	     (unsigned long long)passes, (unsigned long long)fell, (unsigned long long)jumped,
	     (unsigned long long)traps);
	test_check(odd == 0, "%llu spinner passes returned neither old nor new", (unsigned long long)odd);
	test_check(wrong == 0, "%llu spinner passes trapped and did not run the new instruction",
		   (unsigned long long)wrong);
	check_clean();
	/* The scenario must have happened: the spinners ran both states, and
	 * under a protocol that leaves trap bytes they met a patch midway. */
	if (!passes)
		return test_error("the spinners never ran");
	if (!fell || !jumped)
		return test_error("the spinners never saw the site %s", fell ? "branch" : "fall through");
	if (proto_leaves_trap_bytes() && !traps)
		return test_error("no spinner pass trapped: none met a patch in progress");
	test_pass();
}
