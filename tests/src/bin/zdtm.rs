//! Self-checking transparency programs in the style of CRIU's zdtm static
//! tests: each sets up some process state, says `READY`, waits (idle) while
//! the harness migrates it around the cluster, and on SIGTERM checks that
//! the state is exactly what it set up, by content.
//!
//! `zdtm NAME` runs one test: it prints `READY NAME` on stdout once its
//! state is in place, waits for SIGTERM (at most 600 s, sleeping 10 ms at a
//! time: no call that would bring it home), then prints `PASS NAME` and
//! exits 0, or `FAIL NAME: what differs` and exits 1. `zdtm list` prints
//! the names. The harness (`xtask/src/scenarios/`) starts each test on
//! node 1, moves it 1 → 2 → 3 → home and compares with an unmigrated run.
//!
//! Tests:
//! * `mprotect` — a private anonymous region of 10 pages, each filled with
//!   its own pattern and then given its own protection (none, r, rw, rwx,
//!   r-x, twice), plus a separate 3-page mapping that held data and was
//!   then made `PROT_NONE`: every page's bytes and protection survive.
//! * `mprotect_file` — the same over a private mapping of a file: pages
//!   written by the process (copied on write) keep what was written, the
//!   others still read the file's bytes, and each page keeps its
//!   protection.
//! * `sigpending` — signals blocked and pending: SIGUSR1 and SIGUSR2
//!   raised (`tgkill`: the thread's private queue, `SI_TKILL`), SIGHUP and
//!   SIGWINCH sent with `kill` (the process's shared queue, `SI_USER`),
//!   and for SIGRTMIN..=SIGRTMIN+2 three values each with `sigqueue`
//!   (shared, `SI_QUEUE`) and two with `rt_tgsigqueueinfo` (private):
//!   each queue holds exactly its signals (`/proc/self/status`), and
//!   draining them with `rt_sigtimedwait` gives every one once, in queue
//!   order, with its code, value, sender pid and uid.
//! * `monotonic` — CLOCK_MONOTONIC and CLOCK_BOOTTIME, sampled every
//!   10 ms while waiting, never step back.
//!
//! Defects not fixed yet (`zdtm list-known`; runnable by name, not in the
//! cluster suite until they pass):
//! * `timers` — interval timers and POSIX timers keep running across
//!   moves with their intervals, remaining times, ids, signal and cookie.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

static TERM: AtomicBool = AtomicBool::new(false);
const PAGE: usize = 4096;
const TESTS: &[(&str, fn() -> Check)] =
    &[("mprotect", mprotect_anon), ("mprotect_file", mprotect_file), ("sigpending", sigpending), ("monotonic", monotonic)];
/// Tests of defects not fixed yet: runnable by name, not in `list` (so
/// not in the cluster suite); `zdtm list-known` names them.
const KNOWN: &[(&str, fn() -> Check)] = &[("timers", timers)];

/// The largest backward step of CLOCK_MONOTONIC and CLOCK_BOOTTIME seen
/// between two samples of the waiting loop (ns).
static MONO_BACK: AtomicI64 = AtomicI64::new(0);
static BOOT_BACK: AtomicI64 = AtomicI64::new(0);

/// The check a test runs after SIGTERM: Ok, or what differs.
type Check = Box<dyn FnOnce() -> Result<(), String>>;

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("");
    if name == "list" || name == "list-known" {
        for (n, _) in if name == "list" { TESTS } else { KNOWN } {
            println!("{n}");
        }
        return;
    }
    let Some((name, setup)) = TESTS.iter().chain(KNOWN).find(|(n, _)| *n == name) else {
        eprintln!("usage: zdtm NAME | list");
        std::process::exit(2);
    };
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    let check = setup();
    println!("READY {name}");
    let _ = std::io::stdout().flush();
    let mut waited_ms = 0;
    let (mut mono, mut boot) = (now_ns(libc::CLOCK_MONOTONIC), now_ns(libc::CLOCK_BOOTTIME));
    while !TERM.load(Ordering::SeqCst) {
        let (m, b) = (now_ns(libc::CLOCK_MONOTONIC), now_ns(libc::CLOCK_BOOTTIME));
        MONO_BACK.fetch_max(mono - m, Ordering::SeqCst);
        BOOT_BACK.fetch_max(boot - b, Ordering::SeqCst);
        (mono, boot) = (m, b);
        if waited_ms >= 600_000 {
            eprintln!("zdtm {name}: no SIGTERM within 600 s");
            std::process::exit(3);
        }
        sleep_ms(10);
        waited_ms += 10;
    }
    match check() {
        Ok(()) => println!("PASS {name}"),
        Err(e) => {
            println!("FAIL {name}: {e}");
            std::process::exit(1);
        }
    }
}

/// Clock `clock` now, in ns.
fn now_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn sleep_ms(ms: u64) {
    let ts = libc::timespec { tv_sec: 0, tv_nsec: (ms * 1_000_000) as libc::c_long };
    // SAFETY: plain nanosleep with a valid timespec.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// The protection of page `i` in the patterns of both mprotect tests.
fn prot_of(i: usize) -> i32 {
    [libc::PROT_NONE, libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC, libc::PROT_READ | libc::PROT_EXEC][i % 5]
}

/// The byte at offset `off` of page `page` of pattern `seed`.
fn pattern(seed: u64, page: usize, off: usize) -> u8 {
    let mut x = seed ^ ((page as u64) << 32) ^ off as u64;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

fn mmap(len: usize, prot: i32, flags: i32, fd: i32) -> *mut u8 {
    // SAFETY: a fresh mapping the kernel chooses; checked below.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        eprintln!("mmap: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    p.cast()
}

fn mprotect(addr: *mut u8, len: usize, prot: i32) {
    // SAFETY: `addr..addr+len` is a mapping this program made.
    if unsafe { libc::mprotect(addr.cast(), len, prot) } != 0 {
        eprintln!("mprotect: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
}

/// The permissions `/proc/self/maps` shows for the page at `addr` (e.g.
/// `r-xp`).
fn perms_at(maps: &str, addr: usize) -> Option<String> {
    maps.lines().find_map(|l| {
        let (range, rest) = l.split_once(' ')?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
        (a <= addr && addr < b).then(|| rest.split(' ').next().unwrap_or("").to_string())
    })
}

fn perms_of(prot: i32) -> String {
    let r = if prot & libc::PROT_READ != 0 { 'r' } else { '-' };
    let w = if prot & libc::PROT_WRITE != 0 { 'w' } else { '-' };
    let x = if prot & libc::PROT_EXEC != 0 { 'x' } else { '-' };
    format!("{r}{w}{x}p")
}

/// Checks that page `i` at `base` has protection `prot_of(i)` and holds
/// `want(offset)`; makes it readable to look, then restores it.
fn check_page(maps: &str, base: *mut u8, i: usize, prot: i32, want: impl Fn(usize) -> u8) -> Result<(), String> {
    // SAFETY: page `i` lies inside the mapping at `base`.
    let p = unsafe { base.add(i * PAGE) };
    let seen = perms_at(maps, p as usize).ok_or_else(|| format!("page {i}: not mapped"))?;
    if seen != perms_of(prot) {
        return Err(format!("page {i}: protection {seen}, expected {}", perms_of(prot)));
    }
    mprotect(p, PAGE, libc::PROT_READ);
    // SAFETY: the page is mapped and now readable.
    let bytes = unsafe { std::slice::from_raw_parts(p, PAGE) };
    let bad = (0..PAGE).find(|&o| bytes[o] != want(o));
    mprotect(p, PAGE, prot);
    match bad {
        Some(o) => Err(format!("page {i}: data corrupted at offset {o}: {:#04x}, expected {:#04x}", bytes[o], want(o))),
        None => Ok(()),
    }
}

fn mprotect_anon() -> Check {
    const N: usize = 10;
    const NONE_PAGES: usize = 3;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let base = mmap(N * PAGE, rw, flags, -1);
    let hidden = mmap(NONE_PAGES * PAGE, rw, flags, -1);
    for i in 0..N {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(1, i, o) };
        }
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    for i in 0..NONE_PAGES {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *hidden.add(i * PAGE + o) = pattern(2, i, o) };
        }
    }
    mprotect(hidden, NONE_PAGES * PAGE, libc::PROT_NONE);
    let (b, h) = (base as usize, hidden as usize);
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(1, i, o))?;
        }
        for i in 0..NONE_PAGES {
            check_page(&maps, h as *mut u8, i, libc::PROT_NONE, |o| pattern(2, i, o)).map_err(|e| format!("PROT_NONE mapping: {e}"))?;
        }
        Ok(())
    })
}

fn mprotect_file() -> Check {
    const N: usize = 10;
    let path = format!("/tmp/zdtm-mprotect-{}.dat", std::process::id());
    let mut data = vec![0u8; N * PAGE];
    for i in 0..N {
        for o in 0..PAGE {
            data[i * PAGE + o] = pattern(3, i, o);
        }
    }
    if let Err(e) = std::fs::write(&path, &data) {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    }
    let f = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    use std::os::fd::AsRawFd;
    let base = mmap(N * PAGE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE, f.as_raw_fd());
    drop(f);
    let _ = std::fs::remove_file(&path);
    // Even pages are written (copied on write); odd ones keep the file's.
    let written = |i: usize| i % 2 == 0;
    for i in (0..N).filter(|&i| written(i)) {
        for o in 0..PAGE {
            // SAFETY: inside the rw private mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(4, i, o) };
        }
    }
    for i in 0..N {
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    let b = base as usize;
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            let seed = if written(i) { 4 } else { 3 };
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(seed, i, o))?;
        }
        Ok(())
    })
}

/// CLOCK_MONOTONIC and CLOCK_BOOTTIME, sampled every 10 ms while waiting,
/// never step back.
fn monotonic() -> Check {
    Box::new(|| {
        let (m, b) = (MONO_BACK.load(Ordering::SeqCst), BOOT_BACK.load(Ordering::SeqCst));
        if m > 0 || b > 0 {
            return Err(format!("CLOCK_MONOTONIC stepped back {m} ns, CLOCK_BOOTTIME {b} ns"));
        }
        Ok(())
    })
}

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
fn timers() -> Check {
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

/// One signal as `sigpending` sends it and expects it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    signo: i32,
    code: i32,
    /// `si_value` of a queued signal.
    value: Option<usize>,
}

/// The standard signals of `sigpending`, how each is sent, and on which
/// queue it waits (true: shared).
const STD_SIGNALS: [(i32, bool); 4] = [(libc::SIGUSR1, false), (libc::SIGHUP, true), (libc::SIGUSR2, false), (libc::SIGWINCH, true)];

/// The real-time signals of `sigpending` and the values queued with
/// each: private ones (sent second) get the lower values, since a
/// thread's private queue is drained before the process's shared one.
fn rt_values(r: i32) -> ([usize; 3], [usize; 2]) {
    let base = 1000 * (r as usize + 1);
    ([base + 3, base + 4, base + 5], [base + 1, base + 2])
}

fn sigpending() -> Check {
    let rt = |r: i32| libc::SIGRTMIN() + r;
    // SAFETY: sigset_t is plain data; the libc calls fill it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    let all: Vec<i32> = STD_SIGNALS.iter().map(|s| s.0).chain((0..3).map(rt)).collect();
    for &s in &all {
        // SAFETY: as above.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    // SAFETY: blocks the set for this (only) thread.
    if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        eprintln!("sigprocmask: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    // SAFETY: plain system calls.
    let (pid, tid, uid) = unsafe { (libc::getpid(), libc::gettid(), libc::getuid()) };
    let sent = |what: &str, r: libc::c_int| {
        if r != 0 {
            eprintln!("{what}: {}", std::io::Error::last_os_error());
            std::process::exit(2);
        }
    };
    for (s, shared) in STD_SIGNALS {
        // SAFETY: signals to ourselves, blocked.
        sent("kill/raise", unsafe { if shared { libc::kill(pid, s) } else { libc::raise(s) } });
    }
    for r in 0..3 {
        let (shared, private) = rt_values(r);
        for v in shared {
            let value = libc::sigval { sival_ptr: v as *mut libc::c_void };
            // SAFETY: queues a blocked signal to ourselves.
            sent("sigqueue", unsafe { libc::sigqueue(pid, rt(r), value) });
        }
        for v in private {
            // SAFETY: a zeroed siginfo_t is valid; the fields are set below.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            info.si_signo = rt(r);
            info.si_code = libc::SI_QUEUE;
            // The `_rt` layout: pid, uid, value after signo, errno, code.
            // SAFETY: siginfo_t is 128 bytes; these offsets are inside it.
            unsafe {
                let p = (&mut info as *mut libc::siginfo_t).cast::<u8>();
                p.add(16).cast::<i32>().write_unaligned(pid);
                p.add(20).cast::<u32>().write_unaligned(uid);
                p.add(24).cast::<usize>().write_unaligned(v);
            }
            // SAFETY: rt_tgsigqueueinfo(tgid, tid, sig, &info) to ourselves.
            let r = unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, rt(r), &info) };
            sent("rt_tgsigqueueinfo", r as libc::c_int);
        }
    }
    // What each number should give back, in order: private queue first.
    let mut want: Vec<Sent> = Vec::new();
    for (s, shared) in STD_SIGNALS {
        want.push(Sent { signo: s, code: if shared { libc::SI_USER } else { libc::SI_TKILL }, value: None });
    }
    for r in 0..3 {
        let (shared, private) = rt_values(r);
        for v in private.into_iter().chain(shared) {
            want.push(Sent { signo: rt(r), code: libc::SI_QUEUE, value: Some(v) });
        }
    }
    let bit = |s: i32| 1u64 << (s - 1);
    let private_mask: u64 = STD_SIGNALS.iter().filter(|s| !s.1).map(|s| bit(s.0)).chain((0..3).map(|r| bit(rt(r)))).sum();
    let shared_mask: u64 = STD_SIGNALS.iter().filter(|s| s.1).map(|s| bit(s.0)).chain((0..3).map(|r| bit(rt(r)))).sum();
    Box::new(move || {
        // SAFETY: as above.
        let mut pend: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pend` is a valid sigset_t.
        if unsafe { libc::sigpending(&mut pend) } != 0 {
            return Err(format!("sigpending: {}", std::io::Error::last_os_error()));
        }
        let pending: Vec<i32> = (1..=64).filter(|&s| unsafe { libc::sigismember(&pend, s) } == 1).collect();
        let mut expected = all.clone();
        expected.sort();
        if pending != expected {
            return Err(format!("pending signals {pending:?}, expected {expected:?}"));
        }
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        if field("SigPnd:") != Some(private_mask) || field("ShdPnd:") != Some(shared_mask) {
            return Err(format!(
                "queues: private {:x?} shared {:x?}, expected {private_mask:x} and {shared_mask:x}",
                field("SigPnd:"),
                field("ShdPnd:")
            ));
        }
        // Drain: every signal once, each number's in queue order.
        let mut got: Vec<Sent> = Vec::new();
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        loop {
            // SAFETY: as above.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // The system call itself: the C library's sigtimedwait folds
            // SI_TKILL into SI_USER. SAFETY: valid set, siginfo, timeout
            // and the kernel's sigset size.
            let s = unsafe { libc::syscall(libc::SYS_rt_sigtimedwait, &set, &mut info, &zero, 8usize) } as i32;
            if s < 0 {
                break;
            }
            // SAFETY: the kernel filled `info`; the `_rt`/`_kill` fields sit
            // at 16 (pid) and 20 (uid), the value at 24.
            let (spid, suid, value) = unsafe {
                let p = (&info as *const libc::siginfo_t).cast::<u8>();
                (p.add(16).cast::<i32>().read_unaligned(), p.add(20).cast::<u32>().read_unaligned(), p.add(24).cast::<usize>().read_unaligned())
            };
            if s != info.si_signo || spid != pid || suid != uid {
                return Err(format!("signal {s}: signo {} pid {spid} uid {suid}, expected {s}, {pid}, {uid}", info.si_signo));
            }
            let queued = info.si_code == libc::SI_QUEUE;
            got.push(Sent { signo: s, code: info.si_code, value: queued.then_some(value) });
            if got.len() > want.len() {
                return Err(format!("more signals than were sent: {got:?}"));
            }
        }
        for &s in &all {
            let g: Vec<&Sent> = got.iter().filter(|x| x.signo == s).collect();
            let w: Vec<&Sent> = want.iter().filter(|x| x.signo == s).collect();
            if g != w {
                return Err(format!("signal {s}: got {g:?}, expected {w:?}"));
            }
        }
        if got.len() != want.len() {
            return Err(format!("got {} signals, expected {}: {got:?}", got.len(), want.len()));
        }
        Ok(())
    })
}
