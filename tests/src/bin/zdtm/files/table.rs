//! `fd_table`: the numbering of a large file table. Before `READY`, some
//! 50 descriptors of many kinds: 16 regular files in /tmp, `/dev/null`
//! (read, write, read-write) and `/dev/zero`, 5 pipes, 7 unix socket
//! pairs (stream and datagram), a UDP and a TCP socket, directories (`/`,
//! `/tmp`, `/proc`, `/dev`), 2 `O_PATH` descriptors and an epoll
//! instance, every other one `FD_CLOEXEC`; every fourth is closed again
//! (holes in the numbering), and four are duplicated to 100, 137, 200 and
//! 255. For every open number in 0..=300 (found by `F_GETFD`) it records
//! `F_GETFD`, `F_GETFL`, `fstat`'s device, inode, mode and rdev, and the
//! `/proc/self/fd` link. Every 100 ms while it waits, wherever it runs:
//! `open("/dev/null")` gets the lowest free number and `F_DUPFD` from 100
//! the lowest free number from 100 (101), as at home, and one recorded
//! descriptor in turn still has its `fstat`. At the check: the set of
//! open numbers, probed with `F_GETFD` over 0..=300 and listed in
//! `/proc/self/fd`, is the one recorded, and every descriptor has its
//! recorded flags, identity and link.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{close, fd_flags, fd_link, fl_flags, fstat, guard, open, os_err, tmp, unlink};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What one descriptor was at home.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Entry {
    fd_flags: i32,
    fl_flags: i32,
    dev: u64,
    ino: u64,
    mode: u32,
    rdev: u64,
    link: String,
}

struct State {
    paths: Vec<String>,
    /// The descriptors this test opened (others were there before).
    ours: Vec<i32>,
    table: BTreeMap<i32, Entry>,
    /// The lowest free number, and the lowest free from 100.
    lowest: i32,
    from_100: i32,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
const TOP: i32 = 300;

fn entry(fd: i32) -> Result<Entry, String> {
    let s = fstat(fd)?;
    Ok(Entry { fd_flags: fd_flags(fd), fl_flags: fl_flags(fd), dev: s.st_dev, ino: s.st_ino, mode: s.st_mode, rdev: s.st_rdev, link: fd_link(fd)? })
}

/// The open numbers in 0..=TOP, by `F_GETFD`.
fn probe() -> Vec<i32> {
    (0..=TOP).filter(|&fd| fd_flags(fd) >= 0).collect()
}

/// The numbers `/proc/self/fd` lists, less the listing's own descriptor
/// (closed again once the listing is done).
fn listed() -> Result<Vec<i32>, String> {
    let names: Vec<i32> =
        std::fs::read_dir("/proc/self/fd").map_err(|e| format!("/proc/self/fd: {e}"))?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    let mut open: Vec<i32> = names.into_iter().filter(|&fd| fd <= TOP && fd_flags(fd) >= 0).collect();
    open.sort();
    Ok(open)
}

fn lowest_free(from: i32, table: &BTreeMap<i32, Entry>) -> i32 {
    (from..).find(|fd| !table.contains_key(fd)).unwrap_or(-1)
}

pub(super) fn fd_table() -> Check {
    guard(|| {
        let before = probe();
        let mut opened: Vec<i32> = Vec::new();
        let mut paths = Vec::new();
        for i in 0..16 {
            let p = format!("{}.{i}", tmp("fdtable"));
            opened.push(open(&p, libc::O_RDWR | libc::O_CREAT, 0o600)?);
            paths.push(p);
        }
        for (path, flags) in [
            ("/dev/null", libc::O_RDONLY),
            ("/dev/null", libc::O_WRONLY),
            ("/dev/null", libc::O_RDWR),
            ("/dev/zero", libc::O_RDONLY),
            ("/", libc::O_RDONLY | libc::O_DIRECTORY),
            ("/tmp", libc::O_RDONLY | libc::O_DIRECTORY),
            ("/proc", libc::O_RDONLY | libc::O_DIRECTORY),
            ("/dev", libc::O_RDONLY | libc::O_DIRECTORY),
            ("/tmp", libc::O_PATH),
            ("/dev/null", libc::O_PATH),
            ("/dev/null", libc::O_WRONLY | libc::O_APPEND),
            ("/dev/zero", libc::O_RDWR | libc::O_NONBLOCK),
        ] {
            opened.push(open(path, flags, 0)?);
        }
        for i in 0..12 {
            let mut p = [0i32; 2];
            // SAFETY: room for two descriptors.
            let r = unsafe {
                if i < 5 {
                    libc::pipe2(p.as_mut_ptr(), if i % 2 == 0 { libc::O_NONBLOCK } else { 0 })
                } else {
                    libc::socketpair(libc::AF_UNIX, if i % 2 == 0 { libc::SOCK_STREAM } else { libc::SOCK_DGRAM }, 0, p.as_mut_ptr())
                }
            };
            if r != 0 {
                return Err(os_err("pipe2/socketpair"));
            }
            opened.extend(p);
        }
        // SAFETY: plain socket and epoll calls.
        let more = unsafe { [libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0), libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0), libc::epoll_create1(0)] };
        if more.iter().any(|&fd| fd < 0) {
            return Err(os_err("socket/epoll_create1"));
        }
        opened.extend(more);
        for (i, &fd) in opened.iter().enumerate() {
            // SAFETY: plain fcntl.
            if i % 2 == 1 && unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return Err(os_err("F_SETFD"));
            }
        }
        // Holes, then high numbers.
        let mut ours = Vec::new();
        for (i, &fd) in opened.iter().enumerate() {
            if i % 4 == 3 {
                close(fd);
            } else {
                ours.push(fd);
            }
        }
        for (src, to) in [(ours[0], 100), (ours[5], 137), (ours[20], 200), (ours[30], 255)] {
            // SAFETY: plain dup2.
            if unsafe { libc::dup2(src, to) } != to {
                return Err(os_err(&format!("dup2 to {to}")));
            }
            ours.push(to);
        }
        let mut table = BTreeMap::new();
        for fd in probe() {
            table.insert(fd, entry(fd)?);
        }
        if let Some(fd) = ours.iter().find(|fd| !table.contains_key(fd)) {
            return Err(format!("descriptor {fd} was opened but F_GETFD does not find it"));
        }
        if let Some(fd) = table.keys().find(|fd| !before.contains(fd) && !ours.contains(fd)) {
            return Err(format!("descriptor {fd} is open but was not opened here"));
        }
        let lowest = lowest_free(0, &table);
        let from_100 = lowest_free(100, &table);
        let mut st = State { paths, ours, table, lowest, from_100, rounds: Rounds::default() };
        let first = round(&st);
        st.rounds.record(first);
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = check(&st);
            for &fd in &st.ours {
                close(fd);
            }
            for p in &st.paths {
                unlink(p);
            }
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

fn round(st: &State) -> Result<(), String> {
    let r = st.rounds.count;
    let fd = open("/dev/null", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    // SAFETY: plain fcntl.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
    close(fd);
    if high >= 0 {
        close(high);
    }
    if fd != st.lowest || high != st.from_100 {
        return Err(format!("round {r}: open got {fd} (lowest free {}), F_DUPFD from 100 got {high} (expected {})", st.lowest, st.from_100));
    }
    let (&n, want) = st.table.iter().nth((r as usize) % st.table.len()).ok_or("empty table")?;
    let s = fstat(n)?;
    if (s.st_dev, s.st_ino, s.st_mode, s.st_rdev) != (want.dev, want.ino, want.mode, want.rdev) {
        return Err(format!("round {r}: descriptor {n}: fstat dev {} ino {} mode {:#o} rdev {}, recorded {want:?}", s.st_dev, s.st_ino, s.st_mode, s.st_rdev));
    }
    Ok(())
}

fn check(st: &State) -> Result<(), String> {
    let keys: Vec<i32> = st.table.keys().copied().collect();
    let (probed, listed) = (probe(), listed()?);
    if probed != keys || listed != keys {
        return Err(format!("open descriptors: by F_GETFD {probed:?}, in /proc/self/fd {listed:?}; at home {keys:?}"));
    }
    for (&fd, want) in &st.table {
        let got = entry(fd)?;
        if got != *want {
            return Err(format!("descriptor {fd}: {got:?}, at home {want:?}"));
        }
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
