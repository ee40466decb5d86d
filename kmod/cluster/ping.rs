// SPDX-License-Identifier: GPL-2.0

//! The transport benchmark (`ROAM_IOC_PING`): round trips, one-way bulk
//! frames, or MACs alone, one run at a time. Calls `tx` and the cluster's
//! key; the answers are read by `tx::request`, not by the receivers.

use super::{tx, Cluster, Peer};
use crate::abi::{self, Ping};
use crate::sys::{err, time};
use crate::wire::{self, FrameMac, MsgType};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// The one transport benchmark (`ROAM_IOC_PING`) that may run at a time.
#[derive(Default)]
pub(crate) struct PingState {
    busy: bool,
    next_id: u32,
}

impl Cluster {
    /// `ROAM_IOC_PING`: `count` round trips of `size` bytes to `node`, or
    /// (with `PING_BULK`) `count` frames one way and one round trip.
    pub(crate) fn ping(&self, mut req: Ping) -> Result<Ping> {
        if req.count == 0 || req.count > abi::PING_MAX_COUNT || req.size as usize > wire::MAX_PAYLOAD {
            return Err(EINVAL);
        }
        if req.flags & abi::PING_MAC_ONLY != 0 {
            return self.mac_only(req);
        }
        if !self.running.load(Ordering::Acquire) {
            return Err(err::enotconn());
        }
        let peer = self.peer(req.node).ok_or(ENOENT)?;
        {
            let mut p = self.ping.lock();
            if p.busy {
                return Err(EBUSY);
            }
            p.busy = true;
        }
        let mut payload = KVec::new();
        let r = crate::sys::bytes::extend_fill(&mut payload, req.size as usize, 0x5a, GFP_KERNEL).map_err(Error::from).and_then(|_| {
            let start = time::now_ns();
            let mut done = 0;
            if req.flags & abi::PING_BULK != 0 {
                while done < req.count {
                    if kernel::current!().signal_pending() {
                        return Err(EINTR);
                    }
                    tx::send(self, &peer, MsgType::Bulk, 0, &payload)?;
                    done += 1;
                }
                self.round_trip(&peer, &[])?;
            } else {
                while done < req.count {
                    self.round_trip(&peer, &payload)?;
                    done += 1;
                }
            }
            Ok((time::now_ns() - start, done))
        });
        self.ping.lock().busy = false;
        let (elapsed, done) = r?;
        req.elapsed_ns = elapsed;
        req.done = done;
        Ok(req)
    }

    /// Times `count` frame MACs over `size` bytes (no network).
    fn mac_only(&self, mut req: Ping) -> Result<Ping> {
        let key = self.key().ok_or(EINVAL)?;
        let mut data = KVec::new();
        crate::sys::bytes::extend_fill(&mut data, req.size as usize, 0x5a, GFP_KERNEL)?;
        let start = time::now_ns();
        let mut done = 0;
        while done < req.count {
            if kernel::current!().signal_pending() {
                return Err(EINTR);
            }
            let _ = (&*key).mac(&data);
            done += 1;
        }
        req.elapsed_ns = time::now_ns() - start;
        req.done = done;
        Ok(req)
    }

    fn round_trip(&self, peer: &Peer, payload: &[u8]) -> Result {
        let id = {
            let mut p = self.ping.lock();
            p.next_id = p.next_id.wrapping_add(1).max(1);
            p.next_id
        };
        tx::request(self, peer, MsgType::Ping, id, payload, 2000)
    }
}
