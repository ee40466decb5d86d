//! Faults injected at each phase of a migration, on each side
//! (`/sys/kernel/roam/failpoint`, `kmod/proto/src/faults.rs`): a move
//! from home to node 2 and a move home from node 2, each failed once at
//! one phase, and the link closed mid-transfer and under a forwarded call.
//! Every case checks, by content, where the process ends up: it carries on
//! intact where it was (the move failed and said so), or intact where it
//! went (a closed link is reopened: a forwarded call), or, when the commit point was passed
//! and the other side never heard (a lost `Go`, a stub that cannot take
//! the process over), it is killed cleanly and its parent sees SIGKILL.
//! Each case also checks that its failpoint fired (the node's log) and
//! disarmed itself, and the last one that nothing is left on node 2.
//!
//! The workload is `migrate_work fill 4`: 4 MiB of known words, verified
//! word by word when SIGUSR1 comes (`tests/src/bin/migrate_work.rs`).
//!
//! Calls only [`super::ctx`].

use super::ctx::{Ctx, W};
use anyhow::Result;
use std::time::Duration;

const MB: u64 = 4;

/// How a case must end.
#[derive(Clone, Copy, PartialEq)]
enum End {
    /// The move fails and the process goes on where it was.
    Stays,
    /// The move succeeds, or fails and says so (frames of one move on two
    /// connections may be read out of order, which the destination
    /// refuses): the process is intact where `where` says.
    Either,
    /// Past the commit point and never heard of: killed cleanly.
    Killed,
}

/// One fault: the failpoint written on `node` before a move `home_first`
/// (the process is moved to node 2 first and the faulted move brings it
/// home) or from home to node 2.
struct Case {
    spec: &'static str,
    node: u32,
    homecoming: bool,
    end: End,
    what: &'static str,
}

const CASES: &[Case] = &[
    Case { spec: "out_begin", node: 1, homecoming: false, end: End::Stays, what: "home's Begin does not leave" },
    Case { spec: "out_pages 8", node: 1, homecoming: false, end: End::Stays, what: "home's ninth batch of pages does not leave" },
    Case { spec: "out_commit", node: 1, homecoming: false, end: End::Stays, what: "home's Commit does not leave" },
    Case { spec: "in_admit", node: 2, homecoming: false, end: End::Stays, what: "node 2 refuses the image at its Begin" },
    Case { spec: "in_pages 8", node: 2, homecoming: false, end: End::Stays, what: "node 2 fails on the ninth batch of pages" },
    Case { spec: "in_registers", node: 2, homecoming: false, end: End::Stays, what: "node 2 fails to build the restorer, every page in" },
    Case { spec: "in_commit", node: 2, homecoming: false, end: End::Stays, what: "node 2 refuses at the commit" },
    Case { spec: "out_link 4", node: 1, homecoming: false, end: End::Either, what: "home's link to node 2 closes mid-transfer" },
    Case { spec: "out_go", node: 1, homecoming: false, end: End::Killed, what: "home's Go is lost" },
    Case { spec: "in_adopt", node: 2, homecoming: false, end: End::Killed, what: "node 2's stub fails to take the process over after the Go" },
    Case { spec: "out_pages 8", node: 2, homecoming: true, end: End::Stays, what: "node 2's ninth batch of pages home does not leave" },
    Case { spec: "in_pages 8", node: 1, homecoming: true, end: End::Stays, what: "home fails on the ninth batch of pages" },
    Case { spec: "in_registers", node: 1, homecoming: true, end: End::Stays, what: "home fails to build the restorer, every page in" },
    Case { spec: "in_commit", node: 1, homecoming: true, end: End::Stays, what: "home refuses at the commit" },
    Case { spec: "out_go", node: 2, homecoming: true, end: End::Killed, what: "node 2's Go home is lost" },
];

/// Every word verified, none bad.
fn intact(out: &str) -> bool {
    out.contains(&format!("verified {} words, 0 bad", MB << 17))
}

/// How many times `phase`'s failpoint fired on `node` (its log).
fn fired(c: &mut Ctx, node: u32, phase: &str) -> u64 {
    c.sh(node, &format!("dmesg | grep -c 'failpoint {phase}: failure injected'")).ok().and_then(|o| o.text.trim().parse().ok()).unwrap_or(0)
}

pub(super) fn run(c: &mut Ctx) -> Result<()> {
    let long = Duration::from_secs(if c.debug { 300 } else { 120 });
    // Out of range, unknown, extra words: refused, and nothing armed
    // (`roam_perms` refuses users' writes to every writable file).
    let bad = c.sh(1, "for v in 'in_pages 1000001' nosuch 'in_pages 1 2'; do echo $v > /sys/kernel/roam/failpoint 2>/dev/null && echo taken; done; cat /sys/kernel/roam/failpoint")?;
    c.check(
        "faults: failpoint refuses a skip out of range, an unknown phase, and extra words, and stays disarmed".into(),
        bad.rc == 0 && bad.text.trim() == "none",
        bad.text,
    );
    for (i, k) in CASES.iter().enumerate() {
        case(c, long, i, k)?;
    }
    call_link(c, long)?;
    c.check_no_guests_left("faults: after every case node 2 keeps no guest and no task of them".into(), 2);
    Ok(())
}

fn case(c: &mut Ctx, long: Duration, i: usize, k: &Case) -> Result<()> {
    let tag = format!("fault{i}");
    let phase = k.spec.split(' ').next().unwrap_or(k.spec);
    let pid = c.start(1, &tag, &format!("{W} fill {MB} 600"))?;
    c.wait(Duration::from_secs(60), |c| c.rss_kb(1, pid) >= MB * 1024);
    let first = if k.homecoming { Some(c.migrate(1, pid, "2")) } else { None };
    let n0 = fired(c, k.node, phase);
    let armed = c.set(k.node, "failpoint", k.spec);
    let m = c.migrate(1, pid, if k.homecoming { "home" } else { "2" });
    let n1 = fired(c, k.node, phase);
    let left = c.sh(k.node, "cat /sys/kernel/roam/failpoint").map(|o| o.text.trim().to_string()).unwrap_or_default();
    let wh = c.where_is(1, pid);
    let (was, went) = if k.homecoming { ("node 2", "home") } else { ("home", "node 2") };
    let place_ok = match k.end {
        End::Stays => m.rc != 0 && wh.starts_with(was),
        End::Either => (m.rc == 0 && wh.starts_with(went)) || (m.rc != 0 && wh.starts_with(was)),
        End::Killed => true,
    };
    if k.end != End::Killed {
        let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    }
    let st = c.status(1, &tag, long);
    let out = c.output(1, &tag);
    let ended_ok = match k.end {
        End::Killed => st == Some(137),
        _ => st == Some(0) && intact(&out),
    };
    let first_ok = first.as_ref().map_or(true, |f| f.rc == 0);
    let (how, outcome) = match k.end {
        End::Stays => ("fails and says why", format!("the process goes on {was} (where says so) with every word intact")),
        End::Either => ("succeeds or fails and says so", format!("the process runs {went} or {was}, as where says, with every word intact")),
        End::Killed => ("passes its commit point", "the process is killed cleanly (its parent sees SIGKILL)".to_string()),
    };
    c.check(
        format!("faults: {} ({} on node {}): the move {} {how}; {outcome}; the failpoint fired once and disarmed", k.what, k.spec, k.node, if k.homecoming { "home" } else { "to node 2" }),
        first_ok && armed && n1 == n0 + 1 && left == "none" && place_ok && ended_ok,
        format!(
            "{}armed {armed}, fired {n0} -> {n1}, left {left:?}; move: rc {} {:?}; where: {wh:?}; status {st:?}; output {:?}",
            first.map(|f| format!("first move: rc {} {:?}; ", f.rc, f.text.trim())).unwrap_or_default(),
            m.rc,
            m.text.trim(),
            out.trim()
        ),
    );
    Ok(())
}

/// On node 2, the link home closes just before a forwarded call (the
/// `write` of the verification's result to its output file at home):
/// the call goes on a new connection, once, and the process ends well.
fn call_link(c: &mut Ctx, long: Duration) -> Result<()> {
    let tag = "faultcall";
    let pid = c.start(1, tag, &format!("{W} fill {MB} 600"))?;
    c.wait(Duration::from_secs(60), |c| c.rss_kb(1, pid) >= MB * 1024);
    let m = c.migrate(1, pid, "2");
    let n0 = fired(c, 2, "call_link");
    let armed = c.set(2, "failpoint", "call_link");
    let wh = c.where_is(1, pid);
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let st = c.status(1, tag, long);
    let out = c.output(1, tag);
    let n1 = fired(c, 2, "call_link");
    let left = c.sh(2, "cat /sys/kernel/roam/failpoint").map(|o| o.text.trim().to_string()).unwrap_or_default();
    c.check(
        "faults: node 2's link home closes just before a forwarded call (call_link on node 2): the call is made once, on a new connection, and the process ends with every word intact; the failpoint fired once and disarmed".into(),
        m.rc == 0 && armed && wh.starts_with("node 2") && n1 == n0 + 1 && left == "none" && st == Some(0) && intact(&out) && out.matches("verified").count() == 1,
        format!("move: {:?}; armed {armed}; where {wh:?}; fired {n0} -> {n1}, left {left:?}; status {st:?}; output {:?}", m.text.trim(), out.trim()),
    );
    Ok(())
}
