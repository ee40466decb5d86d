//! The adopt stub pool: node 2 keeps `adopt_pool` stubs parked
//! (`roam-parked` in its process table); an arrival becomes one of those
//! very processes (the remote pid is a parked stub's), the pool refills,
//! and with `adopt_pool` 0 the parked stubs are gone and an arrival gets a
//! stub started for it. Unloading with parked stubs is in
//! [`super::transport::reload`].
//!
//! Calls only [`super::ctx`].

use super::ctx::{Ctx, W};
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// Pids of `node`'s parked stubs.
fn parked(c: &mut Ctx, node: u32) -> Vec<u32> {
    let text = c.sh(node, "grep -lx roam-parked /proc/[0-9]*/comm 2>/dev/null").map(|o| o.text).unwrap_or_default();
    let mut v: Vec<u32> = text.lines().filter_map(|l| l.strip_prefix("/proc/")?.strip_suffix("/comm")?.parse().ok()).collect();
    v.sort_unstable();
    v
}

/// `name`'s value in `node`'s `/sys/kernel/roam/migrations`.
fn counter(c: &mut Ctx, node: u32, name: &str) -> Option<u64> {
    c.sh(node, &format!("sed -n 's/^{name} //p' /sys/kernel/roam/migrations")).ok()?.text.trim().parse().ok()
}

/// `roamctl --json migrate PID 2` on node 1: (remote pid, what it printed).
fn migrate_to_2(c: &mut Ctx, pid: u32) -> (Option<u32>, String) {
    let text = c.sh(1, &format!("roamctl --json migrate {pid} 2")).map(|o| o.text).unwrap_or_default();
    let v: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    (v.get("remote_pid").and_then(Value::as_u64).map(|p| p as u32), text)
}

pub(super) fn run(c: &mut Ctx) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 600 } else { 240 });
    let full = c.wait(Duration::from_secs(30), |c| parked(c, 2).len() == 2);
    let before = parked(c, 2);
    let setting = c.sh(2, "cat /sys/kernel/roam/adopt_pool").map(|o| o.text.trim().to_string()).unwrap_or_default();
    let gauge = counter(c, 2, "adopt_stubs_parked");
    c.check(
        "adopt pool: node 2 keeps adopt_pool (2) stubs parked, as its process table and migrations file say".into(),
        full.is_some() && setting == "2" && gauge == Some(2),
        format!("adopt_pool {setting:?}; parked {before:?}; adopt_stubs_parked {gauge:?}"),
    );

    // An arrival becomes a parked stub: the very process, by pid.
    let (p0, s0) = (counter(c, 2, "adoptions_parked"), counter(c, 2, "adoptions_started"));
    let pid = c.start(1, "pooled", &format!("{W} spin 3"))?;
    let ppid = c.sh(1, &format!("cut -d' ' -f4 /proc/{pid}/stat"))?.text.trim().to_string();
    let (rpid, text) = migrate_to_2(c, pid);
    let comm = match rpid {
        Some(p) => c.sh(2, &format!("cat /proc/{p}/comm")).map(|o| o.text.trim().to_string()).unwrap_or_default(),
        None => String::new(),
    };
    let (p1, s1) = (counter(c, 2, "adoptions_parked"), counter(c, 2, "adoptions_started"));
    let st = c.status(1, "pooled", long);
    let out = c.output(1, "pooled");
    c.check(
        "adopt pool: a process moved to node 2 runs there as one of its parked stubs (same pid), counted as a parked adoption, and ends at home with its pid, ppid and status".into(),
        rpid.is_some_and(|p| before.contains(&p))
            && comm == "migrate_work"
            && p1.zip(p0).is_some_and(|(a, b)| a == b + 1)
            && s1 == s0
            && st == Some(7)
            && out.trim() == format!("pid {pid} ppid {ppid} done"),
        format!("{text}parked before {before:?}; remote pid {rpid:?} ({comm:?}); adoptions parked {p0:?} -> {p1:?}, started {s0:?} -> {s1:?}; status {st:?}, output {out:?}"),
    );
    // The pool refills with new stubs.
    let mut now = Vec::new();
    let refilled = c.wait(Duration::from_secs(30), |c| {
        now = parked(c, 2);
        now.len() == 2 && rpid.is_none_or(|p| !now.contains(&p))
    });
    c.check("adopt pool: node 2's pool refills after the arrival".into(), refilled.is_some(), format!("parked now {now:?}"));
    // A parked stub is not a process to move.
    let stub = now.first().copied().unwrap_or(0);
    let m = c.migrate(2, stub, "3");
    let why = c.sh(2, &format!("roamctl --json why {stub}")).map(|o| o.text).unwrap_or_default();
    let still = parked(c, 2);
    c.check(
        "adopt pool: a parked stub cannot be migrated (roamctl why: adopt-stub) and stays parked".into(),
        stub != 0 && m.rc != 0 && why.contains("adopt-stub") && still.contains(&stub),
        format!("{}why: {why:?}; parked {still:?}", m.text),
    );

    // adopt_pool 0: the parked stubs end, and an arrival gets a new stub.
    let set0 = c.set(2, "adopt_pool", "0");
    let emptied = c.wait(Duration::from_secs(30), |c| parked(c, 2).is_empty() && counter(c, 2, "adopt_stubs_parked") == Some(0));
    let old = parked(c, 2);
    let (p0, s0) = (counter(c, 2, "adoptions_parked"), counter(c, 2, "adoptions_started"));
    let pid = c.start(1, "unpooled", &format!("{W} spin 3"))?;
    let (rpid2, text) = migrate_to_2(c, pid);
    let (p1, s1) = (counter(c, 2, "adoptions_parked"), counter(c, 2, "adoptions_started"));
    let st = c.status(1, "unpooled", long);
    let after0 = parked(c, 2);
    c.check(
        "adopt pool: with adopt_pool 0 node 2 parks no stub, and an arrival gets a stub started for it".into(),
        set0 && emptied.is_some()
            && rpid2.is_some_and(|p| !before.contains(&p) && !now.contains(&p))
            && s1.zip(s0).is_some_and(|(a, b)| a == b + 1)
            && p1 == p0
            && st == Some(7)
            && after0.is_empty(),
        format!("{text}parked while 0: {old:?} then {after0:?}; remote pid {rpid2:?}; adoptions parked {p0:?} -> {p1:?}, started {s0:?} -> {s1:?}; status {st:?}"),
    );
    let set2 = c.set(2, "adopt_pool", "2");
    let back = c.wait(Duration::from_secs(30), |c| parked(c, 2).len() == 2);
    // Only root sets it; out-of-range values are refused.
    let o = c.sh(
        2,
        "/usr/lib/roam/tests/roam_perms --run-as 65534 /bin/sh -c 'echo 5 > /sys/kernel/roam/adopt_pool' 2>&1; echo \"nobody: $?\"; \
         (echo 9 > /sys/kernel/roam/adopt_pool) 2>&1; echo \"nine: $?\"; echo \"now: $(cat /sys/kernel/roam/adopt_pool)\"",
    );
    let o = o.map(|o| o.text).unwrap_or_default();
    let last = parked(c, 2);
    let refused = |what: &str| o.lines().any(|l| l.strip_prefix(what).is_some_and(|rc| rc.trim() != "0"));
    c.check(
        "adopt pool: set back to 2 it refills; a non-root write and a value over 8 are refused".into(),
        set2 && back.is_some() && refused("nobody:") && refused("nine:") && o.lines().any(|l| l == "now: 2"),
        format!("parked {last:?}; writes: {o:?}"),
    );

    // Round trips leave the address space as it was: the restorer's
    // scratch area a homecoming leaves is not carried on the next move
    // (it was, and each round trip added 80 KiB).
    let pid = c.start(1, "roundtrips", &format!("{W} spin 200"))?;
    let mut sizes = Vec::new();
    let mut moved = String::new();
    for _ in 0..3 {
        let there = c.migrate(1, pid, "2");
        let back = c.migrate(1, pid, "home");
        moved.push_str(&there.text);
        moved.push_str(&back.text);
        let size = c.sh(1, &format!("sed -n 's/^VmSize:[[:space:]]*//p' /proc/{pid}/status")).map(|o| o.text.trim().to_string()).unwrap_or_default();
        sizes.push(if there.rc == 0 && back.rc == 0 { size } else { String::new() });
    }
    let _ = c.sh(1, &format!("kill {pid}"));
    c.check(
        "arrivals: three round trips to node 2 leave the process's address space the same size at home".into(),
        sizes.len() == 3 && !sizes[0].is_empty() && sizes.iter().all(|s| *s == sizes[0]),
        format!("{moved}VmSize at home after each round trip: {sizes:?}"),
    );
    Ok(())
}
