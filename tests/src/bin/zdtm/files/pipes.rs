//! Pipes and FIFOs, and the calls that move bytes between descriptors.
//!
//! `pipe`: before `READY`, a pipe is grown to 256 KiB (`F_SETPIPE_SZ`)
//! and 150000 distinct bytes are written into it, not read; a second
//! pipe, made with `pipe2(O_NONBLOCK)`, is shrunk to 8 KiB and left
//! empty. Every 100 ms while it waits, wherever it runs: a read of the
//! empty pipe fails with `EAGAIN`, and a message of 1 to 4000 bytes
//! written into a third pipe is counted by `FIONREAD` and read back. At
//! the check: both pipes keep their sizes (`F_GETPIPE_SZ`), the first
//! still holds exactly the 150000 bytes (`FIONREAD`, then the bytes
//! themselves, then `EAGAIN`, and end of file once its write end is
//! closed), both are still the same pipes (`fstat`: FIFO, same inode),
//! the second still reads `EAGAIN` and keeps `O_NONBLOCK`, and a
//! non-blocking write of 10000 bytes into it takes exactly 8192.
//!
//! `fifo`: a FIFO made with `mkfifo` in /tmp and opened three times
//! (`O_RDWR`, `O_RDONLY|O_NONBLOCK`, `O_WRONLY|O_NONBLOCK`) with 3000
//! bytes written into it before `READY`; a second FIFO opened `O_RDWR`.
//! Every 100 ms while it waits, a message written into the second FIFO is
//! counted by `FIONREAD` and read back. At the check all three
//! descriptors are FIFOs with the path's inode, the first FIFO holds
//! exactly its 3000 bytes (read through the `O_RDWR` descriptor; then the
//! non-blocking reader gets `EAGAIN`), and a message written through the
//! writer comes out of the reader.
//!
//! `splice`: every 100 ms while it waits, wherever it runs, on a 64 KiB
//! source file, a destination file and two pipes made at home:
//! `copy_file_range` of 4096 bytes between given offsets (both offsets
//! move by 4096, the files' positions do not), `sendfile` of 1000 bytes
//! from a given offset into a pipe, `tee` of them into the second pipe,
//! `splice` of them from the first pipe into the destination at a given
//! offset, a read of the copy from the second pipe, and `sendfile` of 100
//! bytes from the source's own position (which moves by 100); every
//! byte is checked where it lands, and both pipes end each round empty.
//! At the check the positions are where the rounds left them.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{bytes, close, cstr, diff, errno, fl_flags, fstat, guard, open, os_err, pos, pread, read_exact, read_once, seek, stat, tmp, unlink, write_all};
use std::sync::Mutex;

fn pipe2(flags: i32) -> Result<[i32; 2], String> {
    let mut p = [0i32; 2];
    // SAFETY: room for two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), flags) } != 0 {
        return Err(os_err("pipe2"));
    }
    Ok(p)
}

/// `F_SETPIPE_SZ` (`size > 0`) or `F_GETPIPE_SZ`.
fn pipe_size(fd: i32, size: i32) -> i32 {
    // SAFETY: plain fcntl.
    unsafe {
        if size > 0 {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, size)
        } else {
            libc::fcntl(fd, libc::F_GETPIPE_SZ)
        }
    }
}

/// Bytes queued in `fd` (`FIONREAD`), or -1.
fn queued(fd: i32) -> i32 {
    let mut n: libc::c_int = -1;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } != 0 {
        return -1;
    }
    n
}

fn set_nonblock(fd: i32) -> Result<(), String> {
    // SAFETY: plain fcntl.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, fl_flags(fd) | libc::O_NONBLOCK) } != 0 {
        return Err(os_err("F_SETFL O_NONBLOCK"));
    }
    Ok(())
}

/// A message of round `r` through `w` and back out of `rd`, counted by
/// `FIONREAD` on `rd` first.
fn message(w: i32, rd: i32, seed: u64, r: u64) -> Result<(), String> {
    let len = 1 + (r as usize * 613) % 4000;
    let msg = bytes(seed, r << 16, len);
    write_all(w, &msg)?;
    let q = queued(rd);
    let back = read_exact(rd, len)?;
    if q != len as i32 || back != msg {
        return Err(format!("round {r}: message of {len} bytes: FIONREAD {q}, read back {}", diff(&back, &msg)));
    }
    Ok(())
}

struct Pipe {
    full: [i32; 2],
    full_size: i32,
    full_ino: u64,
    empty: [i32; 2],
    ticks: [i32; 2],
    rounds: Rounds,
}

static PIPE: Mutex<Option<Pipe>> = Mutex::new(None);
const FULL: usize = 150_000;
const SMALL: i32 = 8192;

pub(super) fn pipe() -> Check {
    guard(|| {
        let full = pipe2(libc::O_CLOEXEC)?;
        if pipe_size(full[1], 256 * 1024) < 256 * 1024 {
            return Err(os_err("F_SETPIPE_SZ 256 KiB"));
        }
        set_nonblock(full[1])?;
        write_all(full[1], &bytes(41, 0, FULL))?;
        let empty = pipe2(libc::O_NONBLOCK | libc::O_CLOEXEC)?;
        if pipe_size(empty[0], SMALL) != SMALL {
            return Err(os_err("F_SETPIPE_SZ 8 KiB"));
        }
        let ticks = pipe2(libc::O_CLOEXEC)?;
        let mut st = Pipe { full, full_size: pipe_size(full[0], 0), full_ino: fstat(full[0])?.st_ino, empty, ticks, rounds: Rounds::default() };
        let first = pipe_round(&st);
        st.rounds.record(first);
        *PIPE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = PIPE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = pipe_check(&st);
            for fd in st.full.iter().chain(&st.empty).chain(&st.ticks) {
                close(*fd);
            }
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

fn pipe_round(st: &Pipe) -> Result<(), String> {
    let r = st.rounds.count;
    let (n, e, _) = read_once(st.empty[0], 16);
    if n != -1 || e != libc::EAGAIN {
        return Err(format!("round {r}: read of the empty O_NONBLOCK pipe gave {n} (errno {e})"));
    }
    message(st.ticks[1], st.ticks[0], 42, r)
}

fn pipe_check(st: &Pipe) -> Result<(), String> {
    let (size, small) = (pipe_size(st.full[0], 0), pipe_size(st.empty[1], 0));
    if size != st.full_size || small != SMALL {
        return Err(format!("F_GETPIPE_SZ {size} and {small}, set {} and {SMALL}", st.full_size));
    }
    for fd in st.full {
        let f = fstat(fd)?;
        if f.st_mode & libc::S_IFMT != libc::S_IFIFO || f.st_ino != st.full_ino {
            return Err(format!("pipe end {fd}: mode {:#o} inode {}, was a FIFO with inode {}", f.st_mode, f.st_ino, st.full_ino));
        }
    }
    let q = queued(st.full[0]);
    if q != FULL as i32 {
        return Err(format!("the full pipe holds {q} bytes (FIONREAD), {FULL} were written"));
    }
    let got = read_exact(st.full[0], FULL)?;
    let want = bytes(41, 0, FULL);
    if got != want {
        return Err(format!("the full pipe: {}", diff(&got, &want)));
    }
    set_nonblock(st.full[0])?;
    let (n, e, _) = read_once(st.full[0], 16);
    close(st.full[1]);
    let (m, e2, _) = read_once(st.full[0], 16);
    if n != -1 || e != libc::EAGAIN || m != 0 {
        return Err(format!("after its bytes the pipe read {n} (errno {e}), expected EAGAIN; after closing the write end {m} (errno {e2})"));
    }
    let (n, e, _) = read_once(st.empty[0], 16);
    let nonblock = fl_flags(st.empty[0]) & libc::O_NONBLOCK != 0;
    if n != -1 || e != libc::EAGAIN || !nonblock {
        return Err(format!("the empty pipe read {n} (errno {e}); O_NONBLOCK: {nonblock}"));
    }
    let big = bytes(43, 0, 10000);
    // SAFETY: `big` is a valid buffer.
    let (w1, w2) = unsafe { (libc::write(st.empty[1], big.as_ptr().cast(), big.len()), libc::write(st.empty[1], big.as_ptr().cast(), big.len())) };
    if w1 != SMALL as isize || w2 != -1 || errno() != libc::EAGAIN {
        return Err(format!("writes of 10000 bytes into the {SMALL}-byte pipe took {w1}, then {w2} (errno {})", errno()));
    }
    Ok(())
}

pub(super) fn pipe_tick(n: u64) {
    every_100ms(n, &PIPE, |st| {
        let r = pipe_round(st);
        st.rounds.record(r);
    });
}

struct Fifo {
    path: String,
    ticks_path: String,
    /// O_RDWR, O_RDONLY|O_NONBLOCK, O_WRONLY|O_NONBLOCK.
    fds: [i32; 3],
    ticks: i32,
    rounds: Rounds,
}

static FIFO: Mutex<Option<Fifo>> = Mutex::new(None);
const IN_FIFO: usize = 3000;

fn mkfifo(path: &str) -> Result<(), String> {
    let p = cstr(path);
    // SAFETY: a valid path.
    if unsafe { libc::mkfifo(p.as_ptr(), 0o600) } != 0 {
        return Err(os_err(&format!("mkfifo {path}")));
    }
    Ok(())
}

pub(super) fn fifo() -> Check {
    guard(|| {
        let path = tmp("fifo");
        let ticks_path = format!("{path}.ticks");
        mkfifo(&path)?;
        mkfifo(&ticks_path)?;
        let rdwr = open(&path, libc::O_RDWR | libc::O_CLOEXEC, 0)?;
        let reader = open(&path, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC, 0)?;
        let writer = open(&path, libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC, 0)?;
        write_all(writer, &bytes(44, 0, IN_FIFO))?;
        let ticks = open(&ticks_path, libc::O_RDWR | libc::O_CLOEXEC, 0)?;
        let mut st = Fifo { path, ticks_path, fds: [rdwr, reader, writer], ticks, rounds: Rounds::default() };
        let first = message(st.ticks, st.ticks, 45, 0);
        st.rounds.record(first);
        *FIFO.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = FIFO.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = fifo_check(&st);
            for fd in st.fds.iter().chain([&st.ticks]) {
                close(*fd);
            }
            unlink(&st.path);
            unlink(&st.ticks_path);
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

fn fifo_check(st: &Fifo) -> Result<(), String> {
    let ino = stat(&st.path).map_err(|e| format!("stat {}: errno {e}", st.path))?.st_ino;
    for fd in st.fds {
        let f = fstat(fd)?;
        if f.st_mode & libc::S_IFMT != libc::S_IFIFO || f.st_ino != ino {
            return Err(format!("descriptor {fd}: mode {:#o} inode {}, expected the FIFO {} (inode {ino})", f.st_mode, f.st_ino, st.path));
        }
    }
    let q = queued(st.fds[1]);
    let got = read_exact(st.fds[0], IN_FIFO)?;
    let want = bytes(44, 0, IN_FIFO);
    if q != IN_FIFO as i32 || got != want {
        return Err(format!("the FIFO: FIONREAD {q}, read {}", diff(&got, &want)));
    }
    let (n, e, _) = read_once(st.fds[1], 16);
    if n != -1 || e != libc::EAGAIN {
        return Err(format!("the emptied FIFO read {n} (errno {e}), expected EAGAIN"));
    }
    write_all(st.fds[2], b"after the moves")?;
    let back = read_exact(st.fds[1], 15)?;
    if back != b"after the moves" {
        return Err(format!("writer to reader: {:?}", String::from_utf8_lossy(&back)));
    }
    Ok(())
}

pub(super) fn fifo_tick(n: u64) {
    every_100ms(n, &FIFO, |st| {
        let r = message(st.ticks, st.ticks, 45, st.rounds.count);
        st.rounds.record(r);
    });
}

struct Splice {
    paths: [String; 2],
    src: i32,
    /// The source again, for `sendfile` from its own position.
    walk: i32,
    walk_pos: i64,
    dst: i32,
    a: [i32; 2],
    b: [i32; 2],
    rounds: Rounds,
}

static SPLICE: Mutex<Option<Splice>> = Mutex::new(None);
const SRC: usize = 64 * 1024;
const SEED: u64 = 51;

pub(super) fn splice() -> Check {
    guard(|| {
        let base = tmp("splice");
        let paths = [format!("{base}.src"), format!("{base}.dst")];
        std::fs::write(&paths[0], bytes(SEED, 0, SRC)).map_err(|e| format!("{}: {e}", paths[0]))?;
        let src = open(&paths[0], libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
        let walk = open(&paths[0], libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
        let dst = open(&paths[1], libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC, 0o600)?;
        let (a, b) = (pipe2(libc::O_CLOEXEC)?, pipe2(libc::O_CLOEXEC)?);
        let mut st = Splice { paths, src, walk, walk_pos: 0, dst, a, b, rounds: Rounds::default() };
        let first = splice_round(&mut st);
        st.rounds.record(first);
        *SPLICE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = SPLICE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let (s, w, d) = (pos(st.src), pos(st.walk), pos(st.dst));
            for fd in [st.src, st.walk, st.dst].iter().chain(&st.a).chain(&st.b) {
                close(*fd);
            }
            for p in &st.paths {
                unlink(p);
            }
            st.rounds.verdict()?;
            if s != 0 || d != 0 || w != st.walk_pos {
                return Err(format!("positions: source {s}, destination {d} (both expected 0), walking source {w} (expected {})", st.walk_pos));
            }
            Ok(())
        }) as Check)
    })
}

fn splice_round(st: &mut Splice) -> Result<(), String> {
    let r = st.rounds.count;
    let slot = (r % 16) as i64;
    // copy_file_range between given offsets.
    let (from, to) = (((r * 997) % (SRC as u64 - 4096)) as i64, slot * 4096);
    let (mut off_in, mut off_out) = (from, to);
    // SAFETY: valid descriptors and offset words.
    let n = unsafe { libc::copy_file_range(st.src, &mut off_in, st.dst, &mut off_out, 4096, 0) };
    if n != 4096 || off_in != from + 4096 || off_out != to + 4096 {
        return Err(os_err(&format!("round {r}: copy_file_range {from} -> {to} gave {n}, offsets now {off_in} and {off_out}")));
    }
    let want = bytes(SEED, from as u64, 4096);
    let got = pread(st.dst, to, 4096)?;
    if got != want {
        return Err(format!("round {r}: copy_file_range {from} -> {to}: {}", diff(&got, &want)));
    }
    // sendfile from an offset into a pipe, tee into the other, splice out.
    let from = ((r * 1231) % (SRC as u64 - 1000)) as i64;
    let mut off = from;
    // SAFETY: valid descriptors and offset word.
    let n = unsafe { libc::sendfile(st.a[1], st.src, &mut off, 1000) };
    if n != 1000 || off != from + 1000 {
        return Err(os_err(&format!("round {r}: sendfile of 1000 at {from} gave {n}, offset now {off}")));
    }
    // SAFETY: two pipes.
    let t = unsafe { libc::tee(st.a[0], st.b[1], 1000, 0) };
    if t != 1000 {
        return Err(os_err(&format!("round {r}: tee gave {t}")));
    }
    let to = 65536 + slot * 1000;
    let mut off_out = to;
    // SAFETY: a pipe, a file and its offset word.
    let s = unsafe { libc::splice(st.a[0], std::ptr::null_mut(), st.dst, &mut off_out, 1000, 0) };
    if s != 1000 || off_out != to + 1000 {
        return Err(os_err(&format!("round {r}: splice into the file at {to} gave {s}, offset now {off_out}")));
    }
    let want = bytes(SEED, from as u64, 1000);
    let got = pread(st.dst, to, 1000)?;
    let copy = read_exact(st.b[0], 1000)?;
    if got != want || copy != want {
        return Err(format!("round {r}: 1000 bytes from {from}: spliced into the file at {to}: {}; teed: {}", diff(&got, &want), diff(&copy, &want)));
    }
    // sendfile from the source's own position.
    if st.walk_pos + 100 > SRC as i64 {
        st.walk_pos = seek(st.walk, 0, libc::SEEK_SET)?;
    }
    // SAFETY: valid descriptors; no offset word.
    let n = unsafe { libc::sendfile(st.a[1], st.walk, std::ptr::null_mut(), 100) };
    let got = read_exact(st.a[0], 100.min(n.max(0) as usize))?;
    let want = bytes(SEED, st.walk_pos as u64, 100);
    st.walk_pos += 100;
    let at = pos(st.walk);
    if n != 100 || got != want || at != st.walk_pos {
        return Err(format!("round {r}: sendfile of 100 from the position gave {n}: {}; position now {at}, expected {}", diff(&got, &want), st.walk_pos));
    }
    let (qa, qb) = (queued(st.a[0]), queued(st.b[0]));
    if qa != 0 || qb != 0 {
        return Err(format!("round {r}: the pipes hold {qa} and {qb} bytes at the end of the round"));
    }
    Ok(())
}

pub(super) fn splice_tick(n: u64) {
    every_100ms(n, &SPLICE, |st| {
        let r = splice_round(st);
        st.rounds.record(r);
    });
}
