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
//!
//! Then prints `KIND rc R errno E elapsed_ms N` (CLOCK_MONOTONIC around
//! the call) and exits 0 if the call did what it does when no one moves
//! the process — `sleep`, `clock`: 0 after at least MS; `poll`: 0 (timed
//! out) after at least MS; `pollfor`: 1 ready or `EINTR` after at least MS
//! — else 1. Usage errors exit 2. A move must neither end the wait early
//! (a spurious `EINTR`) nor start it again from the beginning.

use std::time::Instant;

static mut PIPE_W: i32 = -1;

extern "C" fn on_alarm(_: libc::c_int) {
    // SAFETY: a write of one byte from a valid buffer; async-signal-safe.
    unsafe { libc::write(PIPE_W, b"x".as_ptr().cast(), 1) };
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(ms)) = (a.get(1).map(String::as_str), a.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: waits sleep|clock|poll|pollfor MS");
        std::process::exit(2);
    };
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
    if kind == "pollfor" {
        // SAFETY: a handler without SA_RESTART; a valid itimerval.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
            let it = libc::itimerval { it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 }, it_value: libc::timeval { tv_sec: ts.tv_sec, tv_usec: ts.tv_nsec / 1000 } };
            libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
        }
    }
    println!("waiting");
    let t0 = Instant::now();
    // SAFETY: valid timespecs and pollfd; plain calls.
    let rc = unsafe {
        match kind {
            "sleep" => libc::nanosleep(&ts, std::ptr::null_mut()) as i64,
            "clock" => -(libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) as i64),
            "poll" => libc::poll(&mut pfd, 1, ms as i32) as i64,
            "pollfor" => libc::poll(&mut pfd, 1, -1) as i64,
            _ => {
                eprintln!("usage: waits sleep|clock|poll|pollfor MS");
                std::process::exit(2);
            }
        }
    };
    let errno = if kind == "clock" { (-rc) as i32 } else { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) };
    let elapsed = t0.elapsed().as_millis() as u64;
    let errno = if rc < 0 { errno } else { 0 };
    println!("{kind} rc {rc} errno {errno} elapsed_ms {elapsed}");
    let ok = elapsed >= ms
        && match kind {
            "pollfor" => rc == 1 || (rc == -1 && errno == libc::EINTR),
            _ => rc == 0,
        };
    std::process::exit(if ok { 0 } else { 1 });
}
