/* Host unit tests of kernel/tap.c: the exact lines the TAP writer emits,
 * its counters and verdict, and the sticky status merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kernel/tap.h"

#define MAX_LINES 16
#define CAP_LINE 512

struct capture {
	unsigned count;
	char lines[MAX_LINES][CAP_LINE];
};

static void emit(const char *line, void *ctx)
{
	struct capture *c = ctx;

	assert_true(c->count < MAX_LINES);
	assert_true(strlen(line) < CAP_LINE);
	strcpy(c->lines[c->count++], line);
}

static void expect_lines(const struct capture *c, const char *const *want,
			 unsigned n)
{
	for (unsigned i = 0; i < n && i < c->count; i++)
		assert_string_equal(c->lines[i], want[i]);
	assert_int_equal(c->count, n);
}

static void test_header_and_plan(void **state)
{
	static const char *const want[] = { "TAP version 13", "1..3" };
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	assert_int_equal(c.count, 0);
	tap_header(&t);
	tap_plan(&t, 3);
	expect_lines(&c, want, ARRAY_SIZE(want));
}

static void test_full_run(void **state)
{
	static const char *const want[] = {
		"TAP version 13",
		"1..5",
		"ok 1 - boot.exceptions",
		"ok 2 - boot.paging",
		"not ok 3 - boot.memory_map",
		"ok 4 - smp.ipi # SKIP needs 2 CPUs",
		"not ok 5 - patch.int3",
		"poketorture: End of test: FAILURE (2 passed, 2 failed, 1 skipped)",
	};
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_header(&t);
	tap_plan(&t, 5);
	tap_result(&t, "boot.exceptions", TEST_PASS, NULL);
	tap_result(&t, "boot.paging", TEST_PASS, "ignored for a pass");
	tap_result(&t, "boot.memory_map", TEST_FAIL, "ignored for a failure");
	tap_result(&t, "smp.ipi", TEST_SKIP, "needs 2 CPUs");
	tap_result(&t, "patch.int3", TEST_ERROR, NULL);
	assert_false(tap_success(&t));
	tap_final(&t);
	expect_lines(&c, want, ARRAY_SIZE(want));
	assert_int_equal(t.passed, 2);
	assert_int_equal(t.failed, 2);
	assert_int_equal(t.skipped, 1);
}

static void test_success(void **state)
{
	static const char *const want[] = {
		"1..2",
		"ok 1 - a",
		"ok 2 - b # SKIP not on this CPU",
		"poketorture: End of test: SUCCESS (1 passed, 0 failed, 1 skipped)",
	};
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_plan(&t, 2);
	assert_false(tap_success(&t));
	tap_result(&t, "a", TEST_PASS, NULL);
	assert_false(tap_success(&t));
	tap_result(&t, "b", TEST_SKIP, "not on this CPU");
	assert_true(tap_success(&t));
	tap_final(&t);
	expect_lines(&c, want, ARRAY_SIZE(want));
}

static void test_skip_reasons(void **state)
{
	static const char *const want[] = {
		"ok 1 - with # SKIP no KVM",
		"ok 2 - null # SKIP no reason given",
		"ok 3 - empty # SKIP no reason given",
	};
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_result(&t, "with", TEST_SKIP, "no KVM");
	tap_result(&t, "null", TEST_SKIP, NULL);
	tap_result(&t, "empty", TEST_SKIP, "");
	expect_lines(&c, want, ARRAY_SIZE(want));
	assert_int_equal(t.skipped, 3);
	assert_int_equal(t.passed, 0);
	assert_int_equal(t.failed, 0);
}

/* Fail, error and "reported nothing" are all failures. */
static void test_failures(void **state)
{
	static const char *const want[] = {
		"not ok 1 - failed",
		"not ok 2 - broke",
		"not ok 3 - silent",
		"poketorture: End of test: FAILURE (0 passed, 3 failed, 0 skipped)",
	};
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_plan(&t, 3);
	c.count = 0;
	tap_result(&t, "failed", TEST_FAIL, NULL);
	tap_result(&t, "broke", TEST_ERROR, "x");
	tap_result(&t, "silent", TEST_NONE, NULL);
	assert_int_equal(t.failed, 3);
	assert_false(tap_success(&t));
	tap_final(&t);
	expect_lines(&c, want, ARRAY_SIZE(want));
}

/* Every planned test must report: fewer or more results is a failure even
 * when all of them passed. */
static void test_plan_mismatch(void **state)
{
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_plan(&t, 3);
	tap_result(&t, "a", TEST_PASS, NULL);
	tap_result(&t, "b", TEST_PASS, NULL);
	assert_false(tap_success(&t));
	tap_final(&t);
	assert_string_equal(c.lines[c.count - 1], "poketorture: End of test: "
			    "FAILURE (2 passed, 0 failed, 0 skipped)");

	c.count = 0;
	tap_init(&t, emit, &c);
	tap_plan(&t, 1);
	tap_result(&t, "a", TEST_PASS, NULL);
	assert_true(tap_success(&t));
	tap_result(&t, "b", TEST_PASS, NULL);
	assert_false(tap_success(&t));
	tap_final(&t);
	assert_string_equal(c.lines[c.count - 1], "poketorture: End of test: "
			    "FAILURE (2 passed, 0 failed, 0 skipped)");

	/* No plan at all: results without 1..N do not succeed. */
	c.count = 0;
	tap_init(&t, emit, &c);
	tap_result(&t, "a", TEST_PASS, NULL);
	assert_false(tap_success(&t));
}

static void test_empty_plan(void **state)
{
	static const char *const want[] = {
		"TAP version 13",
		"1..0",
		"poketorture: End of test: SUCCESS (0 passed, 0 failed, 0 skipped)",
	};
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	tap_header(&t);
	tap_plan(&t, 0);
	assert_true(tap_success(&t));
	tap_final(&t);
	expect_lines(&c, want, ARRAY_SIZE(want));
}

/* tap_init starts over: numbering and counters from a previous run do not
 * leak, and the context pointer is handed to emit() untouched. */
static void test_reinit(void **state)
{
	struct capture first = { 0 }, second = { 0 };
	struct tap t;

	tap_init(&t, emit, &first);
	tap_plan(&t, 1);
	tap_result(&t, "x", TEST_FAIL, NULL);
	tap_init(&t, emit, &second);
	tap_plan(&t, 1);
	tap_result(&t, "y", TEST_PASS, NULL);
	assert_true(tap_success(&t));
	assert_int_equal(first.count, 2);
	assert_int_equal(second.count, 2);
	assert_string_equal(second.lines[1], "ok 1 - y");
	assert_int_equal(t.failed, 0);
}

static void test_numbering(void **state)
{
	struct capture c = { 0 };
	struct tap t;

	tap_init(&t, emit, &c);
	for (unsigned i = 1; i <= 12; i++)
		tap_result(&t, "t", i % 3 ? TEST_PASS : TEST_FAIL, NULL);
	assert_string_equal(c.lines[0], "ok 1 - t");
	assert_string_equal(c.lines[2], "not ok 3 - t");
	assert_string_equal(c.lines[9], "ok 10 - t");
	assert_string_equal(c.lines[11], "not ok 12 - t");
	assert_int_equal(t.passed, 8);
	assert_int_equal(t.failed, 4);
}

/* A name longer than the line buffer is cut, never overflows. */
static void test_long_name(void **state)
{
	char name[1000];
	struct capture c = { 0 };
	struct tap t;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	tap_init(&t, emit, &c);
	tap_result(&t, name, TEST_PASS, NULL);
	assert_int_equal(c.count, 1);
	assert_memory_equal(c.lines[0], "ok 1 - nnnn", 11);
	assert_in_range(strlen(c.lines[0]), 100, CAP_LINE - 1);
}

static void test_merge_sticky(void **state)
{
	static const enum test_status order[] = {
		TEST_NONE, TEST_PASS, TEST_SKIP, TEST_FAIL, TEST_ERROR,
	};

	/* The larger of the two wins, whichever side it is on. */
	for (unsigned i = 0; i < ARRAY_SIZE(order); i++) {
		for (unsigned j = 0; j < ARRAY_SIZE(order); j++) {
			enum test_status want = order[i > j ? i : j];

			assert_int_equal(test_status_merge(order[i], order[j]), want);
		}
	}

	/* Sticky: once failed, later passes and skips do not undo it. */
	enum test_status s = TEST_NONE;

	s = test_status_merge(s, TEST_PASS);
	assert_int_equal(s, TEST_PASS);
	s = test_status_merge(s, TEST_SKIP);
	assert_int_equal(s, TEST_SKIP);
	s = test_status_merge(s, TEST_PASS);
	assert_int_equal(s, TEST_SKIP);
	s = test_status_merge(s, TEST_FAIL);
	assert_int_equal(s, TEST_FAIL);
	s = test_status_merge(s, TEST_PASS);
	s = test_status_merge(s, TEST_SKIP);
	assert_int_equal(s, TEST_FAIL);
	s = test_status_merge(s, TEST_ERROR);
	assert_int_equal(s, TEST_ERROR);
	s = test_status_merge(s, TEST_FAIL);
	assert_int_equal(s, TEST_ERROR);
}

static void test_names(void **state)
{
	assert_string_equal(test_status_name(TEST_NONE), "none");
	assert_string_equal(test_status_name(TEST_PASS), "pass");
	assert_string_equal(test_status_name(TEST_SKIP), "skip");
	assert_string_equal(test_status_name(TEST_FAIL), "fail");
	assert_string_equal(test_status_name(TEST_ERROR), "error");
	assert_string_equal(test_status_name((enum test_status)5), "?");
	assert_string_equal(test_status_name((enum test_status)-1), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_plan),
		cmocka_unit_test(test_full_run),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_skip_reasons),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_plan_mismatch),
		cmocka_unit_test(test_empty_plan),
		cmocka_unit_test(test_reinit),
		cmocka_unit_test(test_numbering),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_merge_sticky),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("tap", tests, NULL, NULL);
}
