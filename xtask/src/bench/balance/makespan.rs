//! The makespan part of `cargo xtask bench balance`: K CPU-bound jobs
//! started together on node 1, timed on the host's and node 1's clocks,
//! with the balancer's moves; the job size; and the model of what the
//! same moves would give with perfect CPU sharing and free moves.
//!
//! Calls [`super::guests`], [`super::host`] and `bench::common`.

use super::guests::{balancer, events, parse_mtime, sh, uptime_ms, wait_for_ends};
use super::host::Watch;
use crate::bench::common::{kill_pids, RUN, WORK};
use crate::cluster::Cluster;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Jobs started on node 1 for the makespan.
pub(super) const JOBS: usize = 4;
/// How long one job alone should run (s); U is chosen for it.
pub(super) const JOB_TARGET_S: f64 = 12.0;
pub(super) const UNITS_MIN: u64 = 4;
pub(super) const UNITS_MAX: u64 = 40;

/// Spin units for one job of about [`JOB_TARGET_S`], given one unit's time.
pub(super) fn choose_units(unit_ns: u64) -> u64 {
    let u = (JOB_TARGET_S * 1e9 / unit_ns.max(1) as f64).round() as u64;
    u.clamp(UNITS_MIN, UNITS_MAX)
}

/// The makespan of `k` jobs of `job_ns` each, all started on node 1 at
/// time 0, if every node shared its CPU perfectly among its jobs and each
/// move `(time, job, to node)` took no time: what the balancer's timing
/// alone allows. None if it does not end within a generous bound.
pub(super) fn model_makespan(job_ns: u64, k: usize, moves: &[(u64, usize, u32)]) -> Option<u64> {
    const DT: u64 = 1_000_000;
    let mut left = vec![job_ns as f64; k];
    let mut node = vec![1u32; k];
    let mut moves = moves.to_vec();
    moves.sort_unstable();
    let limit = job_ns.saturating_mul(2 * k as u64) + moves.last().map_or(0, |m| m.0);
    let (mut t, mut next) = (0u64, 0usize);
    while left.iter().any(|&l| l > 0.0) {
        while next < moves.len() && moves[next].0 <= t {
            let (_, j, to) = moves[next];
            if j < k {
                node[j] = to;
            }
            next += 1;
        }
        let active: Vec<usize> = (0..k).filter(|&j| left[j] > 0.0).collect();
        let mut count: BTreeMap<u32, usize> = BTreeMap::new();
        for &j in &active {
            *count.entry(node[j]).or_default() += 1;
        }
        for &j in &active {
            left[j] -= DT as f64 / count[&node[j]] as f64;
        }
        t += DT;
        if t > limit {
            return None;
        }
    }
    Some(t)
}

/// One makespan run as measured.
pub(super) struct Run {
    pub(super) jobs: usize,
    /// First job started to last job ended, node 1's clock.
    pub(super) makespan_ns: u64,
    /// The same on the host's clock: from sending the command that starts
    /// the jobs to the return of the one that waits for their ends.
    pub(super) host_ns: u64,
    /// Node 1's clock over the host's over that interval, and node 2's
    /// (about the same interval): a TCG guest starved of host CPU loses
    /// clock ticks, so a rate below 1 shows how much it was starved.
    pub(super) clock_rate: f64,
    pub(super) clock_rate2: f64,
    /// Each job's end after the start (node 1's clock), sorted.
    pub(super) ends_ns: Vec<u64>,
    pub(super) statuses: Vec<i32>,
    pub(super) first_migration_ns: Option<u64>,
    pub(super) started: u64,
    pub(super) done: u64,
    /// Migration events of the run, both nodes ("node N: line").
    pub(super) events: Vec<String>,
    pub(super) failed_events: usize,
    /// Distinct jobs that moved at least once.
    pub(super) moved_jobs: usize,
    /// The most QEMU processes of other clusters seen on the host during
    /// the run (sampled every second).
    pub(super) other_qemus: usize,
    /// The balancer's moves of the jobs: (time after the start on node 1's
    /// clock, job index, to node); None if a job moved in a way the model
    /// does not follow (a move started on node 2).
    pub(super) moves: Option<Vec<(u64, usize, u32)>>,
}

impl Run {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "jobs": self.jobs, "makespan_ns": self.makespan_ns, "host_wall_ns": self.host_ns, "node1_clock_rate": self.clock_rate, "node2_clock_rate": self.clock_rate2,
            "job_ends_ns": self.ends_ns, "statuses": self.statuses,
            "first_migration_ns": self.first_migration_ns,
            "migrations_started": self.started, "migrations_done": self.done,
            "failed_migrations": self.failed_events, "jobs_moved": self.moved_jobs, "events": self.events,
            "other_qemu_processes_during": self.other_qemus,
        })
    }
}

/// Starts `k` jobs of `units` spin units on node 1 (named TAG1..TAGk) and
/// waits (up to `limit`) until all have ended.
pub(super) fn run_jobs(cl: &mut Cluster, tag: &str, k: usize, units: u64, limit: Duration) -> Result<Run> {
    let names: Vec<String> = (1..=k).map(|j| format!("{tag}{j}")).collect();
    let b0 = [balancer(cl, 1)?, balancer(cl, 2)?];
    let mut seq0 = [0u64; 2];
    for (i, node) in [1u32, 2].into_iter().enumerate() {
        seq0[i] = events(cl, node)?.iter().map(|e| e.seq).max().unwrap_or(0);
    }
    let start_file = format!("/tmp/{tag}-start");
    // The jobs' waiting parents (run.sh's shells) are the harness, not the
    // workload: they are locked to node 1 once every job has started.
    let mut cmd = format!("rm -f {start_file}; touch {start_file}; cat /proc/uptime; {{");
    for n in &names {
        cmd.push_str(&format!(" sh {RUN} {n} {WORK} spin {units};"));
    }
    cmd.push_str(&format!(
        " }} > /tmp/{tag}.pids; cat /tmp/{tag}.pids; \
         for p in $(cat /tmp/{tag}.pids); do roamctl lock $(cut -d' ' -f4 /proc/$p/stat); done >/dev/null 2>&1; true"
    ));
    let watch = Watch::start(cl);
    let n2_0 = (Instant::now(), uptime_ms(&sh(cl, 2, "cat /proc/uptime")?));
    let host0 = Instant::now();
    let out = sh(cl, 1, &cmd)?;
    let mut lines = out.lines();
    let up0 = lines.next().and_then(uptime_ms).with_context(|| format!("no uptime in {out:?}"))?;
    let pids: Vec<u32> = lines.filter_map(|l| l.trim().parse().ok()).collect();
    if pids.len() != k {
        kill_pids(cl, 1, &pids);
        bail!("started {} of {k} jobs: {out:?}", pids.len());
    }
    let st_files = names.iter().map(|n| format!("/tmp/{n}.st")).collect::<Vec<_>>().join(" ");
    let o = cl.agents[0].run(&wait_for_ends(tag, &names, limit), limit + Duration::from_secs(60));
    let host_ns = host0.elapsed().as_nanos() as u64;
    let n2_1 = uptime_ms(&sh(cl, 2, "cat /proc/uptime")?);
    let other_qemus = watch.most();
    let rate2 = match (n2_0.1, n2_1) {
        (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / 1e3 / n2_0.0.elapsed().as_secs_f64(),
        _ => f64::NAN,
    };
    let up1 = o.as_ref().ok().filter(|o| o.rc == 0).and_then(|o| uptime_ms(o.text.trim()));
    let st = sh(cl, 1, &format!("cat {st_files} 2>/dev/null; true"))?;
    if st.lines().filter(|l| !l.trim().is_empty()).count() < k || up1.is_none() {
        kill_pids(cl, 1, &pids);
        bail!("the {k} jobs (pids {pids:?}) had not all ended after {} s ({o:?}); killed", limit.as_secs());
    }
    let guest_ns = up1.unwrap_or(up0).saturating_sub(up0) * 1_000_000;
    let statuses: Vec<i32> = st.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let stat = sh(cl, 1, &format!("stat -c '%n %Y %y' {start_file} {st_files}"))?;
    let times: BTreeMap<String, u64> = stat.lines().filter_map(parse_mtime).collect();
    let t0 = *times.get(&start_file).with_context(|| format!("no mtime of {start_file} in {stat:?}"))?;
    let mut ends_ns: Vec<u64> = names
        .iter()
        .map(|n| times.get(&format!("/tmp/{n}.st")).map(|t| t.saturating_sub(t0)))
        .collect::<Option<_>>()
        .with_context(|| format!("missing mtimes in {stat:?}"))?;
    ends_ns.sort_unstable();
    let b1 = [balancer(cl, 1)?, balancer(cl, 2)?];
    let mut evs = Vec::new();
    let mut first: Option<u64> = None;
    let mut failed = 0;
    let mut moved = std::collections::BTreeSet::new();
    let mut moves = Some(Vec::new());
    for (i, node) in [1u32, 2].into_iter().enumerate() {
        for e in events(cl, node)?.into_iter().filter(|e| e.seq > seq0[i]) {
            if e.result != "ok" {
                failed += 1;
            } else if node == 2 {
                moves = None;
            } else if let Some(j) = pids.iter().position(|&p| p == e.pid).filter(|_| e.from == 1) {
                moved.insert(e.pid);
                if let Some(m) = moves.as_mut() {
                    m.push((e.ms.saturating_sub(up0) * 1_000_000, j, e.to));
                }
                if e.cause == "load" {
                    first = Some(first.map_or(e.ms, |f| f.min(e.ms)));
                }
            }
            evs.push(format!("node {node}: {}", e.line));
        }
    }
    Ok(Run {
        jobs: k,
        makespan_ns: ends_ns.last().copied().unwrap_or(0),
        host_ns,
        clock_rate: guest_ns as f64 / host_ns.max(1) as f64,
        clock_rate2: rate2,
        ends_ns,
        statuses,
        first_migration_ns: first.map(|ms| ms.saturating_sub(up0) * 1_000_000),
        started: (b1[0].0 + b1[1].0).saturating_sub(b0[0].0 + b0[1].0),
        done: (b1[0].1 + b1[1].1).saturating_sub(b0[0].1 + b0[1].1),
        events: evs,
        failed_events: failed,
        moved_jobs: moved.len(),
        other_qemus,
        moves,
    })
}

/// Time of one spin unit on node 1 (node 1's clock), from `spin 1`.
pub(super) fn unit_time(cl: &mut Cluster) -> Result<u64> {
    let o = sh(
        cl,
        1,
        &format!("a=$(cat /proc/uptime); {WORK} spin 1 >/dev/null; b=$(cat /proc/uptime); echo \"$a\"; echo \"$b\""),
    )?;
    let v: Vec<u64> = o.lines().filter_map(uptime_ms).collect();
    match v.as_slice() {
        [a, b] if b > a => Ok((b - a) * 1_000_000),
        _ => bail!("cannot time `spin 1`: {o:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::common::next_n;

    #[test]
    fn sizing() {
        assert_eq!(choose_units(1_200_000_000), 10);
        assert_eq!(choose_units(10_000_000_000), UNITS_MIN);
        assert_eq!(choose_units(1), UNITS_MAX);
        assert_eq!(next_n(1000, 800_000_000), None);
        assert_eq!(next_n(1000, 0), Some(1_000_000));
        assert_eq!(next_n(200, 150_000_000), Some(2000));
    }

    #[test]
    fn model() {
        let s = 1_000_000_000;
        let near = |a: Option<u64>, b: u64| a.is_some_and(|a| a.abs_diff(b) <= 2_000_000);
        assert!(near(model_makespan(10 * s, 4, &[]), 40 * s));
        assert!(near(model_makespan(10 * s, 4, &[(0, 0, 2), (0, 1, 2)]), 20 * s));
        // One job leaves after 4 s (each had 1 s of progress): it ends at
        // 4 + 9 = 13 s, the other three share node 1: 4 + 27 = 31 s.
        assert!(near(model_makespan(10 * s, 4, &[(4 * s, 3, 2)]), 31 * s));
        assert_eq!(model_makespan(10 * s, 1, &[]).map(|t| t / 1_000_000), Some(10_000));
    }
}
