; poketorture boot: Multiboot1 and Multiboot2 headers, 32-bit entry, switch
; to long mode, call kmain(magic, info).
;
; Both loaders enter here in 32-bit protected mode with paging off, EAX =
; the loader's magic and EBX = the physical address of its boot information
; (Multiboot spec 3.2, Multiboot2 spec 3.3). Nothing else about the machine
; state is promised: GRUB under UEFI hands over with CR0.WP, CR4.OSFXSR,
; EFER.NXE and EFLAGS.ID already set, a BIOS loader with almost nothing. So
; every control register is written whole here, never read-modify-written.
;
; The boot information lies outside our image (QEMU puts it right after
; .bss, GRUB anywhere in low memory). This code writes nothing outside the
; image, and kmain copies the information into .bss before it allocates
; anything, so it can never be overwritten.

MB1_MAGIC	equ 0x1BADB002
MB1_FLAGS	equ (1 << 0) | (1 << 1)	; align modules; we want mem_* and mmap_*
MB1_BOOT_MAGIC	equ 0x2BADB002
MB2_MAGIC	equ 0xE85250D6
MB2_ARCH_I386	equ 0
MB2_BOOT_MAGIC	equ 0x36D76289

%include "boot/x86_64/x86.inc"
PTE_P		equ 1 << 0
PTE_W		equ 1 << 1
PTE_PS		equ 1 << 7
COM1		equ 0x3F8

extern kmain
extern __bss_start
extern __bss_end
global _start
global boot_pml4
global boot_stack_guard
global boot_stack_top
global boot_gdt64

section .multiboot
align 4
mb1_header:			; Multiboot spec 3.1.1: magic, flags, checksum
	dd MB1_MAGIC
	dd MB1_FLAGS
	dd 0x100000000 - (MB1_MAGIC + MB1_FLAGS)

align 8
mb2_header:			; Multiboot2 spec 3.1.1
	dd MB2_MAGIC
	dd MB2_ARCH_I386
	dd mb2_header_end - mb2_header
	dd 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
align 8
mb2_info_request:		; 3.1.4: type 1, flag 1 = optional
	dw 1, 1
	dd mb2_info_request_end - mb2_info_request
	dd 1			; command line
	dd 2			; boot loader name
	dd 6			; memory map
	dd 14			; ACPI 1.0 RSDP
	dd 15			; ACPI 2.0 RSDP
	dd 8			; framebuffer info
mb2_info_request_end:
align 8
mb2_framebuffer:		; 3.1.10: type 5, optional; the screen console's
	dw 5, 1			; (UEFI has no text mode; GRUB picks the closest)
	dd 20
	dd 1024, 768, 32	; width, height, bits per pixel
align 8
	dw 0, 0			; end tag
	dd 8
mb2_header_end:

section .boot.text
bits 32
_start:
	cli
	cld
	mov edi, eax		; keep the loader's magic and info pointer
	mov esi, ebx

	; Zero .bss ourselves: it holds the page tables and the stack, and not
	; every loader is known to clear it.
	mov ecx, __bss_end
	sub ecx, __bss_start
	shr ecx, 2
	xor eax, eax
	mov edx, edi
	mov edi, __bss_start
	rep stosd
	mov edi, edx

	mov esp, boot_stack_top
	push 2			; EFLAGS: only the reserved bit 1 set (SDM 3.4.3)
	popfd

	cmp edi, MB1_BOOT_MAGIC
	je .magic_ok
	cmp edi, MB2_BOOT_MAGIC
	je .magic_ok
	mov ebx, msg_no_multiboot
	jmp early_die
.magic_ok:
	; CPUID.80000001h:EDX bit 29 = long mode, bit 20 = NX (SDM vol. 2A, CPUID).
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_long_mode
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 29
	jz .no_long_mode
	xor ebp, ebp
	test edx, 1 << 20
	jz .build_tables
	mov ebp, EFER_NXE
	jmp .build_tables
.no_long_mode:
	mov ebx, msg_no_long_mode
	jmp early_die

.build_tables:
	; Identity-map the first 4 GiB with 2 MiB pages: enough for the image,
	; the boot information and firmware tables until kmain builds the real
	; tables from the memory map.
	mov eax, boot_pdpt
	or eax, PTE_P | PTE_W
	mov [boot_pml4], eax
	xor ecx, ecx
.pdpt_loop:
	mov eax, ecx
	shl eax, 12
	add eax, boot_pd
	or eax, PTE_P | PTE_W
	mov [boot_pdpt + ecx * 8], eax
	inc ecx
	cmp ecx, 4
	jb .pdpt_loop
	xor ecx, ecx		; 2048 entries across the four page directories
.pd_loop:
	mov eax, ecx
	shl eax, 21
	or eax, PTE_P | PTE_W | PTE_PS
	mov [boot_pd + ecx * 8], eax
	mov eax, ecx
	shr eax, 11		; bits 32+ of the physical address
	mov [boot_pd + ecx * 8 + 4], eax
	inc ecx
	cmp ecx, 2048
	jb .pd_loop

	mov eax, CR4_PAE	; SDM 9.8.5: PAE before enabling IA-32e mode
	mov cr4, eax
	mov eax, boot_pml4
	mov cr3, eax
	mov ecx, MSR_EFER
	mov eax, EFER_LME
	or eax, ebp
	xor edx, edx
	wrmsr
	mov eax, CR0_LONG_MODE
	mov cr0, eax
	lgdt [boot_gdt64_ptr]
	jmp 0x08:long_mode_entry

; Print the NUL-terminated string at EBX on COM1 and halt for good.
early_die:
	mov dx, COM1 + 5	; line status: wait for THR empty (16550 LSR bit 5)
.wait:
	in al, dx
	test al, 0x20
	jz .wait
	mov al, [ebx]
	test al, al
	jz .halt
	mov dx, COM1
	out dx, al
	inc ebx
	jmp early_die
.halt:
	cli
	hlt
	jmp .halt

bits 64
long_mode_entry:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor eax, eax
	mov fs, ax
	mov gs, ax
	mov rsp, boot_stack_top
	xor ebp, ebp		; terminates frame-pointer backtraces
	; edi = magic and esi = info already: kmain(u32 magic, u32 info)
	call kmain
.hang:
	cli
	hlt
	jmp .hang

section .rodata
msg_no_multiboot:
	db "poketorture: not started by a Multiboot loader; halting", 13, 10, 0
msg_no_long_mode:
	db "poketorture: this CPU has no long mode (CPUID 80000001h:EDX.LM); halting", 13, 10, 0

section .data
align 16
; Boot GDT (SDM 3.4.5): null, 64-bit code 0x08, data 0x10. The accessed bits
; are preset so that loading a selector never makes the CPU write the table.
boot_gdt64:
	dq 0
	dq 0x00AF9B000000FFFF
	dq 0x00CF93000000FFFF
boot_gdt64_end:
boot_gdt64_ptr:
	dw boot_gdt64_end - boot_gdt64 - 1
	dq boot_gdt64

section .bss.pagealigned nobits alloc noexec write align=4096
boot_pml4:	resb 4096
boot_pdpt:	resb 4096
boot_pd:	resb 4 * 4096
; The boot CPU's stack; the page under it is left unmapped by the paging
; code so that an overflow faults instead of corrupting .bss.
boot_stack_guard:	resb 4096
boot_stack_bottom:	resb 16384
boot_stack_top:
