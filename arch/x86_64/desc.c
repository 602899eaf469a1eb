/*
 * Descriptor tables: a GDT and TSS per CPU, one IDT shared by all CPUs.
 * Long mode ignores segment bases and limits for CS/DS/SS, so the GDT only
 * carries the 64-bit code segment, a data segment and the TSS, whose IST
 * pointers give #DF and #MC stacks of their own.
 */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/traps.h"
#include "kernel/percpu.h"
#include "kernel/string.h"

/* SDM vol. 3A, 3.4.5: P=1, DPL=0, S=1; code: type execute/read + accessed,
 * L=1; data: read/write + accessed. Accessed bits preset so the CPU never
 * writes to the table. */
#define GDT_CODE64 0x00af9b000000ffffull
#define GDT_DATA 0x00cf93000000ffffull
#define TSS_TYPE_AVAIL 0x9ull	/* 64-bit TSS (available), SDM table 3-2 */

struct __packed idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;	/* P | DPL | 0 | type */
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
};

#define GATE_INTERRUPT 0x8e	/* P=1, DPL=0, 64-bit interrupt gate: IF cleared */
#define GATE_TRAP 0x8f		/* P=1, DPL=0, 64-bit trap gate: IF kept */

extern const u64 trap_stubs[256];
static struct idt_gate idt[256] __aligned(16);

static void tss_descriptor(u64 *slot, const struct tss64 *tss)
{
	u64 base = (u64)tss, limit = sizeof(*tss) - 1;

	slot[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		  (TSS_TYPE_AVAIL << 40) | (1ull << 47) |
		  (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	slot[1] = base >> 32;
}

/* Loads this CPU's GDT and TSS and reloads every segment register. */
void gdt_init_cpu(struct cpu *c)
{
	struct arch_cpu *a = &c->arch;
	struct desc_ptr p = { sizeof(a->gdt) - 1, (u64)a->gdt };

	memset(a->gdt, 0, sizeof(a->gdt));
	a->gdt[SEL_CODE / 8] = GDT_CODE64;
	a->gdt[SEL_DATA / 8] = GDT_DATA;
	memset(&a->tss, 0, sizeof(a->tss));
	a->tss.iomap_base = sizeof(a->tss);	/* no I/O bitmap */
	for (int i = 1; i <= IST_COUNT; i++)
		a->tss.ist[i - 1] = a->ist_top[i];
	tss_descriptor(&a->gdt[SEL_TSS / 8], &a->tss);
	lgdt(&p);
	/* Reload CS with a far return, then the data segments. GS is only
	 * zeroed when its base is set afterwards (MSR write), see caller. */
	__asm__ __volatile__(
		"pushq %[cs]\n\t"
		"leaq 1f(%%rip), %%rax\n\t"
		"pushq %%rax\n\t"
		"lretq\n"
		"1:\n\t"
		"movw %w[ds], %%ax\n\t"
		"movw %%ax, %%ds\n\t"
		"movw %%ax, %%es\n\t"
		"movw %%ax, %%ss\n\t"
		:
		: [cs] "i"(SEL_CODE), [ds] "r"(SEL_DATA)
		: "rax", "memory");
	ltr(SEL_TSS);
}

static void set_gate(unsigned v, u64 handler, unsigned ist)
{
	idt[v] = (struct idt_gate){
		.offset_lo = handler & 0xffff,
		.selector = SEL_CODE,
		.ist = ist,
		.type_attr = GATE_INTERRUPT,
		.offset_mid = (handler >> 16) & 0xffff,
		.offset_hi = handler >> 32,
	};
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, trap_stubs[v], 0);
	set_gate(VEC_DF, trap_stubs[VEC_DF], IST_DF);
	set_gate(VEC_MC, trap_stubs[VEC_MC], IST_MC);
	/* #DE through a trap gate, which leaves IF alone (SDM vol. 3A
	 * §6.12.1.3): its entry's edge site runs with interrupts as the
	 * faulting code had them (entry.asm, EDGE; docs/design.md §8.6). */
	idt[VEC_DE].type_attr = GATE_TRAP;
}

void idt_load(void)
{
	struct desc_ptr p = { sizeof(idt) - 1, (u64)idt };

	lidt(&p);
}
