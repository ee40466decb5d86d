//! `unlinked`: files that have no name any more. Before `READY`: a file
//! in /tmp is created, filled with 20000 distinct bytes and unlinked while
//! open; a file is opened with `O_TMPFILE` in /tmp (never named) and
//! given 5000 bytes; a directory is made, opened and removed. Every
//! 100 ms while it waits, wherever it runs, a 16-byte record is written
//! with `pwrite` after the last one in the unlinked file and read back;
//! its size grows by 16 each time and its link count stays 0. At the
//! check: each descriptor's `fstat` gives the same inode and a link count
//! of 0; `/proc/self/fd/N` links to what it did at home (the old path
//! followed by ` (deleted)`, and `/tmp/#INODE (deleted)` for the
//! `O_TMPFILE` file); the unlinked file holds its 20000 bytes and every
//! record in order and its old name is still free (`ENOENT`); the
//! `O_TMPFILE` file holds its bytes and can be given a name with
//! `linkat` through `/proc/self/fd/N` (`AT_SYMLINK_FOLLOW`), after which
//! the new name is the same inode, `fstat` counts one link and a read
//! through the name gives the bytes; the removed directory lists nothing
//! (`getdents64` fails with `ENOENT`) and nothing can be created in it
//! (`ENOENT`).

use super::super::rounds::{every_100ms, Rounds};
use super::super::Check;
use super::{bytes, close, cstr, diff, errno, fd_link, fstat, guard, open, os_err, pread, stat, tmp, unlink, write_all};
use std::sync::Mutex;

/// One nameless object and what it was at home.
struct Obj {
    fd: i32,
    ino: u64,
    link: String,
}

struct State {
    path: String,
    dir_path: String,
    file: Obj,
    tmpfile: Obj,
    dir: Obj,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
const FILE_LEN: usize = 20000;
const TMP_LEN: usize = 5000;
const REC: usize = 16;

fn obj(fd: i32) -> Result<Obj, String> {
    Ok(Obj { fd, ino: fstat(fd)?.st_ino, link: fd_link(fd)? })
}

pub(super) fn unlinked() -> Check {
    guard(|| {
        let path = tmp("unlinked");
        let fd = open(&path, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600)?;
        write_all(fd, &bytes(21, 0, FILE_LEN))?;
        unlink(&path);
        let file = obj(fd)?;
        if file.link != format!("{path} (deleted)") {
            return Err(format!("unlinked file links to {:?}", file.link));
        }
        let t = open("/tmp", libc::O_TMPFILE | libc::O_RDWR, 0o600)?;
        write_all(t, &bytes(22, 0, TMP_LEN))?;
        let tmpfile = obj(t)?;
        if !tmpfile.link.starts_with("/tmp/#") || !tmpfile.link.ends_with(" (deleted)") {
            return Err(format!("O_TMPFILE file links to {:?}", tmpfile.link));
        }
        let dir_path = format!("{path}.d");
        let dp = cstr(&dir_path);
        // SAFETY: a valid path.
        if unsafe { libc::mkdir(dp.as_ptr(), 0o700) } != 0 {
            return Err(os_err(&format!("mkdir {dir_path}")));
        }
        let d = open(&dir_path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        // SAFETY: a valid path.
        if unsafe { libc::rmdir(dp.as_ptr()) } != 0 {
            return Err(os_err(&format!("rmdir {dir_path}")));
        }
        let dir = obj(d)?;
        let mut st = State { path, dir_path, file, tmpfile, dir, rounds: Rounds::default() };
        let first = round(&st);
        st.rounds.record(first);
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        Ok(Box::new(|| {
            let st = STATE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
            let r = check(&st);
            for o in [&st.file, &st.tmpfile, &st.dir] {
                close(o.fd);
            }
            r.and(st.rounds.verdict())
        }) as Check)
    })
}

/// One round: a record after the last one, read back.
fn round(st: &State) -> Result<(), String> {
    let r = st.rounds.count;
    let off = (FILE_LEN + REC * r as usize) as i64;
    let rec = bytes(23, off as u64, REC);
    // SAFETY: `rec` is a valid buffer.
    let n = unsafe { libc::pwrite(st.file.fd, rec.as_ptr().cast(), REC, off) };
    if n != REC as isize {
        return Err(os_err(&format!("round {r}: pwrite at {off} gave {n}")));
    }
    let back = pread(st.file.fd, off, REC)?;
    let f = fstat(st.file.fd)?;
    if back != rec || f.st_nlink != 0 || f.st_size != off + REC as i64 {
        return Err(format!("round {r}: record at {off}: {}; links {}, size {}", diff(&back, &rec), f.st_nlink, f.st_size));
    }
    Ok(())
}

/// The same inode, no links, the same `/proc/self/fd` link.
fn same(what: &str, o: &Obj, links: u64) -> Result<(), String> {
    let f = fstat(o.fd)?;
    let link = fd_link(o.fd)?;
    if f.st_ino != o.ino || f.st_nlink != links || link != o.link {
        return Err(format!("{what}: inode {} links {} named {link:?}; was inode {} with {links} links named {:?}", f.st_ino, f.st_nlink, o.ino, o.link));
    }
    Ok(())
}

fn check(st: &State) -> Result<(), String> {
    // The unlinked file: its bytes and every record, its name still free.
    same("unlinked file", &st.file, 0)?;
    let mut want = bytes(21, 0, FILE_LEN);
    for r in 0..st.rounds.count {
        let off = FILE_LEN + REC * r as usize;
        want.extend_from_slice(&bytes(23, off as u64, REC));
    }
    let got = pread(st.file.fd, 0, want.len() + 100)?;
    if got != want {
        return Err(format!("unlinked file: {}", diff(&got, &want)));
    }
    if let Ok(s) = stat(&st.path) {
        return Err(format!("{} exists again (inode {})", st.path, s.st_ino));
    }
    // The O_TMPFILE file: its bytes; then a name for it.
    same("O_TMPFILE file", &st.tmpfile, 0)?;
    let want = bytes(22, 0, TMP_LEN);
    let got = pread(st.tmpfile.fd, 0, TMP_LEN + 100)?;
    if got != want {
        return Err(format!("O_TMPFILE file: {}", diff(&got, &want)));
    }
    let named = format!("{}.linked", st.path);
    let (from, to) = (cstr(&format!("/proc/self/fd/{}", st.tmpfile.fd)), cstr(&named));
    // SAFETY: valid paths.
    if unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) } != 0 {
        return Err(os_err(&format!("linkat of the O_TMPFILE file to {named}")));
    }
    let through_name = std::fs::read(&named).map_err(|e| format!("{named}: {e}"));
    let ino = stat(&named).map(|s| s.st_ino).unwrap_or(0);
    let links = fstat(st.tmpfile.fd)?.st_nlink;
    unlink(&named);
    let through_name = through_name?;
    if ino != st.tmpfile.ino || links != 1 || through_name != want {
        return Err(format!(
            "O_TMPFILE file linked as {named}: inode {ino} (expected {}), {links} links, read through the name: {}",
            st.tmpfile.ino,
            diff(&through_name, &want)
        ));
    }
    // The removed directory: empty for good.
    same("removed directory", &st.dir, 0)?;
    let mut buf = [0u8; 1024];
    // SAFETY: `buf` has room for the given length.
    let n = unsafe { libc::syscall(libc::SYS_getdents64, st.dir.fd, buf.as_mut_ptr(), buf.len()) };
    let e = errno();
    if n != -1 || e != libc::ENOENT {
        return Err(format!("getdents64 on the removed directory {} gave {n} (errno {e}), expected ENOENT", st.dir_path));
    }
    let name = cstr("new");
    // SAFETY: a valid relative path.
    let fd = unsafe { libc::openat(st.dir.fd, name.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600) };
    let e = errno();
    if fd >= 0 {
        close(fd);
    }
    if fd != -1 || e != libc::ENOENT {
        return Err(format!("creating a file in the removed directory gave {fd} (errno {e}), expected ENOENT"));
    }
    Ok(())
}

pub(super) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
