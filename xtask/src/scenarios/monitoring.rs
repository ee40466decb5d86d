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

    let parsed = prometheus_parse::Scrape::parse(printed.lines().map(|l| Ok(l.to_string())));
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
        for (metric, key) in [("roam_forwarded_calls_total", "calls_forwarded"), ("roam_served_calls_total", "calls_served")] {
            want(metric.into(), find(metric, &[]), jf(&migr, key));
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
        for n in nodes.as_array().into_iter().flatten().filter(|n| n.get("self") == Some(&Value::Bool(false))) {
            let Some(id) = n.get("id").and_then(Value::as_u64) else {
                continue;
            };
            let id = id.to_string();
            let up = n.get("state").and_then(Value::as_str).map(|s| if s == "up" { 1.0 } else { 0.0 });
            want(format!("roam_peer_up{{peer={id}}}"), find("roam_peer_up", &[("peer", &id)]), up);
            want(format!("roam_peer_cpus{{peer={id}}}"), find("roam_peer_cpus", &[("peer", &id)]), jf(n, "ncpus"));
        }
    }
    problems.extend(shape);
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
