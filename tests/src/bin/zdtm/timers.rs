//! The timer tests of the suite: `timers` (interval and POSIX timers
//! keep running across moves with their intervals, remaining times, ids,
//! signals and cookies) and `cputimers` (a busy process: ITIMER_VIRTUAL,
//! ITIMER_PROF and a timer on its CPU clock count the CPU time it uses
//! wherever it runs, and its CPU clocks never step back).

use super::{now_ns, sleep_ms, Check};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

static ALRM: AtomicU64 = AtomicU64::new(0);
static RT_TICKS: AtomicU64 = AtomicU64::new(0);
static RT_BAD: AtomicU64 = AtomicU64::new(0);
const COOKIE: usize = 0x5eed_c0de;

extern "C" fn on_alrm(_: libc::c_int) {
    ALRM.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_rt(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, value) = unsafe { ((*info).si_code, (*info).si_value().sival_ptr as usize) };
    if code == libc::SI_TIMER && value == COOKIE {
        RT_TICKS.fetch_add(1, Ordering::SeqCst);
    } else {
        RT_BAD.fetch_add(1, Ordering::SeqCst);
    }
}

fn set_itimer(which: libc::c_int, ms: i64) {
    let tv = libc::timeval { tv_sec: 0, tv_usec: (ms * 1000) as libc::suseconds_t };
    let it = libc::itimerval { it_interval: tv, it_value: tv };
    // SAFETY: a valid itimerval; the old value is not asked for.
    unsafe { libc::setitimer(which, &it, std::ptr::null_mut()) };
}

/// Interval timers (REAL, VIRTUAL, PROF) and two POSIX timers (periodic
/// CLOCK_MONOTONIC with a real-time signal and a cookie; one-shot
/// CLOCK_REALTIME an hour away) keep running across moves with their
/// intervals, remaining times, ids, signal and cookie.
pub(super) fn timers() -> Check {
    // SAFETY: handlers that only touch atomics; zeroed sigaction is valid.
    unsafe {
        libc::signal(libc::SIGALRM, on_alrm as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGVTALRM, libc::SIG_IGN);
        libc::signal(libc::SIGPROF, libc::SIG_IGN);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_rt as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigaction(libc::SIGRTMIN() + 1, &sa, std::ptr::null_mut());
    }
    set_itimer(libc::ITIMER_REAL, 50);
    set_itimer(libc::ITIMER_VIRTUAL, 200);
    set_itimer(libc::ITIMER_PROF, 300);
    let mut periodic: libc::timer_t = std::ptr::null_mut();
    let mut oneshot: libc::timer_t = std::ptr::null_mut();
    // SAFETY: valid sigevent and itimerspec values; the ids are written.
    unsafe {
        let mut ev: libc::sigevent = std::mem::zeroed();
        ev.sigev_notify = libc::SIGEV_SIGNAL;
        ev.sigev_signo = libc::SIGRTMIN() + 1;
        ev.sigev_value = libc::sigval { sival_ptr: COOKIE as *mut libc::c_void };
        libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut periodic);
        let ms100 = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        libc::timer_settime(periodic, 0, &libc::itimerspec { it_interval: ms100, it_value: ms100 }, std::ptr::null_mut());
        let mut ev2: libc::sigevent = std::mem::zeroed();
        ev2.sigev_notify = libc::SIGEV_SIGNAL;
        ev2.sigev_signo = libc::SIGRTMIN() + 2;
        libc::timer_create(libc::CLOCK_REALTIME, &mut ev2, &mut oneshot);
        let hour = libc::timespec { tv_sec: 3600, tv_nsec: 0 };
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        libc::timer_settime(oneshot, 0, &libc::itimerspec { it_interval: zero, it_value: hour }, std::ptr::null_mut());
    }
    let (p, o) = (periodic as usize, oneshot as usize);
    let start = now_ns(libc::CLOCK_MONOTONIC);
    Box::new(move || {
        let (a0, t0) = (ALRM.load(Ordering::SeqCst), RT_TICKS.load(Ordering::SeqCst));
        // Signals cut sleeps short: sleep until 600 ms have passed.
        let until = now_ns(libc::CLOCK_MONOTONIC) + 600_000_000;
        while now_ns(libc::CLOCK_MONOTONIC) < until {
            sleep_ms(10);
        }
        let (a1, t1) = (ALRM.load(Ordering::SeqCst), RT_TICKS.load(Ordering::SeqCst));
        if a1 <= a0 || t1 <= t0 {
            return Err(format!("timers stopped: SIGALRM {a0} -> {a1}, timer ticks {t0} -> {t1} in 600 ms"));
        }
        if RT_BAD.load(Ordering::SeqCst) != 0 {
            return Err(format!("{} timer signals without SI_TIMER and the cookie", RT_BAD.load(Ordering::SeqCst)));
        }
        for (which, ms) in [(libc::ITIMER_REAL, 50), (libc::ITIMER_VIRTUAL, 200), (libc::ITIMER_PROF, 300)] {
            // SAFETY: a valid itimerval to write.
            let mut it: libc::itimerval = unsafe { std::mem::zeroed() };
            unsafe { libc::getitimer(which, &mut it) };
            if it.it_interval.tv_usec != ms * 1000 || (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) {
                return Err(format!("itimer {which}: interval {} us, value {}.{:06} s", it.it_interval.tv_usec, it.it_value.tv_sec, it.it_value.tv_usec));
            }
        }
        // SAFETY: the ids were made by timer_create above; `its` is valid.
        let mut its: libc::itimerspec = unsafe { std::mem::zeroed() };
        if unsafe { libc::timer_gettime(p as libc::timer_t, &mut its) } != 0 || its.it_interval.tv_nsec != 100_000_000 {
            return Err(format!("periodic timer: gone or interval {} ns", its.it_interval.tv_nsec));
        }
        let elapsed = (now_ns(libc::CLOCK_MONOTONIC) - start) / 1_000_000_000;
        if unsafe { libc::timer_gettime(o as libc::timer_t, &mut its) } != 0 || (its.it_value.tv_sec - (3600 - elapsed)).abs() > 5 {
            return Err(format!("one-shot timer: gone or {} s left after {elapsed} s", its.it_value.tv_sec));
        }
        Ok(())
    })
}


static VT_TICKS: AtomicU64 = AtomicU64::new(0);
static PROF_TICKS: AtomicU64 = AtomicU64::new(0);
static CPU_TICKS: AtomicU64 = AtomicU64::new(0);
static CPU_BAD: AtomicU64 = AtomicU64::new(0);
/// The largest backward step of the process's and the thread's CPU
/// clocks seen by the busy loop (ns).
pub(super) static CPU_BACK: AtomicI64 = AtomicI64::new(0);
/// The cookie of the CPU-clock timer.
const CPU_COOKIE: usize = 0xc0c0_1234;
/// The period of every timer of `cputimers` (ms).
const PERIOD_MS: i64 = 10;

extern "C" fn on_vtalrm(_: libc::c_int) {
    VT_TICKS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_prof(_: libc::c_int) {
    PROF_TICKS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_cpu_timer(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let (code, value) = unsafe { ((*info).si_code, (*info).si_value().sival_ptr as usize) };
    if code == libc::SI_TIMER && value == CPU_COOKIE {
        CPU_TICKS.fetch_add(1, Ordering::SeqCst);
    } else {
        CPU_BAD.fetch_add(1, Ordering::SeqCst);
    }
}

/// One step of the busy loop of `cputimers`: computes for about `ms` of
/// CPU time, checking that the CPU clocks never go back. The clocks are
/// read between runs of arithmetic (reading a CPU clock is a system
/// call), so that nearly all of the time is user time, which
/// ITIMER_VIRTUAL counts.
pub(super) fn spin_ms(ms: i64) {
    let until = now_ns(libc::CLOCK_PROCESS_CPUTIME_ID) + ms * 1_000_000;
    let (mut p, mut t) = (now_ns(libc::CLOCK_PROCESS_CPUTIME_ID), now_ns(libc::CLOCK_THREAD_CPUTIME_ID));
    let mut x = 1u64;
    while p < until {
        for _ in 0..200_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        }
        let (p2, t2) = (now_ns(libc::CLOCK_PROCESS_CPUTIME_ID), now_ns(libc::CLOCK_THREAD_CPUTIME_ID));
        CPU_BACK.fetch_max((p - p2).max(t - t2), Ordering::SeqCst);
        (p, t) = (p2, t2);
    }
}

/// The process's user and system CPU time so far (`getrusage`), ns.
fn rusage_ns() -> (i64, i64) {
    // SAFETY: a valid rusage to write.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ns = |tv: libc::timeval| tv.tv_sec * 1_000_000_000 + tv.tv_usec * 1000;
    (ns(ru.ru_utime), ns(ru.ru_stime))
}

/// `times`' user and system CPU time of the process, ns.
fn times_ns() -> i64 {
    // SAFETY: a valid tms to write; sysconf has no preconditions.
    let (mut t, hz) = (unsafe { std::mem::zeroed::<libc::tms>() }, unsafe { libc::sysconf(libc::_SC_CLK_TCK) });
    // SAFETY: as above.
    unsafe { libc::times(&mut t) };
    (t.tms_utime + t.tms_stime) as i64 * (1_000_000_000 / hz.max(1) as i64)
}

/// Rounds of `cputimers`' accounting check run while it waited.
static ACCOUNTED: AtomicU64 = AtomicU64::new(0);
/// The first difference that check found.
static ACCOUNTING: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Whether `what` (ns of CPU time) agrees with the CPU clock read just
/// before and after it, to a tick or so each way.
fn agrees(what: i64, before: i64, after: i64) -> bool {
    what >= before - before / 5 - 50_000_000 && what <= after + after / 5 + 50_000_000
}

/// Every 100 ms while `cputimers` waits, wherever it runs: `getrusage`
/// and `times` count all the CPU time the process used, as its CPU clock
/// does (on a remote they count the time used there too).
pub(super) fn cputimers_tick(n: u64) {
    if n % 10 != 0 {
        return;
    }
    let before = now_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
    let (user, system) = rusage_ns();
    let t = times_ns();
    let after = now_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
    ACCOUNTED.fetch_add(1, Ordering::SeqCst);
    let bad = if !agrees(user + system, before, after) {
        Some(format!("getrusage: {} ms of CPU while the CPU clock said {}..{} ms", (user + system) / 1_000_000, before / 1_000_000, after / 1_000_000))
    } else if !agrees(t, before, after) {
        Some(format!("times: {} ms of CPU while the CPU clock said {}..{} ms", t / 1_000_000, before / 1_000_000, after / 1_000_000))
    } else {
        None
    };
    let mut first = ACCOUNTING.lock().unwrap_or_else(|e| e.into_inner());
    if first.is_none() {
        *first = bad;
    }
}

pub(super) fn cputimers() -> Check {
    // SAFETY: handlers that only touch atomics; zeroed sigaction is valid.
    unsafe {
        libc::signal(libc::SIGVTALRM, on_vtalrm as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGPROF, on_prof as extern "C" fn(libc::c_int) as libc::sighandler_t);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_cpu_timer as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigaction(libc::SIGRTMIN() + 3, &sa, std::ptr::null_mut());
    }
    let mut cpu_timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: valid sigevent and itimerspec values; the id is written.
    unsafe {
        let mut ev: libc::sigevent = std::mem::zeroed();
        ev.sigev_notify = libc::SIGEV_SIGNAL;
        ev.sigev_signo = libc::SIGRTMIN() + 3;
        ev.sigev_value = libc::sigval { sival_ptr: CPU_COOKIE as *mut libc::c_void };
        if libc::timer_create(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ev, &mut cpu_timer) != 0 {
            eprintln!("timer_create: {}", std::io::Error::last_os_error());
            std::process::exit(2);
        }
        let p = libc::timespec { tv_sec: 0, tv_nsec: PERIOD_MS * 1_000_000 };
        libc::timer_settime(cpu_timer, 0, &libc::itimerspec { it_interval: p, it_value: p }, std::ptr::null_mut());
    }
    set_itimer(libc::ITIMER_VIRTUAL, PERIOD_MS);
    set_itimer(libc::ITIMER_PROF, PERIOD_MS);
    let id = cpu_timer as usize;
    Box::new(move || {
        // Enough CPU time for the counts to mean something (a run that
        // was told to stop at once has used little), then stop the
        // timers and compare what they counted with the CPU time the
        // process used, all of it, wherever it ran.
        while now_ns(libc::CLOCK_PROCESS_CPUTIME_ID) < 1_000_000_000 {
            spin_ms(10);
        }
        set_itimer(libc::ITIMER_VIRTUAL, 0);
        set_itimer(libc::ITIMER_PROF, 0);
        let mut its: libc::itimerspec = unsafe { std::mem::zeroed() };
        // SAFETY: the id was made by timer_create above; `its` is valid.
        if unsafe { libc::timer_gettime(id as libc::timer_t, &mut its) } != 0 || its.it_interval.tv_nsec != PERIOD_MS * 1_000_000 {
            return Err(format!("CPU-clock timer: gone or interval {} ns", its.it_interval.tv_nsec));
        }
        unsafe { libc::timer_delete(id as libc::timer_t) };
        let (user, system) = rusage_ns();
        let cpu = now_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
        let back = CPU_BACK.load(Ordering::SeqCst);
        if back > 0 {
            return Err(format!("the CPU clocks stepped back by {back} ns"));
        }
        if CPU_BAD.load(Ordering::SeqCst) != 0 {
            return Err(format!("{} CPU-clock timer signals without SI_TIMER and the cookie", CPU_BAD.load(Ordering::SeqCst)));
        }
        if let Some(e) = ACCOUNTING.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(format!("while waiting, {e}"));
        }
        if ACCOUNTED.load(Ordering::SeqCst) < 2 {
            return Err("the accounting check ran less than twice while waiting".into());
        }
        // getrusage and the CPU clock agree (to a tick or so each way).
        if (user + system - cpu).abs() > cpu / 5 + 50_000_000 {
            return Err(format!("getrusage says {} ms of CPU, CLOCK_PROCESS_CPUTIME_ID {} ms", (user + system) / 1_000_000, cpu / 1_000_000));
        }
        let p = PERIOD_MS * 1_000_000;
        for (what, ticks, ns) in [
            ("ITIMER_VIRTUAL", VT_TICKS.load(Ordering::SeqCst), user),
            ("ITIMER_PROF", PROF_TICKS.load(Ordering::SeqCst), user + system),
            ("the CPU-clock timer", CPU_TICKS.load(Ordering::SeqCst), cpu),
        ] {
            let want = ns / p;
            if (ticks as i64) < want * 7 / 10 || (ticks as i64) > want * 13 / 10 + 3 {
                return Err(format!("{what}: {ticks} expiries of {PERIOD_MS} ms for {} ms of CPU time (want about {want})", ns / 1_000_000));
            }
        }
        Ok(())
    })
}
