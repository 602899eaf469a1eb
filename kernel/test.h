/*
 * The in-kernel test framework. A test is declared with DEFINE_TEST into
 * the .tests linker section and selected with tests= globs. Its status is
 * sticky (pass < skip < fail < error); a test that reports nothing is an
 * error, and a test that crashes is unwound and reported as an error while
 * the suite goes on.
 */
#ifndef PT_TEST_H
#define PT_TEST_H

#include "kernel/tap.h"

#define TEST_EXPLICIT (1u << 0)	/* never in the default suite */
#define TEST_BENCH (1u << 1)	/* a benchmark: runs with the bench option */
#define TEST_TIMED (1u << 2)	/* runs for its share of seconds= when given */

struct test {
	const char *name;	/* "group.name" */
	const char *group;
	const char *purpose;	/* one line */
	unsigned min_cpus;
	unsigned flags;
	void (*fn)(void);
};

#define DEFINE_TEST(grp, nm, mincpus, fl, purpose_text)                       \
	static void test_fn_##grp##_##nm(void);                              \
	static const struct test test_desc_##grp##_##nm __used               \
		__section(".tests") __aligned(8) = {                         \
			.name = #grp "." #nm,                                \
			.group = #grp,                                       \
			.purpose = purpose_text,                             \
			.min_cpus = mincpus,                                 \
			.flags = fl,                                         \
			.fn = test_fn_##grp##_##nm,                          \
		};                                                           \
	static void test_fn_##grp##_##nm(void)

void test_pass(void);
void test_fail(const char *fmt, ...) __printf(1, 2);
void test_skip(const char *fmt, ...) __printf(1, 2);
void test_error(const char *fmt, ...) __printf(1, 2);

/*
 * Detectors (exceptions, wrong outcomes, the invariant checker, the
 * watchdog) report through test_detect(): normally a failure; inside a
 * negative control (test_expect_detection) a count per detector, which
 * the control then requires to be non-zero.
 */
enum detector {
	DET_EXCEPTION, DET_OUTCOME, DET_INVARIANT, DET_WATCHDOG,
	DET_CTRACK,	/* kernel/ctrack.c */
	DET_LOCK_ORDER,	/* kernel/lockorder.c */
	DET_DEFER,	/* kernel/defer.c: the deferred sync's checker */
	DET_COUNT
};
void test_detect(enum detector d, const char *fmt, ...) __printf(2, 3);
void test_expect_detection(bool on);
bool test_expecting_detection(void);
u64 test_detections(enum detector d);
const char *detector_name(enum detector d);

/* A failure report (kernel/report.c): failure_begin() first, which logs
 * the failure as a "note cpu ip" event in the trail and says whether this
 * is the test's first report (to be printed in full); then the report's
 * own lines; then failure_context(): test, protocol, step, the site's
 * bytes, the event trail, the replay line, or after the first report of a
 * test only a count. The runner resets the count before each test. */
bool failure_begin(int cpu, u64 ip);
/* Where every unexpected failure passes first: gdb's breakpoint. */
void failure_point(const char *what);
void failure_context(int cpu, u64 ip);
void failure_reports_reset(void);

/* Fails the test (with file and line) when cond is false; returns cond. */
#define test_check(cond, fmt, ...)                                            \
	({                                                                    \
		bool ok_ = (cond);                                            \
		if (!ok_)                                                     \
			test_fail("%s:%d: " fmt, __FILE__, __LINE__,          \
				  ##__VA_ARGS__);                             \
		ok_;                                                          \
	})

/* iters= / seconds= when given, else the test's own default. */
u64 test_iters(u64 dflt);
u64 test_seconds(u64 dflt);
/* A TEST_TIMED test's share of seconds= in ms (seconds= split evenly over
 * the selected timed tests), or 0 when seconds= was not given. */
u64 test_time_share_ms(void);

/* Prints "TAP version 13"; the banner follows as diagnostics. */
void test_tap_begin(void);
unsigned test_count_matching(const char *glob);
const char *test_list_names(void);
/* Runs the selected tests; returns true when all passed or skipped. */
bool test_run_all(unsigned cpus_online);
/* Closes the TAP stream from a panic: the running test fails. */
void test_panic_close(void);

#endif
