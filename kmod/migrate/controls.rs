// SPDX-License-Identifier: GPL-2.0

//! Node controls (MOSIX's per-node switches): the balancing tunables and
//! flags in `/sys/kernel/roam/` ([`Controls`]), and the two node actions
//! that move many processes at once — `expel` (send every guest home) and
//! `bring` (call every process of this node home).
//!
//! Calls the registry, `outgoing.rs` and the send helpers.

use super::events::Cause;
use super::msg::ProcMsg;
use super::registry::Registry;
use super::Mover;
use crate::policy::Tunables;
use crate::sys::task::TaskRef;
use crate::sys::{err, time, uctx};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

/// The balancing tunables and node controls (`/sys/kernel/roam/`).
pub(crate) struct Controls {
    /// Automatic balancing on (1) or off (0).
    pub(crate) balance: AtomicU32,
    pub(crate) margin: AtomicU32,
    pub(crate) min_age_ms: AtomicU32,
    pub(crate) min_residency_ms: AtomicU32,
    pub(crate) max_guests: AtomicU32,
    /// Below this much free memory (MiB) the node ushers processes away.
    pub(crate) mem_low_mb: AtomicU32,
    /// No automatic migration away from this node (MOSIX `stay`).
    pub(crate) stay: AtomicU32,
    /// This node's own processes do not leave automatically (`lstay`).
    pub(crate) lstay: AtomicU32,
    /// Fault injection for tests: the next this many images arriving
    /// here are refused at their commit, after every page was written
    /// (`fail_arrivals`).
    pub(crate) fail_arrivals: AtomicU32,
    /// Fault injection by phase (`failpoint`).
    pub(crate) failpoint: super::failpoint::Failpoint,
    /// Adopt stubs kept parked for arrivals (`adopt_pool`, `pool.rs`).
    pub(crate) adopt_pool: AtomicU32,
}

impl Controls {
    pub(crate) const fn new() -> Self {
        Controls {
            balance: AtomicU32::new(1),
            margin: AtomicU32::new(Tunables::DEFAULT.stability_margin),
            min_age_ms: AtomicU32::new(Tunables::DEFAULT.min_age_ms),
            min_residency_ms: AtomicU32::new(Tunables::DEFAULT.min_residency_ms),
            max_guests: AtomicU32::new(Tunables::DEFAULT.max_guests),
            mem_low_mb: AtomicU32::new(Tunables::DEFAULT.mem_low_mb),
            stay: AtomicU32::new(0),
            lstay: AtomicU32::new(0),
            fail_arrivals: AtomicU32::new(0),
            failpoint: super::failpoint::Failpoint::new(),
            adopt_pool: AtomicU32::new(super::pool::DEFAULT_POOL),
        }
    }
}

impl Mover {
    /// Sends every guest away (home), and returns when none is left (or
    /// after a minute, with ETIMEDOUT). A guest whose move fails (its home
    /// busy or slow to answer, a transient refusal) is asked again every
    /// few seconds until the minute is up; one that arrives meanwhile is
    /// sent home too.
    pub(crate) fn expel(self: &Arc<Self>) -> Result {
        // Guests whose move is queued or running: not asked again until it
        // ends (a failed move clears its entry).
        let busy: Arc<Mutex<KVec<u32>>> = Arc::pin_init(new_mutex!(KVec::new(), "roam_expel"), GFP_KERNEL)?;
        let deadline = time::now_ms() + 60_000;
        loop {
            let guests: KVec<(u32, u32)> = {
                let r = self.reg.lock();
                let mut v = KVec::new();
                for g in r.live_guests() {
                    v.push((g.pid, g.home_node), GFP_KERNEL)?;
                }
                v
            };
            if guests.is_empty() {
                return Ok(());
            }
            for &(pid, home) in guests.iter() {
                if busy.lock().contains(&pid) {
                    continue;
                }
                let Ok(t) = TaskRef::find(pid) else { continue };
                busy.lock().push(pid, GFP_KERNEL)?;
                let busy2 = busy.clone();
                let queued = self.queue_when_restored(&t, move |me| match me.move_current(home, Cause::Expel) {
                    Ok((p, _)) => me.after_departure(home, p),
                    Err(_) => {
                        let _ = crate::lists::retain(&mut busy2.lock(), |&b| b != pid);
                    }
                });
                if queued.is_err() {
                    let _ = crate::lists::retain(&mut busy.lock(), |&b| b != pid);
                }
            }
            // Wait a few seconds for them, then ask the ones left again.
            let round = (time::now_ms() + 3_000).min(deadline);
            if self.wait_for(round, |r| r.live_guests().next().is_none())? {
                return Ok(());
            }
            if time::now_ms() > deadline {
                return Err(err::etimedout());
            }
        }
    }

    /// Brings every process of this node home, and returns when all are
    /// back (or after a minute, with ETIMEDOUT).
    pub(crate) fn bring(self: &Arc<Self>) -> Result {
        let away: KVec<(u32, u32, u64)> = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for d in r.deputies.iter() {
                v.push((d.tgid, d.node.load(Ordering::Relaxed), d.token), GFP_KERNEL)?;
            }
            v
        };
        for &(tgid, node, token) in away.iter() {
            let _ = self.send_proc(node, ProcMsg::Recall { home_pid: tgid, dest: 0, token });
        }
        self.wait_until(|r| r.deputies.is_empty())
    }

    fn wait_until(&self, done: impl Fn(&Registry) -> bool) -> Result {
        if self.wait_for(time::now_ms() + 60_000, done)? {
            Ok(())
        } else {
            Err(err::etimedout())
        }
    }

    /// Waits until `done` holds (true) or the clock passes `deadline_ms`
    /// (false); a signal ends the wait with EINTR.
    fn wait_for(&self, deadline_ms: u64, done: impl Fn(&Registry) -> bool) -> Result<bool> {
        loop {
            if done(&self.reg.lock()) {
                return Ok(true);
            }
            if time::now_ms() > deadline_ms {
                return Ok(false);
            }
            if uctx::signal_pending() {
                return Err(EINTR);
            }
            crate::sys::thread::sleep_ms(50);
        }
    }

}
