// SPDX-License-Identifier: GPL-2.0

//! Cluster membership, the kernel-to-kernel transport and MOSIX's load
//! information exchange.
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
//! then one `Peer::tx` or `Peer::rx`, then `Cluster::lv`. No lock is held
//! while waiting for a thread to stop, and `cfg` is never held while
//! sending.

mod rx;
pub(crate) mod tx;
pub(crate) mod view;

use crate::config::{self, ConfigError, ListenCmd, PeerCmd};
use crate::control::Node;
use crate::load::{Decay, LoadEstimator};
use crate::loadvec::{LoadEntry, LoadVector, DEFAULT_SIZE, MAX_VECTOR, MIN_SIZE};
use crate::rng::XorShift64;
use crate::sys::crypto::HmacSha256;
use crate::sys::socket::{SockAddr, TcpSocket};
use crate::sys::thread::{self, KThread};
use crate::sys::{sysinfo, time};
use crate::wire::{self, Reject};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{c_str, new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// How often the local load is sampled.
pub(crate) const TICK_MS: u32 = 100;
/// Most accepted connections (and so receiver threads) at once.
pub(crate) const MAX_CONNS: usize = 2 * config::MAX_PEERS;

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
    pub(crate) rejected: [AtomicU64; Reject::ALL.len()],
    /// Frames whose sender id belongs to another address: a duplicate
    /// node id or a spoofing attempt.
    pub(crate) rejected_addr_mismatch: AtomicU64,
    /// Frames that arrived while no key was set.
    pub(crate) rejected_no_key: AtomicU64,
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
                frames_from: AtomicU64::new(0),
                frames_to: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }
}

/// Configuration that changes together.
pub(crate) struct Config {
    pub(crate) key: Option<Arc<HmacSha256>>,
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

/// The one transport benchmark (`ROAM_IOC_PING`) that may run at a time.
#[derive(Default)]
pub(crate) struct PingState {
    busy: bool,
    next_id: u32,
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
    /// This load of the module's session epoch (wall-clock ns).
    pub(crate) epoch: u64,
    #[pin]
    pub(crate) cfg: Mutex<Config>,
    #[pin]
    pub(crate) lv: Mutex<LoadState>,
    #[pin]
    threads: Mutex<Threads>,
    #[pin]
    ping: Mutex<PingState>,
    pub(crate) stats: Stats,
    pub(crate) tun: Tunables,
    pub(crate) running: AtomicBool,
    /// Where migration frames go (set at load, cleared at unload so the
    /// two do not keep each other alive).
    #[pin]
    pub(crate) sink: Mutex<Option<Arc<crate::migrate::Mover>>>,
}

fn refuse(what: &str, e: ConfigError) -> Error {
    pr_warn!("{}: refused: {}\n", what, e.reason());
    match e {
        ConfigError::DuplicateId | ConfigError::DuplicateAddr => EEXIST,
        ConfigError::NoSuchPeer => ENOENT,
        ConfigError::Full => ENOSPC,
        _ => EINVAL,
    }
}

impl Cluster {
    pub(crate) fn new(node: Arc<Node>) -> Result<Arc<Self>> {
        let seed = time::random_u64();
        Arc::pin_init(
            pin_init!(Cluster {
                node,
                epoch: time::real_ns(),
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
                ping <- new_mutex!(PingState::default(), "roam_ping"),
                stats: Stats::default(),
                tun: Tunables {
                    interval_ms: AtomicU32::new(1000),
                    down_after_ms: AtomicU32::new(5000),
                    speed: AtomicU32::new(crate::load::SPEED_REF),
                    quiet: AtomicU32::new(0),
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
    pub(crate) fn key(&self) -> Option<Arc<HmacSha256>> {
        self.cfg.lock().key.clone()
    }

    pub(crate) fn peer(&self, id: u32) -> Option<Arc<Peer>> {
        self.cfg.lock().peers.iter().find(|p| p.id == id).cloned()
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

    /// `/sys/kernel/roam/key`: a hex key, root only.
    pub(crate) fn set_key(&self, input: &[u8]) -> Result {
        let mut raw = [0u8; config::KEY_MAX];
        let n = config::parse_key_hex(input, &mut raw).map_err(|e| refuse("key", e))?;
        let h = HmacSha256::new(&raw[..n]);
        raw.fill(0);
        let h = Arc::new(h?, GFP_KERNEL)?;
        self.cfg.lock().key = Some(h);
        pr_info!("cluster key set ({} bytes)\n", n);
        Ok(())
    }

    /// `/sys/kernel/roam/peers`: add, del or clear.
    pub(crate) fn peer_cmd(&self, input: &[u8]) -> Result {
        let cmd = config::parse_peer_cmd(input).map_err(|e| refuse("peers", e))?;
        let me = self.me();
        // Built before taking the lock: allocation may sleep, and a refused
        // command must change nothing.
        let new_peer = match cmd {
            PeerCmd::Add { id, ip, port } => Some(Peer::new(id, SockAddr { ip, port })?),
            _ => None,
        };
        let mut removed = KVec::new();
        {
            let mut cfg = self.cfg.lock();
            match cmd {
                PeerCmd::Add { id, ip, port } => {
                    let listen = cfg.listen;
                    if let Some(l) = listen {
                        if l.ip == ip && l.port == port {
                            return Err(refuse("peers", ConfigError::DuplicateAddr));
                        }
                    }
                    config::check_new_peer(
                        me,
                        cfg.peers.iter().map(|p| (p.id, p.addr.ip, p.addr.port)),
                        cfg.peers.len(),
                        id,
                        ip,
                        port,
                    )
                    .map_err(|e| refuse("peers", e))?;
                    if let Some(p) = new_peer {
                        cfg.peers.push(p, GFP_KERNEL)?;
                    }
                    pr_info!("peer {} added\n", id);
                }
                PeerCmd::Del { id } => {
                    if !cfg.peers.iter().any(|p| p.id == id) {
                        return Err(refuse("peers", ConfigError::NoSuchPeer));
                    }
                    removed = take_where(&mut cfg.peers, |p| p.id == id)?;
                    pr_info!("peer {} removed\n", id);
                }
                PeerCmd::Clear => {
                    removed = core::mem::take(&mut cfg.peers);
                    pr_info!("all peers removed\n");
                }
            }
        }
        let mut lv = self.lv.lock();
        for p in removed.iter() {
            lv.vec.remove(p.id);
        }
        drop(lv);
        // Dropping `removed` closes their outgoing connections.
        for p in removed.iter() {
            tx::disconnect(p);
        }
        Ok(())
    }

    /// `/sys/kernel/roam/listen`: start the transport on an address, or stop it.
    pub(crate) fn listen_cmd(self: &Arc<Self>, input: &[u8]) -> Result {
        match config::parse_listen(input).map_err(|e| refuse("listen", e))? {
            ListenCmd::Off => {
                self.stop();
                Ok(())
            }
            ListenCmd::On { ip, port } => self.start(SockAddr { ip, port }),
        }
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
        let gossip = KThread::spawn(c_str!("roam-gossip"), move || gossip_loop(c));
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

    /// Tunables shared with the load estimator and vector.
    pub(crate) fn set_vector_size(&self, input: &[u8]) -> Result {
        let v = config::parse_ranged(input, MIN_SIZE as u32, MAX_VECTOR as u32).map_err(|e| refuse("vector_size", e))?;
        self.lv.lock().vec.set_size(v as usize);
        Ok(())
    }

    pub(crate) fn set_decay(&self, input: &[u8]) -> Result {
        let s = config::trim_nl(input);
        let mut it = s.split(|&c| c == b' ');
        let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
            return Err(refuse("decay", ConfigError::Syntax));
        };
        let slow = config::parse_ranged(a, 1, 999).map_err(|e| refuse("decay", e))?;
        let fast = config::parse_ranged(b, 1, 999).map_err(|e| refuse("decay", e))?;
        if !self.lv.lock().est.set_decay(Decay { slow, fast }) {
            return Err(refuse("decay", ConfigError::Range));
        }
        Ok(())
    }

    /// `ROAM_IOC_PING`: `count` round trips of `size` bytes to `node`, or
    /// (with `PING_BULK`) `count` frames one way and one round trip.
    pub(crate) fn ping(&self, mut req: crate::abi::Ping) -> Result<crate::abi::Ping> {
        if req.count == 0 || req.count > crate::abi::PING_MAX_COUNT || req.size as usize > wire::MAX_PAYLOAD {
            return Err(EINVAL);
        }
        if req.flags & crate::abi::PING_MAC_ONLY != 0 {
            return self.mac_only(req);
        }
        if !self.running.load(Ordering::Acquire) {
            return Err(crate::sys::err::enotconn());
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
        let r = payload.extend_with(req.size as usize, 0x5au8, GFP_KERNEL).map_err(Error::from).and_then(|_| {
            let start = time::now_ns();
            let mut done = 0;
            if req.flags & crate::abi::PING_BULK != 0 {
                while done < req.count {
                    if kernel::current!().signal_pending() {
                        return Err(EINTR);
                    }
                    tx::send(self, &peer, wire::MsgType::Bulk, 0, &payload)?;
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
    fn mac_only(&self, mut req: crate::abi::Ping) -> Result<crate::abi::Ping> {
        let key = self.key().ok_or(EINVAL)?;
        let mut data = KVec::new();
        data.extend_with(req.size as usize, 0x5au8, GFP_KERNEL)?;
        let start = time::now_ns();
        let mut done = 0;
        while done < req.count {
            if kernel::current!().signal_pending() {
                return Err(EINTR);
            }
            key.digest(&data)?;
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
        tx::request(self, peer, wire::MsgType::Ping, id, payload, 2000)
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

/// Moves the elements matching `pred` out of `v` (order kept). Memory is
/// reserved first, so on failure `v` is unchanged.
fn take_where<T>(v: &mut KVec<T>, pred: impl Fn(&T) -> bool) -> Result<KVec<T>> {
    let n = v.len();
    let mut keep = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut taken = KVec::with_capacity(n, GFP_KERNEL)?;
    for x in core::mem::take(v) {
        // Neither push can fail: both have room for every element.
        let _ = if pred(&x) { taken.push(x, GFP_KERNEL) } else { keep.push(x, GFP_KERNEL) };
    }
    *v = keep;
    Ok(taken)
}

/// Samples the local load and runs the exchange every interval.
fn gossip_loop(c: Arc<Cluster>) {
    let mut last_exchange = time::now_ms();
    let mut next_exchange = last_exchange;
    while !thread::should_stop() {
        let nr = sysinfo::nr_running().unwrap_or(0);
        let ncpus = sysinfo::online_cpus();
        let free = sysinfo::free_mem_mb();
        let speed = c.tun.speed.load(Ordering::Relaxed);
        {
            let mut lv = c.lv.lock();
            lv.est.sample(nr, ncpus, speed);
            lv.nr_running = nr;
            lv.ncpus = ncpus;
            lv.free_mb = free;
            let load = lv.est.load();
            lv.vec.set_own(load, speed, ncpus.min(u16::MAX as u32) as u16, free);
        }
        let now = time::now_ms();
        if now >= next_exchange {
            let elapsed = now.saturating_sub(last_exchange).min(u32::MAX as u64) as u32;
            last_exchange = now;
            exchange(&c, elapsed);
            check_liveness(&c, now);
            c.reap_receivers();
            let interval = c.tun.interval_ms.load(Ordering::Relaxed) as u64;
            // +-10% jitter keeps nodes from falling into lockstep.
            let jitter = c.lv.lock().rng.below(interval / 5 + 1);
            next_exchange = now + interval - interval / 10 + jitter;
        }
        thread::sleep_ms(TICK_MS);
    }
}

/// One MOSIX exchange: age the vector, send its newest half to one random
/// peer known to be up (one interval in four, to a peer believed down, so
/// that nodes coming back are noticed).
fn exchange(c: &Arc<Cluster>, elapsed_ms: u32) {
    if c.tun.quiet.load(Ordering::Relaxed) != 0 {
        c.lv.lock().vec.age(elapsed_ms);
        return;
    }
    let Ok(peers) = c.peers() else { return };
    if peers.is_empty() {
        return;
    }
    let mut out = [LoadEntry::default(); MAX_VECTOR + 1];
    let (target, n) = {
        let mut lv = c.lv.lock();
        lv.vec.age(elapsed_ms);
        let n = lv.vec.outgoing(&mut out);
        let mut up = [0u32; config::MAX_PEERS];
        let mut down = [0u32; config::MAX_PEERS];
        let (mut nup, mut ndown) = (0, 0);
        // The up peer heard of least recently, if its news is older than
        // half the failure timeout: it is asked directly instead of a random
        // peer, so a quiet stretch of random choices never looks like a
        // failure (a direct push is answered at once by a live node).
        let now = time::now_ms();
        let suspect_after = c.tun.down_after_ms.load(Ordering::Relaxed) as u64 / 2;
        let mut suspect: Option<(u64, u32)> = None;
        for p in peers.iter().take(config::MAX_PEERS) {
            if p.up.load(Ordering::Relaxed) {
                up[nup] = p.id;
                nup += 1;
                let age = news_age(p, &lv.vec, now);
                if age > suspect_after && suspect.map_or(true, |(a, _)| age > a) {
                    suspect = Some((age, p.id));
                }
            } else {
                down[ndown] = p.id;
                ndown += 1;
            }
        }
        // One interval in four, probe a peer believed down, so that a node
        // coming back (or one we wrongly gave up on) is found quickly.
        let probe = ndown > 0 && (nup == 0 || lv.rng.below(4) == 0);
        let target = if probe {
            crate::loadvec::choose_peer(&mut lv.rng, &down[..ndown])
        } else if let Some((_, id)) = suspect {
            Some(id)
        } else {
            crate::loadvec::choose_peer(&mut lv.rng, &up[..nup])
        };
        (target, n)
    };
    let Some(target) = target else { return };
    let Some(peer) = peers.iter().find(|p| p.id == target) else { return };
    let mut payload = [0u8; wire::loads_len(MAX_VECTOR + 1)];
    let Ok(len) = wire::encode_loads(&out[..n], &mut payload) else { return };
    if tx::send(c, peer, wire::MsgType::LoadPush, 0, &payload[..len]).is_ok() {
        c.stats.load_pushes_sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// How old the freshest news of `p` is: heard directly, or through another
/// node's load vector.
fn news_age(p: &Peer, vec: &LoadVector, now: u64) -> u64 {
    let direct = p.last_heard_ms.load(Ordering::Relaxed);
    let direct_age = if direct == 0 { u64::MAX } else { now.saturating_sub(direct) };
    let vec_age = vec.get(p.id).map(|e| e.age_ms as u64).unwrap_or(u64::MAX);
    direct_age.min(vec_age)
}

/// Marks peers down when nothing fresh was heard of them for
/// `down_after_ms`, directly or through another node's load vector.
fn check_liveness(c: &Cluster, now: u64) {
    let Ok(peers) = c.peers() else { return };
    let down_after = c.tun.down_after_ms.load(Ordering::Relaxed) as u64;
    for p in peers.iter() {
        let age = news_age(p, &c.lv.lock().vec, now);
        let up = p.up.load(Ordering::Relaxed);
        if up && age > down_after {
            p.up.store(false, Ordering::Relaxed);
            c.lv.lock().vec.remove(p.id);
            tx::disconnect(p);
            pr_info!("node {} is down (nothing heard for {} ms)\n", p.id, age.min(u32::MAX as u64));
            let sink = c.sink.lock().clone();
            if let Some(m) = sink {
                m.node_down(p.id);
            }
        } else if !up && age <= down_after {
            p.up.store(true, Ordering::Relaxed);
            pr_info!("node {} is up\n", p.id);
        }
    }
}
