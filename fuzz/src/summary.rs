//! What a run tells people and scripts: one table line per target
//! (executions, executions per second, outcome classes, crashes, hangs)
//! and `summary.json` (every target's numbers, classes and failures, and
//! a top-level `summary`).
//!
//! Calls [`crate::runner`]'s report types and [`crate::artifact`].

use crate::artifact;
use crate::runner::{Kind, Report};
use serde_json::{json, Map, Value};
use std::io;
use std::path::{Path, PathBuf};

/// The table's heading.
pub fn header() -> String {
    format!(
        "{:<15} {:>11} {:>9} {:>8} {:>7} {:>6} {:>6}",
        "target", "execs", "exec/s", "classes", "corpus", "crash", "hang"
    )
}

/// One target's line.
pub fn line(r: &Report) -> String {
    format!(
        "{:<15} {:>11} {:>9.0} {:>8} {:>7} {:>6} {:>6}",
        r.target,
        r.execs,
        r.rate(),
        r.classes.len(),
        r.corpus,
        r.count(Kind::Panic) + r.count(Kind::Violation),
        r.count(Kind::Hang)
    )
}

/// The outcome classes of `r`, several to a line.
pub fn classes(r: &Report) -> String {
    let names: Vec<String> = r.classes.iter().map(|(c, n)| format!("{c}={n}")).collect();
    let mut out = String::new();
    let mut width = 0;
    for n in names {
        if width > 0 && width + n.len() > 100 {
            out.push('\n');
            width = 0;
        }
        if width == 0 {
            out.push_str("    ");
        } else {
            out.push(' ');
        }
        width += n.len() + 1;
        out.push_str(&n);
    }
    out
}

/// One target's JSON object.
fn target_json(r: &Report) -> Value {
    let failures: Vec<Value> = r
        .failures
        .iter()
        .map(|f| {
            json!({
                "kind": f.kind.name(),
                "detail": f.detail,
                "location": f.location,
                "exec": f.exec,
                "file": f.path.as_ref().map(|p| p.display().to_string()),
                "len": f.input.len(),
                "input_hex": artifact::hex_line(&f.input[..f.input.len().min(4096)]),
            })
        })
        .collect();
    let classes: Map<String, Value> = r.classes.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "execs": r.execs,
        "seconds": r.seconds,
        "execs_per_sec": r.rate(),
        "corpus": r.corpus,
        "classes": classes,
        "crashes": r.count(Kind::Panic) + r.count(Kind::Violation),
        "hangs": r.count(Kind::Hang),
        "failures": failures,
    })
}

/// The whole run as JSON: `targets` by name, and `summary`.
pub fn to_json(reports: &[Report], seed: u64, seconds_each: f64, overflow_checks: bool) -> Value {
    let mut targets = Map::new();
    for r in reports {
        targets.insert(r.target.to_string(), target_json(r));
    }
    let failed: Vec<&str> = reports.iter().filter(|r| !r.failures.is_empty()).map(|r| r.target).collect();
    let crashes: usize = reports.iter().map(|r| r.count(Kind::Panic) + r.count(Kind::Violation)).sum();
    let hangs: usize = reports.iter().map(|r| r.count(Kind::Hang)).sum();
    json!({
        "targets": targets,
        "summary": {
            "ok": failed.is_empty(),
            "seed": seed,
            "seconds_each": seconds_each,
            "overflow_checks": overflow_checks,
            "targets": reports.len(),
            "execs": reports.iter().map(|r| r.execs).sum::<u64>(),
            "seconds": reports.iter().map(|r| r.seconds).sum::<f64>(),
            "classes": reports.iter().map(|r| r.classes.len()).sum::<usize>(),
            "crashes": crashes,
            "hangs": hangs,
            "failed_targets": failed,
        },
    })
}

/// Writes `summary.json` into `dir` and returns its path.
pub fn write(dir: &Path, v: &Value) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}
