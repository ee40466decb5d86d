//! Scenarios of pre-copy migration (`roamctl migrate --mode precopy`),
//! node 1 being home: a process that keeps rewriting its memory moves
//! while it runs, is stopped for a fraction of the move, and comes back
//! with every word as its own writes left it; one that writes faster
//! than pages go still moves intact; and a destination that dies during
//! pre-copy leaves the process running at home, intact.
//!
//! Calls only [`super::ctx`] and `guest` (its `Output`).

use super::ctx::{Ctx, W};
use crate::guest::Output;
use anyhow::Result;
use serde_json::Value;
use std::time::Duration;

/// What `roamctl --json migrate` printed, parsed (`Null` if it was not
/// JSON).
fn parsed(o: &Output) -> Value {
    serde_json::from_str(o.text.trim()).unwrap_or(Value::Null)
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// The expected last line of `migrate_work scribble MB`: every word
/// checked, none bad.
fn intact(out: &str, mb: u64) -> bool {
    out.lines().any(|l| l.starts_with("scribbled ") && l.ends_with(&format!(", verified {} words, 0 bad", mb << 17)))
}

pub(super) fn run(c: &mut Ctx, toml: &str) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 600 } else { 240 });
    let mb: u64 = if c.debug { 16 } else { 48 };
    // Below what the wire carries: the debug kernel sends a tenth as fast.
    let rate: u64 = if c.debug { 1 } else { 4 };
    let json_migrate = |c: &mut Ctx, pid: u32, dest: &str| {
        c.cl.agents[0]
            .run(&format!("roamctl --json migrate {pid} {dest} --mode precopy"), long)
            .unwrap_or(Output { rc: -1, text: "agent failed".into() })
    };

    // A process rewriting its memory at 4 MiB/s (1 on the debug kernel;
    // below what the wire carries) moves with pre-copy: it is stopped for less than half of
    // the move, runs on node 2 afterwards, and, brought home, finds every
    // word as its own writes left it (a page lost or left stale shows).
    let pid = c.start(1, "pre", &format!("{W} scribble {mb} {rate} 600"))?;
    c.wait(Duration::from_secs(120), |c| c.rss_kb(1, pid) > mb * 1024);
    let m = json_migrate(c, pid, "2");
    let v = parsed(&m);
    let (rounds, freeze, elapsed, bytes, rp) = (num(&v, "rounds"), num(&v, "freeze_ns"), num(&v, "elapsed_ns"), num(&v, "bytes"), num(&v, "remote_pid"));
    let wh = c.where_is(1, pid);
    let comm = c.sh(2, &format!("cat /proc/{rp}/comm")).map(|o| o.text.trim().to_string()).unwrap_or_default();
    c.check(
        format!("precopy: a process rewriting {mb} MiB at {rate} MiB/s moves to node 2 while it runs (rounds >= 2, stopped for under half of the move, all its memory sent)"),
        m.rc == 0 && rounds >= 2 && freeze > 0 && freeze * 2 < elapsed && bytes >= mb << 20 && wh.starts_with("node 2") && comm == "migrate_work",
        format!("{}\nrounds {rounds}, stopped {} ms of {} ms, {bytes} bytes; where: {wh}; comm of pid {rp} on node 2: {comm:?}", m.text, freeze / 1_000_000, elapsed / 1_000_000),
    );
    let home = c.migrate(1, pid, "home");
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "pre", long);
    let out = c.output(1, "pre");
    c.check(
        "precopy: brought home, every word holds what its writes before, during and after pre-copy left".into(),
        home.rc == 0 && st == Some(0) && intact(&out, mb),
        format!("{}status {st:?}, output {out:?}", home.text),
    );

    // Writing flat out (faster than pages go on a TCG guest): the rounds
    // stop shrinking or run out (not converged: the log says which), the
    // rest goes with the process stopped, and its memory is intact.
    let fast: u64 = 16;
    let pid = c.start(1, "prefast", &format!("{W} scribble {fast} 0 600"))?;
    c.wait(Duration::from_secs(120), |c| c.rss_kb(1, pid) > fast * 1024);
    let m = json_migrate(c, pid, "3");
    let v = parsed(&m);
    let log = c.sh(1, &format!("dmesg | grep 'pid {pid}: pre-copy to node 3' | tail -n 1")).map(|o| o.text.trim().to_string()).unwrap_or_default();
    let home = c.migrate(1, pid, "home");
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "prefast", long);
    let out = c.output(1, "prefast");
    c.check(
        format!("precopy: a process rewriting {fast} MiB flat out moves (pre-copy ends, the rest goes stopped, the log says why) and comes home intact"),
        m.rc == 0
            && num(&v, "rounds") >= 1
            && (log.ends_with("(writes as fast as pages go)") || log.ends_with("(rounds or time ran out)"))
            && home.rc == 0
            && st == Some(0)
            && intact(&out, fast),
        format!("{}\nlog: {log}\n{}status {st:?}, output {out:?}", m.text, home.text),
    );

    // The destination dies during pre-copy: the move fails, and the
    // process, which kept running, goes on at home with its memory
    // intact.
    let pid = c.start(1, "prelost", &format!("{W} scribble {mb} {rate} 600"))?;
    c.wait(Duration::from_secs(120), |c| c.rss_kb(1, pid) > mb * 1024);
    let sent0 = c.stats(1).get("bytes_sent").copied().unwrap_or(0);
    let _ = c.start(1, "premig", &format!("roamctl migrate {pid} 4 --mode precopy"))?;
    let mut sent = 0;
    let under_way = c.wait(Duration::from_secs(60), |c| {
        sent = c.stats(1).get("bytes_sent").copied().unwrap_or(0).saturating_sub(sent0);
        sent >= 8 << 20
    });
    c.cl.kill_node(4);
    let mst = c.status(1, "premig", Duration::from_secs(90));
    let mout = c.output(1, "premig");
    let wh = c.where_is(1, pid);
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, "prelost", long);
    let out = c.output(1, "prelost");
    c.check(
        "precopy: the destination dies during pre-copy (8 MiB sent); the move fails with its reason and the process goes on at home with its memory intact".into(),
        under_way.is_some() && mst.is_some() && mst != Some(0) && !mout.trim().is_empty() && wh == "home" && st == Some(0) && intact(&out, mb),
        format!("sent {sent} bytes before the kill; migrate status {mst:?}: {mout}\nwhere: {wh}\nstatus {st:?}, output {out:?}"),
    );
    c.cl.restart_node(4)?;
    let back = c.reconfigure(4, toml)?;
    c.check("precopy: node 4 restarts and rejoins".into(), back, String::new());
    Ok(())
}
