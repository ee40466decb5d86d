//! Every target: its seeds are valid encodings that pass its checks, a
//! short fixed-seed run (2000 executions each) finds nothing but the
//! known decoder bugs below, and the mutations reach past the first
//! checks (the outcome classes the deep targets must reach).

use roam_fuzz::{run, targets, Cx, Options};
use std::collections::BTreeSet;
use std::time::Duration;

/// Decoder bugs found by this fuzzer and not fixed yet, as (target,
/// failure signature). Each is in the fuzzing report; remove its line
/// when the decoder is fixed.
const KNOWN: &[(&str, &str)] = &[];

#[test]
fn seeds_pass_their_checks() {
    for t in targets::all() {
        let seeds = t.seeds();
        assert!(!seeds.is_empty(), "{} has no seeds", t.name());
        for (i, s) in seeds.iter().enumerate() {
            assert!(s.len() <= t.max_len(), "{} seed {i} is longer than max_len", t.name());
            let mut cx = Cx::new();
            assert_eq!(t.run(s, &mut cx), Ok(()), "{} seed {i}", t.name());
        }
    }
}

#[test]
fn a_short_run_finds_no_new_failure_and_goes_deep() {
    let dir = std::env::temp_dir().join(format!("roam-fuzz-test-{}-targets", std::process::id()));
    let opts = Options {
        seed: 1,
        time: Duration::from_secs(120),
        max_execs: Some(2000),
        hang: Duration::from_secs(5),
        out_dir: Some(dir.clone()),
        keep_going: true,
        verbose: false,
    };
    let mut classes = BTreeSet::new();
    let mut unexpected = Vec::new();
    for t in targets::all() {
        let r = run(t.clone(), &opts);
        assert_eq!(r.execs, 2000, "{} stopped early", t.name());
        assert!(r.classes.len() >= 2, "{} reached only {:?}", t.name(), r.classes);
        for f in &r.failures {
            if !KNOWN.contains(&(t.name(), f.signature().as_str())) {
                unexpected.push(format!(
                    "{}: {} ({}) input {}",
                    t.name(),
                    f.signature(),
                    f.detail,
                    roam_fuzz::artifact::hex_line(&f.input)
                ));
            }
        }
        classes.extend(r.classes.keys().map(|c| format!("{}/{c}", t.name())));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(unexpected.is_empty(), "new failures:\n{}", unexpected.join("\n"));
    for deep in [
        "wire_frame/open:ok",
        "wire_frame/loads:ok",
        "wire_frame/plan:ok",
        "wire_replay/replay:accepted",
        "load_vector/decide:load",
        "fwd_call/plan:ok",
        "fwd_call/plan_arg:sized",
        "image_msg/begin:ok",
        "image_timers/timers:bad_timer",
        "image_vmas/vmas:bad_vma",
        "image_pages/placed:inside",
        "image_session/session:committed",
        "image_session/restorer:built",
        "restore/restorer:built",
        "restore/restorer:bad_xstate",
        "config/peer:ok",
        "abi/status:ok",
    ] {
        assert!(classes.contains(deep), "no run reached {deep}");
    }
}
