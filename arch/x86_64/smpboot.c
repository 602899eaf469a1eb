/*
 * Bringing application processors up, and the IPIs between CPUs.
 *
 * Start-up follows the MP spec (B.4) and SDM vol. 3A 9.4.4: INIT, 10 ms,
 * Startup IPI, 200 us, and a second SIPI only if the AP has not checked in
 * (a second SIPI to a CPU that already runs is ignored by the hardware,
 * but one that arrives while it is still in the trampoline would restart
 * it). The trampoline page below 1 MiB comes from the memory map, since
 * UEFI may own the traditional 0x8000, and is filled with int3 before the
 * code goes in so that a stray jump traps.
 */
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/traps.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/mem.h"
#include "kernel/patch_internal.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/time.h"

#define INIT_DELAY_NS (10 * 1000 * 1000)	/* MP spec B.4.1 */
#define SIPI_DELAY_NS (200 * 1000)		/* MP spec B.4.2 */
/* After the second SIPI: generous, an emulator with hundreds of vCPUs on
 * one host thread takes its time. */
#define CHECKIN_TIMEOUT_NS (2000ull * 1000 * 1000)
#define LOW_MEM_END 0xa0000
#define STACK_SIZE (16 * 1024)
#define IST_SIZE (8 * 1024)

struct ap_boot_params {
	u64 cr3, efer, stack, cpu, entry;
};

/* Read by the trampoline before paging: must sit below 4 GiB, as the
 * whole kernel does. */
struct ap_boot_params ap_boot_params;

extern const u8 trampoline_start[], trampoline_end[];
extern const char TR_GDT_BASE[], TR_FAR32[], TR_FAR64[], TR_PARAMS[];
extern const char TR_OFF_GDT[], TR_OFF_PM32[], TR_OFF_LONG[];

static u64 tramp_page;
static struct platform_cpus platform;
static const u8 ipi_vectors[IPI_KINDS] = {
	[IPI_CALL] = VEC_CALL, [IPI_WAKE] = VEC_WAKE,
	[IPI_TIMER] = VEC_TIMER, [IPI_STORM] = VEC_STORM, [IPI_SYNC] = VEC_SYNC,
};
static void (*ipi_handlers[IPI_KINDS])(struct trap_frame *f);
static bool (*nmi_handler)(struct trap_frame *f);

static void patch32(u8 *page, const char *off, u32 v)
{
	memcpy(page + (uintptr_t)off, &v, 4);
}

/* The highest usable page below the EBDA/VGA hole that the map says is
 * free RAM. */
static u64 find_trampoline_page(const struct boot_info *bi)
{
	u64 best = 0;

	for (unsigned i = 0; i < bi->nr_mem; i++) {
		const struct mem_region *m = &bi->mem[i];
		u64 lo = ALIGN_UP(MAX(m->base, PAGE_SIZE), PAGE_SIZE);
		u64 hi = ALIGN_DOWN(MIN(m->base + m->len, LOW_MEM_END), PAGE_SIZE);

		if (m->type == MEM_USABLE && hi > lo)
			best = MAX(best, hi - PAGE_SIZE);
	}
	return best;
}

static const char *install_trampoline(const struct boot_info *bi)
{
	size_t len = trampoline_end - trampoline_start;
	u8 *page;

	tramp_page = find_trampoline_page(bi);
	if (!tramp_page)
		return "no usable page below 640 KiB for the AP trampoline";
	page = phys_map(tramp_page, PAGE_SIZE);
	memset(page, 0xcc, PAGE_SIZE);
	memcpy(page, trampoline_start, len);
	patch32(page, TR_GDT_BASE, tramp_page + (uintptr_t)TR_OFF_GDT);
	patch32(page, TR_FAR32, tramp_page + (uintptr_t)TR_OFF_PM32);
	patch32(page, TR_FAR64, tramp_page + (uintptr_t)TR_OFF_LONG);
	patch32(page, TR_PARAMS, (u32)(uintptr_t)&ap_boot_params);
	/* From now on read-only and executable, like all code. */
	map_page(tramp_page, tramp_page, MAP_EXEC);
	return NULL;
}

static void setup_stacks(struct cpu *c)
{
	c->stack_top = stack_alloc(STACK_SIZE);
	for (int i = 1; i <= IST_COUNT; i++)
		c->arch.ist_top[i] = (u64)(uintptr_t)stack_alloc(IST_SIZE);
}

unsigned arch_enumerate_cpus(unsigned max, char *err, size_t errlen)
{
	u32 bsp = apic->id();
	unsigned n = 1;
	const char *why;

	if (platform_find_cpus(&boot_info, &platform, err, errlen))
		return 0;
	diag("firmware: CPUs from %s (RSDP from %s, OEM '%s'), %u enabled, LAPIC at %#llx%s%s",
	     platform.source, platform.rsdp_from ? platform.rsdp_from : "-", platform.oem,
	     platform.nr_enabled, (unsigned long long)platform.lapic_phys,
	     platform.note[0] ? "; note: " : "", platform.note);
	why = install_trampoline(&boot_info);
	if (why) {
		ksnprintf(err, errlen, "%s", why);
		return 0;
	}
	cpus[0].hw_id = bsp;
	for (unsigned i = 0; i < platform.nr_cpu && n < max && n < MAX_CPUS; i++) {
		const struct cpu_desc *d = &platform.cpu[i];
		struct cpu *c = &cpus[n];

		if (!d->enabled || d->apic_id == bsp)
			continue;
		if (d->apic_id > 0xff && !apic_is_x2apic()) {
			/* An xAPIC ICR has 8 destination bits (SDM 11.6.1). */
			diag("CPU with APIC ID %u needs x2APIC to be reached: not started",
			     d->apic_id);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->id = n++;
		c->hw_id = d->apic_id;
		c->self = c;
		setup_stacks(c);
	}
	return n;
}

unsigned arch_cpus_described(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < platform.nr_cpu; i++)
		n += platform.cpu[i].enabled;
	return n ? n : 1;
}

const char *arch_cpu_source(void)
{
	return platform.source ? platform.source : "nothing (boot CPU only)";
}

u32 arch_cpu_hw_id(void)
{
	return apic->id();
}

/* apic=: the local APIC's mode (apic_choose takes the index). */
const char arch_option_name[] = "apic";
const char arch_option_help[] = "local APIC mode (auto: x2APIC when the CPU has it)";
const char *const arch_option_choices[] = { "auto", "xapic", "x2apic", NULL };

const char *arch_smp_setup(unsigned choice)
{
	const char *why = apic_choose((int)choice);

	if (why)
		return why;
	apic_init_cpu();
	cpus[0].hw_id = apic->id();
	timer_calibrate();
	smp_arch_init();
	return NULL;
}

/* The AP's first C code, on its own stack, from the trampoline. */
void __noreturn ap_entry(struct cpu *c)
{
	/* Before anything else: the code it is about to run may have been
	 * written by another CPU (SDM 8.1.3, cross-modifying code). The
	 * checker is told: syncs do not wait for offline CPUs, so without
	 * this a CPU back online mid-patch still showed the serialization
	 * from before it went offline ('every CPU saw the previous step',
	 * poke.hotplug under multi-threaded TCG). */
	u64 seq = __atomic_load_n(&text_write_seq, __ATOMIC_ACQUIRE);

	serialize_cpuid();
	c->serial_seq = seq;
	percpu_install(c);
	gdt_init_cpu(c);
	percpu_install(c);
	idt_load();
	apic_init_cpu();
	WRITE_ONCE(c->arch.started, true);
	smp_ap_main(c);
}

static bool wait_checkin(struct cpu *c, u64 ns)
{
	u64 end = timestamp() + ns_to_ticks(ns);

	while (timestamp() < end) {
		if (READ_ONCE(c->arch.started))
			return true;
		cpu_relax();
	}
	return READ_ONCE(c->arch.started);
}

int arch_cpu_start(struct cpu *c)
{
	u32 sipi = ICR_STARTUP | (u32)(tramp_page >> 12);

	ap_boot_params = (struct ap_boot_params){
		.cr3 = read_cr3(),
		.efer = rdmsr(MSR_EFER) & (EFER_LME | EFER_NXE),
		.stack = (u64)(uintptr_t)c->stack_top,
		.cpu = (u64)(uintptr_t)c,
		.entry = (u64)(uintptr_t)ap_entry,
	};
	WRITE_ONCE(c->arch.started, false);
	mb();
	apic->send(c->hw_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
	delay_ns(INIT_DELAY_NS);
	apic->send(c->hw_id, sipi);
	if (wait_checkin(c, SIPI_DELAY_NS))
		return 0;
	apic->send(c->hw_id, sipi);
	return wait_checkin(c, CHECKIN_TIMEOUT_NS) ? 0 : -1;
}

void arch_cpu_stop(struct cpu *c)
{
	apic->send(c->hw_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
	apic_wait_icr_idle();
}

/* IPIs --------------------------------------------------------------- */

static bool ipi_dispatch(struct trap_frame *f)
{
	for (unsigned k = 0; k < IPI_KINDS; k++) {
		if (ipi_vectors[k] != f->vector)
			continue;
		if (ipi_handlers[k])
			ipi_handlers[k](f);
		apic_eoi();
		return true;
	}
	return false;
}

static bool apic_error(struct trap_frame *f)
{
	u32 esr;

	apic->write(APIC_ESR, 0);
	esr = apic->read(APIC_ESR);
	diag("APIC error on CPU %d: ESR %#x", this_cpu()->id, esr);
	apic_eoi();
	return true;
}

static bool nmi_dispatch(struct trap_frame *f)
{
	return nmi_handler && nmi_handler(f);
}

void smp_arch_init(void)
{
	for (unsigned k = 0; k < IPI_KINDS; k++)
		trap_set_handler(ipi_vectors[k], ipi_dispatch);
	trap_set_handler(VEC_APIC_ERROR, apic_error);
	trap_set_handler(VEC_NMI, nmi_dispatch);
}

void arch_set_ipi_handler(enum ipi_kind kind, void (*fn)(struct trap_frame *f))
{
	ipi_handlers[kind] = fn;
}

void arch_set_nmi_handler(bool (*fn)(struct trap_frame *f))
{
	nmi_handler = fn;
}

void arch_send_ipi(const struct cpu *c, enum ipi_kind kind)
{
	apic->send(c->hw_id, ICR_FIXED | ipi_vectors[kind]);
}

void arch_send_ipi_all_but_self(enum ipi_kind kind)
{
	apic->send(0, ICR_FIXED | ICR_ALL_BUT_SELF | ipi_vectors[kind]);
}

void arch_send_self_ipi(enum ipi_kind kind)
{
	apic->send(0, ICR_FIXED | ICR_SELF | ipi_vectors[kind]);
}

void arch_send_nmi(const struct cpu *c)
{
	apic->send(c->hw_id, ICR_NMI);
}

void arch_send_nmi_all_but_self(void)
{
	apic->send(0, ICR_NMI | ICR_ALL_BUT_SELF);
}

u64 arch_frame_ip(const struct trap_frame *f)
{
	return f->rip;
}

bool arch_frame_irqs_were_on(const struct trap_frame *f)
{
	return f->rflags & RFLAGS_IF;
}

void arch_frame_report(const struct trap_frame *f, const char *why)
{
	trap_report(f, why);
}

void arch_frame_resume(struct trap_frame *f, const struct recovery *r)
{
	trap_resume_at(f, r);
}

const char *arch_irq_controller(void)
{
	static char name[16];

	ksnprintf(name, sizeof(name), "APIC %s", apic_mode_name());
	return name;
}
