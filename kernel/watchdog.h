/*
 * The watchdog: no run ever hangs silently. Every online CPU takes a
 * periodic timer tick; whichever CPU ticks checks (a) that the running
 * test is within its time budget and (b) that the next few online CPUs
 * in turn (a cursor shared by all tickers) have ticked recently. A CPU
 * found stuck is sampled by NMI (report: RIP, registers, backtrace, what
 * it was doing, whom it waits for), the test fails, and the CPU is
 * unwound: the test runner back to the runner, an AP back to its idle
 * loop. A CPU that does not even answer the NMI is restarted with INIT
 * and SIPI. With one CPU, a hang with interrupts off is beyond its reach
 * (nobody is left to tick): run-qemu.sh's timeout catches that.
 */
#ifndef PT_WATCHDOG_H
#define PT_WATCHDOG_H

#include "kernel/types.h"

#define WATCHDOG_TICK_MS 10
#define WATCHDOG_STALL_MS 2000		/* a CPU with no tick this long is stuck */
#define WATCHDOG_NMI_ANSWER_MS 500	/* then INIT + SIPI */

void watchdog_init(void);
/* Starts the calling CPU's tick; from then on a silence is a stall. The
 * boot CPU calls it when it enables interrupts for the tests. */
void watchdog_cpu_start(void);
/* No more checks: the run has its verdict. */
void watchdog_stop(void);
/* The test runner: the current test's budget, and its end. */
void watchdog_test_begin(u64 budget_ms);
void watchdog_test_end(void);
/* When the running test's budget ends (a timestamp; 0: no test). */
u64 watchdog_test_deadline(void);
/* Negative controls: the next stall of cpu is expected and only counted. */
void watchdog_expect_stall(int cpu);
u64 watchdog_expected_caught(void);
u64 watchdog_restarts(void);

/* NMI users besides the watchdog (tests, protocols) chain here. */
typedef bool (*nmi_fn)(struct trap_frame *f);
void nmi_register(nmi_fn fn);
void nmi_unregister(nmi_fn fn);

#endif
