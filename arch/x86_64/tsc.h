/* The TSC as the time base: every delay and budget is in TSC ticks. */
#ifndef PT_X86_TSC_H
#define PT_X86_TSC_H

#include "kernel/types.h"

void tsc_calibrate(void);

#endif
