// SPDX-License-Identifier: GPL-2.0

//! Starting a user program from the kernel (`call_usermodehelper`) and
//! waiting for it to end.

use kernel::{bindings, prelude::*, str::CStr};

/// Runs `path` with `args` (argv[1..]) and an empty-but-PATH environment,
/// waits until it exits, and returns its wait status (as `wait(2)`
/// reports it), or the errno of a failed start. Sleeps; call from a kernel
/// thread.
pub(crate) fn run_and_wait(path: &CStr, args: &[&CStr]) -> Result<i32> {
    let mut argv: KVec<*mut FfiChar> = KVec::new();
    argv.push(path.as_char_ptr().cast_mut(), GFP_KERNEL)?;
    for a in args {
        argv.push(a.as_char_ptr().cast_mut(), GFP_KERNEL)?;
    }
    argv.push(core::ptr::null_mut(), GFP_KERNEL)?;
    let env0 = kernel::c_str!("PATH=/sbin:/bin:/usr/sbin:/usr/bin");
    let mut envp = [env0.as_char_ptr().cast_mut(), core::ptr::null_mut()];
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
