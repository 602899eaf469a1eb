/*
 * Local APIC access. xAPIC registers are 32-bit MMIO at IA32_APIC_BASE;
 * x2APIC registers are MSRs 0x800-0x8ff, with the ICR a single 64-bit MSR
 * holding a 32-bit destination (SDM 11.12). The firmware may hand over in
 * x2APIC mode (SeaBIOS does with more than 255 CPUs); then the xAPIC page
 * reads all ones and x2APIC is the only choice, since leaving x2APIC mode
 * needs a full disable (SDM 11.12.5, figure 11-27).
 */
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"
#include "arch/x86_64/paging.h"

#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)	/* x2APIC mode */
#define APIC_BASE_EN (1ull << 11)	/* global enable */
#define APIC_BASE_ADDR 0x000ffffffffff000ull
#define ICR_IDLE_POLLS 10000000

static volatile u32 *xapic_regs;
static enum apic_mode mode;
static bool firmware_x2apic;
const struct apic_ops *apic;

static u32 xapic_read(unsigned reg)
{
	return xapic_regs[reg / 4];
}

static void xapic_write(unsigned reg, u32 v)
{
	xapic_regs[reg / 4] = v;
}

bool apic_wait_icr_idle(void)
{
	if (mode == APIC_X2APIC)
		return true;	/* x2APIC has no delivery status bit */
	for (unsigned i = 0; i < ICR_IDLE_POLLS; i++) {
		if (!(xapic_read(APIC_ICR_LOW) & ICR_BUSY))
			return true;
		__asm__ __volatile__("pause");
	}
	return false;
}

static void xapic_send(u32 dest, u32 icr)
{
	apic_wait_icr_idle();
	/* The MMIO write to ICR low sends: the destination goes first. The
	 * xAPIC is uncached MMIO, so earlier stores are visible before it. */
	xapic_write(APIC_ICR_HIGH, dest << 24);
	xapic_write(APIC_ICR_LOW, icr);
}

static u32 xapic_id(void)
{
	return xapic_read(APIC_ID) >> 24;
}

static u32 x2apic_read(unsigned reg)
{
	return (u32)rdmsr(0x800 + reg / 16);
}

static void x2apic_write(unsigned reg, u32 v)
{
	wrmsr(0x800 + reg / 16, v);
}

static void x2apic_send(u32 dest, u32 icr)
{
	/* WRMSR to the x2APIC ICR is not serializing (SDM 11.12.3): without
	 * the fences the IPI may overtake the stores it is meant to
	 * publish, e.g. a patch descriptor the target's handler then reads
	 * stale. */
	__asm__ __volatile__("mfence; lfence" ::: "memory");
	wrmsr(0x800 + APIC_ICR_LOW / 16, ((u64)dest << 32) | icr);
}

static u32 x2apic_id(void)
{
	return (u32)rdmsr(0x800 + APIC_ID / 16);
}

static const struct apic_ops xapic_ops = {
	"xAPIC", xapic_read, xapic_write, xapic_send, xapic_id,
};

static const struct apic_ops x2apic_ops = {
	"x2APIC", x2apic_read, x2apic_write, x2apic_send, x2apic_id,
};

const char *apic_choose(int want)
{
	u64 base = rdmsr(MSR_APIC_BASE);

	firmware_x2apic = (base & APIC_BASE_EN) && (base & APIC_BASE_EXTD);
	if (firmware_x2apic && want == 1)
		return "the firmware left the CPU in x2APIC mode, which cannot be left for xAPIC";
	if (want == 2 && !cpu_features.x2apic)
		return "this CPU has no x2APIC (CPUID.1:ECX bit 21)";
	if (firmware_x2apic || want == 2 || (want == 0 && cpu_features.x2apic))
		mode = APIC_X2APIC;
	else
		mode = APIC_XAPIC;
	xapic_regs = map_mmio(base & APIC_BASE_ADDR, 4096);
	apic = mode == APIC_X2APIC ? &x2apic_ops : &xapic_ops;
	return NULL;
}

void apic_init_cpu(void)
{
	u64 base = rdmsr(MSR_APIC_BASE) | APIC_BASE_EN;

	/* xAPIC -> x2APIC is allowed directly from enabled xAPIC mode. */
	if (mode == APIC_X2APIC)
		base |= APIC_BASE_EXTD;
	wrmsr(MSR_APIC_BASE, base);
	apic->write(APIC_TPR, 0);
	apic->write(APIC_LVT_TIMER, LVT_MASKED);
	apic->write(APIC_LVT_LINT0, LVT_MASKED);
	apic->write(APIC_LVT_LINT1, LVT_MASKED);
	apic->write(APIC_LVT_ERROR, VEC_APIC_ERROR);
	apic->write(APIC_ESR, 0);	/* arm, then clear (SDM 11.5.3) */
	apic->write(APIC_ESR, 0);
	apic->write(APIC_SVR, SVR_ENABLE | 0xff);	/* spurious vector 0xff */
	apic->write(APIC_EOI, 0);
}

void apic_eoi(void)
{
	apic->write(APIC_EOI, 0);
}

bool apic_is_x2apic(void)
{
	return mode == APIC_X2APIC;
}

const char *apic_mode_name(void)
{
	return apic ? apic->name : "none";
}

u64 apic_mmio_base(void)
{
	return (u64)(uintptr_t)xapic_regs;
}

bool apic_x2apic_by_firmware(void)
{
	return firmware_x2apic;
}
