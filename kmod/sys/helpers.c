// SPDX-License-Identifier: GPL-2.0
/* See helpers.h. */

#include <linux/errno.h>
#include <asm/fpu/types.h>
#include <asm/processor.h>
#include <linux/mm_types.h>
#include <linux/ptrace.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/sched/coredump.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/signal.h>
#include <linux/string.h>
#include <linux/rcupdate.h>
#include <linux/task_work.h>
#include <linux/tracepoint.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/compat.h>
#include <linux/pid_namespace.h>
#include <linux/user_namespace.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/tcp_states.h>
#include "helpers.h"

struct pt_regs *roam_current_regs(void)
{
	return current_pt_regs();
}

int roam_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/*
 * Whether a TCP socket still looks usable for sending: established, with
 * no error recorded (a peer that closed or reset it moves it out of
 * ESTABLISHED). A lockless hint, read once.
 */
int roam_sock_established(struct socket *sock)
{
	struct sock *sk = sock->sk;

	return sk && READ_ONCE(sk->sk_state) == TCP_ESTABLISHED && !READ_ONCE(sk->sk_err);
}

/* Takes one pending signal other than SIGKILL off the current task. */
int roam_dequeue_signal(void)
{
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t keep;
	int sig;

	sigemptyset(&keep);
	sigaddset(&keep, SIGKILL);
	spin_lock_irq(&current->sighand->siglock);
	sig = dequeue_signal(&keep, &info, &type);
	spin_unlock_irq(&current->sighand->siglock);
	return sig > 0 ? sig : 0;
}

/*
 * Takes the first pending signal of the current task other than SIGKILL
 * and SIGSTOP, private queue first, with its siginfo (into `info`, 48
 * bytes) and whether it sat on the shared queue. Returns its number, or
 * 0 when none is left.
 */
int roam_take_signal(u8 *info, int *shared)
{
	kernel_siginfo_t ki;
	enum pid_type type;
	sigset_t keep;
	int sig;

	BUILD_BUG_ON(sizeof(kernel_siginfo_t) != 48);
	sigemptyset(&keep);
	sigaddset(&keep, SIGKILL);
	sigaddset(&keep, SIGSTOP);
	spin_lock_irq(&current->sighand->siglock);
	sig = dequeue_signal(&keep, &ki, &type);
	spin_unlock_irq(&current->sighand->siglock);
	if (sig <= 0)
		return 0;
	memcpy(info, &ki, sizeof(ki));
	*shared = type != PIDTYPE_PID;
	return sig;
}

/* Queues signal `sig` with siginfo `info` (48 bytes) on the current task's private queue. */
int roam_give_signal(int sig, const u8 *info)
{
	kernel_siginfo_t ki;

	memcpy(&ki, info, sizeof(ki));
	return send_sig_info(sig, &ki, current);
}

/* The current task's blocked mask, actions 1..n and alternate stack. */
void roam_sig_snapshot(u64 *blocked, struct roam_sigact *acts, unsigned int n,
		       u64 *ss_sp, u64 *ss_size, u32 *ss_flags)
{
	struct sighand_struct *sh = current->sighand;
	unsigned int i;

	spin_lock_irq(&sh->siglock);
	*blocked = current->blocked.sig[0];
	for (i = 0; i < n && i < _NSIG; i++) {
		const struct sigaction *sa = &sh->action[i].sa;

		acts[i].handler = (u64)(unsigned long)sa->sa_handler;
		acts[i].flags = sa->sa_flags;
		acts[i].restorer = (u64)(unsigned long)sa->sa_restorer;
		acts[i].mask = sa->sa_mask.sig[0];
	}
	spin_unlock_irq(&sh->siglock);
	*ss_sp = current->sas_ss_sp;
	*ss_size = current->sas_ss_size;
	*ss_flags = current->sas_ss_size ? current->sas_ss_flags : SS_DISABLE;
}

u64 roam_current_vdso(void)
{
	return current->mm ? (u64)(unsigned long)current->mm->context.vdso : 0;
}

static struct tracepoint *roam_tp_sys_enter;

static void roam_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sys_enter"))
		roam_tp_sys_enter = tp;
}

static void roam_probe_sys_enter(void *data, struct pt_regs *regs, long id)
{
	roam_sys_enter_rs(regs, id);
}

/*
 * The probe is registered only while some task needs it (a guest or a
 * deputy on this node): a registered sys_enter probe sends every system
 * call of every task through the slow path.
 */
static DEFINE_MUTEX(roam_hook_lock);
static int roam_hook_users;

/* Finds the tracepoint (at load); the probe is not registered yet. */
int roam_hook_register(void)
{
	if (!roam_tp_sys_enter)
		for_each_kernel_tracepoint(roam_find_tp, NULL);
	return roam_tp_sys_enter ? 0 : -ENOENT;
}

/*
 * Whether the current system call came in through a 32-bit entry
 * (`int $0x80` or the compat sysenter/syscall): its number and
 * arguments are then those of the 32-bit table.
 */
int roam_in_compat_syscall(void)
{
	return in_compat_syscall();
}

/* Whether the current task's pids are the initial namespace's (atomic). */
int roam_current_in_init_pid_ns(void)
{
	return task_active_pid_ns(current) == &init_pid_ns;
}

/*
 * Whether the current task may attach to `task` with ptrace, by real ids
 * (PTRACE_MODE_ATTACH_REALCREDS): the kernel's __ptrace_may_access, which
 * is not exported, less the LSM hook (security_ptrace_access_check is not
 * exported either; the test kernels have no LSM).
 */
int roam_may_ptrace(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	struct mm_struct *mm;
	int ok;

	if (same_thread_group(task, current))
		return 1;
	rcu_read_lock();
	tcred = __task_cred(task);
	ok = (uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
	      uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
	      gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	if (!ok)
		return 0;
	/* Dumpability after the credentials (pairs with commit_creds). */
	smp_rmb();
	task_lock(task);
	mm = task->mm;
	ok = !mm || get_dumpable(mm) == SUID_DUMP_USER || ns_capable(mm->user_ns, CAP_SYS_PTRACE);
	task_unlock(task);
	return ok;
}

/* Whether `task` runs under seccomp (strict mode or a filter). */
int roam_task_seccomp(struct task_struct *task)
{
#ifdef CONFIG_SECCOMP
	return READ_ONCE(task->seccomp.mode) != SECCOMP_MODE_DISABLED;
#else
	return 0;
#endif
}

/*
 * Whether `task` lives in a user or pid namespace other than the initial
 * ones: its ids, capabilities and pids are relative to them.
 */
int roam_task_foreign_ns(struct task_struct *task)
{
	int foreign;

	rcu_read_lock();
	foreign = __task_cred(task)->user_ns != &init_user_ns || task_active_pid_ns(task) != &init_pid_ns;
	rcu_read_unlock();
	return foreign;
}

/*
 * The task whose pid in the initial pid namespace is `nr`, referenced
 * (put_task_struct when done), or NULL.
 */
struct task_struct *roam_find_task_global(int nr)
{
	struct task_struct *t;

	rcu_read_lock();
	t = pid_task(find_pid_ns(nr, &init_pid_ns), PIDTYPE_PID);
	if (t)
		get_task_struct(t);
	rcu_read_unlock();
	return t;
}

/*
 * Whether `task`'s memory refuses to become executable (prctl
 * PR_SET_MDWE): the restorer needs an executable scratch area.
 */
int roam_task_mdwe(struct task_struct *task)
{
	int r = 0;

	task_lock(task);
	if (task->mm)
		r = test_bit(MMF_HAS_MDWE, &task->mm->flags);
	task_unlock(task);
	return r;
}

/* Whether `task` is being traced (ptrace, strace, a debugger). */
int roam_task_traced(struct task_struct *task)
{
	return READ_ONCE(task->ptrace) != 0;
}

/* How many supplementary groups `task` has. */
int roam_task_privileged(struct task_struct *task)
{
	const struct cred *c;
	int p;

	rcu_read_lock();
	c = __task_cred(task);
	p = uid_eq(c->uid, GLOBAL_ROOT_UID) || uid_eq(c->euid, GLOBAL_ROOT_UID) ||
	    uid_eq(c->suid, GLOBAL_ROOT_UID) || uid_eq(c->fsuid, GLOBAL_ROOT_UID) ||
	    !cap_isclear(c->cap_permitted) || !cap_isclear(c->cap_effective) ||
	    !cap_isclear(c->cap_ambient);
	rcu_read_unlock();
	return p;
}

u32 roam_task_ngroups(struct task_struct *task)
{
	u32 n;

	rcu_read_lock();
	n = __task_cred(task)->group_info->ngroups;
	rcu_read_unlock();
	return n;
}

/* One more user of the hook; registers the probe for the first. */
int roam_hook_get(void)
{
	int r = 0;

	mutex_lock(&roam_hook_lock);
	if (roam_hook_users == 0 && roam_tp_sys_enter)
		r = tracepoint_probe_register(roam_tp_sys_enter, roam_probe_sys_enter, NULL);
	if (r == 0)
		roam_hook_users++;
	mutex_unlock(&roam_hook_lock);
	return r;
}

/* One user fewer; unregisters the probe (and waits for running ones) with the last. */
void roam_hook_put(void)
{
	mutex_lock(&roam_hook_lock);
	if (roam_hook_users > 0 && --roam_hook_users == 0 && roam_tp_sys_enter) {
		tracepoint_probe_unregister(roam_tp_sys_enter, roam_probe_sys_enter, NULL);
		tracepoint_synchronize_unregister();
	}
	mutex_unlock(&roam_hook_lock);
}

/* Unload: no user can be left (they hold module references); be safe. */
void roam_hook_unregister(void)
{
	mutex_lock(&roam_hook_lock);
	if (roam_hook_users > 0 && roam_tp_sys_enter) {
		tracepoint_probe_unregister(roam_tp_sys_enter, roam_probe_sys_enter, NULL);
		tracepoint_synchronize_unregister();
	}
	roam_hook_users = 0;
	mutex_unlock(&roam_hook_lock);
}

int roam_parent_is_kthread(void)
{
	struct task_struct *p;
	int k;

	rcu_read_lock();
	p = rcu_dereference(current->real_parent);
	k = p && (p->flags & PF_KTHREAD);
	rcu_read_unlock();
	return k;
}

/* Bytes of the current task's user-visible xstate (fpstate->user_size). */
unsigned int roam_fpu_user_size(void)
{
	return current->thread.fpu.fpstate->user_size;
}

/* Blocks every signal of the current task (SIGKILL/SIGSTOP stay). */
void roam_block_all_signals(void)
{
	sigset_t all;

	sigfillset(&all);
	sigdelsetmask(&all, sigmask(SIGKILL) | sigmask(SIGSTOP));
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/*
 * Blocks every signal but SIGKILL and SIGSTOP; returns the mask it
 * replaced (x86-64: one word) for roam_set_blocked.
 */
u64 roam_hold_signals(void)
{
	sigset_t all, old;

	sigfillset(&all);
	sigdelsetmask(&all, sigmask(SIGKILL) | sigmask(SIGSTOP));
	sigprocmask(SIG_SETMASK, &all, &old);
	/*
	 * Work queued with TWA_SIGNAL while this task runs its task_work (a
	 * recall arriving during a forwarded call) leaves TIF_NOTIFY_SIGNAL
	 * set, and signal_pending() true, for the rest of the run: a socket
	 * send that had to wait would stop half way. The loop running the
	 * work runs every queued item anyway.
	 */
	clear_notify_signal();
	return old.sig[0];
}

/* `mask` (signals 1 to 64) as a set, SIGKILL and SIGSTOP never in it. */
static sigset_t roam_mask_set(u64 mask)
{
	sigset_t set;

	sigemptyset(&set);
	set.sig[0] = mask;
	sigdelsetmask(&set, sigmask(SIGKILL) | sigmask(SIGSTOP));
	return set;
}

/*
 * What the signals now pending and unblocked would do to a system call
 * they interrupted: bit 0, one of them has a handler (a call interrupted
 * with -ERESTARTNOHAND or a restart block ends with EINTR); bit 1, one
 * has a handler without SA_RESTART (so does one interrupted with
 * -ERESTARTSYS). Default actions stop, end or ignore: no bit.
 */
int roam_pending_handlers(void)
{
	struct sighand_struct *sh = current->sighand;
	sigset_t pend;
	int sig, found = 0;

	spin_lock_irq(&sh->siglock);
	sigorsets(&pend, &current->pending.signal, &current->signal->shared_pending.signal);
	sigandnsets(&pend, &pend, &current->blocked);
	for (sig = 1; sig <= _NSIG; sig++) {
		struct k_sigaction *ka = &sh->action[sig - 1];

		if (!sigismember(&pend, sig))
			continue;
		if (ka->sa.sa_handler == SIG_DFL || ka->sa.sa_handler == SIG_IGN)
			continue;
		found |= 1;
		if (!(ka->sa.sa_flags & SA_RESTART))
			found |= 2;
	}
	spin_unlock_irq(&sh->siglock);
	return found;
}

/*
 * The mask a call with a mask of its own (ppoll, pselect6, epoll_pwait,
 * rt_sigsuspend) left for the signal code to put back, if it left one:
 * 1 and the mask in `*mask`, else 0.
 */
int roam_saved_sigmask(u64 *mask)
{
	if (!test_restore_sigmask())
		return 0;
	*mask = current->saved_sigmask.sig[0];
	return 1;
}

/*
 * Makes `mask` the one the signal code puts back, as such a call leaves
 * it: the next signal's handler frame saves it, or, with none to
 * deliver, it is blocked again on the way out. The notification makes
 * sure the signal code runs on the way out. Only the current task's own
 * fields and flags: safe with preemption disabled.
 */
void roam_arm_saved_sigmask(u64 mask)
{
	current->saved_sigmask = roam_mask_set(mask);
	set_restore_sigmask();
	set_thread_flag(TIF_NOTIFY_SIGNAL);
}

/* Whether a signal (not only queued task_work) is pending and unblocked. */
int roam_sigpending(void)
{
	return task_sigpending(current);
}

/* Sets the current task's blocked mask to `mask`. */
void roam_set_blocked(u64 mask)
{
	sigset_t set = roam_mask_set(mask);

	sigprocmask(SIG_SETMASK, &set, NULL);
}

/*
 * As ppoll and pselect do with their mask argument (set_user_sigmask):
 * keeps the blocked mask for the signal code to put back, arms that, and
 * blocks `mask` instead (SIGKILL and SIGSTOP never).
 */
void roam_temp_sigmask(u64 mask)
{
	sigset_t set = roam_mask_set(mask);

	current->saved_sigmask = current->blocked;
	set_restore_sigmask();
	sigprocmask(SIG_SETMASK, &set, NULL);
}

/*
 * Ends roam_temp_sigmask as restore_saved_sigmask_unless does: a call a
 * signal interrupted leaves the saved mask to the signal code (put back
 * once the handler's frame is set up); otherwise it is blocked again now.
 */
void roam_temp_sigmask_end(bool interrupted)
{
	sigset_t saved;

	if (interrupted && task_sigpending(current))
		return;
	if (test_and_clear_restore_sigmask()) {
		saved = current->saved_sigmask;
		sigprocmask(SIG_SETMASK, &saved, NULL);
	}
}

/* Renames the current task (`comm`), as exec does. */
void roam_set_comm(const char *name)
{
	task_lock(current);
	strscpy_pad(current->comm, name, sizeof(current->comm));
	task_unlock(current);
}

/*
 * Sets the action of every catchable signal of the current task: handler
 * and restorer, flags, and a mask of all signals or none.
 */
static void roam_set_all_actions(__sighandler_t handler, unsigned long flags,
				 __sigrestore_t restorer, bool mask_all)
{
	struct sighand_struct *sh = current->sighand;
	int i;

	spin_lock_irq(&sh->siglock);
	for (i = 1; i <= _NSIG; i++) {
		struct sigaction *sa = &sh->action[i - 1].sa;

		if (i == SIGKILL || i == SIGSTOP)
			continue;
		sa->sa_handler = handler;
		sa->sa_flags = flags;
		sa->sa_restorer = restorer;
		if (mask_all)
			sigfillset(&sa->sa_mask);
		else
			sigemptyset(&sa->sa_mask);
	}
	spin_unlock_irq(&sh->siglock);
}

/*
 * Points every catchable signal of the current task at `gate` (a handler
 * in its scratch area that reports the signal to roam), restartable, with
 * every signal blocked while it runs, and unblocks every signal: a deputy
 * hands each signal to its remote instead of acting on it.
 */
void roam_gate_all_signals(u64 gate)
{
	sigset_t none;

	roam_set_all_actions((__sighandler_t)(unsigned long)gate, SA_SIGINFO | SA_RESTORER | SA_RESTART,
			     (__sigrestore_t)(unsigned long)gate, true);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Puts every catchable signal of the current task back to its default. */
void roam_ungate_signals(void)
{
	roam_set_all_actions(SIG_DFL, 0, NULL, false);
}

int roam_is_exiting(void)
{
	return (current->flags & PF_EXITING) != 0;
}

/* One user process, as the balancer sees it (struct roam_proc). */
void roam_fill_proc(struct roam_proc *o, struct task_struct *p)
{
	struct mm_struct *mm;

	o->tgid = p->tgid;
	o->nr_threads = get_nr_threads(p);
	o->start_ns = p->start_time;
	o->runtime_ns = p->se.sum_exec_runtime;
	o->switches = READ_ONCE(p->nvcsw) + READ_ONCE(p->nivcsw);
	o->rss_pages = 0;
	task_lock(p);
	mm = p->mm;
	if (mm)
		o->rss_pages = get_mm_rss(mm);
	task_unlock(p);
	o->flags = (p->flags & PF_EXITING) ? 1 : 0;
	memcpy(o->comm, p->comm, sizeof(o->comm));
}

/*
 * User tasks runnable now (running or queued), read from each task's
 * state under RCU; kernel threads are not counted (see sysinfo.rs).
 */
unsigned int roam_nr_running(void)
{
	struct task_struct *g, *t;
	unsigned int n = 0;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (!(t->flags & PF_KTHREAD) && task_is_running(t))
			n++;
	}
	rcu_read_unlock();
	return n;
}

/* Fills `out` with up to `max` user processes; returns how many. */
int roam_collect_procs(struct roam_proc *out, int max)
{
	struct task_struct *p;
	int n = 0;

	rcu_read_lock();
	for_each_process(p) {
		if (n >= max)
			break;
		if (p->flags & PF_KTHREAD)
			continue;
		roam_fill_proc(&out[n], p);
		n++;
	}
	rcu_read_unlock();
	return n;
}

/*
 * The context-switch hook (sched_switch tracepoint). When the balancer
 * has chosen a process, it hands that process the prepared task_work the
 * moment it is switched in, so it migrates itself at its next return to
 * user mode. No allocation, no lock, no sleep; the switch count is per
 * CPU. The balancer registers the probe only while a process is chosen,
 * so the scheduler pays nothing the rest of the time.
 */
static struct tracepoint *roam_tp_sched_switch;
static DEFINE_PER_CPU(u64, roam_switches);
static atomic_t roam_chosen_tgid;
static struct callback_head *roam_chosen_work;

static void roam_find_switch_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_switch"))
		roam_tp_sched_switch = tp;
}

static void roam_probe_sched_switch(void *data, bool preempt, struct task_struct *prev,
				    struct task_struct *next, unsigned int prev_state)
{
	int chosen = atomic_read(&roam_chosen_tgid);
	struct callback_head *work;

	this_cpu_inc(roam_switches);
	if (likely(!chosen) || next->tgid != chosen || (next->flags & (PF_KTHREAD | PF_EXITING)))
		return;
	if (atomic_cmpxchg(&roam_chosen_tgid, chosen, 0) != chosen)
		return;
	work = xchg(&roam_chosen_work, NULL);
	if (work && task_work_add(next, work, TWA_RESUME | TWAF_NO_ALLOC))
		xchg(&roam_chosen_work, work); /* exiting: the balancer frees it */
}

int roam_switch_hook_find(void)
{
	if (!roam_tp_sched_switch)
		for_each_kernel_tracepoint(roam_find_switch_tp, NULL);
	return roam_tp_sched_switch ? 0 : -ENOENT;
}

int roam_switch_hook_register(void)
{
	if (roam_switch_hook_find())
		return -ENOENT;
	return tracepoint_probe_register(roam_tp_sched_switch, roam_probe_sched_switch, NULL);
}

void roam_switch_hook_unregister(void)
{
	if (!roam_tp_sched_switch)
		return;
	tracepoint_probe_unregister(roam_tp_sched_switch, roam_probe_sched_switch, NULL);
	tracepoint_synchronize_unregister();
}

u64 roam_switch_count(void)
{
	u64 n = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		n += per_cpu(roam_switches, cpu);
	return n;
}

/*
 * Arms the hook: `work` goes to process `tgid` when it is next switched
 * in. Returns the work previously armed and not taken (or NULL), which
 * the caller owns again.
 */
struct callback_head *roam_choose(int tgid, struct callback_head *work)
{
	struct callback_head *old;

	atomic_set(&roam_chosen_tgid, 0);
	old = xchg(&roam_chosen_work, work);
	if (work)
		atomic_set(&roam_chosen_tgid, tgid);
	return old;
}
