/*
 * unsafe-cpumask-nofix: H. Peter Anvin's cpumask sync as first proposed,
 * without Andy Lutomirski's fix (docs/design.md §3.3, §8.5). Each step
 * arms a mask of every online CPU but the patcher; a CPU clears its bit
 * after serializing, in its sync IPI handler, a wait loop's poll, or the
 * trap handler. But the trap handler does not run the new instruction:
 * it clears its bit and returns to the trap byte, re-executed until the
 * step has moved on; and only the patcher moves it on, once the mask is
 * clear. A CPU that traps can only wait for the patcher then, and when
 * the patcher itself traps while it waits (an NMI handler running the
 * site, or its own wait path) nobody is left to move the step on: the
 * deadlock, for the watchdog to catch.
 *
 * Its hooks: trap (clear the bit, re-execute) and sync_claim (clear the
 * bit while a mask is armed); the rest are standard.
 */
#include "kernel/format.h"
#include "kernel/protocols.h"
#include "kernel/smp.h"

static struct sync_mask nf_mask;
static char nf_doing[192];	/* what the stuck patcher does, for the report */

/* Clears this CPU's bit (after serializing); the last one moves nothing
 * on: only the patcher does, once it sees the mask clear. */
static void nf_ack(void)
{
	sync_mask_ack(&nf_mask);
}

/* The patcher waits for the mask to clear; nobody else advances. */
static void nf_sync(void)
{
	struct sync_waiter w;

	sync_mask_arm(&nf_mask);
	sync_wait_begin(&w);
	while (sync_mask_armed(&nf_mask))
		sync_wait_poll(&w);
	sync_wait_end(&w);
	check_serialized();
}

static int apply_nofix(struct patch_batch *b)
{
	engine_publish(b);
	engine_step(b, STEP_TRAP);
	engine_write_traps(b);
	nf_sync();
	engine_step(b, STEP_TAIL);
	engine_write_tails(b);
	nf_sync();
	engine_step(b, STEP_HEAD);
	engine_write_heads(b);
	nf_sync();
	engine_retire(b);
	return 0;
}

static bool nf_sync_claim(void)
{
	if (!sync_mask_armed(&nf_mask))
		return false;
	nf_ack();
	return true;
}

/* The patcher at its own trap byte: from here on it waits for itself.
 * Said once, in the words the watchdog's report prints (c->doing). */
static void nf_note_patcher(struct cpu *c, u8 *addr)
{
	if (c->doing == nf_doing)
		return;
	if (c->nmi_depth)
		ksnprintf(nf_doing, sizeof(nf_doing),
			  "the patcher, inside an NMI (depth %u) that came while it waited for a "
			  "sync, at live site %p: re-executing its trap byte, waiting for its own "
			  "step (%s) to move on", c->nmi_depth, addr,
			  patch_step_name(patch_current_step));
	else
		ksnprintf(nf_doing, sizeof(nf_doing),
			  "the patcher, in its own sync wait (no NMI), at live site %p: "
			  "re-executing its trap byte, waiting for its own step (%s) to move on",
			  addr, patch_step_name(patch_current_step));
	c->doing = nf_doing;
}

static void nf_trap(struct trap_frame *f, struct patch_site *s, u8 *addr)
{
	if (sync_mask_armed(&nf_mask))
		nf_ack();
	if (engine_patching_here())
		nf_note_patcher(this_cpu(), addr);
	arch_frame_restart(f, addr);
}

static const struct patch_hooks nofix_hooks = {
	.trap = nf_trap,
	STD_EMULATE,
	.sync_claim = nf_sync_claim,
	STD_SYNC_WAIT, STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto proto_unsafe_cpumask_nofix = {
	.name = "unsafe-cpumask-nofix", .batching = true, .apply = apply_nofix,
	.trap = TRAP_BREAKPOINT, .hooks = &nofix_hooks,
	.what = "negative control: hpa's cpumask sync without Andy's fix: the #BP handler "
		"re-executes, only the patcher advances",
};
