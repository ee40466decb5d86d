// SPDX-License-Identifier: GPL-2.0
/*
 * Where the current process is placed beyond its credentials: its cgroup
 * on the default (v2) hierarchy and its security label. Read at capture
 * (the process's own context) and by an adopt stub (to compare with what
 * it must join); a destination checks that a cgroup exists by its path.
 *
 * Joining is the stub's, from user space (it writes itself into the
 * cgroup's cgroup.procs and its label into /proc/self/attr/current):
 * the kernel exports no call that moves a task into a cgroup by path or
 * sets its label, and those writes get the kernel's own checks.
 */
#include <linux/cgroup.h>
#include <linux/err.h>
#include <linux/kernfs.h>
#include <linux/rcupdate.h>
#include <linux/security.h>
#include <linux/string.h>

#include "placement.h"

int roam_cgroup_read(char *buf, u32 len)
{
#ifdef CONFIG_CGROUPS
	struct cgroup *cgrp;
	int n;

	rcu_read_lock();
	/* Its css_set holds a reference on it for as long as RCU keeps
	 * the css_set. */
	cgrp = task_dfl_cgroup(current);
	cgroup_get(cgrp);
	rcu_read_unlock();
	n = kernfs_path(cgrp->kn, buf, len);
	cgroup_put(cgrp);
	if (n < 0)
		return n;
	if ((u32)n >= len)
		return -ENAMETOOLONG;
	return n;
#else
	if (len)
		buf[0] = '\0';
	return 0;
#endif
}

int roam_label_read(char *buf, u32 len)
{
	u32 secid = 0, n = 0, got;
	char *ctx = NULL;
	int err;

	if (len)
		buf[0] = '\0';
	security_current_getsecid_subj(&secid);
	if (!secid)
		return 0;
	err = security_secid_to_secctx(secid, &ctx, &n);
	if (err == -EOPNOTSUPP)
		return 0;
	if (err)
		return err;
	got = n;
	/* Some modules count the NUL in the length. */
	if (n && ctx[n - 1] == '\0')
		n--;
	if (n >= len) {
		security_release_secctx(ctx, got);
		return -ENAMETOOLONG;
	}
	memcpy(buf, ctx, n);
	buf[n] = '\0';
	security_release_secctx(ctx, got);
	return n;
}

int roam_cgroup_exists(const char *path)
{
#ifdef CONFIG_CGROUPS
	struct cgroup *cgrp = cgroup_get_from_path(path);

	if (IS_ERR(cgrp))
		return PTR_ERR(cgrp);
	cgroup_put(cgrp);
	return 0;
#else
	return (path[0] == '\0' || strcmp(path, "/") == 0) ? 0 : -ENOENT;
#endif
}
