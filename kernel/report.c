/*
 * The common part of every failure report (docs/design.md §9): which test,
 * protocol and step the failure came in, the bytes at the site the engine
 * touched last, the event trail up to and including the failure, and the
 * command that replays the run. The architecture's crash report and the
 * watchdog print their CPU, RIP and registers first, then call here.
 * Rate-limited per test: the first report in full, later ones a count.
 */
#include "kernel/events.h"
#include "kernel/fault.h"
#include "kernel/format.h"
#include "kernel/patch.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"
#include "kernel/symbols.h"
#include "kernel/test.h"
#include "kernel/time.h"

#define SITE_BYTES_BEFORE 4
#define SITE_BYTES_AFTER 12

extern char __patchable_start[], __patchable_end[];

/* A report goes out whole: CPUs failing together take turns. A CPU that
 * waited this long (or reports inside its own report, from an NMI) prints
 * anyway; the watchdog's stall period is longer. */
#define REPORT_WAIT_MS 1000

static u64 reports;		/* this test's failure reports so far */
static int report_owner = -1;
static bool report_held[MAX_CPUS];
static u64 report_nth[MAX_CPUS];

void failure_reports_reset(void)
{
	WRITE_ONCE(reports, 0);
}

/* The newest write or trap of any CPU's trail: the site in play. */
static u64 last_site(void)
{
	u64 when = 0, site = 0;

	for (unsigned i = 0; i < cpus_possible; i++) {
		u32 h = READ_ONCE(cpus[i].ev_head);

		for (u32 k = h > EVENT_RING ? h - EVENT_RING : 0; k < h; k++) {
			const struct event *e = &cpus[i].events[k % EVENT_RING];

			if ((e->type == EV_WRITE || e->type == EV_TRAP) && e->when >= when) {
				when = e->when;
				site = e->a;
			}
		}
	}
	return site;
}

static bool in_patchable(u64 a)
{
	return a >= (u64)(uintptr_t)__patchable_start && a < (u64)(uintptr_t)__patchable_end;
}

static void report_site(void)
{
	u64 site = last_site();
	char sym[96], line[3 * (SITE_BYTES_BEFORE + SITE_BYTES_AFTER) + 8];
	int n = 0;

	if (!site) {
		diag("  site: none touched in the trail");
		return;
	}
	for (u64 a = site - SITE_BYTES_BEFORE; a < site + SITE_BYTES_AFTER; a++)
		n += ksnprintf(line + n, sizeof(line) - n, !in_patchable(a) ? " ??" :
			       a == site ? " <%02x>" : " %02x", *(volatile u8 *)(uintptr_t)a);
	symbolize(site, sym, sizeof(sym));
	diag("  site last written or trapped at: %s, bytes now:%s", sym, line);
}

static bool report_lock(int me)
{
	u64 end = timestamp() + ms_to_ticks(REPORT_WAIT_MS);
	int free = -1;

	while (!__atomic_compare_exchange_n(&report_owner, &free, me, false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (free == me || (s64)(timestamp() - end) > 0)
			return false;
		free = -1;
		cpu_relax();
	}
	return true;
}

bool failure_begin(int cpu, u64 ip)
{
	int me = this_cpu()->id;

	if (!test_expecting_detection())
		failure_point("failure report");
	/* The failure itself enters the trail, at the time it happened: the
	 * trail's "note CPU IP" line. */
	event_log(EV_NOTE, (u64)cpu, ip);
	report_held[me] = report_lock(me);
	report_nth[me] = __atomic_add_fetch(&reports, 1, __ATOMIC_RELAXED);
	return report_nth[me] == 1;
}

void failure_context(int cpu, u64 ip)
{
	const char *test = test_current_name();
	int me = this_cpu()->id;
	u64 nth = report_nth[me];

	diag("  failure on CPU %d in %s%s, protocol %s, step %s", cpu, test ? "test " : "",
	     test ? test : "no test", proto->name, patch_step_name(patch_current_step));
	if (nth > 1) {
		diag("  (failure report %llu of this test: site, trail and replay as in the first)",
		     (unsigned long long)nth);
	} else {
		report_site();
		patch_report_trail();
	}
	if (report_held[me]) {
		report_held[me] = false;
		__atomic_store_n(&report_owner, -1, __ATOMIC_RELEASE);
	}
}
