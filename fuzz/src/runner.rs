//! Running one target: the seeded mutation loop on a worker thread, and
//! the watchdog on the calling thread that catches a decode that never
//! returns.
//!
//! The worker first runs every seed unchanged, then, until the time or
//! execution budget is spent: picks a corpus input, mutates it
//! ([`crate::mutate`]), lets the target repair its MAC or checksum on
//! about half of them ([`Target::fixup`]), and runs the target under
//! [`panics::catch`]. A panic, a broken promise ([`Violation`]) or a run
//! slower than the hang budget is a [`Failure`]: its input is saved and
//! printed in hex. An input that reaches an outcome class not seen before
//! joins the corpus (the classes are the coverage proxy).
//!
//! The watchdog polls the worker: if one run has lasted longer than the
//! hang budget it reports a hang with the input being run, and leaves the
//! stuck thread behind (a thread cannot be killed; the process exits
//! soon after).
//!
//! Calls [`crate::mutate`], [`crate::panics`], [`crate::artifact`] and
//! [`crate::rng`].

use crate::artifact;
use crate::mutate::Mutator;
use crate::panics;
use crate::rng::Rng;
use crate::target::{Class, Cx, Target, Violation};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most inputs the corpus grows to.
const MAX_CORPUS: usize = 1024;
/// Most distinct failures one target collects with `keep_going`.
const MAX_FAILURES: usize = 32;
/// Runs between two updates of the numbers the watchdog reads.
const FLUSH_EVERY: u64 = 512;
/// Bytes of a failing input printed in hex.
const PRINT_LIMIT: usize = 4096;

/// How to run a target.
#[derive(Clone, Debug)]
pub struct Options {
    /// The run's seed: the same seed makes the same inputs.
    pub seed: u64,
    /// Wall-clock budget.
    pub time: Duration,
    /// Most runs (`None`: only the time limits).
    pub max_execs: Option<u64>,
    /// A single run lasting longer than this is a hang.
    pub hang: Duration,
    /// Where failing inputs are saved (`None`: not saved).
    pub out_dir: Option<PathBuf>,
    /// Go on after a failure, collecting distinct ones.
    pub keep_going: bool,
    /// Print failures and progress on stderr as they happen.
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            time: Duration::from_secs(10),
            max_execs: None,
            hang: Duration::from_secs(1),
            out_dir: Some(artifact::default_dir()),
            keep_going: false,
            verbose: true,
        }
    }
}

/// What kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The decoder panicked.
    Panic,
    /// The decoder returned something its documentation rules out.
    Violation,
    /// One run took longer than the hang budget (or never returned).
    Hang,
}

impl Kind {
    /// The word used in reports and file names.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Panic => "panic",
            Kind::Violation => "violation",
            Kind::Hang => "hang",
        }
    }
}

/// One failing input.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Panic, violation or hang.
    pub kind: Kind,
    /// What went wrong: the panic message, the broken check, the time.
    pub detail: String,
    /// Where: the panic's `file:line:col`, or the check's expression.
    pub location: String,
    /// The stack at a panic.
    pub backtrace: String,
    /// The input.
    pub input: Vec<u8>,
    /// Where the input was saved.
    pub path: Option<PathBuf>,
    /// Which run found it (0-based; the seeds come first).
    pub exec: u64,
}

impl Failure {
    /// What makes two failures the same bug: kind and place.
    pub fn signature(&self) -> String {
        format!("{}@{}", self.kind.name(), self.location)
    }
}

/// The result of running one target.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The target's name.
    pub target: &'static str,
    /// Runs made.
    pub execs: u64,
    /// Wall-clock time taken.
    pub seconds: f64,
    /// How many runs reached each outcome class.
    pub classes: BTreeMap<String, u64>,
    /// Inputs in the corpus at the end.
    pub corpus: usize,
    /// The distinct failures found.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Runs per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.execs as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Failures of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.failures.iter().filter(|f| f.kind == kind).count()
    }
}

/// What the worker and the watchdog share.
struct Shared {
    /// The input being run (read-locked while it runs).
    input: RwLock<Vec<u8>>,
    /// 1 + index of the run in progress; 0 between runs.
    current: AtomicU64,
    /// When the run in progress started, in ns since the start.
    started_ns: AtomicU64,
    /// Set by the watchdog after a hang: the worker stops.
    stop: AtomicBool,
    /// Set by the worker when it is done.
    done: AtomicBool,
    /// The numbers so far (updated every [`FLUSH_EVERY`] runs).
    report: Mutex<Report>,
}

/// Runs `target` as `opts` says and returns what it found.
pub fn run(target: Arc<dyn Target>, opts: &Options) -> Report {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        input: RwLock::new(Vec::new()),
        current: AtomicU64::new(0),
        started_ns: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
        report: Mutex::new(Report { target: target.name(), ..Report::default() }),
    });
    let worker = {
        let (target, shared, opts) = (target.clone(), shared.clone(), opts.clone());
        std::thread::Builder::new()
            .name(format!("fuzz-{}", target.name()))
            .stack_size(16 << 20)
            .spawn(move || Worker::new(target, shared, opts, start).run())
    };
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            eprintln!("roam-fuzz: cannot start a worker thread: {e}");
            return Report { target: target.name(), ..Report::default() };
        }
    };
    let poll = (opts.hang / 4).clamp(Duration::from_millis(5), Duration::from_millis(50));
    let mut next_status = Duration::from_secs(30);
    loop {
        std::thread::sleep(poll);
        if shared.done.load(Ordering::Acquire) {
            let _ = worker.join();
            break;
        }
        let now = start.elapsed();
        if opts.verbose && now >= next_status {
            next_status += Duration::from_secs(30);
            let r = lock(&shared.report);
            eprintln!(
                "  {}: {:.0} s, {} execs, {} classes, corpus {}",
                r.target,
                now.as_secs_f64(),
                r.execs,
                r.classes.len(),
                r.corpus
            );
        }
        if let Some(f) = hung(&shared, opts, now) {
            // The worker is stuck in a run: report it and leave it.
            shared.stop.store(true, Ordering::Release);
            let mut r = lock(&shared.report).clone();
            let f = record(target.name(), f, opts);
            r.failures.push(f);
            r.seconds = start.elapsed().as_secs_f64();
            return r;
        }
    }
    let mut r = lock(&shared.report).clone();
    r.seconds = start.elapsed().as_secs_f64();
    r
}

/// The hang in progress, if the current run has lasted longer than the
/// hang budget.
fn hung(shared: &Shared, opts: &Options, now: Duration) -> Option<Failure> {
    let seq = shared.current.load(Ordering::Acquire);
    if seq == 0 {
        return None;
    }
    let began = Duration::from_nanos(shared.started_ns.load(Ordering::Acquire));
    let ran = now.saturating_sub(began);
    if ran <= opts.hang {
        return None;
    }
    let input = shared.input.read().map(|g| g.clone()).unwrap_or_else(|e| e.into_inner().clone());
    // Still the same run: the input read is the one that hangs.
    if shared.current.load(Ordering::Acquire) != seq {
        return None;
    }
    Some(Failure {
        kind: Kind::Hang,
        detail: format!("still running after {:.2} s (budget {:.2} s)", ran.as_secs_f64(), opts.hang.as_secs_f64()),
        location: "(did not return)".to_string(),
        backtrace: String::new(),
        input,
        path: None,
        exec: seq - 1,
    })
}

/// Saves and prints a failure of `target`.
fn record(target: &str, mut f: Failure, opts: &Options) -> Failure {
    if let Some(dir) = &opts.out_dir {
        let prefix = if f.kind == Kind::Hang { "hang" } else { "crash" };
        match artifact::save(dir, target, prefix, &f.input) {
            Ok(p) => f.path = Some(p),
            Err(e) => eprintln!("roam-fuzz: cannot save the failing input under {}: {e}", dir.display()),
        }
    }
    if opts.verbose {
        eprintln!("\n=== {target}: {} at run {}: {}", f.kind.name(), f.exec, f.detail);
        eprintln!("    at {}", f.location);
        if let Some(p) = &f.path {
            eprintln!("    input ({} bytes) saved as {}", f.input.len(), p.display());
        }
        eprint!("{}", artifact::hex(&f.input, PRINT_LIMIT));
        if !f.backtrace.is_empty() {
            eprintln!("    backtrace:\n{}", f.backtrace);
        }
    }
    f
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The worker thread's state.
struct Worker {
    target: Arc<dyn Target>,
    shared: Arc<Shared>,
    opts: Options,
    start: Instant,
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    classes: HashMap<Class, u64>,
    failures: Vec<Failure>,
    signatures: HashSet<String>,
    execs: u64,
}

impl Worker {
    fn new(target: Arc<dyn Target>, shared: Arc<Shared>, opts: Options, start: Instant) -> Worker {
        let rng = Rng::new(opts.seed ^ artifact::hash(target.name().as_bytes()));
        Worker {
            target,
            shared,
            opts,
            start,
            rng,
            corpus: Vec::new(),
            classes: HashMap::new(),
            failures: Vec::new(),
            signatures: HashSet::new(),
            execs: 0,
        }
    }

    fn run(mut self) {
        panics::quiet_this_thread();
        let seeds = self.target.seeds();
        self.corpus = if seeds.is_empty() { vec![Vec::new()] } else { seeds.clone() };
        let mut cx = Cx::new();
        let target = self.target.clone();
        let mutator = Mutator::for_target(&*target);
        let mut pending_seeds = seeds.into_iter();
        while !self.over() {
            {
                let mut input = self.shared.input.write().unwrap_or_else(|e| e.into_inner());
                match pending_seeds.next() {
                    Some(s) => *input = s,
                    None => {
                        let base = self.rng.below(self.corpus.len());
                        input.clear();
                        input.extend_from_slice(&self.corpus[base]);
                        mutator.mutate(&mut input, &self.corpus, &mut self.rng);
                        if self.rng.one_in(2) {
                            target.fixup(&mut input, &mut self.rng);
                            input.truncate(target.max_len());
                        }
                    }
                }
            }
            self.exec(&mut cx);
            if self.execs.is_multiple_of(FLUSH_EVERY) {
                self.flush();
            }
        }
        self.flush();
        self.shared.done.store(true, Ordering::Release);
    }

    /// Whether the budget is spent or the run must end.
    fn over(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
            || self.opts.max_execs.is_some_and(|m| self.execs >= m)
            || self.start.elapsed() >= self.opts.time
            || (!self.failures.is_empty() && !self.opts.keep_going)
            || self.failures.len() >= MAX_FAILURES
    }

    /// One run of the target on the shared input.
    fn exec(&mut self, cx: &mut Cx) {
        let input = self.shared.input.read().unwrap_or_else(|e| e.into_inner());
        cx.clear();
        let began = self.start.elapsed();
        self.shared.started_ns.store(began.as_nanos() as u64, Ordering::Release);
        self.shared.current.store(self.execs + 1, Ordering::Release);
        let target = &self.target;
        let verdict = panics::catch(|| target.run(&input, cx));
        self.shared.current.store(0, Ordering::Release);
        let took = self.start.elapsed().saturating_sub(began);
        let exec = self.execs;
        self.execs += 1;
        let mut new_class = false;
        for c in cx.hits() {
            let n = self.classes.entry(*c).or_insert(0);
            new_class |= *n == 0;
            *n += 1;
        }
        let failure = match verdict {
            Ok(Ok(())) if took > self.opts.hang => Some((
                Kind::Hang,
                format!("took {:.2} s (budget {:.2} s)", took.as_secs_f64(), self.opts.hang.as_secs_f64()),
                "(returned late)".to_string(),
                String::new(),
            )),
            Ok(Ok(())) => None,
            Ok(Err(Violation { check, detail })) => Some((Kind::Violation, detail, check.to_string(), String::new())),
            Err(p) => Some((Kind::Panic, p.message, p.location, p.backtrace)),
        };
        let keep = failure.is_some() || (new_class && self.corpus.len() < MAX_CORPUS);
        let data = if keep { input.clone() } else { Vec::new() };
        drop(input);
        if let Some((kind, detail, location, backtrace)) = failure {
            let f = Failure { kind, detail, location, backtrace, input: data, path: None, exec };
            if self.signatures.insert(f.signature()) {
                let f = record(self.target.name(), f, &self.opts);
                self.failures.push(f);
                self.flush();
            }
        } else if new_class && self.corpus.len() < MAX_CORPUS {
            self.corpus.push(data);
        }
    }

    /// Publishes the numbers so far.
    fn flush(&self) {
        let mut r = lock(&self.shared.report);
        r.execs = self.execs;
        r.classes = self.classes.iter().map(|((stage, outcome), n)| (format!("{stage}:{outcome}"), *n)).collect();
        r.corpus = self.corpus.len();
        r.failures = self.failures.clone();
    }
}
