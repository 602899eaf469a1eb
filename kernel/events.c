/* The event trail (see events.h). Writers are the CPU itself, in any
 * context: a slot is claimed with one atomic add, so an NMI that logs in
 * the middle of a logger only takes the next slot. */
#include "kernel/ctrack.h"
#include "kernel/event_log.h"
#include "kernel/format.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/time.h"

static const char *const type_names[EV_TYPES] = {
	"step", "write", "sync", "sync-ipi", "trap", "nmi", "note", "stale", "violation",
	"ct",
};

void event_log(enum event_type type, u64 a, u64 b)
{
	event_log_inline(type, a, b);
}

static void describe(const struct event *e, char *buf, size_t size)
{
	switch (e->type) {
	case EV_STEP:
		ksnprintf(buf, size, "step %s (patch %llu)", patch_step_name(e->a),
			  (unsigned long long)e->b);
		break;
	case EV_WRITE:
		ksnprintf(buf, size, "write at %#llx, first byte %02llx",
			  (unsigned long long)e->a, (unsigned long long)e->b);
		break;
	case EV_TRAP:
		ksnprintf(buf, size, "trap at site %#llx%s", (unsigned long long)e->a,
			  e->b ? " (#UD)" : "");
		break;
	case EV_STALE:
		ksnprintf(buf, size, "PLATFORM DEFECT: stale trap at site %#llx, removed by patch %llu",
			  (unsigned long long)e->a, (unsigned long long)e->b);
		break;
	case EV_VIOLATION:
		ksnprintf(buf, size, "INVARIANT VIOLATION %llu of this test (CPU %llu)",
			  (unsigned long long)e->a, (unsigned long long)e->b);
		break;
	case EV_CT:
		ct_describe(e->a, e->b, buf, size);
		break;
	default:
		ksnprintf(buf, size, "%s %#llx %#llx", type_names[e->type],
			  (unsigned long long)e->a, (unsigned long long)e->b);
	}
}

void event_dump(unsigned n)
{
	u32 pos[MAX_CPUS] = { 0 };
	u64 start = ~0ull;
	char text[96];

	diag("event trail, the last %u events of all CPUs, oldest first:", n);
	/* Start each CPU at its oldest kept event. */
	for (unsigned i = 0; i < cpus_possible; i++) {
		u32 h = READ_ONCE(cpus[i].ev_head);

		pos[i] = h > EVENT_RING ? h - EVENT_RING : 0;
	}
	u64 total = 0, skip;

	for (unsigned i = 0; i < cpus_possible; i++)
		total += READ_ONCE(cpus[i].ev_head) - pos[i];
	skip = total > n ? total - n : 0;
	for (u64 k = 0; k < total; k++) {
		int best = -1;

		for (unsigned i = 0; i < cpus_possible; i++) {
			if (pos[i] >= READ_ONCE(cpus[i].ev_head))
				continue;
			if (best < 0 || cpus[i].events[pos[i] % EVENT_RING].when <
					cpus[best].events[pos[best] % EVENT_RING].when)
				best = i;
		}
		if (best < 0)
			break;
		const struct event *e = &cpus[best].events[pos[best]++ % EVENT_RING];

		if (k < skip)
			continue;
		if (start == ~0ull)
			start = e->when;
		describe(e, text, sizeof(text));
		diag("  +%8llu ns CPU %d: %s", (unsigned long long)ticks_to_ns(e->when - start),
		     best, text);
	}
}
