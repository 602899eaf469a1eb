/*
 * The screens the screen console draws on (kernel/screen.c):
 *   - the linear framebuffer a Multiboot2 loader set up because our header
 *     asked for one (Multiboot2 spec 3.1.10, 3.6.12): what GRUB gives
 *     under UEFI, where there is no text mode; 32 bits per pixel only;
 *   - VGA text mode, 80x25 cells of character and attribute at 0xb8000
 *     (IBM VGA Technical Reference, "text modes"), under a BIOS, either
 *     described by the loader (framebuffer type 2) or assumed when the
 *     firmware is not UEFI. Our font is loaded into plane 2 so that the
 *     screen shows the same glyphs as the framebuffer does.
 * Both are mapped uncached: they are device memory.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/screen.h"
#include "kernel/arch.h"
#include "kernel/format.h"
#include "kernel/mem.h"
#include "kernel/screen.h"

#define VGA_TEXT 0xb8000
#define VGA_PLANES 0xa0000	/* the 64 KiB window, font loading only */
#define SEQ_INDEX 0x3c4
#define GC_INDEX 0x3ce
#define CRTC_INDEX 0x3d4

struct mb_fb mb_fb;
bool mb_efi;

static struct screen_dev screen;
static volatile u16 *text;
static volatile u8 *fb;
static u32 palette[16];

/* The PC's 16 text colours (IBM VGA palette), as 8-bit R, G, B. */
static const u8 vga_rgb[16][3] = {
	{ 0x00, 0x00, 0x00 }, { 0x00, 0x00, 0xaa }, { 0x00, 0xaa, 0x00 }, { 0x00, 0xaa, 0xaa },
	{ 0xaa, 0x00, 0x00 }, { 0xaa, 0x00, 0xaa }, { 0xaa, 0x55, 0x00 }, { 0xaa, 0xaa, 0xaa },
	{ 0x55, 0x55, 0x55 }, { 0x55, 0x55, 0xff }, { 0x55, 0xff, 0x55 }, { 0x55, 0xff, 0xff },
	{ 0xff, 0x55, 0x55 }, { 0xff, 0x55, 0xff }, { 0xff, 0xff, 0x55 }, { 0xff, 0xff, 0xff },
};

static void map_range(u64 pa, u64 len)
{
	for (u64 off = 0; off < len; off += PAGE_SIZE)
		map_page(pa + off, pa + off, MAP_WRITE | MAP_UNCACHED);
}

static u32 field(u8 value, u8 pos, u8 size)
{
	return size >= 8 ? (u32)value << (pos + size - 8) : (u32)(value >> (8 - size)) << pos;
}

static void fb_put(unsigned row, unsigned col, u8 ch, u8 attr)
{
	u32 fg = palette[attr & 15], bg = palette[(attr >> 4) & 7];

	for (unsigned y = 0; y < 16; y++) {
		volatile u32 *px = (volatile u32 *)(fb + (u64)(row * 16 + y) * mb_fb.pitch) + col * 8;
		u8 bits = screen_font[ch][y];

		for (unsigned x = 0; x < 8; x++)
			px[x] = bits & (0x80 >> x) ? fg : bg;
	}
}

static void text_put(unsigned row, unsigned col, u8 ch, u8 attr)
{
	text[row * screen.cols + col] = ch | (u16)attr << 8;
}

static void vga_reg(u16 port, u8 index, u8 value)
{
	outb(port, index);
	outb(port + 1, value);
}

/* Font into plane 2, 32 bytes a character (VGA reference, "loading a
 * character set"): sequencer writes to plane 2 only, without odd/even;
 * graphics controller maps 0xa0000 and reads plane 2. Then back to the
 * text mode settings, and the cursor off. */
static void vga_load_font(void)
{
	volatile u8 *planes = (volatile u8 *)VGA_PLANES;

	vga_reg(SEQ_INDEX, 2, 0x04);
	vga_reg(SEQ_INDEX, 4, 0x07);
	vga_reg(GC_INDEX, 4, 0x02);
	vga_reg(GC_INDEX, 5, 0x00);
	vga_reg(GC_INDEX, 6, 0x04);
	for (unsigned ch = 0; ch < 256; ch++)
		for (unsigned y = 0; y < 32; y++)
			planes[ch * 32 + y] = y < 16 ? screen_font[ch][y] : 0;
	vga_reg(SEQ_INDEX, 2, 0x03);
	vga_reg(SEQ_INDEX, 4, 0x03);
	vga_reg(GC_INDEX, 4, 0x00);
	vga_reg(GC_INDEX, 5, 0x10);
	vga_reg(GC_INDEX, 6, 0x0e);
	vga_reg(CRTC_INDEX, 0x0a, 0x20);	/* cursor start: bit 5 = off */
}

static const struct screen_dev *probe_fb(void)
{
	if (mb_fb.bpp != 32) {
		ksnprintf(screen.name, sizeof(screen.name), "none usable (framebuffer of %u bpp)",
			  mb_fb.bpp);
		return NULL;
	}
	map_range(mb_fb.addr & ~(u64)(PAGE_SIZE - 1), (u64)mb_fb.pitch * mb_fb.height + PAGE_SIZE);
	fb = (volatile u8 *)(uintptr_t)mb_fb.addr;
	for (unsigned i = 0; i < 16; i++)
		palette[i] = field(vga_rgb[i][0], mb_fb.rpos, mb_fb.rsize) |
			     field(vga_rgb[i][1], mb_fb.gpos, mb_fb.gsize) |
			     field(vga_rgb[i][2], mb_fb.bpos, mb_fb.bsize);
	screen.cols = mb_fb.width / 8;
	screen.rows = mb_fb.height / 16;
	screen.put = fb_put;
	ksnprintf(screen.name, sizeof(screen.name), "framebuffer %ux%u, 32 bpp at %#llx (%s)",
		  mb_fb.width, mb_fb.height, (unsigned long long)mb_fb.addr,
		  mb_efi ? "UEFI" : "BIOS");
	return &screen;
}

static const struct screen_dev *probe_text(void)
{
	screen.cols = mb_fb.valid ? mb_fb.width : 80;
	screen.rows = mb_fb.valid ? mb_fb.height : 25;
	map_range(VGA_PLANES, 0x20000);
	text = (volatile u16 *)VGA_TEXT;
	vga_load_font();
	screen.put = text_put;
	ksnprintf(screen.name, sizeof(screen.name), "VGA text at 0xb8000 (%s)",
		  mb_efi ? "UEFI" : "BIOS");
	return &screen;
}

const struct screen_dev *arch_screen_probe(void)
{
	if (mb_fb.valid && mb_fb.type == MB_FB_RGB)
		return probe_fb();
	if ((mb_fb.valid && mb_fb.type == MB_FB_TEXT) || (!mb_fb.valid && !mb_efi))
		return probe_text();
	return NULL;
}
