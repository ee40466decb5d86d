//! The zdtm-style transparency suite (`tests/src/bin/zdtm.rs`, modelled
//! on CRIU's zdtm static tests): every program it lists is run once where
//! it started and once moved 1 → 2 → 3 → home while it waits, each hop
//! shown on the remote's own `/proc`; on SIGTERM it checks its own state,
//! and both runs must print the same `READY`/`PASS` lines and exit 0.
//! Also checks that the moves of a process already away report the bytes
//! they carried.
//!
//! Calls only [`super::ctx`].

use super::ctx::Ctx;
use anyhow::Result;
use std::time::Duration;

/// The suite's program in the guest image.
const Z: &str = "/usr/lib/roam/tests/zdtm";

/// Runs every test of the suite.
pub(super) fn run(c: &mut Ctx) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 300 } else { 120 });
    let list = c.sh(1, &format!("{Z} list"))?;
    let names: Vec<String> = list.text.split_whitespace().map(str::to_string).collect();
    c.check("zdtm: the suite lists its programs".into(), list.rc == 0 && !names.is_empty(), list.text.clone());
    let mut bytes_ok = true;
    let mut bytes_detail = String::new();
    for name in &names {
        let reference = run_one(c, name, &[], long)?;
        let moved = run_one(c, name, &[("2", 2), ("3", 3), ("home", 1)], long)?;
        let want = format!("READY {name}\nPASS {name}");
        for m in moved.moves.iter().skip(1) {
            // Hops of a process already away (2 -> 3, 3 -> home).
            if m.trim_end().ends_with(" 0 B") || !m.contains("B") {
                bytes_ok = false;
                bytes_detail.push_str(m);
            }
        }
        c.check(
            format!("zdtm {name}: passes moved 1 -> 2 -> 3 -> home (running on each remote), as it does unmigrated"),
            reference.ok(&want) && moved.ok(&want) && moved.hops_ok,
            format!("unmigrated: {}\nmoved: {}\nmoves:\n{}", reference.describe(), moved.describe(), moved.moves.join("")),
        );
    }
    c.check("zdtm: moves of a process already away report the bytes they carried".into(), bytes_ok && !names.is_empty(), bytes_detail);
    Ok(())
}

/// One run of test `name`.
struct Run {
    status: Option<i32>,
    output: String,
    /// What each `roamctl migrate` printed.
    moves: Vec<String>,
    /// Every move succeeded and the process ran where it was sent.
    hops_ok: bool,
}

impl Run {
    fn ok(&self, want: &str) -> bool {
        self.status == Some(0) && self.output.trim() == want
    }

    fn describe(&self) -> String {
        format!("status {:?}, output {:?}", self.status, self.output.trim())
    }
}

/// Starts test `name` on node 1, waits for `READY`, makes each move in
/// `hops` (destination as `roamctl migrate` takes it, and its node),
/// checking the process is there and still there 0.7 s later, then sends
/// SIGTERM and collects the result.
fn run_one(c: &mut Ctx, name: &str, hops: &[(&str, u32)], long: Duration) -> Result<Run> {
    let tag = format!("zdtm-{name}-{}", if hops.is_empty() { "ref" } else { "moved" });
    let pid = c.start(1, &tag, &format!("{Z} {name}"))?;
    let ready = c.wait(Duration::from_secs(30), |c| c.output(1, &tag).starts_with("READY ")).is_some();
    let mut hops_ok = ready;
    let mut moves = Vec::new();
    for &(dest, node) in hops {
        let m = c.migrate(1, pid, dest);
        let mut note = String::new();
        let there = if node == 1 {
            c.where_is(1, pid) == "home" && c.sh(1, &format!("grep -c zdtm /proc/{pid}/comm")).map(|o| o.text.trim() == "1").unwrap_or(false)
        } else {
            // The remote's own view: its pid there is a live zdtm task.
            let remote: Option<u32> = m.text.split("remote pid ").nth(1).and_then(|r| r.split(')').next()?.parse().ok());
            let comm = remote.and_then(|p| c.sh(node, &format!("cat /proc/{p}/comm")).ok()).map(|o| o.text.trim().to_string());
            let arrived = c.where_is(1, pid).starts_with(&format!("node {node}")) && comm.as_deref() == Some("zdtm");
            // And it stays there while it waits: nothing it does meanwhile
            // brings it home.
            std::thread::sleep(Duration::from_millis(700));
            let later = c.where_is(1, pid);
            if arrived && !later.starts_with(&format!("node {node}")) {
                note = format!(" [0.7 s later it was no longer there: where says {later:?}]");
            }
            arrived && note.is_empty()
        };
        hops_ok &= m.rc == 0 && there;
        moves.push(format!("  -> {dest}: rc {} {}{note}", m.rc, m.text));
    }
    let _ = c.sh(1, &format!("kill -TERM {pid}"));
    let status = c.status(1, &tag, long);
    let output = c.output(1, &tag);
    Ok(Run { status, output, moves, hops_ok })
}
