/* A test-and-test-and-set spinlock that remembers its owner, so that code
 * running in NMI context can tell "held by the CPU I interrupted" (waiting
 * would deadlock) from "held by another CPU" (waiting is fine). */
#ifndef PT_SPINLOCK_H
#define PT_SPINLOCK_H

#include "kernel/arch.h"

struct spinlock {
	u32 locked;
	int owner;	/* CPU id while held, -1 when free */
};

#define SPINLOCK_INIT { 0, -1 }

int this_cpu_id(void);

static inline bool spin_trylock(struct spinlock *l)
{
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return false;
	WRITE_ONCE(l->owner, this_cpu_id());
	return true;
}

static inline void spin_lock(struct spinlock *l)
{
	while (!spin_trylock(l))
		while (READ_ONCE(l->locked))
			cpu_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
	WRITE_ONCE(l->owner, -1);
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline bool spin_held_by_me(const struct spinlock *l)
{
	return READ_ONCE(l->locked) && READ_ONCE(l->owner) == this_cpu_id();
}

#endif
