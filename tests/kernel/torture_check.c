/*
 * The torture harness's reports and checks (see torture.h): what a run
 * flips, whether its scenario really happened, and whether anything went
 * wrong.
 */
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "tests/kernel/torture.h"

void torture_add_sites(struct torture *t, const enum site_role *roles, unsigned n)
{
	for (unsigned i = 0; i < n && roles[i] != SITE_NONE && t->n < TSITES_MAX; i++)
		kit_flip_site(&t->sites[t->n++], roles[i]);
}

void torture_describe(const struct torture *t)
{
	for (unsigned i = 0; i < t->n; i++) {
		char from[48], to[48];

		insn_format(&t->sites[i].state[0], from, sizeof(from));
		insn_format(&t->sites[i].state[1], to, sizeof(to));
		diag("%s: site %p flips between %s and %s", t->name, t->sites[i].addr, from, to);
	}
}

bool proto_leaves_trap_bytes(void)
{
	return strcmp(proto->name, "stop-machine") && strcmp(proto->name, "unsafe-direct") &&
	       strcmp(proto->name, "unsafe-bytewise");
}

static void print_result(const struct torture *t, const struct torture_result *r)
{
	diag("%s under %s: %llu patches, %llu spinner passes on %u CPUs, %llu traps emulated "
	     "(%llu trapped passes held to the new outcome)",
	     t->name, proto->name, (unsigned long long)r->patches, (unsigned long long)r->passes,
	     r->spinners, (unsigned long long)r->traps, (unsigned long long)r->trapped_checked);
	diag("%s: NMIs %llu sent / %llu handled / %llu mid-step / %llu nested; storm IPIs %llu "
	     "sent / %llu received; %llu hotplug cycles (%llu site runs coming online); "
	     "%llu second-patcher patches", t->name, (unsigned long long)r->nmis_sent,
	     (unsigned long long)r->nmis_handled, (unsigned long long)r->nmis_mid_patch,
	     (unsigned long long)r->nmi_nested, (unsigned long long)r->storm_ipis,
	     (unsigned long long)r->storm_received, (unsigned long long)r->hotplug_cycles,
	     (unsigned long long)r->online_hook_runs, (unsigned long long)r->second_patches);
	if (proto->flush)
		diag("%s: %llu patches pipelined (their first sync was the previous patch's last)",
		     t->name, (unsigned long long)r->handovers);
	/* Not a failure: what stop-machine cannot prevent (docs/design.md §3.4). */
	if (r->nmi_stopped_runs || (r->nmis_sent && !proto_leaves_trap_bytes()))
		diag("%s: %llu site runs by NMI handlers while %s held the world stopped: the "
		     "protocol's known exposure (a site read mid-write), not a failure", t->name,
		     (unsigned long long)r->nmi_stopped_runs, proto->name);
}

/* NMIs: each one sent is received at most once. Coalescing loses some:
 * while a handler runs one more is latched and the rest are dropped (SDM
 * vol. 3A §6.7.1), so of the at most three sent to a CPU back to back
 * (spinners', bursts', its own nested one) at least one lands. */
static void check_nmis(const struct torture *t, const struct torture_result *r)
{
	unsigned f = t->flags;

	if (!(f & (T_NMI_SPINNERS | T_NMI_PATCHER | T_NMI_NESTED)))
		return;
	if (!r->nmis_sent)
		return test_error("no NMI was sent");
	test_check(!r->nmis_unsent, "%llu NMIs handled beyond those sent to their CPU",
		   (unsigned long long)r->nmis_unsent);
	test_check(!r->cpus_without_nmi, "%llu spinners were sent NMIs and handled none",
		   (unsigned long long)r->cpus_without_nmi);
	/* Every nesting the handler sees, the kernel's depth must see too.
	 * The reverse need not hold: once a trap's IRET has unmasked NMIs,
	 * one may land in the outer NMI's entry or exit code, outside this
	 * handler (seen under multi-threaded TCG: 481 against 469). A depth
	 * never restored is caught as a CPU back in its idle loop with a
	 * depth not zero (smp.c). */
	test_check(r->nmi_nested >= r->nmi_nested_own,
		   "the NMI depth says %llu NMIs nested, the handler's own depth %llu: the depth "
		   "missed a nesting", (unsigned long long)r->nmi_nested,
		   (unsigned long long)r->nmi_nested_own);
	test_check(r->nmis_handled * 3 >= r->nmis_sent, "only %llu of %llu NMIs sent were handled",
		   (unsigned long long)r->nmis_handled, (unsigned long long)r->nmis_sent);
	if ((f & (T_NMI_SPINNERS | T_NMI_PATCHER)) && !r->nmis_mid_patch)
		test_error("no NMI landed in the middle of a protocol step");
	if ((f & T_NMI_NESTED) && proto_leaves_trap_bytes() && !r->nmi_nested)
		test_error("no NMI ever nested inside another (after a trap's return)");
}

/* Storm IPIs: the per-CPU received count against what was sent there.
 * The local APIC holds one pending interrupt per vector (SDM vol. 3A
 * §11.8.4), so a burst arrives as one or two, and bursts of different
 * steps merge whenever the CPU did not take the storm vector in between
 * (interrupts off, inside an NMI handler, a higher-priority sync IPI
 * first, its host thread not running): how many arrive is a figure, not
 * a verdict (under multi-threaded TCG with nested NMIs: 369 of 1010
 * bursts). */
static void check_storms(const struct torture *t, const struct torture_result *r)
{
	if (!r->storm_ipis)
		return test_error("no storm IPI was sent");
	test_check(!r->storms_unsent, "%llu storm IPIs received beyond those sent to their CPU",
		   (unsigned long long)r->storms_unsent);
	test_check(!r->cpus_without_storm, "%llu spinners were sent storm IPIs and received none",
		   (unsigned long long)r->cpus_without_storm);
}

/* The second patcher must really compete: at least a tenth of the main
 * patcher's patches, not one lucky turn. */
#define SECOND_SHARE_DIV 10

/* Two writers per step: the co-writer really wrote, and its writes and
 * the patcher's really overlapped (docs/design.md §13.1). */
static void check_cowrite(const struct torture *t, const struct torture_result *r)
{
	diag("%s: %llu write steps split between two writers (%llu taken back by the patcher), "
	     "%llu site writes begun while the other writer was mid-write", t->name,
	     (unsigned long long)r->cowrite_jobs, (unsigned long long)r->cowrite_taken_back,
	     (unsigned long long)r->cowrite_interleaved);
	if (!r->cowrite_jobs)
		return test_error("the co-writer never wrote a share of a step");
	if (!r->cowrite_interleaved)
		test_error("no write of one writer began while the other was mid-write: the "
			   "neighbours were never written at the same moment");
}

void torture_check(const struct torture *t, const struct torture_result *r)
{
	unsigned f = t->flags;

	print_result(t, r);
	test_check(!r->aborted, "the patcher was unwound");
	test_check(!r->bad, "%llu wrong outcomes", (unsigned long long)r->bad);
	test_check(!r->canary_bad && !r->callee_bad,
		   "stack canary broken %llu times, %llu wrong return addresses",
		   (unsigned long long)r->canary_bad, (unsigned long long)r->callee_bad);
	/* The scenario must really have happened. */
	if (!r->patches)
		test_error("no patch was applied");
	if (!r->passes && r->spinners)
		test_error("the spinners never ran");
	if (proto_leaves_trap_bytes() && !r->traps && r->passes)
		test_error("no trap was ever hit: the spinners never met a patch in progress");
	if (proto_leaves_trap_bytes() && r->traps && !r->trapped_checked)
		test_error("no pass that trapped could be held to the new outcome");
	/* Held-up handlers exist to make retirement wait for them: a run in
	 * which no retirement ever found a holder tested nothing of the
	 * reference wait (docs/design.md §4.3). Not required of a poke.mix
	 * round (t->share): a third of the patches, and under cpumask one
	 * such round saw none. */
	if ((f & T_DELAYED_HANDLER) && !t->share && proto_leaves_trap_bytes() &&
	    !r->retire_waits)
		test_error("no retirement found a trap handler still holding the batch: "
			   "the reference wait was never needed");
	check_nmis(t, r);
	if (f & T_IPI_STORM)
		check_storms(t, r);
	if ((f & T_HOTPLUG) && !r->hotplug_cycles)
		test_error("no CPU went offline mid-patch");
	if ((f & T_HOTPLUG) && !r->online_hook_runs)
		test_error("no CPU ran a site while coming online");
	if (f & T_COWRITER)
		check_cowrite(t, r);
	if ((f & T_TWO_PATCHERS) && r->second_patches * SECOND_SHARE_DIV < r->patches)
		test_error("the second patcher made %llu patches against %llu: less than 1/%u",
			   (unsigned long long)r->second_patches, (unsigned long long)r->patches,
			   SECOND_SHARE_DIV);
	/* Two patchers on different sites make a stream: int3-pipe must
	 * really have pipelined some of it (docs/design.md §3.8). */
	if ((f & T_TWO_PATCHERS) && proto->flush && !r->handovers)
		test_error("%s pipelined no patch: the second patcher's never followed the main "
			   "one's while its sites were pending", proto->name);
}
