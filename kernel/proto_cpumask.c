/*
 * cpumask: H. Peter Anvin's alternative to the int3 protocol's IPI syncs,
 * with Andy Lutomirski's fix. Each step arms a mask of every online CPU
 * but the patcher's; a CPU clears its bit, after serializing, in its sync
 * IPI handler, in a wait loop's poll, or in the trap handler after it ran
 * the new instruction; and whoever clears the last bit writes the next
 * step (the trap bytes, then the tails, then the heads), from whatever
 * context that is, an NMI included.
 *
 * Its hooks (the rest are standard): trap, run the new instruction, then
 * clear this CPU's bit; sync_claim, clear the bit while a mask is armed.
 */
#include "kernel/protocols.h"
#include "kernel/smp.h"

static struct sync_mask cm_mask;
static struct patch_batch *cm_batch;
static u32 cm_step;		/* the step whose mask is armed */
static u32 cm_done;

static void cm_advance(void);

/* Arms the mask for the step just written; the CPU that clears the last
 * bit runs cm_advance(), this one when it is alone. */
static void cm_arm(void)
{
	if (!sync_mask_arm(&cm_mask))
		cm_advance();
}

/* Clears this CPU's bit (after serializing); whoever clears the last bit
 * moves on. */
static void cm_ack(void)
{
	if (sync_mask_ack(&cm_mask))
		cm_advance();
}

/* Every other CPU serialized after the last step: write the next one. */
static void cm_advance(void)
{
	struct patch_batch *b = cm_batch;

	check_serialized();
	switch (cm_step) {
	case STEP_TRAP:
		cm_step = STEP_TAIL;
		engine_step(b, STEP_TAIL);
		engine_write_tails(b);
		cm_arm();
		break;
	case STEP_TAIL:
		cm_step = STEP_HEAD;
		engine_step(b, STEP_HEAD);
		engine_write_heads(b);
		cm_arm();
		break;
	case STEP_HEAD:
		__atomic_store_n(&cm_done, 1, __ATOMIC_RELEASE);
		break;
	}
	arch_text_done();	/* whoever wrote drops its alias */
}

static int apply_cpumask(struct patch_batch *b)
{
	struct sync_waiter w;

	cm_batch = b;
	cm_done = 0;
	engine_publish(b);
	cm_step = STEP_TRAP;
	engine_step(b, STEP_TRAP);
	engine_write_traps(b);
	cm_arm();
	/* One wait for the three steps: the others write the next ones. */
	sync_wait_begin(&w);
	while (!__atomic_load_n(&cm_done, __ATOMIC_ACQUIRE))
		sync_wait_poll(&w);
	sync_wait_end(&w);
	engine_retire(b);
	return 0;
}

/* A sync IPI or a poll while a mask is armed clears this CPU's bit. */
static bool cm_sync_claim(void)
{
	if (!sync_mask_armed(&cm_mask))
		return false;
	cm_ack();
	return true;
}

/* A trapped CPU runs the new instruction, then clears its bit as its sync
 * IPI would (cm_ack serializes first). */
static void cm_trap(struct trap_frame *f, struct patch_site *s, u8 *addr)
{
	engine_trap_emulate(f, s, addr);
	if (sync_mask_armed(&cm_mask))
		cm_ack();
}

static const struct patch_hooks cpumask_hooks = {
	.trap = cm_trap,
	STD_EMULATE,
	.sync_claim = cm_sync_claim,
	STD_SYNC_WAIT, STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto proto_cpumask = {
	.name = "cpumask", .safe = true, .batching = true, .apply = apply_cpumask,
	.trap = TRAP_BREAKPOINT, .hooks = &cpumask_hooks,
	.what = "hpa's cpumask sync; the IPI or #BP handler clears its bit, the last one advances",
};
