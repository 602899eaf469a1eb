/* The local APIC, xAPIC (MMIO) or x2APIC (MSRs), behind one ops table
 * (SDM vol. 3A, chapter 11 "Advanced Programmable Interrupt Controller"). */
#ifndef PT_X86_APIC_H
#define PT_X86_APIC_H

#include "kernel/types.h"

/* Register offsets in the xAPIC page; x2APIC MSR = 0x800 + offset / 16
 * (SDM table 11-6). */
#define APIC_ID 0x20
#define APIC_VERSION 0x30
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ESR 0x280
#define APIC_ICR_LOW 0x300
#define APIC_ICR_HIGH 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_COUNT 0x390
#define APIC_TIMER_DIV 0x3e0

/* ICR fields (SDM 11.6.1). */
#define ICR_FIXED (0u << 8)
#define ICR_NMI (4u << 8)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)
#define ICR_BUSY (1u << 12)	/* delivery status, xAPIC only */
#define ICR_ASSERT (1u << 14)
#define ICR_LEVEL (1u << 15)
#define ICR_SELF (1u << 18)
#define ICR_ALL_BUT_SELF (3u << 18)

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define LVT_TIMER_TSC_DEADLINE (2u << 17)
#define SVR_ENABLE (1u << 8)

/* Interrupt vectors of this kernel (IDT, above the exceptions; the
 * priority class is vector / 16, SDM 11.8.3). */
#define VEC_CALL 0xf0		/* SMP call mailbox */
#define VEC_WAKE 0xf1		/* wake an idle CPU */
#define VEC_SYNC 0xf2		/* the patching protocols' sync */
#define VEC_APIC_ERROR 0xfe
#define VEC_TIMER 0xef
#define VEC_STORM 0xe0		/* fixed-vector storms from tests */
#define VEC_TEST 0xe1		/* free for tests */

enum apic_mode { APIC_XAPIC, APIC_X2APIC };

struct apic_ops {
	const char *name;
	u32 (*read)(unsigned reg);
	void (*write)(unsigned reg, u32 v);
	/* Sends the ICR command; dest is ignored with a shorthand. */
	void (*send)(u32 dest, u32 icr);
	u32 (*id)(void);
};

extern const struct apic_ops *apic;

/* Chooses the mode (apic= option: 0 auto, 1 xapic, 2 x2apic) on the boot
 * CPU; returns NULL or the reason it cannot. */
const char *apic_choose(int want);
/* Enables this CPU's local APIC in the chosen mode. */
void apic_init_cpu(void);
void apic_eoi(void);
const char *apic_mode_name(void);
bool apic_is_x2apic(void);
u64 apic_mmio_base(void);
bool apic_x2apic_by_firmware(void);
/* Waits until the ICR is idle (xAPIC); false after a timeout. */
bool apic_wait_icr_idle(void);

#endif
