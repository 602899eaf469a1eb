/*
 * neg.*: every unsafe protocol under the scenario meant to catch it. A
 * control passes only when its bug was detected, and says by which
 * detector; together they show that the suite can see bugs. Each runs
 * with its own protocol whatever protocol= says, then puts it back.
 */
#include "arch/x86_64/tests/torture.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/watchdog.h"

static struct torture t;
static struct torture_result r;

static void control(const char *protocol, const char *name, unsigned flags, bool call)
{
	const struct patch_proto *saved = proto;
	const struct patch_proto *p = patch_proto_find(protocol);
	u64 total = 0;
	char line[160];
	int n = 0;

	if (!p)
		return test_error("no protocol %s", protocol);
	t = (struct torture){ .name = name, .flags = flags, .iters = test_iters(300) };
	if (call) {
		/* Both stack alignments: at one of them the CPU's alignment
		 * padding absorbs a push with no gap (SDM 6.14.2). */
		tsite_call(&t.sites[t.n++], sf_flip_b, sf_flip_b_site);
		tsite_call(&t.sites[t.n++], sf_site5_odd, sf_site5_odd_site);
	}
	else
		tsite_jmp(&t.sites[t.n++], sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	patch_use_protocol(p);
	if (flags & T_ON_AP)
		watchdog_expect_stall(1);
	test_expect_detection(true);
	torture_run(&t, &r);
	test_expect_detection(false);
	patch_use_protocol(saved);
	/* Whatever the bug left behind is undone by torture_run; the stack
	 * checks it keeps are part of what was detected, not a failure. */
	sf_canary_bad = sf_callee_bad = 0;
	for (int d = 0; d < DET_COUNT; d++) {
		u64 k = test_detections(d);

		total += k;
		if (k)
			n += ksnprintf(line + n, sizeof(line) - n, "%s%s %llu", n ? ", " : "",
				       detector_name(d), (unsigned long long)k);
	}
	diag("%s under %s: %llu patches before it stopped, %llu spinner passes, %llu traps",
	     name, protocol, (unsigned long long)r.patches, (unsigned long long)r.passes,
	     (unsigned long long)r.traps);
	if (!total)
		return test_fail("the bug of %s went unseen in %llu patches", protocol,
				 (unsigned long long)r.patches);
	diag("%s caught by: %s", protocol, line);
	test_pass();
}

DEFINE_TEST(neg, direct, 2, 0, "unsafe-direct (whole instruction in one write) is caught")
{
	control("unsafe-direct", "neg.direct", 0, false);
}

DEFINE_TEST(neg, bytewise, 2, 0, "unsafe-bytewise (a byte at a time) is caught")
{
	control("unsafe-bytewise", "neg.bytewise", 0, false);
}

DEFINE_TEST(neg, nosync1, 2, 0, "unsafe-nosync1 (no sync after the int3) is caught")
{
	control("unsafe-nosync1", "neg.nosync1", 0, false);
}

DEFINE_TEST(neg, tail_first, 2, 0, "unsafe-tail-first (tail before the int3) is caught")
{
	control("unsafe-tail-first", "neg.tail_first", 0, false);
}

DEFINE_TEST(neg, early_retire, 2, 0,
	    "unsafe-early-retire (no third sync, no wait for handlers) is caught with held-up handlers")
{
	control("unsafe-early-retire", "neg.early_retire", T_DELAYED_HANDLER, false);
}

DEFINE_TEST(neg, call_as_jmp, 2, 0, "unsafe-call-as-jmp (CALL emulated without the push) is caught")
{
	control("unsafe-call-as-jmp", "neg.call_as_jmp", 0, true);
}

DEFINE_TEST(neg, no_gap, 2, 0, "unsafe-no-gap (CALL push with no #BP entry gap) is caught")
{
	control("unsafe-no-gap", "neg.no_gap", 0, true);
}

DEFINE_TEST(neg, spin_handler, 2, 0,
	    "unsafe-spin-handler deadlocks when an NMI on the patcher hits the site (seed 000); the watchdog sees it")
{
	control("unsafe-spin-handler", "neg.spin_handler", T_NMI_PATCHER | T_ON_AP, false);
}

DEFINE_TEST(neg, ack_count, 2, 0, "unsafe-ack-count (counting IPIs, not generations) is caught under an IPI storm")
{
	control("unsafe-ack-count", "neg.ack_count", T_IPI_STORM, false);
}

DEFINE_TEST(neg, trap_stray, 2, 0,
	    "unsafe-stray-trap (a trap byte back in a site with no patch live) is caught by the trap handler")
{
	u64 n;

	control("unsafe-stray-trap", "neg.trap_stray", 0, false);
	/* engine_finish sees the site clean: the catch must be the trap
	 * handler's classification, nobody else's. */
	n = patch_stats_engine();
	patch_stats_discard();
	diag("neg.trap_stray: %llu traps at a stray trap byte classified as an engine bug "
	     "(taken out of the run's totals)", (unsigned long long)n);
	if (!n)
		test_fail("the trap handler never classified the stray trap byte as an engine bug");
}

DEFINE_TEST(neg, trap_stale, 2, 0,
	    "a trap byte run after this CPU serialized past its removal (simulated) is a platform defect, named, not a failure")
{
	const struct patch_proto *saved = proto;
	u64 n;

	t = (struct torture){ .name = "neg.trap_stale", .iters = test_iters(300) };
	tsite_jmp(&t.sites[t.n++], sf_flip_a, sf_flip_a_site, sf_flip_a_target);
	patch_use_protocol(patch_proto_find("int3"));
	WRITE_ONCE(patch_simulate_stale, true);
	torture_run(&t, &r);
	WRITE_ONCE(patch_simulate_stale, false);
	patch_use_protocol(saved);
	torture_check(&t, &r);	/* otherwise a clean run: no failure */
	n = patch_stats_platform();
	patch_stats_discard();
	diag("neg.trap_stale: %llu simulated stale executions reported as platform defects "
	     "(taken out of the run's totals)", (unsigned long long)n);
	if (!n)
		return test_fail("no simulated stale execution was reported as a platform defect");
	test_pass();
}
