//! Scenarios of the transport, membership and load exchange: nodes
//! learn each other and each other's load, a wrong key, duplicate ids and
//! addresses, hostile frames and connection floods are refused and
//! counted, a killed node is marked down and rejoins, and the module
//! reloads under a running cluster.
//!
//! Calls only [`super::ctx`], `config` and `cluster` (its subnet).

use super::ctx::{secs, Ctx};
use crate::cluster;
use crate::config::KEY_PATH;
use anyhow::Result;
use std::time::Duration;

/// Every scenario here, in order, on a freshly configured cluster (`toml`
/// is its cluster file, `all` its node ids).
pub(super) fn run(c: &mut Ctx, toml: &str, all: &[u32]) -> Result<()> {
    membership(c, all);
    load(c)?;
    wrong_key(c)?;
    refusals(c)?;
    inject(c, all)?;
    flood(c, all)?;
    crash(c, toml, all)
}

/// Every node learns every other. The exchange sends to one random peer
/// per second and replies with the receiver's load, so with 4 nodes each
/// pair meets directly within a few intervals; allow 20.
fn membership(c: &mut Ctx, all: &[u32]) {
    let took = c.wait(Duration::from_secs(20), |c| c.all_see_all(all));
    let views: String = all.iter().map(|&i| format!("node {i}:\n{}", c.sh(i, "cat /sys/kernel/roam/nodes").map(|o| o.text).unwrap_or_default())).collect();
    c.check(
        format!("membership: every node sees every other up with its load within 20 s ({})", secs(took)),
        took.is_some(),
        views,
    );
}

/// Load on node 2 shows on node 1.
fn load(c: &mut Ctx) -> Result<()> {
    c.sh(2, "(timeout 60 sh -c 'while :; do :; done' >/dev/null 2>&1 &)")?;
    let took = c.wait(Duration::from_secs(20), |c| {
        c.view_of(1, 2).and_then(|l| l.get("load").and_then(|v| v.parse::<u32>().ok())).map(|v| v >= 500).unwrap_or(false)
    });
    let seen = c.view_of(1, 2);
    c.check(
        format!("load: a busy loop on node 2 raises node 2's load as seen from node 1 (>= 0.5 within 20 s: {})", secs(took)),
        took.is_some(),
        format!("node 1's view of node 2: {seen:?}"),
    );
    let _ = c.sh(2, "pkill -f 'while :' ; true");
    Ok(())
}

/// A node with the wrong key is refused by all, and nothing else changes.
fn wrong_key(c: &mut Ctx) -> Result<()> {
    let others = [1u32, 2, 3];
    let bad_mac_before = c.sum_stat(&others, "rejected_bad_mac");
    let mut wrong = c.key_hex.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong)?;
    let o = c.sh(4, &format!("cd /sys/kernel/roam && echo off > listen && echo {wrong} > key && echo {}.4:7077 > listen", cluster::NET))?;
    c.check("wrong key: node 4 restarts its transport with another key".into(), o.rc == 0, o.text);
    let rose = c.wait(Duration::from_secs(20), |c| c.sum_stat(&others, "rejected_bad_mac") > bad_mac_before);
    c.check("wrong key: nodes 1-3 count rejected_bad_mac".into(), rose.is_some(), format!("before {bad_mac_before}"));
    let down = c.wait(Duration::from_secs(30), |c| c.down_in_view(1, 4) && c.down_in_view(2, 4));
    let v = format!("{:?}", c.view_of(1, 4));
    c.check("wrong key: node 4 is down as seen from nodes 1 and 2".into(), down.is_some(), v);
    let rest = c.all_see_all(&others);
    let views: String = others.iter().map(|&i| format!("node {i}:\n{}", c.sh(i, "cat /sys/kernel/roam/nodes; dmesg | grep -E 'roam: node [0-9]+ (is|left)' | tail -n 8").map(|o| o.text).unwrap_or_default())).collect();
    c.check("wrong key: nodes 1-3 still see each other up".into(), rest, views);
    let o = c.apply(4)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.up_in_view(1, 4) && c.up_in_view(4, 1)).is_some();
    c.check("wrong key: with the right key again node 4 rejoins".into(), back, o.text);
    Ok(())
}

/// Duplicate ids and addresses are refused loudly.
fn refusals(c: &mut Ctx) -> Result<()> {
    for (cmd, what) in [
        ("add 2 10.77.0.9", "an existing node id"),
        ("add 1 10.77.0.9", "this node's own id"),
        ("add 9 10.77.0.2", "an existing node address"),
        ("add 9 10.77.0", "a malformed address"),
    ] {
        let before = c.sh(1, "cat /sys/kernel/roam/peers").map(|o| o.text).unwrap_or_default();
        let o = c.sh(1, &format!("echo '{cmd}' > /sys/kernel/roam/peers"))?;
        let after = c.sh(1, "cat /sys/kernel/roam/peers").map(|o| o.text).unwrap_or_default();
        let dmesg = c.sh(1, "dmesg | tail -n 3").map(|o| o.text).unwrap_or_default();
        c.check(
            format!("config: a peer with {what} is refused and nothing changes"),
            o.rc != 0 && before == after && dmesg.contains("refused"),
            format!("rc {} out {}\ndmesg: {dmesg}", o.rc, o.text),
        );
    }
    let mismatch_before = c.stats(1).get("rejected_addr_mismatch").copied().unwrap_or(0);
    let o = c.sh(
        4,
        &format!("cd /sys/kernel/roam && echo off > listen && echo 2 > node_id && echo clear > peers && echo 'add 1 {net}.1' > peers && echo {net}.4:7077 > listen", net = cluster::NET),
    )?;
    c.check("duplicate id: node 4 poses as node 2".into(), o.rc == 0, o.text);
    let rose = c.wait(Duration::from_secs(20), |c| c.stats(1).get("rejected_addr_mismatch").copied().unwrap_or(0) > mismatch_before);
    c.check("duplicate id: node 1 refuses node 2's id from node 4's address".into(), rose.is_some(), String::new());
    let fine = c.up_in_view(1, 2);
    let v = format!("{:?}", c.view_of(1, 2));
    c.check("duplicate id: node 1 still sees the real node 2 up".into(), fine, v);
    let o = c.sh(4, "cd /sys/kernel/roam && echo off > listen && echo 4 > node_id")?;
    let o2 = c.apply(4)?;
    let back = o.rc == 0 && o2.rc == 0 && c.wait(Duration::from_secs(30), |c| c.up_in_view(1, 4)).is_some();
    c.check("duplicate id: node 4 back as itself rejoins".into(), back, o2.text);
    Ok(())
}

/// Hostile frames: counted by reason, never a crash or a warning.
fn inject(c: &mut Ctx, all: &[u32]) -> Result<()> {
    let o = c.sh(1, &format!("echo 'add 99 {}.2:7099' > /sys/kernel/roam/peers", cluster::NET))?;
    c.check("inject: node 1 lists a fake peer 99 at node 2's address".into(), o.rc == 0, o.text);
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames {}.1 7077 {KEY_PATH} 99 1", cluster::NET))?;
    c.check_ktap("inject", "injector's", &o.text);
    let after = c.stats(1);
    for (counter, min) in [
        ("rejected_bad_magic", 1),
        ("rejected_truncated", 1),
        ("rejected_bad_length", 1),
        ("rejected_bad_mac", 1),
        ("rejected_replay", 2),
        ("rejected_unknown_node", 1),
    ] {
        let d = after.get(counter).copied().unwrap_or(0).saturating_sub(before.get(counter).copied().unwrap_or(0));
        c.check(format!("inject: node 1's {counter} rose by at least {min}"), d >= min, format!("rose by {d}"));
    }
    let _ = c.sh(1, "echo 'del 99' > /sys/kernel/roam/peers");
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(all)).is_some();
    c.check("inject: the cluster is intact afterwards".into(), ok, String::new());
    Ok(())
}

/// Idle connections cannot exhaust the receivers: one address gets at
/// most `MAX_CONNS_PER_ADDR` (4) of them, the rest are refused at once,
/// and those it got are closed when they fail to authenticate (node 2's
/// own connection counts among its 4).
fn flood(c: &mut Ctx, all: &[u32]) -> Result<()> {
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames --flood {}.1 7077 150 25", cluster::NET))?;
    c.check_ktap("flood", "flooder's", &o.text);
    let after = c.stats(1);
    let d = |k: &str| after.get(k).copied().unwrap_or(0).saturating_sub(before.get(k).copied().unwrap_or(0));
    c.check(
        "flood: node 1 gives one address at most 4 receivers and refuses the other connections at once".into(),
        d("connections_refused") >= 146,
        format!("refused {}", d("connections_refused")),
    );
    // Each one it took is closed either when a newer one from the same
    // address needs its slot (evicted) or when it has sent nothing
    // authentic in time (at most the 4 last standing).
    let (timed_out, evicted) = (d("connections_unauthenticated"), d("connections_evicted"));
    c.check(
        "flood: node 1 closed the unauthenticated ones it took".into(),
        timed_out + evicted >= 1 && timed_out <= 4,
        format!("closed {timed_out} for silence, {evicted} for newer ones"),
    );
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(all)).is_some();
    c.check("flood: the cluster is intact afterwards".into(), ok, String::new());
    Ok(())
}

/// A node that dies is marked down; restarted, it rejoins.
fn crash(c: &mut Ctx, toml: &str, all: &[u32]) -> Result<()> {
    c.cl.kill_node(3);
    let down = c.wait(Duration::from_secs(30), |c| [1u32, 2, 4].iter().all(|&v| c.down_in_view(v, 3)));
    let v = format!("{:?}", c.view_of(1, 3));
    c.check(
        format!("crash: nodes 1, 2 and 4 mark the killed node 3 down ({})", secs(down)),
        down.is_some(),
        v,
    );
    c.cl.restart_node(3)?;
    let o = c.configure_node(3, toml)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(all)).is_some();
    c.check("crash: restarted node 3 rejoins and every node sees every other".into(), back, o.text);
    Ok(())
}

/// Unload and reload the module on node 1 while its peers keep talking.
pub(super) fn reload(c: &mut Ctx, all: &[u32]) -> Result<()> {
    // With its pool of parked adopt stubs: unloading ends them.
    let o = c.sh(
        1,
        "n=$(grep -lx roam-parked /proc/[0-9]*/comm 2>/dev/null | wc -l); rmmod roam; r=$?; \
         left=$(grep -lx roam-parked /proc/[0-9]*/comm 2>/dev/null | wc -l); echo \"parked $n rmmod $r left $left\"; \
         [ $r = 0 ] && insmod /lib/modules/roam.ko",
    )?;
    let said = o.text.lines().find(|l| l.starts_with("parked ")).unwrap_or("").to_string();
    let parked: u32 = said.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    c.check(
        "reload: node 1 unloads roam.ko with adopt stubs parked (none left after) and reloads it while peers talk".into(),
        o.rc == 0 && parked >= 1 && said.ends_with("rmmod 0 left 0"),
        o.text,
    );
    let o = c.apply(1)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(all)).is_some();
    c.check("reload: node 1 rejoins after the reload".into(), back, o.text);
    // Node 3 hosted guests all along: it unloads cleanly too, with none
    // left.
    let g = c.guests(3);
    let o = c.sh(3, "rmmod roam && insmod /lib/modules/roam.ko")?;
    c.check("reload: node 3, which hosted guests, unloads and reloads roam.ko".into(), g.trim().is_empty() && o.rc == 0, format!("guests before: {g:?}\n{}", o.text));
    let o = c.apply(3)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(all)).is_some();
    c.check("reload: node 3 rejoins after the reload".into(), back, o.text);
    Ok(())
}
