//! A wait that a migration lands in the middle of: `waits KIND MS` prints
//! `waiting` and then makes one call that waits MS milliseconds:
//!
//! * `sleep` — `nanosleep` for MS;
//! * `clock` — `clock_nanosleep(CLOCK_MONOTONIC)` for MS (relative);
//! * `poll` — `poll` of the read end of an empty pipe, timeout MS;
//! * `pollfor` — `poll` of that pipe with no timeout, ended by SIGUSR1
//!   (whose handler writes a byte into the pipe without `SA_RESTART`:
//!   the poll sees the byte if it was made again after the handler, or
//!   ends with `EINTR`, which is what it gets at home too) after at most
//!   MS milliseconds by an `ITIMER_REAL` set before the call.
//! * `masked` — SIGALRM blocked, then `ppoll` of that pipe with no
//!   timeout and a mask of its own that unblocks it, ended by the
//!   timer's SIGALRM after MS;
//! * `suspend` — the same with `rt_sigsuspend`;
//! * `futex` — `FUTEX_WAIT_BITSET` on a word no one wakes, with an
//!   absolute CLOCK_MONOTONIC deadline MS from now.
//!
//! Then prints `KIND rc R errno E elapsed_ms N handled H blocked B`
//! (CLOCK_MONOTONIC around the call; H the times the handler ran, B
//! whether SIGALRM is blocked after the call) and exits 0 if the call did
//! what it does when no one moves the process — `sleep`, `clock`: 0
//! after at least MS; `poll`: 0 (timed out) after at least MS; `pollfor`:
//! 1 ready or `EINTR` after at least MS; `futex`: `ETIMEDOUT` after at
//! least MS; `masked`, `suspend`: `EINTR`
//! after at least MS, the handler ran once, and the call's end blocked
//! SIGALRM again — else 1. Usage errors exit 2. A move must neither end the wait early
//! (a spurious `EINTR`) nor start it again from the beginning.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

static mut PIPE_W: i32 = -1;
static HANDLED: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_alarm(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a write of one byte from a valid buffer; async-signal-safe.
    unsafe { libc::write(PIPE_W, b"x".as_ptr().cast(), 1) };
}

/// Whether SIGALRM is in the blocked mask now.
fn alarm_blocked() -> bool {
    // SAFETY: reads the mask into a local.
    unsafe {
        let mut m: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut m);
        libc::sigismember(&m, libc::SIGALRM) == 1
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(ms)) = (a.get(1).map(String::as_str), a.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: waits sleep|clock|poll|pollfor|masked|suspend|futex MS");
        std::process::exit(2);
    };
    let masked = kind == "masked" || kind == "suspend";
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!("pipe failed");
        std::process::exit(2);
    }
    // SAFETY: set once, before the handler can run.
    unsafe { PIPE_W = fds[1] };
    let ts = libc::timespec { tv_sec: (ms / 1000) as i64, tv_nsec: ((ms % 1000) * 1_000_000) as i64 };
    let mut pfd = libc::pollfd { fd: fds[0], events: libc::POLLIN, revents: 0 };
    if kind == "pollfor" || masked {
        // SAFETY: a handler without SA_RESTART; a valid itimerval.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
            let it = libc::itimerval { it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 }, it_value: libc::timeval { tv_sec: ts.tv_sec, tv_usec: ts.tv_nsec / 1000 } };
            if masked {
                let mut m: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut m);
                libc::sigaddset(&mut m, libc::SIGALRM);
                libc::sigprocmask(libc::SIG_BLOCK, &m, std::ptr::null_mut());
            }
            libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
        }
    }
    let open: u64 = 0; // the call's own mask: nothing blocked
    let word = std::sync::atomic::AtomicU32::new(0);
    // MS from now (read after the start below, so that the wait is at
    // least MS of it).
    let deadline = || {
        // SAFETY: a valid timespec to fill.
        let mut now: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let ns = now.tv_nsec as u64 + (ms % 1000) * 1_000_000;
        libc::timespec { tv_sec: now.tv_sec + (ms / 1000) as i64 + (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
    };
    println!("waiting");
    let t0 = Instant::now();
    // SAFETY: valid timespecs and pollfd; plain calls.
    let rc = unsafe {
        match kind {
            "sleep" => libc::nanosleep(&ts, std::ptr::null_mut()) as i64,
            "clock" => -(libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) as i64),
            "poll" => libc::poll(&mut pfd, 1, ms as i32) as i64,
            "pollfor" => libc::poll(&mut pfd, 1, -1) as i64,
            "masked" => libc::syscall(libc::SYS_ppoll, &mut pfd as *mut libc::pollfd, 1, std::ptr::null::<libc::timespec>(), &open, 8usize),
            "suspend" => libc::syscall(libc::SYS_rt_sigsuspend, &open, 8usize),
            // FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, any bit.
            "futex" => libc::syscall(libc::SYS_futex, word.as_ptr(), 9 | 128, 0u32, &deadline(), std::ptr::null::<u32>(), u32::MAX),
            _ => {
                eprintln!("usage: waits sleep|clock|poll|pollfor|masked|suspend|futex MS");
                std::process::exit(2);
            }
        }
    };
    let errno = if kind == "clock" { (-rc) as i32 } else { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) };
    let elapsed = t0.elapsed().as_millis() as u64;
    let errno = if rc < 0 { errno } else { 0 };
    let (handled, blocked) = (HANDLED.load(Ordering::SeqCst), alarm_blocked());
    println!("{kind} rc {rc} errno {errno} elapsed_ms {elapsed} handled {handled} blocked {blocked}");
    let ok = elapsed >= ms
        && match kind {
            "pollfor" => rc == 1 || (rc == -1 && errno == libc::EINTR),
            "masked" | "suspend" => rc == -1 && errno == libc::EINTR && handled == 1 && blocked,
            "futex" => rc == -1 && errno == libc::ETIMEDOUT,
            _ => rc == 0,
        };
    std::process::exit(if ok { 0 } else { 1 });
}
