//! roam's configuration as the host hands it to guests, and the state
//! files it reads back: the cluster file and its key under `/etc/roam`,
//! base64 for shipping files through the agent, `tests/guest/run.sh`,
//! configuring a whole cluster at once, and parsers of the
//! `/sys/kernel/roam` files `nodes` and `stats` (and the other
//! `name value` files).
//!
//! Used by `main`, `scenarios` and `bench`; calls only `cluster` (the
//! cluster's agents and its subnet).

use crate::cluster::{self, Cluster};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const KEY_PATH: &str = "/etc/roam/cluster.key";
pub const TOML_PATH: &str = "/etc/roam/cluster.toml";

/// `tests/guest/run.sh`: starts a program detached, under a parent shell
/// that records its exit status (the agent waits for every process that
/// holds its output pipe, so background programs must go through it).
pub const RUN_SH: &str = include_str!("../../tests/guest/run.sh");

/// Timeout of one agent command while [`configure`] runs.
const T: Duration = Duration::from_secs(600);

pub fn base64(data: &[u8]) -> String {
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

pub fn random_key() -> Result<String> {
    let mut b = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The cluster file for `n` nodes; `balance` turns automatic balancing on.
pub fn cluster_toml(n: u32, balance: bool) -> String {
    let mut s = format!("key_file = \"{KEY_PATH}\"\nport = 7077\ninterval_ms = 1000\ndown_after_ms = 5000\nbalance = {balance}\n");
    for i in 1..=n {
        s.push_str(&format!("\n[[node]]\nid = {i}\naddr = \"{}.{i}\"\n", cluster::NET));
    }
    s
}

fn sh(cl: &mut Cluster, node: u32, cmd: &str, t: Duration) -> Result<String> {
    cl.agents[(node - 1) as usize].check(cmd, t)
}

/// Configures every node from one cluster file (with a fresh key) and
/// waits until all see each other; `balance` turns automatic balancing on.
pub fn configure(cl: &mut Cluster, balance: bool) -> Result<()> {
    let n = cl.agents.len() as u32;
    let key = random_key()? + "\n";
    let toml = cluster_toml(n, balance);
    for i in 1..=n {
        sh(cl, i, &format!("echo {} | base64 -d > {KEY_PATH} && chmod 600 {KEY_PATH}", base64(key.as_bytes())), T)?;
        sh(cl, i, &format!("echo {} | base64 -d > {TOML_PATH}", base64(toml.as_bytes())), T)?;
        sh(cl, i, &format!("roamctl apply {TOML_PATH}"), T)?;
    }
    let start = Instant::now();
    loop {
        if all_up(cl, T)? {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the nodes did not all see each other within 30 s");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether every node sees every other up (`t`: each command's timeout).
pub fn all_up(cl: &mut Cluster, t: Duration) -> Result<bool> {
    let mut all = true;
    for node in 1..=cl.agents.len() as u32 {
        let v = sh(cl, node, "cat /sys/kernel/roam/nodes", t)?;
        all &= v.lines().filter(|l| l.contains("self=0")).all(|l| l.contains("state=up"));
    }
    Ok(all)
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
        let t = cluster_toml(4, true);
        assert!(t.contains("balance = true"));
        assert_eq!(t.matches("[[node]]").count(), 4);
        assert!(t.contains("addr = \"10.77.0.4\""));
    }

    #[test]
    fn run_sh_prints_the_pid() {
        assert!(RUN_SH.starts_with("#!/bin/sh") && RUN_SH.contains("/tmp/$name.st"));
    }
}
