//! The moves of `cargo xtask bench migrate`: one `roamctl migrate` timed
//! with the bytes it put on the wire, a filled process of each size moved
//! to node 2 and home and verified, and the null process moved back and
//! forth; and starting and following programs through `run.sh`.
//!
//! Calls only `bench::common` and `config`.

use crate::bench::common::{kill_pids, sh, RUN, T, WORK};
use crate::cluster::Cluster;
use crate::config::parse_stats;
use crate::scenarios::monitoring::PHASES;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Process sizes tried (MiB), as far as the guests' memory allows.
pub(super) const SIZES_MB: [u64; 5] = [1, 16, 256, 512, 1024];
/// Memory a node must have available beyond the process for a size to be
/// tried: socket buffers, the destination's image handling, the agent.
pub(super) const HEADROOM_MB: u64 = 160;
/// Null-process moves each way.
pub(super) const NULL_MOVES: usize = 10;
/// Length of the null process's CPU loop (about 1 s per unit under TCG):
/// long enough to outlast every move; it is killed at the end.
pub(super) const SPIN_UNITS: u64 = 300;
pub(super) const MIB: f64 = 1024.0 * 1024.0;

/// The value of `key:` in `/proc/meminfo` or `/proc/PID/status` text (kB).
pub(super) fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.split_whitespace().next()?.parse().ok())
}

/// Which of [`SIZES_MB`] to try on guests with `total_kb` of RAM when the
/// lesser MemAvailable of the two nodes involved is `avail_kb`; the others
/// with the reason they are skipped.
pub(super) fn plan_sizes(total_kb: u64, avail_kb: u64) -> (Vec<u64>, Vec<(u64, String)>) {
    let (mut run, mut skip) = (Vec::new(), Vec::new());
    for mb in SIZES_MB {
        if mb * 1024 >= total_kb {
            skip.push((mb, format!("the guests have {} MiB of RAM in all (MemTotal), so a {mb} MiB process cannot fit beside the kernel", total_kb / 1024)));
        } else if (mb + HEADROOM_MB) * 1024 > avail_kb {
            skip.push((
                mb,
                format!(
                    "needs {} MiB available on nodes 1 and 2 ({mb} MiB + {HEADROOM_MB} MiB headroom), the lesser MemAvailable is {} MiB",
                    mb + HEADROOM_MB,
                    avail_kb / 1024
                ),
            ));
        } else {
            run.push(mb);
        }
    }
    (run, skip)
}

pub(super) fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    match s.len() {
        0 => 0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2,
    }
}

/// One move as `roamctl --json migrate` reported it, plus the transport
/// bytes the sending node put on the wire meanwhile.
#[derive(Clone, Copy, Debug)]
pub(super) struct Move {
    /// Request to arrival.
    pub(super) elapsed_ns: u64,
    /// Page bytes sent, as the kernel counts them (0 for a move home,
    /// which the kernel does not count).
    pub(super) bytes: u64,
    /// Growth of the sender's `bytes_sent` (frames, MACs, a little load
    /// exchange traffic).
    pub(super) wire_bytes: u64,
    pub(super) remote_pid: u32,
    /// How long the process was stopped (all of `elapsed_ns` when it
    /// moved stopped), and the pre-copy rounds (0 then).
    pub(super) freeze_ns: u64,
    pub(super) rounds: u64,
}

impl Move {
    /// What throughput is computed from: the kernel's page bytes, or for a
    /// move home the sender's wire bytes.
    pub(super) fn payload(&self) -> u64 {
        if self.bytes > 0 {
            self.bytes
        } else {
            self.wire_bytes
        }
    }

    pub(super) fn mib_per_s(&self) -> f64 {
        self.payload() as f64 / MIB / (self.elapsed_ns.max(1) as f64 / 1e9)
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "elapsed_ns": self.elapsed_ns, "freeze_ns": self.freeze_ns, "rounds": self.rounds, "bytes": self.bytes,
            "wire_bytes": self.wire_bytes, "mib_per_s": self.mib_per_s(), "remote_pid": self.remote_pid,
        })
    }
}

pub(super) fn bytes_sent(cl: &mut Cluster, node: u32) -> Result<u64> {
    Ok(parse_stats(&sh(cl, node, "cat /sys/kernel/roam/stats")?).get("bytes_sent").copied().unwrap_or(0))
}

/// `roamctl --json migrate PID DEST` on `node`, counting `sender`'s
/// transport bytes around it.
pub(super) fn migrate_once(cl: &mut Cluster, node: u32, pid: u32, dest: &str, sender: u32) -> Result<Move> {
    migrate_mode(cl, node, pid, dest, sender, "stop")
}

/// [`migrate_once`] with `--mode MODE`.
pub(super) fn migrate_mode(cl: &mut Cluster, node: u32, pid: u32, dest: &str, sender: u32, mode: &str) -> Result<Move> {
    let before = bytes_sent(cl, sender)?;
    let out = sh(cl, node, &format!("roamctl --json migrate {pid} {dest} --mode {mode}"))?;
    let after = bytes_sent(cl, sender)?;
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).with_context(|| format!("roamctl migrate {pid} {dest} printed {out:?}"))?;
    let num = |k: &str| v[k].as_u64().with_context(|| format!("no {k} in {out:?}"));
    Ok(Move {
        elapsed_ns: num("elapsed_ns")?,
        bytes: num("bytes")?,
        wire_bytes: after.saturating_sub(before),
        remote_pid: num("remote_pid")? as u32,
        freeze_ns: num("freeze_ns")?,
        rounds: num("rounds")?,
    })
}

/// Starts `cmd` on `node` through run.sh as NAME; its pid.
pub(super) fn start(cl: &mut Cluster, node: u32, name: &str, cmd: &str) -> Result<u32> {
    let out = sh(cl, node, &format!("sh {RUN} {name} {cmd}"))?;
    out.trim().parse().with_context(|| format!("node {node}: run.sh {name} printed {out:?}, not a pid"))
}

/// Waits (up to `limit`) until NAME started by [`start`] has ended; its
/// exit status and output.
pub(super) fn wait_end(cl: &mut Cluster, node: u32, name: &str, limit: Duration) -> Result<(i32, String)> {
    let t0 = Instant::now();
    loop {
        let st = sh(cl, node, &format!("cat /tmp/{name}.st 2>/dev/null; true"))?;
        if let Ok(st) = st.trim().parse::<i32>() {
            let out = sh(cl, node, &format!("cat /tmp/{name}.out 2>/dev/null; true"))?;
            return Ok((st, out));
        }
        if t0.elapsed() > limit {
            bail!("node {node}: {name} has not ended within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// One process size: filled on node 1, moved to node 2 and home again,
/// stopped, then to node 2 with pre-copy and home, then verified.
pub(super) struct SizeRun {
    pub(super) mb: u64,
    pub(super) rss_kb: u64,
    pub(super) out: Move,
    pub(super) home: Move,
    pub(super) pre: Move,
    pub(super) pre_home: Move,
    pub(super) verified: bool,
    pub(super) verify: String,
}

pub(super) fn fill_round_trip(cl: &mut Cluster, mb: u64) -> Result<SizeRun> {
    let name = format!("fill{mb}");
    let pid = start(cl, 1, &name, &format!("{WORK} fill {mb} 900"))?;
    let r = (|| -> Result<SizeRun> {
        let want_kb = mb * 1024;
        let limit = Duration::from_secs(60 + mb / 2);
        let t0 = Instant::now();
        let rss_kb = loop {
            let o = cl.agents[0].run(&format!("cat /proc/{pid}/status"), T)?;
            let rss = kb_field(&o.text, "VmRSS");
            if o.rc != 0 || rss.is_none() {
                let out = sh(cl, 1, &format!("cat /tmp/{name}.out /tmp/{name}.st 2>/dev/null; true"))?;
                bail!("migrate_work fill {mb} (pid {pid}) ended before it was moved: {}", out.trim());
            }
            let rss = rss.unwrap_or(0);
            if rss >= want_kb {
                break rss;
            }
            if t0.elapsed() > limit {
                bail!("migrate_work fill {mb} (pid {pid}): RSS still {rss} kB < {want_kb} kB after {} s", limit.as_secs());
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        let out = migrate_once(cl, 1, pid, "2", 1)?;
        println!("    {mb} MiB: node 1 -> 2 in {:.3} s, {:.1} MiB of pages", out.elapsed_ns as f64 / 1e9, out.bytes as f64 / MIB);
        let home = migrate_once(cl, 1, pid, "home", 2)?;
        println!("    {mb} MiB: node 2 -> home in {:.3} s, {:.1} MiB on the wire", home.elapsed_ns as f64 / 1e9, home.wire_bytes as f64 / MIB);
        let pre = migrate_mode(cl, 1, pid, "2", 1, "precopy")?;
        println!(
            "    {mb} MiB: node 1 -> 2 with pre-copy in {:.3} s ({} rounds), stopped {:.1} ms, {:.1} MiB of pages",
            pre.elapsed_ns as f64 / 1e9,
            pre.rounds,
            pre.freeze_ns as f64 / 1e6,
            pre.bytes as f64 / MIB
        );
        let pre_home = migrate_once(cl, 1, pid, "home", 2)?;
        sh(cl, 1, &format!("kill -USR1 {pid}"))?;
        let (st, text) = wait_end(cl, 1, &name, Duration::from_secs(60 + mb / 2))?;
        let text = text.trim().to_string();
        let verified = st == 0 && text.contains(", 0 bad");
        Ok(SizeRun { mb, rss_kb, out, home, pre, pre_home, verified, verify: format!("exit {st}: {text}") })
    })();
    if r.is_err() {
        kill_pids(cl, 1, &[pid]);
    }
    r
}

/// The null process: a small CPU loop moved to node 2 and home
/// [`NULL_MOVES`] times each way.
pub(super) struct NullRun {
    pub(super) rss_kb: u64,
    pub(super) out: Vec<Move>,
    pub(super) home: Vec<Move>,
    pub(super) end: String,
    /// Where a move's time went, mean ms per move, from the nodes' phase
    /// sums (`/sys/kernel/roam/migrations`): (side, phase, ms) of the
    /// moves to node 2, then of the moves home.
    pub(super) phases_out: Vec<(String, String, f64)>,
    pub(super) phases_home: Vec<(String, String, f64)>,
}

/// `node`'s migration counters by name.
fn counters(cl: &mut Cluster, node: u32) -> Result<BTreeMap<String, u64>> {
    let text = sh(cl, node, "cat /sys/kernel/roam/migrations")?;
    Ok(text.lines().filter_map(|l| l.split_once(' ')).filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?))).collect())
}

/// Mean ms per move of each phase: the source's `out` phases and the
/// destination's `in` phases, from counters read before and after `n`
/// moves.
pub(super) fn phase_means(
    src: (&BTreeMap<String, u64>, &BTreeMap<String, u64>),
    dst: (&BTreeMap<String, u64>, &BTreeMap<String, u64>),
    n: usize,
) -> Vec<(String, String, f64)> {
    let mut v = Vec::new();
    for ((side, phases), (a, b)) in PHASES.iter().zip([src, dst]) {
        for p in phases.iter() {
            let k = format!("phase_{side}_{p}_us");
            let d = b.get(&k).copied().unwrap_or(0).saturating_sub(a.get(&k).copied().unwrap_or(0));
            let who = if *side == "out" { "source" } else { "destination" };
            v.push((who.to_string(), p.to_string(), d as f64 / 1e3 / n.max(1) as f64));
        }
    }
    v
}

pub(super) fn null_moves(cl: &mut Cluster) -> Result<NullRun> {
    let pid = start(cl, 1, "spin", &format!("{WORK} spin {SPIN_UNITS}"))?;
    let r = (|| -> Result<NullRun> {
        let st = sh(cl, 1, &format!("cat /proc/{pid}/status"))?;
        let rss_kb = kb_field(&st, "VmRSS").unwrap_or(0);
        let (mut out, mut home) = (Vec::new(), Vec::new());
        let (a1, a2) = (counters(cl, 1)?, counters(cl, 2)?);
        for _ in 0..NULL_MOVES {
            out.push(migrate_once(cl, 1, pid, "2", 1)?);
            home.push(migrate_once(cl, 1, pid, "home", 2)?);
        }
        let (b1, b2) = (counters(cl, 1)?, counters(cl, 2)?);
        let phases_out = phase_means((&a1, &b1), (&a2, &b2), NULL_MOVES);
        let phases_home = phase_means((&a2, &b2), (&a1, &b1), NULL_MOVES);
        Ok(NullRun { rss_kb, out, home, end: String::new(), phases_out, phases_home })
    })();
    kill_pids(cl, 1, &[pid]);
    let mut n = r?;
    let (st, text) = wait_end(cl, 1, "spin", Duration::from_secs(60))?;
    // 137: killed by SIGKILL as intended; 7 would mean it finished first.
    n.end = format!("exit {st}{}", if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) });
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_means_per_move() {
        let m = |v: &[(&str, u64)]| v.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
        let a = m(&[("phase_out_capture_us", 1000), ("phase_in_target_us", 0)]);
        let b = m(&[("phase_out_capture_us", 21000), ("phase_in_target_us", 50000)]);
        let v = phase_means((&a, &b), (&a, &b), 10);
        assert_eq!(v.len(), 7);
        assert_eq!(v[0], ("source".to_string(), "capture".to_string(), 2.0));
        assert_eq!(v[4], ("destination".to_string(), "target".to_string(), 5.0));
        assert_eq!(v[1].2, 0.0, "missing counters count as 0");
    }

    #[test]
    fn kb_fields() {
        let status = "Name:\tmigrate_work\nVmPeak:\t  20000 kB\nVmRSS:\t   16900 kB\n";
        assert_eq!(kb_field(status, "VmRSS"), Some(16900));
        assert_eq!(kb_field("MemTotal:        1000000 kB\nMemAvailable:     900000 kB\n", "MemAvailable"), Some(900000));
        assert_eq!(kb_field(status, "VmSwap"), None);
    }

    #[test]
    fn sizes_follow_guest_memory() {
        let (run, skip) = plan_sizes(1_000_000, 900 * 1024);
        assert_eq!(run, vec![1, 16, 256, 512]);
        assert_eq!(skip.len(), 1);
        assert_eq!(skip[0].0, 1024);
        let (run, skip) = plan_sizes(1_000_000, 600 * 1024);
        assert_eq!(run, vec![1, 16, 256]);
        assert_eq!(skip.iter().map(|s| s.0).collect::<Vec<_>>(), vec![512, 1024]);
        assert!(skip[0].1.contains("MemAvailable is 600 MiB"));
    }

    #[test]
    fn medians_and_throughput() {
        assert_eq!(median(&[5, 1, 3]), 3);
        assert_eq!(median(&[4, 1, 3, 2]), 2);
        assert_eq!(median(&[]), 0);
        let m = Move { elapsed_ns: 2_000_000_000, bytes: 64 << 20, wire_bytes: 65 << 20, remote_pid: 7, freeze_ns: 2_000_000_000, rounds: 0 };
        assert!((m.mib_per_s() - 32.0).abs() < 1e-9);
        let home = Move { bytes: 0, ..m };
        assert!((home.mib_per_s() - 32.5).abs() < 1e-9);
    }
}
