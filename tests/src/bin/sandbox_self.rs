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

use roam_tests::cue::{self, result};
use std::io::Write;
use std::time::Duration;

fn main() {
    cue::install();
    println!("READY");
    let _ = std::io::stdout().flush();
    cue::wait_go(Duration::from_secs(60));
    const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
    const PR_SET_SECCOMP: libc::c_int = 22;
    const SECCOMP_MODE_FILTER: libc::c_ulong = 2;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const BPF_RET_K: u16 = 0x06;
    let filter = [libc::sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW }];
    let prog = libc::sock_fprog { len: 1, filter: filter.as_ptr().cast_mut() };
    // SAFETY: plain prctl calls; `prog` points at a valid one-instruction
    // filter that outlives the call.
    let nnp = result(libc::c_long::from(unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) }));
    let sec = result(libc::c_long::from(unsafe { libc::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog, 0 as libc::c_ulong, 0 as libc::c_ulong) }));
    println!("sandboxed nnp={nnp} seccomp={sec}");
    let _ = std::io::stdout().flush();
    cue::wait_term(Duration::from_secs(60));
}
