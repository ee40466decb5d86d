//! The monitoring face: `roamctl metrics` (Prometheus text) and the
//! `migrations` counters it is made from.
//!
//! A process started on node 1 moves to node 2, where it makes 300
//! forwarded `getppid` calls and exits. The counters must have moved by
//! what happened: node 1 one manual move more (and one more in its freeze
//! histogram), node 2 one arrival more, node 2 at least 300 forwarded
//! calls more and node 1 at least 300 served. Then node 1's metrics are
//! scraped twice — printed and written with `--output` for node_exporter's
//! textfile collector — in the same shell command as the `--json` views,
//! parsed with an independent parser (the `prometheus-parse` crate), and
//! each value checked against those views.
//!
//! Calls only [`super::ctx`].

use super::ctx::{Ctx, W};
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The phase sums of the `migrations` file, by side (as roamctl's
/// `metrics::PHASES`; a unit test holds them equal). `bench migrate`
/// reads them too.
pub(crate) const PHASES: &[(&str, &[&str])] = &[("out", &["capture", "ready", "send", "commit"]), ("in", &["target", "receive", "commit"])];

/// `roamctl --json migrations` on `node`, as numbers by name.
fn migrations(c: &mut Ctx, node: u32) -> BTreeMap<String, u64> {
    let text = c.sh(node, "roamctl --json migrations").map(|o| o.text).unwrap_or_default();
    let v: Value = serde_json::from_str(text.trim()).unwrap_or(Value::Null);
    v.as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect()).unwrap_or_default()
}

fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, key: &str) -> Option<i64> {
    Some(*b.get(key)? as i64 - *a.get(key)? as i64)
}

pub(super) fn run(c: &mut Ctx) -> Result<()> {
    let (b1, b2) = (migrations(c, 1), migrations(c, 2));
    let pid = c.start(1, "metrics-work", &format!("{W} sysbench getppid 300"))?;
    let m = c.migrate(1, pid, "2");
    let _ = c.sh(1, &format!("kill -USR1 {pid}"));
    let limit = Duration::from_secs(if c.debug { 180 } else { 60 });
    let st = c.status(1, "metrics-work", limit);
    let out = c.output(1, "metrics-work");
    let (a1, a2) = (migrations(c, 1), migrations(c, 2));
    let d = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, k: &str| delta(a, b, k).map_or("?".to_string(), |v| v.to_string());
    let counted = m.rc == 0
        && st == Some(0)
        && delta(&b1, &a1, "moves_manual_ok") == Some(1)
        && delta(&b1, &a1, "freeze_count") == Some(1)
        && delta(&b2, &a2, "arrivals_accepted") == Some(1)
        && delta(&b2, &a2, "calls_forwarded").is_some_and(|v| v >= 300)
        && delta(&b1, &a1, "calls_served").is_some_and(|v| v >= 300);
    c.check(
        "metrics: a move to node 2 and 300 forwarded calls there show in both nodes' migration counters".into(),
        counted,
        format!(
            "{}status {st:?}, output {out:?}; node 1: moves_manual_ok +{}, freeze_count +{}, calls_served +{}; node 2: arrivals_accepted +{}, calls_forwarded +{}",
            m.text,
            d(&b1, &a1, "moves_manual_ok"),
            d(&b1, &a1, "freeze_count"),
            d(&b1, &a1, "calls_served"),
            d(&b2, &a2, "arrivals_accepted"),
            d(&b2, &a2, "calls_forwarded"),
        ),
    );
    scrape(c)
}

/// `roamctl --json` of `load`, `migrations`, `nodes` and `node`.
struct Views {
    load: Value,
    migr: Value,
    nodes: Value,
    node: Value,
}

/// Parses `printed` (the Prometheus text) with an independent parser and
/// compares every value it can with `v`: how many were compared, and
/// what differs or is malformed.
fn compare(printed: &str, v: &Views) -> (usize, Vec<String>) {
    let parsed = prometheus_parse::Scrape::parse(printed.lines().map(|l| Ok(l.to_string())));
    let Views { load, migr, nodes, node } = v;
    let mut problems: Vec<String> = Vec::new();
    let scrape = match parsed {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(format!("the text does not parse: {e}"));
            None
        }
    };
    let mut compared = 0;
    // Problems of the text's shape (beside values that differ).
    let mut shape: Vec<String> = Vec::new();
    if let Some(s) = &scrape {
        let find = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
            s.samples.iter().find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))).and_then(|x| match x.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => Some(v),
                _ => None,
            })
        };
        let mut want = |what: String, got: Option<f64>, expect: Option<f64>| {
            compared += 1;
            if got.is_none() || got != expect {
                problems.push(format!("{what}: metrics {got:?}, --json {expect:?}"));
            }
        };
        let jf = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
        want("roam_cpus".into(), find("roam_cpus", &[]), jf(&load, "ncpus"));
        want("roam_speed".into(), find("roam_speed", &[]), jf(&load, "speed"));
        want("roam_guests".into(), find("roam_guests", &[]), jf(&node, "guests"));
        want("roam_processes_away".into(), find("roam_processes_away", &[]), jf(&node, "away"));
        for cause in ["manual", "load", "memory", "recall", "expel", "syscall"] {
            for result in ["ok", "failed"] {
                want(
                    format!("roam_migrations_total{{cause={cause},result={result}}}"),
                    find("roam_migrations_total", &[("cause", cause), ("result", result)]),
                    jf(&migr, &format!("moves_{cause}_{result}")),
                );
            }
        }
        for (metric, key) in
            [("roam_forwarded_calls_total", "calls_forwarded"), ("roam_served_calls_total", "calls_served"), ("roam_pages_from_files_total", "pages_from_files")]
        {
            want(metric.into(), find(metric, &[]), jf(&migr, key));
        }
        for (side, phases) in PHASES {
            for phase in *phases {
                want(
                    format!("roam_migration_phase_seconds_total{{side={side},phase={phase}}}"),
                    find("roam_migration_phase_seconds_total", &[("side", side), ("phase", phase)]),
                    jf(&migr, &format!("phase_{side}_{phase}_us")).map(|us| us / 1e6),
                );
            }
        }
        for (result, key) in [("accepted", "arrivals_accepted"), ("refused", "arrivals_refused")] {
            want(format!("roam_arrivals_total{{result={result}}}"), find("roam_arrivals_total", &[("result", result)]), jf(&migr, key));
        }
        // The freeze histogram: its count, its sum and each bucket.
        let hist = s.samples.iter().find(|x| x.metric == "roam_migration_freeze_seconds");
        match hist.map(|h| &h.value) {
            Some(prometheus_parse::Value::Histogram(buckets)) => {
                want("freeze histogram +Inf bucket".into(), buckets.iter().find(|b| b.less_than.is_infinite()).map(|b| b.count), jf(&migr, "freeze_count"));
                for b in buckets.iter().filter(|b| b.less_than.is_finite()) {
                    let ms = (b.less_than * 1000.0).round() as u64;
                    want(format!("freeze bucket le={}", b.less_than), Some(b.count), jf(&migr, &format!("freeze_le_ms_{ms}")));
                }
                want("freeze histogram _count".into(), find("roam_migration_freeze_seconds_count", &[]), jf(&migr, "freeze_count"));
                want("freeze histogram _sum".into(), find("roam_migration_freeze_seconds_sum", &[]), jf(&migr, "freeze_sum_us").map(|us| us / 1e6));
                if buckets.windows(2).any(|w| w[0].count > w[1].count) {
                    shape.push(format!("freeze buckets are not cumulative: {buckets:?}"));
                }
            }
            other => shape.push(format!("roam_migration_freeze_seconds is not a histogram: {other:?}")),
        }
        // Each peer's link state and CPUs, as `nodes` shows them.
        // (`roamctl --json nodes` is `{"nodes": [...]}`.)
        let peers = nodes.get("nodes").and_then(Value::as_array).into_iter().flatten().filter(|n| n.get("self") == Some(&Value::Bool(false)));
        let mut npeers = 0;
        for n in peers {
            npeers += 1;
            let Some(id) = n.get("id").and_then(Value::as_u64) else {
                continue;
            };
            let id = id.to_string();
            let up = n.get("state").and_then(Value::as_str).map(|s| if s == "up" { 1.0 } else { 0.0 });
            want(format!("roam_peer_up{{peer={id}}}"), find("roam_peer_up", &[("peer", &id)]), up);
            // A peer never heard has no CPU count, and no sample.
            match jf(n, "ncpus") {
                Some(cpus) => want(format!("roam_peer_cpus{{peer={id}}}"), find("roam_peer_cpus", &[("peer", &id)]), Some(cpus)),
                None if find("roam_peer_cpus", &[("peer", &id)]).is_some() => shape.push(format!("roam_peer_cpus{{peer={id}}} for a peer of unknown CPUs")),
                None => {}
            }
        }
        if npeers == 0 {
            shape.push("roamctl --json nodes lists no peer".into());
        }
    }
    problems.extend(shape);
    (compared, problems)
}

/// Node 1's metrics against its `--json` views, all read in one command.
fn scrape(c: &mut Ctx) -> Result<()> {
    let script = "echo '@ load'; roamctl --json load; echo '@ migrations'; roamctl --json migrations; \
        echo '@ nodes'; roamctl --json nodes; echo '@ node'; roamctl --json node; \
        echo '@ metrics'; roamctl metrics; roamctl metrics --output /tmp/roam.prom; echo \"@ rc $?\"; echo '@ file'; cat /tmp/roam.prom";
    let text = c.sh(1, script).map(|o| o.text).unwrap_or_default();
    let mut parts: BTreeMap<String, String> = BTreeMap::new();
    let mut key = String::new();
    for line in text.lines() {
        if let Some(k) = line.strip_prefix("@ ") {
            key = k.to_string();
            parts.entry(key.clone()).or_default();
        } else {
            parts.entry(key.clone()).or_default().push_str(&format!("{line}\n"));
        }
    }
    let json = |k: &str| -> Value { serde_json::from_str(parts.get(k).map(|s| s.trim()).unwrap_or("")).unwrap_or(Value::Null) };
    let (load, migr, nodes, node) = (json("load"), json("migrations"), json("nodes"), json("node"));
    let printed = parts.get("metrics").cloned().unwrap_or_default();
    let file = parts.get("file").cloned().unwrap_or_default();
    let written = parts.contains_key("rc 0");

    let (compared, mut problems) = compare(&printed, &Views { load, migr, nodes, node });
    // The file the textfile collector reads holds the same families.
    let families = |t: &str| t.lines().filter(|l| l.starts_with("# TYPE ")).map(str::to_string).collect::<Vec<_>>();
    if !written || families(&file) != families(&printed) || families(&printed).is_empty() {
        problems.push(format!("--output: written {written}, {} families in the file, {} printed", families(&file).len(), families(&printed).len()));
    }
    c.check(
        "metrics: node 1's Prometheus text parses and every value matches roamctl --json (load, node, migrations, nodes); --output writes the same families"
            .into(),
        problems.is_empty() && compared >= 20,
        format!("{compared} values compared; {}\n{printed}", problems.join("; ")),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roamctl::counters::parse;
    use roamctl::metrics::{format, Snapshot};

    #[test]
    fn phases_are_roamctls() {
        assert_eq!(super::PHASES, roamctl::metrics::PHASES);
    }

    /// A snapshot, and the `--json` views of the same figures.
    fn fixture() -> (Snapshot, Views) {
        let load = "load 1200\nnr_running 2\nncpus 2\nspeed 1000\nfree_mem_mb 300\n";
        let migr = "moves_manual_ok 3\nmoves_manual_failed 1\nmoves_load_ok 0\nmoves_load_failed 0\nmoves_memory_ok 0\nmoves_memory_failed 0\n\
            moves_recall_ok 1\nmoves_recall_failed 0\nmoves_expel_ok 0\nmoves_expel_failed 0\nmoves_syscall_ok 0\nmoves_syscall_failed 0\n\
            freeze_le_ms_5 0\nfreeze_le_ms_100 3\nfreeze_le_ms_30000 4\nfreeze_count 4\nfreeze_sum_us 250000\n\
            arrivals_accepted 2\narrivals_refused 0\ncalls_forwarded 300\ncalls_served 7\n\
            phase_out_capture_us 800\nphase_out_ready_us 27900\nphase_out_send_us 46600\nphase_out_commit_us 8700\n\
            phase_in_target_us 24900\nphase_in_receive_us 55000\nphase_in_commit_us 1000\npages_from_files 3350\n";
        let nodes_text = "node=1 addr=10.0.0.1:7077 self=1 state=up\nnode=2 addr=10.0.0.2:7077 self=0 state=up ncpus=2\nnode=3 addr=10.0.0.3:7077 self=0 state=down ncpus=1\n";
        let snap = Snapshot {
            node_id: "1".into(),
            state: "up".into(),
            version: "0.1.0".into(),
            load: parse(load),
            stats: parse("frames_sent 5\n"),
            migrations: parse(migr),
            nodes: roamctl::nodes::parse(nodes_text),
            guests: Some(0),
            away: Some(1),
        };
        let json = |t: &str| serde_json::from_str(&roamctl::counters::format_json(&parse(t))).unwrap();
        let views = Views {
            load: json(load),
            migr: json(migr),
            nodes: serde_json::from_str(&roamctl::nodes::format_json(&snap.nodes)).unwrap(),
            node: serde_json::json!({"guests": 0, "away": 1}),
        };
        (snap, views)
    }

    #[test]
    fn matching_views_pass() {
        let (snap, views) = fixture();
        let (n, problems) = compare(&format(&snap), &views);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(n >= 20, "{n} compared");
    }

    #[test]
    fn a_wrong_value_or_text_fails() {
        let (snap, mut views) = fixture();
        views.migr["calls_forwarded"] = serde_json::json!(301);
        let (_, problems) = compare(&format(&snap), &views);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("roam_forwarded_calls_total"), "{problems:?}");
        let (_, views) = fixture();
        let broken = format(&snap).replace("roam_migration_freeze_seconds_bucket{le=\"30\"} 4", "roam_migration_freeze_seconds_bucket{le=\"30\"} 2");
        let (_, problems) = compare(&broken, &views);
        assert!(problems.iter().any(|p| p.contains("not cumulative")) && problems.iter().any(|p| p.contains("le=30")), "{problems:?}");
        let (_, problems) = compare(&format(&snap).replace("roam_peer_up{peer=\"3\"", "roam_peer_up{peer=\"4\""), &views);
        assert!(problems.iter().any(|p| p.contains("roam_peer_up{peer=3}")), "{problems:?}");
    }
}
