; Interrupt and exception entry for all 256 vectors.
;
; Every stub leaves the same frame (struct trap_frame in traps.h), lowest
; address first:
;   r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax
;   vector error_code                 (0 when the CPU pushes none)
;   rip cs rflags rsp ss              (pushed by the CPU, SDM vol. 3A 6.14.2)
; and calls trap_dispatch(frame) with RSP 16-byte aligned, as the SysV ABI
; requires at a call (so RSP + 8 is aligned at trap_dispatch's entry). In
; 64-bit mode the CPU aligns RSP down to 16 bytes before pushing its frame
; (SDM vol. 3A 6.14.2, "64-Bit Mode Stack Frame"), so the alignment holds
; whatever the interrupted RSP was: 5 + 2 + 15 + 2 quadwords (CPU frame,
; vector and error code, registers, frame-pointer record) = 192 bytes, a
; multiple of 16. boot.entry_align checks it for every vector class.
;
; #BP (vector 3) and #UD (vector 6, the trap-first protocol's trap) get a
; gap. The CPU's frame lies directly below the interrupted RSP, so a #BP
; handler that emulates a CALL by pushing a return address at
; [interrupted RSP - 8] would overwrite the saved SS. The stub moves the
; CPU frame BP_GAP = 48 bytes down first; the old frame, just below the
; interrupted RSP, is then dead space (40 bytes plus 8) the handler may
; write into, and IRET reloads RSP from the (possibly adjusted) frame.
; The move must be a multiple of 16 to keep the alignment above, and at
; least the frame's 40 bytes for the copy to land below the old frame: 48
; (the push-copy below moves by 40 plus its initial SUB). Each copy
; is a PUSH, so an NMI arriving in the middle only ever writes below the
; live data.
;
; Vectors with a CPU error code (SDM vol. 3A table 6-1): 8, 10-14, 17, 21,
; 29, 30.

extern trap_dispatch
global trap_stubs
global trap_return
global bp_entry_gap_enabled

BP_GAP	equ 48		; a multiple of 16: see above

section .data
; Cleared only by the unsafe-no-gap negative control.
bp_entry_gap_enabled:	db 1

section .text
bits 64

%macro STUB 1
align 16
stub_%1:
%if %1 = 8 || (%1 >= 10 && %1 <= 14) || %1 = 17 || %1 = 21 || %1 = 29 || %1 = 30
	push qword %1
%elif %1 = 3
	jmp bp_stub
%elif %1 = 6
	jmp ud_stub
%else
	push qword 0
	push qword %1
%endif
	jmp trap_common
%endmacro

%assign v 0
%rep 256
	STUB v
%assign v v+1
%endrep

; GAP_STUB vector: the CPU frame moved BP_GAP bytes down (see above).
%macro GAP_STUB 1
	cmp byte [rel bp_entry_gap_enabled], 0
	je %%no_gap
	sub rsp, BP_GAP - 40
	; Copy SS, RSP, RFLAGS, CS, RIP (in that order) BP_GAP bytes lower:
	; each push reads [rsp + BP_GAP - 8] before decrementing RSP by 8.
	push qword [rsp + BP_GAP - 8]
	push qword [rsp + BP_GAP - 8]
	push qword [rsp + BP_GAP - 8]
	push qword [rsp + BP_GAP - 8]
	push qword [rsp + BP_GAP - 8]
%%no_gap:
	push qword 0
	push qword %1
	jmp trap_common
%endmacro

bp_stub:
	GAP_STUB 3
ud_stub:
	GAP_STUB 6

trap_common:
	push rax
	push rbx
	push rcx
	push rdx
	push rsi
	push rdi
	push rbp
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	cld
	mov rdi, rsp
	; A frame-pointer record so that backtraces walk through the trap
	; into the interrupted code: [rbp] = interrupted rbp, [rbp+8] = rip.
	push qword [rsp + 17 * 8]	; interrupted RIP
	push rbp
	mov rbp, rsp
	call trap_dispatch
	add rsp, 16
trap_return:
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rbp
	pop rdi
	pop rsi
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16		; vector, error code
	iretq

section .rodata
align 8
trap_stubs:
%assign v 0
%rep 256
	dq stub_ %+ v
%assign v v+1
%endrep
