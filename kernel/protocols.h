/*
 * What the protocol files share: the registry's entries, the standard
 * hooks, and the int3 sequence that the int3 family and most negative
 * controls are made of.
 *
 * Where each protocol lives:
 *   proto_int3.c          int3, int3-batch, trap-first
 *   proto_cpumask.c       cpumask
 *   proto_stop_machine.c  stop-machine
 *   proto_pipe.c          int3-pipe, unsafe-pipe-notail
 *   proto_unsafe.c        the other unsafe-* negative controls
 *   proto_cpumask_nofix.c unsafe-cpumask-nofix (cpumask without Andy's fix)
 *   proto_wide.c          unsafe-wide-write
 *   protocols.c           the list, the standard hooks, lookup by name
 */
#ifndef PT_PROTOCOLS_H
#define PT_PROTOCOLS_H

#include "kernel/patch_internal.h"
#include "kernel/percpu.h"

/* The standard hooks one by one, for a protocol that replaces some: its
 * table lists all of them, so that what differs stands out. */
#define STD_TRAP .trap = engine_trap_emulate
#define STD_EMULATE .emulate = engine_emulate
#define STD_SYNC_CLAIM .sync_claim = sync_claim_none
#define STD_SYNC_WAIT .sync_wait = sync_wait_generation
#define STD_RETIRE .retire = engine_retire_wait
#define STD_FINISH .finish = engine_check_refs
#define STD_SELECT .select = select_standard

extern const struct patch_hooks standard_hooks;

/* What a negative control leaves out of, or reorders in, the sequence. */
#define SEQ_NO_SYNC1 (1u << 0)		/* no sync after the trap bytes */
#define SEQ_TAIL_FIRST (1u << 1)	/* tails before the trap bytes */
#define SEQ_NO_SYNC3 (1u << 2)		/* no sync after the head bytes */

/* hpa's mask of the CPUs that still owe a serialization for the step just
 * written (cpumask, and unsafe-cpumask-nofix, which differs only in who
 * moves the step on). */
struct sync_mask {
	u8 pending[MAX_CPUS];
	u32 left;		/* bits still set; 0: no mask armed */
};

static inline bool sync_mask_armed(struct sync_mask *m)
{
	return __atomic_load_n(&m->left, __ATOMIC_ACQUIRE) != 0;
}

/* Sets the bit of every online CPU but this one and sends them the sync
 * IPI; returns how many (0: nothing armed, this CPU is alone). */
u32 sync_mask_arm(struct sync_mask *m);
/* Clears this CPU's bit, once per step, after serializing; true when it
 * was the last bit. */
bool sync_mask_ack(struct sync_mask *m);

/* Linux's int3 sequence over every site of b at once, less the defects. */
void int3_sequence(struct patch_batch *b, unsigned defects);
/* int3_sequence(b, 0), as an apply. */
int int3_apply_batch(struct patch_batch *b);

extern const struct patch_proto proto_int3, proto_int3_batch, proto_trap_first;
extern const struct patch_proto proto_cpumask, proto_stop_machine;
extern const struct patch_proto proto_int3_pipe, proto_unsafe_pipe_notail;
extern const struct patch_proto proto_unsafe_direct, proto_unsafe_bytewise,
	proto_unsafe_nosync1, proto_unsafe_nosync3, proto_unsafe_tail_first,
	proto_unsafe_early_retire,
	proto_unsafe_call_as_jmp, proto_unsafe_no_gap, proto_unsafe_spin_handler,
	proto_unsafe_ack_count, proto_unsafe_stray_trap, proto_unsafe_cpumask_nofix,
	proto_unsafe_wide_write;

#endif
