/*
 * The context-tracking model and its checker (see ctrack.h). The
 * transitions follow rcu_irq_enter/exit and rcu_nmi_enter/exit as Linux
 * had them when the livepatch/RCU thread of May 2017 discussed them
 * (docs/design.md §8.6): the interrupt variant counts its nesting and
 * leaves or re-enters the EQS when that nesting leaves or reaches zero;
 * the NMI variant leaves the EQS only if the CPU is in it, and counts by
 * one in that case and by two otherwise, so that its exit knows, from an
 * NMI nesting of exactly one, that it must re-enter the EQS.
 */
#include "kernel/ctrack.h"
#include "kernel/events.h"
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/test.h"

#define REPORT_LINES 3		/* the first in full, two more as a line */
#define SITE_SLOTS 8

enum ct_transition {
	T_IDLE_ENTER, T_IDLE_EXIT, T_IRQ_ENTER, T_IRQ_EXIT, T_NMI_ENTER, T_NMI_EXIT,
	T_HOOK, T_VIOLATION, T_TRANSITIONS,
};

static const char *const transition_names[T_TRANSITIONS] = {
	"idle-enter", "idle-exit", "irq-enter", "irq-exit", "nmi-enter", "nmi-exit", "hook",
	"VIOLATION, found",
};

struct ct_cpu {
	u64 ctr;		/* odd: watched */
	s64 nest;		/* task (CT_TASK) plus interrupts */
	s64 nmi_nest;		/* NMI-like entries: 1 when the outermost left the EQS */
	bool on;
	bool start_idle;
	const char *site;	/* the hook running now, for reports */
	u64 site_addr;
};

static struct ct_cpu ct[MAX_CPUS];
static u64 violations, max_nmi_nest, max_irq_nest;
static char first[160];		/* the first violation: transition and site */
static const char *site_names[SITE_SLOTS];
static u64 site_violations[SITE_SLOTS];

static struct ct_cpu *me(void)
{
	return &ct[this_cpu()->id];
}

bool ct_tracking(void)
{
	return READ_ONCE(me()->on);
}

void ct_reset(void)
{
	WRITE_ONCE(violations, 0);
	first[0] = '\0';
	max_nmi_nest = max_irq_nest = 0;
	for (int i = 0; i < SITE_SLOTS; i++) {
		site_names[i] = NULL;
		site_violations[i] = 0;
	}
}

u64 ct_violations(void)
{
	return READ_ONCE(violations);
}

const char *ct_first_violation(void)
{
	return ct_violations() ? first : "none";
}

u64 ct_violations_at(const char *site)
{
	for (int i = 0; i < SITE_SLOTS; i++)
		if (site_names[i] == site)
			return READ_ONCE(site_violations[i]);
	return 0;
}

s64 ct_max_nmi_nest(void)
{
	return READ_ONCE(max_nmi_nest);
}

s64 ct_max_irq_nest(void)
{
	return READ_ONCE(max_irq_nest);
}

static void count_at_site(const char *site)
{
	for (int i = 0; site && i < SITE_SLOTS; i++) {
		const char *cur = site_names[i];

		if (!cur && __atomic_compare_exchange_n(&site_names[i], &cur, site, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			cur = site;
		if (cur == site) {
			__atomic_fetch_add(&site_violations[i], 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

/* The trail keeps every transition: a = transition | site id bits, b =
 * the state after it, packed (counter's low 32 bits, nestings 16 each). */
static void log_transition(enum ct_transition t, const struct ct_cpu *s)
{
	u64 b = (u32)s->ctr | (u64)(u16)(s->nest == CT_TASK ? 0xffff : s->nest) << 32 |
		(u64)(u16)s->nmi_nest << 48;

	event_log(EV_CT, t, b);
}

void ct_describe(u64 a, u64 b, char *buf, unsigned long size)
{
	u64 nest = (b >> 32) & 0xffff;

	ksnprintf(buf, size, "ct %s: counter %llu (%s), nesting %s%llu, NMI nesting %llu",
		  a < T_TRANSITIONS ? transition_names[a] : "?", (unsigned long long)(u32)b,
		  b & 1 ? "watched" : "not watched", nest == 0xffff ? "task" : "",
		  nest == 0xffff ? 0ull : (unsigned long long)nest,
		  (unsigned long long)(b >> 48));
}

static void violation(enum ct_transition t, const char *rule, const char *fmt, ...)
{
	struct cpu *c = this_cpu();
	struct ct_cpu *s = me();
	char msg[160];
	va_list ap;
	u64 n;

	/* Its state means nothing from here on: tracking stops on this CPU
	 * (exits still pending see it off and leave it alone), so each CPU
	 * reports its first violation and no cascade. */
	WRITE_ONCE(s->on, false);
	count_at_site(s->site);
	n = __atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
	if (n == 1)
		ksnprintf(first, sizeof(first), "'%s' at %s, CPU %d, in the hook at edge site %s",
			  rule, transition_names[t], c->id, s->site ? s->site : "(none)");
	if (n > REPORT_LINES)
		return;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_transition(T_VIOLATION, s);
	test_detect(DET_CTRACK,
		    "CONTEXT TRACKING '%s' violated: CPU %d, transition %s, %s%s: %s; counter %llu "
		    "(%s), nesting %lld, NMI nesting %lld; NMI depth %u, trap depth %u",
		    rule, c->id, transition_names[t], s->site ? "while the hook at edge site " : "",
		    s->site ? s->site : "outside any hook", msg,
		    (unsigned long long)s->ctr, s->ctr & 1 ? "watched" : "not watched",
		    (long long)s->nest, (long long)s->nmi_nest, c->nmi_depth, c->trap_depth);
	if (n > 1)
		return;
	if (failure_begin(c->id, s->site_addr))
		diag("  context-tracking violation on CPU %d at %s (%#llx)", c->id,
		     s->site ? s->site : "no hook", (unsigned long long)s->site_addr);
	failure_context(c->id, s->site_addr);
}

/* Leaving the EQS: the counter must say "not watched" before it. */
static void eqs_exit(enum ct_transition t, struct ct_cpu *s)
{
	if (s->ctr & 1)
		violation(t, "the EQS is left only from the EQS",
			  "the counter already said watched");
	s->ctr++;
}

static void eqs_enter(enum ct_transition t, struct ct_cpu *s)
{
	if (!(s->ctr & 1))
		violation(t, "the EQS is entered only from a watched state",
			  "the counter already said not watched");
	s->ctr++;
}

static void note_depths(const struct ct_cpu *s)
{
	s64 irq = s->nest >= CT_TASK ? s->nest - CT_TASK : s->nest;

	if (s->nmi_nest > (s64)READ_ONCE(max_nmi_nest))
		WRITE_ONCE(max_nmi_nest, s->nmi_nest);
	if (irq > (s64)READ_ONCE(max_irq_nest))
		WRITE_ONCE(max_irq_nest, irq);
}

void ct_cpu_start(bool idle)
{
	struct ct_cpu *s = me();

	*s = (struct ct_cpu){ .ctr = idle ? 2 : 1, .nest = idle ? 0 : CT_TASK,
			      .start_idle = idle };
	barrier();
	WRITE_ONCE(s->on, true);
}

bool ct_cpu_stop(void)
{
	struct ct_cpu *s = me();
	bool ok = s->nmi_nest == 0 && s->nest == (s->start_idle ? 0 : CT_TASK) &&
		  (s->ctr & 1) == !s->start_idle;

	if (s->on && !ok)
		violation(T_HOOK, "every entry is undone at its return",
			  "the CPU ended its run not in the state it started in (%s)",
			  s->start_idle ? "the EQS" : "a task");
	WRITE_ONCE(s->on, false);
	return ok;
}

void ct_idle_enter(void)
{
	struct ct_cpu *s = me();

	if (!s->on)
		return;
	if (s->nest != CT_TASK || s->nmi_nest)
		violation(T_IDLE_ENTER, "idle is entered from a task only",
			  "entered with nesting %lld", (long long)s->nest);
	s->nest = 0;
	eqs_enter(T_IDLE_ENTER, s);
	log_transition(T_IDLE_ENTER, s);
}

void ct_idle_exit(void)
{
	struct ct_cpu *s = me();

	if (!s->on)
		return;
	if (s->nest || s->nmi_nest)
		violation(T_IDLE_EXIT, "idle is left from idle only",
			  "left with nesting %lld", (long long)s->nest);
	eqs_exit(T_IDLE_EXIT, s);
	s->nest = CT_TASK;
	log_transition(T_IDLE_EXIT, s);
}

void ct_irq_enter(void)
{
	struct ct_cpu *s = me();
	s64 old;

	if (!s->on)
		return;
	old = s->nest;
	s->nest = old + 1;
	barrier();
	if (old < 0)
		violation(T_IRQ_ENTER, "nestings never go below zero", "nesting was %lld",
			  (long long)old);
	else if (old == 0)
		eqs_exit(T_IRQ_ENTER, s);
	note_depths(s);
	log_transition(T_IRQ_ENTER, s);
}

void ct_irq_exit(void)
{
	struct ct_cpu *s = me();

	if (!s->on)
		return;
	if (s->nest <= 0)
		violation(T_IRQ_EXIT, "nestings never go below zero", "nesting was %lld",
			  (long long)s->nest);
	s->nest--;
	barrier();
	if (s->nest == 0)
		eqs_enter(T_IRQ_EXIT, s);
	log_transition(T_IRQ_EXIT, s);
}

void ct_nmi_enter(void)
{
	struct ct_cpu *s = me();
	s64 incby = 2;

	if (!s->on)
		return;
	if (s->nmi_nest < 0)
		violation(T_NMI_ENTER, "nestings never go below zero", "NMI nesting was %lld",
			  (long long)s->nmi_nest);
	/* Counted by one only when this entry left the EQS: its exit then
	 * sees exactly one and re-enters it. */
	if (!(s->ctr & 1)) {
		eqs_exit(T_NMI_ENTER, s);
		incby = 1;
	}
	barrier();
	s->nmi_nest += incby;
	note_depths(s);
	log_transition(T_NMI_ENTER, s);
}

void ct_nmi_exit(void)
{
	struct ct_cpu *s = me();

	if (!s->on)
		return;
	if (s->nmi_nest <= 0)
		violation(T_NMI_EXIT, "nestings never go below zero", "NMI nesting was %lld",
			  (long long)s->nmi_nest);
	if (!(s->ctr & 1))
		violation(T_NMI_EXIT, "an NMI-like entry is watched until its exit",
			  "the counter said not watched");
	if (s->nmi_nest != 1) {
		s->nmi_nest -= 2;
	} else {
		s->nmi_nest = 0;
		barrier();
		eqs_enter(T_NMI_EXIT, s);
	}
	log_transition(T_NMI_EXIT, s);
}

bool ct_watching(void)
{
	return me()->ctr & 1;
}

void ct_trap_enter(enum ct_entry k)
{
	if (!READ_ONCE(me()->on))
		return;
	if (k == CT_ENTRY_IRQ)
		ct_irq_enter();
	else
		ct_nmi_enter();
}

void ct_trap_exit(enum ct_entry k)
{
	if (!READ_ONCE(me()->on))
		return;
	if (k == CT_ENTRY_IRQ)
		ct_irq_exit();
	else
		ct_nmi_exit();
}

void ct_snap(struct ct_snap *out)
{
	struct ct_cpu *s = me();

	*out = (struct ct_snap){ .ctr = s->ctr, .nest = s->nest, .nmi_nest = s->nmi_nest };
}

void ct_assert_watched(const char *what)
{
	struct ct_cpu *s = me();

	if (s->on && !(s->ctr & 1))
		violation(T_HOOK, "a read side runs only where the CPU is watched",
			  "%s ran with the CPU in the EQS", what);
}

/* The hook may have been interrupted in between: whatever interrupted it
 * must have undone itself, so the state is the one it found. Not the
 * counter's value: leaving and re-entering the EQS advances it by two,
 * which is how a grace period sees that the CPU passed through. */
void ct_assert_balanced(const struct ct_snap *b, const char *what)
{
	struct ct_cpu *s = me();

	if (s->on && ((s->ctr ^ b->ctr) & 1 || s->nest != b->nest || s->nmi_nest != b->nmi_nest))
		violation(T_HOOK, "every entry is undone at its return",
			  "%s returned with counter %llu, nesting %lld, NMI nesting %lld; it found "
			  "%llu, %lld, %lld", what, (unsigned long long)s->ctr, (long long)s->nest,
			  (long long)s->nmi_nest, (unsigned long long)b->ctr, (long long)b->nest,
			  (long long)b->nmi_nest);
}

const char *ct_hook_site(const char *site, u64 addr, u64 *prev_addr)
{
	struct ct_cpu *s = me();
	const char *prev = s->site;

	if (prev_addr)
		*prev_addr = s->site_addr;
	s->site_addr = addr;
	s->site = site;
	return prev;
}
