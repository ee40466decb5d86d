//! The writer and the reader agree: a guest program's real output, run
//! here on the host where roam is not loaded, parses into a well-formed
//! report whose failures match the program's exit status.

use std::process::Command;

use roam_tests::ktap::{parse, Outcome};

#[test]
fn roam_module_output_parses() {
    let out = Command::new(env!("CARGO_BIN_EXE_roam_module"))
        .output()
        .expect("run roam_module");
    let text = String::from_utf8_lossy(&out.stdout);
    let report = parse(&text);
    assert!(report.version_seen, "{text}");
    assert_eq!(report.plan, Some(report.results.len()), "{text}");
    assert!(report.problems.is_empty(), "{:?}\n{text}", report.problems);
    let any_failed = report.results.iter().any(|r| r.outcome == Outcome::Fail);
    // Exit status 1 exactly when something failed.
    assert_eq!(
        out.status.code(),
        Some(if any_failed { 1 } else { 0 }),
        "{text}"
    );
    assert_eq!(report.passed(), !any_failed);
    // A failing result carries the diagnostics printed after it.
    for r in report.failures() {
        assert!(!r.diag.is_empty(), "{} has no diagnostics\n{text}", r.name);
    }
}
