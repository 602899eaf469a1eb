/* Physical page allocation: a bump allocator over the usable RAM the boot
 * loader reported, above the kernel image. Nothing is ever freed: the
 * kernel allocates its page tables, stacks and per-CPU areas once. */
#ifndef PT_MEM_H
#define PT_MEM_H

#include "kernel/bootinfo.h"

#define PAGE_SIZE 4096ull

void page_alloc_init(const struct boot_info *bi);
/* Zeroed, page-aligned, identity-mapped; panics when memory runs out. */
void *page_alloc(unsigned pages);
u64 page_alloc_used(void);
u64 page_alloc_free(void);

/* A stack of `size` bytes with an unmapped guard page below it; returns
 * the top (the initial stack pointer). */
void *stack_alloc(size_t size);

#endif
