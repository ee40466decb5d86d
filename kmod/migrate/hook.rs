// SPDX-License-Identifier: GPL-2.0

//! The system-call hook (`sys_enter` tracepoint) and its table of the
//! processes it acts for. Called for every system call on the node with
//! preemption disabled, so it never sleeps: for a guest it answers
//! `getpid`/`gettid` from the home values, brings it home for a 32-bit
//! call (`int $0x80`, whose numbers are another table's), runs here the signals it
//! queues to itself, brings it home to make a timer that signals a thread
//! by id, lets calls that only touch the user context run, and for the rest skips the call and queues task_work
//! that forwards it (`remote.rs`) or brings the process home; for a deputy
//! it catches the trampoline's gates (`deputy.rs`). The probe is
//! registered only while the table has entries.
//!
//! Owns [`GuestIds`], the table's pid filter and the hook's reference to
//! the engine ([`MOVER`]).

use super::deputy::{MAGIC_RET, MAGIC_SIG};
use super::Mover;
use crate::fwd;
use crate::sys::uctx;
use super::{filemap, sockmsg, vectored};
use crate::syscalls::{self, Disposition};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::{bindings, prelude::*, sync::Arc};

const NR_GETPID: i64 = 39;
const NR_GETTID: i64 = 186;
const NR_EXIT: i64 = 60;
const NR_EXIT_GROUP: i64 = 231;
const NR_RT_SIGQUEUEINFO: i64 = 129;
const NR_RT_TGSIGQUEUEINFO: i64 = 297;
const NR_TIMER_CREATE: i64 = 222;
const NR_PRCTL: i64 = 157;
const NR_RT_SIGRETURN: i64 = 15;
/// `prctl` options whose effect must stay with the task at home, where
/// its later calls and its `execve`s happen: `PR_SET_SECCOMP` and
/// `PR_SET_NO_NEW_PRIVS` (made on a remote they would be lost on the way
/// home, and with them the sandbox).
const PR_SET_SECCOMP: u64 = 22;
const PR_SET_NO_NEW_PRIVS: u64 = 38;
/// `prctl` options that change credentials (`docs/syscalls.md`): made
/// at home, like `setuid`, so that both sides keep the same ones.
const PR_SET_KEEPCAPS: u64 = 8;
const PR_CAPBSET_DROP: u64 = 24;
const PR_SET_SECUREBITS: u64 = 28;
const PR_CAP_AMBIENT: u64 = 47;
const PR_CAP_AMBIENT_IS_SET: u64 = 1;
const NR_PRLIMIT64: i64 = 302;
/// `prctl` options about the process's relation to its parent and
/// children, which live at home: the parent-death signal and the
/// child-subreaper flag are set on the task at home (the next move
/// carries them).
const PR_SET_PDEATHSIG: u64 = 1;
const PR_SET_CHILD_SUBREAPER: u64 = 36;
/// Scheduling changes of the caller itself are made at home, so that the
/// deputy and the next move agree (others' are forwarded as they are).
const NR_SETPRIORITY: i64 = 141;
const NR_GETRUSAGE: i64 = 98;
const NR_SCHED_SETPARAM: i64 = 142;
const NR_SCHED_SETSCHEDULER: i64 = 144;
/// `ptrace` requests that attach a tracer: made on a deputy, they first
/// bring its process home, so that the tracer sees the real process.
pub(super) const NR_PTRACE: i64 = 101;
const PTRACE_ATTACH: u64 = 16;
const PTRACE_SEIZE: u64 = 0x4206;
/// The errno a call skipped by the hook shows until its task_work runs.
const ENOMEM_: i64 = 12;
const ENOSYS_: i64 = 38;

/// The hook's view of the guests: looked up with preemption disabled.
#[derive(Clone, Copy, Default)]
pub(super) struct GuestIds {
    pub(super) pid: u32,
    pub(super) home_pid: u32,
    pub(super) home_tgid: u32,
    /// A deputy (its gate calls are caught) rather than a guest.
    pub(super) deputy: bool,
    /// A new guest still in its restorer (until its `rt_sigreturn`): the
    /// calls the restorer makes to rebuild the process here (timers to a
    /// thread by id, its CPU time limit) run here, whatever the table
    /// says for the program's own.
    pub(super) restoring: bool,
    /// Work waits for the restorer to finish (`arriving.rs`).
    pub(super) held: bool,
    /// The number (plus one; 0: none) of a call the hook skipped whose
    /// work has not run yet. task_work runs newest first, so a move
    /// queued after that work is captured before it: the image then
    /// makes the call again on arrival ([`Mover::skipped_call`]).
    pub(super) skipped: i64,
    /// A process of this node just taken back by its deputy, still in
    /// its restorer: every call runs here, and at its `rt_sigreturn` the
    /// restorer's scratch area goes and so does this entry.
    pub(super) back: bool,
    /// The mask its image held for the signal code to put back
    /// ([`crate::image::SigState::saved`]): armed again at the
    /// restorer's `rt_sigreturn`.
    pub(super) saved: Option<u64>,
}

impl Mover {
    /// Enters `ids` in the hook's table and makes sure the probe is
    /// registered. Process context (may sleep).
    pub(super) fn hook(&self, ids: GuestIds) -> bool {
        if crate::sys::hook::get().is_err() {
            return false;
        }
        let mut t = self.hook_ids.lock();
        if let Some(slot) = t.iter_mut().find(|s| s.pid == 0) {
            *slot = ids;
            filter_slot(ids.pid).fetch_add(1, Ordering::Release);
            self.nguests.fetch_add(1, Ordering::Release);
            return true;
        }
        drop(t);
        crate::sys::hook::put();
        false
    }

    /// Removes `pid` from the hook's table (the probe goes with the last
    /// entry). Process context (may sleep).
    pub(super) fn unhook(&self, pid: u32) {
        let found = {
            let mut t = self.hook_ids.lock();
            match t.iter_mut().find(|s| s.pid == pid && pid != 0) {
                Some(slot) => {
                    *slot = GuestIds::default();
                    filter_slot(pid).fetch_sub(1, Ordering::Release);
                    self.nguests.fetch_sub(1, Ordering::Release);
                    true
                }
                None => false,
            }
        };
        if found {
            crate::sys::hook::put();
        }
    }
}

/// The guest hook: called for every system call on this node with
/// preemption disabled. Must not sleep.
fn on_syscall(m: &Mover, regs: &mut bindings::pt_regs, nr: i64) {
    if m.nguests.load(Ordering::Acquire) == 0 {
        return;
    }
    let tgid = uctx::ids().1;
    // Most callers are not in the table: say so without the lock.
    if filter_slot(tgid).load(Ordering::Acquire) == 0 {
        // A tracer attaching to a process that runs elsewhere (`gdb -p`,
        // `strace -p` on its home pid): the process comes home first.
        if nr == NR_PTRACE && (regs.di as u64 == PTRACE_ATTACH || regs.di as u64 == PTRACE_SEIZE) {
            if let Some(pid) = deputy_named(m, regs.si as u64) {
                skip_for(regs, move |me| me.home_for_tracer(pid));
            }
        }
        return;
    }
    let ids = {
        let t = m.hook_ids.lock();
        t.iter().find(|s| s.pid == tgid && tgid != 0).copied()
    };
    let Some(ids) = ids else { return };
    if ids.restoring {
        match nr {
            NR_RT_SIGRETURN => {
                // The mask a call with a mask of its own held when the
                // process left, for the signal that ended that call (its
                // handler's frame saves it) or to be blocked again on the
                // way out. The sigreturn below leaves it be.
                if let Some(m) = ids.saved {
                    uctx::arm_saved_mask(m);
                }
                let held = {
                    let mut t = m.hook_ids.lock();
                    match t.iter_mut().find(|s| s.pid == tgid) {
                        Some(s) => {
                            s.restoring = false;
                            core::mem::take(&mut s.held)
                        }
                        None => false,
                    }
                };
                // Once the process is itself (this task_work runs after the
                // sigreturn): the restorer's scratch area goes, and work
                // held until now runs.
                if let Some(me) = MOVER.get() {
                    let back = ids.back;
                    let done = move || {
                        if back {
                            me.back_restored(tgid);
                        }
                        me.release_restored(tgid, held);
                    };
                    if crate::sys::taskwork::queue_current(done, GFP_ATOMIC).is_err() {
                        pr_warn!("pid {}: cannot queue the end of its restore (its scratch area stays mapped)\n", tgid);
                    }
                }
                return;
            }
            NR_TIMER_CREATE | NR_PRLIMIT64 => return,
            _ => {}
        }
    }
    // Back home: its calls are its own here (the restorer's, and any made
    // after it if the work that forgets the entry could not be queued).
    if ids.back {
        return;
    }
    // A 32-bit call (`int $0x80`) has a number of the 32-bit table: never
    // look it up in the 64-bit one. A guest makes it at home, natively; a
    // deputy makes none (its only user code is its trampoline).
    if crate::sys::hook::in_compat_syscall() {
        if ids.deputy {
            regs.orig_ax = u64::MAX as _;
            regs.ax = (-ENOSYS_) as u64 as _;
        } else {
            if first_time_compat() {
                pr_info!("a migrated process made a 32-bit system call ({}): it is brought home to make it there\n", nr);
            }
            bring_home(regs, nr);
        }
        return;
    }
    if ids.deputy {
        // A deputy back from a call it made for its remote, or caught by
        // its signal gate.
        if nr == MAGIC_RET || nr == MAGIC_SIG {
            regs.orig_ax = u64::MAX as _;
            let (a, b, c) = (regs.di as u64, regs.si as u64, regs.r10 as u64);
            if let Some(me) = MOVER.get() {
                let _ = crate::sys::taskwork::queue_current(move || me.after_native(nr, a, b, c), GFP_ATOMIC);
            }
        } else if let Some(me) = MOVER.get() {
            // A call it makes natively (the only other kind it makes):
            // should the task die in it (a SIGKILL at home while it
            // blocks), this work runs from its exit and ends the deputy.
            // Queued here, at the call's entry, so that it is pending for
            // exactly the call's length.
            let tgid = ids.pid;
            let _ = crate::sys::taskwork::queue_current(move || me.deputy_exit_watch(tgid), GFP_ATOMIC);
        }
        return;
    }
    match nr {
        NR_GETPID => {
            regs.orig_ax = u64::MAX as _;
            regs.ax = ids.home_tgid as _;
            return;
        }
        NR_GETTID => {
            regs.orig_ax = u64::MAX as _;
            regs.ax = ids.home_pid as _;
            return;
        }
        NR_EXIT | NR_EXIT_GROUP => return,
        NR_RT_SIGQUEUEINFO | NR_RT_TGSIGQUEUEINFO if queue_to_self(regs, nr, &ids) => return,
        // Timers run where the process runs, but one that signals a
        // thread by id names it as the process knows it (the home id):
        // that timer is made at home.
        NR_PRCTL if prctl_at_home(regs.di as u64, regs.si as u64) => {
            bring_home(regs, nr);
            return;
        }
        // A new limit for itself: set at home (limits of another process
        // are forwarded as they are).
        NR_PRLIMIT64 if regs.dx != 0 && (regs.di == 0 || regs.di as u64 == u64::from(ids.home_tgid)) => {
            bring_home(regs, nr);
            return;
        }
        // Its own resource usage (RUSAGE_SELF, RUSAGE_THREAD) is counted
        // where it runs: the task here started from the CPU time it had
        // used. Its children's (RUSAGE_CHILDREN) are at home.
        NR_GETRUSAGE if regs.di == 0 || regs.di == 1 => return,
        // Its own nice value (PRIO_PROCESS) or scheduling policy.
        NR_SETPRIORITY if regs.di == 0 && (regs.si as u32 == 0 || regs.si as u32 == ids.home_tgid) => {
            bring_home(regs, nr);
            return;
        }
        NR_SCHED_SETPARAM | NR_SCHED_SETSCHEDULER if regs.di as u32 == 0 || regs.di as u32 == ids.home_tgid => {
            bring_home(regs, nr);
            return;
        }
        vectored::NR_READV | vectored::NR_WRITEV | vectored::NR_PREADV | vectored::NR_PWRITEV | vectored::NR_PREADV2 | vectored::NR_PWRITEV2 => {
            let args = call_args(regs);
            if !vectored::is_vectored(nr, &args) {
                bring_home(regs, nr);
                return;
            }
            skip_for(regs, move |me| me.forward_vectored(nr, args));
            return;
        }
        sockmsg::NR_SENDMMSG | sockmsg::NR_RECVMMSG => {
            let args = call_args(regs);
            if !sockmsg::is_mmsg(nr, &args) {
                bring_home(regs, nr);
                return;
            }
            skip_for(regs, move |me| me.forward_mmsg(nr, args));
            return;
        }
        // A file mapping: a private one is copied from home where the
        // process runs; others are made at home.
        filemap::NR_MMAP if regs.r10 as u64 & filemap::MAP_ANONYMOUS == 0 => {
            if !filemap::copies(regs.r10 as u64) {
                bring_home(regs, nr);
                return;
            }
            let args = call_args(regs);
            skip_for(regs, move |me| me.map_home_file(args));
            return;
        }
        NR_TIMER_CREATE if regs.si != 0 && crate::sys::timers::sigevent_notify(regs.si as u64).is_none_or(|n| n & 4 != 0) => {
            bring_home(regs, nr);
            return;
        }
        _ => {}
    }
    match syscalls::lookup(nr as u64).disposition {
        Disposition::Local => {}
        Disposition::Forward => {
            let args = call_args(regs);
            if let Ok((plans, largs)) = fwd::plan(&syscalls::lookup(nr as u64), &args) {
                skip_for(regs, move |me| {
                    let _ = me.forward_call(nr, nr, args, plans, largs);
                });
                return;
            }
            if first_time(nr) {
                pr_info!("{} ({}) is not forwarded yet: a migrated process calling it is brought home first\n", syscalls::name(nr as u64), nr);
            }
            bring_home(regs, nr);
        }
        Disposition::BringHome => bring_home(regs, nr),
    }
}

/// Whether `prctl(option, arg2, ..)` must run at home: the sandbox
/// (seccomp, no-new-privileges) and changes of credentials.
fn prctl_at_home(option: u64, arg2: u64) -> bool {
    match option {
        PR_SET_SECCOMP | PR_SET_NO_NEW_PRIVS | PR_SET_KEEPCAPS | PR_CAPBSET_DROP | PR_SET_SECUREBITS | PR_SET_PDEATHSIG
        | PR_SET_CHILD_SUBREAPER => true,
        PR_CAP_AMBIENT => arg2 != PR_CAP_AMBIENT_IS_SET,
        _ => false,
    }
}

/// A signal a guest queues to itself, named by its home ids (what
/// `getpid` and `gettid` gave it; the restorer re-queueing the signals
/// that moved with it does the same): the call runs here, on the local
/// ids, and keeps its `siginfo` (forwarded home, it would reach the
/// deputy and come back without it). Returns whether it does. The
/// system-call ABI preserves the argument registers, so the ones the
/// caller passed are put back before it returns to user mode (in
/// task_work, which also runs before a signal frame would save them).
fn queue_to_self(regs: &mut bindings::pt_regs, nr: i64, ids: &GuestIds) -> bool {
    let (di, si) = (regs.di as u64, regs.si as u64);
    // pid_t arguments: the low 32 bits.
    let to_self = match nr {
        NR_RT_SIGQUEUEINFO => di as u32 == ids.home_tgid,
        NR_RT_TGSIGQUEUEINFO => di as u32 == ids.home_tgid && si as u32 == ids.home_pid,
        _ => false,
    };
    if !to_self {
        return false;
    }
    let restore = move || uctx::with_pt_regs(|r| (r.di, r.si) = (di as _, si as _));
    if crate::sys::taskwork::queue_current(restore, GFP_ATOMIC).is_err() {
        // Without the restore the call cannot run here: forward it.
        return false;
    }
    let (pid, tgid) = uctx::ids();
    regs.di = tgid as _;
    if nr == NR_RT_TGSIGQUEUEINFO {
        regs.si = pid as _;
    }
    true
}

/// How many entries of the hook's table have a pid in each class (pid
/// modulo 256): a system call whose caller's class is empty skips the
/// table's lock.
static HOOK_FILTER: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];

fn filter_slot(pid: u32) -> &'static AtomicU32 {
    &HOOK_FILTER[(pid % 256) as usize]
}

/// System calls already reported in dmesg (one bit per number).
static REPORTED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Whether this is the first time `nr` is reported (then marks it).
fn first_time(nr: i64) -> bool {
    let Ok(n) = usize::try_from(nr) else { return false };
    let Some(word) = REPORTED.get(n / 64) else { return false };
    let bit = 1u64 << (n % 64);
    word.fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// Whether this is the first 32-bit call reported (then marks it).
fn first_time_compat() -> bool {
    static SEEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    !SEEN.swap(true, Ordering::Relaxed)
}

/// `pid`, if it names a deputy (for a caller in the initial pid
/// namespace, whose ids are the ones the table keeps).
fn deputy_named(m: &Mover, pid: u64) -> Option<u32> {
    let pid = u32::try_from(pid).ok().filter(|&p| p != 0 && p <= i32::MAX as u32)?;
    if filter_slot(pid).load(Ordering::Acquire) == 0 || !crate::sys::hook::caller_in_init_pid_ns() {
        return None;
    }
    let t = m.hook_ids.lock();
    t.iter().any(|s| s.pid == pid && s.deputy).then_some(pid)
}

/// The six argument registers of the call being made.
fn call_args(regs: &bindings::pt_regs) -> [u64; 6] {
    [regs.di as u64, regs.si as u64, regs.dx as u64, regs.r10 as u64, regs.r8 as u64, regs.r9 as u64]
}

/// Skips the call being made and queues `work` (with the node's mover)
/// to make it on the way back to user mode. For a process in the table
/// the call's number is noted until the work has run.
fn skip_for(regs: &mut bindings::pt_regs, work: impl FnOnce(&Arc<Mover>) + Send + 'static) {
    let nr = regs.orig_ax as i64;
    regs.orig_ax = u64::MAX as _;
    regs.ax = (-ENOMEM_) as u64 as _;
    let Some(me) = MOVER.get() else { return };
    let tgid = uctx::ids().1;
    me.note_skipped(tgid, nr + 1);
    let _ = crate::sys::taskwork::queue_current(
        move || {
            work(&me);
            me.note_skipped(tgid, 0);
        },
        GFP_ATOMIC,
    );
}

impl Mover {
    /// The deputy of `tgid` took its process back, which now runs its
    /// restorer at home: the deputy's entry becomes a [`GuestIds::back`]
    /// one until the restorer's `rt_sigreturn`. Returns whether it had an
    /// entry. Process context.
    pub(super) fn hook_back(&self, tgid: u32, saved: Option<u64>) -> bool {
        let mut t = self.hook_ids.lock();
        match t.iter_mut().find(|s| s.pid == tgid && tgid != 0) {
            Some(s) => {
                *s = GuestIds { pid: tgid, home_pid: tgid, home_tgid: tgid, restoring: true, back: true, saved, ..GuestIds::default() };
                true
            }
            None => false,
        }
    }

    /// Forgets the [`GuestIds::back`] entries of processes that ended
    /// before their restorer finished. Process context (the balancer's
    /// tick).
    pub(super) fn sweep_back(&self) {
        let mut ended = [0u32; 8];
        let mut n = 0;
        {
            let t = self.hook_ids.lock();
            for s in t.iter().filter(|s| s.back && s.pid != 0) {
                if n < ended.len() {
                    ended[n] = s.pid;
                    n += 1;
                }
            }
        }
        for &pid in ended.iter().take(n) {
            let alive = crate::sys::task::TaskRef::find(pid).map(|t| t.tgid() == pid && !t.is_exiting()).unwrap_or(false);
            if !alive {
                self.unhook(pid);
                // Work held until its restorer's end goes unrun.
                let held = {
                    let mut r = self.reg.lock();
                    self.take_held(&mut r, pid)
                };
                drop(held);
            }
        }
    }

    /// Notes (or with 0 clears) the skipped call of `tgid`, if it is in
    /// the table. Any context.
    fn note_skipped(&self, tgid: u32, nr_plus_one: i64) {
        let mut t = self.hook_ids.lock();
        if let Some(s) = t.iter_mut().find(|s| s.pid == tgid && tgid != 0) {
            s.skipped = nr_plus_one;
        }
    }

    /// The call the current task's registers show as skipped by the hook
    /// and not yet made (its work is queued behind the caller's): its
    /// number. Process context.
    pub(super) fn skipped_call(&self, orig_ax: u64, ax: u64) -> Option<i64> {
        if orig_ax != u64::MAX || ax as i64 != -ENOMEM_ {
            return None;
        }
        let tgid = uctx::ids().1;
        let t = self.hook_ids.lock();
        t.iter().find(|s| s.pid == tgid && tgid != 0).map(|s| s.skipped - 1).filter(|&nr| nr >= 0)
    }
}

/// Skips call `nr` and moves the process home, where it is made again.
fn bring_home(regs: &mut bindings::pt_regs, nr: i64) {
    skip_for(regs, move |me| me.go_home_for(nr));
}

/// The node's mover, for the hook (set while the module is loaded).
pub(super) static MOVER: MoverSlot = MoverSlot(AtomicPtr::new(core::ptr::null_mut()));

/// Holds one `Arc<Mover>` reference as a raw pointer for the hook.
pub(super) struct MoverSlot(AtomicPtr<Mover>);

impl MoverSlot {
    pub(crate) fn set(&self, m: &Arc<Mover>) {
        let raw = Arc::into_raw(m.clone()).cast_mut();
        let old = self.0.swap(raw, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Arc::into_raw` in an earlier `set`.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    pub(crate) fn clear(&self) {
        let old = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Arc::into_raw` in `set`.
            drop(unsafe { Arc::from_raw(old) });
        }
    }

    /// A new reference to the mover, if set.
    pub(crate) fn get(&self) -> Option<Arc<Mover>> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` holds a reference (from `set`) that `clear` drops only
        // after the hook is unregistered and no probe runs any more; we
        // take one more for the caller.
        let b: kernel::sync::ArcBorrow<'_, Mover> = unsafe { kernel::sync::ArcBorrow::from_raw(p) };
        Some(b.into())
    }

    /// Borrows the mover for the duration of `f` (no refcount traffic).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Mover) -> R) -> Option<R> {
        let p = self.0.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: as in `get`; the reference outlives the call.
        Some(f(unsafe { &*p }))
    }
}

/// The probe's entry: the hook with the node's engine, if any.
pub(super) fn hook_entry(regs: &mut bindings::pt_regs, nr: i64) {
    MOVER.with(|m| on_syscall(m, regs, nr));
}
