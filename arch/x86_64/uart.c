/*
 * 16550 UART on COM1, polled, 115200 8N1 (register map: National
 * Semiconductor PC16550D datasheet, table II). A machine without COM1 is
 * detected through the scratch register and the run carries on silently
 * on serial (the verdict still reaches QEMU through isa-debug-exit).
 */
#include "arch/x86_64/cpu.h"
#include "kernel/arch.h"

#define COM1 0x3f8
#define UART_THR 0	/* transmit holding (DLAB=0) */
#define UART_DLL 0	/* divisor latch low (DLAB=1) */
#define UART_IER 1	/* interrupt enable (DLAB=0) */
#define UART_DLM 1	/* divisor latch high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7
#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define FCR_ENABLE_CLEAR 0x07	/* FIFO on, clear RX and TX FIFOs */
#define MCR_DTR_RTS 0x03
#define LSR_THRE 0x20
#define BASE_CLOCK 115200	/* 1.8432 MHz / 16 */
#define BAUD 115200
/* At 115200 baud a character takes ~87 us; a UART that stays busy for
 * this many polls is wedged and gets dropped rather than stall the run. */
#define THRE_POLLS 1000000

static bool uart_ok;

static bool uart_probe(void)
{
	outb(COM1 + UART_SCR, 0x5a);
	if (inb(COM1 + UART_SCR) != 0x5a)
		return false;
	outb(COM1 + UART_SCR, 0xa5);
	return inb(COM1 + UART_SCR) == 0xa5;
}

bool arch_console_init(void)
{
	u16 divisor = BASE_CLOCK / BAUD;

	uart_ok = uart_probe();
	if (!uart_ok)
		return false;
	outb(COM1 + UART_IER, 0);	/* we poll */
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, divisor & 0xff);
	outb(COM1 + UART_DLM, divisor >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, MCR_DTR_RTS);
	return true;
}

static void uart_putc(char c)
{
	unsigned polls = 0;

	while (!(inb(COM1 + UART_LSR) & LSR_THRE)) {
		if (++polls == THRE_POLLS) {
			uart_ok = false;
			return;
		}
		__asm__ __volatile__("pause");
	}
	outb(COM1 + UART_THR, (u8)c);
}

void arch_console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n && uart_ok; i++) {
		if (s[i] == '\n')
			uart_putc('\r');	/* terminals want CR LF */
		uart_putc(s[i]);
	}
}
