/* Address to symbol lookup over the generated, sorted table. */
#include "kernel/format.h"
#include "kernel/symbols.h"

extern char __text_start[], __text_end[];

void symbolize(u64 addr, char *buf, size_t size)
{
	unsigned lo = 0, hi = ksyms_count;

	if (addr < (u64)(uintptr_t)__text_start || addr >= (u64)(uintptr_t)__text_end ||
	    !ksyms_count || addr < ksyms[0].addr) {
		ksnprintf(buf, size, "%#llx", (unsigned long long)addr);
		return;
	}
	while (hi - lo > 1) {	/* the last symbol at or below addr */
		unsigned mid = lo + (hi - lo) / 2;

		if (ksyms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	ksnprintf(buf, size, "%s+%#llx", ksyms[lo].name,
		  (unsigned long long)(addr - ksyms[lo].addr));
}
