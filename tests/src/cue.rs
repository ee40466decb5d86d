//! Cues for the programs the harness drives with signals (`sandbox_self`,
//! `creds_self`): SIGUSR1 says "go on", SIGTERM says "end"; both are
//! waited for by polling a flag, bounded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static GO: AtomicBool = AtomicBool::new(false);
static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    GO.store(true, Ordering::SeqCst);
}

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

/// Catches SIGUSR1 and SIGTERM (each sets its flag).
pub fn install() {
    // SAFETY: handlers that only store to atomics.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
}

fn wait(flag: &AtomicBool, limit: Duration) {
    let start = std::time::Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (sleeping) for SIGUSR1, at most `limit`.
pub fn wait_go(limit: Duration) {
    wait(&GO, limit);
}

/// Waits (sleeping) for SIGTERM, at most `limit`.
pub fn wait_term(limit: Duration) {
    wait(&TERM, limit);
}

/// 0 if a libc call returned 0, else minus its errno.
pub fn result(r: libc::c_long) -> i32 {
    if r == 0 {
        0
    } else {
        -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}
