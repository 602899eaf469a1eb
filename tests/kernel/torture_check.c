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

void torture_check(const struct torture *t, const struct torture_result *r)
{
	unsigned f = t->flags;

	diag("%s under %s: %llu patches, %llu spinner passes, %llu traps emulated, "
	     "NMIs %llu sent / %llu handled / %llu mid-patch / %llu nested, %llu storm IPIs, "
	     "%llu hotplug cycles (%llu site runs coming online), %llu second-patcher patches",
	     t->name, proto->name, (unsigned long long)r->patches, (unsigned long long)r->passes,
	     (unsigned long long)r->traps, (unsigned long long)r->nmis_sent,
	     (unsigned long long)r->nmis_handled, (unsigned long long)r->nmis_mid_patch,
	     (unsigned long long)r->nmi_nested, (unsigned long long)r->storm_ipis,
	     (unsigned long long)r->hotplug_cycles, (unsigned long long)r->online_hook_runs,
	     (unsigned long long)r->second_patches);
	test_check(!r->aborted, "the patcher was unwound");
	test_check(!r->bad, "%llu wrong outcomes", (unsigned long long)r->bad);
	test_check(!sf_canary_bad && !sf_callee_bad, "stack canary broken %llu times, %llu wrong return addresses",
		   (unsigned long long)sf_canary_bad, (unsigned long long)sf_callee_bad);
	/* The scenario must really have happened. */
	if (!r->patches)
		test_error("no patch was applied");
	if (!r->passes && cpus_online() > 1 + (f & (T_HOTPLUG | T_TWO_PATCHERS) ? 1 : 0))
		test_error("the spinners never ran");
	if (proto_leaves_trap_bytes() && !r->traps && r->passes)
		test_error("no trap was ever hit: the spinners never met a patch in progress");
	if ((f & (T_NMI_SPINNERS | T_NMI_PATCHER)) && !r->nmis_mid_patch)
		test_error("no NMI landed in the middle of a patch");
	if ((f & T_NMI_NESTED) && proto_leaves_trap_bytes() && !r->nmi_nested)
		test_error("no NMI ever nested inside another (after a trap's return)");
	if ((f & T_IPI_STORM) && !r->storm_ipis)
		test_error("no storm IPI was sent");
	if ((f & T_HOTPLUG) && !r->hotplug_cycles)
		test_error("no CPU went offline mid-patch");
	if ((f & T_HOTPLUG) && !r->online_hook_runs)
		test_error("no CPU ran a site while coming online");
	if ((f & T_TWO_PATCHERS) && !r->second_patches)
		test_error("the second patcher never patched");
}
