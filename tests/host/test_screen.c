/* Host unit tests of kernel/screen.c, the screen console's text grid:
 * text reaches the cells, a context that finds the screen lock taken (an
 * NMI on a drawing CPU) returns at once and leaves its text to the holder,
 * the verdict screen's large letters, colour and kept lines, and a full
 * ring drops text instead of waiting. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kernel/types.h"

/* What screen.c takes from the arch and the rest of the kernel. */
static inline void cpu_relax(void)
{
}

static u64 fake_ticks;
static inline u64 timestamp(void)
{
	return fake_ticks;
}

u64 ticks_per_ms;	/* 0: no throttling */
const char *ticks_source = "host";

void delay_ns(u64 ns)
{
}

int this_cpu_id(void)
{
	return 0;
}

void diag(const char *fmt, ...)
{
}

#define ROWS 25
#define COLS 80
static u16 cells[ROWS][COLS];
static unsigned puts;

static void fake_put(unsigned row, unsigned col, u8 ch, u8 attr)
{
	cells[row][col] = ch | attr << 8;
	puts++;
}

#include "kernel/screen.h"
static struct screen_dev fake = { "fake 80x25", COLS, ROWS, fake_put };

const struct screen_dev *arch_screen_probe(void)
{
	return &fake;
}

#include "kernel/font8x16.c"
#include "kernel/screen.c"

static void row_text(unsigned r, char *out)
{
	for (unsigned c = 0; c < COLS; c++)
		out[c] = (char)(cells[r][c] & 0xff);
	out[COLS] = '\0';
	for (int c = COLS - 1; c >= 0 && out[c] == ' '; c--)
		out[c] = '\0';
}

static bool screen_has(const char *text, unsigned *row)
{
	char line[COLS + 1];

	for (unsigned r = 0; r < ROWS; r++) {
		row_text(r, line);
		if (strstr(line, text)) {
			if (row)
				*row = r;
			return true;
		}
	}
	return false;
}

static void print(const char *s)
{
	screen_feed(s, strlen(s));
	screen_drain();
}

static void on_alarm(int sig)
{
	fail_msg("screen_drain waited for the screen lock");
}

static int setup(void **state)
{
	static bool once;

	if (!once) {
		screen_init(true);
		once = true;
	}
	signal(SIGALRM, on_alarm);
	/* A test that failed while holding the lock must not hang the next. */
	screen_lock = (struct spinlock)SPINLOCK_INIT;
	return 0;
}

static void test_text_reaches_cells(void **state)
{
	print("# hello screen\nok 1 - boot.x\n");
	assert_true(screen_has("# hello screen", NULL));
	assert_true(screen_has("ok 1 - boot.x", NULL));
}

/* An NMI that prints while its CPU draws: the lock is taken, the drain
 * must return at once without drawing, and the holder draws it after. */
static void test_locked_screen_never_waits(void **state)
{
	unsigned before;

	assert_true(spin_trylock(&screen_lock));
	before = puts;
	alarm(2);
	print("# from an NMI\n");
	alarm(0);
	assert_int_equal(puts, before);
	assert_false(screen_has("# from an NMI", NULL));
	spin_unlock(&screen_lock);
	screen_drain();
	assert_true(screen_has("# from an NMI", NULL));
}

static void test_failure_lines_red(void **state)
{
	unsigned r;

	print("not ok 2 - poke.x\n");
	assert_true(screen_has("not ok 2 - poke.x", &r));
	assert_int_equal(cells[r][0] >> 8, SC_LIGHT_RED);
}

static void test_verdict_screen(void **state)
{
	unsigned r, blocks = 0;

	print("# seed: 7 (given; replay with seed=7)\n# cpus: 4 online of 4 started (APIC xAPIC)\n");
	print("poketorture: End of test: FAILURE (1 passed, 1 failed, 0 skipped)\n");
	for (r = 1; r <= 7; r++)
		for (unsigned c = 0; c < COLS; c++)
			if ((cells[r][c] & 0xff) == SCREEN_FULL_BLOCK) {
				assert_int_equal(cells[r][c] >> 8, SC_LIGHT_RED);
				blocks++;
			}
	assert_true(blocks > 50);
	assert_true(screen_has("poketorture: End of test: FAILURE (1 passed, 1 failed, 0 skipped)", &r));
	assert_int_equal(r, 9);
	assert_int_equal(cells[r][0] >> 8, SC_LIGHT_RED);
	assert_true(screen_has("# seed: 7", NULL));
	assert_true(screen_has("# cpus: 4 online", NULL));
	assert_true(screen_has("not ok 2 - poke.x", NULL));	/* a last line */
	/* Later output stays on the bottom row. */
	print("# halted\n# more\n");
	assert_true(screen_has("poketorture: End of test: FAILURE", &r));
	assert_int_equal(r, 9);
}

static void test_full_ring_drops(void **state)
{
	static char big[RING + 100];

	memset(big, 'x', sizeof(big));
	screen_feed(big, sizeof(big));
	assert_int_equal(ring_dropped, 100);
	screen_drain();
	assert_int_equal(ring_tail, ring_head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_text_reaches_cells, setup),
		cmocka_unit_test_setup(test_locked_screen_never_waits, setup),
		cmocka_unit_test_setup(test_failure_lines_red, setup),
		cmocka_unit_test_setup(test_verdict_screen, setup),
		cmocka_unit_test_setup(test_full_ring_drops, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
