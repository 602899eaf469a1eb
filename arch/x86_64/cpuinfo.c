/* CPU identification from CPUID (SDM vol. 2A, CPUID instruction). */
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuinfo.h"
#include "kernel/string.h"

struct cpu_features cpu_features;

static void copy_regs(char *dst, const u32 *regs, unsigned n)
{
	memcpy(dst, regs, n * 4);
	dst[n * 4] = '\0';
}

static void read_brand(struct cpu_features *f)
{
	u32 regs[12];
	const char *p;

	if (cpuid(0x80000000, 0).eax < 0x80000004) {
		strlcpy(f->brand, "(no brand string)", sizeof(f->brand));
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		struct cpuid_regs r = cpuid(0x80000002 + i, 0);

		regs[i * 4 + 0] = r.eax;
		regs[i * 4 + 1] = r.ebx;
		regs[i * 4 + 2] = r.ecx;
		regs[i * 4 + 3] = r.edx;
	}
	copy_regs(f->brand, regs, 12);
	for (p = f->brand; *p == ' '; p++)
		;
	memmove(f->brand, p, strlen(p) + 1);
}

/* Hypervisor leaves 0x40000000+: a signature in EBX, ECX, EDX when
 * CPUID.1:ECX bit 31 says a hypervisor is present. */
static void read_hypervisor(struct cpu_features *f)
{
	struct cpuid_regs r;
	u32 sig[3];

	if (!f->hypervisor_bit)
		return;
	r = cpuid(0x40000000, 0);
	sig[0] = r.ebx;
	sig[1] = r.ecx;
	sig[2] = r.edx;
	copy_regs(f->hypervisor, sig, 3);
	f->under_qemu = !strcmp(f->hypervisor, "TCGTCGTCGTCG") ||
			!strcmp(f->hypervisor, "KVMKVMKVM");
}

void cpuinfo_init(void)
{
	struct cpu_features *f = &cpu_features;
	struct cpuid_regs r = cpuid(0, 0);
	u32 vendor[3] = { r.ebx, r.edx, r.ecx };
	u32 max = r.eax, ext_max;

	copy_regs(f->vendor, vendor, 3);
	r = cpuid(1, 0);
	f->family = (r.eax >> 8) & 0xf;
	f->model = (r.eax >> 4) & 0xf;
	f->stepping = r.eax & 0xf;
	if (f->family == 0xf)
		f->family += (r.eax >> 20) & 0xff;
	if (f->family == 0x6 || f->family >= 0xf)
		f->model |= ((r.eax >> 16) & 0xf) << 4;
	f->x2apic = r.ecx & (1u << 21);
	f->tsc_deadline = r.ecx & (1u << 24);
	f->hypervisor_bit = r.ecx & (1u << 31);
	if (max >= 7)
		f->serialize = cpuid(7, 0).edx & (1u << 14);
	ext_max = cpuid(0x80000000, 0).eax;
	if (ext_max >= 0x80000001)
		f->nx = cpuid(0x80000001, 0).edx & (1u << 20);
	if (ext_max >= 0x80000007)
		f->invariant_tsc = cpuid(0x80000007, 0).edx & (1u << 8);
	read_brand(f);
	read_hypervisor(f);
}

const char *hypervisor_name(void)
{
	const char *h = cpu_features.hypervisor;

	if (!cpu_features.hypervisor_bit)
		return "none (bare metal)";
	if (!strcmp(h, "TCGTCGTCGTCG"))
		return "QEMU TCG";
	if (!strcmp(h, "KVMKVMKVM"))
		return "KVM";
	if (!strcmp(h, "VMwareVMware"))
		return "VMware";
	if (!strcmp(h, "Microsoft Hv"))
		return "Hyper-V";
	if (!strcmp(h, "XenVMMXenVMM"))
		return "Xen";
	return "unknown";
}
