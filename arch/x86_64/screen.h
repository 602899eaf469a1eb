/* What the Multiboot2 loader said about the screen (multiboot.c fills it,
 * screen.c uses it). */
#ifndef PT_X86_SCREEN_H
#define PT_X86_SCREEN_H

#include "kernel/types.h"

/* Multiboot2 spec 3.6.12: framebuffer types. */
enum { MB_FB_INDEXED = 0, MB_FB_RGB = 1, MB_FB_TEXT = 2 };

struct mb_fb {
	bool valid;
	u64 addr;
	u32 pitch, width, height;	/* text: width and height in characters */
	u8 bpp, type;
	u8 rpos, rsize, gpos, gsize, bpos, bsize;
};

extern struct mb_fb mb_fb;
extern bool mb_efi;	/* the loader passed an EFI system table */

#endif
