/*
 * Two writers per step (cowrite.c): a second CPU writes its share of the
 * sites of every write step at the same moment as the patcher writes
 * the rest, so that neighbours packed into one word are written
 * concurrently (docs/design.md §13.1).
 */
#ifndef PT_COWRITE_H
#define PT_COWRITE_H

#include "kernel/types.h"

/* The kinds of write step the engine splits (patch.c). */
enum write_kind { W_TRAPS, W_TAILS, W_HEADS, W_WHOLE };

/* Makes cpu the co-writer (-1: none) and clears the counts. */
void patch_cowriter_set(int cpu);
/* The co-writer's loop: serves write jobs, answers syncs and runs idle()
 * in between, until *stop is set. */
void patch_cowriter_serve(const u32 *stop, void (*idle)(void));
/* Serves a posted job if this CPU is the co-writer (wait loops call it,
 * as stop-machine's rendezvous does); true when it wrote. */
bool cowrite_poll(void);

/* What happened: jobs the co-writer wrote, jobs the patcher had to take
 * back (the co-writer never came), site writes made while the other
 * writer was in the middle of one. */
struct cowrite_stats {
	u64 jobs, taken_back, writes, interleaved;
};
void patch_cowrite_stats(struct cowrite_stats *st);

/* Engine side (patch.c): hands the co-writer its share of step k of b and
 * writes the rest; false when there is no co-writer for it (then the
 * caller writes every site). */
struct patch_batch;
bool cowrite_step(struct patch_batch *b, enum write_kind k);
/* Writes site i of b for step k (patch.c). */
void engine_write_site(struct patch_batch *b, unsigned i, enum write_kind k);

#endif
