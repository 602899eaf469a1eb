/* The boot flow: from the architecture's entry to the verdict. */
#include "kernel/arch.h"
#include "kernel/bootinfo.h"
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/fault.h"
#include "kernel/mem.h"
#include "kernel/options.h"
#include "kernel/patch.h"
#include "kernel/printk.h"
#include "kernel/screen.h"
#include "kernel/test.h"
#include "kernel/smp.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

struct boot_info boot_info;

/* build/version.c: `git describe` at build time (Makefile). */
extern const char pt_version[];

static void print_banner(const struct boot_info *bi)
{
	diag("poketorture %s: live code patching torture", pt_version);
	diag("boot: Multiboot%s from '%s'", bi->protocol == 2 ? "2" : "",
	     bi->loader[0] ? bi->loader : "unnamed loader");
	diag("cmdline: '%s'%s", bi->cmdline, bi->cmdline_truncated ? " (truncated)" : "");
	options_print();
	arch_print_banner();
	screen_banner();
	diag("memory: %llu MiB usable in a map of %u regions%s, %llu KiB allocated at boot",
	     (unsigned long long)(mem_total(bi, MEM_USABLE) / MiB), bi->nr_mem,
	     bi->mem_truncated ? " (truncated)" : "",
	     (unsigned long long)(page_alloc_used() / KiB));
}

static __noreturn void usage_error(const char *err)
{
	printk("poketorture: %s\n", err);
	printk("poketorture: End of test: FAILURE (0 passed, 0 failed, 0 skipped)\n");
	arch_finish(VERDICT_USAGE, 0);
}

/* The architecture refused its option's value: the other choices are
 * what it accepts. */
static __noreturn void arch_option_error(const char *why)
{
	char err[OPT_ERR_MAX], others[128];
	size_t n = 0;

	for (unsigned i = 0; arch_option_choices[i]; i++)
		if (i != opts.arch_choice)
			n += ksnprintf(others + n, n < sizeof(others) ? sizeof(others) - n : 0,
				       "%s%s", n ? ", " : "", arch_option_choices[i]);
	ksnprintf(err, sizeof(err), "bad option '%s=%s': %s; accepted: %s", arch_option_name,
		  arch_option_choices[opts.arch_choice], why, others);
	usage_error(err);
}

void kmain(u32 magic, u32 info)
{
	u64 boot_start = timestamp();
	char err[OPT_ERR_MAX];
	const char *why;
	bool ok;

	arch_early_init();
	if (!arch_parse_boot_info(magic, info, &boot_info))
		panic("unknown boot loader magic %#x", magic);
	/* Before anything else: a bad option ends the run as a usage error
	 * whatever state the rest of the machine is in. */
	if (options_parse(boot_info.cmdline, err, sizeof(err)))
		usage_error(err);
	arch_init(&boot_info);
	screen_init(!opts.screen_off);
	why = arch_smp_setup(opts.arch_choice);
	if (why)
		arch_option_error(why);
	test_tap_begin();
	print_banner(&boot_info);
	watchdog_init();
	smp_init(opts.cpus);
	if (opts.cpus_given && cpus_online() < opts.cpus) {
		ksnprintf(err, sizeof(err),
			  "bad option 'cpus=%u': only %u CPUs came online; accepted: 1 to %u",
			  opts.cpus, cpus_online(), cpus_online());
		usage_error(err);
	}
	patch_init();
	diag("boot to tests: %llu ms", (unsigned long long)(ticks_to_ns(timestamp() - boot_start) / 1000000));
	watchdog_cpu_start();
	irq_enable();	/* the boot CPU's watchdog tick */
	ok = test_run_all(cpus_online());
	watchdog_stop();
	screen_finish(opts.screen_hold);
	arch_finish(ok ? VERDICT_SUCCESS : VERDICT_FAILURE, opts.reboot);
}
