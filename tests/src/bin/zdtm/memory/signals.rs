//! `sighandlers` and `sigmask`.
//!
//! `sighandlers`: before `READY` these actions are installed (with
//! `sigaction`, which adds `SA_RESTORER`):
//! * SIGUSR1: `SA_SIGINFO | SA_RESTART`, mask {SIGUSR2, SIGWINCH,
//!   SIGRTMIN+3}, handler `on_info`;
//! * SIGUSR2: `SA_NODEFER`, mask {SIGHUP}, handler `on_nodefer`, which
//!   queues SIGUSR2 to itself once more from inside its first run (so
//!   with `SA_NODEFER` it nests: depth 2, two runs);
//! * SIGHUP: `SA_RESETHAND | SA_SIGINFO`, mask {SIGINT}, handler
//!   `on_info` (after it runs the action is `SIG_DFL`, same flags; the
//!   round installs it again);
//! * SIGWINCH: `SA_ONSTACK | SA_RESTART`, mask {SIGRTMAX}, handler
//!   `on_plain` (no alternate stack, so it runs on the normal one);
//! * SIGRTMIN+4: `SA_SIGINFO`, mask {SIGUSR1, SIGRTMIN+6, SIGRTMAX-1},
//!   handler `on_info`;
//! * SIGPIPE, SIGTTOU, SIGRTMIN+7: `SIG_IGN`; SIGURG: `SIG_DFL` with
//!   `SA_RESTART`.
//!
//! A round (at setup, every 100 ms while waiting, at the end): the raw
//! action (`rt_sigaction`: handler, flags, restorer, mask) of each of the
//! 64 signals is what it was at setup; each handled signal, queued to the
//! thread itself (`rt_tgsigqueueinfo`, `SI_QUEUE`, a value per round),
//! runs its handler once (SIGUSR2: twice, nested) before the call
//! returns, with blocked mask = the mask outside | its `sa_mask` | itself
//! unless `SA_NODEFER` (read with `rt_sigprocmask` inside the handler),
//! and the `SA_SIGINFO` ones see the code and value sent; SIGHUP's action
//! reads `SIG_DFL` afterwards; SIGWINCH sent with `kill` (through home
//! when away) also runs its handler (within 10 s); the ignored signals
//! run nothing and are not left pending.
//!
//! `sigmask`: before `READY` SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGPIPE,
//! SIGCHLD, SIGWINCH, SIGTTIN, SIGRTMIN, SIGRTMIN+5, SIGRTMAX-3, SIGRTMAX,
//! SIGKILL and SIGSTOP are blocked (`sigprocmask(SIG_BLOCK)`; the kernel
//! drops the last two), and SIGUSR1 and SIGRTMIN+5 get a handler that
//! counts. A round (at setup, every 100 ms, at the end): the blocked mask
//! (`rt_sigprocmask`) is exactly that set less SIGKILL and SIGSTOP, also
//! as the C library's `sigprocmask` gives it; SIGRTMIN+5 queued to itself
//! with the round's value is pending and nothing else is, no handler
//! runs, and `rt_sigtimedwait` takes it with that value, leaving nothing
//! pending. At the end, at home, `SigBlk` of `/proc/self/status` is the
//! same mask and `SigPnd`/`ShdPnd` are empty.

use super::super::rounds::Rounds;
use super::super::Check;
use super::{bit, blocked, failed_at_home, info_value, os_err, pending, queue_self, status_field};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The kernel's `struct sigaction` on x86-64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct KAction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Signal `s`'s action as the kernel has it.
fn kaction(s: i32) -> KAction {
    let mut a = KAction::default();
    // SAFETY: reads one action into a struct of the kernel's layout.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, s, std::ptr::null::<KAction>(), &mut a, 8usize) };
    a
}

/// Sets signal `s`'s action exactly to `a`.
fn set_kaction(s: i32, a: &KAction) -> Result<(), String> {
    // SAFETY: sets one action from a struct of the kernel's layout; the
    // handler and restorer are the ones the C library installed.
    if unsafe { libc::syscall(libc::SYS_rt_sigaction, s, a, std::ptr::null_mut::<KAction>(), 8usize) } != 0 {
        return Err(format!("rt_sigaction({s}): {}", os_err()));
    }
    Ok(())
}

/// Per signal: runs, the mask seen inside, the last code and value, the
/// nesting depth now and at most.
static RUNS: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static MASK_IN: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];
static CODE: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];
static VALUE: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
static DEPTH: AtomicU64 = AtomicU64::new(0);
/// Set by a round before it sends SIGUSR2: the handler sends it again
/// once (not every time: without `SA_NODEFER` that would never end).
static AGAIN: AtomicBool = AtomicBool::new(false);
static MAX_DEPTH: AtomicU64 = AtomicU64::new(0);

fn seen(s: i32) {
    let i = (s as usize).min(64);
    MASK_IN[i].store(blocked(), Ordering::SeqCst);
    RUNS[i].fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_plain(s: libc::c_int) {
    seen(s);
}

extern "C" fn on_info(s: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo.
    let (code, value) = unsafe { info_value(info) };
    CODE[(s as usize).min(64)].store(code, Ordering::SeqCst);
    VALUE[(s as usize).min(64)].store(value, Ordering::SeqCst);
    seen(s);
}

extern "C" fn on_nodefer(s: libc::c_int) {
    let d = DEPTH.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_DEPTH.fetch_max(d, Ordering::SeqCst);
    // The mask of the outer run is the one kept.
    if d == 1 {
        seen(s);
        if AGAIN.swap(false, Ordering::SeqCst) {
            let _ = queue_self(s, 0);
        }
    } else {
        RUNS[(s as usize).min(64)].fetch_add(1, Ordering::SeqCst);
    }
    DEPTH.fetch_sub(1, Ordering::SeqCst);
}

/// A handled signal: number, flags, mask, handler, how many runs one
/// sending gives.
struct Handled {
    sig: i32,
    flags: i32,
    mask: Vec<i32>,
    handler: usize,
    runs: u64,
}

fn handled() -> Vec<Handled> {
    let rt = libc::SIGRTMIN();
    let info = on_info as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
    let plain = on_plain as extern "C" fn(libc::c_int) as usize;
    let nodefer = on_nodefer as extern "C" fn(libc::c_int) as usize;
    vec![
        Handled { sig: libc::SIGUSR1, flags: libc::SA_SIGINFO | libc::SA_RESTART, mask: vec![libc::SIGUSR2, libc::SIGWINCH, rt + 3], handler: info, runs: 1 },
        Handled { sig: libc::SIGUSR2, flags: libc::SA_NODEFER, mask: vec![libc::SIGHUP], handler: nodefer, runs: 2 },
        Handled { sig: libc::SIGHUP, flags: libc::SA_RESETHAND | libc::SA_SIGINFO, mask: vec![libc::SIGINT], handler: info, runs: 1 },
        Handled { sig: libc::SIGWINCH, flags: libc::SA_ONSTACK | libc::SA_RESTART, mask: vec![libc::SIGRTMAX()], handler: plain, runs: 1 },
        Handled { sig: rt + 4, flags: libc::SA_SIGINFO, mask: vec![libc::SIGUSR1, rt + 6, libc::SIGRTMAX() - 1], handler: info, runs: 1 },
    ]
}

fn ignored() -> [i32; 3] {
    [libc::SIGPIPE, libc::SIGTTOU, libc::SIGRTMIN() + 7]
}

fn install(sig: i32, handler: usize, flags: i32, mask: &[i32]) -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; the set is filled by the libc
    // calls; the handlers only make async-signal-safe calls and touch
    // atomics.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = flags;
        libc::sigemptyset(&mut sa.sa_mask);
        for &m in mask {
            libc::sigaddset(&mut sa.sa_mask, m);
        }
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(format!("sigaction({sig}): {}", os_err()));
        }
    }
    Ok(())
}

struct Handlers {
    /// The raw actions of signals 1..=64 at setup.
    table: Vec<KAction>,
    rounds: Rounds,
}

static HANDLERS: Mutex<Option<Handlers>> = Mutex::new(None);

fn handlers_round(st: &Handlers, value: usize) -> Result<(), String> {
    for s in 1..=64 {
        let a = kaction(s);
        if a != st.table[s as usize - 1] {
            return Err(format!("signal {s}: action {a:x?}, at setup {:x?}", st.table[s as usize - 1]));
        }
    }
    let outside = blocked();
    for h in handled() {
        let i = h.sig as usize;
        let before = RUNS[i].load(Ordering::SeqCst);
        MAX_DEPTH.store(0, Ordering::SeqCst);
        AGAIN.store(true, Ordering::SeqCst);
        queue_self(h.sig, value)?;
        AGAIN.store(false, Ordering::SeqCst);
        let runs = RUNS[i].load(Ordering::SeqCst) - before;
        let mut want_mask = outside | h.mask.iter().map(|&m| bit(m)).sum::<u64>();
        if h.flags & libc::SA_NODEFER == 0 {
            want_mask |= bit(h.sig);
        }
        let mask = MASK_IN[i].load(Ordering::SeqCst);
        if runs != h.runs || mask != want_mask {
            return Err(format!("signal {}: handler ran {runs} times (expected {}) with mask {mask:#x} (expected {want_mask:#x})", h.sig, h.runs));
        }
        if h.flags & libc::SA_SIGINFO != 0 {
            let (code, v) = (CODE[i].load(Ordering::SeqCst), VALUE[i].load(Ordering::SeqCst));
            if code != libc::SI_QUEUE || v != value {
                return Err(format!("signal {}: siginfo code {code} value {v}, sent {} and {value}", h.sig, libc::SI_QUEUE));
            }
        }
        if h.flags & libc::SA_NODEFER != 0 && MAX_DEPTH.load(Ordering::SeqCst) != 2 {
            return Err(format!("signal {} (SA_NODEFER): nesting depth {}, expected 2", h.sig, MAX_DEPTH.load(Ordering::SeqCst)));
        }
        if h.flags & libc::SA_RESETHAND != 0 {
            let was = st.table[i - 1];
            let now = kaction(h.sig);
            if now != (KAction { handler: libc::SIG_DFL, ..was }) {
                return Err(format!("signal {} (SA_RESETHAND): action after it ran {now:x?}", h.sig));
            }
            set_kaction(h.sig, &was)?;
        }
    }
    // SIGWINCH with kill: through home when away, so allow time.
    let before = RUNS[libc::SIGWINCH as usize].load(Ordering::SeqCst);
    // SAFETY: a signal to ourselves, with a handler.
    if unsafe { libc::kill(libc::getpid(), libc::SIGWINCH) } != 0 {
        return Err(format!("kill(SIGWINCH): {}", os_err()));
    }
    let t0 = std::time::Instant::now();
    while RUNS[libc::SIGWINCH as usize].load(Ordering::SeqCst) == before && t0.elapsed().as_secs() < 10 {
        crate::sleep_ms(1);
    }
    let runs = RUNS[libc::SIGWINCH as usize].load(Ordering::SeqCst) - before;
    if runs != 1 {
        return Err(format!("SIGWINCH sent with kill ran its handler {runs} times in {:?}", t0.elapsed()));
    }
    for s in ignored() {
        queue_self(s, value)?;
        if pending() & bit(s) != 0 {
            return Err(format!("ignored signal {s} left pending"));
        }
    }
    Ok(())
}

pub(super) fn sighandlers() -> Check {
    let setup = || -> Result<Handlers, String> {
        for h in handled() {
            install(h.sig, h.handler, h.flags, &h.mask)?;
        }
        for s in ignored() {
            install(s, libc::SIG_IGN, 0, &[])?;
        }
        install(libc::SIGURG, libc::SIG_DFL, libc::SA_RESTART, &[])?;
        Ok(Handlers { table: (1..=64).map(kaction).collect(), rounds: Rounds::default() })
    };
    let mut st = match setup() {
        Ok(st) => st,
        Err(e) => return failed_at_home(e),
    };
    let first = handlers_round(&st, 1);
    st.rounds.record(first);
    *HANDLERS.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = HANDLERS.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        handlers_round(&st, 0xabcd)?;
        st.rounds.verdict()
    })
}

/// Every 100 ms: a round.
pub(super) fn sighandlers_tick(n: u64) {
    super::super::rounds::every_100ms(n, &HANDLERS, |st| {
        let r = handlers_round(st, n as usize + 2);
        st.rounds.record(r);
    });
}

/// The signals `sigmask` blocks, SIGKILL and SIGSTOP included.
fn mask_signals() -> Vec<i32> {
    let (rt, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let std = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGUSR1, libc::SIGPIPE, libc::SIGCHLD, libc::SIGWINCH, libc::SIGTTIN];
    std.into_iter().chain([rt, rt + 5, rtmax - 3, rtmax, libc::SIGKILL, libc::SIGSTOP]).collect()
}

/// The mask the kernel should hold.
fn want_mask() -> u64 {
    mask_signals().into_iter().filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP).map(bit).sum()
}

struct Mask {
    outside: u64,
    rounds: Rounds,
}

static MASK: Mutex<Option<Mask>> = Mutex::new(None);

fn mask_round(st: &Mask, value: usize) -> Result<(), String> {
    let want = st.outside | want_mask();
    let m = blocked();
    if m != want {
        return Err(format!("blocked mask {m:#018x}, expected {want:#018x}"));
    }
    // SAFETY: sigset_t is plain data, filled by the call.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: reads the mask through the C library.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut set) };
    // SAFETY: `set` is a valid sigset_t.
    let libc_mask: u64 = (1..=64).filter(|&s| unsafe { libc::sigismember(&set, s) } == 1).map(bit).sum();
    if libc_mask != want {
        return Err(format!("sigprocmask gives {libc_mask:#018x}, expected {want:#018x}"));
    }
    let s = libc::SIGRTMIN() + 5;
    let runs = RUNS[s as usize].load(Ordering::SeqCst) + RUNS[libc::SIGUSR1 as usize].load(Ordering::SeqCst);
    queue_self(s, value)?;
    let p = pending();
    if p != bit(s) {
        return Err(format!("pending {p:#018x} after queueing blocked signal {s}, expected {:#018x}", bit(s)));
    }
    let mut only: u64 = bit(s);
    // SAFETY: a zeroed siginfo is valid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid set, siginfo and timeout; the kernel's sigset size.
    let got = unsafe { libc::syscall(libc::SYS_rt_sigtimedwait, &mut only, &mut info, &zero, 8usize) } as i32;
    // SAFETY: `info` was filled (or is zero).
    let (code, v) = unsafe { info_value(&info) };
    if got != s || code != libc::SI_QUEUE || v != value {
        return Err(format!("rt_sigtimedwait gave signal {got} code {code} value {v}, expected {s}, {}, {value}", libc::SI_QUEUE));
    }
    let after = RUNS[s as usize].load(Ordering::SeqCst) + RUNS[libc::SIGUSR1 as usize].load(Ordering::SeqCst);
    if after != runs || pending() != 0 {
        return Err(format!("handlers of blocked signals ran {} times; pending now {:#x}", after - runs, pending()));
    }
    Ok(())
}

pub(super) fn sigmask() -> Check {
    let outside = blocked();
    for s in [libc::SIGRTMIN() + 5, libc::SIGUSR1] {
        if let Err(e) = install(s, on_plain as extern "C" fn(libc::c_int) as usize, 0, &[]) {
            return failed_at_home(e);
        }
    }
    // SAFETY: sigset_t is plain data, filled by the libc calls.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; blocks it for this (only) thread.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in mask_signals() {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return failed_at_home(format!("sigprocmask: {}", os_err()));
        }
    }
    let mut st = Mask { outside, rounds: Rounds::default() };
    let first = mask_round(&st, 1);
    st.rounds.record(first);
    *MASK.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = MASK.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        mask_round(&st, 0x5151)?;
        let want = st.outside | want_mask();
        let field = |name: &str| status_field(name).and_then(|v| u64::from_str_radix(&v, 16).map_err(|e| format!("{name} {v:?}: {e}")));
        let (blk, pnd, shd) = (field("SigBlk:")?, field("SigPnd:")?, field("ShdPnd:")?);
        if blk != want || pnd != 0 || shd != 0 {
            return Err(format!("/proc/self/status: SigBlk {blk:016x} (expected {want:016x}), SigPnd {pnd:x}, ShdPnd {shd:x}"));
        }
        st.rounds.verdict()
    })
}

/// Every 100 ms: a round.
pub(super) fn sigmask_tick(n: u64) {
    super::super::rounds::every_100ms(n, &MASK, |st| {
        let r = mask_round(st, n as usize + 2);
        st.rounds.record(r);
    });
}
