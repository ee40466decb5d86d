//! `roamctl metrics`: this node's figures in the Prometheus text format
//! (version 0.0.4), read from the sysfs files `roamctl status`, `load`,
//! `stats`, `nodes`, `node` and `migrations` show, so every value can be
//! checked against their `--json` output. With `--output FILE` the text
//! goes to FILE through a temporary file and a rename, as node_exporter's
//! textfile collector wants (`roam-metrics.timer` does this every 15 s).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::counters::{self, Entry};
use crate::error::CtlError;
use crate::node;
use crate::nodes::{self, Node};
use crate::sysfs;

/// What the metrics are made from: the files as read, parsed.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub node_id: String,
    pub state: String,
    pub version: String,
    pub load: Vec<Entry>,
    pub stats: Vec<Entry>,
    pub migrations: Vec<Entry>,
    pub nodes: Vec<Node>,
    pub guests: Option<usize>,
    pub away: Option<usize>,
}

/// Reads every file under `root` (the `migrations` file may be missing on
/// an older module: its metrics are then left out).
pub fn read(root: &Path) -> Result<Snapshot, CtlError> {
    let one = |name: &str| -> Result<String, CtlError> { Ok(sysfs::read(root, name)?.trim().to_string()) };
    Ok(Snapshot {
        node_id: one("node_id")?,
        state: one("state")?,
        version: one("version")?,
        load: counters::parse(&sysfs::read(root, "load")?),
        stats: counters::parse(&sysfs::read(root, "stats")?),
        migrations: node::read_opt(root, "migrations")?.map(|t| counters::parse(&t)).unwrap_or_default(),
        nodes: nodes::parse(&sysfs::read(root, "nodes")?),
        guests: node::guests(root)?,
        away: node::away(root)?,
    })
}

/// One sample: a metric name, its labels and its value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A metric family: its name, type, help and samples.
struct Family {
    name: String,
    kind: &'static str,
    help: &'static str,
    samples: Vec<Sample>,
}

impl Family {
    fn new(name: impl Into<String>, kind: &'static str, help: &'static str) -> Self {
        Family { name: name.into(), kind, help, samples: Vec::new() }
    }

    fn add(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.push(Sample { name: format!("{}{suffix}", self.name), labels, value });
    }
}

/// A family of one unlabelled sample, if the value is known.
fn single(out: &mut Vec<Family>, name: impl Into<String>, kind: &'static str, help: &'static str, v: Option<f64>) {
    if let Some(v) = v {
        let mut f = Family::new(name, kind, help);
        f.add("", &[], v);
        out.push(f);
    }
}

fn num(entries: &[Entry], name: &str) -> Option<f64> {
    entries.iter().find(|e| e.name == name)?.values.first()?.parse::<f64>().ok()
}

/// The transport counters of `stats` that are counted as `roam_<name>_total`
/// (frames, bytes and rejections have families of their own).
const TRANSPORT_COUNTERS: &[(&str, &str)] = &[
    ("load_pushes_sent", "Load vectors pushed to peers."),
    ("send_failures", "Frames that could not be sent."),
    ("connect_failures", "Connections to peers that failed."),
    ("connections_accepted", "Connections from peers accepted."),
    ("connections_refused", "Connections refused (unknown address)."),
    ("connections_unauthenticated", "Connections closed for failing authentication."),
    ("connections_evicted", "Connections closed to make room for newer ones."),
    ("stale_connections", "Held connections found closed by the peer and replaced."),
    ("ignored_proc_frames", "Frames about a process from a node not entitled to send them."),
];

/// The migration causes, as the `migrations` file names them.
const CAUSES: &[&str] = &["manual", "load", "memory", "recall", "expel", "syscall"];

fn families(s: &Snapshot) -> Vec<Family> {
    let mut out = Vec::new();
    let mut f = Family::new("roam_node_info", "gauge", "This node: its id, state and module version (always 1).");
    f.add("", &[("node", &s.node_id), ("state", &s.state), ("version", &s.version)], 1.0);
    out.push(f);
    for (name, key, help, scale) in [
        ("roam_load", "load", "Load estimate of this node, as `roamctl load` shows it.", 1.0),
        ("roam_running_tasks", "nr_running", "Runnable tasks on this node.", 1.0),
        ("roam_cpus", "ncpus", "Online CPUs of this node.", 1.0),
        ("roam_speed", "speed", "Relative CPU speed of this node (its `speed` tunable).", 1.0),
        ("roam_free_memory_bytes", "free_mem_mb", "Free memory of this node.", 1024.0 * 1024.0),
    ] {
        single(&mut out, name, "gauge", help, num(&s.load, key).map(|v| v * scale));
    }
    for (name, v, help) in
        [("roam_guests", s.guests, "Processes of other nodes running here."), ("roam_processes_away", s.away, "Processes of this node running on other nodes.")]
    {
        single(&mut out, name, "gauge", help, v.map(|v| v as f64));
    }
    if !s.migrations.is_empty() {
        migration_families(s, &mut out);
    }
    transport_families(s, &mut out);
    peer_families(s, &mut out);
    out
}

fn migration_families(s: &Snapshot, out: &mut Vec<Family>) {
    let m = &s.migrations;
    let mut f = Family::new("roam_migrations_total", "counter", "Migrations started from this node, by cause and result.");
    for cause in CAUSES {
        for result in ["ok", "failed"] {
            if let Some(v) = num(m, &format!("moves_{cause}_{result}")) {
                f.add("", &[("cause", cause), ("result", result)], v);
            }
        }
    }
    out.push(f);
    let mut f = Family::new("roam_migration_freeze_seconds", "histogram", "How long each successful migration from this node kept its process stopped.");
    for e in m {
        if let Some(ms) = e.name.strip_prefix("freeze_le_ms_").and_then(|b| b.parse::<u64>().ok()) {
            if let Some(v) = e.values.first().and_then(|v| v.parse::<f64>().ok()) {
                f.add("_bucket", &[("le", &seconds_label(ms))], v);
            }
        }
    }
    let count = num(m, "freeze_count").unwrap_or(0.0);
    f.add("_bucket", &[("le", "+Inf")], count);
    f.add("_sum", &[], num(m, "freeze_sum_us").unwrap_or(0.0) / 1e6);
    f.add("_count", &[], count);
    out.push(f);
    let mut f = Family::new("roam_arrivals_total", "counter", "Processes that arrived here to run, by result.");
    for result in ["accepted", "refused"] {
        if let Some(v) = num(m, &format!("arrivals_{result}")) {
            f.add("", &[("result", result)], v);
        }
    }
    out.push(f);
    let mut f = Family::new("roam_adoptions_total", "counter", "Processes that arrived here, by the adopt stub that became them: parked in the pool, or started for the arrival.");
    for stub in ["parked", "started"] {
        if let Some(v) = num(m, &format!("adoptions_{stub}")) {
            f.add("", &[("stub", stub)], v);
        }
    }
    if !f.samples.is_empty() {
        out.push(f);
    }
    single(out, "roam_adopt_stubs_parked", "gauge", "Adopt stubs parked here, ready for arrivals (`adopt_pool` sets how many).", num(m, "adopt_stubs_parked"));
    for (name, key, help) in [
        ("roam_forwarded_calls_total", "calls_forwarded", "System calls that guests here sent to their home node."),
        ("roam_served_calls_total", "calls_served", "System calls that deputies here served for their remote process."),
        ("roam_pages_from_files_total", "pages_from_files", "Pages of migrations from here that destinations mapped from their own copy of the file instead of receiving them."),
    ] {
        single(out, name, "counter", help, num(m, key));
    }
    let mut f = Family::new("roam_migration_phase_seconds_total", "counter", "Where the time of successful migrations went, by side (out: moves from here; in: arrivals here) and phase.");
    for (side, phases) in PHASES {
        for phase in *phases {
            if let Some(us) = num(m, &format!("phase_{side}_{phase}_us")) {
                f.add("", &[("side", side), ("phase", phase)], us / 1e6);
            }
        }
    }
    if !f.samples.is_empty() {
        out.push(f);
    }
}

/// The phases the `migrations` file sums, by side.
pub const PHASES: &[(&str, &[&str])] = &[("out", &["capture", "ready", "send", "commit"]), ("in", &["target", "receive", "commit"])];

/// `ms` as a Prometheus `le` label in seconds (`0.005`, `1`, `30`).
fn seconds_label(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        s.trim_end_matches('0').to_string()
    }
}

fn transport_families(s: &Snapshot, out: &mut Vec<Family>) {
    let st = &s.stats;
    for (name, key, help) in [
        ("roam_frames_sent_total", "frames_sent", "Frames sent to peers."),
        ("roam_frames_received_total", "frames_received", "Frames received from peers and accepted."),
        ("roam_sent_bytes_total", "bytes_sent", "Bytes sent to peers."),
        ("roam_received_bytes_total", "bytes_received", "Bytes received from peers."),
    ] {
        single(out, name, "counter", help, num(st, key));
    }
    let mut f = Family::new("roam_frames_rejected_total", "counter", "Frames rejected, by reason.");
    for e in st {
        if let Some(reason) = e.name.strip_prefix("rejected_").filter(|r| *r != "total") {
            if let Some(v) = e.values.first().and_then(|v| v.parse::<f64>().ok()) {
                f.add("", &[("reason", reason)], v);
            }
        }
    }
    out.push(f);
    for (key, help) in TRANSPORT_COUNTERS {
        single(out, format!("roam_{key}_total"), "counter", help, num(st, key));
    }
    single(out, "roam_receivers", "gauge", "Receiving connections open now.", num(st, "receivers"));
}

fn peer_families(s: &Snapshot, out: &mut Vec<Family>) {
    let peers: Vec<&Node> = s.nodes.iter().filter(|n| n.is_self != Some(true) && n.id.is_some()).collect();
    let mut up = Family::new("roam_peer_up", "gauge", "1 if the peer is up (heard within down_after_ms), else 0.");
    let mut load = Family::new("roam_peer_load", "gauge", "The peer's load, as last heard.");
    let mut cpus = Family::new("roam_peer_cpus", "gauge", "The peer's CPUs, as last heard.");
    let mut mem = Family::new("roam_peer_free_memory_bytes", "gauge", "The peer's free memory, as last heard.");
    let mut heard = Family::new("roam_peer_last_heard_seconds", "gauge", "Time since the peer was last heard from.");
    let mut from = Family::new("roam_peer_frames_received_total", "counter", "Frames received from the peer.");
    let mut to = Family::new("roam_peer_frames_sent_total", "counter", "Frames sent to the peer.");
    for p in peers {
        let id = p.id.map(|i| i.to_string()).unwrap_or_default();
        let addr = p.addr.clone().unwrap_or_default();
        let l: &[(&str, &str)] = &[("peer", &id), ("addr", &addr)];
        up.add("", l, if p.state.as_deref() == Some("up") { 1.0 } else { 0.0 });
        let opt = |f: &mut Family, v: Option<u64>, scale: f64| {
            if let Some(v) = v {
                f.add("", l, v as f64 * scale);
            }
        };
        opt(&mut load, p.load, 1.0);
        opt(&mut cpus, p.ncpus, 1.0);
        opt(&mut mem, p.free_mem_mb, 1024.0 * 1024.0);
        opt(&mut heard, p.heard_ms, 0.001);
        opt(&mut from, p.frames_from, 1.0);
        opt(&mut to, p.frames_to, 1.0);
    }
    out.extend([up, load, cpus, mem, heard, from, to]);
}

/// A label value escaped as the text format wants (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn value(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The text format: `# HELP`, `# TYPE`, then the samples of each family
/// that has any.
pub fn format(s: &Snapshot) -> String {
    let mut t = String::new();
    for f in families(s).iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(t, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(t, "# TYPE {} {}", f.name, f.kind);
        for smp in &f.samples {
            let labels: Vec<String> = smp.labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
            let _ = writeln!(t, "{}{labels} {}", smp.name, value(smp.value));
        }
    }
    t
}

/// Every sample, for `--json`.
pub fn samples(s: &Snapshot) -> Vec<Sample> {
    families(s).into_iter().flat_map(|f| f.samples).collect()
}

/// `roamctl metrics [--output FILE]`: the text (or with `json` the samples
/// as one JSON array); with `output`, written there atomically and nothing
/// printed.
pub fn run(output: Option<&Path>, json: bool) -> Result<String, CtlError> {
    let snap = read(&sysfs::root())?;
    let text = if json { serde_json::to_string(&samples(&snap)).unwrap_or_default() } else { format(&snap) };
    let Some(path) = output else {
        return Ok(text.trim_end().to_string());
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let io = |what: &str, e: std::io::Error| CtlError::Io { action: format!("{what} {}", tmp.display()), detail: e.to_string() };
    std::fs::write(&tmp, &text).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("rename into place", e)
    })?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysfs::testdir::TempDir;

    fn fixture() -> TempDir {
        let d = TempDir::new("metrics");
        d.file("node_id", "1\n");
        d.file("state", "up\n");
        d.file("version", "0.1.0\n");
        d.file("load", "load 1200\nload_slow 1000\nnr_running 2\nncpus 2\nspeed 1000\nfree_mem_mb 300\ndecay 975 926\n");
        d.file("stats", "frames_sent 10\nframes_received 9\nbytes_sent 1000\nbytes_received 900\nsend_failures 1\nreceivers 2\nrejected_bad_mac 3\nrejected_replay 1\nrejected_total 4\n");
        d.file(
            "migrations",
            "moves_manual_ok 3\nmoves_manual_failed 1\nmoves_load_ok 2\nmoves_load_failed 0\nfreeze_le_ms_5 1\nfreeze_le_ms_1000 4\nfreeze_le_ms_30000 5\nfreeze_count 5\nfreeze_sum_us 2500000\narrivals_accepted 4\narrivals_refused 1\ncalls_forwarded 70\ncalls_served 12\nphase_out_capture_us 1500\nphase_out_ready_us 250000\nphase_in_commit_us 0\npages_from_files 303\nadoptions_parked 3\nadoptions_started 1\nadopt_stubs_parked 2\n",
        );
        d.file("nodes", "node=1 addr=10.0.0.1:7077 self=1 state=up load=1200\nnode=2 addr=10.0.0.2:7077 self=0 state=up load=500 ncpus=4 free_mem_mb=2 heard_ms=250 frames_from=5 frames_to=6\nnode=3 addr=10.0.0.3:7077 self=0 state=down load=-\n");
        d.file("guests", "");
        d.file("away", "");
        d
    }

    #[test]
    fn text_format() {
        let d = fixture();
        let t = format(&read(d.path()).unwrap());
        for line in [
            "# TYPE roam_load gauge",
            "roam_node_info{node=\"1\",state=\"up\",version=\"0.1.0\"} 1",
            "roam_load 1200",
            "roam_free_memory_bytes 314572800",
            "roam_guests 0",
            "roam_migrations_total{cause=\"manual\",result=\"ok\"} 3",
            "roam_migrations_total{cause=\"manual\",result=\"failed\"} 1",
            "# TYPE roam_migration_freeze_seconds histogram",
            "roam_migration_freeze_seconds_bucket{le=\"0.005\"} 1",
            "roam_migration_freeze_seconds_bucket{le=\"1\"} 4",
            "roam_migration_freeze_seconds_bucket{le=\"30\"} 5",
            "roam_migration_freeze_seconds_bucket{le=\"+Inf\"} 5",
            "roam_migration_freeze_seconds_sum 2.5",
            "roam_migration_freeze_seconds_count 5",
            "roam_arrivals_total{result=\"refused\"} 1",
            "roam_forwarded_calls_total 70",
            "roam_pages_from_files_total 303",
            "roam_adoptions_total{stub=\"parked\"} 3",
            "roam_adoptions_total{stub=\"started\"} 1",
            "roam_adopt_stubs_parked 2",
            "# TYPE roam_migration_phase_seconds_total counter",
            "roam_migration_phase_seconds_total{side=\"out\",phase=\"capture\"} 0.0015",
            "roam_migration_phase_seconds_total{side=\"out\",phase=\"ready\"} 0.25",
            "roam_migration_phase_seconds_total{side=\"in\",phase=\"commit\"} 0",
            "roam_frames_rejected_total{reason=\"bad_mac\"} 3",
            "roam_send_failures_total 1",
            "roam_receivers 2",
            "roam_peer_up{peer=\"2\",addr=\"10.0.0.2:7077\"} 1",
            "roam_peer_up{peer=\"3\",addr=\"10.0.0.3:7077\"} 0",
            "roam_peer_free_memory_bytes{peer=\"2\",addr=\"10.0.0.2:7077\"} 2097152",
            "roam_peer_last_heard_seconds{peer=\"2\",addr=\"10.0.0.2:7077\"} 0.25",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in\n{t}");
        }
        assert!(!t.contains("reason=\"total\""), "the sum is not a reason:\n{t}");
        assert!(!t.contains("peer=\"1\""), "this node is not its own peer:\n{t}");
        assert!(!t.contains("roam_peer_load{peer=\"3\""), "an unknown load is left out:\n{t}");
        // Every family has HELP and TYPE before its samples, once.
        let types = t.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(types, t.lines().filter(|l| l.starts_with("# HELP ")).count());
    }

    #[test]
    fn older_module_without_migrations() {
        let d = fixture();
        std::fs::remove_file(d.path().join("migrations")).unwrap();
        let t = format(&read(d.path()).unwrap());
        assert!(!t.contains("roam_migrations_total") && t.contains("roam_load 1200"), "{t}");
    }

    #[test]
    fn labels_and_values() {
        assert_eq!(seconds_label(5), "0.005");
        assert_eq!(seconds_label(250), "0.25");
        assert_eq!(seconds_label(1000), "1");
        assert_eq!(seconds_label(30000), "30");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(value(3.0), "3");
        assert_eq!(value(0.25), "0.25");
    }
}
