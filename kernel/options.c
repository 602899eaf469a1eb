/* The option table and its values (see options.h and cmdline.h). */
#include "kernel/arch.h"
#include "kernel/cmdline.h"
#include "kernel/defer.h"
#include "kernel/format.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/test.h"

struct options opts;

static const char *check_tests(const char *value);
static const char *check_protocol(const char *value);
static const char *check_runner(const char *value);

#define DEFAULT_DELAY_HI 2000	/* ns: widens windows, costs little */

enum { O_TESTS, O_PROTOCOL, O_SYNC, O_SEED, O_ITERS, O_SECONDS, O_CPUS, O_ARCH, O_DELAY, O_SPIN, O_BENCH,
       O_VERBOSE, O_REBOOT, O_RUNNER, O_SCREEN, O_SCREEN_HOLD, O_PREEMPT, O_COUNT };

static const char *const spin_modes[] = { "pause", "tight", NULL };
static const char *const screen_modes[] = { "on", "off", NULL };
static const char *const sync_modes[] = { "broadcast", "deferred", NULL };
static const char *const preempt_modes[] = { "quiesce", "restart", NULL };

static const struct opt_desc descs[O_COUNT] = {
	[O_TESTS] = { "tests", OPT_STRING, .check = check_tests,
		      .accepted = "a comma-separated list of test names or globs (e.g. boot.*,smp.ipi)",
		      .help = "which tests to run" },
	[O_PROTOCOL] = { "protocol", OPT_STRING, .check = check_protocol,
			 .accepted = "one of the protocols listed",
			 .help = "the patching protocol under test" },
	[O_SYNC] = { "sync", OPT_ENUM, .choices = sync_modes,
		     .help = "syncs defer quiescent CPUs to their exit (deferred, the default, "
			     "docs/design.md §8.7) or IPI every other CPU (broadcast)" },
	[O_SEED] = { "seed", OPT_UINT, 0, UINT64_MAX, .help = "seed of every random choice" },
	[O_ITERS] = { "iters", OPT_UINT, 1, 1000000000, .help = "iterations per test" },
	[O_SECONDS] = { "seconds", OPT_UINT, 1, 86400, .help = "time budget per test" },
	[O_CPUS] = { "cpus", OPT_UINT, 1, MAX_CPUS, .help = "use at most N CPUs" },
	[O_ARCH] = { arch_option_name, OPT_ENUM, .choices = arch_option_choices,
		     .help = arch_option_help },
	[O_DELAY] = { "delay", OPT_RANGE, 0, 100000000,
		      .help = "random delay range in ns at every protocol step and trap" },
	[O_SPIN] = { "spin", OPT_ENUM, .choices = spin_modes,
		     .help = "spinner loops: pause (yields a vCPU under TCG) or tight" },
	[O_BENCH] = { "bench", OPT_FLAG, .help = "run the benchmarks" },
	[O_VERBOSE] = { "verbose", OPT_FLAG, .help = "more diagnostics" },
	[O_REBOOT] = { "reboot", OPT_UINT, 0, 3600,
		       .help = "real hardware: reboot N seconds after the verdict" },
	[O_RUNNER] = { "runner", OPT_STRING, .check = check_runner,
		       .accepted = "run-qemu.sh's arguments as --name=value items separated by commas "
				   "(--smp, --accel, --machine, --qemu, --boot, --firmware, --mem, "
				   "--icount-shift)",
		       .help = "informational: how run-qemu.sh started this run, for the replay line" },
	[O_SCREEN] = { "screen", OPT_ENUM, .choices = screen_modes,
		       .help = "mirror the console on the screen (VGA text or framebuffer)" },
	[O_SCREEN_HOLD] = { "screen_hold", OPT_UINT, 0, 3600,
			    .help = "keep the verdict screen N seconds before halting or rebooting" },
	[O_PREEMPT] = { "preempt", OPT_ENUM, .choices = preempt_modes,
			.help = "how poke.preempt_block replaces a block under preempted contexts: "
				"tasks-quiescence or restart-block (default: each in turn)" },
};

static struct opt_val vals[O_COUNT];
static char check_reason[512];

/* Every item must be a well-formed glob that selects at least one test:
 * a typo must not turn into an empty, "successful" run. */
static const char *check_tests(const char *value)
{
	const char *p = value;

	while (*p) {
		const char *end = p;
		char item[OPT_STR_MAX];

		while (*end && *end != ',')
			end++;
		if (end == p)
			return "empty item in the list";
		ksnprintf(item, sizeof(item), "%.*s", (int)(end - p), p);
		for (const char *c = item; *c; c++) {
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || strchr("._-*?[]!", *c))) {
				ksnprintf(check_reason, sizeof(check_reason),
					  "'%s' has a character that is not in test names or globs", item);
				return check_reason;
			}
		}
		if (!test_count_matching(item)) {
			ksnprintf(check_reason, sizeof(check_reason),
				  "'%s' matches no test (known: %s)", item, test_list_names());
			return check_reason;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

static const char *check_protocol(const char *value)
{
	if (patch_proto_find(value))
		return NULL;
	ksnprintf(check_reason, sizeof(check_reason), "no such protocol (known: %s)",
		  patch_proto_names());
	return check_reason;
}

static bool runner_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._/+-", c);
}

/* One "--name=value" item of runner=, of len bytes at p. */
static const char *check_runner_item(const char *p, size_t len)
{
	static const char *const names[] = { "smp", "accel", "machine", "qemu", "boot",
					     "firmware", "mem", "icount-shift", NULL };
	const char *eq = memchr(p, '=', len);
	size_t nlen = eq ? (size_t)(eq - p) : 0;

	if (len < 3 || p[0] != '-' || p[1] != '-' || !eq || eq + 1 == p + len)
		return "each item is --name=value";
	for (const char *c = eq + 1; c < p + len; c++)
		if (!runner_char(*c))
			return "a value has a character other than letters, digits and ._/+-";
	for (unsigned i = 0; names[i]; i++)
		if (nlen - 2 == strlen(names[i]) && !memcmp(p + 2, names[i], nlen - 2))
			return NULL;
	return "not a run-qemu.sh argument that selects the machine";
}

/* runner= is run-qemu.sh's word about itself: the kernel only checks that
 * it can be pasted back into a shell as it is (docs/design.md §9). */
static const char *check_runner(const char *value)
{
	const char *p = value;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *why = check_runner_item(p, len);

		if (why) {
			ksnprintf(check_reason, sizeof(check_reason), "'%.*s': %s", (int)len, p, why);
			return check_reason;
		}
		p += len + (end ? 1 : 0);
	}
	return NULL;
}

/* run-qemu.sh --deterministic says "--icount-shift=N" in runner=: QEMU
 * counts instructions and its clocks follow the count, not the host. */
static int runner_icount_shift(void)
{
	static const char key[] = "--icount-shift=";
	const char *p = vals[O_RUNNER].str;
	u64 shift;

	if (!vals[O_RUNNER].set)
		return -1;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > sizeof(key) - 1 && !strncmp(p, key, sizeof(key) - 1) &&
		    parse_u64(p + sizeof(key) - 1, len - (sizeof(key) - 1), &shift) && shift <= 10)
			return (int)shift;
		p += len + (end ? 1 : 0);
	}
	return -1;
}

int options_parse(const char *cmdline, char *err, size_t errlen)
{
	if (cmdline_parse(cmdline, descs, O_COUNT, vals, err, errlen))
		return -1;
	opts.tests = vals[O_TESTS].set ? vals[O_TESTS].str : NULL;
	opts.seed_given = vals[O_SEED].set;
	opts.seed = opts.seed_given ? vals[O_SEED].num : timestamp();
	opts.iters = vals[O_ITERS].set ? vals[O_ITERS].num : 0;
	opts.seconds = vals[O_SECONDS].set ? vals[O_SECONDS].num : 0;
	opts.bench = vals[O_BENCH].set;
	opts.verbose = vals[O_VERBOSE].set;
	opts.reboot = vals[O_REBOOT].set ? (unsigned)vals[O_REBOOT].num : 0;
	opts.protocol = vals[O_PROTOCOL].set ? patch_proto_find(vals[O_PROTOCOL].str) : NULL;
	opts.sync_deferred = !vals[O_SYNC].set || vals[O_SYNC].choice == 1;
	sync_deferred = opts.sync_deferred;
	opts.delay_given = vals[O_DELAY].set;
	opts.delay_lo = vals[O_DELAY].set ? vals[O_DELAY].num : 0;
	opts.delay_hi = vals[O_DELAY].set ? vals[O_DELAY].num2 : DEFAULT_DELAY_HI;
	opts.spin_tight = vals[O_SPIN].set && vals[O_SPIN].choice == 1;
	opts.cpus_given = vals[O_CPUS].set;
	opts.cpus = opts.cpus_given ? (unsigned)vals[O_CPUS].num : MAX_CPUS;
	opts.arch_choice = vals[O_ARCH].set ? vals[O_ARCH].choice : 0;
	opts.icount_shift = runner_icount_shift();
	opts.screen_off = vals[O_SCREEN].set && vals[O_SCREEN].choice == 1;
	opts.screen_hold = vals[O_SCREEN_HOLD].set ? (unsigned)vals[O_SCREEN_HOLD].num : 0;
	opts.preempt = vals[O_PREEMPT].set ? 1 + vals[O_PREEMPT].choice : 0;
	printk_verbose = opts.verbose;
	return 0;
}

void options_print(void)
{
	char line[1024];
	size_t n = 0;

	for (unsigned i = 0; i < O_COUNT; i++) {
		char one[OPT_STR_MAX + 32];

		if (i == O_SEED)
			ksnprintf(one, sizeof(one), "seed=%llu", (unsigned long long)opts.seed);
		else if (!vals[i].set && descs[i].kind != OPT_FLAG)
			ksnprintf(one, sizeof(one), "%s=%s", descs[i].name,
				  i == O_TESTS ? "(default suite)" :
				  i == O_REBOOT || i == O_SCREEN_HOLD ? "0" :
				  i == O_SCREEN ? "on" :
				  i == O_CPUS ? "(all)" :
				  i == O_ARCH ? arch_option_choices[0] :
				  i == O_PROTOCOL ? "int3" :
				  i == O_SYNC ? sync_modes[opts.sync_deferred] :
				  i == O_DELAY ? "0-2000" :
				  i == O_SPIN ? "pause" :
				  i == O_PREEMPT ? "(both)" :
				  i == O_RUNNER ? "(not given)" : "(per test)");
		else
			opt_format(&descs[i], &vals[i], one, sizeof(one));
		n += ksnprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0,
			       "%s%s", i ? " " : "", one);
	}
	diag("options: %s", line);
	diag("seed: %llu (%s; replay with seed=%llu)", (unsigned long long)opts.seed,
	     opts.seed_given ? "given" : "random", (unsigned long long)opts.seed);
	diag("replay: %s", options_replay());
	diag("%s", options_replay_kind());
	if (opts.icount_shift >= 0)
		diag("deterministic: QEMU -icount shift=%d (sleep=off, single-threaded TCG): this run is a "
		     "function of the image, QEMU, options, seed, CPUs, machine and shift; every time "
		     "printed is virtual (1 instruction = %d ns)", opts.icount_shift,
		     1 << opts.icount_shift);
}

/* One option as it was given; a glob quoted so that the shell passes it
 * on as it is. */
static void replay_word(unsigned i, char *one, size_t size)
{
	bool glob = false;

	if (descs[i].kind == OPT_FLAG) {
		ksnprintf(one, size, "%s", descs[i].name);
		return;
	}
	for (const char *c = vals[i].str; *c; c++)
		glob |= strchr("*?[]!", *c) != NULL;
	ksnprintf(one, size, "%s%s=%s%s", glob ? "'" : "", descs[i].name, vals[i].str,
		  glob ? "'" : "");
}

/*
 * "./run-qemu.sh <runner's items, space-separated> -- <options>": the
 * kernel options in the order they were given (runner= left out:
 * run-qemu.sh adds it again, last), then the seed if it was not given.
 * The order matters: in deterministic mode the command line is part of
 * what the run is a function of, so the replay must give the kernel the
 * same bytes (docs/design.md §9.7). Without runner= (another loader) only
 * the options are known, and the line says so.
 */
const char *options_replay(void)
{
	static char line[1024];
	char one[OPT_STR_MAX + 32];
	size_t n;

	if (vals[O_RUNNER].set) {
		n = ksnprintf(line, sizeof(line), "./run-qemu.sh ");
		for (const char *c = vals[O_RUNNER].str; *c && n < sizeof(line) - 1; c++)
			line[n++] = *c == ',' ? ' ' : *c;
		line[n] = '\0';
		n += ksnprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, " --");
	} else {
		n = ksnprintf(line, sizeof(line), "(runner unknown) kernel options:");
	}
	for (unsigned pos = 1; pos <= O_COUNT; pos++) {
		for (unsigned i = 0; i < O_COUNT; i++) {
			if (!vals[i].set || vals[i].order != pos || i == O_RUNNER)
				continue;
			replay_word(i, one, sizeof(one));
			n += ksnprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, " %s", one);
		}
	}
	if (!opts.seed_given)
		ksnprintf(line + n, n < sizeof(line) ? sizeof(line) - n : 0, " seed=%llu",
			  (unsigned long long)opts.seed);
	return line;
}

/* What the replay line promises (docs/design.md §9.7). */
const char *options_replay_kind(void)
{
	if (opts.icount_shift >= 0)
		return "replay is exact: deterministic mode, the same interleaving event for event";
	return "replay is best-effort: the same options and seed, not the same interleaving "
	       "(run-qemu.sh --deterministic gives an exact one)";
}
