//! The simulated cluster under one policy: single-CPU nodes sharing their
//! CPU among their jobs, each node's view from the MOSIX load-vector
//! exchange (`roam_proto::loadvec`), placement, and the kernel's own
//! migration decision (`roam_proto::policy::decide` / `accept`).
//!
//! Calls only `roam_proto`, [`crate::rng`], [`super::params`] and
//! `workload`'s arrivals.

use super::params::{JobSimOptions, Policy, PolicyResult, EPS, FREEZE_FIXED_S, INTERVAL_S, NODE_MEM_MB, TRANSFER_MB_S};
use super::workload::Arrival;
use crate::rng::unit;
use roam_proto::load::SCALE;
use roam_proto::loadvec::{choose_peer, LoadEntry, LoadVector, DEFAULT_SIZE, MAX_VECTOR};
use roam_proto::policy::{accept, decide, Candidate, Decision, Tunables};
use roam_proto::rng::XorShift64;

#[derive(Clone, Debug)]
struct Job {
    id: usize,
    arrival: f64,
    demand: f64,
    remaining: f64,
    rss_mb: u32,
    /// Node it arrived at (a job elsewhere is a guest there).
    origin: usize,
    /// When it last arrived by migration.
    migrated_at: Option<f64>,
}

struct Node {
    jobs: Vec<Job>,
    /// Jobs frozen in transit towards this node, and their memory.
    incoming: usize,
    incoming_rss: u32,
    vec: LoadVector,
    next_tick: f64,
    /// Total ms passed to `vec.age`, to recognize an entry (its birth is
    /// `aged - age_ms`) when adjusting it locally.
    aged_ms: u64,
    /// Local adjustment per node index: (birth of the entry it applies to,
    /// extra load).
    bump: Vec<(i64, u32)>,
}

fn node_id(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

fn ms(s: f64) -> u32 {
    (s * 1000.0).clamp(0.0, f64::from(u32::MAX)) as u32
}

struct World {
    nodes: Vec<Node>,
    tun: Tunables,
    rng: XorShift64,
}

impl World {
    fn load(&self, i: usize) -> u32 {
        let n = &self.nodes[i];
        u32::try_from(n.jobs.len() + n.incoming).unwrap_or(u32::MAX).saturating_mul(SCALE)
    }

    fn own(&self, i: usize) -> LoadEntry {
        let n = &self.nodes[i];
        let used = n.jobs.iter().map(|j| j.rss_mb).sum::<u32>().saturating_add(n.incoming_rss);
        LoadEntry {
            node: node_id(i),
            load: self.load(i),
            speed: 1000,
            ncpus: 1,
            free_mem_mb: NODE_MEM_MB.saturating_sub(used),
            age_ms: 0,
            no_guests: false,
            no_root: false,
        }
    }

    fn guests(&self, i: usize) -> u32 {
        let n = &self.nodes[i];
        let g = n.jobs.iter().filter(|j| j.origin != i).count() + n.incoming;
        u32::try_from(g).unwrap_or(u32::MAX)
    }

    /// Node `i`'s fresh entries about the others, with its local
    /// adjustments applied.
    fn view(&self, i: usize) -> Vec<LoadEntry> {
        let n = &self.nodes[i];
        n.vec
            .entries()
            .iter()
            .filter(|e| e.age_ms <= self.tun.max_info_age_ms)
            .map(|e| {
                let birth = n.aged_ms as i64 - i64::from(e.age_ms);
                let extra = match n.bump.get(e.node as usize - 1) {
                    Some(&(b, x)) if b == birth => x,
                    _ => 0,
                };
                LoadEntry { load: e.load.saturating_add(extra), ..*e }
            })
            .collect()
    }

    /// Node `i` has sent one job to node `to`: count it in its copy of
    /// `to`'s entry until a newer entry arrives.
    fn bump(&mut self, i: usize, to: usize) {
        let n = &mut self.nodes[i];
        let Some(e) = n.vec.get(node_id(to)) else { return };
        let birth = n.aged_ms as i64 - i64::from(e.age_ms);
        if let Some(slot) = n.bump.get_mut(to) {
            *slot = match *slot {
                (b, x) if b == birth => (b, x.saturating_add(SCALE)),
                _ => (birth, SCALE),
            };
        }
    }

    /// Where a job arriving at node `a` starts: the least loaded of `a`
    /// and the nodes in its view (ties: `a`, then the lowest id).
    fn place(&mut self, a: usize) -> usize {
        let mut best = (self.load(a), a);
        for e in self.view(a) {
            let j = e.node as usize - 1;
            if e.load < best.0 || (e.load == best.0 && best.1 != a && j < best.1) {
                best = (e.load, j);
            }
        }
        if best.1 != a {
            self.bump(a, best.1);
        }
        best.1
    }

    /// One exchange interval at node `i`.
    fn exchange(&mut self, i: usize, peers: &mut Vec<u32>) {
        let me = self.own(i);
        {
            let n = &mut self.nodes[i];
            n.vec.age(1000);
            n.aged_ms += 1000;
            n.vec.expire(30_000);
            n.vec.set_own(me.load, me.speed, me.ncpus, me.free_mem_mb);
        }
        peers.clear();
        peers.extend((0..self.nodes.len()).filter(|&p| p != i).map(node_id));
        let Some(p) = choose_peer(&mut self.rng, peers) else { return };
        let p = p as usize - 1;
        let mut buf = [LoadEntry::default(); 1 + MAX_VECTOR / 2];
        let len = self.nodes[i].vec.outgoing(&mut buf);
        let pe = self.own(p);
        let peer = &mut self.nodes[p];
        peer.vec.set_own(pe.load, pe.speed, pe.ncpus, pe.free_mem_mb);
        peer.vec.merge(&buf[..len], 0);
        self.nodes[i].vec.merge(&[pe], 0);
    }
}

/// Runs one policy over `arrivals`.
pub(super) fn simulate_policy(o: &JobSimOptions, arrivals: &[Arrival], policy: Policy) -> PolicyResult {
    let mut rng = XorShift64::new(o.seed ^ 0x6a6f_6273_696d);
    let nodes = (0..o.nodes)
        .map(|i| Node {
            jobs: Vec::new(),
            incoming: 0,
            incoming_rss: 0,
            vec: LoadVector::new(node_id(i), DEFAULT_SIZE),
            next_tick: unit(&mut rng) * INTERVAL_S,
            aged_ms: 0,
            bump: vec![(i64::MIN, 0); o.nodes],
        })
        .collect();
    let mut w = World { nodes, tun: Tunables::default(), rng };
    let mut transit: Vec<(f64, usize, Job)> = Vec::new();
    let mut slowdowns: Vec<f64> = Vec::with_capacity(arrivals.len());
    let mut response_sum = 0.0;
    let (mut migrations, mut remote_starts, mut refusals) = (0u64, 0u64, 0u64);
    let mut peers = Vec::with_capacity(o.nodes);
    let mut cands = Vec::new();
    let mut next = 0usize;
    let mut now = 0.0f64;

    while slowdowns.len() < arrivals.len() {
        // The next event of each kind.
        let t_arrival = arrivals.get(next).map_or(f64::INFINITY, |a| a.t);
        let t_tick = w.nodes.iter().map(|n| n.next_tick).fold(f64::INFINITY, f64::min);
        let t_done = w
            .nodes
            .iter()
            .filter(|n| !n.jobs.is_empty())
            .map(|n| {
                let min = n.jobs.iter().map(|j| j.remaining).fold(f64::INFINITY, f64::min);
                now + min.max(0.0) * n.jobs.len() as f64
            })
            .fold(f64::INFINITY, f64::min);
        let t_thaw = transit.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
        let t = t_arrival.min(t_tick).min(t_done).min(t_thaw).max(now);

        // Processor sharing up to t.
        let dt = t - now;
        if dt > 0.0 {
            for n in &mut w.nodes {
                let share = dt / n.jobs.len().max(1) as f64;
                for j in &mut n.jobs {
                    j.remaining -= share;
                }
            }
        }
        now = t;

        // Completions.
        for n in &mut w.nodes {
            n.jobs.retain(|j| {
                if j.remaining > EPS {
                    return true;
                }
                let response = now - j.arrival;
                response_sum += response;
                slowdowns.push(response / j.demand);
                false
            });
        }

        // Migrated jobs arriving.
        let mut k = 0;
        while k < transit.len() {
            if transit[k].0 <= now {
                let (_, to, mut job) = transit.swap_remove(k);
                job.migrated_at = Some(now);
                let n = &mut w.nodes[to];
                n.incoming -= 1;
                n.incoming_rss = n.incoming_rss.saturating_sub(job.rss_mb);
                n.jobs.push(job);
            } else {
                k += 1;
            }
        }

        // New jobs.
        while let Some(a) = arrivals.get(next).filter(|a| a.t <= now) {
            let at = match policy {
                Policy::Neither => a.node,
                Policy::Placement | Policy::Migration => w.place(a.node),
            };
            if at != a.node {
                remote_starts += 1;
            }
            w.nodes[at].jobs.push(Job {
                id: next,
                arrival: a.t,
                demand: a.demand,
                remaining: a.demand,
                rss_mb: a.rss_mb,
                origin: a.node,
                migrated_at: None,
            });
            next += 1;
        }

        // Intervals: load exchange, then (migration) the decision.
        for i in 0..w.nodes.len() {
            if w.nodes[i].next_tick > now {
                continue;
            }
            w.nodes[i].next_tick += INTERVAL_S;
            w.exchange(i, &mut peers);
            if policy != Policy::Migration || w.nodes[i].jobs.is_empty() {
                continue;
            }
            let me = w.own(i);
            let others = w.view(i);
            let k = w.nodes[i].jobs.len() as u32;
            cands.clear();
            cands.extend(w.nodes[i].jobs.iter().map(|j| Candidate {
                pid: u32::try_from(j.id).unwrap_or(u32::MAX),
                age_ms: ms(now - j.arrival),
                since_migration_ms: j.migrated_at.map_or(u32::MAX, |m| ms(now - m)),
                cpu_share: SCALE / k,
                rss_mb: j.rss_mb,
                eligible: true,
                comm_node: 0,
                bounces: 0,
                allowed: 0,
                privileged: false,
            }));
            let Decision::Migrate { pid, to, .. } = decide(&me, &others, &cands, &w.tun) else { continue };
            let to = to as usize - 1;
            if accept(&w.own(to), me.load, w.guests(to), &w.tun, false).is_err() {
                refusals += 1;
                continue;
            }
            let Some(pos) = w.nodes[i].jobs.iter().position(|j| j.id as u32 == pid) else { continue };
            let job = w.nodes[i].jobs.swap_remove(pos);
            let freeze = FREEZE_FIXED_S + f64::from(job.rss_mb) / TRANSFER_MB_S;
            w.nodes[to].incoming += 1;
            w.nodes[to].incoming_rss = w.nodes[to].incoming_rss.saturating_add(job.rss_mb);
            transit.push((now + freeze, to, job));
            w.bump(i, to);
            migrations += 1;
        }
    }

    let n = slowdowns.len().max(1) as f64;
    let mean = slowdowns.iter().sum::<f64>() / n;
    slowdowns.sort_by(f64::total_cmp);
    PolicyResult {
        policy: policy.name(),
        mean_slowdown: mean,
        p50_slowdown: percentile(&slowdowns, 0.50),
        p99_slowdown: percentile(&slowdowns, 0.99),
        mean_response_s: response_sum / n,
        migrations_per_job: migrations as f64 / n,
        remote_starts_per_job: remote_starts as f64 / n,
        refusals,
        makespan_s: now,
    }
}

/// The `p` quantile of sorted values (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
