// SPDX-License-Identifier: GPL-2.0
/* See helpers.h. */

#include <linux/errno.h>
#include <asm/fpu/types.h>
#include <asm/processor.h>
#include <linux/mm_types.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/signal.h>
#include <linux/string.h>
#include <linux/rcupdate.h>
#include <linux/tracepoint.h>
#include "helpers.h"

struct pt_regs *roam_current_regs(void)
{
	return current_pt_regs();
}

int roam_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
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

int roam_hook_register(void)
{
	if (!roam_tp_sys_enter)
		for_each_kernel_tracepoint(roam_find_tp, NULL);
	if (!roam_tp_sys_enter)
		return -ENOENT;
	return tracepoint_probe_register(roam_tp_sys_enter, roam_probe_sys_enter, NULL);
}

void roam_hook_unregister(void)
{
	if (!roam_tp_sys_enter)
		return;
	tracepoint_probe_unregister(roam_tp_sys_enter, roam_probe_sys_enter, NULL);
	tracepoint_synchronize_unregister();
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

/* Renames the current task (`comm`), as exec does. */
void roam_set_comm(const char *name)
{
	task_lock(current);
	strscpy_pad(current->comm, name, sizeof(current->comm));
	task_unlock(current);
}

/*
 * Points every catchable signal of the current task at `gate` (a handler
 * in its scratch area that reports the signal to roam), restartable, with
 * every signal blocked while it runs, and unblocks every signal: a deputy
 * hands each signal to its remote instead of acting on it.
 */
void roam_gate_all_signals(u64 gate)
{
	struct sighand_struct *sh = current->sighand;
	sigset_t none;
	int i;

	spin_lock_irq(&sh->siglock);
	for (i = 1; i <= _NSIG; i++) {
		struct sigaction *sa = &sh->action[i - 1].sa;

		if (i == SIGKILL || i == SIGSTOP)
			continue;
		sa->sa_handler = (__sighandler_t)(unsigned long)gate;
		sa->sa_flags = SA_SIGINFO | SA_RESTORER | SA_RESTART;
		sa->sa_restorer = (__sigrestore_t)(unsigned long)gate;
		sigfillset(&sa->sa_mask);
	}
	spin_unlock_irq(&sh->siglock);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Puts every catchable signal of the current task back to its default. */
void roam_ungate_signals(void)
{
	struct sighand_struct *sh = current->sighand;
	int i;

	spin_lock_irq(&sh->siglock);
	for (i = 1; i <= _NSIG; i++) {
		struct sigaction *sa = &sh->action[i - 1].sa;

		if (i == SIGKILL || i == SIGSTOP)
			continue;
		sa->sa_handler = SIG_DFL;
		sa->sa_flags = 0;
		sa->sa_restorer = NULL;
		sigemptyset(&sa->sa_mask);
	}
	spin_unlock_irq(&sh->siglock);
}

int roam_is_exiting(void)
{
	return (current->flags & PF_EXITING) != 0;
}
