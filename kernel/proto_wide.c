/*
 * unsafe-wide-write: the int3-batch sequence whose trap bytes are written
 * as a read-modify-write of the aligned 8-byte word that holds the site's
 * first byte: the word is read, the byte changed, and the word written
 * back a moment later. A neighbour's trap byte written meanwhile is lost,
 * and its tail then goes in behind its old opcode: a torn instruction
 * that a CPU running it returns a wrong outcome from. (Were the new first
 * bytes written so too, a lost one would leave a trap byte behind, which
 * the stray-trap handler runs as the new instruction: no wrong outcome.)
 * Alone that changes nothing else; but a neighbour packed into the same
 * word and written meanwhile by another CPU gets its old bytes back. It
 * is the hazard under "single-byte writes to the instruction stream
 * don't tear" (docs/design.md §13.1): a write wider than the bytes it
 * owns. The engine's ownership check sees only the byte it asked for,
 * as it would not see a store that the hardware or a copy routine made
 * wider, so what must catch it is the neighbour's outcome.
 */
#include "kernel/protocols.h"
#include "kernel/random.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "kernel/time.h"

/* Read to write-back: long enough that a second writer starting with this
 * one lands inside it, as a real RMW's much shorter window would only
 * now and then. */
#define WIDE_WINDOW_LO_NS 5000
#define WIDE_WINDOW_HI_NS 40000

void wide_text_write(u8 *addr, u8 b)
{
	u8 *word = (u8 *)((uintptr_t)addr & ~(uintptr_t)7);
	u8 buf[8];

	memcpy(buf, word, sizeof(buf));
	buf[addr - word] = b;
	delay_ns(rng_range(&this_cpu()->rng, WIDE_WINDOW_LO_NS, WIDE_WINDOW_HI_NS));
	arch_text_write(word, buf, sizeof(buf));
}

const struct patch_proto proto_unsafe_wide_write = {
	.name = "unsafe-wide-write", .batching = true, .apply = int3_apply_batch,
	.trap = TRAP_BREAKPOINT, .hooks = &standard_hooks, .wide_first_byte = true,
	.what = "negative control: each trap byte written as a read-modify-write of its word",
};
