// SPDX-License-Identifier: GPL-2.0

//! `/dev/roam`: the ioctl interface defined in `proto/src/abi.rs`.

use super::Node;
use crate::abi;
use crate::sys::miscdev::IoctlHandler;
use kernel::{prelude::*, sync::Arc, uaccess::UserSlice};

pub(crate) struct RoamDevice {
    node: Arc<Node>,
}

impl RoamDevice {
    pub(crate) fn new(node: Arc<Node>) -> Result<Self> {
        Ok(RoamDevice { node })
    }
}

impl IoctlHandler for RoamDevice {
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<i32> {
        match cmd {
            abi::ROAM_IOC_STATUS => {
                let bytes = self.node.status().to_bytes();
                UserSlice::new(arg, bytes.len()).writer().write_slice(&bytes)?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
