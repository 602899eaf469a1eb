/* poke.*: the torture scenarios, each under the protocol= of the run. */
#include "kernel/options.h"
#include "kernel/printk.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "tests/kernel/table.h"
#include "tests/kernel/torture.h"

/*
 * The scenarios, one row each:
 *	S(name, fewest CPUs, injectors, purpose, the sites' roles...)
 * The roles are the architecture's sites (sitekit.h); the injectors are
 * torture.h's T_* flags. The table is expanded twice: into the tests'
 * rows in .tests (table.h), and into what each of them runs.
 */
#define BRANCH_AND_CALL SITE_BRANCH, SITE_CALL_ALIGNED
#define TRAPS T_NEEDS_TRAPS
#define SCENARIOS(S)                                                                            \
	S(jmp_flip, 2, 0, "a branch site flipped while the other CPUs run it", SITE_BRANCH)     \
	S(call_flip, 2, TRAPS,                                                                  \
	  "a call site flipped at both stack alignments; the callee's return address and a "    \
	  "canary checked", SITE_CALL, SITE_CALL_ALIGNED)                                       \
	S(call_retarget, 2, 0,                                                                  \
	  "a call site moved from one callee to another and back while it runs",                \
	  SITE_CALL_RETARGET)                                                                   \
	S(jcc, 2, TRAPS,                                                                        \
	  "conditional branch sites, long and short, taken and not, flipped while they run",    \
	  SITE_COND, SITE_COND_SHORT, SITE_COND_NOT_TAKEN, SITE_COND_SHORT_NOT_TAKEN)           \
	S(ret, 2, TRAPS, "a return site flipped while it runs; the stack it pops checked",      \
	  SITE_RETURN)                                                                          \
	S(batch, 2, 0, "eight sites of every kind per patch, listed out of address order",      \
	  SITE_RETURN, SITE_PAGE, SITE_COND_SHORT, SITE_LINE, SITE_CALL, SITE_COND,             \
	  SITE_BRANCH, SITE_CALL_ALIGNED)                                                       \
	S(straddle, 2, 0, "sites across a cache line and across a page", SITE_LINE, SITE_PAGE)  \
	S(nmi_spinners, 2, T_NMI_SPINNERS,                                                      \
	  "NMIs to the spinners in every step; the NMI handler runs the sites", BRANCH_AND_CALL) \
	S(nmi_patcher, 2, T_NMI_PATCHER,                                                        \
	  "NMIs to the patching CPU in every step, its handler running the sites",              \
	  BRANCH_AND_CALL)                                                                      \
	S(nmi_nested, 2, T_NMI_NESTED | TRAPS,                                                  \
	  "NMI bursts while traps are taken inside NMI handlers, so that a trap's return lets " \
	  "NMIs nest", BRANCH_AND_CALL)                                                         \
	S(ipi_storm, 2, T_IPI_STORM, "fixed-vector IPI storms to the spinners in every step",   \
	  BRANCH_AND_CALL)                                                                      \
	S(irqoff_spinners, 2, T_IRQOFF, "spinners keep interrupts off for long stretches",      \
	  BRANCH_AND_CALL)                                                                      \
	S(delayed_handler, 2, T_DELAYED_HANDLER | TRAPS,                                        \
	  "trap handlers held up (200 us) between finding and using the descriptor",            \
	  BRANCH_AND_CALL)                                                                      \
	S(hotplug, 3, T_HOTPLUG,                                                                \
	  "a CPU goes offline and comes back mid-patch, running the sites before it is online", \
	  BRANCH_AND_CALL)                                                                      \
	S(two_patchers, 3, T_TWO_PATCHERS, "a second CPU patches other sites at the same time", \
	  BRANCH_AND_CALL)                                                                      \
	S(neighbours, 2, T_COWRITER,                                                            \
	  "two sites packed into one word, written by two CPUs at the same moment",             \
	  SITE_PACK_A, SITE_PACK_B)

/* Every step of a hotplug scenario takes a CPU down or brings it back, and
 * each start-up waits 10 ms after INIT (MP spec B.4.1): 60 patches are 300
 * cycles, about 3 s, where the default 300 took 15. */
#define HOTPLUG_ITERS 60

struct scenario {
	unsigned flags;
	enum site_role roles[TSITES_MAX];
};

static void scenario_test(void);

#define SCENARIO_TEST(nm, cpus, fl, purpose, ...) \
	TEST_ROW(poke, nm, cpus, TEST_TIMED, purpose, scenario_test),
#define SCENARIO_DATA(nm, cpus, fl, purpose, ...) { fl, { __VA_ARGS__ } },

DEFINE_TEST_TABLE(scenario_tests) = { SCENARIOS(SCENARIO_TEST) };
static const struct scenario scenarios[] = { SCENARIOS(SCENARIO_DATA) };

static struct torture t;
static struct torture_result r;

static void scenario_test(void)
{
	unsigned i = test_row(scenario_tests, ARRAY_SIZE(scenario_tests));

	if (i == ARRAY_SIZE(scenario_tests))
		return test_error("not a scenario of this table");
	if ((scenarios[i].flags & T_NEEDS_TRAPS) && !proto_leaves_trap_bytes())
		return test_skip("%s leaves no trap byte: the trap handler this scenario is about "
				 "never runs", proto->name);
	if ((scenarios[i].flags & T_COWRITER) && !proto->batching)
		return test_skip("%s writes one site per sequence: no step has two writes to "
				 "split between two writers", proto->name);
	t = (struct torture){ .name = scenario_tests[i].name, .flags = scenarios[i].flags,
			      .iters = scenarios[i].flags & T_HOTPLUG ? test_iters(HOTPLUG_ITERS) : 0,
			      .ms = test_time_share_ms() };
	torture_add_sites(&t, scenarios[i].roles, TSITES_MAX);
	torture_describe(&t);
	torture_run(&t, &r);
	torture_check(&t, &r);
	test_pass();
	t = (struct torture){ 0 };
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
		enum site_role roles[3] = { 0 };
		unsigned flags = 0, n = 0;

		for (unsigned i = 0; i < ARRAY_SIZE(injectors); i++)
			if (rng_range(&rng, 0, 2) == 0)
				flags |= injectors[i];
		if (cpus_online() < 3)
			flags &= ~(T_HOTPLUG | T_TWO_PATCHERS);
		t = (struct torture){ .name = "poke.mix", .flags = flags,
				      .iters = test_iters(flags & T_HOTPLUG ? HOTPLUG_ITERS : 300) / 3 + 1,
				      .ms = test_time_share_ms() / 6, .share = 6 - round };
		if (rng_range(&rng, 0, 1))
			roles[n++] = SITE_LINE;
		if (rng_range(&rng, 0, 1))
			roles[n++] = SITE_CALL;
		roles[n++] = SITE_COND;
		torture_add_sites(&t, roles, n);
		diag("mix round %u: injectors %#x, %u sites", round, flags, t.n);
		torture_run(&t, &r);
		torture_check(&t, &r);
	}
	t = (struct torture){ 0 };
	test_pass();
}
