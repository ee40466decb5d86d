//! The `Timers` message: the process's timers and CPU times when it was
//! taken ([`TimerState`], [`encode_timers`], [`decode_timers`]). Timers
//! run where the process runs: the three interval timers
//! (`setitimer`), its POSIX timers (`timer_create`), with their ids,
//! clocks, signals and values, and the CPU time it has used so far, from
//! which its CPU clocks go on at the destination.
//!
//! Times are nanoseconds. A timer's `remaining_ns` is what was left when
//! it was taken (0: disarmed), at `taken_ns` on the process's own
//! CLOCK_MONOTONIC; the destination subtracts what passed since for the
//! timers that count real time.
//!
//! Calls [`super::codec`] and [`super::error`] only.

use super::codec::{check_total, read_prefix, MsgKind, Reader, Writer, PREFIX_LEN};
use super::error::ImageError;

/// Most POSIX timers an image carries (a process with more is not
/// moved: the source refuses and keeps it).
pub const MAX_TIMERS: usize = 32;

/// Most ids between a process's lowest and highest timer id that no
/// timer holds. The destination makes the ids again in order, filling
/// each hole with a placeholder timer it deletes afterwards (two system
/// calls per hole in the restorer), so sparse ids have a bound.
pub const MAX_TIMER_HOLES: u32 = 32;

/// `sigev_notify` values a moved timer may have.
pub const SIGEV_SIGNAL: u32 = 0;
/// No notification (the timer is read with `timer_gettime`).
pub const SIGEV_NONE: u32 = 1;
/// A signal to one thread (`SIGEV_THREAD_ID`; the process's only one).
pub const SIGEV_THREAD_ID: u32 = 4;

/// [`PosixTimer::flags`]: the clock is the process's own CPU clock named
/// by pid (`clock_getcpuclockid`): `clock` holds the CPU clock type
/// (0 profiling, 1 virtual, 2 scheduler) and, in bit 2, "this thread";
/// the destination names its own pid.
pub const TIMER_OWN_CPU_CLOCK: u32 = 1;

/// Clock ids a moved timer may use (besides [`TIMER_OWN_CPU_CLOCK`]):
/// REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME, BOOTTIME, TAI.
pub const fn timer_clock_ok(clock: i32) -> bool {
    matches!(clock, 0 | 1 | 2 | 3 | 7 | 11)
}

/// One interval timer (`ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ITimer {
    /// Time left (0: disarmed).
    pub remaining_ns: u64,
    /// Period (0: one-shot).
    pub interval_ns: u64,
}

/// One POSIX timer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PosixTimer {
    /// Its id (`timer_t`), 0..=`i32::MAX`.
    pub id: u32,
    /// Its clock id (see [`timer_clock_ok`] and [`TIMER_OWN_CPU_CLOCK`]).
    pub clock: i32,
    /// `sigev_notify`: [`SIGEV_SIGNAL`], [`SIGEV_NONE`] or [`SIGEV_THREAD_ID`].
    pub notify: u32,
    /// `sigev_signo` (1..=64 unless [`SIGEV_NONE`]).
    pub signo: u32,
    /// `sigev_value`: the cookie its signals carry.
    pub value: u64,
    /// Time left (0: disarmed).
    pub remaining_ns: u64,
    /// Period (0: one-shot).
    pub interval_ns: u64,
    /// [`TIMER_OWN_CPU_CLOCK`] or 0.
    pub flags: u32,
}

impl PosixTimer {
    /// Encoded size in bytes.
    pub const SIZE: usize = 48;

    /// Whether its clock counts CPU time rather than real time.
    pub const fn cpu_clock(&self) -> bool {
        self.flags & TIMER_OWN_CPU_CLOCK != 0 || self.clock == 2 || self.clock == 3
    }

    fn check(&self) -> Result<(), ImageError> {
        let clock_ok = if self.flags & TIMER_OWN_CPU_CLOCK != 0 {
            (0..8).contains(&self.clock) && self.clock & 3 != 3
        } else {
            timer_clock_ok(self.clock)
        };
        let notify_ok = match self.notify {
            SIGEV_NONE => self.signo <= 64,
            SIGEV_SIGNAL | SIGEV_THREAD_ID => (1..=64).contains(&self.signo),
            _ => false,
        };
        if self.id > i32::MAX as u32 || !clock_ok || !notify_ok || self.flags & !TIMER_OWN_CPU_CLOCK != 0 {
            return Err(ImageError::BadTimer);
        }
        Ok(())
    }
}

/// CPU time used so far, the thread group's (user, system, and the
/// scheduler's runtime that CLOCK_PROCESS_CPUTIME_ID reads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub utime_ns: u64,
    pub stime_ns: u64,
    pub runtime_ns: u64,
}

/// Everything a `Timers` message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerState {
    /// The process's CLOCK_MONOTONIC when they were taken.
    pub taken_ns: u64,
    /// CPU time used so far.
    pub cpu: CpuTimes,
    /// `ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`.
    pub itimers: [ITimer; 3],
    /// The POSIX timers, `timers[..count]`, ids strictly increasing.
    pub timers: [PosixTimer; MAX_TIMERS],
    pub count: usize,
}

impl Default for TimerState {
    fn default() -> Self {
        TimerState { taken_ns: 0, cpu: CpuTimes::default(), itimers: [ITimer::default(); 3], timers: [PosixTimer::default(); MAX_TIMERS], count: 0 }
    }
}

impl TimerState {
    /// The POSIX timers.
    pub fn posix(&self) -> &[PosixTimer] {
        self.timers.get(..self.count).unwrap_or(&[])
    }

    /// Adds a POSIX timer: `TooLarge` past [`MAX_TIMERS`].
    pub fn push(&mut self, t: PosixTimer) -> Result<(), ImageError> {
        let slot = self.timers.get_mut(self.count).ok_or(ImageError::TooLarge)?;
        *slot = t;
        self.count += 1;
        Ok(())
    }

    /// Puts the POSIX timers in id order (the kernel lists them newest
    /// first).
    pub fn sort(&mut self) {
        let n = self.count.min(MAX_TIMERS);
        // Insertion sort: at most 32 entries, no allocation, no panic.
        let mut i = 1;
        while i < n {
            let mut j = i;
            while j > 0 {
                let (a, b) = (self.timers[j - 1], self.timers[j]);
                if a.id <= b.id {
                    break;
                }
                self.timers[j - 1] = b;
                self.timers[j] = a;
                j -= 1;
            }
            i += 1;
        }
    }

    /// The ids between the lowest and the highest that no timer holds.
    pub fn holes(&self) -> u32 {
        match (self.posix().first(), self.posix().last()) {
            (Some(a), Some(b)) => (b.id - a.id + 1).saturating_sub(self.count as u32),
            _ => 0,
        }
    }

    /// Checks every timer ([`ImageError::BadTimer`]), the id order and the
    /// holes ([`ImageError::TooLarge`] past [`MAX_TIMER_HOLES`]).
    pub fn check(&self) -> Result<(), ImageError> {
        if self.count > MAX_TIMERS {
            return Err(ImageError::TooLarge);
        }
        let mut prev: Option<u32> = None;
        for t in self.posix() {
            t.check()?;
            if prev.is_some_and(|p| p >= t.id) {
                return Err(ImageError::BadTimer);
            }
            prev = Some(t.id);
        }
        if self.holes() > MAX_TIMER_HOLES {
            return Err(ImageError::TooLarge);
        }
        Ok(())
    }
}

/// Length of a `Timers` message with `count` POSIX timers (saturating).
pub const fn timers_len(count: usize) -> usize {
    TIMERS_HEAD_LEN.saturating_add(count.saturating_mul(PosixTimer::SIZE))
}

/// Length of the fixed part: prefix, taken, CPU times, interval timers,
/// count.
pub const TIMERS_HEAD_LEN: usize = PREFIX_LEN + 8 + 24 + 3 * 16 + 4;

/// Writes a `Timers` message and returns its length; errors as
/// [`TimerState::check`], `Truncated` if `out` is too small.
pub fn encode_timers(s: &TimerState, out: &mut [u8]) -> Result<usize, ImageError> {
    s.check()?;
    let total = timers_len(s.count);
    let mut w = Writer::new(out.get_mut(..total).ok_or(ImageError::Truncated)?);
    w.prefix(MsgKind::Timers)?;
    w.u64(s.taken_ns)?;
    w.u64(s.cpu.utime_ns)?;
    w.u64(s.cpu.stime_ns)?;
    w.u64(s.cpu.runtime_ns)?;
    for it in &s.itimers {
        w.u64(it.remaining_ns)?;
        w.u64(it.interval_ns)?;
    }
    w.u32(s.count as u32)?;
    for t in s.posix() {
        w.u32(t.id)?;
        w.u32(t.clock as u32)?;
        w.u32(t.notify)?;
        w.u32(t.signo)?;
        w.u64(t.value)?;
        w.u64(t.remaining_ns)?;
        w.u64(t.interval_ns)?;
        w.u32(t.flags)?;
        w.u32(0)?;
    }
    Ok(total)
}

/// A decoded `Timers` message (checked), read out with
/// [`TimersView::read_into`]: the kernel keeps the state in its arrival
/// rather than on the receiver's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimersView<'a> {
    buf: &'a [u8],
}

impl TimersView<'_> {
    /// Writes the state into `out`.
    pub fn read_into(&self, out: &mut TimerState) -> Result<(), ImageError> {
        read(self.buf, out)
    }

    /// The state, by value.
    pub fn state(&self) -> Result<TimerState, ImageError> {
        let mut s = TimerState::default();
        read(self.buf, &mut s)?;
        Ok(s)
    }
}

/// Decodes and checks a `Timers` message: the prefix, the count
/// (`TooLarge` past [`MAX_TIMERS`]), the length, then the content as
/// [`TimerState::check`].
pub fn decode_timers(buf: &[u8]) -> Result<TimersView<'_>, ImageError> {
    let mut s = TimerState::default();
    read(buf, &mut s)?;
    Ok(TimersView { buf })
}

fn read(buf: &[u8], s: &mut TimerState) -> Result<(), ImageError> {
    let mut r = Reader::new(buf);
    read_prefix(&mut r, MsgKind::Timers)?;
    s.count = 0;
    s.taken_ns = r.u64()?;
    s.cpu = CpuTimes { utime_ns: r.u64()?, stime_ns: r.u64()?, runtime_ns: r.u64()? };
    for it in s.itimers.iter_mut() {
        *it = ITimer { remaining_ns: r.u64()?, interval_ns: r.u64()? };
    }
    let count = usize::try_from(r.u32()?).map_err(|_| ImageError::TooLarge)?;
    if count > MAX_TIMERS {
        return Err(ImageError::TooLarge);
    }
    check_total(buf, timers_len(count))?;
    let mut i = 0;
    while i < count {
        let t = PosixTimer {
            id: r.u32()?,
            clock: r.u32()? as i32,
            notify: r.u32()?,
            signo: r.u32()?,
            value: r.u64()?,
            remaining_ns: r.u64()?,
            interval_ns: r.u64()?,
            flags: r.u32()?,
        };
        if r.u32()? != 0 {
            return Err(ImageError::BadTimer);
        }
        s.push(t)?;
        i += 1;
    }
    s.check()
}
