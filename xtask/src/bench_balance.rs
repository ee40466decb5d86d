//! `cargo xtask bench balance`: what automatic balancing buys and what the
//! module costs a process that never moves, on a cluster of two one-vCPU
//! guests (`bench-balance`) that the command boots and tears down itself.
//!
//! 1. **Makespan.** K = 4 CPU-bound jobs (`migrate_work spin U`, U chosen
//!    so that one job alone takes about [`JOB_TARGET_S`]) are started
//!    together on node 1, once with balancing off on both nodes (the
//!    "without roam" case: all four share node 1's CPU) and once with it
//!    on. The makespan is the time from the start to the last job's end on
//!    the host's wall clock (from sending the command that starts the jobs
//!    to the return of a guest-side wait that notices the last end within
//!    0.1 s), with node 1's clock beside it (the mtimes of a start file and
//!    of each job's status file written by `run.sh`): a TCG guest's clock
//!    loses ticks when its QEMU waits for a host CPU. The speedup is
//!    reported as a fraction of the ideal 2.0, with the time from the start
//!    to the first migration (node 1's `events` file, whose `ms=` is the
//!    same monotonic clock as `/proc/uptime`), the migrations the balancers
//!    completed (`migrations_done` in `balancer`), and a model: the
//!    makespan the same migration times would give with perfect CPU sharing
//!    and free moves, which separates the balancer's timing from the cost
//!    of running and moving. The harness's own shells are locked to node 1.
//! 2. **Heavy-tailed mix.** [`MIX_JOBS`] jobs arrive at node 1 at Poisson
//!    times, with demands drawn from a bounded Pareto (α = 1: most jobs
//!    are short, a few long ones hold much of the work, as Harchol-Balter
//!    and Downey measured) and offering node 1 [`MIX_LOAD`] CPUs of work;
//!    once with balancing off and once on. Each job's slowdown is its
//!    response time over its time alone (its spin units × the measured
//!    unit); the mean slowdown is compared with the simulator's
//!    (`jobsim`) on the same kind of mix.
//! 3. **Hook overhead.** `migrate_work sysbench KIND N` (getppid, a 1 KiB
//!    pread, and the empty loop as a control for noise) on node 1 with
//!    roam.ko loaded and configured against the same with the module
//!    unloaded (`rmmod roam`; then `insmod` and `roamctl apply` again), in
//!    alternating rounds (loaded/unloaded, then unloaded/loaded, ...). The
//!    overhead is the median over rounds of loaded/unloaded - 1.
//!
//! Results go to stdout and `<cache>/bench/balance.json`. A missed goal is
//! printed, never an error; a part that breaks is reported (with the
//! kernels' logs) and makes the command fail after the JSON is written.

use crate::cluster::{self, Accel, Cluster, Spec};
use crate::kernel::Profile;
use crate::config::{base64, configure, parse_nodes, parse_stats, TOML_PATH};
use crate::util::{step, Ctx};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The cluster's name (and so its netns `roam-bench-balance`).
const NAME: &str = "bench-balance";
const NODES: u32 = 2;
/// Jobs started on node 1 for the makespan.
const JOBS: usize = 4;
/// How long one job alone should run (s); U is chosen for it.
const JOB_TARGET_S: f64 = 12.0;
const UNITS_MIN: u64 = 4;
const UNITS_MAX: u64 = 40;
/// With two nodes the best possible speedup.
const IDEAL_SPEEDUP: f64 = 2.0;
/// Goal: the speedup as a fraction of [`IDEAL_SPEEDUP`].
const SPEEDUP_GOAL: f64 = 0.9;
/// Goal: the module's cost to local system calls (%).
const OVERHEAD_GOAL_PCT: f64 = 2.0;
/// The heavy-tailed mix: jobs, seed, demand bounds (s), and the load it
/// offers node 1 (in CPUs: arrival rate × mean demand).
const MIX_JOBS: usize = 12;
const MIX_SEED: u64 = 5;
const MIX_LO_S: f64 = 0.5;
const MIX_HI_S: f64 = 30.0;
const MIX_LOAD: f64 = 1.5;
/// Draws of the simulated mix averaged.
const SIM_SEEDS: u64 = 200;
/// Alternating rounds of the overhead measurement (each measures every
/// kind loaded and unloaded once); even, so the module ends loaded.
const ROUNDS: usize = 6;
/// `migrate_work sysbench` kinds: (kind, label, first N).
const SB_KINDS: [(&str, &str, u64); 3] = [
    ("getppid", "getppid (no work in the call)", 100_000),
    ("read1k", "pread 1 KiB from a tmpfs file", 20_000),
    ("null", "empty loop iteration (control: no system call)", 1_000_000),
];
/// A sysbench run is long enough once it takes this long ...
const SB_ENOUGH_NS: u64 = 750_000_000;
/// ... and N is scaled to aim at this.
const SB_TARGET_NS: u64 = 1_500_000_000;
/// Node 1 counts as quiet once its own load estimate is at most this
/// (1000 = one busy CPU).
const QUIET_LOAD: u64 = 200;
/// Timeout of one agent command.
const T: Duration = Duration::from_secs(120);

const WORK: &str = "/usr/lib/roam/tests/migrate_work";
const RUN_SH: &str = include_str!("../../tests/guest/run.sh");
const RUN: &str = "/tmp/run.sh";

fn sh(cl: &mut Cluster, node: u32, cmd: &str) -> Result<String> {
    cl.agents[(node - 1) as usize].check(cmd, T)
}

// ------------------------------------------------------------- parsing

/// `/proc/uptime`'s first field in ms.
fn uptime_ms(text: &str) -> Option<u64> {
    let f = text.split_whitespace().next()?;
    let (s, frac) = f.split_once('.').unwrap_or((f, "0"));
    let frac = format!("{frac:0<3}");
    Some(s.parse::<u64>().ok()? * 1000 + frac.get(..3)?.parse::<u64>().ok()?)
}

/// One line of `stat -c '%n %Y %y'`: (path, mtime in ns since the epoch).
fn parse_mtime(line: &str) -> Option<(String, u64)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [name, secs, _date, time, ..] = w.as_slice() else { return None };
    let frac = time.split_once('.').map(|(_, f)| f).unwrap_or("0");
    let frac: String = format!("{frac:0<9}").chars().take(9).collect();
    Some((name.to_string(), secs.parse::<u64>().ok()? * 1_000_000_000 + frac.parse::<u64>().ok()?))
}

/// One line of `/sys/kernel/roam/events`.
#[derive(Clone, Debug, PartialEq)]
struct Event {
    seq: u64,
    ms: u64,
    pid: u32,
    from: u32,
    to: u32,
    cause: String,
    result: String,
    line: String,
}

fn parse_events(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| {
            let kv: BTreeMap<&str, &str> = l.split_whitespace().filter_map(|f| f.split_once('=')).collect();
            Some(Event {
                seq: kv.get("seq")?.parse().ok()?,
                ms: kv.get("ms")?.parse().ok()?,
                pid: kv.get("pid")?.parse().ok()?,
                from: kv.get("from")?.parse().ok()?,
                to: kv.get("to")?.parse().ok()?,
                cause: kv.get("cause")?.to_string(),
                result: kv.get("result")?.to_string(),
                line: l.trim().to_string(),
            })
        })
        .collect()
}

/// `sysbench KIND N TOTAL` from `migrate_work`'s output: (N, TOTAL).
fn parse_sysbench(out: &str, kind: &str) -> Option<(u64, u64)> {
    out.lines().find_map(|l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["sysbench", k, n, t] if *k == kind => Some((n.parse().ok()?, t.parse().ok()?)),
        _ => None,
    })
}

/// Spin units for one job of about [`JOB_TARGET_S`], given one unit's time.
fn choose_units(unit_ns: u64) -> u64 {
    let u = (JOB_TARGET_S * 1e9 / unit_ns.max(1) as f64).round() as u64;
    u.clamp(UNITS_MIN, UNITS_MAX)
}

/// The N to try after a sysbench run of `n` took `total_ns`, or None if it
/// was long enough.
fn next_n(n: u64, total_ns: u64) -> Option<u64> {
    if total_ns >= SB_ENOUGH_NS {
        return None;
    }
    let factor = if total_ns == 0 { 1000.0 } else { (SB_TARGET_NS as f64 / total_ns as f64).clamp(2.0, 1000.0) };
    let next = ((n as f64 * factor) as u64).min(2_000_000_000);
    (next > n).then_some(next)
}

/// The makespan of `k` jobs of `job_ns` each, all started on node 1 at
/// time 0, if every node shared its CPU perfectly among its jobs and each
/// move `(time, job, to node)` took no time: what the balancer's timing
/// alone allows. None if it does not end within a generous bound.
fn model_makespan(job_ns: u64, k: usize, moves: &[(u64, usize, u32)]) -> Option<u64> {
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

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

// ------------------------------------------------------------ the guests

/// (migrations_started, migrations_done) of a node's balancer.
fn balancer(cl: &mut Cluster, node: u32) -> Result<(u64, u64)> {
    let s = parse_stats(&sh(cl, node, "cat /sys/kernel/roam/balancer")?);
    Ok((s.get("migrations_started").copied().unwrap_or(0), s.get("migrations_done").copied().unwrap_or(0)))
}

fn events(cl: &mut Cluster, node: u32) -> Result<Vec<Event>> {
    Ok(parse_events(&sh(cl, node, "cat /sys/kernel/roam/events")?))
}

fn set_all(cl: &mut Cluster, file: &str, value: &str) -> Result<()> {
    for node in 1..=NODES {
        sh(cl, node, &format!("echo {value} > /sys/kernel/roam/{file}"))?;
    }
    Ok(())
}

/// Node `node`'s own load estimate (from its `nodes` file).
fn own_load(cl: &mut Cluster, node: u32) -> Result<Option<u64>> {
    let v = parse_nodes(&sh(cl, node, "cat /sys/kernel/roam/nodes")?);
    Ok(v.iter().find(|l| l.get("self").map(String::as_str) == Some("1")).and_then(|l| l.get("load")?.parse().ok()))
}

/// Waits (up to `limit`) until node 1's load estimate is at most
/// [`QUIET_LOAD`]; the load it saw last.
fn wait_quiet(cl: &mut Cluster, limit: Duration) -> Result<Option<u64>> {
    let t0 = Instant::now();
    loop {
        let l = own_load(cl, 1)?;
        if l.is_some_and(|l| l <= QUIET_LOAD) || t0.elapsed() > limit {
            return Ok(l);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Whether every node sees every other up.
fn all_up(cl: &mut Cluster) -> Result<bool> {
    let mut all = true;
    for node in 1..=NODES {
        let v = sh(cl, node, "cat /sys/kernel/roam/nodes")?;
        all &= v.lines().filter(|l| l.contains("self=0")).all(|l| l.contains("state=up"));
    }
    Ok(all)
}

fn kill_pids(cl: &mut Cluster, node: u32, pids: &[u32]) {
    let list = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    let _ = cl.agents[(node - 1) as usize].run(&format!("kill -9 {list} 2>/dev/null; true"), Duration::from_secs(30));
}

/// One makespan run as measured.
struct Run {
    jobs: usize,
    /// First job started to last job ended, node 1's clock.
    makespan_ns: u64,
    /// The same on the host's clock: from sending the command that starts
    /// the jobs to the return of the one that waits for their ends.
    host_ns: u64,
    /// Node 1's clock over the host's over that interval, and node 2's
    /// (about the same interval): a TCG guest starved of host CPU loses
    /// clock ticks, so a rate below 1 shows how much it was starved.
    clock_rate: f64,
    clock_rate2: f64,
    /// Each job's end after the start (node 1's clock), sorted.
    ends_ns: Vec<u64>,
    statuses: Vec<i32>,
    first_migration_ns: Option<u64>,
    started: u64,
    done: u64,
    /// Migration events of the run, both nodes ("node N: line").
    events: Vec<String>,
    failed_events: usize,
    /// Distinct jobs that moved at least once.
    moved_jobs: usize,
    /// The most QEMU processes of other clusters seen on the host during
    /// the run (sampled every second).
    other_qemus: usize,
    /// The balancer's moves of the jobs: (time after the start on node 1's
    /// clock, job index, to node); None if a job moved in a way the model
    /// does not follow (a move started on node 2).
    moves: Option<Vec<(u64, usize, u32)>>,
}

impl Run {
    fn json(&self) -> serde_json::Value {
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

/// A guest command that waits, without forking (`read -t` on an idle
/// FIFO), until every `/tmp/NAME.st` of `names` is written (or `limit`),
/// so that the host sees the end within about 0.1 s; then prints node 1's
/// uptime. The waiting shell locks itself to node 1 (it is the harness).
fn wait_for_ends(tag: &str, names: &[String], limit: Duration) -> String {
    let all = names.iter().map(|n| format!("[ -s /tmp/{n}.st ]")).collect::<Vec<_>>().join(" && ");
    let ticks = limit.as_secs() * 10;
    format!(
        "roamctl lock $$ >/dev/null 2>&1; rm -f /tmp/{tag}.fifo; mkfifo /tmp/{tag}.fifo && exec 3<>/tmp/{tag}.fifo || exit 9; i=0; \
         while ! {{ {all}; }}; do [ $i -ge {ticks} ] && break; read -t 0.1 x <&3; i=$((i+1)); done; cat /proc/uptime"
    )
}

/// Starts `k` jobs of `units` spin units on node 1 (named TAG1..TAGk) and
/// waits (up to `limit`) until all have ended.
fn run_jobs(cl: &mut Cluster, tag: &str, k: usize, units: u64, limit: Duration) -> Result<Run> {
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
fn unit_time(cl: &mut Cluster) -> Result<u64> {
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

// ------------------------------------------------------------ job mix

/// One run of the heavy-tailed mix.
struct Mix {
    /// Per job: (demand in units, response time in ns on node 1's clock).
    jobs: Vec<(u64, u64)>,
    statuses: Vec<i32>,
    /// Migrations the balancers completed (nodes 1 + 2).
    done: u64,
    /// Jobs that moved at least once (node 1's `events`).
    moved: usize,
}

impl Mix {
    /// Each job's slowdown: response time over its time alone.
    fn slowdowns(&self, unit_ns: u64) -> Vec<f64> {
        self.jobs.iter().map(|&(u, r)| r as f64 / (u * unit_ns).max(1) as f64).collect()
    }

    fn json(&self, unit_ns: u64) -> serde_json::Value {
        let sd = self.slowdowns(unit_ns);
        serde_json::json!({
            "jobs_units_response_ns": self.jobs, "statuses": self.statuses, "slowdowns": sd,
            "mean_slowdown": mean(&sd), "median_slowdown": median(&sd),
            "migrations_done": self.done, "jobs_moved": self.moved,
        })
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// The mix's jobs as (arrival after the previous one in s, spin units),
/// demands rounded to whole units of `unit_ns`.
fn mix_jobs(unit_ns: u64) -> Vec<(f64, u64)> {
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
fn run_mix(cl: &mut Cluster, tag: &str, jobs: &[(f64, u64)], limit: Duration) -> Result<Mix> {
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

// ------------------------------------------------------------ overhead

/// One `migrate_work sysbench KIND N` on node 1: its total time (ns).
fn sysbench(cl: &mut Cluster, kind: &str, n: u64) -> Result<u64> {
    let name = format!("ov-{kind}");
    let out = sh(cl, 1, &format!("sh {RUN} {name} {WORK} sysbench {kind} {n}"))?;
    let pid: u32 = out.trim().parse().with_context(|| format!("run.sh {name} printed {out:?}, not a pid"))?;
    let r = (|| -> Result<u64> {
        crate::bench::wait_usr1_handler(cl, pid, &name, &format!("sysbench {kind} {n}"))?;
        sh(cl, 1, &format!("kill -USR1 {pid}"))?;
        let t0 = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let st = sh(cl, 1, &format!("cat /tmp/{name}.st 2>/dev/null; true"))?;
            if let Ok(st) = st.trim().parse::<i32>() {
                let out = sh(cl, 1, &format!("cat /tmp/{name}.out"))?;
                let Some((_, total)) = parse_sysbench(&out, kind).filter(|&(got, _)| st == 0 && got == n) else {
                    bail!("sysbench {kind} {n} ended with status {st}: {}", out.trim());
                };
                return Ok(total);
            }
            if t0.elapsed() > Duration::from_secs(300) {
                bail!("sysbench {kind} {n} (pid {pid}) has not ended within 300 s");
            }
        }
    })();
    if r.is_err() {
        kill_pids(cl, 1, &[pid]);
    }
    r
}

/// One kind's overhead measurement.
struct Overhead {
    kind: &'static str,
    label: &'static str,
    n: u64,
    loaded: Vec<u64>,
    unloaded: Vec<u64>,
}

impl Overhead {
    /// loaded/unloaded of every round with both.
    fn ratios(&self) -> Vec<f64> {
        self.loaded.iter().zip(&self.unloaded).map(|(&l, &u)| l as f64 / u.max(1) as f64).collect()
    }

    fn pct(&self) -> f64 {
        (median(&self.ratios()) - 1.0) * 100.0
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind, "label": self.label, "n": self.n,
            "loaded_ns": self.loaded, "unloaded_ns": self.unloaded, "ratios": self.ratios(),
            "median_loaded_ns": median(&self.loaded.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            "median_unloaded_ns": median(&self.unloaded.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            "overhead_pct": self.pct(),
        })
    }
}

/// Unloads roam.ko on node 1.
fn unload(cl: &mut Cluster) -> Result<()> {
    let o = cl.agents[0].run("rmmod roam 2>&1; r=$?; [ -e /sys/kernel/roam ] && echo still-there; exit $r", T)?;
    if o.rc != 0 || o.text.contains("still-there") {
        bail!("rmmod roam on node 1 failed (exit {}): {}", o.rc, o.text.trim());
    }
    Ok(())
}

/// Loads roam.ko on node 1 again, applies the cluster file and waits
/// (bounded) until the nodes see each other.
fn reload(cl: &mut Cluster) -> Result<()> {
    sh(cl, 1, &format!("insmod /lib/modules/roam.ko && roamctl apply {TOML_PATH} >/dev/null"))?;
    // The agent was locked to node 1 by init; the lock went with the module.
    let _ = cl.agents[0].run("for p in $(pidof roam-agent); do roamctl lock $p; done >/dev/null 2>&1; true", T);
    let t0 = Instant::now();
    while !all_up(cl)? {
        if t0.elapsed() > Duration::from_secs(30) {
            println!("    (after the reload the nodes did not all see each other within 30 s)");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// N for every kind, raised until a loaded run is long enough.
fn calibrate(cl: &mut Cluster) -> Result<Vec<Overhead>> {
    let mut v = Vec::new();
    for &(kind, label, n0) in &SB_KINDS {
        let mut n = n0;
        for _ in 0..5 {
            let t = sysbench(cl, kind, n)?;
            println!("    {kind}: N = {n}, {:.3} s{}", secs(t), if t < SB_ENOUGH_NS { " (pilot)" } else { "" });
            match next_n(n, t) {
                Some(m) => n = m,
                None => break,
            }
        }
        v.push(Overhead { kind, label, n, loaded: Vec::new(), unloaded: Vec::new() });
    }
    Ok(v)
}

fn measure_all(cl: &mut Cluster, ov: &mut [Overhead], loaded: bool) -> Result<()> {
    for o in ov.iter_mut() {
        let t = sysbench(cl, o.kind, o.n)?;
        println!("    {} {}: {:.3} s, {:.3} us/op", if loaded { "loaded  " } else { "unloaded" }, o.kind, secs(t), t as f64 / o.n as f64 / 1e3);
        if loaded {
            o.loaded.push(t);
        } else {
            o.unloaded.push(t);
        }
    }
    Ok(())
}

/// The alternating rounds; leaves the module loaded if it can. Errors end
/// the measurement early (what was measured is kept).
fn overhead_rounds(cl: &mut Cluster, ov: &mut [Overhead]) -> Result<()> {
    let mut loaded = true;
    let r = (|| -> Result<()> {
        for round in 0..ROUNDS {
            // Even rounds: loaded then unloaded; odd ones the reverse.
            for _ in 0..2 {
                measure_all(cl, ov, loaded)?;
                if (round % 2 == 0) == loaded {
                    if loaded {
                        unload(cl)?;
                    } else {
                        reload(cl)?;
                    }
                    loaded = !loaded;
                }
            }
            println!("    round {} of {ROUNDS} done", round + 1);
        }
        Ok(())
    })();
    if !loaded {
        if let Err(e) = reload(cl) {
            println!("    cannot load roam.ko again on node 1: {e:#}");
        }
    }
    r
}

// --------------------------------------------------------------- report

/// Kernel complaints in a node's log since boot.
fn kernel_complaints(cl: &mut Cluster, node: u32) -> String {
    cl.agents[(node - 1) as usize]
        .run("dmesg | grep -E 'BUG|WARNING|Oops|Call Trace|general protection|oom|hung task' | head -n 20; true", Duration::from_secs(60))
        .map(|o| o.text.trim().to_string())
        .unwrap_or_else(|e| format!("cannot read dmesg: {e:#}"))
}

/// Prints a failure with the end of both kernels' logs.
fn report_failure(cl: &mut Cluster, what: &str, e: &anyhow::Error) {
    println!("    FAIL {what}: {e:#}");
    for node in 1..=NODES {
        let log = cl.console_logs(node).pop().unwrap_or_default();
        if !cl.alive(node) {
            println!("    node {node}'s QEMU has exited; the end of its console log ({}):", log.display());
            print!("{}", crate::util::tail(&log, 40));
            continue;
        }
        match cl.agents[(node - 1) as usize].run("dmesg | tail -n 30", Duration::from_secs(60)) {
            Ok(o) => {
                println!("    node {node}: dmesg | tail -n 30");
                for l in o.text.lines() {
                    println!("      {l}");
                }
            }
            Err(e2) => println!("    node {node}: cannot read dmesg ({e2:#}); console log: {}", log.display()),
        }
    }
}

/// The host's load average and the QEMU processes running that are not
/// this cluster's.
fn host_state(cl: &Cluster) -> (String, usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let ours: Vec<i32> = cl.state.nodes.iter().map(|n| n.pid).collect();
    (load.split_whitespace().take(3).collect::<Vec<_>>().join(" "), other_qemus(&ours))
}

/// Samples [`other_qemus`] every second until dropped; the most seen.
struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Watch {
    fn start(cl: &Cluster) -> Watch {
        use std::sync::atomic::Ordering;
        let ours: Vec<i32> = cl.state.nodes.iter().map(|n| n.pid).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut most = 0;
            while !s2.load(Ordering::Relaxed) {
                most = most.max(other_qemus(&ours));
                std::thread::sleep(Duration::from_secs(1));
            }
            most.max(other_qemus(&ours))
        });
        Watch { stop, thread: Some(thread) }
    }

    fn most(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// QEMU processes on the host other than `ours`.
fn other_qemus(ours: &[i32]) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| !ours.contains(p))
                .filter(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).starts_with("qemu-system"))
                        .unwrap_or(false)
                })
                .count()
        })
        .unwrap_or(0)
}

pub fn run(ctx: &Ctx, accel: Accel) -> Result<()> {
    crate::kernel::run(ctx, Profile::Normal)?;
    let art = crate::build::run(ctx, Profile::Normal)?;
    let spec = Spec { name: NAME.into(), nodes: NODES, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = cluster::up(ctx, &spec, &art)?;
    let mut failures: Vec<String> = Vec::new();
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        for node in 1..=NODES {
            sh(&mut cl, node, &format!("echo {} | base64 -d > {RUN} && chmod 755 {RUN}", base64(RUN_SH.as_bytes())))?;
        }
        let host_cpus = crate::util::ncpus();
        let (load_start, others_start) = host_state(&cl);
        println!(
            "    host: {host_cpus} CPUs shared by both guests' QEMUs (not pinned); load average {load_start}; {others_start} other QEMU process(es) running"
        );
        if others_start > 0 {
            println!("    WARNING: other QEMU guests share the host's CPUs: the makespans measure the contention too");
        }

        // ---- 1. makespan
        step("one spin unit on node 1 (to size the jobs)");
        let unit_ns = unit_time(&mut cl)?;
        let units = choose_units(unit_ns);
        println!("    one unit {:.2} s: jobs of {units} units (about {:.0} s alone)", secs(unit_ns), secs(unit_ns * units));
        let limit = |k: usize| Duration::from_secs_f64((secs(unit_ns * units) * k as f64 * 3.0).max(60.0) + 60.0);

        step(&format!("one job alone on node 1 (migrate_work spin {units}), balancing off"));
        let one = match run_jobs(&mut cl, "one", 1, units, limit(1)) {
            Ok(r) => {
                println!("    {:.2} s (node 1's clock {:.2} s)", secs(r.host_ns), secs(r.makespan_ns));
                Some(r)
            }
            Err(e) => {
                report_failure(&mut cl, "one job alone", &e);
                failures.push(format!("one job alone: {e:#}"));
                None
            }
        };

        let mut quiet = Vec::new();
        let mut makespan = |cl: &mut Cluster, failures: &mut Vec<String>, on: bool| -> Result<Option<Run>> {
            let what = if on { "on" } else { "off" };
            let tq = Instant::now();
            let q = wait_quiet(cl, Duration::from_secs(90))?;
            let waited = tq.elapsed().as_secs_f64();
            quiet.push(q);
            set_all(cl, "balance", if on { "1" } else { "0" })?;
            step(&format!(
                "{JOBS} jobs started together on node 1, balancing {what} on both nodes (node 1's load before: {}, after waiting {waited:.0} s for it to fall)",
                q.map(|l| l.to_string()).unwrap_or("-".into())
            ));
            let r = run_jobs(cl, what, JOBS, units, limit(JOBS));
            set_all(cl, "balance", "0")?;
            match r {
                Ok(r) => {
                    println!(
                        "    makespan {:.2} s (node 1's clock {:.2} s); jobs ended at {} s; migrations {} done of {} started; statuses {:?}",
                        secs(r.host_ns),
                        secs(r.makespan_ns),
                        r.ends_ns.iter().map(|&t| format!("{:.1}", secs(t))).collect::<Vec<_>>().join(" "),
                        r.done,
                        r.started,
                        r.statuses
                    );
                    for e in &r.events {
                        println!("      {e}");
                    }
                    Ok(Some(r))
                }
                Err(e) => {
                    report_failure(cl, &format!("{JOBS} jobs, balancing {what}"), &e);
                    failures.push(format!("{JOBS} jobs, balancing {what}: {e:#}"));
                    Ok(None)
                }
            }
        };
        let off = makespan(&mut cl, &mut failures, false)?;
        let on = makespan(&mut cl, &mut failures, true)?;

        // ---- 2. heavy-tailed job mix
        let mix = mix_jobs(unit_ns);
        let mix_units: u64 = mix.iter().map(|j| j.1).sum();
        let mix_limit = Duration::from_secs_f64(secs(unit_ns * mix_units) * 2.0 + 120.0);
        let mut mixes: Vec<Option<Mix>> = Vec::new();
        for on in [false, true] {
            let what = if on { "on" } else { "off" };
            let _ = wait_quiet(&mut cl, Duration::from_secs(90))?;
            set_all(&mut cl, "balance", if on { "1" } else { "0" })?;
            step(&format!(
                "heavy-tailed mix on node 1: {MIX_JOBS} jobs of {} units ({mix_units} in all), balancing {what}",
                mix.iter().map(|j| j.1.to_string()).collect::<Vec<_>>().join(" ")
            ));
            let r = run_mix(&mut cl, &format!("mix{what}"), &mix, mix_limit);
            set_all(&mut cl, "balance", "0")?;
            match r {
                Ok(m) => {
                    let sd = m.slowdowns(unit_ns);
                    println!(
                        "    mean slowdown {:.2}, median {:.2}, max {:.2}; {} migrations, {} jobs moved; statuses {:?}",
                        mean(&sd),
                        median(&sd),
                        sd.iter().cloned().fold(0.0, f64::max),
                        m.done,
                        m.moved,
                        m.statuses
                    );
                    mixes.push(Some(m));
                }
                Err(e) => {
                    report_failure(&mut cl, &format!("job mix, balancing {what}"), &e);
                    failures.push(format!("job mix, balancing {what}: {e:#}"));
                    mixes.push(None);
                }
            }
        }
        // The simulator on the same kind of mix: 2 nodes, 12 jobs all
        // arriving at node 1, demands on the same bounds, the same offered
        // load (as a fraction of the two nodes' capacity); the mean over
        // SIM_SEEDS draws of each policy's mean slowdown (one 12-job draw
        // is as noisy as the cluster's).
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
        let (load_mid, others_mid) = host_state(&cl);

        // ---- 2. hook overhead
        step("hook overhead on node 1: waiting until it has no guests and no process away");
        let t0 = Instant::now();
        loop {
            let o = sh(&mut cl, 1, "cat /sys/kernel/roam/guests /sys/kernel/roam/away")?;
            if o.trim().is_empty() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                println!("    still there after 60 s: {o:?} (rmmod will refuse)");
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        step("system-call benchmarks with roam.ko loaded (sizing N)");
        let mut ov = match calibrate(&mut cl) {
            Ok(v) => v,
            Err(e) => {
                report_failure(&mut cl, "sizing the system-call benchmarks", &e);
                failures.push(format!("hook overhead: {e:#}"));
                Vec::new()
            }
        };
        if !ov.is_empty() {
            step(&format!("{ROUNDS} rounds: loaded/unloaded, then unloaded/loaded, ... (rmmod roam; insmod + roamctl apply)"));
            if let Err(e) = overhead_rounds(&mut cl, &mut ov) {
                report_failure(&mut cl, "hook overhead rounds", &e);
                failures.push(format!("hook overhead: {e:#}"));
            }
        }
        let (load_end, others_end) = host_state(&cl);

        let mut complaints = serde_json::Map::new();
        for node in 1..=NODES {
            let c = kernel_complaints(&mut cl, node);
            if !c.is_empty() {
                println!("    node {node}'s kernel complained:\n{c}");
                complaints.insert(format!("node{node}"), c.into());
            }
        }

        // ---- tables
        // The host's wall clock is the reference: a TCG guest's jiffies
        // clock can lose ticks when its QEMU is starved of host CPU.
        let speedup = match (&off, &on) {
            (Some(a), Some(b)) => Some(a.host_ns as f64 / b.host_ns.max(1) as f64),
            _ => None,
        };
        let guest_speedup = match (&off, &on) {
            (Some(a), Some(b)) => Some(a.makespan_ns as f64 / b.makespan_ns.max(1) as f64),
            _ => None,
        };
        let frac = speedup.map(|s| s / IDEAL_SPEEDUP);
        println!();
        println!(
            "Makespan of {JOBS} CPU-bound jobs (migrate_work spin {units}) started on node 1 of 2 one-vCPU TCG guests; \
             host: {host_cpus} CPUs shared by both guests (QEMUs not pinned)."
        );
        println!();
        println!("| case | makespan (host wall clock) | on node 1's clock | guest clock rates, node 1 / node 2 | jobs ended at (s, node 1's clock) | migrations done / started | jobs moved | other QEMUs on the host |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        let row = |label: &str, r: &Option<Run>| match r {
            Some(r) => println!(
                "| {label} | {:.2} s | {:.2} s | {:.3} / {:.3} | {} | {} / {} | {} | {} |",
                secs(r.host_ns),
                secs(r.makespan_ns),
                r.clock_rate,
                r.clock_rate2,
                r.ends_ns.iter().map(|&t| format!("{:.1}", secs(t))).collect::<Vec<_>>().join(", "),
                r.done,
                r.started,
                r.moved_jobs,
                r.other_qemus
            ),
            None => println!("| {label} | failed | | | | | | |"),
        };
        row("one job alone, node 1", &one);
        row(&format!("{JOBS} jobs, balancing off (without roam)"), &off);
        row(&format!("{JOBS} jobs, balancing on"), &on);
        println!(
            "(guest clock rate: a TCG guest's jiffies clock loses ticks while its QEMU waits for a host CPU; 1.000 = it had one throughout)"
        );
        println!();
        println!("| measure | value | goal | met |");
        println!("| --- | --- | --- | --- |");
        if let (Some(s), Some(f)) = (speedup, frac) {
            println!(
                "| speedup, makespan without / with balancing | {s:.2}x = {f:.2} of the ideal {IDEAL_SPEEDUP:.1}x{} | >= {SPEEDUP_GOAL} of ideal | {} |",
                guest_speedup.map(|h| format!(" (node 1's clock: {h:.2}x)")).unwrap_or_default(),
                yes_no(f >= SPEEDUP_GOAL)
            );
        }
        // The model's job length: a quarter of the run without balancing
        // (same jobs, same node, closest in time), on node 1's clock.
        let model = match (&off, &on) {
            (Some(o), Some(r)) => r.moves.as_ref().and_then(|m| model_makespan(o.makespan_ns / JOBS as u64, JOBS, m)),
            _ => None,
        };
        let model_frac = match (&off, model) {
            (Some(o), Some(m)) => Some(o.makespan_ns as f64 / m as f64 / IDEAL_SPEEDUP),
            _ => None,
        };
        if let (Some(m), Some(f), Some(r), Some(o)) = (model, model_frac, &on, &off) {
            println!(
                "| model: the same migration times with each CPU shared perfectly and free moves (one job = {:.2} s = 1/{JOBS} of the run without balancing, node 1's clock) | {:.2} s = {f:.2} of the ideal (measured on node 1's clock: {:.2} s = {:.2}) | | |",
                secs(o.makespan_ns / JOBS as u64),
                secs(m),
                secs(r.makespan_ns),
                o.makespan_ns as f64 / r.makespan_ns.max(1) as f64 / IDEAL_SPEEDUP
            );
        }
        if let Some(r) = &on {
            println!(
                "| time from the start to the first migration | {} | | |",
                r.first_migration_ns.map(|t| format!("{:.2} s", secs(t))).unwrap_or("no migration".into())
            );
            println!("| migrations in all (migrations_done, nodes 1 + 2) | {} ({} failed) | | |", r.done, r.failed_events);
        }
        if let Some(r) = &off {
            println!("| migrations with balancing off | {} | 0 | {} |", r.done, yes_no(r.done == 0));
        }

        println!();
        println!(
            "Mean slowdown (response time / time alone) of a heavy-tailed mix: {MIX_JOBS} jobs arriving at node 1 (Poisson), demands bounded Pareto α=1 on [{MIX_LO_S}, {MIX_HI_S}] s rounded to spin units, offering node 1 {MIX_LOAD} CPUs of work; node 1's clock."
        );
        println!();
        println!("| case | mean slowdown | median | max | migrations | jobs moved |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (label, m) in ["in the cluster, balancing off (neither)", "in the cluster, balancing on (migration)"].iter().zip(&mixes) {
            match m {
                Some(m) => {
                    let sd = m.slowdowns(unit_ns);
                    println!(
                        "| {label} | {:.2} | {:.2} | {:.2} | {} | {} |",
                        mean(&sd),
                        median(&sd),
                        sd.iter().cloned().fold(0.0, f64::max),
                        m.done,
                        m.moved
                    );
                }
                None => println!("| {label} | failed | | | | |"),
            }
        }
        for (policy, sd, mig) in &sim {
            println!(
                "| simulated, the same kind of {MIX_JOBS}-job mix at node 1 of 2, mean over {SIM_SEEDS} draws: {policy} | {sd:.2} | | | {:.1} per run | |",
                mig * MIX_JOBS as f64
            );
        }
        if let [Some(a), Some(b)] = mixes.as_slice() {
            let (x, y) = (mean(&a.slowdowns(unit_ns)), mean(&b.slowdowns(unit_ns)));
            println!("| in the cluster: mean slowdown without / with migration | {:.2}x | | | | |", x / y);
        }

        println!();
        println!("Hook overhead on node 1: migrate_work sysbench with roam.ko loaded and configured vs not loaded, {ROUNDS} alternating rounds.");
        println!();
        println!("| benchmark | N | loaded (median) | unloaded (median) | extra per call | overhead (median of loaded/unloaded - 1) | per-round overhead % | goal | met |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for o in &ov {
            if o.ratios().is_empty() {
                println!("| {} | {} | not measured | | | | | | |", o.label, o.n);
                continue;
            }
            let ml = median(&o.loaded.iter().map(|&x| x as f64).collect::<Vec<_>>());
            let mu = median(&o.unloaded.iter().map(|&x| x as f64).collect::<Vec<_>>());
            let control = o.kind == "null";
            println!(
                "| {} | {} | {:.3} us/op | {:.3} us/op | {:+.3} us | {:+.1}% | {} | {} | {} |",
                o.label,
                o.n,
                ml / o.n as f64 / 1e3,
                mu / o.n as f64 / 1e3,
                (ml - mu) / o.n as f64 / 1e3,
                o.pct(),
                o.ratios().iter().map(|r| format!("{:+.1}", (r - 1.0) * 100.0)).collect::<Vec<_>>().join(" "),
                if control { "(noise)".to_string() } else { format!("<= {OVERHEAD_GOAL_PCT}%") },
                if control { "" } else { yes_no(o.pct() <= OVERHEAD_GOAL_PCT) }
            );
        }
        if others_start + others_mid + others_end > 0 {
            println!("\nWARNING: other QEMU guests were running on the host during the benchmark; its results are not reliable.");
        }
        println!(
            "\nhost load average: {load_start} at the start, {load_mid} after the makespans, {load_end} at the end; \
             other QEMU processes: {others_start}, {others_mid}, {others_end}"
        );

        let date = crate::util::output(std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Ok(serde_json::json!({
            "date": date,
            "accel": format!("{:?}", cl.state.accel),
            "host_cpus": host_cpus,
            "qemu_pinned": false,
            "host_loadavg": {"start": load_start, "after_makespan": load_mid, "end": load_end},
            "other_qemu_processes": {"start": others_start, "after_makespan": others_mid, "end": others_end},
            "makespan": {
                "jobs": JOBS, "units": units, "unit_ns": unit_ns,
                "node1_load_before_runs": quiet,
                "one_job": one.as_ref().map(Run::json),
                "balance_off": off.as_ref().map(Run::json),
                "balance_on": on.as_ref().map(Run::json),
                "speedup": speedup, "speedup_node1_clock": guest_speedup,
                "note": "makespans and speedup on the host's wall clock (start command sent to the wait for the last end returning); node 1's clock beside it",
                "ideal_speedup": IDEAL_SPEEDUP, "fraction_of_ideal": frac,
                "goal_fraction": SPEEDUP_GOAL, "goal_met": frac.map(|f| f >= SPEEDUP_GOAL),
                "first_migration_ns": on.as_ref().and_then(|r| r.first_migration_ns),
                "model_makespan_ns": model, "model_fraction_of_ideal": model_frac,
                "model_note": "processor sharing on each node, the balancing-on run's migration times, one job = 1/JOBS of the balancing-off makespan (node 1's clock), moves take no time",
                "migrations_done": on.as_ref().map(|r| r.done),
            },
            "job_mix": {
                "jobs": MIX_JOBS, "seed": MIX_SEED, "demand_bounds_s": [MIX_LO_S, MIX_HI_S], "offered_load_node1": MIX_LOAD,
                "jobs_gap_s_units": mix, "unit_ns": unit_ns,
                "balance_off": mixes.first().and_then(|m| m.as_ref().map(|m| m.json(unit_ns))),
                "balance_on": mixes.get(1).and_then(|m| m.as_ref().map(|m| m.json(unit_ns))),
                "simulated_mean_slowdown_over_draws": sim.iter().map(|(p, sd, mig)| serde_json::json!({"policy": p, "mean_slowdown": sd, "migrations_per_job": mig})).collect::<Vec<_>>(),
                "simulated_draws": SIM_SEEDS,
            },
            "overhead": {
                "node": 1, "rounds": ROUNDS,
                "note": "loaded = roam.ko loaded and configured (sys_enter and sched_switch probes registered, balancing off); unloaded = after rmmod roam",
                "kinds": ov.iter().map(Overhead::json).collect::<Vec<_>>(),
                "goal_pct": OVERHEAD_GOAL_PCT,
            },
            "kernel_complaints": complaints,
            "failures": failures,
        }))
    })();
    cl.down(ctx)?;
    let v = r?;
    let dir = ctx.cache.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("balance.json"), serde_json::to_string_pretty(&v)?)?;
    println!("\nresults: {}", dir.join("balance.json").display());
    if !failures.is_empty() {
        bail!("{} part(s) of the benchmark failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_and_mtimes() {
        assert_eq!(uptime_ms("123.45 67.89\n"), Some(123_450));
        assert_eq!(uptime_ms("7.5 1.0"), Some(7_500));
        assert_eq!(uptime_ms(""), None);
        let l = "/tmp/on-start 1795659551 2026-11-26 02:19:11.258073083 +0000";
        assert_eq!(parse_mtime(l), Some(("/tmp/on-start".into(), 1_795_659_551_258_073_083)));
        assert_eq!(parse_mtime("/tmp/x 10 2026-01-01 00:00:10.5 +0000").map(|x| x.1), Some(10_500_000_000));
        assert_eq!(parse_mtime("garbage"), None);
    }

    #[test]
    fn events_parse() {
        let t = "seq=3 ms=34567 pid=85 comm=migrate_work from=1 to=2 cause=load result=ok\n\
                 seq=4 ms=35000 pid=86 comm=migrate_work from=1 to=2 cause=load result=not-accepting\nnoise\n";
        let e = parse_events(t);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].seq, e[0].ms, e[0].pid, e[0].from, e[0].to), (3, 34567, 85, 1, 2));
        assert_eq!(e[1].result, "not-accepting");
        assert_eq!(e[0].cause, "load");
    }

    #[test]
    fn sysbench_output() {
        assert_eq!(parse_sysbench("sysbench getppid 1000 1500000\n", "getppid"), Some((1000, 1_500_000)));
        assert_eq!(parse_sysbench("sysbench getppid 1000 1500000\n", "null"), None);
    }

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
    fn medians_and_overhead() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        let o = Overhead { kind: "getppid", label: "", n: 10, loaded: vec![110, 104, 103], unloaded: vec![100, 100, 100] };
        assert!((o.pct() - 4.0).abs() < 1e-9);
        assert_eq!(o.ratios().len(), 3);
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

    #[test]
    fn goals_are_sane() {
        assert_eq!(ROUNDS % 2, 0, "the module must end loaded");
        assert!(SPEEDUP_GOAL <= 1.0 && IDEAL_SPEEDUP == NODES as f64);
        assert!(RUN_SH.contains("/tmp/$name.st"));
    }
}
