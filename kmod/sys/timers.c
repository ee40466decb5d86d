// SPDX-License-Identifier: GPL-2.0
/*
 * The current process's timers and CPU times, read and set for a
 * migration (kmod/sys/timers.rs states the contracts). Nothing here
 * creates, arms or deletes a timer: the restorer and the deputy do that
 * with the process's own system calls. This file reads what
 * getitimer(2) and timer_gettime(2) would report, for every timer at
 * once, and sets the two things no system call sets: the id the next
 * timer_create gets, and the CPU time used so far.
 *
 * Only for a process with one thread, in its own context: no other task
 * can then create or delete its timers while they are read.
 */
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/irqflags.h>
#include <linux/posix-timers.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/cputime.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include "posix-timers.h" /* struct k_clock: kernel/time/, on the include path (Kbuild) */
#include "timers.h"

/* Remaining time of an hrtimer interval timer, as itimer_get_remtime. */
static u64 real_remaining(struct hrtimer *t)
{
	ktime_t rem = __hrtimer_get_remaining(t, true);

	if (!hrtimer_active(t))
		return 0;
	return rem > 0 ? (u64)rem : NSEC_PER_USEC;
}

/* Remaining CPU time of ITIMER_VIRTUAL/PROF, as get_cpu_itimer. */
static u64 cpu_remaining(struct signal_struct *sig, int clock)
{
	struct task_cputime_atomic *at = &sig->cputimer.cputime_atomic;
	u64 val = sig->it[clock].expires, now;

	if (!val)
		return 0;
	if (clock == CPUCLOCK_VIRT)
		now = atomic64_read(&at->utime);
	else
		now = atomic64_read(&at->utime) + atomic64_read(&at->stime);
	return val > now ? val - now : TICK_NSEC;
}

int roam_timers_read(struct roam_itimers *it, struct roam_ptimer *out, int max)
{
	struct signal_struct *sig = current->signal;
	struct k_itimer *list[ROAM_MAX_TIMERS];
	struct k_itimer *t;
	int n = 0, i;

	if (!thread_group_empty(current))
		return -EBUSY;
	spin_lock_irq(&current->sighand->siglock);
	it->value[0] = real_remaining(&sig->real_timer);
	it->interval[0] = ktime_to_ns(sig->it_real_incr);
	/*
	 * A periodic ITIMER_REAL that has just expired is not queued again
	 * until its SIGALRM is dequeued (dequeue_signal re-arms it), and a
	 * move is taken before the signals are: it is armed all the same, to
	 * expire within one interval. Read as disarmed, it would not be made
	 * again where the process lands, while getitimer there reads zero.
	 */
	if (!it->value[0] && sig->it_real_incr && sigismember(&sig->shared_pending.signal, SIGALRM))
		it->value[0] = it->interval[0];
	it->value[1] = cpu_remaining(sig, CPUCLOCK_VIRT);
	it->interval[1] = sig->it[CPUCLOCK_VIRT].incr;
	it->value[2] = cpu_remaining(sig, CPUCLOCK_PROF);
	it->interval[2] = sig->it[CPUCLOCK_PROF].incr;
	hlist_for_each_entry(t, &sig->posix_timers, list) {
		if (n == ROAM_MAX_TIMERS || n == max) {
			n = -E2BIG;
			break;
		}
		list[n++] = t;
	}
	spin_unlock_irq(&current->sighand->siglock);

	roam_cputime_get(&it->utime, &it->stime, &it->runtime);
	if (n < 0)
		return n;

	/*
	 * Each timer under its own lock, as timer_gettime reads it (its lock
	 * nests outside the siglock, so not inside the loop above). The list
	 * cannot change meanwhile: only this, the one thread, could.
	 */
	for (i = 0; i < n; i++) {
		struct itimerspec64 cur = {};
		unsigned long flags;

		t = list[i];
		spin_lock_irqsave(&t->it_lock, flags);
		if (t->kclock && t->kclock->timer_get)
			t->kclock->timer_get(t, &cur);
		out[i].id = t->it_id;
		out[i].clock = t->it_clock;
		out[i].notify = t->it_sigev_notify;
		out[i].signo = t->sigq ? t->sigq->info.si_signo : 0;
		out[i].value = t->sigq ? (u64)(unsigned long)t->sigq->info.si_value.sival_ptr : 0;
		out[i].value_ns = timespec64_to_ns(&cur.it_value);
		out[i].interval_ns = timespec64_to_ns(&cur.it_interval);
		spin_unlock_irqrestore(&t->it_lock, flags);
	}
	return n;
}

void roam_timers_next_id(int id)
{
	struct signal_struct *sig = current->signal;

	spin_lock_irq(&current->sighand->siglock);
	sig->next_posix_timer_id = id & INT_MAX;
	spin_unlock_irq(&current->sighand->siglock);
}

void roam_cputime_get(u64 *utime, u64 *stime, u64 *runtime)
{
	struct signal_struct *sig = current->signal;
	u64 u, s;

	task_cputime(current, &u, &s);
	*utime = sig->utime + u;
	*stime = sig->stime + s;
	*runtime = sig->sum_sched_runtime + current->se.sum_exec_runtime;
	/* With CPU timers armed the process clock reads the group timer. */
	if (READ_ONCE(sig->posix_cputimers.timers_active)) {
		struct task_cputime_atomic *at = &sig->cputimer.cputime_atomic;

		*utime = max_t(u64, *utime, atomic64_read(&at->utime));
		*stime = max_t(u64, *stime, atomic64_read(&at->stime));
		*runtime = max_t(u64, *runtime, atomic64_read(&at->sum_exec_runtime));
	}
}

/* Sets `a` to `v` if that is more (the kernel's __update_gt_cputime). */
static void raise_atomic(atomic64_t *a, u64 v)
{
	u64 cur = atomic64_read(a);

	while (cur < v) {
		u64 old = atomic64_cmpxchg(a, cur, v);

		if (old == cur)
			break;
		cur = old;
	}
}

/*
 * Raises the current task's CPU times so that the thread group's totals
 * read at least utime/stime/runtime (never lowers them). Interrupts off:
 * the tick on this CPU updates the same fields; no other CPU does while
 * the task runs here.
 */
void roam_cputime_raise(u64 utime, u64 stime, u64 runtime)
{
	struct signal_struct *sig = current->signal;
	unsigned long flags;
	u64 have;

	local_irq_save(flags);
	have = sig->utime + current->utime;
	if (utime > have)
		current->utime += utime - have;
	have = sig->stime + current->stime;
	if (stime > have)
		current->stime += stime - have;
	have = sig->sum_sched_runtime + current->se.sum_exec_runtime;
	if (runtime > have) {
		current->se.sum_exec_runtime += runtime - have;
		/* The scheduler's slice accounting sees no jump. */
		current->se.prev_sum_exec_runtime += runtime - have;
	}
	/*
	 * While CPU timers are armed (or were, and the group timer has not
	 * stopped yet), the process CPU clock and the timers read the group
	 * timer's running totals instead: raise those too.
	 */
	if (READ_ONCE(sig->posix_cputimers.timers_active)) {
		struct task_cputime_atomic *at = &sig->cputimer.cputime_atomic;

		raise_atomic(&at->utime, sig->utime + current->utime);
		raise_atomic(&at->stime, sig->stime + current->stime);
		raise_atomic(&at->sum_exec_runtime, sig->sum_sched_runtime + current->se.sum_exec_runtime);
	}
	local_irq_restore(flags);
}

/*
 * The sigev_notify of the struct sigevent at user address `uaddr`, read
 * without sleeping (for the sys_enter probe): -EFAULT if the page is not
 * there.
 */
int roam_sigevent_notify_nofault(u64 uaddr)
{
	int notify;

	if (copy_from_user_nofault(&notify, (const void __user *)(unsigned long)(uaddr + 12), sizeof(notify)))
		return -EFAULT;
	return notify;
}

/*
 * The wait the current task's restart_block describes, right after a
 * nanosleep or clock_nanosleep (`poll` 0) or a poll (`poll` 1) returned
 * -ERESTART_RESTARTBLOCK: the kernel would go on with it through
 * restart_syscall, which only this task's own restart_block can serve,
 * so a move turns it into a call that says the same (see outgoing.rs).
 * -EINVAL for a sleep on a clock that is not carried across nodes (CPU
 * clocks, alarm clocks).
 */
/* Nanoseconds from now until `end` on clock `clk`'s host base, 0 if past. */
static u64 roam_left(clockid_t clk, ktime_t end)
{
	ktime_t now;

	switch (clk) {
	case CLOCK_REALTIME:
		now = ktime_get_real();
		break;
	case CLOCK_BOOTTIME:
		now = ktime_get_boottime();
		break;
	case CLOCK_TAI:
		now = ktime_get_clocktai();
		break;
	default:
		now = ktime_get();
	}
	return end > now ? (u64)(end - now) : 0;
}

int roam_restart_wait(int poll, struct roam_restart *out)
{
	struct restart_block *rb = &current->restart_block;

	if (poll) {
		out->clockid = rb->poll.has_timeout ? CLOCK_MONOTONIC : -1;
		out->nfds = rb->poll.nfds;
		out->ufds = (u64)(unsigned long)rb->poll.ufds;
		out->left = rb->poll.has_timeout ?
			roam_left(CLOCK_MONOTONIC, ktime_set(rb->poll.tv_sec, rb->poll.tv_nsec)) : 0;
		return 0;
	}
	switch (rb->nanosleep.clockid) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
		break;
	default:
		return -EINVAL;
	}
	out->clockid = rb->nanosleep.clockid;
	out->nfds = 0;
	out->ufds = 0;
	out->left = roam_left(rb->nanosleep.clockid, rb->nanosleep.expires);
	return 0;
}
