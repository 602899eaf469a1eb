/* printf-style formatting (C11 7.21.6.1, the subset the kernel uses). */
#include "kernel/format.h"

struct out {
	char *buf;
	size_t size;
	size_t len;	/* what the whole output would take */
};

struct spec {
	bool left, zero, plus, space, alt;
	bool ptr;	/* %p: 0x even for NULL */
	int width;
	int prec;	/* -1: none */
	int length;	/* 0, 'H' (hh), 'h', 'l', 'L' (ll/j/z/t) */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

static void put_str(struct out *o, const struct spec *s, const char *str)
{
	int len = 0;

	if (!str)
		str = "(null)";
	while ((s->prec < 0 || len < s->prec) && str[len])
		len++;
	if (!s->left)
		pad(o, ' ', s->width - len);
	for (int i = 0; i < len; i++)
		put(o, str[i]);
	if (s->left)
		pad(o, ' ', s->width - len);
}

/* Formats one integer: sign or prefix, precision zeros, width padding. */
static void put_num(struct out *o, const struct spec *s, u64 v, bool neg,
		    unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	const char *prefix = "";
	int n = 0, zeros, plen, total;
	bool nonzero = v != 0;

	while (v) {
		tmp[n++] = digits[v % base];
		v /= base;
	}
	if (n == 0 && s->prec != 0)
		tmp[n++] = '0';
	if (neg)
		prefix = "-";
	else if (s->plus)
		prefix = "+";
	else if (s->space)
		prefix = " ";
	if (s->alt && base == 16 && (nonzero || s->ptr))
		prefix = upper ? "0X" : "0x";
	if (s->alt && base == 8 && (n == 0 || tmp[n - 1] != '0') && s->prec <= n)
		prefix = "0";
	plen = 0;
	while (prefix[plen])
		plen++;
	zeros = s->prec > n ? s->prec - n : 0;
	if (s->zero && !s->left && s->prec < 0 && s->width > plen + n)
		zeros = s->width - plen - n;
	total = plen + zeros + n;
	if (!s->left)
		pad(o, ' ', s->width - total);
	for (int i = 0; i < plen; i++)
		put(o, prefix[i]);
	pad(o, '0', zeros);
	while (n)
		put(o, tmp[--n]);
	if (s->left)
		pad(o, ' ', s->width - total);
}

static const char *parse_flags(const char *f, struct spec *s)
{
	for (;; f++) {
		if (*f == '-')
			s->left = true;
		else if (*f == '0')
			s->zero = true;
		else if (*f == '+')
			s->plus = true;
		else if (*f == ' ')
			s->space = true;
		else if (*f == '#')
			s->alt = true;
		else
			return f;
	}
}

static const char *parse_int(const char *f, int *v, va_list *ap)
{
	if (*f == '*') {
		*v = va_arg(*ap, int);
		return f + 1;
	}
	*v = 0;
	while (*f >= '0' && *f <= '9')
		*v = *v * 10 + (*f++ - '0');
	return f;
}

static const char *parse_length(const char *f, struct spec *s)
{
	if (f[0] == 'h' && f[1] == 'h') {
		s->length = 'H';
		return f + 2;
	}
	if (f[0] == 'l' && f[1] == 'l') {
		s->length = 'L';
		return f + 2;
	}
	if (*f == 'h' || *f == 'l') {
		s->length = *f;
		return f + 1;
	}
	if (*f == 'z' || *f == 't' || *f == 'j') {
		s->length = 'L';
		return f + 1;
	}
	return f;
}

static s64 arg_signed(const struct spec *s, va_list *ap)
{
	switch (s->length) {
	case 'H': return (s8)va_arg(*ap, int);
	case 'h': return (s16)va_arg(*ap, int);
	case 'l': return va_arg(*ap, long);
	case 'L': return va_arg(*ap, long long);
	default: return va_arg(*ap, int);
	}
}

static u64 arg_unsigned(const struct spec *s, va_list *ap)
{
	switch (s->length) {
	case 'H': return (u8)va_arg(*ap, unsigned int);
	case 'h': return (u16)va_arg(*ap, unsigned int);
	case 'l': return va_arg(*ap, unsigned long);
	case 'L': return va_arg(*ap, unsigned long long);
	default: return va_arg(*ap, unsigned int);
	}
}

/* Handles one conversion character; returns false for an unknown one. */
static bool convert(struct out *o, struct spec *s, char c, va_list *ap)
{
	s64 sv;

	if (c != 'd' && c != 'i')	/* '+' and ' ' are for signed only */
		s->plus = s->space = false;
	switch (c) {
	case 'd':
	case 'i':
		sv = arg_signed(s, ap);
		put_num(o, s, sv < 0 ? -(u64)sv : (u64)sv, sv < 0, 10, false);
		return true;
	case 'u':
		put_num(o, s, arg_unsigned(s, ap), false, 10, false);
		return true;
	case 'x':
	case 'X':
		put_num(o, s, arg_unsigned(s, ap), false, 16, c == 'X');
		return true;
	case 'o':
		put_num(o, s, arg_unsigned(s, ap), false, 8, false);
		return true;
	case 'p':
		s->alt = true;
		s->ptr = true;
		s->zero = false;
		s->prec = 16;
		put_num(o, s, (u64)(uintptr_t)va_arg(*ap, void *), false, 16, false);
		return true;
	case 's':
		put_str(o, s, va_arg(*ap, const char *));
		return true;
	case 'c':
		/* Not put_str(): a NUL character is output too. */
		if (!s->left)
			pad(o, ' ', s->width - 1);
		put(o, (char)va_arg(*ap, int));
		if (s->left)
			pad(o, ' ', s->width - 1);
		return true;
	case '%':
		put(o, '%');
		return true;
	default:
		return false;
	}
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	va_list args;

	va_copy(args, ap);
	while (*fmt) {
		const char *start = fmt;
		struct spec s = { .prec = -1 };

		if (*fmt != '%') {
			put(&o, *fmt++);
			continue;
		}
		fmt = parse_flags(fmt + 1, &s);
		fmt = parse_int(fmt, &s.width, &args);
		if (s.width < 0) {
			s.left = true;
			s.width = -s.width;
		}
		if (*fmt == '.') {
			fmt = parse_int(fmt + 1, &s.prec, &args);
			if (s.prec < 0)
				s.prec = -1;
		}
		fmt = parse_length(fmt, &s);
		if (*fmt && convert(&o, &s, *fmt, &args)) {
			fmt++;
			continue;
		}
		/* Unknown conversion: print it as written, visibly. */
		while (start < fmt)
			put(&o, *start++);
		if (*fmt)
			put(&o, *fmt++);
	}
	va_end(args);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
