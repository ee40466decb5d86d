//! `mremap` and `maps_layout`.
//!
//! `mremap`: five private anonymous read-write regions, each filled with
//! its own pattern as it is made:
//! * "grown": 4 pages grown to 16 with `MREMAP_MAYMOVE` (the 12 new pages
//!   filled after);
//! * "fixed": 6 pages moved with `MREMAP_MAYMOVE | MREMAP_FIXED` into the
//!   middle of a 10-page `PROT_NONE` reservation, leaving a 2-page guard
//!   on each side;
//! * "shrunk": 12 pages shrunk in place to 5;
//! * "in_place": 8 pages grown in place (no `MREMAP_MAYMOVE`) to 16 over
//!   the 8 pages just unmapped after them;
//! * "dontunmap": 4 pages moved with `MREMAP_DONTUNMAP`, leaving the old
//!   range mapped and empty ("left_behind").
//!
//! At setup each old range a region left is checked to be unmapped
//! (`mincore`: `ENOMEM`), and the guards to be `---p` lines. At the end
//! every region holds its pattern at its address (the left-behind pages
//! read zero), and for every region, guard and old range the
//! `/proc/self/maps` lines over it, clipped to it (so that how the kernel
//! merges it with unrelated neighbours does not matter), are the ones at
//! setup. Every 500 ms while waiting, a scratch region of 2 pages is
//! grown to 24 with `MREMAP_MAYMOVE`, shrunk in place to 3 and unmapped,
//! keeping its bytes at each step.
//!
//! `maps_layout`: with a few areas added (3 rw pages, 2 r-- pages, an
//! r-x page, 5 rw pages whose middle one is made `PROT_NONE`, and 2 pages
//! of a file under /tmp mapped private read-only at offset 4096), the
//! stack grown by 256 KiB and stdout set up, `/proc/self/maps` is read
//! until two readings agree. At the end it is read again before anything
//! else (into a buffer made at setup, so that reading it allocates
//! nothing). Every line but `[vdso]`, `[vvar…]`, `[vsyscall]` and any
//! mentioning roam must be the same: start, end, permissions, offset and
//! path, in order.

use super::super::rounds::Rounds;
use super::super::Check;
use super::{differs, failed_at_home, fill, lines_over, maps, mincore, os_err, parse_maps, MapLine};
use crate::PAGE;
use std::sync::Mutex;

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// A region the test made: where, how many pages, and its pattern (None:
/// reads zero).
struct Region {
    name: &'static str,
    addr: usize,
    pages: usize,
    seed: Option<u64>,
}

struct Remap {
    regions: Vec<Region>,
    /// Ranges whose maps lines are compared, with the lines at setup
    /// (clipped to the range).
    watched: Vec<(String, usize, usize, Vec<MapLine>)>,
    rounds: Rounds,
}

static REMAP: Mutex<Option<Remap>> = Mutex::new(None);

fn map(pages: usize, prot: i32) -> Result<usize, String> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    // SAFETY: a fresh mapping the kernel places.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), pages * PAGE, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("mmap {pages} pages: {}", os_err()));
    }
    Ok(p as usize)
}

/// `mremap(old, from pages, to pages, flags, new)`.
fn remap(old: usize, from: usize, to: usize, flags: i32, new: usize) -> Result<usize, String> {
    // SAFETY: remaps a region the test made; `new` (with MREMAP_FIXED) is a
    // range the test reserved.
    let p = unsafe { libc::mremap(old as *mut libc::c_void, from * PAGE, to * PAGE, flags, new as *mut libc::c_void) };
    if p == libc::MAP_FAILED {
        return Err(format!("mremap({old:#x}, {from} pages, {to} pages, flags {flags:#x}): {}", os_err()));
    }
    Ok(p as usize)
}

/// Fills pages `from..to` of a region at `addr` with pattern `seed`.
fn fill_pages(addr: usize, from: usize, to: usize, seed: u64) {
    // SAFETY: the pages lie in a rw region the test made.
    unsafe { fill(addr + from * PAGE, (to - from) * PAGE / 8, seed, from * PAGE / 8) };
}

fn check_region(r: &Region) -> Result<(), String> {
    let words = r.pages * PAGE / 8;
    // SAFETY: the region is mapped readable (checked against maps first by
    // the callers, which compare its lines).
    match unsafe { differs(r.addr, words, r.seed, 0, 1) } {
        Some(d) => Err(format!("region {} at {:#x}: {d}", r.name, r.addr)),
        None => Ok(()),
    }
}

fn unmapped(name: &str, start: usize, pages: usize) -> Result<(), String> {
    match mincore(start, pages * PAGE) {
        Err(libc::ENOMEM) => Ok(()),
        other => Err(format!("{name}: {start:#x} (+{pages} pages) still mapped after mremap ({other:?})")),
    }
}

/// The maps lines over `start..end`, clipped to it.
fn clipped(all: &[MapLine], start: usize, end: usize) -> Vec<MapLine> {
    lines_over(all, start, end).into_iter().map(|l| MapLine { start: l.start.max(start), end: l.end.min(end), ..l }).collect()
}

fn show(lines: &[MapLine]) -> String {
    if lines.is_empty() {
        return "nothing".into();
    }
    lines.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("; ")
}

fn mremap_setup() -> Result<Remap, String> {
    let mut regions = Vec::new();
    let mut old: Vec<(String, usize, usize)> = Vec::new();
    // Grown (and probably moved) with MREMAP_MAYMOVE.
    let a = map(4, RW)?;
    fill_pages(a, 0, 4, 21);
    let a2 = remap(a, 4, 16, libc::MREMAP_MAYMOVE, 0)?;
    fill_pages(a2, 4, 16, 21);
    if a2 != a {
        unmapped("grown's old range", a, 4)?;
        old.push(("grown's old range".into(), a, a + 4 * PAGE));
    }
    regions.push(Region { name: "grown", addr: a2, pages: 16, seed: Some(21) });
    // Moved to a chosen address between two guards.
    let r = map(10, libc::PROT_NONE)?;
    let b = map(6, RW)?;
    fill_pages(b, 0, 6, 22);
    let b2 = remap(b, 6, 6, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, r + 2 * PAGE)?;
    if b2 != r + 2 * PAGE {
        return Err(format!("MREMAP_FIXED to {:#x} went to {b2:#x}", r + 2 * PAGE));
    }
    unmapped("fixed's old range", b, 6)?;
    old.push(("fixed's old range".into(), b, b + 6 * PAGE));
    let guards = clipped(&maps()?, r, r + 10 * PAGE);
    let perms: Vec<&str> = guards.iter().map(|l| l.perms.as_str()).collect();
    if perms != ["---p", "rw-p", "---p"] {
        return Err(format!("reservation with the fixed region in it: {}", show(&guards)));
    }
    regions.push(Region { name: "fixed", addr: b2, pages: 6, seed: Some(22) });
    old.push(("reservation".into(), r, r + 10 * PAGE));
    // Shrunk in place.
    let c = map(12, RW)?;
    fill_pages(c, 0, 12, 23);
    if remap(c, 12, 5, 0, 0)? != c {
        return Err("shrinking moved the region".into());
    }
    unmapped("shrunk's cut-off pages", c + 5 * PAGE, 7)?;
    old.push(("shrunk's cut-off pages".into(), c + 5 * PAGE, c + 12 * PAGE));
    regions.push(Region { name: "shrunk", addr: c, pages: 5, seed: Some(23) });
    // Grown in place into a hole just made.
    let e = map(16, RW)?;
    // SAFETY: the upper half of the mapping just made.
    if unsafe { libc::munmap((e + 8 * PAGE) as *mut libc::c_void, 8 * PAGE) } != 0 {
        return Err(format!("munmap: {}", os_err()));
    }
    fill_pages(e, 0, 8, 25);
    if remap(e, 8, 16, 0, 0)? != e {
        return Err("growing in place moved the region".into());
    }
    fill_pages(e, 8, 16, 25);
    regions.push(Region { name: "in_place", addr: e, pages: 16, seed: Some(25) });
    // Moved, the old range left mapped and empty.
    let d = map(4, RW)?;
    fill_pages(d, 0, 4, 24);
    let d2 = remap(d, 4, 4, libc::MREMAP_MAYMOVE | libc::MREMAP_DONTUNMAP, 0)?;
    regions.push(Region { name: "dontunmap", addr: d2, pages: 4, seed: Some(24) });
    regions.push(Region { name: "left_behind", addr: d, pages: 4, seed: None });
    for r in &regions {
        check_region(r).map_err(|e| format!("right after setup: {e}"))?;
    }
    let all = maps()?;
    let ranges = regions.iter().map(|r| (r.name.to_string(), r.addr, r.addr + r.pages * PAGE)).chain(old);
    let watched = ranges.map(|(n, s, e)| (n, s, e, clipped(&all, s, e))).collect();
    Ok(Remap { regions, watched, rounds: Rounds::default() })
}

/// A scratch region grown, moved and shrunk with mremap.
fn mremap_round(seed: u64) -> Result<(), String> {
    let p = map(2, RW)?;
    fill_pages(p, 0, 2, seed);
    let q = remap(p, 2, 24, libc::MREMAP_MAYMOVE, 0)?;
    let grown = Region { name: "scratch, grown", addr: q, pages: 2, seed: Some(seed) };
    let r = check_region(&grown).and_then(|_| {
        fill_pages(q, 2, 24, seed);
        if remap(q, 24, 3, 0, 0)? != q {
            return Err("scratch: shrinking moved it".into());
        }
        check_region(&Region { name: "scratch, shrunk", addr: q, pages: 3, seed: Some(seed) })
    });
    // SAFETY: the scratch region (3 pages if shrunk, else 24; unmapping
    // the larger size covers both).
    unsafe { libc::munmap(q as *mut libc::c_void, 24 * PAGE) };
    r
}

pub(super) fn mremap() -> Check {
    let mut st = match mremap_setup() {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    let first = mremap_round(100);
    st.rounds.record(first);
    *REMAP.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = REMAP.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let all = maps()?;
        for (name, s, e, was) in &st.watched {
            let now = clipped(&all, *s, *e);
            if &now != was {
                return Err(format!("maps over {name} ({s:#x}-{e:#x}): {}; at setup {}", show(&now), show(was)));
            }
        }
        for r in &st.regions {
            check_region(r)?;
        }
        st.rounds.verdict()
    })
}

/// Every 500 ms: a scratch round.
pub(super) fn mremap_tick(n: u64) {
    if !n.is_multiple_of(50) {
        return;
    }
    if let Some(st) = REMAP.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let r = mremap_round(101 + n);
        st.rounds.record(r);
    }
}

struct Layout {
    lines: Vec<MapLine>,
    /// `/proc/self/maps`, NUL-terminated, for `open`.
    maps_path: std::ffi::CString,
    /// Room to read it into without allocating.
    buf: Vec<u8>,
    file: String,
}

static LAYOUT: Mutex<Option<Layout>> = Mutex::new(None);

/// Reads `/proc/self/maps` into `buf` with plain system calls; its length.
fn read_raw(path: &std::ffi::CStr, buf: &mut [u8]) -> Result<usize, String> {
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("open /proc/self/maps: {}", os_err()));
    }
    let mut len = 0;
    let r = loop {
        if len == buf.len() {
            break Err("/proc/self/maps longer than the buffer".to_string());
        }
        // SAFETY: reads into the unused rest of `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        match n {
            0 => break Ok(len),
            n if n < 0 => break Err(format!("read /proc/self/maps: {}", os_err())),
            n => len += n as usize,
        }
    };
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    r
}

/// The lines compared: all but the vDSO pair, vsyscall and roam's.
fn layout_lines(text: &[u8]) -> Vec<MapLine> {
    let skip = |p: &str| p.starts_with("[vdso") || p.starts_with("[vvar") || p.starts_with("[vsyscall") || p.contains("roam");
    parse_maps(&String::from_utf8_lossy(text)).into_iter().filter(|l| !skip(&l.path)).collect()
}

/// Makes the stack 256 KiB deeper than it is here, once.
#[inline(never)]
fn deepen_stack() {
    let a = [1u8; 256 * 1024];
    std::hint::black_box(&a);
}

fn layout_setup() -> Result<Layout, String> {
    use std::os::fd::AsRawFd;
    let file = format!("/tmp/zdtm-maps-{}.dat", std::process::id());
    let data: Vec<u8> = (0..3 * PAGE).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).map_err(|e| format!("{file}: {e}"))?;
    let f = std::fs::File::open(&file).map_err(|e| format!("{file}: {e}"))?;
    // SAFETY: a fresh private mapping of 2 pages of the file, at offset 1 page.
    let m = unsafe { libc::mmap(std::ptr::null_mut(), 2 * PAGE, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), PAGE as libc::off_t) };
    if m == libc::MAP_FAILED {
        return Err(format!("mmap {file}: {}", os_err()));
    }
    drop(f);
    let rw = map(3, RW)?;
    fill_pages(rw, 0, 3, 31);
    map(2, libc::PROT_READ)?;
    map(1, libc::PROT_READ | libc::PROT_EXEC)?;
    let holed = map(5, RW)?;
    fill_pages(holed, 0, 5, 32);
    // SAFETY: the middle page of the mapping just made.
    if unsafe { libc::mprotect((holed + 2 * PAGE) as *mut libc::c_void, PAGE, libc::PROT_NONE) } != 0 {
        return Err(format!("mprotect: {}", os_err()));
    }
    deepen_stack();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let maps_path = std::ffi::CString::new("/proc/self/maps").map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut last: Option<Vec<MapLine>> = None;
    for _ in 0..10 {
        let n = read_raw(&maps_path, &mut buf)?;
        let lines = layout_lines(&buf[..n]);
        if last.as_ref() == Some(&lines) {
            return Ok(Layout { lines, maps_path, buf, file });
        }
        last = Some(lines);
    }
    Err("/proc/self/maps changed at every reading".into())
}

pub(super) fn maps_layout() -> Check {
    let st = match layout_setup() {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    *LAYOUT.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let mut st = LAYOUT.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        let n = read_raw(&st.maps_path, &mut st.buf);
        let _ = std::fs::remove_file(&st.file);
        let now = layout_lines(&st.buf[..n?]);
        if now == st.lines {
            return Ok(());
        }
        let gone: Vec<String> = st.lines.iter().filter(|l| !now.contains(l)).map(|l| l.to_string()).collect();
        let new: Vec<String> = now.iter().filter(|l| !st.lines.contains(l)).map(|l| l.to_string()).collect();
        Err(format!("/proc/self/maps differs: lines gone [{}], lines new [{}]", gone.join("; "), new.join("; ")))
    })
}
