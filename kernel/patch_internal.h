/* What the engine (patch.c, sync.c) gives the protocols (protocols.c and
 * the proto_*.c files). */
#ifndef PT_PATCH_INTERNAL_H
#define PT_PATCH_INTERNAL_H

#include "kernel/patch.h"
#include "kernel/percpu.h"

/* Only ever forward: a record of a serialization (serial_seq, a sync's
 * acknowledgement, a ledger) interrupted by a sync IPI or an NMI whose
 * handler records a newer one must not put back the older value it read
 * before the nested one ran. */
static inline void raise_to(u64 *p, u64 v)
{
	u64 old = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (old < v && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_RELEASE,
						      __ATOMIC_RELAXED))
		;
}

/* Marks a step boundary: records it, runs the test hook, delays. */
void engine_step(struct patch_batch *b, enum patch_step s);
/* Writes bytes [off, off + len) of site s (through the text alias); the
 * invariant checker sees every write. */
/* Serializes this CPU and records it (serial_seq): a writer does, after
 * each write step's writes. */
void engine_serialize_self(void);
void engine_write(struct patch_batch *b, struct patch_site *s, unsigned off,
		  const u8 *bytes, unsigned len);
/* Every site's first byte := the protocol's trap byte; tails; heads;
 * whole instructions. */
void engine_write_traps(struct patch_batch *b);
void engine_write_tails(struct patch_batch *b);
void engine_write_heads(struct patch_batch *b);
void engine_write_whole(struct patch_batch *b);
/* Sorts sites by address, as batches keep them (find_site searches). */
void engine_sort_sites(struct patch_site *s, unsigned n);
/* The site of b at addr, or NULL. */
struct patch_site *engine_find_site(struct patch_batch *b, const u8 *addr);
/* The live batch old gives way to next, which carries on every site of
 * old that not every CPU has serialized after (int3-pipe): checked,
 * next published, old's readers waited for. */
void engine_handover(struct patch_batch *old, struct patch_batch *next);
/* check.c: the handover's rule, before next is published. */
void engine_check_handover(struct patch_batch *old, struct patch_batch *next);
/* stray.c: a site dropped at a handover has had its last sync. */
void site_rec_synced_site(const u8 *addr);
/* proto_wide.c: b written over the first byte at addr the way a write
 * wider than a byte does it: the aligned word read, changed, written
 * back a moment later. */
void wide_text_write(u8 *addr, u8 b);
/* Makes the descriptors visible to trap handlers / unpublishes them and
 * runs the protocol's retire hook. */
void engine_publish(struct patch_batch *b);
/* Whether a site of b is in entry text (arch_text_in_entry). */
bool engine_batch_in_entry(const struct patch_batch *b);
void engine_retire(struct patch_batch *b);
/* A sync (sync.c): every online CPU serializes after the writes so far;
 * then the checker asserts it. */
void engine_sync(struct patch_batch *b);
/* Every online CPU but this one is held in a rendezvous (stop-machine):
 * whole-instruction writes are then legal (NMIs aside). */
extern volatile bool world_stopped;
/* check.c: the rule of every write (before it is made), and the last
 * sync's (at retirement). */
void engine_check_write_slow(struct patch_batch *b, struct patch_site *s, unsigned off,
			     const u8 *bytes, unsigned len);
/* Inline, for the common case of every write of a step after its first:
 * a trap byte needs no check, and once this CPU found every other CPU
 * serialized after the previous step, the later writes of that step need
 * not look again (the condition only ever becomes true: serial_seq and a
 * deferral's mark only grow). A step that failed it is looked at again at
 * its every write. */
static inline void engine_check_write(struct patch_batch *b, struct patch_site *s,
				      unsigned off, const u8 *bytes, unsigned len)
{
	const struct cpu *c = this_cpu();

	if (world_stopped || (off == 0 && len == 1 && bytes[0] == proto_trap_byte()))
		return;
	if (READ_ONCE(s->addr[0]) == proto_trap_byte() && c->step_checked_gen == b->gen &&
	    c->step_checked_seq == b->step_seq)
		return;
	engine_check_write_slow(b, s, off, bytes, len);
}
void engine_check_last_sync(struct patch_batch *b);
/* After the last step: bytes are new, no trap byte is left, no handler
 * holds a reference. Returns 0 or -1 (reported). */
int engine_finish(struct patch_batch *b);
/* The seeded random delay of the delay= option, with pause yields. */
void engine_delay(void);
/* Reports an invariant violation and fails the running test. */
void engine_violation(const char *invariant, int cpu, const char *fmt, ...) __printf(3, 4);
/* This test's violations (rate-limited reports): reset, count. */
void engine_violations_reset(void);
u64 engine_violations(void);

/* Bumped after every text write; each CPU notes the value it saw at its
 * last serializing event (trap return, sync), see percpu.h. */
extern u64 text_write_seq;

/* Bumped when a batch is published and when it is retired: a trap
 * handler that reads it before and after looking tells whether a patch
 * began or ended meanwhile. */
extern u64 patch_seq;

/* stray.c: per-site records of the last removal of a trap byte, and the
 * classification of traps no live patch owns. */
void site_rec_removed(struct patch_batch *b, struct patch_site *s, u64 seq);
void site_rec_synced(struct patch_batch *b);
int trap_stray(struct trap_frame *f, u8 *addr, u64 seq0, u64 entry_seq);
/* The trap path past the simulation: live batch, else stray. */
int engine_trap_classify(struct trap_frame *f, u8 *addr, bool trap_first);
bool engine_batch_live(void);
/* The published batch, or NULL (the deferred sync looks at its sites). */
const struct patch_batch *engine_live_batch(void);
/* This CPU holds the text mutex: it is the patcher. */
bool engine_patching_here(void);

/* stale_sim.c (neg.trap_stale): holds a trap until its patch ended and
 * marks it as executed only now (true when it did); then, after the
 * handler sent it back to re-execute, classifies it once more as if the
 * stale copy had outlived the retry. */
bool stale_sim_hold(u8 *addr);
int stale_sim_again(struct trap_frame *f, u8 *addr, bool trap_first);

/* patch_lock.c: the hotplug lock, then the text lock (docs/design.md
 * §13.2), taken and given around every patch; released by force for a
 * patcher that was unwound. */
void patch_lock(void);
/* patch_lock, unless another CPU keeps the text lock for ms (a patcher
 * the watchdog unwound): then false, nothing taken. */
bool patch_lock_within(u64 ms);
void patch_unlock(void);
void patch_locks_force_release(void);

/* sync.c */
void sync_init(void);
/* Once the CPUs are up: whether they run in parallel, which sets how
 * often sync waits relax (sync.c). */
void sync_calibrate(void);
void sync_poll(void);
/* Every loop in which a CPU waits for the others to answer a sync (or a
 * rendezvous) is bracketed by these, and polls through sync_wait_poll,
 * which gives the relax hint as often as the platform wants (sync.c):
 * tests see the wait (sync_wait_now, patch_sync_wait_hook, patch.h). */
struct sync_waiter {
	u64 outer, polls;
};
void sync_wait_begin(struct sync_waiter *w);
void sync_wait_poll(struct sync_waiter *w);
void sync_wait_end(struct sync_waiter *w);
/* This CPU answered a sync (serialized, then acknowledged). */
void sync_count_ack(void);
/* Acknowledges a sync this CPU has not answered yet, nothing else: for
 * trap handlers held up (sync_poll also runs SMP calls). */
void sync_ack_pending(void);
/* The checker's sync invariant, for syncs that do not go through
 * engine_sync (cpumask, stop-machine). */
void check_serialized(void);

/* The standard hooks (struct patch_hooks), for protocols to list. */
/* trap: runs s->emul (arch_emulate); a violation when it cannot.
 * engine_emulate_site is the same with the CALL push chosen. */
void engine_trap_emulate(struct trap_frame *f, struct patch_site *s, u8 *addr);
void engine_emulate_site(struct trap_frame *f, struct patch_site *s, u8 *addr, bool push_call);
/* emulate: arch_emulate with the CALL's push. */
bool engine_emulate(struct trap_frame *f, const struct insn *in, u8 *addr);
/* sync_claim: none, every sync is acknowledged by generation. */
bool sync_claim_none(void);
/* sync_wait: until every other online CPU acknowledged generation gen. */
void sync_wait_generation(u64 gen);
/* retire: drops the patcher's reference, waits for the trap handlers'
 * (reports one still held after 5 s), marks the batch retired. */
void engine_retire_wait(struct patch_batch *b);
/* finish: no reference is left. */
void engine_check_refs(struct patch_batch *b);
/* select: the architecture's trap entry in its safe form (protocols.c). */
void select_standard(void);
/* For the retire hooks that do not wait. */
void engine_ref_put(struct patch_batch *b);
/* A reference on a live batch for a trap handler; false once it retired. */
bool engine_ref_get(struct patch_batch *b);
/* The published batch, or NULL (the trap path's, trap_path.c). */
struct patch_batch *engine_published(void);

#endif
