/*
 * The screen console (docs/design.md §9.10).
 *
 * printk hands every byte it sends to serial to screen_feed() while it
 * holds its console lock: the bytes go into a ring, nothing more, so the
 * serial console is never slowed by drawing. After printk releases its
 * lock, screen_drain() takes the screen lock with a trylock only and moves
 * the ring into a text grid, then redraws the cells that changed, at most
 * every PAINT_MS. A context that finds the lock taken (another CPU, or the
 * code an NMI interrupted) leaves its text in the ring for the holder,
 * which looks again after it unlocks: nothing here ever waits.
 *
 * The line "poketorture: End of test: ..." turns the grid into the verdict
 * screen: the verdict in large letters and its colour, the counts, and the
 * banner's lines about the machine and the replay, then the last lines.
 */
#include "kernel/arch.h"
#include "kernel/format.h"
#include "kernel/printk.h"
#include "kernel/screen.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "kernel/time.h"

#define RING 16384
#define PAINT_MS 100
#define LINE 512
#define ATTR_TEXT SC_GREY
#define VERDICT_PREFIX "poketorture: End of test: "

static const struct screen_dev *dev;
static struct spinlock screen_lock = SPINLOCK_INIT;
static char ring[RING];
static u32 ring_head, ring_tail;	/* head: printk's, tail: the drainer's */
static u32 ring_dropped;

static u16 grid[SCREEN_MAX_ROWS][SCREEN_MAX_COLS];	/* ch | attr << 8 */
static u16 shown[SCREEN_MAX_ROWS][SCREEN_MAX_COLS];
static unsigned cur_row, cur_col, line_row;
static char line[LINE];
static size_t line_len;
static u64 last_paint;
static bool verdict_up;

/* Banner lines the verdict screen repeats, by prefix. */
static const char *const kept_prefix[] = {
	"# seed:", "# replay:", "# boot:", "# screen:", "# cpu:", "# cpus:", "# hypervisor:",
};
#define NR_KEPT (sizeof(kept_prefix) / sizeof(kept_prefix[0]))
static char kept[NR_KEPT][LINE];

static void clear_row(unsigned r)
{
	for (unsigned c = 0; c < dev->cols; c++)
		grid[r][c] = ' ' | ATTR_TEXT << 8;
}

static void scroll(void)
{
	unsigned first = verdict_up ? dev->rows - 1 : 0;

	if (!verdict_up)
		memmove(grid[0], grid[1], sizeof(grid[0]) * (dev->rows - 1));
	clear_row(dev->rows - 1);
	cur_row = dev->rows - 1;
	if (line_row > first)
		line_row--;
}

static void newline(void)
{
	cur_col = 0;
	if (cur_row + 1 < dev->rows)
		cur_row++;
	else
		scroll();
}

static void put_char(char ch, u8 attr)
{
	if (ch == '\n') {
		newline();
		return;
	}
	if (ch == '\t')
		ch = ' ';
	if ((u8)ch < 0x20 || (u8)ch >= 0x7f)
		return;
	if (cur_col == dev->cols)
		newline();
	grid[cur_row][cur_col++] = (u8)ch | attr << 8;
}

static void put_text(const char *s, u8 attr)
{
	while (*s)
		put_char(*s++, attr);
}

/* The rows a finished line took get its colour: failures stand out. */
static void colour_line(u8 attr)
{
	for (unsigned r = line_row; r <= cur_row; r++)
		for (unsigned c = 0; c < dev->cols; c++)
			grid[r][c] = (grid[r][c] & 0xff) | attr << 8;
}

/* One letter of the font, each dot of its 5x7 shape a full block. */
static void big_letter(unsigned row, unsigned col, char ch, u8 attr)
{
	for (unsigned y = 0; y < 7; y++) {
		u8 bits = screen_font[(u8)ch][1 + 2 * y];

		for (unsigned x = 0; x < 5; x++)
			if (bits & (0x40 >> x))
				grid[row + y][col + x] = SCREEN_FULL_BLOCK | attr << 8;
	}
}

static void big_word(unsigned row, const char *w, u8 attr)
{
	unsigned len = strlen(w), width = len * 6 - 1;
	unsigned col = dev->cols > width ? (dev->cols - width) / 2 : 0;

	for (unsigned i = 0; i < len && col + 5 <= dev->cols; i++, col += 6)
		big_letter(row, col, w[i], attr);
}

/* The verdict screen: large verdict, the verdict line, the kept banner
 * lines, then as many of the last lines as fit. */
static void show_verdict(const char *verdict_line)
{
	static u16 old[SCREEN_MAX_ROWS][SCREEN_MAX_COLS];
	bool ok = !strncmp(verdict_line + strlen(VERDICT_PREFIX), "SUCCESS", 7);
	u8 attr = ok ? SC_LIGHT_GREEN : SC_LIGHT_RED;
	unsigned old_rows = line_row, from, room;

	memcpy(old, grid, sizeof(grid));
	for (unsigned r = 0; r < dev->rows; r++)
		clear_row(r);
	big_word(1, ok ? "SUCCESS" : "FAILURE", attr);
	cur_row = 9;
	cur_col = 0;
	put_text(verdict_line, attr);
	for (unsigned i = 0; i < NR_KEPT; i++) {
		if (kept[i][0] && cur_row + 2 < dev->rows) {
			newline();
			put_text(kept[i], SC_WHITE);
		}
	}
	newline();
	/* The log's last lines before the verdict, as many as fit. */
	room = cur_row + 2 < dev->rows ? dev->rows - 2 - cur_row : 0;
	from = old_rows > room ? old_rows - room : 0;
	for (unsigned r = from; r < old_rows && cur_row + 2 < dev->rows; r++) {
		cur_row++;
		memcpy(grid[cur_row], old[r], sizeof(grid[0]));
	}
	cur_row = dev->rows - 1;
	cur_col = 0;
	verdict_up = true;
}

static void end_of_line(void)
{
	line[line_len] = '\0';
	if (!strncmp(line, "not ok", 6) || !strncmp(line, "# FAIL", 6))
		colour_line(SC_LIGHT_RED);
	for (unsigned i = 0; i < NR_KEPT; i++)
		if (!strncmp(line, kept_prefix[i], strlen(kept_prefix[i])))
			strlcpy(kept[i], line, LINE);
	if (!strncmp(line, VERDICT_PREFIX, strlen(VERDICT_PREFIX)) && !verdict_up)
		show_verdict(line);
	else
		newline();
	line_len = 0;
	line_row = cur_row;
}

static void consume(char ch)
{
	if (ch == '\r')
		return;
	if (ch == '\n') {
		end_of_line();
		return;
	}
	if (line_len < LINE - 1)
		line[line_len++] = ch;
	put_char(ch, ATTR_TEXT);
}

static void paint(bool force)
{
	u64 now = timestamp();

	if (!force && ticks_per_ms && now - last_paint < ms_to_ticks(PAINT_MS))
		return;
	last_paint = now;
	for (unsigned r = 0; r < dev->rows; r++) {
		for (unsigned c = 0; c < dev->cols; c++) {
			if (grid[r][c] == shown[r][c])
				continue;
			dev->put(r, c, grid[r][c] & 0xff, grid[r][c] >> 8);
			shown[r][c] = grid[r][c];
		}
	}
}

void screen_feed(const char *s, size_t n)
{
	u32 head = ring_head;

	if (!READ_ONCE(dev))
		return;
	for (size_t i = 0; i < n; i++, head++) {
		if (head - READ_ONCE(ring_tail) >= RING) {
			ring_dropped += n - i;
			break;
		}
		ring[head % RING] = s[i];
	}
	__atomic_store_n(&ring_head, head, __ATOMIC_RELEASE);
}

static void drain_locked(bool force)
{
	u32 head = __atomic_load_n(&ring_head, __ATOMIC_ACQUIRE);

	while (ring_tail != head)
		consume(ring[ring_tail++ % RING]);
	__atomic_store_n(&ring_tail, head, __ATOMIC_RELEASE);
	paint(force);
}

void screen_drain(void)
{
	if (!READ_ONCE(dev))
		return;
	do {
		if (!spin_trylock(&screen_lock))
			return;	/* the holder looks again after unlocking */
		drain_locked(false);
		spin_unlock(&screen_lock);
	} while (READ_ONCE(ring_tail) != __atomic_load_n(&ring_head, __ATOMIC_ACQUIRE));
}

static char banner[128];

void screen_banner(void)
{
	diag("screen: %s", banner);
}

void screen_init(bool enabled)
{
	const struct screen_dev *d;

	if (!enabled) {
		strlcpy(banner, "off (screen=off): serial only", sizeof(banner));
		return;
	}
	d = arch_screen_probe();
	if (!d || !d->cols || !d->rows) {
		strlcpy(banner, "none found: serial only", sizeof(banner));
		return;
	}
	/* The grid is ours; a bigger screen keeps its top-left part. */
	static struct screen_dev clipped;
	clipped = *d;
	clipped.cols = MIN(d->cols, SCREEN_MAX_COLS);
	clipped.rows = MIN(d->rows, SCREEN_MAX_ROWS);
	dev = &clipped;
	for (unsigned r = 0; r < dev->rows; r++) {
		clear_row(r);
		for (unsigned c = 0; c < dev->cols; c++)
			shown[r][c] = 0xffff;	/* paint everything once */
	}
	WRITE_ONCE(dev, &clipped);
	ksnprintf(banner, sizeof(banner), "%s, %ux%u characters (screen=off turns it off)",
		  d->name, dev->cols, dev->rows);
}

/* The other CPUs are stopped or parked by now; a screen lock still held
 * is a CPU that died holding it, so after a while it is ignored. */
static void drain_now(void)
{
	unsigned spins = 0;
	bool locked;

	while (!(locked = spin_trylock(&screen_lock)) && ++spins < (1u << 24))
		cpu_relax();
	drain_locked(true);
	if (locked)
		spin_unlock(&screen_lock);
}

void screen_finish(unsigned hold_seconds)
{
	if (!READ_ONCE(dev))
		return;
	drain_now();
	if (ring_dropped)
		diag("screen: %u bytes not shown (the screen fell behind)", ring_dropped);
	if (!hold_seconds)
		return;
	diag("screen: verdict shown; holding it %u s (screen_hold=%u)", hold_seconds, hold_seconds);
	drain_now();
	delay_ns((u64)hold_seconds * 1000000000ull);
}
