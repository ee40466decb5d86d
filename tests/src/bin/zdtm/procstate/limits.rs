//! `rlimits`: resource limits lowered before `READY` (only lowered, each
//! to an odd value, or left where it was if already lower): CPU 3607 s
//! soft / 7213 s hard, FSIZE 1 MiB + 5 pages / 2 MiB + 7 pages, DATA and
//! AS tens of GiB plus a few pages, STACK 7 MiB + 3 pages (soft only),
//! CORE, RSS, NPROC 3001/3002, NOFILE 61/97, MEMLOCK, LOCKS 4099/4101,
//! SIGPENDING 777/779, MSGQUEUE 409601/409603, RTTIME. The descriptor
//! table is then filled up to the NOFILE soft limit (`/dev/null` opened
//! until `EMFILE`, so descriptors 0..=60 are all open), and SIGXFSZ is
//! ignored. Each round:
//!
//! * `getrlimit` (answered where the process runs, from the limits its
//!   image carried) gives all sixteen limits as recorded after setup;
//! * `prlimit64(0, r, NULL, &old)` (answered at home) gives the same, and
//!   `prlimit64(getpid(), RLIMIT_NOFILE, ...)` too;
//! * NOFILE is enforced: `open` fails with `EMFILE`, `F_DUPFD` from 0
//!   with `EMFILE` and `F_DUPFD` from 61 with `EINVAL`; once descriptor
//!   60 is closed, `/proc/self/limits` (read through it) shows every
//!   limit as recorded, and `/dev/null` opened again gets descriptor 60;
//! * FSIZE is enforced on a file in `/tmp`: one byte written at the
//!   limit fails with `EFBIG`, two bytes at the limit minus one write one.
//!
//! The check closes the descriptors and removes the file.

use super::{errno, same, setup_failed, Slot};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Each resource's name in `/proc/self/limits`, by number.
const NAMES: [&str; 16] = [
    "Max cpu time",
    "Max file size",
    "Max data size",
    "Max stack size",
    "Max core file size",
    "Max resident set",
    "Max processes",
    "Max open files",
    "Max locked memory",
    "Max address space",
    "Max file locks",
    "Max pending signals",
    "Max msgqueue size",
    "Max nice priority",
    "Max realtime priority",
    "Max realtime timeout",
];

/// A resource number, as the C library's `getrlimit` takes it.
type Resource = libc::__rlimit_resource_t;

const KEEP: u64 = libc::RLIM_INFINITY;
const PG: u64 = 4096;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The lowered limits: resource, soft, hard (`KEEP`: leave as it is).
const LOWER: [(Resource, u64, u64); 14] = [
    (libc::RLIMIT_CPU, 3607, 7213),
    (libc::RLIMIT_FSIZE, MIB + 5 * PG, 2 * MIB + 7 * PG),
    (libc::RLIMIT_DATA, 16 * GIB + 3 * PG, 20 * GIB + 5 * PG),
    (libc::RLIMIT_STACK, 7 * MIB + 3 * PG, KEEP),
    (libc::RLIMIT_CORE, 9 * PG, 5 * MIB + 3 * PG),
    (libc::RLIMIT_RSS, 3 * GIB + 7 * PG, 3 * GIB + 9 * PG),
    (libc::RLIMIT_NPROC, 3001, 3002),
    (libc::RLIMIT_NOFILE, 61, 97),
    (libc::RLIMIT_MEMLOCK, 4 * MIB + 3 * PG, 4 * MIB + 4 * PG),
    (libc::RLIMIT_AS, 48 * GIB + 13 * PG, 64 * GIB + 11 * PG),
    (libc::RLIMIT_LOCKS, 4099, 4101),
    (libc::RLIMIT_SIGPENDING, 777, 779),
    (libc::RLIMIT_MSGQUEUE, 409_601, 409_603),
    (libc::RLIMIT_RTTIME, 5_000_123, 6_000_123),
];

struct State {
    /// Every limit after setup, by resource number.
    want: [(u64, u64); 16],
    /// The descriptors that fill the table up to the NOFILE soft limit.
    held: Vec<OwnedFd>,
    file: OwnedFd,
    path: String,
}

static STATE: Slot<State> = Slot::new(None);

fn get(r: Resource) -> (u64, u64) {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `l` is valid for writes.
    unsafe { libc::getrlimit(r, &mut l) };
    (l.rlim_cur, l.rlim_max)
}

/// `prlimit64(pid, r, NULL, &old)`: the limit as home has it.
fn prlimit(pid: libc::pid_t, r: Resource) -> Result<(u64, u64), String> {
    let mut l = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: no new limit; `l` is valid for writes.
    let rc = unsafe { libc::syscall(libc::SYS_prlimit64, pid, r, std::ptr::null::<libc::rlimit64>(), &mut l) };
    if rc != 0 {
        return Err(format!("prlimit64({pid}, {r}): errno {}", errno()));
    }
    Ok((l.rlim_cur, l.rlim_max))
}

fn open_null() -> i32 {
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: a descriptor this process just opened and owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub(crate) fn rlimits() -> super::Check {
    // SAFETY: ignoring a signal; no handler runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let path = format!("/tmp/zdtm-rlimits-{}", std::process::id());
    let c = CString::new(path.clone()).unwrap_or_default();
    // SAFETY: a valid path; the descriptor is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600) };
    if fd < 0 {
        setup_failed(&path);
    }
    let file = owned(fd);
    for (r, soft, hard) in LOWER {
        let (cur, max) = get(r);
        let max = max.min(hard);
        let l = libc::rlimit {
            rlim_cur: cur.min(soft).min(max),
            rlim_max: max,
        };
        // SAFETY: a valid rlimit, never above the one in place.
        if unsafe { libc::setrlimit(r, &l) } != 0 {
            setup_failed(&format!("setrlimit({r})"));
        }
    }
    let mut want = [(0, 0); 16];
    for (r, w) in want.iter_mut().enumerate() {
        *w = get(r as Resource);
    }
    let mut held = Vec::new();
    loop {
        let fd = open_null();
        if fd < 0 {
            if errno() != libc::EMFILE {
                setup_failed("filling the descriptor table");
            }
            break;
        }
        held.push(owned(fd));
    }
    let nofile = want[libc::RLIMIT_NOFILE as usize].0;
    if held.last().map(|f| f.as_raw_fd() as u64 + 1) != Some(nofile) {
        eprintln!("the descriptor table is not full up to {nofile}: last {:?}", held.last());
        std::process::exit(2);
    }
    super::start(&STATE, State { want, held, file, path }, round, |st| {
        drop(st.held);
        drop(st.file);
        std::fs::remove_file(&st.path).map_err(|e| format!("removing {}: {e}", st.path))
    })
}

/// Every limit `/proc/self/limits` shows, by resource number.
fn proc_limits(text: &str) -> Result<[(u64, u64); 16], String> {
    let mut out = [(0, 0); 16];
    for (i, name) in NAMES.iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("/proc/self/limits has no {name:?} line"))?;
        let mut f = line[name.len()..].split_whitespace();
        let mut value = || match f.next() {
            Some("unlimited") => Ok(libc::RLIM_INFINITY),
            Some(v) => v.parse::<u64>().map_err(|_| format!("/proc/self/limits: {line:?}")),
            None => Err(format!("/proc/self/limits: {line:?}")),
        };
        out[i] = (value()?, value()?);
    }
    Ok(out)
}

fn round(st: &mut State) -> Result<(), String> {
    for r in 0..16 as Resource {
        same(&format!("getrlimit({r})"), get(r), st.want[r as usize])?;
        same(&format!("prlimit64(0, {r})"), prlimit(0, r)?, st.want[r as usize])?;
    }
    let nofile = libc::RLIMIT_NOFILE;
    // SAFETY: no arguments.
    let pid = unsafe { libc::getpid() };
    same("prlimit64(getpid(), RLIMIT_NOFILE)", prlimit(pid, nofile)?, st.want[nofile as usize])?;
    let soft = st.want[nofile as usize].0 as i32;
    // NOFILE: the table is full.
    let fd = open_null();
    if fd >= 0 {
        drop(owned(fd));
        return Err(format!("open with all {soft} descriptors in use gave descriptor {fd}"));
    }
    same("open with a full table: errno", errno(), libc::EMFILE)?;
    let first = st.held[0].as_raw_fd();
    let dups = [0, soft].map(|from| {
        // SAFETY: fcntl on our descriptor; a result >= 0 is closed at once.
        let d = unsafe { libc::fcntl(first, libc::F_DUPFD_CLOEXEC, from) };
        let e = errno();
        if d >= 0 {
            drop(owned(d));
        }
        (d, if d < 0 { e } else { 0 })
    });
    same("F_DUPFD from 0, from the limit", dups, [(-1, libc::EMFILE), (-1, libc::EINVAL)])?;
    // One slot free: read /proc/self/limits through it, then fill it again.
    let last = st.held.pop().ok_or("no descriptors held")?;
    let slot = last.as_raw_fd();
    drop(last);
    let text = super::read_text("/proc/self/limits");
    let again = open_null();
    if again >= 0 {
        st.held.push(owned(again));
    }
    same("open into the one free slot", again, slot)?;
    same("/proc/self/limits", proc_limits(&text?)?, st.want)?;
    // FSIZE: nothing at or past the limit.
    let fsize = st.want[libc::RLIMIT_FSIZE as usize].0;
    let f = st.file.as_raw_fd();
    // SAFETY: one byte from a valid buffer, at an offset in range.
    let at_limit = unsafe { libc::pwrite(f, b"x".as_ptr().cast(), 1, fsize as libc::off_t) };
    let e = errno();
    same(
        "pwrite of one byte at RLIMIT_FSIZE (result, errno)",
        (at_limit, if at_limit < 0 { e } else { 0 }),
        (-1, libc::EFBIG),
    )?;
    // SAFETY: two bytes from a valid buffer.
    let across = unsafe { libc::pwrite(f, b"yz".as_ptr().cast(), 2, fsize as libc::off_t - 1) };
    same("pwrite of two bytes ending past RLIMIT_FSIZE", across, 1)?;
    Ok(())
}

pub(crate) fn tick(n: u64) {
    super::tick(n, &STATE, round);
}
