//! Scenarios of placement: `roamrun` (--lock, --best, --on, --nodes, a
//! program that does not exist) and `roamctl allow`, and the balancer
//! keeping to a process's allowed nodes.
//!
//! Calls only [`super::ctx`].

use super::ctx::{count, event_seq, secs, Ctx, W};
use anyhow::Result;
use std::time::Duration;

/// The load node `viewer` sees for node `id` (0 if unknown).
fn load_seen(c: &mut Ctx, viewer: u32, id: u32) -> u64 {
    c.view_of(viewer, id).and_then(|l| l.get("load").and_then(|v| v.parse().ok())).unwrap_or(0)
}

/// The pid `roamrun` reports for its program (`roamrun: pid N ...`).
fn roamrun_child(out: &str) -> Option<u32> {
    out.lines().find_map(|l| l.strip_prefix("roamrun: pid ")?.split_whitespace().next()?.parse().ok())
}

/// `roamrun` and `roamctl allow`: starting programs locked, restricted to
/// some nodes, or on the best node now.
pub(super) fn run(c: &mut Ctx) -> Result<()> {
    // Node 1 busy with two locked local jobs, node 3 with one job, node 2
    // idle; node 4 stays out (not in the allowed lists below).
    let locked: Vec<u32> = (1..=2).filter_map(|j| c.start(1, &format!("pinned{j}"), &format!("roamrun --lock {W} spin 400")).ok()).collect();
    let busy3 = c.start(3, "busy3", &format!("{W} spin 400"));
    let loaded = c.wait(Duration::from_secs(60), |c| load_seen(c, 1, 1) >= 1500 && load_seen(c, 1, 3) >= 600);
    let why = locked.first().map(|p| c.sh(1, &format!("roamctl why {p}")).map(|o| o.text).unwrap_or_default()).unwrap_or_default();
    let (l1, l3) = (load_seen(c, 1, 1), load_seen(c, 1, 3));
    c.check(
        "roamrun: --lock starts the program locked (same pid, roamctl why says locked)".into(),
        locked.len() == 2 && why.contains("locked") && loaded.is_some() && busy3.is_ok(),
        format!("{locked:?}; {why}; loads seen by node 1: self {l1}, node 3 {l3}; node 3's job: {busy3:?}"),
    );

    // --best among nodes 2 and 3: node 2, the idle one.
    let rr = c.start(1, "best", &format!("roamrun --best --nodes 2,3 {W} spin 400"))?;
    let mut out = String::new();
    let _ = c.wait(Duration::from_secs(60), |c| {
        out = c.output(1, "best");
        roamrun_child(&out).is_some()
    });
    let child = roamrun_child(&out).unwrap_or(0);
    let w = c.where_is(1, child);
    c.check(
        "roamrun: --best starts the program on the least-loaded allowed node (2)".into(),
        child != 0 && out.contains("runs on node 2") && w.starts_with("node 2"),
        format!("{out}\nwhere: {w}"),
    );
    let _ = c.sh(1, &format!("kill -TERM {rr}"));
    let st = c.status(1, "best", Duration::from_secs(60));
    c.check("roamrun: SIGTERM to roamrun reaches the program; roamrun exits 143".into(), st == Some(143), format!("{st:?}"));

    // --on: remote invocation to a given node; it runs there to its end
    // (no move away from node 2 is logged there) and the exit status
    // comes back.
    let seq0 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text.lines().filter_map(event_seq).max().unwrap_or(0)).unwrap_or(0);
    let _ = c.start(1, "on2", &format!("roamrun --on 2 {W} exitcode 42 48"))?;
    let st = c.status(1, "on2", Duration::from_secs(120));
    let out = c.output(1, "on2");
    let there: Option<u32> = out.split("(pid ").nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok());
    let ev2 = c.sh(2, "cat /sys/kernel/roam/events").map(|o| o.text).unwrap_or_default();
    let left = there.map(|p| ev2.lines().any(|l| event_seq(l).unwrap_or(0) > seq0 && l.contains(&format!(" pid={p} ")))).unwrap_or(true);
    c.check(
        "roamrun: --on 2 runs the program on node 2 to its end and exits with its status (42)".into(),
        st == Some(42) && out.contains("runs on node 2") && !left,
        format!("{st:?}: {out}\nnode 2 events:\n{ev2}"),
    );
    let o = c.sh(1, "roamrun /nonexistent/program; echo rc=$?")?;
    c.check(
        "roamrun: a program that does not exist: status 127 and a message".into(),
        o.text.contains("rc=127") && o.text.contains("cannot run"),
        o.text,
    );

    // --nodes 3: roamctl allow shows it; a move to node 2 is refused; the
    // balancer moves it to node 3 only (node 2 is lighter).
    let only3 = c.start(1, "only3", &format!("roamrun --nodes 3 {W} spin 400"))?;
    let shown = c.sh(1, &format!("roamctl allow {only3}")).map(|o| o.text).unwrap_or_default();
    let m = c.migrate(1, only3, "2");
    let w = c.where_is(1, only3);
    c.check(
        "roamrun: --nodes 3: roamctl allow shows it, and a move to node 2 is refused".into(),
        shown.contains("may run on nodes 3") && m.rc != 0 && m.text.contains("does not accept") && w == "home",
        format!("{shown}\n{}\nwhere: {w}", m.text),
    );
    let before = c.balancer_done(1);
    let _ = c.set(1, "balance", "1");
    let mut seen = String::new();
    let moved = c.wait(Duration::from_secs(90), |c| {
        seen = c.where_is(1, only3);
        seen.starts_with("node 3")
    });
    let after = c.balancer_done(1);
    let _ = c.set(1, "balance", "0");
    let places = c.places(&locked);
    c.check(
        format!(
            "balance: a process allowed only on node 3 goes there, not to the lighter node 2 ({})",
            secs(moved)
        ),
        moved.is_some() && after > before && count(&places, "home") == 2,
        format!("where: {seen}; locked jobs: {places:?}; balancer migrations {before} -> {after}"),
    );

    for p in locked.iter().chain([only3].iter()) {
        let _ = c.sh(1, &format!("kill -KILL {p}"));
    }
    if let Ok(p) = busy3 {
        let _ = c.sh(3, &format!("kill -KILL {p}"));
    }
    let gone = c.wait(Duration::from_secs(30), |c| c.sh(1, "cat /sys/kernel/roam/away").map(|o| o.text.trim().is_empty()).unwrap_or(false));
    c.check("roamrun: nothing of node 1 is away at the end".into(), gone.is_some(), String::new());
    Ok(())
}
