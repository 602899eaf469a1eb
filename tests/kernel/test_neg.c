/*
 * neg.*: every unsafe protocol under the scenario meant to catch it. A
 * control passes only when its bug was detected, and says by which
 * detector; together they show that the suite can see bugs. Each runs
 * with its own protocol whatever protocol= says, then puts it back.
 * Controls that need a scenario of their own are defined beside it, each
 * naming its required detector the same way: neg.edge_* (test_edge.c),
 * neg.lock_* (test_hotplug_lock.c), neg.preempt_ipi_only (test_preempt.c).
 */
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/watchdog.h"
#include "tests/kernel/nmi_hazard.h"
#include "tests/kernel/table.h"
#include "tests/kernel/torture.h"

/*
 * The controls, one row each:
 *	C(name, protocol, injectors, required detector, purpose, the sites' roles...)
 * expanded, like poke.*'s scenarios, into the tests' rows in .tests
 * (table.h) and into what each of them runs. A control passes only when
 * its required detector fired (the others that fired are reported too):
 * the detector that must see this defect, so that a crash elsewhere or
 * another rule cannot stand in for it (docs/design.md §7).
 * The call controls flip call sites at both stack alignments: at one of
 * them the CPU's own alignment of the trap frame may absorb a push
 * emulated with no gap (x86: SDM vol. 3A 6.14.2).
 */
#define BRANCH SITE_BRANCH
#define CALLS SITE_CALL, SITE_CALL_ALIGNED
#define NOFIX "unsafe-cpumask-nofix"
#define EXC DET_EXCEPTION
#define OUT DET_OUTCOME
#define INV DET_INVARIANT
#define WDOG DET_WATCHDOG
#define CONTROLS(C)                                                                             \
	C(direct, "unsafe-direct", 0, INV,                                                      \
	  "unsafe-direct (whole instruction in one write) is caught", BRANCH)                   \
	C(bytewise, "unsafe-bytewise", 0, EXC,                                                  \
	  "unsafe-bytewise (a byte at a time) is caught", BRANCH)                               \
	C(nosync1, "unsafe-nosync1", 0, INV,                                                    \
	  "unsafe-nosync1 (no sync after the trap byte) is caught", BRANCH)                     \
	C(nosync3, "unsafe-nosync3", 0, INV,                                                    \
	  "unsafe-nosync3 (no sync after the new first byte) is caught", BRANCH)                \
	C(tail_first, "unsafe-tail-first", 0, EXC,                                              \
	  "unsafe-tail-first (tail before the trap byte) is caught", BRANCH)                    \
	C(early_retire, "unsafe-early-retire", T_DELAYED_HANDLER, INV,                          \
	  "unsafe-early-retire (descriptors retired without waiting for handlers) is caught "   \
	  "with held-up handlers", BRANCH)                                                      \
	C(early_retire_late, "unsafe-early-retire", T_HANDLER_LATE, INV,                        \
	  "unsafe-early-retire is caught with handlers held up only after using the "          \
	  "descriptor, before dropping their reference", BRANCH)                                \
	C(call_as_jmp, "unsafe-call-as-jmp", 0, EXC,                                            \
	  "unsafe-call-as-jmp (a call emulated as a plain branch) is caught", CALLS)            \
	C(no_gap, "unsafe-no-gap", 0, EXC,                                                      \
	  "unsafe-no-gap (a call's push emulated with no gap at the trap entry) is caught", CALLS) \
	C(spin_handler, "unsafe-spin-handler", T_NMI_PATCHER | T_ON_AP, WDOG,                   \
	  "unsafe-spin-handler deadlocks when an NMI on the patcher hits the site; the "        \
	  "watchdog sees it", BRANCH)                                                           \
	C(ack_count, "unsafe-ack-count", T_IPI_STORM, INV,                                      \
	  "unsafe-ack-count (counting IPIs, not generations) is caught under an IPI storm", BRANCH) \
	C(pipe_notail, "unsafe-pipe-notail", 0, INV,                                            \
	  "unsafe-pipe-notail (int3-pipe without the sync after the tails) is caught", BRANCH) \
	C(cpumask_nofix_nmi, NOFIX, T_NMI_SYNC_WAIT | T_ON_AP | T_NO_SPINNERS, WDOG,            \
	  "hpa's cpumask sync without Andy's fix deadlocks when an NMI on the patcher, inside " \
	  "its sync wait, hits the site; the watchdog sees it", BRANCH)                         \
	C(cpumask_nofix_wait, NOFIX, T_SITE_IN_WAIT | T_ON_AP | T_NO_SPINNERS, WDOG,            \
	  "the same deadlock without an NMI: the patcher's own sync wait runs the site, "       \
	  "interrupts off; the watchdog sees it", BRANCH)                                       \
	C(nmi_wait_nopoll, "int3", T_NMI_WAITERS | T_NMI_WAIT_NOPOLL, WDOG,                     \
	  "NMI handlers that wait behind the patcher's sync without answering syncs stall it; " \
	  "the watchdog sees it", BRANCH) \
	C(wide_write, "unsafe-wide-write", T_COWRITER, OUT,                                     \
	  "unsafe-wide-write (a trap byte written as a read-modify-write of its word) is "     \
	  "caught by the packed neighbour's outcome", SITE_PACK_A, SITE_PACK_B)

struct control {
	const char *protocol;
	unsigned flags;
	enum detector required;
	enum site_role roles[TSITES_MAX];
};

static void control_test(void);

#define CONTROL_TEST(nm, protocol, fl, req, purpose, ...) \
	TEST_ROW(neg, nm, 2, 0, purpose, control_test),
#define CONTROL_DATA(nm, protocol, fl, req, purpose, ...) { protocol, fl, req, { __VA_ARGS__ } },

DEFINE_TEST_TABLE(control_tests) = { CONTROLS(CONTROL_TEST) };
static const struct control controls[] = { CONTROLS(CONTROL_DATA) };

static struct torture t;
static struct torture_result r;

/* "exception 2, wrong outcome 1": the detectors that fired, and how often. */
static u64 detected(char *line, size_t size)
{
	u64 total = 0;
	int n = 0;

	line[0] = '\0';
	for (int d = 0; d < DET_COUNT; d++) {
		u64 k = test_detections(d);

		total += k;
		if (k)
			n += ksnprintf(line + n, size - n, "%s%s %llu", n ? ", " : "",
				       detector_name(d), (unsigned long long)k);
	}
	return total;
}

static void control(const char *name, const struct control *c)
{
	const struct patch_proto *saved = proto;
	const struct patch_proto *p = patch_proto_find(c->protocol);
	char line[160];
	u64 total;

	if (!p)
		return test_error("no protocol %s", c->protocol);
	/* Three catches are as good as 300: the report shows the first three
	 * (neg.early_retire_late holds a handler until each retirement, some
	 * 30 ms a patch under single-threaded TCG). */
	t = (struct torture){ .name = name, .flags = c->flags, .iters = test_iters(300),
			      .stop_caught = 3, .stop_det = c->required };
	torture_add_sites(&t, c->roles, TSITES_MAX);
	patch_use_protocol(p);
	if (c->flags & T_ON_AP)
		watchdog_expect_stall(1);
	test_expect_detection(true);
	torture_run(&t, &r);
	test_expect_detection(false);
	patch_use_protocol(saved);
	/* Whatever the bug left behind is undone by torture_run; the stack
	 * checks it keeps are part of what was detected, not a failure. */
	sf_canary_bad = sf_callee_bad = 0;
	total = detected(line, sizeof(line));
	diag("%s under %s: %llu patches before it stopped, %llu spinner passes, %llu traps",
	     name, c->protocol, (unsigned long long)r.patches, (unsigned long long)r.passes,
	     (unsigned long long)r.traps);
	if (total)
		diag("%s caught by: %s", c->protocol, line);
	if (!test_detections(c->required))
		return test_fail("the bug of %s went unseen by the %s, the detector it requires, "
				 "in %llu patches%s%s", c->protocol, detector_name(c->required),
				 (unsigned long long)r.patches, total ? "; others fired: " : "",
				 line);
	if (!nmi_hazard_control_cause(name, c->flags))
		return;
	diag("%s: required detector: the %s", name, detector_name(c->required));
	test_pass();
}

static void control_test(void)
{
	unsigned i = test_row(control_tests, ARRAY_SIZE(control_tests));

	if (i == ARRAY_SIZE(control_tests))
		return test_error("not a control of this table");
	control(control_tests[i].name, &controls[i]);
}

DEFINE_TEST(neg, trap_stray, 2, 0,
	    "unsafe-stray-trap (a trap byte back in a site with no patch live) is caught by the trap handler")
{
	static const struct control c = { "unsafe-stray-trap", 0, DET_INVARIANT, { SITE_BRANCH } };
	u64 n;

	control("neg.trap_stray", &c);
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
	static const enum site_role roles[] = { SITE_BRANCH };
	u64 n, stuck0 = patch_stats_stale_unresolved(), stuck;

	t = (struct torture){ .name = "neg.trap_stale", .iters = test_iters(300) };
	torture_add_sites(&t, roles, ARRAY_SIZE(roles));
	/* The first protocol, the default: one site per sync, with traps. */
	patch_use_protocol(patch_protocols[0]);
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
	/* A stale copy that outlives the re-execution must be resumed past,
	 * not re-run for as long as it lives. */
	stuck = patch_stats_stale_unresolved() - stuck0;
	if (stuck)
		return test_fail("%llu simulated stale traps were re-executed again instead of "
				 "resumed past the site: a lasting stale copy would be re-run forever",
				 (unsigned long long)stuck);
	test_pass();
}
