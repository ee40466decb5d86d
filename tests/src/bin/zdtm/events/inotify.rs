//! `inotify`: a directory watch used every 100 ms wherever the process
//! runs, and a second instance whose events, made before `READY`, wait
//! unread across the moves. The module doc of `events` describes it.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{put, setup_failed, sys, take};
use std::ffi::CString;
use std::sync::Mutex;

/// One inotify event as read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: String,
}

struct State {
    /// Watches `dir`, read every round.
    fd: i32,
    wd: i32,
    dir: String,
    /// Holds the events made before `READY`.
    queued: i32,
    files: [String; 2],
    wds: [i32; 2],
    /// The rename cookie of the last round.
    cookie: u32,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

const DIR_MASK: u32 =
    libc::IN_CREATE | libc::IN_OPEN | libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_ATTRIB | libc::IN_MOVED_FROM | libc::IN_MOVED_TO | libc::IN_DELETE;
const FILE_MASK: u32 = libc::IN_ATTRIB | libc::IN_MODIFY | libc::IN_CLOSE_WRITE;
const HEAD: usize = std::mem::size_of::<libc::inotify_event>();

fn cpath(p: &str) -> CString {
    CString::new(p).unwrap_or_default()
}

/// Parses `n` bytes of events.
fn parse(buf: &[u8]) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if at + HEAD > buf.len() {
            return Err(format!("a partial event at byte {at} of {}", buf.len()));
        }
        let word = |o: usize| u32::from_ne_bytes([buf[at + o], buf[at + o + 1], buf[at + o + 2], buf[at + o + 3]]);
        let (wd, mask, cookie, len) = (word(0) as i32, word(4), word(8), word(12) as usize);
        let raw = buf.get(at + HEAD..at + HEAD + len).ok_or_else(|| format!("an event's name passes the end ({len} bytes at {at})"))?;
        let name = String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
        out.push(Event { wd, mask, cookie, name });
        at += HEAD + len;
    }
    Ok(out)
}

/// What `FIONREAD` says the instance holds, and all of it, in one read.
fn read_all(fd: i32) -> Result<(i32, Vec<Event>), String> {
    let mut avail: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    sys("ioctl(FIONREAD)", unsafe { libc::ioctl(fd, libc::FIONREAD, &mut avail) } as i64)?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: `buf` has its length of room.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 && super::errno() == libc::EAGAIN {
        return Ok((avail, Vec::new()));
    }
    let n = sys("inotify read", n as i64)? as usize;
    Ok((avail, parse(&buf[..n])?))
}

fn ev(wd: i32, mask: u32, cookie: u32, name: &str) -> Event {
    Event { wd, mask, cookie, name: name.to_string() }
}

fn chmod(path: &str, mode: libc::mode_t) -> Result<(), String> {
    // SAFETY: a valid path.
    sys("chmod", unsafe { libc::chmod(cpath(path).as_ptr(), mode) } as i64).map(drop)
}

/// Creates (or opens) `path`, writes `data`, closes it.
fn write_file(path: &str, flags: i32, data: &[u8]) -> Result<(), String> {
    // SAFETY: a valid path.
    let fd = sys("open", unsafe { libc::open(cpath(path).as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC | flags, 0o600) } as i64)? as i32;
    // SAFETY: `data` is valid for its length.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    if n != data.len() as isize {
        return Err(format!("write to {path} gave {n}"));
    }
    Ok(())
}

fn round(st: &mut State, r: u64) -> Result<(), String> {
    let (a, b) = (format!("f{r}"), format!("g{r}"));
    let (pa, pb) = (format!("{}/{a}", st.dir), format!("{}/{b}", st.dir));
    write_file(&pa, libc::O_CREAT | libc::O_EXCL, b"0123456789")?;
    chmod(&pa, 0o644)?;
    // SAFETY: valid paths.
    sys("rename", unsafe { libc::rename(cpath(&pa).as_ptr(), cpath(&pb).as_ptr()) } as i64)?;
    // SAFETY: a valid path.
    sys("unlink", unsafe { libc::unlink(cpath(&pb).as_ptr()) } as i64)?;
    let (avail, got) = read_all(st.fd)?;
    let cookie = got.iter().find(|e| e.mask == libc::IN_MOVED_FROM).map_or(0, |e| e.cookie);
    let wd = st.wd;
    let want = vec![
        ev(wd, libc::IN_CREATE, 0, &a),
        ev(wd, libc::IN_OPEN, 0, &a),
        ev(wd, libc::IN_MODIFY, 0, &a),
        ev(wd, libc::IN_CLOSE_WRITE, 0, &a),
        ev(wd, libc::IN_ATTRIB, 0, &a),
        ev(wd, libc::IN_MOVED_FROM, cookie, &a),
        ev(wd, libc::IN_MOVED_TO, cookie, &b),
        ev(wd, libc::IN_DELETE, 0, &b),
    ];
    if got != want || cookie == 0 || (r > 0 && cookie == st.cookie) {
        return Err(format!("round {r}: events {got:?}, expected {want:?} with a new nonzero cookie (last {})", st.cookie));
    }
    // Each name is padded to a multiple of 16 bytes (with its NUL).
    let bytes: usize = got.iter().map(|e| HEAD + (e.name.len() + 1).div_ceil(HEAD) * HEAD).sum();
    if avail as usize != bytes {
        return Err(format!("round {r}: FIONREAD said {avail} bytes, the events took {bytes}"));
    }
    st.cookie = cookie;
    Ok(())
}

fn add_watch(fd: i32, path: &str, mask: u32) -> Result<i32, String> {
    // SAFETY: a valid path.
    sys("inotify_add_watch", unsafe { libc::inotify_add_watch(fd, cpath(path).as_ptr(), mask) } as i64).map(|w| w as i32)
}

pub(super) fn inotify() -> Check {
    let pid = std::process::id();
    let dir = format!("/tmp/zdtm-inotify-{pid}");
    let files = [format!("/tmp/zdtm-inotify-{pid}.a"), format!("/tmp/zdtm-inotify-{pid}.b")];
    let setup = || -> Result<State, String> {
        std::fs::create_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
        let flags = libc::IN_NONBLOCK | libc::IN_CLOEXEC;
        // SAFETY: plain calls.
        let (fd, queued) = unsafe { (libc::inotify_init1(flags), libc::inotify_init1(flags)) };
        sys("inotify_init1", fd.min(queued) as i64).map_err(|e| super::config_hint(e, "CONFIG_INOTIFY_USER"))?;
        let wd = add_watch(fd, &dir, DIR_MASK)?;
        for f in &files {
            write_file(f, libc::O_CREAT | libc::O_TRUNC, b"before")?;
        }
        let wds = [add_watch(queued, &files[0], FILE_MASK)?, add_watch(queued, &files[1], FILE_MASK)?];
        chmod(&files[0], 0o640)?;
        write_file(&files[1], libc::O_APPEND, b" and after")?;
        chmod(&files[1], 0o604)?;
        Ok(State { fd, wd, dir: dir.clone(), queued, files: files.clone(), wds, cookie: 0, rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
            return setup_failed(e);
        }
    };
    let first = round(&mut st, 0);
    st.rounds.record(first);
    put(&STATE, st);
    Box::new(|| {
        let st = take(&STATE)?;
        let res = check(&st);
        let _ = std::fs::remove_dir_all(&st.dir);
        for f in &st.files {
            let _ = std::fs::remove_file(f);
        }
        res
    })
}

fn check(st: &State) -> Result<(), String> {
    st.rounds.verdict()?;
    let (avail, got) = read_all(st.queued)?;
    let [a, b] = st.wds;
    let want = vec![ev(a, libc::IN_ATTRIB, 0, ""), ev(b, libc::IN_MODIFY, 0, ""), ev(b, libc::IN_CLOSE_WRITE, 0, ""), ev(b, libc::IN_ATTRIB, 0, "")];
    if got != want || avail as usize != want.len() * HEAD {
        return Err(format!("events queued before READY: {got:?} ({avail} bytes by FIONREAD), expected {want:?}"));
    }
    if a == b {
        return Err(format!("watch descriptors {a} and {b} are not distinct"));
    }
    // SAFETY: a plain call on this process's instance.
    sys("inotify_rm_watch", unsafe { libc::inotify_rm_watch(st.fd, st.wd) } as i64)?;
    let (_, got) = read_all(st.fd)?;
    let want = vec![ev(st.wd, libc::IN_IGNORED, 0, "")];
    if got != want {
        return Err(format!("after inotify_rm_watch: {got:?}, expected {want:?}"));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let c = st.rounds.count;
        let r = round(st, c);
        st.rounds.record(r);
    });
}
