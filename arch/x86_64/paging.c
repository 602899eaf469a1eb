/*
 * Page tables. The boot code's 2 MiB identity map of the first 4 GiB is
 * replaced by tables built from the memory map:
 *   - every region the loader reported, identity mapped, non-executable,
 *     reserved ranges uncached (they may be device memory);
 *   - the kernel image in 4 KiB pages: text read-only and executable,
 *     read-only data read-only, data and .bss writable;
 *   - page 0 and every stack's guard page unmapped;
 *   - an alias window at the top of the address space where each CPU maps
 *     code pages writable when it patches them. The executable mapping
 *     stays read-only, so a stray write to code faults.
 * Entry bits: SDM vol. 3A, 4.5 (tables 4-14 to 4-20).
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "kernel/fault.h"
#include "kernel/mem.h"
#include "kernel/percpu.h"
#include "kernel/string.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
#define LARGE_SIZE (2 * MiB)


extern char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __kernel_end[], boot_stack_guard[];

static u64 *pml4;
static bool nx_supported;

bool paging_has_nx(void)
{
	return nx_supported;
}

static unsigned index_of(u64 va, int level)
{
	return (va >> (12 + 9 * (level - 1))) & 0x1ff;
}

static u64 leaf_bits(unsigned flags)
{
	u64 bits = PTE_P;

	if (flags & MAP_WRITE)
		bits |= PTE_W;
	if (!(flags & MAP_EXEC) && nx_supported)
		bits |= PTE_NX;
	if (flags & MAP_UNCACHED)
		bits |= PTE_PCD | PTE_PWT;
	return bits;
}

/* Replaces the 2 MiB page at *pde by a table of 4 KiB pages with the same
 * attributes (the PAT bit moves from 12 to 7; we never set it). */
static void split_large(u64 *pde)
{
	u64 *pt = page_alloc(1);
	u64 base = *pde & PTE_ADDR & ~(LARGE_SIZE - 1);
	u64 attr = *pde & ~PTE_ADDR & ~PTE_PS;

	for (unsigned i = 0; i < 512; i++)
		pt[i] = (base + i * PAGE_SIZE) | attr;
	*pde = (u64)(uintptr_t)pt | PTE_P | PTE_W;
}

/* The entry for va at `level` (1 = 4 KiB PTE, 2 = PDE), creating tables
 * on the way; splits a 2 MiB page when a 4 KiB entry is wanted. */
static u64 *walk_create(u64 va, int level)
{
	u64 *table = pml4;

	for (int l = 4; l > level; l--) {
		u64 *e = &table[index_of(va, l)];

		if (!(*e & PTE_P))
			*e = (u64)(uintptr_t)page_alloc(1) | PTE_P | PTE_W;
		else if (*e & PTE_PS)
			split_large(e);
		table = (u64 *)(uintptr_t)(*e & PTE_ADDR);
	}
	return &table[index_of(va, level)];
}

/* The leaf entry mapping va, or NULL; *level says its size. */
static u64 *walk_find(u64 va, int *level)
{
	u64 *table = pml4;

	for (int l = 4; l >= 1; l--) {
		u64 *e = &table[index_of(va, l)];

		if (!(*e & PTE_P))
			return NULL;
		if (l == 1 || (l == 2 && (*e & PTE_PS))) {
			*level = l;
			return e;
		}
		table = (u64 *)(uintptr_t)(*e & PTE_ADDR);
	}
	return NULL;
}

void map_page(u64 va, u64 pa, unsigned flags)
{
	*walk_create(va, 1) = (pa & PTE_ADDR) | leaf_bits(flags);
	invlpg((void *)(uintptr_t)va);
}

void unmap_page(u64 va)
{
	*walk_create(va, 1) = 0;
	invlpg((void *)(uintptr_t)va);
}

static bool canonical(u64 va)
{
	return (u64)((s64)(va << 16) >> 16) == va;
}

struct page_info paging_query(u64 va)
{
	struct page_info pi = { 0 };
	int level;
	u64 *e, mask;

	if (!pml4 || !canonical(va) || !(e = walk_find(va, &level)))
		return pi;
	pi.present = true;
	pi.writable = *e & PTE_W;
	pi.executable = !(*e & PTE_NX);
	pi.large = level == 2;
	mask = level == 2 ? LARGE_SIZE - 1 : PAGE_SIZE - 1;
	pi.phys = (*e & PTE_ADDR & ~mask) + (va & mask);
	return pi;
}

bool paging_is_mapped(u64 va)
{
	if (!pml4)	/* boot tables: the first 4 GiB */
		return va >= PAGE_SIZE && va < 4 * GiB;
	return paging_query(va).present;
}

/* Identity-maps [base, base + len) with 2 MiB pages where they fit. */
static void map_identity(u64 base, u64 len, unsigned flags)
{
	u64 va = ALIGN_DOWN(base, PAGE_SIZE);
	u64 end = ALIGN_UP(base + len, PAGE_SIZE);

	while (va < end) {
		if (!(va & (LARGE_SIZE - 1)) && va + LARGE_SIZE <= end) {
			u64 *pde = walk_create(va, 2);

			if (!(*pde & PTE_P) || (*pde & PTE_PS)) {
				*pde = va | leaf_bits(flags) | PTE_PS;
				va += LARGE_SIZE;
				continue;
			}
		}
		*walk_create(va, 1) = va | leaf_bits(flags);
		va += PAGE_SIZE;
	}
}

static void map_kernel_range(const void *start, const void *end, unsigned flags)
{
	for (u64 va = (u64)(uintptr_t)start; va < (u64)(uintptr_t)end; va += PAGE_SIZE)
		*walk_create(va, 1) = va | leaf_bits(flags);
}

void *map_mmio(u64 pa, size_t len)
{
	for (u64 va = ALIGN_DOWN(pa, PAGE_SIZE); va < pa + len; va += PAGE_SIZE)
		map_page(va, va, MAP_WRITE | MAP_UNCACHED);
	return (void *)(uintptr_t)pa;
}

void *phys_map(u64 pa, size_t len)
{
	for (u64 va = ALIGN_DOWN(pa, PAGE_SIZE); va < pa + len; va += PAGE_SIZE)
		if (!paging_is_mapped(va))
			map_page(va, va, MAP_WRITE);
	return (void *)(uintptr_t)pa;
}

static u64 alias_slot(unsigned cpu)
{
	return ALIAS_BASE + (u64)cpu * ALIAS_SLOT_PAGES * PAGE_SIZE;
}

u64 alias_mapped[MAX_CPUS][2];
/* The page table entries of each CPU's alias window, found once: its
 * tables are made at boot, 4 KiB pages, and never split or freed. */
static u64 *alias_pte[MAX_CPUS][2];

/* The last text page each CPU mapped and its physical address: a stream
 * of patches maps the same page again and again, and text mappings never
 * change. */
static u64 alias_last_page[MAX_CPUS], alias_last_phys[MAX_CPUS];

static u64 text_phys(unsigned cpu, u64 page)
{
	if (alias_last_page[cpu] != page) {
		alias_last_phys[cpu] = paging_query(page).phys & PTE_ADDR;
		alias_last_page[cpu] = page;
	}
	return alias_last_phys[cpu];
}

/* Only a present entry needs an INVLPG when it changes: no TLB or
 * paging-structure cache entry is made from a not-present one (Intel SDM
 * Vol. 3A §4.10.4.3, the P flag from 0 to 1), and the unmap that made it
 * not present invalidated. Under MTTCG an INVLPG costs about 320 ns
 * (docs/design.md §12.4), a patch's map and unmap paid two. */
static void alias_set(unsigned cpu, unsigned k, u64 page)
{
	u64 slot = alias_slot(cpu) + k * PAGE_SIZE;
	u64 *m = &alias_mapped[cpu][k];

	if (*m == page)
		return;
	if (!alias_pte[cpu][k])
		alias_pte[cpu][k] = walk_create(slot, 1);
	*alias_pte[cpu][k] = page ? text_phys(cpu, page) | leaf_bits(MAP_WRITE) : 0;
	if (*m)
		invlpg((void *)(uintptr_t)slot);
	*m = page;
}

void *text_alias_map_slow(const void *addr, size_t len)
{
	unsigned cpu = this_cpu()->id;
	u64 a = (u64)(uintptr_t)addr, slot = alias_slot(cpu);
	u64 first = ALIGN_DOWN(a, PAGE_SIZE);
	u64 last = ALIGN_DOWN(a + (len ? len - 1 : 0), PAGE_SIZE);

	if (last - first > PAGE_SIZE)
		panic("text_alias_map: %zu bytes at %#llx span more than two pages",
		      len, (unsigned long long)a);
	alias_set(cpu, 0, first);
	if (last != first)
		alias_set(cpu, 1, last);
	return (void *)(uintptr_t)(slot + (a - first));
}

void text_alias_unmap(void)
{
	unsigned cpu = this_cpu()->id;

	alias_set(cpu, 0, 0);
	alias_set(cpu, 1, 0);
}

static unsigned region_flags(u32 type)
{
	if (type == MEM_USABLE || type == MEM_ACPI_RECLAIMABLE || type == MEM_ACPI_NVS)
		return MAP_WRITE;
	return MAP_WRITE | MAP_UNCACHED;
}

void paging_init(const struct boot_info *bi)
{
	u64 *tables;

	nx_supported = cpuid(0x80000001, 0).edx & (1u << 20);
	tables = page_alloc(1);
	pml4 = tables;
	/* Low memory (BIOS data, EBDA, option ROMs, firmware tables the
	 * ACPI scan reads) whatever the map says; the VGA window uncached. */
	map_identity(0, 0xa0000, MAP_WRITE);
	map_identity(0xa0000, 0x20000, MAP_WRITE | MAP_UNCACHED);
	map_identity(0xc0000, 0x40000, MAP_WRITE);
	for (unsigned i = 0; i < bi->nr_mem; i++)
		map_identity(bi->mem[i].base, bi->mem[i].len, region_flags(bi->mem[i].type));
	map_kernel_range(__text_start, __text_end, MAP_EXEC);
	map_kernel_range(__rodata_start, __rodata_end, 0);
	map_kernel_range(__data_start, __kernel_end, MAP_WRITE);
	*walk_create(0, 1) = 0;		/* NULL dereferences fault */
	*walk_create((u64)(uintptr_t)boot_stack_guard, 1) = 0;
	/* The alias window's tables exist from the start, so patching never
	 * allocates memory. */
	for (unsigned c = 0; c < MAX_CPUS; c++)
		walk_create(ALIAS_BASE + (u64)c * ALIAS_SLOT_PAGES * PAGE_SIZE, 1);
	write_cr3((u64)(uintptr_t)pml4);
}

void *stack_alloc(size_t size)
{
	unsigned pages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
	u8 *base = page_alloc(pages + 1);

	unmap_page((u64)(uintptr_t)base);	/* the guard */
	return base + (pages + 1) * PAGE_SIZE;
}
