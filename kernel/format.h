/* printf-style formatting into a buffer, shared with the host unit tests.
 * Conversions: d i u x X o p s c %; flags - 0 + space #; width and
 * precision (also *); length modifiers hh h l ll z t j. */
#ifndef PT_FORMAT_H
#define PT_FORMAT_H

#include "kernel/types.h"

/* Like C99 vsnprintf: always terminates when size > 0 and returns the
 * length the full output would have had. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

#endif
