/* boot.exceptions and boot.paging: the trap and paging foundations that
 * every later test depends on, each checked against the vector, error code
 * and address the SDM says the CPU must report. */
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/paging.h"
#include "arch/x86_64/traps.h"
#include "kernel/fault.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "kernel/test.h"
#include "kernel/time.h"
#include "kernel/watchdog.h"

#define NONCANONICAL 0x8000000000000000ull

extern u8 bp_entry_gap_enabled;
extern char bp_probe_after[], boot_stack_guard[];
extern char __rodata_start[];
void bp_probe(void);
u32 alias_probe(void);
u32 straddle_probe(void);

static void do_divide_error(void *arg)
{
	u64 zero = 0;

	__asm__ __volatile__("xor %%edx, %%edx; mov $1, %%eax; divq %0"
			     :: "r"(zero) : "rax", "rdx");
}

static void do_ud2(void *arg)
{
	__asm__ __volatile__("ud2");
}

static void do_int3(void *arg)
{
	bp_probe();
}

static void do_read(void *arg)
{
	u64 v;

	__asm__ __volatile__("movq (%1), %0" : "=r"(v) : "r"(arg) : "memory");
}

static void do_write(void *arg)
{
	__asm__ __volatile__("movb $0x90, (%0)" :: "r"(arg) : "memory");
}

static void do_call(void *arg)
{
	((void (*)(void))arg)();
}

static void do_nothing(void *arg)
{
}

/* Runs fn(arg) and checks the fault it must take. */
static void expect_fault(const char *what, void (*fn)(void *), void *arg,
			 int vector, u64 error_code, bool check_addr, u64 addr)
{
	struct fault_info fi;

	if (!fault_try(fn, arg, &fi)) {
		test_fail("%s: no fault (expected %s)", what, trap_name(vector));
		return;
	}
	diag("%s: %s error %#llx addr %#llx at RIP %#llx", what,
	     trap_name(fi.vector), (unsigned long long)fi.error_code,
	     (unsigned long long)fi.addr, (unsigned long long)fi.ip);
	test_check(fi.vector == vector, "%s: vector %d, expected %d", what, fi.vector, vector);
	test_check(fi.error_code == error_code, "%s: error code %#llx, expected %#llx",
		   what, (unsigned long long)fi.error_code, (unsigned long long)error_code);
	if (check_addr)
		test_check(fi.addr == addr, "%s: address %#llx, expected %#llx", what,
			   (unsigned long long)fi.addr, (unsigned long long)addr);
}

DEFINE_TEST(boot, exceptions, 1, 0,
	    "#DE, #UD, #BP, #GP, #PF caught with the right vector, error code and RIP")
{
	struct fault_info fi;

	expect_fault("divide by zero", do_divide_error, NULL, VEC_DE, 0, false, 0);
	expect_fault("ud2", do_ud2, NULL, VEC_UD, 0, false, 0);
	expect_fault("int3", do_int3, NULL, VEC_BP, 0, false, 0);
	if (fault_try(do_int3, NULL, &fi))
		test_check(fi.ip == (u64)(uintptr_t)bp_probe_after,
			   "#BP RIP %#llx, expected the next instruction %p",
			   (unsigned long long)fi.ip, bp_probe_after);
	expect_fault("non-canonical read", do_read, (void *)NONCANONICAL, VEC_GP, 0, false, 0);
	expect_fault("read of page 0", do_read, (void *)0, VEC_PF, 0, true, 0);
	expect_fault("write to page 0", do_write, (void *)0, VEC_PF, PF_W, true, 0);
	/* A clean run after all that: the recovery left nothing armed. */
	test_check(!fault_try(do_nothing, NULL, &fi) && fi.vector == -1,
		   "a function that does not fault was reported as faulting");
	test_check(this_cpu()->trap_depth == 0, "trap depth %u after recovery",
		   this_cpu()->trap_depth);
	test_pass();
}

/* Waits up to 1 s for an entry through vector's stub. */
static bool entry_seen_soon(unsigned vector)
{
	u64 end = timestamp() + ms_to_ticks(1000);

	while (!trap_entry_align_seen(vector) && (s64)(timestamp() - end) < 0)
		cpu_relax();
	return trap_entry_align_seen(vector);
}

/* Checks that vector went through its stub since the reset, and that no
 * entry through it came misaligned since then (before: the count at the
 * reset). */
static void check_entry(const char *what, unsigned vector, u64 before)
{
	u64 bad;

	if (!test_check(entry_seen_soon(vector), "%s: no entry through vector %u", what, vector))
		return;
	bad = trap_entry_misaligned(vector) - before;
	diag("%s (vector %u): %llu misaligned entries", what, vector, (unsigned long long)bad);
	test_check(bad == 0, "%s: trap_dispatch entered with RSP off the ABI's 16-byte "
		   "alignment %llu times (vector %u)", what, (unsigned long long)bad, vector);
}

static void faulting_entry(const char *what, void (*fn)(void *), void *arg, unsigned vector)
{
	struct fault_info fi;
	u64 before = trap_entry_misaligned(vector);

	trap_entry_align_reset(vector);
	if (test_check(fault_try(fn, arg, &fi), "%s: no fault", what))
		check_entry(what, vector, before);
}

static volatile bool self_nmi_wanted;

static bool claim_self_nmi(struct trap_frame *f)
{
	if (!self_nmi_wanted)
		return false;
	self_nmi_wanted = false;
	return true;
}

static bool claim_test_ipi(struct trap_frame *f)
{
	apic_eoi();
	return true;
}

static void interrupt_entries(void)
{
	u64 before = trap_entry_misaligned(VEC_NMI);

	trap_entry_align_reset(VEC_NMI);
	self_nmi_wanted = true;
	nmi_register(claim_self_nmi);
	apic->send(this_cpu()->hw_id, ICR_NMI);
	check_entry("NMI to self", VEC_NMI, before);
	nmi_unregister(claim_self_nmi);
	self_nmi_wanted = false;

	before = trap_entry_misaligned(VEC_TEST);
	trap_entry_align_reset(VEC_TEST);
	trap_set_handler(VEC_TEST, claim_test_ipi);
	apic->send(0, ICR_FIXED | ICR_SELF | VEC_TEST);
	check_entry("fixed-vector IPI to self", VEC_TEST, before);
	trap_set_handler(VEC_TEST, NULL);

	before = trap_entry_misaligned(VEC_TIMER);
	trap_entry_align_reset(VEC_TIMER);
	check_entry("timer tick", VEC_TIMER, before);
}

DEFINE_TEST(boot, entry_align, 1, 0,
	    "every entry stub calls C with the stack aligned as the SysV ABI requires, #BP and #UD "
	    "through the gap included")
{
	u8 gap = bp_entry_gap_enabled;

	test_check(irqs_enabled(), "interrupts are off: the IPI and timer entries cannot come");
	for (int on = 1; on >= 0; on--) {
		bp_entry_gap_enabled = on;
		faulting_entry(on ? "#BP, gap" : "#BP, no gap", do_int3, NULL, VEC_BP);
		faulting_entry(on ? "#UD, gap" : "#UD, no gap", do_ud2, NULL, VEC_UD);
	}
	bp_entry_gap_enabled = gap;
	faulting_entry("#DE", do_divide_error, NULL, VEC_DE);
	faulting_entry("#GP", do_read, (void *)NONCANONICAL, VEC_GP);
	faulting_entry("#PF", do_read, (void *)0, VEC_PF);
	interrupt_entries();
	/* Every entry since boot, on every CPU: the SMP bring-up's IPIs, the
	 * ticks, the tests before this one. */
	for (unsigned v = 0; v < 256; v++)
		test_check(trap_entry_misaligned(v) == 0, "vector %u (%s): %llu misaligned entries "
			   "since boot", v, trap_name(v), (unsigned long long)trap_entry_misaligned(v));
	test_pass();
}

/* Writes through the alias, then runs the patched code. */
static void patch_probe(const char *what, u32 (*probe)(void), u32 value)
{
	u8 *site = (u8 *)probe + 1;	/* the imm32 of mov eax, imm32 */
	u8 *alias = text_alias_map(site, 4);
	u32 got;

	memcpy(alias, &value, 4);
	text_alias_unmap();
	serialize_cpuid();	/* SDM vol. 3A 8.1.3: cross-modifying code */
	got = probe();
	test_check(got == value, "%s: patched code returned %#x, expected %#x", what, got, value);
	test_check(!memcmp(site, &value, 4), "%s: bytes at the site differ from the write", what);
}

static u8 data_ret[16] __aligned(16) = { 0xc3 };	/* ret */

DEFINE_TEST(boot, paging, 1, 0,
	    "text is read-only, data is not executable, guard pages fault, the text alias writes code")
{
	u8 *text = (u8 *)(uintptr_t)alias_probe;
	u8 before = *text;
	u32 orig;

	expect_fault("write to text", do_write, text, VEC_PF, PF_P | PF_W, true,
		     (u64)(uintptr_t)text);
	test_check(*text == before, "text changed by a faulting write");
	expect_fault("write to rodata", do_write, __rodata_start, VEC_PF, PF_P | PF_W,
		     true, (u64)(uintptr_t)__rodata_start);
	if (paging_has_nx())
		expect_fault("call into data", do_call, data_ret, VEC_PF, PF_P | PF_I, true,
			     (u64)(uintptr_t)data_ret);
	else
		diag("no NX on this CPU: data execution not checked");
	expect_fault("read of the boot stack guard page", do_read, boot_stack_guard,
		     VEC_PF, 0, true, (u64)(uintptr_t)boot_stack_guard);
	test_check(!paging_query((u64)(uintptr_t)text).writable, "text mapped writable");

	orig = alias_probe();
	patch_probe("alias write", alias_probe, 0x5a5a5a5a);
	patch_probe("alias restore", alias_probe, orig);
	orig = straddle_probe();
	test_check(((uintptr_t)straddle_probe + 1) % 4096 > 4092,
		   "straddle_probe's immediate does not cross a page (%p)", straddle_probe);
	patch_probe("page-straddling alias write", straddle_probe, 0xa5a5a5a5);
	patch_probe("page-straddling restore", straddle_probe, orig);
	test_pass();
}

DEFINE_TEST(harness, unexpected_gp, 1, TEST_EXPLICIT,
	    "negative control: an unexpected #GP fails this test with a register dump and the suite goes on")
{
	u64 v;

	diag("reading a non-canonical address without fault_try: a crash report must follow");
	__asm__ __volatile__("movq (%1), %0" : "=r"(v) : "r"(NONCANONICAL) : "memory");
	test_pass();	/* unreachable unless the #GP went missing */
}
