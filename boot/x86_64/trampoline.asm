; AP start-up trampoline. The boot CPU copies this blob into a page below
; 1 MiB (the page number is the SIPI vector, SDM vol. 3A 9.4.4.1 / MP spec
; B.4.2) and patches in the absolute addresses that depend on where it
; landed. An AP starts here in real mode with CS = page << 8, IP = 0, and
; goes real -> protected (32-bit) -> long mode, the order the SDM asks for
; (9.8.5 "Initializing IA-32e mode"), then jumps to ap_entry(cpu) in the
; kernel on the stack the boot CPU left in ap_boot_params.
;
; This code is never executed in place: it lives in .rodata.

%include "boot/x86_64/x86.inc"

; struct ap_boot_params (smpboot.c)
P_CR3	equ 0
P_EFER	equ 8
P_STACK	equ 16
P_CPU	equ 24
P_ENTRY	equ 32

%define OFF(x) ((x) - trampoline_start)

global trampoline_start
global trampoline_end
global TR_GDT_BASE
global TR_FAR32
global TR_FAR64
global TR_PARAMS

section .rodata
align 16
trampoline_start:
bits 16
	cli
	cld
	mov ax, cs
	mov ds, ax
	movzx ebp, ax
	shl ebp, 4			; the page's physical address
	o32 lgdt [OFF(tr_gdt_ptr)]
	mov eax, CR0_PE
	mov cr0, eax
	o32 jmp far [OFF(tr_far32)]	; to 32-bit code, selector 0x18

bits 32
tr_pm32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor eax, eax
	mov fs, ax
	mov gs, ax
	mov esi, [ebp + OFF(tr_params)]
	mov eax, CR4_PAE
	mov cr4, eax
	mov eax, [esi + P_CR3]
	mov cr3, eax
	mov ecx, MSR_EFER
	mov eax, [esi + P_EFER]
	xor edx, edx
	wrmsr
	mov eax, CR0_LONG_MODE
	mov cr0, eax
	jmp far [ebp + OFF(tr_far64)]	; to 64-bit code, selector 0x08

bits 64
tr_long:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esi, esi			; zero-extend the params pointer
	mov rsp, [rsi + P_STACK]
	mov rdi, [rsi + P_CPU]
	mov rax, [rsi + P_ENTRY]
	xor ebp, ebp			; ends backtraces
	push 0				; a return address slot: ABI alignment
	jmp rax

align 8
tr_gdt:
	dq 0
	dq 0x00AF9B000000FFFF		; 0x08: 64-bit code
	dq 0x00CF93000000FFFF		; 0x10: data
	dq 0x00CF9B000000FFFF		; 0x18: 32-bit code
tr_gdt_end:
tr_gdt_ptr:
	dw tr_gdt_end - tr_gdt - 1
	dd 0				; patched: page + OFF(tr_gdt)
align 4
tr_far32:
	dd 0				; patched: page + OFF(tr_pm32)
	dw 0x18
align 4
tr_far64:
	dd 0				; patched: page + OFF(tr_long)
	dw 0x08
align 4
tr_params:
	dd 0				; patched: &ap_boot_params
trampoline_end:

; Offsets of the slots to patch, and the values that go into them.
TR_GDT_BASE	equ OFF(tr_gdt_ptr) + 2
TR_FAR32	equ OFF(tr_far32)
TR_FAR64	equ OFF(tr_far64)
TR_PARAMS	equ OFF(tr_params)
global TR_OFF_GDT
global TR_OFF_PM32
global TR_OFF_LONG
TR_OFF_GDT	equ OFF(tr_gdt)
TR_OFF_PM32	equ OFF(tr_pm32)
TR_OFF_LONG	equ OFF(tr_long)
