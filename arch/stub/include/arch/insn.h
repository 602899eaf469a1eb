/* The stub architecture's <arch/insn.h> (see inline.h beside it): an
 * instruction with only the members kernel/arch.h promises, and a length
 * limit unlike x86's, so that generic code cannot assume either. */
#ifndef PT_STUB_ARCH_INSN_H
#define PT_STUB_ARCH_INSN_H

#include "kernel/types.h"

#define INSN_MAX 4

enum insn_kind { INSN_STUB };

struct insn {
	enum insn_kind kind;
	u8 len;
};

#endif
