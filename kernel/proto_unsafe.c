/*
 * The negative controls: protocols with one known defect each, which the
 * invariant checker or a torture test must catch (a run that does not is
 * a failure of the suite). Each differs from a safe protocol by exactly
 * the defect its name says: in its sequence (apply), or in the one hook
 * it replaces; every other hook is standard (protocols.c).
 */
#include "kernel/protocols.h"
#include "kernel/smp.h"
#include "kernel/time.h"

/* unsafe-direct: one write of every whole instruction, then a sync. */
static int apply_direct(struct patch_batch *b)
{
	engine_publish(b);
	engine_step(b, STEP_DIRECT);
	engine_write_whole(b);
	engine_sync(b);
	engine_retire(b);
	return 0;
}

const struct patch_proto proto_unsafe_direct = {
	.name = "unsafe-direct", .batching = true, .apply = apply_direct,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: one write of the whole instruction",
};

/* unsafe-bytewise: a byte at a time, delayed, first byte first. */
static int apply_bytewise(struct patch_batch *b)
{
	engine_publish(b);
	engine_step(b, STEP_DIRECT);
	for (unsigned i = 0; i < b->n; i++) {
		struct patch_site *s = &b->sites[i];

		for (unsigned k = 0; k < s->len; k++) {
			engine_write(b, s, k, &s->new[k], 1);
			engine_delay();
			cpu_relax();
		}
	}
	engine_sync(b);
	engine_retire(b);
	return 0;
}

const struct patch_proto proto_unsafe_bytewise = {
	.name = "unsafe-bytewise", .batching = true, .apply = apply_bytewise,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: a byte at a time, with delays",
};

/* unsafe-nosync1: the int3 sequence without its first sync. */
static int apply_nosync1(struct patch_batch *b)
{
	int3_sequence(b, SEQ_NO_SYNC1);
	return 0;
}

const struct patch_proto proto_unsafe_nosync1 = {
	.name = "unsafe-nosync1", .batching = true, .apply = apply_nosync1,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: no sync after the int3 goes in",
};

/* unsafe-tail-first: the tails go in before the trap bytes. */
static int apply_tail_first(struct patch_batch *b)
{
	int3_sequence(b, SEQ_TAIL_FIRST);
	return 0;
}

const struct patch_proto proto_unsafe_tail_first = {
	.name = "unsafe-tail-first", .batching = true, .apply = apply_tail_first,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: tail bytes written before the int3",
};

/* unsafe-nosync3: the int3 sequence without its third sync; the batch
 * retires (waiting for handlers' references as usual) while CPUs that
 * have not serialized since the new first byte went in may run it. */
static int apply_nosync3(struct patch_batch *b)
{
	int3_sequence(b, SEQ_NO_SYNC3);
	return 0;
}

const struct patch_proto proto_unsafe_nosync3 = {
	.name = "unsafe-nosync3", .batching = true, .apply = apply_nosync3,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: no sync after the new first byte goes in",
};

/* unsafe-early-retire: the whole int3 sequence, but the descriptors are
 * handed back for reuse at once instead of once no trap handler holds
 * them (poisoned, as a reuse would): a handler held up past the last
 * sync (it answers syncs while held up, patch.c) then reads something
 * that is no longer its patch. The references it does not wait for may
 * still be held at the end: not checked. */
static void early_retire(struct patch_batch *b)
{
	__atomic_store_n(&b->state, BATCH_RETIRED, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < b->n; i++)
		insn_ud2(&b->sites[i].emul);
	engine_ref_put(b);
}

static void early_retire_finish(struct patch_batch *b)
{
}

static const struct patch_hooks early_retire_hooks = {
	STD_TRAP, STD_EMULATE, STD_SYNC_CLAIM, STD_SYNC_WAIT,
	.retire = early_retire,
	.finish = early_retire_finish,
	STD_SELECT,
};

const struct patch_proto proto_unsafe_early_retire = {
	.name = "unsafe-early-retire", .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &early_retire_hooks,
	.what = "negative control: descriptors retired without waiting for trap handlers",
};

/* unsafe-call-as-jmp: a trapped CPU runs a CALL without pushing the
 * return address, live or stray. */
static void call_as_jmp_trap(struct trap_frame *f, struct patch_site *s, u8 *addr)
{
	engine_emulate_site(f, s, addr, false);
}

static bool call_as_jmp_emulate(struct trap_frame *f, const struct insn *in, u8 *addr)
{
	return arch_emulate(f, in, addr, false);
}

static const struct patch_hooks call_as_jmp_hooks = {
	.trap = call_as_jmp_trap,
	.emulate = call_as_jmp_emulate,
	STD_SYNC_CLAIM, STD_SYNC_WAIT, STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto proto_unsafe_call_as_jmp = {
	.name = "unsafe-call-as-jmp", .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &call_as_jmp_hooks,
	.what = "negative control: CALL emulated without pushing the return address",
};

/* unsafe-no-gap: the trap entry leaves no room under the interrupted
 * stack, so an emulated CALL's push lands on the trap's own frame. */
static void no_gap_select(void)
{
	arch_trap_entry_gap(false);
}

static const struct patch_hooks no_gap_hooks = {
	STD_TRAP, STD_EMULATE, STD_SYNC_CLAIM, STD_SYNC_WAIT, STD_RETIRE, STD_FINISH,
	.select = no_gap_select,
};

const struct patch_proto proto_unsafe_no_gap = {
	.name = "unsafe-no-gap", .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &no_gap_hooks,
	.what = "negative control: CALL emulation with no #BP entry gap",
};

/* unsafe-spin-handler: the trap handler waits for the patcher to finish
 * the site, then re-runs it, instead of emulating. On the patching CPU
 * itself (an NMI that hit the site) the wait never ends: the deadlock that
 * rules this design out, for the watchdog to catch. */
static void spin_trap(struct trap_frame *f, struct patch_site *s, u8 *addr)
{
	while (READ_ONCE(s->addr[0]) == proto_trap_byte())
		cpu_relax();
	arch_frame_restart(f, addr);
}

static const struct patch_hooks spin_handler_hooks = {
	.trap = spin_trap,
	STD_EMULATE, STD_SYNC_CLAIM, STD_SYNC_WAIT, STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto proto_unsafe_spin_handler = {
	.name = "unsafe-spin-handler", .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &spin_handler_hooks,
	.what = "negative control: the #BP handler waits for the patch instead of emulating",
};

/* unsafe-ack-count: a sync waits until the others took as many IPIs as
 * syncs were sent to them since the patch began, any IPI counting,
 * instead of waiting for each CPU to acknowledge this sync's generation.
 * The baseline is taken before the patch is published: an interrupt
 * taken between then and a write counts as the acknowledgement of a sync
 * that came after the write: the bug. */
static u64 ack_count_base;
static unsigned ack_count_syncs;

static u64 ipis_seen_by_others(void)
{
	u64 sum = 0;
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			sum += READ_ONCE(cpus[i].ipis_received);
	return sum;
}

static int apply_ack_count(struct patch_batch *b)
{
	ack_count_base = ipis_seen_by_others();
	ack_count_syncs = 0;
	int3_sequence(b, 0);
	return 0;
}

static void ack_count_wait(u64 gen)
{
	u64 want = ack_count_base + (u64)++ack_count_syncs * (cpus_online() - 1);

	while (ipis_seen_by_others() < want)
		sync_poll(), cpu_relax();
}

static const struct patch_hooks ack_count_hooks = {
	STD_TRAP, STD_EMULATE, STD_SYNC_CLAIM,
	.sync_wait = ack_count_wait,
	STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto proto_unsafe_ack_count = {
	.name = "unsafe-ack-count", .batching = true, .apply = apply_ack_count,
	.trap = TRAP_BREAKPOINT, .hooks = &ack_count_hooks,
	.what = "negative control: syncs count IPIs instead of generations",
};

/* unsafe-stray-trap: after the sequence the trap byte goes back over the
 * first site for STRAY_TRAP_US with no patch live, then the new head
 * again, so the patch ends clean and only a trap handler can see it. */
#define STRAY_TRAP_US 1000

static int apply_stray_trap(struct patch_batch *b)
{
	struct patch_site *s = &b->sites[0];
	u8 trap = proto_trap_byte();

	int3_sequence(b, 0);
	engine_write(b, s, 0, &trap, 1);
	delay_ns(STRAY_TRAP_US * 1000);
	engine_write(b, s, 0, s->new, 1);
	engine_sync(b);
	return 0;
}

const struct patch_proto proto_unsafe_stray_trap = {
	.name = "unsafe-stray-trap", .batching = true, .apply = apply_stray_trap,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "negative control: a trap byte back in a site for 1 ms after the patch, no patch live",
};
