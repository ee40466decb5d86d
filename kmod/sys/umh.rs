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
    // The wait lasts as long as the program runs (a guest: minutes or
    // days), so it is a killable one: the hung-task detector leaves those
    // alone, where an uninterruptible wait is reported after its timeout.
    // The caller is a kernel thread, which ignores every signal, so the
    // wait still ends only when the program does.
    let wait = (bindings::UMH_WAIT_PROC | bindings::UMH_KILLABLE) as i32;
    // SAFETY: `path`, `argv` and `envp` are NUL-terminated strings and
    // null-terminated arrays that stay alive until the call returns, which
    // with UMH_WAIT_PROC is after the program exited.
    let r = unsafe { bindings::call_usermodehelper(path.as_char_ptr(), argv.as_mut_ptr(), envp.as_mut_ptr(), wait) };
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
    let mut argv = argv_of(path, args)?;
    let mut envp = [ENV_PATH.as_char_ptr().cast_mut(), core::ptr::null_mut()];
    let hook = Hook { blocked, started };
    // SAFETY: the strings and arrays stay alive until the call below
    // returns; `hook` lives on this stack frame just as long, and the
    // kernel calls `before_exec` with it only before the program runs,
    // which is before `call_usermodehelper_exec` returns (it waits for the
    // program to end, and this caller — a kernel thread, which ignores
    // every signal — is never woken early by UMH_KILLABLE).
    let info = unsafe {
        bindings::call_usermodehelper_setup(
            path.as_char_ptr(),
            argv.as_mut_ptr(),
            envp.as_mut_ptr(),
            bindings::GFP_KERNEL,
            Some(before_exec),
            None,
            (&raw const hook).cast_mut().cast(),
        )
    };
    if info.is_null() {
        return Err(ENOMEM);
    }
    let wait = (bindings::UMH_WAIT_PROC | bindings::UMH_KILLABLE) as i32;
    // SAFETY: `info` was just set up and is handed over (the call frees it).
    let r = unsafe { bindings::call_usermodehelper_exec(info, wait) };
    if r < 0 {
        return Err(Error::from_errno(r));
    }
    Ok(r)
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
    let started = TaskRef::current().map(|t| (hook.started)(t)).unwrap_or(false);
    if started {
        0
    } else {
        super::err::ecanceled().to_errno()
    }
}
