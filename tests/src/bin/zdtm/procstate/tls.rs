//! `tls`: thread-local storage and the segment bases, which the image
//! carries in its registers (`fs_base`, `gs_base`) and the restorer sets
//! again with `arch_prctl`.
//!
//! Before `READY`: `thread_local!` variables are given values (a counter,
//! eight distinct words, a heap-backed string), and the GS base (unused by
//! Rust and the C library) is set with `ARCH_SET_GS` to eight words on
//! the heap holding a pattern. The process records the FS base
//! (`ARCH_GET_FS`), where each variable lies relative to it, and the
//! word at `%fs:0x28` (the C library's stack-protector canary). Each
//! round, wherever the process runs:
//!
//! * `ARCH_GET_FS` is the recorded base and `%fs:0` holds it (the x86-64
//!   TLS ABI's thread pointer); `%fs:0x28` is as recorded;
//! * each variable still lies at its recorded offset from the FS base;
//! * the counter, read through Rust and through `%fs:OFFSET`, is the
//!   value written last; it is then increased once through `%fs:OFFSET`
//!   (read back through Rust) and once through Rust (read back through
//!   `%fs`);
//! * the eight words read the same through Rust and through `%fs`, the
//!   string is as set;
//! * `ARCH_GET_GS` is the heap address, `%gs:0..56` read the pattern,
//!   and a word written through `%gs:56` is read back through the heap
//!   pointer.

use super::{same, setup_failed, Slot};
use std::cell::{Cell, RefCell};

const ARCH_SET_GS: libc::c_int = 0x1001;
const ARCH_GET_FS: libc::c_int = 0x1003;
const ARCH_GET_GS: libc::c_int = 0x1004;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static WORDS: Cell<[u64; 8]> = const { Cell::new([0; 8]) };
    static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

fn words(seed: u64) -> [u64; 8] {
    std::array::from_fn(|i| (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed)
}

const TLS_SEED: u64 = 0x7715_0000_0000_0001;
const GS_SEED: u64 = 0x6500_0000_0000_0002;

struct Tls {
    fs_base: u64,
    canary: u64,
    /// Offsets of `COUNT` and `WORDS` from the FS base (wrapping: static
    /// TLS lies below it).
    count_off: usize,
    words_off: usize,
    count: u64,
    text: String,
    gs_base: u64,
}

static TLS: Slot<Tls> = Slot::new(None);

fn arch_get(code: libc::c_int) -> u64 {
    let mut v: u64 = 0;
    // SAFETY: ARCH_GET_FS/GS write one u64 to `v`.
    unsafe { libc::syscall(libc::SYS_arch_prctl, code, &mut v as *mut u64) };
    v
}

fn fs_read(off: usize) -> u64 {
    let v: u64;
    // SAFETY: `off` is a recorded offset of this thread's TLS (or 0 / 0x28,
    // inside its thread control block): a readable word.
    unsafe { std::arch::asm!("mov {v}, qword ptr fs:[{o}]", v = out(reg) v, o = in(reg) off, options(nostack, preserves_flags, readonly)) };
    v
}

fn fs_write(off: usize, v: u64) {
    // SAFETY: `off` is the offset of a `Cell<u64>` of this thread's TLS;
    // the asm may write memory, so the compiler reloads it afterwards.
    unsafe { std::arch::asm!("mov qword ptr fs:[{o}], {v}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags)) };
}

fn gs_read(off: usize) -> u64 {
    let v: u64;
    // SAFETY: the GS base is the leaked 8-word buffer and `off` < 64.
    unsafe { std::arch::asm!("mov {v}, qword ptr gs:[{o}]", v = out(reg) v, o = in(reg) off, options(nostack, preserves_flags, readonly)) };
    v
}

fn gs_write(off: usize, v: u64) {
    // SAFETY: as above.
    unsafe { std::arch::asm!("mov qword ptr gs:[{o}], {v}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags)) };
}

fn count_addr() -> usize {
    COUNT.with(|c| c as *const Cell<u64> as usize)
}

fn words_addr() -> usize {
    WORDS.with(|c| c as *const Cell<[u64; 8]> as usize)
}

pub(crate) fn tls() -> super::Check {
    let count = 0x1000_0000_0000_0000 | u64::from(std::process::id());
    COUNT.with(|c| c.set(count));
    WORDS.with(|w| w.set(words(TLS_SEED)));
    let text = format!("thread-local text of {} {}", std::process::id(), "·".repeat(100));
    TEXT.with(|t| t.borrow_mut().clone_from(&text));
    // Never freed: it is the GS base until the process ends.
    let gs_base = Box::into_raw(Box::new(words(GS_SEED))) as u64;
    // SAFETY: the GS base of this thread becomes a leaked, never freed
    // buffer; nothing else in the program uses %gs.
    if unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, gs_base) } != 0 {
        setup_failed("ARCH_SET_GS");
    }
    let fs_base = arch_get(ARCH_GET_FS);
    let st = Tls {
        fs_base,
        canary: fs_read(0x28),
        count_off: count_addr().wrapping_sub(fs_base as usize),
        words_off: words_addr().wrapping_sub(fs_base as usize),
        count,
        text,
        gs_base,
    };
    super::start(&TLS, st, round, |_| Ok(()))
}

fn round(st: &mut Tls) -> Result<(), String> {
    let base = arch_get(ARCH_GET_FS);
    same("FS base (ARCH_GET_FS)", format!("{base:#x}"), format!("{:#x}", st.fs_base))?;
    same("%fs:0 (the thread pointer)", format!("{:#x}", fs_read(0)), format!("{base:#x}"))?;
    same("%fs:0x28", fs_read(0x28), st.canary)?;
    let offs = (count_addr().wrapping_sub(base as usize), words_addr().wrapping_sub(base as usize));
    same("offsets of the thread-locals from the FS base", offs, (st.count_off, st.words_off))?;
    same("counter (Rust, %fs)", (COUNT.with(Cell::get), fs_read(st.count_off)), (st.count, st.count))?;
    st.count += 1;
    fs_write(st.count_off, st.count);
    same("counter written through %fs, read through Rust", COUNT.with(Cell::get), st.count)?;
    st.count += 1;
    COUNT.with(|c| c.set(st.count));
    same("counter written through Rust, read through %fs", fs_read(st.count_off), st.count)?;
    let want = words(TLS_SEED);
    same("thread-local words (Rust)", WORDS.with(Cell::get), want)?;
    let via_fs: [u64; 8] = std::array::from_fn(|i| fs_read(st.words_off.wrapping_add(8 * i)));
    same("thread-local words (%fs)", via_fs, want)?;
    same("thread-local string", TEXT.with(|t| t.borrow().clone()), st.text.clone())?;
    same("GS base (ARCH_GET_GS)", format!("{:#x}", arch_get(ARCH_GET_GS)), format!("{:#x}", st.gs_base))?;
    let mut want = words(GS_SEED);
    let via_gs: [u64; 7] = std::array::from_fn(|i| gs_read(8 * i));
    same("%gs:0..56", &via_gs[..], &want[..7])?;
    want[7] = st.count.rotate_left(17);
    gs_write(56, want[7]);
    // SAFETY: the GS base is the leaked 8-word buffer.
    let heap = unsafe { std::ptr::read_volatile((st.gs_base as *const u64).add(7)) };
    same("a word written through %gs:56, read through the heap", heap, want[7])
}

pub(crate) fn tick(n: u64) {
    super::tick(n, &TLS, round);
}
