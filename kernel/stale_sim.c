/*
 * Stale code, simulated (neg.trap_stale): what a CPU that runs a stale
 * copy of a site looks like to the trap handler, on a platform that has
 * none (docs/design.md §6).
 */
#include "kernel/patch_internal.h"
#include "kernel/percpu.h"
#include "kernel/time.h"

/* neg.trap_stale: every SIM_STALE_EVERY-th trap of a CPU at a live site is
 * held until the patch has ended, acknowledging its syncs meanwhile, and
 * then handled as if the CPU had executed the trap byte only now: what a
 * CPU running stale code looks like to the handler, on a platform that
 * has none. Never on the patching CPU (it would wait for itself). */
#define SIM_STALE_EVERY 16
#define SIM_STALE_MS 100

bool patch_simulate_stale;
static u64 sim_traps[MAX_CPUS];

bool stale_sim_hold(u8 *addr)
{
	struct cpu *c = this_cpu();
	u64 end = timestamp() + ms_to_ticks(SIM_STALE_MS);

	if (!engine_batch_live() || patch_current_step == STEP_IDLE || engine_patching_here() ||
	    ++sim_traps[c->id] % SIM_STALE_EVERY)
		return false;
	while ((engine_batch_live() || READ_ONCE(*addr) == proto_trap_byte()) &&
	       timestamp() < end)
		sync_poll(), cpu_relax();
	c->trap_entry_seq = c->serial_seq;
	return true;
}

/* A simulated stale trap the handler sent back to re-execute the site
 * (stale_site set: classified as a platform defect): the stale copy is
 * made to outlive that retry once, as a real one may (docs/design.md §6),
 * by classifying the same trap again. The engine must then resume the
 * CPU past the site; another retry would re-run it for as long as the
 * stale copy lives, forever on a platform that keeps it. */
static u64 sim_unresolved;

u64 patch_stats_stale_unresolved(void)
{
	return READ_ONCE(sim_unresolved);
}

int stale_sim_again(struct trap_frame *f, u8 *addr, bool trap_first)
{
	u64 seq = __atomic_load_n(&patch_seq, __ATOMIC_ACQUIRE);
	int ret;

	if (this_cpu()->stale_site != (u64)(uintptr_t)addr)
		return PATCH_TRAP_RETRY;	/* a late trap: nothing stale */
	ret = engine_trap_classify(f, addr, trap_first);
	if (ret == PATCH_TRAP_RETRY && __atomic_load_n(&patch_seq, __ATOMIC_ACQUIRE) == seq)
		__atomic_add_fetch(&sim_unresolved, 1, __ATOMIC_RELAXED);
	return ret;
}
