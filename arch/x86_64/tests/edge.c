/*
 * x86-64's edge sites for the site kit (tests/kernel/sitekit.h): where
 * they are (entry.asm, EDGE), the thunks their calls go to (edge_thunks.asm),
 * and the exception the spinners raise to run the #DE entry.
 */
#include "arch/x86_64/insn.h"
#include "arch/x86_64/traps.h"
#include "kernel/time.h"
#include "tests/kernel/sitekit.h"

extern u8 edge_nmi_entry_site[], edge_nmi_exit_site[], edge_trap_site[], edge_exc_site[];
extern u8 edge_de_insn[];
void edge_thunk_nmi_entry(void);
void edge_thunk_nmi_exit(void);
void edge_thunk_trap(void);
void edge_thunk_exc(void);
void edge_raise_de(void);

static const struct {
	const char *name;
	u8 *site;
	void (*thunk)(void);
} edges[EDGE_SITES] = {
	[EDGE_NMI_ENTRY] = { "nmi-entry", edge_nmi_entry_site, edge_thunk_nmi_entry },
	[EDGE_NMI_EXIT] = { "nmi-exit", edge_nmi_exit_site, edge_thunk_nmi_exit },
	[EDGE_TRAP_ENTRY] = { "bp/ud-entry", edge_trap_site, edge_thunk_trap },
	[EDGE_EXC_ENTRY] = { "de-entry", edge_exc_site, edge_thunk_exc },
};

void kit_edge_site(struct flip_site *s, enum edge_site e)
{
	*s = (struct flip_site){ .addr = edges[e].site };
	insn_nop(&s->state[0], 5);
	insn_call(&s->state[1], (u64)(uintptr_t)edges[e].thunk);
}

const char *kit_edge_name(enum edge_site e)
{
	return (unsigned)e < EDGE_SITES ? edges[e].name : "?";
}

/* #BP's RIP is past the int3, trap-first's #UD's at its opcode. */
bool kit_edge_trapped_at(enum edge_site e, u64 ip)
{
	u64 site = (u64)(uintptr_t)edges[e].site;

	return ip == site || ip == site + 1;
}

static u64 de_handler_ns;

/* Only the kit's own DIV: any other #DE stays unexpected (boot.exceptions
 * catches its own with fault_try, which runs when this returns false). */
static bool de_handler(struct trap_frame *f)
{
	if (f->rip != (u64)(uintptr_t)edge_de_insn)
		return false;
	if (de_handler_ns)
		delay_ns(de_handler_ns);
	f->rip += 2;		/* div ecx: F7 F1 */
	return true;
}

void kit_edge_arm(bool on, u64 handler_ns)
{
	de_handler_ns = handler_ns;
	trap_set_handler(VEC_DE, on ? de_handler : NULL);
}

void kit_edge_raise(void)
{
	edge_raise_de();
}
