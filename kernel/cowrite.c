/*
 * Two writers per step (cowrite.h). A protocol's write step (every trap
 * byte, every tail, every head, or every whole instruction of a batch)
 * is a set of writes with no order among them: the sync after the step
 * is what orders it against the next. So the step may be split: the
 * patcher posts the step, the co-writer takes the odd-numbered sites
 * (sorted by address, so packed neighbours alternate), and both write at
 * once. Nothing else changes: one batch, one text lock, the same syncs
 * and checks. What it adds is the hazard of docs/design.md §13.1: two
 * CPUs writing bytes of the same word at the same moment, where a write
 * wider than its own bytes undoes the other's.
 *
 * A job the co-writer has not taken within CW_TAKE_MS is taken back and
 * written by the patcher alone: the co-writer may be held elsewhere
 * (a rendezvous that does not poll, an interrupt handler), and a step must
 * never wait on it.
 */
#include "kernel/cowrite.h"
#include "kernel/patch_internal.h"
#include "kernel/smp.h"
#include "kernel/time.h"

#define CW_TAKE_MS 2
#define CW_DONE_MS 5000

enum { CW_IDLE, CW_POSTED, CW_TAKEN, CW_DONE };

static int cw_cpu = -1;
static u32 cw_state;
static struct patch_batch *cw_batch;
static enum write_kind cw_kind;
static u32 cw_inflight;		/* writers in the middle of a site write */
static struct cowrite_stats cw;

void patch_cowriter_set(int cpu)
{
	__atomic_store_n(&cw_state, CW_IDLE, __ATOMIC_RELEASE);
	cw = (struct cowrite_stats){ 0 };
	__atomic_store_n(&cw_cpu, cpu, __ATOMIC_RELEASE);
}

void patch_cowrite_stats(struct cowrite_stats *st)
{
	*st = cw;
}

/* Writes the sites of b with index parity `odd`, counting each write that
 * begins while the other writer is in the middle of one. */
static void write_share(struct patch_batch *b, enum write_kind k, unsigned odd)
{
	for (unsigned i = odd; i < b->n; i += 2) {
		if (__atomic_add_fetch(&cw_inflight, 1, __ATOMIC_ACQ_REL) > 1)
			__atomic_add_fetch(&cw.interleaved, 1, __ATOMIC_RELAXED);
		/* PAUSE around the write: where single-threaded TCG switches
		 * vCPUs, so that the other writer's write can land in between
		 * there too. */
		cpu_relax();
		engine_write_site(b, i, k);
		cpu_relax();
		__atomic_sub_fetch(&cw_inflight, 1, __ATOMIC_ACQ_REL);
		__atomic_add_fetch(&cw.writes, 1, __ATOMIC_RELAXED);
	}
}

bool cowrite_poll(void)
{
	u32 posted = CW_POSTED;

	if (this_cpu()->id != __atomic_load_n(&cw_cpu, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&cw_state, __ATOMIC_ACQUIRE) != CW_POSTED)
		return false;
	if (!__atomic_compare_exchange_n(&cw_state, &posted, CW_TAKEN, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return false;	/* the patcher took it back */
	write_share(cw_batch, cw_kind, 1);
	engine_serialize_self();
	arch_text_done();
	__atomic_add_fetch(&cw.jobs, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&cw_state, CW_DONE, __ATOMIC_RELEASE);
	return true;
}

void patch_cowriter_serve(const u32 *stop, void (*idle)(void))
{
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		cowrite_poll();
		sync_poll();
		if (idle)
			idle();
		cpu_relax();
	}
}

/* Waits for the co-writer to move the job on from `from`; false when
 * CW_TAKE_MS (or CW_DONE_MS) passed first. */
static bool wait_past(u32 from, u64 ms)
{
	u64 end = timestamp() + ms_to_ticks(ms);

	while (__atomic_load_n(&cw_state, __ATOMIC_ACQUIRE) == from) {
		if (timestamp() > end)
			return false;
		cpu_relax();
	}
	return true;
}

bool cowrite_step(struct patch_batch *b, enum write_kind k)
{
	int cpu = __atomic_load_n(&cw_cpu, __ATOMIC_ACQUIRE);
	u32 posted = CW_POSTED;

	if (cpu < 0 || b->n < 2 || this_cpu()->id == cpu || !cpu_is_online(cpu))
		return false;
	cw_batch = b;
	cw_kind = k;
	__atomic_store_n(&cw_state, CW_POSTED, __ATOMIC_RELEASE);
	/* Start together: the point is two writers at the same moment. */
	if (!wait_past(CW_POSTED, CW_TAKE_MS) &&
	    __atomic_compare_exchange_n(&cw_state, &posted, CW_IDLE, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&cw.taken_back, 1, __ATOMIC_RELAXED);
		return false;
	}
	write_share(b, k, 0);
	if (!wait_past(CW_TAKEN, CW_DONE_MS))
		engine_violation("a write step completes", this_cpu()->id,
				 "the co-writer (CPU %d) took its share of a step and did not finish "
				 "it in %d ms", cpu, CW_DONE_MS);
	__atomic_store_n(&cw_state, CW_IDLE, __ATOMIC_RELEASE);
	/* The co-writer's writes are this step's too: the patcher has seen
	 * them (acquire above) and serializes before it goes on, as after its
	 * own writes (SDM vol. 3A 8.1.3). */
	engine_serialize_self();
	return true;
}
