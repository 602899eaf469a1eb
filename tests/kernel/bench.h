/*
 * What the bench.* tests share (tests/kernel/bench.c): sample buffers, the
 * floors a patch figure is compared with, figures with their spread, the
 * checked prepare and apply, the spinners and the loop over protocols.
 */
#ifndef PT_TESTS_BENCH_H
#define PT_TESTS_BENCH_H

#include "kernel/patch.h"
#include "tests/kernel/sitekit.h"

#define SAMPLES_MAX 4096

extern u64 bench_samples[SAMPLES_MAX];
extern u64 bench_sync_samples[SAMPLES_MAX];
extern u64 bench_code_samples[SAMPLES_MAX];
/* 3 x median sync round trip, measured with the figure it is compared
 * with (print_stats). */
extern u64 bench_floor_ns;
/* 3 x median (the site's first byte rewritten with itself + a sync):
 * what three writes and three syncs cost on the platform when other CPUs
 * are running that code, before any protocol (0: not measured). */
extern u64 bench_code_floor_ns;
/* Median of one of those writes alone, before its sync. */
extern u64 bench_code_write_ns;

/* A figure and its spread: every benchmark line has n, the quartiles and
 * the extremes, so that a median is never read without its noise. */
struct stats {
	u64 min, p25, median, p75, p99, max;
};

/* Sorts v (n samples, in ticks) and returns its stats. */
struct stats stats_of(u64 *v, unsigned n);
/* "n=... min_ns=... p25_ns=... median_ns=... p75_ns=... p99_ns=... max_ns=..." */
int spread(char *buf, size_t size, unsigned n, struct stats s);
/* One "# bench:" line: head, the sync mode, the spread and, with_floor,
 * the ratios to the floors. */
void print_stats(const char *head, unsigned n, struct stats s, bool with_floor);

/* patch_batch_prepare and patch_apply, checked: a failure is kept, and
 * bench_verdict then ends the test as an error rather than a figure. */
void bench_failed(const char *why);
bool bench_prepare(struct patch_batch *b, struct patch_site *sites, unsigned n);
bool bench_apply(struct patch_batch *b);
void bench_verdict(void);

/* The site the one-site figures patch (the branch site) and that the
 * spinners run: tight, or with a PAUSE each pass. */
extern struct flip_site bench_site;
void spinners_start(bool tight);
/* Stops them; returns their passes. */
u64 spinners_stop(void);

/* each(p) under every safe protocol in turn, torture delays off. */
void each_safe_protocol(void (*each)(const struct patch_proto *p));

#endif
