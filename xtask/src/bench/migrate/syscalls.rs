//! MOSIX's Table 1 in `cargo xtask bench migrate`: the cost of read,
//! write, open/close, fork and exec (and a forwarded getppid, and the
//! empty loop) for a process at home against the same process migrated
//! to node 2, each `migrate_work sysbench` run sized until it is long
//! enough.
//!
//! Calls only [`super::moves`] and `bench::common`.

use super::moves::{median, migrate_once, start, wait_end, Move};
use crate::bench::common::{kill_pids, next_n, parse_sysbench, sh, wait_usr1_handler, WORK};
use crate::cluster::Cluster;
use crate::config::parse_stats;
use anyhow::{bail, Result};
use std::time::Duration;

/// One row of the system-call table.
pub(super) struct CallSpec {
    /// `migrate_work sysbench` KIND.
    pub(super) kind: &'static str,
    /// As the table names it.
    pub(super) label: &'static str,
    /// First N locally and remotely (raised until a run takes
    /// [`crate::bench::common::SB_ENOUGH_NS`]); a remote N of 0 means one iteration, repeated in
    /// [`SB_FIRST_RUNS`] fresh processes (fork and exec bring the process
    /// home, so only the first call is remote).
    pub(super) n_local: u64,
    pub(super) n_remote: u64,
    /// The slowdown MOSIX reported (Table 1 of Barak, La'adan and Shiloh,
    /// 1999), if it has one.
    pub(super) mosix: Option<f64>,
}

/// MOSIX's calls in its order, then the pure forwarding latency and the
/// loop baseline.
pub(super) const CALLS: [CallSpec; 7] = [
    CallSpec { kind: "read1k", label: "read (1 KiB)", n_local: 20_000, n_remote: 200, mosix: Some(4.00) },
    CallSpec { kind: "write1k", label: "write (1 KiB)", n_local: 20_000, n_remote: 200, mosix: Some(2.43) },
    CallSpec { kind: "openclose", label: "open/close", n_local: 5_000, n_remote: 100, mosix: Some(2.09) },
    CallSpec { kind: "fork", label: "fork", n_local: 200, n_remote: 0, mosix: Some(2.77) },
    CallSpec { kind: "exec", label: "exec (fork + execve /bin/true + wait)", n_local: 50, n_remote: 0, mosix: Some(2.04) },
    CallSpec { kind: "getppid", label: "getppid (forwarded, no data)", n_local: 20_000, n_remote: 200, mosix: None },
    CallSpec { kind: "null", label: "empty loop iteration (baseline)", n_local: 1_000_000, n_remote: 1_000_000, mosix: None },
];

/// Runs per measurement at most (the first ones are pilots).
pub(super) const SB_ROUNDS: usize = 4;

/// Fresh processes for a first-call (fork, exec) remote measurement.
pub(super) const SB_FIRST_RUNS: usize = 3;

/// Goal for a forwarded call with no data: this many transport round trips.
pub(super) const FORWARD_GOAL_RTTS: f64 = 1.3;

/// One `migrate_work sysbench` run.
#[derive(Clone, Copy, Debug)]
pub(super) struct SbRun {
    pub(super) n: u64,
    pub(super) total_ns: u64,
    /// The move to node 2 before the timed part, for a remote run.
    pub(super) moved: Option<Move>,
    /// Transport frames nodes 1 and 2 sent from the signal to the end of
    /// a remote run (the calls, the exit replay, a little load exchange).
    pub(super) frames: Option<u64>,
}

impl SbRun {
    pub(super) fn per_op_ns(&self) -> f64 {
        self.total_ns as f64 / self.n.max(1) as f64
    }

    pub(super) fn frames_per_op(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.n.max(1) as f64)
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "n": self.n, "total_ns": self.total_ns, "ns_per_op": self.per_op_ns(),
            "migration_to_node2_ns": self.moved.map(|m| m.elapsed_ns),
            "frames_sent": self.frames, "frames_per_op": self.frames_per_op(),
        })
    }
}

/// Starts `migrate_work sysbench KIND N` on node 1, waits until its
/// SIGUSR1 handler is in place, moves it to node 2 if `remote`, signals it
/// and reads its result.
pub(super) fn sysbench_once(cl: &mut Cluster, kind: &str, n: u64, remote: bool) -> Result<SbRun> {
    let name = format!("sb-{kind}-{}", if remote { "r" } else { "l" });
    let pid = start(cl, 1, &name, &format!("{WORK} sysbench {kind} {n}"))?;
    let r = (|| -> Result<SbRun> {
        wait_usr1_handler(cl, pid, &name, &format!("migrate_work sysbench {kind} {n}"))?;
        let moved = if remote { Some(migrate_once(cl, 1, pid, "2", 1)?) } else { None };
        let frames_sent = |cl: &mut Cluster| -> Result<u64> {
            let mut n = 0;
            for node in [1u32, 2] {
                n += parse_stats(&sh(cl, node, "cat /sys/kernel/roam/stats")?).get("frames_sent").copied().unwrap_or(0);
            }
            Ok(n)
        };
        let before = if remote { Some(frames_sent(cl)?) } else { None };
        // The newest migration node 2 has started: a remote run of a call
        // that is forwarded must leave it unchanged (the process stayed).
        let last_event = |cl: &mut Cluster| -> Result<String> { Ok(sh(cl, 2, "tail -n 1 /sys/kernel/roam/events")?.trim().to_string()) };
        let event0 = if remote { Some(last_event(cl)?) } else { None };
        sh(cl, 1, &format!("kill -USR1 {pid}"))?;
        let (st, out) = wait_end(cl, 1, &name, Duration::from_secs(300))?;
        if let (Some(e0), Some(m)) = (&event0, &moved) {
            let e1 = last_event(cl)?;
            if !matches!(kind, "fork" | "exec") && e1 != *e0 {
                bail!("migrate_work sysbench {kind} {n} left node 2 during the run (pid {} there): node 2's newest migration is now {e1:?}", m.remote_pid);
            }
        }
        let frames = match before {
            Some(b) => Some(frames_sent(cl)?.saturating_sub(b)),
            None => None,
        };
        let Some((got_n, total_ns)) = parse_sysbench(&out, kind).filter(|_| st == 0) else {
            bail!("migrate_work sysbench {kind} {n}{} ended with status {st}: {}", if remote { " on node 2" } else { "" }, out.trim());
        };
        if got_n != n {
            bail!("migrate_work sysbench {kind} {n} reported N = {got_n}");
        }
        Ok(SbRun { n, total_ns, moved, frames })
    })();
    if r.is_err() {
        kill_pids(cl, 1, &[pid]);
    }
    r
}

/// Runs KIND with N raised until a run is long enough; the last run.
pub(super) fn sysbench_calibrated(cl: &mut Cluster, kind: &str, n0: u64, remote: bool) -> Result<SbRun> {
    let mut n = n0;
    let mut round = 1;
    loop {
        let r = sysbench_once(cl, kind, n, remote)?;
        let next = next_n(n, r.total_ns).filter(|_| round < SB_ROUNDS);
        let mode = if remote { "remote" } else { "local" };
        println!(
            "    {kind} {mode}: N = {n}, {:.3} s, {:.2} us/op{}{}",
            r.total_ns as f64 / 1e9,
            r.per_op_ns() / 1e3,
            r.frames_per_op().map(|f| format!(", {f:.2} transport frames/op")).unwrap_or_default(),
            if next.is_some() { " (pilot)" } else { "" }
        );
        match next {
            Some(m) => {
                n = m;
                round += 1;
            }
            None => return Ok(r),
        }
    }
}

/// One row of the table as measured.
pub(super) struct CallResult {
    pub(super) spec: &'static CallSpec,
    pub(super) local: SbRun,
    /// A long run, or (fork, exec) the first-call runs.
    pub(super) remote: Vec<SbRun>,
}

impl CallResult {
    pub(super) fn first_call(&self) -> bool {
        self.spec.n_remote == 0
    }

    /// Remote time per op: the mean of a long run, or the median of the
    /// first-call runs.
    pub(super) fn remote_ns(&self) -> f64 {
        if self.first_call() {
            median(&self.remote.iter().map(|r| r.total_ns).collect::<Vec<_>>()) as f64
        } else {
            self.remote.first().map(SbRun::per_op_ns).unwrap_or(0.0)
        }
    }

    pub(super) fn slowdown(&self) -> f64 {
        self.remote_ns() / self.local.per_op_ns().max(1e-9)
    }
}

pub(super) fn measure_call(cl: &mut Cluster, spec: &'static CallSpec) -> Result<CallResult> {
    let local = sysbench_calibrated(cl, spec.kind, spec.n_local, false)?;
    let remote = if spec.n_remote == 0 {
        let mut v = Vec::new();
        for i in 0..SB_FIRST_RUNS {
            let r = sysbench_once(cl, spec.kind, 1, true)?;
            println!(
                "    {} remote, first call (includes the move home), run {}: {:.1} ms",
                spec.kind,
                i + 1,
                r.total_ns as f64 / 1e6
            );
            v.push(r);
        }
        v
    } else {
        vec![sysbench_calibrated(cl, spec.kind, spec.n_remote, true)?]
    };
    Ok(CallResult { spec, local, remote })
}

pub(super) fn fmt_us(ns: f64) -> String {
    let us = ns / 1e3;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 1.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_as_mosix_measured() {
        assert!(CALLS.iter().all(|c| c.n_local > 0));
        let mosix: Vec<_> = CALLS.iter().filter_map(|c| c.mosix).collect();
        assert_eq!(mosix, vec![4.00, 2.43, 2.09, 2.77, 2.04]);
    }
}
