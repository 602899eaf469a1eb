/*
 * int3-pipe: the int3 sequence for a stream of patches (many static keys
 * flipped one after another), where the last sync of one patch is the
 * first sync of the next (docs/design.md §3.8).
 *
 * Linux's sequence syncs three times a patch: after the trap bytes, after
 * the tails, after the heads. The third sync only makes every CPU forget
 * the trap byte, so that the descriptor can retire; nothing a CPU can
 * observe changes with it (it runs the new instruction or traps into its
 * emulation either way). So patch_apply returns after writing the heads,
 * the descriptors stay published, and the next patch's first sync covers
 * both its own trap bytes and the previous heads:
 *
 *   patch N:    publish {N-1, N}   (handover: N-2 dropped, N-1 carried)
 *               trap bytes of N    sync    (N-1's heads, N's traps)
 *               tails of N         sync
 *               heads of N         return: N pending
 *   flush:      sync, retire       (the stream's last third sync)
 *
 * Two syncs a patch, plus one per stream. A descriptor retires (is dropped
 * at a handover, or retired at the flush) only after the sync that covers
 * its site's last write; the checker's handover rule (check.c) accepts
 * exactly that. A patch touching a pending site cannot overlap with it:
 * the stream is flushed first and that patch costs three syncs.
 *
 * unsafe-pipe-notail, the control, also drops the tail sync.
 */
#include "kernel/percpu.h"
#include "kernel/defer.h"
#include "kernel/protocols.h"
#include "kernel/smp.h"
#include "kernel/string.h"

/* Two batches in turn: the live one and the next, each able to hold the
 * pending sites of one patch and the sites of the next. Static, never on
 * a stack (docs/design.md §4.3); one patcher at a time (the text lock). */
#define PIPE_SITES (2 * PATCH_BATCH_MAX)

static struct patch_site pipe_sites[2][PIPE_SITES];
static struct patch_batch pipe_batches[2];
static struct patch_batch *live;	/* published, or NULL */

static bool overlaps(const struct patch_site *a, const struct patch_site *b)
{
	return a->addr < b->addr + b->len && b->addr < a->addr + a->len;
}

/* The sites of live whose last write not every CPU has serialized after:
 * the previous patch's heads. */
static bool pending(const struct patch_site *s)
{
	for (unsigned i = 0; i < cpus_possible; i++)
		if (cpu_is_online(i) && !qs_cpu_saw(i, s->written))
			return true;
	return false;
}

/* Whether b can go into the stream after live's pending sites. */
static bool fits(const struct patch_batch *b, unsigned *carried)
{
	*carried = 0;
	for (unsigned i = 0; live && i < live->n; i++) {
		if (!pending(&live->sites[i]))
			continue;
		for (unsigned k = 0; k < b->n; k++)
			if (overlaps(&live->sites[i], &b->sites[k]))
				return false;
		(*carried)++;
	}
	return *carried + b->n <= PIPE_SITES;
}

static void pipe_flush(bool discard)
{
	if (live && !discard) {
		engine_sync(live);
		engine_retire(live);
	}
	live = NULL;
}

/* next := live's pending sites and b's, sorted; b's are the ones with no
 * write yet (written == 0). */
static struct patch_batch *pipe_next(const struct patch_batch *b)
{
	unsigned which = live == &pipe_batches[0];
	struct patch_site *ns = pipe_sites[which];
	struct patch_batch *next = &pipe_batches[which];
	unsigned n = 0;

	for (unsigned i = 0; live && i < live->n; i++)
		if (pending(&live->sites[i]))
			ns[n++] = live->sites[i];
	for (unsigned k = 0; k < b->n; k++) {
		ns[n] = b->sites[k];
		ns[n++].written = 0;
	}
	engine_sort_sites(ns, n);
	memset(next, 0, sizeof(*next));
	next->sites = ns;
	next->n = n;
	return next;
}

/* This patch's own sites, sorted: what its write steps write (through
 * the engine's write steps, so that a co-writer may take a share,
 * kernel/cowrite.c). The published batch holds copies, with the previous
 * patch's pending sites. */
static struct patch_site view_sites[PATCH_BATCH_MAX];
static struct patch_batch view;

static void view_of(const struct patch_batch *b)
{
	memcpy(view_sites, b->sites, b->n * sizeof(*view_sites));
	for (unsigned k = 0; k < b->n; k++)
		view_sites[k].written = 0;
	engine_sort_sites(view_sites, b->n);
	memset(&view, 0, sizeof(view));
	view.sites = view_sites;
	view.n = b->n;
}

/* One write step over the view, then each site's last write into the
 * published batch, where the next patch looks for pending sites. */
static void pipe_write(struct patch_batch *next, void (*step)(struct patch_batch *))
{
	view.step_seq = next->step_seq;
	view.gen = next->gen;
	step(&view);
	for (unsigned i = 0; i < view.n; i++)
		engine_find_site(next, view.sites[i].addr)->written = view.sites[i].written;
}

static int pipe_sequence(struct patch_batch *b, bool tail_sync)
{
	struct patch_batch *next;
	unsigned carried;

	if (!fits(b, &carried))
		pipe_flush(false);
	next = pipe_next(b);
	view_of(b);
	if (live)
		engine_handover(live, next);
	else
		engine_publish(next);
	live = next;
	engine_step(next, STEP_TRAP);
	pipe_write(next, engine_write_traps);
	engine_sync(next);	/* also the previous patch's third */
	engine_step(next, STEP_TAIL);
	pipe_write(next, engine_write_tails);
	if (tail_sync)
		engine_sync(next);
	engine_step(next, STEP_HEAD);
	pipe_write(next, engine_write_heads);
	return 0;
}

static int pipe_apply(struct patch_batch *b)
{
	return pipe_sequence(b, true);
}

static int pipe_notail_apply(struct patch_batch *b)
{
	return pipe_sequence(b, false);
}

const struct patch_proto proto_int3_pipe = {
	.name = "int3-pipe", .safe = true, .batching = true, .apply = pipe_apply,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks, .flush = pipe_flush,
	.what = "the int3 sequence for streams of patches: each patch's last sync is the next one's first",
};

const struct patch_proto proto_unsafe_pipe_notail = {
	.name = "unsafe-pipe-notail", .apply = pipe_notail_apply,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks, .flush = pipe_flush,
	.what = "negative control: int3-pipe without the sync after the tails",
};
