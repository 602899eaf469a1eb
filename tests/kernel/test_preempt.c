/*
 * A block of two instructions replaced as a unit under contexts that are
 * preempted in the middle of it (docs/design.md §13.3; kernel/preempt.h,
 * the site kit's struct mblock).
 *
 *   poke.preempt_block     every CPU but the patcher runs two preemptible
 *                          contexts, each running the block in a loop and
 *                          checking its outcome; the patcher flips the
 *                          block between its two states, with each safe
 *                          strategy in turn (or the one preempt= names)
 *   neg.preempt_ipi_only   the same with neither strategy: the protocol's
 *                          IPI syncs alone. A context preempted between the
 *                          two instructions, resumed after the patch, runs
 *                          the middle of the new one; the wrong outcome it
 *                          returns to itself is the required detector
 */
#include "kernel/fault.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"
#include "kernel/preempt.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "tests/kernel/sitekit.h"

#define PB_TICK_NS 200000	/* the contexts' CPUs tick every 200 us */
#define PB_MS 700		/* at most this long per strategy ... */
#define PB_WANT 1		/* ... or until each of its counts is > 0 (iters=N: >= N) */
#define PB_NEG_MS 1500		/* the control: until caught, at most this long */
#define PB_QUIESCE_MS 2000
#define PB_STOP_MS 5000

static struct mblock blk;
static struct patch_site pb_site;
static struct patch_batch pb_batch;
static u32 pb_stop, pb_workers, pb_done, pb_ctx1_done[PREEMPT_CPUS_MAX];
static u64 pb_runs_a, pb_runs_b, pb_bad, pb_self_bad, pb_patches, pb_faults;
static u32 pb_bad_val;
static int pb_bad_cpu;
static struct fault_info pb_fault;	/* the first run that faulted */
static int pb_fault_cpu;

static void pb_call(void *out)
{
	*(u32 *)out = blk.fn();
}

/* A run that faulted instead of returning: a context resumed in the
 * middle of a tail that was still being written (the tail goes in a byte
 * at a time) ran bytes of both states, 0F 00 00 (SLDT [RAX]) say. Its
 * outcome is neither state's, like 0xeb0001's, and the verdicts count it
 * with those; without the recovery point it took the CPU's contexts down
 * with it, and the tests after. */
static void pb_faulted(struct pctx *x, const struct fault_info *fi)
{
	if (__atomic_add_fetch(&pb_faults, 1, __ATOMIC_ACQ_REL) == 1) {
		pb_fault = *fi;
		pb_fault_cpu = x->cpu;
	}
}

/* A context: the block in a loop, its outcome checked by the context
 * itself, a voluntary quiescent point after each run. */
static void pb_loop(struct pctx *x)
{
	while (!__atomic_load_n(&pb_stop, __ATOMIC_ACQUIRE)) {
		struct fault_info fi;
		u32 r = 0;

		if (fault_try(pb_call, &r, &fi)) {
			pb_faulted(x, &fi);
		} else if (r == blk.out_a) {
			__atomic_add_fetch(&pb_runs_a, 1, __ATOMIC_RELAXED);
		} else if (r == blk.out_b) {
			__atomic_add_fetch(&pb_runs_b, 1, __ATOMIC_RELAXED);
		} else if (__atomic_add_fetch(&pb_bad, 1, __ATOMIC_ACQ_REL) == 1) {
			pb_bad_val = r;
			pb_bad_cpu = x->cpu;
		}
		preempt_qs(x);
	}
}

static void pb_ctx1(struct pctx *x)
{
	pb_loop(x);
	__atomic_store_n(&pb_ctx1_done[x->cpu], 1, __ATOMIC_RELEASE);
	for (;;) {
		preempt_qs(x);
		cpu_relax();
	}
}

static void pb_worker(void *arg)
{
	struct pctx *x0;
	int id = this_cpu()->id;

	this_cpu()->doing = "two preemptible contexts running a multi-instruction block";
	x0 = preempt_cpu_start(pb_ctx1, PB_TICK_NS);
	if (x0) {
		pb_loop(x0);
		/* Context 1 finishes in its turns; then it is never run again. */
		while (!__atomic_load_n(&pb_ctx1_done[id], __ATOMIC_ACQUIRE))
			cpu_relax();
		preempt_cpu_stop();
	}
	this_cpu()->doing = NULL;
	__atomic_add_fetch(&pb_done, 1, __ATOMIC_RELEASE);
}

/* One patch of the block's site (static descriptors: patch_batch_prepare
 * refuses a stack), bracketed for the contexts' "patched meanwhile". */
static int pb_patch(const struct insn *to)
{
	int r;

	if (patch_site_init(&pb_site, blk.site, to) || patch_batch_prepare(&pb_batch, &pb_site, 1))
		return -1;
	preempt_block_patching();
	r = patch_apply(&pb_batch);
	preempt_block_patching();
	return r;
}

static void pb_self_check(u32 want)
{
	if (blk.fn() != want)
		pb_self_bad++;
}

/* A to B, as the strategy has it; then B back to A. */
static int pb_flip(enum preempt_mode m)
{
	if (m == PREEMPT_QUIESCE) {
		/* New entries go out of line; the contexts already past the
		 * first instruction still run A's second, unchanged. */
		if (pb_patch(&blk.redirect))
			return -1;
		pb_self_check(blk.out_b);
		if (preempt_quiesce(PB_QUIESCE_MS) < 0) {
			test_fail("tasks-quiescence: a context was not seen outside the block "
				  "within %d ms", PB_QUIESCE_MS);
			return -1;
		}
	}
	if (pb_patch(&blk.seq_b))
		return -1;
	pb_self_check(blk.out_b);
	pb_patches++;
	if (pb_patch(&blk.seq_a))
		return -1;
	pb_self_check(blk.out_a);
	return 0;
}

static unsigned pb_want = PB_WANT;

static bool pb_enough(enum preempt_mode m, const struct preempt_stats *s)
{
	if (m == PREEMPT_NONE)
		return __atomic_load_n(&pb_bad, __ATOMIC_ACQUIRE) > 0;
	if (s->inside < pb_want || s->resumed_patched < pb_want)
		return false;
	return m == PREEMPT_QUIESCE ? s->quiesce_inside >= pb_want :
				      s->restarts_patched >= pb_want;
}

/* Runs the scenario once with strategy m; 0, or -1 when it could not
 * (reported). */
static int pb_run(enum preempt_mode m, u64 ms, struct preempt_stats *s)
{
	unsigned n = 0;
	u64 end, stop_end;
	int r = 0;

	kit_mblock(&blk);
	pb_stop = pb_done = 0;
	pb_runs_a = pb_runs_b = pb_bad = pb_self_bad = pb_patches = pb_faults = 0;
	pb_bad_val = 0;
	pb_bad_cpu = -1;
	for (unsigned i = 0; i < PREEMPT_CPUS_MAX; i++)
		pb_ctx1_done[i] = 0;
	preempt_stats_reset();
	preempt_set_mode(m);
	preempt_block_set(blk.site, blk.len);
	for (int cpu = 1; cpu < PREEMPT_CPUS_MAX && cpu < (int)cpus_limit(); cpu++) {
		if (!cpu_is_online(cpu))
			continue;
		smp_call(cpu, pb_worker, NULL, 0);
		n++;
	}
	pb_workers = n;
	end = timestamp() + ms_to_ticks(ms);
	do {
		preempt_stats(s);
		if (pb_flip(m)) {
			r = -1;
			break;
		}
	} while (timestamp() < end && !pb_enough(m, s));
	__atomic_store_n(&pb_stop, 1, __ATOMIC_RELEASE);
	stop_end = timestamp() + ms_to_ticks(PB_STOP_MS);
	while (__atomic_load_n(&pb_done, __ATOMIC_ACQUIRE) < n) {
		if (timestamp() > stop_end) {
			test_fail("the contexts did not stop within %d ms", PB_STOP_MS);
			r = -1;
			break;
		}
		smp_poll();
		cpu_relax();
	}
	patch_flush();
	preempt_block_set(NULL, 0);
	preempt_set_mode(PREEMPT_NONE);
	preempt_stats(s);
	return r;
}

static void pb_print(const char *name, enum preempt_mode m, const struct preempt_stats *s)
{
	diag("%s [%s]: %llu patches A->B on %u CPUs x 2 contexts; %llu ticks, %llu preemptions, "
	     "%llu inside the block, %llu resumes inside it after it was patched", name,
	     preempt_mode_name(m), (unsigned long long)pb_patches, pb_workers,
	     (unsigned long long)s->ticks, (unsigned long long)s->switches,
	     (unsigned long long)s->inside, (unsigned long long)s->resumed_patched);
	diag("%s [%s]: restarts %llu (%llu of contexts out across a patch); quiescence waits %llu, "
	     "%llu had to wait, %llu for a context preempted inside; runs A %llu, B %llu, wrong %llu",
	     name, preempt_mode_name(m), (unsigned long long)s->restarts,
	     (unsigned long long)s->restarts_patched, (unsigned long long)s->quiesce_calls,
	     (unsigned long long)s->quiesce_waited, (unsigned long long)s->quiesce_inside,
	     (unsigned long long)pb_runs_a, (unsigned long long)pb_runs_b,
	     (unsigned long long)pb_bad);
	if (pb_faults)
		diag("%s [%s]: %llu runs faulted (the first: vector %d at %#llx, address %#llx, "
		     "on CPU %d)", name, preempt_mode_name(m), (unsigned long long)pb_faults,
		     pb_fault.vector, (unsigned long long)pb_fault.ip,
		     (unsigned long long)pb_fault.addr, pb_fault_cpu);
}

/* 0 when strategy m passed with its counts > 0; a failure or error
 * otherwise (reported). */
static int pb_strategy(enum preempt_mode m)
{
	struct preempt_stats s;

	if (pb_run(m, PB_MS, &s))
		return -1;
	pb_print("poke.preempt_block", m, &s);
	if (pb_bad || pb_faults || pb_self_bad) {
		test_fail("%s: %llu runs by a context returned a wrong outcome (first %#x on CPU %d), "
			  "%llu faulted, %llu by the patcher after a patch", preempt_mode_name(m),
			  (unsigned long long)pb_bad, pb_bad_val, pb_bad_cpu,
			  (unsigned long long)pb_faults, (unsigned long long)pb_self_bad);
		return -1;
	}
	if (!s.inside || !s.resumed_patched) {
		test_skip("%s: no context was preempted inside the block and resumed after a patch "
			  "(%llu preemptions inside, %llu such resumes)", preempt_mode_name(m),
			  (unsigned long long)s.inside, (unsigned long long)s.resumed_patched);
		return -1;
	}
	if (m == PREEMPT_RESTART && !s.restarts_patched) {
		test_skip("restart: no context resumed inside a patched block was restarted");
		return -1;
	}
	if (m == PREEMPT_QUIESCE && !s.quiesce_inside) {
		test_skip("quiesce: no quiescence wait had to wait for a context preempted inside");
		return -1;
	}
	return 0;
}

DEFINE_TEST(poke, preempt_block, 2, 0,
	    "a two-instruction block replaced while contexts are preempted inside it: "
	    "tasks-quiescence and restart-block")
{
	/* More of each count than one, for runs that want the scenario to
	 * last (a break's proof: every restart it skips is a chance). */
	pb_want = test_iters(PB_WANT);
	if (opts.preempt != 2 && pb_strategy(PREEMPT_QUIESCE))
		return;
	if (opts.preempt != 1 && pb_strategy(PREEMPT_RESTART))
		return;
	test_pass();
}

DEFINE_TEST(neg, preempt_ipi_only, 2, 0,
	    "a two-instruction block replaced under preempted contexts with the IPI syncs alone "
	    "is caught by the wrong outcome a resumed context returns")
{
	struct preempt_stats s;

	test_expect_detection(true);
	if (pb_run(PREEMPT_NONE, PB_NEG_MS, &s)) {
		test_expect_detection(false);
		return;
	}
	if (pb_bad)
		test_detect(DET_OUTCOME, "a context on CPU %d preempted inside the block returned "
			    "%#x from it, expected %#x (A) or %#x (B): resumed after the patch in "
			    "the middle of B", pb_bad_cpu, pb_bad_val, blk.out_a, blk.out_b);
	if (pb_faults)
		test_detect(DET_OUTCOME, "a context on CPU %d preempted inside the block faulted "
			    "running it (vector %d at %#llx), where A and B return: resumed in the "
			    "middle of a tail being written", pb_fault_cpu, pb_fault.vector,
			    (unsigned long long)pb_fault.ip);
	test_expect_detection(false);
	pb_print("neg.preempt_ipi_only", PREEMPT_NONE, &s);
	diag("neg.preempt_ipi_only: caught by the wrong outcome %llu",
	     (unsigned long long)test_detections(DET_OUTCOME));
	if (!test_detections(DET_OUTCOME))
		return test_fail("IPI syncs alone under preempted contexts went unseen by the "
				 "wrong outcome, the detector it requires (%llu preemptions inside, "
				 "%llu resumes after a patch)", (unsigned long long)s.inside,
				 (unsigned long long)s.resumed_patched);
	diag("neg.preempt_ipi_only: required detector: the wrong outcome");
	test_pass();
}
