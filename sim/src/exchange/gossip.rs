//! Roam's MOSIX-style load-vector exchange, simulated node by node with
//! the kernel module's own code: every interval a node pushes its entry
//! and the newest half of its `LoadVector` to a random known peer
//! (`choose_peer`), which merges it and replies with its own entry;
//! payloads are encoded and decoded with `roam_proto::wire`.
//!
//! Calls [`super::world`] and [`super::tracker`]; knows nothing of the
//! baselines or the report.

use super::report::AlgoResult;
use super::tracker::{ages, finish, Tracker, Traffic};
use super::world::{
    frame_bytes, next_interval, seed_queue, Queue, Us, World, BOOTSTRAP_PEERS, CHANGE_AT, EXPIRE_MS, IDLE_BELOW, INTERVAL, SAMPLE_EVERY,
    VECTOR_SIZE,
};
use roam_proto::loadvec::{choose_peer, LoadEntry, LoadVector, MAX_VECTOR};
use roam_proto::rng::XorShift64;
use roam_proto::wire;

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

impl Msg {
    /// A message carrying `entries` (at most a push's `1 + MAX_VECTOR / 2`).
    fn new(from: usize, to: usize, to_epoch: u32, kind: Kind, sent: Us, entries: &[LoadEntry]) -> Msg {
        let mut m = Msg { from, to, to_epoch, kind, sent, len: 0, payload: [0; wire::loads_len(1 + MAX_VECTOR / 2)] };
        m.len = wire::encode_loads(entries, &mut m.payload).expect("a push's entries fit the payload buffer");
        m
    }
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

/// Puts a message in flight into a free slot of `msgs` (or a new one);
/// its slot, which `GEv::Deliver` carries.
fn park(msgs: &mut Vec<Msg>, free: &mut Vec<u32>, m: Msg) -> u32 {
    match free.pop() {
        Some(id) => {
            msgs[id as usize] = m;
            id
        }
        None => {
            msgs.push(m);
            (msgs.len() - 1) as u32
        }
    }
}

fn knows_idle(vec: &LoadVector, x: usize) -> bool {
    vec.get(World::id(x)).is_some_and(|e| e.load < IDLE_BELOW)
}

/// Runs roam's exchange; also returns the largest fraction of alive nodes
/// holding an idle entry about X at one moment.
pub(super) fn simulate_gossip(w: &World, seed: u64) -> (AlgoResult, f64) {
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
                let m = Msg::new(i, p, tr.epoch[p], Kind::Push, t, &out[..cnt]);
                sent_msgs += 1;
                sent_bytes += frame_bytes(cnt);
                tr.count(i, 1);
                if w.lost(&mut rng) {
                    continue;
                }
                let id = park(&mut msgs, &mut free, m);
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
                    let r = Msg::new(to, from, tr.epoch[from], Kind::Reply, t, &[me]);
                    sent_msgs += 1;
                    sent_bytes += frame_bytes(1);
                    tr.count(to, 1);
                    if w.lost(&mut rng) {
                        continue;
                    }
                    let rid = park(&mut msgs, &mut free, r);
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
