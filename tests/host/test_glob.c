/* Host unit tests of kernel/glob.c. The expectations are written out by
 * hand; where poketorture's glob and POSIX fnmatch(3) (without flags) are
 * meant to agree, the host fnmatch is asked too, as a second opinion on
 * the table itself. */
#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kernel/glob.h"

struct glob_case {
	const char *pattern;
	const char *str;
	bool match;
	bool posix;	/* fnmatch(3) agrees */
};

static void run_cases(const struct glob_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++, c++) {
		bool got = glob_match(c->pattern, c->str);

		if (got != c->match)
			fail_msg("glob_match(\"%s\", \"%s\") = %d, want %d",
				 c->pattern, c->str, got, c->match);
		if (c->posix && (fnmatch(c->pattern, c->str, 0) == 0) != c->match)
			fail_msg("table entry \"%s\" vs \"%s\" disagrees with fnmatch",
				 c->pattern, c->str);
	}
}

static void test_literal(void **state)
{
	static const struct glob_case cases[] = {
		{ "", "", true, true },
		{ "", "a", false, true },
		{ "a", "", false, true },
		{ "abc", "abc", true, true },
		{ "abc", "abd", false, true },
		{ "abc", "ab", false, true },
		{ "ab", "abc", false, true },
		{ "abc", "ABC", false, true },
		{ "boot.paging", "boot.paging", true, true },
		{ "boot.paging", "boot.pagin", false, true },
		{ "-]!^", "-]!^", true, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

static void test_question(void **state)
{
	static const struct glob_case cases[] = {
		{ "?", "a", true, true },
		{ "?", "", false, true },
		{ "?", "ab", false, true },
		{ "??", "a", false, true },
		{ "a?c", "abc", true, true },
		{ "a?c", "ac", false, true },
		{ "a?c", "a.c", true, true },
		{ "???", "abc", true, true },
		{ "smp.?pi", "smp.ipi", true, true },
		{ "smp.?pi", "smp.pi", false, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

static void test_star(void **state)
{
	static const struct glob_case cases[] = {
		{ "*", "", true, true },
		{ "*", "anything at all", true, true },
		{ "**", "", true, true },
		{ "***", "abc", true, true },
		{ "a*", "a", true, true },
		{ "a*", "abc", true, true },
		{ "a*", "ba", false, true },
		{ "*a", "bba", true, true },
		{ "*a", "ab", false, true },
		{ "*a*", "xax", true, true },
		{ "*a*", "xyz", false, true },
		{ "boot.*", "boot.paging", true, true },
		{ "boot.*", "boot.", true, true },
		{ "boot.*", "boot", false, true },
		{ "boot.*", "smp.ipi", false, true },
		{ "*.ipi", "smp.ipi", true, true },
		{ "*.ipi", "smp.ipix", false, true },
		{ "*?", "", false, true },
		{ "*?", "a", true, true },
		{ "?*", "", false, true },
		{ "a*?c", "abc", true, true },
		{ "a*?c", "ac", false, true },
		{ "a*?c", "abbbc", true, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

/* Cases where the first way a '*' can match is the wrong one. */
static void test_backtracking(void **state)
{
	static const struct glob_case cases[] = {
		{ "a*b*c", "abc", true, true },
		{ "a*b*c", "aXbYc", true, true },
		{ "a*b*c", "abcbc", true, true },
		{ "a*b*c", "aXbXbXc", true, true },
		{ "a*b*c", "abbbbc", true, true },
		{ "a*b*c", "acb", false, true },
		{ "a*b*c", "abcb", false, true },
		{ "a*b*c", "ab", false, true },
		{ "a*b*c", "aXcYb", false, true },
		{ "*ab", "aab", true, true },
		{ "*aab", "aaab", true, true },
		{ "*abc", "ababc", true, true },
		{ "*abc", "abab", false, true },
		{ "a*bc", "abbc", true, true },
		{ "*bc", "bbc", true, true },
		{ "*a*b", "xaxxb", true, true },
		{ "*a*b", "xbxxa", false, true },
		{ "*.*.*", "a.b.c", true, true },
		{ "*.*.*", "a.b", false, true },
		{ "a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, true },
		{ "a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true, true },
		{ "*[ab]c", "xxbc", true, true },
		{ "*[ab]c", "xxbd", false, true },
		{ "*[ab]c", "acbc", true, true },
		{ "*?x", "abx", true, true },
		{ "*?x", "x", false, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

static void test_sets(void **state)
{
	static const struct glob_case cases[] = {
		{ "[abc]", "a", true, true },
		{ "[abc]", "b", true, true },
		{ "[abc]", "c", true, true },
		{ "[abc]", "d", false, true },
		{ "[abc]", "", false, true },
		{ "[abc]", "ab", false, true },
		{ "x[ab]*", "xbzzz", true, true },
		{ "x[ab]*", "xczzz", false, true },
		{ "[a-c]x", "bx", true, true },
		{ "[a-c]", "a", true, true },
		{ "[a-c]", "c", true, true },
		{ "[a-c]", "d", false, true },
		{ "[a-c]", "-", false, true },
		{ "[0-9][0-9]", "42", true, true },
		{ "[0-9][0-9]", "4x", false, true },
		{ "[a-cx-z]", "y", true, true },
		{ "[a-cx-z]", "m", false, true },
		{ "[a-c0-9_]", "_", true, true },
		{ "*[0-9]", "test9", true, true },
		{ "*[0-9]", "test", false, true },
		{ "[a-c]*[x-z]", "bqqy", true, true },
		{ "[a-c]*[x-z]", "bqqa", false, true },
		/* ']' first is a member, '-' first or last is literal. */
		{ "[]]", "]", true, true },
		{ "[]a]", "a", true, true },
		{ "[]a]", "]", true, true },
		{ "[]a]", "b", false, true },
		{ "[]-a]", "^", true, true },
		{ "[a-]", "-", true, true },
		{ "[a-]", "a", true, true },
		{ "[a-]", "b", false, true },
		{ "[-a]", "-", true, true },
		{ "[-a]", "b", false, true },
		{ "[*]", "*", true, true },
		{ "[*]", "x", false, true },
		{ "[?]", "?", true, true },
		{ "[?]", "x", false, true },
		{ "[[]", "[", true, true },
		/* A reversed range contains nothing. */
		{ "[z-a]", "m", false, false },
		{ "[z-a]", "z", false, false },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

static void test_negated_sets(void **state)
{
	static const struct glob_case cases[] = {
		{ "[!a]", "b", true, true },
		{ "[!a]", "a", false, true },
		{ "[!a]", "", false, true },
		{ "[!a-c]", "d", true, true },
		{ "[!a-c]", "b", false, true },
		{ "[!a-c]", "a", false, true },
		{ "[!a-c]", "c", false, true },
		{ "[!abc]x", "dx", true, true },
		{ "[!abc]x", "ax", false, true },
		{ "[!]]", "]", false, true },
		{ "[!]]", "x", true, true },
		{ "[^a]", "b", true, true },
		{ "[^a]", "a", false, true },
		{ "boot.[!p]*", "boot.memory_map", true, true },
		{ "boot.[!p]*", "boot.paging", false, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

/* A '[' without its ']' is an ordinary character. */
static void test_unterminated_set(void **state)
{
	static const struct glob_case cases[] = {
		{ "[", "[", true, true },
		{ "[", "", false, true },
		{ "[abc", "[abc", true, true },
		{ "[abc", "a", false, true },
		{ "[abc", "[", false, true },
		{ "a[", "a[", true, true },
		{ "a[", "a", false, true },
		{ "*[", "xx[", true, true },
		{ "*[", "xx", false, true },
		{ "[!", "[!", true, true },
		{ "[a-", "[a-", true, false },
		{ "[a-", "a", false, true },
		{ "[]", "[]", true, true },
		{ "[]", "]", false, true },
		{ "[*", "[anything", true, true },
		{ "[?", "[x", true, true },
		{ "[?", "x", false, true },
	};

	run_cases(cases, ARRAY_SIZE(cases));
}

/* A long subject must neither recurse deeply nor take exponential time. */
static void test_long_subject(void **state)
{
	size_t n = 100000;
	char *s = malloc(n + 2);

	assert_non_null(s);
	memset(s, 'a', n);
	s[n] = '\0';
	assert_true(glob_match("*", s));
	assert_true(glob_match("a*a", s));
	assert_false(glob_match("*b", s));
	assert_false(glob_match("*a*a*a*a*a*a*a*a*b", s));
	s[n] = 'b';
	s[n + 1] = '\0';
	assert_true(glob_match("*a*a*a*a*a*a*a*a*b", s));
	assert_true(glob_match("*[b]", s));
	assert_false(glob_match("*ab?", s));
	free(s);
}

struct list_case {
	const char *list;
	const char *str;
	bool match;
};

static void test_list(void **state)
{
	static const struct list_case cases[] = {
		{ "a", "a", true },
		{ "a,b", "a", true },
		{ "a,b", "b", true },
		{ "a,b", "c", false },
		{ "a,b", "a,b", false },
		{ "boot.*,smp.ipi", "boot.paging", true },
		{ "boot.*,smp.ipi", "smp.ipi", true },
		{ "boot.*,smp.ipi", "smp.ipx", false },
		{ "boot.*,smp.ipi", "boot", false },
		{ "x*,*y", "ay", true },
		{ "x*,*y", "xa", true },
		{ "x*,*y", "ya", false },
		/* Each item ends at its comma: no item runs into the next. */
		{ "ab,c", "abc", false },
		{ "ab,c", "ab,c", false },
		{ "a*b,x", "a,x", false },
		{ "a*,b", "ab", true },
		{ "a?,b", "a", false },
		{ "a?,b", "a,", true },
		{ "[a,b]", "b]", true },
		{ "[a,b]", "[a", true },
		{ "[a,b]", "a", false },
		/* Empty items match nothing, not even the empty string. */
		{ "", "", false },
		{ "", "a", false },
		{ ",", "", false },
		{ ",,", "a", false },
		{ "a,,b", "b", true },
		{ "a,,b", "", false },
		{ ",a", "a", true },
		{ "a,", "a", true },
		{ ",,a,,", "a", true },
		{ "*", "", true },
		{ ",*", "", true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct list_case *c = &cases[i];
		bool got = glob_match_list(c->list, c->str);

		if (got != c->match)
			fail_msg("glob_match_list(\"%s\", \"%s\") = %d, want %d",
				 c->list, c->str, got, c->match);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_question),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_backtracking),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_negated_sets),
		cmocka_unit_test(test_unterminated_set),
		cmocka_unit_test(test_long_subject),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests_name("glob", tests, NULL, NULL);
}
