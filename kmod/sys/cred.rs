// SPDX-License-Identifier: GPL-2.0

//! Privilege checks of the current task.

use kernel::{bindings, prelude::*};

/// Whether the current task may configure the cluster (`CAP_SYS_ADMIN` in
/// the initial user namespace, like other system-wide settings).
pub(crate) fn may_configure() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials and may
    // be called from any process context; the constant is a valid capability.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// Makes the current task run as the given real/effective user and group
/// (saved and filesystem ids follow the effective ones); an unprivileged
/// identity also loses every capability. Used on a freshly started adopt
/// stub (which runs as root) before it becomes a migrated process.
pub(crate) fn assume_ids(uid: u32, gid: u32, euid: u32, egid: u32) -> Result {
    // SAFETY: `prepare_creds` returns a private copy of the current
    // credentials (or null) that we may modify until `commit_creds`, which
    // consumes our reference.
    unsafe {
        let new = bindings::prepare_creds();
        if new.is_null() {
            return Err(ENOMEM);
        }
        (*new).uid.val = uid;
        (*new).euid.val = euid;
        (*new).suid.val = euid;
        (*new).fsuid.val = euid;
        (*new).gid.val = gid;
        (*new).egid.val = egid;
        (*new).sgid.val = egid;
        (*new).fsgid.val = egid;
        if euid != 0 {
            (*new).cap_effective.val = 0;
            (*new).cap_permitted.val = 0;
            (*new).cap_inheritable.val = 0;
            (*new).cap_ambient.val = 0;
        }
        bindings::commit_creds(new);
    }
    Ok(())
}

/// The current task's real and effective user and group ids.
pub(crate) fn current_ids() -> (u32, u32, u32, u32) {
    // SAFETY: the current task's own credentials stay valid while it runs.
    unsafe {
        let cred = (*bindings::get_current()).cred;
        ((*cred).uid.val, (*cred).gid.val, (*cred).euid.val, (*cred).egid.val)
    }
}

/// Whether the current task's parent is a kernel thread (true for programs
/// the kernel started with `call_usermodehelper`).
pub(crate) fn parent_is_kthread() -> bool {
    extern "C" {
        fn roam_parent_is_kthread() -> i32;
    }
    // SAFETY: the helper reads the current task's parent under RCU.
    unsafe { roam_parent_is_kthread() != 0 }
}
