/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The current process's cgroup and security label (placement.c; the Rust
 * side, kmod/sys/placement.rs, documents the contracts).
 */
#ifndef ROAM_PLACEMENT_H
#define ROAM_PLACEMENT_H

#include <linux/types.h>

int roam_cgroup_read(char *buf, u32 len);
int roam_label_read(char *buf, u32 len);
int roam_cgroup_exists(const char *path);

#endif
