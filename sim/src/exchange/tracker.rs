//! What the simulation measures: who knows that X went idle and when,
//! who is alive, messages per node per second, and the summary of one
//! algorithm's run ([`AlgoResult`]).
//!
//! Calls only [`super::world`] (for the scenario's constants).

use super::report::AlgoResult;
use super::world::{Us, World, CHANGE_AT, INTERVAL, SEC};

/// Who knows that X is idle, who is alive, and the timeline of both.
pub(super) struct Tracker {
    x: usize,
    pub(super) alive: Vec<bool>,
    pub(super) epoch: Vec<u32>,
    pub(super) knows: Vec<bool>,
    pub(super) alive_count: usize,
    knows_count: usize,
    t50: Option<Us>,
    t90: Option<Us>,
    timeline: Vec<(Us, usize, usize)>,
    /// Alive node-microseconds, for per-node rates.
    alive_area: f64,
    last_t: Us,
    /// Sent + received messages per node in the current second.
    per_sec: Vec<u32>,
    pub(super) max_per_sec: u32,
    next_second: Us,
}

impl Tracker {
    pub(super) fn new(w: &World) -> Self {
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

    pub(super) fn advance(&mut self, t: Us) {
        if t > self.last_t {
            self.alive_area += (self.alive_count + 1) as f64 * (t - self.last_t) as f64;
            self.last_t = t;
        }
    }

    pub(super) fn learn(&mut self, i: usize, t: Us) {
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

    pub(super) fn down(&mut self, i: usize) {
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

    pub(super) fn up(&mut self, i: usize) {
        if self.alive[i] {
            return;
        }
        self.alive[i] = true;
        self.alive_count += 1;
        self.epoch[i] += 1;
    }

    /// Records a timeline point; once a second also closes the
    /// per-second message counters and returns true.
    pub(super) fn sample(&mut self, t: Us) -> bool {
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

    pub(super) fn count(&mut self, i: usize, msgs: u32) {
        self.per_sec[i] = self.per_sec[i].saturating_add(msgs);
    }

    /// Nodes knowing at `t` (the last timeline point at or before it).
    pub(super) fn knowing_at(&self, t: Us) -> usize {
        self.timeline.iter().take_while(|p| p.0 <= t).last().map_or(0, |p| p.1)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(super) fn ages(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

/// Messages and bytes one algorithm moved over the whole run.
pub(super) struct Traffic {
    pub(super) sent_msgs: f64,
    pub(super) sent_bytes: f64,
    pub(super) rx_bytes: f64,
}

/// One algorithm's [`AlgoResult`] from its tracker, traffic, information
/// ages and (central only) the server's rates.
pub(super) fn finish(
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
