//! `filemap`: private mappings of a file at home, made wherever the
//! process runs. Every 100 ms while it waits, on a file of 3 pages and
//! 100 bytes of distinct bytes:
//! * a read-only mapping of 5 pages from offset 0: the 3 pages and the
//!   100 bytes read as the file, the rest of the 4th page as zeros (the
//!   5th, wholly past the end, is not touched: it would raise SIGBUS at
//!   home);
//! * a read-write mapping from offset 1 page: it reads as the file from
//!   there, a write to it stays private (the file keeps its bytes, read
//!   back with `pread`);
//! * a `MAP_FIXED` mapping over an anonymous area the test reserved: it
//!   lands exactly there and shows the file;
//! * a `PROT_NONE` mapping made readable with `mprotect` shows the file;
//! * errors as at home: a descriptor open only for writing gives EACCES,
//!   an offset that is not page-aligned EINVAL, a closed descriptor EBADF.

use super::rounds::{every_100ms, Rounds};
use super::Group;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

pub(crate) const GROUP: Group = Group { tests: &[("filemap", filemap)], busy: &[], ticks: &[("filemap", tick)], known: &[], stays: &[] };

const PAGE: usize = 4096;
/// The file's length: 3 pages and 100 bytes.
const LEN: usize = 3 * PAGE + 100;

struct State {
    path: String,
    ro: OwnedFd,
    wo: OwnedFd,
    /// A reserved anonymous area of 2 pages for the `MAP_FIXED` mapping.
    fixed: usize,
    rounds: Rounds,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn byte(i: usize) -> u8 {
    ((i as u64).wrapping_mul(0x9e37_79b1) >> 7) as u8 ^ (i / PAGE) as u8
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn open(path: &str, flags: i32) -> OwnedFd {
    let c = std::ffi::CString::new(path).expect("path");
    // SAFETY: a valid C string; the descriptor is checked and owned.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    assert!(fd >= 0, "open {path}: {}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just opened and not owned elsewhere.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `mmap(addr, len, prot, flags, fd, off)`: the address, or the errno.
fn map(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, off: usize) -> Result<usize, i32> {
    // SAFETY: a new mapping (MAP_FIXED only over the test's own area).
    let p = unsafe { libc::mmap(addr as *mut libc::c_void, len, prot, flags, fd, off as libc::off_t) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

fn unmap(addr: usize, len: usize) {
    // SAFETY: a mapping this test made.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// The `len` bytes at `addr` (a readable mapping of the test's).
fn bytes(addr: usize, len: usize) -> Vec<u8> {
    // SAFETY: `addr..addr+len` is mapped readable by the caller.
    unsafe { std::slice::from_raw_parts(addr as *const u8, len) }.to_vec()
}

/// Where `got` (the file from offset `from`, then zeros) first differs.
fn compare(what: &str, got: &[u8], from: usize) -> Result<(), String> {
    for (i, &b) in got.iter().enumerate() {
        let want = if from + i < LEN { byte(from + i) } else { 0 };
        if b != want {
            return Err(format!("{what}: byte {i} is {b:#x}, not {want:#x}"));
        }
    }
    Ok(())
}

fn round(st: &State) -> Result<(), String> {
    let (ro, wo) = (st.ro.as_raw_fd(), st.wo.as_raw_fd());
    let private = libc::MAP_PRIVATE;
    // Read-only, past the end of the file.
    let a = map(0, 5 * PAGE, libc::PROT_READ, private, ro, 0).map_err(|e| format!("read-only mmap: errno {e}"))?;
    let r = compare("read-only mapping", &bytes(a, 4 * PAGE), 0);
    unmap(a, 5 * PAGE);
    r?;
    // Read-write from page 1: private writes.
    let b = map(0, 3 * PAGE, libc::PROT_READ | libc::PROT_WRITE, private, ro, PAGE).map_err(|e| format!("read-write mmap: errno {e}"))?;
    let r = compare("read-write mapping", &bytes(b, 3 * PAGE), PAGE).and_then(|()| {
        // SAFETY: `b` is a writable mapping of 3 pages.
        unsafe { std::ptr::write_bytes(b as *mut u8, 0x5a, 2 * PAGE) };
        if bytes(b, 2 * PAGE).iter().any(|&x| x != 0x5a) {
            return Err("a write to the private mapping did not stick".into());
        }
        let mut f = vec![0u8; 2 * PAGE];
        // SAFETY: `f` has room for 2 pages.
        let n = unsafe { libc::pread(ro, f.as_mut_ptr().cast(), f.len(), PAGE as libc::off_t) };
        if n != f.len() as isize {
            return Err(format!("pread after the private write: {n}"));
        }
        compare("the file after a private write", &f, PAGE)
    });
    unmap(b, 3 * PAGE);
    r?;
    // MAP_FIXED over the reserved area.
    let c = map(st.fixed, 2 * PAGE, libc::PROT_READ, private | libc::MAP_FIXED, ro, 2 * PAGE).map_err(|e| format!("MAP_FIXED mmap: errno {e}"))?;
    if c != st.fixed {
        return Err(format!("MAP_FIXED mapping at {c:#x}, not {:#x}", st.fixed));
    }
    compare("MAP_FIXED mapping", &bytes(c, 2 * PAGE), 2 * PAGE)?;
    // Put the reservation back as it was.
    map(st.fixed, 2 * PAGE, libc::PROT_NONE, private | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0).map_err(|e| format!("re-reserving: errno {e}"))?;
    // PROT_NONE, then readable.
    let d = map(0, PAGE, libc::PROT_NONE, private, ro, 0).map_err(|e| format!("PROT_NONE mmap: errno {e}"))?;
    // SAFETY: the test's own mapping.
    let r = if unsafe { libc::mprotect(d as *mut libc::c_void, PAGE, libc::PROT_READ) } != 0 {
        Err(format!("mprotect: errno {}", errno()))
    } else {
        compare("PROT_NONE mapping made readable", &bytes(d, PAGE), 0)
    };
    unmap(d, PAGE);
    r?;
    // Errors.
    for (what, fd, off, want) in [("write-only descriptor", wo, 0, libc::EACCES), ("unaligned offset", ro, 100, libc::EINVAL), ("closed descriptor", 987, 0, libc::EBADF)] {
        match map(0, PAGE, libc::PROT_READ, private, fd, off) {
            Ok(p) => {
                unmap(p, PAGE);
                return Err(format!("{what}: mmap succeeded"));
            }
            Err(e) if e != want => return Err(format!("{what}: errno {e}, not {want}")),
            Err(_) => {}
        }
    }
    Ok(())
}

fn filemap() -> super::Check {
    let path = format!("/tmp/zdtm-filemap-{}", std::process::id());
    let data: Vec<u8> = (0..LEN).map(byte).collect();
    std::fs::write(&path, &data).expect("write the file");
    let fixed = map(0, 2 * PAGE, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0).expect("reserve");
    let mut st = State { ro: open(&path, libc::O_RDONLY), wo: open(&path, libc::O_WRONLY), path, fixed, rounds: Rounds::default() };
    let r = round(&st);
    st.rounds.record(r);
    *STATE.lock().unwrap() = Some(st);
    Box::new(|| {
        let st = STATE.lock().unwrap().take().ok_or("no state")?;
        let _ = std::fs::remove_file(&st.path);
        st.rounds.verdict()
    })
}

pub(crate) fn tick(n: u64) {
    every_100ms(n, &STATE, |st| {
        let r = round(st);
        st.rounds.record(r);
    });
}
