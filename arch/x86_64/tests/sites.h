/* The patch targets of sites.asm, for the x86 engine tests. */
#ifndef PT_X86_TEST_SITES_H
#define PT_X86_TEST_SITES_H

#include "arch/x86_64/insn.h"
#include "kernel/types.h"

typedef u32 (*site_fn)(u64 a, u64 b);

struct site_target {
	const char *name;
	site_fn fn;
	u8 *site;
	u8 *target;	/* NAME_target: returns 2 */
	unsigned len;
	bool odd;	/* runs at the other stack alignment */
};

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
SITE_DECL(sf_line);
SITE_DECL(sf_page);
#define SF_BAD 0xbad
u32 sf_ret2(u64 a, u64 b);
u32 sf_ret5(u64 a, u64 b);
extern u8 sf_ret2_site[], sf_ret5_site[];
void sf_callee(void);
void sf_callee2(void);
void sf_count(void);
u32 sf_many(u64 a, u64 b);
extern u8 sf_many_sites[];
extern u64 sf_expect_ret, sf_callee_ok, sf_callee_bad, sf_bad_ret, sf_canary_bad;
extern u64 sf_count_hits;
#define SF_MANY 1024

extern const struct site_target site_targets[];
extern const unsigned site_targets_count;

#endif
