/* Host unit tests of kernel/cmdline.c: parse_u64, cmdline_parse against a
 * table with every option kind, every error path with its exact message,
 * and opt_format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kernel/cmdline.h"

static const char *const modes[] = { "fast", "slow", "paranoid", NULL };

static const char *check_letters(const char *value)
{
	for (const char *c = value; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
			return "has a character that is not a letter";
	return NULL;
}

enum { D_SEED, D_ITERS, D_CPUS, D_MODE, D_NAME, D_TEXT, D_BENCH, D_VERBOSE, D_N };

static const struct opt_desc descs[D_N] = {
	[D_SEED] = { "seed", OPT_UINT, 0, UINT64_MAX, .help = "seed" },
	[D_ITERS] = { "iters", OPT_UINT, 1, 1000, .help = "iterations" },
	[D_CPUS] = { "cpus", OPT_RANGE, 1, 64, .help = "cpus to use" },
	[D_MODE] = { "mode", OPT_ENUM, .choices = modes, .help = "mode" },
	[D_NAME] = { "name", OPT_STRING, .check = check_letters,
		     .accepted = "letters only", .help = "a name" },
	[D_TEXT] = { "text", OPT_STRING, .help = "free text" },
	[D_BENCH] = { "bench", OPT_FLAG, .help = "benchmarks" },
	[D_VERBOSE] = { "verbose", OPT_FLAG, .help = "chatty" },
};

#define ALL_NAMES "seed=, iters=, cpus=, mode=, name=, text=, bench, verbose"
#define ACC_SEED "an integer from 0 to 18446744073709551615"
#define ACC_ITERS "an integer from 1 to 1000"
#define ACC_CPUS "N or LO-HI, integers from 1 to 64, LO <= HI"
#define ACC_MODE "fast, slow, paranoid"
#define ACC_BENCH "'bench' alone, without a value"

static struct opt_val vals[D_N];
static char err[OPT_ERR_MAX];

static int parse(const char *line)
{
	return cmdline_parse(line, descs, D_N, vals, err, sizeof(err));
}

static void parse_ok(const char *line)
{
	if (parse(line))
		fail_msg("\"%s\" rejected: %s", line, err);
	assert_string_equal(err, "");
}

/* The line must be rejected with exactly this message. */
static void parse_bad(const char *line, const char *message)
{
	memset(err, 'X', sizeof(err));
	if (parse(line) != -1)
		fail_msg("\"%s\" accepted, want: %s", line, message);
	assert_string_equal(err, message);
}

static void test_parse_u64(void **state)
{
	static const struct {
		const char *s;
		bool ok;
		u64 v;
	} cases[] = {
		{ "0", true, 0 },
		{ "7", true, 7 },
		{ "00012", true, 12 },
		{ "1000000", true, 1000000 },
		{ "18446744073709551615", true, UINT64_MAX },
		{ "18446744073709551616", false, 0 },
		{ "18446744073709551620", false, 0 },
		{ "99999999999999999999", false, 0 },
		{ "0x0", true, 0 },
		{ "0x1f", true, 31 },
		{ "0X1F", true, 31 },
		{ "0xDeadBeef", true, 0xdeadbeef },
		{ "0xffffffffffffffff", true, UINT64_MAX },
		{ "0x0000000000000000ff", true, 255 },
		{ "0x10000000000000000", false, 0 },
		{ "", false, 0 },
		{ "0x", false, 0 },
		{ "0X", false, 0 },
		{ "x1", false, 0 },
		{ "1f", false, 0 },
		{ "12a", false, 0 },
		{ "0xg", false, 0 },
		{ "0x1g", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ " 1", false, 0 },
		{ "1 ", false, 0 },
		{ "1.5", false, 0 },
		{ "0b101", false, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		u64 v = 0x5555;
		bool ok = parse_u64(cases[i].s, strlen(cases[i].s), &v);

		if (ok != cases[i].ok)
			fail_msg("parse_u64(\"%s\") = %d, want %d", cases[i].s, ok,
				 cases[i].ok);
		if (ok && v != cases[i].v)
			fail_msg("parse_u64(\"%s\") gave %llu", cases[i].s,
				 (unsigned long long)v);
		if (!ok && v != 0x5555)
			fail_msg("parse_u64(\"%s\") failed but wrote", cases[i].s);
	}
}

/* The length bounds the number: what follows is never looked at. */
static void test_parse_u64_length(void **state)
{
	u64 v;

	assert_true(parse_u64("123abc", 3, &v));
	assert_int_equal(v, 123);
	assert_true(parse_u64("0x1fzz", 4, &v));
	assert_int_equal(v, 31);
	assert_true(parse_u64("42-64", 2, &v));
	assert_int_equal(v, 42);
	assert_false(parse_u64("0x12", 2, &v));
	assert_false(parse_u64("5", 0, &v));
}

static void test_empty_lines(void **state)
{
	/* Stale values from an earlier parse are cleared. */
	parse_ok("seed=3 bench");
	assert_true(vals[D_SEED].set);
	parse_ok("");
	for (int i = 0; i < D_N; i++)
		assert_false(vals[i].set);
	parse_ok("   \t\n\r ");
	parse_ok(NULL);
	for (int i = 0; i < D_N; i++)
		assert_false(vals[i].set);
}

static void test_all_kinds(void **state)
{
	parse_ok("seed=12345 iters=10 cpus=2-8 mode=slow name=Alice "
		 "text=a/b.c:d bench");
	assert_true(vals[D_SEED].set);
	assert_int_equal(vals[D_SEED].num, 12345);
	assert_string_equal(vals[D_SEED].str, "12345");
	assert_int_equal(vals[D_ITERS].num, 10);
	assert_int_equal(vals[D_CPUS].num, 2);
	assert_int_equal(vals[D_CPUS].num2, 8);
	assert_true(vals[D_MODE].set);
	assert_int_equal(vals[D_MODE].choice, 1);
	assert_string_equal(vals[D_NAME].str, "Alice");
	assert_string_equal(vals[D_TEXT].str, "a/b.c:d");
	assert_true(vals[D_BENCH].set);
	assert_false(vals[D_VERBOSE].set);
}

static void test_whitespace(void **state)
{
	parse_ok("  \tseed=1\t\titers=2\n\nverbose\r\n  ");
	assert_int_equal(vals[D_SEED].num, 1);
	assert_int_equal(vals[D_ITERS].num, 2);
	assert_true(vals[D_VERBOSE].set);
	assert_false(vals[D_BENCH].set);
}

static void test_image_name(void **state)
{
	/* The loader's image path comes first and is skipped. */
	parse_ok("/boot/poketorture.elf seed=5");
	assert_true(vals[D_SEED].set);
	assert_int_equal(vals[D_SEED].num, 5);
	parse_ok("poketorture.elf");
	for (int i = 0; i < D_N; i++)
		assert_false(vals[i].set);
	parse_ok("  build/poketorture verbose");
	assert_true(vals[D_VERBOSE].set);
	parse_ok("(hd0,gpt2)/boot/poketorture.elf");
	parse_ok("(cd)");

	/* A bare first word is no file name: a typo is not swallowed. */
	parse_bad("poketorture", "bad option 'poketorture': unknown option; "
		  "accepted: " ALL_NAMES);
	parse_bad("bogus seed=1", "bad option 'bogus': unknown option; "
		  "accepted: " ALL_NAMES);

	/* A first word that names an option is that option. */
	parse_ok("bench seed=1");
	assert_true(vals[D_BENCH].set);
	parse_bad("seed", "bad option 'seed': needs a value; accepted: " ACC_SEED);

	/* Only the first word, and only without '='. */
	parse_bad("kernel.elf other.elf",
		  "bad option 'other.elf': unknown option; accepted: " ALL_NAMES);
	parse_bad("seed=1 kernel.elf",
		  "bad option 'kernel.elf': unknown option; accepted: " ALL_NAMES);
	parse_bad("image=x seed=1",
		  "bad option 'image=x': unknown option; accepted: " ALL_NAMES);
	parse_bad("/boot/x.elf=1",
		  "bad option '/boot/x.elf=1': unknown option; accepted: " ALL_NAMES);
}

/* The replay line gives options back in the order they came: each knows
 * its place among the options (the image name is not one). */
static void test_order(void **state)
{
	parse_ok("/boot/k.elf verbose mode=slow  seed=7");
	assert_int_equal(vals[D_VERBOSE].order, 1);
	assert_int_equal(vals[D_MODE].order, 2);
	assert_int_equal(vals[D_SEED].order, 3);
	assert_false(vals[D_ITERS].set);
	assert_int_equal(vals[D_ITERS].order, 0);
	parse_ok("seed=7 mode=slow");
	assert_int_equal(vals[D_SEED].order, 1);
	assert_int_equal(vals[D_MODE].order, 2);
	assert_int_equal(vals[D_VERBOSE].order, 0);
}

static void test_unknown(void **state)
{
	parse_bad("bogus=1", "bad option 'bogus=1': unknown option; accepted: "
		  ALL_NAMES);
	parse_bad("seed=1 bogus", "bad option 'bogus': unknown option; accepted: "
		  ALL_NAMES);
	/* Names match whole, not by prefix, and case matters. */
	parse_bad("seedx=1", "bad option 'seedx=1': unknown option; accepted: "
		  ALL_NAMES);
	parse_bad("see=1", "bad option 'see=1': unknown option; accepted: "
		  ALL_NAMES);
	parse_bad("SEED=1", "bad option 'SEED=1': unknown option; accepted: "
		  ALL_NAMES);
	parse_bad("=5", "bad option '=5': unknown option; accepted: " ALL_NAMES);
	parse_bad("./x verbose benchmark",
		  "bad option 'benchmark': unknown option; accepted: " ALL_NAMES);
}

static void test_repeated(void **state)
{
	parse_bad("seed=1 seed=2", "bad option 'seed=2': given more than once; "
		  "accepted: " ACC_SEED);
	parse_bad("seed=1 seed=1", "bad option 'seed=1': given more than once; "
		  "accepted: " ACC_SEED);
	parse_bad("bench verbose bench", "bad option 'bench': given more than "
		  "once; accepted: " ACC_BENCH);
	parse_bad("text=a text=b", "bad option 'text=b': given more than once; "
		  "accepted: text");
}

static void test_flag_with_value(void **state)
{
	parse_bad("bench=1", "bad option 'bench=1': takes no value; accepted: "
		  ACC_BENCH);
	parse_bad("bench=", "bad option 'bench=': takes no value; accepted: "
		  ACC_BENCH);
	parse_bad("verbose=on", "bad option 'verbose=on': takes no value; "
		  "accepted: 'verbose' alone, without a value");
}

static void test_missing_value(void **state)
{
	parse_bad("seed=", "bad option 'seed=': needs a value; accepted: "
		  ACC_SEED);
	parse_bad("kernel.elf iters", "bad option 'iters': needs a value; accepted: "
		  ACC_ITERS);
	parse_bad("cpus=", "bad option 'cpus=': needs a value; accepted: "
		  ACC_CPUS);
	parse_bad("mode", "bad option 'mode': needs a value; accepted: "
		  ACC_MODE);
	parse_bad("name=", "bad option 'name=': needs a value; accepted: "
		  "letters only");
	parse_bad("/x text", "bad option 'text': needs a value; accepted: text");
}

static void test_not_a_number(void **state)
{
	static const char *const bad[] = {
		"abc", "12x", "-1", "+1", "0x", "0xg", "1.5", "1e3", "0o17",
		"18446744073709551616", "99999999999999999999999",
		"0x10000000000000000",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char line[64], want[160];

		snprintf(line, sizeof(line), "iters=%s", bad[i]);
		snprintf(want, sizeof(want), "bad option 'iters=%s': not a "
			 "number; accepted: " ACC_ITERS, bad[i]);
		parse_bad(line, want);
	}
	parse_bad("seed=18446744073709551616", "bad option "
		  "'seed=18446744073709551616': not a number; accepted: "
		  ACC_SEED);
}

static void test_uint_bounds(void **state)
{
	parse_ok("iters=1");
	assert_int_equal(vals[D_ITERS].num, 1);
	parse_ok("iters=1000");
	assert_int_equal(vals[D_ITERS].num, 1000);
	parse_bad("iters=0", "bad option 'iters=0': out of range; accepted: "
		  ACC_ITERS);
	parse_bad("iters=1001", "bad option 'iters=1001': out of range; "
		  "accepted: " ACC_ITERS);
	parse_bad("iters=18446744073709551615", "bad option "
		  "'iters=18446744073709551615': out of range; accepted: "
		  ACC_ITERS);
	parse_ok("seed=0");
	assert_true(vals[D_SEED].set);
	assert_int_equal(vals[D_SEED].num, 0);
	parse_ok("seed=18446744073709551615");
	assert_int_equal(vals[D_SEED].num, UINT64_MAX);
}

static void test_hex(void **state)
{
	parse_ok("seed=0x1F iters=0x3e8");
	assert_int_equal(vals[D_SEED].num, 31);
	assert_string_equal(vals[D_SEED].str, "0x1F");
	assert_int_equal(vals[D_ITERS].num, 1000);
	parse_ok("seed=0XfF");
	assert_int_equal(vals[D_SEED].num, 255);
	parse_ok("seed=0xffffffffffffffff");
	assert_int_equal(vals[D_SEED].num, UINT64_MAX);
	parse_bad("iters=0x3e9", "bad option 'iters=0x3e9': out of range; "
		  "accepted: " ACC_ITERS);
	parse_ok("cpus=0x2-0x10");
	assert_int_equal(vals[D_CPUS].num, 2);
	assert_int_equal(vals[D_CPUS].num2, 16);
}

static void test_range(void **state)
{
	/* A single value is the range N-N. */
	parse_ok("cpus=4");
	assert_int_equal(vals[D_CPUS].num, 4);
	assert_int_equal(vals[D_CPUS].num2, 4);
	parse_ok("cpus=1-64");
	assert_int_equal(vals[D_CPUS].num, 1);
	assert_int_equal(vals[D_CPUS].num2, 64);
	parse_ok("cpus=64-64");
	assert_int_equal(vals[D_CPUS].num, 64);
	assert_int_equal(vals[D_CPUS].num2, 64);
	parse_ok("cpus=64");

	parse_bad("cpus=8-2", "bad option 'cpus=8-2': LO is greater than HI; "
		  "accepted: " ACC_CPUS);
	parse_bad("cpus=0-4", "bad option 'cpus=0-4': out of range; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=1-65", "bad option 'cpus=1-65': out of range; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=0", "bad option 'cpus=0': out of range; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=65", "bad option 'cpus=65': out of range; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=-4", "bad option 'cpus=-4': not a number; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=a-4", "bad option 'cpus=a-4': not a number; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=4-", "bad option 'cpus=4-': not a number after '-'; "
		  "accepted: " ACC_CPUS);
	parse_bad("cpus=4-b", "bad option 'cpus=4-b': not a number after '-'; "
		  "accepted: " ACC_CPUS);
	parse_bad("cpus=1-2-3", "bad option 'cpus=1-2-3': not a number after "
		  "'-'; accepted: " ACC_CPUS);
	parse_bad("cpus=-", "bad option 'cpus=-': not a number; accepted: "
		  ACC_CPUS);
	parse_bad("cpus=2-18446744073709551616", "bad option "
		  "'cpus=2-18446744073709551616': not a number after '-'; "
		  "accepted: " ACC_CPUS);
}

static void test_enum(void **state)
{
	parse_ok("mode=fast");
	assert_int_equal(vals[D_MODE].choice, 0);
	parse_ok("mode=paranoid");
	assert_int_equal(vals[D_MODE].choice, 2);
	assert_string_equal(vals[D_MODE].str, "paranoid");
	parse_bad("mode=turbo", "bad option 'mode=turbo': not a known value; "
		  "accepted: " ACC_MODE);
	parse_bad("mode=FAST", "bad option 'mode=FAST': not a known value; "
		  "accepted: " ACC_MODE);
	parse_bad("mode=fas", "bad option 'mode=fas': not a known value; "
		  "accepted: " ACC_MODE);
	parse_bad("mode=fastest", "bad option 'mode=fastest': not a known "
		  "value; accepted: " ACC_MODE);
}

static void test_string_check(void **state)
{
	parse_ok("name=Bob");
	assert_string_equal(vals[D_NAME].str, "Bob");
	parse_bad("name=Bob1", "bad option 'name=Bob1': has a character that "
		  "is not a letter; accepted: letters only");
	parse_bad("name=a=b", "bad option 'name=a=b': has a character that "
		  "is not a letter; accepted: letters only");
	/* Without check() anything goes, '=' included. */
	parse_ok("text=a=b,c*[d]");
	assert_string_equal(vals[D_TEXT].str, "a=b,c*[d]");
}

static void test_value_length(void **state)
{
	char line[OPT_STR_MAX + 32], want[OPT_ERR_MAX];
	char value[OPT_STR_MAX + 1];

	memset(value, 'v', OPT_STR_MAX - 1);
	value[OPT_STR_MAX - 1] = '\0';
	snprintf(line, sizeof(line), "text=%s", value);
	parse_ok(line);
	assert_string_equal(vals[D_TEXT].str, value);

	memset(value, 'v', OPT_STR_MAX);
	value[OPT_STR_MAX] = '\0';
	snprintf(line, sizeof(line), "text=%s", value);
	snprintf(want, sizeof(want), "bad option 'text=%s': value too long; "
		 "accepted: text", value);
	parse_bad(line, want);

	/* Numbers are checked for length before anything else. */
	memset(value, '0', OPT_STR_MAX);
	snprintf(line, sizeof(line), "iters=%s", value);
	snprintf(want, sizeof(want), "bad option 'iters=%s': value too long; "
		 "accepted: " ACC_ITERS, value);
	parse_bad(line, want);
}

/* The first bad word stops the parse. */
static void test_first_error_wins(void **state)
{
	parse_bad("seed=1 iters=0 bogus", "bad option 'iters=0': out of range; "
		  "accepted: " ACC_ITERS);
}

/* A short err buffer gets the start of the message, terminated. */
static void test_short_error_buffer(void **state)
{
	char small[16];

	memset(small, 'X', sizeof(small));
	assert_int_equal(cmdline_parse("bogus=1", descs, D_N, vals, small,
				       sizeof(small)), -1);
	assert_string_equal(small, "bad option 'bog");
}

static void format_is(int i, const char *want)
{
	char buf[64];
	int n = opt_format(&descs[i], &vals[i], buf, sizeof(buf));

	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_opt_format(void **state)
{
	parse_ok("seed=0x10 iters=7 cpus=3 mode=paranoid name=Eve "
		 "text=hello verbose");
	format_is(D_SEED, "seed=16");
	format_is(D_ITERS, "iters=7");
	format_is(D_CPUS, "cpus=3-3");
	format_is(D_MODE, "mode=paranoid");
	format_is(D_NAME, "name=Eve");
	format_is(D_TEXT, "text=hello");
	format_is(D_VERBOSE, "verbose=on");
	format_is(D_BENCH, "bench=off");
	parse_ok("cpus=2-0x20 seed=18446744073709551615");
	format_is(D_CPUS, "cpus=2-32");
	format_is(D_SEED, "seed=18446744073709551615");

	char buf[8];

	assert_int_equal(opt_format(&descs[D_SEED], &vals[D_SEED], buf,
				    sizeof(buf)), 25);
	assert_string_equal(buf, "seed=18");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_u64_length),
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_all_kinds),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_image_name),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_flag_with_value),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_not_a_number),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_string_check),
		cmocka_unit_test(test_value_length),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_short_error_buffer),
		cmocka_unit_test(test_opt_format),
	};

	return cmocka_run_group_tests_name("cmdline", tests, NULL, NULL);
}
