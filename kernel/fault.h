/*
 * Expected faults and crash recovery.
 *
 * fault_try() runs a function that is expected to fault (think
 * kvm-unit-tests' ASM_TRY or XTF's exception table): the trap handler sees
 * that this CPU armed a recovery point, records the fault and resumes
 * there. Per CPU, nestable.
 *
 * A fault nobody expected is reported in full by the architecture's trap
 * code, which then asks the test framework where to unwind to.
 */
#ifndef PT_FAULT_H
#define PT_FAULT_H

#include "kernel/percpu.h"

/* Runs fn(arg). Returns true when it faulted, with *fi describing the
 * fault; false (and fi->vector = -1) when it returned normally. */
bool fault_try(void (*fn)(void *), void *arg, struct fault_info *fi);

/* Test framework side: called on the CPU that took an unexpected trap,
 * after the report. Marks the running test as crashed and returns the
 * recovery point to unwind to, or NULL when there is none (a panic). */
struct recovery *test_crash_recovery(const char *what);
/* The name of the test running now, or NULL. */
const char *test_current_name(void);

/* Ends the run from a context that cannot go on. */
void panic(const char *fmt, ...) __printf(1, 2) __noreturn;

#endif
