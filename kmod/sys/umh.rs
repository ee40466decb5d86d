// SPDX-License-Identifier: GPL-2.0

//! Starting a user program from the kernel (`call_usermodehelper`) and
//! waiting for it to end.

use super::task::TaskRef;
use kernel::{bindings, prelude::*, str::CStr};

/// Runs `path` with `args` (argv[1..]) and an empty-but-PATH environment,
/// waits until it exits, and returns its wait status (as `wait(2)`
/// reports it), or the errno of a failed start. Sleeps; call from a kernel
/// thread.
pub(crate) fn run_and_wait(path: &CStr, args: &[&CStr]) -> Result<i32> {
    let mut argv = argv_of(path, args)?;
    let mut envp = [ENV_PATH.as_char_ptr().cast_mut(), core::ptr::null_mut()];
    // SAFETY: NUL-terminated strings and null-terminated arrays that stay
    // alive until `exec_and_wait` returns; no init callback or data.
    let info = unsafe {
        bindings::call_usermodehelper_setup(path.as_char_ptr(), argv.as_mut_ptr(), envp.as_mut_ptr(), bindings::GFP_KERNEL, None, None, core::ptr::null_mut())
    };
    exec_and_wait(info)
}

/// Starts the helper set up as `info` (null: the set-up failed), waits
/// until it exits and returns its wait status.
fn exec_and_wait(info: *mut bindings::subprocess_info) -> Result<i32> {
    if info.is_null() {
        return Err(ENOMEM);
    }
    // The wait lasts as long as the program runs (a guest: minutes or
    // days), so it is a killable one: the hung-task detector leaves those
    // alone, where an uninterruptible wait is reported after its timeout.
    // The callers are kernel threads, which ignore every signal, so the
    // wait still ends only when the program does.
    let wait = (bindings::UMH_WAIT_PROC | bindings::UMH_KILLABLE) as i32;
    // SAFETY: `info` was just set up and is handed over (the call frees it).
    let r = unsafe { bindings::call_usermodehelper_exec(info, wait) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(r)
}

type FfiChar = kernel::ffi::c_char;

/// The one variable a started program gets.
const ENV_PATH: &CStr = kernel::c_str!("PATH=/sbin:/bin:/usr/sbin:/usr/bin");

/// `path` and `args` as a null-terminated `argv`.
fn argv_of(path: &CStr, args: &[&CStr]) -> Result<KVec<*mut FfiChar>> {
    let mut argv: KVec<*mut FfiChar> = KVec::new();
    argv.push(path.as_char_ptr().cast_mut(), GFP_KERNEL)?;
    for a in args {
        argv.push(a.as_char_ptr().cast_mut(), GFP_KERNEL)?;
    }
    argv.push(core::ptr::null_mut(), GFP_KERNEL)?;
    Ok(argv)
}

/// Called in a new user process before it executes its program; false
/// stops it there (the process ends without running the program).
pub(crate) type Started<'a> = &'a (dyn Fn(TaskRef) -> bool + Sync);

/// [`run_and_wait`], with two things done in the new process before it
/// executes `path`: its blocked signal mask becomes `blocked` (kept across
/// `execve`, so a signal in it sent from then on waits for the program to
/// take it), and `started` is told its task.
pub(crate) fn run_and_wait_noting(path: &CStr, args: &[&CStr], blocked: u64, started: Started<'_>) -> Result<i32> {
    // `hook` below lives on this stack: only a caller that no signal can
    // wake early (a kernel thread) is sure to outlive the helper's use of it.
    if !TaskRef::current().is_kthread() {
        return Err(EINVAL);
    }
    let mut argv = argv_of(path, args)?;
    let mut envp = [ENV_PATH.as_char_ptr().cast_mut(), core::ptr::null_mut()];
    let hook = Hook { blocked, started };
    let data = (&raw const hook).cast_mut().cast();
    // SAFETY: strings, arrays and `hook` outlive the helper's use of them:
    // `exec_and_wait` returns only once the program ended (see above).
    let info = unsafe {
        bindings::call_usermodehelper_setup(path.as_char_ptr(), argv.as_mut_ptr(), envp.as_mut_ptr(), bindings::GFP_KERNEL, Some(before_exec), None, data)
    };
    exec_and_wait(info)
}

/// What [`before_exec`] does in the new process.
struct Hook<'a> {
    blocked: u64,
    started: Started<'a>,
}

/// The `init` callback of a usermode helper: runs in the new process.
///
/// # Safety
///
/// `info` is the `subprocess_info` set up by [`run_and_wait_noting`],
/// whose `data` is a live `Hook`.
unsafe extern "C" fn before_exec(info: *mut bindings::subprocess_info, _new: *mut bindings::cred) -> kernel::ffi::c_int {
    // SAFETY: per the function's contract.
    let hook = unsafe { &*(*info).data.cast::<Hook<'_>>() };
    super::uctx::set_blocked(hook.blocked);
    if (hook.started)(TaskRef::current()) {
        0
    } else {
        super::err::ecanceled().to_errno()
    }
}
