/*
 * The patching engine's trap path (see patch.h): a CPU that executed a
 * trap byte finds the published batch, pins it with a reference, and
 * emulates the site's new instruction; a trap at no live site goes to the
 * stray-trap classifier (stray.c). The descriptors and their references
 * are patch.c's (docs/design.md §4.3, §4.4).
 */
#include "kernel/defer.h"
#include "kernel/events.h"
#include "kernel/patch_internal.h"
#include "kernel/percpu.h"
#include "kernel/random.h"
#include "kernel/time.h"

/* A trap handler held up (the delay= hook points of the trap path). It
 * answers syncs meanwhile, as a wait loop does (sync.c): the handler has
 * serialized, and the patcher may then pass its last sync and reach
 * retirement while this handler still holds the batch, which is what the
 * reference wait is for (docs/design.md §4). Under the int3 protocols
 * without this, a handler with interrupts off holds up the last sync and
 * the reference wait never matters. */
u32 patch_handler_delay_at = HANDLER_DELAY_DEFAULT;

static void handler_delay(u32 point)
{
	struct cpu *c = this_cpu();
	u64 end, lo, hi;

	if (!(READ_ONCE(patch_handler_delay_at) & point))
		return;
	patch_get_delay(&lo, &hi);
	if (!hi)
		return;
	end = timestamp() + ns_to_ticks(rng_range(&c->rng, lo, hi));
	do {
		sync_ack_pending();
		cpu_relax();
	} while (timestamp() < end);
}

static u64 patcher_traps[PATCHER_TRAP_KINDS];

u64 patch_patcher_traps(unsigned kind)
{
	return kind < PATCHER_TRAP_KINDS ? READ_ONCE(patcher_traps[kind]) : 0;
}

/* A trap on the patching CPU itself: where it was (docs/design.md §3.3). */
static void count_patcher_trap(struct cpu *c)
{
	unsigned kind = PATCHER_TRAP_OTHER;

	if (!engine_patching_here())
		return;
	if (sync_wait_now(c->id))
		kind = c->nmi_depth ? PATCHER_TRAP_NMI_IN_WAIT : PATCHER_TRAP_IN_WAIT;
	__atomic_add_fetch(&patcher_traps[kind], 1, __ATOMIC_RELAXED);
}

static bool retired_under_us(struct patch_batch *b, u64 gen)
{
	return __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BATCH_RETIRED ||
	       READ_ONCE(b->gen) != gen;
}

/* After the use (HANDLER_HOLD_END): held, answering syncs, until the
 * patch it pinned is retired, at most HANDLER_HOLD_MS. A retirement that
 * waits for the reference never comes while it is held, so this is for a
 * control alone (neg.early_retire_late): a timed delay there caught the
 * early retirement 3 times in 300 patches on a quiet host and never on a
 * busy one, where the patcher's remaining syncs outlast any delay. */
#define HANDLER_HOLD_MS 50

static void handler_hold(struct patch_batch *b, u64 gen)
{
	u64 end;

	if (!(READ_ONCE(patch_handler_delay_at) & HANDLER_HOLD_END))
		return;
	end = timestamp() + ms_to_ticks(HANDLER_HOLD_MS);
	while (!retired_under_us(b, gen) && timestamp() < end) {
		sync_ack_pending();
		cpu_relax();
	}
}

/* A trap at a site of the live batch b: emulate its new instruction. */
static int trap_live(struct trap_frame *f, struct patch_batch *b, u8 *addr, bool trap_first)
{
	struct cpu *c = this_cpu();
	struct patch_site *s;
	u64 gen;

	handler_delay(HANDLER_DELAY_START);	/* a handler slow to start */
	if (!engine_ref_get(b))
		return PATCH_TRAP_RETRY;	/* retired meanwhile: run what is there now */
	/* Which patch our reference pins. A slow handler may pin the next
	 * patch reusing the same descriptors (it is live and complete);
	 * what must never happen is the patch changing under the pin. */
	gen = READ_ONCE(b->gen);
	if (retired_under_us(b, gen))
		engine_violation("no retired descriptor is read", c->id,
				 "trap handler at %p read patch %llu's descriptors after it was retired",
				 addr, (unsigned long long)gen);
	s = engine_find_site(b, addr);
	if (!s) {
		engine_ref_put(b);
		return PATCH_TRAP_NOT_OURS;
	}
	handler_delay(HANDLER_DELAY_USE);	/* between finding and using the descriptor */
	if (retired_under_us(b, gen)) {
		engine_violation("no retired descriptor is read", c->id,
				 "trap handler at %p used patch %llu's descriptor after it was retired",
				 addr, (unsigned long long)gen);
		engine_ref_put(b);
		return PATCH_TRAP_RETRY;
	}
	event_log(EV_TRAP, (u64)(uintptr_t)addr, trap_first);
	c->trap_hits++;
	count_patcher_trap(c);
	proto->hooks->trap(f, s, addr);
	handler_hold(b, gen);	/* a handler slow to finish (a control's) */
	/* And after using it, at the reference's drop: a retirement between
	 * the check above and the use (the handler's vCPU descheduled there
	 * by a busy host, under MTTCG) left it emulating a descriptor half
	 * rewritten, and the crash that followed was the only sign
	 * (neg.early_retire, 1 of 4 runs beside two busy loops); one after
	 * the use has the drop below write to a reused descriptor. The
	 * reference is still held: either is the same defect. */
	if (retired_under_us(b, gen))
		engine_violation("no retired descriptor is read", c->id,
				 "trap handler at %p was still using patch %llu's descriptor when it was retired",
				 addr, (unsigned long long)gen);
	engine_ref_put(b);
	return PATCH_TRAP_HANDLED;
}

void engine_emulate_site(struct trap_frame *f, struct patch_site *s, u8 *addr, bool push_call)
{
	if (!arch_emulate(f, &s->emul, addr, push_call))
		engine_violation("the trap handler can emulate the site", this_cpu()->id,
				 "site %p: cannot emulate %s", addr, insn_kind_name(s->emul.kind));
}

void engine_trap_emulate(struct trap_frame *f, struct patch_site *s, u8 *addr)
{
	engine_emulate_site(f, s, addr, true);
}

bool engine_emulate(struct trap_frame *f, const struct insn *in, u8 *addr)
{
	return arch_emulate(f, in, addr, true);
}

/* The frame goes with any violation found meanwhile (its report). */
int patch_trap(struct trap_frame *f, u8 *addr, bool trap_first)
{
	struct cpu *c = this_cpu();
	const struct trap_frame *outer = c->trap_frame;
	int ret;

	bool sim = READ_ONCE(patch_simulate_stale) && stale_sim_hold(addr);

	c->trap_frame = f;
	qs_site_run("a trap at a patch site");
	ret = engine_trap_classify(f, addr, trap_first);
	if (sim && ret == PATCH_TRAP_RETRY)
		ret = stale_sim_again(f, addr, trap_first);
	c->trap_frame = outer;
	return ret;
}

int engine_trap_classify(struct trap_frame *f, u8 *addr, bool trap_first)
{
	u64 entry_seq;

	entry_seq = this_cpu()->trap_entry_seq;
	u64 seq0 = __atomic_load_n(&patch_seq, __ATOMIC_ACQUIRE);
	struct patch_batch *b = engine_published();

	if (b) {
		int ret = trap_live(f, b, addr, trap_first);

		if (ret != PATCH_TRAP_NOT_OURS)
			return ret;
	}
	return trap_stray(f, addr, seq0, entry_seq);
}
