/*
 * Multiboot (0.6.96) and Multiboot2 (2.0) boot information, copied into
 * boot_info. Runs before anything allocates memory: the loader's structures
 * may sit right after our .bss (QEMU) or anywhere in low memory (GRUB), and
 * are never touched again afterwards.
 */
#include "arch/x86_64/screen.h"
#include "kernel/bootinfo.h"
#include "kernel/printk.h"
#include "kernel/string.h"

#define MB1_BOOT_MAGIC 0x2badb002
#define MB2_BOOT_MAGIC 0x36d76289

/* Multiboot spec 3.3, boot information format. */
#define MB1_INFO_MEM (1u << 0)
#define MB1_INFO_CMDLINE (1u << 2)
#define MB1_INFO_MMAP (1u << 6)
#define MB1_INFO_LOADER (1u << 9)

struct __packed mb1_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
	u32 mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
	u32 drives_length, drives_addr, config_table, boot_loader_name;
};

struct __packed mb1_mmap_entry {
	u32 size;	/* of the rest of the entry */
	u64 base, len;
	u32 type;
};

/* Multiboot2 spec 3.6: tags of the boot information. */
enum {
	MB2_TAG_END = 0, MB2_TAG_CMDLINE = 1, MB2_TAG_LOADER = 2,
	MB2_TAG_MMAP = 6, MB2_TAG_FRAMEBUFFER = 8, MB2_TAG_EFI32 = 11, MB2_TAG_EFI64 = 12,
	MB2_TAG_ACPI_OLD = 14, MB2_TAG_ACPI_NEW = 15,
};

/* 3.6.12, as GRUB lays it out (a 16-bit reserved field before the colour
 * information). */
struct __packed mb2_framebuffer {
	u32 type, size;
	u64 addr;
	u32 pitch, width, height;
	u8 bpp, fb_type;
	u16 reserved;
	u8 rpos, rsize, gpos, gsize, bpos, bsize;
};

struct __packed mb2_tag {
	u32 type, size;
};

struct __packed mb2_mmap {
	u32 type, size, entry_size, entry_version;
};

struct __packed mb2_mmap_entry {
	u64 base, len;
	u32 type, reserved;
};

static void copy_string(char *dst, size_t size, const char *src, bool *trunc)
{
	size_t len = strlcpy(dst, src, size);

	if (trunc)
		*trunc = len >= size;
}

static void add_region(struct boot_info *bi, u64 base, u64 len, u32 type)
{
	if (bi->nr_mem == BOOT_MEM_MAX) {
		bi->mem_truncated = true;
		return;
	}
	/* Types above 5 are reserved by the specs: treat as reserved. */
	if (type < MEM_USABLE || type > MEM_BAD)
		type = MEM_RESERVED;
	bi->mem[bi->nr_mem++] = (struct mem_region){ base, len, type };
}

static void parse_mb1(const struct mb1_info *mi, struct boot_info *bi)
{
	bi->protocol = 1;
	if (mi->flags & MB1_INFO_CMDLINE)
		copy_string(bi->cmdline, sizeof(bi->cmdline),
			    (const char *)(uintptr_t)mi->cmdline, &bi->cmdline_truncated);
	if (mi->flags & MB1_INFO_LOADER)
		copy_string(bi->loader, sizeof(bi->loader),
			    (const char *)(uintptr_t)mi->boot_loader_name, NULL);
	if (mi->flags & MB1_INFO_MMAP) {
		uintptr_t p = mi->mmap_addr, end = p + mi->mmap_length;

		while (p < end) {
			const struct mb1_mmap_entry *e = (const void *)p;

			add_region(bi, e->base, e->len, e->type);
			p += e->size + sizeof(e->size);
		}
	} else if (mi->flags & MB1_INFO_MEM) {
		/* No map: mem_lower and mem_upper are KiB at 0 and at 1 MiB. */
		add_region(bi, 0, (u64)mi->mem_lower * KiB, MEM_USABLE);
		add_region(bi, MiB, (u64)mi->mem_upper * KiB, MEM_USABLE);
	}
}

static void parse_mb2_mmap(const struct mb2_mmap *m, struct boot_info *bi)
{
	uintptr_t p = (uintptr_t)(m + 1), end = (uintptr_t)m + m->size;

	if (m->entry_size < sizeof(struct mb2_mmap_entry))
		return;
	for (; p + sizeof(struct mb2_mmap_entry) <= end; p += m->entry_size) {
		const struct mb2_mmap_entry *e = (const void *)p;

		add_region(bi, e->base, e->len, e->type);
	}
}

static void parse_mb2_framebuffer(const struct mb2_framebuffer *f)
{
	mb_fb = (struct mb_fb){
		.valid = true, .addr = f->addr, .pitch = f->pitch, .width = f->width,
		.height = f->height, .bpp = f->bpp, .type = f->fb_type,
	};
	if (f->fb_type == MB_FB_RGB && f->size >= sizeof(*f)) {
		mb_fb.rpos = f->rpos;
		mb_fb.rsize = f->rsize;
		mb_fb.gpos = f->gpos;
		mb_fb.gsize = f->gsize;
		mb_fb.bpos = f->bpos;
		mb_fb.bsize = f->bsize;
	}
}

static void parse_mb2(uintptr_t info, struct boot_info *bi)
{
	u32 total = *(const u32 *)info;
	uintptr_t p = info + 8, end = info + total;

	bi->protocol = 2;
	while (p + sizeof(struct mb2_tag) <= end) {
		const struct mb2_tag *t = (const void *)p;
		const char *payload = (const char *)(t + 1);
		size_t plen = t->size - sizeof(*t);

		if (t->type == MB2_TAG_END || t->size < sizeof(*t))
			break;
		switch (t->type) {
		case MB2_TAG_CMDLINE:
			copy_string(bi->cmdline, sizeof(bi->cmdline), payload,
				    &bi->cmdline_truncated);
			break;
		case MB2_TAG_LOADER:
			copy_string(bi->loader, sizeof(bi->loader), payload, NULL);
			break;
		case MB2_TAG_MMAP:
			parse_mb2_mmap((const void *)t, bi);
			break;
		case MB2_TAG_FRAMEBUFFER:
			parse_mb2_framebuffer((const void *)t);
			break;
		case MB2_TAG_EFI32:
		case MB2_TAG_EFI64:
			mb_efi = true;
			break;
		case MB2_TAG_ACPI_OLD:
		case MB2_TAG_ACPI_NEW:	/* the new one wins: it comes with XSDT */
			if (t->type == MB2_TAG_ACPI_NEW || !bi->rsdp_len) {
				bi->rsdp_len = MIN(plen, sizeof(bi->rsdp));
				memcpy(bi->rsdp, payload, bi->rsdp_len);
			}
			break;
		}
		p += ALIGN_UP((uintptr_t)t->size, 8);
	}
}

/* Returns false when the magic is not a Multiboot one. */
bool multiboot_parse(u32 magic, u32 info, struct boot_info *bi)
{
	memset(bi, 0, sizeof(*bi));
	if (magic == MB1_BOOT_MAGIC)
		parse_mb1((const struct mb1_info *)(uintptr_t)info, bi);
	else if (magic == MB2_BOOT_MAGIC)
		parse_mb2(info, bi);
	else
		return false;
	return true;
}
