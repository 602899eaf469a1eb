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

static u8 nf_pending[MAX_CPUS];
static u32 nf_left;		/* bits still set; 0: no mask armed */
static char nf_doing[192];	/* what the stuck patcher does, for the report */

static bool nf_armed(void)
{
	return __atomic_load_n(&nf_left, __ATOMIC_ACQUIRE) != 0;
}

static void nf_arm(void)
{
	int self = this_cpu()->id;
	u32 n = 0;

	for (unsigned i = 0; i < cpus_possible; i++) {
		bool want = (int)i != self && cpu_is_online(i);

		__atomic_store_n(&nf_pending[i], want, __ATOMIC_RELAXED);
		n += want;
	}
	if (!n)
		return;
	__atomic_store_n(&nf_left, n, __ATOMIC_RELEASE);
	arch_send_ipi_all_but_self(IPI_SYNC);
}

/* Clears this CPU's bit, once per step, after serializing. */
static void nf_ack(void)
{
	struct cpu *c = this_cpu();
	u64 seq;

	if (!__atomic_exchange_n(&nf_pending[c->id], 0, __ATOMIC_ACQ_REL))
		return;
	seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	arch_serialize();
	c->serial_seq = seq;
	sync_count_ack();
	__atomic_sub_fetch(&nf_left, 1, __ATOMIC_ACQ_REL);
}

/* The patcher waits for the mask to clear; nobody else advances. */
static void nf_sync(void)
{
	struct sync_waiter w;

	nf_arm();
	sync_wait_begin(&w);
	while (nf_armed()) {
		sync_wait_poll(&w);
		cpu_relax();
	}
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
	if (!nf_armed())
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
	if (nf_armed())
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
