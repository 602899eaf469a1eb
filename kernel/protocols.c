/*
 * The protocols of DESIGN.md as ops tables. Each apply() is the sequence
 * of steps; the engine does the writes, syncs and checks, so a protocol
 * reads as what it is. The unsafe ones differ from a safe one by exactly
 * the defect their name says.
 */
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/time.h"

/* What the defective variants leave out of the Linux sequence. */
#define SEQ_NO_SYNC1 (1u << 0)		/* no sync after the trap bytes */
#define SEQ_TAIL_FIRST (1u << 1)	/* tails before the trap bytes */
#define SEQ_NO_SYNC3 (1u << 2)		/* no sync after the head bytes */

/* The Linux sequence for one batch (steps 0 to 4 of DESIGN.md). */
static void int3_sequence(struct patch_batch *b, unsigned defects)
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
	/* The third sync is what waits for trap handlers still running on
	 * other CPUs (seed 001's quiz); unsafe-early-retire leaves it out
	 * and retires without waiting for references either. */
	if (!(defects & SEQ_NO_SYNC3))
		engine_sync(b);
	engine_retire(b);
}

/* int3 and the variants that patch one site per sequence. The one-site
 * descriptor is static, not on the patcher's stack: a trap handler that
 * loaded live_batch may look at it after the patch retired (its reference
 * then fails, or it finds the next patch), and a patcher the watchdog
 * unwinds leaves it published; a dead stack frame there was read as a
 * batch (#PF in find_site, poke.delayed_handler under multi-threaded
 * TCG). One patcher at a time (text_mutex) uses it. */
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

static int apply_batch(struct patch_batch *b)
{
	int3_sequence(b, 0);
	return 0;
}

static int apply_nosync1(struct patch_batch *b)
{
	int3_sequence(b, SEQ_NO_SYNC1);
	return 0;
}

static int apply_early_retire(struct patch_batch *b)
{
	int3_sequence(b, SEQ_NO_SYNC3);
	return 0;
}

static int apply_tail_first(struct patch_batch *b)
{
	int3_sequence(b, SEQ_TAIL_FIRST);
	return 0;
}

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

/* cpumask (hpa, seed 000, with Andy Lutomirski's fix): whoever clears
 * the last bit of a step's mask writes the next step. */
static struct patch_batch *cm_batch;
static u32 cm_step;	/* the step whose mask is armed */
static u32 cm_done;

static void cm_advance(void)
{
	struct patch_batch *b = cm_batch;

	check_serialized();
	switch (cm_step) {
	case STEP_TRAP:
		cm_step = STEP_TAIL;
		engine_step(b, STEP_TAIL);
		engine_write_tails(b);
		cpumask_arm(cm_advance);
		break;
	case STEP_TAIL:
		cm_step = STEP_HEAD;
		engine_step(b, STEP_HEAD);
		engine_write_heads(b);
		cpumask_arm(cm_advance);
		break;
	case STEP_HEAD:
		__atomic_store_n(&cm_done, 1, __ATOMIC_RELEASE);
		break;
	}
	arch_text_done();	/* whoever wrote drops its alias */
}

static int apply_cpumask(struct patch_batch *b)
{
	cm_batch = b;
	cm_done = 0;
	engine_publish(b);
	cm_step = STEP_TRAP;
	engine_step(b, STEP_TRAP);
	engine_write_traps(b);
	cpumask_arm(cm_advance);
	while (!__atomic_load_n(&cm_done, __ATOMIC_ACQUIRE)) {
		sync_poll();
		cpu_relax();
	}
	engine_retire(b);
	return 0;
}

/* stop-machine: the others wait with interrupts off in an IPI handler
 * while one CPU writes whole instructions; all serialize, all leave.
 * NMIs are not stopped: an NMI handler that runs a site while it is
 * written is the hole that made Linux move to int3. */
static u32 sm_arrived, sm_go, sm_left;

static void sm_rendezvous(void *arg)
{
	__atomic_add_fetch(&sm_arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&sm_go, __ATOMIC_ACQUIRE))
		cpu_relax();
	arch_serialize();
	this_cpu()->serial_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	__atomic_add_fetch(&sm_left, 1, __ATOMIC_ACQ_REL);
}

static int apply_stop_machine(struct patch_batch *b)
{
	u32 others;

	sm_arrived = sm_go = sm_left = 0;
	engine_publish(b);
	others = cpus_online() - 1;	/* after the step hook: hotplug */
	smp_call_others(sm_rendezvous, NULL, SMP_IRQ);
	while (__atomic_load_n(&sm_arrived, __ATOMIC_ACQUIRE) < others)
		sync_poll(), cpu_relax();
	world_stopped = true;
	engine_step(b, STEP_DIRECT);
	engine_write_whole(b);
	world_stopped = false;
	__atomic_store_n(&sm_go, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&sm_left, __ATOMIC_ACQUIRE) < others)
		sync_poll(), cpu_relax();
	check_serialized();
	engine_retire(b);
	return 0;
}

/* The first byte a protocol puts in a site while it is in flux is named
 * by kind; the architecture knows the byte (arch_trap_byte). */
#define INT3 TRAP_BREAKPOINT

static const struct patch_proto proto_int3 = {
	.name = "int3", .safe = true, .apply = apply_per_site, .trap = INT3,
	.what = "Linux's int3 sequence, one site per three syncs",
};
static const struct patch_proto proto_int3_batch = {
	.name = "int3-batch", .safe = true, .batching = true, .apply = apply_batch,
	.trap = INT3, .what = "the int3 sequence, all sites of a batch sharing three syncs",
};
static const struct patch_proto proto_cpumask = {
	.name = "cpumask", .safe = true, .batching = true, .apply = apply_cpumask,
	.trap = INT3,
	.what = "hpa's cpumask sync; the IPI or #BP handler clears its bit, the last one advances",
};
static const struct patch_proto proto_stop_machine = {
	.name = "stop-machine", .safe = true, .batching = true, .apply = apply_stop_machine,
	.trap = INT3, .what = "all others rendezvous with interrupts off; one CPU writes",
};
static const struct patch_proto proto_trap_first = {
	.name = "trap-first", .safe = true, .batching = true, .apply = apply_batch,
	.trap = TRAP_INVALID_OPCODE,
	.what = "seed 004's plan: an invalid opcode (#UD) as the first byte instead of int3",
};
static const struct patch_proto proto_unsafe_direct = {
	.name = "unsafe-direct", .batching = true, .apply = apply_direct, .trap = INT3,
	.what = "negative control: one write of the whole instruction",
};
static const struct patch_proto proto_unsafe_bytewise = {
	.name = "unsafe-bytewise", .batching = true, .apply = apply_bytewise, .trap = INT3,
	.what = "negative control: a byte at a time, with delays",
};
static const struct patch_proto proto_unsafe_nosync1 = {
	.name = "unsafe-nosync1", .batching = true, .apply = apply_nosync1, .trap = INT3,
	.what = "negative control: no sync after the int3 goes in",
};
static const struct patch_proto proto_unsafe_tail_first = {
	.name = "unsafe-tail-first", .batching = true, .apply = apply_tail_first, .trap = INT3,
	.what = "negative control: tail bytes written before the int3",
};
static const struct patch_proto proto_unsafe_early_retire = {
	.name = "unsafe-early-retire", .batching = true, .apply = apply_early_retire,
	.trap = INT3, .early_retire = true,
	.what = "negative control: no third sync, descriptors retired without waiting for handlers",
};
static const struct patch_proto proto_unsafe_call_as_jmp = {
	.name = "unsafe-call-as-jmp", .batching = true, .apply = apply_batch, .trap = INT3,
	.call_as_jmp = true, .what = "negative control: CALL emulated without pushing the return address",
};
static const struct patch_proto proto_unsafe_no_gap = {
	.name = "unsafe-no-gap", .batching = true, .apply = apply_batch, .trap = INT3,
	.no_gap = true, .what = "negative control: CALL emulation with no #BP entry gap",
};
static const struct patch_proto proto_unsafe_spin_handler = {
	.name = "unsafe-spin-handler", .batching = true, .apply = apply_batch, .trap = INT3,
	.spin_handler = true, .what = "negative control: the #BP handler waits for the patch instead of emulating",
};
static const struct patch_proto proto_unsafe_stray_trap = {
	.name = "unsafe-stray-trap", .batching = true, .apply = apply_stray_trap, .trap = INT3,
	.what = "negative control: a trap byte back in a site for 1 ms after the patch, no patch live",
};
static const struct patch_proto proto_unsafe_ack_count = {
	.name = "unsafe-ack-count", .batching = true, .apply = apply_batch, .trap = INT3,
	.ack_count = true, .what = "negative control: syncs count IPIs instead of generations",
};

const struct patch_proto *const patch_protocols[] = {
	&proto_int3, &proto_int3_batch, &proto_cpumask,
	&proto_stop_machine, &proto_trap_first,
	&proto_unsafe_direct, &proto_unsafe_bytewise, &proto_unsafe_nosync1,
	&proto_unsafe_tail_first, &proto_unsafe_early_retire,
	&proto_unsafe_call_as_jmp, &proto_unsafe_no_gap,
	&proto_unsafe_spin_handler, &proto_unsafe_ack_count, &proto_unsafe_stray_trap, NULL,
};

const struct patch_proto *proto = &proto_int3;

const struct patch_proto *patch_proto_find(const char *name)
{
	for (const struct patch_proto *const *p = patch_protocols; *p; p++)
		if (!strcmp((*p)->name, name))
			return *p;
	return NULL;
}

const char *patch_proto_names(void)
{
	static char names[512];
	size_t n = 0;

	for (const struct patch_proto *const *p = patch_protocols; *p; p++)
		n += ksnprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0,
			       "%s%s", p == patch_protocols ? "" : ", ", (*p)->name);
	return names;
}
