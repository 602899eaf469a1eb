/* The test runner (see test.h). */
#include "kernel/arch.h"
#include "kernel/cmdline.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/glob.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"
#include "kernel/preempt.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/defer.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

extern const struct test __tests_start[], __tests_end[];

static struct tap tap;
static bool tap_open;
static const struct test *current;
static enum test_status status;
static char skip_reason[160];

static void emit_line(const char *line, void *ctx)
{
	printk("%s\n", line);
}

const char *test_current_name(void)
{
	return current ? current->name : NULL;
}

static void set_status(enum test_status s)
{
	status = test_status_merge(status, s);
}

void test_pass(void)
{
	set_status(TEST_PASS);
}

/*
 * Every unexpected failure passes through here before it prints anything:
 * a test's FAIL or ERROR (a checker violation too, through test_detect),
 * and the crash and watchdog reports (failure_begin). It does nothing: it
 * is where `make debug-replay` stops the replayed run under gdb
 * (docs/design.md §9.7), so it must stay a real call.
 */
void __attribute__((noinline)) failure_point(const char *what)
{
	__asm__ volatile("" : : "r"(what) : "memory");
}

static void report(enum test_status s, const char *label, const char *fmt, va_list ap)
{
	char msg[512];

	if (s == TEST_FAIL || s == TEST_ERROR)
		failure_point(label);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	diag("%s: %s", label, msg);
	if (s == TEST_SKIP && !skip_reason[0])
		strlcpy(skip_reason, msg, sizeof(skip_reason));
	set_status(s);
}

void test_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TEST_FAIL, "FAIL", fmt, ap);
	va_end(ap);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TEST_SKIP, "SKIP", fmt, ap);
	va_end(ap);
}

void test_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TEST_ERROR, "ERROR", fmt, ap);
	va_end(ap);
}

static bool expecting;
static u64 detections[DET_COUNT];
static const char *const detector_names[DET_COUNT] = {
	"exception", "wrong outcome", "invariant checker", "watchdog",
	"context-tracking checker", "lock-order checker", "deferred-sync checker",
};

const char *detector_name(enum detector d)
{
	return (unsigned)d < DET_COUNT ? detector_names[d] : "?";
}

void test_expect_detection(bool on)
{
	if (on)
		for (int i = 0; i < DET_COUNT; i++)
			detections[i] = 0;
	WRITE_ONCE(expecting, on);
}

bool test_expecting_detection(void)
{
	return READ_ONCE(expecting);
}

u64 test_detections(enum detector d)
{
	return READ_ONCE(detections[d]);
}

void test_detect(enum detector d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (READ_ONCE(expecting)) {
		__atomic_fetch_add(&detections[d], 1, __ATOMIC_RELAXED);
		diag("DETECTED by the %s (expected here): %s", detector_names[d], msg);
		return;
	}
	test_fail("%s", msg);
}

u64 test_iters(u64 dflt)
{
	return opts.iters ? opts.iters : dflt;
}

u64 test_seconds(u64 dflt)
{
	return opts.seconds ? opts.seconds : dflt;
}

static unsigned timed_selected;

u64 test_time_share_ms(void)
{
	return opts.seconds && timed_selected ? opts.seconds * 1000 / timed_selected : 0;
}

unsigned test_count_matching(const char *glob)
{
	unsigned n = 0;

	for (const struct test *t = __tests_start; t < __tests_end; t++)
		n += glob_match(glob, t->name);
	return n;
}

const char *test_list_names(void)
{
	static char names[1024];
	size_t n = 0;

	names[0] = '\0';
	for (const struct test *t = __tests_start; t < __tests_end; t++)
		n += ksnprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0,
			       "%s%s", t == __tests_start ? "" : ", ", t->name);
	return names;
}

/* The position of the first item of tests= that selects t (so tests run
 * in the order the user listed them), or -1 when t is not selected. */
static int selection_rank(const struct test *t)
{
	const char *p = opts.tests;
	char item[OPT_STR_MAX];
	int rank = 0;

	if (!p) {
		if (t->flags & TEST_EXPLICIT)
			return -1;
		return !(t->flags & TEST_BENCH) || opts.bench ? 0 : -1;
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		ksnprintf(item, sizeof(item), "%.*s", (int)len, p);
		if (glob_match(item, t->name))
			return rank;
		rank++;
		p += len + (end ? 1 : 0);
	}
	return -1;
}

static bool runs_before(const struct test *a, const struct test *b)
{
	int ra = selection_rank(a), rb = selection_rank(b);

	return ra != rb ? ra < rb : strcmp(a->name, b->name) < 0;
}

struct recovery *test_crash_recovery(const char *what)
{
	struct cpu *c = this_cpu();

	if (!current || !c->abort)
		return NULL;
	if (c->id != 0 && !READ_ONCE(expecting)) {
		/* An AP's crash fails the test; the AP goes back to idle. */
		diag("ERROR: CPU %d crashed with %s in %s; back to its idle loop", c->id, what,
		     current->name);
		set_status(TEST_FAIL);
		return c->abort;
	}
	if (READ_ONCE(expecting)) {
		__atomic_fetch_add(&detections[DET_EXCEPTION], 1, __ATOMIC_RELAXED);
		diag("DETECTED by an exception (expected here): CPU %d, %s; unwinding", c->id, what);
		return c->abort;
	}
	diag("ERROR: %s crashed with %s on CPU %d; unwinding", current->name, what, c->id);
	set_status(TEST_ERROR);
	return c->abort;
}

/* Runs t->fn with a recovery point armed, so a crash unwinds to here. */
static void run_protected(const struct test *t)
{
	struct cpu *volatile c = this_cpu();
	struct recovery r;

	if (recovery_set(&r) == 0) {
		c->abort = &r;
		t->fn();
		/* Nothing pending from this test in the next (int3-pipe). */
		patch_flush();
	} else {
		/* Unwound out of a trap: whatever nesting it had is gone. */
		c->trap_depth = 0;
		c->nmi_depth = 0;
		c->expect = NULL;
		c->wait.what = NULL;
		c->trap_frame = NULL;
	}
	c->abort = NULL;
}

/*
 * A test's time budget. Generous: the watchdog catches hangs, not
 * slowness. 60 s is ample on a few dozen CPUs. But a test that talks to
 * every CPU makes O(N) round trips, and under single-threaded TCG, where
 * one host thread runs every vCPU in turn, a round trip itself costs
 * O(N): 35 us mean at 64 CPUs, 110 us at 128, 595 us at 288 (measured under TCG).
 * smp.ipi makes about 400 per CPU: 287 x 400 x 595 us = 68 s at 288 CPUs,
 * over a fixed 60 s, and on a host shared with other emulators a round
 * trip was seen at 3.2 ms mean (smp.ipi 237 s). N^2 x 4 ms on top gives
 * 392 s at 288 CPUs, 126 s at 128, 60.3 s at 8.
 * Benchmarks measure slow configurations on purpose (tight spinners
 * under TCG): a larger, still finite, base.
 */
static u64 test_budget(const struct test *t, unsigned cpus_online)
{
	u64 per_cpus = (u64)cpus_online * cpus_online * 4;

	if (t->flags & TEST_TIMED && opts.seconds)
		return 2 * test_time_share_ms() + 60 * 1000 + per_cpus;
	return (t->flags & TEST_BENCH ? 600 * 1000 : 60 * 1000) + per_cpus;
}

/* Whether t runs at all, or is skipped before it starts. */
static bool will_run(const struct test *t, unsigned cpus_online)
{
	return !(t->flags & TEST_BENCH && !opts.bench) && cpus_online >= t->min_cpus;
}

/*
 * The most the selected tests can take when every one of them hangs: each
 * is ended by the watchdog at its budget, plus the unwinding (an NMI
 * answered within WATCHDOG_NMI_ANSWER_MS, or an INIT + SIPI restart, and
 * the report through the serial port). Printed before the first test so
 * that run-qemu.sh can set its own last-resort timeout from it (README,
 * "Output").
 */
#define TEST_UNWIND_SLACK_MS (10 * 1000)

static void print_budget(const struct test **list, unsigned n, unsigned cpus_online)
{
	u64 total = 0, most = 0;

	for (unsigned i = 0; i < n; i++) {
		u64 ms;

		if (!will_run(list[i], cpus_online))
			continue;
		ms = test_budget(list[i], cpus_online) + TEST_UNWIND_SLACK_MS;
		total += ms;
		most = MAX(most, ms);
	}
	diag("budget: %u tests, at most %llu s, at most %llu s per test", n,
	     (unsigned long long)(total + 999) / 1000, (unsigned long long)(most + 999) / 1000);
}

static unsigned timed_skipped;
static char timed_skip_reason[160];

static void note_timed_skip(const struct test *t)
{
	if (!(t->flags & TEST_TIMED) || status != TEST_SKIP)
		return;
	if (!timed_skipped++)
		strlcpy(timed_skip_reason, skip_reason, sizeof(timed_skip_reason));
}

static void run_one(const struct test *t, unsigned cpus_online)
{
	u64 start;

	current = t;
	status = TEST_NONE;
	skip_reason[0] = '\0';
	failure_reports_reset();
	diag("%s: %s", t->name, t->purpose);
	start = timestamp();
	if (t->flags & TEST_BENCH && !opts.bench)
		test_skip("a benchmark: add the bench option");
	else if (cpus_online < t->min_cpus)
		test_skip("needs %u CPUs, %u online", t->min_cpus, cpus_online);
	else {
		patch_stats_begin();
		patch_reset_leftovers(t->name);
		watchdog_test_begin(test_budget(t, cpus_online));
		run_protected(t);
		preempt_reset();	/* a crashed test's contexts stop switching */
		watchdog_test_end();
		test_expect_detection(false);
		patch_stats_end();
	}
	if (status == TEST_NONE)
		test_error("the test reported nothing");
	diag("%s: %s in %llu ms", t->name, test_status_name(status),
	     (unsigned long long)(ticks_to_ns(timestamp() - start) / 1000000));
	tap_result(&tap, t->name, status, skip_reason);
	note_timed_skip(t);
	current = NULL;
}

/* The verdict of a run whose torture tests (TEST_TIMED) all skipped is
 * no verdict on patching: say so next to the final line. */
static void say_if_torture_skipped(void)
{
	if (timed_selected && timed_skipped == timed_selected)
		diag("poketorture: every torture test skipped (%u of %u), first because: %s",
		     timed_skipped, timed_selected, timed_skip_reason);
}

#define TESTS_MAX 512

/* Tests run in the order of tests= and then by name, whatever order the
 * linker laid them out in. */
static unsigned sorted_selection(const struct test **out)
{
	unsigned n = 0;

	for (const struct test *t = __tests_start; t < __tests_end && n < TESTS_MAX; t++) {
		unsigned i = n++;

		if (selection_rank(t) < 0) {
			n--;
			continue;
		}
		while (i && runs_before(t, out[i - 1])) {
			out[i] = out[i - 1];
			i--;
		}
		out[i] = t;
	}
	return n;
}

static const struct test *run_list[TESTS_MAX];
static unsigned run_count, run_next;	/* run_next: the first not yet run */

bool test_run_all(unsigned cpus_online)
{
	const struct test **list = run_list;
	unsigned n = sorted_selection(list);

	run_count = n;
	for (unsigned i = 0; i < n; i++)
		timed_selected += !!(list[i]->flags & TEST_TIMED);
	print_budget(list, n, cpus_online);
	tap_plan(&tap, n);
	for (run_next = 0; run_next < n;) {
		const struct test *t = list[run_next++];

		run_one(t, cpus_online);
	}
	patch_stats_total();
	qs_stats_total();
	say_if_torture_skipped();
	tap_final(&tap);
	tap_open = false;
	return tap_success(&tap);
}

void test_tap_begin(void)
{
	tap_init(&tap, emit_line, NULL);
	tap_header(&tap);
	tap_open = true;
}

void test_panic_close(void)
{
	if (current) {
		tap_result(&tap, current->name, TEST_ERROR, NULL);
		current = NULL;
	} else {
		tap.failed++;	/* the run itself failed */
	}
	/* Every selected test still gets its line, so that a run that ends
	 * here says which tests it could not run. */
	while (run_next < run_count) {
		const struct test *t = run_list[run_next++];

		diag("%s: not run: the run ended in a panic", t->name);
		tap_result(&tap, t->name, TEST_ERROR, NULL);
	}
	tap_final(&tap);
}
