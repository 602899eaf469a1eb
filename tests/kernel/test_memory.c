/* boot.memory_map: the loader's memory map, and what we made of it. */
#include "kernel/arch.h"
#include "kernel/bootinfo.h"
#include "kernel/mem.h"
#include "kernel/printk.h"
#include "kernel/test.h"

extern char __kernel_start[], __kernel_end[];

static bool inside_usable(u64 lo, u64 hi)
{
	for (unsigned i = 0; i < boot_info.nr_mem; i++) {
		const struct mem_region *m = &boot_info.mem[i];

		if (m->type == MEM_USABLE && lo >= m->base && hi <= m->base + m->len)
			return true;
	}
	return false;
}

/* Usable RAM must be mapped: its first and last page, and one in the
 * middle (the whole of it would take too long on a big machine). */
static void check_mapped(const struct mem_region *m)
{
	u64 first = ALIGN_UP(m->base, PAGE_SIZE);
	u64 last = ALIGN_DOWN(m->base + m->len - 1, PAGE_SIZE);
	u64 mid = ALIGN_DOWN(first + (last - first) / 2, PAGE_SIZE);

	if (first > last)
		return;
	test_check(arch_addr_mapped(first) || first == 0,
		   "usable page %#llx is not mapped", (unsigned long long)first);
	test_check(arch_addr_mapped(mid), "usable page %#llx is not mapped",
		   (unsigned long long)mid);
	test_check(arch_addr_mapped(last), "usable page %#llx is not mapped",
		   (unsigned long long)last);
}

DEFINE_TEST(boot, memory_map, 1, 0,
	    "the loader's memory map is sane, holds the kernel, and all usable RAM is mapped")
{
	u64 usable = mem_total(&boot_info, MEM_USABLE);
	u64 kstart = (u64)(uintptr_t)__kernel_start, kend = (u64)(uintptr_t)__kernel_end;

	for (unsigned i = 0; i < boot_info.nr_mem; i++) {
		const struct mem_region *m = &boot_info.mem[i];

		diag("  0x%012llx-0x%012llx %10llu KiB %s", (unsigned long long)m->base,
		     (unsigned long long)(m->base + m->len - 1),
		     (unsigned long long)(m->len / KiB), mem_type_name(m->type));
		if (m->type == MEM_USABLE)
			check_mapped(m);
	}
	diag("usable: %llu KiB; kernel image %#llx-%#llx (%llu KiB); allocated %llu KiB, %llu MiB free below 4 GiB",
	     (unsigned long long)(usable / KiB), (unsigned long long)kstart,
	     (unsigned long long)kend, (unsigned long long)((kend - kstart) / KiB),
	     (unsigned long long)(page_alloc_used() / KiB),
	     (unsigned long long)(page_alloc_free() / MiB));
	test_check(boot_info.nr_mem > 0, "the loader gave no memory map");
	test_check(!boot_info.mem_truncated, "the memory map had more than %d regions", BOOT_MEM_MAX);
	test_check(usable >= 8 * MiB, "only %llu KiB usable", (unsigned long long)(usable / KiB));
	test_check(inside_usable(kstart, kend), "the kernel image is not inside usable RAM");
	test_pass();
}
