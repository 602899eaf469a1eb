/* TAP version 13 (testanything.org/tap-version-13-specification). */
#include "kernel/tap.h"
#include "kernel/format.h"

enum test_status test_status_merge(enum test_status a, enum test_status b)
{
	return a > b ? a : b;
}

const char *test_status_name(enum test_status s)
{
	static const char *const names[] = { "none", "pass", "skip", "fail", "error" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

void tap_init(struct tap *t, void (*emit)(const char *line, void *ctx), void *ctx)
{
	*t = (struct tap){ .emit = emit, .ctx = ctx, .next = 1 };
}

static void emitf(struct tap *t, const char *fmt, ...) __printf(2, 3);
static void emitf(struct tap *t, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	t->emit(line, t->ctx);
}

void tap_header(struct tap *t)
{
	emitf(t, "TAP version 13");
}

void tap_plan(struct tap *t, unsigned count)
{
	t->planned = count;
	emitf(t, "1..%u", count);
}

void tap_result(struct tap *t, const char *name, enum test_status st,
		const char *reason)
{
	unsigned n = t->next++;

	switch (st) {
	case TEST_PASS:
		t->passed++;
		emitf(t, "ok %u - %s", n, name);
		break;
	case TEST_SKIP:
		t->skipped++;
		emitf(t, "ok %u - %s # SKIP %s", n, name,
		      reason && *reason ? reason : "no reason given");
		break;
	default:	/* fail, error, or nothing reported */
		t->failed++;
		emitf(t, "not ok %u - %s", n, name);
		break;
	}
}

bool tap_success(const struct tap *t)
{
	return t->failed == 0 && t->next - 1 == t->planned;
}

void tap_final(struct tap *t)
{
	emitf(t, "poketorture: End of test: %s (%u passed, %u failed, %u skipped)",
	      tap_success(t) ? "SUCCESS" : "FAILURE", t->passed, t->failed,
	      t->skipped);
}
