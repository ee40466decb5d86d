//! `cwd` and `umask`: the working directory and the file-creation mask,
//! which stay at home with the deputy and must act on every call made
//! from wherever the process runs.
//!
//! * `cwd` — before `READY` the process makes `/tmp/zdtm-cwd-PID/a/b`,
//!   writes `rel.txt` there (distinct bytes) and `chdir`s into `a/b`
//!   (by a relative path, from `/tmp/zdtm-cwd-PID`). Each round:
//!   `getcwd` is that path, `/proc/self/cwd` links to it, `stat(".")`
//!   gives the directory's device and inode as at setup, `rel.txt` and
//!   `../b/rel.txt` read back its bytes, a file made by a relative name
//!   (`tick.tmp`, the round's bytes) is seen by its absolute path with
//!   those bytes and is removed by its relative name, and `..` is
//!   `/tmp/zdtm-cwd-PID/a` (its inode). The check removes the tree.
//! * `umask` — `umask(027)` before `READY`. Each round: `umask(027)`
//!   returns 027 (what was in place), `/proc/self/status` says
//!   `Umask: 0027`, a file created asking for 0666 has mode 0640 and a
//!   directory asking for 0777 has 0750 (`fstat`, `stat`); a file asking
//!   for 0650 gets 0650 (no bits the mask clears); all are removed.

use super::{errno, same, setup_failed, Slot};
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;

struct Cwd {
    root: String,
    dir: String,
    dev_ino: (u64, u64),
    parent_ino: u64,
    content: Vec<u8>,
    round: u64,
}

static CWD: Slot<Cwd> = Slot::new(None);

fn content(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(0x9e37_79b9) ^ seed.wrapping_mul(131)) as u8)
        .collect()
}

pub(crate) fn cwd() -> super::Check {
    let root = format!("/tmp/zdtm-cwd-{}", std::process::id());
    let dir = format!("{root}/a/b");
    let _ = std::fs::remove_dir_all(&root);
    if std::fs::create_dir_all(&dir).is_err() {
        setup_failed(&dir);
    }
    let body = content(7, 3001);
    if std::fs::write(format!("{dir}/rel.txt"), &body).is_err() {
        setup_failed("rel.txt");
    }
    if std::env::set_current_dir(&root).is_err() || std::env::set_current_dir("a/b").is_err() {
        setup_failed("chdir");
    }
    let meta = |p: &str| std::fs::metadata(p).unwrap_or_else(|_| setup_failed(p));
    let (m, parent) = (meta(&dir), meta(&format!("{root}/a")));
    let st = Cwd {
        root,
        dir,
        dev_ino: (m.dev(), m.ino()),
        parent_ino: parent.ino(),
        content: body,
        round: 0,
    };
    super::start(&CWD, st, cwd_round, |st| {
        let _ = std::env::set_current_dir("/");
        std::fs::remove_dir_all(&st.root).map_err(|e| format!("removing {}: {e}", st.root))
    })
}

fn cwd_round(st: &mut Cwd) -> Result<(), String> {
    st.round += 1;
    let cwd = std::env::current_dir().map_err(|e| format!("getcwd: {e}"))?;
    same("getcwd", cwd.to_string_lossy().as_ref(), st.dir.as_str())?;
    let link = std::fs::read_link("/proc/self/cwd").map_err(|e| format!("/proc/self/cwd: {e}"))?;
    same("/proc/self/cwd", link.to_string_lossy().as_ref(), st.dir.as_str())?;
    let dot = std::fs::metadata(".").map_err(|e| format!("stat .: {e}"))?;
    same("stat(\".\") device and inode", (dot.dev(), dot.ino()), st.dev_ino)?;
    let dotdot = std::fs::metadata("..").map_err(|e| format!("stat ..: {e}"))?;
    same("stat(\"..\") inode", dotdot.ino(), st.parent_ino)?;
    for p in ["rel.txt", "../b/rel.txt"] {
        let got = std::fs::read(p).map_err(|e| format!("{p}: {e}"))?;
        if got != st.content {
            return Err(format!("{p}: {} bytes that differ from the {} written", got.len(), st.content.len()));
        }
    }
    let mine = content(st.round, 100 + st.round as usize % 400);
    std::fs::write("tick.tmp", &mine).map_err(|e| format!("writing tick.tmp: {e}"))?;
    let abs = format!("{}/tick.tmp", st.dir);
    let back = std::fs::read(&abs).map_err(|e| format!("{abs}: {e}"))?;
    std::fs::remove_file("tick.tmp").map_err(|e| format!("removing tick.tmp: {e}"))?;
    if back != mine {
        return Err(format!("{abs}: not the bytes written to tick.tmp"));
    }
    if std::fs::metadata(&abs).is_ok() {
        return Err(format!("{abs}: still there after unlink(\"tick.tmp\")"));
    }
    Ok(())
}

pub(crate) fn cwd_tick(n: u64) {
    super::tick(n, &CWD, cwd_round);
}

struct Umask {
    dir: String,
}

static UMASK: Slot<Umask> = Slot::new(None);
const MASK: libc::mode_t = 0o027;

pub(crate) fn umask() -> super::Check {
    let dir = format!("/tmp/zdtm-umask-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir(&dir).is_err() {
        setup_failed(&dir);
    }
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(MASK) };
    super::start(&UMASK, Umask { dir }, umask_round, |st| {
        std::fs::remove_dir_all(&st.dir).map_err(|e| format!("removing {}: {e}", st.dir))
    })
}

/// Creates `path` asking for `mode`; the mode it got (`fstat`).
fn created_mode(path: &str, mode: libc::mode_t) -> Result<u32, String> {
    let c = CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: a valid path; the descriptor is closed below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        return Err(format!("creating {path}: errno {}", errno()));
    }
    // SAFETY: a zeroed stat is valid to fill.
    let mut sb: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `sb` valid for writes.
    let r = unsafe { libc::fstat(fd, &mut sb) };
    let e = errno();
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    if r != 0 {
        return Err(format!("fstat {path}: errno {e}"));
    }
    Ok(sb.st_mode & 0o7777)
}

fn umask_round(st: &mut Umask) -> Result<(), String> {
    // SAFETY: umask cannot fail; it puts the same mask back.
    let old = unsafe { libc::umask(MASK) };
    same("umask()", format!("{old:04o}"), format!("{MASK:04o}"))?;
    same("/proc/self/status Umask", super::status_field("Umask:")?, "0027".to_string())?;
    let f = format!("{}/file", st.dir);
    let got = created_mode(&f, 0o666);
    let _ = std::fs::remove_file(&f);
    same("mode of a file made with 0666", format!("{:o}", got?), "640".into())?;
    let got = created_mode(&f, 0o650);
    let _ = std::fs::remove_file(&f);
    same("mode of a file made with 0650", format!("{:o}", got?), "650".into())?;
    let d = format!("{}/dir", st.dir);
    let c = CString::new(d.clone()).map_err(|e| e.to_string())?;
    // SAFETY: a valid path.
    if unsafe { libc::mkdir(c.as_ptr(), 0o777) } != 0 {
        return Err(format!("mkdir {d}: errno {}", errno()));
    }
    let got = std::fs::metadata(&d).map(|m| m.mode() & 0o7777);
    let _ = std::fs::remove_dir(&d);
    same(
        "mode of a directory made with 0777",
        format!("{:o}", got.map_err(|e| format!("stat {d}: {e}"))?),
        "750".into(),
    )?;
    Ok(())
}

pub(crate) fn umask_tick(n: u64) {
    super::tick(n, &UMASK, umask_round);
}
