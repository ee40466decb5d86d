//! The hook-overhead part of `cargo xtask bench balance`: `migrate_work
//! sysbench` on node 1 with roam.ko loaded and configured against the
//! same with it unloaded, in alternating rounds, each kind's N sized
//! first.
//!
//! Calls [`super::guests`], `bench::common` and `config`.

use super::guests::{sh, T};
use crate::bench::common::{kill_pids, median_f64, next_n, parse_sysbench, secs, wait_usr1_handler, RUN, SB_ENOUGH_NS, WORK};
use crate::cluster::Cluster;
use crate::config::{all_up, TOML_PATH};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// Goal: the module's cost to local system calls (%).
pub(super) const OVERHEAD_GOAL_PCT: f64 = 2.0;
/// Alternating rounds of the overhead measurement (each measures every
/// kind loaded and unloaded once); even, so the module ends loaded.
pub(super) const ROUNDS: usize = 6;
/// `migrate_work sysbench` kinds: (kind, label, first N).
pub(super) const SB_KINDS: [(&str, &str, u64); 3] = [
    ("getppid", "getppid (no work in the call)", 100_000),
    ("read1k", "pread 1 KiB from a tmpfs file", 20_000),
    ("null", "empty loop iteration (control: no system call)", 1_000_000),
];

/// One `migrate_work sysbench KIND N` on node 1: its total time (ns).
pub(super) fn sysbench(cl: &mut Cluster, kind: &str, n: u64) -> Result<u64> {
    let name = format!("ov-{kind}");
    let out = sh(cl, 1, &format!("sh {RUN} {name} {WORK} sysbench {kind} {n}"))?;
    let pid: u32 = out.trim().parse().with_context(|| format!("run.sh {name} printed {out:?}, not a pid"))?;
    let r = (|| -> Result<u64> {
        wait_usr1_handler(cl, pid, &name, &format!("sysbench {kind} {n}"))?;
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
pub(super) struct Overhead {
    pub(super) kind: &'static str,
    pub(super) label: &'static str,
    pub(super) n: u64,
    pub(super) loaded: Vec<u64>,
    pub(super) unloaded: Vec<u64>,
}

impl Overhead {
    /// loaded/unloaded of every round with both.
    pub(super) fn ratios(&self) -> Vec<f64> {
        self.loaded.iter().zip(&self.unloaded).map(|(&l, &u)| l as f64 / u.max(1) as f64).collect()
    }

    pub(super) fn pct(&self) -> f64 {
        (median_f64(&self.ratios()) - 1.0) * 100.0
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind, "label": self.label, "n": self.n,
            "loaded_ns": self.loaded, "unloaded_ns": self.unloaded, "ratios": self.ratios(),
            "median_loaded_ns": median_f64(&self.loaded.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            "median_unloaded_ns": median_f64(&self.unloaded.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            "overhead_pct": self.pct(),
        })
    }
}

/// Unloads roam.ko on node 1.
pub(super) fn unload(cl: &mut Cluster) -> Result<()> {
    let o = cl.agents[0].run("rmmod roam 2>&1; r=$?; [ -e /sys/kernel/roam ] && echo still-there; exit $r", T)?;
    if o.rc != 0 || o.text.contains("still-there") {
        bail!("rmmod roam on node 1 failed (exit {}): {}", o.rc, o.text.trim());
    }
    Ok(())
}

/// Loads roam.ko on node 1 again, applies the cluster file and waits
/// (bounded) until the nodes see each other.
pub(super) fn reload(cl: &mut Cluster) -> Result<()> {
    sh(cl, 1, &format!("insmod /lib/modules/roam.ko && roamctl apply {TOML_PATH} >/dev/null"))?;
    // The agent was locked to node 1 by init; the lock went with the module.
    let _ = cl.agents[0].run("for p in $(pidof roam-agent); do roamctl lock $p; done >/dev/null 2>&1; true", T);
    let t0 = Instant::now();
    while !all_up(cl, T)? {
        if t0.elapsed() > Duration::from_secs(30) {
            println!("    (after the reload the nodes did not all see each other within 30 s)");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// N for every kind, raised until a loaded run is long enough.
pub(super) fn calibrate(cl: &mut Cluster) -> Result<Vec<Overhead>> {
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

pub(super) fn measure_all(cl: &mut Cluster, ov: &mut [Overhead], loaded: bool) -> Result<()> {
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
pub(super) fn overhead_rounds(cl: &mut Cluster, ov: &mut [Overhead]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_the_median_ratio() {
        let o = Overhead { kind: "getppid", label: "", n: 10, loaded: vec![110, 104, 103], unloaded: vec![100, 100, 100] };
        assert!((o.pct() - 4.0).abs() < 1e-9);
        assert_eq!(o.ratios().len(), 3);
    }
}
