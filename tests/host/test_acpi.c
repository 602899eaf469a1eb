/*
 * platform_find_cpus() against synthetic firmware: low memory (BDA, EBDA,
 * BIOS areas) and two RAM windows, one below and one above 4 GiB, where the
 * tests lay out RSDPs, RSDT/XSDT, MADTs and MP tables with correct (or
 * deliberately wrong) checksums.
 *
 * host_phys() hands out a fresh heap copy of exactly the bytes asked for,
 * so AddressSanitizer catches any read past what the parser mapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "arch/x86_64/acpi.h"

/* ------------------------------------------------------------------ */
/* Synthetic physical memory                                          */

#define LOW_SIZE (1u << 20)
#define HIGH_BASE 0x7fe00000ull		/* "ACPI reclaimable" RAM below 4 GiB */
#define HIGH_SIZE (1u << 20)
#define TOP_BASE 0x100000000ull		/* RAM above 4 GiB */
#define TOP_SIZE (1u << 20)

static u8 low_mem[LOW_SIZE], high_mem[HIGH_SIZE], top_mem[TOP_SIZE];

static void *copies[1 << 16];
static unsigned nr_copies;

static u8 *backing(u64 pa, size_t len)
{
	if (pa + len < pa)
		return NULL;
	if (pa + len <= LOW_SIZE)
		return low_mem + pa;
	if (pa >= HIGH_BASE && pa + len <= HIGH_BASE + HIGH_SIZE)
		return high_mem + (pa - HIGH_BASE);
	if (pa >= TOP_BASE && pa + len <= TOP_BASE + TOP_SIZE)
		return top_mem + (pa - TOP_BASE);
	return NULL;
}

const void *host_phys(u64 pa, size_t len)
{
	u8 *src = backing(pa, len), *copy;

	if (!src || nr_copies == sizeof(copies) / sizeof(copies[0]))
		return NULL;
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, src, len);
	copies[nr_copies++] = copy;
	return copy;
}

static u8 *mem(u64 pa, size_t len)
{
	u8 *p = backing(pa, len);

	assert_non_null(p);
	return p;
}

static void put(u64 pa, const void *src, size_t len)
{
	memcpy(mem(pa, len), src, len);
}

static void put16(u64 pa, u16 v)
{
	put(pa, &v, sizeof(v));
}

static void set32(u8 *p, u32 v)
{
	memcpy(p, &v, sizeof(v));
}

static void set64(u8 *p, u64 v)
{
	memcpy(p, &v, sizeof(v));
}

/* Makes len bytes at p sum to 0 by way of the byte at p[at]. */
static void seal(u8 *p, size_t len, size_t at)
{
	u8 sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[at] = (u8)-sum;
}

static struct boot_info bi;
static struct platform_cpus pc;
static char err[256];

static int setup(void **state)
{
	memset(low_mem, 0, sizeof(low_mem));
	memset(high_mem, 0, sizeof(high_mem));
	memset(top_mem, 0, sizeof(top_mem));
	memset(&bi, 0, sizeof(bi));
	memset(err, 0, sizeof(err));
	bi.protocol = 2;
	alarm(20);		/* a parser loop that never ends fails the run */
	return 0;
}

static int teardown(void **state)
{
	while (nr_copies)
		free(copies[--nr_copies]);
	alarm(0);
	return 0;
}

static int find(void)
{
	int ret = platform_find_cpus(&bi, &pc, err, sizeof(err));

	if (ret)
		print_message("    err: %s\n", err);
	else if (pc.note[0])
		print_message("    note: %s\n", pc.note);
	return ret;
}

#define assert_contains(hay, needle) do {					\
	if (!strstr((hay), (needle)))						\
		fail_msg("'%s' does not contain '%s'", (hay), (needle));	\
} while (0)

static void expect_ok(void)
{
	int ret = find();

	if (ret)
		fail_msg("platform_find_cpus failed: %s", err);
}

static void expect_error(const char *part)
{
	assert_int_equal(find(), -1);
	assert_contains(err, part);
	assert_null(strchr(err, '\n'));
}

static void expect_cpu(unsigned i, u32 id, u32 uid, bool enabled, bool online, bool x2)
{
	assert_true(i < pc.nr_cpu);
	assert_int_equal(pc.cpu[i].apic_id, id);
	assert_int_equal(pc.cpu[i].acpi_uid, uid);
	assert_int_equal(pc.cpu[i].enabled, enabled);
	assert_int_equal(pc.cpu[i].online_capable, online);
	assert_int_equal(pc.cpu[i].x2apic_entry, x2);
}

/* ------------------------------------------------------------------ */
/* Table builders                                                     */

struct table {
	u8 b[32768];
	size_t len;
	unsigned count;		/* MP entries */
};

static struct table tab;

static void tb_add(struct table *t, const void *p, size_t n)
{
	assert_true(t->len + n <= sizeof(t->b));
	memcpy(t->b + t->len, p, n);
	t->len += n;
}

/* An ACPI table: 36-byte header (5.2.6), then the body. */
static void sdt_begin(struct table *t, const char *sig, u8 rev)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->b, sig, 4);
	t->b[8] = rev;
	memcpy(t->b + 10, "PTTEST", 6);
	memcpy(t->b + 16, "POKETORT", 8);
	t->len = 36;
}

static void sdt_end(struct table *t)
{
	set32(t->b + 4, (u32)t->len);
	seal(t->b, t->len, 9);
}

static void place(const struct table *t, u64 pa)
{
	put(pa, t->b, t->len);
}

static void madt_begin(struct table *t, u8 rev, u32 lapic, u32 flags)
{
	u8 body[8];

	sdt_begin(t, "APIC", rev);
	set32(body, lapic);
	set32(body + 4, flags);
	tb_add(t, body, sizeof(body));
}

static void madt_lapic(struct table *t, u8 uid, u8 id, u32 flags)
{
	u8 e[8] = { 0, 8, uid, id };

	set32(e + 4, flags);
	tb_add(t, e, sizeof(e));
}

static void madt_x2apic(struct table *t, u32 id, u32 flags, u32 uid)
{
	u8 e[16] = { 9, 16 };

	set32(e + 4, id);
	set32(e + 8, flags);
	set32(e + 12, uid);
	tb_add(t, e, sizeof(e));
}

static void madt_ioapic(struct table *t, u8 id, u32 addr)
{
	u8 e[12] = { 1, 12, id };

	set32(e + 4, addr);
	tb_add(t, e, sizeof(e));
}

static void madt_override(struct table *t, u64 addr)
{
	u8 e[12] = { 5, 12 };

	set64(e + 4, addr);
	tb_add(t, e, sizeof(e));
}

static void root_table(const char *sig, u64 pa, const u64 *entries, unsigned n)
{
	unsigned esize = !memcmp(sig, "XSDT", 4) ? 8 : 4;

	sdt_begin(&tab, sig, 1);
	for (unsigned i = 0; i < n; i++)
		tb_add(&tab, &entries[i], esize);
	sdt_end(&tab);
	place(&tab, pa);
}

/* 5.2.5.3: revision 0 is 20 bytes, revision 2 is 36 with an extended
 * checksum. */
static void make_rsdp(u8 r[36], u8 rev, u32 rsdt, u64 xsdt, const char *oem)
{
	memset(r, 0, 36);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, oem, 6);
	r[15] = rev;
	set32(r + 16, rsdt);
	if (rev >= 2) {
		set32(r + 20, 36);
		set64(r + 24, xsdt);
	}
	seal(r, 20, 8);
	if (rev >= 2)
		seal(r, 36, 32);
}

static void rsdp_in_tag(u8 rev, u32 rsdt, u64 xsdt, unsigned len)
{
	make_rsdp(bi.rsdp, rev, rsdt, xsdt, "TAGOEM");
	bi.rsdp_len = len;
}

static void rsdp_at(u64 pa, u8 rev, u32 rsdt, u64 xsdt, const char *oem)
{
	u8 r[36];

	make_rsdp(r, rev, rsdt, xsdt, oem);
	put(pa, r, rev >= 2 ? 36 : 20);
}

#define RSDT_PA (HIGH_BASE + 0x400)
#define XSDT_PA (HIGH_BASE + 0x104)	/* unaligned on purpose */
#define FACP_PA (HIGH_BASE + 0x800)
#define MADT_PA (HIGH_BASE + 0x1000)
#define MADT_TOP_PA (TOP_BASE + 0x2000)
#define EBDA_SEG 0x9fc0
#define EBDA_PA 0x9fc00ull

/* A table that is not the MADT, listed first in the root tables. */
static void place_facp(void)
{
	sdt_begin(&tab, "FACP", 6);
	sdt_end(&tab);
	place(&tab, FACP_PA);
}

/* Two enabled CPUs and an I/O APIC. */
static void place_std_madt(u64 pa)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	madt_lapic(&tab, 1, 1, 1);
	madt_ioapic(&tab, 2, 0xfec00000);
	sdt_end(&tab);
	place(&tab, pa);
}

static void place_roots(u64 madt)
{
	u64 e[2] = { FACP_PA, madt };

	place_facp();
	root_table("RSDT", RSDT_PA, e, 2);
	root_table("XSDT", XSDT_PA, e, 2);
}

/* The usual firmware: RSDP v2 in the tag, XSDT and RSDT, a MADT. */
static void std_acpi(void)
{
	place_std_madt(MADT_PA);
	place_roots(MADT_PA);
	rsdp_in_tag(2, RSDT_PA, XSDT_PA, 36);
}

/* Only a MADT body differs between the MADT tests. */
static void acpi_with_madt(void)
{
	sdt_end(&tab);
	place(&tab, MADT_PA);
	place_roots(MADT_PA);
	rsdp_in_tag(2, RSDT_PA, XSDT_PA, 36);
}

/* ------------------------------------------------------------------ */
/* RSDP                                                               */

static void test_rsdp_tag_v2_uses_xsdt(void **state)
{
	std_acpi();
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via XSDT");
	assert_string_equal(pc.rsdp_from, "Multiboot2 tag");
	assert_string_equal(pc.oem, "TAGOEM");
	assert_int_equal(pc.root_phys, 0);
	assert_int_equal(pc.table_phys, MADT_PA);
	assert_int_equal(pc.lapic_phys, 0xfee00000);
	assert_true(pc.pcat_compat);
	assert_int_equal(pc.ioapic_count, 1);
	assert_int_equal(pc.nr_cpu, 2);
	assert_int_equal(pc.nr_enabled, 2);
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 1, 1, true, false, false);
	assert_false(pc.truncated);
	assert_string_equal(pc.note, "");
}

static void test_rsdp_tag_v1_uses_rsdt(void **state)
{
	std_acpi();
	rsdp_in_tag(0, RSDT_PA, 0, 20);
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via RSDT");
	assert_string_equal(pc.rsdp_from, "Multiboot2 tag");
	assert_int_equal(pc.nr_cpu, 2);
}

/* GRUB's ACPI-old tag copies 20 bytes even of a revision 2 RSDP. */
static void test_rsdp_tag_v2_short_copy_uses_rsdt(void **state)
{
	std_acpi();
	rsdp_in_tag(2, RSDT_PA, XSDT_PA, 20);
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via RSDT");
}

static void test_rsdp_v2_without_xsdt_uses_rsdt(void **state)
{
	std_acpi();
	rsdp_in_tag(2, RSDT_PA, 0, 36);
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via RSDT");
}

static void test_rsdp_in_ebda(void **state)
{
	std_acpi();
	bi.rsdp_len = 0;
	put16(0x40e, EBDA_SEG);
	/* Starts in the first KiB, ends past it. */
	rsdp_at(EBDA_PA + 0x3e0, 2, RSDT_PA, XSDT_PA, "EBDAOE");
	expect_ok();
	assert_string_equal(pc.rsdp_from, "EBDA");
	assert_string_equal(pc.source, "ACPI MADT via XSDT");
	assert_int_equal(pc.root_phys, EBDA_PA + 0x3e0);
	assert_string_equal(pc.oem, "EBDAOE");
}

static void test_rsdp_in_bios_area(void **state)
{
	std_acpi();
	bi.rsdp_len = 0;
	/* A signature off the 16-byte grid is not an RSDP; an aligned one
	 * with a bad checksum is skipped and noted. */
	rsdp_at(0xe1008, 0, RSDT_PA, 0, "ODDOEM");
	rsdp_at(0xe2000, 0, RSDT_PA, 0, "BADOEM");
	mem(0xe2000, 20)[8] ^= 1;
	rsdp_at(0xf6a30, 0, RSDT_PA, 0, "BIOS  ");
	expect_ok();
	assert_string_equal(pc.rsdp_from, "BIOS area 0xE0000-0xFFFFF");
	assert_int_equal(pc.root_phys, 0xf6a30);
	assert_string_equal(pc.oem, "BIOS");
	assert_string_equal(pc.source, "ACPI MADT via RSDT");
	assert_contains(pc.note, "bad checksum of RSDP at 0xe2000");
}

static void test_rsdp_search_order(void **state)
{
	std_acpi();
	put16(0x40e, EBDA_SEG);
	rsdp_at(EBDA_PA, 0, RSDT_PA, 0, "EBDAOE");
	rsdp_at(0xfffd0, 2, RSDT_PA, XSDT_PA, "ROMOEM");	/* near the top */
	expect_ok();
	assert_string_equal(pc.oem, "TAGOEM");
	bi.rsdp_len = 0;
	expect_ok();
	assert_string_equal(pc.oem, "EBDAOE");
	put16(0x40e, 0);		/* no EBDA */
	expect_ok();
	assert_string_equal(pc.oem, "ROMOEM");
	assert_string_equal(pc.source, "ACPI MADT via XSDT");
}

static void test_rsdp_misaligned_only(void **state)
{
	std_acpi();
	bi.rsdp_len = 0;
	rsdp_at(0xe0004, 0, RSDT_PA, 0, "ODDOEM");
	expect_error("no RSDP in the Multiboot2 tag, EBDA or 0xE0000-0xFFFFF");
	assert_contains(err, "no MP floating pointer");
}

static void test_rsdp_tag_bad_checksum(void **state)
{
	std_acpi();
	bi.rsdp[8] ^= 0x40;
	expect_error("bad checksum of RSDP in the Multiboot2 tag");
}

static void test_rsdp_tag_bad_checksum_scan_finds_one(void **state)
{
	std_acpi();
	bi.rsdp[8] ^= 0x40;
	put16(0x40e, EBDA_SEG);
	rsdp_at(EBDA_PA + 0x20, 2, RSDT_PA, XSDT_PA, "EBDAOE");
	expect_ok();
	assert_string_equal(pc.rsdp_from, "EBDA");
	assert_contains(pc.note, "bad checksum of RSDP in the Multiboot2 tag");
}

static void test_rsdp_bad_extended_checksum(void **state)
{
	std_acpi();
	bi.rsdp_len = 0;
	rsdp_at(0xe0010, 2, RSDT_PA, XSDT_PA, "EXTOEM");
	mem(0xe0010, 36)[32] ^= 1;
	expect_error("bad extended checksum of RSDP at 0xe0010");
}

static void test_rsdp_bad_length(void **state)
{
	std_acpi();
	set32(bi.rsdp + 20, 24);
	seal(bi.rsdp, 36, 32);
	expect_error("RSDP in the Multiboot2 tag has bad length 24");
}

/* ------------------------------------------------------------------ */
/* RSDT / XSDT                                                        */

static void test_xsdt_bad_checksum(void **state)
{
	std_acpi();
	rsdp_in_tag(2, 0, XSDT_PA, 36);
	mem(XSDT_PA + 36, 1)[0] ^= 0x10;
	expect_error("bad checksum of XSDT at 0x7fe00104");
}

static void test_xsdt_bad_checksum_falls_back_to_rsdt(void **state)
{
	std_acpi();
	mem(XSDT_PA + 36, 1)[0] ^= 0x10;
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via RSDT");
	assert_contains(pc.note, "bad checksum of XSDT at 0x7fe00104; used the RSDT");
}

static void test_xsdt_and_rsdt_bad(void **state)
{
	std_acpi();
	mem(XSDT_PA + 36, 1)[0] ^= 0x10;
	mem(RSDT_PA, 4)[3] = 'X';
	expect_error("bad checksum of XSDT at 0x7fe00104; "
		     "RSDT at 0x7fe00400 has signature 'RSDX', not 'RSDT'");
}

static void test_rsdt_unreadable(void **state)
{
	std_acpi();
	rsdp_in_tag(0, 0xdead0000, 0, 20);
	expect_error("RSDT at 0xdead0000 is not in readable memory");
}

static void test_rsdt_length_past_memory(void **state)
{
	std_acpi();
	rsdp_in_tag(0, HIGH_BASE + HIGH_SIZE - 64, 0, 20);
	root_table("RSDT", HIGH_BASE + HIGH_SIZE - 64, (u64[]){ MADT_PA }, 1);
	set32(mem(HIGH_BASE + HIGH_SIZE - 64, 8) + 4, 4096);
	expect_error("RSDT at 0x7fefffc0 (4096 bytes) is not in readable memory");
}

static void test_rsdt_bad_length(void **state)
{
	std_acpi();
	set32(mem(RSDT_PA, 8) + 4, 12);
	rsdp_in_tag(0, RSDT_PA, 0, 20);
	expect_error("RSDT at 0x7fe00400 has bad length 12");
}

/* 64-bit entries, one null, one pointing nowhere, then the MADT above
 * 4 GiB. */
static void test_xsdt_64bit_entries(void **state)
{
	u64 e[4] = { 0, 0x3000000000ull, FACP_PA, MADT_TOP_PA };

	std_acpi();
	place_std_madt(MADT_TOP_PA);
	root_table("XSDT", XSDT_PA, e, 4);
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via XSDT");
	assert_int_equal(pc.table_phys, MADT_TOP_PA);
	assert_int_equal(pc.nr_cpu, 2);
}

static void test_madt_bad_checksum(void **state)
{
	std_acpi();
	mem(MADT_PA + 44, 1)[0] ^= 0x2;
	expect_error("bad checksum of MADT at 0x7fe01000");
}

static void test_madt_header_too_short(void **state)
{
	sdt_begin(&tab, "APIC", 5);
	tb_add(&tab, "\0\0\xe0\xfe", 4);	/* no flags field */
	acpi_with_madt();
	expect_error("MADT at 0x7fe01000 is only 40 bytes");
}

static void test_no_madt_uses_mp_table(void **state);
static void test_no_madt_no_mp_table(void **state)
{
	u64 e[1] = { FACP_PA };

	std_acpi();
	root_table("XSDT", XSDT_PA, e, 1);
	expect_error("no MADT in the XSDT at 0x7fe00104; no MP floating pointer");
}

/* ------------------------------------------------------------------ */
/* MADT entries                                                       */

static void test_madt_entries_and_flags(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 0);
	madt_lapic(&tab, 0, 0, 1);		/* enabled */
	madt_lapic(&tab, 1, 1, 0);		/* disabled, not hot-pluggable */
	madt_lapic(&tab, 2, 2, 2);		/* online capable */
	madt_lapic(&tab, 3, 0xff, 1);		/* invalid ID: skipped */
	madt_x2apic(&tab, 300, 1, 300);		/* needs 32 bits */
	madt_x2apic(&tab, 0xffffffff, 1, 9);	/* invalid ID: skipped */
	madt_x2apic(&tab, 301, 2, 301);		/* online capable */
	madt_x2apic(&tab, 302, 0, 302);		/* disabled */
	acpi_with_madt();
	expect_ok();
	assert_false(pc.pcat_compat);
	assert_int_equal(pc.nr_cpu, 6);
	assert_int_equal(pc.nr_enabled, 2);
	assert_int_equal(pc.nr_skipped, 2);
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 1, 1, false, false, false);
	expect_cpu(2, 2, 2, false, true, false);
	expect_cpu(3, 300, 300, true, false, true);
	expect_cpu(4, 301, 301, false, true, true);
	expect_cpu(5, 302, 302, false, false, true);
	assert_false(pc.cpu[0].bsp);
	assert_string_equal(pc.note, "");
}

/* Before ACPI 6.3 (MADT revision 5) bit 1 was reserved. */
static void test_madt_online_capable_needs_rev5(void **state)
{
	madt_begin(&tab, 4, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	madt_lapic(&tab, 1, 1, 2);
	madt_x2apic(&tab, 400, 2, 7);
	acpi_with_madt();
	expect_ok();
	expect_cpu(1, 1, 1, false, false, false);
	expect_cpu(2, 400, 7, false, false, true);
}

/* Online Capable is reserved when Enabled is set: enabled wins. */
static void test_madt_enabled_and_online_capable(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 3);
	madt_x2apic(&tab, 1, 3, 1);
	acpi_with_madt();
	expect_ok();
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 1, 1, true, false, true);
}

static void test_madt_x2apic_ids(void **state)
{
	static const u32 ids[] = { 255, 256, 0x1000, 0xfffffffe };

	madt_begin(&tab, 5, 0xfee00000, 1);
	for (unsigned i = 0; i < 4; i++)
		madt_x2apic(&tab, ids[i], 1, 1000 + i);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 4);
	for (unsigned i = 0; i < 4; i++)
		expect_cpu(i, ids[i], 1000 + i, true, false, true);
}

/* The same processor as type 0 and type 9: the first entry counts. */
static void test_madt_duplicate_ids(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	madt_lapic(&tab, 1, 5, 1);
	madt_x2apic(&tab, 5, 0, 77);
	madt_x2apic(&tab, 0, 1, 78);
	madt_lapic(&tab, 2, 5, 1);
	madt_x2apic(&tab, 6, 1, 6);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 3);
	assert_int_equal(pc.nr_skipped, 3);
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 5, 1, true, false, false);
	expect_cpu(2, 6, 6, true, false, true);
	assert_contains(pc.note, "APIC ID 5 listed twice");
}

static void test_madt_zero_length_entry(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	tb_add(&tab, "\x7f\x00\x00\x00", 4);	/* length 0 */
	madt_lapic(&tab, 1, 1, 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_contains(pc.note, "MADT entry at offset 52 has length 0");
}

static void test_madt_length_one_entry(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	tb_add(&tab, "\x00\x01", 2);
	madt_lapic(&tab, 1, 1, 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_contains(pc.note, "has length 1");
}

static void test_madt_entry_past_end(void **state)
{
	u8 e[8] = { 9, 16, 0, 0, 9, 0, 0, 0 };	/* x2APIC cut after 8 bytes */

	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	tb_add(&tab, e, sizeof(e));
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_contains(pc.note, "MADT entry at offset 52 (16 bytes) runs past the table end (60)");
}

/* A trailing byte too short to be an entry header is ignored. */
static void test_madt_trailing_byte(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	tb_add(&tab, "\x00", 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
}

static void test_madt_short_entry_skipped(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	tb_add(&tab, "\x00\x04\x00\x07", 4);	/* Local APIC of 4 bytes */
	madt_lapic(&tab, 0, 0, 1);
	tb_add(&tab, "\x09\x08\x00\x00\x08\x00\x00\x00", 8);	/* x2APIC of 8 */
	madt_lapic(&tab, 1, 1, 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 2);
	expect_cpu(1, 1, 1, true, false, false);
	assert_contains(pc.note, "MADT entry type 0 at offset 44 is only 4 bytes; skipped");
}

static void test_madt_unknown_types_skipped(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	tb_add(&tab, "\x02\x0a\x00\x00\x02\x00\x00\x00\x00\x00", 10);	/* ISO */
	tb_add(&tab, "\x04\x06\xff\x05\x00\x01", 6);	/* LAPIC NMI */
	tb_add(&tab, "\x80\x03\x00", 3);		/* OEM type */
	madt_lapic(&tab, 0, 0, 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_string_equal(pc.note, "");
}

static void test_madt_lapic_override(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 1);
	madt_override(&tab, 0x1234fee00000ull);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.lapic_phys, 0x1234fee00000ull);
	/* Placement does not matter: the override wins over the header. */
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_override(&tab, 0xfed00000ull);
	madt_lapic(&tab, 0, 0, 1);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.lapic_phys, 0xfed00000ull);
}

static void test_madt_ioapic_count(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_ioapic(&tab, 1, 0xfec00000);
	madt_lapic(&tab, 0, 0, 1);
	madt_ioapic(&tab, 2, 0xfec01000);
	madt_ioapic(&tab, 3, 0xfec02000);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.ioapic_count, 3);
}

static void test_madt_cap(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	for (u32 i = 0; i < CPU_DESC_MAX + 6; i++)
		madt_x2apic(&tab, i, 1, i);
	acpi_with_madt();
	expect_ok();
	assert_int_equal(pc.nr_cpu, CPU_DESC_MAX);
	assert_int_equal(pc.nr_enabled, CPU_DESC_MAX);
	assert_true(pc.truncated);
	expect_cpu(CPU_DESC_MAX - 1, CPU_DESC_MAX - 1, CPU_DESC_MAX - 1, true, false, true);
	assert_contains(pc.note, "more than 1024 CPUs");
}

static void test_madt_no_enabled_cpu(void **state)
{
	madt_begin(&tab, 5, 0xfee00000, 1);
	madt_lapic(&tab, 0, 0, 0);
	madt_lapic(&tab, 1, 0xff, 1);
	acpi_with_madt();
	expect_error("MADT at 0x7fe01000 lists no enabled processor (1 listed)");
}

/* ------------------------------------------------------------------ */
/* MP table                                                           */

#define MPC_PA 0xf5c00ull

/* Intel MP spec 1.4, 4.1. */
static void mp_floating(u64 pa, u32 config, u8 default_type)
{
	u8 b[16] = "_MP_";

	set32(b + 4, config);
	b[8] = 1;
	b[9] = 4;
	b[11] = default_type;
	seal(b, 16, 10);
	put(pa, b, 16);
}

/* 4.2: the 44-byte header. */
static void mpc_begin(u32 lapic)
{
	memset(&tab, 0, sizeof(tab));
	memcpy(tab.b, "PCMP", 4);
	tab.b[6] = 4;
	memcpy(tab.b + 8, "PTOEM   ", 8);
	memcpy(tab.b + 16, "TORTURE     ", 12);
	set32(tab.b + 36, lapic);
	tab.len = 44;
}

static void mpc_cpu(u8 id, u8 flags)
{
	u8 e[20] = { 0, id, 0x14, flags };

	tb_add(&tab, e, sizeof(e));
	tab.count++;
}

static void mpc_entry8(u8 type, u8 id, u8 flags)
{
	u8 e[8] = { type, id, 0x11, flags };

	tb_add(&tab, e, sizeof(e));
	tab.count++;
}

static void mpc_end(u64 pa)
{
	u16 len = (u16)tab.len, count = (u16)tab.count;

	memcpy(tab.b + 4, &len, 2);
	memcpy(tab.b + 34, &count, 2);
	seal(tab.b, tab.len, 7);
	place(&tab, pa);
}

static void std_mp(u64 floating_pa)
{
	mpc_begin(0xfee00000);
	mpc_cpu(0, 3);			/* enabled, BSP */
	mpc_cpu(1, 1);
	mpc_cpu(2, 0);			/* disabled */
	mpc_cpu(0xff, 1);		/* invalid */
	mpc_entry8(1, 0, 0);		/* bus */
	mpc_entry8(2, 4, 1);		/* I/O APIC, enabled */
	mpc_entry8(2, 5, 0);		/* I/O APIC, unusable */
	mpc_entry8(3, 0, 0);		/* I/O interrupt */
	mpc_entry8(4, 0, 0);		/* local interrupt */
	mpc_cpu(3, 1);
	mpc_end(MPC_PA);
	mp_floating(floating_pa, MPC_PA, 0);
}

static void expect_std_mp(void)
{
	expect_ok();
	assert_string_equal(pc.source, "MP floating table");
	assert_int_equal(pc.table_phys, MPC_PA);
	assert_int_equal(pc.lapic_phys, 0xfee00000);
	assert_true(pc.pcat_compat);
	assert_int_equal(pc.ioapic_count, 1);
	assert_string_equal(pc.oem, "PTOEM");
	assert_int_equal(pc.nr_cpu, 4);
	assert_int_equal(pc.nr_enabled, 3);
	assert_int_equal(pc.nr_skipped, 1);
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 1, 0, true, false, false);
	expect_cpu(2, 2, 0, false, false, false);
	expect_cpu(3, 3, 0, true, false, false);
	assert_true(pc.cpu[0].bsp);
	assert_false(pc.cpu[1].bsp);
}

static void test_mp_bios_area(void **state)
{
	std_mp(0xf5b70);
	expect_std_mp();
	assert_string_equal(pc.rsdp_from, "BIOS area 0xF0000-0xFFFFF");
	assert_int_equal(pc.root_phys, 0xf5b70);
	assert_contains(pc.note, "no RSDP");
}

static void test_mp_ebda(void **state)
{
	put16(0x40e, EBDA_SEG);
	std_mp(EBDA_PA + 0x3f0);
	mp_floating(0xf0000, 0, 6);	/* later in the order: not used */
	expect_std_mp();
	assert_string_equal(pc.rsdp_from, "EBDA");
	assert_int_equal(pc.root_phys, EBDA_PA + 0x3f0);
}

static void test_mp_base_memory_top(void **state)
{
	put16(0x413, 512);		/* 512 KiB base memory, no EBDA */
	std_mp(0x7fc00 + 0x80);
	expect_std_mp();
	assert_string_equal(pc.rsdp_from, "base memory top");
	/* Without a usable size in the BDA: 640 KiB. */
	memset(low_mem + 0x7fc80, 0, 16);
	put16(0x413, 0);
	std_mp(0x9fc00);
	expect_std_mp();
	assert_string_equal(pc.rsdp_from, "base memory top");
}

static void test_mp_default_config(void **state)
{
	mp_floating(0xfa000, 0, 5);
	expect_ok();
	assert_string_equal(pc.source, "MP floating table");
	assert_int_equal(pc.nr_cpu, 2);
	expect_cpu(0, 0, 0, true, false, false);
	expect_cpu(1, 1, 0, true, false, false);
	assert_int_equal(pc.lapic_phys, 0xfee00000);
	assert_int_equal(pc.ioapic_count, 1);
	assert_int_equal(pc.table_phys, 0);
}

static void test_mp_reserved_default_config(void **state)
{
	mp_floating(0xfa000, 0, 8);
	expect_error("MP floating pointer at 0xfa000 names default configuration 8");
}

static void test_mp_no_config(void **state)
{
	mp_floating(0xfa000, 0, 0);
	expect_error("MP floating pointer at 0xfa000 gives no configuration table");
}

static void test_mp_bad_config_checksum(void **state)
{
	std_mp(0xf5b70);
	mem(MPC_PA + 50, 1)[0] ^= 1;
	expect_error("bad checksum of MP configuration table at 0xf5c00");
}

static void test_mp_bad_config_signature(void **state)
{
	std_mp(0xf5b70);
	mem(MPC_PA, 4)[0] = 'Q';
	expect_error("MP configuration table at 0xf5c00 has signature 'QCMP', not 'PCMP'");
}

static void test_mp_bad_floating_checksum(void **state)
{
	std_mp(0xf5b70);
	mem(0xf5b70, 16)[10] ^= 1;
	expect_error("bad checksum of MP floating pointer at 0xf5b70");
	/* A good one further on is used, the bad one noted. */
	mp_floating(0xff000, MPC_PA, 0);
	expect_ok();
	assert_int_equal(pc.root_phys, 0xff000);
	assert_contains(pc.note, "bad checksum of MP floating pointer at 0xf5b70");
}

static void test_mp_unknown_entry(void **state)
{
	mpc_begin(0xfee00000);
	mpc_cpu(0, 3);
	mpc_entry8(0x80, 0, 0);		/* extended-looking type in the base table */
	mpc_cpu(1, 1);
	mpc_end(MPC_PA);
	mp_floating(0xf5b70, MPC_PA, 0);
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_contains(pc.note, "unknown MP entry type 128 at offset 64");
}

static void test_mp_count_past_length(void **state)
{
	mpc_begin(0xfee00000);
	mpc_cpu(0, 3);
	mpc_cpu(1, 1);
	tab.count = 5;
	mpc_end(MPC_PA);
	mp_floating(0xf5b70, MPC_PA, 0);
	expect_ok();
	assert_int_equal(pc.nr_cpu, 2);
	assert_contains(pc.note, "MP table says 5 entries, holds 2");
}

static void test_mp_entry_past_length(void **state)
{
	mpc_begin(0xfee00000);
	mpc_cpu(0, 3);
	mpc_entry8(0, 1, 1);		/* a processor entry cut to 8 bytes */
	mpc_end(MPC_PA);
	mp_floating(0xf5b70, MPC_PA, 0);
	expect_ok();
	assert_int_equal(pc.nr_cpu, 1);
	assert_contains(pc.note, "MP entry at offset 64 runs past the table end (72)");
}

static void test_mp_no_enabled_cpu(void **state)
{
	mpc_begin(0xfee00000);
	mpc_cpu(0, 0);
	mpc_end(MPC_PA);
	mp_floating(0xf5b70, MPC_PA, 0);
	expect_error("MP configuration table at 0xf5c00 lists no enabled processor");
}

static void test_no_madt_uses_mp_table(void **state)
{
	u64 e[1] = { FACP_PA };

	std_acpi();
	root_table("XSDT", XSDT_PA, e, 1);
	std_mp(0xf5b70);
	expect_std_mp();
	assert_contains(pc.note, "no MADT in the XSDT at 0x7fe00104; used the MP table");
}

static void test_acpi_preferred_over_mp(void **state)
{
	std_acpi();
	std_mp(0xf5b70);
	expect_ok();
	assert_string_equal(pc.source, "ACPI MADT via XSDT");
	assert_int_equal(pc.nr_cpu, 2);
}

/* A broken ACPI is an error, not a reason to believe the MP table. */
static void test_broken_acpi_not_replaced_by_mp(void **state)
{
	std_acpi();
	std_mp(0xf5b70);
	mem(MADT_PA + 44, 1)[0] ^= 0x2;
	expect_error("bad checksum of MADT at 0x7fe01000");
}

static void test_nothing(void **state)
{
	put16(0x40e, EBDA_SEG);
	expect_error("no RSDP in the Multiboot2 tag, EBDA or 0xE0000-0xFFFFF; "
		     "no MP floating pointer in the EBDA, base memory top or 0xF0000-0xFFFFF");
	/* No boot information at all: the scans still run. */
	assert_int_equal(platform_find_cpus(NULL, &pc, err, sizeof(err)), -1);
}

static void test_short_err_buffer(void **state)
{
	char small[8];

	assert_int_equal(platform_find_cpus(&bi, &pc, small, sizeof(small)), -1);
	assert_string_equal(small, "no RSDP");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rsdp_tag_v2_uses_xsdt),
		T(test_rsdp_tag_v1_uses_rsdt),
		T(test_rsdp_tag_v2_short_copy_uses_rsdt),
		T(test_rsdp_v2_without_xsdt_uses_rsdt),
		T(test_rsdp_in_ebda),
		T(test_rsdp_in_bios_area),
		T(test_rsdp_search_order),
		T(test_rsdp_misaligned_only),
		T(test_rsdp_tag_bad_checksum),
		T(test_rsdp_tag_bad_checksum_scan_finds_one),
		T(test_rsdp_bad_extended_checksum),
		T(test_rsdp_bad_length),
		T(test_xsdt_bad_checksum),
		T(test_xsdt_bad_checksum_falls_back_to_rsdt),
		T(test_xsdt_and_rsdt_bad),
		T(test_rsdt_unreadable),
		T(test_rsdt_length_past_memory),
		T(test_rsdt_bad_length),
		T(test_xsdt_64bit_entries),
		T(test_madt_bad_checksum),
		T(test_madt_header_too_short),
		T(test_no_madt_no_mp_table),
		T(test_madt_entries_and_flags),
		T(test_madt_online_capable_needs_rev5),
		T(test_madt_enabled_and_online_capable),
		T(test_madt_x2apic_ids),
		T(test_madt_duplicate_ids),
		T(test_madt_zero_length_entry),
		T(test_madt_length_one_entry),
		T(test_madt_entry_past_end),
		T(test_madt_trailing_byte),
		T(test_madt_short_entry_skipped),
		T(test_madt_unknown_types_skipped),
		T(test_madt_lapic_override),
		T(test_madt_ioapic_count),
		T(test_madt_cap),
		T(test_madt_no_enabled_cpu),
		T(test_mp_bios_area),
		T(test_mp_ebda),
		T(test_mp_base_memory_top),
		T(test_mp_default_config),
		T(test_mp_reserved_default_config),
		T(test_mp_no_config),
		T(test_mp_bad_config_checksum),
		T(test_mp_bad_config_signature),
		T(test_mp_bad_floating_checksum),
		T(test_mp_unknown_entry),
		T(test_mp_count_past_length),
		T(test_mp_entry_past_length),
		T(test_mp_no_enabled_cpu),
		T(test_no_madt_uses_mp_table),
		T(test_acpi_preferred_over_mp),
		T(test_broken_acpi_not_replaced_by_mp),
		T(test_nothing),
		T(test_short_err_buffer),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
