// SPDX-License-Identifier: GPL-2.0
/*
 * ptbench: Linux's side of poketorture's benchmark (docs/design.md §12.4).
 *
 * Times static_branch_enable() and static_branch_disable() of a key,
 * alternating, from process context as a user of the API would (both sleep:
 * cpus_read_lock, jump_label_mutex, text_mutex, so preemption cannot be off
 * around them). Per mode it prints one line in the format of poketorture's
 * bench lines:
 *
 *   # bench: name=static_key protocol=linux cpus=N sites=S spin=M n=...
 *            min_ns=... p25_ns=... median_ns=... p75_ns=... p99_ns=...
 *            max_ns=... per_site_ns=... mismatches=0 status=ok
 *
 * Modes (modes=, comma-separated): idle (one key, one site, the other CPUs
 * idle), pause and tight (the same with a spinner kthread bound to every
 * other CPU running through the site, with and without cpu_relax()), sites64
 * (one key with 64 sites, the others idle).
 *
 * Every figure proves it happened: after each toggle every site of the key
 * is called and must return the new direction (a wrong one is counted in
 * mismatches); each spinner counts its passes through each direction and
 * must see both. Either failing makes the line say status=error and adds an
 * "# error:" line.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/jump_label.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/math64.h>
#include <asm/tsc.h>

static unsigned int n = 200;
module_param(n, uint, 0444);
MODULE_PARM_DESC(n, "toggles per mode (alternating enable, disable)");
static char *modes = "idle,pause,tight,sites64";
module_param(modes, charp, 0444);
MODULE_PARM_DESC(modes, "comma-separated: idle, pause, tight, sites64");

static DEFINE_STATIC_KEY_FALSE(key_one);
static DEFINE_STATIC_KEY_FALSE(key_many);

/* The one-site key's site: returns 1 when the key is on. */
static noinline int site_one(void)
{
	if (static_branch_unlikely(&key_one))
		return 1;
	return 0;
}

/*
 * 64 sites of one key. Each returns its own number + 1 when the key is on,
 * so that no two functions are identical and the compiler's identical code
 * folding cannot merge them into fewer sites.
 */
#define SITE(i)							\
	static noinline int site_many_##i(void)			\
	{							\
		if (static_branch_unlikely(&key_many))		\
			return (i) + 1;				\
		return 0;					\
	}
#define SITE8(h)						\
	SITE(h##0) SITE(h##1) SITE(h##2) SITE(h##3)		\
	SITE(h##4) SITE(h##5) SITE(h##6) SITE(h##7)
SITE8(0) SITE8(1) SITE8(2) SITE8(3) SITE8(4) SITE8(5) SITE8(6) SITE8(7)

/* Octal-looking names: site_many_00..site_many_77, numbered 0..63 below. */
#define REF8(h)							\
	site_many_##h##0, site_many_##h##1, site_many_##h##2, site_many_##h##3, \
	site_many_##h##4, site_many_##h##5, site_many_##h##6, site_many_##h##7
static int (*const sites_many[64])(void) = {
	REF8(0), REF8(1), REF8(2), REF8(3), REF8(4), REF8(5), REF8(6), REF8(7),
};

/* The value site_many_<i> returns when on: the token h##d read as decimal. */
static int many_on(int i)
{
	return (i / 8) * 10 + (i % 8) + 1;
}

/* ---- spinners ---- */

enum spin { SPIN_IDLE, SPIN_PAUSE, SPIN_TIGHT };
static const char *const spin_name[] = { "idle", "pause", "tight" };

struct spinner {
	struct task_struct *task;
	enum spin kind;
	unsigned long on, off;	/* passes through each direction */
};

static struct spinner *spinners;	/* one per CPU; the measuring CPU's unused */
static atomic_t spinners_started;

/*
 * Runs through the site until stopped. cond_resched() now and then: the
 * kernel is built with voluntary preemption, and a kthread that never
 * offers the CPU would starve its CPU's own kworkers and RCU; it returns at
 * once unless something else is waiting.
 */
static int spin_fn(void *arg)
{
	struct spinner *s = arg;
	unsigned long on = 0, off = 0;

	atomic_inc(&spinners_started);
	while (!kthread_should_stop()) {
		if (site_one())
			on++;
		else
			off++;
		if (s->kind == SPIN_PAUSE)
			cpu_relax();
		if (((on + off) & 4095) == 0) {
			WRITE_ONCE(s->on, on);
			WRITE_ONCE(s->off, off);
			cond_resched();
		}
	}
	WRITE_ONCE(s->on, on);
	WRITE_ONCE(s->off, off);
	return 0;
}

static int start_spinners(enum spin kind, int self)
{
	int cpu, want = 0;

	atomic_set(&spinners_started, 0);
	for_each_online_cpu(cpu) {
		struct spinner *s = &spinners[cpu];

		if (cpu == self)
			continue;
		memset(s, 0, sizeof(*s));
		s->kind = kind;
		s->task = kthread_create(spin_fn, s, "ptspin/%d", cpu);
		if (IS_ERR(s->task)) {
			int err = PTR_ERR(s->task);

			s->task = NULL;
			return err;
		}
		kthread_bind(s->task, cpu);
		wake_up_process(s->task);
		want++;
	}
	while (atomic_read(&spinners_started) < want)
		msleep(1);
	return want;
}

/* Stops them; the fewest passes any spinner made through each direction. */
static void stop_spinners(unsigned long *min_on, unsigned long *min_off)
{
	int cpu;

	*min_on = ULONG_MAX;
	*min_off = ULONG_MAX;
	for_each_possible_cpu(cpu) {
		struct spinner *s = &spinners[cpu];

		if (!s->task)
			continue;
		kthread_stop(s->task);
		s->task = NULL;
		*min_on = min(*min_on, READ_ONCE(s->on));
		*min_off = min(*min_off, READ_ONCE(s->off));
	}
}

/* ---- the toggles ---- */

static u64 *lat;

/*
 * The clock: the TSC read in order (RDTSCP or LFENCE;RDTSC, Intel SDM vol. 2B
 * "RDTSC"), in cycles, converted with the kernel's calibrated tsc_khz, as
 * poketorture's own figures are; ktime_get_ns() if the TSC was not calibrated.
 */
static u64 now(void)
{
	return tsc_khz ? rdtsc_ordered() : ktime_get_ns();
}

static u64 to_ns(u64 t)
{
	return tsc_khz ? mul_u64_u32_div(t, 1000000, tsc_khz) : t;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Sites of the key that do not return the direction just set. */
static unsigned int check_one(bool on)
{
	return site_one() != (on ? 1 : 0);
}

static unsigned int check_many(bool on)
{
	unsigned int bad = 0;
	int i;

	for (i = 0; i < 64; i++)
		bad += sites_many[i]() != (on ? many_on(i) : 0);
	return bad;
}

/* n toggles of a key, alternating, the first an enable; each timed. */
static unsigned int toggle_n(struct static_key_false *key, bool many)
{
	unsigned int i, bad = 0;

	for (i = 0; i < n; i++) {
		bool on = !(i & 1);
		u64 t0 = now();

		if (on)
			static_branch_enable(key);
		else
			static_branch_disable(key);
		lat[i] = to_ns(now() - t0);
		bad += many ? check_many(on) : check_one(on);
	}
	static_branch_disable(key);
	return bad;
}

static void report(const char *spin, unsigned int sites, unsigned int bad,
		   int spinning, unsigned long min_on, unsigned long min_off)
{
	u64 *v = lat;
	bool ok = bad == 0 && (!spinning || (min_on > 0 && min_off > 0));
	char extra[96] = "";

	sort(v, n, sizeof(*v), cmp_u64, NULL);
	if (spinning)
		snprintf(extra, sizeof(extra), " spinners=%d passes_on_min=%lu passes_off_min=%lu",
			 spinning, min_on, min_off);
	pr_info("# bench: name=static_key protocol=linux cpus=%u sites=%u spin=%s n=%u min_ns=%llu p25_ns=%llu median_ns=%llu p75_ns=%llu p99_ns=%llu max_ns=%llu per_site_ns=%llu clock=%s mismatches=%u%s status=%s\n",
	       num_online_cpus(), sites, spin, n, v[0], v[n / 4], v[n / 2], v[n * 3 / 4],
	       v[min(n * 99 / 100, n - 1)], v[n - 1], div_u64(v[n / 2], sites),
	       tsc_khz ? "tsc" : "ktime", bad, extra,
	       ok ? "ok" : "error");
	if (bad)
		pr_err("# error: static_key sites=%u spin=%s: %u site calls after a toggle did not see its direction\n",
		       sites, spin, bad);
	if (spinning && !(min_on > 0 && min_off > 0))
		pr_err("# error: static_key sites=1 spin=%s: a spinner saw only one direction (on %lu, off %lu passes)\n",
		       spin, min_on, min_off);
}

static int run_mode(const char *mode, int self)
{
	unsigned long min_on = 0, min_off = 0;
	unsigned int bad;
	int k, spinning = 0;

	if (!strcmp(mode, "sites64")) {
		static_branch_enable(&key_many);	/* warm up */
		static_branch_disable(&key_many);
		report("idle", 64, toggle_n(&key_many, true), 0, 0, 0);
		return 0;
	}
	for (k = SPIN_IDLE; k <= SPIN_TIGHT; k++)
		if (!strcmp(mode, spin_name[k]))
			break;
	if (k > SPIN_TIGHT) {
		pr_err("# error: unknown mode '%s' (accepted: idle, pause, tight, sites64)\n", mode);
		return -EINVAL;
	}
	/* Warm up before the spinners start: they must see both directions
	 * from the measured toggles alone. */
	static_branch_enable(&key_one);
	static_branch_disable(&key_one);
	if (k != SPIN_IDLE) {
		spinning = start_spinners(k, self);
		if (spinning <= 0) {
			stop_spinners(&min_on, &min_off);
			pr_err("# error: static_key spin=%s: no spinner could start (%d)\n",
			       mode, spinning);
			return spinning ? spinning : -ENODEV;
		}
	}
	bad = toggle_n(&key_one, false);
	if (spinning)
		stop_spinners(&min_on, &min_off);
	report(mode, 1, bad, spinning, min_on, min_off);
	return 0;
}

static int __init ptbench_init(void)
{
	char *list, *p, *mode;
	int self, err = 0;

	if (n < 2) {
		pr_err("# error: n=%u: at least 2 toggles\n", n);
		return -EINVAL;
	}
	lat = kcalloc(n, sizeof(*lat), GFP_KERNEL);
	spinners = kcalloc(nr_cpu_ids, sizeof(*spinners), GFP_KERNEL);
	list = kstrdup(modes, GFP_KERNEL);
	if (!lat || !spinners || !list) {
		err = -ENOMEM;
		goto out;
	}
	/* Measure from the first online CPU; the spinners take the others. */
	self = cpumask_first(cpu_online_mask);
	set_cpus_allowed_ptr(current, cpumask_of(self));
	p = list;
	while ((mode = strsep(&p, ",")) && !err)
		if (*mode)
			err = run_mode(mode, self);
	pr_info("# linux-bench: done\n");
out:
	kfree(list);
	kfree(spinners);
	kfree(lat);
	return err;
}

static void __exit ptbench_exit(void)
{
}

module_init(ptbench_init);
module_exit(ptbench_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("poketorture's Linux side: static key toggle latency");
