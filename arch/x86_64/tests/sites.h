/* The patch targets of sites.asm, for x86-64's site kit (sitekit.c). */
#ifndef PT_X86_TEST_SITES_H
#define PT_X86_TEST_SITES_H

#include "arch/x86_64/insn.h"
#include "tests/kernel/sitekit.h"

#define SITE_DECL(n) \
	u32 n(u64 a, u64 b); extern u8 n##_site[], n##_target[]
SITE_DECL(sf_site2);
SITE_DECL(sf_site5);
SITE_DECL(sf_site6);
SITE_DECL(sf_site2_odd);
SITE_DECL(sf_site5_odd);
SITE_DECL(sf_site6_odd);
SITE_DECL(sf_flip_a);
SITE_DECL(sf_flip_b);
SITE_DECL(sf_flip_c);
SITE_DECL(sf_flip_d);
SITE_DECL(sf_jcc_a);
SITE_DECL(sf_jcc8_a);
SITE_DECL(sf_jcc_b);
SITE_DECL(sf_jcc8_b);
SITE_DECL(sf_line);
SITE_DECL(sf_page);
u32 sf_pack_a(u64 a, u64 b);
u32 sf_pack_b(u64 a, u64 b);
extern u8 sf_pack_a_site[], sf_pack_a_target[], sf_pack_a_call[];
extern u8 sf_pack_b_site[], sf_pack_b_target[], sf_pack_b_call[];
u32 sf_ret2(u64 a, u64 b);
u32 sf_ret5(u64 a, u64 b);
u32 sf_ret5_stack(u64 a, u64 b);
extern u8 sf_ret2_site[], sf_ret5_site[];
void sf_callee(void);
void sf_callee2(void);
void sf_count(void);
u32 sf_many(u64 a, u64 b);
extern u8 sf_many_sites[];
extern u64 sf_count_hits;
#define SF_MANY 1024

#endif
