/* Console output. A printk call's text reaches the console in one piece:
 * lines from different CPUs never interleave. Safe from NMI context. */
#ifndef PT_PRINTK_H
#define PT_PRINTK_H

#include "kernel/types.h"

void printk(const char *fmt, ...) __printf(1, 2);
void vprintk(const char *fmt, va_list ap);
/* TAP diagnostics: every line of the text gets a "# " prefix. */
void diag(const char *fmt, ...) __printf(1, 2);
void vdiag(const char *fmt, va_list ap);
/* Like diag, but only with the verbose option. */
void vdiag_verbose(const char *fmt, va_list ap);
void diag_verbose(const char *fmt, ...) __printf(1, 2);
extern bool printk_verbose;

#endif
