//! The simulated world shared by the three algorithms: the options and
//! the scenario's constants, the nodes' fixed properties, the network
//! (loss and delay), churn, and the time-ordered event queue every
//! algorithm's loop pops from.
//!
//! Owns no algorithm; calls only `roam_proto` and [`crate::rng`].

use crate::rng::unit;
use anyhow::{bail, Result};
use roam_proto::loadvec::DEFAULT_SIZE;
use roam_proto::rng::XorShift64;
use roam_proto::wire;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

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
pub(super) type Us = u64;

pub(super) const SEC: Us = 1_000_000;
/// Gossip / report / broadcast interval (each node: ±10 % per interval).
pub(super) const INTERVAL: Us = SEC;
/// When node X becomes idle.
pub(super) const CHANGE_AT: Us = 10 * SEC;
/// Load vector size used by the gossip nodes.
pub(super) const VECTOR_SIZE: usize = DEFAULT_SIZE;
/// Peers a (re)starting node knows before it has heard from anyone.
pub(super) const BOOTSTRAP_PEERS: usize = 3;
/// Gossip entries older than this are dropped.
pub(super) const EXPIRE_MS: u32 = 30_000;
/// A node is "idle" when its advertised load is below this (SCALE units).
pub(super) const IDLE_BELOW: u32 = 250;
/// X's load before the change; everybody else is in 500..4000.
const BUSY_LOAD: u32 = 8000;
/// How long a departed node stays away.
const DOWN_MIN: Us = 5 * SEC;
const DOWN_MAX: Us = 30 * SEC;
/// Timeline resolution.
pub(super) const SAMPLE_EVERY: Us = 100_000;
/// Node pairs sampled for the baselines' information age.
pub(super) const AGE_SAMPLES: usize = 200_000;

/// Bytes of a frame carrying `entries` load entries.
pub(super) fn frame_bytes(entries: usize) -> u64 {
    wire::frame_len(wire::loads_len(entries)) as u64
}

/// The next interval of a node's timer: 1 s ± 10 %.
pub(super) fn next_interval(rng: &mut XorShift64) -> Us {
    INTERVAL * 9 / 10 + rng.below(INTERVAL / 5 + 1)
}

/// Per-scenario constants shared by the three algorithms.
pub(super) struct World {
    pub(super) n: usize,
    pub(super) end: Us,
    pub(super) loss: f64,
    pub(super) delay: Us,
    pub(super) x: usize,
    pub(super) base_load: Vec<u32>,
    pub(super) speed: Vec<u32>,
    pub(super) ncpus: Vec<u16>,
    /// (time, node, up?) sorted by time.
    pub(super) churn: Vec<(Us, usize, bool)>,
}

impl World {
    pub(super) fn new(o: &SimOptions) -> Result<World> {
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

    pub(super) fn id(i: usize) -> u32 {
        i as u32 + 1
    }

    pub(super) fn idx(id: u32) -> usize {
        id as usize - 1
    }

    /// Node `i`'s load at time `t`: X drops to 0 at the change.
    pub(super) fn load(&self, i: usize, t: Us) -> u32 {
        if i == self.x && t >= CHANGE_AT {
            0
        } else {
            self.base_load[i]
        }
    }

    /// One message's transit time: delay ± 25 %, at least 1 µs.
    pub(super) fn transit(&self, rng: &mut XorShift64) -> Us {
        (self.delay * 3 / 4 + rng.below(self.delay / 2 + 1)).max(1)
    }

    pub(super) fn lost(&self, rng: &mut XorShift64) -> bool {
        self.loss > 0.0 && unit(rng) < self.loss
    }
}

/// A time-ordered event queue; equal times pop in insertion order.
pub(super) struct Queue<E: Ord> {
    heap: BinaryHeap<Reverse<(Us, u64, E)>>,
    seq: u64,
}

impl<E: Ord> Queue<E> {
    pub(super) fn new() -> Self {
        Queue { heap: BinaryHeap::new(), seq: 0 }
    }

    pub(super) fn push(&mut self, t: Us, e: E) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, e)));
    }

    pub(super) fn pop(&mut self) -> Option<(Us, E)> {
        self.heap.pop().map(|Reverse((t, _, e))| (t, e))
    }
}

/// Seeds a queue with every node's first interval (random phase), every
/// churn event and the periodic samples: the same start for all three
/// algorithms.
pub(super) fn seed_queue<E: Ord>(
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
