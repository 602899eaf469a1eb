/*
 * Ordered locks and the lock-order checker (lockorder.h). The checker is
 * lockdep's first idea on a small scale: a lock class per lock, a table
 * of the ordered pairs (held, taken) seen so far with the trail of their
 * first sighting, and a check made before waiting, so that an inversion
 * is reported even in a run where the two orders never met. A trail is
 * the locks this CPU held, each with where it was taken (the caller of
 * olock_take and its caller: the kernel keeps frame pointers).
 */
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/lockorder.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/symbols.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define LO_DEPTH 4

struct lo_entry {
	enum lock_class cls;
	u64 at[2];		/* olock_take's caller and its caller */
};

struct lo_trail {
	int cpu;
	unsigned n;
	struct lo_entry e[LO_DEPTH + 1];	/* the held ones, then the one taken */
	char test[40];
};

static struct {
	unsigned n;
	struct lo_entry e[LO_DEPTH];
} held[MAX_CPUS];

/* pair[a][b]: b was taken while a was held. state: 0 never, 1 being
 * filled, 2 recorded. */
static struct {
	u32 state;
	bool reported;
	struct lo_trail first;
} pair[LOCK_CLASSES][LOCK_CLASSES];

static struct lockorder_stats lo;
static const char *class_names[LOCK_CLASSES] = { "hotplug", "text" };

struct olock text_lock = OLOCK_INIT("text", LOCK_TEXT, false, false);
struct olock hotplug_lock = OLOCK_INIT("hotplug", LOCK_HOTPLUG, true, true);

static void trail_of(struct lo_trail *t, int cpu, const struct lo_entry *taking)
{
	const char *name = test_current_name();

	t->cpu = cpu;
	t->n = held[cpu].n;
	memcpy(t->e, held[cpu].e, t->n * sizeof(t->e[0]));
	t->e[t->n++] = *taking;
	strlcpy(t->test, name ? name : "-", sizeof(t->test));
}

static void print_trail(const char *what, const struct lo_trail *t)
{
	diag("  %s: CPU %d, test %s:", what, t->cpu, t->test);
	for (unsigned i = 0; i < t->n; i++) {
		char a[64], b[64];

		symbolize(t->e[i].at[0], a, sizeof(a));
		symbolize(t->e[i].at[1], b, sizeof(b));
		diag("    %s %s lock at %s, from %s", i + 1 < t->n ? "holding" : "taking",
		     class_names[t->e[i].cls], a, b);
	}
}

static void report_inversion(int cpu, enum lock_class h, const struct lo_entry *taking)
{
	struct lo_trail now;

	if (__atomic_exchange_n(&pair[taking->cls][h].reported, true, __ATOMIC_ACQ_REL))
		return;
	lo.inversions++;
	trail_of(&now, cpu, taking);
	test_detect(DET_LOCK_ORDER,
		    "lock order inverted: CPU %d takes the %s lock holding the %s lock; the %s lock "
		    "was taken holding the %s lock before (CPU %d, test %s)", cpu,
		    class_names[taking->cls], class_names[h], class_names[h],
		    class_names[taking->cls], pair[taking->cls][h].first.cpu,
		    pair[taking->cls][h].first.test);
	print_trail("now", &now);
	print_trail("before", &pair[taking->cls][h].first);
}

/* Before waiting for l: the pairs (held, l), each recorded the first time
 * and checked against its reverse. */
static void check_order(int cpu, const struct lo_entry *taking)
{
	for (unsigned i = 0; i < held[cpu].n; i++) {
		enum lock_class h = held[cpu].e[i].cls;
		u32 zero = 0;

		if (h == taking->cls)
			continue;
		__atomic_add_fetch(&lo.checks, 1, __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&pair[h][taking->cls].state, &zero, 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			trail_of(&pair[h][taking->cls].first, cpu, taking);
			__atomic_store_n(&pair[h][taking->cls].state, 2, __ATOMIC_RELEASE);
			__atomic_add_fetch(&lo.pairs, 1, __ATOMIC_RELAXED);
		}
		if (__atomic_load_n(&pair[taking->cls][h].state, __ATOMIC_ACQUIRE) == 2)
			report_inversion(cpu, h, taking);
	}
}

static bool try_take(struct olock *l, int me)
{
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return false;
	WRITE_ONCE(l->owner, me);
	l->depth = 1;
	return true;
}

/* noinline: the two return addresses recorded are its caller's. */
__attribute__((noinline)) void olock_take(struct olock *l)
{
	int me = this_cpu()->id;
	struct lo_entry e = { .cls = l->cls };

	if (l->recursive && READ_ONCE(l->owner) == me) {
		l->depth++;
		return;
	}
	e.at[0] = (u64)(uintptr_t)__builtin_return_address(0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-address"
	e.at[1] = (u64)(uintptr_t)__builtin_return_address(1);
#pragma GCC diagnostic pop
	check_order(me, &e);
	if (!try_take(l, me)) {
		bool nested = held[me].n > 0, off = l->irqs_off_wait && nested;
		irqflags_t f = 0;

		__atomic_add_fetch(&l->waits, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&l->waiting, 1, __ATOMIC_ACQ_REL);
		if (off)
			f = irq_save();
		/* Answering syncs meanwhile: the holder may be patching. */
		while (!try_take(l, me)) {
			sync_poll();
			cpu_relax();
		}
		if (off)
			irq_restore(f);
		__atomic_sub_fetch(&l->waiting, 1, __ATOMIC_ACQ_REL);
	}
	if (held[me].n < LO_DEPTH)
		held[me].e[held[me].n++] = e;
}

static void forget(int cpu, enum lock_class cls)
{
	for (unsigned i = held[cpu].n; i-- > 0;) {
		if (held[cpu].e[i].cls != cls)
			continue;
		memmove(&held[cpu].e[i], &held[cpu].e[i + 1],
			(held[cpu].n - i - 1) * sizeof(held[cpu].e[0]));
		held[cpu].n--;
		return;
	}
}

void olock_give(struct olock *l)
{
	int me = this_cpu()->id;

	if (--l->depth)
		return;
	forget(me, l->cls);
	WRITE_ONCE(l->owner, -1);
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

bool olock_held_by_me(const struct olock *l)
{
	return READ_ONCE(l->locked) && READ_ONCE(l->owner) == this_cpu()->id;
}

void olock_yield(struct olock *l, u64 ms)
{
	u64 end = timestamp() + ms_to_ticks(ms);

	while (__atomic_load_n(&l->waiting, __ATOMIC_ACQUIRE) && timestamp() < end)
		sync_poll(), cpu_relax();
}

void olock_force_release(struct olock *l)
{
	int owner = READ_ONCE(l->owner);

	if (owner >= 0)
		forget(owner, l->cls);
	l->depth = 0;
	WRITE_ONCE(l->owner, -1);
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

void lockorder_forget_cpu(int cpu)
{
	held[cpu].n = 0;
}

void lockorder_reset(void)
{
	memset(pair, 0, sizeof(pair));
	lo = (struct lockorder_stats){ 0 };
}

void lockorder_stats(struct lockorder_stats *st)
{
	*st = lo;
}
