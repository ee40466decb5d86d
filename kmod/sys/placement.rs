// SPDX-License-Identifier: GPL-2.0

//! Where the current process is placed beyond its credentials
//! (`placement.c`): its cgroup v2 path and its security label, read into
//! an image's [`Context`]; whether a cgroup exists on this node.

use crate::image::{Context, CONTEXT_LEN};
use kernel::prelude::*;

extern "C" {
    fn roam_cgroup_read(buf: *mut u8, len: u32) -> i32;
    fn roam_label_read(buf: *mut u8, len: u32) -> i32;
    fn roam_cgroup_exists(path: *const u8) -> i32;
}

/// The current task's cgroup path and label; an error if either is
/// longer than an image carries (`ENAMETOOLONG`) or cannot be read.
pub(crate) fn read() -> Result<Context> {
    let mut c = Context::default();
    // SAFETY: each buffer is valid for CONTEXT_LEN bytes, the length
    // passed; the C side writes at most that, NUL included, and reads
    // only the current task.
    let (a, b) = unsafe {
        (
            roam_cgroup_read(c.cgroup.as_mut_ptr(), CONTEXT_LEN as u32),
            roam_label_read(c.label.as_mut_ptr(), CONTEXT_LEN as u32),
        )
    };
    for r in [a, b] {
        if r < 0 {
            return Err(Error::from_errno(r));
        }
    }
    Ok(c)
}

/// Whether the cgroup at `path` (from the default hierarchy's root, NUL-
/// padded as in [`Context::cgroup`]) exists here; an empty path (a home
/// without cgroups) and `/` always do.
pub(crate) fn cgroup_exists(path: &[u8; CONTEXT_LEN]) -> bool {
    if path.last() != Some(&0) {
        return false;
    }
    // SAFETY: `path` ends with a NUL (checked above), so the C side reads
    // a valid string within the array.
    unsafe { roam_cgroup_exists(path.as_ptr()) == 0 }
}

/// A path or label for a log line (`?` if not UTF-8).
pub(crate) fn text(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or("?")
}
