/*
 * Ordered locks and the lock-order checker (lockorder.c, docs/design.md
 * §13.2). Every acquisition of an ordered lock while holding others
 * records the pairs (held, taken) with where each was taken; taking B
 * while holding A when (B, A) was ever recorded is an inversion, reported
 * the first time it is seen with both trails, whether or not the two
 * orders ever met in a deadlock. Always on.
 */
#ifndef PT_LOCKORDER_H
#define PT_LOCKORDER_H

#include "kernel/types.h"

/* The classes, one per lock: their order is what is checked. */
enum lock_class { LOCK_HOTPLUG, LOCK_TEXT, LOCK_CLASSES };

struct olock {
	const char *name;
	enum lock_class cls;
	bool recursive;		/* its owner may take it again (a depth) */
	bool irqs_off_wait;	/* a nested wait (holding another ordered lock)
				 * is made with interrupts off: a lock-order
				 * deadlock stops the timer tick, and the
				 * watchdog sees it */
	u32 locked;
	int owner;		/* CPU id while held, -1 when free */
	u32 depth;
	u64 waits;		/* acquisitions that found it held by another CPU */
	u32 waiting;		/* CPUs waiting for it now */
};

#define OLOCK_INIT(nm, c, rec, irqoff) \
	{ .name = nm, .cls = c, .recursive = rec, .irqs_off_wait = irqoff, .owner = -1 }

extern struct olock text_lock, hotplug_lock;

void olock_take(struct olock *l);
void olock_give(struct olock *l);
bool olock_held_by_me(const struct olock *l);
/* The lock is a test-and-set, not fair: a CPU that gives it and takes it
 * again at once can starve a waiter. A loop that does so calls this in
 * between: it waits, up to ms, while another CPU waits for l. */
void olock_yield(struct olock *l, u64 ms);
/* Resets: a holder the watchdog unwound never gives its locks back. */
void olock_force_release(struct olock *l);
/* Forgets the locks cpu holds (its context was unwound). */
void lockorder_forget_cpu(int cpu);
/* Forgets every recorded pair and inversion: a negative control that
 * taught the checker a wrong order undoes it. */
void lockorder_reset(void);

struct lockorder_stats {
	u64 checks;		/* acquisitions made while holding another lock */
	u64 pairs;		/* distinct ordered pairs recorded */
	u64 inversions;		/* distinct inversions reported */
};
void lockorder_stats(struct lockorder_stats *st);

#endif
