/*
 * stop-machine: the others wait with interrupts off in an IPI handler
 * while one CPU writes whole instructions; all serialize, all leave.
 * NMIs are not stopped: an NMI handler that runs a site while it is
 * written is the hole that made Linux move to int3. Standard hooks: no
 * trap byte is ever written, so its trap hooks only serve stray traps.
 */
#include "kernel/cowrite.h"
#include "kernel/protocols.h"
#include "kernel/smp.h"

static u32 sm_arrived, sm_go, sm_left;

static void sm_rendezvous(void *arg)
{
	__atomic_add_fetch(&sm_arrived, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&sm_go, __ATOMIC_ACQUIRE))
		cowrite_poll(), cpu_relax();	/* a co-writer writes from here */
	arch_serialize();
	this_cpu()->serial_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	sync_count_ack();
	__atomic_add_fetch(&sm_left, 1, __ATOMIC_ACQ_REL);
}

static int apply_stop_machine(struct patch_batch *b)
{
	struct sync_waiter w;
	u32 others;

	sm_arrived = sm_go = sm_left = 0;
	engine_publish(b);
	others = cpus_online() - 1;	/* after the step hook: hotplug */
	/* Waits for the others: to take the call (smp.c) and arrive... */
	sync_wait_begin(&w);
	smp_call_others(sm_rendezvous, NULL, SMP_IRQ);
	while (__atomic_load_n(&sm_arrived, __ATOMIC_ACQUIRE) < others)
		sync_wait_poll(&w);
	sync_wait_end(&w);
	world_stopped = true;
	engine_step(b, STEP_DIRECT);
	engine_write_whole(b);
	world_stopped = false;
	__atomic_store_n(&sm_go, 1, __ATOMIC_RELEASE);
	/* ...and to serialize and leave. */
	sync_wait_begin(&w);
	while (__atomic_load_n(&sm_left, __ATOMIC_ACQUIRE) < others)
		sync_wait_poll(&w);
	sync_wait_end(&w);
	check_serialized();
	engine_retire(b);
	return 0;
}

const struct patch_proto proto_stop_machine = {
	.name = "stop-machine", .safe = true, .batching = true, .apply = apply_stop_machine,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks,
	.what = "all others rendezvous with interrupts off; one CPU writes",
};
