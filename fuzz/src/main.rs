//! `roam-fuzz`: fuzz roam's decoders on the host.
//!
//! ```text
//! roam-fuzz list
//! roam-fuzz run TARGET --seconds N --seed S
//! roam-fuzz all --seconds-each N --seed S
//! roam-fuzz repro TARGET FILE
//! ```
//!
//! Failing inputs go to `~/.cache/roam/fuzz/<target>/` (`--out` to
//! change), the numbers to `summary.json` there. Exits 1 if anything
//! failed, 2 on a usage error.

use clap::{Args, Parser, Subcommand};
use roam_fuzz::{artifact, panics, runner, summary, targets, Cx, Options, Report};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "roam-fuzz", about = "Mutation fuzzer for the decoders roam.ko runs on peer input")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the targets and what each decodes.
    List,
    /// Fuzz one target.
    Run {
        /// The target (see `roam-fuzz list`).
        target: String,
        /// Seconds to fuzz it.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Fuzz every target in turn.
    All {
        /// Seconds to fuzz each target.
        #[arg(long, default_value_t = 10.0)]
        seconds_each: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Run one saved input through a target and say what happened.
    Repro {
        /// The target.
        target: String,
        /// The input file (e.g. ~/.cache/roam/fuzz/TARGET/crash-...).
        file: PathBuf,
    },
}

#[derive(Args)]
struct Common {
    /// The seed: the same seed makes the same inputs in the same order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop a target after this many executions (besides the time).
    #[arg(long)]
    execs: Option<u64>,
    /// A single decode taking longer than this many milliseconds is a hang.
    #[arg(long, default_value_t = 1000)]
    hang_ms: u64,
    /// Where failing inputs and summary.json go [default: ~/.cache/roam/fuzz].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Go on after a failure, collecting the distinct ones.
    #[arg(long)]
    keep_going: bool,
    /// Also print each target's outcome classes.
    #[arg(long)]
    classes: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.cmd {
        Cmd::List => {
            for t in targets::all() {
                println!("{:<15} {}", t.name(), t.about());
            }
            ExitCode::SUCCESS
        }
        Cmd::Run { target, seconds, common } => match targets::find(&target) {
            Some(t) => fuzz(vec![t], seconds, &common),
            None => {
                eprintln!("roam-fuzz: no target {target:?}; `roam-fuzz list` shows them");
                ExitCode::from(2)
            }
        },
        Cmd::All { seconds_each, common } => fuzz(targets::all(), seconds_each, &common),
        Cmd::Repro { target, file } => repro(&target, &file),
    }
}

/// Fuzzes `list` for `seconds` each, prints the table, writes the summary.
fn fuzz(list: Vec<std::sync::Arc<dyn roam_fuzz::Target>>, seconds: f64, c: &Common) -> ExitCode {
    if !seconds.is_finite() || seconds < 0.0 {
        eprintln!("roam-fuzz: --seconds must be a number of seconds");
        return ExitCode::from(2);
    }
    let overflow_checks = panics::overflow_checks_on();
    if !overflow_checks {
        eprintln!(
            "roam-fuzz: warning: built without overflow checks, so arithmetic overflow (a panic in the kernel) goes unseen; \
             build with CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true"
        );
    }
    let dir = c.out.clone().unwrap_or_else(artifact::default_dir);
    let opts = Options {
        seed: c.seed,
        time: Duration::from_secs_f64(seconds),
        max_execs: c.execs,
        hang: Duration::from_millis(c.hang_ms.max(1)),
        out_dir: Some(dir.clone()),
        keep_going: c.keep_going,
        verbose: true,
    };
    println!(
        "roam-fuzz: {} target(s), {seconds} s each, seed {}, failing inputs in {}",
        list.len(),
        c.seed,
        dir.display()
    );
    println!("{}", summary::header());
    let mut reports: Vec<Report> = Vec::new();
    for t in list {
        let r = runner::run(t, &opts);
        println!("{}", summary::line(&r));
        if c.classes {
            println!("{}", summary::classes(&r));
        }
        reports.push(r);
    }
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.failures.is_empty()).collect();
    for r in &failed {
        for f in &r.failures {
            println!("FAIL {} {}: {} at {}", r.target, f.kind.name(), f.detail, f.location);
            if let Some(p) = &f.path {
                println!("     input: {}  (roam-fuzz repro {} {})", p.display(), r.target, p.display());
            }
        }
    }
    let v = summary::to_json(&reports, c.seed, seconds, overflow_checks);
    match summary::write(&dir, &v) {
        Ok(p) => println!("summary: {}", p.display()),
        Err(e) => eprintln!("roam-fuzz: cannot write the summary under {}: {e}", dir.display()),
    }
    let execs: u64 = reports.iter().map(|r| r.execs).sum();
    println!("{} passed, {} failed ({execs} executions)", reports.len() - failed.len(), failed.len());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs one saved input through `target`.
fn repro(target: &str, file: &std::path::Path) -> ExitCode {
    let Some(t) = targets::find(target) else {
        eprintln!("roam-fuzz: no target {target:?}; `roam-fuzz list` shows them");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("roam-fuzz: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    print!("{}", artifact::hex(&data, 4096));
    let started = std::time::Instant::now();
    let mut cx = Cx::new();
    let verdict = std::thread::scope(|s| {
        s.spawn(|| {
            panics::quiet_this_thread();
            panics::catch(|| t.run(&data, &mut cx))
        })
        .join()
    });
    let took = started.elapsed();
    let classes: Vec<String> = cx.hits().iter().map(|(s, o)| format!("{s}:{o}")).collect();
    println!("classes: {}", classes.join(" "));
    println!("took {:.3} s", took.as_secs_f64());
    match verdict {
        Ok(Ok(Ok(()))) => {
            println!("ok: no panic, no broken promise");
            ExitCode::SUCCESS
        }
        Ok(Ok(Err(v))) => {
            println!("violation: {}: {}", v.check, v.detail);
            ExitCode::from(1)
        }
        Ok(Err(p)) => {
            println!("panic: {} at {}\n{}", p.message, p.location, p.backtrace);
            ExitCode::from(1)
        }
        Err(_) => {
            println!("the run failed outside the target");
            ExitCode::from(1)
        }
    }
}
