// SPDX-License-Identifier: GPL-2.0
/*
 * The current process's credentials and resource limits, read for a
 * migration and applied to the task that takes it over on another node.
 *
 * Reading takes what the kernel has: every id, the groups, the five
 * capability sets, securebits, no_new_privs, and the limits. Applying
 * builds new credentials from the current task's (a freshly started stub,
 * running as root) with exactly those values, commits them, sets
 * no_new_privs and writes the limits as setrlimit would; the restorer
 * then sets RLIMIT_CPU once more through prlimit64 so that its CPU timer
 * is armed (update_rlimit_cpu is not exported to modules).
 *
 * Kept from the stub: the per-user accounting structures (cred->user and
 * cred->ucounts), whose allocation the kernel keeps to itself. They are
 * the process's user's all the same: the stub took its real uid with
 * setresuid() before adopting, and the module checked it did.
 */
#include <linux/cred.h>
#include <linux/capability.h>
#include <linux/resource.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/securebits.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <linux/personality.h>
#include <linux/prctl.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <uapi/linux/sched.h>
#include <uapi/linux/sched/types.h>

#include "creds.h"

void roam_creds_read(struct roam_creds *c, u32 *groups, u32 max)
{
	const struct cred *cred = current_cred();
	struct task_struct *leader = current->group_leader;
	struct user_namespace *ns = &init_user_ns;
	u32 i;

	c->uid = from_kuid(ns, cred->uid);
	c->euid = from_kuid(ns, cred->euid);
	c->suid = from_kuid(ns, cred->suid);
	c->fsuid = from_kuid(ns, cred->fsuid);
	c->gid = from_kgid(ns, cred->gid);
	c->egid = from_kgid(ns, cred->egid);
	c->sgid = from_kgid(ns, cred->sgid);
	c->fsgid = from_kgid(ns, cred->fsgid);
	c->securebits = cred->securebits;
	c->no_new_privs = task_no_new_privs(current) ? 1 : 0;
	c->cap_inheritable = cred->cap_inheritable.val;
	c->cap_permitted = cred->cap_permitted.val;
	c->cap_effective = cred->cap_effective.val;
	c->cap_bset = cred->cap_bset.val;
	c->cap_ambient = cred->cap_ambient.val;
	c->ngroups = cred->group_info->ngroups;
	c->init_userns = cred->user_ns == &init_user_ns;
	for (i = 0; i < c->ngroups && i < max; i++)
		groups[i] = from_kgid(ns, cred->group_info->gid[i]);

	task_lock(leader);
	for (i = 0; i < ROAM_NLIMITS; i++) {
		c->rlim_cur[i] = current->signal->rlim[i].rlim_cur;
		c->rlim_max[i] = current->signal->rlim[i].rlim_max;
	}
	task_unlock(leader);
}

int roam_creds_apply(const struct roam_creds *c, const u32 *groups, u32 n)
{
	struct user_namespace *ns = &init_user_ns;
	struct task_struct *leader = current->group_leader;
	struct group_info *gi;
	struct cred *new;
	u32 i;

	gi = groups_alloc(n);
	if (!gi)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		kgid_t g = make_kgid(ns, groups[i]);

		if (!gid_valid(g)) {
			put_group_info(gi);
			return -EINVAL;
		}
		gi->gid[i] = g;
	}
	groups_sort(gi);

	new = prepare_creds();
	if (!new) {
		put_group_info(gi);
		return -ENOMEM;
	}
	new->uid = make_kuid(ns, c->uid);
	new->euid = make_kuid(ns, c->euid);
	new->suid = make_kuid(ns, c->suid);
	new->fsuid = make_kuid(ns, c->fsuid);
	new->gid = make_kgid(ns, c->gid);
	new->egid = make_kgid(ns, c->egid);
	new->sgid = make_kgid(ns, c->sgid);
	new->fsgid = make_kgid(ns, c->fsgid);
	if (!uid_valid(new->uid) || !uid_valid(new->euid) || !uid_valid(new->suid) || !uid_valid(new->fsuid) ||
	    !gid_valid(new->gid) || !gid_valid(new->egid) || !gid_valid(new->sgid) || !gid_valid(new->fsgid)) {
		abort_creds(new);
		put_group_info(gi);
		return -EINVAL;
	}
	new->securebits = c->securebits;
	new->cap_inheritable.val = c->cap_inheritable & CAP_VALID_MASK;
	new->cap_permitted.val = c->cap_permitted & CAP_VALID_MASK;
	new->cap_effective.val = c->cap_effective & CAP_VALID_MASK;
	new->cap_bset.val = c->cap_bset & CAP_VALID_MASK;
	new->cap_ambient.val = c->cap_ambient & CAP_VALID_MASK;
	set_groups(new, gi);
	put_group_info(gi);
	commit_creds(new);

	if (c->no_new_privs)
		task_set_no_new_privs(current);

	task_lock(leader);
	for (i = 0; i < ROAM_NLIMITS; i++) {
		current->signal->rlim[i].rlim_cur = c->rlim_cur[i];
		current->signal->rlim[i].rlim_max = c->rlim_max[i];
	}
	task_unlock(leader);
	return 0;
}

/* The Rust side's Attrs has this size (kmod/proto/tests/image/creds.rs). */
static_assert(sizeof(struct roam_attrs) == 40);

void roam_attrs_read(struct roam_attrs *a)
{
	struct task_struct *t = current;

	a->personality = t->personality;
	a->nice = task_nice(t);
	a->policy = t->policy | (t->sched_reset_on_fork ? SCHED_RESET_ON_FORK : 0);
	a->rt_priority = (t->policy == SCHED_FIFO || t->policy == SCHED_RR) ? t->rt_priority : 0;
	a->timer_slack_ns = t->timer_slack_ns == t->default_timer_slack_ns ? 0 : t->timer_slack_ns;
	a->pdeath_signal = t->pdeath_signal;
	a->flags = 0;
	a->mce_kill = 0;
	if (t->signal->is_child_subreaper)
		a->flags |= 1;
	if (t->mm && test_bit(MMF_DISABLE_THP, &t->mm->flags))
		a->flags |= 2;
	if (t->mm && get_dumpable(t->mm) != SUID_DUMP_USER)
		a->flags |= 4;
	if (t->flags & PF_MCE_PROCESS)
		a->mce_kill = (t->flags & PF_MCE_EARLY) ? 1 : 2;
}

/*
 * Gives the current task (an adopt stub taking a process over, or a deputy
 * taking it back) the attributes it had where it ran: they were checked
 * there when set, so they are set here without the checks again (as the
 * credentials are). The scheduling policy is the one exception that can
 * fail (a real-time policy the node refuses): the task keeps its own then.
 */
int roam_attrs_apply(const struct roam_attrs *a)
{
	struct task_struct *t = current;
	struct sched_attr sa = {
		.size = sizeof(sa),
		.sched_policy = a->policy & ~SCHED_RESET_ON_FORK,
		.sched_flags = (a->policy & SCHED_RESET_ON_FORK) ? SCHED_FLAG_RESET_ON_FORK : 0,
		.sched_nice = a->nice,
		.sched_priority = a->rt_priority,
	};
	int err;

	t->personality = a->personality;
	set_user_nice(t, a->nice);
	err = sched_setattr_nocheck(t, &sa);
	t->timer_slack_ns = a->timer_slack_ns ? a->timer_slack_ns : t->default_timer_slack_ns;
	t->pdeath_signal = a->pdeath_signal;
	t->signal->is_child_subreaper = !!(a->flags & 1);
	if (a->flags & 1)
		t->signal->has_child_subreaper = 1;
	if (t->mm) {
		if (a->flags & 2)
			set_bit(MMF_DISABLE_THP, &t->mm->flags);
		else
			clear_bit(MMF_DISABLE_THP, &t->mm->flags);
		/*
		 * Dumpable as it was (after the credentials were committed,
		 * which may have cleared it): whether its owner may ptrace it
		 * and read its /proc files. As set_dumpable() does (not
		 * exported).
		 */
		set_mask_bits(&t->mm->flags, MMF_DUMPABLE_MASK,
			      (a->flags & 4) ? SUID_DUMP_DISABLE : SUID_DUMP_USER);
	}
	t->flags &= ~(PF_MCE_PROCESS | PF_MCE_EARLY);
	if (a->mce_kill)
		t->flags |= PF_MCE_PROCESS | (a->mce_kill == 1 ? PF_MCE_EARLY : 0);
	return err;
}
