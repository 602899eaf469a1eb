/*
 * poke.edge and its two controls: a tracer hook at live patch sites on
 * the very edges of the entry code (sitekit.h's edge sites: the NMI
 * entry's first and last instructions, the trap entry, a non-NMI
 * exception's entry), entering and leaving the context-tracking model of
 * kernel/ctrack.c by one of three policies, while one CPU patches those
 * sites and the others, idle (in the EQS) with interrupts on, raise the
 * exception and take NMIs, nested NMIs and IPI storms (docs/design.md
 * §8.6, the livepatch/RCU thread of May 2017):
 *
 *   in_nmi() ? nmi : irq     the suggestion; wrong at the NMI edges and
 *                            inside exceptions, where in_nmi() is false
 *                            though the CPU is watched only the NMI way
 *   nmi, interrupts off      the condition under which the NMI variant
 *                            is safe everywhere: must pass
 *   nmi, interrupts as found the same without that condition
 */
#include "kernel/ctrack.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"
#include "tests/kernel/sitekit.h"
#include "tests/kernel/torture.h"

#define EDGE_ITERS 40		/* patches of the four sites */
#define HOOK_BODY_NS 1000	/* the tracer's read side */
#define HANDLER_NS 3000		/* the exception's handler */
#define STORM 2			/* storm IPIs per spinner per step */
#define MIN_IDLE_RAISED 32	/* exceptions raised in the EQS, at least */
#define MIN_BODY_IRQS 8		/* interrupts inside a hook, irqs-on control */

enum policy { POLICY_IN_NMI, POLICY_NMI_IRQOFF, POLICY_NMI_IRQS_AS_FOUND };

static const char *const policy_names[] = {
	[POLICY_IN_NMI] = "in_nmi() ? nmi : irq",
	[POLICY_NMI_IRQOFF] = "nmi variant, interrupts off from enter to exit",
	[POLICY_NMI_IRQS_AS_FOUND] = "nmi variant, interrupts as found",
};

/* What each CPU saw; hooks and NMIs on one CPU nest, so counts are
 * atomic. */
struct edge_cpu {
	u64 hits[EDGE_SITES];
	u64 raised, raised_idle;	/* exceptions raised, in the EQS */
	u64 nmi_sent, nmi_handled, nmi_nested;
	u64 storm_sent;
	u64 body_irqs;			/* hooks an interrupt landed in */
	u64 trap_nmi_entry, trap_nmi_exit;	/* traps at the NMI edges */
	u64 untracked;
	u32 max_nmi_depth, max_trap_depth;
	u8 self_nmi;
	u32 ext_busy;			/* an NMI of the steps' is on its way or running */
	u64 ext_since;
};

static struct edge_cpu ec[MAX_CPUS];
static struct flip_site sites[EDGE_SITES];
static int policy;
static u32 armed, stop;

static void inc(u64 *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

static void raise_max(u32 *m, u32 v)
{
	if (v > READ_ONCE(*m))
		WRITE_ONCE(*m, v);
}

/* The tracer's read side: it needs the CPU watched. Long enough that
 * interrupts and NMIs land in it (the delay pauses, which under
 * single-threaded TCG hands the host thread to another vCPU). */
static void hook_body(struct cpu *c, struct edge_cpu *p)
{
	u64 irqs = READ_ONCE(c->ipis_received) + READ_ONCE(c->ticks);

	ct_assert_watched("the tracer's read side");
	delay_ns(HOOK_BODY_NS);
	if (READ_ONCE(c->ipis_received) + READ_ONCE(c->ticks) != irqs)
		inc(&p->body_irqs);
}

static void count_hit(struct cpu *c, struct edge_cpu *p, enum edge_site e, u64 ip)
{
	inc(&p->hits[e]);
	if (e == EDGE_TRAP_ENTRY && kit_edge_trapped_at(EDGE_NMI_ENTRY, ip))
		inc(&p->trap_nmi_entry);
	if (e == EDGE_TRAP_ENTRY && kit_edge_trapped_at(EDGE_NMI_EXIT, ip))
		inc(&p->trap_nmi_exit);
	raise_max(&p->max_nmi_depth, c->nmi_depth);
	raise_max(&p->max_trap_depth, c->trap_depth);
}

void edge_tracer(enum edge_site e, u64 ip)
{
	struct cpu *c = this_cpu();
	struct edge_cpu *p = &ec[c->id];
	struct ct_snap before;
	const char *prev;
	u64 prev_addr;
	irqflags_t f;
	bool nmi;

	if (!READ_ONCE(armed) || (unsigned)e >= EDGE_SITES)
		return;
	if (!ct_tracking())
		return inc(&p->untracked);
	count_hit(c, p, e, ip);
	prev = ct_hook_site(kit_edge_name(e), (u64)(uintptr_t)sites[e].addr, &prev_addr);
	ct_snap(&before);
	switch (READ_ONCE(policy)) {
	case POLICY_IN_NMI:
		/* The NMI depth is raised only once the entry got that far. */
		nmi = c->nmi_depth > 0;
		nmi ? ct_nmi_enter() : ct_irq_enter();
		hook_body(c, p);
		nmi ? ct_nmi_exit() : ct_irq_exit();
		break;
	case POLICY_NMI_IRQOFF:
		f = irq_save();
		ct_nmi_enter();
		hook_body(c, p);
		ct_nmi_exit();
		irq_restore(f);
		break;
	default:
		ct_nmi_enter();
		hook_body(c, p);
		ct_nmi_exit();
	}
	ct_assert_balanced(&before, kit_edge_name(e));
	ct_hook_site(prev, prev_addr, NULL);
}

/* An NMI to an idle spinner raises the exception inside the handler;
 * the first also sends itself one more, latched until that exception's
 * IRET unmasks NMIs (SDM vol. 3A §6.7.1): then it nests. */
static bool edge_nmi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	struct edge_cpu *p = &ec[c->id];
	bool own;

	if (!READ_ONCE(armed) || c->id == 0)
		return false;
	inc(&p->nmi_handled);
	if (c->nmi_depth > 1)
		inc(&p->nmi_nested);
	own = __atomic_exchange_n(&p->self_nmi, 0, __ATOMIC_ACQ_REL);
	if (!own && c->nmi_depth == 1) {
		__atomic_store_n(&p->self_nmi, 1, __ATOMIC_RELEASE);
		inc(&p->nmi_sent);
		send_nmi(c->id);
	}
	if (c->nmi_depth == 1)
		kit_edge_raise();
	if (!own)
		__atomic_store_n(&p->ext_busy, 0, __ATOMIC_RELEASE);
	return true;
}

/* One NMI of the steps' at a time per CPU (or one more after 200 us, in
 * case one was lost to coalescing), and none to a CPU inside an NMI or
 * more than two traps deep (read racily: a throttle, not a rule; one
 * trap deep is where an NMI is wanted): every IRET inside an NMI lets
 * the next pending NMI in, on top of it, and a trap byte at the NMI entry
 * makes one per NMI; at the rate of int3-batch's steps the nesting would
 * grow without bound (SDM vol. 3A §6.7.1; docs/design.md §10.2). */
static void send_edge_nmi(unsigned i)
{
	u64 now = timestamp();

	if (READ_ONCE(cpus[i].nmi_depth) || READ_ONCE(cpus[i].trap_depth) > 2 ||
	    (__atomic_load_n(&ec[i].ext_busy, __ATOMIC_ACQUIRE) &&
	     now - READ_ONCE(ec[i].ext_since) < ns_to_ticks(200000)))
		return;
	WRITE_ONCE(ec[i].ext_since, now);
	__atomic_store_n(&ec[i].ext_busy, 1, __ATOMIC_RELEASE);
	inc(&ec[i].nmi_sent);
	send_nmi(i);
}

/* At every step, on whichever CPU performs it (under cpumask a spinner,
 * from its trap or sync handler; not inside an NMI handler), an NMI and
 * a short IPI storm to every other spinner. */
static void edge_step(enum patch_step s)
{
	struct cpu *c = this_cpu();

	if (c->nmi_depth)
		return;
	for (unsigned i = 1; i < cpus_possible; i++) {
		if (!cpu_is_online(i) || (int)i == c->id)
			continue;
		send_edge_nmi(i);
		ipi_storm(i, STORM);
		__atomic_fetch_add(&ec[i].storm_sent, STORM, __ATOMIC_RELAXED);
	}
}

/* Idle with interrupts on, as the idle loop and bring-up leave a CPU (in
 * the EQS), raising the exception; every fourth one from a task. */
static void spinner(void *arg)
{
	struct edge_cpu *p = &ec[this_cpu()->id];
	irqflags_t f = irq_save();

	ct_cpu_start(true);
	irq_restore(f);
	for (u64 n = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); n++) {
		if (n % 4 == 3) {
			f = irq_save();
			ct_idle_exit();
			irq_restore(f);
			kit_edge_raise();
			f = irq_save();
			ct_idle_enter();
			irq_restore(f);
		} else {
			kit_edge_raise();
			inc(&p->raised_idle);
		}
		inc(&p->raised);
		cpu_relax();
	}
	f = irq_save();
	ct_cpu_stop();
	irq_restore(f);
}

static int flip_all(unsigned to)
{
	static struct patch_site ps[EDGE_SITES];
	static struct patch_batch b;
	const char *why;

	for (unsigned i = 0; i < EDGE_SITES; i++)
		if (patch_site_init(&ps[i], sites[i].addr, &sites[i].state[to]))
			return test_fail("cannot encode edge site %s", kit_edge_name(i)), -1;
	why = patch_batch_prepare(&b, ps, EDGE_SITES);
	if (why)
		return test_fail("batch refused: %s", why), -1;
	return patch_apply(&b);
}

struct edge_totals {
	u64 patches, hits[EDGE_SITES], raised, raised_idle, nmi_sent, nmi_handled, nmi_nested;
	u64 storm_sent, body_irqs, trap_nmi_entry, trap_nmi_exit, untracked;
	u32 max_nmi_depth, max_trap_depth;
};

static void total(struct edge_totals *t, u64 patches)
{
	memset(t, 0, sizeof(*t));
	t->patches = patches;
	for (unsigned i = 0; i < cpus_possible; i++) {
		const struct edge_cpu *p = &ec[i];

		for (unsigned e = 0; e < EDGE_SITES; e++)
			t->hits[e] += p->hits[e];
		t->raised += p->raised;
		t->raised_idle += p->raised_idle;
		t->nmi_sent += p->nmi_sent;
		t->nmi_handled += p->nmi_handled;
		t->nmi_nested += p->nmi_nested;
		t->storm_sent += p->storm_sent;
		t->body_irqs += p->body_irqs;
		t->trap_nmi_entry += p->trap_nmi_entry;
		t->trap_nmi_exit += p->trap_nmi_exit;
		t->untracked += p->untracked;
		t->max_nmi_depth = MAX(t->max_nmi_depth, p->max_nmi_depth);
		t->max_trap_depth = MAX(t->max_trap_depth, p->max_trap_depth);
	}
}

static u64 idle_raised(void)
{
	u64 n = 0;

	for (unsigned i = 0; i < cpus_possible; i++)
		n += READ_ONCE(ec[i].raised_idle);
	return n;
}

static u64 body_irqs(void)
{
	u64 n = 0;

	for (unsigned i = 0; i < cpus_possible; i++)
		n += READ_ONCE(ec[i].body_irqs);
	return n;
}

/* Whether the run has shown enough. A batch protocol patches fast: go on
 * (up to 4x) until the spinners raised some exceptions in the EQS. The
 * interrupts-on control's defect needs an interrupt inside a hook: go on
 * (up to 16x) until the checker saw it or interrupts landed in hooks often
 * enough (multi-threaded TCG, 2 CPUs: 1 in 160 patches, and no catch). */
static bool run_enough(enum policy pol, u64 done, u64 iters)
{
	if (done < iters)
		return false;
	if (idle_raised() < MIN_IDLE_RAISED && done < 4 * iters)
		return false;
	return pol != POLICY_NMI_IRQS_AS_FOUND || ct_violations() ||
	       body_irqs() >= MIN_BODY_IRQS || done >= 16 * iters;
}

/* The run: the sites flipped iters times between NOP and hook while the
 * spinners run; every site back to its NOP after. Returns the patches. */
static u64 edge_run(enum policy pol, u64 iters)
{
	u64 done = 0;
	irqflags_t f;

	memset(ec, 0, sizeof(ec));
	for (unsigned e = 0; e < EDGE_SITES; e++)
		kit_edge_site(&sites[e], e);
	ct_reset();
	WRITE_ONCE(policy, pol);
	stop = 0;
	kit_edge_arm(true, HANDLER_NS);
	nmi_register(edge_nmi);
	f = irq_save();
	ct_cpu_start(false);
	irq_restore(f);
	WRITE_ONCE(armed, 1);
	for (unsigned i = 1; i < cpus_possible; i++)
		if (cpu_is_online(i))
			smp_call(i, spinner, NULL, 0);
	patch_step_hook = edge_step;
	while (!run_enough(pol, done, iters) && !flip_all((done + 1) % 2))
		done++;
	patch_step_hook = NULL;
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 1; i < cpus_possible; i++)
		if (cpu_is_online(i))
			smp_wait_idle(i);
	f = irq_save();
	ct_cpu_stop();
	irq_restore(f);
	WRITE_ONCE(armed, 0);
	nmi_unregister(edge_nmi);
	kit_edge_arm(false, 0);
	if (done % 2)
		flip_all(0);
	return done;
}

static void print_totals(const char *name, enum policy pol, const struct edge_totals *t)
{
	diag("%s under %s, hook '%s': %llu patches of the %u edge sites", name, proto->name,
	     policy_names[pol], (unsigned long long)t->patches, EDGE_SITES);
	diag("%s: edge hits: %s %llu, %s %llu, %s %llu, %s %llu; traps inside the NMI edge: "
	     "%llu at its entry, %llu at its exit", name, kit_edge_name(0),
	     (unsigned long long)t->hits[0], kit_edge_name(1), (unsigned long long)t->hits[1],
	     kit_edge_name(2), (unsigned long long)t->hits[2], kit_edge_name(3),
	     (unsigned long long)t->hits[3], (unsigned long long)t->trap_nmi_entry,
	     (unsigned long long)t->trap_nmi_exit);
	diag("%s: exceptions raised %llu (%llu idle, interrupts on); NMIs %llu sent / %llu "
	     "handled / %llu nested; storm IPIs %llu sent; hooks an interrupt landed in %llu",
	     name, (unsigned long long)t->raised, (unsigned long long)t->raised_idle,
	     (unsigned long long)t->nmi_sent, (unsigned long long)t->nmi_handled,
	     (unsigned long long)t->nmi_nested, (unsigned long long)t->storm_sent,
	     (unsigned long long)t->body_irqs);
	diag("%s: deepest at a hook: NMI depth %u, trap depth %u; deepest tracked: NMI "
	     "nesting %lld, interrupt nesting %lld; context-tracking violations %llu (the first "
	     "of each CPU: tracking stops there)", name,
	     t->max_nmi_depth, t->max_trap_depth, (long long)ct_max_nmi_nest(),
	     (long long)ct_max_irq_nest(), (unsigned long long)ct_violations());
	for (unsigned e = 0; e < EDGE_SITES; e++)
		if (ct_violations_at(kit_edge_name(e)))
			diag("%s: %llu CPUs' first violation came while the hook at %s ran", name,
			     (unsigned long long)ct_violations_at(kit_edge_name(e)), kit_edge_name(e));
	if (ct_violations())
		diag("%s: the first violation: %s", name, ct_first_violation());
}

/* What must have happened for the run to mean anything. */
static void check_happened(const struct edge_totals *t)
{
	if (!t->patches)
		return test_error("no patch of the edge sites was applied");
	for (unsigned e = 0; e < EDGE_SITES; e++)
		if (!t->hits[e])
			test_error("the hook at %s never ran", kit_edge_name(e));
	if (!t->raised_idle)
		test_error("no exception was raised in the EQS");
	if (!t->trap_nmi_entry)
		test_error("no trap was taken at the NMI entry's first instruction");
	if (!t->nmi_nested)
		test_error("no NMI nested inside another");
	if (t->max_trap_depth < 2)
		test_error("no hook ran two traps deep");
}

DEFINE_TEST(poke, edge, 2, 0,
	    "a tracer hook at live sites on the NMI, trap and exception entry edges, always the "
	    "NMI variant with interrupts off: the context-tracking model holds")
{
	struct edge_totals t;

	if (!proto_leaves_trap_bytes())
		return test_skip("%s leaves no trap byte: no trap inside the NMI edge (and NMIs run "
				 "its sites mid-write, its known exposure)", proto->name);
	total(&t, edge_run(POLICY_NMI_IRQOFF, test_iters(EDGE_ITERS)));
	print_totals("poke.edge", POLICY_NMI_IRQOFF, &t);
	check_happened(&t);
	test_check(!ct_violations(), "%llu context-tracking violations",
		   (unsigned long long)ct_violations());
	test_pass();
}

/* A control: the run under the first protocol (traps), caught only if
 * the context-tracking checker saw a violation while a hook at an edge
 * site ran. */
static void edge_control(const char *name, enum policy pol)
{
	const struct patch_proto *saved = proto;
	struct edge_totals t;
	u64 at_edges = 0;

	patch_use_protocol(patch_protocols[0]);
	test_expect_detection(true);
	total(&t, edge_run(pol, test_iters(EDGE_ITERS)));
	test_expect_detection(false);
	patch_use_protocol(saved);
	print_totals(name, pol, &t);
	for (unsigned e = 0; e < EDGE_SITES; e++)
		at_edges += ct_violations_at(kit_edge_name(e));
	for (int d = 0; d < DET_COUNT; d++)
		if (test_detections(d))
			diag("%s caught by: %s %llu", name, detector_name(d),
			     (unsigned long long)test_detections(d));
	if (!t.patches)
		return test_error("no patch of the edge sites was applied");
	if (!test_detections(DET_CTRACK) || !at_edges)
		return test_fail("hook '%s' went unseen by the %s, the detector it requires, at "
				 "every edge site (%llu violations in all)", policy_names[pol],
				 detector_name(DET_CTRACK), (unsigned long long)ct_violations());
	diag("%s: required detector: the %s", name, detector_name(DET_CTRACK));
	test_pass();
}

DEFINE_TEST(neg, edge_in_nmi, 2, 0,
	    "a tracer hook choosing by in_nmi() at the entry edges is caught by the "
	    "context-tracking checker")
{
	edge_control("neg.edge_in_nmi", POLICY_IN_NMI);
}

DEFINE_TEST(neg, edge_irqs_on, 2, 0,
	    "a tracer hook always using the NMI variant, interrupts left on, is caught by the "
	    "context-tracking checker")
{
	edge_control("neg.edge_irqs_on", POLICY_NMI_IRQS_AS_FOUND);
}
