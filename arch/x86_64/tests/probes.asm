; Code the boot tests patch through the text alias: a function returning
; an immediate, and the same one placed so that its immediate straddles a
; page boundary (the alias must map both pages).

global alias_probe
global straddle_probe
global bp_probe_after

section .patchable.probes progbits alloc exec nowrite align=4096
alias_probe:
	mov eax, 0x11111111	; B8 imm32: the immediate is at +1
	ret

align 4096
	times 4096 - 3 db 0xcc	; a trap sled up to the boundary
straddle_probe:
	mov eax, 0x22222222	; opcode at page end - 3, immediate across
	ret

section .text
; int3 for boot.exceptions: #BP is a trap, so the reported RIP must be
; the address after the int3.
global bp_probe
bp_probe:
	int3
bp_probe_after:
	ret
