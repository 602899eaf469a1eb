/* 4-level paging (SDM vol. 3A, chapter 4). Physical memory is identity
 * mapped; code is only ever written through a per-CPU alias window. */
#ifndef PT_X86_PAGING_H
#define PT_X86_PAGING_H

#include "kernel/bootinfo.h"
#include "kernel/mem.h"
#include "kernel/percpu.h"

#define MAP_WRITE (1u << 0)
#define MAP_EXEC (1u << 1)
#define MAP_UNCACHED (1u << 2)

struct page_info {
	bool present, writable, executable, large;
	u64 phys;
};

void paging_init(const struct boot_info *bi);
bool paging_has_nx(void);
/* 4 KiB mappings; a 2 MiB page in the way is split. Local TLB only: the
 * callers change mappings no other CPU is using. */
void map_page(u64 va, u64 pa, unsigned flags);
void unmap_page(u64 va);
bool paging_is_mapped(u64 va);
struct page_info paging_query(u64 va);
/* Identity-maps [pa, pa + len) read/write, cached, where it is not mapped
 * yet (firmware tables outside the memory map), and returns pa as a
 * pointer. */
void *phys_map(u64 pa, size_t len);
/* Uncached identity mapping for device registers. */
void *map_mmio(u64 pa, size_t len);

/* The alias window: the last 512 GiB slot of the address space, three
 * pages per CPU (two mapped, one hole between neighbours). */
#define ALIAS_BASE 0xffffff8000000000ull
#define ALIAS_SLOT_PAGES 3

/* What each CPU's alias window maps now (two pages; 0: nothing), so that
 * the writes of one patch to the same page(s) map them once. */
extern u64 alias_mapped[MAX_CPUS][2];
void *text_alias_map_slow(const void *addr, size_t len);

/* Maps the page(s) holding [addr, addr + len) writable at this CPU's alias
 * window and returns the alias of addr; len may cross one page boundary.
 * A page already mapped there stays mapped (no remap, no flush) until
 * text_alias_unmap(), which the engine calls when a patch is done. Inline
 * for the common case, every write of a patch after its first to a page. */
static inline void *text_alias_map(const void *addr, size_t len)
{
	unsigned cpu = this_cpu()->id;
	u64 a = (u64)(uintptr_t)addr, page = ALIGN_DOWN(a, PAGE_SIZE);

	if (len && ALIGN_DOWN(a + len - 1, PAGE_SIZE) == page && alias_mapped[cpu][0] == page)
		return (void *)(uintptr_t)(ALIAS_BASE + (u64)cpu * ALIAS_SLOT_PAGES * PAGE_SIZE +
					   (a - page));
	return text_alias_map_slow(addr, len);
}
void text_alias_unmap(void);

#endif
