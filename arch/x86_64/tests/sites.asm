; Patch targets for the engine's self-tests and the torture suite.
;
; A site function `u32 NAME(u64 a, u64 b)` runs one patchable site:
;   returns 1 when execution fell through the site (NOP, untaken Jcc,
;   or a CALL that came back), 2 when it branched to NAME_target,
;   3 when a RET at the site returned straight away.
; Before the site: `cmp rdi, rsi` sets the flags a Jcc there tests, and a
; canary goes into RBX and onto the stack; after it both are checked, so
; a CALL emulated without its push, or a push that hit the wrong place,
; shows up (sf_canary_bad). The _odd variants push once more, so the
; site runs at the other 16-byte stack alignment.
; Every function is surrounded by int3 sleds: a jump into the middle of
; an instruction, or a branch to a wrong target, lands in a trap.

CANARY	equ 0x5a17ca11ab1e5eed

global sf_callee
global sf_expect_ret
global sf_callee_ok
global sf_callee_bad
global sf_bad_ret
global sf_canary_bad

section .data
align 8
sf_expect_ret:	dq 0	; where the CALL at the site must return to
sf_callee_ok:	dq 0
sf_callee_bad:	dq 0
sf_bad_ret:	dq 0
sf_canary_bad:	dq 0

section .patchable.sites progbits alloc exec nowrite align=64

%macro SLED 0
	times 16 db 0xcc
%endmacro

; SITE_FN name, extra push (0/1), site bytes...
%macro SITE_FN 3+
	SLED
	align 16, db 0xcc
global %1
global %1_site
global %1_target
global %1_end
%1:
	push rbx
%if %2
	push rbx		; the other stack alignment
%endif
	mov rbx, CANARY
	push rbx
	mov eax, 3
	cmp rdi, rsi
%1_site:
	db %3
%1_end:
	mov eax, 1
%%back:
	pop rcx
	cmp rcx, rbx
	jne %%bad
	mov rcx, CANARY
	cmp rbx, rcx
	jne %%bad
%if %2
	pop rbx
%endif
	pop rbx
	ret
%%bad:
	lock inc qword [rel sf_canary_bad]
	jmp %%out
%%out:
%if %2
	pop rbx
%endif
	pop rbx
	ret
	SLED
%1_target:
	mov eax, 2
	jmp %%back
	SLED
%endmacro

; The recommended NOPs (SDM vol. 2B, NOP, table 4-12).
%define NOP2 0x66, 0x90
%define NOP5 0x0f, 0x1f, 0x44, 0x00, 0x00
%define NOP6 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00

	SITE_FN sf_site2, 0, NOP2
	SITE_FN sf_site5, 0, NOP5
	SITE_FN sf_site6, 0, NOP6
	SITE_FN sf_site2_odd, 1, NOP2
	SITE_FN sf_site5_odd, 1, NOP5
	SITE_FN sf_site6_odd, 1, NOP6
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

; The callee of CALL sites: checks its return address, counts, returns.
; It preserves every register the caller checks.
	align 16, db 0xcc
sf_callee:
	push rax
	mov rax, [rsp + 8]
	cmp rax, [rel sf_expect_ret]
	jne .bad
	lock inc qword [rel sf_callee_ok]
	pop rax
	ret
.bad:
	mov [rel sf_bad_ret], rax
	lock inc qword [rel sf_callee_bad]
	pop rax
	ret
	SLED

; A run of 1024 NOP5 sites for batch tests: sf_many runs them all and
; returns. Patched into CALL sf_count, each bumps sf_count_hits.
global sf_many
global sf_many_sites
global sf_count
global sf_count_hits
SF_MANY equ 1024
global SF_MANY

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
