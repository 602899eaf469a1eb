/* TAP version 13 writer with poketorture's fixed closing line. Shared with
 * the host unit tests: it only formats lines and hands them to emit(). */
#ifndef PT_TAP_H
#define PT_TAP_H

#include "kernel/types.h"

/* Ordered: a test's status only ever moves up (sticky). */
enum test_status {
	TEST_NONE,	/* reported nothing yet: an error at the end */
	TEST_PASS,
	TEST_SKIP,
	TEST_FAIL,
	TEST_ERROR,	/* the test itself broke (crash, nothing reported) */
};

struct tap {
	void (*emit)(const char *line, void *ctx);
	void *ctx;
	unsigned planned;
	unsigned next;		/* number of the next result */
	unsigned passed, failed, skipped;
};

enum test_status test_status_merge(enum test_status a, enum test_status b);
const char *test_status_name(enum test_status s);

void tap_init(struct tap *t, void (*emit)(const char *line, void *ctx), void *ctx);
void tap_header(struct tap *t);
void tap_plan(struct tap *t, unsigned count);
/* One result line; reason is the SKIP reason (ignored otherwise). */
void tap_result(struct tap *t, const char *name, enum test_status st,
		const char *reason);
bool tap_success(const struct tap *t);
/* poketorture: End of test: SUCCESS|FAILURE (P passed, F failed, S skipped) */
void tap_final(struct tap *t);

#endif
