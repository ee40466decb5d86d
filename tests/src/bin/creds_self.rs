//! `creds_self`: a root process that gives up most of its privileges the
//! way a daemon does, so that the harness can check that a migration
//! carries exactly what is left (and no more).
//!
//! Started as root, it:
//! 1. sets the supplementary groups 4, 27, 1234 and the group ids 100;
//! 2. sets RLIMIT_NOFILE to 777/888 and RLIMIT_CPU to 3000/4000 s;
//! 3. drops CAP_SYS_MODULE from its bounding set;
//! 4. keeps its capabilities across `setresuid(1000, 1000, 0)`, then
//!    keeps only CAP_KILL and CAP_NET_BIND_SERVICE (the latter also
//!    inheritable and ambient);
//! 5. sets no-new-privileges;
//!
//! prints `READY`, and waits (sleeping) for SIGUSR1. Then it lowers its
//! RLIMIT_NOFILE soft limit to 555 (a change of limits, which must be
//! made at home and then travel), prints `lowered R` (0 or -errno) and
//! `nofile S H` as `getrlimit` reads it, and waits for SIGTERM (at most
//! 120 s); it exits 0 if every step above succeeded, 1 if not (with a
//! message naming the step).

use roam_tests::cue::{self, result};
use std::io::Write;
use std::time::Duration;

fn step(name: &str, r: libc::c_long) {
    let r = result(r);
    if r != 0 {
        eprintln!("creds_self: {name} failed: errno {}", -r);
        std::process::exit(1);
    }
}

const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_MODULE: libc::c_ulong = 16;
const PR_SET_KEEPCAPS: libc::c_int = 8;
const PR_CAPBSET_DROP: libc::c_int = 24;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
const PR_SET_NO_NEW_PRIVS: libc::c_int = 38;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn setrlimit(res: libc::__rlimit_resource_t, cur: u64, max: u64) -> libc::c_long {
    let l = libc::rlimit { rlim_cur: cur, rlim_max: max };
    // SAFETY: a valid rlimit for the call to read.
    libc::c_long::from(unsafe { libc::setrlimit(res, &l) })
}

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong) -> libc::c_long {
    // SAFETY: plain prctl calls with integer arguments.
    libc::c_long::from(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

fn main() {
    cue::install();
    let groups: [libc::gid_t; 3] = [4, 27, 1234];
    // SAFETY: `groups` holds 3 gids.
    step("setgroups", libc::c_long::from(unsafe { libc::setgroups(3, groups.as_ptr()) }));
    // SAFETY: plain integer arguments.
    step("setresgid", libc::c_long::from(unsafe { libc::setresgid(100, 100, 100) }));
    step("RLIMIT_NOFILE", setrlimit(libc::RLIMIT_NOFILE, 777, 888));
    step("RLIMIT_CPU", setrlimit(libc::RLIMIT_CPU, 3000, 4000));
    step("PR_CAPBSET_DROP", prctl(PR_CAPBSET_DROP, CAP_SYS_MODULE, 0));
    step("PR_SET_KEEPCAPS", prctl(PR_SET_KEEPCAPS, 1, 0));
    // SAFETY: plain integer arguments.
    step("setresuid", libc::c_long::from(unsafe { libc::setresuid(1000, 1000, 0) }));
    let keep = (1 << CAP_KILL) | (1 << CAP_NET_BIND_SERVICE);
    let hdr = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapData { effective: keep, permitted: keep, inheritable: 1 << CAP_NET_BIND_SERVICE }, CapData::default()];
    // SAFETY: a version-3 header and its two data words.
    step("capset", unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) });
    step("PR_CAP_AMBIENT", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE as libc::c_ulong));
    step("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0));
    println!("READY");
    let _ = std::io::stdout().flush();
    cue::wait_go(Duration::from_secs(120));
    let lowered = result(setrlimit(libc::RLIMIT_NOFILE, 555, 888));
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `l` is valid for the call to write.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) };
    println!("lowered {lowered}");
    println!("nofile {} {}", l.rlim_cur, l.rlim_max);
    let _ = std::io::stdout().flush();
    cue::wait_term(Duration::from_secs(120));
}
