//! The harness can fail: a target that panics is reported as a crash
//! (input saved, panic site named), one that breaks a promise as a
//! violation, one that never returns or returns too late as a hang, and
//! the same seed makes the same run.

use roam_fuzz::{run, Cx, Kind, Options, Report, Target, Violation};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A fresh output directory for one test.
fn out_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roam-fuzz-test-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn opts(dir: &std::path::Path, hang_ms: u64) -> Options {
    Options {
        seed: 42,
        time: Duration::from_secs(20),
        max_execs: Some(20_000),
        hang: Duration::from_millis(hang_ms),
        out_dir: Some(dir.to_path_buf()),
        keep_going: false,
        verbose: false,
    }
}

/// What each fake target does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Panics (an index out of bounds) on inputs longer than 20 bytes,
    /// which only mutations make: the seed is 16 bytes.
    PanicsOnLong,
    /// Claims a broken promise when the first byte is 0xff.
    ViolatesOnFf,
    /// Spins until RELEASE is set, on every input but the seed.
    Loops,
    /// Takes 300 ms on every input.
    Slow,
}

static RELEASE: AtomicBool = AtomicBool::new(false);

struct Fake(Behaviour, &'static str);

impl Target for Fake {
    fn name(&self) -> &'static str {
        self.1
    }
    fn about(&self) -> &'static str {
        "a deliberately failing target"
    }
    fn seeds(&self) -> Vec<Vec<u8>> {
        vec![vec![0; 16]]
    }
    fn max_len(&self) -> usize {
        64
    }
    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        cx.hit("fake", if data.len() > 16 { "long" } else { "short" });
        match self.0 {
            Behaviour::PanicsOnLong => {
                let table = [0u8; 21];
                let _ = std::hint::black_box(table[data.len().min(30)]);
            }
            Behaviour::ViolatesOnFf => roam_fuzz::ensure!(data.first() != Some(&0xff), "first byte {:#x}", data[0]),
            Behaviour::Loops => {
                if data != [0; 16] {
                    while !RELEASE.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            Behaviour::Slow => std::thread::sleep(Duration::from_millis(300)),
        }
        Ok(())
    }
}

fn fuzz(b: Behaviour, name: &'static str, hang_ms: u64) -> (Report, PathBuf) {
    let dir = out_dir(name);
    let r = run(Arc::new(Fake(b, name)), &opts(&dir, hang_ms));
    (r, dir)
}

#[test]
fn a_panicking_target_is_reported_as_a_crash() {
    let (r, dir) = fuzz(Behaviour::PanicsOnLong, "panics", 1000);
    assert_eq!(r.failures.len(), 1, "{r:?}");
    let f = &r.failures[0];
    assert_eq!(f.kind, Kind::Panic);
    assert!(f.detail.contains("index out of bounds"), "{}", f.detail);
    assert!(f.location.contains("harness.rs"), "{}", f.location);
    assert!(f.input.len() > 20);
    let path = f.path.as_ref().expect("saved");
    assert!(path.starts_with(dir.join("panics")) && path.file_name().unwrap().to_string_lossy().starts_with("crash-"));
    assert_eq!(std::fs::read(path).unwrap(), f.input);
    // The seed itself passed: the failure came from a mutation.
    assert!(f.exec >= 1 && r.execs == f.exec + 1, "stops at the first crash");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_promise_is_reported_as_a_violation() {
    let (r, dir) = fuzz(Behaviour::ViolatesOnFf, "violates", 1000);
    let f = r.failures.first().expect("found");
    assert_eq!(f.kind, Kind::Violation);
    assert_eq!(f.location, "data.first() != Some(&0xff)");
    assert_eq!(f.input[0], 0xff);
    assert!(f.path.as_ref().is_some_and(|p| p.exists()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_decode_that_never_returns_is_reported_as_a_hang() {
    let (r, dir) = fuzz(Behaviour::Loops, "loops", 200);
    RELEASE.store(true, Ordering::Relaxed);
    let f = r.failures.first().expect("found");
    assert_eq!(f.kind, Kind::Hang);
    assert!(f.detail.contains("still running"), "{}", f.detail);
    assert_ne!(f.input, vec![0; 16]);
    let path = f.path.as_ref().expect("saved");
    assert!(path.file_name().unwrap().to_string_lossy().starts_with("hang-"));
    assert_eq!(std::fs::read(path).unwrap(), f.input);
    assert!(r.seconds < 5.0, "the watchdog took {} s", r.seconds);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_decode_that_returns_too_late_is_reported_as_a_hang() {
    let (r, dir) = fuzz(Behaviour::Slow, "slow", 100);
    let f = r.failures.first().expect("found");
    assert_eq!(f.kind, Kind::Hang);
    assert_eq!(f.exec, 0, "the seed itself is too slow");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn keep_going_collects_distinct_failures_once() {
    let dir = out_dir("keep-going");
    let o = Options { keep_going: true, max_execs: Some(3000), ..opts(&dir, 1000) };
    let r = run(Arc::new(Fake(Behaviour::PanicsOnLong, "keep-going")), &o);
    assert_eq!(r.execs, 3000);
    assert_eq!(r.failures.len(), 1, "one panic site, reported once");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_same_seed_makes_the_same_run() {
    let t = roam_fuzz::targets::find("image_msg").expect("target");
    let o = Options { max_execs: Some(1500), out_dir: None, ..opts(&std::env::temp_dir(), 1000) };
    let (a, b) = (run(t.clone(), &o), run(t.clone(), &o));
    assert_eq!((a.execs, &a.classes, a.corpus), (b.execs, &b.classes, b.corpus));
    let c = run(t, &Options { seed: 43, ..o });
    assert_ne!(a.classes, c.classes, "another seed, other inputs");
}
