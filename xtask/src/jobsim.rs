//! `cargo xtask jobsim`: what automatic process migration buys, measured
//! as the mean slowdown of a heavy-tailed job stream with and without it.
//!
//! A discrete-event simulation of `nodes` single-CPU nodes under processor
//! sharing (k runnable jobs on a node each progress at 1/k of real time).
//! Jobs arrive as one Poisson stream for the whole cluster, each at a node
//! chosen uniformly at random, at the rate that makes the mean offered load
//! `utilization` of the cluster's capacity. A job's CPU demand follows a
//! bounded Pareto distribution with α = 1 between 0.1 s and 1000 s: the
//! shape Harchol-Balter and Downey measured for UNIX process lifetimes
//! (P(lifetime > t) ≈ 1/t for processes older than a second). Its resident
//! set is log-uniform between 1 and 256 MiB.
//!
//! The same arrival sequence (same seed) runs under three policies:
//!
//! * `neither`: jobs run where they arrive;
//! * `placement`: a job starts on the node its arrival node believes to be
//!   least loaded, and never moves;
//! * `migration`: placement, and every node runs
//!   `roam_proto::policy::decide` once per interval on its jobs; the target
//!   answers with `roam_proto::policy::accept`. A migrated job is frozen —
//!   it runs nowhere — for 0.1 s + rss / (100 MiB/s), then runs on the
//!   target.
//!
//! What a node knows of the others comes from the MOSIX load-vector
//! exchange of `roam_proto::loadvec`, as in the kernel module: every node,
//! once per second (each with its own random phase), ages its vector,
//! pushes its own entry plus the newest half of its vector (size 8) to a
//! random other node and merges the reply. The advertised load is the
//! current run-queue length (plus jobs in transit towards the node) times
//! `load::SCALE`; the decayed estimate of `load.rs` is not modelled. After
//! placing or migrating a job elsewhere, a node adds one job's load to its
//! copy of the target's entry until a newer entry about the target arrives
//! (as MOSIX does, so that one stale idle entry does not attract every
//! job). Starting a job elsewhere is free (it has no state yet).
//!
//! Reported per policy: mean and 99th-percentile slowdown (response time
//! divided by CPU demand; 1 is the ideal), migrations per job, and the
//! fraction of jobs started away from their arrival node.

use anyhow::{bail, Context, Result};
use roam_proto::load::SCALE;
use roam_proto::loadvec::{choose_peer, LoadEntry, LoadVector, DEFAULT_SIZE, MAX_VECTOR};
use roam_proto::policy::{accept, decide, Candidate, Decision, Tunables};
use roam_proto::rng::XorShift64;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Smallest job demand, seconds.
const DEMAND_MIN_S: f64 = 0.1;
/// Largest job demand, seconds.
const DEMAND_MAX_S: f64 = 1000.0;
/// Largest resident set, MiB (log-uniform from 1 MiB).
const RSS_MAX_MB: f64 = 256.0;
/// Memory per node, MiB.
const NODE_MEM_MB: u32 = 4096;
/// Fixed part of a migration's freeze, seconds.
const FREEZE_FIXED_S: f64 = 0.1;
/// Transfer rate of a migration, MiB/s.
const TRANSFER_MB_S: f64 = 100.0;
/// Load-exchange and decision interval, seconds.
const INTERVAL_S: f64 = 1.0;
/// Remaining work below which a job counts as finished (float slack).
const EPS: f64 = 1e-9;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct JobSimOptions {
    /// Nodes (1..=65534), one CPU each.
    pub nodes: usize,
    /// Jobs in the arrival sequence.
    pub jobs: usize,
    /// Mean offered load as a fraction of the cluster's capacity (0..1).
    pub utilization: f64,
    /// Seed of every random choice; equal seeds give equal results.
    pub seed: u64,
    /// Where `jobsim.json` goes.
    pub out_dir: PathBuf,
    /// Every job arrives at this node (0-based); `None`: each at a random
    /// node.
    pub origin: Option<usize>,
    /// Bounds of the demand's bounded Pareto, seconds.
    pub demand_s: (f64, f64),
}

impl Default for JobSimOptions {
    fn default() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
        JobSimOptions { nodes: 16, jobs: 20_000, utilization: 0.7, seed: 1, out_dir: root.join("target/jobsim"), origin: None, demand_s: (DEMAND_MIN_S, DEMAND_MAX_S) }
    }
}

/// The three policies compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Neither,
    Placement,
    Migration,
}

impl Policy {
    const ALL: [Policy; 3] = [Policy::Neither, Policy::Placement, Policy::Migration];

    fn name(self) -> &'static str {
        match self {
            Policy::Neither => "neither",
            Policy::Placement => "placement",
            Policy::Migration => "migration",
        }
    }
}

/// One policy's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyResult {
    pub policy: &'static str,
    pub mean_slowdown: f64,
    pub p50_slowdown: f64,
    pub p99_slowdown: f64,
    pub mean_response_s: f64,
    pub migrations_per_job: f64,
    pub remote_starts_per_job: f64,
    /// Migrations the target refused (`policy::accept`).
    pub refusals: u64,
    /// Simulated time until the last job finished, seconds.
    pub makespan_s: f64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct JobSimReport {
    pub nodes: usize,
    pub jobs: usize,
    pub utilization: f64,
    pub seed: u64,
    pub mean_demand_s: f64,
    pub arrival_rate_per_s: f64,
    /// Offered load actually drawn (total demand / (nodes × arrival span)).
    pub offered_utilization: f64,
    pub results: Vec<PolicyResult>,
    pub wall_seconds: f64,
}

/// One arriving job.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    t: f64,
    demand: f64,
    rss_mb: u32,
    node: usize,
}

/// A uniform value in [0, 1).
fn unit(rng: &mut XorShift64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Mean of the bounded Pareto with α = 1 on [lo, hi]:
/// lo · ln(hi / lo) / (1 − lo / hi).
#[cfg(test)]
fn mean_demand() -> f64 {
    pareto_mean(DEMAND_MIN_S, DEMAND_MAX_S)
}

/// A bounded Pareto (α = 1) draw on the default bounds.
#[cfg(test)]
fn pareto(rng: &mut XorShift64) -> f64 {
    pareto_on(rng, DEMAND_MIN_S, DEMAND_MAX_S)
}

/// A bounded Pareto (α = 1) draw on [lo, hi], by inversion of
/// F(x) = (1 − lo/x) / (1 − lo/hi).
fn pareto_on(rng: &mut XorShift64, lo: f64, hi: f64) -> f64 {
    let u = unit(rng);
    (lo / (1.0 - u * (1.0 - lo / hi))).min(hi)
}

/// Mean of the bounded Pareto with α = 1 on [lo, hi].
pub fn pareto_mean(lo: f64, hi: f64) -> f64 {
    lo * (hi / lo).ln() / (1.0 - lo / hi)
}

/// A heavy-tailed job mix for a real cluster: `jobs` Poisson arrivals at
/// `rate` per second, each with a bounded-Pareto (α = 1) demand on
/// [lo, hi] seconds, as (arrival time, demand) in seconds.
pub fn heavy_tailed_mix(seed: u64, jobs: usize, lo: f64, hi: f64, rate: f64) -> Vec<(f64, f64)> {
    let mut rng = XorShift64::new(seed);
    let mut t = 0.0;
    (0..jobs)
        .map(|_| {
            t += -(1.0 - unit(&mut rng)).ln() / rate;
            (t, pareto_on(&mut rng, lo, hi))
        })
        .collect()
}

/// The arrival sequence shared by all policies.
fn workload(o: &JobSimOptions, rate: f64) -> Vec<Arrival> {
    let mut rng = XorShift64::new(o.seed);
    let mut t = 0.0;
    let nodes = o.nodes as u64;
    (0..o.jobs)
        .map(|_| {
            t += -(1.0 - unit(&mut rng)).ln() / rate;
            let demand = pareto_on(&mut rng, o.demand_s.0, o.demand_s.1);
            let rss_mb = (RSS_MAX_MB.ln() * unit(&mut rng)).exp().floor().max(1.0) as u32;
            let drawn = rng.below(nodes) as usize;
            let node = o.origin.map_or(drawn, |n| n.min(o.nodes.saturating_sub(1)));
            Arrival { t, demand, rss_mb, node }
        })
        .collect()
}

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
fn simulate_policy(o: &JobSimOptions, arrivals: &[Arrival], policy: Policy) -> PolicyResult {
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

/// Runs all three policies on the same arrival sequence.
pub fn simulate(o: &JobSimOptions) -> Result<JobSimReport> {
    if o.nodes == 0 || o.nodes > 65_534 {
        bail!("--nodes must be 1..=65534, not {}", o.nodes);
    }
    if o.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if !(o.utilization > 0.0 && o.utilization < 1.0) {
        bail!("--utilization must be above 0 and below 1, not {}", o.utilization);
    }
    let start = Instant::now();
    let (lo, hi) = o.demand_s;
    if !(lo > 0.0 && hi > lo) {
        bail!("demand bounds must satisfy 0 < lo < hi, not {lo}, {hi}");
    }
    let mean = pareto_mean(lo, hi);
    let rate = o.utilization * o.nodes as f64 / mean;
    let arrivals = workload(o, rate);
    let span = arrivals.last().map_or(1.0, |a| a.t);
    let offered = arrivals.iter().map(|a| a.demand).sum::<f64>() / (o.nodes as f64 * span);
    let results = Policy::ALL.iter().map(|&p| simulate_policy(o, &arrivals, p)).collect();
    Ok(JobSimReport {
        nodes: o.nodes,
        jobs: o.jobs,
        utilization: o.utilization,
        seed: o.seed,
        mean_demand_s: mean,
        arrival_rate_per_s: rate,
        offered_utilization: offered,
        results,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// The results as a text table.
pub fn table(r: &JobSimReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {:<10} {:>13} {:>12} {:>12} {:>15} {:>15} {:>14} {:>9}",
        "policy", "mean slowdown", "p50 slowdown", "p99 slowdown", "mean response", "migrations/job", "remote starts", "refusals"
    );
    for p in &r.results {
        let _ = writeln!(
            s,
            "  {:<10} {:>13.2} {:>12.2} {:>12.1} {:>13.2} s {:>15.3} {:>14.3} {:>9}",
            p.policy,
            p.mean_slowdown,
            p.p50_slowdown,
            p.p99_slowdown,
            p.mean_response_s,
            p.migrations_per_job,
            p.remote_starts_per_job,
            p.refusals
        );
    }
    s
}

/// `cargo xtask jobsim`: runs the simulation, prints the table and writes
/// `jobsim.json` into `opts.out_dir`.
pub fn run(opts: &JobSimOptions) -> Result<()> {
    println!(
        "==> simulating {} jobs on {} nodes at {:.0}% utilization (seed {})",
        opts.jobs,
        opts.nodes,
        opts.utilization * 100.0,
        opts.seed
    );
    let r = simulate(opts)?;
    println!(
        "    demand: bounded Pareto α=1 on [{}, {}] s, mean {:.3} s; {:.2} arrivals/s; offered load drawn {:.1}%; took {:.1} s\n",
        opts.demand_s.0,
        opts.demand_s.1,
        r.mean_demand_s,
        r.arrival_rate_per_s,
        r.offered_utilization * 100.0,
        r.wall_seconds
    );
    print!("{}", table(&r));
    std::fs::create_dir_all(&opts.out_dir).with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    let json = opts.out_dir.join("jobsim.json");
    std::fs::write(&json, serde_json::to_string_pretty(&r)?).with_context(|| format!("cannot write {}", json.display()))?;
    println!("\n==> wrote {}", json.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_origin_is_worse_without_migration_and_migration_helps_it() {
        let spread = simulate(&opts(2, 3000, 3)).unwrap();
        let one = simulate(&JobSimOptions { origin: Some(0), ..opts(2, 3000, 3) }).unwrap();
        let mean = |r: &JobSimReport, p: &str| r.results.iter().find(|x| x.policy == p).unwrap().mean_slowdown;
        assert!(mean(&one, "neither") > mean(&spread, "neither"));
        assert!(mean(&one, "migration") < mean(&one, "neither"));
    }

    #[test]
    fn short_bursts_at_one_node_gain_from_migration() {
        // The bench's mix: 12 jobs at node 1 of 2, demands on [0.5, 30] s,
        // 1.5 CPUs offered; averaged over draws.
        let (mut neither, mut migration) = (0.0, 0.0);
        for seed in 1..=200 {
            let o = JobSimOptions { nodes: 2, jobs: 12, utilization: 0.75, seed, origin: Some(0), demand_s: (0.5, 30.0), ..opts(2, 12, seed) };
            let r = simulate(&o).unwrap();
            let mean = |p: &str| r.results.iter().find(|x| x.policy == p).unwrap().mean_slowdown;
            neither += mean("neither") / 200.0;
            migration += mean("migration") / 200.0;
        }
        println!("12-job mix: neither {neither:.2}, migration {migration:.2}");
        assert!(migration < neither && neither < 10.0, "{neither} {migration}");
    }

    #[test]
    fn heavy_tailed_mix_is_seeded_bounded_and_ordered() {
        let a = heavy_tailed_mix(7, 2000, 0.5, 30.0, 0.5);
        assert_eq!(a, heavy_tailed_mix(7, 2000, 0.5, 30.0, 0.5));
        assert_ne!(a, heavy_tailed_mix(8, 2000, 0.5, 30.0, 0.5));
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(a.iter().all(|&(_, d)| (0.5..=30.0).contains(&d)));
        // Mean demand and arrival rate near their targets.
        let mean = a.iter().map(|x| x.1).sum::<f64>() / a.len() as f64;
        assert!((mean / pareto_mean(0.5, 30.0) - 1.0).abs() < 0.15, "{mean}");
        let rate = a.len() as f64 / a.last().unwrap().0;
        assert!((rate / 0.5 - 1.0).abs() < 0.1, "{rate}");
        // Heavy tail: most jobs are short, a few hold much of the work.
        let short = a.iter().filter(|x| x.1 < 1.0).count() as f64 / a.len() as f64;
        assert!(short > 0.45, "{short}");
    }

    fn opts(nodes: usize, jobs: usize, seed: u64) -> JobSimOptions {
        JobSimOptions { nodes, jobs, utilization: 0.7, seed, ..JobSimOptions::default() }
    }

    fn get(r: &JobSimReport, p: Policy) -> &PolicyResult {
        r.results.iter().find(|x| x.policy == p.name()).unwrap()
    }

    #[test]
    fn distribution_is_as_documented() {
        let mut rng = XorShift64::new(5);
        let xs: Vec<f64> = (0..200_000).map(|_| pareto(&mut rng)).collect();
        assert!(xs.iter().all(|&x| (DEMAND_MIN_S..=DEMAND_MAX_S).contains(&x)));
        // P(X > t) ≈ 0.1 / t for t well inside the bounds.
        for t in [1.0, 10.0] {
            let frac = xs.iter().filter(|&&x| x > t).count() as f64 / xs.len() as f64;
            assert!((frac * t / 0.1 - 1.0).abs() < 0.1, "P(X > {t}) = {frac}");
        }
        assert!((mean_demand() - 0.921).abs() < 0.001);
    }

    #[test]
    fn migration_beats_neither_at_seventy_percent() {
        for seed in [1, 2] {
            let r = simulate(&opts(8, 3000, seed)).unwrap();
            let (n, m) = (get(&r, Policy::Neither), get(&r, Policy::Migration));
            assert!(m.mean_slowdown < n.mean_slowdown, "seed {seed}: {}", table(&r));
            assert!(m.migrations_per_job > 0.0);
            assert_eq!(n.migrations_per_job, 0.0);
            assert_eq!(n.remote_starts_per_job, 0.0);
            for p in &r.results {
                assert!(p.mean_slowdown >= 1.0 - 1e-9 && p.p99_slowdown >= p.p50_slowdown);
            }
        }
    }

    #[test]
    fn single_node_makes_all_policies_equal() {
        let r = simulate(&opts(1, 2000, 3)).unwrap();
        let n = get(&r, Policy::Neither);
        for p in [Policy::Placement, Policy::Migration] {
            let x = get(&r, p);
            assert_eq!(
                (x.mean_slowdown, x.p99_slowdown, x.makespan_s, x.migrations_per_job),
                (n.mean_slowdown, n.p99_slowdown, n.makespan_s, 0.0)
            );
        }
    }

    #[test]
    fn deterministic_for_a_seed_and_writes_json() {
        let o = JobSimOptions {
            out_dir: std::env::temp_dir().join(format!("roam-jobsim-test-{}", std::process::id())),
            ..opts(4, 1000, 9)
        };
        let a = simulate(&o).unwrap();
        let b = simulate(&o).unwrap();
        assert_eq!(a.results, b.results);
        let c = simulate(&JobSimOptions { seed: 10, ..o.clone() }).unwrap();
        assert_ne!(a.results, c.results);
        run(&o).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(o.out_dir.join("jobsim.json")).unwrap()).unwrap();
        assert_eq!(json["results"].as_array().unwrap().len(), 3);
        std::fs::remove_dir_all(&o.out_dir).unwrap();
    }

    #[test]
    fn rejects_bad_options() {
        assert!(simulate(&opts(0, 10, 1)).is_err());
        assert!(simulate(&opts(4, 0, 1)).is_err());
        assert!(simulate(&JobSimOptions { utilization: 1.0, ..opts(4, 10, 1) }).is_err());
    }
}
