// SPDX-License-Identifier: GPL-2.0

//! The current task's user context: registers, FPU state and signal state,
//! read and written from the task's own context (task_work, an ioctl, a
//! syscall probe), plus the C helpers in `helpers.c` that reach inline
//! kernel functions.

use crate::image::{AltStack, PendingSignal, Regs, SigAction, SigState, NSIG, SIGINFO_LEN};
use kernel::{bindings, prelude::*};

/// One signal action in the C helper's layout (`struct roam_sigact`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawSigAct {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

extern "C" {
    fn roam_current_regs() -> *mut bindings::pt_regs;
    fn roam_fatal_signal_pending() -> i32;
    fn roam_dequeue_signal() -> i32;
    fn roam_take_signal(info: *mut u8, shared: *mut i32) -> i32;
    fn roam_give_signal(sig: i32, info: *const u8) -> i32;
    fn roam_sig_snapshot(blocked: *mut u64, acts: *mut RawSigAct, n: u32, ss_sp: *mut u64, ss_size: *mut u64, ss_flags: *mut u32);
    fn roam_current_vdso() -> u64;
    fn roam_fpu_user_size() -> u32;
    fn roam_block_all_signals();
    fn roam_hold_signals() -> u64;
    fn roam_set_blocked(mask: u64);
    fn roam_temp_sigmask(mask: u64);
    fn roam_sigpending() -> i32;
    fn roam_pending_handlers() -> i32;
    fn roam_saved_sigmask(mask: *mut u64) -> i32;
    fn roam_arm_saved_sigmask(mask: u64);
    fn roam_temp_sigmask_end(interrupted: bool);
    fn roam_set_comm(name: *const u8);
    fn roam_gate_all_signals(gate: u64);
    fn roam_ungate_signals();
    fn roam_is_exiting() -> i32;
}

/// `NT_PRSTATUS`: the general-register regset's note type.
const NT_PRSTATUS: u32 = 1;

/// The regset of the current task's native view with note type `note`.
fn regset(note: u32) -> Result<*const bindings::user_regset> {
    // SAFETY: `get_current` is always valid in process context;
    // `task_user_regset_view` returns the static view of its ABI.
    let view = unsafe { bindings::task_user_regset_view(bindings::get_current()) };
    if view.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: the view is static and holds `n` regsets at `regsets`.
    let (sets, n) = unsafe { ((*view).regsets, (*view).n as usize) };
    for i in 0..n {
        // SAFETY: `i < n`, within the static array.
        let rs = unsafe { sets.add(i) };
        // SAFETY: `rs` points into the static array.
        if unsafe { (*rs).core_note_type } == note {
            return Ok(rs);
        }
    }
    Err(ENODEV)
}

/// Reads regset `note` of the current task into `buf`; returns its size.
fn read_regset(note: u32, buf: &mut [u8]) -> Result<usize> {
    let rs = regset(note)?;
    // SAFETY: `rs` is a static regset; `n * size` is its full size.
    let full = unsafe { ((*rs).n as usize) * ((*rs).size as usize) };
    if full > buf.len() {
        return Err(E2BIG);
    }
    // SAFETY: reading the current task's own registers; `buf` has room for
    // `full` bytes, the size we pass.
    let got = unsafe { bindings::regset_get(bindings::get_current(), rs, full as u32, buf.as_mut_ptr().cast()) };
    if got < 0 {
        return Err(Error::from_errno(got));
    }
    Ok(got as usize)
}

/// The current task's user registers (`user_regs_struct`, with the live
/// fs/gs bases).
pub(crate) fn regs() -> Result<Regs> {
    let mut b = [0u8; Regs::SIZE];
    let n = read_regset(NT_PRSTATUS, &mut b)?;
    if n != Regs::SIZE {
        return Err(EINVAL);
    }
    Ok(Regs::from_bytes(&b))
}

/// The current task's FPU/SSE/AVX state in the user (XSAVE, non-compacted)
/// layout, appended to `out`.
pub(crate) fn xstate(out: &mut KVec<u8>) -> Result {
    let rs = regset(bindings::NT_X86_XSTATE)?;
    // SAFETY: static regset.
    let full = unsafe { ((*rs).n as usize) * ((*rs).size as usize) };
    if full > crate::image::MAX_XSTATE as usize {
        return Err(E2BIG);
    }
    let mut buf = crate::sys::bytes::zeroed_kv(full, GFP_KERNEL)?;
    let n = read_regset(bindings::NT_X86_XSTATE, &mut buf)?;
    // The regset is sized for every feature the CPU has; a signal frame
    // may carry only what this task's fpstate holds (features it never
    // used, such as AMX tiles, are zero in the rest).
    // SAFETY: reads the current task's own fpstate size.
    let user = unsafe { roam_fpu_user_size() } as usize;
    *out = KVec::new();
    out.extend_from_slice(&buf[..n.min(full).min(user.max(576))], GFP_KERNEL)?;
    Ok(())
}

/// Runs `f` on the current task's saved user registers (`pt_regs`).
pub(crate) fn with_pt_regs<R>(f: impl FnOnce(&mut bindings::pt_regs) -> R) -> R {
    // SAFETY: in process context the current task's pt_regs sit at the top
    // of its kernel stack for as long as it runs; only it touches them while
    // it is in the kernel, and the reference does not outlive `f`.
    let regs = unsafe { &mut *roam_current_regs() };
    f(regs)
}

/// Whether SIGKILL (or a group exit) is pending for the current task.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: reads the current task's flags.
    unsafe { roam_fatal_signal_pending() != 0 }
}

/// Whether any signal (or task work) is pending for the current task.
pub(crate) fn signal_pending() -> bool {
    kernel::current!().signal_pending()
}

/// Whether a signal is pending and unblocked for the current task (not
/// only task_work queued with a notification, as [`signal_pending`] also
/// says).
pub(crate) fn real_signal_pending() -> bool {
    // SAFETY: reads the current task's flag.
    unsafe { roam_sigpending() != 0 }
}

/// Whether a system call interrupted with `-ERESTARTSYS` would be made
/// again for the signals now pending (none has a handler without
/// `SA_RESTART`), as the kernel's signal code decides.
pub(crate) fn pending_signals_restart() -> bool {
    // SAFETY: reads the current task's signal state under its siglock.
    unsafe { roam_pending_handlers() & 2 == 0 }
}

/// Whether a signal now pending and unblocked has a handler: a call
/// interrupted with `-ERESTARTNOHAND` (or through its restart block)
/// ends with `EINTR`, as the kernel's signal code decides.
pub(crate) fn handler_pending() -> bool {
    // SAFETY: reads the current task's signal state under its siglock.
    unsafe { roam_pending_handlers() & 1 != 0 }
}

/// The mask a call that waits with a mask of its own (`ppoll`,
/// `rt_sigsuspend`, ...) left for the signal code to put back, if any
/// (the kernel's `saved_sigmask` while `restore_sigmask` is set).
pub(crate) fn saved_mask() -> Option<u64> {
    let mut m = 0u64;
    // SAFETY: reads the current task's own fields into a local.
    (unsafe { roam_saved_sigmask(&mut m) } != 0).then_some(m)
}

/// Leaves `mask` for the signal code to put back, as such a call does:
/// the next signal's handler frame saves it, or, with none to deliver,
/// it is blocked again before the task returns to user mode. Safe with
/// preemption disabled (the current task's own fields and flags).
pub(crate) fn arm_saved_mask(mask: u64) {
    // SAFETY: changes the current task's own saved mask and flags.
    unsafe { roam_arm_saved_sigmask(mask) };
}

/// Takes one pending signal other than SIGKILL off the current task.
pub(crate) fn dequeue_signal() -> Option<u32> {
    // SAFETY: operates on the current task under its siglock.
    let s = unsafe { roam_dequeue_signal() };
    (s > 0).then_some(s as u32)
}

/// Takes the first pending signal other than SIGKILL and SIGSTOP off the
/// current task (its private queue first, each queue in order), with its
/// `siginfo` and queue. Taken means gone: nothing delivers it here any
/// more unless [`give_signal`] puts it back.
pub(crate) fn take_signal() -> Option<PendingSignal> {
    let mut info = [0u8; SIGINFO_LEN];
    let mut shared = 0i32;
    // SAFETY: operates on the current task under its siglock; `info` has
    // room for the 48 bytes of a `kernel_siginfo` (checked at build time in
    // the helper) and `shared` is a local.
    let sig = unsafe { roam_take_signal(info.as_mut_ptr(), &mut shared) };
    (sig > 0).then_some(PendingSignal { signo: sig as u32, shared: shared != 0, info })
}

/// Queues `s` again on the current task, on its private queue whatever
/// queue it came from (the kernel exports no way to reach the shared one
/// with a `siginfo`). Fails with the kernel's error (e.g. `EAGAIN` when
/// `RLIMIT_SIGPENDING` is reached for a real-time signal).
pub(crate) fn give_signal(s: &PendingSignal) -> Result {
    // SAFETY: `s.info` is 48 bytes, a `kernel_siginfo`, read by copy; the
    // current task is valid and `send_sig_info` takes its own locks.
    let r = unsafe { roam_give_signal(s.signo as i32, s.info.as_ptr()) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// The current task's blocked mask, signal actions and alternate stack.
/// Boxed, as the actions read from the C side are held: both are too
/// large for the stack of a task that goes on to send itself.
pub(crate) fn sig_state() -> Result<KBox<SigState>> {
    let mut acts = KVec::from_elem(RawSigAct::default(), NSIG, GFP_KERNEL)?;
    let (mut blocked, mut sp, mut size, mut flags) = (0u64, 0u64, 0u64, 0u32);
    // SAFETY: all pointers are to locals or to `acts`, which has room for
    // `NSIG` actions.
    unsafe { roam_sig_snapshot(&mut blocked, acts.as_mut_ptr(), NSIG as u32, &mut sp, &mut size, &mut flags) };
    let mut s = KBox::new(SigState::EMPTY, GFP_KERNEL)?;
    s.blocked = blocked;
    for (d, a) in s.actions.iter_mut().zip(acts.iter()) {
        *d = SigAction { handler: a.handler, flags: a.flags, restorer: a.restorer, mask: a.mask };
    }
    s.altstack = AltStack { sp, flags, size };
    Ok(s)
}

/// Where the current task's vDSO is mapped (0 if none).
pub(crate) fn vdso() -> u64 {
    // SAFETY: reads the current task's own mm context.
    unsafe { roam_current_vdso() }
}

/// Sends `sig` to the current task (e.g. SIGKILL to end it).
pub(crate) fn signal_self(sig: u32) {
    // SAFETY: the current task is valid; `send_sig` takes its own locks.
    unsafe { bindings::send_sig(sig as i32, bindings::get_current(), 1) };
}

/// The current task's pid and thread-group id (initial namespace).
pub(crate) fn ids() -> (u32, u32) {
    // SAFETY: constant fields of the current task.
    unsafe {
        let t = bindings::get_current();
        ((*t).pid as u32, (*t).tgid as u32)
    }
}

/// The current task's command name.
pub(crate) fn comm() -> [u8; 16] {
    let mut out = [0u8; 16];
    // SAFETY: `comm` is a fixed 16-byte array of the current task; racy
    // reads of it are what the kernel itself does for `ps`.
    let c = unsafe { (*bindings::get_current()).comm };
    for (d, s) in out.iter_mut().zip(c.iter()) {
        *d = *s as u8;
    }
    out
}

/// Blocks every signal but SIGKILL and SIGSTOP for the current task (until
/// the restorer's `rt_sigreturn` sets the real mask).
pub(crate) fn block_all_signals() {
    // SAFETY: changes the current task's own mask under its locks.
    unsafe { roam_block_all_signals() };
}

/// Blocks every signal but SIGKILL and SIGSTOP for the current task while
/// it sends itself away: a signal arriving meanwhile stays pending (and
/// travels, or is delivered here if the move fails) instead of breaking
/// the sends and waits with `EINTR`. Returns the mask to give back with
/// [`set_blocked`].
pub(crate) fn hold_signals() -> u64 {
    // SAFETY: changes the current task's own mask under its locks.
    unsafe { roam_hold_signals() }
}

/// Sets the current task's blocked mask (SIGKILL and SIGSTOP never).
pub(crate) fn set_blocked(mask: u64) {
    // SAFETY: changes the current task's own mask under its locks.
    unsafe { roam_set_blocked(mask) };
}

/// Blocks `mask` instead of the current task's mask while a call waits,
/// as `ppoll`'s mask argument does: the old mask is kept for the signal
/// code to put back ([`end_temp_mask`]).
pub(crate) fn temp_mask(mask: u64) {
    // SAFETY: changes the current task's own mask and saved mask.
    unsafe { roam_temp_sigmask(mask) };
}

/// Ends [`temp_mask`]: if a signal `interrupted` the call (and is
/// pending), the mask goes back after its handler's frame is set up;
/// otherwise now.
pub(crate) fn end_temp_mask(interrupted: bool) {
    // SAFETY: changes the current task's own mask.
    unsafe { roam_temp_sigmask_end(interrupted) };
}

/// Renames the current task (`comm`, what `ps` shows) to `name` (up to
/// its first NUL, at most 15 bytes).
pub(crate) fn set_comm(name: &[u8; 16]) {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(name.iter().take(15)) {
        *d = *s;
    }
    // SAFETY: `n` is NUL-terminated (its last byte is 0) and outlives the
    // call; the helper copies it under the task lock.
    unsafe { roam_set_comm(n.as_ptr()) };
}

/// Points every catchable signal of the current task at the user handler
/// `gate` and unblocks them all (a deputy's signals go to its remote).
pub(crate) fn gate_all_signals(gate: u64) {
    // SAFETY: changes the current task's own actions under its siglock.
    unsafe { roam_gate_all_signals(gate) };
}

/// Puts every catchable signal of the current task back to its default.
pub(crate) fn ungate_signals() {
    // SAFETY: as above.
    unsafe { roam_ungate_signals() };
}

/// Whether the current task is exiting.
pub(crate) fn is_exiting() -> bool {
    // SAFETY: reads the current task's flags.
    unsafe { roam_is_exiting() != 0 }
}
