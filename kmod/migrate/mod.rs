// SPDX-License-Identifier: GPL-2.0

//! Process migration: the engine that moves processes between nodes, the
//! eligibility rules that say which may move, and the balancer that
//! decides when they do.
//!
//! This module is the engine's hub: it holds [`Mover`], the node's one
//! engine (its state, the send helpers and the registrations while the
//! module is loaded); each role is a file of its own that adds to it.
//! One migration reads top to bottom through them:
//!
//! | step | file |
//! | --- | --- |
//! | may it move, and may the caller ask? | `eligibility.rs` |
//! | asked by a person, or chosen by the balancer | `requests.rs`, `balance.rs` |
//! | captured and sent by the process itself, in its task_work | `outgoing.rs`, `pagesend.rs` |
//! | or, with pre-copy, its pages sent in slices while it runs, then a short stop | `precopy.rs` |
//! | each frame handed to the role it concerns | `frames.rs` |
//! | admitted, received and installed on the destination | `incoming.rs`, `prearrival.rs` |
//! | areas the destination maps from its own copy of a file | `fileareas.rs` |
//! | taken over by a new stub (or, coming home, by the deputy) | `adopt.rs` |
//! | the home side of a process away: forwarded calls, signals, exit | `deputy.rs`, `native.rs` |
//! | the guest side: forwarding a call, going home | `remote.rs` |
//! | calls a guest makes at home in another form: vectored I/O, private file mappings | `vectored.rs`, `filemap.rs` |
//! | the system-call hook that sends each call where it runs | `hook.rs` |
//! | who is where | `registry.rs` |
//! | what happened (`/sys/kernel/roam/events`) | `events.rs` |
//! | node controls: tunables, expel, bring | `controls.rs` |
//!
//! Imports between the files form no circle: the role files reach each
//! other only through methods of [`Mover`]; the types they name follow
//! `registry` → `outgoing`/`incoming`/`deputy`/`remote` → `adopt` →
//! `incoming`, with `msg`, `events` and `hook::GuestIds` as leaves. The
//! balancer sees the engine only through [`balance::Engine`].
//!
//! Lock order: `reg` may be held while a deputy's `ev` is taken (when a
//! new deputy takes the events that came early), never the reverse; an
//! arrival's `state` and `target` are taken one at a time and never with
//! `reg`; `hook_ids` (a spinlock), `events` and `file_hashes` are taken alone. No lock
//! is held while sending a frame or sleeping for an answer, except the
//! condition variables' own mutexes while they wait.

use crate::abi::refusal;
use crate::cluster::{tx, Cluster, FrameSink};
use crate::faults::Phase;
use crate::image::{self, MsgKind, RefuseReason, Vma};
use crate::sys::taskwork::Prepared;
use crate::sys::thread::KThread;
use crate::sys::{time, uctx};
use crate::wire::MsgType;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    c_str, new_mutex, new_spinlock,
    prelude::*,
    sync::{Arc, CondVar, Mutex, SpinLock},
    time::msecs_to_jiffies,
};

mod adopt;
mod arriving;
pub(crate) mod balance;
mod controls;
mod deputy;
mod eligibility;
mod events;
mod failpoint;
mod metrics;
mod fileareas;
mod filemap;
mod frames;
mod hook;
mod incoming;
mod msg;
mod native;
mod outgoing;
mod pagesend;
mod precopy;
mod prearrival;
pub(crate) mod pool;
mod registry;
mod remote;
mod requests;
mod sockmsg;
mod vectored;

pub(crate) use eligibility::Migration;

use balance::{Balancer, Engine, Profile};
use controls::Controls;
use events::{Cause, EventLog};
use fileareas::FileHashes;
use metrics::Metrics;
use hook::{GuestIds, MOVER};
use msg::{ProcMsg, Verdict};
use registry::Registry;

/// Slots of the system-call hook's table: guests plus deputies.
const HOOK_SLOTS: usize = 512;
/// How long the source waits for the destination to get ready / commit.
const READY_TIMEOUT_MS: u64 = 20_000;
const COMMIT_TIMEOUT_MS: u64 = 60_000;
const SIGKILL: u32 = 9;
const PAGE: u64 = image::PAGE_SIZE as u64;

/// The migration engine of one node.
#[pin_data]
pub(crate) struct Mover {
    cluster: Arc<Cluster>,
    migration: Arc<Migration>,
    #[pin]
    reg: Mutex<Registry>,
    /// The hook's table ([`GuestIds`] of guests and deputies), read with
    /// preemption disabled.
    #[pin]
    hook_ids: SpinLock<KVec<GuestIds>>,
    nguests: AtomicU32,
    next_id: AtomicU32,
    /// Balancing tunables and node controls.
    pub(crate) ctl: Controls,
    #[pin]
    events: Mutex<EventLog>,
    metrics: Metrics,
    /// Hashes of file ranges offered or checked (`fileareas.rs`).
    #[pin]
    file_hashes: Mutex<FileHashes>,
    balancer: Arc<Balancer>,
}

impl Mover {
    pub(crate) fn new(cluster: Arc<Cluster>, migration: Arc<Migration>) -> Result<Arc<Self>> {
        let balancer = Balancer::new()?;
        // Allocated here: as values they would not fit on the stack.
        let events = EventLog::new()?;
        let hook_slots = KVec::from_elem(GuestIds::default(), HOOK_SLOTS, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Mover {
                cluster,
                migration,
                reg <- new_mutex!(Registry::new(), "roam_moving"),
                hook_ids <- new_spinlock!(hook_slots, "roam_guest_ids"),
                nguests: AtomicU32::new(0),
                next_id: AtomicU32::new((time::random_u64() as u32) | 1),
                ctl: Controls::new(),
                events <- new_mutex!(events, "roam_events"),
                metrics: Metrics::new(),
                file_hashes <- new_mutex!(FileHashes::new(), "roam_file_hashes"),
                balancer,
            }),
            GFP_KERNEL,
        )
    }

    fn me(&self) -> u32 {
        self.cluster.me()
    }

    fn peer_up(&self, node: u32) -> bool {
        self.cluster.peer(node).map(|p| p.up.load(Ordering::Relaxed)).unwrap_or(false)
    }

    /// Closes this node's connection to `node` (fault injection: the next
    /// frame goes on a new one).
    fn drop_link(&self, node: u32) {
        if let Some(p) = self.cluster.peer(node) {
            tx::disconnect(&p);
        }
    }

    /// Sends one frame to `node`, waiting out a short reconnect backoff.
    fn send(&self, node: u32, ty: MsgType, id: u32, payload: &[u8]) -> Result {
        let peer = self.cluster.peer(node).ok_or(ENOENT)?;
        let mut tries = 0;
        loop {
            match tx::send(&self.cluster, &peer, ty, id, payload) {
                Ok(()) => return Ok(()),
                // A backoff after an earlier failure: wait it out briefly.
                Err(e) if e == EAGAIN && tries < 40 => {
                    tries += 1;
                    crate::sys::thread::sleep_ms(50);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_proc(&self, node: u32, m: ProcMsg) -> Result {
        self.send(node, MsgType::Proc, 0, &m.encode())
    }

    fn send_image_msg(&self, node: u32, id: u32, buf: &[u8]) -> Result {
        // Fault injection where a link fails by itself: the message does
        // not leave, or the connection closes before it does (it then
        // goes on a new one).
        let fp = &self.ctl.failpoint;
        match image::msg_kind(buf) {
            Ok(MsgKind::Begin) if fp.hit(Phase::OutBegin) => return Err(EPIPE),
            Ok(MsgKind::Commit) if fp.hit(Phase::OutCommit) => return Err(EPIPE),
            Ok(MsgKind::Pages | MsgKind::PrePages) => {
                if fp.hit(Phase::OutPages) {
                    return Err(EPIPE);
                }
                if fp.hit(Phase::OutLink) {
                    self.drop_link(node);
                }
            }
            _ => {}
        }
        self.send(node, MsgType::Migrate, id, buf)
    }

    /// Answers migration `id` from `node`.
    fn reply(&self, node: u32, id: u32, v: Verdict) {
        let mut b = [0u8; image::READY_LEN + image::ACCEPT_LEN + image::REFUSE_LEN];
        let n = match v {
            Verdict::Ready(have) => image::encode_ready(have, &mut b),
            Verdict::Accepted(pid) => image::encode_accept(pid, &mut b),
            Verdict::Refused(code) => {
                let r = RefuseReason::from_code(code as u16).unwrap_or(RefuseReason::BadImage);
                image::encode_refuse(r, &mut b)
            }
        };
        if let Ok(n) = n {
            let _ = self.send_image_msg(node, id, &b[..n]);
        }
    }

    /// `/sys/kernel/roam/balancer`.
    pub(crate) fn show_balancer(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        self.balancer.show(out)
    }

    /// Stops the balancer and reaps the stub threads (module unload).
    fn stop(&self) {
        self.balancer.stop();
        self.pool_close();
        let stubs = core::mem::take(&mut self.reg.lock().stubs);
        drop(stubs);
    }
}

impl Engine for Arc<Mover> {
    fn profile(&self, tgid: u32) -> Option<Profile> {
        let mut r = self.reg.lock();
        let deputy = r.deputy(tgid).is_some();
        let moving = r.is_capturing(tgid);
        if let Some(g) = r.guest_mut(tgid) {
            let talks_to = if g.calls > 0 { g.home_node } else { 0 };
            g.calls = 0;
            let (allowed, home) = (g.allowed, g.home_node);
            return Some(Profile { deputy, moving, guest: true, arrived_ms: Some(g.arrived_ms), talks_to, bounces: 0, allowed, home });
        }
        let back = r.homecoming(tgid);
        drop(r);
        Some(Profile {
            deputy,
            moving,
            guest: false,
            arrived_ms: back.map(|h| h.at_ms),
            talks_to: 0,
            bounces: back.map(|h| h.bounces).unwrap_or(0),
            allowed: self.migration.allowed_of(tgid),
            home: 0,
        })
    }

    fn peer_is_up(&self, node: u32) -> bool {
        self.peer_up(node)
    }

    fn claim(&self, tgid: u32) -> bool {
        self.reg.lock().claim(tgid)
    }

    fn release(&self, tgid: u32) {
        self.reg.lock().release(tgid)
    }

    fn move_work(&self, to: u32, cause: Cause) -> Result<Prepared> {
        let me = self.clone();
        Prepared::new(move || {
            let tgid = uctx::ids().1;
            me.balancer.taken(tgid);
            let interval = me.cluster.tun.interval_ms.load(Ordering::Relaxed) as u64;
            match me.move_current(to, cause) {
                Ok((pid, _)) => {
                    me.balancer.done.fetch_add(1, Ordering::Relaxed);
                    me.balancer.settled(tgid, true, interval);
                    me.after_departure(to, pid)
                }
                Err(code) => {
                    me.balancer.settled(tgid, false, interval);
                    me.reg.lock().release(tgid);
                    if matches!(
                        code,
                        refusal::NOT_ACCEPTING | refusal::TOO_MANY_GUESTS | refusal::NO_MEMORY | refusal::BUSY | refusal::UNKNOWN_NODE | refusal::LINK
                    ) {
                        me.balancer.refused_by(to);
                    }
                    pr_info!("balancer: pid {} stays: {}\n", tgid, refusal::explain(code));
                }
            }
        })
    }
}

/// The engine's registrations while the module is loaded: the system-call
/// hook, the link from the transport and the balancer thread. Dropped
/// before the cluster stops.
pub(crate) struct Running {
    cluster: Arc<Cluster>,
    mover: Arc<Mover>,
    balancer_thread: Option<KThread>,
    hook: Option<crate::sys::hook::Hook>,
}

impl Running {
    pub(crate) fn start(cluster: &Arc<Cluster>, mover: &Arc<Mover>) -> Result<Self> {
        // Allocated first: once the hook is in, every failure must undo it.
        let sink: Arc<dyn FrameSink> = Arc::new(frames::Sink(mover.clone()), GFP_KERNEL)?;
        MOVER.set(mover);
        let hook = match crate::sys::hook::Hook::install(hook::hook_entry) {
            Ok(h) => h,
            Err(e) => {
                MOVER.clear();
                pr_err!("cannot hook system calls (sys_enter tracepoint): {:?}\n", e);
                return Err(e);
            }
        };
        *cluster.sink.lock() = Some(sink);
        let m2 = mover.clone();
        let th = KThread::spawn(c_str!("roam-balance"), move || {
            while !crate::sys::thread::should_stop() {
                m2.sweep_deputies();
                m2.sweep_back();
                m2.pool_fill();
                m2.balancer.tick(&m2, &m2.cluster, &m2.ctl, &m2.migration);
                let ms = m2.cluster.tun.interval_ms.load(Ordering::Relaxed).max(100);
                crate::sys::thread::sleep_ms(ms);
            }
        });
        let th = match th {
            Ok(t) => t,
            Err(e) => {
                *cluster.sink.lock() = None;
                drop(hook);
                MOVER.clear();
                return Err(e);
            }
        };
        Ok(Running { cluster: cluster.clone(), mover: mover.clone(), balancer_thread: Some(th), hook: Some(hook) })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.balancer_thread.take());
        *self.cluster.sink.lock() = None;
        // Unregistering waits for running probes; only then may the hook's
        // reference to the mover go.
        drop(self.hook.take());
        MOVER.clear();
        self.mover.stop();
    }
}

/// Waits on `cv` for at most `ms` (or a signal).
fn wait_ms<T>(cv: &CondVar, g: &mut kernel::sync::lock::Guard<'_, T, kernel::sync::lock::mutex::MutexBackend>, ms: u64) {
    let _ = cv.wait_interruptible_timeout(g, msecs_to_jiffies(ms.min(u32::MAX as u64) as u32));
}

/// Whether the area's pages travel with the image: every area but device,
/// vDSO and vvar ones, whatever its protection (an area a process made
/// unreadable keeps its contents).
fn has_pages(v: &Vma) -> bool {
    v.flags & image::VMA_NO_PAGES == 0
}

fn is_zero(b: &[u8]) -> bool {
    // Eight bytes at a time (a page is 512 words), stopping at the first
    // non-zero word: one load and compare each, and on the debug kernel
    // one KASAN check instead of eight.
    let mut words = b.chunks_exact(8);
    let rest = words.remainder();
    words.all(|w| <[u8; 8]>::try_from(w).map_or(false, |a| u64::from_ne_bytes(a) == 0)) && rest.iter().all(|x| *x == 0)
}

/// `s` up to its first NUL.
fn until_nul(s: &[u8]) -> &[u8] {
    let n = s.iter().position(|c| *c == 0).unwrap_or(s.len());
    &s[..n]
}
