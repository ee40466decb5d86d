//! `altstack` and `altstack_disarm`.
//!
//! Before `READY`: a 64 KiB private anonymous buffer, of which the part
//! from 4 KiB to 4 KiB + 56 KiB + 256 bytes is installed as the alternate
//! signal stack (`sigaltstack`, flags 0 for `altstack`, `SS_AUTODISARM`
//! for `altstack_disarm`); SIGUSR1 gets a `SA_ONSTACK | SA_SIGINFO`
//! handler and SIGUSR2 a `SA_SIGINFO` one without `SA_ONSTACK`.
//!
//! A round (at setup, every 100 ms while waiting, at the end):
//! `sigaltstack(NULL, &old)` gives the same base, size and flags; SIGUSR1
//! queued to itself runs its handler once, the address of a local of the
//! handler lies in the alternate stack, the `uc_stack` of its context is
//! the alternate stack (base, size, and the flags given), and
//! `sigaltstack` inside the handler says `SS_ONSTACK` with the same base
//! and size (`altstack`), or, the stack being disarmed while it is used,
//! `SS_DISABLE` with base and size 0 (`altstack_disarm`); after the handler returns `sigaltstack` gives the
//! original again. SIGUSR2 runs its handler once, on the normal stack
//! (its local outside the whole buffer).

use super::super::rounds::Rounds;
use super::super::Check;
use super::{failed_at_home, os_err, queue_self};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

const SS_AUTODISARM: i32 = 1 << 31;
const BUF: usize = 64 * 1024;
const OFFSET: usize = 4096;
const SIZE: usize = 56 * 1024 + 256;

/// What the last run of each handler saw: a local's address, and (for
/// SIGUSR1) `uc_stack` and `sigaltstack` inside.
static LOCAL: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];
static RUNS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static UC: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
static INSIDE: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

fn current() -> libc::stack_t {
    let mut ss = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: 0, ss_size: 0 };
    // SAFETY: reads the alternate stack into `ss`.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut ss) };
    ss
}

extern "C" fn on_usr(s: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let local = 0u8;
    let k = usize::from(s == libc::SIGUSR2);
    LOCAL[k].store(std::hint::black_box(&local) as *const u8 as usize, Ordering::SeqCst);
    if k == 0 {
        // SAFETY: the kernel passes a valid ucontext to SA_SIGINFO handlers.
        let uc = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_stack };
        UC[0].store(uc.ss_sp as usize, Ordering::SeqCst);
        UC[1].store(uc.ss_size, Ordering::SeqCst);
        UC[2].store(uc.ss_flags as u32 as usize, Ordering::SeqCst);
        let ss = current();
        INSIDE[0].store(ss.ss_sp as usize, Ordering::SeqCst);
        INSIDE[1].store(ss.ss_size, Ordering::SeqCst);
        INSIDE[2].store(ss.ss_flags as u32 as usize, Ordering::SeqCst);
    }
    RUNS[k].fetch_add(1, Ordering::SeqCst);
}

struct Alt {
    buf: usize,
    flags: i32,
    rounds: Rounds,
}

static ALT: Mutex<Option<Alt>> = Mutex::new(None);

/// (base, size, flags) as text.
fn show(sp: usize, size: usize, flags: i32) -> String {
    format!("base {sp:#x} size {size} flags {flags:#x}")
}

fn round(st: &Alt, value: usize) -> Result<(), String> {
    let (sp, disarm) = (st.buf + OFFSET, st.flags & SS_AUTODISARM != 0);
    let want = show(sp, SIZE, st.flags);
    let ss = current();
    let got = show(ss.ss_sp as usize, ss.ss_size, ss.ss_flags);
    if got != want {
        return Err(format!("sigaltstack: {got}, set {want}"));
    }
    let before = [RUNS[0].load(Ordering::SeqCst), RUNS[1].load(Ordering::SeqCst)];
    queue_self(libc::SIGUSR1, value)?;
    queue_self(libc::SIGUSR2, value)?;
    let runs = [RUNS[0].load(Ordering::SeqCst) - before[0], RUNS[1].load(Ordering::SeqCst) - before[1]];
    if runs != [1, 1] {
        return Err(format!("handlers ran {runs:?} times, expected once each"));
    }
    let (on, off) = (LOCAL[0].load(Ordering::SeqCst), LOCAL[1].load(Ordering::SeqCst));
    if !(sp..sp + SIZE).contains(&on) {
        return Err(format!("SA_ONSTACK handler's local at {on:#x}, outside the alternate stack {sp:#x}+{SIZE}"));
    }
    if (st.buf..st.buf + BUF).contains(&off) {
        return Err(format!("handler without SA_ONSTACK ran on the alternate stack (local at {off:#x})"));
    }
    let l = |a: &[AtomicUsize; 3]| (a[0].load(Ordering::SeqCst), a[1].load(Ordering::SeqCst), a[2].load(Ordering::SeqCst) as u32 as i32);
    let uc = l(&UC);
    if show(uc.0, uc.1, uc.2) != want {
        return Err(format!("uc_stack in the handler: {}, expected {want}", show(uc.0, uc.1, uc.2)));
    }
    let inside = l(&INSIDE);
    let want_inside = if disarm { show(0, 0, libc::SS_DISABLE) } else { show(sp, SIZE, libc::SS_ONSTACK) };
    if show(inside.0, inside.1, inside.2) != want_inside {
        return Err(format!("sigaltstack in the handler: {}, expected {want_inside}", show(inside.0, inside.1, inside.2)));
    }
    let ss = current();
    let after = show(ss.ss_sp as usize, ss.ss_size, ss.ss_flags);
    if after != want {
        return Err(format!("sigaltstack after the handler: {after}, set {want}"));
    }
    Ok(())
}

fn setup(flags: i32) -> Result<Alt, String> {
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a fresh mapping the kernel places.
    let m = unsafe { libc::mmap(std::ptr::null_mut(), BUF, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
    if m == libc::MAP_FAILED {
        return Err(format!("mmap: {}", os_err()));
    }
    let buf = m as usize;
    let ss = libc::stack_t { ss_sp: (buf + OFFSET) as *mut libc::c_void, ss_flags: flags, ss_size: SIZE };
    // SAFETY: the stack lies inside the buffer just mapped, which is never
    // unmapped.
    if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
        return Err(format!("sigaltstack: {}", os_err()));
    }
    let handler = on_usr as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
    for (s, onstack) in [(libc::SIGUSR1, libc::SA_ONSTACK), (libc::SIGUSR2, 0)] {
        // SAFETY: a zeroed sigaction is valid; the handler only makes
        // async-signal-safe calls and touches atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            sa.sa_flags = libc::SA_SIGINFO | onstack;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(s, &sa, std::ptr::null_mut()) != 0 {
                return Err(format!("sigaction({s}): {}", os_err()));
            }
        }
    }
    Ok(Alt { buf, flags, rounds: Rounds::default() })
}

fn test(flags: i32) -> Check {
    let mut st = match setup(flags) {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    let first = round(&st, 1);
    st.rounds.record(first);
    *ALT.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = ALT.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        round(&st, 0xa17)?;
        st.rounds.verdict()
    })
}

pub(super) fn altstack() -> Check {
    test(0)
}

pub(super) fn altstack_disarm() -> Check {
    test(SS_AUTODISARM)
}

/// Every 100 ms: a round (both tests).
pub(super) fn tick(n: u64) {
    super::super::rounds::every_100ms(n, &ALT, |st| {
        let r = round(st, n as usize + 2);
        st.rounds.record(r);
    });
}
