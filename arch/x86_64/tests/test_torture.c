/* poke.*: the torture scenarios, each under the protocol= of the run. */
#include "arch/x86_64/tests/torture.h"
#include "kernel/options.h"
#include "kernel/printk.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "kernel/test.h"

static struct torture t;
static struct torture_result r;

static void jmp_and_call(void)
{
	tsite_jmp(&t.sites[t.n++], sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	tsite_call(&t.sites[t.n++], sf_site5_odd, sf_site5_odd_site);
}

static void run(const char *name, unsigned flags)
{
	t.name = name;
	t.flags = flags;
	t.ms = test_time_share_ms();
	torture_run(&t, &r);
	torture_check(&t, &r);
	test_pass();
	t = (struct torture){ 0 };
}

DEFINE_TEST(poke, jmp_flip, 2, TEST_TIMED, "NOP5<->JMP32 while the other CPUs run the site")
{
	tsite_jmp(&t.sites[t.n++], sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	run("poke.jmp_flip", 0);
}

DEFINE_TEST(poke, call_flip, 2, TEST_TIMED,
	    "NOP5<->CALL32 at both stack alignments; the callee's return address and a canary checked")
{
	tsite_call(&t.sites[t.n++], sf_flip_b, sf_flip_b_site);
	tsite_call(&t.sites[t.n++], sf_site5_odd, sf_site5_odd_site);
	run("poke.call_flip", 0);
}

DEFINE_TEST(poke, call_retarget, 2, TEST_TIMED, "CALL A -> CALL B -> CALL A while the site runs")
{
	tsite_retarget(&t.sites[t.n++], sf_flip_c, sf_flip_c_site);
	run("poke.call_retarget", 0);
}

DEFINE_TEST(poke, jcc, 2, TEST_TIMED, "NOP<->Jcc rel32 and rel8 (taken) while the sites run")
{
	tsite_jcc(&t.sites[t.n++], sf_jcc_a, sf_jcc_a_site, sf_jcc_a_target, 6, 2);
	tsite_jcc(&t.sites[t.n++], sf_jcc8_a, sf_jcc8_a_site, sf_jcc8_a_target, 2, 2);
	run("poke.jcc", 0);
}

static void tsite_ret(struct tsite *s)
{
	*s = (struct tsite){ .fn = sf_ret5, .site = sf_ret5_site, .result = { 1, 3 } };
	insn_nop(&s->state[0], 5);
	insn_ret(&s->state[1], 5);
}

DEFINE_TEST(poke, ret, 2, TEST_TIMED, "NOP5<->RET with int3 padding while the site runs")
{
	tsite_ret(&t.sites[t.n++]);
	run("poke.ret", 0);
}

DEFINE_TEST(poke, batch, 2, TEST_TIMED, "eight sites of every kind per patch, listed out of address order")
{
	tsite_ret(&t.sites[t.n++]);
	tsite_jmp(&t.sites[t.n++], sf_page, sf_page_site, sf_page_target);
	tsite_jcc(&t.sites[t.n++], sf_jcc8_a, sf_jcc8_a_site, sf_jcc8_a_target, 2, 2);
	tsite_jmp(&t.sites[t.n++], sf_line, sf_line_site, sf_line_target);
	tsite_call(&t.sites[t.n++], sf_flip_b, sf_flip_b_site);
	tsite_jcc(&t.sites[t.n++], sf_jcc_a, sf_jcc_a_site, sf_jcc_a_target, 6, 2);
	tsite_jmp(&t.sites[t.n++], sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	tsite_call(&t.sites[t.n++], sf_site5_odd, sf_site5_odd_site);
	run("poke.batch", 0);
}

DEFINE_TEST(poke, straddle, 2, TEST_TIMED, "sites across a 64-byte line and across a 4 KiB page")
{
	tsite_jmp(&t.sites[t.n++], sf_line, sf_line_site, sf_line_target);
	tsite_jmp(&t.sites[t.n++], sf_page, sf_page_site, sf_page_target);
	run("poke.straddle", 0);
}

DEFINE_TEST(poke, nmi_spinners, 2, TEST_TIMED, "NMIs to the spinners in every step; the NMI handler runs the sites")
{
	jmp_and_call();
	run("poke.nmi_spinners", T_NMI_SPINNERS);
}

DEFINE_TEST(poke, nmi_patcher, 2, TEST_TIMED,
	    "NMIs to the patching CPU in every step, its handler running the sites (seed 000)")
{
	jmp_and_call();
	run("poke.nmi_patcher", T_NMI_PATCHER);
}

DEFINE_TEST(poke, nmi_nested, 2, TEST_TIMED,
	    "NMI bursts while #BP is taken inside NMI handlers, so the #BP's IRET lets NMIs nest")
{
	jmp_and_call();
	run("poke.nmi_nested", T_NMI_NESTED);
}

DEFINE_TEST(poke, ipi_storm, 2, TEST_TIMED, "fixed-vector IPI storms to the spinners in every step")
{
	jmp_and_call();
	run("poke.ipi_storm", T_IPI_STORM);
}

DEFINE_TEST(poke, irqoff_spinners, 2, TEST_TIMED, "spinners keep interrupts off for long stretches")
{
	jmp_and_call();
	run("poke.irqoff_spinners", T_IRQOFF);
}

DEFINE_TEST(poke, delayed_handler, 2, TEST_TIMED,
	    "trap handlers held up (200 us) between finding and using the descriptor")
{
	jmp_and_call();
	run("poke.delayed_handler", T_DELAYED_HANDLER);
}

DEFINE_TEST(poke, hotplug, 3, TEST_TIMED,
	    "a CPU goes offline and comes back mid-patch, running the sites before it is online")
{
	jmp_and_call();
	run("poke.hotplug", T_HOTPLUG);
}

DEFINE_TEST(poke, two_patchers, 3, TEST_TIMED, "a second CPU patches other sites at the same time")
{
	jmp_and_call();
	run("poke.two_patchers", T_TWO_PATCHERS);
}

DEFINE_TEST(poke, mix, 2, TEST_TIMED, "a seeded random mix of sites and injectors, several rounds")
{
	static const unsigned injectors[] = {
		T_NMI_SPINNERS, T_NMI_PATCHER, T_NMI_NESTED, T_IPI_STORM, T_IRQOFF,
		T_DELAYED_HANDLER, T_HOTPLUG, T_TWO_PATCHERS,
	};
	struct rng rng;

	rng_seed(&rng, opts_seed(), 0x31c);
	for (unsigned round = 0; round < 6; round++) {
		unsigned flags = 0;

		for (unsigned i = 0; i < ARRAY_SIZE(injectors); i++)
			if (rng_range(&rng, 0, 2) == 0)
				flags |= injectors[i];
		if (cpus_online() < 3)
			flags &= ~(T_HOTPLUG | T_TWO_PATCHERS);
		t = (struct torture){ .name = "poke.mix", .flags = flags,
				      .iters = test_iters(300) / 3 + 1,
				      .ms = test_time_share_ms() / 6, .share = 6 - round };
		if (rng_range(&rng, 0, 1))
			tsite_jmp(&t.sites[t.n++], sf_line, sf_line_site, sf_line_target);
		if (rng_range(&rng, 0, 1))
			tsite_call(&t.sites[t.n++], sf_flip_b, sf_flip_b_site);
		tsite_jcc(&t.sites[t.n++], sf_jcc_a, sf_jcc_a_site, sf_jcc_a_target, 6, 2);
		diag("mix round %u: injectors %#x, %u sites", round, flags, t.n);
		torture_run(&t, &r);
		torture_check(&t, &r);
	}
	t = (struct torture){ 0 };
	test_pass();
}
