//! `cargo xtask sim`: a discrete-event simulation of roam's load-vector
//! gossip at cluster sizes no test cluster reaches, next to two baselines.
//!
//! Every simulated node runs the same code as the kernel module:
//! `roam_proto::loadvec` (the vector, its merge and `choose_peer`),
//! `roam_proto::rng` (peer choice and all other randomness) and
//! `roam_proto::wire` (payload encoding and frame sizes). The network is
//! modelled: every message is lost independently with probability `loss`
//! and otherwise arrives after `delay` ± 25 %. Nodes leave and come back
//! (churn) with their state wiped.
//!
//! The scenario: all nodes are busy to some degree; at t = 10 s one very
//! busy node ("X") becomes idle. We measure how the news spreads, how old
//! the load information held by the nodes is, and what it costs in
//! messages and bytes, for three algorithms:
//!
//! * gossip: roam's MOSIX-style exchange (one push of `1 + size/2`
//!   entries per node per interval to a random known peer, answered by
//!   the receiver's own entry);
//! * central: every node reports to one server each interval and gets the
//!   full least-loaded list back;
//! * broadcast: every node sends its entry to every other node each
//!   interval.
//!
//! A node "knows" that X is idle once it has received and kept an entry
//! about X produced after the change (for gossip: once its load vector has
//! held such an entry). A node that restarts forgets. The fractions are
//! over the nodes alive at that moment, X excluded.
//!
//! The baselines send N messages per interval per node (broadcast) or one
//! list of N entries per node (central); simulating each of those
//! messages individually would take hours at N = 10,000, so they are
//! counted arithmetically and only the messages that carry the news about
//! X are simulated one by one (with the same loss, delay and churn). Their
//! information ages are estimated from a random sample of node pairs.

use anyhow::{bail, Context, Result};
use roam_proto::loadvec::{choose_peer, LoadEntry, LoadVector, DEFAULT_SIZE, MAX_VECTOR};
use roam_proto::rng::XorShift64;
use roam_proto::wire::{self, MAX_PAYLOAD};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Cluster size (3..=65534).
    pub nodes: usize,
    /// Simulated time in seconds (at least 15; the load change is at 10 s).
    pub seconds: u32,
    /// Probability that any one message is lost (0 <= loss < 1).
    pub loss: f64,
    /// Mean one-way delay in milliseconds (each message: ±25 %).
    pub delay_ms: u32,
    /// Fraction of the nodes leaving per second (each comes back after
    /// 5-30 s with its state wiped).
    pub churn_per_s: f64,
    /// Seed of every random choice; equal seeds give equal results.
    pub seed: u64,
    /// Where `sim.json` and `sim-dissemination.svg` go.
    pub out_dir: PathBuf,
}

impl Default for SimOptions {
    fn default() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        SimOptions {
            nodes: 10_000,
            seconds: 60,
            loss: 0.05,
            delay_ms: 20,
            churn_per_s: 0.001,
            seed: 1,
            out_dir: root.join("target/sim"),
        }
    }
}

/// Microseconds: the simulation clock.
type Us = u64;

const SEC: Us = 1_000_000;
/// Gossip / report / broadcast interval (each node: ±10 % per interval).
const INTERVAL: Us = SEC;
/// When node X becomes idle.
const CHANGE_AT: Us = 10 * SEC;
/// Load vector size used by the gossip nodes.
const VECTOR_SIZE: usize = DEFAULT_SIZE;
/// Peers a (re)starting node knows before it has heard from anyone.
const BOOTSTRAP_PEERS: usize = 3;
/// Gossip entries older than this are dropped.
const EXPIRE_MS: u32 = 30_000;
/// A node is "idle" when its advertised load is below this (SCALE units).
const IDLE_BELOW: u32 = 250;
/// X's load before the change; everybody else is in 500..4000.
const BUSY_LOAD: u32 = 8000;
/// How long a departed node stays away.
const DOWN_MIN: Us = 5 * SEC;
const DOWN_MAX: Us = 30 * SEC;
/// Timeline resolution.
const SAMPLE_EVERY: Us = 100_000;
/// Node pairs sampled for the baselines' information age.
const AGE_SAMPLES: usize = 200_000;

/// Bytes of a frame carrying `entries` load entries.
fn frame_bytes(entries: usize) -> u64 {
    wire::frame_len(wire::loads_len(entries)) as u64
}

/// A uniform float in [0, 1) from the crate's generator.
fn unit(rng: &mut XorShift64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The next interval of a node's timer: 1 s ± 10 %.
fn next_interval(rng: &mut XorShift64) -> Us {
    INTERVAL * 9 / 10 + rng.below(INTERVAL / 5 + 1)
}

/// Per-scenario constants shared by the three algorithms.
struct World {
    n: usize,
    end: Us,
    loss: f64,
    delay: Us,
    x: usize,
    base_load: Vec<u32>,
    speed: Vec<u32>,
    ncpus: Vec<u16>,
    /// (time, node, up?) sorted by time.
    churn: Vec<(Us, usize, bool)>,
}

impl World {
    fn new(o: &SimOptions) -> Result<World> {
        if !(3..=65534).contains(&o.nodes) {
            bail!("--nodes must be in 3..=65534 (node ids are 16-bit), not {}", o.nodes);
        }
        if o.seconds < 15 {
            bail!("--seconds must be at least 15 (the load change happens at 10 s)");
        }
        if !(0.0..1.0).contains(&o.loss) {
            bail!("--loss must be in [0, 1), not {}", o.loss);
        }
        if !(0.0..=1.0).contains(&o.churn_per_s) {
            bail!("--churn must be in [0, 1] (fraction of nodes leaving per second)");
        }
        let n = o.nodes;
        let end = u64::from(o.seconds) * SEC;
        let mut rng = XorShift64::new(o.seed ^ 0x5157_4f52_4c44);
        let x = rng.below(n as u64) as usize;
        let mut base_load = Vec::with_capacity(n);
        let mut speed = Vec::with_capacity(n);
        let mut ncpus = Vec::with_capacity(n);
        for i in 0..n {
            base_load.push(if i == x { BUSY_LOAD } else { 500 + rng.below(3501) as u32 });
            speed.push(800 + rng.below(801) as u32);
            ncpus.push(1u16 << rng.below(4));
        }
        // Each node (except X) leaves at rate churn_per_s (exponential
        // waiting times) and comes back 5-30 s later.
        let mut churn = Vec::new();
        if o.churn_per_s > 0.0 {
            for i in 0..n {
                if i == x {
                    continue;
                }
                let mut t: Us = 0;
                loop {
                    let u = unit(&mut rng).max(1e-12);
                    t = t.saturating_add((-u.ln() / o.churn_per_s * SEC as f64) as Us);
                    if t >= end {
                        break;
                    }
                    churn.push((t, i, false));
                    t += DOWN_MIN + rng.below(DOWN_MAX - DOWN_MIN + 1);
                    if t >= end {
                        break;
                    }
                    churn.push((t, i, true));
                }
            }
        }
        churn.sort_unstable();
        Ok(World { n, end, loss: o.loss, delay: u64::from(o.delay_ms) * 1000, x, base_load, speed, ncpus, churn })
    }

    fn id(i: usize) -> u32 {
        i as u32 + 1
    }

    fn idx(id: u32) -> usize {
        id as usize - 1
    }

    /// Node `i`'s load at time `t`: X drops to 0 at the change.
    fn load(&self, i: usize, t: Us) -> u32 {
        if i == self.x && t >= CHANGE_AT {
            0
        } else {
            self.base_load[i]
        }
    }

    /// One message's transit time: delay ± 25 %, at least 1 µs.
    fn transit(&self, rng: &mut XorShift64) -> Us {
        (self.delay * 3 / 4 + rng.below(self.delay / 2 + 1)).max(1)
    }

    fn lost(&self, rng: &mut XorShift64) -> bool {
        self.loss > 0.0 && unit(rng) < self.loss
    }
}

/// A time-ordered event queue; equal times pop in insertion order.
struct Queue<E: Ord> {
    heap: BinaryHeap<Reverse<(Us, u64, E)>>,
    seq: u64,
}

impl<E: Ord> Queue<E> {
    fn new() -> Self {
        Queue { heap: BinaryHeap::new(), seq: 0 }
    }

    fn push(&mut self, t: Us, e: E) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, e)));
    }

    fn pop(&mut self) -> Option<(Us, E)> {
        self.heap.pop().map(|Reverse((t, _, e))| (t, e))
    }
}

/// Seeds a queue with every node's first interval (random phase), every
/// churn event and the periodic samples: the same start for all three
/// algorithms.
fn seed_queue<E: Ord>(
    q: &mut Queue<E>,
    rng: &mut XorShift64,
    w: &World,
    send: impl Fn(u32) -> E,
    churn: impl Fn(u32) -> E,
    sample: impl Fn() -> E,
) {
    for i in 0..w.n {
        q.push(rng.below(INTERVAL), send(i as u32));
    }
    for (k, c) in w.churn.iter().enumerate() {
        q.push(c.0, churn(k as u32));
    }
    let mut t = 0;
    while t <= w.end {
        q.push(t, sample());
        t += SAMPLE_EVERY;
    }
}

/// Who knows that X is idle, who is alive, and the timeline of both.
struct Tracker {
    x: usize,
    alive: Vec<bool>,
    epoch: Vec<u32>,
    knows: Vec<bool>,
    alive_count: usize,
    knows_count: usize,
    t50: Option<Us>,
    t90: Option<Us>,
    timeline: Vec<(Us, usize, usize)>,
    /// Alive node-microseconds, for per-node rates.
    alive_area: f64,
    last_t: Us,
    /// Sent + received messages per node in the current second.
    per_sec: Vec<u32>,
    max_per_sec: u32,
    next_second: Us,
}

impl Tracker {
    fn new(w: &World) -> Self {
        Tracker {
            x: w.x,
            alive: vec![true; w.n],
            epoch: vec![0; w.n],
            knows: vec![false; w.n],
            alive_count: w.n - 1,
            knows_count: 0,
            t50: None,
            t90: None,
            timeline: Vec::new(),
            alive_area: 0.0,
            last_t: 0,
            per_sec: vec![0; w.n],
            max_per_sec: 0,
            next_second: SEC,
        }
    }

    fn advance(&mut self, t: Us) {
        if t > self.last_t {
            self.alive_area += (self.alive_count + 1) as f64 * (t - self.last_t) as f64;
            self.last_t = t;
        }
    }

    fn learn(&mut self, i: usize, t: Us) {
        if i == self.x || self.knows[i] || !self.alive[i] {
            return;
        }
        self.knows[i] = true;
        self.knows_count += 1;
        let frac = self.knows_count as f64 / self.alive_count.max(1) as f64;
        if self.t50.is_none() && frac >= 0.5 {
            self.t50 = Some(t);
        }
        if self.t90.is_none() && frac >= 0.9 {
            self.t90 = Some(t);
        }
    }

    fn down(&mut self, i: usize) {
        if !self.alive[i] {
            return;
        }
        self.alive[i] = false;
        self.alive_count -= 1;
        if self.knows[i] {
            self.knows[i] = false;
            self.knows_count -= 1;
        }
    }

    fn up(&mut self, i: usize) {
        if self.alive[i] {
            return;
        }
        self.alive[i] = true;
        self.alive_count += 1;
        self.epoch[i] += 1;
    }

    /// Records a timeline point; once a second also closes the
    /// per-second message counters and returns true.
    fn sample(&mut self, t: Us) -> bool {
        self.timeline.push((t, self.knows_count, self.alive_count));
        if t < self.next_second {
            return false;
        }
        self.next_second += SEC;
        let m = self.per_sec.iter().copied().max().unwrap_or(0);
        self.max_per_sec = self.max_per_sec.max(m);
        self.per_sec.iter_mut().for_each(|c| *c = 0);
        true
    }

    fn count(&mut self, i: usize, msgs: u32) {
        self.per_sec[i] = self.per_sec[i].saturating_add(msgs);
    }

    /// Nodes knowing at `t` (the last timeline point at or before it).
    fn knowing_at(&self, t: Us) -> usize {
        self.timeline.iter().take_while(|p| p.0 <= t).last().map_or(0, |p| p.1)
    }
}

/// Results of one algorithm.
#[derive(Clone, Debug, Serialize)]
pub struct AlgoResult {
    pub name: &'static str,
    /// Seconds from the change until 50 % / 90 % of the alive nodes knew.
    pub t50_s: Option<f64>,
    pub t90_s: Option<f64>,
    /// Age of the load information held, at the end (ms).
    pub median_age_ms: f64,
    pub p99_age_ms: f64,
    /// Messages and bytes sent per ordinary node per second.
    pub msgs_per_node_s: f64,
    pub bytes_per_node_s: f64,
    /// Bytes received per ordinary node per second.
    pub rx_bytes_per_node_s: f64,
    /// Largest number of messages sent + received by any one node
    /// (or the server) within one second.
    pub max_msgs_per_s_one_node: f64,
    /// Nodes knowing 1, 2 and 3 intervals after the change.
    pub knowing_after_intervals: [usize; 3],
    /// Fraction knowing at the end.
    pub final_fraction: f64,
    /// Server figures (central only): messages received + sent per
    /// second, bytes sent per second.
    pub server_msgs_per_s: Option<f64>,
    pub server_bytes_per_s: Option<f64>,
    /// (seconds since the change, fraction of alive nodes knowing).
    pub timeline: Vec<(f64, f64)>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub nodes: usize,
    pub seconds: u32,
    pub loss: f64,
    pub delay_ms: u32,
    pub churn_per_s: f64,
    pub seed: u64,
    pub vector_size: usize,
    pub interval_ms: u64,
    pub change_at_s: f64,
    pub idle_node: u32,
    pub departures: usize,
    pub algorithms: Vec<AlgoResult>,
    /// Gossip only: largest fraction of alive nodes whose vector held an
    /// idle entry about X at the same moment.
    pub gossip_peak_holding_fraction: f64,
    pub wall_seconds: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ages(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

struct Traffic {
    sent_msgs: f64,
    sent_bytes: f64,
    rx_bytes: f64,
}

fn finish(
    name: &'static str,
    tr: &Tracker,
    w: &World,
    traffic: Traffic,
    age: (f64, f64),
    server: Option<(f64, f64)>,
) -> AlgoResult {
    let node_seconds = (tr.alive_area / SEC as f64).max(1.0);
    let secs = |t: Option<Us>| t.map(|t| (t.saturating_sub(CHANGE_AT)) as f64 / SEC as f64);
    let knowing = [1, 2, 3].map(|k| tr.knowing_at(CHANGE_AT + k * INTERVAL));
    let last = tr.timeline.last().copied().unwrap_or((0, 0, 1));
    let timeline = tr
        .timeline
        .iter()
        .filter(|p| p.0 >= CHANGE_AT)
        .map(|&(t, k, a)| ((t - CHANGE_AT) as f64 / SEC as f64, k as f64 / a.max(1) as f64))
        .collect();
    let _ = w;
    AlgoResult {
        name,
        t50_s: secs(tr.t50),
        t90_s: secs(tr.t90),
        median_age_ms: age.0,
        p99_age_ms: age.1,
        msgs_per_node_s: traffic.sent_msgs / node_seconds,
        bytes_per_node_s: traffic.sent_bytes / node_seconds,
        rx_bytes_per_node_s: traffic.rx_bytes / node_seconds,
        max_msgs_per_s_one_node: f64::from(tr.max_per_sec),
        knowing_after_intervals: knowing,
        final_fraction: last.1 as f64 / last.2.max(1) as f64,
        server_msgs_per_s: server.map(|s| s.0),
        server_bytes_per_s: server.map(|s| s.1),
        timeline,
    }
}

// ---------------------------------------------------------------- gossip

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GEv {
    Sample,
    Churn(u32),
    Send(u32),
    Deliver(u32),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Reply,
}

/// A message in flight; its payload is the encoded load entries.
struct Msg {
    from: usize,
    to: usize,
    to_epoch: u32,
    kind: Kind,
    sent: Us,
    len: usize,
    payload: [u8; wire::loads_len(1 + MAX_VECTOR / 2)],
}

struct GNode {
    vec: LoadVector,
    /// Peers believed alive, for `choose_peer`; `known_bits` mirrors it.
    known: Vec<u32>,
    known_bits: Vec<u64>,
    aged_to: Us,
}

impl GNode {
    fn fresh(i: usize, n: usize, t: Us, rng: &mut XorShift64) -> GNode {
        let mut g = GNode {
            vec: LoadVector::new(World::id(i), VECTOR_SIZE),
            known: Vec::new(),
            known_bits: vec![0; n.div_ceil(64)],
            aged_to: t,
        };
        for _ in 0..BOOTSTRAP_PEERS {
            let p = rng.below(n as u64) as usize;
            if p != i {
                g.learn_peer(p);
            }
        }
        g
    }

    fn learn_peer(&mut self, p: usize) {
        let (w, b) = (p / 64, 1u64 << (p % 64));
        if self.known_bits[w] & b == 0 {
            self.known_bits[w] |= b;
            self.known.push(World::id(p));
        }
    }

    fn forget_peer(&mut self, p: usize) {
        let (w, b) = (p / 64, 1u64 << (p % 64));
        if self.known_bits[w] & b != 0 {
            self.known_bits[w] &= !b;
            if let Some(k) = self.known.iter().position(|&id| id == World::id(p)) {
                self.known.swap_remove(k);
            }
        }
        self.vec.remove(World::id(p));
    }

    /// Ages the vector up to `t` in whole milliseconds.
    fn age_to(&mut self, t: Us) {
        let ms = t.saturating_sub(self.aged_to) / 1000;
        if ms > 0 {
            self.vec.age(ms.min(u64::from(u32::MAX)) as u32);
            self.aged_to += ms * 1000;
        }
    }
}

fn knows_idle(vec: &LoadVector, x: usize) -> bool {
    vec.get(World::id(x)).is_some_and(|e| e.load < IDLE_BELOW)
}

fn simulate_gossip(w: &World, seed: u64) -> (AlgoResult, f64) {
    let mut rng = XorShift64::new(seed ^ 0x006f_551b);
    let n = w.n;
    let mut tr = Tracker::new(w);
    let mut nodes: Vec<GNode> = (0..n).map(|i| GNode::fresh(i, n, 0, &mut rng)).collect();
    let mut q: Queue<GEv> = Queue::new();
    let mut msgs: Vec<Msg> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    seed_queue(&mut q, &mut rng, w, GEv::Send, GEv::Churn, || GEv::Sample);
    let (mut sent_msgs, mut sent_bytes, mut rx_bytes) = (0u64, 0u64, 0u64);
    let mut peak_holding = 0.0f64;
    let mut next_holding_check = CHANGE_AT;
    let mut out = [LoadEntry::default(); 1 + MAX_VECTOR / 2];
    let mut inc = [LoadEntry::default(); 1 + MAX_VECTOR / 2];

    while let Some((t, ev)) = q.pop() {
        if t > w.end {
            break;
        }
        tr.advance(t);
        match ev {
            GEv::Sample => {
                tr.sample(t);
                if t >= next_holding_check {
                    next_holding_check += 5 * SAMPLE_EVERY;
                    let holding = (0..n).filter(|&i| i != w.x && tr.alive[i] && knows_idle(&nodes[i].vec, w.x)).count();
                    peak_holding = peak_holding.max(holding as f64 / tr.alive_count.max(1) as f64);
                }
            }
            GEv::Churn(k) => {
                let (_, i, up) = w.churn[k as usize];
                if up {
                    tr.up(i);
                    nodes[i] = GNode::fresh(i, n, t, &mut rng);
                    q.push(t + rng.below(INTERVAL), GEv::Send(i as u32));
                } else {
                    tr.down(i);
                }
            }
            GEv::Send(iu) => {
                let i = iu as usize;
                if !tr.alive[i] {
                    continue; // restarted by its Up event
                }
                q.push(t + next_interval(&mut rng), GEv::Send(iu));
                let node = &mut nodes[i];
                node.age_to(t);
                node.vec.expire(EXPIRE_MS);
                node.vec.set_own(w.load(i, t), w.speed[i], w.ncpus[i], 4096);
                let Some(peer) = choose_peer(&mut rng, &node.known) else { continue };
                let p = World::idx(peer);
                if !tr.alive[p] {
                    // Connection refused: the peer is down; stop using it.
                    node.forget_peer(p);
                    continue;
                }
                let cnt = node.vec.outgoing(&mut out);
                let mut m = Msg {
                    from: i,
                    to: p,
                    to_epoch: tr.epoch[p],
                    kind: Kind::Push,
                    sent: t,
                    len: 0,
                    payload: [0; wire::loads_len(1 + MAX_VECTOR / 2)],
                };
                m.len = wire::encode_loads(&out[..cnt], &mut m.payload).expect("payload buffer fits a push");
                sent_msgs += 1;
                sent_bytes += frame_bytes(cnt);
                tr.count(i, 1);
                if w.lost(&mut rng) {
                    continue;
                }
                let id = match free.pop() {
                    Some(id) => {
                        msgs[id as usize] = m;
                        id
                    }
                    None => {
                        msgs.push(m);
                        (msgs.len() - 1) as u32
                    }
                };
                q.push(t + w.transit(&mut rng), GEv::Deliver(id));
            }
            GEv::Deliver(id) => {
                free.push(id);
                let m = &msgs[id as usize];
                let (to, from, kind, sent) = (m.to, m.from, m.kind, m.sent);
                if !tr.alive[to] || tr.epoch[to] != m.to_epoch {
                    continue; // the receiver died or restarted meanwhile
                }
                let cnt = wire::decode_loads(&m.payload[..m.len], &mut inc).expect("we encoded it");
                rx_bytes += frame_bytes(cnt);
                tr.count(to, 1);
                let transit_ms = ((t - sent) / 1000) as u32;
                let node = &mut nodes[to];
                node.age_to(t);
                node.vec.merge(&inc[..cnt], transit_ms);
                node.learn_peer(from);
                for e in &inc[..cnt] {
                    let p = World::idx(e.node);
                    if p != to {
                        node.learn_peer(p);
                    }
                }
                if knows_idle(&node.vec, w.x) {
                    tr.learn(to, t);
                }
                if kind == Kind::Push {
                    node.vec.set_own(w.load(to, t), w.speed[to], w.ncpus[to], 4096);
                    let me = node.vec.me();
                    let mut r = Msg {
                        from: to,
                        to: from,
                        to_epoch: tr.epoch[from],
                        kind: Kind::Reply,
                        sent: t,
                        len: 0,
                        payload: [0; wire::loads_len(1 + MAX_VECTOR / 2)],
                    };
                    r.len = wire::encode_loads(&[me], &mut r.payload).expect("one entry fits");
                    sent_msgs += 1;
                    sent_bytes += frame_bytes(1);
                    tr.count(to, 1);
                    if w.lost(&mut rng) {
                        continue;
                    }
                    let rid = match free.pop() {
                        Some(rid) => {
                            msgs[rid as usize] = r;
                            rid
                        }
                        None => {
                            msgs.push(r);
                            (msgs.len() - 1) as u32
                        }
                    };
                    q.push(t + w.transit(&mut rng), GEv::Deliver(rid));
                }
            }
        }
    }
    tr.advance(w.end);
    let mut all_ages = Vec::with_capacity(n * VECTOR_SIZE);
    for (i, node) in nodes.iter_mut().enumerate() {
        if tr.alive[i] {
            node.age_to(w.end);
            all_ages.extend(node.vec.entries().iter().map(|e| f64::from(e.age_ms)));
        }
    }
    let traffic = Traffic { sent_msgs: sent_msgs as f64, sent_bytes: sent_bytes as f64, rx_bytes: rx_bytes as f64 };
    (finish("gossip", &tr, w, traffic, ages(all_ages), None), peak_holding)
}

// ---------------------------------------------------------------- central

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CEv {
    Sample,
    Churn(u32),
    /// Node i's report timer.
    Send(u32),
    /// Node i's report (sent at the given time) reaches the server.
    AtServer(u32, Us, u32),
    /// The server's list reaches node i; the flag says whether it showed
    /// X idle; the time is its departure from the server.
    AtNode(u32, u32, bool, Us),
}

fn simulate_central(w: &World, seed: u64) -> AlgoResult {
    let mut rng = XorShift64::new(seed ^ 0x0ce4_74a1);
    let n = w.n;
    let mut tr = Tracker::new(w);
    let mut q: Queue<CEv> = Queue::new();
    seed_queue(&mut q, &mut rng, w, CEv::Send, CEv::Churn, || CEv::Sample);
    // The list the server returns: every node it has heard from, sorted by
    // load, as many as fit into one frame.
    let list_cap = (MAX_PAYLOAD - 2) / roam_proto::loadvec::ENTRY_WIRE_LEN;
    let mut server_idle = false;
    let (mut server_msgs, mut server_bytes, mut server_sec, mut server_max) = (0u64, 0u64, 0u32, 0u32);
    let (mut sent_msgs, mut sent_bytes, mut rx_bytes) = (0u64, 0u64, 0u64);
    // Per node: (arrival at server, origin time) of each report, and the
    // departure time of the last list the node received (per life).
    let mut reports: Vec<Vec<(Us, Us)>> = vec![Vec::new(); n];
    let mut last_list: Vec<Option<Us>> = vec![None; n];
    let mut up_since: Vec<Us> = vec![0; n];

    while let Some((t, ev)) = q.pop() {
        if t > w.end {
            break;
        }
        tr.advance(t);
        match ev {
            CEv::Sample => {
                if tr.sample(t) {
                    server_max = server_max.max(server_sec);
                    server_sec = 0;
                }
            }
            CEv::Churn(k) => {
                let (_, i, up) = w.churn[k as usize];
                if up {
                    tr.up(i);
                    last_list[i] = None;
                    up_since[i] = t;
                    q.push(t + rng.below(INTERVAL), CEv::Send(i as u32));
                } else {
                    tr.down(i);
                }
            }
            CEv::Send(iu) => {
                let i = iu as usize;
                if !tr.alive[i] {
                    continue;
                }
                q.push(t + next_interval(&mut rng), CEv::Send(iu));
                sent_msgs += 1;
                sent_bytes += frame_bytes(1);
                tr.count(i, 1);
                if !w.lost(&mut rng) {
                    q.push(t + w.transit(&mut rng), CEv::AtServer(iu, t, tr.epoch[i]));
                }
            }
            CEv::AtServer(iu, origin, epoch) => {
                let i = iu as usize;
                reports[i].push((t, origin));
                if i == w.x && origin >= CHANGE_AT {
                    server_idle = true;
                }
                let listed = (tr.alive_count + 1).min(list_cap);
                server_msgs += 2; // the report in, the list out
                server_sec += 2;
                server_bytes += frame_bytes(listed);
                if !w.lost(&mut rng) {
                    q.push(t + w.transit(&mut rng), CEv::AtNode(iu, epoch, server_idle, t));
                }
            }
            CEv::AtNode(iu, epoch, idle, departed) => {
                let i = iu as usize;
                if !tr.alive[i] || tr.epoch[i] != epoch {
                    continue;
                }
                let listed = (tr.alive_count + 1).min(list_cap);
                rx_bytes += frame_bytes(listed);
                tr.count(i, 1);
                last_list[i] = Some(departed);
                if idle {
                    tr.learn(i, t);
                }
            }
        }
    }
    tr.advance(w.end);
    tr.max_per_sec = tr.max_per_sec.max(server_max);
    // Age of node i's entry about j: the end time minus the origin of the
    // last report of j the server had when it sent i its last list (the
    // server drops nodes silent for 3 intervals).
    let mut sample = Vec::with_capacity(AGE_SAMPLES);
    let alive: Vec<usize> = (0..n).filter(|&i| tr.alive[i] && last_list[i].is_some()).collect();
    if !alive.is_empty() {
        for _ in 0..AGE_SAMPLES {
            let i = alive[rng.below(alive.len() as u64) as usize];
            let j = rng.below(n as u64) as usize;
            let Some(dep) = last_list[i] else { continue };
            if i == j {
                continue;
            }
            let r = &reports[j];
            let k = r.partition_point(|&(arr, _)| arr <= dep);
            if k == 0 {
                continue;
            }
            let origin = r[k - 1].1;
            if dep - r[k - 1].0 > 3 * INTERVAL {
                continue;
            }
            sample.push((w.end - origin) as f64 / 1000.0);
        }
    }
    let secs = w.end as f64 / SEC as f64;
    let traffic = Traffic { sent_msgs: sent_msgs as f64, sent_bytes: sent_bytes as f64, rx_bytes: rx_bytes as f64 };
    finish(
        "central",
        &tr,
        w,
        traffic,
        ages(sample),
        Some((server_msgs as f64 / secs, server_bytes as f64 / secs)),
    )
}

// -------------------------------------------------------------- broadcast

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BEv {
    Sample,
    Churn(u32),
    Send(u32),
    /// X's entry reaches node i (in the given life).
    Learn(u32, u32),
}

fn simulate_broadcast(w: &World, seed: u64) -> AlgoResult {
    let mut rng = XorShift64::new(seed ^ 0xb40a_dca5);
    let n = w.n;
    let mut tr = Tracker::new(w);
    let mut q: Queue<BEv> = Queue::new();
    seed_queue(&mut q, &mut rng, w, BEv::Send, BEv::Churn, || BEv::Sample);
    let (mut sent_msgs, mut sent_bytes, mut rx_msgs) = (0u64, 0u64, 0f64);
    let mut sends: Vec<Vec<Us>> = vec![Vec::new(); n];
    let mut up_since: Vec<Us> = vec![0; n];
    // Per second: broadcasts started, and the most by a single node.
    let (mut rounds_sec, mut max_rounds_node) = (0u64, 0u32);
    let mut node_rounds: Vec<u32> = vec![0; n];
    let mut busiest = 0f64;

    while let Some((t, ev)) = q.pop() {
        if t > w.end {
            break;
        }
        tr.advance(t);
        match ev {
            BEv::Sample => {
                if tr.sample(t) {
                    // A node's load that second: its own sends to all
                    // others plus, in expectation, what reached it.
                    let others = tr.alive_count as f64;
                    let rx = rounds_sec.saturating_sub(1) as f64 * (1.0 - w.loss);
                    busiest = busiest.max(f64::from(max_rounds_node) * others + rx);
                    rounds_sec = 0;
                    max_rounds_node = 0;
                    node_rounds.iter_mut().for_each(|c| *c = 0);
                }
            }
            BEv::Churn(k) => {
                let (_, i, up) = w.churn[k as usize];
                if up {
                    tr.up(i);
                    up_since[i] = t;
                    q.push(t + rng.below(INTERVAL), BEv::Send(i as u32));
                } else {
                    tr.down(i);
                }
            }
            BEv::Send(iu) => {
                let i = iu as usize;
                if !tr.alive[i] {
                    continue;
                }
                q.push(t + next_interval(&mut rng), BEv::Send(iu));
                sends[i].push(t);
                let others = tr.alive_count as u64; // alive nodes other than i (X counted)
                sent_msgs += others;
                sent_bytes += others * frame_bytes(1);
                rx_msgs += others as f64 * (1.0 - w.loss);
                rounds_sec += 1;
                node_rounds[i] += 1;
                max_rounds_node = max_rounds_node.max(node_rounds[i]);
                if i == w.x && t >= CHANGE_AT {
                    for j in 0..n {
                        if j != i && tr.alive[j] && !tr.knows[j] && !w.lost(&mut rng) {
                            q.push(t + w.transit(&mut rng), BEv::Learn(j as u32, tr.epoch[j]));
                        }
                    }
                }
            }
            BEv::Learn(ju, epoch) => {
                let j = ju as usize;
                if tr.alive[j] && tr.epoch[j] == epoch {
                    tr.learn(j, t);
                }
            }
        }
    }
    tr.advance(w.end);
    tr.max_per_sec = busiest.round() as u32;
    // Age of i's entry about j: the last broadcast of j that reached i
    // (each lost with probability `loss`) since i last came up; none if
    // that is more than 3 intervals ago.
    let mut sample = Vec::with_capacity(AGE_SAMPLES);
    let alive: Vec<usize> = (0..n).filter(|&i| tr.alive[i]).collect();
    for _ in 0..AGE_SAMPLES {
        let i = alive[rng.below(alive.len() as u64) as usize];
        let j = rng.below(n as u64) as usize;
        if i == j {
            continue;
        }
        for &s in sends[j].iter().rev() {
            if s < up_since[i] {
                break;
            }
            let arrive = s + w.transit(&mut rng);
            if arrive > w.end || w.lost(&mut rng) {
                continue;
            }
            // Like the central server, a receiver drops a node it has not
            // heard from for 3 intervals.
            if w.end - s > 3 * INTERVAL {
                break;
            }
            sample.push((w.end - s) as f64 / 1000.0);
            break;
        }
    }
    let traffic = Traffic {
        sent_msgs: sent_msgs as f64,
        sent_bytes: sent_bytes as f64,
        rx_bytes: rx_msgs * frame_bytes(1) as f64,
    };
    finish("broadcast", &tr, w, traffic, ages(sample), None)
}

// ----------------------------------------------------------------- output

/// Runs the three simulations and returns their numbers.
pub fn simulate(o: &SimOptions) -> Result<Report> {
    let started = Instant::now();
    let w = World::new(o)?;
    let (gossip, peak) = simulate_gossip(&w, o.seed);
    let central = simulate_central(&w, o.seed);
    let broadcast = simulate_broadcast(&w, o.seed);
    Ok(Report {
        nodes: o.nodes,
        seconds: o.seconds,
        loss: o.loss,
        delay_ms: o.delay_ms,
        churn_per_s: o.churn_per_s,
        seed: o.seed,
        vector_size: VECTOR_SIZE,
        interval_ms: INTERVAL / 1000,
        change_at_s: CHANGE_AT as f64 / SEC as f64,
        idle_node: World::id(w.x),
        departures: w.churn.iter().filter(|c| !c.2).count(),
        algorithms: vec![gossip, central, broadcast],
        gossip_peak_holding_fraction: peak,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

fn fmt_opt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "not reached".to_string(), |s| format!("{s:.2} s"))
}

fn fmt_num(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The results table, as Markdown (it reads fine in a terminal too).
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| algorithm | 50% time | 90% time | median age | p99 age | msgs/node/s | bytes/node/s (rx) | max msgs/s at one node |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for a in &r.algorithms {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} ms | {:.0} ms | {} | {} ({}) | {} |",
            a.name,
            fmt_opt_s(a.t50_s),
            fmt_opt_s(a.t90_s),
            a.median_age_ms,
            a.p99_age_ms,
            fmt_num(a.msgs_per_node_s),
            fmt_num(a.bytes_per_node_s),
            fmt_num(a.rx_bytes_per_node_s),
            fmt_num(a.max_msgs_per_s_one_node),
        );
    }
    s
}

/// The gradual-dissemination lines.
pub fn gradual(r: &Report) -> String {
    let mut s = String::new();
    for a in &r.algorithms {
        let k = a.knowing_after_intervals;
        let _ = writeln!(
            s,
            "{:>9}: after 1 / 2 / 3 intervals {} / {} / {} nodes know X is idle; {:.1}% at the end",
            a.name,
            k[0],
            k[1],
            k[2],
            a.final_fraction * 100.0
        );
    }
    s
}

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

/// A line chart of the fraction of nodes knowing vs time since the change.
pub fn svg(r: &Report) -> String {
    let (w, h) = (900.0, 520.0);
    let (ml, mr, mt, mb) = (70.0, 30.0, 60.0, 60.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let span = (f64::from(r.seconds) - r.change_at_s).max(1.0);
    let px = |t: f64| ml + t / span * pw;
    let py = |f: f64| mt + (1.0 - f) * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">Who knows that node {} went idle: {} nodes, loss {:.0}%, delay {} ms, churn {}/s</text>"#,
        w / 2.0,
        r.idle_node,
        r.nodes,
        r.loss * 100.0,
        r.delay_ms,
        r.churn_per_s
    );
    // Grid and ticks.
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0].into_iter().find(|&s| span / s <= 12.0).unwrap_or(1000.0);
    let mut t = 0.0;
    while t <= span + 1e-9 {
        let x = px(t);
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{}" stroke="#e0e0e0"/>"##, mt + ph);
        let _ = writeln!(s, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{t}</text>"#, mt + ph + 18.0);
        t += step;
    }
    for k in 0..=10 {
        let f = f64::from(k) / 10.0;
        let y = py(f);
        let _ = writeln!(s, r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e0e0e0"/>"##, ml + pw);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}%</text>"#, ml - 6.0, y + 4.0, k * 10);
    }
    for f in [0.5, 0.9] {
        let y = py(f);
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#888" stroke-dasharray="6 4"/>"##,
            ml + pw
        );
    }
    let _ = writeln!(s, r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since node {} became idle (t = {} s)</text>"#,
        ml + pw / 2.0,
        h - 15.0,
        r.idle_node,
        r.change_at_s
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">alive nodes that have learned it is idle</text>"#,
        mt + ph / 2.0
    );
    // Curves.
    for (a, color) in r.algorithms.iter().zip(COLORS) {
        let pts: Vec<String> = a.timeline.iter().map(|&(t, f)| format!("{:.1},{:.1}", px(t), py(f))).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
    }
    // Legend.
    let (lx, ly) = (ml + pw - 350.0, mt + ph - 90.0);
    let _ = writeln!(s, r##"<rect x="{lx}" y="{ly}" width="340" height="80" fill="white" stroke="#999"/>"##);
    for (k, (a, color)) in r.algorithms.iter().zip(COLORS).enumerate() {
        let y = ly + 20.0 + 22.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/>"#,
            lx + 10.0,
            lx + 40.0
        );
        let label = match a.name {
            "gossip" => "gossip (roam load vector)",
            "central" => "central collector",
            _ => "all-to-all broadcast",
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{label}: {:.1}% at the end</text>"#,
            lx + 48.0,
            y + 4.0,
            a.final_fraction * 100.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// `cargo xtask sim`: runs the simulations, prints the table and writes
/// `sim.json` and `sim-dissemination.svg` into `opts.out_dir`.
pub fn run(opts: &SimOptions) -> Result<()> {
    println!(
        "==> simulating {} nodes for {} s (loss {}, delay {} ms ±25%, churn {}/s, seed {})",
        opts.nodes, opts.seconds, opts.loss, opts.delay_ms, opts.churn_per_s, opts.seed
    );
    let r = simulate(opts)?;
    println!(
        "    node {} goes idle at t = {} s; {} departures; vector size {}; took {:.1} s\n",
        r.idle_node, r.change_at_s, r.departures, r.vector_size, r.wall_seconds
    );
    print!("{}", table(&r));
    println!();
    print!("{}", gradual(&r));
    if let Some(c) = r.algorithms.iter().find(|a| a.name == "central") {
        println!(
            "  central server: {} msgs/s, {} bytes/s sent",
            fmt_num(c.server_msgs_per_s.unwrap_or(0.0)),
            fmt_num(c.server_bytes_per_s.unwrap_or(0.0))
        );
    }
    println!(
        "  gossip: at most {:.2}% of the nodes held an idle entry about node {} at the same moment",
        r.gossip_peak_holding_fraction * 100.0,
        r.idle_node
    );
    std::fs::create_dir_all(&opts.out_dir).with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    let json = opts.out_dir.join("sim.json");
    std::fs::write(&json, serde_json::to_string_pretty(&r)?).with_context(|| format!("cannot write {}", json.display()))?;
    let chart = opts.out_dir.join("sim-dissemination.svg");
    std::fs::write(&chart, svg(&r)).with_context(|| format!("cannot write {}", chart.display()))?;
    println!("\n==> wrote {} and {}", json.display(), chart.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(nodes: usize, seconds: u32, loss: f64, churn: f64) -> SimOptions {
        SimOptions { nodes, seconds, loss, delay_ms: 20, churn_per_s: churn, seed: 7, ..SimOptions::default() }
    }

    fn algo<'a>(r: &'a Report, name: &str) -> &'a AlgoResult {
        r.algorithms.iter().find(|a| a.name == name).unwrap()
    }

    #[test]
    fn no_loss_reaches_ninety_percent() {
        let r = simulate(&opts(100, 120, 0.0, 0.0)).unwrap();
        let g = algo(&r, "gossip");
        assert!(g.t90_s.is_some(), "gossip never reached 90%: {:.2}", g.final_fraction);
        for name in ["central", "broadcast"] {
            let a = algo(&r, name);
            assert!(a.t90_s.unwrap() < 2.5, "{name}: {:?}", a.t90_s);
        }
    }

    #[test]
    fn loss_and_churn_still_reach_ninety_percent() {
        // 20 % loss, and 0.2 % of the nodes leaving per second for 5-30 s
        // (restarted nodes forget and must learn again).
        for seed in 1..=4 {
            let r = simulate(&SimOptions { seed, ..opts(100, 240, 0.2, 0.002) }).unwrap();
            assert!(r.departures > 0);
            let g = algo(&r, "gossip");
            let t90 = g.t90_s.unwrap_or(f64::INFINITY);
            assert!(t90 < 180.0, "seed {seed}: gossip 90% after {t90} s");
            assert!(algo(&r, "broadcast").t90_s.unwrap() < 5.0);
            assert!(algo(&r, "central").t90_s.unwrap() < 5.0);
        }
    }

    #[test]
    fn news_spreads_gradually() {
        let r = simulate(&opts(1000, 30, 0.05, 0.0)).unwrap();
        let g = algo(&r, "gossip").knowing_after_intervals;
        // A handful of nodes per interval, not the whole cluster.
        assert!(g[0] <= 20 && g[2] <= 100, "{g:?}");
        assert!(g[0] <= g[1] && g[1] <= g[2]);
        let b = algo(&r, "broadcast").knowing_after_intervals;
        assert!(b[1] > 900, "{b:?}");
    }

    #[test]
    fn gossip_cost_is_independent_of_cluster_size() {
        let small = simulate(&opts(100, 30, 0.05, 0.0)).unwrap();
        let large = simulate(&opts(1000, 30, 0.05, 0.0)).unwrap();
        let (s, l) = (algo(&small, "gossip"), algo(&large, "gossip"));
        for a in [s, l] {
            assert!((1.5..=2.0).contains(&a.msgs_per_node_s), "{}", a.msgs_per_node_s);
            assert!(a.max_msgs_per_s_one_node < 40.0, "{}", a.max_msgs_per_s_one_node);
        }
        assert!((s.msgs_per_node_s - l.msgs_per_node_s).abs() < 0.1);
        assert!((s.bytes_per_node_s / l.bytes_per_node_s - 1.0).abs() < 0.1);
        // Broadcast's cost grows with N.
        let (bs, bl) = (algo(&small, "broadcast"), algo(&large, "broadcast"));
        assert!((bs.msgs_per_node_s / 99.0 - 1.0).abs() < 0.05, "{}", bs.msgs_per_node_s);
        assert!((bl.msgs_per_node_s / 999.0 - 1.0).abs() < 0.05, "{}", bl.msgs_per_node_s);
        // Central: one report per node, N per second at the server.
        let c = algo(&large, "central");
        assert!((c.msgs_per_node_s - 1.0).abs() < 0.05);
        assert!(c.server_msgs_per_s.unwrap() > 1800.0);
    }

    #[test]
    fn deterministic_and_writes_outputs() {
        let dir = std::env::temp_dir().join(format!("roam-sim-test-{}", std::process::id()));
        let o = SimOptions { out_dir: dir.clone(), ..opts(50, 20, 0.1, 0.01) };
        let a = simulate(&o).unwrap();
        let b = simulate(&o).unwrap();
        assert_eq!(table(&a), table(&b));
        run(&o).unwrap();
        let svg = std::fs::read_to_string(dir.join("sim-dissemination.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.trim_end().ends_with("</svg>"));
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sim.json")).unwrap()).unwrap();
        assert_eq!(json["algorithms"].as_array().unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_bad_options() {
        assert!(simulate(&opts(2, 60, 0.0, 0.0)).is_err());
        assert!(simulate(&opts(100, 5, 0.0, 0.0)).is_err());
        assert!(simulate(&opts(100, 60, 1.0, 0.0)).is_err());
    }
}
