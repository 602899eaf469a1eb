/*
 * The patcher's locks (docs/design.md §13.2): the hotplug lock, then the
 * text lock, around every patch; and their release when the patcher that
 * held them was unwound.
 */
#include "kernel/lockorder.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/time.h"

/* A negative control's defect: the text lock taken before the hotplug
 * lock (docs/design.md §13.2). */
bool patch_lock_order_inverted;
static bool took_hotplug;	/* the holder of text_lock also holds hotplug_lock */

/*
 * One patcher at a time (text_lock), and no CPU leaving or joining while
 * it waits on all of them (hotplug_lock, taken first: the order of
 * docs/design.md §13.2, the hotplug lock outside the text lock, as
 * Linux's callers take cpus_read_lock before text_mutex). The hotplug
 * lock is recursive: a hotplug path that patches text as a CPU comes up
 * already holds it.
 */
void patch_lock(void)
{
	bool inverted = READ_ONCE(patch_lock_order_inverted);

	if (!inverted)
		olock_take(&hotplug_lock);
	olock_take(&text_lock);
	if (inverted)
		olock_take(&hotplug_lock);
	took_hotplug = true;
}

bool patch_lock_within(u64 ms)
{
	u64 end = timestamp() + ms_to_ticks(ms);

	while (READ_ONCE(text_lock.locked) && !olock_held_by_me(&text_lock)) {
		if (timestamp() > end)
			return false;
		sync_poll();
		cpu_relax();
	}
	patch_lock();
	return true;
}

void patch_unlock(void)
{
	took_hotplug = false;
	olock_give(&text_lock);
	olock_give(&hotplug_lock);
}

bool engine_patching_here(void)
{
	return olock_held_by_me(&text_lock);
}

/* The unwound patcher's locks: both, or the text lock alone when it was
 * unwound waiting for the hotplug lock in the inverted order. */
void patch_locks_force_release(void)
{
	if (took_hotplug && READ_ONCE(hotplug_lock.owner) == READ_ONCE(text_lock.owner))
		olock_force_release(&hotplug_lock);
	took_hotplug = false;
	olock_force_release(&text_lock);
}

/* Between tests no patch and no hotplug is in progress: a lock still held
 * belongs to a context the watchdog or a crash unwound (docs/design.md
 * §13.2). Left held, every later patch would wait on it for its whole
 * budget. */
void patch_reset_leftovers(const char *test)
{
	int t = READ_ONCE(text_lock.owner), h = READ_ONCE(hotplug_lock.owner);

	if (!READ_ONCE(text_lock.locked) && !READ_ONCE(hotplug_lock.locked))
		return;
	diag("%s: released what an unwound context left held: the text lock (CPU %d), the "
	     "hotplug lock (CPU %d)", test, t, h);
	patch_force_reset();
	if (READ_ONCE(hotplug_lock.locked))
		olock_force_release(&hotplug_lock);
}
