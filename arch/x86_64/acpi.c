/*
 * Which CPUs the firmware describes. ACPI first: the RSDP from the
 * Multiboot2 tag, else from the BIOS areas; then the XSDT or RSDT; then the
 * MADT's Local APIC and Local x2APIC structures. The MP table (mptable.c)
 * only when there is no ACPI. Nothing in a structure is believed before its
 * signature, its length against readable memory and its checksum are: the
 * same image boots real machines, whose firmware may be wrong.
 *
 * Section numbers are those of the ACPI 6.5 specification.
 */
#include "arch/x86_64/acpi.h"
#include "kernel/format.h"
#include "kernel/string.h"
#ifndef PT_HOST
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#endif

/* ------------------------------------------------------------------ */
/* Physical memory, and helpers shared with mptable.c                  */

#define BDA_BASE 0x400		/* BIOS data area: real-mode segment 0x40 ... */
#define BDA_END 0x500		/* ... 256 bytes long */
#define BDA_EBDA_SEG 0x0e	/* word: EBDA segment (5.2.5.1) */
#define CONV_MEM_END 0xa0000	/* conventional memory ends at 640 KiB */

#ifdef PT_HOST
/* Test programs that lay out no firmware memory have none. */
__attribute__((weak)) const void *host_phys(u64 pa, size_t len)
{
	return NULL;
}

static u64 phys_limit(void)
{
	return 1ull << 52;	/* the architectural MAXPHYADDR ceiling */
}

static const void *map_phys(u64 pa, size_t len)
{
	return host_phys(pa, len);
}

static void bda_done(bool was_mapped)
{
}

static bool bda_mapped(void)
{
	return true;
}
#else
/*
 * A garbage pointer in a table must not become a mapping: past MAXPHYADDR
 * (CPUID 0x80000008 EAX[7:0]) a PTE has reserved bits set, and an identity
 * map under 4-level paging ends with the lower canonical half (2^47).
 * Without the leaf the width is 36 bits (SDM vol. 3A, 4.1.4).
 */
static u64 phys_limit(void)
{
	static u64 limit;
	unsigned bits = 36;

	if (!limit) {
		if (cpuid(0x80000000, 0).eax >= 0x80000008)
			bits = cpuid(0x80000008, 0).eax & 0xff;
		limit = 1ull << MIN(bits, 47u);
	}
	return limit;
}

static const void *map_phys(u64 pa, size_t len)
{
	return phys_map(pa, len);
}

/* The BDA shares page 0 with the real-mode IVT, and paging_init() leaves
 * that page unmapped so that NULL dereferences fault: map it only for the
 * read. */
static bool bda_mapped(void)
{
	return paging_is_mapped(0);
}

static void bda_done(bool was_mapped)
{
	if (!was_mapped)
		unmap_page(0);
}
#endif

const void *fw_phys(u64 pa, size_t len)
{
	/* 0 means "none" in every pointer field we follow. */
	if (!pa || !len || pa + len < pa || pa + len > phys_limit())
		return NULL;
	return map_phys(pa, len);
}

u16 fw_bda_read16(unsigned off)
{
	bool was_mapped = bda_mapped();
	const void *p = fw_phys(BDA_BASE + off, sizeof(u16));
	u16 v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	bda_done(was_mapped);
	return v;
}

/* The EBDA, or 0 when the BDA names none: its segment must put it in
 * conventional memory above the BDA. */
u64 fw_ebda_base(void)
{
	u64 base = (u64)fw_bda_read16(BDA_EBDA_SEG) << 4;

	return base >= BDA_END && base < CONV_MEM_END ? base : 0;
}

u8 fw_checksum(const void *p, size_t len)
{
	const u8 *b = p;
	u8 sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

static void vset_once(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (size && !buf[0])
		kvsnprintf(buf, size, fmt, ap);
}

void fw_set_once(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_once(buf, size, fmt, ap);
	va_end(ap);
}

void fw_note(struct platform_cpus *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_once(out->note, sizeof(out->note), fmt, ap);
	va_end(ap);
}

void fw_copy_id(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = 0;

	for (; n < len && n + 1 < size && src[n]; n++)
		dst[n] = src[n] >= 0x20 && src[n] < 0x7f ? src[n] : '?';
	while (n && dst[n - 1] == ' ')
		n--;
	if (size)
		dst[n] = '\0';
}

void fw_add_cpu(struct platform_cpus *out, const struct cpu_desc *c)
{
	for (unsigned i = 0; i < out->nr_cpu; i++) {
		if (out->cpu[i].apic_id == c->apic_id) {
			out->nr_skipped++;
			fw_note(out, "APIC ID %u listed twice; kept the first entry",
				c->apic_id);
			return;
		}
	}
	if (out->nr_cpu == CPU_DESC_MAX) {
		out->truncated = true;
		fw_note(out, "more than %u CPUs; the rest ignored", CPU_DESC_MAX);
		return;
	}
	out->cpu[out->nr_cpu++] = *c;
	if (c->enabled)
		out->nr_enabled++;
}

/* ------------------------------------------------------------------ */
/* RSDP (5.2.5)                                                       */

/* 5.2.5.3: Root System Description Pointer. */
struct __packed acpi_rsdp {
	char sig[8];		/* "RSD PTR " */
	u8 checksum;		/* over the ACPI 1.0 part, bytes 0-19 */
	char oem[6];
	u8 revision;		/* 0: ACPI 1.0; 2: ACPI 2.0 and later */
	u32 rsdt;
	/* ACPI 2.0 and later */
	u32 length;		/* of the whole structure */
	u64 xsdt;
	u8 ext_checksum;	/* over `length` bytes */
	u8 reserved[3];
};
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

#define RSDP_SIG "RSD PTR "
#define RSDP_V1_LEN 20
#define RSDP_MAX_LEN 4096	/* ours: a larger length field is garbage */
#define RSDP_ALIGN 16		/* 5.2.5.1: on 16-byte boundaries */
#define EBDA_SCAN_LEN 1024	/* 5.2.5.1: the first 1 KiB of the EBDA */
#define BIOS_ROM_BASE 0xe0000	/* 5.2.5.1: BIOS read-only area 0xE0000-0xFFFFF */
#define BIOS_ROM_LEN 0x20000

static const char from_tag[] = "Multiboot2 tag";
static const char from_ebda[] = "EBDA";
static const char from_bios[] = "BIOS area 0xE0000-0xFFFFF";

struct rsdp_found {
	struct acpi_rsdp r;	/* a copy; length and xsdt only when v2 */
	bool v2;		/* extended part checked: the XSDT may be used */
	u64 phys;		/* 0: the loader's copy */
	const char *from;
	char where[32];		/* "at 0x...", "in the Multiboot2 tag" */
};

/* Checks the RSDP in p[0, avail) and copies it into f. A revision 2 RSDP
 * whose extended part is not in p (GRUB's ACPI-old tag copies 20 bytes of
 * any RSDP) is used as ACPI 1.0: the RSDT is there in every revision. */
static bool rsdp_check(const u8 *p, size_t avail, struct rsdp_found *f,
		       char *why, size_t whylen)
{
	u32 len;

	if (avail < RSDP_V1_LEN || memcmp(p, RSDP_SIG, 8))
		return false;
	if (fw_checksum(p, RSDP_V1_LEN)) {
		fw_set_once(why, whylen, "bad checksum of RSDP %s", f->where);
		return false;
	}
	memset(&f->r, 0, sizeof(f->r));
	memcpy(&f->r, p, RSDP_V1_LEN);
	f->v2 = false;
	if (f->r.revision < 2 || avail < sizeof(f->r))
		return true;
	memcpy(&len, p + RSDP_V1_LEN, sizeof(len));
	if (len < sizeof(f->r) || len > RSDP_MAX_LEN) {
		fw_set_once(why, whylen, "RSDP %s has bad length %u", f->where, len);
		return false;
	}
	if (len > avail)
		return true;
	if (fw_checksum(p, len)) {
		fw_set_once(why, whylen, "bad extended checksum of RSDP %s", f->where);
		return false;
	}
	memcpy(&f->r, p, sizeof(f->r));
	f->v2 = true;
	return true;
}

static bool rsdp_from_tag(const struct boot_info *bi, struct rsdp_found *f,
			  char *why, size_t whylen)
{
	if (!bi || !bi->rsdp_len)
		return false;
	f->phys = 0;
	f->from = from_tag;
	strlcpy(f->where, "in the Multiboot2 tag", sizeof(f->where));
	if (bi->rsdp_len < RSDP_V1_LEN || memcmp(bi->rsdp, RSDP_SIG, 8)) {
		fw_set_once(why, whylen, "no RSDP in the Multiboot2 tag (%u bytes)",
			    bi->rsdp_len);
		return false;
	}
	return rsdp_check(bi->rsdp, MIN(bi->rsdp_len, sizeof(bi->rsdp)), f,
			  why, whylen);
}

/* A candidate whose signature matched at pa: read as much as its revision
 * and length ask for, where that memory is readable. */
static bool rsdp_at(u64 pa, const char *from, struct rsdp_found *f,
		    char *why, size_t whylen)
{
	const struct acpi_rsdp *r = fw_phys(pa, sizeof(*r));
	size_t avail = sizeof(*r);

	f->phys = pa;
	f->from = from;
	ksnprintf(f->where, sizeof(f->where), "at %#llx", (unsigned long long)pa);
	if (!r) {
		avail = RSDP_V1_LEN;
		r = fw_phys(pa, avail);
	} else if (r->revision >= 2 && r->length > avail && r->length <= RSDP_MAX_LEN &&
		   fw_phys(pa, r->length)) {
		avail = r->length;
		r = fw_phys(pa, avail);
	}
	return r && rsdp_check((const u8 *)r, avail, f, why, whylen);
}

static bool rsdp_scan(u64 base, u64 len, const char *from, struct rsdp_found *f,
		      char *why, size_t whylen)
{
	const u8 *area = fw_phys(base, len);

	if (!area)
		return false;
	for (u64 off = 0; off + RSDP_V1_LEN <= len; off += RSDP_ALIGN)
		if (!memcmp(area + off, RSDP_SIG, 8) &&
		    rsdp_at(base + off, from, f, why, whylen))
			return true;
	return false;
}

/* 5.2.5.1 (IA-PC): the loader's copy (UEFI machines have no other), then
 * the first KiB of the EBDA, then the BIOS read-only area. why keeps the
 * first candidate rejected. */
static bool find_rsdp(const struct boot_info *bi, struct rsdp_found *f,
		      char *why, size_t whylen)
{
	u64 ebda = fw_ebda_base();

	if (rsdp_from_tag(bi, f, why, whylen))
		return true;
	if (ebda && rsdp_scan(ebda, EBDA_SCAN_LEN, from_ebda, f, why, whylen))
		return true;
	if (rsdp_scan(BIOS_ROM_BASE, BIOS_ROM_LEN, from_bios, f, why, whylen))
		return true;
	fw_set_once(why, whylen, "no RSDP in the Multiboot2 tag, EBDA or 0xE0000-0xFFFFF");
	return false;
}

/* ------------------------------------------------------------------ */
/* System description tables (5.2.6 - 5.2.8)                          */

/* 5.2.6: System Description Table Header. */
struct __packed acpi_sdt {
	char sig[4];
	u32 length;		/* of the table, header included */
	u8 revision;
	u8 checksum;		/* all `length` bytes sum to 0 */
	char oem[6];
	char oem_table[8];
	u32 oem_revision;
	u32 creator_id;
	u32 creator_revision;
};
_Static_assert(sizeof(struct acpi_sdt) == 36, "SDT header layout");

#define SDT_MAX_LEN (1 * MiB)	/* ours: far above any real RSDT, XSDT or MADT */

/* The table at pa once its signature, length and checksum are right; else
 * NULL with err naming the table. */
static const struct acpi_sdt *sdt_map(u64 pa, const char *sig, const char *name,
				      char *err, size_t errlen)
{
	const struct acpi_sdt *h = fw_phys(pa, sizeof(*h));
	unsigned long long at = pa;
	char got[5];
	u32 len;

	if (!h) {
		ksnprintf(err, errlen, "%s at %#llx is not in readable memory", name, at);
		return NULL;
	}
	if (memcmp(h->sig, sig, 4)) {
		fw_copy_id(got, sizeof(got), h->sig, 4);
		ksnprintf(err, errlen, "%s at %#llx has signature '%s', not '%s'",
			  name, at, got, sig);
		return NULL;
	}
	len = h->length;
	if (len < sizeof(*h) || len > SDT_MAX_LEN) {
		ksnprintf(err, errlen, "%s at %#llx has bad length %u", name, at, len);
		return NULL;
	}
	h = fw_phys(pa, len);
	if (!h) {
		ksnprintf(err, errlen, "%s at %#llx (%u bytes) is not in readable memory",
			  name, at, len);
		return NULL;
	}
	if (fw_checksum(h, len)) {
		ksnprintf(err, errlen, "bad checksum of %s at %#llx", name, at);
		return NULL;
	}
	return h;
}

/* 5.2.7, 5.2.8: after the header, 32-bit (RSDT) or 64-bit (XSDT) physical
 * addresses, unaligned in the XSDT. Returns the first MADT's, or 0; the
 * other tables are only looked at for their signature. */
static u64 find_madt(const struct acpi_sdt *root, unsigned esize)
{
	const u8 *p = (const u8 *)(root + 1);
	unsigned n = (root->length - sizeof(*root)) / esize;

	for (unsigned i = 0; i < n; i++, p += esize) {
		u64 pa = 0;
		const void *sig;

		memcpy(&pa, p, esize);	/* little-endian, like x86 */
		sig = fw_phys(pa, 4);
		if (sig && !memcmp(sig, "APIC", 4))
			return pa;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* MADT (5.2.12)                                                      */

struct __packed acpi_madt {
	struct acpi_sdt h;
	u32 lapic_addr;
	u32 flags;
};
#define MADT_PCAT_COMPAT (1u << 0)	/* 5.2.12, Multiple APIC Flags */
/* ACPI 6.3 defined the Online Capable flag and made the MADT revision 5;
 * in older tables that bit is reserved and means nothing. */
#define MADT_REV_ONLINE_CAPABLE 5

enum {
	MADT_LAPIC = 0,			/* 5.2.12.2 */
	MADT_IOAPIC = 1,		/* 5.2.12.3 */
	MADT_LAPIC_OVERRIDE = 5,	/* 5.2.12.8 */
	MADT_X2APIC = 9,		/* 5.2.12.12 */
};

struct __packed madt_entry {
	u8 type, length;
};

struct __packed madt_lapic {
	struct madt_entry e;
	u8 uid;
	u8 apic_id;
	u32 flags;
};

struct __packed madt_ioapic {
	struct madt_entry e;
	u8 id, reserved;
	u32 addr, gsi_base;
};

struct __packed madt_lapic_override {
	struct madt_entry e;
	u16 reserved;
	u64 addr;
};

struct __packed madt_x2apic {
	struct madt_entry e;
	u16 reserved;
	u32 apic_id;
	u32 flags;		/* the Local APIC Flags */
	u32 uid;
};

/* Local APIC Flags (5.2.12.2), also those of x2APIC structures. */
#define LAPIC_ENABLED (1u << 0)
#define LAPIC_ONLINE_CAPABLE (1u << 1)	/* reserved when Enabled is set */

/* The all-ones ID is the broadcast destination (SDM vol. 3A, "Physical
 * Destination Mode"); firmware lists empty sockets with it. */
#define LAPIC_ID_INVALID 0xffu
#define X2APIC_ID_INVALID 0xffffffffu

static void madt_cpu(struct platform_cpus *out, u32 id, u32 uid, u32 flags,
		     bool x2apic, bool online_ok)
{
	struct cpu_desc c = {
		.apic_id = id,
		.acpi_uid = uid,
		.enabled = flags & LAPIC_ENABLED,
		.x2apic_entry = x2apic,
	};

	c.online_capable = !c.enabled && online_ok && (flags & LAPIC_ONLINE_CAPABLE);
	fw_add_cpu(out, &c);
}

/* The length below which a structure of this type is unusable. */
static unsigned madt_min_len(u8 type)
{
	switch (type) {
	case MADT_LAPIC:
		return sizeof(struct madt_lapic);
	case MADT_IOAPIC:
		return sizeof(struct madt_ioapic);
	case MADT_LAPIC_OVERRIDE:
		return sizeof(struct madt_lapic_override);
	case MADT_X2APIC:
		return sizeof(struct madt_x2apic);
	}
	return sizeof(struct madt_entry);
}

/* p holds p->length bytes, at least madt_min_len(p->type). */
static void madt_entry(struct platform_cpus *out, const void *p, bool online_ok)
{
	const struct madt_entry *e = p;
	const struct madt_lapic *l = p;
	const struct madt_x2apic *x = p;
	const struct madt_lapic_override *o = p;

	switch (e->type) {
	case MADT_LAPIC:
		if (l->apic_id == LAPIC_ID_INVALID)
			out->nr_skipped++;
		else
			madt_cpu(out, l->apic_id, l->uid, l->flags, false, online_ok);
		break;
	case MADT_X2APIC:
		if (x->apic_id == X2APIC_ID_INVALID)
			out->nr_skipped++;
		else
			madt_cpu(out, x->apic_id, x->uid, x->flags, true, online_ok);
		break;
	case MADT_LAPIC_OVERRIDE:	/* replaces the 32-bit header field */
		out->lapic_phys = o->addr;
		break;
	case MADT_IOAPIC:
		out->ioapic_count++;
		break;
	}
}

/* 5.2.12: the structures follow the 44-byte header back to back, each
 * starting with its type and length. A length that cannot be right ends
 * the walk: nothing after it can be trusted to start where we would look. */
static void madt_parse(const struct acpi_madt *m, struct platform_cpus *out)
{
	const u8 *base = (const u8 *)m;
	u32 len = m->h.length, off = sizeof(*m);
	bool online_ok = m->h.revision >= MADT_REV_ONLINE_CAPABLE;

	out->lapic_phys = m->lapic_addr;
	out->pcat_compat = m->flags & MADT_PCAT_COMPAT;
	while (len - off >= sizeof(struct madt_entry)) {
		const struct madt_entry *e = (const void *)(base + off);

		if (e->length < sizeof(*e)) {
			fw_note(out, "MADT entry at offset %u has length %u; ignored the rest",
				off, e->length);
			return;
		}
		if (e->length > len - off) {
			fw_note(out,
				"MADT entry at offset %u (%u bytes) runs past the table end (%u); ignored",
				off, e->length, len);
			return;
		}
		if (e->length < madt_min_len(e->type))
			fw_note(out, "MADT entry type %u at offset %u is only %u bytes; skipped",
				e->type, off, e->length);
		else
			madt_entry(out, e, online_ok);
		off += e->length;
	}
}

/* ------------------------------------------------------------------ */
/* Putting it together                                                */

enum { ACPI_OK = 0, ACPI_FAIL = -1, ACPI_NO_MADT = -2 };

/* 5.2.5.3: the XSDT when the RSDP is revision 2 or later and gives one;
 * the RSDT when there is no XSDT, or when the XSDT is broken. */
static const struct acpi_sdt *root_table(const struct rsdp_found *f,
					 struct platform_cpus *out, u64 *pa,
					 unsigned *esize, char *err, size_t errlen)
{
	const struct acpi_sdt *root;
	char xerr[96] = "", rerr[96] = "";

	if (f->v2 && f->r.xsdt) {
		root = sdt_map(f->r.xsdt, "XSDT", "XSDT", xerr, sizeof(xerr));
		if (root) {
			*pa = f->r.xsdt;
			*esize = 8;
			out->source = "ACPI MADT via XSDT";
			return root;
		}
	}
	if (!f->r.rsdt) {
		if (xerr[0])
			strlcpy(err, xerr, errlen);
		else
			ksnprintf(err, errlen, "RSDP %s gives no RSDT", f->where);
		return NULL;
	}
	root = sdt_map(f->r.rsdt, "RSDT", "RSDT", rerr, sizeof(rerr));
	if (!root) {
		if (xerr[0])
			ksnprintf(err, errlen, "%s; %s", xerr, rerr);
		else
			strlcpy(err, rerr, errlen);
		return NULL;
	}
	if (xerr[0])
		fw_note(out, "%s; used the RSDT", xerr);
	*pa = f->r.rsdt;
	*esize = 4;
	out->source = "ACPI MADT via RSDT";
	return root;
}

static int acpi_find_cpus(const struct rsdp_found *f, struct platform_cpus *out,
			  char *err, size_t errlen)
{
	const struct acpi_sdt *root;
	const struct acpi_madt *madt;
	unsigned esize;
	u64 root_pa, madt_pa;

	fw_copy_id(out->oem, sizeof(out->oem), f->r.oem, sizeof(f->r.oem));
	out->rsdp_from = f->from;
	out->root_phys = f->phys;
	root = root_table(f, out, &root_pa, &esize, err, errlen);
	if (!root)
		return ACPI_FAIL;
	madt_pa = find_madt(root, esize);
	if (!madt_pa) {
		ksnprintf(err, errlen, "no MADT in the %.4s at %#llx", root->sig,
			  (unsigned long long)root_pa);
		return ACPI_NO_MADT;
	}
	madt = (const void *)sdt_map(madt_pa, "APIC", "MADT", err, errlen);
	if (!madt)
		return ACPI_FAIL;
	if (madt->h.length < sizeof(*madt)) {
		ksnprintf(err, errlen, "MADT at %#llx is only %u bytes",
			  (unsigned long long)madt_pa, madt->h.length);
		return ACPI_FAIL;
	}
	out->table_phys = madt_pa;
	madt_parse(madt, out);
	if (!out->nr_enabled) {
		ksnprintf(err, errlen, "MADT at %#llx lists no enabled processor (%u listed)",
			  (unsigned long long)madt_pa, out->nr_cpu);
		return ACPI_FAIL;
	}
	return ACPI_OK;
}

int platform_find_cpus(const struct boot_info *bi, struct platform_cpus *out,
		       char *err, size_t errlen)
{
	struct rsdp_found f;
	char why[128] = "", mp_why[128] = "";
	int ret;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	if (find_rsdp(bi, &f, why, sizeof(why))) {
		if (why[0])
			fw_note(out, "%s; used the RSDP %s", why, f.where);
		why[0] = '\0';
		ret = acpi_find_cpus(&f, out, why, sizeof(why));
		if (ret == ACPI_OK)
			return 0;
		if (ret == ACPI_FAIL) {
			strlcpy(err, why, errlen);
			return -1;
		}
		memset(out, 0, sizeof(*out));	/* no MADT: the MP table may do */
	}
	/* No ACPI: the MP table, which predates it. */
	if (mptable_find_cpus(out, mp_why, sizeof(mp_why)) == 0) {
		fw_note(out, "ACPI: %s; used the MP table", why);
		return 0;
	}
	ksnprintf(err, errlen, "%s; %s", why, mp_why);
	return -1;
}
