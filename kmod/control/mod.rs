// SPDX-License-Identifier: GPL-2.0

//! The node's control plane: the two ways people reach the node's
//! configuration and state (`/sys/kernel/roam/` and `/dev/roam`). The state
//! itself lives in [`crate::cluster`] (the node, the transport) and
//! [`crate::migrate`]; this layer only shows it and passes writes on.
//!
//! Only root (`CAP_SYS_ADMIN`) changes anything; anyone may look.

pub(crate) mod device;
pub(crate) mod sysfs;
