//! The heavy-tailed job mix of `cargo xtask bench balance`: the jobs
//! (from `roam_sim::jobmix`, rounded to spin units), running them on node
//! 1 with each job's response time, and the simulator's mean slowdown on
//! the same kind of mix.
//!
//! Calls [`super::guests`], `bench::common`, `config` and `roam_sim`.

use super::guests::{balancer, events, parse_mtime, sh, wait_for_ends};
use crate::bench::common::{kill_pids, mean, median_f64, secs, RUN, WORK};
use crate::cluster::Cluster;
use crate::config::base64;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// The heavy-tailed mix: jobs, seed, demand bounds (s), and the load it
/// offers node 1 (in CPUs: arrival rate × mean demand).
pub(super) const MIX_JOBS: usize = 12;
pub(super) const MIX_SEED: u64 = 5;
pub(super) const MIX_LO_S: f64 = 0.5;
pub(super) const MIX_HI_S: f64 = 30.0;
pub(super) const MIX_LOAD: f64 = 1.5;
/// Draws of the simulated mix averaged.
pub(super) const SIM_SEEDS: u64 = 200;

/// One run of the heavy-tailed mix.
pub(super) struct Mix {
    /// Per job: (demand in units, response time in ns on node 1's clock).
    pub(super) jobs: Vec<(u64, u64)>,
    pub(super) statuses: Vec<i32>,
    /// Migrations the balancers completed (nodes 1 + 2).
    pub(super) done: u64,
    /// Jobs that moved at least once (node 1's `events`).
    pub(super) moved: usize,
}

impl Mix {
    /// Each job's slowdown: response time over its time alone.
    pub(super) fn slowdowns(&self, unit_ns: u64) -> Vec<f64> {
        self.jobs.iter().map(|&(u, r)| r as f64 / (u * unit_ns).max(1) as f64).collect()
    }

    pub(super) fn json(&self, unit_ns: u64) -> serde_json::Value {
        let sd = self.slowdowns(unit_ns);
        serde_json::json!({
            "jobs_units_response_ns": self.jobs, "statuses": self.statuses, "slowdowns": sd,
            "mean_slowdown": mean(&sd), "median_slowdown": median_f64(&sd),
            "migrations_done": self.done, "jobs_moved": self.moved,
        })
    }
}

/// The mix's jobs as (arrival after the previous one in s, spin units),
/// demands rounded to whole units of `unit_ns`.
pub(super) fn mix_jobs(unit_ns: u64) -> Vec<(f64, u64)> {
    let rate = MIX_LOAD / roam_sim::jobmix::pareto_mean(MIX_LO_S, MIX_HI_S);
    let unit_s = secs(unit_ns).max(1e-3);
    let mut prev = 0.0;
    roam_sim::jobmix::heavy_tailed_mix(MIX_SEED, MIX_JOBS, MIX_LO_S, MIX_HI_S, rate)
        .into_iter()
        .map(|(t, d)| {
            let gap = t - prev;
            prev = t;
            (gap, ((d / unit_s).round() as u64).max(1))
        })
        .collect()
}

/// Starts the mix on node 1 (a locked launcher shell sleeps between
/// arrivals and starts each job with `run.sh`, locking its waiting parent)
/// and waits until every job has ended. Response times come from the
/// mtimes of each job's `.pid` (written when it starts) and `.st` (when it
/// ended) files, on node 1's clock.
pub(super) fn run_mix(cl: &mut Cluster, tag: &str, jobs: &[(f64, u64)], limit: Duration) -> Result<Mix> {
    let names: Vec<String> = (1..=jobs.len()).map(|j| format!("{tag}{j}")).collect();
    let b0 = [balancer(cl, 1)?, balancer(cl, 2)?];
    let seq0 = events(cl, 1)?.iter().map(|e| e.seq).max().unwrap_or(0);
    let mut script = String::from("roamctl lock $$ >/dev/null 2>&1\n");
    for (n, &(gap, units)) in names.iter().zip(jobs) {
        script.push_str(&format!(
            "sleep {gap:.3}; p=$(sh {RUN} {n} {WORK} spin {units}); roamctl lock $(cut -d' ' -f4 /proc/$p/stat) >/dev/null 2>&1\n"
        ));
    }
    let launcher = format!("/tmp/{tag}.sh");
    sh(cl, 1, &format!("echo {} | base64 -d > {launcher}", base64(script.as_bytes())))?;
    sh(cl, 1, &format!("sh {RUN} {tag}launch sh {launcher}"))?;
    let o = cl.agents[0].run(&wait_for_ends(tag, &names, limit), limit + Duration::from_secs(60));
    let files: Vec<String> = names.iter().flat_map(|n| [format!("/tmp/{n}.pid"), format!("/tmp/{n}.st")]).collect();
    let stat = sh(cl, 1, &format!("stat -c '%n %Y %y' {} 2>/dev/null; true", files.join(" ")))?;
    let times: BTreeMap<String, u64> = stat.lines().filter_map(parse_mtime).collect();
    let st = sh(cl, 1, &format!("for n in {}; do cat /tmp/$n.st 2>/dev/null || echo -; done", names.join(" ")))?;
    let statuses: Vec<i32> = st.lines().map(|l| l.trim().parse().unwrap_or(-1)).collect();
    let mut out = Vec::new();
    for (n, &(_, units)) in names.iter().zip(jobs) {
        match (times.get(&format!("/tmp/{n}.pid")), times.get(&format!("/tmp/{n}.st"))) {
            (Some(a), Some(b)) => out.push((units, b.saturating_sub(*a))),
            _ => {
                let pids = sh(cl, 1, &format!("cat /tmp/{tag}*.pid 2>/dev/null; true"))?;
                kill_pids(cl, 1, &pids.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<_>>());
                bail!("job {n} of the mix did not start or end within {} s ({o:?}); killed the rest", limit.as_secs());
            }
        }
    }
    let b1 = [balancer(cl, 1)?, balancer(cl, 2)?];
    let pids: Vec<u32> = sh(cl, 1, &format!("cat {}", names.iter().map(|n| format!("/tmp/{n}.pid")).collect::<Vec<_>>().join(" ")))?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let moved: std::collections::BTreeSet<u32> =
        events(cl, 1)?.into_iter().filter(|e| e.seq > seq0 && e.result == "ok" && pids.contains(&e.pid)).map(|e| e.pid).collect();
    Ok(Mix { jobs: out, statuses, done: (b1[0].1 + b1[1].1).saturating_sub(b0[0].1 + b0[1].1), moved: moved.len() })
}

/// The simulator on the same kind of mix: 2 nodes, [`MIX_JOBS`] jobs all
/// arriving at node 1, demands on the same bounds, the same offered load
/// (as a fraction of the two nodes' capacity); the mean over [`SIM_SEEDS`]
/// draws of each policy's mean slowdown (one 12-job draw is as noisy as
/// the cluster's), and its migrations per job.
pub(super) fn simulated() -> Result<Vec<(&'static str, f64, f64)>> {
    let mut sim: Vec<(&'static str, f64, f64)> = Vec::new();
    for seed in 1..=SIM_SEEDS {
        let r = roam_sim::jobmix::simulate(&roam_sim::jobmix::JobSimOptions {
            nodes: 2,
            jobs: MIX_JOBS,
            utilization: MIX_LOAD / 2.0,
            seed,
            origin: Some(0),
            demand_s: (MIX_LO_S, MIX_HI_S),
            ..Default::default()
        })?;
        for p in &r.results {
            match sim.iter_mut().find(|x| x.0 == p.policy) {
                Some(x) => {
                    x.1 += p.mean_slowdown / SIM_SEEDS as f64;
                    x.2 += p.migrations_per_job / SIM_SEEDS as f64;
                }
                None => sim.push((p.policy, p.mean_slowdown / SIM_SEEDS as f64, p.migrations_per_job / SIM_SEEDS as f64)),
            }
        }
    }
    Ok(sim)
}
