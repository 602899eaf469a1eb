/*
 * The patching engine (see patch.h): descriptors, the trap path, text
 * writes and the always-on invariant checker.
 *
 * Retiring descriptors: a batch carries a reference count, 1 while it is
 * live. A trap handler takes a reference only if the count is not zero
 * (never resurrecting a retired batch) and drops it when done; the
 * patcher unpublishes the batch, drops its own reference and waits for
 * zero. That covers a handler that is slow to start: if it loaded the
 * batch pointer but had not taken its reference before the count reached
 * zero, its increment fails and it retries the instruction, which by then
 * is the new one (the last sync completed before retirement). In the
 * plain int3 protocol the syncs alone would cover handlers on other CPUs
 * (a CPU in a trap handler has interrupts off and cannot acknowledge a
 * sync), but not the cpumask protocol, where a trap handler acknowledges
 * and then goes on using the descriptor, nor the unsafe-early-retire
 * control, whose handlers the checker must catch reading a retired batch.
 *
 * What differs between protocols is theirs (struct patch_hooks): this
 * file calls the hooks and holds the standard ones it implements.
 */
#include "kernel/cowrite.h"
#include "kernel/event_log.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/defer.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/symbols.h"
#include "kernel/test.h"
#include "kernel/time.h"

extern char __patchable_start[], __patchable_end[];

volatile enum patch_step patch_current_step;
u64 patch_count, patch_violations;
u64 text_write_seq;
volatile bool world_stopped;
void (*patch_step_hook)(enum patch_step s);

static struct patch_batch *live_batch;
/* Bumped when a batch is published and again when it is unpublished: a
 * trap handler that reads the same value before looking at live_batch
 * and after reading the site's byte saw one consistent state (a seqcount
 * with a single writer, the patcher holding text_lock). */
u64 patch_seq;
static u64 delay_lo, delay_hi;
static u64 batch_gen;

static const char *const step_names[STEP_COUNT] = {
	"idle", "publish", "trap", "tail", "head", "retire", "direct",
};

const char *patch_step_name(enum patch_step s)
{
	return (unsigned)s < STEP_COUNT ? step_names[s] : "?";
}

u64 patch_trap_hits(int cpu)
{
	return cpus[cpu].trap_hits;
}

void patch_set_delay(u64 lo_ns, u64 hi_ns)
{
	delay_lo = lo_ns;
	delay_hi = hi_ns;
}

void patch_get_delay(u64 *lo_ns, u64 *hi_ns)
{
	*lo_ns = delay_lo;
	*hi_ns = delay_hi;
}

void engine_delay(void)
{
	struct cpu *c = this_cpu();
	u64 ns;

	if (!delay_hi)
		return;
	ns = rng_range(&c->rng, delay_lo, delay_hi);
	cpu_relax();	/* a vCPU switch under single-threaded TCG */
	if (ns)
		delay_ns(ns);
}

void engine_step(struct patch_batch *b, enum patch_step s)
{
	b->step_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	patch_current_step = s;
	event_log(EV_STEP, s, b->gen);
	if (patch_step_hook)
		patch_step_hook(s);
	engine_delay();
}

/* Sites ------------------------------------------------------------- */

static bool in_patchable(const u8 *p, unsigned len)
{
	return p >= (u8 *)__patchable_start && p + len <= (u8 *)__patchable_end;
}

int patch_site_init(struct patch_site *s, void *addr, const struct insn *new_insn)
{
	memset(s, 0, sizeof(*s));
	s->addr = addr;
	s->len = new_insn->len;
	s->emul = *new_insn;
	if (s->len == 0 || s->len > INSN_MAX)
		return -1;
	memcpy(s->old, addr, s->len);
	return insn_encode(new_insn, (u64)(uintptr_t)addr, s->new) == s->len ? 0 : -1;
}

static void sort_sites(struct patch_site *s, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		struct patch_site tmp = s[i];
		unsigned j = i;

		for (; j && s[j - 1].addr > tmp.addr; j--)
			s[j] = s[j - 1];
		s[j] = tmp;
	}
}

/* Whether [p, p + len) lies in the live part of this CPU's task stack. */
static bool on_my_stack(const void *p, size_t len)
{
	const u8 *top = this_cpu()->stack_top, *sp = __builtin_frame_address(0);

	return top && (const u8 *)p + len > sp && (const u8 *)p < top;
}

const char *patch_batch_prepare(struct patch_batch *b, struct patch_site *sites, unsigned n)
{
	static char why[160];

	memset(b, 0, sizeof(*b));
	if (n == 0 || n > PATCH_BATCH_MAX)
		return "a batch holds 1 to PATCH_BATCH_MAX sites";
	sort_sites(sites, n);
	for (unsigned i = 0; i < n; i++) {
		struct patch_site *s = &sites[i];

		if (!in_patchable(s->addr, s->len)) {
			ksnprintf(why, sizeof(why), "site %p (%u bytes) is outside patchable text",
				  s->addr, s->len);
			return why;
		}
		if (i && sites[i - 1].addr + sites[i - 1].len > s->addr) {
			ksnprintf(why, sizeof(why), "sites %p and %p overlap",
				  sites[i - 1].addr, s->addr);
			return why;
		}
		if (memcmp(s->addr, s->old, s->len)) {
			ksnprintf(why, sizeof(why), "site %p does not hold the expected old bytes",
				  s->addr);
			return why;
		}
	}
	/* Never on the patcher's stack: a trap handler may look at a batch
	 * after its patch retired (its reference then fails), and a patcher
	 * the watchdog unwinds leaves it published; a dead frame there is
	 * read as descriptors (docs/design.md §4.3). */
	if (on_my_stack(b, sizeof(*b)) || on_my_stack(sites, n * sizeof(*sites)))
		return "the batch or its sites are on the patcher's stack";
	b->sites = sites;
	b->n = n;
	return NULL;
}

void engine_sort_sites(struct patch_site *s, unsigned n)
{
	sort_sites(s, n);
}

/* Lookup by binary search over the sorted sites. */
static struct patch_site *find_site(struct patch_batch *b, const u8 *addr)
{
	unsigned lo = 0, hi = b->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (b->sites[mid].addr == addr)
			return &b->sites[mid];
		if (b->sites[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct patch_site *engine_find_site(struct patch_batch *b, const u8 *addr)
{
	return find_site(b, addr);
}

/* Writes ------------------------------------------------------------- */

/*
 * Every write to live text changes only bytes its site owns: [off, off +
 * len) inside the site, the site one of the batch's. Sites never overlap
 * (patch_batch_prepare), so no write reaches a neighbour's bytes, even one
 * packed into the same word (docs/design.md §13.1).
 */
static bool owns(struct patch_batch *b, struct patch_site *s, unsigned off, unsigned len)
{
	return s >= b->sites && s < b->sites + b->n && len && off + len <= s->len;
}

/* Inline into engine_write_site's write steps, a batch's every write. */
static inline __attribute__((always_inline)) void
write_one(struct patch_batch *b, struct patch_site *s, unsigned off, const u8 *bytes, unsigned len)
{
	/* Logged first: a violation's trail then ends with this write. */
	event_log_inline(EV_WRITE, (u64)(uintptr_t)s->addr + off, bytes[0]);
	if (!owns(b, s, off, len)) {
		engine_violation("a write changes only the bytes its site owns", this_cpu()->id,
				 "write of bytes %u-%u at site %p (%u bytes, %s batch)", off,
				 off + len - 1, s->addr, s->len,
				 s >= b->sites && s < b->sites + b->n ? "in the" : "not in the");
		return;
	}
	engine_check_write(b, s, off, bytes, len);
	if (proto->wide_first_byte && off == 0 && len == 1 && bytes[0] == proto_trap_byte())
		wide_text_write(s->addr, bytes[0]);	/* a negative control's defect */
	else
		arch_text_write(s->addr + off, bytes, len);
	s->written = __atomic_add_fetch(&text_write_seq, 1, __ATOMIC_SEQ_CST);
	if (off == 0 && bytes[0] != proto_trap_byte()) {
		site_rec_removed(b, s, s->written);
		qs_note_text_write(s->addr, s->len, s->written);
	}
}

/* The writer serializes after its writes (SDM vol. 3A 8.1.3: they went
 * through another linear address), and records it. Once per write step,
 * not per write: until then its own serial_seq lags its writes, which is
 * what it is (a trap it takes meanwhile at a site it wrote is "late",
 * never "stale", docs/design.md §4.2); no rule reads the writer's own
 * serial_seq within its step, only other CPUs' and the previous step's. */
void engine_serialize_self(void)
{
	arch_serialize();
	raise_to(&this_cpu()->serial_seq, __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE));
}

void engine_write(struct patch_batch *b, struct patch_site *s, unsigned off,
		  const u8 *bytes, unsigned len)
{
	write_one(b, s, off, bytes, len);
	engine_serialize_self();
}

void engine_write_site(struct patch_batch *b, unsigned i, enum write_kind k)
{
	struct patch_site *s = &b->sites[i];
	u8 trap = proto_trap_byte();

	switch (k) {
	case W_TRAPS:
		return write_one(b, s, 0, &trap, 1);
	case W_TAILS:
		if (s->len > 1)
			write_one(b, s, 1, s->new + 1, s->len - 1);
		return;
	case W_HEADS:
		return write_one(b, s, 0, s->new, 1);
	case W_WHOLE:
		return write_one(b, s, 0, s->new, s->len);
	}
}

/* One write step over every site of b: split with the co-writer when
 * there is one (cowrite.c), else in address order. */
static void write_step(struct patch_batch *b, enum write_kind k)
{
	if (cowrite_step(b, k))
		return;
	for (unsigned i = 0; i < b->n; i++)
		engine_write_site(b, i, k);
	engine_serialize_self();
}

void engine_write_traps(struct patch_batch *b)
{
	write_step(b, W_TRAPS);
}

void engine_write_tails(struct patch_batch *b)
{
	write_step(b, W_TAILS);
}

void engine_write_heads(struct patch_batch *b)
{
	write_step(b, W_HEADS);
}

void engine_write_whole(struct patch_batch *b)
{
	write_step(b, W_WHOLE);
}

/* Publish and retire ---------------------------------------------------- */

bool engine_batch_in_entry(const struct patch_batch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		if (arch_text_in_entry(b->sites[i].addr, b->sites[i].len))
			return true;
	return false;
}

void engine_publish(struct patch_batch *b)
{
	if (on_my_stack(b, sizeof(*b)) || on_my_stack(b->sites, b->n * sizeof(*b->sites)))
		engine_violation("descriptors never live on a stack", this_cpu()->id,
				 "batch %p (sites %p) is on the patcher's stack", b, b->sites);
	b->gen = ++batch_gen;
	b->entry_text = engine_batch_in_entry(b);
	b->refs = 1;
	b->state = BATCH_LIVE;
	__atomic_add_fetch(&patch_seq, 1, __ATOMIC_SEQ_CST);
	/* Release: a handler that sees the pointer sees the descriptors
	 * (docs/design.md §3.1, step 0: the smp_wmb before the int3 goes in). */
	__atomic_store_n(&live_batch, b, __ATOMIC_RELEASE);
	engine_step(b, STEP_PUBLISH);
}

static bool ref_get(struct patch_batch *b)
{
	u32 r = __atomic_load_n(&b->refs, __ATOMIC_ACQUIRE);

	while (r) {
		if (__atomic_compare_exchange_n(&b->refs, &r, r + 1, false,
						__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
			return true;
	}
	return false;
}

static void ref_put(struct patch_batch *b)
{
	__atomic_sub_fetch(&b->refs, 1, __ATOMIC_RELEASE);
}

void engine_ref_put(struct patch_batch *b)
{
	ref_put(b);
}

bool engine_ref_get(struct patch_batch *b)
{
	return ref_get(b);
}

void engine_retire(struct patch_batch *b)
{
	engine_step(b, STEP_RETIRE);
	engine_check_last_sync(b);
	site_rec_synced(b);
	__atomic_store_n(&live_batch, NULL, __ATOMIC_RELEASE);
	__atomic_add_fetch(&patch_seq, 1, __ATOMIC_SEQ_CST);
	proto->hooks->retire(b);
}

static u64 handovers;

u64 patch_handovers(void)
{
	return READ_ONCE(handovers);
}

/* int3-pipe (docs/design.md §3.8): next takes over from old while some of
 * old's sites still need their descriptors (their last write not yet
 * serialized everywhere). A handler that pinned old keeps using it until
 * the wait below; one that comes later finds next, which holds the same
 * descriptors for every site that may still trap. */
void engine_handover(struct patch_batch *old, struct patch_batch *next)
{
	bool carried = false;

	engine_check_handover(old, next);
	for (unsigned i = 0; i < old->n; i++) {
		struct patch_site *t = find_site(next, old->sites[i].addr);

		if (t && t->written)
			carried = true;
		else
			site_rec_synced_site(old->sites[i].addr);
	}
	engine_publish(next);
	handovers += carried;
	proto->hooks->retire(old);
}

/* Retirements that found a trap handler still holding the batch: the
 * reference wait was needed (docs/design.md §4). */
static u64 retire_waits;

u64 patch_retire_waits(void)
{
	return READ_ONCE(retire_waits);
}

void engine_retire_wait(struct patch_batch *b)
{
	u64 end = timestamp() + ms_to_ticks(5000);

	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_RELEASE))
		retire_waits++;
	while (__atomic_load_n(&b->refs, __ATOMIC_ACQUIRE)) {
		if (timestamp() > end) {
			engine_violation("descriptor retired with readers", this_cpu()->id,
					 "%u trap handlers still hold batch %llu after 5 s",
					 b->refs, (unsigned long long)b->gen);
			break;
		}
		sync_poll();
		cpu_relax();
	}
	__atomic_store_n(&b->state, BATCH_RETIRED, __ATOMIC_RELEASE);
}

/* The published batch ------------------------------------------------- */

/* What the stale-code simulation (stale_sim.c) needs to know. */
bool engine_batch_live(void)
{
	return __atomic_load_n(&live_batch, __ATOMIC_ACQUIRE) != NULL;
}

const struct patch_batch *engine_live_batch(void)
{
	return __atomic_load_n(&live_batch, __ATOMIC_ACQUIRE);
}

/* The published batch, for the trap path (trap_path.c). */
struct patch_batch *engine_published(void)
{
	return __atomic_load_n(&live_batch, __ATOMIC_ACQUIRE);
}

/* Applying ----------------------------------------------------------- */

int patch_apply(struct patch_batch *b)
{
	int ret;

	patch_lock();
	ret = proto->apply(b);
	arch_text_done();
	if (!ret)
		ret = engine_finish(b);
	else
		patch_current_step = STEP_IDLE;
	patch_count++;
	patch_unlock();
	return ret;
}

void patch_flush(void)
{
	if (!proto->flush)
		return;
	if (!patch_lock_within(5000)) {
		/* A patcher the watchdog unwound still holds it: its test has
		 * failed, and the runner releases what it left held. */
		diag("patch_flush: the text lock is still held after 5 s; nothing flushed");
		return;
	}
	proto->flush(false);
	patch_current_step = STEP_IDLE;
	patch_unlock();
}

void patch_init(void)
{
	if (opts.protocol)
		proto = opts.protocol;
	patch_set_delay(opts.delay_lo, opts.delay_hi);
	for (unsigned i = 0; i < cpus_possible; i++)
		rng_seed(&cpus[i].rng, opts.seed, i);
	sync_init();
	sync_calibrate();
	patch_use_protocol(proto);
	diag("protocol: %s (%s%s); delays %llu-%llu ns", proto->name, proto->what,
	     proto->safe ? "" : "; expected to fail",
	     (unsigned long long)delay_lo, (unsigned long long)delay_hi);
}

/* Negative controls leave the engine wherever their bug left it: a dead
 * patcher holding the mutex, a batch still published. The caller has
 * stopped every CPU that runs sites and restores their bytes itself. */
void patch_force_reset(void)
{
	if (proto->flush)
		proto->flush(true);
	__atomic_store_n(&live_batch, NULL, __ATOMIC_RELEASE);
	world_stopped = false;
	patch_current_step = STEP_IDLE;
	patch_step_hook = NULL;
	patch_handler_delay_at = HANDLER_DELAY_DEFAULT;
	patch_locks_force_release();
}

/* Writes bytes straight through the alias, outside any protocol (the
 * negative controls' clean-up, with nothing running the site). */
void patch_raw_write(u8 *addr, const u8 *bytes, unsigned len)
{
	arch_text_write(addr, bytes, len);
	arch_text_done();
	__atomic_add_fetch(&text_write_seq, 1, __ATOMIC_SEQ_CST);
	engine_serialize_self();
}
