/* Boot command line parsing against a table of option descriptions.
 * Shared with the host unit tests. Never a silent default: an unknown
 * option, a repeated one or a bad value is an error naming the option, the
 * value and what is accepted. */
#ifndef PT_CMDLINE_H
#define PT_CMDLINE_H

#include "kernel/types.h"

enum opt_kind {
	OPT_FLAG,	/* bare word: bench, verbose */
	OPT_UINT,	/* decimal or 0x hex integer within [min, max] */
	OPT_RANGE,	/* N or LO-HI, both within [min, max], LO <= HI */
	OPT_ENUM,	/* one of choices[] */
	OPT_STRING,	/* free text up to OPT_STR_MAX - 1, optionally checked */
};

#define OPT_STR_MAX 256
#define OPT_ERR_MAX 512

struct opt_desc {
	const char *name;
	enum opt_kind kind;
	u64 min, max;			/* OPT_UINT, OPT_RANGE */
	const char *const *choices;	/* OPT_ENUM, NULL-terminated */
	/* OPT_STRING: returns NULL when the value is fine, else the reason. */
	const char *(*check)(const char *value);
	const char *accepted;		/* OPT_STRING: what is accepted */
	const char *help;		/* one line for the usage text */
};

struct opt_val {
	bool set;
	u64 num;		/* OPT_UINT; OPT_RANGE low end */
	u64 num2;		/* OPT_RANGE high end */
	unsigned choice;	/* OPT_ENUM: index into choices */
	char str[OPT_STR_MAX];	/* the value as given */
	unsigned order;		/* 1 for the first option given, 2 for the next... */
};

/*
 * Parses a whitespace-separated NAME=VALUE / FLAG line into vals[i] for
 * descs[i]. A first word without '=' that names no option and looks like
 * a file name (has '/' or '.', or starts with a GRUB device '(') is the
 * image name the loader put there and is skipped. Returns 0, or -1 with err set
 * to "bad option 'NAME=VALUE': REASON; accepted: ...".
 */
int cmdline_parse(const char *line, const struct opt_desc *descs, size_t n,
		  struct opt_val *vals, char *err, size_t errlen);

/* Parses a decimal or 0x-prefixed hex number; false on junk or overflow. */
bool parse_u64(const char *s, size_t len, u64 *out);

/* Writes "name=VALUE" as it will be echoed in the banner. */
int opt_format(const struct opt_desc *d, const struct opt_val *v, char *buf,
	       size_t size);

#endif
