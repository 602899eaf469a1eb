/* x86 instructions as inline functions. Only arch/x86_64 includes this. */
#ifndef PT_X86_CPU_H
#define PT_X86_CPU_H

#include "kernel/types.h"

/* MSRs (Intel SDM vol. 4, table 2-2). */
#define MSR_APIC_BASE		0x1b
#define MSR_EFER		0xc0000080
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_TSC_DEADLINE	0x6e0
#define MSR_PAT			0x277

#define EFER_LME	(1u << 8)
#define EFER_NXE	(1u << 11)

/* Control register bits (SDM vol. 3A, 2.5). */
#define CR0_PE	(1ul << 0)
#define CR0_MP	(1ul << 1)
#define CR0_EM	(1ul << 2)
#define CR0_TS	(1ul << 3)
#define CR0_ET	(1ul << 4)
#define CR0_NE	(1ul << 5)
#define CR0_WP	(1ul << 16)
#define CR0_AM	(1ul << 18)
#define CR0_NW	(1ul << 29)
#define CR0_CD	(1ul << 30)
#define CR0_PG	(1ul << 31)
#define CR4_PAE	(1ul << 5)
#define CR4_PGE	(1ul << 7)

/* RFLAGS (SDM vol. 1, 3.4.3). */
#define RFLAGS_CF	(1ul << 0)
#define RFLAGS_PF	(1ul << 2)
#define RFLAGS_ZF	(1ul << 6)
#define RFLAGS_SF	(1ul << 7)
#define RFLAGS_TF	(1ul << 8)
#define RFLAGS_IF	(1ul << 9)
#define RFLAGS_DF	(1ul << 10)
#define RFLAGS_OF	(1ul << 11)

struct cpuid_regs {
	u32 eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(u32 leaf, u32 subleaf)
{
	struct cpuid_regs r;

	__asm__ __volatile__("cpuid"
			     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			     : "a"(leaf), "c"(subleaf)
			     : "memory");
	return r;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ __volatile__("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32))
			     : "memory");
}

static inline void outb(u16 port, u8 v)
{
	__asm__ __volatile__("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(u16 port, u32 v)
{
	__asm__ __volatile__("outl %0, %1" ::"a"(v), "Nd"(port));
}

#define DEFINE_READ_CR(n)                                                   \
	static inline u64 read_cr##n(void)                                  \
	{                                                                   \
		u64 v;                                                      \
		__asm__ __volatile__("mov %%cr" #n ", %0" : "=r"(v));       \
		return v;                                                   \
	}
#define DEFINE_WRITE_CR(n)                                                  \
	static inline void write_cr##n(u64 v)                               \
	{                                                                   \
		__asm__ __volatile__("mov %0, %%cr" #n ::"r"(v) : "memory"); \
	}
DEFINE_READ_CR(0)
DEFINE_READ_CR(2)
DEFINE_READ_CR(3)
DEFINE_READ_CR(4)
DEFINE_WRITE_CR(0)
DEFINE_WRITE_CR(3)
DEFINE_WRITE_CR(4)

static inline void invlpg(const void *va)
{
	__asm__ __volatile__("invlpg (%0)" ::"r"(va) : "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline u64 read_rflags(void)
{
	u64 f;

	__asm__ __volatile__("pushfq; popq %0" : "=r"(f));
	return f;
}

static inline u64 read_rsp(void)
{
	u64 v;

	__asm__ __volatile__("mov %%rsp, %0" : "=r"(v));
	return v;
}

static inline u64 read_rbp(void)
{
	u64 v;

	__asm__ __volatile__("mov %%rbp, %0" : "=r"(v));
	return v;
}

struct __packed desc_ptr {
	u16 limit;
	u64 base;
};

static inline void lgdt(const struct desc_ptr *p)
{
	__asm__ __volatile__("lgdt %0" ::"m"(*p));
}

static inline void lidt(const struct desc_ptr *p)
{
	__asm__ __volatile__("lidt %0" ::"m"(*p));
}

static inline void ltr(u16 sel)
{
	__asm__ __volatile__("ltr %0" ::"r"(sel));
}

/* CPUID is architecturally serializing on every x86 CPU (SDM vol. 3A,
 * 9.3 "Serializing instructions"); SERIALIZE is cheaper where it exists. */
static inline void serialize_cpuid(void)
{
	u32 a = 0, b, c = 0, d;

	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d)::"memory");
}

#endif
