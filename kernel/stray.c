/*
 * Stray traps: a trap in patchable text that no live patch owns. The
 * patcher records, per site, which patch last removed its trap byte, at
 * which write and when that patch's final sync completed; a trap handler
 * that finds no live patch uses the record to tell an engine bug (the
 * trap byte is still there), stale code run by the platform (this CPU had
 * serialized after the removal and still executed it) and a late trap
 * (the patch ended while the CPU was on its way in) apart. Each class is
 * counted per test and in all, and reported; none is silently absorbed.
 */
#include "kernel/events.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch_internal.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/symbols.h"
#include "kernel/time.h"

/* Site records ------------------------------------------------------ */

/*
 * What a trap handler needs to classify a trap at a site no live patch
 * owns: which patch last removed the trap byte there, at which write, and
 * when that patch's final sync had completed. Written only by the patcher
 * of a batch holding the site (one at a time, text_mutex) while that batch
 * is live; read locklessly by trap handlers, whose patch_seq check tells
 * them whether the record may have changed meanwhile. Records are never
 * removed; a full table simply leaves later sites unclassified.
 */
#define SITE_RECS 4096		/* a power of two, > PATCH_BATCH_MAX */

struct site_rec {
	u8 *addr;		/* published last (release): the key */
	u8 len;
	u64 gen;		/* the patch that removed the trap byte */
	u64 rm_seq;		/* text_write_seq right after that write */
	u64 synced_at;		/* timestamp: its final sync had completed */
	struct insn emul;	/* the instruction the site holds since */
};

static struct site_rec site_recs[SITE_RECS];

static unsigned site_hash(const u8 *addr)
{
	u64 a = (u64)(uintptr_t)addr;

	return (unsigned)((a * 0x9e3779b97f4a7c15ull) >> 52) & (SITE_RECS - 1);
}

/* The record of addr, or (for the patcher) the free slot it would go
 * in; NULL when the table is full. */
static struct site_rec *site_rec_slot(const u8 *addr)
{
	unsigned h = site_hash(addr);

	for (unsigned k = 0; k < SITE_RECS; k++, h = (h + 1) & (SITE_RECS - 1)) {
		struct site_rec *r = &site_recs[h];
		u8 *key = __atomic_load_n(&r->addr, __ATOMIC_ACQUIRE);

		if (key == addr || !key)
			return r;
	}
	return NULL;
}

static struct site_rec *site_rec_find(const u8 *addr)
{
	struct site_rec *r = site_rec_slot(addr);

	return r && __atomic_load_n(&r->addr, __ATOMIC_ACQUIRE) == addr ? r : NULL;
}

/* The first byte of s is no longer a trap byte since write seq. A new
 * record is filled before its key is published. */
void site_rec_removed(struct patch_batch *b, struct patch_site *s, u64 seq)
{
	struct site_rec *r = site_rec_slot(s->addr);

	if (!r)
		return;
	r->len = s->len;
	r->gen = b->gen;
	r->rm_seq = seq;
	r->synced_at = 0;
	r->emul = s->emul;
	__atomic_store_n(&r->addr, s->addr, __ATOMIC_RELEASE);
}

/* int3-pipe's handover dropped the site: its last sync has completed
 * (some time before now: later traps count as late, never as stale). */
void site_rec_synced_site(const u8 *addr)
{
	struct site_rec *r = site_rec_find(addr);

	if (r && !r->synced_at)
		r->synced_at = timestamp();
}

/* At retirement: the protocol's last sync has completed. */
void site_rec_synced(struct patch_batch *b)
{
	u64 now = timestamp();

	for (unsigned i = 0; i < b->n; i++) {
		struct site_rec *r = site_rec_find(b->sites[i].addr);

		if (r && r->gen == b->gen)
			r->synced_at = now;
	}
}

/* Stray traps --------------------------------------------------------- */

#define STRAY_REPORT_MAX 3	/* full reports per test and kind; the rest counted */

struct stray_counts {
	u64 engine;		/* (a) a trap byte nobody's patch is writing */
	u64 platform;		/* (b) stale code run after a serialization */
	u64 episodes;		/* of (b): distinct CPU, site and patch */
	u64 late;		/* (c) a patch finished while we came in */
};

static struct stray_counts stray, stray_total;
static u64 retire_waits0;	/* patch_retire_waits() when the test began */
/* The last stale episode of each CPU: a stale copy tends to be run again
 * and again until the site is written next. */
static u64 ep_site[MAX_CPUS], ep_gen[MAX_CPUS];

static void stray_bytes(const u8 *addr, unsigned len, char *buf, size_t size)
{
	int n = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < len && k < INSN_MAX; k++)
		n += ksnprintf(buf + n, size - n, "%s%02x", k ? " " : "", READ_ONCE(addr[k]));
}

/* (a) The trap byte is in memory and no patch of the site is live: the
 * engine left it there (or wrote it outside a patch). The CPU goes on
 * with the instruction the site should hold, so the test runs to its
 * report; the test fails. */
static int stray_engine_bug(struct trap_frame *f, u8 *addr, const struct site_rec *r)
{
	struct cpu *c = this_cpu();
	u64 n = __atomic_add_fetch(&stray.engine, 1, __ATOMIC_RELAXED);
	char sym[64], bytes[3 * INSN_MAX];

	if (n <= STRAY_REPORT_MAX) {
		symbolize((u64)(uintptr_t)addr, sym, sizeof(sym));
		stray_bytes(addr, r->len, bytes, sizeof(bytes));
		arch_frame_report(f, "STRAY TRAP (engine)");
		engine_violation("a trap byte is in a site only while a patch of it is live", c->id,
				 "CPU %d trapped at %s (%p), bytes %s: no patch of it is live; the last patch that removed its trap byte was patch %llu (%s)",
				 c->id, sym, addr, bytes, (unsigned long long)r->gen,
				 r->synced_at ? "final sync completed" : "final sync not completed");
	}
	if (proto->hooks->emulate(f, &r->emul, addr))
		return PATCH_TRAP_HANDLED;
	return PATCH_TRAP_NOT_OURS;
}

/* (b) This CPU serialized after the write that removed the trap byte and
 * still executed it: stale code, a defect of the platform, not of the
 * protocol. Counted and named; the CPU re-executes the site (as Linux
 * kprobes does when the int3 is gone), and on a second stale trap in a
 * row at the same site runs its instruction instead, in case the stale
 * copy outlives the retry. */
static int stray_platform_defect(struct trap_frame *f, u8 *addr, const struct site_rec *r,
				 u64 entry_seq)
{
	struct cpu *c = this_cpu();
	u64 n = __atomic_add_fetch(&stray.platform, 1, __ATOMIC_RELAXED);
	u64 now = timestamp(), synced = r->synced_at;
	char sym[64], bytes[3 * INSN_MAX], when[64];

	event_log(EV_STALE, (u64)(uintptr_t)addr, r->gen);
	if (ep_site[c->id] != (u64)(uintptr_t)addr || ep_gen[c->id] != r->gen) {
		ep_site[c->id] = (u64)(uintptr_t)addr;
		ep_gen[c->id] = r->gen;
		__atomic_add_fetch(&stray.episodes, 1, __ATOMIC_RELAXED);
	}
	if (n <= STRAY_REPORT_MAX) {
		symbolize((u64)(uintptr_t)addr, sym, sizeof(sym));
		stray_bytes(addr, r->len, bytes, sizeof(bytes));
		if (synced)
			ksnprintf(when, sizeof(when), "%llu ns after its final sync",
				  (unsigned long long)ticks_to_ns(now > synced ? now - synced : 0));
		else
			ksnprintf(when, sizeof(when), "while its final sync was completing");
		diag("PLATFORM DEFECT: CPU %d executed the trap byte at %s (%p) that patch %llu had removed "
		     "(write %llu), %s; this CPU had serialized at write %llu; bytes now %s; not a protocol "
		     "failure: re-executing the site", c->id, sym, addr, (unsigned long long)r->gen,
		     (unsigned long long)r->rm_seq, when, (unsigned long long)entry_seq, bytes);
	}
	if (c->stale_site == (u64)(uintptr_t)addr) {
		c->stale_site = 0;
		if (proto->hooks->emulate(f, &r->emul, addr))
			return PATCH_TRAP_HANDLED;
	}
	c->stale_site = (u64)(uintptr_t)addr;
	return PATCH_TRAP_RETRY;
}

/*
 * No live patch owns addr. seq0 is patch_seq from before live_batch was
 * read; entry_seq the text_write_seq this CPU had serialized after when
 * it executed the trap byte. If a patch began or ended since seq0, the
 * byte and the record may belong to different patches (patch N ended,
 * then patch N+1 wrote its trap byte): re-execute, and a trap byte still
 * there traps again and finds its live patch.
 */
int trap_stray(struct trap_frame *f, u8 *addr, u64 seq0, u64 entry_seq)
{
	struct site_rec *p = site_rec_find(addr), r;
	u8 now;

	if (!p)
		return PATCH_TRAP_NOT_OURS;	/* never patched: not a site */
	now = READ_ONCE(*addr);
	r = *p;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);	/* the loads above, then the re-check */
	if (__atomic_load_n(&patch_seq, __ATOMIC_RELAXED) != seq0)
		return PATCH_TRAP_RETRY;
	if (now == proto_trap_byte())
		return stray_engine_bug(f, addr, &r);
	if (entry_seq >= r.rm_seq)
		return stray_platform_defect(f, addr, &r, entry_seq);
	/* (c) The patch removed the byte after this CPU last serialized: it
	 * was on its way here. Benign: run what is there now. */
	__atomic_add_fetch(&stray.late, 1, __ATOMIC_RELAXED);
	this_cpu()->stale_site = 0;
	return PATCH_TRAP_RETRY;
}

void patch_stats_begin(void)
{
	memset(&stray, 0, sizeof(stray));
	engine_violations_reset();
	retire_waits0 = patch_retire_waits();
}

/* Per test, just before its verdict: never silently absorbed. */
void patch_stats_end(void)
{
	if (engine_violations())
		diag("invariant violations: %llu in this test (the first reported in full, "
		     "the first 3 as lines, the rest counted)",
		     (unsigned long long)engine_violations());
	if (patch_retire_waits() != retire_waits0)
		diag("reference waits: %llu retirements waited for a trap handler still holding "
		     "the batch", (unsigned long long)(patch_retire_waits() - retire_waits0));
	if (stray.platform)
		diag("platform defects: %llu (stale code executed after a completed sync; %llu "
		     "episodes of one CPU, site and patch)", (unsigned long long)stray.platform,
		     (unsigned long long)stray.episodes);
	if (stray.late)
		diag("late traps: %llu (a patch removed the trap byte while the CPU was on its way "
		     "into the handler; re-executed)", (unsigned long long)stray.late);
	if (stray.engine)
		diag("stray trap bytes: %llu (a trap byte with no live patch: an engine bug)",
		     (unsigned long long)stray.engine);
	stray_total.engine += stray.engine;
	stray_total.platform += stray.platform;
	stray_total.episodes += stray.episodes;
	stray_total.late += stray.late;
}

/* The negative controls read their own detector's count and take what
 * they provoked out of the run's totals. */
u64 patch_stats_platform(void)
{
	return READ_ONCE(stray.platform);
}

u64 patch_stats_engine(void)
{
	return READ_ONCE(stray.engine);
}

void patch_stats_discard(void)
{
	memset(&stray, 0, sizeof(stray));
}

void patch_note_platform_defects(u64 n)
{
	__atomic_add_fetch(&stray.platform, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&stray.episodes, n, __ATOMIC_RELAXED);
}

/* For the run's verdict. */
void patch_stats_total(void)
{
	diag("platform defects: %llu in all (stale code executed after a completed sync, %llu "
	     "episodes; not protocol failures); late traps: %llu; stray trap bytes: %llu",
	     (unsigned long long)stray_total.platform, (unsigned long long)stray_total.episodes,
	     (unsigned long long)stray_total.late, (unsigned long long)stray_total.engine);
}
