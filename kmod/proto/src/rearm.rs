//! The restorer's timer steps: the system calls that make a moved
//! process's timers again where it now runs ([`rearm`]), from the
//! [`TimerState`] its image carried.
//!
//! * The interval timers: `setitimer` for each armed one. `ITIMER_REAL`
//!   counts real time, so what passed since the timers were taken is
//!   subtracted (at least 1 µs is left: a zero value would disarm it);
//!   `ITIMER_VIRTUAL` and `ITIMER_PROF` count the process's CPU time,
//!   which did not advance on the way, and keep what was left.
//! * The POSIX timers, in id order: `timer_create` with the same clock,
//!   notification, signal and cookie, then `timer_settime` if armed. A
//!   CLOCK_MONOTONIC timer is set to its absolute expiry on the process's
//!   own clock (which a time namespace keeps continuous across moves), so
//!   the time on the way counts exactly and periods missed meanwhile show
//!   as overruns; other real-time clocks get what was left minus what
//!   passed; CPU clocks what was left. A timer on the process's own CPU
//!   clock named by pid names the new pid.
//! * The ids: the kernel numbers a process's timers from a counter
//!   (`signal->next_posix_timer_id`), which the caller sets to the first
//!   id [`rearm`] returns before the restorer runs. Each `timer_create`
//!   then gets the next id; an id no timer held is taken by a placeholder
//!   (`SIGEV_NONE`, never armed) that is deleted once every timer exists.
//!
//! The target must have no timers of its own (a fresh stub, or a deputy
//! whose timers were deleted when its process left).
//!
//! `core` only, no panics, whatever the input.

use crate::image::{TimerState, SIGEV_NONE, SIGEV_THREAD_ID, TIMER_OWN_CPU_CLOCK};
use crate::restore::{Builder, RestoreError};

/// `setitimer` system call number.
pub const SYS_SETITIMER: u64 = 38;
/// `timer_create` system call number.
pub const SYS_TIMER_CREATE: u64 = 222;
/// `timer_settime` system call number.
pub const SYS_TIMER_SETTIME: u64 = 223;
/// `timer_delete` system call number.
pub const SYS_TIMER_DELETE: u64 = 226;

const CLOCK_MONOTONIC: i32 = 1;
const TIMER_ABSTIME: u64 = 1;
const NS: u64 = 1_000_000_000;

/// The clock id that names CPU clock `kind` (type in bits 0..2, "this
/// thread" in bit 2) of process `pid`: the kernel's
/// `make_process_cpuclock`, `(~pid << 3) | kind`.
pub const fn own_cpu_clock(pid: u32, kind: i32) -> i32 {
    ((!(pid as i32)) << 3) | (kind & 7)
}

/// `struct timespec`: seconds and nanoseconds, i64 each.
fn timespec(ns: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    let (s, n) = (ns / NS, ns % NS);
    copy(&mut b[..8], &s.to_le_bytes());
    copy(&mut b[8..], &n.to_le_bytes());
    b
}

/// `struct timeval`: seconds and microseconds, i64 each, rounded up (a
/// timer never fires early).
fn timeval(ns: u64) -> [u8; 16] {
    let us = ns.div_ceil(1000);
    let mut b = [0u8; 16];
    copy(&mut b[..8], &(us / 1_000_000).to_le_bytes());
    copy(&mut b[8..], &(us % 1_000_000).to_le_bytes());
    b
}

fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = *s;
    }
}

/// An interval-value pair (`struct itimerval` or `struct itimerspec`):
/// the interval first.
fn pair(interval: [u8; 16], value: [u8; 16]) -> [u8; 32] {
    let mut b = [0u8; 32];
    copy(&mut b[..16], &interval);
    copy(&mut b[16..], &value);
    b
}

/// Appends the steps that make `s`'s timers again in a process that runs
/// as `pid` (thread and process id: it has one thread), whose own
/// CLOCK_MONOTONIC reads `now_ns` (about when the restorer runs). Returns
/// the id the kernel must hand out first (`None` without POSIX timers).
pub fn rearm(b: &mut Builder<'_>, s: &TimerState, now_ns: u64, pid: u32) -> Result<Option<u32>, RestoreError> {
    let passed = now_ns.saturating_sub(s.taken_ns);
    for (which, it) in s.itimers.iter().enumerate() {
        if it.remaining_ns == 0 {
            continue;
        }
        let left = if which == 0 { it.remaining_ns.saturating_sub(passed).max(1000) } else { it.remaining_ns };
        let at = b.data(&pair(timeval(it.interval_ns), timeval(left)), 8)?;
        b.syscall(SYS_SETITIMER, [which as u64, at, 0, 0, 0, 0])?;
    }
    let timers = s.posix();
    let Some(first) = timers.first() else { return Ok(None) };
    let mut placeholder: Option<u64> = None;
    let mut holes = [0u32; crate::image::MAX_TIMER_HOLES as usize];
    let mut nholes = 0usize;
    let mut next = first.id;
    for t in timers {
        // Placeholders for the ids below this one that no timer holds.
        while next < t.id {
            let sev = match placeholder {
                Some(a) => a,
                None => {
                    let mut e = [0u8; 64];
                    copy(&mut e[12..16], &(SIGEV_NONE as i32).to_le_bytes());
                    let a = b.data(&e, 8)?;
                    placeholder = Some(a);
                    a
                }
            };
            let slot = b.data(&[0u8; 8], 8)?;
            b.syscall(SYS_TIMER_CREATE, [CLOCK_MONOTONIC as u64, sev, slot, 0, 0, 0])?;
            let h = holes.get_mut(nholes).ok_or(RestoreError::TooManyCalls)?;
            *h = next;
            nholes += 1;
            next += 1;
        }
        // struct sigevent: value (8), signo (4), notify (4), thread id (4).
        let mut e = [0u8; 64];
        copy(&mut e[..8], &t.value.to_le_bytes());
        copy(&mut e[8..12], &t.signo.to_le_bytes());
        copy(&mut e[12..16], &t.notify.to_le_bytes());
        if t.notify == SIGEV_THREAD_ID {
            copy(&mut e[16..20], &pid.to_le_bytes());
        }
        let sev = b.data(&e, 8)?;
        let slot = b.data(&[0u8; 8], 8)?;
        let clock = if t.flags & TIMER_OWN_CPU_CLOCK != 0 { own_cpu_clock(pid, t.clock) } else { t.clock };
        b.syscall(SYS_TIMER_CREATE, [clock as i64 as u64, sev, slot, 0, 0, 0])?;
        next = t.id.saturating_add(1);
        if t.remaining_ns == 0 {
            continue;
        }
        let (flags, value) = if t.cpu_clock() {
            (0, t.remaining_ns)
        } else if t.clock == CLOCK_MONOTONIC {
            (TIMER_ABSTIME, s.taken_ns.saturating_add(t.remaining_ns))
        } else {
            (0, t.remaining_ns.saturating_sub(passed).max(1))
        };
        let at = b.data(&pair(timespec(t.interval_ns), timespec(value)), 8)?;
        b.syscall(SYS_TIMER_SETTIME, [u64::from(t.id), flags, at, 0, 0, 0])?;
    }
    for h in holes.get(..nholes).unwrap_or(&[]) {
        b.syscall(SYS_TIMER_DELETE, [u64::from(*h), 0, 0, 0, 0, 0])?;
    }
    Ok(Some(first.id))
}
