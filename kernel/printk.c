/*
 * printk: format on the caller's stack, then write the whole text under
 * the console lock, so that lines from different CPUs never interleave.
 *
 * NMI safety: an NMI (or any trap) that interrupts this CPU while it holds
 * the console lock must not wait for it: the holder is the very code it
 * interrupted. Such output goes to this CPU's deferral ring and the next
 * printk on this CPU writes it out. Waiting for a lock held by another CPU
 * is fine, unless that CPU is dead: after a generous budget the lock is
 * taken over, and the output says so.
 */
#include "kernel/format.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/screen.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"

#define LINE_MAX 1024
#define LOCK_SPINS (1u << 26)	/* well past any honest holder */

bool printk_verbose;
static struct spinlock console_lock = SPINLOCK_INIT;

int this_cpu_id(void)
{
	return this_cpu()->id;
}

/* Serial first, then the screen's queue, which costs a copy
 * (kernel/screen.c draws after the console lock is dropped). */
static void console_out(const char *s, size_t n)
{
	arch_console_write(s, n);
	screen_feed(s, n);
}

static void defer(struct cpu *c, const char *s, size_t n)
{
	/* Reserve atomically: a nested NMI may defer in the middle of ours. */
	u32 head = __atomic_fetch_add(&c->defer_head, n, __ATOMIC_RELAXED);

	for (size_t i = 0; i < n; i++) {
		if (head + i - READ_ONCE(c->defer_tail) >= DEFER_BUF) {
			__atomic_fetch_add(&c->defer_dropped, n - i, __ATOMIC_RELAXED);
			return;
		}
		c->defer_buf[(head + i) % DEFER_BUF] = s[i];
	}
}

/* Called with the console lock held. */
static void flush_deferred(struct cpu *c)
{
	char note[64];
	u32 dropped;

	while (READ_ONCE(c->defer_tail) != READ_ONCE(c->defer_head)) {
		u32 t = c->defer_tail;

		console_out(&c->defer_buf[t % DEFER_BUF], 1);
		WRITE_ONCE(c->defer_tail, t + 1);
	}
	dropped = __atomic_exchange_n(&c->defer_dropped, 0, __ATOMIC_RELAXED);
	if (dropped) {
		int n = ksnprintf(note, sizeof(note),
				  "# [printk: %u bytes of NMI output dropped]\n", dropped);
		console_out(note, n);
	}
}

static void console_emit(const char *s, size_t n)
{
	struct cpu *c = this_cpu();
	bool stolen = false;
	unsigned spins = 0;

	if (spin_held_by_me(&console_lock)) {
		defer(c, s, n);
		return;
	}
	while (!spin_trylock(&console_lock)) {
		if (++spins == LOCK_SPINS) {
			stolen = true;	/* the holder is dead: say so */
			break;
		}
		cpu_relax();
	}
	if (stolen)
		console_out("# [printk: console lock taken over]\n", 37);
	flush_deferred(c);
	console_out(s, n);
	flush_deferred(c);
	if (!stolen)
		spin_unlock(&console_lock);
	screen_drain();
}

void vprintk(const char *fmt, va_list ap)
{
	char buf[LINE_MAX];
	int n = kvsnprintf(buf, sizeof(buf), fmt, ap);

	console_emit(buf, MIN((size_t)n, sizeof(buf) - 1));
}

void printk(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintk(fmt, ap);
	va_end(ap);
}

/* Prefixes every line with "# " and ends the text with a newline. */
void vdiag(const char *fmt, va_list ap)
{
	char text[LINE_MAX], out[LINE_MAX + 64];
	size_t o = 0;
	bool bol = true;

	kvsnprintf(text, sizeof(text), fmt, ap);
	for (const char *p = text; *p && o + 4 < sizeof(out); p++) {
		if (bol) {
			out[o++] = '#';
			out[o++] = ' ';
		}
		out[o++] = *p;
		bol = *p == '\n';
	}
	if (!bol || o == 0) {
		if (o == 0) {
			out[o++] = '#';
		}
		out[o++] = '\n';
	}
	console_emit(out, o);
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(fmt, ap);
	va_end(ap);
}

void vdiag_verbose(const char *fmt, va_list ap)
{
	if (printk_verbose)
		vdiag(fmt, ap);
}

void diag_verbose(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag_verbose(fmt, ap);
	va_end(ap);
}
