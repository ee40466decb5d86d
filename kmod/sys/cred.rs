// SPDX-License-Identifier: GPL-2.0

//! Privilege checks of the current task.

use kernel::bindings;

/// Whether the current task may configure the cluster (`CAP_SYS_ADMIN` in
/// the initial user namespace, like other system-wide settings).
pub(crate) fn may_configure() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials and may
    // be called from any process context; the constant is a valid capability.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}
