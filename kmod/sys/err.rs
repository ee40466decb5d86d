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
