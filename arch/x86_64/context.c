/*
 * Preemptible contexts (kernel/arch.h): a context is the interrupt frame
 * it was preempted with. Every interrupt but #DF and #MC arrives on the
 * interrupted stack (traps.c: no IST), so the CPU's frame and the
 * registers entry.asm saved under it belong to the context that was
 * running; a switch copies that frame out and another one in, and the
 * IRETQ that ends the interrupt loads the other context's RIP, RFLAGS
 * and RSP (SDM vol. 3A 6.14.3). The dead copy left under the first
 * context's stack pointer is below its live data and never read again.
 */
#include "arch/x86_64/traps.h"
#include "kernel/fault.h"
#include "kernel/string.h"

_Static_assert(sizeof(struct arch_context) == sizeof(struct trap_frame),
	       "struct arch_context holds a trap frame");

#define RFLAGS_IF (1ull << 9)
#define RFLAGS_RESERVED1 (1ull << 1)	/* always 1 (SDM vol. 1 3.4.3) */

/* Where an entry that returns ends up: a context has nothing to return
 * to. */
static void context_returned(void)
{
	panic("a preemptible context's entry returned");
}

void arch_context_init(struct arch_context *ctx, void (*entry)(void *), void *arg,
		       void *stack, size_t size)
{
	struct trap_frame *f = (struct trap_frame *)ctx->frame;
	u64 top = ((u64)(uintptr_t)stack + size) & ~15ull;

	memset(ctx, 0, sizeof(*ctx));
	/* As if entry had just been called: RSP + 8 16-byte aligned (SysV
	 * ABI), the return address a trap. */
	top -= 8;
	*(u64 *)(uintptr_t)top = (u64)(uintptr_t)context_returned;
	f->rsp = top;
	f->rip = (u64)(uintptr_t)entry;
	f->rdi = (u64)(uintptr_t)arg;
	f->cs = SEL_CODE;
	f->ss = SEL_DATA;
	f->rflags = RFLAGS_IF | RFLAGS_RESERVED1;
}

void arch_context_switch(struct trap_frame *f, struct arch_context *from,
			 const struct arch_context *to)
{
	u64 fa = (u64)(uintptr_t)f;

	/* Through a gate without IST the CPU pushes its frame just under the
	 * interrupted RSP, aligned down to 16 (SDM vol. 3A 6.14.2), and
	 * entry.asm the registers under it: at most 191 bytes below. A
	 * frame anywhere else came through an IST stack, shared by every
	 * context of the CPU. */
	if (fa >= f->rsp || f->rsp - fa > 256)
		panic("context switch from an interrupt frame at %#llx, not on the interrupted "
		      "stack (RSP %#llx): the vector has an IST stack", (unsigned long long)fa,
		      (unsigned long long)f->rsp);
	memcpy(from->frame, f, sizeof(*f));
	memcpy(f, to->frame, sizeof(*f));
}

u64 arch_context_ip(const struct arch_context *ctx)
{
	return ((const struct trap_frame *)ctx->frame)->rip;
}
