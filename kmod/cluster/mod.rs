// SPDX-License-Identifier: GPL-2.0

//! Cluster membership, the kernel-to-kernel transport and MOSIX's load
//! information exchange.
//!
//! This file holds the [`Cluster`] (its state, the start and stop of its
//! threads); around it, one file each: the [`Node`] (`node`), frame reading
//! and checks (`frame`), receiving (`rx`) and what a frame does
//! (`dispatch`), sending (`tx`), the `gossip` thread, applying root's
//! settings (`configure`), the `ping` benchmark, the sysfs texts (`view`),
//! and the [`FrameSink`] (`sink`). `rx` and `tx` both use `frame` and
//! never each other.
//!
//! `cluster` sits on `sys` and the `no_std` parts (`config`, `load`,
//! `loadvec`, `wire`, …); it never names `control` or `migrate`, which are
//! above it: frames about processes go up through the [`FrameSink`] that
//! the migration engine installs in [`Cluster::sink`].
//!
//! Threads (all kernel threads, all bounded in number):
//!
//! * `roam-listen`: accepts connections; one `roam-rx` thread per accepted
//!   connection (at most [`MAX_CONNS`]) reads and checks frames and
//!   dispatches them.
//! * `roam-gossip`: samples the local load every [`TICK_MS`], and every
//!   interval sends half of the load vector to a random peer, marks silent
//!   peers down and reaps finished receivers.
//!
//! Each node sends on its own outgoing connection to each peer (opened on
//! demand, kept, reopened with exponential backoff), so a reply travels on
//! the replier's connection. Sends are synchronous and bounded by the
//! socket's send timeout and buffer: there is no queue that can grow.
//!
//! Lock order (outermost first): `Cluster::threads`, then `Cluster::cfg`,
//! then one `Peer::tx` or `Peer::rx`, then `Cluster::lv`. `Cluster::ping`
//! and `Cluster::sink` are taken alone (the sink is cloned out and called
//! with no lock held). No lock is held while waiting for a thread to stop,
//! and `cfg` is never held while sending.

mod configure;
mod dispatch;
mod frame;
mod gossip;
mod node;
mod ping;
mod rx;
mod sink;
pub(crate) mod tx;
pub(crate) mod view;

pub(crate) use node::Node;
pub(crate) use sink::FrameSink;

use crate::config;
use crate::lists::take_where;
use crate::load::LoadEstimator;
use crate::loadvec::{LoadEntry, LoadVector, DEFAULT_SIZE};
use crate::rng::XorShift64;
use crate::wire::FrameKey;
use crate::sys::socket::{SockAddr, TcpSocket};
use crate::sys::thread::KThread;
use crate::sys::time;
use crate::wire::{self, Reject};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{c_str, new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// How often the local load is sampled.
pub(crate) const TICK_MS: u32 = 100;
/// Most accepted connections (and so receiver threads) at once.
pub(crate) const MAX_CONNS: usize = 2 * config::MAX_PEERS;
/// How long a connect or a blocked send may take.
pub(crate) const IO_TIMEOUT_MS: u32 = 1000;

/// Counters shown in `/sys/kernel/roam/stats`.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) load_pushes_sent: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    /// Connections closed for sending no authentic frame in time.
    pub(crate) connections_unauthenticated: AtomicU64,
    /// Unauthenticated connections closed to make room for a newer one
    /// from the same address.
    pub(crate) connections_evicted: AtomicU64,
    /// Outgoing connections found closed by the peer before a send and
    /// replaced (the peer restarted its module or dropped the connection).
    pub(crate) stale_connections: AtomicU64,
    pub(crate) rejected: [AtomicU64; Reject::ALL.len()],
    /// Frames whose sender id belongs to another address: a duplicate
    /// node id or a spoofing attempt.
    pub(crate) rejected_addr_mismatch: AtomicU64,
    /// Frames that arrived while no key was set.
    pub(crate) rejected_no_key: AtomicU64,
    /// Authentic frames about a process that their sender was not
    /// entitled to send (it neither hosts the process nor is its home, or
    /// the process's token was wrong): ignored.
    pub(crate) ignored_proc_frames: AtomicU64,
}

impl Stats {
    pub(crate) fn reject(&self, r: Reject) {
        if let Some(c) = self.rejected.get(r.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runtime tunables (validated on write).
pub(crate) struct Tunables {
    pub(crate) interval_ms: AtomicU32,
    pub(crate) down_after_ms: AtomicU32,
    pub(crate) speed: AtomicU32,
    /// Send no load pushes (MOSIX `quiet`); pushes from others are still
    /// answered, so this node stays known.
    pub(crate) quiet: AtomicU32,
    /// Whether this node takes guests (`/sys/kernel/roam/accept`); its
    /// load entry says so, and arriving guests are refused while it is 0.
    pub(crate) accept: AtomicU32,
    /// Whether this node takes guests with root's ids or any capability
    /// (`accept_root`; 0 is NFS's `root_squash`: a member then cannot run
    /// code as root here, whatever it claims about its processes). Its
    /// load entry says so (no balancer sends it such a process), and the
    /// migration engine refuses them at their `Creds` message.
    pub(crate) accept_root: AtomicU32,
}

/// One configured peer.
#[pin_data]
pub(crate) struct Peer {
    pub(crate) id: u32,
    pub(crate) addr: SockAddr,
    #[pin]
    pub(crate) tx: Mutex<tx::TxState>,
    #[pin]
    pub(crate) rx: Mutex<wire::ReplayGuard>,
    /// Monotonic ms of the last authenticated frame from this peer (0 = never).
    pub(crate) last_heard_ms: AtomicU64,
    pub(crate) up: AtomicBool,
    /// A frame of a new session came from it (its module was loaded again)
    /// and the receivers have not acted on it yet.
    pub(crate) restarted: AtomicBool,
    pub(crate) frames_from: AtomicU64,
    pub(crate) frames_to: AtomicU64,
}

impl Peer {
    fn new(id: u32, addr: SockAddr) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Peer {
                id,
                addr,
                tx <- new_mutex!(tx::TxState::new(), "roam_peer_tx"),
                rx <- new_mutex!(wire::ReplayGuard::new(), "roam_peer_rx"),
                last_heard_ms: AtomicU64::new(0),
                up: AtomicBool::new(false),
                restarted: AtomicBool::new(false),
                frames_from: AtomicU64::new(0),
                frames_to: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }
}

/// Configuration that changes together.
pub(crate) struct Config {
    pub(crate) key: Option<Arc<FrameKey>>,
    pub(crate) listen: Option<SockAddr>,
    pub(crate) peers: KVec<Arc<Peer>>,
}

/// Load information: the local estimate and the vector about others.
pub(crate) struct LoadState {
    pub(crate) est: LoadEstimator,
    pub(crate) vec: LoadVector,
    pub(crate) rng: XorShift64,
    pub(crate) nr_running: u32,
    pub(crate) ncpus: u32,
    pub(crate) free_mb: u32,
}

/// A receiver thread and the socket it reads (shut down to stop it).
pub(crate) struct Receiver {
    /// The remote end's address.
    ip: u32,
    /// It has delivered an authentic frame.
    authed: Arc<AtomicBool>,
    sock: Arc<TcpSocket>,
    done: Arc<AtomicBool>,
    _thread: KThread,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Wake the thread if it is blocked in recv; `_thread` then stops it.
        self.sock.shutdown();
    }
}

#[derive(Default)]
pub(crate) struct Threads {
    listener: Option<(KThread, Arc<TcpSocket>)>,
    gossip: Option<KThread>,
    receivers: KVec<Receiver>,
}

/// The node's cluster machinery.
#[pin_data]
pub(crate) struct Cluster {
    pub(crate) node: Arc<Node>,
    /// This load of the module's session epoch (wall-clock ns, the last
    /// 20 bits random: with the sender, destination and sequence number it
    /// is the frame MAC's nonce, never to repeat under one key).
    pub(crate) epoch: u64,
    /// The last sequence number sealed, to any peer: one count for all, so
    /// that a peer removed and added again never sees a number twice.
    pub(crate) seq: AtomicU64,
    #[pin]
    pub(crate) cfg: Mutex<Config>,
    #[pin]
    pub(crate) lv: Mutex<LoadState>,
    #[pin]
    threads: Mutex<Threads>,
    #[pin]
    ping: Mutex<ping::PingState>,
    pub(crate) stats: Stats,
    pub(crate) tun: Tunables,
    pub(crate) running: AtomicBool,
    /// Where frames about processes go (set at load, cleared at unload so
    /// the two do not keep each other alive).
    #[pin]
    pub(crate) sink: Mutex<Option<Arc<dyn FrameSink>>>,
}

impl Cluster {
    pub(crate) fn new(node: Arc<Node>) -> Result<Arc<Self>> {
        let seed = time::random_u64();
        Arc::pin_init(
            pin_init!(Cluster {
                node,
                epoch: (time::real_ns() & !0xf_ffff) | (time::random_u64() & 0xf_ffff),
                seq: AtomicU64::new(0),
                cfg <- new_mutex!(Config { key: None, listen: None, peers: KVec::new() }, "roam_cfg"),
                lv <- new_mutex!(
                    LoadState {
                        est: LoadEstimator::default(),
                        vec: LoadVector::new(0, DEFAULT_SIZE),
                        rng: XorShift64::new(seed),
                        nr_running: 0,
                        ncpus: 1,
                        free_mb: 0,
                    },
                    "roam_load"
                ),
                threads <- new_mutex!(Threads::default(), "roam_threads"),
                ping <- new_mutex!(ping::PingState::default(), "roam_ping"),
                stats: Stats::default(),
                tun: Tunables {
                    interval_ms: AtomicU32::new(1000),
                    down_after_ms: AtomicU32::new(5000),
                    speed: AtomicU32::new(crate::load::SPEED_REF),
                    quiet: AtomicU32::new(0),
                    accept: AtomicU32::new(1),
                    accept_root: AtomicU32::new(1),
                },
                running: AtomicBool::new(false),
                sink <- new_mutex!(None, "roam_sink"),
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn me(&self) -> u32 {
        self.node.node_id()
    }

    /// The current key, if any.
    pub(crate) fn key(&self) -> Option<Arc<FrameKey>> {
        self.cfg.lock().key.clone()
    }

    /// The migration engine, if attached: cloned, so that it is called with
    /// no lock held.
    fn sink(&self) -> Option<Arc<dyn FrameSink>> {
        self.sink.lock().clone()
    }

    pub(crate) fn peer(&self, id: u32) -> Option<Arc<Peer>> {
        self.cfg.lock().peers.iter().find(|p| p.id == id).cloned()
    }

    /// Whether `ip` is the address of a configured peer.
    pub(crate) fn is_member_ip(&self, ip: u32) -> bool {
        self.cfg.lock().peers.iter().any(|p| p.addr.ip == ip)
    }

    /// A snapshot of the peer list (so no lock is held while using it).
    pub(crate) fn peers(&self) -> Result<KVec<Arc<Peer>>> {
        let cfg = self.cfg.lock();
        let mut v = KVec::with_capacity(cfg.peers.len(), GFP_KERNEL)?;
        for p in cfg.peers.iter() {
            v.push(p.clone(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    fn start(self: &Arc<Self>, addr: SockAddr) -> Result {
        let me = self.me();
        if me == 0 {
            pr_warn!("listen: refused: set node_id first\n");
            return Err(EINVAL);
        }
        if self.key().is_none() {
            pr_warn!("listen: refused: set the cluster key first\n");
            return Err(EINVAL);
        }
        self.stop();
        let sock = TcpSocket::listen(addr, 64).inspect_err(|e| {
            pr_warn!("listen: cannot listen on port {}: {:?}\n", addr.port, e);
        })?;
        sock.set_timeouts(200, 1000);
        let sock = Arc::new(sock, GFP_KERNEL)?;
        {
            let mut lv = self.lv.lock();
            let size = lv.vec.size();
            lv.vec = LoadVector::new(me, size);
        }
        self.cfg.lock().listen = Some(addr);
        let c = self.clone();
        let s = sock.clone();
        let listener = KThread::spawn(c_str!("roam-listen"), move || rx::listen_loop(c, s))?;
        let c = self.clone();
        let gossip = KThread::spawn(c_str!("roam-gossip"), move || gossip::gossip_loop(c));
        let mut t = self.threads.lock();
        t.listener = Some((listener, sock));
        match gossip {
            Ok(g) => t.gossip = Some(g),
            Err(e) => {
                drop(t);
                self.stop();
                return Err(e);
            }
        }
        drop(t);
        self.running.store(true, Ordering::Release);
        self.node.set_busy(true);
        pr_info!("node {} listening on port {}\n", me, addr.port);
        Ok(())
    }

    /// Stops every thread and closes every connection. Idempotent.
    pub(crate) fn stop(&self) {
        let was = self.running.swap(false, Ordering::AcqRel);
        // The listener first, so no new receiver appears; each taken out of
        // the lock before it is waited for.
        let listener = self.threads.lock().listener.take();
        if let Some((thread, sock)) = listener {
            sock.shutdown();
            drop(thread);
        }
        let gossip = self.threads.lock().gossip.take();
        drop(gossip);
        let receivers = core::mem::take(&mut self.threads.lock().receivers);
        drop(receivers);
        let peers = self.peers().unwrap_or_default();
        if was {
            for p in peers.iter() {
                tx::say_bye(self, p);
            }
        }
        for p in peers.iter() {
            tx::disconnect(p);
            p.up.store(false, Ordering::Relaxed);
        }
        self.cfg.lock().listen = None;
        self.node.set_busy(false);
        if was {
            pr_info!("transport stopped\n");
        }
    }

    /// Remembers a receiver thread (refusing beyond [`MAX_CONNS`]).
    fn add_receiver(&self, r: Receiver) -> core::result::Result<(), Receiver> {
        let mut t = self.threads.lock();
        if t.receivers.len() >= MAX_CONNS {
            return Err(r);
        }
        if t.receivers.reserve(1, GFP_KERNEL).is_err() {
            return Err(r);
        }
        // Cannot fail: room was reserved just above.
        let _ = t.receivers.push(r, GFP_KERNEL);
        Ok(())
    }

    /// Joins receivers whose connection has ended.
    fn reap_receivers(&self) {
        let finished = {
            let mut t = self.threads.lock();
            take_where(&mut t.receivers, |r| r.done.load(Ordering::Acquire))
        };
        // Joined here, outside the lock.
        drop(finished);
    }

    pub(crate) fn receivers(&self) -> usize {
        self.threads.lock().receivers.len()
    }

    /// Receivers reading connections from address `ip`.
    pub(crate) fn receivers_from(&self, ip: u32) -> usize {
        self.threads.lock().receivers.iter().filter(|r| r.ip == ip && !r.done.load(Ordering::Acquire)).count()
    }

    /// Closes one connection from `ip` that has not authenticated yet (its
    /// receiver then ends); false if there is none.
    pub(crate) fn evict_unauthenticated(&self, ip: u32) -> bool {
        let t = self.threads.lock();
        let victim = t.receivers.iter().find(|r| r.ip == ip && !r.authed.load(Ordering::Acquire) && !r.done.load(Ordering::Acquire));
        match victim {
            Some(r) => {
                r.authed.store(true, Ordering::Release); // not chosen twice
                r.sock.shutdown();
                self.stats.connections_evicted.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Merges load entries a peer sent.
    pub(crate) fn merge_loads(&self, entries: &[LoadEntry]) {
        let mut lv = self.lv.lock();
        lv.vec.merge(entries, 0);
    }

    /// This node's own entry, freshly computed.
    pub(crate) fn own_entry(&self) -> LoadEntry {
        self.lv.lock().vec.me()
    }

    /// This node's entry with its load as it is now (the quick average)
    /// rather than as published: for its own balancing decisions.
    pub(crate) fn own_entry_now(&self) -> LoadEntry {
        let lv = self.lv.lock();
        let mut e = lv.vec.me();
        e.load = lv.est.quick();
        e
    }
}

/// Owns the cluster for the module: stops every thread when dropped.
pub(crate) struct Running(pub(crate) Arc<Cluster>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.stop();
        *self.0.sink.lock() = None;
    }
}

