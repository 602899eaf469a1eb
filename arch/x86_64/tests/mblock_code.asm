; A block of two instructions replaced as a unit (docs/design.md §13.3),
; for the site kit's kit_mblock() (mblock.c).
;
; u32 mb_fn(void) runs it:
;   state A, at mb_site: JMP rel8 0 (EB 00), then NOP3 (0F 1F 00). The
;     JMP ends a translated block under a binary translator (QEMU TCG,
;     which takes interrupts only between translated blocks), so a
;     context can be interrupted, and preempted, at mb_site + 2, between
;     the two. Falls through to the tail: returns 1.
;   state B: JMP rel32 mb_land, which returns 2.
;   the redirect (the quiescence strategy's first step): JMP rel8
;     mb_detour in place of A's first instruction, which returns 2.
; A context preempted at mb_site + 2 in state A and resumed there in
; state B runs B's displacement bytes as code: mb_land is placed so that
; the displacement is 0x00000580 (bytes 80 05 00 00), and from mb_site + 2
; the CPU decodes 05 00 00 EB 00, ADD EAX, 0x00eb0000 (its immediate's
; last two bytes are the tail's JMP), then the tail's RET: it returns
; 0x00eb0001, an outcome neither state has. The tail's JMP rel8 0 is
; there for that decoding; run normally it is a jump to the next byte.
;
; mb_site + 2 begins a page (the site straddles two): measured under
; QEMU 7.2 single-threaded TCG, about 8% of the timer ticks that
; interrupt a context land at mb_site + 2 then, against 1-2% with the two
; instructions on one page (where the JMP's translated block is linked
; straight to the next one; across a page TCG does not link them).

global mb_fn
global mb_site
global mb_detour
global mb_land

MB_DISP	equ 0x580

section .patchable.mblock progbits alloc exec nowrite align=4096

align 4096
	times 4096 - (mb_site + 2 - mb_fn) db 0xcc
mb_fn:
	mov eax, 1
mb_site:
	db 0xeb, 0x00		; state A: JMP rel8 0 ...
	db 0x0f, 0x1f, 0x00	; ... NOP3
	db 0xeb, 0x00		; the tail: JMP rel8 0 ...
	ret			; ... RET
	times 16 db 0xcc
mb_detour:
	mov eax, 2
	ret
	times (mb_site + 5 + MB_DISP) - $ db 0xcc
mb_land:
	mov eax, 2
	ret
	times 16 db 0xcc
