// SPDX-License-Identifier: GPL-2.0

//! Errnos the 6.12 `kernel` crate has no constants for.

use kernel::{bindings, error::Error};

fn errno(e: u32) -> Error {
    Error::from_errno(-(e as i32))
}

/// Not connected (the transport is stopped).
pub(crate) fn enotconn() -> Error {
    errno(bindings::ENOTCONN)
}

/// No answer in time.
pub(crate) fn etimedout() -> Error {
    errno(bindings::ETIMEDOUT)
}

/// Already there (a process migrated to where it runs).
pub(crate) fn ealready() -> Error {
    errno(bindings::EALREADY)
}

/// The node is unknown or down.
pub(crate) fn ehostunreach() -> Error {
    errno(bindings::EHOSTUNREACH)
}

/// Cancelled (an arrival given up).
pub(crate) fn ecanceled() -> Error {
    errno(bindings::ECANCELED)
}

/// The link broke.
pub(crate) fn econnreset() -> Error {
    errno(bindings::ECONNRESET)
}
