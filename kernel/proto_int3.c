/*
 * The int3 family: Linux's sequence for changing an instruction that
 * other CPUs may be executing (text_poke_bp). A trap byte goes over each
 * site's first byte, then the tail bytes, then the new first byte, with a
 * sync after each step, so that a CPU either runs the old instruction,
 * traps (and runs the new one in the trap handler), or runs the new one.
 *
 *   int3        one site per sequence: three syncs per site
 *   int3-batch  every site of a batch in one sequence: three syncs in all
 *   trap-first  int3-batch with an invalid opcode as the trap byte, the
 *               way an architecture without a one-byte breakpoint would
 *
 * All three use the standard hooks (protocols.c).
 */
#include "kernel/protocols.h"

void int3_sequence(struct patch_batch *b, unsigned defects)
{
	engine_publish(b);
	if (defects & SEQ_TAIL_FIRST) {
		engine_step(b, STEP_TAIL);
		engine_write_tails(b);
	}
	engine_step(b, STEP_TRAP);
	engine_write_traps(b);
	if (!(defects & SEQ_NO_SYNC1))
		engine_sync(b);
	if (!(defects & SEQ_TAIL_FIRST)) {
		engine_step(b, STEP_TAIL);
		engine_write_tails(b);
		engine_sync(b);
	}
	engine_step(b, STEP_HEAD);
	engine_write_heads(b);
	/* The third sync: every CPU serialized after the new first byte
	 * before the batch retires (unsafe-nosync3 leaves it out; the
	 * checker's retirement rule, docs/design.md §5, catches that). */
	if (!(defects & SEQ_NO_SYNC3))
		engine_sync(b);
	engine_retire(b);
}

/* One site per sequence. The one-site descriptor is static, not on the
 * patcher's stack: a trap handler that loaded live_batch may look at it
 * after the patch retired (its reference then fails, or it finds the next
 * patch), and a patcher the watchdog unwinds leaves it published; a dead
 * stack frame there was read as a batch (#PF in find_site,
 * poke.delayed_handler under multi-threaded TCG). One patcher at a time
 * (text_mutex) uses it. */
static int apply_per_site(struct patch_batch *b)
{
	static struct patch_batch one;

	for (unsigned i = 0; i < b->n; i++) {
		WRITE_ONCE(one.sites, &b->sites[i]);
		WRITE_ONCE(one.n, 1);
		int3_sequence(&one, 0);
	}
	return 0;
}

int int3_apply_batch(struct patch_batch *b)
{
	int3_sequence(b, 0);
	return 0;
}

const struct patch_proto proto_int3 = {
	.name = "int3", .safe = true, .apply = apply_per_site,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "Linux's int3 sequence, one site per three syncs",
};

const struct patch_proto proto_int3_batch = {
	.name = "int3-batch", .safe = true, .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "the int3 sequence, all sites of a batch sharing three syncs",
};

const struct patch_proto proto_trap_first = {
	.name = "trap-first", .safe = true, .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_INVALID_OPCODE, .hooks = &standard_hooks,
	.what = "the RISC-V plan: an invalid opcode (#UD) as the first byte instead of int3",
};
