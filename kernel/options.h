/* The run's options, from the boot command line (see docs/design.md §9.1). */
#ifndef PT_OPTIONS_H
#define PT_OPTIONS_H

#include "kernel/types.h"

struct patch_proto;

struct options {
	const char *tests;	/* glob list; NULL: the default suite */
	u64 seed;
	bool seed_given;
	u64 iters;		/* 0: each test's own default */
	u64 seconds;		/* 0: each test's own default */
	bool bench;
	bool verbose;
	unsigned reboot;	/* seconds; 0: halt at the end */
	unsigned cpus;		/* at most this many CPUs; MAX_CPUS by default */
	bool cpus_given;
	unsigned arch_choice;	/* the arch's option: index into arch_option_choices */
	const struct patch_proto *protocol;
	u64 delay_lo, delay_hi;	/* ns, the torture delays */
	bool delay_given;
	bool spin_tight;	/* spinners without pause */
	bool sync_deferred;	/* sync=deferred */
	bool screen_off;	/* screen=off: serial only */
	unsigned screen_hold;	/* seconds the verdict screen stays before the end */
	unsigned preempt;	/* preempt=: 0 both in turn, 1 quiesce, 2 restart */
	int icount_shift;	/* run-qemu.sh --deterministic: QEMU's -icount shift; -1 otherwise */
};

extern struct options opts;

/* Returns 0, or -1 with err = "bad option '...': ...; accepted: ...". */
int options_parse(const char *cmdline, char *err, size_t errlen);
/* The banner's "# options:" line: every option with its value. */
void options_print(void);
/* The command that replays this run: run-qemu.sh with the arguments
 * runner= named, then the kernel options as given, in their order, plus
 * the seed if it was not given. */
const char *options_replay(void);
/* One line: whether that replay is exact (deterministic mode) or not. */
const char *options_replay_kind(void);
static inline u64 opts_seed(void)
{
	return opts.seed;
}

#endif
