/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for what the Rust side cannot reach through bindings: inline
 * functions and macros of the 6.12 headers (current_pt_regs, the siglock,
 * fatal_signal_pending) and the sys_enter tracepoint, which is not exported
 * by name. Each is a thin wrapper; the logic stays in Rust (the kmod/sys/ Rust files
 * declares them and documents their contracts).
 */
#ifndef ROAM_HELPERS_H
#define ROAM_HELPERS_H

#include <linux/types.h>

struct pt_regs;
struct task_struct;
struct callback_head;

/* A user process as the balancer sees it. */
struct roam_proc {
	u32 tgid;
	u32 nr_threads;
	u64 start_ns;
	u64 runtime_ns;
	u64 switches;
	u64 rss_pages;
	u32 flags;
	char comm[16];
};

/* One signal action, as x86-64 `struct sigaction` (kernel layout). */
struct roam_sigact {
	u64 handler;
	u64 flags;
	u64 restorer;
	u64 mask;
};

struct pt_regs *roam_current_regs(void);
int roam_fatal_signal_pending(void);
struct socket;
int roam_sock_established(struct socket *sock);
int roam_dequeue_signal(void);
int roam_take_signal(u8 *info, int *shared);
int roam_give_signal(int sig, const u8 *info);
void roam_sig_snapshot(u64 *blocked, struct roam_sigact *acts, unsigned int n,
		       u64 *ss_sp, u64 *ss_size, u32 *ss_flags);
u64 roam_current_vdso(void);
int roam_parent_is_kthread(void);
unsigned int roam_nr_running(void);
unsigned int roam_fpu_user_size(void);
void roam_block_all_signals(void);
void roam_set_comm(const char *name);
void roam_gate_all_signals(u64 gate);
void roam_ungate_signals(void);
int roam_is_exiting(void);
void roam_fill_proc(struct roam_proc *o, struct task_struct *p);
int roam_collect_procs(struct roam_proc *out, int max);
int roam_switch_hook_find(void);
int roam_switch_hook_register(void);
void roam_switch_hook_unregister(void);
u64 roam_switch_count(void);
struct callback_head *roam_choose(int tgid, struct callback_head *work);
int roam_hook_register(void);
int roam_hook_get(void);
int roam_in_compat_syscall(void);
int roam_current_in_init_pid_ns(void);
int roam_may_ptrace(struct task_struct *task);
int roam_task_seccomp(struct task_struct *task);
int roam_task_foreign_ns(struct task_struct *task);
struct task_struct *roam_find_task_global(int nr);
u64 roam_hold_signals(void);
void roam_set_blocked(u64 mask);
void roam_temp_sigmask(u64 mask);
int roam_sigpending(void);
int roam_pending_handlers(void);
int roam_saved_sigmask(u64 *mask);
void roam_arm_saved_sigmask(u64 mask);
void roam_temp_sigmask_end(bool interrupted);
int roam_task_privileged(struct task_struct *task);
u32 roam_task_ngroups(struct task_struct *task);
int roam_task_traced(struct task_struct *task);
int roam_task_mdwe(struct task_struct *task);
void roam_hook_put(void);
void roam_hook_unregister(void);
/* Implemented in Rust (kmod/sys/hook.rs). */
void roam_sys_enter_rs(struct pt_regs *regs, long id);

#endif
