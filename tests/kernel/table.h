/*
 * Tests as the rows of a table. DEFINE_TEST (kernel/test.h) gives a test
 * a function of its own; a family of tests that differ only in their data
 * (the torture scenarios, the negative controls) is instead one array of
 * struct test in the same .tests section, each row naming the family's
 * function, which finds its own row with test_row(). The runner cannot
 * tell the two apart: names, order (by name), CPU minimums and skips are
 * those of DEFINE_TEST.
 */
#ifndef PT_TESTS_TABLE_H
#define PT_TESTS_TABLE_H

#include "kernel/fault.h"
#include "kernel/string.h"
#include "kernel/test.h"

#define TEST_ROW(grp, nm, mincpus, fl, purpose_text, fnc)                     \
	{                                                                     \
		.name = #grp "." #nm, .group = #grp, .purpose = purpose_text, \
		.min_cpus = mincpus, .flags = fl, .fn = fnc,                  \
	}

/* The rows are laid out as DEFINE_TEST lays out one test: 8-aligned
 * struct tests, back to back, between __tests_start and __tests_end. */
_Static_assert(sizeof(struct test) % 8 == 0, "rows as closely packed as DEFINE_TEST's");
#define DEFINE_TEST_TABLE(tbl) \
	static const struct test tbl[] __used __section(".tests") __aligned(8)

/* The row of tbl[0..n) that is running now; n when none is. */
static inline unsigned test_row(const struct test *tbl, unsigned n)
{
	const char *name = test_current_name();
	unsigned i = 0;

	while (i < n && (!name || strcmp(tbl[i].name, name)))
		i++;
	return i;
}

#endif
