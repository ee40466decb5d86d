/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The current process's credentials and resource limits (creds.c; the
 * Rust side, kmod/sys/cred.rs, declares the same layout and documents
 * the contracts).
 */
#ifndef ROAM_CREDS_H
#define ROAM_CREDS_H

#include <linux/types.h>

/* Resource limits (RLIM_NLIMITS). */
#define ROAM_NLIMITS 16

/* Ids in the initial user namespace; capability sets as bit masks. */
struct roam_creds {
	u32 uid, euid, suid, fsuid;
	u32 gid, egid, sgid, fsgid;
	u32 securebits;
	u32 no_new_privs;
	u64 cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient;
	u64 rlim_cur[ROAM_NLIMITS];
	u64 rlim_max[ROAM_NLIMITS];
	/* Supplementary groups the task has (may exceed what was copied). */
	u32 ngroups;
	/* 1 if its credentials belong to the initial user namespace. */
	u32 init_userns;
};

/* How the task is run: the image's Attrs, which the Rust side declares
 * repr(C) with these fields in this order (mce_kill: 0 the system's, 1
 * early, 2 late; flags: 1 child subreaper, 2 THP disabled, 4 not dumpable). `pad` is that
 * struct's tail padding. */
struct roam_attrs {
	u32 personality;
	s32 nice;
	u32 policy;
	u32 rt_priority;
	u64 timer_slack_ns;
	u32 pdeath_signal;
	u32 flags;
	u32 mce_kill;
	u32 pad;
};

void roam_creds_read(struct roam_creds *c, u32 *groups, u32 max);
void roam_attrs_read(struct roam_attrs *a);
int roam_attrs_apply(const struct roam_attrs *a);
int roam_creds_apply(const struct roam_creds *c, const u32 *groups, u32 n);

#endif
