; recovery_set: a setjmp for traps. Saves the callee-saved registers, the
; stack pointer, the return address and RFLAGS, and returns 0. A trap
; handler that decides to abandon the interrupted code (an expected fault,
; or a test that crashed) rewrites its trap frame from this record, so
; that the IRET "returns 1" from recovery_set. Restoring through IRET
; rather than a jump means the handler's own stack unwinds naturally and
; RFLAGS.IF comes back as it was.

global recovery_set
section .text
bits 64
recovery_set:
	mov [rdi + 0], rbx
	mov [rdi + 8], rbp
	mov [rdi + 16], r12
	mov [rdi + 24], r13
	mov [rdi + 32], r14
	mov [rdi + 40], r15
	lea rax, [rsp + 8]	; RSP as it will be after our RET
	mov [rdi + 48], rax
	mov rax, [rsp]		; our return address
	mov [rdi + 56], rax
	pushfq
	pop qword [rdi + 64]
	xor eax, eax
	ret
