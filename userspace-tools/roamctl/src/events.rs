//! `roamctl events`: the migrations started from this node, from
//! `/sys/kernel/roam/events`, once or followed as they happen.
//!
//! The module shows its newest 36 events, oldest first, one per line:
//! `seq=12 ms=34567 pid=85 comm=migrate_work from=1 to=2 cause=load result=ok`.
//! `seq` grows by one per event, so following the file means printing the
//! events whose seq is above the last one printed.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::CtlError;
use crate::lists::{number, split_comm, word};
use crate::sysfs;

/// How many events the module shows at most.
pub const SHOWN: u64 = 36;

/// How often `--follow` reads the file.
pub const POLL: Duration = Duration::from_millis(500);

/// One migration started from this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: u64,
    /// When it ended, in monotonic milliseconds (since boot).
    pub ms: u64,
    /// The process's pid on this node.
    pub pid: u32,
    pub comm: String,
    pub from: u32,
    pub to: u32,
    /// `manual`, `load`, `memory`, `recall`, `expel` or `syscall`.
    pub cause: String,
    /// `ok`, or why it failed (`not-accepting`, `link`, `busy`, ...).
    pub result: String,
}

impl Event {
    pub fn ok(&self) -> bool {
        self.result == "ok"
    }
}

/// Parses one line; `None` when `seq`, `ms`, `pid`, `from` or `to` is
/// missing or not a number. The command name runs from `comm=` to the last
/// ` from=`, so it may contain spaces.
pub fn parse_line(line: &str) -> Option<Event> {
    let (head, comm, tail) = match split_comm(line) {
        Some((head, rest)) => match rest.rfind(" from=") {
            Some(j) => (head, &rest[..j], &rest[j..]),
            None => (head, rest, ""),
        },
        None => (line, "", line),
    };
    let text = |key: &str| word(tail, key).unwrap_or("?").to_string();
    Some(Event {
        seq: number(head, "seq")?,
        ms: number(head, "ms")?,
        pid: number(head, "pid")?,
        comm: comm.to_string(),
        from: number(tail, "from")?,
        to: number(tail, "to")?,
        cause: text("cause"),
        result: text("result"),
    })
}

/// Every well-formed line, in file order (oldest first).
pub fn parse(text: &str) -> Vec<Event> {
    text.lines().filter_map(parse_line).collect()
}

/// The newest seq in `events`, if any.
pub fn newest(events: &[Event]) -> Option<u64> {
    events.iter().map(|e| e.seq).max()
}

/// Monotonic milliseconds as seconds: `34.567`.
pub fn fmt_ms(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The column titles of [`format_line`].
pub fn header() -> String {
    format!(
        "{:>5}  {:>10}  {:>6}  {:<15}  {:>4}  {:>4}  {:<7}  {}",
        "SEQ", "TIME_S", "PID", "COMM", "FROM", "TO", "CAUSE", "RESULT"
    )
}

/// One event in fixed columns, so that followed lines stay aligned.
pub fn format_line(e: &Event) -> String {
    format!(
        "{:>5}  {:>10}  {:>6}  {:<15}  {:>4}  {:>4}  {:<7}  {}",
        e.seq,
        fmt_ms(e.ms),
        e.pid,
        e.comm,
        e.from,
        e.to,
        e.cause,
        e.result
    )
}

/// One event as one line of JSON:
/// `{"seq":..,"ms":..,"pid":..,"comm":..,"from":..,"to":..,"cause":..,"result":..}`.
pub fn format_json(e: &Event) -> String {
    serde_json::to_string(e).expect("strings and numbers always serialize")
}

/// The whole list: a table, or with `json` one object per line (nothing
/// when there are no events).
pub fn format(events: &[Event], json: bool) -> String {
    if json {
        return events.iter().map(format_json).collect::<Vec<_>>().join("\n");
    }
    let mut lines = vec![header()];
    lines.extend(events.iter().map(format_line));
    lines.join("\n")
}

/// Reads and parses the events file under `root`.
pub fn read(root: &Path) -> Result<Vec<Event>, CtlError> {
    Ok(parse(&sysfs::read(root, "events")?))
}

/// `roamctl events` without `--follow`.
pub fn run(json: bool) -> Result<String, CtlError> {
    Ok(format(&read(&sysfs::root())?, json))
}

/// What one read of the file adds to what was already printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Events not seen before, oldest first.
    pub events: Vec<Event>,
    /// Events that came and scrolled out of the file between two reads.
    pub missed: u64,
    /// The newest seq went backwards: the module was loaded again and its
    /// log started over, so everything in the file is new.
    pub restarted: bool,
}

/// Remembers the newest seq seen, to pick the new events out of each read.
#[derive(Clone, Debug, Default)]
pub struct Follower {
    last: Option<u64>,
}

impl Follower {
    /// A follower that has seen nothing: the first [`Self::take`] returns
    /// everything in the file.
    pub fn new() -> Self {
        Self::default()
    }

    /// A follower that treats `events` as already seen (`--new`).
    pub fn after(events: &[Event]) -> Self {
        Follower { last: newest(events) }
    }

    /// The newest seq seen so far.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// The events of this read that were not returned before.
    pub fn take(&mut self, events: Vec<Event>) -> Batch {
        let top = newest(&events);
        let restarted = match (self.last, top) {
            (Some(last), Some(top)) => top < last,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let after = if restarted { None } else { self.last };
        let mut fresh: Vec<Event> = events.into_iter().filter(|e| !matches!(after, Some(l) if e.seq <= l)).collect();
        fresh.sort_by_key(|e| e.seq);
        fresh.dedup_by_key(|e| e.seq);
        let missed = match (after, fresh.first()) {
            (Some(last), Some(first)) => first.seq - last - 1,
            _ => 0,
        };
        if restarted {
            self.last = top;
        } else if let Some(e) = fresh.last() {
            self.last = Some(e.seq);
        }
        Batch { events: fresh, missed, restarted }
    }
}

/// `--follow`'s bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowOpts {
    /// Stop after printing this many events.
    pub count: Option<u64>,
    /// Stop after this long.
    pub seconds: Option<f64>,
    /// Skip the events already in the file; print only later ones.
    pub new_only: bool,
    /// Time between reads.
    pub interval: Duration,
}

impl Default for FollowOpts {
    fn default() -> Self {
        FollowOpts { count: None, seconds: None, new_only: false, interval: POLL }
    }
}

/// The passing of time, replaceable in tests.
pub trait Clock {
    /// Time since some fixed start.
    fn now(&mut self) -> Duration;
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
pub struct RealClock(Instant);

impl RealClock {
    pub fn new() -> Self {
        RealClock(Instant::now())
    }
}

impl Default for RealClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClock {
    fn now(&mut self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// `roamctl events --follow`: prints the events, then each new one as it
/// appears, until a bound in `opts` is reached or stdout closes.
pub fn follow(opts: &FollowOpts, json: bool) -> Result<(), CtlError> {
    let root = sysfs::root();
    follow_with(
        || sysfs::read(&root, "events"),
        &mut io::stdout(),
        &mut io::stderr(),
        opts,
        json,
        &mut RealClock::new(),
    )
}

/// [`follow`] with the file, the outputs and the clock supplied. Notes
/// about missed events and restarts go to `err`; a failed write to `out`
/// (a closed pipe) ends the run without an error.
pub fn follow_with(
    mut read: impl FnMut() -> Result<String, CtlError>,
    out: &mut impl Write,
    err: &mut impl Write,
    opts: &FollowOpts,
    json: bool,
    clock: &mut impl Clock,
) -> Result<(), CtlError> {
    let start = clock.now();
    let limit = opts.seconds.map(Duration::from_secs_f64);
    let mut printed: u64 = 0;
    let done = |printed: u64| opts.count.is_some_and(|c| printed >= c);
    if !json && writeln!(out, "{}", header()).and_then(|_| out.flush()).is_err() {
        return Ok(());
    }
    let mut follower: Option<Follower> = None;
    loop {
        let events = parse(&read()?);
        let batch = match follower.as_mut() {
            Some(f) => f.take(events),
            None if opts.new_only => {
                follower = Some(Follower::after(&events));
                Batch::default()
            }
            None => follower.insert(Follower::new()).take(events),
        };
        if batch.restarted {
            let _ = writeln!(err, "roamctl: the event log started over (was roam loaded again?)");
        }
        if batch.missed > 0 {
            let _ = writeln!(
                err,
                "roamctl: {} events were not seen: more than {SHOWN} happened between two reads",
                batch.missed
            );
        }
        for e in &batch.events {
            if done(printed) {
                break;
            }
            let line = if json { format_json(e) } else { format_line(e) };
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(());
            }
            printed += 1;
        }
        if done(printed) {
            return Ok(());
        }
        let elapsed = clock.now().saturating_sub(start);
        let wait = match limit {
            Some(l) if elapsed >= l => return Ok(()),
            Some(l) => opts.interval.min(l - elapsed),
            None => opts.interval,
        };
        clock.sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const SAMPLE: &str = "seq=12 ms=34567 pid=85 comm=migrate_work from=1 to=2 cause=load result=ok\n\
        seq=13 ms=35001 pid=86 comm=my job from=1 to=3 cause=manual result=not-accepting\n";

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            ms: seq * 1000,
            pid: 100 + seq as u32,
            comm: "w".into(),
            from: 1,
            to: 2,
            cause: "load".into(),
            result: "ok".into(),
        }
    }

    fn file(seqs: impl IntoIterator<Item = u64>) -> String {
        seqs.into_iter()
            .map(|s| format!("seq={s} ms={} pid={} comm=w from=1 to=2 cause=load result=ok\n", s * 1000, 100 + s))
            .collect()
    }

    #[test]
    fn parses_lines() {
        let e = parse(SAMPLE);
        assert_eq!(
            e[0],
            Event {
                seq: 12,
                ms: 34567,
                pid: 85,
                comm: "migrate_work".into(),
                from: 1,
                to: 2,
                cause: "load".into(),
                result: "ok".into(),
            }
        );
        assert!(e[0].ok());
        assert_eq!(e[1].comm, "my job");
        assert_eq!(e[1].to, 3);
        assert_eq!(e[1].result, "not-accepting");
        assert!(!e[1].ok());
        // A name that looks like fields is still the name.
        let odd = parse_line("seq=1 ms=2 pid=3 comm=a from=9 b from=1 to=2 cause=expel result=link").unwrap();
        assert_eq!((odd.comm.as_str(), odd.from, odd.cause.as_str()), ("a from=9 b", 1, "expel"));
        // Tolerant: no comm, unknown keys, missing words.
        let bare = parse_line("seq=1 ms=2 pid=3 from=4 to=5 extra=1").unwrap();
        assert_eq!((bare.comm.as_str(), bare.cause.as_str(), bare.result.as_str()), ("", "?", "?"));
        assert_eq!(parse_line("seq=x ms=2 pid=3 comm=a from=1 to=2"), None);
        assert_eq!(parse_line("seq=1 ms=2 pid=3 comm=a to=2"), None);
        assert!(parse("\n\njunk\n").is_empty());
        assert_eq!(newest(&e), Some(13));
    }

    #[test]
    fn output() {
        let e = parse(SAMPLE);
        let text = format(&e, false);
        assert_eq!(
            text,
            "  SEQ      TIME_S     PID  COMM             FROM    TO  CAUSE    RESULT\n   \
             12      34.567      85  migrate_work        1     2  load     ok\n   \
             13      35.001      86  my job              1     3  manual   not-accepting"
        );
        assert_eq!(format(&[], false), header());
        assert_eq!(format(&[], true), "");
        let json = format(&e, true);
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"seq":12,"ms":34567,"pid":85,"comm":"migrate_work","from":1,"to":2,"cause":"load","result":"ok"}"#
        );
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["comm"], "my job");
        assert_eq!(fmt_ms(5), "0.005");
    }

    #[test]
    fn follower_returns_each_event_once() {
        let mut f = Follower::new();
        let b = f.take(parse(&file(1..=3)));
        assert_eq!(b.events, [ev(1), ev(2), ev(3)]);
        assert_eq!((b.missed, b.restarted), (0, false));
        assert_eq!(f.take(parse(&file(1..=3))), Batch::default());
        assert_eq!(f.take(parse(&file(2..=5))).events, [ev(4), ev(5)]);
        assert_eq!(f.last(), Some(5));
        // Unordered or repeated lines change nothing.
        assert_eq!(f.take(vec![ev(7), ev(6), ev(7), ev(3)]).events, [ev(6), ev(7)]);
    }

    #[test]
    fn follower_counts_what_scrolled_away() {
        let mut f = Follower::new();
        f.take(parse(&file(1..=2)));
        // 3..=10 came and went: the file now starts at 11.
        let b = f.take(parse(&file(11..=46)));
        assert_eq!(b.missed, 8);
        assert_eq!(b.events.len(), 36);
        // Starting late is not missing anything.
        let b = Follower::new().take(parse(&file(11..=46)));
        assert_eq!((b.missed, b.events.len()), (0, 36));
    }

    #[test]
    fn follower_notices_a_restart() {
        let mut f = Follower::new();
        f.take(parse(&file(1..=9)));
        let b = f.take(parse(&file(1..=2)));
        assert!(b.restarted);
        assert_eq!(b.events, [ev(1), ev(2)]);
        assert_eq!(f.last(), Some(2));
        // An empty file after events: a new log, not yet written.
        let b = f.take(Vec::new());
        assert!(b.restarted && b.events.is_empty());
        assert_eq!(f.last(), None);
        assert_eq!(f.take(parse(&file(1..=1))).events, [ev(1)]);
        // Empty, then empty: nothing.
        let mut g = Follower::new();
        assert_eq!(g.take(Vec::new()), Batch::default());
        assert_eq!(Follower::after(&parse(&file(1..=4))).take(parse(&file(1..=5))).events, [ev(5)]);
    }

    /// A clock that only moves when slept on.
    struct Fake<'a> {
        t: &'a Cell<Duration>,
        slept: Vec<Duration>,
    }

    impl Clock for Fake<'_> {
        fn now(&mut self) -> Duration {
            self.t.get()
        }
        fn sleep(&mut self, d: Duration) {
            self.slept.push(d);
            self.t.set(self.t.get() + d);
        }
    }

    /// Runs follow over `script`: (from this millisecond on, the file
    /// holds this text). Returns stdout, stderr, the sleeps, the end time
    /// and the number of reads.
    fn run_follow(script: &[(u64, String)], opts: &FollowOpts, json: bool) -> (String, String, Vec<Duration>, Duration, usize) {
        let t = Cell::new(Duration::ZERO);
        let mut reads = 0;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let read = || {
            reads += 1;
            let now = t.get().as_millis() as u64;
            Ok(script.iter().rev().find(|(at, _)| *at <= now).map(|(_, text)| text.clone()).unwrap_or_default())
        };
        let mut clock = Fake { t: &t, slept: Vec::new() };
        follow_with(read, &mut out, &mut err, opts, json, &mut clock).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap(), clock.slept, t.get(), reads)
    }

    #[test]
    fn follow_prints_new_events_until_the_count() {
        let script = [(0, file(1..=2)), (1200, file(1..=3)), (2600, file(1..=6))];
        let opts = FollowOpts { count: Some(5), ..FollowOpts::default() };
        let (out, err, slept, end, _) = run_follow(&script, &opts, true);
        let seqs: Vec<u64> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(err, "");
        // Reads at 0, 500, 1000, 1500 (seq 3), 2000, 2500, 3000 (4..6).
        assert_eq!(end, Duration::from_millis(3000));
        assert!(slept.iter().all(|d| *d == POLL));
    }

    #[test]
    fn follow_stops_after_the_seconds() {
        let script = [(0, file(1..=1)), (700, file(1..=2))];
        let opts = FollowOpts { seconds: Some(1.2), ..FollowOpts::default() };
        let (out, _, slept, _, reads) = run_follow(&script, &opts, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], header());
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[2].trim_start().starts_with("2 "), "{out}");
        // Reads at 0, 0.5, 1.0 and a last one at 1.2.
        assert_eq!(slept, [POLL, POLL, Duration::from_millis(200)]);
        assert_eq!(reads, 4);
    }

    #[test]
    fn follow_new_skips_what_is_there() {
        let script = [(0, file(1..=3)), (400, file(1..=4))];
        let opts = FollowOpts { count: Some(1), new_only: true, ..FollowOpts::default() };
        let (out, _, _, _, _) = run_follow(&script, &opts, true);
        assert_eq!(out.lines().count(), 1);
        assert!(out.starts_with(r#"{"seq":4,"#), "{out}");
    }

    #[test]
    fn follow_reports_gaps_and_restarts() {
        let script = [(0, file(1..=1)), (500, file(10..=45)), (1000, file(1..=1))];
        let opts = FollowOpts { seconds: Some(1.0), ..FollowOpts::default() };
        let (out, err, _, _, _) = run_follow(&script, &opts, true);
        assert_eq!(out.lines().count(), 1 + 36 + 1);
        assert!(err.contains("8 events were not seen"), "{err}");
        assert!(err.contains("started over"), "{err}");
    }

    #[test]
    fn follow_passes_read_errors_on_and_stops_on_a_closed_pipe() {
        let t = Cell::new(Duration::ZERO);
        let mut clock = Fake { t: &t, slept: Vec::new() };
        let e = follow_with(
            || Err(CtlError::SysfsMissing { root: "/x".into() }),
            &mut Vec::new(),
            &mut Vec::new(),
            &FollowOpts::default(),
            true,
            &mut clock,
        )
        .unwrap_err();
        assert_eq!(e.exit_status(), 3);

        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::EPIPE))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        // No bound at all: only the closed pipe ends it.
        let r = follow_with(|| Ok(file(1..=3)), &mut Closed, &mut Vec::new(), &FollowOpts::default(), true, &mut clock);
        assert!(r.is_ok());
    }

    #[test]
    fn reads_the_file() {
        let d = crate::sysfs::testdir::TempDir::new("events");
        d.file("events", SAMPLE);
        assert_eq!(read(d.path()).unwrap().len(), 2);
        assert_eq!(read(&d.path().join("gone")).unwrap_err().exit_status(), 3);
    }
}
