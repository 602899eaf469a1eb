/*
 * Which CPUs the firmware describes: ACPI's MADT, or the Intel MP table on
 * machines without ACPI. Only the firmware's own tables are read (never
 * QEMU's fw_cfg), so the same image works on real machines.
 */
#ifndef PT_X86_ACPI_H
#define PT_X86_ACPI_H

#include "kernel/bootinfo.h"

#define CPU_DESC_MAX 1024

struct cpu_desc {
	u32 apic_id;		/* 32-bit: x2APIC IDs can exceed 255 */
	u32 acpi_uid;		/* processor UID (0 for MP table) */
	bool enabled;		/* usable now */
	bool online_capable;	/* disabled but may be hot-added (ACPI 6.3 flag bit 1) */
	bool x2apic_entry;	/* came from a Local x2APIC structure */
	bool bsp;		/* MP table only: the boot processor flag; ACPI
				 * does not say, read the running CPU's APIC ID */
};

struct platform_cpus {
	const char *source;	/* "ACPI MADT via XSDT", "ACPI MADT via RSDT", "MP floating table" */
	const char *rsdp_from;	/* "Multiboot2 tag", "EBDA", "BIOS area 0xE0000-0xFFFFF";
				 * MP source: where the floating pointer was,
				 * "EBDA", "base memory top", "BIOS area 0xF0000-0xFFFFF" */
	u64 lapic_phys;		/* local APIC MMIO base (MADT field, or Local APIC Address Override entry type 5) */
	bool pcat_compat;	/* MADT flags bit 0: legacy 8259s present */
	struct cpu_desc cpu[CPU_DESC_MAX];
	unsigned nr_cpu;	/* entries filled, enabled or not */
	u32 ioapic_count;
	char oem[7];		/* RSDP OEM ID (MP: configuration table OEM ID), trailing blanks cut */

	u64 root_phys;		/* RSDP or MP floating pointer; 0 for the Multiboot2 copy */
	u64 table_phys;		/* MADT or MP configuration table; 0 for an MP default configuration */
	unsigned nr_enabled;	/* of nr_cpu, enabled */
	bool truncated;		/* more than CPU_DESC_MAX CPUs: the rest dropped */
	unsigned nr_skipped;	/* CPU entries ignored: invalid APIC ID, or an ID listed twice */
	char note[128];		/* the first non-fatal oddity in the tables, "" if none */
};

/* Finds the CPUs the firmware describes. Returns 0, or -1 with err set to a
 * one-line reason (no RSDP, bad checksum of table X at ADDR, no MADT and no
 * MP table, ...).
 * In the kernel: call on the boot CPU after paging_init() and before other
 * CPUs run. Firmware tables are reached with phys_map(), which leaves them
 * identity-mapped; page 0 (the BIOS data area) is mapped only while it is
 * read and unmapped again, so NULL dereferences keep faulting. */
int platform_find_cpus(const struct boot_info *bi, struct platform_cpus *out,
		       char *err, size_t errlen);

/* Shared by acpi.c and mptable.c, not for other callers. */

/* [pa, pa + len) of physical memory, readable, or NULL. */
const void *fw_phys(u64 pa, size_t len);
/* A 16-bit field of the BIOS data area at 0x400 + off; 0 if unreadable. */
u16 fw_bda_read16(unsigned off);
/* The EBDA's base from the BDA, or 0 when it names none. */
u64 fw_ebda_base(void);
/* The 8-bit sum of len bytes: 0 for a valid ACPI or MP structure. */
u8 fw_checksum(const void *p, size_t len);
/* Records a CPU, dropping an APIC ID seen before (counted in nr_skipped). */
void fw_add_cpu(struct platform_cpus *out, const struct cpu_desc *c);
/* Formats into buf unless it already holds text: keeps the first reason. */
void fw_set_once(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
/* Sets out->note unless an earlier oddity already did. */
void fw_note(struct platform_cpus *out, const char *fmt, ...) __printf(2, 3);
/* Copies a blank-padded firmware ID string and cuts the blanks. */
void fw_copy_id(char *dst, size_t size, const char *src, size_t len);

/* Fills out from the MP table (mptable.c); 0, or -1 with err set. */
int mptable_find_cpus(struct platform_cpus *out, char *err, size_t errlen);

#ifdef PT_HOST
/* The host tests' stand-in for physical memory: a pointer to
 * [pa, pa + len), or NULL where the test has no memory. */
extern const void *host_phys(u64 pa, size_t len);
#endif

#endif
