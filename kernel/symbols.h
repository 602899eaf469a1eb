/* The kernel's text symbols, for symbolized reports (tests/tools/mksymtab.sh). */
#ifndef PT_SYMBOLS_H
#define PT_SYMBOLS_H

#include "kernel/types.h"

struct ksym {
	u64 addr;
	const char *name;
};

extern const struct ksym ksyms[];
extern const unsigned ksyms_count;

/* "name+0xoff" for addr, or the bare address when no symbol covers it. */
void symbolize(u64 addr, char *buf, size_t size);

#endif
