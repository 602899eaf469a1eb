; The edge sites' side of x86-64's site kit (edge.c; the sites themselves
; are in entry.asm, EDGE): one thunk per site, which a CALL at the site
; reaches from the middle of the entry code, and the exception the
; spinners raise to run the #DE entry.
;
; A thunk runs where no register may change: before the entry saved any,
; or after it restored them all. It saves every register the SysV ABI
; lets edge_tracer() clobber, and the flags, aligns the stack to 16 bytes
; (a CALL at the NMI entry comes with RSP 8 off: the CPU's frame is 5
; quadwords, SDM vol. 3A §6.14.2), links a frame record for backtraces,
; and calls edge_tracer(site, interrupted RIP).

extern edge_tracer

global edge_thunk_nmi_entry
global edge_thunk_nmi_exit
global edge_thunk_trap
global edge_thunk_exc
global edge_raise_de
global edge_de_insn

section .text
bits 64

; THUNK name, site number (enum edge_site), offset of the CPU frame's RIP
; from the stack pointer at the site
%macro THUNK 3
align 16
%1:
	push rsi
	push rdi
	mov rsi, [rsp + 24 + %3]	; above rdi, rsi and our return address
	mov edi, %2
	jmp thunk_common
%endmacro

THUNK edge_thunk_nmi_entry, 0, 0
THUNK edge_thunk_nmi_exit, 1, 0
THUNK edge_thunk_trap, 2, 16		; vector and error code pushed
THUNK edge_thunk_exc, 3, 0

; [rsp] rdi, [rsp + 8] rsi, [rsp + 16] the return address into the site
thunk_common:
	pushfq
	push rax
	push rcx
	push rdx
	push r8
	push r9
	push r10
	push r11
	push rbp
	mov rax, rsp
	and rsp, -16
	push rax			; the stack pointer to go back to
	push qword [rax + 11 * 8]	; the return address, for the frame record
	push rbp
	mov rbp, rsp
	sub rsp, 8			; RSP 16-byte aligned at the call
	cld
	call edge_tracer
	mov rsp, rbp
	pop rbp
	add rsp, 8
	pop rsp
	pop rbp
	pop r11
	pop r10
	pop r9
	pop r8
	pop rdx
	pop rcx
	pop rax
	popfq
	pop rdi
	pop rsi
	ret

; A divide error (#DE) on purpose; the kit's handler resumes after the
; DIV. Clobbers only what a call may.
align 16
edge_raise_de:
	xor ecx, ecx
	mov eax, 1
	xor edx, edx
edge_de_insn:
	div ecx
	ret
