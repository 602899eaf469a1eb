/*
 * The invariant checker (docs/design.md §5): the rules checked at every
 * write, at retirement and after the last step, and how a violation is
 * reported. Always on, in every protocol and test; the rules hold
 * whatever the timing, so a missing step is caught at the patch that
 * misses it, not only when a spinner happens to run into it.
 */
#include "kernel/defer.h"
#include "kernel/events.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"

/* The failure report's tail: the trail, the seed and the replay line. */
void patch_report_trail(void)
{
	if (opts.icount_shift >= 0)
		diag("  times in the trail are virtual (QEMU -icount shift=%d)", opts.icount_shift);
	event_dump(40);
	diag("replay: %s", options_replay());
	diag("%s", options_replay_kind());
}

/* Rate limit: a broken protocol violates an invariant at every patch (300
 * in a run); the first is reported in full (the frame of the trap it was
 * found in, the trail up to and including the offending write, the
 * replay line), the next few as one line each, the rest are counted and
 * the count goes with the test's verdict (patch_stats_end). */
#define VIOLATION_LINES 3

static u64 test_violations;	/* this test's */

void engine_violations_reset(void)
{
	test_violations = 0;
}

u64 engine_violations(void)
{
	return READ_ONCE(test_violations);
}

void engine_violation(const char *invariant, int cpu, const char *fmt, ...)
{
	const struct trap_frame *f = this_cpu()->trap_frame;
	char msg[256];
	va_list ap;
	u64 n;

	__atomic_fetch_add(&patch_violations, 1, __ATOMIC_RELAXED);
	n = __atomic_add_fetch(&test_violations, 1, __ATOMIC_RELAXED);
	if (n > VIOLATION_LINES)
		return;		/* counted; the verdict is already failed or detected */
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	event_log(EV_VIOLATION, n, cpu);
	test_detect(DET_INVARIANT, "INVARIANT '%s' violated: CPU %d, protocol %s, step %s: %s",
		    invariant, cpu, proto->name, patch_step_name(patch_current_step), msg);
	if (n > 1)
		return;
	if (f)
		arch_frame_report(f, "INVARIANT VIOLATION in a trap handler");
	else
		diag("found by CPU %d outside any trap handler (the patcher's own checks)",
		     this_cpu()->id);
	patch_report_trail();
}

/* The protocol's core rule, checked on every write: the only write
 * allowed to a live site at any time is a trap byte over its first byte;
 * any other needs the trap byte in place and every CPU serialized since
 * the previous step's writes (or every other CPU held in a rendezvous).
 * This catches a missing sync at the write that depends on it, whatever
 * timing luck the spinners have. */
static bool others_saw_step(struct patch_batch *b, struct patch_site *s, unsigned off,
			    unsigned len, int self)
{
	bool all = true;

	for (unsigned i = 0; i < cpus_possible; i++) {
		if ((int)i == self || !cpu_is_online(i) || qs_cpu_saw(i, b->step_seq))
			continue;
		all = false;
		engine_violation("every CPU saw the previous step before this write", i,
				 "site %p bytes %u-%u: CPU %u last serialized at write %llu, the previous step ended at %llu",
				 s->addr, off, off + len - 1, i,
				 (unsigned long long)cpus[i].serial_seq,
				 (unsigned long long)b->step_seq);
	}
	return all;
}

/* The rest of engine_check_write (patch_internal.h), out of line. */
void engine_check_write_slow(struct patch_batch *b, struct patch_site *s, unsigned off,
			     const u8 *bytes, unsigned len)
{
	struct cpu *c = this_cpu();

	if (READ_ONCE(s->addr[0]) != proto_trap_byte()) {
		engine_violation("a live site changes only behind a trap byte", c->id,
				 "site %p bytes %u-%u written while its first byte is %02x",
				 s->addr, off, off + len - 1, s->addr[0]);
		return;
	}
	if (others_saw_step(b, s, off, len, c->id)) {
		c->step_checked_gen = b->gen;
		c->step_checked_seq = b->step_seq;
	}
}

/* Before a batch retires, its last write must have been seen by every CPU
 * that may run its sites: a protocol that leaves out its last sync is
 * caught here, at the patch that left it out, whatever the spinners saw
 * (docs/design.md §5). A CPU that took an interrupt since also counts:
 * its IRET serialized it (SDM vol. 3A 9.3). So does a CPU a sync deferred
 * in its quiescent state (docs/design.md §8.7): it serializes on leaving
 * it, which defer.c's checker asserts. */
void engine_check_last_sync(struct patch_batch *b)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < cpus_possible; i++) {
		if (!cpu_is_online(i) || (int)i == this_cpu()->id)
			continue;
		if (!qs_cpu_saw(i, seq))
			engine_violation("every CPU serialized after the last write before retirement",
					 i, "patch %llu: CPU %u last serialized at write %llu, the last write was %llu",
					 (unsigned long long)b->gen, i,
					 (unsigned long long)cpus[i].serial_seq,
					 (unsigned long long)seq);
	}
}

/* int3-pipe's handover (docs/design.md §5, rule 3c): a site of the old
 * batch that the next one does not carry must have been serialized after
 * by every CPU (its descriptor is no longer needed), whether or not the
 * next batch patches the same place anew (a site not yet written there);
 * one it carries (already written) must be the same patch, the same new
 * bytes and last write, not another one slipped in. */
void engine_check_handover(struct patch_batch *old, struct patch_batch *next)
{
	for (unsigned k = 0; k < old->n; k++) {
		struct patch_site *s = &old->sites[k], *t = engine_find_site(next, s->addr);

		if (t && t->written) {
			if (t->len != s->len || memcmp(t->new, s->new, s->len) ||
			    t->written != s->written)
				engine_violation("a carried descriptor is the same patch", this_cpu()->id,
						 "site %p: the next batch carries other bytes than patch %llu",
						 s->addr, (unsigned long long)old->gen);
			continue;
		}
		for (unsigned i = 0; i < cpus_possible; i++) {
			if (!cpu_is_online(i) || (int)i == this_cpu()->id)
				continue;
			if (!qs_cpu_saw(i, s->written))
				engine_violation("a dropped descriptor's site is serialized everywhere", i,
						 "site %p dropped at handover from patch %llu: CPU %u last serialized at write %llu, the site's last write was %llu",
						 s->addr, (unsigned long long)old->gen, i,
						 (unsigned long long)cpus[i].serial_seq,
						 (unsigned long long)s->written);
		}
	}
}

int engine_finish(struct patch_batch *b)
{
	u64 before = patch_violations;

	for (unsigned i = 0; i < b->n; i++) {
		struct patch_site *s = &b->sites[i];

		if (memcmp(s->addr, s->new, s->len))
			engine_violation("bytes are the new instruction", this_cpu()->id,
					 "site %p: %02x %02x %02x ... after the patch", s->addr,
					 s->addr[0], s->addr[1], s->addr[2]);
		for (unsigned k = 0; k < s->len; k++)
			if (s->addr[k] == proto_trap_byte() && s->new[k] != proto_trap_byte())
				engine_violation("no stray trap byte", this_cpu()->id,
						 "site %p byte %u is still a trap byte", s->addr, k);
	}
	proto->hooks->finish(b);
	patch_current_step = STEP_IDLE;
	return patch_violations == before ? 0 : -1;
}

void engine_check_refs(struct patch_batch *b)
{
	if (b->refs)
		engine_violation("references back to zero", this_cpu()->id,
				 "%u references left", b->refs);
}
