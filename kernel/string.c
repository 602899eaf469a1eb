/* libc string functions for the freestanding kernel. Plain byte loops:
 * nothing here is hot, and simple code cannot hide a bug the suite would
 * then blame on the patching protocol. */
#include "kernel/string.h"

#ifndef PT_HOST
/* Eight bytes at a time when both ends are 8-byte aligned (descriptors
 * are copied and cleared on every patch, int3-pipe's batches, and a byte
 * loop was a fifth of its instructions), else a byte at a time: no
 * architecture is assumed to allow unaligned words. No loop here may
 * become a call to itself (GCC turns copy loops into memcpy calls). */
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

static inline bool aligned8(const void *p)
{
	return !((uintptr_t)p & 7);
}

NO_LIBCALLS void *memcpy(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (aligned8(d) && aligned8(s))
		for (; n >= 8; n -= 8, d += 8, s += 8)
			*(u64 *)d = *(const u64 *)s;
	while (n--)
		*d++ = *s++;
	return dst;
}

NO_LIBCALLS void *memmove(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

NO_LIBCALLS void *memset(void *dst, int c, size_t n)
{
	u8 *d = dst;
	u64 w = 0x0101010101010101ull * (u8)c;

	for (; n && !aligned8(d); n--)
		*d++ = (u8)c;
	for (; n >= 8; n -= 8, d += 8)
		*(u64 *)d = w;
	while (n--)
		*d++ = (u8)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			break;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}
#endif

size_t strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

#ifndef PT_HOST
void *memchr(const void *s, int c, size_t n)
{
	const u8 *p = s;

	for (; n; n--, p++)
		if (*p == (u8)c)
			return (void *)p;
	return NULL;
}
#endif
