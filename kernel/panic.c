/* The end of a run that cannot go on. */
#include "kernel/arch.h"
#include "kernel/fault.h"
#include "kernel/options.h"
#include "kernel/printk.h"
#include "kernel/screen.h"
#include "kernel/test.h"

void panic(const char *fmt, ...)
{
	static int panicking;
	va_list ap;

	irq_disable();
	if (__atomic_fetch_add(&panicking, 1, __ATOMIC_SEQ_CST)) {
		/* A second CPU, or a panic inside the panic: stop here. */
		halt_forever();
	}
	va_start(ap, fmt);
	printk("# PANIC on CPU %d: ", this_cpu_id());
	vprintk(fmt, ap);
	printk("\n");
	va_end(ap);
	test_panic_close();
	screen_finish(opts.screen_hold);
	arch_finish(VERDICT_FAILURE, opts.reboot);
}
