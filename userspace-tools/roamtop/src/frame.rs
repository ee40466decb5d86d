//! One frame of `roamtop`: what is read from roam ([`Snapshot`]), the
//! rates between two snapshots ([`Rates`]) and the text drawn ([`render`]).

use std::path::Path;
use std::time::Duration;

use roamctl::error::CtlError;
use roamctl::events::{self, Event};
use roamctl::lists::{self, Away, Guest};
use roamctl::node::read_opt;
use roamctl::nodes::{self, table, Node};
use roamctl::ps::Proc;
use roamctl::counters;

/// One part of the frame, or why it cannot be shown.
pub type Part<T> = Result<T, String>;

/// The balancer's counters (`/sys/kernel/roam/balancer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balancer {
    pub context_switches: Option<u64>,
    pub started: Option<u64>,
    pub done: Option<u64>,
}

/// Everything one frame shows, read at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// When it was read, from roamtop's start.
    pub at: Duration,
    /// This node's id (`None`: not readable, or 0 = not configured).
    pub self_id: Option<u32>,
    pub nodes: Part<Vec<Node>>,
    /// `roamctl ps`: needs `/dev/roam`.
    pub procs: Part<Vec<Proc>>,
    pub guests: Part<Vec<Guest>>,
    pub away: Part<Vec<Away>>,
    pub events: Part<Vec<Event>>,
    pub balancer: Part<Balancer>,
}

/// Reads `name` and parses it; a missing file is a part not shown.
fn part<T>(root: &Path, name: &str, parse: impl FnOnce(&str) -> T) -> Part<T> {
    match read_opt(root, name) {
        Ok(Some(text)) => Ok(parse(&text)),
        Ok(None) => Err(format!("the loaded module has no `{name}` file")),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses the `balancer` file.
pub fn parse_balancer(text: &str) -> Balancer {
    let mut b = Balancer::default();
    for e in counters::parse(text) {
        let v = e.values.first().and_then(|v| v.parse().ok());
        match e.name.as_str() {
            "context_switches" => b.context_switches = v,
            "migrations_started" => b.started = v,
            "migrations_done" => b.done = v,
            _ => {}
        }
    }
    b
}

/// Reads a snapshot from the sysfs directory `root`; `ps` lists the
/// processes (`roamctl ps`'s listing, which needs `/dev/roam`). Only a
/// missing `root` (roam not loaded) is an error: any other part that
/// cannot be read is shown as unavailable.
pub fn gather(root: &Path, at: Duration, ps: impl FnOnce() -> Result<Vec<Proc>, CtlError>) -> Result<Snapshot, CtlError> {
    if !root.is_dir() {
        return Err(CtlError::SysfsMissing { root: root.display().to_string() });
    }
    let self_id = part(root, "node_id", |t| t.trim().parse::<u32>().ok()).ok().flatten().filter(|id| *id != 0);
    let procs = ps().map_err(|e| match e {
        CtlError::NotLoaded => "/dev/roam is absent".to_string(),
        e => e.to_string(),
    });
    Ok(Snapshot {
        at,
        self_id,
        nodes: part(root, "nodes", nodes::parse),
        procs,
        guests: part(root, "guests", lists::parse_guests),
        away: part(root, "away", lists::parse_away),
        events: part(root, "events", events::parse),
        balancer: part(root, "balancer", parse_balancer),
    })
}

/// Migrations per second between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// Migrations started from this node (the events' seq delta).
    pub started: Option<f64>,
    /// Migrations the balancer completed (`migrations_done` delta).
    pub done: Option<f64>,
}

/// `(new - old) / dt`, or `None` when either is unknown, the counter went
/// backwards (roam was loaded again) or no time passed.
fn per_second(old: Option<u64>, new: Option<u64>, dt: Duration) -> Option<f64> {
    let (old, new) = (old?, new?);
    (new >= old && !dt.is_zero()).then(|| (new - old) as f64 / dt.as_secs_f64())
}

/// The rates from `prev` to `now`; all `None` for the first frame.
pub fn rates(prev: Option<&Snapshot>, now: &Snapshot) -> Rates {
    let Some(prev) = prev else { return Rates::default() };
    let dt = now.at.saturating_sub(prev.at);
    // No event yet counts as seq 0: the log starts at 1.
    let seq = |s: &Snapshot| s.events.as_ref().ok().map(|e| events::newest(e).unwrap_or(0));
    let done = |s: &Snapshot| s.balancer.as_ref().ok().and_then(|b| b.done);
    Rates { started: per_second(seq(prev), seq(now), dt), done: per_second(done(prev), done(now), dt) }
}

/// How a frame is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Style {
    /// Characters inside a load bar's brackets.
    pub bar_width: usize,
    /// Recent migrations listed (0: none).
    pub events: usize,
    /// Seconds between frames, for the title (`None`: a single frame).
    pub interval: Option<String>,
}

impl Default for Style {
    fn default() -> Self {
        Style { bar_width: 30, events: 5, interval: Some("1".into()) }
    }
}

/// The load that fills a whole bar: one CPU, or the highest load shown.
pub fn bar_scale(nodes: &[Node]) -> u64 {
    nodes.iter().filter_map(|n| n.load).max().unwrap_or(0).max(1000)
}

/// `[#####     ]`: `load` out of `scale`, `width` characters inside;
/// blank for an unknown load.
pub fn bar(load: Option<u64>, scale: u64, width: usize) -> String {
    let filled = match load {
        Some(l) => {
            let f = (u128::from(l.min(scale)) * width as u128 + u128::from(scale) / 2) / u128::from(scale.max(1));
            // A node with any load shows at least one mark.
            (f as usize).max(usize::from(l > 0)).min(width)
        }
        None => 0,
    };
    format!("[{}{}]", "#".repeat(filled), " ".repeat(width - filled))
}

/// Load in CPUs: `0.53`; `-` when unknown.
pub fn fmt_load(load: Option<u64>) -> String {
    load.map_or_else(|| "-".into(), |l| format!("{}.{:02}", l / 1000, (l % 1000) / 10))
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}"))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The node table with load bars.
fn node_lines(nodes: &[Node], style: &Style) -> Vec<String> {
    let scale = bar_scale(nodes);
    let mut rows = vec![["NODE", "STATE", "LOAD", "", "FREE_MB", "CPUS", "SPEED"].map(String::from).to_vec()];
    for n in nodes {
        let mark = if n.is_self == Some(true) { "*" } else { "" };
        rows.push(vec![
            format!("{}{mark}", opt(n.id)),
            n.state.clone().unwrap_or_else(|| "-".into()),
            bar(n.load, scale, style.bar_width),
            fmt_load(n.load),
            opt(n.free_mem_mb),
            opt(n.ncpus),
            opt(n.speed),
        ]);
    }
    let mut lines: Vec<String> = table(&rows).lines().map(String::from).collect();
    if nodes.is_empty() {
        lines.push("(no nodes: the cluster is not configured; see `roamctl apply`)".into());
    } else {
        lines.push(format!("a full bar is a load of {} CPUs; * is this node", fmt_load(Some(scale))));
    }
    lines
}

/// Draws one frame, line by line.
pub fn render(s: &Snapshot, r: &Rates, style: &Style) -> Vec<String> {
    let mut out = Vec::new();
    let me = s.self_id.map_or_else(|| "node ? (no node id)".to_string(), |id| format!("node {id}"));
    let up = match &s.nodes {
        Ok(n) => format!(
            ", {} of {} nodes up",
            n.iter().filter(|n| n.state.as_deref() == Some("up")).count(),
            n.len()
        ),
        Err(_) => String::new(),
    };
    let every = style.interval.as_ref().map_or_else(String::new, |i| format!(", every {i} s"));
    out.push(format!("roamtop: {me}{up}{every}"));
    out.push(String::new());

    match &s.nodes {
        Ok(nodes) => out.extend(node_lines(nodes, style)),
        Err(e) => out.push(format!("NODES: not available: {e}")),
    }
    out.push(String::new());

    // Migrations: rates, then the balancer's totals.
    let first = if r.started.is_none() && r.done.is_none() { " (rates from the second frame on)" } else { "" };
    match &s.events {
        Ok(ev) => out.push(format!(
            "migrations started here: {}/s{first}; {} ok and {} failed of the last {}",
            fmt_rate(r.started),
            ev.iter().filter(|e| e.ok()).count(),
            ev.iter().filter(|e| !e.ok()).count(),
            ev.len()
        )),
        Err(e) => out.push(format!("migrations started here: not available: {e}")),
    }
    match &s.balancer {
        Ok(b) => out.push(format!(
            "balancer: {}/s done; {} done, {} started, {} context switches seen",
            fmt_rate(r.done),
            opt(b.done),
            opt(b.started),
            opt(b.context_switches)
        )),
        Err(e) => out.push(format!("balancer: not available: {e}")),
    }
    out.push(String::new());

    // This node's processes and where they run.
    match &s.procs {
        Ok(procs) => {
            let count = |state: &str| procs.iter().filter(|p| p.state == state).count();
            out.push(format!(
                "PROCESSES: {} ({} running elsewhere, {} guests from other nodes)",
                procs.len(),
                count("away"),
                count("guest")
            ));
            out.extend(roamctl::ps::format(procs, false).lines().map(String::from));
        }
        Err(e) => {
            out.push(format!("PROCESSES: not available ({e}); this node's processes running elsewhere:"));
            match &s.away {
                Ok(away) => {
                    let mut rows = vec![["PID", "NODE", "REMOTE_PID"].map(String::from).to_vec()];
                    rows.extend(away.iter().map(|a| vec![a.pid.to_string(), a.node.to_string(), a.remote_pid.to_string()]));
                    out.extend(table(&rows).lines().map(String::from));
                    if away.is_empty() {
                        out.push("(none)".into());
                    }
                }
                Err(e) => out.push(format!("(not available: {e})")),
            }
        }
    }
    out.push(String::new());

    match &s.guests {
        Ok(guests) => {
            out.push(format!("GUESTS: {} from other nodes running here", guests.len()));
            if !guests.is_empty() {
                let mut rows = vec![["PID", "HOME", "HOME_PID", "COMM"].map(String::from).to_vec()];
                rows.extend(guests.iter().map(|g| {
                    vec![g.pid.to_string(), g.home.to_string(), g.home_pid.to_string(), g.comm.clone()]
                }));
                out.extend(table(&rows).lines().map(String::from));
            }
        }
        Err(e) => out.push(format!("GUESTS: not available: {e}")),
    }

    if style.events > 0 {
        if let Ok(ev) = &s.events {
            out.push(String::new());
            if ev.is_empty() {
                out.push("RECENT MIGRATIONS: none started from this node yet".into());
            } else {
                out.push("RECENT MIGRATIONS (newest last)".into());
                out.push(events::header());
                let skip = ev.len().saturating_sub(style.events);
                out.extend(ev[skip..].iter().map(events::format_line));
            }
        }
    }
    out
}

/// Cuts `lines` to fit a `rows` x `cols` terminal: long lines are cut
/// at `cols` characters; when too many, the last row says how many more.
pub fn fit(lines: &mut Vec<String>, rows: usize, cols: usize) {
    for l in lines.iter_mut() {
        if let Some((i, _)) = l.char_indices().nth(cols) {
            l.truncate(i);
            l.truncate(l.trim_end().len());
        }
    }
    // Leave the last row free for the cursor.
    let room = rows.saturating_sub(1).max(1);
    if lines.len() > room {
        let more = lines.len() - (room - 1);
        lines.truncate(room - 1);
        lines.push(format!("... {more} more lines (enlarge the window)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roamctl::ps::Proc;

    const NODES: &str = "node=1 addr=*:7077 self=1 state=up load=530 speed=1000 ncpus=1 free_mem_mb=957 age_ms=0\n\
        node=2 addr=10.77.0.2:7077 self=0 state=up load=1600 speed=1000 ncpus=1 free_mem_mb=880 age_ms=340\n\
        node=3 addr=10.77.0.3:7077 self=0 state=down load=- speed=- ncpus=- free_mem_mb=- age_ms=-\n";

    fn snapshot(at_ms: u64, seq: u64, done: u64) -> Snapshot {
        let events = (seq.saturating_sub(2)..=seq)
            .filter(|s| *s > 0)
            .map(|s| format!("seq={s} ms={} pid={} comm=migrate_work from=1 to=2 cause=load result=ok\n", s * 100, 80 + s))
            .collect::<String>();
        Snapshot {
            at: Duration::from_millis(at_ms),
            self_id: Some(1),
            nodes: Ok(nodes::parse(NODES)),
            procs: Ok(vec![
                Proc { pid: 1, node: 1, state: "home".into(), other_pid: 0, comm: "init".into() },
                Proc { pid: 81, node: 2, state: "away".into(), other_pid: 90, comm: "migrate_work".into() },
            ]),
            guests: Ok(lists::parse_guests("pid=85 home=3 home_pid=70 comm=cruncher\n")),
            away: Ok(lists::parse_away("pid=81 node=2 remote_pid=90\n")),
            events: Ok(events::parse(&events)),
            balancer: Ok(parse_balancer(&format!(
                "context_switches 5000\nmigrations_started {}\nmigrations_done {done}\n",
                done + 1
            ))),
        }
    }

    #[test]
    fn bars() {
        assert_eq!(bar(Some(500), 1000, 10), "[#####     ]");
        assert_eq!(bar(Some(1000), 1000, 4), "[####]");
        assert_eq!(bar(Some(0), 1000, 4), "[    ]");
        assert_eq!(bar(Some(1), 1000, 4), "[#   ]");
        assert_eq!(bar(None, 1000, 4), "[    ]");
        assert_eq!(bar(Some(5000), 2000, 4), "[####]");
        assert_eq!(bar(Some(u64::MAX), u64::MAX, 4), "[####]");
        let n = nodes::parse(NODES);
        assert_eq!(bar_scale(&n), 1600);
        assert_eq!(bar_scale(&n[..1]), 1000);
        assert_eq!(bar_scale(&[]), 1000);
        assert_eq!(fmt_load(Some(530)), "0.53");
        assert_eq!(fmt_load(Some(12_345)), "12.34");
        assert_eq!(fmt_load(None), "-");
    }

    #[test]
    fn balancer_file() {
        let b = parse_balancer("context_switches 12\nmigrations_started 3\nmigrations_done 2\nother 9\n");
        assert_eq!(b, Balancer { context_switches: Some(12), started: Some(3), done: Some(2) });
        assert_eq!(parse_balancer(""), Balancer::default());
    }

    #[test]
    fn rates_between_frames() {
        let a = snapshot(1000, 4, 2);
        let b = snapshot(3000, 7, 3);
        assert_eq!(rates(None, &a), Rates::default());
        let r = rates(Some(&a), &b);
        assert_eq!(r, Rates { started: Some(1.5), done: Some(0.5) });
        // roam loaded again: counters went back.
        assert_eq!(rates(Some(&b), &snapshot(4000, 1, 0)), Rates::default());
        // No events at all yet, then the first one.
        let r = rates(Some(&snapshot(0, 0, 0)), &snapshot(500, 1, 0));
        assert_eq!(r, Rates { started: Some(2.0), done: Some(0.0) });
        // An unreadable part has no rate.
        let mut c = snapshot(2000, 9, 4);
        c.events = Err("x".into());
        assert_eq!(rates(Some(&a), &c).started, None);
        assert_eq!(rates(Some(&a), &snapshot(1000, 9, 9)), Rates::default());
    }

    #[test]
    fn frame() {
        let a = snapshot(0, 4, 2);
        let b = snapshot(2000, 7, 3);
        let text = render(&b, &rates(Some(&a), &b), &Style::default()).join("\n");
        let want = "\
roamtop: node 1, 2 of 3 nodes up, every 1 s

NODE  STATE  LOAD                                    FREE_MB  CPUS  SPEED
1*    up     [##########                    ]  0.53  957      1     1000
2     up     [##############################]  1.60  880      1     1000
3     down   [                              ]  -     -        -     -
a full bar is a load of 1.60 CPUs; * is this node

migrations started here: 1.50/s; 3 ok and 0 failed of the last 3
balancer: 0.50/s done; 3 done, 4 started, 5000 context switches seen

PROCESSES: 2 (1 running elsewhere, 0 guests from other nodes)
PID  NODE  STATE  COMM
1    1     home   init
81   2     away   migrate_work

GUESTS: 1 from other nodes running here
PID  HOME  HOME_PID  COMM
85   3     70        cruncher

RECENT MIGRATIONS (newest last)
  SEQ      TIME_S     PID  COMM             FROM    TO  CAUSE    RESULT
    5       0.500      85  migrate_work        1     2  load     ok
    6       0.600      86  migrate_work        1     2  load     ok
    7       0.700      87  migrate_work        1     2  load     ok";
        assert_eq!(text, want);
    }

    #[test]
    fn frame_without_dev_roam_or_files() {
        let mut s = snapshot(0, 0, 0);
        s.procs = Err("/dev/roam is absent".into());
        s.balancer = Err("the loaded module has no `balancer` file".into());
        s.nodes = Ok(Vec::new());
        s.self_id = None;
        let text = render(&s, &Rates::default(), &Style { interval: None, ..Style::default() }).join("\n");
        assert!(text.starts_with("roamtop: node ? (no node id), 0 of 0 nodes up\n"), "{text}");
        assert!(text.contains("(no nodes: the cluster is not configured"), "{text}");
        assert!(text.contains("migrations started here: -/s (rates from the second frame on); 0 ok"), "{text}");
        assert!(text.contains("balancer: not available: the loaded module has no `balancer` file"), "{text}");
        assert!(
            text.contains(
                "PROCESSES: not available (/dev/roam is absent); this node's processes running elsewhere:\n\
                 PID  NODE  REMOTE_PID\n81   2     90\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("RECENT MIGRATIONS: none started from this node yet"), "{text}");
    }

    #[test]
    fn fitting_a_terminal() {
        let mut l: Vec<String> = (0..10).map(|i| format!("line {i} is long")).collect();
        fit(&mut l, 5, 6);
        assert_eq!(l, ["line 0", "line 1", "line 2", "... 7 more lines (enlarge the window)"]);
        let mut l = vec!["é".repeat(8), "ab   cd".into()];
        fit(&mut l, 24, 3);
        assert_eq!(l, ["ééé", "ab"]);
        let mut l = vec!["a".to_string(); 3];
        fit(&mut l, 4, 80);
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn gathers_from_a_directory() {
        let d = std::env::temp_dir().join(format!("roamtop-gather-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("node_id"), "1\n").unwrap();
        std::fs::write(d.join("nodes"), NODES).unwrap();
        std::fs::write(d.join("balancer"), "migrations_done 4\n").unwrap();
        let s = gather(&d, Duration::ZERO, || Err(CtlError::NotLoaded)).unwrap();
        assert_eq!(s.self_id, Some(1));
        assert_eq!(s.nodes.as_ref().map(Vec::len), Ok(3));
        assert_eq!(s.procs, Err("/dev/roam is absent".into()));
        assert_eq!(s.balancer.map(|b| b.done), Ok(Some(4)));
        assert_eq!(s.events, Err("the loaded module has no `events` file".into()));
        let e = gather(&d.join("gone"), Duration::ZERO, || Ok(Vec::new())).unwrap_err();
        assert_eq!(e.exit_status(), 3);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
