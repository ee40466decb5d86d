//! `sandbox_self`: a program that sandboxes itself while it may be
//! running on another node: it prints `READY`, waits (sleeping) for
//! SIGUSR1, then sets no-new-privileges (`prctl(PR_SET_NO_NEW_PRIVS)`)
//! and installs a seccomp filter (allow everything), prints
//! `sandboxed nnp=R1 seccomp=R2` (0 or -errno each), and waits for
//! SIGTERM (at most 60 s) before it exits 0.
//!
//! Both must stay with the task where its later calls and `execve`s
//! happen: the harness checks that the process is home afterwards, with
//! `NoNewPrivs: 1` and `Seccomp: 2`, and that it is not moved again.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static GO: AtomicBool = AtomicBool::new(false);
static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    GO.store(true, Ordering::SeqCst);
}

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn wait_for(flag: &AtomicBool) {
    let mut waited = 0;
    while !flag.load(Ordering::SeqCst) && waited < 60_000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 10;
    }
}

fn result(r: libc::c_int) -> i32 {
    if r == 0 {
        0
    } else {
        -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }
}

fn main() {
    // SAFETY: handlers that only store to atomics.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    println!("READY");
    let _ = std::io::stdout().flush();
    wait_for(&GO);
    const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
    const PR_SET_SECCOMP: libc::c_int = 22;
    const SECCOMP_MODE_FILTER: libc::c_ulong = 2;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const BPF_RET_K: u16 = 0x06;
    let filter = [libc::sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW }];
    let prog = libc::sock_fprog { len: 1, filter: filter.as_ptr().cast_mut() };
    // SAFETY: plain prctl calls; `prog` points at a valid one-instruction
    // filter that outlives the call.
    let nnp = result(unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) });
    let sec = result(unsafe { libc::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog, 0 as libc::c_ulong, 0 as libc::c_ulong) });
    println!("sandboxed nnp={nnp} seccomp={sec}");
    let _ = std::io::stdout().flush();
    wait_for(&TERM);
}
