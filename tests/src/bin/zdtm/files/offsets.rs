//! File positions and open flags.
//!
//! `offsets`: a 256 KiB file of distinct bytes opened seven times before
//! `READY`, each descriptor with its own flags and its own position:
//! `O_RDONLY` at 4097, `O_RDWR` at 123457, `O_WRONLY|O_DSYNC` at 65539,
//! `O_RDONLY|O_NOATIME` at 1000 before the end (`SEEK_END`), `O_RDWR` at
//! 2^33 (past the end), `O_PATH` (no position: `lseek` fails with
//! `EBADF`), and a `O_RDONLY|O_CLOEXEC` "walker" at 777. Every 100 ms
//! while it waits, wherever it runs, the walker reads 7 bytes, which must
//! be the file's bytes at its position, and moves on by exactly 7; and a
//! `pread` of 5 bytes on the `O_RDONLY` descriptor at a new offset gets
//! the file's bytes without moving its position. At the check each
//! descriptor's `lseek(fd, 0, SEEK_CUR)` and its `/proc/self/fdinfo`
//! `pos:`, `flags:`, `mnt_id:` and `ino:` are what they were at home (the
//! walker's position where its reads took it), `fstat` names the file,
//! reads of 32 bytes continue at the right place with the right bytes
//! and move the position by 32, the descriptor past the end reads 0
//! bytes and stays there, and 8 bytes written through the write-only one
//! land at its position (read back with `pread`) and move it by 8.
//!
//! `append`: a file with a 64-byte header opened `O_WRONLY|O_APPEND`
//! (and `O_RDONLY` to read it back). Every 100 ms while it waits, a
//! 32-byte numbered record is written: in even rounds after
//! `lseek(fd, 0, SEEK_SET)` with `write`, in odd rounds with
//! `pwrite(fd, .., 0)`; both must append (Linux's `pwrite` ignores the
//! offset of an `O_APPEND` descriptor), the file's size grows by exactly
//! 32 each time, `write` leaves the position at the new end and `pwrite`
//! leaves it where it was. At the check the file is the header and every
//! record in order, nothing overwritten, and `fdinfo` still shows
//! `O_APPEND`.

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{bytes, close, diff, errno, fdinfo, fstat, guard, open, os_err, pos, pread, read_once, seek, tmp, unlink, write_all};
use std::sync::Mutex;

const SIZE: u64 = 256 * 1024;
const SEED: u64 = 11;

/// One descriptor of `offsets` and what it showed at home.
struct Desc {
    name: &'static str,
    fd: i32,
    pos: i64,
    /// `pos:`, `flags:`, `mnt_id:`, `ino:` of its fdinfo.
    info: [String; 4],
}

struct Offsets {
    path: String,
    descs: Vec<Desc>,
    /// The walker's descriptor and where its reads should have left it.
    walker: i32,
    walk_pos: i64,
    rounds: Rounds,
}

static OFFSETS: Mutex<Option<Offsets>> = Mutex::new(None);

fn info_of(fd: i32) -> Result<[String; 4], String> {
    Ok([fdinfo(fd, "pos")?, fdinfo(fd, "flags")?, fdinfo(fd, "mnt_id")?, fdinfo(fd, "ino")?])
}

/// The descriptors of `offsets`: name, flags, and where to put each.
const DESCS: [(&str, i32, i64, i32); 6] = [
    ("O_RDONLY", libc::O_RDONLY, 4097, libc::SEEK_SET),
    ("O_RDWR", libc::O_RDWR, 123_457, libc::SEEK_SET),
    ("O_WRONLY|O_DSYNC", libc::O_WRONLY | libc::O_DSYNC, 65_539, libc::SEEK_SET),
    ("O_RDONLY|O_NOATIME", libc::O_RDONLY | libc::O_NOATIME, -1000, libc::SEEK_END),
    ("O_RDWR past the end", libc::O_RDWR, 1 << 33, libc::SEEK_SET),
    ("O_PATH", libc::O_PATH, 0, -1),
];
const WALK_START: i64 = 777;
const WALK_STEP: usize = 7;

pub(super) fn offsets() -> Check {
    guard(|| {
        let path = tmp("offsets");
        std::fs::write(&path, bytes(SEED, 0, SIZE as usize)).map_err(|e| format!("{path}: {e}"))?;
        let mut descs = Vec::new();
        for (name, flags, off, whence) in DESCS {
            let fd = open(&path, flags, 0)?;
            let p = if whence >= 0 {
                seek(fd, off, whence)?
            } else {
                let (p, e) = (pos(fd), errno());
                if p != -1 || e != libc::EBADF {
                    return Err(format!("lseek on {name} gave {p} (errno {e}), expected EBADF"));
                }
                p
            };
            descs.push(Desc { name, fd, pos: p, info: info_of(fd)? });
        }
        let walker = open(&path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
        seek(walker, WALK_START, libc::SEEK_SET)?;
        let mut st = Offsets { path, descs, walker, walk_pos: WALK_START, rounds: Rounds::default() };
        let first = offsets_round(&mut st);
        st.rounds.record(first);
        *OFFSETS.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = OFFSETS.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = offsets_check(&st);
            for d in &st.descs {
                close(d.fd);
            }
            close(st.walker);
            unlink(&st.path);
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

/// One round: the walker reads on; a `pread` leaves a position alone.
fn offsets_round(st: &mut Offsets) -> Result<(), String> {
    let r = st.rounds.count;
    let at = pos(st.walker);
    if at != st.walk_pos {
        return Err(format!("round {r}: walker at {at}, expected {}", st.walk_pos));
    }
    let (n, e, got) = read_once(st.walker, WALK_STEP);
    let want = bytes(SEED, at as u64, WALK_STEP);
    if n != WALK_STEP as isize || got != want {
        return Err(format!("round {r}: walker read at {at} gave {n} (errno {e}): {}", diff(&got, &want)));
    }
    st.walk_pos += WALK_STEP as i64;
    let after = pos(st.walker);
    if after != st.walk_pos {
        return Err(format!("round {r}: walker at {after} after reading {WALK_STEP} bytes at {at}"));
    }
    let d = &st.descs[0];
    let off = ((r * 4099) % (SIZE - 5)) as i64;
    let got = pread(d.fd, off, 5)?;
    let want = bytes(SEED, off as u64, 5);
    if got != want || pos(d.fd) != d.pos {
        return Err(format!("round {r}: pread of 5 at {off} on {}: {}, position {} (expected {})", d.name, diff(&got, &want), pos(d.fd), d.pos));
    }
    Ok(())
}

fn offsets_check(st: &Offsets) -> Result<(), String> {
    let ino = super::stat(&st.path).map_err(|e| format!("stat {}: errno {e}", st.path))?.st_ino;
    for d in &st.descs {
        let (now, e) = (pos(d.fd), errno());
        if now != d.pos {
            return Err(format!("{}: position {now}{}, was {}", d.name, if now < 0 { format!(" (errno {e})") } else { String::new() }, d.pos));
        }
        let info = info_of(d.fd)?;
        if info != d.info {
            return Err(format!("{}: fdinfo pos/flags/mnt_id/ino {info:?}, was {:?}", d.name, d.info));
        }
        let f = fstat(d.fd)?;
        if f.st_ino != ino || f.st_size as u64 != SIZE {
            return Err(format!("{}: fstat gives inode {} size {}, the file is {ino} of {SIZE}", d.name, f.st_ino, f.st_size));
        }
    }
    // The walker's fdinfo agrees with its position.
    let wp = fdinfo(st.walker, "pos")?;
    if wp != st.walk_pos.to_string() {
        return Err(format!("walker: fdinfo pos {wp}, expected {}", st.walk_pos));
    }
    // Reads go on where each descriptor was.
    for i in [0, 1, 3] {
        let d = &st.descs[i];
        let (n, e, got) = read_once(d.fd, 32);
        let want = bytes(SEED, d.pos as u64, 32);
        if n != 32 || got != want || pos(d.fd) != d.pos + 32 {
            return Err(format!("{}: read of 32 at {} gave {n} (errno {e}): {}; position now {}", d.name, d.pos, diff(&got, &want), pos(d.fd)));
        }
    }
    let d = &st.descs[4];
    let (n, e, _) = read_once(d.fd, 32);
    if n != 0 || pos(d.fd) != d.pos {
        return Err(format!("{}: read past the end gave {n} (errno {e}), position {}", d.name, pos(d.fd)));
    }
    // A write lands where the write-only descriptor was.
    let d = &st.descs[2];
    let mark = *b"WRITTEN!";
    write_all(d.fd, &mark)?;
    let back = pread(st.descs[1].fd, d.pos, 8)?;
    if back != mark || pos(d.fd) != d.pos + 8 {
        return Err(format!("{}: 8 bytes written at {}: read back {back:?}, position now {}", d.name, d.pos, pos(d.fd)));
    }
    Ok(())
}

pub(super) fn offsets_tick(n: u64) {
    every_100ms(n, &OFFSETS, |st| {
        let r = offsets_round(st);
        st.rounds.record(r);
    });
}

struct Append {
    path: String,
    fd: i32,
    reader: i32,
    /// Where the last `write` left the position.
    pos: i64,
    flags: String,
    rounds: Rounds,
}

static APPEND: Mutex<Option<Append>> = Mutex::new(None);
const HEADER: usize = 64;
const RECORD: usize = 32;

fn header() -> Vec<u8> {
    let mut h = format!("zdtm append, pid {}", std::process::id()).into_bytes();
    h.resize(HEADER - 1, b'.');
    h.push(b'\n');
    h
}

fn record(r: u64) -> Vec<u8> {
    let mut rec = format!("record {r:08} {}", if r.is_multiple_of(2) { "write " } else { "pwrite" }).into_bytes();
    rec.resize(RECORD - 1, b' ');
    rec.push(b'\n');
    rec
}

pub(super) fn append() -> Check {
    guard(|| {
        let path = tmp("append");
        std::fs::write(&path, header()).map_err(|e| format!("{path}: {e}"))?;
        let fd = open(&path, libc::O_WRONLY | libc::O_APPEND, 0)?;
        let reader = open(&path, libc::O_RDONLY, 0)?;
        let flags = super::fdinfo(fd, "flags")?;
        let mut st = Append { path, fd, reader, pos: 0, flags, rounds: Rounds::default() };
        let first = append_round(&mut st);
        st.rounds.record(first);
        *APPEND.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = APPEND.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = append_check(&st);
            close(st.fd);
            close(st.reader);
            unlink(&st.path);
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

fn append_round(st: &mut Append) -> Result<(), String> {
    let r = st.rounds.count;
    let rec = record(r);
    let size = |fd| fstat(fd).map(|s| s.st_size);
    let before = size(st.fd)?;
    let want_size = (HEADER + RECORD * r as usize) as i64;
    if before != want_size {
        return Err(format!("round {r}: file holds {before} bytes before the write, expected {want_size}"));
    }
    if r.is_multiple_of(2) {
        seek(st.fd, 0, libc::SEEK_SET)?;
        write_all(st.fd, &rec)?;
        st.pos = before + RECORD as i64;
    } else {
        // SAFETY: `rec` is a valid buffer.
        let n = unsafe { libc::pwrite(st.fd, rec.as_ptr().cast(), RECORD, 0) };
        if n != RECORD as isize {
            return Err(os_err(&format!("round {r}: pwrite gave {n}")));
        }
    }
    let (after, p) = (size(st.fd)?, pos(st.fd));
    let back = pread(st.reader, before, RECORD)?;
    if after != before + RECORD as i64 || p != st.pos || back != rec {
        return Err(format!(
            "round {r}: after the {}: size {after} (expected {}), position {p} (expected {}), record at {before}: {:?}",
            if r.is_multiple_of(2) { "write" } else { "pwrite" },
            before + RECORD as i64,
            st.pos,
            String::from_utf8_lossy(&back)
        ));
    }
    Ok(())
}

fn append_check(st: &Append) -> Result<(), String> {
    let mut want = header();
    for r in 0..st.rounds.count {
        want.extend_from_slice(&record(r));
    }
    let got = pread(st.reader, 0, want.len() + 4096)?;
    if got != want {
        return Err(format!("file content: {}", diff(&got, &want)));
    }
    let flags = fdinfo(st.fd, "flags")?;
    let bits = u32::from_str_radix(&flags, 8).unwrap_or(0);
    if flags != st.flags || bits & libc::O_APPEND as u32 == 0 {
        return Err(format!("fdinfo flags {flags}, were {} (O_APPEND must be set)", st.flags));
    }
    Ok(())
}

pub(super) fn append_tick(n: u64) {
    every_100ms(n, &APPEND, |st| {
        let r = append_round(st);
        st.rounds.record(r);
    });
}
