/*
 * The protocols: the list (boot option protocol=, in this order), and the
 * standard hooks most of them share. Each protocol is one struct
 * patch_proto in its family's file (protocols.h says which): its apply()
 * is the sequence of steps, its hooks what it does when a CPU traps, when
 * a sync is acknowledged and waited for, and when the patch retires. The
 * engine does the writes, syncs and checks, so a protocol reads as what it
 * is; an unsafe one differs from a safe one by exactly the defect its name
 * says.
 */
#include "kernel/format.h"
#include "kernel/defer.h"
#include "kernel/protocols.h"
#include "kernel/smp.h"
#include "kernel/string.h"

const struct patch_hooks standard_hooks = {
	STD_TRAP, STD_EMULATE, STD_SYNC_CLAIM, STD_SYNC_WAIT, STD_RETIRE, STD_FINISH, STD_SELECT,
};

const struct patch_proto *const patch_protocols[] = {
	&proto_int3, &proto_int3_batch, &proto_cpumask,
	&proto_stop_machine, &proto_trap_first, &proto_int3_pipe,
	&proto_unsafe_direct, &proto_unsafe_bytewise, &proto_unsafe_nosync1,
	&proto_unsafe_nosync3, &proto_unsafe_tail_first, &proto_unsafe_early_retire,
	&proto_unsafe_call_as_jmp, &proto_unsafe_no_gap,
	&proto_unsafe_spin_handler, &proto_unsafe_ack_count, &proto_unsafe_stray_trap,
	&proto_unsafe_pipe_notail, &proto_unsafe_cpumask_nofix, &proto_unsafe_wide_write, NULL,
};

const struct patch_proto *proto = &proto_int3;
u8 proto_trap;

/* The standard select hook: the trap entry in its safe form (arch.h). */
void select_standard(void)
{
	arch_trap_entry_gap(true);
}

/* At boot, and when a negative control runs its own protocol for a test. */
void patch_use_protocol(const struct patch_proto *p)
{
	if (proto != p)
		patch_flush();	/* nothing pending under the old one */
	proto = p;
	proto_trap = arch_trap_byte(p->trap);
	arch_patch_init(p->trap);
	p->hooks->select();
}

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

/* sync=deferred, armed from a task (the patcher's first step, or its
 * own wait when it clears the last bit): a quiescent CPU is marked, not
 * armed, and sent nothing (docs/design.md §8.7). */
static u32 mask_arm_deferring(struct sync_mask *m)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	int self = this_cpu()->id;
	u32 n = 0, deferred = 0;

	for (unsigned i = 0; i < cpus_possible; i++) {
		bool want = (int)i != self && cpu_is_online(i);

		if (want && qs_try_defer(i, seq)) {
			want = false;
			deferred++;
		}
		__atomic_store_n(&m->pending[i], want, __ATOMIC_RELAXED);
		n += want;
	}
	qs_note_sync(deferred);
	if (!n)
		return 0;
	__atomic_store_n(&m->left, n, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < cpus_possible; i++) {
		if (__atomic_load_n(&m->pending[i], __ATOMIC_RELAXED)) {
			irqflags_t fl = irq_save();

			arch_send_ipi(&cpus[i], IPI_SYNC);
			irq_restore(fl);
		}
	}
	return n;
}

u32 sync_mask_arm(struct sync_mask *m)
{
	int self = this_cpu()->id;
	u32 n = 0;

	if (qs_sync_may_defer(engine_live_batch()))
		return mask_arm_deferring(m);
	for (unsigned i = 0; i < cpus_possible; i++) {
		bool want = (int)i != self && cpu_is_online(i);

		__atomic_store_n(&m->pending[i], want, __ATOMIC_RELAXED);
		n += want;
	}
	if (!n)
		return 0;
	__atomic_store_n(&m->left, n, __ATOMIC_RELEASE);
	/* To all but self only: this may run in NMI context, where aiming
	 * an IPI at one CPU would clobber an interrupted sender's (x86
	 * xAPIC: the ICR's high word). */
	arch_send_ipi_all_but_self(IPI_SYNC);
	return n;
}

bool sync_mask_ack(struct sync_mask *m)
{
	struct cpu *c = this_cpu();
	u64 seq;

	if (!__atomic_exchange_n(&m->pending[c->id], 0, __ATOMIC_ACQ_REL))
		return false;
	seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	arch_serialize();
	c->serial_seq = seq;
	sync_count_ack();
	return __atomic_sub_fetch(&m->left, 1, __ATOMIC_ACQ_REL) == 0;
}
