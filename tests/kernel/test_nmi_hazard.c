/*
 * poke.nmi_sync_wait, poke.nmi_waiters: the NMI hazards of a sync wait
 * (nmi_hazard.c, docs/design.md §8.5), under the protocol= of the run.
 * Each prints what happened and requires it to have happened.
 */
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "tests/kernel/nmi_hazard.h"

static struct torture t;
static struct torture_result r;
static struct nmi_hazard_result h;

static bool run(const char *name, unsigned flags)
{
	static const enum site_role roles[] = { SITE_BRANCH, SITE_CALL_ALIGNED };

	if ((flags & T_NEEDS_TRAPS) && !proto_leaves_trap_bytes()) {
		test_skip("%s leaves no trap byte: no NMI on the patcher can meet one", proto->name);
		return false;
	}
	t = (struct torture){ .name = name, .flags = flags, .ms = test_time_share_ms(),
			      .iters = test_iters(100) };
	torture_add_sites(&t, roles, 2);
	torture_describe(&t);
	torture_run(&t, &r);
	nmi_hazard_collect(&h);
	torture_check(&t, &r);
	test_check(!r.nmis_unsent, "%llu NMIs handled beyond those sent to their CPU",
		   (unsigned long long)r.nmis_unsent);
	diag("%s: NMIs %llu sent / %llu handled, from inside %llu sync waits of the patcher "
	     "(%llu steps moved on by other CPUs while it waited)", name,
	     (unsigned long long)r.nmis_sent, (unsigned long long)r.nmis_handled,
	     (unsigned long long)h.waits_hooked, (unsigned long long)h.steps_elsewhere);
	if (!h.waits_hooked)
		test_error("the patcher never waited for a sync");
	return true;
}

DEFINE_TEST(poke, nmi_sync_wait, 2, TEST_TIMED,
	    "an NMI to the patcher while it waits inside each sync; its handler runs the sites "
	    "and meets the trap byte")
{
	u64 traps;

	if (!run("poke.nmi_sync_wait", T_NMI_SYNC_WAIT | T_NEEDS_TRAPS))
		return;
	traps = h.patcher_traps[PATCHER_TRAP_NMI_IN_WAIT];
	diag("poke.nmi_sync_wait: %llu NMIs landed on the patcher (CPU %d) inside a sync wait; "
	     "%llu traps on the patcher inside an NMI during a sync wait (%llu in a wait outside "
	     "any NMI, %llu elsewhere)", (unsigned long long)h.patcher_nmis_in_wait,
	     h.patcher, (unsigned long long)traps,
	     (unsigned long long)h.patcher_traps[PATCHER_TRAP_IN_WAIT],
	     (unsigned long long)h.patcher_traps[PATCHER_TRAP_OTHER]);
	if (!traps)
		return test_error("no trap on the patcher inside an NMI during a sync wait: the "
				  "scenario did not happen");
	test_pass();
}

DEFINE_TEST(poke, nmi_waiters, 2, TEST_TIMED,
	    "NMI handlers on the other CPUs wait until the patcher's sync wait is over, "
	    "answering syncs from inside")
{
	if (!run("poke.nmi_waiters", T_NMI_WAITERS))
		return;
	diag("poke.nmi_waiters: %llu NMI handlers waited behind the patcher's sync (%llu did not: "
	     "they interrupted a handler or came after it); %llu syncs answered from inside them, "
	     "by %llu of the waits; longest wait %llu us", (unsigned long long)h.nmi_waits,
	     (unsigned long long)h.nmi_no_wait, (unsigned long long)h.acks_in_wait,
	     (unsigned long long)h.waits_answered, (unsigned long long)h.longest_wait_us);
	if (!h.nmi_waits)
		return test_error("no NMI handler waited behind the patcher's sync");
	if (!h.acks_in_wait)
		return test_error("no sync was answered from inside a waiting NMI handler");
	test_pass();
}
