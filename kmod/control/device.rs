// SPDX-License-Identifier: GPL-2.0

//! `/dev/roam`: the ioctl interface defined in `proto/src/abi.rs`.

use super::Node;
use crate::abi;
use crate::sys::miscdev::IoctlHandler;
use kernel::{prelude::*, sync::Arc, uaccess::UserSlice};

pub(crate) struct RoamDevice {
    node: Arc<Node>,
    cluster: Arc<crate::cluster::Cluster>,
    migration: Arc<crate::migrate::Migration>,
}

impl RoamDevice {
    pub(crate) fn new(
        node: Arc<Node>,
        cluster: Arc<crate::cluster::Cluster>,
        migration: Arc<crate::migrate::Migration>,
    ) -> Result<Self> {
        Ok(RoamDevice { node, cluster, migration })
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
            abi::ROAM_IOC_PING => {
                if !crate::sys::cred::may_configure() {
                    return Err(EPERM);
                }
                let (mut r, mut w) = UserSlice::new(arg, abi::Ping::SIZE).reader_writer();
                let mut raw = [0u8; abi::Ping::SIZE];
                r.read_slice(&mut raw)?;
                let done = self.cluster.ping(abi::Ping::from_bytes(&raw))?;
                w.write_slice(&done.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_WHY => {
                let (mut r, mut w) = UserSlice::new(arg, abi::Why::SIZE).reader_writer();
                let mut raw = [0u8; abi::Why::SIZE];
                r.read_slice(&mut raw)?;
                let why = self.migration.why(abi::Why::from_bytes(&raw).pid)?;
                w.write_slice(&why.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_LOCK | abi::ROAM_IOC_UNLOCK => {
                let mut raw = [0u8; abi::PidArg::SIZE];
                UserSlice::new(arg, abi::PidArg::SIZE).reader().read_slice(&mut raw)?;
                let pid = abi::PidArg::from_bytes(&raw).pid;
                if cmd == abi::ROAM_IOC_LOCK {
                    self.migration.lock(pid)?;
                } else {
                    self.migration.unlock(pid)?;
                }
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
