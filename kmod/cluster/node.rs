// SPDX-License-Identifier: GPL-2.0

//! This node as roam knows it: its id and whether it may change. The
//! transport reads the id and marks the node busy while it runs; the
//! control plane shows and sets it. Calls only `abi` and `sys`.

use crate::abi::{self, NodeState};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{prelude::*, sync::Arc};

/// This node as roam knows it.
pub(crate) struct Node {
    /// 0 until root sets it; then in `NODE_ID_MIN..=NODE_ID_MAX`.
    node_id: AtomicU32,
    /// Set while the transport runs: the node id may not change then.
    busy: AtomicBool,
}

impl Node {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Node { node_id: AtomicU32::new(0), busy: AtomicBool::new(false) }, GFP_KERNEL)?)
    }

    pub(crate) fn node_id(&self) -> u32 {
        self.node_id.load(Ordering::Acquire)
    }

    pub(crate) fn state(&self) -> NodeState {
        if self.node_id() == 0 {
            NodeState::Unconfigured
        } else {
            NodeState::Up
        }
    }

    pub(crate) fn status(&self) -> abi::Status {
        abi::Status::new(self.node_id(), self.state())
    }

    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Release);
    }

    /// Sets the node id from what root wrote; refuses anything else and
    /// says why in dmesg.
    pub(crate) fn set_node_id(&self, input: &[u8]) -> Result {
        if !crate::sys::cred::may_configure() {
            return Err(EPERM);
        }
        match abi::parse_node_id(input) {
            Ok(id) if self.busy.load(Ordering::Acquire) && id != self.node_id() => {
                pr_warn!("node_id: refused: the transport is running (write `off` to listen first)\n");
                Err(EBUSY)
            }
            Ok(id) => {
                let old = self.node_id.swap(id, Ordering::AcqRel);
                if old != id {
                    pr_info!("node id {} -> {}\n", old, id);
                }
                Ok(())
            }
            Err(e) => {
                pr_warn!(
                    "node_id: refused a write of {} bytes: {} (want {}..={})\n",
                    input.len(),
                    e.reason(),
                    abi::NODE_ID_MIN,
                    abi::NODE_ID_MAX
                );
                Err(EINVAL)
            }
        }
    }
}
