/*
 * The screen console (docs/design.md §9.10): a text grid that mirrors the
 * serial console, and at the end the verdict screen. Serial stays the
 * source of truth; the screen is best effort and never waits.
 *
 * The architecture finds the screen (arch_screen_probe, kernel/arch.h) and
 * draws cells; everything else is here.
 */
#ifndef PT_SCREEN_H
#define PT_SCREEN_H

#include "kernel/types.h"

/* Cell colours: the 16 colours of the PC text attribute (foreground in
 * bits 0-3, background in bits 4-6), which the framebuffer maps to RGB. */
enum screen_colour {
	SC_BLACK = 0, SC_BLUE = 1, SC_GREEN = 2, SC_CYAN = 3, SC_RED = 4,
	SC_GREY = 7, SC_DARK_GREY = 8, SC_LIGHT_GREEN = 10, SC_LIGHT_RED = 12,
	SC_YELLOW = 14, SC_WHITE = 15,
};

#define SCREEN_MAX_COLS 160
#define SCREEN_MAX_ROWS 75

/* Block characters of code page 437, used by the large letters. */
#define SCREEN_FULL_BLOCK 0xdb

struct screen_dev {
	char name[64];		/* for the banner: "VGA text 80x25 (BIOS)" */
	unsigned cols, rows;
	/* Draws one cell; never called concurrently, never waits. */
	void (*put)(unsigned row, unsigned col, u8 ch, u8 attr);
};

extern const u8 screen_font[256][16];

/* After the options and the architecture's memory setup: finds the screen
 * (unless screen=off); screen_banner() then says which one. */
void screen_init(bool enabled);
void screen_banner(void);
/* Console output, called by printk with its console lock held (one writer
 * at a time): queued, never drawn here. */
void screen_feed(const char *s, size_t n);
/* Draws what was queued if no other context on any CPU is drawing (a
 * trylock: an NMI that interrupts a drawing CPU leaves its text to it). */
void screen_drain(void);
/* The end of the run: draws everything now, and keeps the verdict screen
 * up for hold_seconds before the machine stops or reboots. */
void screen_finish(unsigned hold_seconds);

#endif
