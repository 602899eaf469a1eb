/* Glob matching, iterative with one backtrack point for '*', so that a
 * pattern from the command line can never recurse deeply. Patterns are
 * bounded by an end pointer so that list items need no copying. */
#include "kernel/glob.h"

/* Matches the set starting after '['; *pp is left after the ']'.
 * A set without a closing ']' matches a literal '['. */
static bool match_set(const char **pp, const char *end, char c)
{
	const char *p = *pp;
	bool negate = false, hit = false;

	if (p < end && (*p == '!' || *p == '^')) {
		negate = true;
		p++;
	}
	for (bool first = true; p < end && (first || *p != ']'); first = false) {
		char lo = *p++, hi = lo;

		if (p + 1 < end && *p == '-' && p[1] != ']') {
			hi = p[1];
			p += 2;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	if (p >= end) {		/* unterminated: literal '[' */
		*pp = NULL;
		return c == '[';
	}
	*pp = p + 1;
	return hit != negate;
}

static bool glob_match_n(const char *p, const char *end, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;

	while (*s) {
		const char *next = p;
		bool ok = false;

		if (p < end && *p == '*') {
			star_p = ++p;
			star_s = s;
			continue;
		}
		if (p < end && *p == '?') {
			ok = true;
			next = p + 1;
		} else if (p < end && *p == '[') {
			next = p + 1;
			ok = match_set(&next, end, *s);
			if (!next)
				next = p + 1;
		} else if (p < end) {
			ok = *p == *s;
			next = p + 1;
		}
		if (ok) {
			p = next;
			s++;
		} else if (star_p) {
			p = star_p;
			s = ++star_s;
		} else {
			return false;
		}
	}
	while (p < end && *p == '*')
		p++;
	return p == end;
}

bool glob_match(const char *pattern, const char *str)
{
	const char *end = pattern;

	while (*end)
		end++;
	return glob_match_n(pattern, end, str);
}

bool glob_match_list(const char *list, const char *str)
{
	while (*list) {
		const char *end = list;

		while (*end && *end != ',')
			end++;
		if (end > list && glob_match_n(list, end, str))
			return true;
		list = *end ? end + 1 : end;
	}
	return false;
}
