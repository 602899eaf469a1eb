/* Boot command line parsing (see cmdline.h). */
#include "kernel/cmdline.h"
#include "kernel/format.h"
#include "kernel/string.h"

bool parse_u64(const char *s, size_t len, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

static const struct opt_desc *find_desc(const struct opt_desc *d, size_t n,
					const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(d[i].name) == len && !strncmp(d[i].name, name, len))
			return &d[i];
	return NULL;
}

/* "what is accepted" for one option, for error messages. */
static void describe(const struct opt_desc *d, char *buf, size_t size)
{
	size_t len = 0;

	switch (d->kind) {
	case OPT_FLAG:
		ksnprintf(buf, size, "'%s' alone, without a value", d->name);
		return;
	case OPT_UINT:
		ksnprintf(buf, size, "an integer from %llu to %llu",
			  (unsigned long long)d->min, (unsigned long long)d->max);
		return;
	case OPT_RANGE:
		ksnprintf(buf, size, "N or LO-HI, integers from %llu to %llu, LO <= HI",
			  (unsigned long long)d->min, (unsigned long long)d->max);
		return;
	case OPT_ENUM:
		buf[0] = '\0';
		for (const char *const *c = d->choices; *c; c++)
			len += ksnprintf(buf + len, len < size ? size - len : 0,
					 "%s%s", c == d->choices ? "" : ", ", *c);
		return;
	case OPT_STRING:
		ksnprintf(buf, size, "%s", d->accepted ? d->accepted : "text");
		return;
	}
}

static void list_options(const struct opt_desc *d, size_t n, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += ksnprintf(buf + len, len < size ? size - len : 0, "%s%s%s",
				 i ? ", " : "", d[i].name,
				 d[i].kind == OPT_FLAG ? "" : "=");
}

static const char *parse_range(const struct opt_desc *d, const char *v,
			       size_t len, struct opt_val *out)
{
	const char *dash = memchr(v, '-', len);
	size_t l1 = dash ? (size_t)(dash - v) : len;

	if (!parse_u64(v, l1, &out->num))
		return "not a number";
	out->num2 = out->num;
	if (dash && !parse_u64(dash + 1, len - l1 - 1, &out->num2))
		return "not a number after '-'";
	if (out->num < d->min || out->num2 > d->max)
		return "out of range";
	if (out->num > out->num2)
		return "LO is greater than HI";
	return NULL;
}

/* Checks and stores one value; returns NULL or the reason it is bad. */
static const char *parse_value(const struct opt_desc *d, const char *v,
			       size_t len, bool has_value, struct opt_val *out)
{
	if (d->kind == OPT_FLAG)
		return has_value ? "takes no value" : NULL;
	if (!has_value || len == 0)
		return "needs a value";
	if (len >= OPT_STR_MAX)
		return "value too long";
	memcpy(out->str, v, len);
	out->str[len] = '\0';
	switch (d->kind) {
	case OPT_UINT:
		if (!parse_u64(v, len, &out->num))
			return "not a number";
		if (out->num < d->min || out->num > d->max)
			return "out of range";
		return NULL;
	case OPT_RANGE:
		return parse_range(d, v, len, out);
	case OPT_ENUM:
		for (unsigned i = 0; d->choices[i]; i++) {
			if (!strcmp(d->choices[i], out->str)) {
				out->choice = i;
				return NULL;
			}
		}
		return "not a known value";
	case OPT_STRING:
		return d->check ? d->check(out->str) : NULL;
	default:
		return "internal: bad option kind";
	}
}

static int fail(char *err, size_t errlen, const char *word, size_t wlen,
		const char *reason, const char *accepted)
{
	ksnprintf(err, errlen, "bad option '%.*s': %s; accepted: %s",
		  (int)wlen, word, reason, accepted);
	return -1;
}

/* QEMU's -kernel puts the image path first; GRUB's multiboot2 does not.
 * Only a word that looks like a file name is skipped, so that a stray
 * first word like 'bogus' is still refused. */
static bool looks_like_image_name(const char *w, size_t len)
{
	return memchr(w, '/', len) || memchr(w, '.', len) || (len && w[0] == '(');
}

static int parse_word(const char *w, size_t wlen, bool first, unsigned *order,
		      const struct opt_desc *descs, size_t n,
		      struct opt_val *vals, char *err, size_t errlen)
{
	const char *eq = memchr(w, '=', wlen);
	size_t nlen = eq ? (size_t)(eq - w) : wlen;
	const struct opt_desc *d = find_desc(descs, n, w, nlen);
	char accepted[OPT_ERR_MAX];
	const char *reason;
	struct opt_val *v;

	if (!d) {
		if (first && !eq && looks_like_image_name(w, wlen))
			return 0;
		list_options(descs, n, accepted, sizeof(accepted));
		return fail(err, errlen, w, wlen, "unknown option", accepted);
	}
	v = &vals[d - descs];
	describe(d, accepted, sizeof(accepted));
	if (v->set)
		return fail(err, errlen, w, wlen, "given more than once", accepted);
	reason = parse_value(d, eq ? eq + 1 : w + wlen,
			     eq ? wlen - nlen - 1 : 0, eq != NULL, v);
	if (reason)
		return fail(err, errlen, w, wlen, reason, accepted);
	v->set = true;
	v->order = ++*order;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cmdline_parse(const char *line, const struct opt_desc *descs, size_t n,
		  struct opt_val *vals, char *err, size_t errlen)
{
	bool first = true;
	unsigned order = 0;

	for (size_t i = 0; i < n; i++)
		memset(&vals[i], 0, sizeof(vals[i]));
	err[0] = '\0';
	while (line && *line) {
		const char *w;

		while (is_space(*line))
			line++;
		if (!*line)
			break;
		w = line;
		while (*line && !is_space(*line))
			line++;
		if (parse_word(w, line - w, first, &order, descs, n, vals, err, errlen))
			return -1;
		first = false;
	}
	return 0;
}

int opt_format(const struct opt_desc *d, const struct opt_val *v, char *buf,
	       size_t size)
{
	switch (d->kind) {
	case OPT_FLAG:
		return ksnprintf(buf, size, "%s=%s", d->name, v->set ? "on" : "off");
	case OPT_UINT:
		return ksnprintf(buf, size, "%s=%llu", d->name, (unsigned long long)v->num);
	case OPT_RANGE:
		return ksnprintf(buf, size, "%s=%llu-%llu", d->name,
				 (unsigned long long)v->num, (unsigned long long)v->num2);
	case OPT_ENUM:
		return ksnprintf(buf, size, "%s=%s", d->name, d->choices[v->choice]);
	case OPT_STRING:
		return ksnprintf(buf, size, "%s=%s", d->name, v->str);
	}
	return 0;
}
