//! Self-checking transparency programs in the style of CRIU's zdtm static
//! tests: each sets up some process state, says `READY`, waits (idle) while
//! the harness migrates it around the cluster, and on SIGTERM checks that
//! the state is exactly what it set up, by content.
//!
//! `zdtm NAME` runs one test: it prints `READY NAME` on stdout once its
//! state is in place, waits for SIGTERM (at most 600 s, sleeping 10 ms at a
//! time: no call that would bring it home), then prints `PASS NAME` and
//! exits 0, or `FAIL NAME: what differs` and exits 1. `zdtm list` prints
//! the names. The harness (`xtask/src/scenarios/`) starts each test on
//! node 1, moves it 1 → 2 → 3 → home and compares with an unmigrated run.
//!
//! Tests:
//! * `mprotect` — a private anonymous region of 10 pages, each filled with
//!   its own pattern and then given its own protection (none, r, rw, rwx,
//!   r-x, twice), plus a separate 3-page mapping that held data and was
//!   then made `PROT_NONE`: every page's bytes and protection survive.
//! * `mprotect_file` — the same over a private mapping of a file: pages
//!   written by the process (copied on write) keep what was written, the
//!   others still read the file's bytes, and each page keeps its
//!   protection.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static TERM: AtomicBool = AtomicBool::new(false);
const PAGE: usize = 4096;
const TESTS: &[(&str, fn() -> Check)] = &[("mprotect", mprotect_anon), ("mprotect_file", mprotect_file)];

/// The check a test runs after SIGTERM: Ok, or what differs.
type Check = Box<dyn FnOnce() -> Result<(), String>>;

extern "C" fn on_term(_: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("");
    if name == "list" {
        for (n, _) in TESTS {
            println!("{n}");
        }
        return;
    }
    let Some((name, setup)) = TESTS.iter().find(|(n, _)| *n == name) else {
        eprintln!("usage: zdtm NAME | list");
        std::process::exit(2);
    };
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    let check = setup();
    println!("READY {name}");
    let _ = std::io::stdout().flush();
    let mut waited_ms = 0;
    while !TERM.load(Ordering::SeqCst) {
        if waited_ms >= 600_000 {
            eprintln!("zdtm {name}: no SIGTERM within 600 s");
            std::process::exit(3);
        }
        sleep_ms(10);
        waited_ms += 10;
    }
    match check() {
        Ok(()) => println!("PASS {name}"),
        Err(e) => {
            println!("FAIL {name}: {e}");
            std::process::exit(1);
        }
    }
}

fn sleep_ms(ms: u64) {
    let ts = libc::timespec { tv_sec: 0, tv_nsec: (ms * 1_000_000) as libc::c_long };
    // SAFETY: plain nanosleep with a valid timespec.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// The protection of page `i` in the patterns of both mprotect tests.
fn prot_of(i: usize) -> i32 {
    [libc::PROT_NONE, libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC, libc::PROT_READ | libc::PROT_EXEC][i % 5]
}

/// The byte at offset `off` of page `page` of pattern `seed`.
fn pattern(seed: u64, page: usize, off: usize) -> u8 {
    let mut x = seed ^ ((page as u64) << 32) ^ off as u64;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

fn mmap(len: usize, prot: i32, flags: i32, fd: i32) -> *mut u8 {
    // SAFETY: a fresh mapping the kernel chooses; checked below.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        eprintln!("mmap: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
    p.cast()
}

fn mprotect(addr: *mut u8, len: usize, prot: i32) {
    // SAFETY: `addr..addr+len` is a mapping this program made.
    if unsafe { libc::mprotect(addr.cast(), len, prot) } != 0 {
        eprintln!("mprotect: {}", std::io::Error::last_os_error());
        std::process::exit(2);
    }
}

/// The permissions `/proc/self/maps` shows for the page at `addr` (e.g.
/// `r-xp`).
fn perms_at(maps: &str, addr: usize) -> Option<String> {
    maps.lines().find_map(|l| {
        let (range, rest) = l.split_once(' ')?;
        let (a, b) = range.split_once('-')?;
        let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
        (a <= addr && addr < b).then(|| rest.split(' ').next().unwrap_or("").to_string())
    })
}

fn perms_of(prot: i32) -> String {
    let r = if prot & libc::PROT_READ != 0 { 'r' } else { '-' };
    let w = if prot & libc::PROT_WRITE != 0 { 'w' } else { '-' };
    let x = if prot & libc::PROT_EXEC != 0 { 'x' } else { '-' };
    format!("{r}{w}{x}p")
}

/// Checks that page `i` at `base` has protection `prot_of(i)` and holds
/// `want(offset)`; makes it readable to look, then restores it.
fn check_page(maps: &str, base: *mut u8, i: usize, prot: i32, want: impl Fn(usize) -> u8) -> Result<(), String> {
    // SAFETY: page `i` lies inside the mapping at `base`.
    let p = unsafe { base.add(i * PAGE) };
    let seen = perms_at(maps, p as usize).ok_or_else(|| format!("page {i}: not mapped"))?;
    if seen != perms_of(prot) {
        return Err(format!("page {i}: protection {seen}, expected {}", perms_of(prot)));
    }
    mprotect(p, PAGE, libc::PROT_READ);
    // SAFETY: the page is mapped and now readable.
    let bytes = unsafe { std::slice::from_raw_parts(p, PAGE) };
    let bad = (0..PAGE).find(|&o| bytes[o] != want(o));
    mprotect(p, PAGE, prot);
    match bad {
        Some(o) => Err(format!("page {i}: data corrupted at offset {o}: {:#04x}, expected {:#04x}", bytes[o], want(o))),
        None => Ok(()),
    }
}

fn mprotect_anon() -> Check {
    const N: usize = 10;
    const NONE_PAGES: usize = 3;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let base = mmap(N * PAGE, rw, flags, -1);
    let hidden = mmap(NONE_PAGES * PAGE, rw, flags, -1);
    for i in 0..N {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(1, i, o) };
        }
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    for i in 0..NONE_PAGES {
        for o in 0..PAGE {
            // SAFETY: inside the fresh rw mapping.
            unsafe { *hidden.add(i * PAGE + o) = pattern(2, i, o) };
        }
    }
    mprotect(hidden, NONE_PAGES * PAGE, libc::PROT_NONE);
    let (b, h) = (base as usize, hidden as usize);
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(1, i, o))?;
        }
        for i in 0..NONE_PAGES {
            check_page(&maps, h as *mut u8, i, libc::PROT_NONE, |o| pattern(2, i, o)).map_err(|e| format!("PROT_NONE mapping: {e}"))?;
        }
        Ok(())
    })
}

fn mprotect_file() -> Check {
    const N: usize = 10;
    let path = format!("/tmp/zdtm-mprotect-{}.dat", std::process::id());
    let mut data = vec![0u8; N * PAGE];
    for i in 0..N {
        for o in 0..PAGE {
            data[i * PAGE + o] = pattern(3, i, o);
        }
    }
    if let Err(e) = std::fs::write(&path, &data) {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    }
    let f = std::fs::File::open(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    use std::os::fd::AsRawFd;
    let base = mmap(N * PAGE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE, f.as_raw_fd());
    drop(f);
    let _ = std::fs::remove_file(&path);
    // Even pages are written (copied on write); odd ones keep the file's.
    let written = |i: usize| i % 2 == 0;
    for i in (0..N).filter(|&i| written(i)) {
        for o in 0..PAGE {
            // SAFETY: inside the rw private mapping.
            unsafe { *base.add(i * PAGE + o) = pattern(4, i, o) };
        }
    }
    for i in 0..N {
        // SAFETY: page `i` lies inside the mapping at `base`.
        mprotect(unsafe { base.add(i * PAGE) }, PAGE, prot_of(i));
    }
    let b = base as usize;
    Box::new(move || {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
        for i in 0..N {
            let seed = if written(i) { 4 } else { 3 };
            check_page(&maps, b as *mut u8, i, prot_of(i), |o| pattern(seed, i, o))?;
        }
        Ok(())
    })
}
