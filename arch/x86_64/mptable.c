/*
 * The Intel MultiProcessor Specification 1.4 tables, for machines without
 * ACPI (acpi.c decides). Only processors are taken from them, and the I/O
 * APICs counted; the other base entries are stepped over by their fixed
 * sizes. Section numbers are those of the MP spec 1.4.
 */
#include "arch/x86_64/acpi.h"
#include "kernel/format.h"
#include "kernel/string.h"

/* 4.1: MP Floating Pointer Structure. */
struct __packed mp_floating {
	char sig[4];		/* "_MP_" */
	u32 config;		/* configuration table, 0 if none */
	u8 length;		/* in 16-byte paragraphs: 1 */
	u8 spec_rev;		/* 1: MP 1.1, 4: MP 1.4 */
	u8 checksum;		/* all length * 16 bytes sum to 0 */
	u8 feature[5];		/* [0]: default configuration type, 0 = table present */
};
_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer layout");

/* 4.2: MP Configuration Table Header. */
struct __packed mp_config {
	char sig[4];		/* "PCMP" */
	u16 length;		/* of the base table, header included */
	u8 spec_rev;
	u8 checksum;		/* all `length` bytes sum to 0 */
	char oem[8];
	char product[12];
	u32 oem_table;
	u16 oem_table_size;
	u16 entry_count;	/* base table entries */
	u32 lapic_addr;
	u16 ext_length;
	u8 ext_checksum;
	u8 reserved;
};
_Static_assert(sizeof(struct mp_config) == 44, "MP configuration header layout");

/* 4.3.1: Processor Entries. */
struct __packed mp_processor {
	u8 type;
	u8 apic_id;
	u8 apic_version;
	u8 flags;
	u32 signature, features;
	u32 reserved[2];
};
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry layout");
#define MP_CPU_ENABLED (1u << 0)	/* EN */
#define MP_CPU_BSP (1u << 1)		/* BP */

/* 4.3.3: I/O APIC Entries. */
struct __packed mp_ioapic {
	u8 type, id, version, flags;
	u32 addr;
};
#define MP_IOAPIC_ENABLED (1u << 0)	/* EN: 0 means do not touch it */

/* 4.3: base table entry types. */
enum {
	MP_PROCESSOR = 0,	/* 20 bytes */
	MP_BUS = 1,		/* 8 bytes, 4.3.2 */
	MP_IOAPIC = 2,		/* 8 bytes, 4.3.3 */
	MP_IO_INTR = 3,		/* 8 bytes, 4.3.4 */
	MP_LOCAL_INTR = 4,	/* 8 bytes, 4.3.5 */
};

#define MP_ALIGN 16		/* 4.1: on a 16-byte boundary */
#define MP_SCAN_LEN 1024	/* chapter 4: the first / last kilobyte */
#define BDA_BASE_MEM_KIB 0x13	/* BDA word: base memory size in KiB */
#define BASE_MEM_DEFAULT_KIB 640
#define BIOS_ROM_BASE 0xf0000	/* chapter 4: BIOS ROM 0xF0000-0xFFFFF */
#define BIOS_ROM_LEN 0x10000

/* Chapter 5: a default configuration has two processors with local APIC
 * IDs 0 and 1, the local APICs at the default base and one I/O APIC. */
#define MP_DEFAULT_TYPES 7
#define LAPIC_DEFAULT_BASE 0xfee00000u
#define LAPIC_ID_INVALID 0xffu	/* the broadcast ID, as in acpi.c */

/* Checks the floating pointer whose signature matched at pa. */
static bool floating_ok(u64 pa, char *why, size_t whylen)
{
	const struct mp_floating *fp = fw_phys(pa, sizeof(*fp));
	size_t len;

	if (!fp || !fp->length)
		return false;
	len = (size_t)fp->length * 16;
	fp = fw_phys(pa, len);
	if (!fp)
		return false;
	if (fw_checksum(fp, len)) {
		fw_set_once(why, whylen, "bad checksum of MP floating pointer at %#llx",
			    (unsigned long long)pa);
		return false;
	}
	return true;
}

static u64 scan(u64 base, u64 len, char *why, size_t whylen)
{
	const u8 *area = fw_phys(base, len);

	if (!area)
		return 0;
	for (u64 off = 0; off + sizeof(struct mp_floating) <= len; off += MP_ALIGN)
		if (!memcmp(area + off, "_MP_", 4) && floating_ok(base + off, why, whylen))
			return base + off;
	return 0;
}

/* Chapter 4, in the spec's order: the first KiB of the EBDA, the last KiB
 * of base memory, the BIOS ROM. */
static u64 find_floating(const char **from, char *why, size_t whylen)
{
	u64 ebda = fw_ebda_base(), top, pa;
	unsigned kib = fw_bda_read16(BDA_BASE_MEM_KIB);

	if (kib < 1 || kib > BASE_MEM_DEFAULT_KIB)
		kib = BASE_MEM_DEFAULT_KIB;
	top = (u64)(kib - 1) * KiB;
	*from = "EBDA";
	if (ebda && (pa = scan(ebda, MP_SCAN_LEN, why, whylen)))
		return pa;
	*from = "base memory top";
	if (top != ebda && (pa = scan(top, MP_SCAN_LEN, why, whylen)))
		return pa;
	*from = "BIOS area 0xF0000-0xFFFFF";
	return scan(BIOS_ROM_BASE, BIOS_ROM_LEN, why, whylen);
}

static void default_config(struct platform_cpus *out)
{
	for (u32 id = 0; id < 2; id++) {
		struct cpu_desc c = { .apic_id = id, .enabled = true };

		fw_add_cpu(out, &c);
	}
	out->lapic_phys = LAPIC_DEFAULT_BASE;
	out->ioapic_count = 1;
}

/* 4.3: 0 for a type whose size we do not know (nothing after it can be
 * found). */
static unsigned entry_size(u8 type)
{
	switch (type) {
	case MP_PROCESSOR:
		return sizeof(struct mp_processor);
	case MP_BUS:
	case MP_IOAPIC:
	case MP_IO_INTR:
	case MP_LOCAL_INTR:
		return 8;
	}
	return 0;
}

static void entry(struct platform_cpus *out, const u8 *p)
{
	const struct mp_processor *cpu = (const void *)p;
	const struct mp_ioapic *io = (const void *)p;
	struct cpu_desc c = { 0 };

	if (p[0] == MP_IOAPIC && (io->flags & MP_IOAPIC_ENABLED))
		out->ioapic_count++;
	if (p[0] != MP_PROCESSOR)
		return;
	if (cpu->apic_id == LAPIC_ID_INVALID) {
		out->nr_skipped++;
		return;
	}
	c.apic_id = cpu->apic_id;
	c.enabled = cpu->flags & MP_CPU_ENABLED;
	c.bsp = cpu->flags & MP_CPU_BSP;
	fw_add_cpu(out, &c);
}

static void entries(struct platform_cpus *out, const struct mp_config *h)
{
	const u8 *p = (const u8 *)h;
	unsigned off = sizeof(*h), size;

	for (unsigned i = 0; i < h->entry_count; i++, off += size) {
		if (off >= h->length) {
			fw_note(out, "MP table says %u entries, holds %u", h->entry_count, i);
			return;
		}
		size = entry_size(p[off]);
		if (!size) {
			fw_note(out, "unknown MP entry type %u at offset %u; ignored the rest",
				p[off], off);
			return;
		}
		if (size > h->length - off) {
			fw_note(out, "MP entry at offset %u runs past the table end (%u); ignored",
				off, h->length);
			return;
		}
		entry(out, p + off);
	}
}

static const char mpc[] = "MP configuration table";

static int config_table(struct platform_cpus *out, u64 pa, char *err, size_t errlen)
{
	const struct mp_config *h = fw_phys(pa, sizeof(*h));
	unsigned long long at = pa;
	char got[5];
	u16 len;

	if (!h) {
		ksnprintf(err, errlen, "%s at %#llx is not in readable memory", mpc, at);
		return -1;
	}
	if (memcmp(h->sig, "PCMP", 4)) {
		fw_copy_id(got, sizeof(got), h->sig, 4);
		ksnprintf(err, errlen, "%s at %#llx has signature '%s', not 'PCMP'",
			  mpc, at, got);
		return -1;
	}
	len = h->length;
	h = len >= sizeof(*h) ? fw_phys(pa, len) : NULL;
	if (!h) {
		ksnprintf(err, errlen, "%s at %#llx has bad length %u", mpc, at, len);
		return -1;
	}
	if (fw_checksum(h, len)) {
		ksnprintf(err, errlen, "bad checksum of %s at %#llx", mpc, at);
		return -1;
	}
	out->table_phys = pa;
	out->lapic_phys = h->lapic_addr;
	fw_copy_id(out->oem, sizeof(out->oem), h->oem, sizeof(h->oem));
	entries(out, h);
	if (!out->nr_enabled) {
		ksnprintf(err, errlen, "%s at %#llx lists no enabled processor", mpc, at);
		return -1;
	}
	return 0;
}

int mptable_find_cpus(struct platform_cpus *out, char *err, size_t errlen)
{
	const struct mp_floating *fp;
	const char *from;
	u64 pa;

	if (errlen)
		err[0] = '\0';
	pa = find_floating(&from, err, errlen);
	if (!pa) {
		fw_set_once(err, errlen,
			    "no MP floating pointer in the EBDA, base memory top or 0xF0000-0xFFFFF");
		return -1;
	}
	if (errlen && err[0]) {
		fw_note(out, "%s; used the one at %#llx", err, (unsigned long long)pa);
		err[0] = '\0';
	}
	fp = fw_phys(pa, sizeof(*fp));	/* non-NULL: the scan read it */
	out->source = "MP floating table";
	out->rsdp_from = from;
	out->root_phys = pa;
	/* 3.6.2: an MP system boots in PIC or virtual wire mode, both built
	 * on the PC/AT 8259As. */
	out->pcat_compat = true;
	if (fp->feature[0] > MP_DEFAULT_TYPES) {
		ksnprintf(err, errlen,
			  "MP floating pointer at %#llx names default configuration %u (1-%u exist)",
			  (unsigned long long)pa, fp->feature[0], MP_DEFAULT_TYPES);
		return -1;
	}
	if (fp->feature[0]) {
		default_config(out);
		return 0;
	}
	if (!fp->config) {
		ksnprintf(err, errlen, "MP floating pointer at %#llx gives no configuration table",
			  (unsigned long long)pa);
		return -1;
	}
	return config_table(out, fp->config, err, errlen);
}
