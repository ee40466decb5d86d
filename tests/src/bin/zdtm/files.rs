//! zdtm tests of descriptors: what a process's file table holds (open
//! files and their positions and flags, unlinked files, duplicates,
//! pipes, FIFOs, unix and TCP sockets, file locks) is still there, and
//! still works, after the process has moved away from home and back; most
//! of them also use their descriptors every 100 ms while they wait,
//! wherever the process runs. Each submodule's documentation says exactly
//! what its tests set up and check:
//!
//! * `offsets`, `append` ([`offsets`]): file positions and open flags;
//!   `O_APPEND` writes after `lseek(0)` and `pwrite` at 0.
//! * `unlinked` ([`unlinked`]): a file unlinked while open, an
//!   `O_TMPFILE` file and a removed directory.
//! * `dup` ([`dup`]): `dup`, `dup2`, `dup3`, `F_DUPFD_CLOEXEC`: shared
//!   positions and status flags, separate descriptor flags.
//! * `pipe`, `fifo`, `splice` ([`pipes`]): data queued in pipes and
//!   FIFOs, pipe sizes, `O_NONBLOCK`; `sendfile`, `splice`, `tee`,
//!   `copy_file_range`.
//! * `unix`, `tcp_home` ([`peer`]): unix socket pairs with queued data
//!   and message boundaries; a named unix socket and a TCP connection to
//!   an echo server in a child at home.
//! * `locks` ([`locks`]): `flock`, POSIX and OFD record locks, seen from
//!   another descriptor and another process.
//! * `fd_table` ([`table`]): 50-odd descriptors of many kinds with holes
//!   in the numbering: the same numbers, each the same object, and new
//!   descriptors take the lowest free number.

mod dup;
mod locks;
mod offsets;
mod peer;
mod pipes;
mod table;
mod unlinked;

use super::{Check, Group};
use std::ffi::CString;

pub(crate) const GROUP: Group = Group {
    tests: &[
        ("offsets", offsets::offsets),
        ("append", offsets::append),
        ("unlinked", unlinked::unlinked),
        ("dup", dup::dup),
        ("pipe", pipes::pipe),
        ("fifo", pipes::fifo),
        ("splice", pipes::splice),
        ("unix", peer::unix),
        ("tcp_home", peer::tcp_home),
        ("locks", locks::locks),
        ("fd_table", table::fd_table),
    ],
    busy: &[],
    ticks: &[
        ("offsets", offsets::offsets_tick),
        ("append", offsets::append_tick),
        ("unlinked", unlinked::tick),
        ("dup", dup::tick),
        ("pipe", pipes::pipe_tick),
        ("fifo", pipes::fifo_tick),
        ("splice", pipes::splice_tick),
        ("unix", peer::unix_tick),
        ("tcp_home", peer::tcp_tick),
        ("locks", locks::tick),
        ("fd_table", table::tick),
    ],
    known: &[],
    stays: &[],
};

/// Runs a test's setup; if it fails, the test's check says so (a setup
/// that cannot be made is a failure, not a skip).
fn guard(setup: impl FnOnce() -> Result<Check, String>) -> Check {
    match setup() {
        Ok(c) => c,
        Err(e) => Box::new(move || Err(format!("setup at home: {e}"))),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `what` and the current errno, for a failed call.
fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// A path under /tmp for test `tag` of this process.
fn tmp(tag: &str) -> String {
    format!("/tmp/zdtm-{tag}-{}", std::process::id())
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

fn open(path: &str, flags: i32, mode: libc::mode_t) -> Result<i32, String> {
    let p = cstr(path);
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(p.as_ptr(), flags, mode) };
    if fd < 0 {
        return Err(os_err(&format!("open {path} (flags {flags:#o})")));
    }
    Ok(fd)
}

fn close(fd: i32) {
    // SAFETY: closing a descriptor this test opened.
    unsafe { libc::close(fd) };
}

fn unlink(path: &str) {
    let p = cstr(path);
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::unlink(p.as_ptr()) };
}

/// The file position of `fd` (`lseek(fd, 0, SEEK_CUR)`), or -1 and errno.
fn pos(fd: i32) -> i64 {
    // SAFETY: plain lseek.
    unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) }
}

fn seek(fd: i32, off: i64, whence: i32) -> Result<i64, String> {
    // SAFETY: plain lseek.
    let r = unsafe { libc::lseek(fd, off, whence) };
    if r < 0 {
        return Err(os_err(&format!("lseek({fd}, {off}, {whence})")));
    }
    Ok(r)
}

fn fstat(fd: i32) -> Result<libc::stat, String> {
    // SAFETY: a zeroed stat is valid to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(os_err(&format!("fstat({fd})")));
    }
    Ok(st)
}

fn stat(path: &str) -> Result<libc::stat, i32> {
    let p = cstr(path);
    // SAFETY: a zeroed stat is valid to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and stat buffer.
    if unsafe { libc::stat(p.as_ptr(), &mut st) } != 0 {
        return Err(errno());
    }
    Ok(st)
}

/// The `key:` line of `/proc/self/fdinfo/FD`.
fn fdinfo(fd: i32, key: &str) -> Result<String, String> {
    let path = format!("/proc/self/fdinfo/{fd}");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_string()))
        .ok_or_else(|| format!("{path} has no {key}: line: {text:?}"))
}

/// What `/proc/self/fd/FD` links to.
fn fd_link(fd: i32) -> Result<String, String> {
    let path = format!("/proc/self/fd/{fd}");
    std::fs::read_link(&path).map(|p| p.to_string_lossy().into_owned()).map_err(|e| format!("readlink {path}: {e}"))
}

/// `F_GETFD` (descriptor flags) of `fd`, or -1.
fn fd_flags(fd: i32) -> i32 {
    // SAFETY: plain fcntl.
    unsafe { libc::fcntl(fd, libc::F_GETFD) }
}

/// `F_GETFL` (status flags) of `fd`, or -1.
fn fl_flags(fd: i32) -> i32 {
    // SAFETY: plain fcntl.
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

fn write_all(fd: i32, mut data: &[u8]) -> Result<(), String> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return Err(os_err(&format!("write of {} bytes to {fd}", data.len())));
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// One `read` of up to `len` bytes: its result and errno, and the bytes.
fn read_once(fd: i32, len: usize) -> (isize, i32, Vec<u8>) {
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has `len` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) };
    let e = errno();
    buf.truncate(n.max(0) as usize);
    (n, e, buf)
}

fn pread(fd: i32, off: i64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has `len` bytes.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, off) };
    if n < 0 {
        return Err(os_err(&format!("pread({fd}, {len} at {off})")));
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Exactly `len` bytes from `fd`, waiting (`poll`) at most 10 s for each
/// part; an error if the peer ends first or nothing comes.
fn read_exact(fd: i32, len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        if r != 1 {
            return Err(format!("read of {len} bytes from {fd}: nothing for 10 s after {} bytes (poll gave {r})", out.len()));
        }
        let (n, e, b) = read_once(fd, len - out.len());
        if n < 0 && e == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return Err(format!("read of {len} bytes from {fd}: got {n} (errno {e}) after {} bytes", out.len()));
        }
        out.extend_from_slice(&b);
    }
    Ok(out)
}

/// The bytes of stream `seed` from offset `off`: each byte depends on the
/// stream and its offset, so a shifted or mixed-up read shows.
fn bytes(seed: u64, off: u64, len: usize) -> Vec<u8> {
    (off..off + len as u64)
        .map(|o| {
            let x = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ o).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            (x >> 29) as u8
        })
        .collect()
}

/// Where two byte strings first differ, for a failure message.
fn diff(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!("{} bytes (expected {}), first difference at {i}: {:#04x} instead of {:#04x}", got.len(), want.len(), got[i], want[i]),
        None => format!("{} bytes, expected {}", got.len(), want.len()),
    }
}

/// Forks a child that runs `body` and exits with what it returns. The
/// child stays at home; it uses raw system calls only.
fn fork_child(body: impl FnOnce() -> i32) -> Result<libc::pid_t, String> {
    // SAFETY: the process is single-threaded; the child only makes system
    // calls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_err("fork"));
    }
    if pid == 0 {
        let code = body();
        // SAFETY: ends the child without running the parent's exit paths.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Waits up to 10 s for child `pid`; its exit code, or why not (a child
/// that has not ended by then is killed and reaped).
fn reap(pid: libc::pid_t) -> Result<i32, String> {
    for _ in 0..1000 {
        let mut status = 0;
        // SAFETY: a valid status word.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return Ok(libc::WEXITSTATUS(status));
            }
            return Err(format!("child {pid} ended with status {status:#x}"));
        }
        if r < 0 {
            return Err(os_err(&format!("waitpid({pid})")));
        }
        super::sleep_ms(10);
    }
    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    Err(format!("child {pid} did not end within 10 s (killed)"))
}
