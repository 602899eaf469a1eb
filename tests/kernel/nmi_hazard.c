/*
 * The NMI hazards of a sync wait (nmi_hazard.h, docs/design.md §8.5).
 *
 * The engine runs patch_sync_wait_hook on a CPU waiting for the others
 * to answer a sync; here, on the patcher, it fires once per wait (and
 * once per step under cpumask, whose one wait spans three steps written
 * by other CPUs) and sends:
 *  - T_NMI_SYNC_WAIT: an NMI to the patcher itself. Its handler runs the
 *    sites while the patcher is inside the sync wait, the trap byte in
 *    place (Andy Lutomirski's case); the engine counts the traps.
 *  - T_NMI_WAITERS: an NMI to every other CPU. A handler that interrupted
 *    a task with interrupts on (which holds nothing the patch needs)
 *    waits until the sync the patcher waits for is over: a flag another
 *    CPU holds, which it drops only once this CPU answered. No IPI
 *    reaches a CPU inside an NMI handler, so the loop answers syncs
 *    itself (sync_poll); T_NMI_WAIT_NOPOLL leaves that out.
 *  - T_SITE_IN_WAIT: no NMI; the patcher runs the sites itself, with
 *    interrupts off, from its wait.
 */
#include "kernel/patch_internal.h"
#include "kernel/printk.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"
#include "tests/kernel/nmi_hazard.h"
#include "tests/kernel/torture_internal.h"

static struct {
	unsigned flags;
	int patcher;		/* the CPU whose waits the hook saw */
	u64 fired_wait;		/* the wait and step it last fired in */
	enum patch_step fired_step;
	u64 waits_hooked, steps_elsewhere;
	u64 traps0[PATCHER_TRAP_KINDS];
	u64 restarts0;		/* the watchdog's, at the start */
} hz;

static struct hz_cpu {
	u64 patcher_nmis_in_wait, nmi_waits, nmi_no_wait, acks, answered, longest;
} hz_cpu[MAX_CPUS];

static void nmi_others(int self)
{
	for (unsigned i = 0; i < cpus_possible; i++) {
		if ((int)i == self || !cpu_is_online(i))
			continue;
		__atomic_add_fetch(&tt_cpu[i].nmi_sent_to, 1, __ATOMIC_RELAXED);
		send_nmi(i);
	}
}

/* On a CPU waiting for a sync (the engine's hook): polls 0 at its start. */
static void wait_hook(u64 polls)
{
	struct cpu *c = this_cpu();
	u64 w = sync_wait_now(c->id);
	enum patch_step s = patch_current_step;

	if (!engine_patching_here() || c->nmi_depth || !w)
		return;
	if (w == hz.fired_wait) {
		if (s == hz.fired_step)
			return;
		hz.steps_elsewhere++;	/* cpumask: another CPU wrote it */
	}
	hz.fired_wait = w;
	hz.fired_step = s;
	hz.patcher = c->id;
	hz.waits_hooked++;
	if (hz.flags & T_NMI_WAITERS)
		nmi_others(c->id);
	if (hz.flags & T_NMI_SYNC_WAIT) {
		__atomic_add_fetch(&tt_cpu[c->id].nmi_sent_to, 1, __ATOMIC_RELAXED);
		send_nmi(c->id);
	}
	if (hz.flags & T_SITE_IN_WAIT) {
		irqflags_t f = irq_save();

		run_sites("the patcher, in its sync wait", false);
		irq_restore(f);
	}
}

void nmi_hazard_begin(const struct torture *t)
{
	memset(&hz, 0, sizeof(hz));
	memset(hz_cpu, 0, sizeof(hz_cpu));
	hz.flags = t->flags;
	hz.patcher = -1;
	hz.restarts0 = watchdog_restarts();
	for (unsigned k = 0; k < PATCHER_TRAP_KINDS; k++)
		hz.traps0[k] = patch_patcher_traps(k);
	if (t->flags & (T_NMI_SYNC_WAIT | T_NMI_WAITERS | T_SITE_IN_WAIT))
		patch_sync_wait_hook = wait_hook;
}

void nmi_hazard_end(void)
{
	patch_sync_wait_hook = NULL;
}

/* The wait of T_NMI_WAITERS: until the sync the patcher waits for at our
 * arrival is over: its wait ended, or (cpumask, whose one wait spans the
 * three steps that other CPUs write) its step moved on. Once the watchdog
 * restarted a CPU (the control's catch), the waits are over too, so that
 * the run can end. */
static void nmi_wait(struct trap_frame *f, struct cpu *c, int p)
{
	struct hz_cpu *h = &hz_cpu[c->id];
	bool poll = !(hz.flags & T_NMI_WAIT_NOPOLL);
	u64 w = p >= 0 ? sync_wait_now(p) : 0, a0 = sync_acks(c->id), t0 = timestamp(), us;
	enum patch_step step = patch_current_step;
	const char *doing = c->doing;

	if (!w || !arch_frame_irqs_were_on(f) || c->nmi_depth > 1) {
		h->nmi_no_wait++;
		return;
	}
	h->nmi_waits++;
	c->doing = poll ? "inside an NMI handler, waiting until the patcher's sync wait is over "
			  "and answering syncs meanwhile" :
			  "inside an NMI handler, waiting until the patcher's sync wait is over, "
			  "answering no sync meanwhile (no IPI reaches it)";
	while (sync_wait_now(p) == w && patch_current_step == step &&
	       watchdog_restarts() == hz.restarts0) {
		if (poll)
			sync_poll();
		cpu_relax();
	}
	c->doing = doing;
	a0 = sync_acks(c->id) - a0;
	h->acks += a0;
	h->answered += a0 != 0;
	us = ticks_to_ns(timestamp() - t0) / 1000;
	h->longest = MAX(h->longest, us);
}

void nmi_hazard_run(struct trap_frame *f, struct cpu *c)
{
	int p = READ_ONCE(hz.patcher);

	if (engine_patching_here()) {
		if (sync_wait_now(c->id))
			hz_cpu[c->id].patcher_nmis_in_wait++;
	} else if (hz.flags & T_NMI_WAITERS) {
		nmi_wait(f, c, p);
	}
	nmi_run_sites(c);
}

void nmi_hazard_collect(struct nmi_hazard_result *r)
{
	memset(r, 0, sizeof(*r));
	r->patcher = hz.patcher;
	r->waits_hooked = hz.waits_hooked;
	r->steps_elsewhere = hz.steps_elsewhere;
	for (unsigned k = 0; k < PATCHER_TRAP_KINDS; k++)
		r->patcher_traps[k] = patch_patcher_traps(k) - hz.traps0[k];
	for (unsigned i = 0; i < cpus_possible; i++) {
		r->patcher_nmis_in_wait += hz_cpu[i].patcher_nmis_in_wait;
		r->nmi_waits += hz_cpu[i].nmi_waits;
		r->nmi_no_wait += hz_cpu[i].nmi_no_wait;
		r->acks_in_wait += hz_cpu[i].acks;
		r->waits_answered += hz_cpu[i].answered;
		r->longest_wait_us = MAX(r->longest_wait_us, hz_cpu[i].longest);
	}
}

/* Each control shows one cause: the patcher trapped inside an NMI during
 * its sync wait (and never outside one), or in its wait but in no NMI
 * (and never inside one), or NMI handlers waited and answered nothing. */
bool nmi_hazard_control_cause(const char *name, unsigned flags)
{
	struct nmi_hazard_result r;
	u64 in_nmi, plain;

	if (!(flags & (T_NMI_SYNC_WAIT | T_NMI_WAITERS | T_SITE_IN_WAIT)))
		return true;
	nmi_hazard_collect(&r);
	in_nmi = r.patcher_traps[PATCHER_TRAP_NMI_IN_WAIT];
	plain = r.patcher_traps[PATCHER_TRAP_IN_WAIT];
	diag("%s: patcher traps in a sync wait: %llu inside an NMI, %llu in no NMI; NMI handlers "
	     "that waited behind its sync: %llu, syncs they answered: %llu", name,
	     (unsigned long long)in_nmi, (unsigned long long)plain,
	     (unsigned long long)r.nmi_waits, (unsigned long long)r.acks_in_wait);
	if ((flags & T_NMI_SYNC_WAIT) && (!in_nmi || plain))
		return test_fail("%s: the cause is not the patcher trapping inside an NMI during its "
				 "sync wait", name), false;
	if ((flags & T_SITE_IN_WAIT) && (!plain || in_nmi))
		return test_fail("%s: the cause is not the patcher trapping in its sync wait "
				 "outside any NMI", name), false;
	if ((flags & T_NMI_WAITERS) && (!r.nmi_waits || r.acks_in_wait))
		return test_fail("%s: the cause is not NMI handlers waiting without answering "
				 "syncs", name), false;
	return true;
}
