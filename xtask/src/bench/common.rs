//! What the benches share: booting their own cluster, running commands on
//! its nodes, starting and signalling `migrate_work`, the `sysbench`
//! output and sizing rule, reporting a failure with the kernels' logs,
//! and writing the result JSON under `<cache>/bench/`.
//!
//! Calls `kernel`, `build`, `cluster`, `config` and `util`; never a
//! bench.

use crate::cluster::{self, Cluster, Spec};
use crate::config::{base64, RUN_SH};
use crate::kernel::Profile;
use crate::util::{self, Ctx};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// Timeout of one agent command (transport and migrate; balance has its
/// own).
pub(super) const T: Duration = Duration::from_secs(600);
/// Where [`RUN_SH`] goes on every guest.
pub(super) const RUN: &str = "/tmp/run.sh";
pub(super) const WORK: &str = "/usr/lib/roam/tests/migrate_work";
/// A `migrate_work sysbench` run is long enough once it takes this long
/// (guest clocks tick in 4 ms jiffies)...
pub(super) const SB_ENOUGH_NS: u64 = 750_000_000;
/// ... and N is scaled to aim at this.
const SB_TARGET_NS: u64 = 1_500_000_000;
pub(super) const SB_MAX_N: u64 = 2_000_000_000;

/// Builds (or reuses) the normal kernel and the artifacts, and boots the
/// bench's own cluster.
pub(super) fn boot(ctx: &Ctx, spec: &Spec) -> Result<Cluster> {
    crate::kernel::run(ctx, Profile::Normal)?;
    let art = crate::build::run(ctx, Profile::Normal)?;
    cluster::up(ctx, spec, &art)
}

/// Runs `cmd` on `node` within `t`; what it printed (an error if it
/// failed).
pub(super) fn sh_within(cl: &mut Cluster, node: u32, cmd: &str, t: Duration) -> Result<String> {
    cl.agents[(node - 1) as usize].check(cmd, t)
}

/// [`sh_within`] the transport and migrate benches' timeout [`T`].
pub(super) fn sh(cl: &mut Cluster, node: u32, cmd: &str) -> Result<String> {
    sh_within(cl, node, cmd, T)
}

/// Puts [`RUN_SH`] at [`RUN`] on nodes 1..=`nodes`.
pub(super) fn install_run_sh(cl: &mut Cluster, nodes: u32, t: Duration) -> Result<()> {
    for node in 1..=nodes {
        sh_within(cl, node, &format!("echo {} | base64 -d > {RUN} && chmod 755 {RUN}", base64(RUN_SH.as_bytes())), t)?;
    }
    Ok(())
}

/// A number after `key=` or `"key":` in `text` (roamctl's and the test
/// programs' output).
pub(super) fn field(text: &str, key: &str) -> Result<u64> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .filter_map(|w| w.split_once(['=', ':']))
        .find(|(k, _)| k.trim_matches('"') == key)
        .and_then(|(_, v)| v.trim_matches('"').parse().ok())
        .with_context(|| format!("no {key} in {text:?}"))
}

pub(super) fn kill_pids(cl: &mut Cluster, node: u32, pids: &[u32]) {
    let list = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
    let _ = cl.agents[(node - 1) as usize].run(&format!("kill -9 {list} 2>/dev/null; true"), Duration::from_secs(30));
}

/// The N to try after a `sysbench` run of `n` iterations took
/// `total_ns`, or None if that run was long enough (or N cannot grow).
pub(super) fn next_n(n: u64, total_ns: u64) -> Option<u64> {
    if total_ns >= SB_ENOUGH_NS {
        return None;
    }
    let factor = if total_ns == 0 { 1000.0 } else { (SB_TARGET_NS as f64 / total_ns as f64).clamp(2.0, 1000.0) };
    let next = ((n as f64 * factor) as u64).min(SB_MAX_N);
    (next > n).then_some(next)
}

/// `sysbench KIND N TOTAL` from `migrate_work`'s output: (N, TOTAL).
pub(super) fn parse_sysbench(out: &str, kind: &str) -> Option<(u64, u64)> {
    out.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["sysbench", k, n, t] if *k == kind => Some((n.parse().ok()?, t.parse().ok()?)),
            _ => None,
        }
    })
}

/// Whether `/proc/PID/status` text shows a SIGUSR1 handler.
fn catches_usr1(status: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (10 - 1)) != 0)
}

/// Waits (up to 60 s) until process `pid` on node 1, started by `run.sh
/// NAME` as `what`, has installed its SIGUSR1 handler (`migrate_work
/// sysbench` installs it last: it is then ready for the signal).
pub(super) fn wait_usr1_handler(cl: &mut Cluster, pid: u32, name: &str, what: &str) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let o = cl.agents[0].run(&format!("cat /proc/{pid}/status"), T)?;
        if o.rc != 0 {
            let out = cl.agents[0].run(&format!("cat /tmp/{name}.out /tmp/{name}.st 2>/dev/null; true"), T)?;
            bail!("{what} (pid {pid}) ended before it was signalled: {}", out.text.trim());
        }
        if catches_usr1(&o.text) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{what} (pid {pid}) installed no SIGUSR1 handler within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kernel complaints (lines matching the extended regex `pattern`) in a
/// node's log since boot.
pub(super) fn kernel_complaints(cl: &mut Cluster, node: u32, pattern: &str) -> String {
    cl.agents[(node - 1) as usize]
        .run(&format!("dmesg | grep -E '{pattern}' | head -n 20; true"), Duration::from_secs(60))
        .map(|o| o.text.trim().to_string())
        .unwrap_or_else(|e| format!("cannot read dmesg: {e:#}"))
}

/// Prints a failure loudly with what the kernels of nodes 1 and 2 said:
/// the last `lines` of dmesg, or the end of the console log of a node
/// whose QEMU has exited.
pub(super) fn report_failure(cl: &mut Cluster, what: &str, e: &anyhow::Error, lines: usize) {
    println!("    FAIL {what}: {e:#}");
    for node in [1u32, 2] {
        let log = cl.console_logs(node).pop().unwrap_or_default();
        if !cl.alive(node) {
            println!("    node {node}'s QEMU has exited; the end of its console log ({}):", log.display());
            print!("{}", util::tail(&log, 40));
            continue;
        }
        match cl.agents[(node - 1) as usize].run(&format!("dmesg | tail -n {lines}"), Duration::from_secs(60)) {
            Ok(o) => {
                println!("    node {node}: dmesg | tail -n {lines}");
                for l in o.text.lines() {
                    println!("      {l}");
                }
            }
            Err(e2) => println!("    node {node}: cannot read dmesg ({e2:#}); console log: {}", log.display()),
        }
    }
}

/// The median of `v` (NaN if it is empty).
pub(super) fn median_f64(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The mean of `v` (NaN if it is empty).
pub(super) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Nanoseconds as seconds.
pub(super) fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Now, UTC, as `date -u +%Y-%m-%dT%H:%M:%SZ` prints it ("" if that
/// fails).
pub(super) fn utc_now() -> String {
    util::output(std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Stops the cluster, then writes the bench's result `r` to
/// `<cache>/bench/<file>` and says where; fails if `r` did, or (after
/// writing) if any part of the bench failed.
pub(super) fn finish(ctx: &Ctx, cl: Cluster, r: Result<serde_json::Value>, file: &str, failures: &[String]) -> Result<()> {
    cl.down(ctx)?;
    let v = r?;
    let dir = ctx.cache.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(file), serde_json::to_string_pretty(&v)?)?;
    println!("\nresults: {}", dir.join(file).display());
    if !failures.is_empty() {
        bail!("{} part(s) of the benchmark failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_text_and_json() {
        assert_eq!(field("elapsed_ns=1500 done=3\n", "done").unwrap(), 3);
        assert_eq!(field("{\"node\":2,\"elapsed_ns\":99,\"done\":7}", "elapsed_ns").unwrap(), 99);
        assert!(field("nothing", "done").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median_f64(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_f64(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median_f64(&[]).is_nan());
        assert!(mean(&[]).is_nan());
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    }

    #[test]
    fn sysbench_helpers() {
        assert_eq!(parse_sysbench("sysbench read1k 2000 1500000000\n", "read1k"), Some((2000, 1_500_000_000)));
        assert_eq!(parse_sysbench("noise\nsysbench fork 1 80000000\n", "fork"), Some((1, 80_000_000)));
        assert_eq!(parse_sysbench("sysbench fork 1 80000000\n", "exec"), None);
        assert_eq!(parse_sysbench("sysbench fork 1\n", "fork"), None);
        assert_eq!(parse_sysbench("sysbench getppid 1000 1500000\n", "getppid"), Some((1000, 1_500_000)));
        assert_eq!(parse_sysbench("sysbench getppid 1000 1500000\n", "null"), None);
        assert!(catches_usr1("Name:\tmigrate_work\nSigIgn:\t0000000000001000\nSigCgt:\t0000000000000640\n"));
        assert!(!catches_usr1("SigCgt:\t0000000000000440\n"));
        assert!(!catches_usr1("Name:\tx\n"));
        assert_eq!(next_n(1000, 800_000_000), None);
        assert_eq!(next_n(200, 150_000_000), Some(2000));
        assert_eq!(next_n(1000, 0), Some(1_000_000));
        assert_eq!(next_n(1000, 700_000_000), Some(2142));
        assert_eq!(next_n(1000, 740_000_000), Some(2027));
        assert_eq!(next_n(SB_MAX_N, 1), None);
    }
}
