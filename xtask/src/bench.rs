//! Benchmarks on a cluster of TCG (or KVM) guests that each command boots,
//! configures and tears down itself.
//!
//! * `cargo xtask bench transport`: the roam transport against raw TCP
//!   between the same two guests, measured in one run, and the cost of the
//!   load exchange. Results go to stdout and `<cache>/bench/transport.json`.
//! * `cargo xtask bench migrate`: migration time (which is also the time
//!   the process is frozen: there is no pre-copy) and bytes against process
//!   size, page-transfer throughput against raw TCP, and a null process's
//!   migration time in transport round trips, and MOSIX's Table 1: the
//!   cost of read, write, open/close, fork and exec for a process at home
//!   and for one migrated away, plus a forwarded call's latency in
//!   transport round trips. Results go to stdout and
//!   `<cache>/bench/migrate.json`.

use crate::cluster::{self, Accel, Cluster, Spec};
use crate::kernel::Profile;
use crate::config::{base64, configure, parse_stats};
use crate::util::{step, Ctx};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(600);

fn sh(cl: &mut Cluster, node: u32, cmd: &str) -> Result<String> {
    cl.agents[(node - 1) as usize].check(cmd, T)
}

fn field(text: &str, key: &str) -> Result<u64> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .filter_map(|w| w.split_once(['=', ':']))
        .find(|(k, _)| k.trim_matches('"') == key)
        .and_then(|(_, v)| v.trim_matches('"').parse().ok())
        .with_context(|| format!("no {key} in {text:?}"))
}

pub fn transport(ctx: &Ctx, accel: Accel) -> Result<()> {
    crate::kernel::run(ctx, Profile::Normal)?;
    let art = crate::build::run(ctx, Profile::Normal)?;
    let spec = Spec { name: "bench".into(), nodes: 2, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = cluster::up(ctx, &spec, &art)?;
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        let peer = format!("{}.2", cluster::NET);
        sh(&mut cl, 2, "(timeout 500 /usr/lib/roam/tests/tcp_pingpong server 7100 500 >/dev/null 2>&1 &)")?;
        std::thread::sleep(Duration::from_millis(500));
        let (rtts, small) = (2000u64, 64u64);
        let (frames, big) = (400u64, 64 * 1024u64);
        step(&format!("round trips: {rtts} x {small} B, raw TCP then roam"));
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7100 rtt {rtts} {small}"))?;
        let roam = sh(&mut cl, 1, &format!("roamctl --json ping 2 --count {rtts} --size {small}"))?;
        let raw_rtt = field(&raw, "elapsed_ns")? as f64 / rtts as f64;
        let roam_rtt = field(&roam, "elapsed_ns")? as f64 / field(&roam, "done")? as f64;
        step(&format!("bulk: {frames} x {} KiB, raw TCP then roam", big / 1024));
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7100 bulk {frames} {big}"))?;
        let roam = sh(&mut cl, 1, &format!("roamctl --json ping 2 --bulk --count {frames} --size {big}"))?;
        let bytes = (frames * big) as f64;
        let raw_bw = bytes / (field(&raw, "elapsed_ns")? as f64 / 1e9);
        let roam_bw = bytes / (field(&roam, "elapsed_ns")? as f64 / 1e9);
        step("the frame MAC alone (HMAC-SHA256 in node 1's kernel, no network)");
        let mac = sh(&mut cl, 1, &format!("roamctl --json ping 2 --mac-only --count {frames} --size {big}"))?;
        let mac_bw = bytes / (field(&mac, "elapsed_ns")? as f64 / 1e9);
        let mac_small = sh(&mut cl, 1, &format!("roamctl --json ping 2 --mac-only --count {rtts} --size {}", small + 44))?;
        let mac_small_ns = field(&mac_small, "elapsed_ns")? as f64 / rtts as f64;
        let window = 20u64;
        step(&format!("load exchange: counting node 1's frames for {window} s"));
        let before = parse_stats(&sh(&mut cl, 1, "cat /sys/kernel/roam/stats")?);
        std::thread::sleep(Duration::from_secs(window));
        let after = parse_stats(&sh(&mut cl, 1, "cat /sys/kernel/roam/stats")?);
        let d = |k: &str| after.get(k).copied().unwrap_or(0).saturating_sub(before.get(k).copied().unwrap_or(0)) as f64 / window as f64;
        let pushes = d("load_pushes_sent");
        let sent = d("frames_sent");
        let bytes_s = d("bytes_sent");
        println!();
        println!("| measure | raw TCP | roam | ratio | goal |");
        println!("| --- | --- | --- | --- | --- |");
        println!("| round trip, {small} B | {:.1} us | {:.1} us | {:.2}x | <= 1.2x |", raw_rtt / 1e3, roam_rtt / 1e3, roam_rtt / raw_rtt);
        println!("| bulk, {} KiB frames | {:.1} MB/s | {:.1} MB/s | {:.2}x | >= 0.8x |", big / 1024, raw_bw / 1e6, roam_bw / 1e6, roam_bw / raw_bw);
        println!("| load exchange, per node | | {pushes:.2} pushes/s, {sent:.2} frames/s, {bytes_s:.0} B/s | | 1 msg/s, < 1 KB/s |");
        println!("| HMAC-SHA256 alone, {} KiB | | {:.1} MB/s | {:.2}x of raw TCP | (bound for bulk: each byte is MACed at both ends) |", big / 1024, mac_bw / 1e6, mac_bw / raw_bw);
        println!("| HMAC-SHA256 alone, one {} B frame | | {:.1} us | 4 per round trip = {:.0}% of the extra time | |", small + 44, mac_small_ns / 1e3, 400.0 * mac_small_ns / (roam_rtt - raw_rtt).max(1.0));
        Ok(serde_json::json!({
            "rtt_raw_ns": raw_rtt, "rtt_roam_ns": roam_rtt, "rtt_ratio": roam_rtt / raw_rtt,
            "bulk_raw_bps": raw_bw, "bulk_roam_bps": roam_bw, "bulk_ratio": roam_bw / raw_bw,
            "mac_bps": mac_bw, "mac_small_frame_ns": mac_small_ns,
            "load_pushes_per_s": pushes, "frames_per_s": sent, "bytes_per_s": bytes_s,
            "accel": format!("{:?}", cl.state.accel),
        }))
    })();
    cl.down(ctx)?;
    let v = r?;
    let dir = ctx.cache.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("transport.json"), serde_json::to_string_pretty(&v)?)?;
    println!("\nresults: {}", dir.join("transport.json").display());
    Ok(())
}

// ------------------------------------------------------------ migrate

/// `tests/guest/run.sh`: starts a program detached, under a parent shell
/// that records its exit status (the agent waits for every process that
/// holds its output pipe, so background programs must go through it).
use crate::config::RUN_SH;
/// Where `RUN_SH` goes on every guest.
const RUN: &str = "/tmp/run.sh";
const WORK: &str = "/usr/lib/roam/tests/migrate_work";
/// Process sizes tried (MiB), as far as the guests' memory allows.
const SIZES_MB: [u64; 5] = [1, 16, 256, 512, 1024];
/// Memory a node must have available beyond the process for a size to be
/// tried: socket buffers, the destination's image handling, the agent.
const HEADROOM_MB: u64 = 160;
/// Null-process moves each way.
const NULL_MOVES: usize = 10;
/// Length of the null process's CPU loop (about 1 s per unit under TCG):
/// long enough to outlast every move; it is killed at the end.
const SPIN_UNITS: u64 = 300;
const THROUGHPUT_GOAL: f64 = 0.8;
const NULL_GOAL_RTTS: f64 = 4.0;
/// Null-process migration times reported for Sprite and Choices.
const SPRITE_MS: f64 = 76.0;
const CHOICES_MS: f64 = 13.9;
const MIB: f64 = 1024.0 * 1024.0;

/// The value of `key:` in `/proc/meminfo` or `/proc/PID/status` text (kB).
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.split_whitespace().next()?.parse().ok())
}

/// Which of [`SIZES_MB`] to try on guests with `total_kb` of RAM when the
/// lesser MemAvailable of the two nodes involved is `avail_kb`; the others
/// with the reason they are skipped.
fn plan_sizes(total_kb: u64, avail_kb: u64) -> (Vec<u64>, Vec<(u64, String)>) {
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

fn median(v: &[u64]) -> u64 {
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
struct Move {
    /// Request to arrival; the process is frozen all that time.
    elapsed_ns: u64,
    /// Page bytes sent, as the kernel counts them (0 for a move home,
    /// which the kernel does not count).
    bytes: u64,
    /// Growth of the sender's `bytes_sent` (frames, MACs, a little load
    /// exchange traffic).
    wire_bytes: u64,
    remote_pid: u32,
}

impl Move {
    /// What throughput is computed from: the kernel's page bytes, or for a
    /// move home the sender's wire bytes.
    fn payload(&self) -> u64 {
        if self.bytes > 0 {
            self.bytes
        } else {
            self.wire_bytes
        }
    }

    fn mib_per_s(&self) -> f64 {
        self.payload() as f64 / MIB / (self.elapsed_ns.max(1) as f64 / 1e9)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "elapsed_ns": self.elapsed_ns, "freeze_ns": self.elapsed_ns, "bytes": self.bytes,
            "wire_bytes": self.wire_bytes, "mib_per_s": self.mib_per_s(), "remote_pid": self.remote_pid,
        })
    }
}

fn bytes_sent(cl: &mut Cluster, node: u32) -> Result<u64> {
    Ok(parse_stats(&sh(cl, node, "cat /sys/kernel/roam/stats")?).get("bytes_sent").copied().unwrap_or(0))
}

/// `roamctl --json migrate PID DEST` on `node`, counting `sender`'s
/// transport bytes around it.
fn migrate_once(cl: &mut Cluster, node: u32, pid: u32, dest: &str, sender: u32) -> Result<Move> {
    let before = bytes_sent(cl, sender)?;
    let out = sh(cl, node, &format!("roamctl --json migrate {pid} {dest}"))?;
    let after = bytes_sent(cl, sender)?;
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).with_context(|| format!("roamctl migrate {pid} {dest} printed {out:?}"))?;
    let num = |k: &str| v[k].as_u64().with_context(|| format!("no {k} in {out:?}"));
    Ok(Move { elapsed_ns: num("elapsed_ns")?, bytes: num("bytes")?, wire_bytes: after.saturating_sub(before), remote_pid: num("remote_pid")? as u32 })
}

/// Starts `cmd` on `node` through run.sh as NAME; its pid.
fn start(cl: &mut Cluster, node: u32, name: &str, cmd: &str) -> Result<u32> {
    let out = sh(cl, node, &format!("sh {RUN} {name} {cmd}"))?;
    out.trim().parse().with_context(|| format!("node {node}: run.sh {name} printed {out:?}, not a pid"))
}

/// Waits (up to `limit`) until NAME started by [`start`] has ended; its
/// exit status and output.
fn wait_end(cl: &mut Cluster, node: u32, name: &str, limit: Duration) -> Result<(i32, String)> {
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

fn kill9(cl: &mut Cluster, node: u32, pid: u32) {
    let _ = cl.agents[(node - 1) as usize].run(&format!("kill -9 {pid} 2>/dev/null; true"), Duration::from_secs(30));
}

/// Prints a failure loudly with what the kernels said.
fn report_failure(cl: &mut Cluster, what: &str, e: &anyhow::Error) {
    println!("    FAIL {what}: {e:#}");
    for node in [1u32, 2] {
        let log = cl.console_logs(node).pop().unwrap_or_default();
        if !cl.alive(node) {
            println!("    node {node}'s QEMU has exited; the end of its console log ({}):", log.display());
            print!("{}", crate::util::tail(&log, 40));
            continue;
        }
        match cl.agents[(node - 1) as usize].run("dmesg | tail -n 40", Duration::from_secs(60)) {
            Ok(o) => {
                println!("    node {node}: dmesg | tail -n 40");
                for l in o.text.lines() {
                    println!("      {l}");
                }
            }
            Err(e2) => println!("    node {node}: cannot read dmesg ({e2:#}); console log: {}", log.display()),
        }
    }
}

/// One process size: filled on node 1, moved to node 2 and home again,
/// then verified.
struct SizeRun {
    mb: u64,
    rss_kb: u64,
    out: Move,
    home: Move,
    verified: bool,
    verify: String,
}

fn fill_round_trip(cl: &mut Cluster, mb: u64) -> Result<SizeRun> {
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
        sh(cl, 1, &format!("kill -USR1 {pid}"))?;
        let (st, text) = wait_end(cl, 1, &name, Duration::from_secs(60 + mb / 2))?;
        let text = text.trim().to_string();
        let verified = st == 0 && text.contains(", 0 bad");
        Ok(SizeRun { mb, rss_kb, out, home, verified, verify: format!("exit {st}: {text}") })
    })();
    if r.is_err() {
        kill9(cl, 1, pid);
    }
    r
}

/// The null process: a small CPU loop moved to node 2 and home
/// [`NULL_MOVES`] times each way.
struct NullRun {
    rss_kb: u64,
    out: Vec<Move>,
    home: Vec<Move>,
    end: String,
}

fn null_moves(cl: &mut Cluster) -> Result<NullRun> {
    let pid = start(cl, 1, "spin", &format!("{WORK} spin {SPIN_UNITS}"))?;
    let r = (|| -> Result<NullRun> {
        let st = sh(cl, 1, &format!("cat /proc/{pid}/status"))?;
        let rss_kb = kb_field(&st, "VmRSS").unwrap_or(0);
        let (mut out, mut home) = (Vec::new(), Vec::new());
        for _ in 0..NULL_MOVES {
            out.push(migrate_once(cl, 1, pid, "2", 1)?);
            home.push(migrate_once(cl, 1, pid, "home", 2)?);
        }
        Ok(NullRun { rss_kb, out, home, end: String::new() })
    })();
    kill9(cl, 1, pid);
    let mut n = r?;
    let (st, text) = wait_end(cl, 1, "spin", Duration::from_secs(60))?;
    // 137: killed by SIGKILL as intended; 7 would mean it finished first.
    n.end = format!("exit {st}{}", if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) });
    Ok(n)
}

// ------------------------------------------------- system calls (Table 1)

/// One row of the system-call table.
struct CallSpec {
    /// `migrate_work sysbench` KIND.
    kind: &'static str,
    /// As the table names it.
    label: &'static str,
    /// First N locally and remotely (raised until a run takes
    /// [`SB_ENOUGH_NS`]); a remote N of 0 means one iteration, repeated in
    /// [`SB_FIRST_RUNS`] fresh processes (fork and exec bring the process
    /// home, so only the first call is remote).
    n_local: u64,
    n_remote: u64,
    /// The slowdown MOSIX reported (Table 1 of Barak, La'adan and Shiloh,
    /// 1999), if it has one.
    mosix: Option<f64>,
}

/// MOSIX's calls in its order, then the pure forwarding latency and the
/// loop baseline.
const CALLS: [CallSpec; 7] = [
    CallSpec { kind: "read1k", label: "read (1 KiB)", n_local: 20_000, n_remote: 200, mosix: Some(4.00) },
    CallSpec { kind: "write1k", label: "write (1 KiB)", n_local: 20_000, n_remote: 200, mosix: Some(2.43) },
    CallSpec { kind: "openclose", label: "open/close", n_local: 5_000, n_remote: 100, mosix: Some(2.09) },
    CallSpec { kind: "fork", label: "fork", n_local: 200, n_remote: 0, mosix: Some(2.77) },
    CallSpec { kind: "exec", label: "exec (fork + execve /bin/true + wait)", n_local: 50, n_remote: 0, mosix: Some(2.04) },
    CallSpec { kind: "getppid", label: "getppid (forwarded, no data)", n_local: 20_000, n_remote: 200, mosix: None },
    CallSpec { kind: "null", label: "empty loop iteration (baseline)", n_local: 1_000_000, n_remote: 1_000_000, mosix: None },
];
/// A run is long enough once it takes this long (guest clocks tick in 4 ms
/// jiffies)...
const SB_ENOUGH_NS: u64 = 750_000_000;
/// ... and N is scaled to aim at this.
const SB_TARGET_NS: u64 = 1_500_000_000;
/// Runs per measurement at most (the first ones are pilots).
const SB_ROUNDS: usize = 4;
const SB_MAX_N: u64 = 2_000_000_000;
/// Fresh processes for a first-call (fork, exec) remote measurement.
const SB_FIRST_RUNS: usize = 3;
/// Goal for a forwarded call with no data: this many transport round trips.
const FORWARD_GOAL_RTTS: f64 = 1.3;

/// The N to try after a run of `n` iterations took `total_ns`, or None if
/// that run was long enough (or N cannot grow).
fn next_n(n: u64, total_ns: u64) -> Option<u64> {
    if total_ns >= SB_ENOUGH_NS {
        return None;
    }
    let factor = if total_ns == 0 { 1000.0 } else { (SB_TARGET_NS as f64 / total_ns as f64).clamp(2.0, 1000.0) };
    let next = ((n as f64 * factor) as u64).min(SB_MAX_N);
    (next > n).then_some(next)
}

/// `sysbench KIND N TOTAL` from `migrate_work`'s output: (N, TOTAL).
fn parse_sysbench(out: &str, kind: &str) -> Option<(u64, u64)> {
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
pub(crate) fn wait_usr1_handler(cl: &mut Cluster, pid: u32, name: &str, what: &str) -> Result<()> {
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

/// One `migrate_work sysbench` run.
#[derive(Clone, Copy, Debug)]
struct SbRun {
    n: u64,
    total_ns: u64,
    /// The move to node 2 before the timed part, for a remote run.
    moved: Option<Move>,
    /// Transport frames nodes 1 and 2 sent from the signal to the end of
    /// a remote run (the calls, the exit replay, a little load exchange).
    frames: Option<u64>,
}

impl SbRun {
    fn per_op_ns(&self) -> f64 {
        self.total_ns as f64 / self.n.max(1) as f64
    }

    fn frames_per_op(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.n.max(1) as f64)
    }

    fn json(&self) -> serde_json::Value {
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
fn sysbench_once(cl: &mut Cluster, kind: &str, n: u64, remote: bool) -> Result<SbRun> {
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
        sh(cl, 1, &format!("kill -USR1 {pid}"))?;
        let (st, out) = wait_end(cl, 1, &name, Duration::from_secs(300))?;
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
        kill9(cl, 1, pid);
    }
    r
}

/// Runs KIND with N raised until a run is long enough; the last run.
fn sysbench_calibrated(cl: &mut Cluster, kind: &str, n0: u64, remote: bool) -> Result<SbRun> {
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
struct CallResult {
    spec: &'static CallSpec,
    local: SbRun,
    /// A long run, or (fork, exec) the first-call runs.
    remote: Vec<SbRun>,
}

impl CallResult {
    fn first_call(&self) -> bool {
        self.spec.n_remote == 0
    }

    /// Remote time per op: the mean of a long run, or the median of the
    /// first-call runs.
    fn remote_ns(&self) -> f64 {
        if self.first_call() {
            median(&self.remote.iter().map(|r| r.total_ns).collect::<Vec<_>>()) as f64
        } else {
            self.remote.first().map(SbRun::per_op_ns).unwrap_or(0.0)
        }
    }

    fn slowdown(&self) -> f64 {
        self.remote_ns() / self.local.per_op_ns().max(1e-9)
    }
}

fn measure_call(cl: &mut Cluster, spec: &'static CallSpec) -> Result<CallResult> {
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

fn fmt_us(ns: f64) -> String {
    let us = ns / 1e3;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 1.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.3}")
    }
}

/// Kernel complaints in a node's log since boot.
fn kernel_complaints(cl: &mut Cluster, node: u32) -> String {
    cl.agents[(node - 1) as usize]
        .run("dmesg | grep -E 'BUG|WARNING|Oops|Call Trace|general protection|oom' | head -n 20; true", Duration::from_secs(60))
        .map(|o| o.text.trim().to_string())
        .unwrap_or_else(|e| format!("cannot read dmesg: {e:#}"))
}

fn fmt_s(ns: u64) -> String {
    if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

pub fn migrate(ctx: &Ctx, accel: Accel) -> Result<()> {
    crate::kernel::run(ctx, Profile::Normal)?;
    let art = crate::build::run(ctx, Profile::Normal)?;
    // Its own name (and so netns roam-bench-migrate), apart from `default`,
    // the test clusters and `bench transport`.
    let spec = Spec { name: "bench-migrate".into(), nodes: 3, accel, memory_mb: 1024, cpus: 1 };
    let mut cl = cluster::up(ctx, &spec, &art)?;
    let mut failures: Vec<String> = Vec::new();
    let r = (|| -> Result<serde_json::Value> {
        configure(&mut cl, false)?;
        for node in 1..=spec.nodes {
            sh(&mut cl, node, &format!("echo {} | base64 -d > {RUN} && chmod 755 {RUN}", base64(RUN_SH.as_bytes())))?;
        }
        let peer = format!("{}.2", cluster::NET);

        step("the network between nodes 1 and 2: raw TCP bulk, roam bulk, roam round trip");
        let srv = start(&mut cl, 2, "tcpsrv", "/usr/lib/roam/tests/tcp_pingpong server 7101 300")?;
        std::thread::sleep(Duration::from_secs(1));
        let (frames, big) = (800u64, 64 * 1024u64);
        let raw = sh(&mut cl, 1, &format!("/usr/lib/roam/tests/tcp_pingpong client {peer} 7101 bulk {frames} {big}"));
        kill9(&mut cl, 2, srv);
        let raw_bps = (frames * big) as f64 / (field(&raw?, "elapsed_ns")? as f64 / 1e9);
        let rb = sh(&mut cl, 1, &format!("roamctl --json ping 2 --bulk --count {} --size {big}", frames / 2))?;
        let roam_bps = (frames / 2 * big) as f64 / (field(&rb, "elapsed_ns")? as f64 / 1e9);
        let rtts = 2000u64;
        let p = sh(&mut cl, 1, &format!("roamctl --json ping 2 --count {rtts} --size 64"))?;
        let rtt_ns = field(&p, "elapsed_ns")? as f64 / field(&p, "done")?.max(1) as f64;
        println!(
            "    raw TCP {:.1} MiB/s, roam bulk {:.1} MiB/s, roam round trip {:.0} us",
            raw_bps / MIB,
            roam_bps / MIB,
            rtt_ns / 1e3
        );

        let mut total_kb = u64::MAX;
        let mut avail_kb = u64::MAX;
        for node in [1u32, 2] {
            let m = sh(&mut cl, node, "cat /proc/meminfo")?;
            total_kb = total_kb.min(kb_field(&m, "MemTotal").context("no MemTotal")?);
            avail_kb = avail_kb.min(kb_field(&m, "MemAvailable").context("no MemAvailable")?);
        }
        let (sizes, skipped) = plan_sizes(total_kb, avail_kb);
        for (mb, why) in &skipped {
            println!("    skipping {mb} MiB: {why}");
        }

        let mut runs = Vec::new();
        for &mb in &sizes {
            step(&format!("{mb} MiB process: fill on node 1, move to node 2, move home, verify"));
            match fill_round_trip(&mut cl, mb) {
                Ok(r) => {
                    if !r.verified {
                        let msg = format!("{mb} MiB: memory NOT intact after the round trip ({})", r.verify);
                        println!("    FAIL {msg}");
                        failures.push(msg);
                    } else {
                        println!("    {mb} MiB: {}", r.verify);
                    }
                    runs.push(r);
                }
                Err(e) => {
                    report_failure(&mut cl, &format!("{mb} MiB round trip"), &e);
                    failures.push(format!("{mb} MiB round trip: {e:#}"));
                }
            }
        }

        step(&format!("null process (migrate_work spin): {NULL_MOVES} moves to node 2 and {NULL_MOVES} home"));
        let spin = match null_moves(&mut cl) {
            Ok(n) => Some(n),
            Err(e) => {
                report_failure(&mut cl, "null-process moves", &e);
                failures.push(format!("null-process moves: {e:#}"));
                None
            }
        };

        step("system calls, MOSIX's Table 1: each call at home (node 1) and migrated to node 2");
        let mut calls: Vec<CallResult> = Vec::new();
        for spec in &CALLS {
            match measure_call(&mut cl, spec) {
                Ok(c) => calls.push(c),
                Err(e) => {
                    report_failure(&mut cl, &format!("system call {}", spec.kind), &e);
                    failures.push(format!("system call {}: {e:#}", spec.kind));
                }
            }
        }

        let mut complaints = serde_json::Map::new();
        for node in 1..=spec.nodes {
            let c = kernel_complaints(&mut cl, node);
            if !c.is_empty() {
                println!("    node {node}'s kernel complained:\n{c}");
                complaints.insert(format!("node{node}"), c.into());
            }
        }

        // ---- tables
        println!();
        println!("Migration = freeze time: the kernel stops the process for the whole transfer (no pre-copy).");
        println!();
        println!("| process | move | migration = freeze time | bytes sent | throughput | memory after the round trip |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for r in &runs {
            println!(
                "| {} MiB (RSS {:.1} MiB) | node 1 -> 2 | {} | {:.1} MiB of pages | {:.1} MiB/s | |",
                r.mb,
                r.rss_kb as f64 / 1024.0,
                fmt_s(r.out.elapsed_ns),
                r.out.bytes as f64 / MIB,
                r.out.mib_per_s()
            );
            println!(
                "| | node 2 -> home | {} | {:.1} MiB on the wire | {:.1} MiB/s | {} |",
                fmt_s(r.home.elapsed_ns),
                r.home.payload() as f64 / MIB,
                r.home.mib_per_s(),
                if r.verified { format!("intact ({})", r.verify) } else { format!("**CORRUPT** ({})", r.verify) }
            );
        }
        for (mb, why) in &skipped {
            println!("| {mb} MiB | skipped: {why} | | | | |");
        }
        let largest = runs.iter().max_by_key(|r| r.mb);
        let ratio = largest.map(|r| r.out.mib_per_s() * MIB / raw_bps);
        let home_ratio = largest.map(|r| r.home.mib_per_s() * MIB / raw_bps);
        let null_out = spin.as_ref().map(|n| median(&n.out.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>()));
        let null_home = spin.as_ref().map(|n| median(&n.home.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>()));
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        println!();
        println!("| measure | value | goal | met |");
        println!("| --- | --- | --- | --- |");
        println!("| raw TCP bulk, node 1 -> 2, {} KiB writes | {:.1} MiB/s | | |", big / 1024, raw_bps / MIB);
        println!("| roam transport bulk, {} KiB frames (HMAC-SHA256 on every byte) | {:.1} MiB/s = {:.2}x raw TCP | | |", big / 1024, roam_bps / MIB, roam_bps / raw_bps);
        if let (Some(r), Some(x), Some(h)) = (largest, ratio, home_ratio) {
            println!(
                "| page transfer, {} MiB, node 1 -> 2 | {:.1} MiB/s = {x:.2}x raw TCP | >= {THROUGHPUT_GOAL}x raw TCP | {} |",
                r.mb,
                r.out.mib_per_s(),
                yes_no(x >= THROUGHPUT_GOAL)
            );
            println!("| page transfer, {} MiB, node 2 -> home | {:.1} MiB/s = {h:.2}x raw TCP | | |", r.mb, r.home.mib_per_s());
        }
        println!("| transport round trip (roamctl ping, 64 B, mean of {rtts}) | {:.0} us | | |", rtt_ns / 1e3);
        if let (Some(n), Some(o), Some(h)) = (&spin, null_out, null_home) {
            let (ro, rh) = (o as f64 / rtt_ns, h as f64 / rtt_ns);
            println!(
                "| null process ({:.0} KiB RSS, {:.0} KiB of pages), node 1 -> 2, median of {} | {} = {ro:.0} round trips | <= {NULL_GOAL_RTTS} round trips | {} |",
                n.rss_kb as f64,
                n.out.first().map(|m| m.bytes).unwrap_or(0) as f64 / 1024.0,
                n.out.len(),
                fmt_s(o),
                yes_no(ro <= NULL_GOAL_RTTS)
            );
            println!("| null process, node 2 -> home, median of {} | {} = {rh:.0} round trips | <= {NULL_GOAL_RTTS} round trips | {} |", n.home.len(), fmt_s(h), yes_no(rh <= NULL_GOAL_RTTS));
        }
        println!("| for reference: Sprite, null process | {SPRITE_MS} ms | | |");
        println!("| for reference: Choices, null process | {CHOICES_MS} ms | | |");
        if let Some(n) = &spin {
            println!(
                "\nnull-process moves (ms), to node 2: {}; home: {}; the spin process then ended with {} (137 = killed at the end, as intended)",
                n.out.iter().map(|m| format!("{:.1}", m.elapsed_ns as f64 / 1e6)).collect::<Vec<_>>().join(" "),
                n.home.iter().map(|m| format!("{:.1}", m.elapsed_ns as f64 / 1e6)).collect::<Vec<_>>().join(" "),
                n.end
            );
        }
        println!("Guest clocks tick in jiffies (4 ms): a single move's time is good to about 4 ms.");

        println!();
        println!("System calls (MOSIX Table 1): a process at home on node 1 against the same process migrated to node 2.");
        println!();
        println!("| call | local us/op | remote us/op | slowdown remote/local | MOSIX slowdown |");
        println!("| --- | --- | --- | --- | --- |");
        for c in &calls {
            let remote = if c.first_call() {
                format!("{} (first call, includes the move home; median of {})", fmt_us(c.remote_ns()), c.remote.len())
            } else {
                fmt_us(c.remote_ns())
            };
            println!(
                "| {} | {} | {remote} | {:.2} | {} |",
                c.spec.label,
                fmt_us(c.local.per_op_ns()),
                c.slowdown(),
                c.spec.mosix.map(|m| format!("{m:.2}")).unwrap_or_default()
            );
        }
        let getppid_call = calls.iter().find(|c| c.spec.kind == "getppid");
        let getppid = getppid_call.map(CallResult::remote_ns);
        let getppid_frames = getppid_call.and_then(|c| c.remote.first()).and_then(SbRun::frames_per_op);
        let fwd_rtts = getppid.map(|g| g / rtt_ns);
        if let (Some(g), Some(x)) = (getppid, fwd_rtts) {
            println!();
            println!("| measure | value | goal | met |");
            println!("| --- | --- | --- | --- |");
            println!(
                "| forwarded call (remote getppid) / transport round trip | {} us / {:.0} us = {x:.2}x{} | <= {FORWARD_GOAL_RTTS}x | {} |",
                fmt_us(g),
                rtt_ns / 1e3,
                getppid_frames.map(|f| format!(" ({f:.2} transport frames sent per call, both nodes)")).unwrap_or_default(),
                yes_no(x <= FORWARD_GOAL_RTTS)
            );
        }
        println!(
            "\nlocal and long remote runs: N raised until a run takes >= {:.2} s; per op = total / N, CLOCK_MONOTONIC in the process.",
            SB_ENOUGH_NS as f64 / 1e9
        );
        println!("fork, exec remote: the first call brings the process home (it then stays there), so each is one call in a fresh");
        println!("migrated process, timed on the home node's clock (a file's mtime); compare the null process's move home above.");
        for c in calls.iter().filter(|c| c.first_call()) {
            println!(
                "  {} remote first calls (ms): {}",
                c.spec.kind,
                c.remote.iter().map(|r| format!("{:.1}", r.total_ns as f64 / 1e6)).collect::<Vec<_>>().join(" ")
            );
        }

        let date = crate::util::output(std::process::Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Ok(serde_json::json!({
            "date": date,
            "accel": format!("{:?}", cl.state.accel),
            "host_cpus": crate::util::ncpus(),
            "note": "elapsed_ns is both the migration time and the freeze time: the process is stopped for the whole transfer (no pre-copy)",
            "guest_mem_total_kb": total_kb, "guest_mem_available_kb": avail_kb,
            "sizes": runs.iter().map(|r| serde_json::json!({
                "mb": r.mb, "rss_kb": r.rss_kb, "to_node2": r.out.json(), "home": r.home.json(),
                "verified": r.verified, "verify": r.verify,
            })).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|(mb, why)| serde_json::json!({"mb": mb, "why": why})).collect::<Vec<_>>(),
            "raw_tcp_bulk_bps": raw_bps, "roam_bulk_bps": roam_bps,
            "throughput_ratio": ratio, "throughput_ratio_home": home_ratio,
            "throughput_goal": THROUGHPUT_GOAL, "throughput_goal_met": ratio.map(|x| x >= THROUGHPUT_GOAL),
            "rtt_ns": rtt_ns,
            "null": spin.as_ref().map(|n| serde_json::json!({
                "rss_kb": n.rss_kb,
                "to_node2_ns": n.out.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>(),
                "home_ns": n.home.iter().map(|m| m.elapsed_ns).collect::<Vec<_>>(),
                "to_node2_bytes": n.out.first().map(|m| m.bytes),
                "median_to_node2_ns": null_out, "median_home_ns": null_home,
                "median_to_node2_rtts": null_out.map(|o| o as f64 / rtt_ns),
                "median_home_rtts": null_home.map(|h| h as f64 / rtt_ns),
                "goal_rtts": NULL_GOAL_RTTS,
                "goal_met": null_out.map(|o| o as f64 / rtt_ns <= NULL_GOAL_RTTS),
                "end": n.end,
            })),
            "reference_ms": {"sprite": SPRITE_MS, "choices": CHOICES_MS},
            "syscalls": {
                "note": "local = migrate_work at home on node 1, remote = the same migrated to node 2; fork and exec remote are the first call of a fresh migrated process (it brings the process home), median of the runs",
                "calls": calls.iter().map(|c| serde_json::json!({
                    "kind": c.spec.kind, "call": c.spec.label,
                    "local": c.local.json(), "local_us_per_op": c.local.per_op_ns() / 1e3,
                    "remote": c.remote.iter().map(SbRun::json).collect::<Vec<_>>(),
                    "remote_us_per_op": c.remote_ns() / 1e3,
                    "remote_is_first_call_including_move_home": c.first_call(),
                    "slowdown": c.slowdown(), "mosix_slowdown": c.spec.mosix,
                })).collect::<Vec<_>>(),
                "rtt_ns": rtt_ns,
                "forwarded_call_ns": getppid,
                "forwarded_call_rtts": fwd_rtts,
                "forwarded_call_frames": getppid_frames,
                "forwarded_goal_rtts": FORWARD_GOAL_RTTS,
                "forwarded_goal_met": fwd_rtts.map(|x| x <= FORWARD_GOAL_RTTS),
            },
            "kernel_complaints": complaints,
            "failures": failures,
        }))
    })();
    cl.down(ctx)?;
    let v = r?;
    let dir = ctx.cache.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("migrate.json"), serde_json::to_string_pretty(&v)?)?;
    println!("\nresults: {}", dir.join("migrate.json").display());
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
        let m = Move { elapsed_ns: 2_000_000_000, bytes: 64 << 20, wire_bytes: 65 << 20, remote_pid: 7 };
        assert!((m.mib_per_s() - 32.0).abs() < 1e-9);
        let home = Move { bytes: 0, ..m };
        assert!((home.mib_per_s() - 32.5).abs() < 1e-9);
    }

    #[test]
    fn sysbench_helpers() {
        assert_eq!(parse_sysbench("sysbench read1k 2000 1500000000\n", "read1k"), Some((2000, 1_500_000_000)));
        assert_eq!(parse_sysbench("noise\nsysbench fork 1 80000000\n", "fork"), Some((1, 80_000_000)));
        assert_eq!(parse_sysbench("sysbench fork 1 80000000\n", "exec"), None);
        assert_eq!(parse_sysbench("sysbench fork 1\n", "fork"), None);
        assert!(catches_usr1("Name:\tmigrate_work\nSigIgn:\t0000000000001000\nSigCgt:\t0000000000000640\n"));
        assert!(!catches_usr1("SigCgt:\t0000000000000440\n"));
        assert!(!catches_usr1("Name:\tx\n"));
        assert_eq!(next_n(1000, 800_000_000), None);
        assert_eq!(next_n(200, 150_000_000), Some(2000));
        assert_eq!(next_n(1000, 0), Some(1_000_000));
        assert_eq!(next_n(1000, 700_000_000), Some(2142));
        assert_eq!(next_n(1000, 740_000_000), Some(2027));
        assert_eq!(next_n(SB_MAX_N, 1), None);
        assert!(CALLS.iter().all(|c| c.n_local > 0));
        let mosix: Vec<_> = CALLS.iter().filter_map(|c| c.mosix).collect();
        assert_eq!(mosix, vec![4.00, 2.43, 2.09, 2.77, 2.04]);
    }

    #[test]
    fn run_sh_prints_the_pid() {
        assert!(RUN_SH.starts_with("#!/bin/sh") && RUN_SH.contains("/tmp/$name.st"));
    }
}
