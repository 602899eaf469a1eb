/* The stub architecture's <arch/defs.h> (see inline.h beside it): limits
 * and types with no meaning but their names. */
#ifndef PT_STUB_ARCH_DEFS_H
#define PT_STUB_ARCH_DEFS_H

#include "kernel/types.h"

#define ARCH_MAX_CPUS 4
#define ARCH_HW_ID_NAME "hardware ID"

struct recovery {
	u64 state[2];
};

struct arch_cpu {
	bool started;
};

struct arch_context {
	u64 state[3];
};

#endif
