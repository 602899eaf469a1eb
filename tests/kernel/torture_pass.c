/*
 * One pass of the torture harness through the sites (torture_internal.h),
 * and what it must see: old or new on any pass; the new outcome when the
 * pass itself trapped; exactly the last patch's when no patch ran.
 */
#include "kernel/format.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "tests/kernel/torture_internal.h"

#define REPORT_BAD_MAX 3	/* full reports; the rest are counted */

u64 tt_bad;
struct tt_cpu tt_cpu[MAX_CPUS];

/*
 * Which traps a site call took itself. The trap handler counts every
 * emulation of a CPU (patch_trap_hits); an NMI that lands in the middle
 * of a site call runs the sites too, and its traps are no outcome of the
 * interrupted call. So each NMI adds the traps taken under it to
 * nmi_traps[] of its CPU and bumps nmi_seq[] on its way out; a call's
 * own traps are the difference of the two, each read as a consistent
 * pair (no NMI finished between the reads).
 */
static u64 nmi_traps[MAX_CPUS], nmi_seq[MAX_CPUS];

struct trap_snap {
	u64 hits, nmi;
};

static void trap_snap(int id, struct trap_snap *t)
{
	u64 seq;

	do {
		seq = READ_ONCE(nmi_seq[id]);
		barrier();
		t->hits = patch_trap_hits(id);
		t->nmi = READ_ONCE(nmi_traps[id]);
		barrier();
	} while (seq != READ_ONCE(nmi_seq[id]));
}

static u64 own_traps(const struct trap_snap *a, const struct trap_snap *b)
{
	return (b->hits - a->hits) - (b->nmi - a->nmi);
}

/*
 * The step sequence: bumped at every step boundary (the step hook, on
 * the CPU performing the step), before the injectors fire. An NMI landed
 * in the middle of a step when a step was in progress at its arrival and
 * the same step still was once its handler had run the sites: it saw
 * the sites as that step leaves them. An NMI that arrives after the patch
 * ended (or whose sites run across a step boundary) does not count.
 */
u64 tt_step_seq;

/* The bytes a site holds now, as hex, for reports. */
static void site_bytes(const struct flip_site *s, char *buf, size_t size)
{
	unsigned len = MAX(s->state[0].len, s->state[1].len);
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < len && n < size; i++)
		n += ksnprintf(buf + n, size - n, "%s%02x", i ? " " : "", s->addr[i]);
}

static void report_bad(const struct flip_site *s, u32 r, const char *where)
{
	u64 n = __atomic_add_fetch(&tt_bad, 1, __ATOMIC_RELAXED);
	char bytes[3 * INSN_MAX + 1];

	if (n > REPORT_BAD_MAX)
		return;
	site_bytes(s, bytes, sizeof(bytes));
	test_detect(DET_OUTCOME,
		    "CPU %d (%s): site %p returned %#x, expected %u (old) or %u (new); step %s; "
		    "bytes %s",
		    this_cpu()->id, where, s->addr, r, s->result[0], s->result[1],
		    patch_step_name(patch_current_step), bytes);
	if (n == 1)
		patch_report_trail();
}

/* A site call that trapped must have run what the trap handler
 * emulates: the new instruction of the patch in flight (docs/design.md
 * §2.2). Patch p (started == p while it runs) turns the sites into
 * state[p % 2]; a call across two patches cannot tell which one it
 * trapped in, and is held only to old-or-new. */
static void check_trapped(const struct flip_site *s, u32 got, u64 s0, u64 s1, const char *where)
{
	u32 want = s->result[s0 % 2];
	char bytes[3 * INSN_MAX + 1];

	if (s0 != s1 || !s0)
		return;
	tt_cpu[this_cpu()->id].trapped_checked++;
	if (got == want || __atomic_add_fetch(&tt_bad, 1, __ATOMIC_RELAXED) > REPORT_BAD_MAX)
		return;
	site_bytes(s, bytes, sizeof(bytes));
	test_detect(DET_OUTCOME,
		    "CPU %d (%s): site %p trapped during patch %llu and returned %u, but the "
		    "trap handler emulates the new instruction: want %u; step %s; bytes %s",
		    this_cpu()->id, where, s->addr, (unsigned long long)s0, got, want,
		    patch_step_name(patch_current_step), bytes);
}

/* One pass through every site. strict: also the stale-code check. */
void run_sites(const char *where, bool strict)
{
	int id = this_cpu()->id;
	u64 s0 = __atomic_load_n(&tt_started, __ATOMIC_ACQUIRE);
	u64 c0 = __atomic_load_n(&tt_completed, __ATOMIC_ACQUIRE);
	u32 got[TSITES_MAX];

	for (unsigned i = 0; i < tt_cur->n; i++) {
		const struct flip_site *s = &tt_cur->sites[i];
		u64 p0 = __atomic_load_n(&tt_started, __ATOMIC_ACQUIRE), p1;
		struct trap_snap t0, t1;

		trap_snap(id, &t0);
		got[i] = s->fn(s->a, s->b);
		trap_snap(id, &t1);
		p1 = __atomic_load_n(&tt_started, __ATOMIC_ACQUIRE);
		if (got[i] != s->result[0] && got[i] != s->result[1])
			report_bad(s, got[i], where);
		else if (own_traps(&t0, &t1))
			check_trapped(s, got[i], p0, p1, where);
	}
	if (!strict || s0 != c0 || __atomic_load_n(&tt_started, __ATOMIC_ACQUIRE) != s0)
		return;
	for (unsigned i = 0; i < tt_cur->n; i++) {
		const struct flip_site *s = &tt_cur->sites[i];
		u32 want = s->result[c0 % 2];

		if (got[i] != want && s->result[0] != s->result[1] &&
		    __atomic_add_fetch(&tt_bad, 1, __ATOMIC_RELAXED) <= REPORT_BAD_MAX)
			test_detect(DET_OUTCOME,
				    "CPU %d (%s) ran stale code: site %p returned %u after patch %llu had returned (want %u)",
				    this_cpu()->id, where, s->addr, got[i],
				    (unsigned long long)c0, want);
	}
}


/* Whether the checker exempts writes now because stop-machine holds
 * every other CPU (world_stopped, kernel/patch_internal.h). An NMI handler
 * running the sites then is the protocol's known exposure
 * (docs/design.md §3.4): counted and printed, not a failure. */
static bool world_is_stopped(void)
{
	return READ_ONCE(world_stopped);
}

void nmi_run_sites(struct cpu *c)
{
	u64 seq = __atomic_load_n(&tt_step_seq, __ATOMIC_ACQUIRE);
	enum patch_step at = patch_current_step;
	bool stopped = world_is_stopped();
	struct trap_snap t0, t1;

	trap_snap(c->id, &t0);
	run_sites("NMI handler", false);
	trap_snap(c->id, &t1);
	/* Everything this NMI trapped, nested NMIs included, is not the
	 * interrupted code's (see trap_snap). */
	WRITE_ONCE(nmi_traps[c->id], t0.nmi + (t1.hits - t0.hits));
	barrier();
	WRITE_ONCE(nmi_seq[c->id], nmi_seq[c->id] + 1);
	if (at != STEP_IDLE && patch_current_step != STEP_IDLE &&
	    __atomic_load_n(&tt_step_seq, __ATOMIC_ACQUIRE) == seq)
		tt_cpu[c->id].nmi_mid++;
	if (stopped || world_is_stopped())
		tt_cpu[c->id].nmi_stopped_runs++;
}
