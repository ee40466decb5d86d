// SPDX-License-Identifier: GPL-2.0

//! The current process's timers and CPU times, for a migration
//! (`timers.c`): [`read`] takes what `getitimer` and `timer_gettime`
//! report for every timer and the CPU time used so far; [`next_id`] sets
//! the id the next `timer_create` gets; [`cputime`] and [`raise_cputime`]
//! read and carry on the CPU clocks; [`sigevent_notify`] lets the
//! system-call hook see how a new timer would notify. Creating, arming and deleting
//! timers is left to the process's own system calls (the restorer, the
//! deputy's chores).
//!
//! Every function acts on the current task, which must be a whole
//! process (one thread).

use crate::image::{CpuTimes, ITimer, PosixTimer, TimerState, MAX_TIMERS, TIMER_OWN_CPU_CLOCK};
use kernel::prelude::*;

/// `struct roam_itimers` (timers.h).
#[repr(C)]
#[derive(Default)]
struct RawITimers {
    value: [u64; 3],
    interval: [u64; 3],
    utime: u64,
    stime: u64,
    runtime: u64,
}

/// `struct roam_ptimer` (timers.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawTimer {
    id: i32,
    clock: i32,
    notify: i32,
    signo: i32,
    value: u64,
    value_ns: u64,
    interval_ns: u64,
}

/// `struct roam_restart` (timers.h).
#[repr(C)]
#[derive(Default)]
struct RawRestart {
    clockid: i32,
    nfds: i32,
    ufds: u64,
    left: u64,
}

/// A wait the current task was in when a system call returned
/// `-ERESTART_RESTARTBLOCK` (its `restart_block`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RestartWait {
    /// `nanosleep` or `clock_nanosleep` (relative, on the realtime,
    /// monotonic, boottime or TAI clock), `left` ns from its end.
    Sleep { left: u64 },
    /// `poll` of `nfds` descriptors at `ufds`, `left` ns from its timeout
    /// or with none.
    Poll { ufds: u64, nfds: i32, left: Option<u64> },
}

/// What the current task's `restart_block` says it was waiting in, right
/// after `nanosleep`/`clock_nanosleep` (`poll` false) or `poll` returned
/// `-ERESTART_RESTARTBLOCK`; `None` for a sleep on a clock a move does not
/// carry (a CPU clock, an alarm clock).
pub(crate) fn restart_wait(poll: bool) -> Option<RestartWait> {
    let mut raw = RawRestart::default();
    // SAFETY: `raw` is valid for writes of its type; the C side reads the
    // current task's own restart_block.
    if unsafe { roam_restart_wait(poll as i32, &mut raw) } != 0 {
        return None;
    }
    Some(if poll {
        RestartWait::Poll { ufds: raw.ufds, nfds: raw.nfds, left: (raw.clockid >= 0).then_some(raw.left) }
    } else {
        RestartWait::Sleep { left: raw.left }
    })
}

extern "C" {
    fn roam_restart_wait(poll: i32, out: *mut RawRestart) -> i32;
    fn roam_timers_read(it: *mut RawITimers, out: *mut RawTimer, max: i32) -> i32;
    fn roam_timers_next_id(id: i32);
    fn roam_cputime_get(utime: *mut u64, stime: *mut u64, runtime: *mut u64);
    fn roam_cputime_raise(utime: u64, stime: u64, runtime: u64);
    fn roam_sigevent_notify_nofault(uaddr: u64) -> i32;
}

/// Why the timers cannot travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unmovable {
    /// More than [`MAX_TIMERS`] POSIX timers, or ids too sparse.
    TooMany,
    /// A timer on another process's CPU clock, an alarm clock (which
    /// needs CAP_WAKE_ALARM where it lands) or a notification that
    /// cannot move.
    Kind,
    /// The process has more than one thread.
    Threads,
    /// No memory to take them in.
    NoMemory,
}

/// The current process's timers and CPU times; its CLOCK_MONOTONIC is
/// `now_ns`; `mine` are the pids it may know itself by (here and at
/// home: one thread, so thread and process ids are equal), which a CPU
/// clock named by pid may hold.
///
/// Boxed, as the timers read from the C side are held: both are too large
/// for the stack of a task that goes on to send itself over the network.
pub(crate) fn read(now_ns: u64, mine: &[u32]) -> core::result::Result<KBox<TimerState>, Unmovable> {
    let mut it = RawITimers::default();
    let mut raw = KVec::from_elem(RawTimer::default(), MAX_TIMERS, GFP_KERNEL).map_err(|_| Unmovable::NoMemory)?;
    // SAFETY: `it` and `raw` are valid for writes of their types; `raw`
    // holds `MAX_TIMERS` entries, the most the C side writes.
    let n = unsafe { roam_timers_read(&mut it, raw.as_mut_ptr(), MAX_TIMERS as i32) };
    match n {
        n if n >= 0 => {}
        n if n == -(kernel::bindings::E2BIG as i32) => return Err(Unmovable::TooMany),
        _ => return Err(Unmovable::Threads),
    }
    let mut s = KBox::new(TimerState::default(), GFP_KERNEL).map_err(|_| Unmovable::NoMemory)?;
    s.taken_ns = now_ns;
    s.cpu = CpuTimes { utime_ns: it.utime, stime_ns: it.stime, runtime_ns: it.runtime };
    for i in 0..3 {
        s.itimers[i] = ITimer { remaining_ns: it.value[i], interval_ns: it.interval[i] };
    }
    for r in raw.iter().take(n as usize) {
        let (clock, flags) = match own_cpu_clock(r.clock, mine) {
            Some(kind) => (kind, TIMER_OWN_CPU_CLOCK),
            None if r.clock < 0 => return Err(Unmovable::Kind),
            None => (r.clock, 0),
        };
        let t = PosixTimer {
            id: r.id as u32,
            clock,
            notify: r.notify as u32,
            signo: r.signo as u32,
            value: r.value,
            remaining_ns: r.value_ns,
            interval_ns: r.interval_ns,
            flags,
        };
        s.push(t).map_err(|_| Unmovable::TooMany)?;
    }
    s.sort();
    match s.check() {
        Ok(()) => Ok(s),
        Err(crate::image::ImageError::TooLarge) => Err(Unmovable::TooMany),
        Err(_) => Err(Unmovable::Kind),
    }
}

/// The CPU clock kind (type and "this thread" bit) of clock id `clock` if
/// it names the caller's own CPU clock: by pid 0 (the C library makes
/// CLOCK_PROCESS_CPUTIME_ID timers so) or by one of the pids in `mine`.
fn own_cpu_clock(clock: i32, mine: &[u32]) -> Option<i32> {
    if clock >= 0 {
        return None;
    }
    let who = !(clock >> 3) as u32;
    (who == 0 || mine.contains(&who)).then_some(clock & 7)
}

/// Makes `id` the id the current process's next `timer_create` gets.
pub(crate) fn next_id(id: u32) {
    // SAFETY: acts on the current task only; any value is valid (the C
    // side masks it to 0..=INT_MAX).
    unsafe { roam_timers_next_id(id as i32) };
}

/// The current process's CPU time so far.
pub(crate) fn cputime() -> CpuTimes {
    let (mut u, mut s, mut r) = (0, 0, 0);
    // SAFETY: three valid u64s to write.
    unsafe { roam_cputime_get(&mut u, &mut s, &mut r) };
    CpuTimes { utime_ns: u, stime_ns: s, runtime_ns: r }
}

/// Raises the current process's CPU times to at least `c` (they never
/// go back).
pub(crate) fn raise_cputime(c: &CpuTimes) {
    // SAFETY: acts on the current task only; any values are valid.
    unsafe { roam_cputime_raise(c.utime_ns, c.stime_ns, c.runtime_ns) };
}

/// The `sigev_notify` of the `struct sigevent` at user address `uaddr`
/// of the current task, read without sleeping (for the system-call
/// hook); None if that memory is not present.
pub(crate) fn sigevent_notify(uaddr: u64) -> Option<i32> {
    // SAFETY: reads at most 4 user bytes with page faults disabled; any
    // address is handled (a bad one fails).
    let n = unsafe { roam_sigevent_notify_nofault(uaddr) };
    (n >= 0).then_some(n)
}
