/* event_log() inline, for the engine's per-write path, where the call
 * itself was a good part of the cost of a write (docs/design.md §12.4).
 * Everything else calls the out-of-line event_log() (events.h). */
#ifndef PT_EVENT_LOG_H
#define PT_EVENT_LOG_H

#include "kernel/events.h"
#include "kernel/percpu.h"

static inline void event_log_inline(enum event_type type, u64 a, u64 b)
{
	struct cpu *c = this_cpu();
	u32 slot = __atomic_fetch_add(&c->ev_head, 1, __ATOMIC_RELAXED) % EVENT_RING;

	c->events[slot] = (struct event){ .when = timestamp(), .a = a, .b = b, .type = type };
}

#endif
