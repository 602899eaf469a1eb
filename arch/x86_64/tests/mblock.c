/*
 * x86-64's multi-instruction block (tests/kernel/sitekit.h, kit_mblock;
 * the code and why its bytes are what they are: mblock_code.asm).
 */
#include "arch/x86_64/insn.h"
#include "tests/kernel/sitekit.h"

extern u32 mb_fn(void);
extern u8 mb_site[], mb_detour[], mb_land[];

#define MB_LEN 5

void kit_mblock(struct mblock *m)
{
	*m = (struct mblock){
		.site = mb_site, .len = MB_LEN, .fn = mb_fn, .out_a = 1, .out_b = 2,
	};
	insn_nop_split(&m->seq_a, MB_LEN);
	insn_jmp(&m->seq_b, 5, (u64)(uintptr_t)mb_land);
	insn_jmp(&m->redirect, 2, (u64)(uintptr_t)mb_detour);
}
