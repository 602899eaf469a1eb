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
%if %1 = 0 || %1 = 2
	jmp stub_edge_%1	; not in the table: see EDGE below
%elif %1 = 8 || (%1 >= 10 && %1 <= 14) || %1 = 17 || %1 = 21 || %1 = 29 || %1 = 30
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
	jmp trap_edge		; the edge site of the trap entry (below)
%endmacro

bp_stub:
	GAP_STUB 3
ud_stub:
	GAP_STUB 6

%macro SAVE_AND_DISPATCH 0
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
%endmacro

%macro RESTORE 0
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
%endmacro

trap_common:
	SAVE_AND_DISPATCH
trap_return:
	RESTORE
	iretq

; EDGE: live patch sites at the edges of the entry code (docs/design.md
; §8.6), in the patchable text so that the engine may patch them while
; every CPU runs them: each is a NOP5 or a CALL to a tracer thunk of the
; site kit (arch/x86_64/tests/edge_thunks.asm), which saves every register it
; uses. Four of them:
;  - the very first instruction of the NMI entry, before anything (the
;    NMI depth included) is raised; and its very last before the IRETQ,
;    after the depth is lowered. Holding a trap byte, the first makes a
;    #BP (or trap-first's #UD) inside the NMI before the handler knows it
;    is one; that trap's IRET unmasks NMIs (SDM vol. 3A §6.7.1), so a
;    second NMI may land right there, on the same stack (no IST, see
;    traps.c).
;  - the #BP/#UD entry itself, once the vector is pushed. A trap at this
;    very site (its own trap byte) skips it, or every #BP would re-enter
;    it for ever; patch_trap() then emulates it for the outer entry, whose
;    stack the entry gap protects (§3.7).
;  - the #DE entry, a non-NMI exception: the first instruction, reached
;    through a trap gate (desc.c), so with interrupts as they were, as a
;    Linux handler that re-enables them; then CLI, since the dispatcher
;    and the context tracking after it expect them off.
; A CALL at a site pushes a return address under the interrupted stack
; pointer: the NMI and #DE entries run on the interrupted stack, below
; the CPU's frame, where nothing lives (SDM vol. 3A §6.14.2).

global edge_nmi_entry_site
global edge_nmi_exit_site
global edge_trap_site
global edge_exc_site

%define NOP5 db 0x0f, 0x1f, 0x44, 0x00, 0x00

section .patchable.edge progbits alloc exec nowrite align=64
global entry_edge_text_start
global entry_edge_text_end
entry_edge_text_start:		; the edge sites' text, up to its end below

align 16
stub_edge_2:
edge_nmi_entry_site:
	NOP5
	push qword 0
	push qword 2
	SAVE_AND_DISPATCH
	RESTORE
edge_nmi_exit_site:
	NOP5
	iretq

align 16
stub_edge_0:
edge_exc_site:
	NOP5
	cli
	push qword 0
	push qword 0
	jmp trap_common

; [rsp] vector, [rsp + 8] error code, [rsp + 16] the trapping RIP.
; The error code of #BP and #UD (the CPU pushes none) carries this CPU's
; serial_seq as it was when it executed the trap byte, taken before the
; site: a trap or NMI taken from here to the C handler (the site's own
; trap byte, an NMI its IRET unmasked) serializes and moves serial_seq
; on, and the stray-trap classifier (docs/design.md §6) would take a
; late trap for stale code. traps.c's exception() takes it back out.
extern cpu_serial_seq_offset
align 16
trap_edge:
	push rax
	mov rax, [gs:0]				; this CPU (struct cpu)
	add rax, [rel cpu_serial_seq_offset]
	mov rax, [rax]
	mov [rsp + 16], rax			; the error code's slot
	lea rax, [rel edge_trap_site]
	cmp rax, [rsp + 24]		; #UD: RIP at the trap byte
	je trap_edge_own
	inc rax
	cmp rax, [rsp + 24]		; #BP: RIP past it
	je trap_edge_own
	pop rax
edge_trap_site:
	NOP5
	jmp trap_common
trap_edge_own:
	pop rax
	jmp trap_common
entry_edge_text_end:

section .text

section .rodata
align 8
trap_stubs:
%assign v 0
%rep 256
%if v = 0 || v = 2
	dq stub_edge_ %+ v	; the edge sites come first (see EDGE)
%else
	dq stub_ %+ v
%endif
%assign v v+1
%endrep
