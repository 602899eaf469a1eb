/* Physical page allocator (see mem.h). */
#include "kernel/fault.h"
#include "kernel/mem.h"
#include "kernel/string.h"

extern char __kernel_end[];

/* Allocations stay below 4 GiB: the boot page tables map only that much
 * until paging_init has built the real ones out of these pages. */
#define ALLOC_LIMIT (4 * GiB)

static unsigned region;		/* index into boot_info.mem */
static u64 next, limit;		/* current usable range */
static u64 used;
static const struct boot_info *info;

static bool next_region(void)
{
	u64 floor = ALIGN_UP((u64)(uintptr_t)__kernel_end, PAGE_SIZE);

	for (; region < info->nr_mem; region++) {
		const struct mem_region *m = &info->mem[region];
		u64 lo = MAX(ALIGN_UP(m->base, PAGE_SIZE), floor);
		u64 hi = MIN(ALIGN_DOWN(m->base + m->len, PAGE_SIZE), ALLOC_LIMIT);

		if (m->type != MEM_USABLE || lo >= hi)
			continue;
		next = lo;
		limit = hi;
		region++;
		return true;
	}
	return false;
}

void page_alloc_init(const struct boot_info *bi)
{
	info = bi;
	region = 0;
	next = limit = 0;
	if (!next_region())
		panic("no usable memory above the kernel in the boot memory map");
}

void *page_alloc(unsigned pages)
{
	u64 size = pages * PAGE_SIZE;
	void *p;

	while (next + size > limit)
		if (!next_region())
			panic("out of memory allocating %u pages (%llu KiB used)",
			      pages, (unsigned long long)(used / KiB));
	p = (void *)(uintptr_t)next;
	next += size;
	used += size;
	memset(p, 0, size);
	return p;
}

u64 page_alloc_used(void)
{
	return used;
}

u64 page_alloc_free(void)
{
	u64 free = limit - next;

	for (unsigned i = region; i < info->nr_mem; i++) {
		const struct mem_region *m = &info->mem[i];
		u64 hi = MIN(m->base + m->len, ALLOC_LIMIT);

		if (m->type == MEM_USABLE && hi > m->base)
			free += hi - m->base;
	}
	return free;
}

/* Names of enum mem_type (bootinfo.h), for the memory map's report. */
const char *mem_type_name(u32 type)
{
	static const char *const names[] = {
		"?", "usable", "reserved", "ACPI reclaimable", "ACPI NVS", "bad",
	};

	return type < ARRAY_SIZE(names) ? names[type] : "?";
}

u64 mem_total(const struct boot_info *bi, u32 type)
{
	u64 sum = 0;

	for (unsigned i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type == type)
			sum += bi->mem[i].len;
	return sum;
}
