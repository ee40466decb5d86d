//! Running commands with their output in a log file, progress on long
//! steps, and failures that name the log and say what to try.
//!
//! Calls nothing else in xtask.

use anyhow::{bail, Context, Result};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where things live: the repository and the cache outside it.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub root: PathBuf,
    pub cache: PathBuf,
}

impl Ctx {
    pub fn new() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        let cache = match std::env::var_os("ROAM_CACHE") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let home = std::env::var_os("HOME").context("HOME is not set; set ROAM_CACHE")?;
                PathBuf::from(home).join(".cache/roam")
            }
        };
        fs::create_dir_all(&cache).with_context(|| format!("cannot create cache {}", cache.display()))?;
        fs::create_dir_all(cache.join("logs"))?;
        Ok(Ctx { root, cache })
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.cache.join("logs").join(format!("{name}.log"))
    }
}

/// Prints a step header.
pub fn step(msg: &str) {
    println!("==> {msg}");
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The last `n` lines of a file, for failure messages.
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else { return String::new() };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(|l| l.ok()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("    {l}\n")).collect()
}

fn last_line(path: &Path) -> String {
    let t = tail(path, 1);
    let t = t.trim();
    let mut s: String = t.chars().take(90).collect();
    if t.chars().count() > 90 {
        s.push('…');
    }
    s
}

/// Runs `cmd` with stdout and stderr appended to `log`. While it runs, prints
/// the elapsed time and the log's last line every 15 s (`what` names the
/// step). On failure, returns an error naming the log, its tail and `hint`.
pub fn run_logged(cmd: &mut Command, log: &Path, what: &str, hint: &str) -> Result<Duration> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open log {}", log.display()))?;
    writeln!(f, "\n$ {:?}", cmd)?;
    let err = f.try_clone()?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(f))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    let done = Arc::new(AtomicBool::new(false));
    let ticker = {
        let done = done.clone();
        let log = log.to_path_buf();
        let what = what.to_string();
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= Duration::from_secs(15) {
                    last = Instant::now();
                    println!("    … {what}: {} — {}", fmt_duration(start.elapsed()), last_line(&log));
                }
            }
        })
    };
    let status = child.wait();
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    let status = status?;
    if !status.success() {
        bail!(
            "{what} failed ({status}) after {}.\n  log: {}\n  last lines:\n{}  try: {hint}",
            fmt_duration(start.elapsed()),
            log.display(),
            tail(log, 25)
        );
    }
    Ok(start.elapsed())
}

/// Runs a short command and returns its stdout, failing with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a short command, ignoring its output; true if it succeeded.
pub fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// FNV-1a, 64 bit: a stable fingerprint for cache keys (not security).
pub fn fnv64(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for &b in p.iter().chain([0xffu8].iter()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// Whether we run as root (needed for network namespaces and apt).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Number of CPUs for `make -j`.
pub fn ncpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Finds a program on PATH or in cargo's bin directory.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// PATH with cargo's bin directory added (bindgen lives there).
pub fn path_with_cargo_bin() -> String {
    let mut p = std::env::var("PATH").unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        let bin = PathBuf::from(home).join(".cargo/bin");
        p = format!("{}:{p}", bin.display());
    }
    p
}
