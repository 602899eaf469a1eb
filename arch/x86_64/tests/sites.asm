; Patch targets for the engine's self-tests and the torture suite: the
; sites of x86-64's site kit (sitekit.c, tests/kernel/sitekit.h).
;
; A site function `u32 NAME(u64 a, u64 b)` runs one patchable site and
; says what happened:
;   1   execution fell through the site (NOP, untaken Jcc)
;   2   it branched to NAME_target (JMP, taken Jcc)
;   3   a RET at the site returned straight away (sf_ret* only)
;   +8  sf_callee ran (a CALL at the site), +16 sf_callee2 ran
; Before the site: `cmp rdi, rsi` sets the flags a Jcc there tests, and a
; canary goes into RBX and onto the stack; after it both are checked, and
; the return address the callee saw must be the end of the site; any
; mismatch bumps sf_canary_bad / sf_callee_bad and returns 0xbad.
; The _odd variants push once more: the site runs at the other 16-byte
; stack alignment. Every function is fenced by int3 sleds, so a jump into
; the middle of an instruction, or to a wrong target, traps.

CANARY	equ 0x5a17ca11ab1e5eed
BAD	equ 0xbad

global sf_callee
global sf_callee2
global sf_expect_ret
global sf_callee_ok
global sf_callee_bad
global sf_bad_ret
global sf_canary_bad

section .data
align 8
sf_expect_ret:	dq 0	; selftests: where the CALL must return to
sf_callee_ok:	dq 0
sf_callee_bad:	dq 0
sf_bad_ret:	dq 0
sf_canary_bad:	dq 0

section .patchable.sites progbits alloc exec nowrite align=64

%macro SLED 0
	times 16 db 0xcc
%endmacro

; The body of a site function; SITE_FN adds the sleds and alignment.
; SITE_BODY name, extra push (0/1), site bytes...
%macro SITE_BODY 3+
global %1
global %1_site
global %1_target
global %1_end
%1:
	push rbx
%if %2
	push rbx
%endif
	mov rbx, CANARY
	push rbx
	xor r10d, r10d		; the callee's mark
	mov eax, 3
	cmp rdi, rsi
%1_site:
	db %3
%1_end:
	mov eax, 1
%%back:
	test r10d, r10d
	jz %%stack
	lea rcx, [rel %1_end]	; a CALL must have come back here
	cmp r11, rcx
	jne %%bad_ret
	add eax, r10d
%%stack:
	pop rcx
	cmp rcx, rbx
	jne %%bad
	mov rcx, CANARY
	cmp rbx, rcx
	jne %%bad
%%out:
%if %2
	pop rbx
%endif
	pop rbx
	ret
%%bad_ret:
	mov [rel sf_bad_ret], r11
	lock inc qword [rel sf_callee_bad]
	pop rcx
	mov eax, BAD
	jmp %%out
%%bad:
	lock inc qword [rel sf_canary_bad]
	mov eax, BAD
	jmp %%out
	SLED
%1_target:
	mov eax, 2
	jmp %%back
	SLED
%endmacro

%macro SITE_FN 3+
	SLED
	align 16, db 0xcc
	SITE_BODY %1, %2, %3
%endmacro

; The recommended NOPs (SDM vol. 2B, NOP, table 4-12).
%define NOP2 0x66, 0x90
%define NOP5 0x0f, 0x1f, 0x44, 0x00, 0x00
%define NOP6 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00
; Bytes from a site function's start to its site: push rbx (1), movabs
; (10), push rbx (1), xor r10d (3), mov eax (5), cmp (3).
SITE_OFFSET equ 23

	SITE_FN sf_site2, 0, NOP2
	SITE_FN sf_site5, 0, NOP5
	SITE_FN sf_site6, 0, NOP6
	SITE_FN sf_site2_odd, 1, NOP2
	SITE_FN sf_site5_odd, 1, NOP5
	SITE_FN sf_site6_odd, 1, NOP6
	SITE_FN sf_flip_a, 0, NOP5	; torture sites, one per scenario
	SITE_FN sf_flip_b, 0, NOP5
	SITE_FN sf_flip_c, 0, NOP5
	SITE_FN sf_flip_d, 0, NOP5
	SITE_FN sf_jcc_a, 0, NOP6
	SITE_FN sf_jcc8_a, 0, NOP2
	SITE_FN sf_jcc_b, 0, NOP6	; the same, not taken
	SITE_FN sf_jcc8_b, 0, NOP2
	SLED

; A site whose 5 bytes cross a 64-byte line (3 before it, 2 after).
	align 64, db 0xcc
	times 64 - 3 - SITE_OFFSET db 0xcc
	SITE_BODY sf_line, 0, NOP5

; A site whose 5 bytes cross a 4 KiB page boundary (2 before it, 3 after).
	align 4096, db 0xcc
	times 4096 - 2 - SITE_OFFSET db 0xcc
	SITE_BODY sf_page, 0, NOP5
	SLED

; RET sites: the site sits where the return address is on top of the
; stack, so a RET there returns 3 to the caller.
%macro RET_FN 2+
	SLED
	align 16, db 0xcc
global %1
global %1_site
%1:
	mov eax, 3
%1_site:
	db %2
	mov eax, 1
	ret
	SLED
%endmacro

	RET_FN sf_ret2, NOP2
	RET_FN sf_ret5, NOP5

; sf_ret5 under a stack check, for the torture kit: a RET at the site must
; pop exactly its return address. RBP keeps the stack pointer of the call
; and a canary sits above it; an emulation that pops nothing, or too
; much, comes back with RSP elsewhere (sf_canary_bad, BAD) instead of
; returning into a corrupted C frame.
global sf_ret5_stack
section .text
sf_ret5_stack:
	push rbx
	push rbp
	mov rbx, CANARY
	push rbx
	mov rbp, rsp
	call sf_ret5
	cmp rsp, rbp
	jne .bad_sp
	pop rcx
	cmp rcx, rbx
	jne .bad
	mov rcx, CANARY
	cmp rbx, rcx
	jne .bad
.out:
	pop rbp
	pop rbx
	ret
.bad_sp:
	mov rsp, rbp
	pop rcx
.bad:
	lock inc qword [rel sf_canary_bad]
	mov eax, BAD
	jmp .out
section .patchable.sites

; Callees of CALL sites: note the return address (R11) and the mark
; (R10), count, return. The site function checks the return address;
; sf_expect_ret is the selftests' own check.
	align 16, db 0xcc
sf_callee:
	mov r11, [rsp]
	mov r10d, 8
	cmp r11, [rel sf_expect_ret]
	jne .counted
	lock inc qword [rel sf_callee_ok]
.counted:
	ret
	SLED
	align 16, db 0xcc
sf_callee2:
	mov r11, [rsp]
	mov r10d, 16
	ret
	SLED

; A run of 1024 NOP5 sites for batch tests: sf_many runs them all and
; returns. Patched into CALL sf_count, each bumps sf_count_hits.
global sf_many
global sf_many_sites
global sf_count
global sf_count_hits
SF_MANY equ 1024

section .data
align 8
sf_count_hits:	dq 0

section .patchable.many progbits alloc exec nowrite align=64
	SLED
	align 16, db 0xcc
sf_count:
	lock inc qword [rel sf_count_hits]
	ret
	SLED
	align 16, db 0xcc
sf_many:
sf_many_sites:
%rep SF_MANY
	db NOP5
%endrep
	ret
	SLED

; platform.cmc's probe (kit_probe): returns its own immediate, which the test
; rewrites (kit_probe_write).
global kit_probe
section .patchable.cmc progbits alloc exec nowrite align=64
	SLED
	align 16, db 0xcc
kit_probe:
	mov eax, 0		; B8 imm32: the immediate is at +1
	ret
	SLED

; Neighbour sites (the kit's SITE_PACK_A/B): two 5-byte sites packed with
; no padding, A at the start of a 64-byte line and B right after it, so
; the aligned 8-byte word holding A's first byte also holds B's first
; three bytes. Each site is always a control transfer (JMP rel32 to the
; function's _target, or CALL rel32 to its _call), so neither ever falls
; into the other. The function keeps its stack pointer in R11 and each
; landing checks the stack it was entered with: a JMP lands with RSP
; unchanged, a CALL with exactly its return address (the site's end)
; pushed. An instruction torn between the two states (the opcode of one,
; the displacement of the other: a JMP to _call, a CALL to _target)
; returns BAD, a wrong outcome, instead of crashing.
%macro PACK_FN 1
	SLED
	align 16, db 0xcc
global %1
global %1_site
global %1_target
global %1_call
%1:
	mov r11, rsp
	jmp %1_site
%1_target:			; JMP state: 1
	cmp rsp, r11
	jne %%bad
	mov eax, 1
	ret
	SLED
%1_call:			; CALL state: 2
	lea rcx, [r11 - 8]
	cmp rsp, rcx
	jne %%bad
	lea rcx, [rel %1_site + 5]
	cmp [rsp], rcx
	jne %%bad
	mov rsp, r11
	mov eax, 2
	ret
%%bad:
	mov rsp, r11
	mov eax, BAD
	ret
	SLED
%endmacro

section .patchable.pack progbits alloc exec nowrite align=64
	PACK_FN sf_pack_a
	PACK_FN sf_pack_b
	align 64, db 0xcc
sf_pack_a_site:			; bytes 0-4 of the line
	db 0xe9
	dd sf_pack_a_target - ($ + 4)
sf_pack_b_site:			; bytes 5-9: no padding
	db 0xe9
	dd sf_pack_b_target - ($ + 4)
	SLED
