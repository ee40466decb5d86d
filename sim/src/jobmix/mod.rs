//! The job-mix simulator (`cargo xtask jobsim`): what automatic process
//! migration buys, measured as the mean slowdown of a heavy-tailed job
//! stream with and without it.
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
//!
//! Files: `params` (options, policies, results, constants),
//! `workload` (the job stream) and `model` (the cluster under one
//! policy). This file holds only the entry points, which call those; it
//! may also write to the filesystem (only [`run`] does, into `out_dir`).

mod model;
mod params;
mod workload;

pub use params::{JobSimOptions, JobSimReport, Policy, PolicyResult};
pub use workload::{heavy_tailed_mix, pareto_mean};

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::time::Instant;
use workload::workload;

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
    let results = Policy::ALL.iter().map(|&p| model::simulate_policy(o, &arrivals, p)).collect();
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
    use super::params::{DEMAND_MAX_S, DEMAND_MIN_S};
    use super::workload::{mean_demand, pareto};
    use super::*;
    use roam_proto::rng::XorShift64;

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
