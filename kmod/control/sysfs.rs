// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/roam/`: the node's settings and state as text files.

use super::Node;
use crate::abi;
use crate::sys::sysfs::{AttrHandler, AttrSpec, PageWriter};
use core::fmt::Write;
use kernel::{c_str, prelude::*, sync::Arc};

const NODE_ID: usize = 0;
const VERSION: usize = 1;
const STATE: usize = 2;

/// The files, indexed by the constants above.
pub(crate) const ATTRS: &[AttrSpec] = &[
    AttrSpec { name: c_str!("node_id"), mode: 0o644 },
    AttrSpec { name: c_str!("version"), mode: 0o444 },
    AttrSpec { name: c_str!("state"), mode: 0o444 },
];

pub(crate) struct RoamAttrs {
    node: Arc<Node>,
}

impl RoamAttrs {
    pub(crate) fn new(node: Arc<Node>) -> Result<Self> {
        Ok(RoamAttrs { node })
    }
}

impl AttrHandler for RoamAttrs {
    fn show(&self, index: usize, out: &mut PageWriter<'_>) -> Result {
        let r = match index {
            NODE_ID => writeln!(out, "{}", self.node.node_id()),
            VERSION => writeln!(out, "{}", abi::ROAM_VERSION),
            STATE => writeln!(out, "{}", self.node.state().name()),
            _ => return Err(EINVAL),
        };
        r.map_err(|_| EINVAL)
    }

    fn store(&self, index: usize, input: &[u8]) -> Result {
        match index {
            NODE_ID => self.node.set_node_id(input),
            // Read-only files have no store callback; be safe anyway.
            _ => Err(EACCES),
        }
    }
}
