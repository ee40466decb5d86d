//! The test cluster's network: this guest has its own address from
//! /etc/roam/peers on eth0 and reaches every other node listed there.

use std::process::Command;
use std::time::Duration;

use roam_tests::guest::{self, Run};
use roam_tests::ktap::Ktap;

const ATTEMPTS: usize = 3;
/// ping's own limit is 3 s per attempt; this only guards against a hang.
const CMD_TIMEOUT: Duration = Duration::from_secs(15);

fn run(program: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args);
    guest::run(&mut cmd, CMD_TIMEOUT).unwrap_or_else(|e| Run {
        stderr: format!("could not start {program}: {e}"),
        ..Run::default()
    })
}

/// Whether `ip -4 addr show` output lists `ip` as an address (exactly,
/// so 10.0.0.1 does not match 10.0.0.11).
fn lists_address(output: &str, ip: &str) -> bool {
    output.lines().any(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("inet") && w.next().is_some_and(|a| a.split('/').next() == Some(ip))
    })
}

fn main() {
    let me = guest::node_id();
    let peers = guest::peers();
    let others: Vec<&(u32, String)> = peers.iter().filter(|(id, _)| *id != me).collect();
    let mut t = Ktap::plan(1 + others.len());

    match peers.iter().find(|(id, _)| *id == me) {
        Some((_, ip)) => {
            let r = run("ip", &["-4", "addr", "show", "eth0"]);
            t.check(
                r.success() && lists_address(&r.stdout, ip),
                &format!("eth0 has this node's address {ip}"),
                &r.describe(),
            );
        }
        None => t.not_ok(
            "eth0 has this node's address",
            &format!(
                "node {me} is not in {} (peers: {peers:?})",
                guest::PEERS_FILE
            ),
        ),
    }

    for (id, ip) in others {
        let mut tries = Vec::new();
        let mut reached = false;
        for _ in 0..ATTEMPTS {
            let r = run("ping", &["-c", "1", "-W", "3", ip]);
            if r.success() {
                reached = true;
                break;
            }
            tries.push(r.describe());
        }
        t.check(
            reached,
            &format!("reach node {id} ({ip})"),
            &tries.join("\n"),
        );
    }

    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lines() {
        let out =
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast qlen 1000\n    \
                   inet 10.0.0.11/24 brd 10.0.0.255 scope global eth0\n";
        assert!(lists_address(out, "10.0.0.11"));
        assert!(!lists_address(out, "10.0.0.1"));
        assert!(!lists_address("", "10.0.0.11"));
    }
}
