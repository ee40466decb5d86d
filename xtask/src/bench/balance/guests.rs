//! The two guests as `cargo xtask bench balance` drives and reads them:
//! commands on a node, the clocks (`/proc/uptime`, file mtimes), the
//! balancer's counters and `events`, the `balance` switch, node 1's own
//! load, and a guest-side wait for jobs to end.
//!
//! Calls only `bench::common` and `config`.

use crate::bench::common::sh_within;
use crate::cluster::Cluster;
use crate::config::{parse_nodes, parse_stats};
use anyhow::Result;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(super) const NODES: u32 = 2;
/// Node 1 counts as quiet once its own load estimate is at most this
/// (1000 = one busy CPU).
pub(super) const QUIET_LOAD: u64 = 200;
/// Timeout of one agent command.
pub(super) const T: Duration = Duration::from_secs(120);

pub(super) fn sh(cl: &mut Cluster, node: u32, cmd: &str) -> Result<String> {
    sh_within(cl, node, cmd, T)
}

/// `/proc/uptime`'s first field in ms.
pub(super) fn uptime_ms(text: &str) -> Option<u64> {
    let f = text.split_whitespace().next()?;
    let (s, frac) = f.split_once('.').unwrap_or((f, "0"));
    let frac = format!("{frac:0<3}");
    Some(s.parse::<u64>().ok()? * 1000 + frac.get(..3)?.parse::<u64>().ok()?)
}

/// One line of `stat -c '%n %Y %y'`: (path, mtime in ns since the epoch).
pub(super) fn parse_mtime(line: &str) -> Option<(String, u64)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [name, secs, _date, time, ..] = w.as_slice() else { return None };
    let frac = time.split_once('.').map(|(_, f)| f).unwrap_or("0");
    let frac: String = format!("{frac:0<9}").chars().take(9).collect();
    Some((name.to_string(), secs.parse::<u64>().ok()? * 1_000_000_000 + frac.parse::<u64>().ok()?))
}

/// One line of `/sys/kernel/roam/events`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Event {
    pub(super) seq: u64,
    pub(super) ms: u64,
    pub(super) pid: u32,
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) cause: String,
    pub(super) result: String,
    pub(super) line: String,
}

pub(super) fn parse_events(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| {
            let kv: BTreeMap<&str, &str> = l.split_whitespace().filter_map(|f| f.split_once('=')).collect();
            Some(Event {
                seq: kv.get("seq")?.parse().ok()?,
                ms: kv.get("ms")?.parse().ok()?,
                pid: kv.get("pid")?.parse().ok()?,
                from: kv.get("from")?.parse().ok()?,
                to: kv.get("to")?.parse().ok()?,
                cause: kv.get("cause")?.to_string(),
                result: kv.get("result")?.to_string(),
                line: l.trim().to_string(),
            })
        })
        .collect()
}

/// (migrations_started, migrations_done) of a node's balancer.
pub(super) fn balancer(cl: &mut Cluster, node: u32) -> Result<(u64, u64)> {
    let s = parse_stats(&sh(cl, node, "cat /sys/kernel/roam/balancer")?);
    Ok((s.get("migrations_started").copied().unwrap_or(0), s.get("migrations_done").copied().unwrap_or(0)))
}

pub(super) fn events(cl: &mut Cluster, node: u32) -> Result<Vec<Event>> {
    Ok(parse_events(&sh(cl, node, "cat /sys/kernel/roam/events")?))
}

pub(super) fn set_all(cl: &mut Cluster, file: &str, value: &str) -> Result<()> {
    for node in 1..=NODES {
        sh(cl, node, &format!("echo {value} > /sys/kernel/roam/{file}"))?;
    }
    Ok(())
}

/// Node `node`'s own load estimate (from its `nodes` file).
pub(super) fn own_load(cl: &mut Cluster, node: u32) -> Result<Option<u64>> {
    let v = parse_nodes(&sh(cl, node, "cat /sys/kernel/roam/nodes")?);
    Ok(v.iter().find(|l| l.get("self").map(String::as_str) == Some("1")).and_then(|l| l.get("load")?.parse().ok()))
}

/// Waits (up to `limit`) until node 1's load estimate is at most
/// [`QUIET_LOAD`]; the load it saw last.
pub(super) fn wait_quiet(cl: &mut Cluster, limit: Duration) -> Result<Option<u64>> {
    let t0 = Instant::now();
    loop {
        let l = own_load(cl, 1)?;
        if l.is_some_and(|l| l <= QUIET_LOAD) || t0.elapsed() > limit {
            return Ok(l);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A guest command that waits, without forking (`read -t` on an idle
/// FIFO), until every `/tmp/NAME.st` of `names` is written (or `limit`),
/// so that the host sees the end within about 0.1 s; then prints node 1's
/// uptime. The waiting shell locks itself to node 1 (it is the harness).
pub(super) fn wait_for_ends(tag: &str, names: &[String], limit: Duration) -> String {
    let all = names.iter().map(|n| format!("[ -s /tmp/{n}.st ]")).collect::<Vec<_>>().join(" && ");
    let ticks = limit.as_secs() * 10;
    format!(
        "roamctl lock $$ >/dev/null 2>&1; rm -f /tmp/{tag}.fifo; mkfifo /tmp/{tag}.fifo && exec 3<>/tmp/{tag}.fifo || exit 9; i=0; \
         while ! {{ {all}; }}; do [ $i -ge {ticks} ] && break; read -t 0.1 x <&3; i=$((i+1)); done; cat /proc/uptime"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_and_mtimes() {
        assert_eq!(uptime_ms("123.45 67.89\n"), Some(123_450));
        assert_eq!(uptime_ms("7.5 1.0"), Some(7_500));
        assert_eq!(uptime_ms(""), None);
        let l = "/tmp/on-start 1795659551 2026-11-26 02:19:11.258073083 +0000";
        assert_eq!(parse_mtime(l), Some(("/tmp/on-start".into(), 1_795_659_551_258_073_083)));
        assert_eq!(parse_mtime("/tmp/x 10 2026-01-01 00:00:10.5 +0000").map(|x| x.1), Some(10_500_000_000));
        assert_eq!(parse_mtime("garbage"), None);
    }

    #[test]
    fn events_parse() {
        let t = "seq=3 ms=34567 pid=85 comm=migrate_work from=1 to=2 cause=load result=ok\n\
                 seq=4 ms=35000 pid=86 comm=migrate_work from=1 to=2 cause=load result=not-accepting\nnoise\n";
        let e = parse_events(t);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].seq, e[0].ms, e[0].pid, e[0].from, e[0].to), (3, 34567, 85, 1, 2));
        assert_eq!(e[1].result, "not-accepting");
        assert_eq!(e[0].cause, "load");
    }
}
