/*
 * Preemptible contexts and restart-block / tasks-quiescence (preempt.h,
 * docs/design.md §13.3).
 *
 * The scheduler is the smallest that makes "a context preempted in the
 * middle of a block" real: two contexts per CPU, switched only from the
 * timer interrupt, only when it returns to process level, so that the
 * interrupted frame is the whole of the context (kernel/arch.h). A CPU's
 * state is touched by that CPU only, with interrupts off (in the
 * interrupt, or by context 0 with interrupts off); the patcher reads a
 * context's out, out_ip and qs with acquire loads.
 */
#include "kernel/fault.h"
#include "kernel/options.h"
#include "kernel/percpu.h"
#include "kernel/preempt.h"
#include "kernel/printk.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

struct pcpu {
	struct pctx ctx[2];
	void (*entry)(struct pctx *self);
	unsigned cur;
	bool on;
	struct rng rng;
};

static struct pcpu pcpus[PREEMPT_CPUS_MAX];
static u8 stacks[PREEMPT_CPUS_MAX][PREEMPT_STACK] __aligned(16);
static enum preempt_mode mode;
static u8 *blk_start;
static unsigned blk_len;
static u64 blk_gen;
static struct preempt_stats st;

static void count(u64 *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

void preempt_set_mode(enum preempt_mode m)
{
	WRITE_ONCE(mode, m);
}

enum preempt_mode preempt_get_mode(void)
{
	return READ_ONCE(mode);
}

const char *preempt_mode_name(enum preempt_mode m)
{
	return m == PREEMPT_QUIESCE ? "quiesce" : m == PREEMPT_RESTART ? "restart" :
	       "none (IPI syncs alone)";
}

void preempt_block_set(u8 *start, unsigned len)
{
	WRITE_ONCE(blk_len, 0);
	WRITE_ONCE(blk_start, start);
	__atomic_store_n(&blk_len, len, __ATOMIC_RELEASE);
}

void preempt_block_patching(void)
{
	__atomic_add_fetch(&blk_gen, 1, __ATOMIC_ACQ_REL);
}

/* Strictly inside: the first byte is where a context may (re)start. */
bool preempt_in_block(u64 ip)
{
	unsigned len = __atomic_load_n(&blk_len, __ATOMIC_ACQUIRE);
	u64 s = (u64)(uintptr_t)READ_ONCE(blk_start);

	return len && ip > s && ip < s + len;
}

static u64 gen_now(void)
{
	return __atomic_load_n(&blk_gen, __ATOMIC_ACQUIRE);
}

void preempt_qs(struct pctx *x)
{
	__atomic_add_fetch(&x->qs, 1, __ATOMIC_RELEASE);
}

static void ctx1_start(void *arg)
{
	struct pctx *x = arg;

	pcpus[x->cpu].entry(x);
	panic("context 1 of CPU %d returned", x->cpu);
}

/* Context 1's frame is made, never run, until the first switch to it. */
struct pctx *preempt_cpu_start(void (*entry)(struct pctx *self), u64 tick_ns)
{
	int id = this_cpu()->id;
	struct pcpu *p;
	irqflags_t fl;

	if (id < 0 || id >= PREEMPT_CPUS_MAX)
		return NULL;
	p = &pcpus[id];
	fl = irq_save();
	memset(p, 0, sizeof(*p));
	rng_seed(&p->rng, opts_seed(), 0x7072656dull + (u64)id);
	for (unsigned i = 0; i < 2; i++) {
		p->ctx[i].cpu = id;
		p->ctx[i].idx = i;
	}
	p->entry = entry;
	arch_context_init(&p->ctx[1].regs, ctx1_start, &p->ctx[1], stacks[id], PREEMPT_STACK);
	p->ctx[1].out = true;
	p->ctx[1].out_ip = arch_context_ip(&p->ctx[1].regs);
	p->ctx[1].out_gen = gen_now();
	p->cur = 0;
	WRITE_ONCE(p->on, true);
	irq_restore(fl);
	arch_timer_periodic(tick_ns);
	return &p->ctx[0];
}

void preempt_cpu_stop(void)
{
	int id = this_cpu()->id;
	irqflags_t fl = irq_save();

	if (id >= 0 && id < PREEMPT_CPUS_MAX)
		WRITE_ONCE(pcpus[id].on, false);
	irq_restore(fl);
	arch_timer_periodic(WATCHDOG_TICK_MS * 1000000ull);
}

void preempt_reset(void)
{
	for (unsigned i = 0; i < PREEMPT_CPUS_MAX; i++)
		WRITE_ONCE(pcpus[i].on, false);
	preempt_block_set(NULL, 0);
	preempt_set_mode(PREEMPT_NONE);
}

/* A seeded choice, never a sure thing either way, biased so that the
 * case this is for comes up in a short run: a context inside a block is
 * switched out 3 times in 4, and once out there it stays out for about
 * 32 ticks (long enough for a patch to run meanwhile); otherwise 1 in
 * 4. */
static bool want_switch(struct pcpu *p, bool inside)
{
	const struct pctx *other = &p->ctx[!p->cur];

	if (preempt_in_block(other->out_ip))
		return rng_range(&p->rng, 0, 31) == 0;
	return rng_range(&p->rng, 0, 3) < (inside ? 3u : 1u);
}

static void do_switch(struct pcpu *p, struct trap_frame *f)
{
	struct pctx *from = &p->ctx[p->cur], *to = &p->ctx[!p->cur];
	u64 ip = arch_frame_ip(f);
	bool inside = preempt_in_block(ip);

	count(&st.switches);
	if (inside)
		count(&st.inside);
	else
		preempt_qs(from);	/* seen outside, as it is switched out */
	from->out_ip = ip;
	from->out_gen = gen_now();
	/* A recovery point (fault_try) is on its context's stack: it goes
	 * out and comes back with it, so that a fault in one context never
	 * resumes in the other's frame. */
	from->expect = this_cpu()->expect;
	this_cpu()->expect = to->expect;
	arch_context_switch(f, &from->regs, &to->regs);
	__atomic_store_n(&from->out, true, __ATOMIC_RELEASE);
	__atomic_store_n(&to->out, false, __ATOMIC_RELEASE);
	p->cur = !p->cur;
	if (preempt_in_block(arch_frame_ip(f)) && to->out_gen != gen_now())
		count(&st.resumed_patched);
}

/* Nadav Amit's restart: the block is written so that running it again
 * from its first byte is always right (docs/design.md §13.3). */
static void restart_block(struct pcpu *p, struct trap_frame *f, bool resumed)
{
	struct pctx *x = &p->ctx[p->cur];

	if (!preempt_in_block(arch_frame_ip(f)))
		return;
	count(&st.restarts);
	if (resumed && x->out_gen != gen_now())
		count(&st.restarts_patched);
	arch_frame_restart(f, READ_ONCE(blk_start));
}

void preempt_irq_return(struct trap_frame *f, bool tick)
{
	int id = this_cpu()->id;
	struct pcpu *p;
	bool resumed = false;

	if (id < 0 || id >= PREEMPT_CPUS_MAX || !READ_ONCE(pcpus[id].on))
		return;
	p = &pcpus[id];
	if (tick) {
		count(&st.ticks);
		if (!preempt_in_block(arch_frame_ip(f)))
			preempt_qs(&p->ctx[p->cur]);	/* seen outside by the tick */
		if (want_switch(p, preempt_in_block(arch_frame_ip(f)))) {
			do_switch(p, f);
			resumed = true;
		}
	}
	if (READ_ONCE(mode) == PREEMPT_RESTART)
		restart_block(p, f, resumed);
}

/* A context is done once its qs moved past the snapshot, or it is
 * switched out outside every block (out is stored after out_ip). */
static bool ctx_quiet(struct pctx *x, u64 snap)
{
	if (__atomic_load_n(&x->qs, __ATOMIC_ACQUIRE) != snap)
		return true;
	return __atomic_load_n(&x->out, __ATOMIC_ACQUIRE) &&
	       !preempt_in_block(__atomic_load_n(&x->out_ip, __ATOMIC_ACQUIRE));
}

static bool ctx_out_inside(struct pctx *x)
{
	return __atomic_load_n(&x->out, __ATOMIC_ACQUIRE) &&
	       preempt_in_block(__atomic_load_n(&x->out_ip, __ATOMIC_ACQUIRE));
}

int preempt_quiesce(u64 timeout_ms)
{
	u64 snap[PREEMPT_CPUS_MAX][2], end = timestamp() + ms_to_ticks(timeout_ms);
	bool waited = false, inside = false, counted = false, all;

	count(&st.quiesce_calls);
	for (unsigned i = 0; i < PREEMPT_CPUS_MAX; i++)
		for (unsigned j = 0; j < 2; j++)
			snap[i][j] = __atomic_load_n(&pcpus[i].ctx[j].qs, __ATOMIC_ACQUIRE);
	for (;;) {
		all = true;
		for (unsigned i = 0; i < PREEMPT_CPUS_MAX; i++)
			for (unsigned j = 0; j < 2; j++)
				if (READ_ONCE(pcpus[i].on) && !ctx_quiet(&pcpus[i].ctx[j], snap[i][j]))
					all = false, inside |= ctx_out_inside(&pcpus[i].ctx[j]);
		if (all)
			return waited;
		if (inside && !counted) {
			count(&st.quiesce_inside);
			counted = true;
		}
		if (!waited)
			count(&st.quiesce_waited);
		waited = true;
		count(&st.quiesce_polls);
		if (timestamp() > end)
			return -1;
		smp_poll();
		cpu_relax();
	}
}

void preempt_stats_reset(void)
{
	memset(&st, 0, sizeof(st));
}

void preempt_stats(struct preempt_stats *out)
{
	*out = st;
}
