/*
 * The patching engine: the thing under test.
 *
 * A batch is an array of sites sorted by address. Each site says where,
 * how long, the bytes it must hold now (old), the bytes it must hold
 * afterwards (new), and what a CPU that traps on it meanwhile must do
 * (emul: the new instruction, as Linux does). A protocol (protocols.c)
 * turns old into new while other CPUs execute the sites; every step goes
 * through this engine so that it can be observed, delayed and checked.
 */
#ifndef PT_PATCH_H
#define PT_PATCH_H

#include "kernel/arch.h"

#define PATCH_BATCH_MAX 1024

struct patch_site {
	u8 *addr;
	u8 len;
	u8 old[INSN_MAX];
	u8 new[INSN_MAX];
	struct insn emul;	/* what a trapped CPU executes instead */
	u64 written;		/* text_write_seq right after its last write */
};

enum patch_state { BATCH_IDLE, BATCH_LIVE, BATCH_RETIRED };

struct patch_batch {
	struct patch_site *sites;	/* sorted by addr, no overlaps */
	unsigned n;
	u32 refs;		/* 1 while live + trap handlers using it */
	u32 state;		/* enum patch_state */
	u64 gen;		/* which patch this is, for reports */
	u64 step_seq;		/* text_write_seq when the current step began */
	bool entry_text;	/* a site is in entry text (set when published) */
};

/* Protocol steps, as reports and the NMI injector name them. */
enum patch_step {
	STEP_IDLE,
	STEP_PUBLISH,		/* descriptors visible */
	STEP_TRAP,		/* first bytes are trap bytes */
	STEP_TAIL,		/* all but the first byte are new */
	STEP_HEAD,		/* the new first byte is in */
	STEP_RETIRE,		/* waiting for trap handlers to drop out */
	STEP_DIRECT,		/* a protocol that writes whole instructions */
	STEP_COUNT,
};

const char *patch_step_name(enum patch_step s);

/* Fills a site from its new instruction; old is read from the site now. */
int patch_site_init(struct patch_site *s, void *addr, const struct insn *new_insn);
/* Validates and sorts; returns NULL or why the batch is refused (nothing
 * has been written then). */
const char *patch_batch_prepare(struct patch_batch *b, struct patch_site *sites, unsigned n);
/* Applies the batch with the protocol chosen at boot (protocol=). Returns
 * 0, or -1 when the engine refused or an invariant failed (reported). */
int patch_apply(struct patch_batch *b);
/* Completes what the protocol left pending after its last patch_apply
 * (int3-pipe's deferred last sync): between tests, before another
 * protocol, and wherever a caller needs every descriptor retired. */
void patch_flush(void);
/* Patches whose first sync was also the previous patch's last: a live
 * batch gave way to the next one, which carried the previous patch's
 * sites on (int3-pipe's handovers), in all. */
u64 patch_handovers(void);
/* Broadcast syncs so far (engine_sync and sync_all_cpus; the cpumask and
 * stop-machine protocols synchronize otherwise and are not counted). */
u64 patch_syncs(void);

/* Engine state that tests and injectors look at. */
extern volatile enum patch_step patch_current_step;
extern u64 patch_count;			/* patches applied */
extern u64 patch_violations;		/* invariant violations reported */
u64 patch_trap_hits(int cpu);		/* trap handler emulations */
/* Retirements that had to wait for a trap handler's reference. */
u64 patch_retire_waits(void);

/* Torture hooks: a random delay in [lo, hi] ns at each hook point (the
 * delay= option), and a function tests run at every step boundary (e.g.
 * to NMI the patching CPU in every step). */
void patch_set_delay(u64 lo_ns, u64 hi_ns);
/* Where trap handlers are held up (a test hook, like patch_step_hook):
 * while torture delays are on, before pinning the batch and between
 * finding and using the descriptor (the default); and after using it,
 * before the reference is dropped, until the patch is retired (at most
 * 50 ms: neg.early_retire_late's alone, kernel/trap_path.c). */
#define HANDLER_DELAY_START (1u << 0)
#define HANDLER_DELAY_USE (1u << 1)
#define HANDLER_HOLD_END (1u << 2)
#define HANDLER_DELAY_DEFAULT (HANDLER_DELAY_START | HANDLER_DELAY_USE)
extern u32 patch_handler_delay_at;

extern void (*patch_step_hook)(enum patch_step s);

/* Sync waits (docs/design.md §8.5). The hook runs on a CPU waiting for
 * the others to answer a sync, at the start of the wait (polls 0) and at
 * every poll in it; sync_wait_now says which wait CPU cpu is in now (0:
 * none; each wait gets a new number); sync_acks counts the syncs CPU cpu
 * answered, from whatever context. */
extern void (*patch_sync_wait_hook)(u64 polls);
u64 sync_wait_now(int cpu);
u64 sync_acks(int cpu);
/* Traps the patching CPU (the text mutex's holder) took at a live site:
 * inside an NMI while it waited for a sync, in such a wait but in no NMI,
 * and elsewhere. Andy Lutomirski's case is the first (§3.3). */
enum { PATCHER_TRAP_NMI_IN_WAIT, PATCHER_TRAP_IN_WAIT, PATCHER_TRAP_OTHER, PATCHER_TRAP_KINDS };
u64 patch_patcher_traps(unsigned kind);

/* A protocol's trap, from the architecture: addr is the site's first
 * byte. HANDLED: the frame continues after the emulated
 * instruction; RETRY: the patch owning it was retired meanwhile, re-run
 * the instruction now there; NOT_OURS: no live patch owns addr. */
enum { PATCH_TRAP_NOT_OURS, PATCH_TRAP_HANDLED, PATCH_TRAP_RETRY };
int patch_trap(struct trap_frame *f, u8 *addr, bool trap_first);

/* Stray traps (a trap at a site no live patch owns) are classified:
 * an engine bug (the trap byte is still there: the test fails), a
 * platform defect (this CPU had serialized after the write that removed
 * it: stale code; counted and named, not a protocol failure) or a late
 * trap (benign). The test runner brackets each test with these; the
 * total goes with the run's verdict. */
void patch_stats_begin(void);
void patch_stats_end(void);
void patch_stats_total(void);
/* This test's platform defects and stray trap bytes so far; forgetting
 * them (negative controls that provoke them on purpose). */
u64 patch_stats_platform(void);
u64 patch_stats_engine(void);
void patch_stats_discard(void);
/* neg.trap_stale: make trap handlers see what stale code looks like. */
extern bool patch_simulate_stale;
/* Simulated stale traps that the engine sent back to re-execute a second
 * time instead of resuming past the site (must stay 0). */
u64 patch_stats_stale_unresolved(void);
/* Stale executions found by a test of its own (platform.cmc). */
void patch_note_platform_defects(u64 n);

/* Protocols ---------------------------------------------------------- */

/*
 * What a protocol does at each point where the engine asks it, besides
 * its sequence. Every protocol has all of them; most share the standard
 * set (standard_hooks, kernel/protocols.c), and a negative control
 * replaces exactly the hook its defect is in.
 */
struct patch_hooks {
	/* Trap action: a CPU trapped at live site s, whose first byte is
	 * addr; makes f continue (standard: run s->emul, the new
	 * instruction, as Linux's int3 handler does). */
	void (*trap)(struct trap_frame *f, struct patch_site *s, u8 *addr);
	/* Runs in for a CPU that trapped at addr where no patch is live any
	 * more (stray.c); false when it cannot. */
	bool (*emulate)(struct trap_frame *f, const struct insn *in, u8 *addr);
	/* A sync IPI arrived, or a wait loop polls: true when the protocol
	 * acknowledged it its own way, false to acknowledge the sync
	 * generation (kernel/sync.c). */
	bool (*sync_claim)(void);
	/* Sync wait: generation gen is sent; returns when every other
	 * online CPU acknowledged it. */
	void (*sync_wait)(u64 gen);
	/* Retire: the batch was unpublished after its last step; hands its
	 * descriptors back (standard: once no trap handler holds one). */
	void (*retire)(struct patch_batch *b);
	/* The end of a patch: the protocol's own last checks. */
	void (*finish)(struct patch_batch *b);
	/* The protocol was chosen: sets up the architecture's trap entry. */
	void (*select)(void);
};

struct patch_proto {
	const char *name;
	bool safe;		/* false: a negative control */
	bool batching;		/* takes the whole batch per sync */
	const char *what;
	enum trap_kind trap;	/* what goes over a site's first byte */
	/* A negative control's defect: each trap byte written over a site's
	 * first byte is made as a read-modify-write of its aligned word
	 * (wide_text_write, docs/design.md §13.1). */
	bool wide_first_byte;
	/* The sequence: turns every site of b from old into new. 0, or -1
	 * when it refused. */
	int (*apply)(struct patch_batch *b);
	const struct patch_hooks *hooks;
	/* A protocol that leaves work pending after apply returns (int3-pipe:
	 * its last sync and retirement) does it here; discard: forget it (the
	 * engine was reset). NULL: nothing is ever pending. */
	void (*flush)(bool discard);
};

extern const struct patch_proto *const patch_protocols[];
extern const struct patch_proto *proto;	/* the one chosen at boot */
/* The byte the current protocol traps with: arch_trap_byte(proto->trap),
 * kept by patch_use_protocol (every write and trap asks for it). */
extern u8 proto_trap;
static inline u8 proto_trap_byte(void)
{
	return proto_trap;
}
const struct patch_proto *patch_proto_find(const char *name);
/* "int3, int3-batch, ..." for error messages. */
const char *patch_proto_names(void);
void patch_init(void);
/* One broadcast sync and the wait for every acknowledgement. */
void sync_all_cpus(void);
/* The current delay= range, to put back after changing it. */
void patch_get_delay(u64 *lo_ns, u64 *hi_ns);
void patch_force_reset(void);
/* Before a test: locks an unwound patcher or hotplug driver left held
 * are released (reported), so that no later test waits on them. */
void patch_reset_leftovers(const char *test);
/* Makes p the protocol and sets up its trap: at boot, and for a negative
 * control that runs its own protocol for one test. */
void patch_use_protocol(const struct patch_proto *p);
void patch_raw_write(u8 *addr, const u8 *bytes, unsigned len);
/* Dumps the event trail and the replay line (failure reports). */
void patch_report_trail(void);

#endif
