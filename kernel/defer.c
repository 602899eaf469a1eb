/* The deferred sync's per-CPU word, its transitions and its checker (see
 * defer.h and docs/design.md §8.7). */
#include "kernel/defer.h"
#include "kernel/events.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch_internal.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define REPORT_LINES 3
#define UNORDERED_WINDOW_NS 20000	/* neg.defer_unordered's read-to-write window */

bool sync_deferred;
enum qs_defect qs_defect;
void (*qs_leave_hook)(u64 old);

struct qs_cpu {
	u64 word;		/* QS_EQS | QS_OWED | seq << QS_SEQ_SHIFT */
	u64 ledger;		/* the checker's: latest write seq a sync deferred it at */
	bool in_eqs;		/* the CPU's own idea, for the checker */
	bool trap_from_eqs;	/* the running outermost trap left the EQS */
	u64 forgiven;		/* the qs_forgive() generation it took */
	bool mid;		/* the running trap came inside enter() or leave() */
} __aligned(64);

static struct qs_cpu qs[MAX_CPUS];
/* The write seq of the latest head write to entry text (the checker's). */
static u64 entry_write_seq;
static u64 forgive_gen;
static u64 st_syncs, st_cpus, st_exits, st_serialized, st_violations;

const char *sync_mode_name(void)
{
	return READ_ONCE(sync_deferred) ? "deferred" : "broadcast";
}

void qs_stats(struct qs_stats *s)
{
	*s = (struct qs_stats){
		.syncs_deferring = READ_ONCE(st_syncs), .cpus_deferred = READ_ONCE(st_cpus),
		.exits = READ_ONCE(st_exits), .exits_serialized = READ_ONCE(st_serialized),
		.violations = READ_ONCE(st_violations),
	};
}

void qs_stats_total(void)
{
	struct qs_stats t;

	qs_stats(&t);
	diag("sync: %s; syncs that deferred a CPU: %llu (%llu CPUs in all); quiescent-state exits: "
	     "%llu, of which serialized for a deferred sync: %llu; deferred-sync checker violations: %llu",
	     sync_mode_name(), (unsigned long long)t.syncs_deferring,
	     (unsigned long long)t.cpus_deferred, (unsigned long long)t.exits,
	     (unsigned long long)t.exits_serialized, (unsigned long long)t.violations);
}

static void count(u64 *p, u64 n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static void violation(const char *rule, const char *fmt, ...) __printf(2, 3);

static void violation(const char *rule, const char *fmt, ...)
{
	struct cpu *c = this_cpu();
	static const char *test;	/* whose reports are counted in reports */
	static u64 reports;
	const char *now = test_current_name();
	char msg[200];
	va_list ap;
	u64 n;

	__atomic_fetch_add(&st_violations, 1, __ATOMIC_RELAXED);
	if (READ_ONCE(test) != now) {
		WRITE_ONCE(test, now);
		WRITE_ONCE(reports, 0);
	}
	n = __atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
	event_log(EV_VIOLATION, n, c->id);
	if (n > REPORT_LINES)
		return;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	test_detect(DET_DEFER, "DEFERRED SYNC '%s' violated: CPU %d: %s; word %#llx, serialized at "
		    "write %llu, deferred at write %llu", rule, c->id, msg,
		    (unsigned long long)READ_ONCE(qs[c->id].word),
		    (unsigned long long)READ_ONCE(c->serial_seq),
		    (unsigned long long)READ_ONCE(qs[c->id].ledger));
	if (n > 1)
		return;
	/* failure_context() prints the site and the trail, and gives back
	 * the report lock failure_begin() took: a report that kept it would
	 * hold every later one for a second. */
	if (failure_begin(c->id, 0))
		diag("  deferred-sync violation on CPU %d, %s", c->id,
		     READ_ONCE(qs[c->id].in_eqs) ? "in the EQS" : "running");
	failure_context(c->id, 0);
}

/* The two rules every check point asserts on a CPU outside the EQS. */
static void check_running(struct cpu *c, const char *where)
{
	struct qs_cpu *q = &qs[c->id];
	u64 w = __atomic_load_n(&q->word, __ATOMIC_ACQUIRE);

	if (w & QS_EQS)
		violation("a patcher defers only a quiescent CPU",
			  "%s: the word says quiescent while the CPU runs", where);
	else if (READ_ONCE(c->serial_seq) < READ_ONCE(q->ledger))
		violation("a deferred CPU serializes on leaving the EQS, before patchable text",
			  "%s: not serialized since a sync deferred it", where);
}

/* CPU side ----------------------------------------------------------- */

/* Serialize, then record it (the order of sync.c's acknowledgement),
 * owed or not. */
static void serialize_now(struct cpu *c)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	arch_serialize();
	raise_to(&c->serial_seq, seq);
}

static void serialize_owed(struct cpu *c)
{
	serialize_now(c);
	count(&st_serialized, 1);
}

void qs_forgive(void)
{
	__atomic_add_fetch(&forgive_gen, 1, __ATOMIC_SEQ_CST);
}

/* A qs_forgive() this CPU has not taken yet, on a running CPU: serialize
 * now, which pays whatever a word or the ledger says it owes, clear the
 * word (no sound patcher writes a running CPU's), and skip this check. */
static bool forgiving(struct cpu *c, struct qs_cpu *q)
{
	u64 g = __atomic_load_n(&forgive_gen, __ATOMIC_ACQUIRE);

	if (q->forgiven == g || q->in_eqs)
		return false;
	q->forgiven = g;
	serialize_now(c);
	__atomic_store_n(&q->word, 0, __ATOMIC_SEQ_CST);
	return true;
}

static void enter(struct cpu *c, const char *where)
{
	struct qs_cpu *q = &qs[c->id];
	u64 owed;

	if (q->in_eqs)
		return;
	/* Owed while running: only a patcher that wrote the word without
	 * the atomic exchange (neg.defer_unordered) leaves that. The CPU
	 * still owes the serialization the ledger records: keep the mark,
	 * so that it pays on its next exit, unless it just paid. */
	owed = __atomic_load_n(&q->word, __ATOMIC_RELAXED) & ~QS_EQS;
	if (forgiving(c, q))
		owed = 0;
	else
		check_running(c, where);
	/* The flag before the word: an NMI in between must see the EQS as
	 * soon as a patcher may (it leaves it again). */
	WRITE_ONCE(q->in_eqs, true);
	/* Nobody else writes a word without QS_EQS: a plain store would do,
	 * the exchange is for the checker's sake (no release needed beyond
	 * it: the EQS runs no patchable text). */
	__atomic_store_n(&q->word, QS_EQS | owed, __ATOMIC_SEQ_CST);
}

/* Leaves the EQS: atomically (the race with qs_try_defer), then pays
 * what is owed before returning to anything that may run a site. */
static void leave(struct cpu *c, const char *where)
{
	struct qs_cpu *q = &qs[c->id];
	u64 old;

	if (!q->in_eqs)
		return;
	old = __atomic_fetch_and(&q->word, ~QS_EQS, __ATOMIC_SEQ_CST);
	if (qs_leave_hook)
		qs_leave_hook(old);
	count(&st_exits, 1);
	if (old & QS_OWED) {
		if (qs_defect != QS_NO_SERIALIZE)
			serialize_owed(c);
		/* Paid: no patcher writes a word without QS_EQS. */
		__atomic_store_n(&q->word, 0, __ATOMIC_RELEASE);
	}
	/* The flag last: until the debt is paid, an NMI or exception here
	 * finds the flag set and the word running, and serializes itself
	 * before its handler runs a site (qs_trap_enter). The flag cleared
	 * first left a window where an NMI found the CPU running and
	 * unserialized (poke.deferred_nmi_exit). */
	WRITE_ONCE(q->in_eqs, false);
	if (!forgiving(c, q))
		check_running(c, where);
}

void qs_idle_enter(void)
{
	enter(this_cpu(), "idle entry");
}

void qs_idle_exit(void)
{
	leave(this_cpu(), "idle exit");
}

void qs_note_text_write(const void *addr, unsigned len, u64 seq)
{
	if (arch_text_in_entry(addr, len))
		raise_to(&entry_write_seq, seq);
}

/* A trap leaving the EQS has run entry text on its way here, before any
 * serialization: text that must not have changed since this CPU last
 * serialized, by a write whose sync deferred it (it would have run that
 * text stale). Found independently of the rule that keeps such patches
 * from deferring (qs_sync_may_defer), from the write sequences alone. */
static void check_entry_text(struct cpu *c, struct qs_cpu *q)
{
	u64 w = __atomic_load_n(&q->word, __ATOMIC_ACQUIRE);
	u64 e = __atomic_load_n(&entry_write_seq, __ATOMIC_ACQUIRE);

	if (e && (w & QS_OWED) && w >> QS_SEQ_SHIFT >= e && READ_ONCE(c->serial_seq) < e)
		violation("entry text is never patched by a deferred sync",
			  "trap entry from the EQS ran entry text written at write %llu, after "
			  "which a sync deferred this CPU", (unsigned long long)e);
}

bool qs_trap_enter(void)
{
	struct cpu *c = this_cpu();
	struct qs_cpu *q = &qs[c->id];

	if (!q->in_eqs)
		return false;
	q->trap_from_eqs = true;
	if (!(__atomic_load_n(&q->word, __ATOMIC_ACQUIRE) & QS_EQS)) {
		/* An NMI or exception inside a transition: enter() has set
		 * its flag and not yet the word, or leave() has cleared the
		 * word and not yet its flag (nor paid what it owes). The
		 * handler runs outside the EQS and serialized; the exit puts
		 * the flag back for the transition to finish. No patcher
		 * defers the CPU meanwhile: the word says running. */
		WRITE_ONCE(q->in_eqs, false);
		serialize_now(c);
		q->mid = true;
		return true;
	}
	/* After a control, what it left is forgiven (forgiving()), not
	 * checked. */
	if (q->forgiven == __atomic_load_n(&forgive_gen, __ATOMIC_ACQUIRE))
		check_entry_text(c, q);
	leave(c, "trap entry from the EQS");
	return true;
}

bool qs_trap_from_eqs(void)
{
	return qs[this_cpu()->id].trap_from_eqs;
}

/* An interrupt could only have come at the idle loop's halt, which goes
 * on to leave the EQS anyway; an NMI or exception may have come anywhere
 * in the EQS and returns into it. */
void qs_trap_exit(bool left, bool irq)
{
	struct qs_cpu *q = &qs[this_cpu()->id];

	if (!left)
		return;
	q->trap_from_eqs = false;
	if (q->mid) {
		q->mid = false;
		WRITE_ONCE(q->in_eqs, true);
	} else if (!irq) {
		enter(this_cpu(), "trap exit to the EQS");
	}
}

void qs_park(void)
{
	enter(this_cpu(), "park");
}

/* After ap_entry serialized unconditionally (a CPU out of INIT knows no
 * earlier code, SDM vol. 3A §9.1): whatever the word owed is paid. */
void qs_online(void)
{
	struct cpu *c = this_cpu();
	struct qs_cpu *q = &qs[c->id];

	WRITE_ONCE(q->in_eqs, false);
	__atomic_store_n(&q->word, 0, __ATOMIC_SEQ_CST);
	check_running(c, "bring-up");
}

void qs_site_run(const char *what)
{
	struct cpu *c = this_cpu();

	if (qs[c->id].in_eqs)
		violation("patchable text runs only outside the EQS", "%s in the EQS", what);
	else if (!forgiving(c, &qs[c->id]))
		check_running(c, what);
}

/* Patcher side ------------------------------------------------------- */

bool qs_sync_may_defer(const struct patch_batch *b)
{
	/* Individual IPIs only from a task: an interrupt or NMI handler
	 * sending one could clobber an interrupted sender's destination
	 * (x86 xAPIC: two ICR writes). */
	if (!READ_ONCE(sync_deferred) || this_cpu()->trap_depth)
		return false;
	/* Entry text runs before the serialization of the entry it is in
	 * (x86: the NMI entry's first instruction): a patch there must reach
	 * every CPU the broadcast way, as Linux keeps such keys out of
	 * deferral. */
	if (qs_defect == QS_DEFER_ENTRY)
		return true;	/* neg.defer_entry's defect */
	if (b && __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BATCH_LIVE)
		return !b->entry_text;	/* found once, when it was published */
	return !(b && engine_batch_in_entry(b));
}

static u64 owed_word(u64 old, u64 seq)
{
	u64 had = old & QS_OWED ? old >> QS_SEQ_SHIFT : 0;

	return QS_EQS | QS_OWED | (MAX(had, seq) << QS_SEQ_SHIFT);
}

/* The neg.defer_unordered control's patcher: it reads the word, takes a
 * seeded delay (a window the CPU may leave the EQS in), then writes the
 * word from what it read. A CPU that left meanwhile found nothing owed. */
static bool try_defer_unordered(struct qs_cpu *q, u64 seq)
{
	u64 old = READ_ONCE(q->word);

	if (!(old & QS_EQS))
		return false;
	cpu_relax();	/* a vCPU switch under single-threaded TCG */
	delay_ns(rng_range(&this_cpu()->rng, 1000, UNORDERED_WINDOW_NS));
	WRITE_ONCE(q->word, owed_word(old, seq));
	return true;
}

bool qs_try_defer(unsigned cpu, u64 seq)
{
	struct qs_cpu *q = &qs[cpu];
	u64 old;

	if (qs_defect == QS_UNORDERED) {
		if (!try_defer_unordered(q, seq))
			return false;
	} else {
		old = __atomic_load_n(&q->word, __ATOMIC_RELAXED);
		do {
			if (!(old & QS_EQS))
				return false;
		} while (!__atomic_compare_exchange_n(&q->word, &old, owed_word(old, seq), false,
						      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	}
	raise_to(&q->ledger, seq);
	return true;
}

/* The word first, then serial_seq: a CPU leaving the EQS records its
 * serialization before it clears QS_OWED (leave), so a word found paid
 * means serial_seq is already there. */
bool qs_cpu_saw(unsigned cpu, u64 seq)
{
	u64 w = __atomic_load_n(&qs[cpu].word, __ATOMIC_ACQUIRE);

	if ((w & QS_OWED) && w >> QS_SEQ_SHIFT >= seq)
		return true;
	return READ_ONCE(cpus[cpu].serial_seq) >= seq;
}

bool qs_quiescent(unsigned cpu)
{
	return __atomic_load_n(&qs[cpu].word, __ATOMIC_ACQUIRE) & QS_EQS;
}

void qs_note_sync(unsigned deferred)
{
	if (!deferred)
		return;
	count(&st_syncs, 1);
	count(&st_cpus, deferred);
}
