/* What the engine (patch.c, sync.c) gives the protocols (protocols.c). */
#ifndef PT_PATCH_INTERNAL_H
#define PT_PATCH_INTERNAL_H

#include "kernel/patch.h"

/* Marks a step boundary: records it, runs the test hook, delays. */
void engine_step(struct patch_batch *b, enum patch_step s);
/* Writes bytes [off, off + len) of site s (through the text alias); the
 * invariant checker sees every write. */
void engine_write(struct patch_batch *b, struct patch_site *s, unsigned off,
		  const u8 *bytes, unsigned len);
/* Every site's first byte := the protocol's trap byte; tails; heads;
 * whole instructions. */
void engine_write_traps(struct patch_batch *b);
void engine_write_tails(struct patch_batch *b);
void engine_write_heads(struct patch_batch *b);
void engine_write_whole(struct patch_batch *b);
/* Makes the descriptors visible to trap handlers / retires them. */
void engine_publish(struct patch_batch *b);
void engine_retire(struct patch_batch *b);
/* A sync (sync.c): every online CPU serializes after the writes so far;
 * then the checker asserts it. */
void engine_sync(struct patch_batch *b);
/* After the last step: bytes are new, no trap byte is left, no handler
 * holds a reference. Returns 0 or -1 (reported). */
int engine_finish(struct patch_batch *b);
/* The seeded random delay of the delay= option, with pause yields. */
void engine_delay(void);
/* Reports an invariant violation and fails the running test. */
void engine_violation(const char *invariant, int cpu, const char *fmt, ...) __printf(3, 4);

/* Every online CPU but this one is held in a rendezvous (stop-machine):
 * whole-instruction writes are then legal (NMIs aside). */
extern volatile bool world_stopped;
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

/* sync.c */
void sync_init(void);
void sync_poll(void);
void sync_patch_begin(void);
/* The checker's sync invariant, for syncs that do not go through
 * engine_sync (cpumask). */
void check_serialized(void);
/* cpumask protocol: arm the mask for the next step (all online CPUs but
 * this one); a CPU's bit is cleared by its sync IPI or trap handler,
 * after serializing; the CPU that clears the last bit runs advance(). */
void cpumask_arm(void (*advance)(void));
void cpumask_ack(void);
bool cpumask_armed(void);

#endif
