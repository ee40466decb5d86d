// SPDX-License-Identifier: GPL-2.0

//! The system-call hook: a probe on the `sys_enter` tracepoint (registered
//! by `helpers.c`) that hands every system call of every task to one Rust
//! function, which must not sleep (probes run with preemption disabled).
//!
//! The handler may set `orig_ax` to -1 to skip the call (the entry code
//! re-reads the number after the tracepoint) and put its result in `ax`.

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::{bindings, prelude::*};

extern "C" {
    fn roam_hook_register() -> i32;
    fn roam_hook_get() -> i32;
    fn roam_hook_put();
    fn roam_hook_unregister();
    fn roam_in_compat_syscall() -> i32;
    fn roam_current_in_init_pid_ns() -> i32;
}

/// Whether the calling task names processes by their ids in the initial
/// pid namespace (the ids roam keeps). Callable with preemption disabled.
pub(crate) fn caller_in_init_pid_ns() -> bool {
    // SAFETY: reads the current task's pid namespace; no preconditions.
    unsafe { roam_current_in_init_pid_ns() != 0 }
}

/// Whether the system call being hooked came in through a 32-bit entry
/// (`int $0x80`): its number is then one of the 32-bit table's, which
/// means another call than the same number in the 64-bit table.
pub(crate) fn in_compat_syscall() -> bool {
    // SAFETY: reads the current task's thread status; no preconditions.
    unsafe { roam_in_compat_syscall() != 0 }
}

/// A system-call handler: the caller's saved registers and the call number.
pub(crate) type Handler = fn(&mut bindings::pt_regs, i64);

static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Called by the C probe for every system call.
///
/// # Safety
///
/// `regs` must be the calling task's saved user registers, exclusively ours
/// for the duration of the call (the tracepoint's contract).
#[no_mangle]
#[allow(unreachable_pub)] // Called from helpers.c, by name.
pub unsafe extern "C" fn roam_sys_enter_rs(regs: *mut bindings::pt_regs, id: core::ffi::c_long) {
    let h = HANDLER.load(Ordering::Acquire);
    if h.is_null() || regs.is_null() {
        return;
    }
    // SAFETY: only `install` stores into HANDLER, always a valid `Handler`.
    let f: Handler = unsafe { core::mem::transmute::<*mut (), Handler>(h) };
    // SAFETY: per the contract.
    f(unsafe { &mut *regs }, id as i64);
}

/// The hook: the handler is set at load, but the probe is registered only
/// while there are users ([`Hook::get`]), since a registered `sys_enter`
/// probe slows every system call of every task. Unregisters (and waits for
/// running probes) on drop.
pub(crate) struct Hook(());

/// Takes a user of the hook (registering the probe for the first one).
/// May sleep.
pub(crate) fn get() -> Result {
    // SAFETY: the C side serialises users with its mutex.
    let r = unsafe { roam_hook_get() };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Drops a user taken with [`get`] (unregistering the probe with the last
/// one). May sleep.
pub(crate) fn put() {
    // SAFETY: as above; unbalanced calls are ignored by the C side.
    unsafe { roam_hook_put() };
}

impl Hook {
    /// Sets `h` as the system-call handler (the probe itself is
    /// registered by the first [`get`]).
    pub(crate) fn install(h: Handler) -> Result<Hook> {
        HANDLER.store(h as *mut (), Ordering::Release);
        // SAFETY: registers the C probe; undone in `Drop`.
        let r = unsafe { roam_hook_register() };
        if r != 0 {
            HANDLER.store(core::ptr::null_mut(), Ordering::Release);
            return Err(Error::from_errno(r));
        }
        Ok(Hook(()))
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        // SAFETY: unregisters the probe registered in `install` and waits
        // until no probe runs any more.
        unsafe { roam_hook_unregister() };
        HANDLER.store(core::ptr::null_mut(), Ordering::Release);
    }
}
