//! `dup`: duplicated descriptors share an open file (position and status
//! flags) but each has its own descriptor flags. Before `READY`: a file
//! opened `O_RDWR` (no `FD_CLOEXEC`), duplicated with `dup` (then
//! `FD_CLOEXEC` set with `F_SETFD`), `dup2` to 200, `dup3` to 201 with
//! `O_CLOEXEC` and `F_DUPFD_CLOEXEC` from 150; `O_NONBLOCK` set with
//! `F_SETFL` through the `dup2` copy (so all five show it); the same file
//! opened again (another open file) with `O_APPEND` set by `F_SETFL`; a
//! pipe whose read end is made `O_NONBLOCK` and duplicated with `dup2`
//! to 210, its write end `FD_CLOEXEC`; 1000 bytes written through the
//! first descriptor. Every 100 ms while it waits, wherever it runs, 10
//! bytes are written through one of the five in turn: all five positions
//! move by 10 together, the other open file's stays at 0 and its `pread`
//! sees the bytes, an empty read through the pipe's duplicate fails with
//! `EAGAIN`, and every descriptor's `F_GETFD` and `F_GETFL` are as at
//! home. At the check: the same, plus each descriptor's fdinfo `flags:`
//! (which shows `O_CLOEXEC` per descriptor) and `pos:` as expected, the
//! five and the other open file the same inode, the file holds every
//! byte written in order, bytes written into the pipe come out of its
//! duplicate read end, and closing the first descriptor leaves the
//! duplicates working.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{bytes, close, diff, errno, fd_flags, fdinfo, fl_flags, fstat, guard, open, os_err, pos, pread, read_once, tmp, unlink, write_all};
use std::sync::Mutex;

/// One descriptor and its flags at home.
struct Desc {
    name: &'static str,
    fd: i32,
    fd_flags: i32,
    fl_flags: i32,
    info_flags: String,
}

struct State {
    path: String,
    /// The file and its four duplicates.
    dups: Vec<Desc>,
    /// The second open file of the same path.
    other: Desc,
    /// The pipe's read end, its duplicate, its write end.
    pipe: [Desc; 3],
    /// Where the five should be.
    pos: i64,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
const SEED: u64 = 31;
const START: usize = 1000;
const STEP: usize = 10;

fn desc(name: &'static str, fd: i32) -> Result<Desc, String> {
    if fd < 0 {
        return Err(os_err(name));
    }
    Ok(Desc { name, fd, fd_flags: fd_flags(fd), fl_flags: fl_flags(fd), info_flags: fdinfo(fd, "flags")? })
}

fn set_fl(fd: i32, add: i32) -> Result<(), String> {
    // SAFETY: plain fcntl.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, fl_flags(fd) | add) } != 0 {
        return Err(os_err(&format!("F_SETFL {add:#o} on {fd}")));
    }
    Ok(())
}

fn set_cloexec(fd: i32) -> Result<(), String> {
    // SAFETY: plain fcntl.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(os_err(&format!("F_SETFD on {fd}")));
    }
    Ok(())
}

pub(super) fn dup() -> Check {
    guard(|| {
        let path = tmp("dup");
        let f = open(&path, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o600)?;
        // SAFETY: plain descriptor calls on `f`.
        let (d1, d2, d3, d4) = unsafe { (libc::dup(f), libc::dup2(f, 200), libc::dup3(f, 201, libc::O_CLOEXEC), libc::fcntl(f, libc::F_DUPFD_CLOEXEC, 150)) };
        if d1 < 0 || d2 != 200 || d3 != 201 || d4 < 150 {
            return Err(format!("dup {d1}, dup2 {d2}, dup3 {d3}, F_DUPFD_CLOEXEC {d4}: {}", std::io::Error::last_os_error()));
        }
        set_cloexec(d1)?;
        set_fl(d2, libc::O_NONBLOCK)?;
        let g = open(&path, libc::O_RDWR, 0)?;
        set_fl(g, libc::O_APPEND)?;
        let mut p = [0i32; 2];
        // SAFETY: room for two descriptors.
        if unsafe { libc::pipe2(p.as_mut_ptr(), 0) } != 0 {
            return Err(os_err("pipe2"));
        }
        set_fl(p[0], libc::O_NONBLOCK)?;
        // SAFETY: plain dup2.
        let pd = unsafe { libc::dup2(p[0], 210) };
        set_cloexec(p[1])?;
        write_all(f, &bytes(SEED, 0, START))?;
        let dups = vec![desc("fd", f)?, desc("dup", d1)?, desc("dup2 200", d2)?, desc("dup3 201", d3)?, desc("F_DUPFD_CLOEXEC", d4)?];
        let pipe = [desc("pipe read end", p[0])?, desc("pipe read end dup2 210", pd)?, desc("pipe write end", p[1])?];
        let other = desc("second open", g)?;
        // What was asked for is what the kernel did, at home.
        let cloexec: Vec<i32> = dups.iter().chain(&pipe).chain([&other]).map(|d| d.fd_flags).collect();
        let nonblock: Vec<bool> = dups.iter().chain(&pipe).chain([&other]).map(|d| d.fl_flags & libc::O_NONBLOCK != 0).collect();
        if cloexec != [0, 1, 0, 1, 1, 0, 0, 1, 0]
            || nonblock != [true, true, true, true, true, true, true, false, false]
            || other.fl_flags & libc::O_APPEND == 0
        {
            return Err(format!("at home: FD_CLOEXEC {cloexec:?}, O_NONBLOCK {nonblock:?}, second open's flags {:#o}", other.fl_flags));
        }
        let mut st = State { path, dups, other, pipe, pos: START as i64, rounds: Rounds::default() };
        let first = round(&mut st);
        st.rounds.record(first);
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = check(&mut st);
            for d in st.dups.iter().chain(&st.pipe).chain([&st.other]) {
                close(d.fd);
            }
            unlink(&st.path);
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

/// Every descriptor's `F_GETFD` and `F_GETFL` as at home.
fn same_flags(st: &State) -> Result<(), String> {
    for d in st.dups.iter().chain(&st.pipe).chain([&st.other]) {
        let (fd, fl) = (fd_flags(d.fd), fl_flags(d.fd));
        if fd != d.fd_flags || fl != d.fl_flags {
            return Err(format!("{} ({}): F_GETFD {fd}, F_GETFL {fl:#o}; were {} and {:#o}", d.name, d.fd, d.fd_flags, d.fl_flags));
        }
    }
    Ok(())
}

/// The five positions together at `st.pos`, the other one at 0.
fn positions(st: &State) -> Result<(), String> {
    let ps: Vec<i64> = st.dups.iter().map(|d| pos(d.fd)).collect();
    let other = pos(st.other.fd);
    if ps.iter().any(|&p| p != st.pos) || other != 0 {
        return Err(format!("positions of the five {ps:?} (expected {}), of the second open {other} (expected 0)", st.pos));
    }
    Ok(())
}

fn round(st: &mut State) -> Result<(), String> {
    let r = st.rounds.count;
    let via = &st.dups[(r % 5) as usize];
    let data = bytes(SEED, st.pos as u64, STEP);
    write_all(via.fd, &data).map_err(|e| format!("round {r}, through {}: {e}", via.name))?;
    let at = st.pos;
    st.pos += STEP as i64;
    positions(st).map_err(|e| format!("round {r}, after a write through {}: {e}", via.name))?;
    let back = pread(st.other.fd, at, STEP)?;
    if back != data {
        return Err(format!("round {r}: pread at {at} through the second open: {}", diff(&back, &data)));
    }
    let (n, e, _) = read_once(st.pipe[1].fd, 1);
    if n != -1 || e != libc::EAGAIN {
        return Err(format!("round {r}: read of the empty pipe through its dup2 copy gave {n} (errno {e}), expected EAGAIN"));
    }
    same_flags(st).map_err(|e| format!("round {r}: {e}"))
}

fn check(st: &mut State) -> Result<(), String> {
    same_flags(st)?;
    positions(st)?;
    let ino = fstat(st.other.fd)?.st_ino;
    for d in st.dups.iter().chain(&st.pipe).chain([&st.other]) {
        let info = fdinfo(d.fd, "flags")?;
        if info != d.info_flags {
            return Err(format!("{} ({}): fdinfo flags {info}, were {}", d.name, d.fd, d.info_flags));
        }
    }
    for d in &st.dups {
        let (i, p) = (fstat(d.fd)?.st_ino, fdinfo(d.fd, "pos")?);
        if i != ino || p != st.pos.to_string() {
            return Err(format!("{} ({}): inode {i}, fdinfo pos {p}; expected inode {ino}, pos {}", d.name, d.fd, st.pos));
        }
    }
    let want = bytes(SEED, 0, st.pos as usize);
    let got = pread(st.other.fd, 0, want.len() + 100)?;
    if got != want {
        return Err(format!("file content: {}", diff(&got, &want)));
    }
    // The pipe: in through the write end, out through the duplicate.
    write_all(st.pipe[2].fd, b"ping")?;
    let (n, e, got) = read_once(st.pipe[1].fd, 16);
    let (m, e2, _) = read_once(st.pipe[0].fd, 16);
    if got != b"ping" || m != -1 || e2 != libc::EAGAIN {
        return Err(format!("pipe: read through the dup2 copy gave {n} (errno {e}) {got:?}; then the original gave {m} (errno {e2})"));
    }
    // Closing the first leaves the duplicates.
    close(st.dups[0].fd);
    let (gone, e) = (fd_flags(st.dups[0].fd), errno());
    let still = pread(st.dups[1].fd, 0, 10)?;
    st.dups.remove(0);
    if gone != -1 || e != libc::EBADF || still != want[..10] {
        return Err(format!("after closing the first: F_GETFD on it gave {gone} (errno {e}), pread through dup gave {still:?}"));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
