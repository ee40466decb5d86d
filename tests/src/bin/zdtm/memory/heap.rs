//! `brk` and `sparse`.
//!
//! `brk`: malloc is told to take new memory with `mmap` only
//! (`M_MMAP_THRESHOLD` 0), so the break above its heap is the test's
//! alone. From an 8-byte aligned break B the heap is grown with `sbrk` in
//! eight 1 MiB steps (each returning the previous break), each step filled
//! with its part of a pattern, then shrunk by 3 MiB to B + 5 MiB. At the
//! end, and every 500 ms while waiting (the kept bytes sampled every 61st
//! word then): `sbrk(0)` and the kernel's own `brk(0)` both say B + 5 MiB,
//! the 5 MiB hold the pattern, the page after the break's page is
//! unmapped (`mincore`: `ENOMEM`), and growing the heap again (by 2 MiB at
//! the end, 256 KiB + 24 bytes while waiting) returns the old break, gives
//! pages that read zero past the break's page, takes a pattern, and
//! shrinks back to B + 5 MiB. At the end the `[heap]` line of
//! `/proc/self/maps` is also the one at setup.
//!
//! `sparse`: a 256 MiB private anonymous `MAP_NORESERVE` mapping (huge
//! pages declined with `MADV_NOHUGEPAGE` where there are any) where 64
//! scattered pages are written with a pattern, and 16 of them discarded
//! again with `MADV_DONTNEED` (the test kernels have no `madvise`,
//! `CONFIG_ADVISE_SYSCALLS` off: there a fresh anonymous page is mapped
//! over each with `MAP_FIXED`, which merges back into the mapping). At the
//! end, before anything reads an untouched page: `mincore` says exactly
//! the 48 live pages are resident and `VmRSS` is below 64 MiB; then the
//! live pages hold their pattern and the discarded ones and 256 untouched
//! ones read zero. Every 500 ms while waiting, the live pages' bytes and
//! the resident count are checked too.

use super::super::rounds::Rounds;
use super::super::Check;
use super::{differs, failed_at_home, fill, maps, mincore, os_err, status_field, word};
use crate::PAGE;
use std::sync::Mutex;

const MIB: usize = 1 << 20;
/// Steps of 1 MiB the heap grows by, and the MiB shrunk off again.
const STEPS: usize = 8;
const SHRUNK: usize = 3;
/// What is kept after the shrink.
const KEPT: usize = (STEPS - SHRUNK) * MIB;
const BRK_SEED: u64 = 0xb4c;

struct Brk {
    /// The break where the test's part starts (B).
    base: usize,
    /// The `[heap]` line at setup.
    heap_line: String,
    rounds: Rounds,
}

static BRK: Mutex<Option<Brk>> = Mutex::new(None);

/// The kernel's break (`brk(0)` as a system call, not the C library's
/// cached value).
fn kernel_brk() -> usize {
    // SAFETY: brk(0) changes nothing and returns the current break.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

/// `sbrk(delta)`: the previous break.
fn sbrk(delta: isize) -> Result<usize, String> {
    // SAFETY: moves the break of the region the test owns (malloc uses
    // mmap only); callers only touch what lies below the new break.
    let p = unsafe { libc::sbrk(delta) };
    if p as isize == -1 {
        return Err(format!("sbrk({delta}): {}", os_err()));
    }
    Ok(p as usize)
}

fn page_up(a: usize) -> usize {
    a.div_ceil(PAGE) * PAGE
}

/// The `[heap]` line of `/proc/self/maps`.
fn heap_line() -> Result<String, String> {
    Ok(maps()?.iter().find(|l| l.path == "[heap]").map(|l| l.to_string()).unwrap_or_else(|| "none".into()))
}

/// The break is B + 5 MiB (both views), the kept bytes hold the pattern
/// (every `stride`-th word), nothing is mapped past the break's page, and
/// a growth by `extra` bytes (a multiple of 8) works and is undone.
fn brk_round(base: usize, stride: usize, extra: usize, seed: u64) -> Result<(), String> {
    let end = base + KEPT;
    let (k, c) = (kernel_brk(), sbrk(0)?);
    if k != end || c != end {
        return Err(format!("break: kernel {k:#x}, C library {c:#x}, expected {end:#x}"));
    }
    // SAFETY: base..end lies below the break, in the test's part.
    if let Some(d) = unsafe { differs(base, KEPT / 8, Some(BRK_SEED), 0, stride) } {
        return Err(format!("kept heap: {d}"));
    }
    if let Ok(v) = mincore(page_up(end), PAGE) {
        return Err(format!("page {:#x} after the break is mapped (resident {})", page_up(end), v[0]));
    }
    let old = sbrk(extra as isize)?;
    if old != end || kernel_brk() != end + extra {
        return Err(format!("sbrk({extra}) returned {old:#x}, break now {:#x}; expected {end:#x} and {:#x}", kernel_brk(), end + extra));
    }
    let fresh = page_up(end);
    let grown = || {
        // SAFETY: fresh..end + extra lies below the new break.
        if let Some(d) = unsafe { differs(fresh, (end + extra - fresh) / 8, None, 0, 1) } {
            return Err(format!("new heap pages not zero: {d}"));
        }
        // SAFETY: end..end + extra lies below the new break; `end` is
        // 8-aligned.
        unsafe { fill(end, extra / 8, seed, 0) };
        // SAFETY: as above.
        match unsafe { differs(end, extra / 8, Some(seed), 0, 1) } {
            Some(d) => Err(format!("grown heap: {d}")),
            None => Ok(()),
        }
    };
    let r = grown();
    let back = sbrk(-(extra as isize))?;
    r?;
    if back != end + extra || kernel_brk() != end {
        return Err(format!("shrinking back: sbrk returned {back:#x}, break now {:#x}, expected {end:#x}", kernel_brk()));
    }
    Ok(())
}

pub(super) fn brk() -> Check {
    // SAFETY: a malloc tunable; from now on malloc gets memory with mmap.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 0) } != 1 {
        return failed_at_home("mallopt(M_MMAP_THRESHOLD, 0) refused".into());
    }
    let setup = || -> Result<Brk, String> {
        let b = sbrk(0)?;
        sbrk((b.next_multiple_of(8) - b) as isize)?;
        let base = sbrk(0)?;
        for step in 0..STEPS {
            let p = sbrk(MIB as isize)?;
            if p != base + step * MIB {
                return Err(format!("step {step}: sbrk returned {p:#x}, expected {:#x}", base + step * MIB));
            }
            // SAFETY: p..p + 1 MiB was just added below the break.
            unsafe { fill(p, MIB / 8, BRK_SEED, step * MIB / 8) };
        }
        sbrk(-((SHRUNK * MIB) as isize))?;
        Ok(Brk { base, heap_line: heap_line()?, rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    let first = brk_round(st.base, 61, 256 * 1024 + 24, 1);
    st.rounds.record(first);
    *BRK.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = BRK.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        brk_round(st.base, 1, 2 * MIB, 0xe4d)?;
        let now = heap_line()?;
        if now != st.heap_line {
            return Err(format!("[heap] line {now}, at setup {}", st.heap_line));
        }
        st.rounds.verdict()
    })
}

/// Every 500 ms: a round with a sampled check.
pub(super) fn brk_tick(n: u64) {
    if !n.is_multiple_of(50) {
        return;
    }
    if let Some(st) = BRK.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let r = brk_round(st.base, 61, 256 * 1024 + 24, n + 2);
        st.rounds.record(r);
    }
}

/// Pages of the sparse mapping (256 MiB).
const SPARSE_PAGES: usize = 65536;
const WRITTEN: usize = 64;
const SPARSE_SEED: u64 = 0x5ba;

struct Sparse {
    base: usize,
    /// The written pages, each with whether it was discarded.
    pages: Vec<(usize, bool)>,
    /// `VmRSS` at setup, kB.
    rss_setup: u64,
    rounds: Rounds,
}

static SPARSE: Mutex<Option<Sparse>> = Mutex::new(None);

fn vm_rss_kb() -> Result<u64, String> {
    let v = status_field("VmRSS:")?;
    v.trim_end_matches("kB").trim().parse().map_err(|e| format!("VmRSS {v:?}: {e}"))
}

fn live(st: &Sparse) -> impl Iterator<Item = usize> + '_ {
    st.pages.iter().filter(|p| !p.1).map(|p| p.0)
}

/// Exactly the live pages are resident, and they hold their pattern.
fn sparse_round(st: &Sparse) -> Result<(), String> {
    let res = mincore(st.base, SPARSE_PAGES * PAGE).map_err(|e| format!("mincore over the mapping: errno {e}"))?;
    let resident: Vec<usize> = (0..SPARSE_PAGES).filter(|&i| res[i] & 1 != 0).collect();
    let mut want: Vec<usize> = live(st).collect();
    want.sort_unstable();
    if resident != want {
        let extra: Vec<&usize> = resident.iter().filter(|p| !want.contains(p)).take(8).collect();
        return Err(format!("{} pages resident, expected the {} live ones (first others: {extra:?})", resident.len(), want.len()));
    }
    for i in live(st) {
        // SAFETY: page `i` lies inside the mapping.
        if let Some(d) = unsafe { differs(st.base + i * PAGE, PAGE / 8, Some(SPARSE_SEED), i * PAGE / 8, 1) } {
            return Err(format!("written page {i}: {d}"));
        }
    }
    Ok(())
}

/// Discards page `p`: `MADV_DONTNEED`, or a fresh page over it.
fn discard(p: usize) -> Result<(), String> {
    // SAFETY: `p` is a page of the test's own mapping.
    if unsafe { libc::madvise(p as *mut libc::c_void, PAGE, libc::MADV_DONTNEED) } == 0 {
        return Ok(());
    }
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED;
    // SAFETY: replaces one page of the test's own mapping.
    let q = unsafe { libc::mmap(p as *mut libc::c_void, PAGE, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
    if q as usize != p {
        return Err(format!("madvise and mmap over page {p:#x}: {}", os_err()));
    }
    Ok(())
}

pub(super) fn sparse() -> Check {
    let setup = || -> Result<Sparse, String> {
        let rss_setup = vm_rss_kb()?;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: a fresh mapping the kernel places.
        let m = unsafe { libc::mmap(std::ptr::null_mut(), SPARSE_PAGES * PAGE, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        if m == libc::MAP_FAILED {
            return Err(format!("mmap 256 MiB: {}", os_err()));
        }
        let base = m as usize;
        // SAFETY: advice on the test's own mapping; may be unsupported.
        unsafe { libc::madvise(m, SPARSE_PAGES * PAGE, libc::MADV_NOHUGEPAGE) };
        let mut pages: Vec<(usize, bool)> = Vec::new();
        let mut k = 0;
        while pages.len() < WRITTEN {
            let i = word(0x77, k) as usize % SPARSE_PAGES;
            k += 1;
            if pages.iter().all(|p| p.0 != i) {
                pages.push((i, pages.len() % 4 == 1));
            }
        }
        for &(i, _) in &pages {
            // SAFETY: page `i` lies inside the rw mapping.
            unsafe { fill(base + i * PAGE, PAGE / 8, SPARSE_SEED, i * PAGE / 8) };
        }
        for &(i, _) in pages.iter().filter(|p| p.1) {
            discard(base + i * PAGE)?;
        }
        Ok(Sparse { base, pages, rss_setup, rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    let first = sparse_round(&st);
    st.rounds.record(first);
    *SPARSE.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = SPARSE.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        // Resident set first: reading untouched pages maps the zero page.
        sparse_round(&st)?;
        let rss = vm_rss_kb()?;
        if rss >= 64 * 1024 {
            return Err(format!("VmRSS {rss} kB (at setup {} kB) for a 256 MiB mapping with 48 live pages", st.rss_setup));
        }
        for &(i, _) in st.pages.iter().filter(|p| p.1) {
            // SAFETY: page `i` lies inside the mapping.
            if let Some(d) = unsafe { differs(st.base + i * PAGE, PAGE / 8, None, 0, 1) } {
                return Err(format!("discarded page {i}: {d}"));
            }
        }
        for k in 0..256 {
            let i = (k * 257 + 3) % SPARSE_PAGES;
            if st.pages.iter().any(|p| p.0 == i) {
                continue;
            }
            // SAFETY: page `i` lies inside the mapping.
            if let Some(d) = unsafe { differs(st.base + i * PAGE, PAGE / 8, None, 0, 1) } {
                return Err(format!("untouched page {i}: {d}"));
            }
        }
        st.rounds.verdict()
    })
}

/// Every 500 ms: the resident set and the live pages.
pub(super) fn sparse_tick(n: u64) {
    if !n.is_multiple_of(50) {
        return;
    }
    if let Some(st) = SPARSE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let r = sparse_round(st);
        st.rounds.record(r);
    }
}
