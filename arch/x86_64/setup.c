/* Bring-up of the boot CPU and the end of a run. */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/smp.h"
#include "arch/x86_64/traps.h"
#include "arch/x86_64/tsc.h"
#include "kernel/arch.h"
#include "kernel/mem.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/time.h"

/* 8259A PIC ports and initialization words (Intel 8259A datasheet). */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_ICW1_INIT_ICW4 0x11
#define PIC_ICW4_8086 0x01
#define PIC_VECTOR_BASE 0x20	/* out of the exception range */

/* QEMU's isa-debug-exit: the process exits with (value << 1) | 1. */
#define QEMU_EXIT_PORT 0xf4
/* Reset control register (Intel PCH datasheets: port 0xCF9, bit 2 = reset,
 * bit 1 = hard reset) and the 8042 "pulse reset line" command. */
#define RESET_CONTROL_PORT 0xcf9
#define KBC_CMD_PORT 0x64
#define KBC_PULSE_RESET 0xfe

#define BOOT_IST_SIZE (8 * 1024)

bool multiboot_parse(u32 magic, u32 info, struct boot_info *bi);

static u8 boot_ist_stacks[IST_COUNT][BOOT_IST_SIZE] __aligned(4096);

/* Remap the legacy PICs off the exception vectors and mask every line:
 * all our interrupts come from the local APIC. A PIC left at its BIOS
 * vectors would raise a spurious IRQ 7 as vector 0x0f. */
static void pic_disable(void)
{
	outb(PIC1_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC2_CMD, PIC_ICW1_INIT_ICW4);
	outb(PIC1_DATA, PIC_VECTOR_BASE);
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 4);	/* slave on IRQ 2 */
	outb(PIC2_DATA, 2);	/* cascade identity */
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

void percpu_install(struct cpu *c)
{
	c->self = c;
	wrmsr(MSR_GS_BASE, (u64)(uintptr_t)c);
}

extern char boot_stack_top[];

void arch_early_init(void)
{
	struct cpu *c = &cpus[0];

	c->id = 0;
	c->online = true;
	c->stack_top = boot_stack_top;	/* its task stack: boot.asm */
	percpu_install(c);
	arch_console_init();
	for (int i = 1; i <= IST_COUNT; i++)
		c->arch.ist_top[i] = (u64)(uintptr_t)(boot_ist_stacks[i - 1] + BOOT_IST_SIZE);
	gdt_init_cpu(c);
	/* GDT reload zeroed nothing of GS base, but say it again: the MSR
	 * is what the per-CPU pointer lives in. */
	percpu_install(c);
	idt_init();
	idt_load();
	pic_disable();
	cpuinfo_init();
}

void arch_init(struct boot_info *bi)
{
	page_alloc_init(bi);
	paging_init(bi);
	tsc_calibrate();
}

bool arch_parse_boot_info(u32 magic, u32 info, struct boot_info *bi)
{
	return multiboot_parse(magic, info, bi);
}

bool arch_addr_mapped(u64 va)
{
	return paging_is_mapped(va);
}

void arch_print_banner(void)
{
	const struct cpu_features *f = &cpu_features;

	diag("cpu: %s family %#x model %#x stepping %u, '%s'", f->vendor,
	     f->family, f->model, f->stepping, f->brand);
	diag("cpu features: x2apic=%s tsc-deadline=%s nx=%s serialize=%s invariant-tsc=%s",
	     f->x2apic ? "yes" : "no", f->tsc_deadline ? "yes" : "no",
	     f->nx ? "yes" : "no", f->serialize ? "yes" : "no",
	     f->invariant_tsc ? "yes" : "no");
	diag("hypervisor: %s%s%s%s", hypervisor_name(),
	     f->hypervisor[0] ? " (signature '" : "", f->hypervisor,
	     f->hypervisor[0] ? "')" : "");
	diag("tsc: %llu kHz (%s)", (unsigned long long)ticks_per_ms, ticks_source);
}

static __noreturn void reboot(void)
{
	static const struct desc_ptr no_idt = { 0, 0 };

	outb(RESET_CONTROL_PORT, 0x02);
	outb(RESET_CONTROL_PORT, 0x06);	/* hard reset */
	delay_ns(100 * 1000 * 1000);
	outb(KBC_CMD_PORT, KBC_PULSE_RESET);
	delay_ns(100 * 1000 * 1000);
	/* Last resort: an exception with no IDT triple-faults the CPU. */
	lidt(&no_idt);
	__asm__ __volatile__("int3");
	halt_forever();
}

void arch_finish(int verdict, unsigned reboot_seconds)
{
	irq_disable();
	/* isa-debug-exit values: 0 -> status 1, 1 -> 3, 2 -> 5. Only under
	 * QEMU: on a real machine an unknown port is not a safe place to
	 * write. */
	if (cpu_features.under_qemu)
		outl(QEMU_EXIT_PORT, (u32)verdict);
	if (reboot_seconds) {
		diag("rebooting in %u s (reboot=%u)", reboot_seconds, reboot_seconds);
		delay_ns((u64)reboot_seconds * 1000000000ull);
		reboot();
	}
	diag("halted: power off or reset the machine (reboot=N reboots after N seconds)");
	halt_forever();
}
