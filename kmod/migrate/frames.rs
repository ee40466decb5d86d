// SPDX-License-Identifier: GPL-2.0

//! Frames about processes, as the transport's receiver threads hand them
//! over: which role each goes to (an image to `incoming.rs`, a verdict to
//! `outgoing.rs`, a call to the deputy, an answer to the guest, process
//! events to whichever side they concern), and what a node going down
//! means for the processes tied to it.
//!
//! Calls every role's entry points; owns [`Sink`], the engine as the
//! transport sees it.

use super::msg::ProcMsg;
use super::remote::CallWait;
use super::{Mover, SIGKILL};
use crate::cluster::FrameSink;
use crate::image::{self, RefuseReason};
use crate::sys::task::TaskRef;
use crate::wire::MsgType;
use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

/// The engine as the transport's [`FrameSink`].
pub(super) struct Sink(pub(super) Arc<Mover>);

impl FrameSink for Sink {
    fn on_frame(&self, from: u32, ty: MsgType, id: u32, payload: &[u8]) {
        self.0.on_frame(from, ty, id, payload);
    }

    fn node_down(&self, node: u32) {
        self.0.node_down(node);
    }
}

/// [`image::decode`] in a frame of its own: its temporaries (the largest
/// message kinds' fields as they are read) are off the stack again before
/// the message is handled.
#[inline(never)]
fn decode_image(payload: &[u8]) -> core::result::Result<image::MigrateMsg<'_>, image::ImageError> {
    image::decode(payload)
}

impl Mover {
    /// A `Migrate`, `Proc`, `Call` or `Ret` frame from node `from`.
    fn on_frame(self: &Arc<Self>, from: u32, ty: MsgType, id: u32, payload: &[u8]) {
        match ty {
            MsgType::Proc => {
                if let Some(m) = ProcMsg::decode(payload) {
                    self.on_proc(from, m);
                }
            }
            MsgType::Call => self.deputy_call(from, id, payload),
            MsgType::Ret => self.call_answered(from, payload),
            MsgType::Migrate => self.on_migrate(from, id, payload),
            _ => {}
        }
    }

    /// A `Migrate` frame: decoded here, in a frame of its own, so that
    /// the decoded message (about 1 KiB) is on the receiver's stack only
    /// while an image message is handled.
    #[inline(never)]
    fn on_migrate(self: &Arc<Self>, from: u32, id: u32, payload: &[u8]) {
        match decode_image(payload) {
            Ok(m) => self.on_image(from, id, m),
            Err(e) => {
                pr_warn!("migration {} from node {}: malformed message: {}\n", id, from, e.name());
                // An arrival under way is dropped (and counted there);
                // a first message that is no image is counted here.
                if !self.has_incoming(from, id) {
                    self.metrics.arrived(false);
                }
                self.fail_incoming(from, id, RefuseReason::BadImage);
            }
        }
    }

    /// An authentic `what` frame about process `home_pid` that node `from`
    /// was not entitled to send (not its host or home, or without its
    /// token): ignored, counted in `stats` (`ignored_proc_frames`), and
    /// the first few logged.
    pub(super) fn ignored(&self, from: u32, what: &str, home_pid: u32) {
        let n = self.cluster.stats.ignored_proc_frames.fetch_add(1, Ordering::Relaxed);
        if n < 32 {
            pr_info!("ignored a {} frame from node {} about pid {}: not its host, or not its token\n", what, from, home_pid);
        }
    }

    fn on_proc(self: &Arc<Self>, from: u32, m: ProcMsg) {
        match m {
            ProcMsg::Exit { home_pid, status, token } => self.deputy_exit(from, home_pid, status, token),
            ProcMsg::Moved { home_pid, pid, pages, token } => self.deputy_moved(from, home_pid, pid, pages, token),
            ProcMsg::Signal { home_pid, sig, token } => self.guest_signal(from, home_pid, sig, token),
            ProcMsg::Go { id } => self.go(from, id),
            ProcMsg::Recall { home_pid, dest, token } => self.guest_recall(from, home_pid, dest, token),
            ProcMsg::Stayed { home_pid, code, token } => self.deputy_stayed(from, home_pid, code, token),
            ProcMsg::Interrupt { home_pid, id, token } => self.deputy_interrupt(from, home_pid, id, token),
        }
    }

    /// A node went down: guests from it die; deputies notice by polling.
    fn node_down(&self, node: u32) {
        // Deputies busy in a call for a remote on that node end now (idle
        // ones notice by themselves); the guests' waits for home wake up.
        let (busy, waits): (KVec<u32>, KVec<Arc<CallWait>>) = {
            let r = self.reg.lock();
            let mut b = KVec::new();
            for d in r.deputies.iter().filter(|d| d.node.load(Ordering::Relaxed) == node && d.native.load(Ordering::Acquire)) {
                let _ = b.push(d.pid, GFP_KERNEL);
            }
            let mut w = KVec::new();
            for x in r.waits.iter().filter(|w| w.home == node) {
                let _ = w.push(x.clone(), GFP_KERNEL);
            }
            (b, w)
        };
        for pid in busy.iter() {
            pr_warn!("pid {}: node {} is down; the process is lost (SIGKILL)\n", pid, node);
            if let Ok(t) = TaskRef::find(*pid) {
                t.signal(SIGKILL);
            }
        }
        for w in waits.iter() {
            w.cv.notify_all();
        }
        let pids: KVec<u32> = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for g in r.live_guests().filter(|g| g.home_node == node) {
                let _ = v.push(g.pid, GFP_KERNEL);
            }
            v
        };
        for pid in pids.iter() {
            pr_warn!("guest pid {}: its home node {} is down; killing it\n", pid, node);
            if let Ok(t) = TaskRef::find(*pid) {
                t.signal(SIGKILL);
            }
        }
    }

}
