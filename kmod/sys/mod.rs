// SPDX-License-Identifier: GPL-2.0

//! Thin, owning wrappers over the C interfaces roam uses.
//!
//! This is the only part of the module that names `kernel::bindings`. Each
//! wrapper owns one C object, releases it in `Drop`, and states in
//! `# Invariants` what keeps its raw pointers valid; everything above this
//! module is safe Rust.

pub(crate) mod bytes;
pub(crate) mod cred;
pub(crate) mod err;
pub(crate) mod crypto;
pub(crate) mod files;
pub(crate) mod miscdev;
pub(crate) mod placement;
pub(crate) mod socket;
pub(crate) mod softdirty;
pub(crate) mod sysfs;
pub(crate) mod sysinfo;
pub(crate) mod hook;
pub(crate) mod sched;
pub(crate) mod task;
pub(crate) mod taskwork;
pub(crate) mod thread;
pub(crate) mod time;
pub(crate) mod timers;
pub(crate) mod uctx;
pub(crate) mod umem;
pub(crate) mod umh;
