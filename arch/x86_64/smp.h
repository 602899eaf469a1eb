/* arch-internal SMP pieces shared by setup.c, smpboot.c and timer.c. */
#ifndef PT_X86_SMP_H
#define PT_X86_SMP_H

#include "kernel/percpu.h"

void percpu_install(struct cpu *c);
void smp_arch_init(void);
void timer_calibrate(void);
/* Kernel side: the AP's life after the arch bring-up (kernel/smp.c). */
void smp_ap_main(struct cpu *c) __noreturn;

#endif
