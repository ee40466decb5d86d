//! `cargo xtask bench balance`: what automatic balancing buys and what the
//! module costs a process that never moves, on a cluster of two one-vCPU
//! guests (`bench-balance`) that the command boots and tears down itself.
//!
//! 1. **Makespan.** K = 4 CPU-bound jobs (`migrate_work spin U`, U chosen
//!    so that one job alone takes about [`makespan::JOB_TARGET_S`]) are started
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
//!
//! This file runs the parts in order and prints the tables: the guests
//! are driven through [`guests`], the host watched through [`host`], and
//! the parts are [`makespan`], [`mix`] and [`overhead`]. Calls those,
//! `bench::common` and `config`.

mod guests;
mod host;
mod makespan;
mod mix;
mod overhead;

use crate::bench::common::{boot, finish, install_run_sh, kernel_complaints, mean, median_f64, report_failure, secs, utc_now, yes_no};
use crate::cluster::{Accel, Cluster, Spec};
use crate::config::configure;
use crate::util::{self, step, Ctx};
use anyhow::Result;
use guests::{set_all, sh, wait_quiet, NODES, T};
use host::host_state;
use makespan::{choose_units, model_makespan, run_jobs, unit_time, Run, JOBS};
use mix::{mix_jobs, run_mix, simulated, Mix, MIX_HI_S, MIX_JOBS, MIX_LOAD, MIX_LO_S, MIX_SEED, SIM_SEEDS};
use overhead::{calibrate, overhead_rounds, Overhead, OVERHEAD_GOAL_PCT, ROUNDS};
use std::time::{Duration, Instant};

/// The cluster's name (and so its netns `roam-bench-balance`).
const NAME: &str = "bench-balance";
/// With two nodes the best possible speedup.
const IDEAL_SPEEDUP: f64 = 2.0;
/// Goal: the speedup as a fraction of [`IDEAL_SPEEDUP`].
const SPEEDUP_GOAL: f64 = 0.9;
/// What counts as a kernel complaint in a node's log.
const COMPLAINTS: &str = "BUG|WARNING|Oops|Call Trace|general protection|oom|hung task";

pub fn run(ctx: &Ctx, accel: Accel) -> Result<()> {
    let spec = Spec { name: NAME.into(), nodes: NODES, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = boot(ctx, &spec)?;
    let mut failures: Vec<String> = Vec::new();
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        install_run_sh(&mut cl, NODES, T)?;
        let host_cpus = util::ncpus();
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
                report_failure(&mut cl, "one job alone", &e, 30);
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
                    report_failure(cl, &format!("{JOBS} jobs, balancing {what}"), &e, 30);
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
                        median_f64(&sd),
                        sd.iter().cloned().fold(0.0, f64::max),
                        m.done,
                        m.moved,
                        m.statuses
                    );
                    mixes.push(Some(m));
                }
                Err(e) => {
                    report_failure(&mut cl, &format!("job mix, balancing {what}"), &e, 30);
                    failures.push(format!("job mix, balancing {what}: {e:#}"));
                    mixes.push(None);
                }
            }
        }
        // The simulator on the same kind of mix (mean over SIM_SEEDS draws).
        let sim = simulated()?;
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
                report_failure(&mut cl, "sizing the system-call benchmarks", &e, 30);
                failures.push(format!("hook overhead: {e:#}"));
                Vec::new()
            }
        };
        if !ov.is_empty() {
            step(&format!("{ROUNDS} rounds: loaded/unloaded, then unloaded/loaded, ... (rmmod roam; insmod + roamctl apply)"));
            if let Err(e) = overhead_rounds(&mut cl, &mut ov) {
                report_failure(&mut cl, "hook overhead rounds", &e, 30);
                failures.push(format!("hook overhead: {e:#}"));
            }
        }
        let (load_end, others_end) = host_state(&cl);

        let mut complaints = serde_json::Map::new();
        for node in 1..=NODES {
            let c = kernel_complaints(&mut cl, node, COMPLAINTS);
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
                        median_f64(&sd),
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
            let ml = median_f64(&o.loaded.iter().map(|&x| x as f64).collect::<Vec<_>>());
            let mu = median_f64(&o.unloaded.iter().map(|&x| x as f64).collect::<Vec<_>>());
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

        let date = utc_now();
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
    finish(ctx, cl, r, "balance.json", &failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RUN_SH;

    #[test]
    fn goals_are_sane() {
        assert_eq!(ROUNDS % 2, 0, "the module must end loaded");
        assert!(SPEEDUP_GOAL <= 1.0 && IDEAL_SPEEDUP == NODES as f64);
        assert!(RUN_SH.contains("/tmp/$name.st"));
    }
}
