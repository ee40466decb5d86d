//! `trace_attach`: a tracer and its target, as `gdb -p` / `strace -p` use
//! ptrace (the guests have neither).
//!
//! * `trace_attach target`: counts in a loop (a word in memory, one step
//!   every 10 µs of work, a 1 ms sleep each 100 steps), prints
//!   `addr 0x...` (the counter's address) once, and at SIGTERM prints
//!   `count N` and exits 0.
//! * `trace_attach attach PID ADDR`: `PTRACE_ATTACH`, waits for the stop,
//!   reads the word at ADDR (`PTRACE_PEEKDATA`) and the registers
//!   (`PTRACE_GETREGS`), waits 200 ms, reads the word again, detaches;
//!   prints `peek A B rip 0x...` and exits 0, or says what failed and
//!   exits 1. A tracer seeing the real process reads its counter (A > 0),
//!   which does not move while it is stopped (A = B).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);
static TERM: AtomicBool = AtomicBool::new(false);

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn target() -> i32 {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    say(&format!("addr {:#x}", COUNTER.as_ptr() as usize));
    let ts = libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 };
    // At most 10 minutes of 1 ms sleeps.
    for _ in 0..600_000u64 {
        if TERM.load(Ordering::SeqCst) {
            break;
        }
        for _ in 0..100 {
            let mut x = 0u64;
            for i in 0..1000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            std::hint::black_box(x);
            COUNTER.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: a valid timespec.
        unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
    }
    say(&format!("count {}", COUNTER.load(Ordering::SeqCst)));
    0
}

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

fn peek(pid: libc::pid_t, addr: usize) -> Result<u64, String> {
    // SAFETY: PEEKDATA returns the word; errno tells a failure from a
    // word that happens to be -1.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::ptrace(libc::PTRACE_PEEKDATA, pid, addr as *mut libc::c_void, std::ptr::null_mut::<libc::c_void>());
        if v == -1 && *libc::__errno_location() != 0 {
            return Err(format!("PTRACE_PEEKDATA {addr:#x}: {}", errno()));
        }
        Ok(v as u64)
    }
}

fn attach(pid: libc::pid_t, addr: usize) -> Result<String, String> {
    // SAFETY: plain ptrace requests on `pid`; the buffers are ours.
    unsafe {
        if libc::ptrace(libc::PTRACE_ATTACH, pid, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) != 0 {
            return Err(format!("PTRACE_ATTACH {pid}: {}", errno()));
        }
        let mut st = 0;
        if libc::waitpid(pid, &mut st, libc::__WALL) != pid || !libc::WIFSTOPPED(st) {
            return Err(format!("waitpid after attach: status {st:#x}: {}", errno()));
        }
        let a = peek(pid, addr)?;
        let mut regs: libc::user_regs_struct = std::mem::zeroed();
        if libc::ptrace(libc::PTRACE_GETREGS, pid, std::ptr::null_mut::<libc::c_void>(), &mut regs as *mut _ as *mut libc::c_void) != 0 {
            return Err(format!("PTRACE_GETREGS: {}", errno()));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let b = peek(pid, addr)?;
        if libc::ptrace(libc::PTRACE_DETACH, pid, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) != 0 {
            return Err(format!("PTRACE_DETACH: {}", errno()));
        }
        Ok(format!("peek {a} {b} rip {:#x}", regs.rip))
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let code = match (a.get(1).map(String::as_str), a.len()) {
        (Some("target"), 2) => target(),
        (Some("attach"), 4) => {
            let pid = a[2].parse().unwrap_or(0);
            let addr = usize::from_str_radix(a[3].trim_start_matches("0x"), 16).unwrap_or(0);
            match attach(pid, addr) {
                Ok(line) => {
                    say(&line);
                    0
                }
                Err(e) => {
                    say(&format!("failed: {e}"));
                    1
                }
            }
        }
        _ => {
            eprintln!("usage: trace_attach target | trace_attach attach PID ADDR");
            2
        }
    };
    std::process::exit(code);
}
