//! zdtm tests of memory and CPU state: the brk heap, remapped and sparse
//! regions, the layout of the address space, FPU/SSE/AVX state, signal
//! handlers, the alternate signal stack and the blocked mask. Each test's
//! exact contract is in its submodule's documentation; in short:
//!
//! * `brk` — the heap grown with `sbrk` by 8 MiB in 1 MiB steps, each
//!   filled with a pattern, then shrunk by 3 MiB: the break (`sbrk(0)` and
//!   the kernel's `brk(0)`) stays where it was, the kept 5 MiB keep their
//!   bytes, the `[heap]` line of `/proc/self/maps` is unchanged, nothing is
//!   mapped past the break, and growing it again gives zeroed pages that
//!   take a pattern and shrink back (also every 500 ms while waiting).
//! * `mremap` — regions grown and moved with `MREMAP_MAYMOVE`, moved to a
//!   chosen address with `MREMAP_FIXED` (between two `PROT_NONE` guards),
//!   shrunk in place, grown in place and moved with `MREMAP_DONTUNMAP`:
//!   every region keeps its address and bytes, the old ranges stay as they
//!   were left (unmapped, or mapped and zero), and the `/proc/self/maps`
//!   lines over each are the same; every 500 ms a scratch region is grown,
//!   moved and shrunk with `mremap` and keeps its bytes.
//! * `sparse` — a 256 MiB anonymous mapping with 64 scattered pages
//!   written and 16 of those discarded again (`MADV_DONTNEED`, or a fresh
//!   anonymous page mapped over where the kernel has no `madvise`): the
//!   written pages keep their bytes, discarded and untouched ones read
//!   zero, exactly the 48 live pages are resident (`mincore`, also every
//!   500 ms) and `VmRSS` stays far below the mapping's size.
//! * `maps_layout` — every line of `/proc/self/maps` (start, end,
//!   permissions, offset, path) but `[vdso]`, `[vvar…]`, `[vsyscall]` and
//!   any naming roam is the same after the moves as at `READY`, with a few
//!   distinctive areas added (rw, r--, r-x, a `PROT_NONE` hole splitting a
//!   rw area, a private file mapping).
//! * `fpu` — the x87 control word (round toward zero, 53-bit precision)
//!   and MXCSR (flush to zero, round up, two sticky exception flags) set
//!   before `READY`; every 10 ms while waiting and at the end both read
//!   back as set, divisions and an underflow give the results those modes
//!   give, and eight x87 registers loaded before a ~10 ms spin hold their
//!   80-bit values after it.
//! * `avx` — every 10 ms while waiting: xmm0..=15 (and ymm0..=15 when the
//!   CPU has AVX) loaded with known values, then kept live in an assembly
//!   loop of about 20 ms each that changes them in a known way, so a move
//!   in the middle must carry them; they end with exactly the expected
//!   values.
//! * `sighandlers` — distinct handlers, flags (`SA_SIGINFO`, `SA_RESTART`,
//!   `SA_NODEFER`, `SA_RESETHAND`, `SA_ONSTACK`) and masks on five
//!   signals, `SIG_IGN` on three, a flag on a `SIG_DFL`: every signal's
//!   action (handler, flags, restorer, mask) reads back as at setup, and
//!   each signal raised runs its handler once with the mask it should
//!   have, `SA_NODEFER` nests, `SA_RESETHAND` resets, ignored ones vanish
//!   (every 100 ms and at the end).
//! * `altstack`, `altstack_disarm` — an alternate signal stack in an own
//!   buffer (flags 0, resp. `SS_AUTODISARM`): `sigaltstack` reads back the
//!   same base, size and flags, and a `SA_ONSTACK` handler runs on it (a
//!   local's address lies inside) while another runs on the normal stack
//!   (every 100 ms and at the end).
//! * `sigmask` — a blocked mask of standard and real-time signals: it reads
//!   back exactly (also every 100 ms), a signal queued meanwhile stays
//!   pending without running its handler and is taken with
//!   `rt_sigtimedwait`, and at the end `SigBlk` of `/proc/self/status`
//!   agrees.

mod altstack;
mod cpu;
mod heap;
mod remap;
mod signals;

use super::{Check, Group};

pub(crate) const GROUP: Group = Group {
    tests: &[
        ("brk", heap::brk),
        ("mremap", remap::mremap),
        ("sparse", heap::sparse),
        ("fpu", cpu::fpu),
        ("avx", cpu::avx),
        ("sighandlers", signals::sighandlers),
        ("altstack", altstack::altstack),
        ("altstack_disarm", altstack::altstack_disarm),
        ("sigmask", signals::sigmask),
    ],
    busy: &[],
    ticks: &[
        ("brk", heap::brk_tick),
        ("mremap", remap::mremap_tick),
        ("sparse", heap::sparse_tick),
        ("fpu", cpu::fpu_tick),
        ("avx", cpu::avx_tick),
        ("sighandlers", signals::sighandlers_tick),
        ("altstack", altstack::tick),
        ("altstack_disarm", altstack::tick),
        ("sigmask", signals::sigmask_tick),
    ],
    known: &[("maps_layout", remap::maps_layout)],
    stays: &[],
};

/// A check that fails because the setup could not be made (`what`).
fn failed_at_home(what: String) -> Check {
    Box::new(move || Err(format!("at home, before READY: {what}")))
}

/// The last OS error, as text.
fn os_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Word `i` of pattern `seed` (a 64-bit mix of both).
fn word(seed: u64, i: usize) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64).wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes words `first..first + n` of pattern `seed` at `p`.
///
/// # Safety
/// `p..p + n` words must be writable and 8-byte aligned.
unsafe fn fill(p: usize, n: usize, seed: u64, first: usize) {
    for k in 0..n {
        // SAFETY: the caller vouches for the range.
        unsafe { (p as *mut u64).add(k).write_volatile(word(seed, first + k)) };
    }
}

/// Compares every `stride`-th of the words at `p..p + n` with words
/// `first..` of pattern `seed` (`None`: all zero); the first difference.
///
/// # Safety
/// `p..p + n` words must be readable and 8-byte aligned.
unsafe fn differs(p: usize, n: usize, seed: Option<u64>, first: usize, stride: usize) -> Option<String> {
    (0..n).step_by(stride.max(1)).find_map(|k| {
        // SAFETY: the caller vouches for the range.
        let got = unsafe { (p as *const u64).add(k).read_volatile() };
        let want = seed.map_or(0, |s| word(s, first + k));
        (got != want).then(|| format!("word at {:#x} is {got:#018x}, expected {want:#018x}", p + 8 * k))
    })
}

/// Whether any page of `addr..addr + len` is mapped: `mincore` fails with
/// `ENOMEM` on a range with an unmapped page. Ok(resident flags) if all
/// are mapped.
fn mincore(addr: usize, len: usize) -> Result<Vec<u8>, i32> {
    let mut v = vec![0u8; len.div_ceil(super::PAGE)];
    // SAFETY: `v` has one byte per page of the range; mincore only reads
    // the page tables.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, v.as_mut_ptr()) };
    if r == 0 {
        Ok(v)
    } else {
        Err(os_err().raw_os_error().unwrap_or(0))
    }
}

/// One line of `/proc/self/maps`, without device and inode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MapLine {
    start: usize,
    end: usize,
    perms: String,
    offset: u64,
    path: String,
}

impl std::fmt::Display for MapLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{:x} {} {:x} {}", self.start, self.end, self.perms, self.offset, self.path)
    }
}

/// The lines of a `/proc/self/maps` text.
fn parse_maps(text: &str) -> Vec<MapLine> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(6, ' ');
            let (a, b) = f.next()?.split_once('-')?;
            let perms = f.next()?.to_string();
            let offset = u64::from_str_radix(f.next()?, 16).ok()?;
            let (_dev, _inode) = (f.next()?, f.next()?);
            let path = f.next().unwrap_or("").trim().to_string();
            Some(MapLine { start: usize::from_str_radix(a, 16).ok()?, end: usize::from_str_radix(b, 16).ok()?, perms, offset, path })
        })
        .collect()
}

/// The lines of `/proc/self/maps` now.
fn maps() -> Result<Vec<MapLine>, String> {
    std::fs::read_to_string("/proc/self/maps").map(|t| parse_maps(&t)).map_err(|e| format!("/proc/self/maps: {e}"))
}

/// The lines of `maps` that overlap `start..end`.
fn lines_over(maps: &[MapLine], start: usize, end: usize) -> Vec<MapLine> {
    maps.iter().filter(|l| l.start < end && start < l.end).cloned().collect()
}

/// Field `name` (e.g. `VmRSS:`) of `/proc/self/status`, its text after the
/// name.
fn status_field(name: &str) -> Result<String, String> {
    let s = std::fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    s.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).ok_or_else(|| format!("no {name} in /proc/self/status"))
}

/// Bit of signal `s` in a kernel signal mask.
fn bit(s: i32) -> u64 {
    1u64 << (s - 1)
}

/// The blocked mask, as the kernel has it (`rt_sigprocmask`).
fn blocked() -> u64 {
    let mut m = 0u64;
    // SAFETY: reads the mask into an 8-byte word (the kernel's sigset size).
    unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, std::ptr::null::<u64>(), &mut m, 8usize) };
    m
}

/// The pending signals, private and shared (`rt_sigpending`).
fn pending() -> u64 {
    let mut m = 0u64;
    // SAFETY: writes an 8-byte word.
    unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut m, 8usize) };
    m
}

/// Queues signal `sig` with value `value` to this thread
/// (`rt_tgsigqueueinfo` to itself, `SI_QUEUE`): run where the process is,
/// and delivered (if not blocked) before the call returns.
fn queue_self(sig: i32, value: usize) -> Result<(), String> {
    // SAFETY: plain system calls.
    let (pid, tid, uid) = unsafe { (libc::getpid(), libc::gettid(), libc::getuid()) };
    // SAFETY: a zeroed siginfo_t is valid; the fields are set below.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = sig;
    info.si_code = libc::SI_QUEUE;
    // SAFETY: the `_rt` layout (pid at 16, uid at 20, value at 24) lies
    // inside the 128-byte siginfo_t.
    unsafe {
        let p = (&mut info as *mut libc::siginfo_t).cast::<u8>();
        p.add(16).cast::<i32>().write_unaligned(pid);
        p.add(20).cast::<u32>().write_unaligned(uid);
        p.add(24).cast::<usize>().write_unaligned(value);
    }
    // SAFETY: rt_tgsigqueueinfo(tgid, tid, sig, &info) to ourselves.
    if unsafe { libc::syscall(libc::SYS_rt_tgsigqueueinfo, pid, tid, sig, &info) } != 0 {
        return Err(format!("rt_tgsigqueueinfo({sig}): {}", os_err()));
    }
    Ok(())
}

/// The value (`si_value`) and code of a queued signal's `siginfo`.
///
/// # Safety
/// `info` must point to a valid siginfo_t.
unsafe fn info_value(info: *const libc::siginfo_t) -> (i32, usize) {
    // SAFETY: the caller vouches for `info`; the value sits at 24.
    unsafe { ((*info).si_code, info.cast::<u8>().add(24).cast::<usize>().read_unaligned()) }
}
