// SPDX-License-Identifier: GPL-2.0

//! Who is where: the node's table of moving processes — migrations going
//! out and coming in, deputies of processes away, guests here, captures in
//! progress, forwarded calls waiting, homecomings — and the lookups every
//! role makes in it. Lives inside the engine's one `reg` mutex (see
//! `mod.rs` for the lock order). Owns the records that belong to no single
//! role ([`Guest`], [`Homecoming`]); calls nothing but `lists`.

use super::deputy::{Deputy, Early};
use super::incoming::Incoming;
use super::outgoing::Outgoing;
use super::remote::CallWait;
use crate::image::ImageHeader;
use crate::lists;
use crate::sys::thread::KThread;
use kernel::{prelude::*, sync::Arc};

/// A process running here whose home is another node.
pub(super) struct Guest {
    pub(super) pid: u32,
    pub(super) home_node: u32,
    pub(super) home_pid: u32,
    pub(super) home_tgid: u32,
    /// It left this node (to another node or home): its end is not news.
    pub(super) left: bool,
    /// The scratch area of its restorer (not migrated further); 0 once
    /// its restorer has finished and the area is unmapped.
    pub(super) scratch: u64,
    pub(super) comm: [u8; 16],
    /// When it arrived (ms).
    pub(super) arrived_ms: u64,
    /// Forwarded calls since the balancer last looked.
    pub(super) calls: u32,
    /// The nodes it may run on (0: any), as it brought them.
    pub(super) allowed: u64,
    /// Its image's token (`ImageHeader::token`), carried to its next host.
    pub(super) token: u64,
    /// What its time namespace adds to this node's CLOCK_MONOTONIC and
    /// CLOCK_BOOTTIME (ns) to give the clocks it saw at home.
    pub(super) clock_off: (i64, i64),
}

/// A process of this node that came back home.
#[derive(Clone, Copy)]
pub(super) struct Homecoming {
    pub(super) tgid: u32,
    /// When (ms).
    pub(super) at_ms: u64,
    /// How many of its homecomings were for a call only home can serve.
    pub(super) bounces: u32,
    /// The pages it brought home.
    pub(super) pages: u64,
    /// Where the restorer's scratch area of its homecoming is: not part
    /// of the process, so its next move leaves it out; 0 once its
    /// restorer has finished and the area is unmapped.
    pub(super) scratch: u64,
    /// The process's start time (`TaskRef::start_time`): a later process
    /// with the same pid is not this one.
    pub(super) start: u64,
}

/// All of this node's moving processes.
pub(super) struct Registry {
    pub(super) outgoing: KVec<Arc<Outgoing>>,
    pub(super) incoming: KVec<Arc<Incoming>>,
    pub(super) deputies: KVec<Arc<Deputy>>,
    pub(super) guests: KVec<Guest>,
    /// Threads waiting for adopt stubs to end.
    pub(super) stubs: KVec<(u64, KThread)>,
    /// Processes being captured (tgid), so a second request is refused.
    pub(super) capturing: KVec<u32>,
    /// The tokens drawn for home processes being captured (tgid, token),
    /// for their deputies.
    pub(super) tokens: KVec<(u32, u64)>,
    /// Events for a process that came before its deputy registered (the
    /// remote may run, call home and even exit while the source is still
    /// finishing its side), by home tgid.
    pub(super) early: KVec<(u32, Early)>,
    /// Forwarded calls of guests here, waiting for their deputies.
    pub(super) waits: KVec<Arc<CallWait>>,
    /// Processes that came back home, and when (ms), for the residency rule.
    pub(super) homecomings: KVec<Homecoming>,
    /// Parked adopt stubs (`pool.rs`).
    pub(super) pool: super::pool::Pool,
    /// Work for guests still in their restorer, and recalls that came
    /// before their guest was registered (`arriving.rs`).
    pub(super) held: KVec<super::arriving::Held>,
    pub(super) early_recalls: KVec<super::arriving::EarlyRecall>,
}

impl Registry {
    pub(super) fn new() -> Self {
        Registry {
            outgoing: KVec::new(),
            incoming: KVec::new(),
            deputies: KVec::new(),
            guests: KVec::new(),
            stubs: KVec::new(),
            capturing: KVec::new(),
            tokens: KVec::new(),
            early: KVec::new(),
            waits: KVec::new(),
            homecomings: KVec::new(),
            pool: super::pool::Pool::new(),
            held: KVec::new(),
            early_recalls: KVec::new(),
        }
    }

    /// The guest whose local tgid is `tgid`, while it is here.
    pub(super) fn guest(&self, tgid: u32) -> Option<&Guest> {
        self.guests.iter().find(|g| g.pid == tgid && !g.left)
    }

    pub(super) fn guest_mut(&mut self, tgid: u32) -> Option<&mut Guest> {
        self.guests.iter_mut().find(|g| g.pid == tgid && !g.left)
    }

    /// The local pid of the guest `home_pid` of node `home`, if `token`
    /// is its token.
    pub(super) fn guest_pid(&self, home: u32, home_pid: u32, token: u64) -> Option<u32> {
        self.guests.iter().find(|g| g.home_node == home && g.home_tgid == home_pid && !g.left && g.token == token).map(|g| g.pid)
    }

    /// Guests still here.
    pub(super) fn live_guests(&self) -> impl Iterator<Item = &Guest> {
        self.guests.iter().filter(|g| !g.left)
    }

    /// Enters the process described by `h` as guest `pid`.
    pub(super) fn add_guest(&mut self, pid: u32, h: &ImageHeader, scratch: u64, clock_off: (i64, i64), now_ms: u64) -> Result {
        let g = Guest {
            pid,
            home_node: h.home_node,
            home_pid: h.pid,
            home_tgid: h.tgid,
            left: false,
            scratch,
            comm: h.comm,
            arrived_ms: now_ms,
            calls: 0,
            allowed: h.allowed,
            token: h.token,
            clock_off,
        };
        self.guests.push(g, GFP_KERNEL)?;
        Ok(())
    }

    /// The deputy of local process `tgid`.
    pub(super) fn deputy(&self, tgid: u32) -> Option<Arc<Deputy>> {
        self.deputies.iter().find(|d| d.tgid == tgid).cloned()
    }

    /// Forgets the deputy of `tgid`, waking whoever waits on it (a move
    /// request waiting for its process to come home).
    pub(super) fn drop_deputy(&mut self, tgid: u32) {
        if let Some(d) = self.deputy(tgid) {
            d.cv.notify_all();
        }
        let _ = lists::retain_owned(&mut self.deputies, |x| x.tgid != tgid);
    }

    /// The arrival `id` from node `from`.
    pub(super) fn incoming(&self, from: u32, id: u32) -> Option<Arc<Incoming>> {
        self.incoming.iter().find(|i| i.from == from && i.id == id).cloned()
    }

    pub(super) fn drop_incoming(&mut self, from: u32, id: u32) {
        let _ = lists::retain_owned(&mut self.incoming, |i| !(i.from == from && i.id == id));
    }

    pub(super) fn is_capturing(&self, tgid: u32) -> bool {
        self.capturing.iter().any(|p| *p == tgid)
    }

    /// Marks `tgid` as being captured; false if it already is (or no
    /// memory).
    pub(super) fn claim(&mut self, tgid: u32) -> bool {
        !self.is_capturing(tgid) && self.capturing.push(tgid, GFP_KERNEL).is_ok()
    }

    pub(super) fn release(&mut self, tgid: u32) {
        let _ = lists::retain(&mut self.capturing, |p| *p != tgid);
        let _ = lists::retain(&mut self.tokens, |t| t.0 != tgid);
    }

    /// Keeps `token` for home process `tgid`, being captured, until its
    /// deputy takes it ([`Self::token_of`]) or the capture ends.
    pub(super) fn set_token(&mut self, tgid: u32, token: u64) -> Result {
        let _ = lists::retain(&mut self.tokens, |t| t.0 != tgid);
        self.tokens.push((tgid, token), GFP_KERNEL)?;
        Ok(())
    }

    /// The token drawn for `tgid`'s capture, if any.
    pub(super) fn token_of(&self, tgid: u32) -> Option<u64> {
        self.tokens.iter().find(|t| t.0 == tgid).map(|t| t.1)
    }

    /// When `tgid` last came home, and how often for a call only home serves.
    pub(super) fn homecoming(&self, tgid: u32) -> Option<Homecoming> {
        self.homecomings.iter().find(|h| h.tgid == tgid).copied()
    }

    /// The record of `tgid`'s last homecoming, to change.
    pub(super) fn homecoming_mut(&mut self, tgid: u32) -> Option<&mut Homecoming> {
        self.homecomings.iter_mut().find(|h| h.tgid == tgid)
    }

    /// Records that `tgid` came home now with `pages` pages (`bounced`: for
    /// a call only home serves). Entries of processes that have ended are
    /// dropped.
    pub(super) fn came_home(&mut self, tgid: u32, bounced: bool, pages: u64, scratch: u64, now_ms: u64) {
        let before = self.homecoming(tgid).map(|h| h.bounces).unwrap_or(0);
        let _ = lists::retain(&mut self.homecomings, |h| h.tgid != tgid && crate::sys::task::TaskRef::find(h.tgid).is_ok());
        let bounces = before + u32::from(bounced);
        let start = crate::sys::task::TaskRef::find(tgid).map(|t| t.start_time()).unwrap_or(0);
        let _ = self.homecomings.push(Homecoming { tgid, at_ms: now_ms, bounces, pages, scratch, start }, GFP_KERNEL);
    }
}
