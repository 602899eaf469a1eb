/*
 * Syncs: make every CPU that may run a site serialize after the text
 * writes so far (DESIGN.md, "The protocol under test").
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
 */
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/time.h"

#define SYNC_REPORT_MS 5000	/* a sync this slow is reported (once) */

static u64 sync_gen;
static u64 ack_count_base;	/* unsafe-ack-count: IPIs seen at the start */
static unsigned ack_count_syncs;

/* cpumask protocol state */
static u8 cm_pending[MAX_CPUS];
static u32 cm_left;
static void (*cm_advance)(void);

static void ack_generation(struct cpu *c)
{
	u64 gen = __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE);
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	arch_serialize();
	c->serial_seq = seq;
	__atomic_store_n(&c->sync_ack, gen, __ATOMIC_RELEASE);
}

static void on_sync_ipi(struct trap_frame *f)
{
	struct cpu *c = this_cpu();

	c->ipis_received++;
	engine_delay();		/* the acknowledgement path */
	event_log(EV_SYNC_IPI, sync_gen, 0);
	if (cpumask_armed())
		cpumask_ack();
	else
		ack_generation(c);
}

/* Wait loops call this: a CPU waiting with interrupts off still answers
 * a sync aimed at it (Andy Lutomirski's condition in seed 000). */
void sync_poll(void)
{
	struct cpu *c = this_cpu();

	smp_poll();
	if (cpumask_armed())
		cpumask_ack();
	else if (READ_ONCE(c->sync_ack) < __atomic_load_n(&sync_gen, __ATOMIC_ACQUIRE))
		ack_generation(c);
}

static u64 ipis_seen_by_others(void)
{
	u64 sum = 0;
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++)
		if ((int)i != self && cpu_is_online(i))
			sum += READ_ONCE(cpus[i].ipis_received);
	return sum;
}

/* unsafe-ack-count: wait until the others have taken as many IPIs as
 * syncs were sent to them since the patch began. Any IPI counts. */
static void wait_ack_count(void)
{
	u64 want = ack_count_base + (u64)++ack_count_syncs * (cpus_online() - 1);

	while (ipis_seen_by_others() < want)
		sync_poll(), cpu_relax();
}

static void wait_generation(u64 gen)
{
	u64 start = timestamp();
	bool reported = false;
	int self = this_cpu()->id;

	for (unsigned i = 0; i < cpus_possible; i++) {
		while ((int)i != self && cpu_is_online(i) &&
		       __atomic_load_n(&cpus[i].sync_ack, __ATOMIC_ACQUIRE) < gen) {
			if (!reported && timestamp() - start > ms_to_ticks(SYNC_REPORT_MS)) {
				diag("sync %llu: CPU %u has not acknowledged after %d ms",
				     (unsigned long long)gen, i, SYNC_REPORT_MS);
				reported = true;
			}
			sync_poll();
			cpu_relax();
		}
	}
}

/* The checker: every online CPU serialized after the last write. */
void check_serialized(void)
{
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < cpus_possible; i++) {
		if (!cpu_is_online(i) || (int)i == this_cpu()->id)
			continue;
		if (READ_ONCE(cpus[i].serial_seq) < seq)
			engine_violation("every CPU serialized after the write", i,
					 "CPU %u last serialized at write %llu, the text is at write %llu",
					 i, (unsigned long long)cpus[i].serial_seq,
					 (unsigned long long)seq);
	}
}

void engine_sync(struct patch_batch *b)
{
	u64 gen;

	gen = __atomic_add_fetch(&sync_gen, 1, __ATOMIC_SEQ_CST);
	event_log(EV_SYNC, gen, 0);
	arch_serialize();
	this_cpu()->serial_seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	if (cpus_online() > 1) {
		arch_send_ipi_all_but_self(IPI_SYNC);
		if (proto->ack_count)
			wait_ack_count();
		else
			wait_generation(gen);
	}
	check_serialized();
}

/* At publish, before the first write: unsafe-ack-count's baseline. An
 * interrupt taken between here and the write is counted as if it were an
 * acknowledgement of a sync that came after the write: the bug. */
void sync_patch_begin(void)
{
	ack_count_base = ipis_seen_by_others();
	ack_count_syncs = 0;
}

/* cpumask ------------------------------------------------------------ */

bool cpumask_armed(void)
{
	return __atomic_load_n(&cm_left, __ATOMIC_ACQUIRE) != 0;
}

void cpumask_arm(void (*advance)(void))
{
	int self = this_cpu()->id;
	u32 n = 0;

	cm_advance = advance;
	for (unsigned i = 0; i < cpus_possible; i++) {
		bool want = (int)i != self && cpu_is_online(i);

		__atomic_store_n(&cm_pending[i], want, __ATOMIC_RELAXED);
		n += want;
	}
	if (!n) {
		advance();
		return;
	}
	__atomic_store_n(&cm_left, n, __ATOMIC_RELEASE);
	/* Shorthand only: this may run in NMI context, where writing the
	 * xAPIC ICR high word would clobber an interrupted sender's. */
	arch_send_ipi_all_but_self(IPI_SYNC);
}

void cpumask_ack(void)
{
	struct cpu *c = this_cpu();
	u64 seq;

	if (!__atomic_exchange_n(&cm_pending[c->id], 0, __ATOMIC_ACQ_REL))
		return;
	seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);
	arch_serialize();
	c->serial_seq = seq;
	if (__atomic_sub_fetch(&cm_left, 1, __ATOMIC_ACQ_REL) == 0)
		cm_advance();	/* whoever clears the last bit moves on */
}

void sync_init(void)
{
	arch_set_ipi_handler(IPI_SYNC, on_sync_ipi);
}

/* A bare sync, no patch: what three of cost is the int3 protocol's floor
 * (bench.ipi_rtt). Same path as engine_sync without the checks. */
void sync_all_cpus(void)
{
	u64 gen = __atomic_add_fetch(&sync_gen, 1, __ATOMIC_SEQ_CST);

	arch_serialize();
	if (cpus_online() > 1) {
		arch_send_ipi_all_but_self(IPI_SYNC);
		wait_generation(gen);
	}
}
