//! `cargo xtask test`: host tests, then the KTAP programs in a fresh
//! cluster, then a scan of every guest's kernel log. Ends with
//! `N passed, N failed` and a non-zero exit status on any failure.
//!
//! Calls `kernel`, `build`, `cluster`, `scenarios` (the cluster
//! scenarios), `tally` (where every result goes) and `util`; nothing calls
//! back into it but `main`.

use crate::build::Artifacts;
use crate::cluster::{self, Cluster, Spec};
use crate::kernel::Profile;
use crate::tally::Tally;
use crate::util::{self, step, Ctx};
use anyhow::{bail, Result};
use roam_tests::ktap::{self, Outcome};
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

/// Kernel log lines that fail a run: warnings, bugs, oopses, sanitizer and
/// lockdep reports, atomic-sleep complaints, panics, RCU and hung-task
/// reports, and any call trace (which only appears with one of those).
pub fn log_problems(text: &str) -> Vec<String> {
    const BAD: &[&str] = &[
        "WARNING:",
        "BUG:",
        "Oops",
        "KASAN",
        "UBSAN",
        "kernel BUG",
        "general protection fault",
        "Kernel panic",
        "sleeping function called from invalid context",
        "possible circular locking dependency",
        "possible recursive locking",
        "inconsistent lock state",
        "lockdep is turned off",
        "suspicious RCU usage",
        "INFO: task",
        "rcu_sched self-detected stall",
        "detected stalls",
        "soft lockup",
        "hard LOCKUP",
        "blocked for more than",
        "Call Trace:",
        "unreferenced object",
        "rust_panic",
        "panicked at",
    ];
    text.lines()
        .filter(|l| BAD.iter().any(|b| l.contains(b)))
        // Informational boot lines that contain the words but report nothing.
        .filter(|l| !l.contains("Lock dependency validator") && !l.contains("lockdep: fixed"))
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

/// Runs `cargo test` for every host crate and adds its counts.
fn host_tests(ctx: &Ctx, tally: &mut Tally) -> Result<()> {
    step("host tests: cargo test --workspace");
    let log = ctx.log_path("host-tests");
    let _ = fs::remove_file(&log);
    let r = util::run_logged(
        Command::new("cargo").current_dir(&ctx.root).args(["test", "--workspace", "--color", "never"]),
        &log,
        "cargo test",
        "run `cargo test --workspace` to see the failures",
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    let (mut passed, mut failed) = (0usize, 0usize);
    for l in text.lines() {
        // "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
        if let Some(rest) = l.split("test result:").nth(1) {
            for part in rest.split(';') {
                let words: Vec<&str> = part.split_whitespace().collect();
                if let Some(i) = words.iter().position(|w| *w == "passed") {
                    passed += words.get(i.wrapping_sub(1)).and_then(|n| n.parse().ok()).unwrap_or(0);
                }
                if let Some(i) = words.iter().position(|w| *w == "failed") {
                    failed += words.get(i.wrapping_sub(1)).and_then(|n| n.parse().ok()).unwrap_or(0);
                }
            }
        }
    }
    for l in text.lines().filter(|l| l.starts_with("test ") && l.ends_with("FAILED")) {
        tally.add(format!("host: {}", l.trim_start_matches("test ").trim_end_matches(" ... FAILED")), false, "see log");
    }
    let listed_failures = tally.failed();
    for i in 0..passed {
        tally.add(format!("host test {i}"), true, "");
    }
    if let Err(e) = r {
        if failed == 0 && listed_failures == 0 {
            // It failed without a failing test: it did not build.
            println!("    host: cargo test failed before its tests ran (a build error?): {e:#}");
            tally.add("host: cargo test".into(), false, format!("{e:#}"));
        }
    }
    println!("    host: {passed} passed, {failed} failed (log: {})", log.display());
    Ok(())
}

/// The order the guest programs run in: reload last, since it unloads the
/// module under everything else.
fn order(mut progs: Vec<String>) -> Vec<String> {
    progs.sort_by_key(|p| (p.ends_with("_reload"), p.clone()));
    progs
}

fn run_guest_tests(cl: &mut Cluster, art: &Artifacts, tally: &mut Tally, results: &std::path::Path) -> Result<()> {
    let timeout = Duration::from_secs(if art.kernel.profile == Profile::Debug { 600 } else { 240 });
    // Programs named roam_* are self-contained tests; the others are tools
    // the cluster scenarios drive with arguments.
    let progs: Vec<String> = art.tests.iter().filter(|p| p.starts_with("roam_")).cloned().collect();
    for prog in order(progs) {
        for (i, agent) in cl.agents.iter_mut().enumerate() {
            let node = i as u32 + 1;
            let start = Instant::now();
            let label = format!("node{node} {prog}");
            let out = agent.run(&format!("/usr/lib/roam/tests/{prog}"), timeout);
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    tally.add(label.clone(), false, format!("{e:#}"));
                    println!("    FAIL {label}: {e:#}");
                    continue;
                }
            };
            fs::write(results.join(format!("node{node}-{prog}.ktap")), &out.text)?;
            let report = ktap::parse(&out.text);
            let mut failed_here = 0;
            for r in &report.results {
                let name = format!("{label}: {}", r.name);
                match &r.outcome {
                    Outcome::Pass => tally.add(name, true, ""),
                    Outcome::Skip(why) => tally.skip(name, why.clone()),
                    Outcome::Fail => {
                        failed_here += 1;
                        tally.add(name, false, r.diag.join("\n"));
                    }
                }
            }
            if !report.passed() && failed_here == 0 {
                // Structural trouble: no plan, a crash mid-way, a bail-out.
                let mut why = report.problems.join("; ");
                if let Some(b) = &report.bail_out {
                    why.push_str(&format!("; bail out: {b}"));
                }
                tally.add(format!("{label}: KTAP stream"), false, format!("{why} (exit {})", out.rc));
                failed_here += 1;
            } else if out.rc != 0 && failed_here == 0 {
                tally.add(format!("{label}: exit status"), false, format!("exited {}", out.rc));
                failed_here += 1;
            }
            println!(
                "    {} {label}: {} results in {}",
                if failed_here == 0 { "ok  " } else { "FAIL" },
                report.results.len(),
                util::fmt_duration(start.elapsed())
            );
        }
    }
    Ok(())
}

pub struct Options {
    pub profile: Profile,
    pub nodes: u32,
    pub accel: cluster::Accel,
    pub memory_mb: u32,
}

pub fn run(ctx: &Ctx, opts: &Options) -> Result<()> {
    let start = Instant::now();
    let mut tally = Tally::default();
    host_tests(ctx, &mut tally)?;

    crate::kernel::run(ctx, opts.profile)?;
    let art = crate::build::run(ctx, opts.profile)?;
    let results = ctx.cache.join("results").join(opts.profile.name());
    let _ = fs::remove_dir_all(&results);
    fs::create_dir_all(&results)?;

    let spec = Spec {
        name: format!("test-{}", opts.profile.name()),
        nodes: opts.nodes,
        accel: opts.accel,
        memory_mb: opts.memory_mb,
        cpus: 1,
    };
    match cluster::up(ctx, &spec, &art) {
        Ok(mut cl) => {
            step(&format!("guest tests: {} program(s) on {} node(s)", art.tests.len(), opts.nodes));
            let mut r = run_guest_tests(&mut cl, &art, &mut tally, &results);
            if r.is_ok() {
                step("cluster scenarios: membership, load exchange, keys, duplicates, hostile frames, crash, reload");
                r = crate::scenarios::run(&mut cl, &mut tally, opts.profile == Profile::Debug);
            }
            let logs: Vec<(u32, Vec<std::path::PathBuf>, bool)> =
                (1..=opts.nodes).map(|id| (id, cl.console_logs(id), cl.alive(id))).collect();
            cl.down(ctx)?;
            if let Err(e) = r {
                tally.add("guest tests".into(), false, format!("{e:#}"));
            }
            step("scanning guest kernel logs");
            for (id, boots, alive) in logs {
                let log = boots.last().cloned().unwrap_or_default();
                let text: String = boots.iter().map(|b| fs::read_to_string(b).unwrap_or_default()).collect();
                let bad = log_problems(&text);
                tally.add(
                    format!("node{id}: kernel log has no WARN/BUG/Oops/KASAN/lockdep/atomic-sleep line"),
                    bad.is_empty() && !text.is_empty(),
                    format!("{}\n  log: {}", bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n"), log.display()),
                );
                tally.add(format!("node{id}: guest still running at the end"), alive, format!("log: {}", log.display()));
                let _ = fs::copy(&log, results.join(format!("node{id}-console.log")));
            }
        }
        Err(e) => tally.add("cluster boots with roam.ko loaded on every node".into(), false, format!("{e:#}")),
    }

    println!();
    step(&format!("summary ({} kernel, {})", opts.profile.name(), util::fmt_duration(start.elapsed())));
    tally.print_summary();
    println!("    KTAP output and console logs: {}", results.display());
    let skipped = match tally.skipped() {
        0 => String::new(),
        n => format!(", {n} skipped"),
    };
    println!("\n{} passed, {} failed{skipped}", tally.passed(), tally.failed());
    if tally.failed() > 0 {
        bail!("{} test(s) failed", tally.failed());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_boot_log_has_no_problems() {
        let log = "[    0.000000] Linux version 6.12\n[    1.2] roam: loaded, version 0.1.0\n[    0.1] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar\n";
        assert!(log_problems(log).is_empty());
    }

    #[test]
    fn splats_are_found() {
        for l in [
            "[ 3.1] WARNING: CPU: 0 PID: 1 at kernel/foo.c:12 bar+0x1/0x2",
            "[ 3.1] BUG: sleeping function called from invalid context at mm/slab.c:1",
            "[ 3.1] BUG: KASAN: slab-use-after-free in roam_x",
            "[ 3.1] WARNING: possible circular locking dependency detected",
            "[ 3.1] Oops: general protection fault, probably for non-canonical address",
            "[ 3.1] Call Trace:",
        ] {
            assert_eq!(log_problems(&format!("ok line\n{l}\n")), vec![l.to_string()], "{l}");
        }
    }

    #[test]
    fn reload_runs_last() {
        let o = order(vec!["roam_reload".into(), "roam_a".into(), "roam_z".into()]);
        assert_eq!(o, vec!["roam_a", "roam_z", "roam_reload"]);
    }
}
