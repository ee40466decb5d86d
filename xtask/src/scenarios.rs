//! Cluster scenarios for the transport, membership and load exchange,
//! driven from the host across several guests: each step acts on some
//! nodes and checks real effects on others (views, counters), waiting on
//! conditions with bounded timeouts.

use crate::cluster::Cluster;
use crate::test::Tally;
use anyhow::{bail, Result};
use roam_tests::ktap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
pub(crate) const KEY_PATH: &str = "/etc/roam/cluster.key";
pub(crate) const TOML_PATH: &str = "/etc/roam/cluster.toml";

pub(crate) fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// One parsed line of `/sys/kernel/roam/nodes`.
pub type NodeLine = BTreeMap<String, String>;

pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| l.starts_with("node="))
        .map(|l| l.split_whitespace().filter_map(|f| f.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
        .collect()
}

pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| v.trim().parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

struct Ctx<'a> {
    cl: &'a mut Cluster,
    tally: &'a mut Tally,
    key_hex: String,
}

impl Ctx<'_> {
    fn sh(&mut self, node: u32, cmd: &str) -> Result<crate::guest::Output> {
        self.cl.agents[(node - 1) as usize].run(cmd, T)
    }

    fn check(&mut self, name: String, ok: bool, detail: String) -> bool {
        println!("    {} {name}", if ok { "ok  " } else { "FAIL" });
        self.tally.add_case(name, ok, detail);
        ok
    }

    fn write_file(&mut self, node: u32, path: &str, content: &[u8], mode: &str) -> Result<()> {
        let cmd = format!("echo {} | base64 -d > {path} && chmod {mode} {path}", base64(content));
        let o = self.sh(node, &cmd)?;
        if o.rc != 0 {
            bail!("node {node}: cannot write {path}: {}", o.text);
        }
        Ok(())
    }

    fn nodes(&mut self, node: u32) -> Vec<NodeLine> {
        self.sh(node, "cat /sys/kernel/roam/nodes").map(|o| parse_nodes(&o.text)).unwrap_or_default()
    }

    fn stats(&mut self, node: u32) -> BTreeMap<String, u64> {
        self.sh(node, "cat /sys/kernel/roam/stats").map(|o| parse_stats(&o.text)).unwrap_or_default()
    }

    /// What `viewer` believes about node `id`: its `nodes` line.
    fn view_of(&mut self, viewer: u32, id: u32) -> Option<NodeLine> {
        self.nodes(viewer).into_iter().find(|l| l.get("node").map(|v| v == &id.to_string()).unwrap_or(false))
    }

    /// Polls `cond` every 500 ms until it holds or `limit` passes; returns
    /// the time it took.
    fn wait(&mut self, limit: Duration, mut cond: impl FnMut(&mut Self) -> bool) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if cond(self) {
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn apply(&mut self, node: u32) -> Result<crate::guest::Output> {
        self.sh(node, &format!("roamctl apply {TOML_PATH}"))
    }

    fn up_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "up").unwrap_or(false) && l.get("load").map(|v| v != "-").unwrap_or(false)).unwrap_or(false)
    }

    fn down_in_view(&mut self, viewer: u32, id: u32) -> bool {
        self.view_of(viewer, id).map(|l| l.get("state").map(|s| s == "down").unwrap_or(false)).unwrap_or(false)
    }

    fn all_see_all(&mut self, nodes: &[u32]) -> bool {
        for &v in nodes {
            for &o in nodes {
                if v != o && !self.up_in_view(v, o) {
                    return false;
                }
            }
        }
        true
    }

    fn sum_stat(&mut self, nodes: &[u32], name: &str) -> u64 {
        nodes.iter().map(|&n| self.stats(n).get(name).copied().unwrap_or(0)).sum()
    }
}

pub(crate) fn random_key() -> Result<String> {
    let mut b = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub(crate) fn cluster_toml(n: u32) -> String {
    let mut s = format!("key_file = \"{KEY_PATH}\"\nport = 7077\ninterval_ms = 1000\ndown_after_ms = 5000\n");
    for i in 1..=n {
        s.push_str(&format!("\n[[node]]\nid = {i}\naddr = \"{}.{i}\"\n", crate::cluster::NET));
    }
    s
}

pub fn run(cl: &mut Cluster, tally: &mut Tally) -> Result<()> {
    let n = cl.agents.len() as u32;
    if n < 4 {
        tally.add_case("cluster scenarios need 4 nodes".into(), false, format!("have {n}; run with --nodes 4"));
        return Ok(());
    }
    let mut c = Ctx { cl, tally, key_hex: random_key()? };
    let all: Vec<u32> = (1..=n).collect();

    // Configure every node from one cluster file.
    let toml = cluster_toml(n);
    for i in 1..=n {
        let key = c.key_hex.clone() + "\n";
        c.write_file(i, KEY_PATH, key.as_bytes(), "600")?;
        c.write_file(i, TOML_PATH, toml.as_bytes(), "644")?;
        let o = c.apply(i)?;
        c.check(format!("node{i}: roamctl apply configures the node"), o.rc == 0, o.text);
    }

    // Every node learns every other. The exchange sends to one random peer
    // per second and replies with the receiver's load, so with 4 nodes each
    // pair meets directly within a few intervals; allow 20.
    let took = c.wait(Duration::from_secs(20), |c| c.all_see_all(&all));
    let views: String = (1..=n).map(|i| format!("node {i}:\n{}", c.sh(i, "cat /sys/kernel/roam/nodes").map(|o| o.text).unwrap_or_default())).collect();
    c.check(
        format!("membership: every node sees every other up with its load within 20 s ({})", took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        took.is_some(),
        views,
    );

    // Load on node 2 shows on node 1.
    c.sh(2, "(timeout 60 sh -c 'while :; do :; done' >/dev/null 2>&1 &)")?;
    let took = c.wait(Duration::from_secs(20), |c| {
        c.view_of(1, 2).and_then(|l| l.get("load").and_then(|v| v.parse::<u32>().ok())).map(|v| v >= 500).unwrap_or(false)
    });
    let seen = c.view_of(1, 2);
    c.check(
        format!("load: a busy loop on node 2 raises node 2's load as seen from node 1 (>= 0.5 within 20 s: {})", took.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        took.is_some(),
        format!("node 1's view of node 2: {seen:?}"),
    );
    let _ = c.sh(2, "pkill -f 'while :' ; true");

    // A node with the wrong key is refused by all, and nothing else changes.
    let others = [1u32, 2, 3];
    let bad_mac_before = c.sum_stat(&others, "rejected_bad_mac");
    let mut wrong = c.key_hex.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong)?;
    let o = c.sh(4, &format!("cd /sys/kernel/roam && echo off > listen && echo {wrong} > key && echo {}.4:7077 > listen", crate::cluster::NET))?;
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

    // Duplicate ids and addresses are refused loudly.
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
        &format!("cd /sys/kernel/roam && echo off > listen && echo 2 > node_id && echo clear > peers && echo 'add 1 {net}.1' > peers && echo {net}.4:7077 > listen", net = crate::cluster::NET),
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

    // Hostile frames: counted by reason, never a crash or a warning.
    let o = c.sh(1, &format!("echo 'add 99 {}.2:7099' > /sys/kernel/roam/peers", crate::cluster::NET))?;
    c.check("inject: node 1 lists a fake peer 99 at node 2's address".into(), o.rc == 0, o.text);
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames {}.1 7077 {KEY_PATH} 99 1", crate::cluster::NET))?;
    let report = ktap::parse(&o.text);
    for r in &report.results {
        c.check(format!("inject: {}", r.name), matches!(r.outcome, ktap::Outcome::Pass), r.diag.join("\n"));
    }
    c.check("inject: the injector's KTAP stream is complete".into(), report.plan == Some(report.results.len()), o.text.clone());
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
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("inject: the cluster is intact afterwards".into(), ok, String::new());

    // Idle connections cannot exhaust the receivers: those beyond the limit
    // are refused at once, the rest closed when they fail to authenticate.
    let before = c.stats(1);
    let o = c.sh(2, &format!("/usr/lib/roam/tests/inject_frames --flood {}.1 7077 150 25", crate::cluster::NET))?;
    let report = ktap::parse(&o.text);
    for r in &report.results {
        c.check(format!("flood: {}", r.name), matches!(r.outcome, ktap::Outcome::Pass), r.diag.join("\n"));
    }
    c.check("flood: the flooder's KTAP stream is complete".into(), report.plan == Some(report.results.len()), o.text.clone());
    let after = c.stats(1);
    let d = |k: &str| after.get(k).copied().unwrap_or(0).saturating_sub(before.get(k).copied().unwrap_or(0));
    c.check(
        "flood: node 1 refused the connections beyond its limit".into(),
        d("connections_refused") >= 15,
        format!("refused {}", d("connections_refused")),
    );
    c.check(
        "flood: node 1 closed the unauthenticated ones".into(),
        d("connections_unauthenticated") >= 100,
        format!("closed {}", d("connections_unauthenticated")),
    );
    let ok = c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("flood: the cluster is intact afterwards".into(), ok, String::new());

    // A node that dies is marked down; restarted, it rejoins.
    c.cl.kill_node(3);
    let down = c.wait(Duration::from_secs(30), |c| [1u32, 2, 4].iter().all(|&v| c.down_in_view(v, 3)));
    let v = format!("{:?}", c.view_of(1, 3));
    c.check(
        format!("crash: nodes 1, 2 and 4 mark the killed node 3 down ({})", down.map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or("never".into())),
        down.is_some(),
        v,
    );
    c.cl.restart_node(3)?;
    c.write_file(3, KEY_PATH, (c.key_hex.clone() + "\n").as_bytes(), "600")?;
    c.write_file(3, TOML_PATH, toml.as_bytes(), "644")?;
    let o = c.apply(3)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("crash: restarted node 3 rejoins and every node sees every other".into(), back, o.text);

    // Unload and reload the module on node 1 while its peers keep talking.
    let o = c.sh(1, "rmmod roam && insmod /lib/modules/roam.ko")?;
    c.check("reload: node 1 unloads and reloads roam.ko while peers talk".into(), o.rc == 0, o.text);
    let o = c.apply(1)?;
    let back = o.rc == 0 && c.wait(Duration::from_secs(30), |c| c.all_see_all(&all)).is_some();
    c.check("reload: node 1 rejoins after the reload".into(), back, o.text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar\n"), "Zm9vYmFyCg==");
    }

    #[test]
    fn nodes_and_stats_parse() {
        let v = parse_nodes("node=1 addr=*:7077 self=1 state=up load=5\nnode=2 addr=10.77.0.2:7077 self=0 state=down load=-\n");
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["state"], "down");
        let s = parse_stats("frames_sent 3\nrejected_bad_mac 2\n");
        assert_eq!(s["rejected_bad_mac"], 2);
    }

    #[test]
    fn cluster_file_lists_every_node() {
        let t = cluster_toml(4);
        assert_eq!(t.matches("[[node]]").count(), 4);
        assert!(t.contains("addr = \"10.77.0.4\""));
    }
}
