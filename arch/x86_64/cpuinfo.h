/* What CPUID says about this machine (SDM vol. 2A, CPUID). */
#ifndef PT_X86_CPUINFO_H
#define PT_X86_CPUINFO_H

#include "kernel/types.h"

struct cpu_features {
	char vendor[13];
	char brand[49];
	char hypervisor[13];	/* "" on bare metal */
	unsigned family, model, stepping;
	bool x2apic, tsc_deadline, nx, serialize, invariant_tsc, hypervisor_bit;
	bool under_qemu;	/* TCG or KVM signature: isa-debug-exit usable */
};

extern struct cpu_features cpu_features;
void cpuinfo_init(void);
const char *hypervisor_name(void);

#endif
