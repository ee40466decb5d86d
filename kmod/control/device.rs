// SPDX-License-Identifier: GPL-2.0

//! `/dev/roam`: the ioctl interface defined in `proto/src/abi/`.

use crate::abi;
use crate::cluster::Node;
use crate::sys::miscdev::IoctlHandler;
use kernel::{prelude::*, sync::Arc, uaccess::UserSlice};

pub(crate) struct RoamDevice {
    node: Arc<Node>,
    cluster: Arc<crate::cluster::Cluster>,
    migration: Arc<crate::migrate::Migration>,
    mover: Arc<crate::migrate::Mover>,
}

impl RoamDevice {
    pub(crate) fn new(
        node: Arc<Node>,
        cluster: Arc<crate::cluster::Cluster>,
        migration: Arc<crate::migrate::Migration>,
        mover: Arc<crate::migrate::Mover>,
    ) -> Result<Self> {
        Ok(RoamDevice { node, cluster, migration, mover })
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
                let why = self.mover.why(abi::Why::from_bytes(&raw).pid)?;
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
            abi::ROAM_IOC_ALLOW => {
                let (mut r, mut w) = UserSlice::new(arg, abi::Allow::SIZE).reader_writer();
                let mut raw = [0u8; abi::Allow::SIZE];
                r.read_slice(&mut raw)?;
                let mut a = abi::Allow::from_bytes(&raw);
                if a.set > 1 {
                    return Err(EINVAL);
                }
                a.nodes = self.migration.allow(a.pid, a.set == 1, a.nodes)?;
                w.write_slice(&a.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_MIGRATE => {
                let (mut r, mut w) = UserSlice::new(arg, abi::Migrate::SIZE).reader_writer();
                let mut raw = [0u8; abi::Migrate::SIZE];
                r.read_slice(&mut raw)?;
                let mut req = abi::Migrate::from_bytes(&raw);
                req.reason = 0;
                let res = self.mover.migrate(&mut req);
                // The answer (with the reason of a failure) goes back either way.
                w.write_slice(&req.to_bytes())?;
                if let Err(e) = res {
                    if req.reason != 0 {
                        pr_info!("migrate pid {} to node {}: {}\n", req.pid, req.node, abi::refusal::explain(req.reason));
                    }
                    return Err(e);
                }
                Ok(0)
            }
            abi::ROAM_IOC_WHERE => {
                let (mut r, mut w) = UserSlice::new(arg, abi::Where::SIZE).reader_writer();
                let mut raw = [0u8; abi::Where::SIZE];
                r.read_slice(&mut raw)?;
                let wh = self.mover.where_is(abi::Where::from_bytes(&raw).pid)?;
                w.write_slice(&wh.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_ADOPT_CLOCKS => {
                let (mut r, mut w) = UserSlice::new(arg, abi::AdoptClocks::SIZE).reader_writer();
                let mut raw = [0u8; abi::AdoptClocks::SIZE];
                r.read_slice(&mut raw)?;
                let mut c = abi::AdoptClocks::from_bytes(&raw);
                (c.monotonic_ns, c.boottime_ns) = self.mover.adopt_clocks(c.ticket)?;
                w.write_slice(&c.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_ADOPT_USER => {
                let (mut r, mut w) = UserSlice::new(arg, abi::AdoptUser::SIZE).reader_writer();
                let mut raw = [0u8; abi::AdoptUser::SIZE];
                r.read_slice(&mut raw)?;
                let mut u = abi::AdoptUser::from_bytes(&raw);
                (u.uid, u.join) = self.mover.adopt_user(u.ticket)?;
                w.write_slice(&u.to_bytes())?;
                Ok(0)
            }
            abi::ROAM_IOC_ADOPT => {
                let mut raw = [0u8; abi::Adopt::SIZE];
                UserSlice::new(arg, abi::Adopt::SIZE).reader().read_slice(&mut raw)?;
                self.mover.adopt(abi::Adopt::from_bytes(&raw).ticket)?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
