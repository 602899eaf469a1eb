/* Per-CPU state. Each CPU reaches its own through this_cpu(). */
#ifndef PT_PERCPU_H
#define PT_PERCPU_H

#include "kernel/arch.h"
#include "kernel/events.h"
#include "kernel/random.h"
#include "kernel/spinlock.h"

#define MAX_CPUS ARCH_MAX_CPUS	/* hardware IDs may be sparse: cpus[] is dense */

/* What a caught fault was (see fault.h). */
struct fault_info {
	int vector;		/* -1: none */
	u64 error_code;
	u64 addr;		/* faulting address where the fault has one */
	u64 ip;			/* instruction that faulted */
};

#define DEFER_BUF 2048

/* One pending SMP call (kernel/smp.c). Senders take the lock, post, and
 * wait until the target took the call; `done` follows `taken`. */
struct smp_mailbox {
	struct spinlock lock;
	void (*fn)(void *arg);
	void *arg;
	u64 posted, taken, done;
};

/* What a CPU spins on inside kernel/smp.c, so that a watchdog report can
 * say whom it waits for and for how long (a hang and a slow emulator look
 * alike from the waiter's RIP alone). */
struct smp_wait {
	const char *what;		/* "lock", "take", "finish"; NULL: none */
	int cpu;			/* whose mailbox */
	bool irq;			/* irq_box, else task_box */
	u64 seq;			/* the sequence number waited for */
	u64 since;			/* timestamp the wait began */
};

struct cpu {
	struct cpu *self;	/* must stay first: this_cpu() loads it */
	int id;			/* logical number, 0 = boot CPU */
	u32 hw_id;		/* the hardware's ID for it (ARCH_HW_ID_NAME) */
	bool online;

	struct recovery *expect;	/* fault_try() in progress */
	struct recovery *abort;		/* where a crashing test unwinds to */
	struct fault_info fault;	/* the last expected fault */
	unsigned trap_depth;		/* nesting of traps now running */
	unsigned nmi_depth;

	/* printk output from a context that interrupted this CPU's own
	 * console-lock holder (an NMI): flushed by the next printk. */
	char defer_buf[DEFER_BUF];
	u32 defer_head, defer_tail, defer_dropped;

	/* SMP (kernel/smp.c). */
	void *stack_top;
	struct smp_mailbox irq_box;	/* runs in the IPI handler */
	struct smp_mailbox task_box;	/* runs in the idle loop, interrupts on */
	bool park_request;
	bool parked;
	u64 calls_run;			/* both boxes */
	u64 ipis_received;		/* of any kind */
	u64 nmis_received;
	u64 storm_received;
	struct smp_wait wait;		/* what it spins on, for reports */

	/* Watchdog (kernel/watchdog.c). */
	const char *doing;		/* what this CPU is up to, for reports */
	u64 wd_nmi_at;			/* when the watchdog NMI'd it */
	u64 ticks;			/* timer interrupts taken */
	u64 last_tick;			/* timestamp of the last one */
	u32 wd_action;			/* what an NMI from the watchdog asks */
	bool wd_reported;
	bool wd_busy;			/* restarting another CPU */
	bool wd_armed;			/* its tick runs: stalls count */

	/* Patching (kernel/patch.c, kernel/sync.c). */
	struct rng rng;			/* this CPU's stream of seed= */
	u64 trap_hits;			/* sites emulated by the trap handler */
	u64 serial_seq;			/* text_write_seq at its last serialization */
	u64 trap_entry_seq;		/* serial_seq when the running exception hit */
	u64 stale_site;			/* last site of a stale trap, for progress */
	u64 sync_ack;			/* last sync generation acknowledged */
	u64 step_checked_gen;		/* the patch and step this CPU, writing, */
	u64 step_checked_seq;		/* found every other CPU serialized for */
	const struct trap_frame *trap_frame;	/* patch_trap's, for violation reports */
	u32 ev_head;
	struct event events[EVENT_RING];

	struct arch_cpu arch;
};

extern struct cpu cpus[MAX_CPUS];
extern unsigned cpus_possible;	/* how many cpus[] entries are in use */

int this_cpu_id(void);

static inline struct cpu *this_cpu(void)
{
	return arch_this_cpu();
}

#endif
