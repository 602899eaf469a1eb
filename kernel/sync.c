/*
 * Syncs: make every CPU that may run a site serialize after the text
 * writes so far (docs/design.md §2.3).
 *
 * A sync has a generation. The sender bumps it, sends the sync IPI, and
 * waits until every online CPU acknowledged *this* generation; the
 * handler reads the generation, serializes, then acknowledges. Counting
 * IPIs instead would be wrong: the IRR holds one pending interrupt per
 * vector, so two IPIs may arrive as one, and an interrupt handled for an
 * earlier reason can be mistaken for this one (unsafe-ack-count shows it).
 *
 * Offline CPUs are not waited for: a CPU coming online serializes before
 * it can reach a site (ap_entry).
 *
 * A protocol may acknowledge a sync its own way (the sync_claim hook:
 * cpumask) or wait for it its own way (sync_wait: unsafe-ack-count).
 *
 * sync=deferred: a CPU in an extended quiescent state is neither sent the
 * IPI nor waited for; it serializes when it leaves the state (defer.c,
 * docs/design.md §8.7). Only with the standard wait, which knows to skip
 * it; the others get every CPU.
 */
#include "kernel/defer.h"
#include "kernel/format.h"
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/time.h"

#define SYNC_REPORT_MS 5000	/* a sync this slow is reported (once) */

static u64 sync_gen;
/* The generation that deferred each CPU: its wait skips it. */
static u64 deferred_in[MAX_CPUS];

/* Sync waits, for tests (patch.h): which wait each CPU is in (0: none),
 * the hook run at its start and at every poll, and the acknowledgements
 * each CPU made, wherever it made them. */
void (*patch_sync_wait_hook)(u64 polls);
static u64 wait_ids, wait_now[MAX_CPUS], acks_by[MAX_CPUS];

u64 sync_wait_now(int cpu)
{
	return READ_ONCE(wait_now[cpu]);
}

u64 sync_acks(int cpu)
{
	return READ_ONCE(acks_by[cpu]);
}

void sync_count_ack(void)
{
	acks_by[this_cpu()->id]++;
}

/* A wait may nest (an NMI's trap handler on a waiting CPU): the outer
 * one is put back at its end. */
void sync_wait_begin(struct sync_waiter *w)
{
	int id = this_cpu()->id;

	w->outer = wait_now[id];
	w->polls = 0;
	WRITE_ONCE(wait_now[id], __atomic_add_fetch(&wait_ids, 1, __ATOMIC_RELAXED));
	barrier();
	if (patch_sync_wait_hook)
		patch_sync_wait_hook(0);
}

/* How often a wait gives the relax hint (cpu_relax). Where one host
 * thread runs every vCPU in turn (QEMU's single-threaded TCG), the CPUs
 * waited for run only when the waiter moves on, which it does at a PAUSE:
 * every poll relaxes. Where CPUs run in parallel, the relax only slows the
 * answer down: QEMU's MTTCG leaves the translated code at each PAUSE and
 * takes its global lock, which the CPU answering needs too, to take the
 * sync IPI and to write its EOI (a tight spinner's sync took twice as
 * long with a PAUSE at every poll; docs/design.md §12.4). There a wait
 * relaxes once every SYNC_RELAX_EVERY polls. sync_calibrate() tells the
 * two apart. */
#define SYNC_RELAX_EVERY 64
static bool cpus_run_in_parallel;

void sync_wait_poll(struct sync_waiter *w)
{
	w->polls++;
	if (patch_sync_wait_hook)
		patch_sync_wait_hook(w->polls);
	sync_poll();
	if (!cpus_run_in_parallel || w->polls % SYNC_RELAX_EVERY == 0)
		cpu_relax();
}

void sync_wait_end(struct sync_waiter *w)
{
	barrier();
	WRITE_ONCE(wait_now[this_cpu()->id], w->outer);
}

/* Serialize, then acknowledge. The delay sits between the serializing
 * instruction and the bookkeeping that records it: an acknowledgement
 * moved ahead of the serialization then stays visible, unserialized, for
 * the whole delay, and the waiter's per-acknowledgement check
 * (sync_wait_generation) sees it. */
static void ack_generation(struct cpu *c)
{
	u64 gen = __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE);
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	arch_serialize();
	engine_delay();		/* the acknowledgement path */
	raise_to(&c->serial_seq, seq);
	raise_to(&c->sync_ack, gen);
	sync_count_ack();
}

static void on_sync_ipi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();

	c->ipis_received++;
	event_log(EV_SYNC_IPI, sync_gen, 0);
	if (!proto->hooks->sync_claim())
		ack_generation(c);
}

/* Wait loops call this: a CPU waiting with interrupts off still answers
 * a sync aimed at it (Andy Lutomirski's condition, docs/design.md §3.3). */
void sync_poll(void)
{
	smp_poll();
	sync_ack_pending();
}

void sync_ack_pending(void)
{
	struct cpu *c = this_cpu();

	if (!proto->hooks->sync_claim() &&
	    READ_ONCE(c->sync_ack) < __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE))
		ack_generation(c);
}

bool sync_claim_none(void)
{
	return false;
}

/* The moment CPU i's acknowledgement of a sync sent at write seq is seen,
 * it must already have serialized after that write: an acknowledgement
 * is a promise about the past (docs/design.md §5, rule 3b). */
static void check_ack(unsigned i, u64 gen, u64 seq)
{
	u64 had = READ_ONCE(cpus[i].serial_seq);

	if (had < seq)
		engine_violation("a CPU acknowledges a sync only after serializing", i,
				 "CPU %u acknowledged sync %llu having serialized at write %llu; the sync was sent at write %llu",
				 i, (unsigned long long)gen, (unsigned long long)had,
				 (unsigned long long)seq);
}

void sync_wait_generation(u64 gen)
{
	u64 start = timestamp();
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	bool reported = false;
	int self = this_cpu()->id;
	struct sync_waiter w;

	sync_wait_begin(&w);
	for (unsigned i = 0; i < cpus_possible; i++) {
		if (READ_ONCE(deferred_in[i]) == gen)
			continue;
		while ((int)i != self && cpu_is_online(i) &&
		       __atomic_load_n(&cpus[i].sync_ack, __ATOMIC_ACQUIRE) < gen) {
			if (!reported && timestamp() - start > ms_to_ticks(SYNC_REPORT_MS)) {
				diag("sync %llu: CPU %u has not acknowledged after %d ms",
				     (unsigned long long)gen, i, SYNC_REPORT_MS);
				reported = true;
			}
			sync_wait_poll(&w);
		}
		if ((int)i != self && cpu_is_online(i))
			check_ack(i, gen, seq);
	}
	sync_wait_end(&w);
}

/* The checker: every online CPU serialized after the last write. */
void check_serialized(void)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < cpus_possible; i++) {
		if (!cpu_is_online(i) || (int)i == this_cpu()->id)
			continue;
		if (!qs_cpu_saw(i, seq))
			engine_violation("every CPU serialized after the write", i,
					 "CPU %u last serialized at write %llu, the text is at write %llu",
					 i, (unsigned long long)cpus[i].serial_seq,
					 (unsigned long long)seq);
	}
}

/* The deferred sync's sending: each other online CPU is either marked
 * (quiescent: it owes a serialization) or sent the IPI, one by one, with
 * interrupts off around each (x86 xAPIC: two ICR writes). */
static void send_deferring(u64 gen)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	int self = this_cpu()->id;
	unsigned n = 0;

	for (unsigned i = 0; i < cpus_possible; i++) {
		irqflags_t fl;

		if ((int)i == self || !cpu_is_online(i))
			continue;
		if (qs_try_defer(i, seq)) {
			WRITE_ONCE(deferred_in[i], gen);
			n++;
			continue;
		}
		fl = irq_save();
		arch_send_ipi(&cpus[i], IPI_SYNC);
		irq_restore(fl);
	}
	qs_note_sync(n);
}

static void send_sync(struct patch_batch *b, u64 gen)
{
	if (proto->hooks->sync_wait == sync_wait_generation && qs_sync_may_defer(b))
		send_deferring(gen);
	else
		arch_send_ipi_all_but_self(IPI_SYNC);
}

/* The first online CPU other than this one, or -1 (usually found at the
 * first or second entry, unlike a count). */
static int first_other_online(void)
{
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			return i;
	return -1;
}

static bool others_online(void)
{
	return first_other_online() >= 0;
}

void engine_sync(struct patch_batch *b)
{
	u64 gen;

	gen = __atomic_add_fetch(&sync_gen, 1, __ATOMIC_SEQ_CST);
	event_log(EV_SYNC, gen, 0);
	arch_serialize();
	this_cpu()->serial_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	if (others_online()) {
		send_sync(b, gen);
		proto->hooks->sync_wait(gen);
	}
	check_serialized();
}

u64 patch_syncs(void)
{
	return __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE);
}

void sync_init(void)
{
	arch_set_ipi_handler(IPI_SYNC, on_sync_ipi);
}

/* A bare sync, no patch: what three of cost is the int3 protocol's floor
 * (bench.ipi_rtt). Same path as engine_sync without the checks, deferring
 * under sync=deferred as a patch of ordinary text does. */
void sync_all_cpus(void)
{
	u64 gen = __atomic_add_fetch(&sync_gen, 1, __ATOMIC_SEQ_CST);

	arch_serialize();
	if (others_online()) {
		if (qs_sync_may_defer(NULL))
			send_deferring(gen);
		else
			arch_send_ipi_all_but_self(IPI_SYNC);
		sync_wait_generation(gen);
	}
}

/* Whether the CPUs run in parallel, seen rather than timed: another CPU
 * counts, relaxing at every step, while this one reads the count without
 * relaxing. Where the two run in parallel the reads see it move again and
 * again, a move every microsecond or less; where they take turns, the
 * other CPU runs only when something moves the host thread on
 * (single-threaded TCG: its round-robin kick, any interrupt raised), and
 * each such turn shows as one move, milliseconds from the last (19 moves
 * in 100 ms were seen, all apart). So: SYNC_PARALLEL_MOVES moves in a row,
 * each within SYNC_MOVE_GAP_US of the one before, is parallel; reading
 * goes on for up to SYNC_CALIBRATE_MS, for a busy host that may run the
 * two vCPU threads apart for tens of milliseconds (with two busy loops on
 * the 2 host cores, a 10 ms window saw them overlap in 1 of 5 boots). A
 * host where they never overlap that long is told the CPUs take turns,
 * which is then what they do. A first version timed a sync's answer
 * (within 1 ms, three times) and failed on a host running another QEMU in
 * 3 of 4 boots. */
#define SYNC_CALIBRATE_MS 100
#define SYNC_PARALLEL_MOVES 50
#define SYNC_MOVE_GAP_US 100

static u32 calib_state;	/* 1: the other CPU counts; 2: it may stop */
static u64 calib_count;

static void calib_count_up(void *unused)
{
	__atomic_store_n(&calib_state, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&calib_state, __ATOMIC_ACQUIRE) != 2) {
		__atomic_store_n(&calib_count, calib_count + 1, __ATOMIC_RELEASE);
		cpu_relax();
	}
}

struct calib {
	u64 moves;	/* reads that saw the count move */
	u64 run;	/* the longest run of moves, each close to the last */
	u64 took;	/* ticks of reading */
};

static void calib_read(struct calib *r)
{
	u64 start = timestamp(), now = start, last_move = 0, run = 0;
	u64 last = __atomic_load_n(&calib_count, __ATOMIC_ACQUIRE);

	while (r->run < SYNC_PARALLEL_MOVES && now - start < ms_to_ticks(SYNC_CALIBRATE_MS)) {
		u64 c = __atomic_load_n(&calib_count, __ATOMIC_ACQUIRE);

		if (c != last) {
			bool close = run && now - last_move < ns_to_ticks(SYNC_MOVE_GAP_US * 1000);

			run = close ? run + 1 : 1;
			r->run = MAX(r->run, run);
			r->moves++;
			last_move = now;
		}
		last = c;
		now = timestamp();
	}
	r->took = now - start;
}

void sync_calibrate(void)
{
	int self = this_cpu()->id, other = first_other_online();
	struct calib r = { 0 };
	char how[24];

	if (other < 0)
		return;
	__atomic_store_n(&calib_state, 0, __ATOMIC_RELEASE);
	smp_call(other, calib_count_up, NULL, 0);
	while (__atomic_load_n(&calib_state, __ATOMIC_ACQUIRE) != 1)
		sync_poll(), cpu_relax();
	calib_read(&r);
	__atomic_store_n(&calib_state, 2, __ATOMIC_RELEASE);
	smp_wait_idle(other);
	cpus_run_in_parallel = r.run >= SYNC_PARALLEL_MOVES;
	if (cpus_run_in_parallel)
		ksnprintf(how, sizeof(how), "every %d polls", SYNC_RELAX_EVERY);
	else
		ksnprintf(how, sizeof(how), "at every poll");
	diag("sync waits: CPUs %s (CPU %d's count moved %llu times in the %llu us CPU %d read it without relaxing, at most %llu in a row each within %d us of the last; %d: in parallel): a wait relaxes %s",
	     cpus_run_in_parallel ? "run in parallel" : "take turns", other,
	     (unsigned long long)r.moves, (unsigned long long)(ticks_to_ns(r.took) / 1000), self,
	     (unsigned long long)r.run, SYNC_MOVE_GAP_US, SYNC_PARALLEL_MOVES, how);
}
