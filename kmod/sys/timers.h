/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The current process's timers and CPU times (timers.c; the Rust side,
 * kmod/sys/timers.rs, declares the same layouts and documents the
 * contracts).
 */
#ifndef ROAM_TIMERS_H
#define ROAM_TIMERS_H

#include <linux/types.h>

/* Most POSIX timers read at once (the image's MAX_TIMERS). */
#define ROAM_MAX_TIMERS 32

/* The interval timers (REAL, VIRTUAL, PROF) and the CPU times, ns. */
struct roam_itimers {
	u64 value[3];
	u64 interval[3];
	u64 utime;
	u64 stime;
	u64 runtime;
};

/* One POSIX timer as timer_gettime reports it, with its sigevent. */
struct roam_ptimer {
	s32 id;
	s32 clock;
	s32 notify;
	s32 signo;
	u64 value;
	u64 value_ns;
	u64 interval_ns;
};

int roam_timers_read(struct roam_itimers *it, struct roam_ptimer *out, int max);
void roam_timers_next_id(int id);
void roam_cputime_get(u64 *utime, u64 *stime, u64 *runtime);
void roam_cputime_raise(u64 utime, u64 stime, u64 runtime);
int roam_sigevent_notify_nofault(u64 uaddr);

/* A wait the current task's restart_block describes (roam_restart_wait). */
struct roam_restart {
	s32 clockid;	/* nanosleep: the clock; poll: -1 without a timeout */
	s32 nfds;	/* poll: the number of descriptors */
	u64 ufds;	/* poll: the pollfd array */
	u64 left;	/* ns until it ends (0 if past; poll: none without a timeout) */
};

int roam_restart_wait(int poll, struct roam_restart *out);

#endif
