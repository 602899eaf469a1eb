/* What the boot loader told us, copied into the kernel's own memory before
 * anything can overwrite the loader's structures. */
#ifndef PT_BOOTINFO_H
#define PT_BOOTINFO_H

#include "kernel/types.h"

enum mem_type {
	MEM_USABLE = 1,
	MEM_RESERVED = 2,
	MEM_ACPI_RECLAIMABLE = 3,
	MEM_ACPI_NVS = 4,
	MEM_BAD = 5,
};

struct mem_region {
	u64 base, len;
	u32 type;
};

#define BOOT_MEM_MAX 128
#define BOOT_CMDLINE_MAX 1024

struct boot_info {
	int protocol;			/* 1 = Multiboot, 2 = Multiboot2 */
	char loader[64];
	char cmdline[BOOT_CMDLINE_MAX];
	bool cmdline_truncated;
	struct mem_region mem[BOOT_MEM_MAX];
	unsigned nr_mem;
	bool mem_truncated;
	u8 rsdp[36];			/* ACPI RSDP copy from the loader */
	unsigned rsdp_len;		/* 0: none given */
};

extern struct boot_info boot_info;

const char *mem_type_name(u32 type);
u64 mem_total(const struct boot_info *bi, u32 type);

#endif
