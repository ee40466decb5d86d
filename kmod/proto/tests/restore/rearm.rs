//! The timer steps (`roam_proto::rearm`): which calls, in which order,
//! with which arguments and data.

use super::*;
use roam_proto::image::{CpuTimes, ITimer, PosixTimer, TimerState, MAX_TIMER_HOLES, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID, TIMER_OWN_CPU_CLOCK};
use roam_proto::rearm::{own_cpu_clock, rearm, SYS_SETITIMER, SYS_TIMER_CREATE, SYS_TIMER_DELETE, SYS_TIMER_SETTIME};

const TAKEN: u64 = 10_000_000_000;
const PID: u32 = 4321;

fn state() -> TimerState {
    let mut s = TimerState { taken_ns: TAKEN, cpu: CpuTimes::default(), ..TimerState::default() };
    s.itimers[0] = ITimer { remaining_ns: 30_000_000, interval_ns: 50_000_000 };
    s.itimers[1] = ITimer { remaining_ns: 0, interval_ns: 200_000_000 };
    s.itimers[2] = ITimer { remaining_ns: 250_000_001, interval_ns: 300_000_000 };
    let t = |id, clock, notify, signo, value, remaining_ns, interval_ns, flags| PosixTimer { id, clock, notify, signo, value, remaining_ns, interval_ns, flags };
    for p in [
        t(3, 1, SIGEV_SIGNAL, 35, 0x5eed, 40_000_000, 100_000_000, 0),
        t(4, 0, SIGEV_SIGNAL, 36, 1, 3_600_000_000_000, 0, 0),
        t(7, 2, SIGEV_THREAD_ID, 12, 9, 20_000_000, 0, TIMER_OWN_CPU_CLOCK),
        t(8, 7, SIGEV_NONE, 0, 0, 0, 0, 0),
    ] {
        s.push(p).unwrap();
    }
    s
}

fn timespec(buf: &[u8], at: usize) -> u64 {
    le64(buf, at) * 1_000_000_000 + le64(buf, at + 8)
}

fn timeval(buf: &[u8], at: usize) -> u64 {
    le64(buf, at) * 1_000_000 + le64(buf, at + 8)
}

#[test]
fn rearm_steps() {
    let s = state();
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    // 5 ms passed since the timers were taken.
    let first = rearm(&mut b, &s, TAKEN + 5_000_000, PID).unwrap();
    assert_eq!(first, Some(3), "the kernel must hand out id 3 first");
    b.finish(&regs(), 0, &AltStack::default(), &xstate(600)).unwrap();
    let (steps, _) = decode_code(&buf);
    let nrs: Vec<u64> = steps.iter().map(|s| s.nr).collect();
    assert_eq!(
        nrs,
        [
            SYS_SETITIMER,      // ITIMER_REAL
            SYS_SETITIMER,      // ITIMER_PROF (VIRTUAL is disarmed)
            SYS_TIMER_CREATE,   // 3
            SYS_TIMER_SETTIME,
            SYS_TIMER_CREATE,   // 4
            SYS_TIMER_SETTIME,
            SYS_TIMER_CREATE,   // placeholder 5
            SYS_TIMER_CREATE,   // placeholder 6
            SYS_TIMER_CREATE,   // 7
            SYS_TIMER_SETTIME,
            SYS_TIMER_CREATE,   // 8, disarmed: no settime
            SYS_TIMER_DELETE,   // 5
            SYS_TIMER_DELETE,   // 6
        ]
    );
    assert!(steps.iter().all(|s| s.checked), "a failed timer call stops the restorer");
    // ITIMER_REAL: 30 ms left minus the 5 ms that passed; PROF: CPU time,
    // rounded up to the microsecond.
    assert_eq!(steps[0].args[0], 0);
    assert_eq!((timeval(&buf, off(steps[0].args[1])), timeval(&buf, off(steps[0].args[1]) + 16)), (50_000, 25_000));
    assert_eq!(steps[1].args[0], 2);
    assert_eq!((timeval(&buf, off(steps[1].args[1])), timeval(&buf, off(steps[1].args[1]) + 16)), (300_000, 250_001));
    // Timer 3: CLOCK_MONOTONIC, its sigevent, its absolute expiry.
    let c = steps[2].args;
    assert_eq!(c[0], 1);
    let ev = off(c[1]);
    assert_eq!((le64(&buf, ev), le32(&buf, ev + 8), le32(&buf, ev + 12)), (0x5eed, 35, SIGEV_SIGNAL));
    assert_eq!(steps[3].args[0], 3);
    assert_eq!(steps[3].args[1], 1, "TIMER_ABSTIME");
    let its = off(steps[3].args[2]);
    assert_eq!((timespec(&buf, its), timespec(&buf, its + 16)), (100_000_000, TAKEN + 40_000_000));
    // Timer 4: CLOCK_REALTIME, relative, less what passed.
    assert_eq!(steps[4].args[0], 0);
    assert_eq!((steps[5].args[0], steps[5].args[1]), (4, 0));
    assert_eq!(timespec(&buf, off(steps[5].args[2]) + 16), 3_600_000_000_000 - 5_000_000);
    // Placeholders: SIGEV_NONE on CLOCK_MONOTONIC.
    for st in &steps[6..8] {
        assert_eq!(st.args[0], 1);
        assert_eq!(le32(&buf, off(st.args[1]) + 12), SIGEV_NONE);
    }
    // Timer 7: the new pid's CPU clock, to the new pid's thread; CPU time
    // left as it was.
    assert_eq!(steps[8].args[0], own_cpu_clock(PID, 2) as i64 as u64);
    let ev = off(steps[8].args[1]);
    assert_eq!((le32(&buf, ev + 12), le32(&buf, ev + 16)), (SIGEV_THREAD_ID, PID));
    assert_eq!((steps[9].args[0], steps[9].args[1]), (7, 0));
    assert_eq!(timespec(&buf, off(steps[9].args[2]) + 16), 20_000_000);
    assert_eq!(steps[10].args[0], 7);
    assert_eq!((steps[11].args[0], steps[12].args[0]), (5, 6));
    // The kernel's make_process_cpuclock.
    assert_eq!(own_cpu_clock(1, 2), -14);
    assert_eq!(own_cpu_clock(PID, 6), (!(PID as i32) << 3) | 6);
}

#[test]
fn rearm_late_and_empty() {
    // Taken long ago: real-time timers fire at once (never disarmed by a
    // zero), the monotonic one at its (past) absolute expiry.
    let s = state();
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    rearm(&mut b, &s, TAKEN + 10_000_000_000_000, PID).unwrap();
    b.finish(&regs(), 0, &AltStack::default(), &xstate(600)).unwrap();
    let (steps, _) = decode_code(&buf);
    assert_eq!(timeval(&buf, off(steps[0].args[1]) + 16), 1, "ITIMER_REAL: 1 us");
    assert_eq!(timespec(&buf, off(steps[5].args[2]) + 16), 1, "CLOCK_REALTIME: 1 ns");
    assert_eq!(timespec(&buf, off(steps[3].args[2]) + 16), TAKEN + 40_000_000);
    // Nothing to make.
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    assert_eq!(rearm(&mut b, &TimerState::default(), TAKEN, PID), Ok(None));
    assert_eq!(b.calls(), 0);
}

/// The most a valid image holds fits beside every action and pending
/// signal.
#[test]
fn rearm_worst_case_fits() {
    let mut s = TimerState::default();
    for it in s.itimers.iter_mut() {
        *it = ITimer { remaining_ns: 1, interval_ns: 1 };
    }
    for i in 0..roam_proto::image::MAX_TIMERS as u32 {
        let id = if i == 0 { 0 } else { i + MAX_TIMER_HOLES };
        s.push(PosixTimer { id, clock: 1, signo: 14, remaining_ns: 5, interval_ns: 5, ..PosixTimer::default() }).unwrap();
    }
    assert_eq!(s.check(), Ok(()));
    let mut buf = scratch();
    let mut b = Builder::new(BASE, &mut buf).unwrap();
    for sig in 1..=64u32 {
        b.sigaction(sig, &SigAction::default()).unwrap();
    }
    let p = roam_proto::image::PendingSignal::new(34, true, -1, 1, 0, 7);
    for _ in 0..roam_proto::image::MAX_PENDING {
        b.queue_signal(1, 1, &p).unwrap();
    }
    for nr in 0..8u64 {
        b.syscall(nr, [0; 6]).unwrap();
    }
    rearm(&mut b, &s, 0, PID).unwrap();
    b.finish(&regs(), 0, &AltStack::default(), &xstate(roam_proto::image::MAX_XSTATE as usize)).unwrap();
}
