/* Host unit tests of kernel/format.c (and strlcpy from kernel/string.c).
 * Every conversion the kernel shares with C99 is checked against the host
 * libc's vsnprintf, byte for byte, including the return value and what a
 * too small buffer receives. %p and unknown conversions, where the kernel
 * deliberately differs from glibc, are checked against fixed expectations. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <cmocka.h>

#include "kernel/format.h"
#include "kernel/string.h"

#define OUT_MAX 512
#define CANARY 0x5a

/* Shows a buffer with control characters (NUL included) escaped. */
static const char *show(const char *s, size_t len)
{
	static char bufs[2][4 * OUT_MAX + 1];
	static int which;
	char *b = bufs[which++ & 1], *p = b;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			*p++ = (char)c;
		else
			p += sprintf(p, "\\x%02x", c);
	}
	*p = '\0';
	return b;
}

/* Formats into a buffer of the given size and checks the result against
 * want/want_len (the complete output): the return value, the first
 * size - 1 bytes, the terminator and that nothing past size was written. */
static void check_size(const char *fmt, const char *want, int want_len,
		       size_t size, va_list ap)
{
	char got[OUT_MAX + 16];
	size_t keep = size ? MIN((size_t)want_len, size - 1) : 0;
	va_list aq;
	int n;

	memset(got, CANARY, sizeof(got));
	va_copy(aq, ap);
	n = kvsnprintf(got, size, fmt, aq);
	va_end(aq);
	if (n != want_len)
		fail_msg("\"%s\" size %zu: returned %d, libc %d", fmt, size, n,
			 want_len);
	if (memcmp(got, want, keep) || (size && got[keep] != '\0'))
		fail_msg("\"%s\" size %zu: wrote \"%s\", libc \"%s\"", fmt, size,
			 show(got, keep + (size ? 1 : 0)), show(want, keep));
	for (size_t i = size ? keep + 1 : 0; i < sizeof(got); i++)
		if ((unsigned char)got[i] != CANARY)
			fail_msg("\"%s\" size %zu: wrote byte %zu", fmt, size, i);
}

/* Compares kvsnprintf with the host vsnprintf. all_sizes: every buffer size
 * from 0 to past the end, else a few interesting ones. */
static void vcheck(bool all_sizes, const char *fmt, va_list ap)
{
	char want[OUT_MAX];
	int want_len, n;
	va_list aq;

	va_copy(aq, ap);
	want_len = vsnprintf(want, sizeof(want), fmt, aq);
	va_end(aq);
	assert_in_range(want_len, 0, OUT_MAX - 1);

	/* size 0 with a NULL buffer is allowed and only measures. */
	va_copy(aq, ap);
	n = kvsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n != want_len)
		fail_msg("\"%s\" NULL, 0: returned %d, libc %d (\"%s\")", fmt, n,
			 want_len, show(want, want_len));

	if (all_sizes) {
		for (size_t size = 0; size <= (size_t)want_len + 2; size++)
			check_size(fmt, want, want_len, size, ap);
		check_size(fmt, want, want_len, OUT_MAX, ap);
		return;
	}
	check_size(fmt, want, want_len, want_len / 2 + 1, ap);
	check_size(fmt, want, want_len, want_len + 1, ap);
}

static void check(const char *fmt, ...) __printf(1, 2);
static void check(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcheck(true, fmt, ap);
	va_end(ap);
}

/* Same, for generated formats (gcc cannot check those). */
static void check_gen(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vcheck(false, fmt, ap);
	va_end(ap);
}

/* Calls the kernel formatter alone, for formats gcc would reject. */
static int kfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static void test_plain_text(void **state)
{
	check("%s", "");
	check("hello, world");
	check("%%");
	check("a%%b%%%%c");
	check("100%% sure");
	check("tab\tnewline\n");
}

static void test_decimal(void **state)
{
	check("%d", 0);
	check("%d", 1);
	check("%d", -1);
	check("%d|%i", 42, -42);
	check("%d", INT_MAX);
	check("%d", INT_MIN);
	check("%i", INT_MIN);
	check("%5d|%-5d|%05d", 42, 42, 42);
	check("%5d|%-5d|%05d", -42, -42, -42);
	check("%+d|%+d|%+d", 42, -42, 0);
	check("% d|% d|% d", 42, -42, 0);
	check("%+5d|%-+5d|%+05d", 7, 7, 7);
	check("% 5d|%- 5d|% 05d", 7, 7, 7);
	check("%.3d|%.3d|%.0d|%.0d", 7, -7, 0, 1);
	check("%8.3d|%-8.3d|%+8.3d", 7, -7, 7);
	check("%.d|%5.d|%-5.0d|%+.0d|% .0d", 0, 0, 0, 0, 0);
	check("%1d|%2d", 12345, -12345);
	check("%020d|%-20d|%20d", INT_MIN, INT_MIN, INT_MIN);
	check("%.12d", INT_MIN);
	check("%u|%u|%u", 0u, 1u, UINT_MAX);
	check("%10u|%-10u|%010u|%.12u", 42u, 42u, 42u, 42u);
}

static void test_lengths(void **state)
{
	check("%hhd|%hhd|%hhd", 127, -128, 300);
	check("%hhu|%hhu", 255, 300);
	check("%hhx|%hho", 0x1ff, 0777);
	check("%hd|%hd|%hd", 32767, -32768, 40000);
	check("%hu|%hx", 65535, 0x12345);
	check("%ld|%ld|%ld", 0L, LONG_MAX, LONG_MIN);
	check("%lu|%lx|%lo", ULONG_MAX, ULONG_MAX, ULONG_MAX);
	check("%lld|%lld|%lld", 0LL, LLONG_MAX, LLONG_MIN);
	check("%lli|%+lld|%25lld|%-25lld|", LLONG_MIN, LLONG_MAX, LLONG_MIN,
	      LLONG_MIN);
	check("%llu|%llx|%llX|%llo", ULLONG_MAX, ULLONG_MAX, ULLONG_MAX,
	      ULLONG_MAX);
	check("%.25lld|%025lld", LLONG_MIN, LLONG_MIN);
	check("%zu|%zx|%zd", SIZE_MAX, (size_t)0xdeadbeef, (ssize_t)-5);
	check("%td|%td|%tu", PTRDIFF_MAX, PTRDIFF_MIN, (size_t)PTRDIFF_MAX);
	check("%jd|%jd|%ju|%jx", INTMAX_MAX, INTMAX_MIN, UINTMAX_MAX,
	      UINTMAX_MAX);
	/* Arguments after a 64-bit one must still line up. */
	check("%lld %d %llx %s %c", -1LL, 5, 0x123456789abcdefULL, "x", 'y');
}

static void test_hex_octal(void **state)
{
	check("%x|%X|%o", 0u, 0u, 0u);
	check("%x|%X|%o", 0xdeadbeefu, 0xdeadbeefu, 0755u);
	check("%#x|%#X|%#o", 0u, 0u, 0u);
	check("%#x|%#X|%#o", 0x1fu, 0x1fu, 8u);
	check("%#.0x|%#.0o|%.0x|%.0o", 0u, 0u, 0u, 0u);
	check("%#5.0x|%#5.0o|%#-5.0o|", 0u, 0u, 0u);
	check("%#.3o|%#.2o|%#.1o|%#.5o", 8u, 8u, 8u, 0u);
	check("%#10x|%#-10x|%#010x|%#.6x", 0xabu, 0xabu, 0xabu, 0xabu);
	check("%#10o|%#-10o|%#010o|%#.6o", 0xabu, 0xabu, 0xabu, 0xabu);
	check("%08x|%-8x|%8.4x", 0xabcu, 0xabcu, 0xabcu);
	check("%#llx|%#llo", ULLONG_MAX, ULLONG_MAX);
	check("%x", 0x80000000u);
}

static void test_star(void **state)
{
	check("%*d|%-*d|%*d", 6, 42, 6, 42, -6, 42);
	check("%.*d|%.*d|%.*d", 5, 42, 0, 0, -1, 0);
	check("%*.*d|%*.*x", 8, 4, -42, -8, 3, 0xfu);
	check("%0*d|%0*d", 6, -42, -6, -42);
	check("%.*s|%.*s|%*s|%-*s|", 3, "abcdef", -1, "abcdef", 4, "ab", 4, "ab");
	check("%*c|%-*c|", 3, 'x', 3, 'y');
	check("%*s|", 0, "z");
}

static void test_strings(void **state)
{
	const char *volatile null_str = NULL;

	check("%s|%s", "", "abc");
	check("%10s|%-10s|%2s", "abc", "abc", "abcdef");
	check("%.0s|%.2s|%.10s", "abc", "abc", "abc");
	check("%8.2s|%-8.2s|", "abcdef", "abcdef");
	check("%s", "a considerably longer string that runs on past the end of "
	      "most of the buffers the truncation loop hands the formatter");
	check("%s", null_str);
	check("%10s|%-10s|%.6s|%.9s", null_str, null_str, null_str, null_str);

	/* %.Ns reads at most N bytes: an unterminated array is fine. */
	char unterminated[3] = { 'x', 'y', 'z' };
	check("%.3s|%.2s", unterminated, unterminated);
}

static void test_chars(void **state)
{
	check("%c%c%c", 'a', 'b', 'c');
	check("%5c|%-5c|%1c", 'x', 'x', 'x');
	check("%c", ' ');
	check("%c", (char)0xff);
	check("%c", '%');
	/* A NUL character is one character of output. */
	check("%c", '\0');
	check("a%cb", '\0');
	check("%3c|%-3c|", '\0', '\0');
}

static void test_percent_and_mixed(void **state)
{
	check("%d%%", 50);
	check("[%5s] [%-5d] [%05u] [%#x] [%c] [%%]", "ab", -3, 9u, 255u, 'q');
	check("%s=%llu (%#llx)", "seed", 12345678901234ULL, 12345678901234ULL);
	check("%d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
}

/* %p is fixed width in the kernel: "0x" and 16 hex digits, NULL included,
 * so that addresses line up in diagnostics. glibc prints "(nil)" and no
 * padding, so the expectation is built by hand. */
static void check_ptr(const char *kfmt_str, const char *libc_fmt, void *p)
{
	char got[64], want[64];
	int n;

	n = kfmt(got, sizeof(got), kfmt_str, p);
	snprintf(want, sizeof(want), libc_fmt, (unsigned long)(uintptr_t)p);
	assert_string_equal(got, want);
	assert_int_equal(n, strlen(want));
}

static void test_pointer(void **state)
{
	int local;
	char buf[8];

	check_ptr("%p", "0x%016lx", NULL);
	check_ptr("%p", "0x%016lx", (void *)0x1234);
	check_ptr("%p", "0x%016lx", &local);
	check_ptr("%p", "0x%016lx", (void *)UINTPTR_MAX);
	check_ptr("%p", "0x%016lx", (void *)0xffff800000000000ull);
	check_ptr("%22p|", "    0x%016lx|", (void *)0xabc);
	check_ptr("%-22p|", "0x%016lx    |", (void *)0xabc);
	check_ptr("%022p|", "    0x%016lx|", (void *)0xabc);
	check_ptr("%22p|", "    0x%016lx|", NULL);
	check_ptr("%4p|", "0x%016lx|", (void *)0xabc);

	/* Truncated like anything else. */
	assert_int_equal(kfmt(buf, sizeof(buf), "%p", (void *)0xabc), 18);
	assert_string_equal(buf, "0x00000");
}

/* Conversions the kernel does not know are printed as written, do not
 * consume an argument, and do not stop the rest of the format. */
static void test_unknown_conversion(void **state)
{
	char buf[64];

	assert_int_equal(kfmt(buf, sizeof(buf), "%q", 1), 2);
	assert_string_equal(buf, "%q");
	assert_int_equal(kfmt(buf, sizeof(buf), "[%-5lq]%d", 7), 8);
	assert_string_equal(buf, "[%-5lq]7");
	assert_int_equal(kfmt(buf, sizeof(buf), "%f%s", "after"), 7);
	assert_string_equal(buf, "%fafter");
	assert_int_equal(kfmt(buf, sizeof(buf), "trailing %", 0), 10);
	assert_string_equal(buf, "trailing %");
	assert_int_equal(kfmt(buf, sizeof(buf), "%5", 0), 2);
	assert_string_equal(buf, "%5");
}

static void test_truncation(void **state)
{
	char buf[16];

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(ksnprintf(buf, 5, "%d", 123456), 6);
	assert_string_equal(buf, "1234");
	assert_int_equal((unsigned char)buf[5], CANARY);

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(ksnprintf(buf, 1, "%s", "abc"), 3);
	assert_int_equal(buf[0], '\0');
	assert_int_equal((unsigned char)buf[1], CANARY);

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(ksnprintf(buf, 0, "%s", "abc"), 3);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal((unsigned char)buf[i], CANARY);

	assert_int_equal(ksnprintf(NULL, 0, "%d-%s", -12, "xyz"), 7);

	/* Exactly fitting, and one byte short. */
	assert_int_equal(ksnprintf(buf, 4, "abc"), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(ksnprintf(buf, 3, "abc"), 3);
	assert_string_equal(buf, "ab");
	assert_int_equal(ksnprintf(buf, sizeof(buf), "%s", ""), 0);
	assert_string_equal(buf, "");

	/* Padding counts in the length even where it does not fit. */
	assert_int_equal(ksnprintf(buf, sizeof(buf), "%100d", 1), 100);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(buf[0], ' ');
}

/* A large generated matrix: every flag set, width and precision (literal
 * and *), length modifier and integer conversion, over edge values. */
struct star {
	const char *text;
	bool star;
	int value;
};

static const char *const flag_sets[] = {
	"", "-", "0", "+", " ", "#", "-0", "+0", " 0", "-+", "- ", "+ ",
	"#0", "#-", "-#0+ ",
};

static const struct star widths[] = {
	{ "", false, 0 }, { "1", false, 0 }, { "3", false, 0 },
	{ "8", false, 0 }, { "21", false, 0 },
	{ "*", true, 7 }, { "*", true, -7 }, { "*", true, 0 },
};

static const struct star precs[] = {
	{ "", false, 0 }, { ".", false, 0 }, { ".0", false, 0 },
	{ ".1", false, 0 }, { ".2", false, 0 }, { ".5", false, 0 },
	{ ".20", false, 0 },
	{ ".*", true, -1 }, { ".*", true, 0 }, { ".*", true, 3 },
};

static const char *const lengths[] = { "", "hh", "h", "l", "ll", "z", "t", "j" };

static const u64 values[] = {
	0, 1, 7, 8, 42, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000,
	0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
	0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
	(u64)-42, 1234567890123ull,
};

#define CALL(T) do {							\
	if (nstar == 0)							\
		check_gen(fmt, (T)v);					\
	else if (nstar == 1)						\
		check_gen(fmt, stars[0], (T)v);				\
	else								\
		check_gen(fmt, stars[0], stars[1], (T)v);		\
} while (0)

static void check_int(const char *fmt, char conv, const char *len,
		      const int *stars, int nstar, u64 v)
{
	bool sig = conv == 'd' || conv == 'i';
	bool small = !*len || !strcmp(len, "h") || !strcmp(len, "hh");

	if (small && sig)
		CALL(int);
	else if (small)
		CALL(unsigned int);
	else if (!strcmp(len, "l") && sig)
		CALL(long);
	else if (!strcmp(len, "l"))
		CALL(unsigned long);
	else if (!strcmp(len, "ll") && sig)
		CALL(long long);
	else if (!strcmp(len, "ll"))
		CALL(unsigned long long);
	else if (!strcmp(len, "z") && sig)
		CALL(ssize_t);
	else if (!strcmp(len, "z"))
		CALL(size_t);
	else if (!strcmp(len, "t") && sig)
		CALL(ptrdiff_t);
	else if (!strcmp(len, "t"))
		CALL(size_t);
	else if (sig)
		CALL(intmax_t);
	else
		CALL(uintmax_t);
}

static void test_integer_matrix(void **state)
{
	static const char convs[] = "diuxXo";
	unsigned long checks = 0;

	for (size_t c = 0; convs[c]; c++)
	for (size_t f = 0; f < ARRAY_SIZE(flag_sets); f++)
	for (size_t w = 0; w < ARRAY_SIZE(widths); w++)
	for (size_t p = 0; p < ARRAY_SIZE(precs); p++)
	for (size_t l = 0; l < ARRAY_SIZE(lengths); l++) {
		char fmt[32];
		int stars[2], nstar = 0;

		/* '#' with d, i, u is undefined behaviour in C. */
		if (strchr(flag_sets[f], '#') && strchr("diu", convs[c]))
			continue;
		snprintf(fmt, sizeof(fmt), "<%%%s%s%s%s%c>", flag_sets[f],
			 widths[w].text, precs[p].text, lengths[l], convs[c]);
		if (widths[w].star)
			stars[nstar++] = widths[w].value;
		if (precs[p].star)
			stars[nstar++] = precs[p].value;
		for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
			check_int(fmt, convs[c], lengths[l], stars, nstar,
				  values[v]);
			checks++;
		}
	}
	print_message("%lu integer formats compared with libc\n", checks);
	assert_true(checks > 100000);
}

static void test_string_matrix(void **state)
{
	static const char *const strs[] = { "", "a", "hello", "exactly twenty chars" };
	static const char *const sflags[] = { "", "-" };

	for (size_t f = 0; f < ARRAY_SIZE(sflags); f++)
	for (size_t w = 0; w < ARRAY_SIZE(widths); w++)
	for (size_t p = 0; p < ARRAY_SIZE(precs); p++)
	for (size_t s = 0; s < ARRAY_SIZE(strs); s++) {
		char fmt[32];
		int stars[2], nstar = 0;

		snprintf(fmt, sizeof(fmt), "<%%%s%s%ss>", sflags[f],
			 widths[w].text, precs[p].text);
		if (widths[w].star)
			stars[nstar++] = widths[w].value;
		if (precs[p].star)
			stars[nstar++] = precs[p].value;
		if (nstar == 0)
			check_gen(fmt, strs[s]);
		else if (nstar == 1)
			check_gen(fmt, stars[0], strs[s]);
		else
			check_gen(fmt, stars[0], stars[1], strs[s]);
	}
}

static void test_strlcpy(void **state)
{
	char buf[8];

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal((unsigned char)buf[4], CANARY);

	assert_int_equal(strlcpy(buf, "abcdefghij", sizeof(buf)), 10);
	assert_string_equal(buf, "abcdefg");

	assert_int_equal(strlcpy(buf, "abcdefg", sizeof(buf)), 7);
	assert_string_equal(buf, "abcdefg");

	assert_int_equal(strlcpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(strlcpy(buf, "xyz", 1), 3);
	assert_int_equal(buf[0], '\0');
	assert_int_equal((unsigned char)buf[1], CANARY);

	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(strlcpy(buf, "xyz", 0), 3);
	assert_int_equal((unsigned char)buf[0], CANARY);
	assert_int_equal(strlcpy(NULL, "xyz", 0), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_hex_octal),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_chars),
		cmocka_unit_test(test_percent_and_mixed),
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_unknown_conversion),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_integer_matrix),
		cmocka_unit_test(test_string_matrix),
		cmocka_unit_test(test_strlcpy),
	};

	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
