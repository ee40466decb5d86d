//! Host tests of the fixed-point load estimator.

use roam_proto::load::*;

fn run(est: &mut LoadEstimator, n: usize, nr: u32, ncpus: u32, speed: u32) {
    for _ in 0..n {
        est.sample(nr, ncpus, speed);
    }
}

#[test]
fn decay_validation() {
    assert_eq!(Decay::default(), Decay { slow: 975, fast: 926 });
    assert!(Decay::new(1, 999).is_some());
    assert!(Decay::new(0, 500).is_none());
    assert!(Decay::new(500, 1000).is_none());
    let mut e = LoadEstimator::default();
    assert!(!e.set_decay(Decay { slow: 0, fast: 5 }));
    assert_eq!(e.decay(), Decay::DEFAULT);
    assert!(e.set_decay(Decay { slow: 990, fast: 900 }));
    assert_eq!(e.decay().slow, 990);
}

#[test]
fn instant_normalization() {
    assert_eq!(instant_load(1, 1, SPEED_REF), SCALE);
    assert_eq!(instant_load(4, 2, SPEED_REF), 2 * SCALE);
    // A CPU twice as fast halves the load.
    assert_eq!(instant_load(2, 1, 2 * SPEED_REF), SCALE);
    // Zero CPUs / zero speed are treated as 1, never a division by zero.
    assert_eq!(instant_load(1, 0, SPEED_REF), SCALE);
    assert_eq!(instant_load(1, 1, 0), SCALE * SPEED_REF);
    assert_eq!(instant_load(u32::MAX, 1, 1), u32::MAX);
    assert_eq!(instant_load(0, u32::MAX, u32::MAX), 0);
}

#[test]
fn constant_input_converges_within_one_percent() {
    for (nr, ncpus, speed) in [(1, 1, 1000), (3, 1, 1000), (7, 4, 1500), (1, 8, 1000), (100, 1, 1000)] {
        let mut e = LoadEstimator::default();
        run(&mut e, 1000, nr, ncpus, speed);
        let want = instant_load(nr, ncpus, speed) as i64;
        for v in [e.load(), e.slow(), e.fast()] {
            let err = (v as i64 - want).abs();
            assert!(err * 100 <= want.max(1), "{nr}/{ncpus}@{speed}: {v} vs {want}");
        }
    }
}

#[test]
fn step_up_is_followed_quickly() {
    let mut e = LoadEstimator::default();
    let target = instant_load(4, 1, SPEED_REF);
    // Fast decay 926: half way after 10 samples, 90 % after 30.
    run(&mut e, 10, 4, 1, SPEED_REF);
    assert!(e.load() >= target / 2, "{}", e.load());
    run(&mut e, 20, 4, 1, SPEED_REF);
    assert!(e.load() >= target * 9 / 10, "{}", e.load());
    // The slow average alone would still be far behind: rising uses fast.
    assert!(e.slow() < target * 6 / 10);
    assert_eq!(e.load(), e.fast());
}

#[test]
fn falls_slowly_then_reaches_idle() {
    let mut e = LoadEstimator::default();
    run(&mut e, 1000, 4, 1, SPEED_REF);
    let start = e.load();
    let mut prev = start;
    for i in 1..=400 {
        e.sample(0, 1, SPEED_REF);
        let v = e.load();
        assert!(v <= prev, "went up at sample {i}");
        prev = v;
        if i == 10 {
            // Slow decay 975: after 10 idle samples ~78 % is left.
            assert!(v >= start * 7 / 10, "{v}");
            assert_eq!(v, e.slow());
        }
        if i == 100 {
            assert!(v <= start / 10, "{v}");
        }
    }
    assert_eq!(e.load(), 0);
    e.reset();
    assert_eq!(e.load(), 0);
}

#[test]
fn extremes_do_not_overflow() {
    let mut e = LoadEstimator::default();
    run(&mut e, 3000, u32::MAX, 1, 1);
    assert!(e.load() >= u32::MAX / 100 * 99);
    run(&mut e, 10, u32::MAX, u32::MAX, u32::MAX);
    run(&mut e, 10, 0, 0, 0);
    let mut e = LoadEstimator::new(Decay { slow: 999, fast: 1 });
    run(&mut e, 100, u32::MAX, 0, 0);
    assert_eq!(e.fast(), u32::MAX);
    // A hand-built invalid decay is clamped, not trusted.
    let mut e = LoadEstimator::new(Decay { slow: 0, fast: u32::MAX });
    run(&mut e, 100, u32::MAX, 1, 1);
    run(&mut e, 100, 0, 1, 1);
}

#[test]
fn quick_average_follows_both_ways_within_a_second() {
    let mut est = LoadEstimator::new(Decay::DEFAULT);
    // Ten 100 ms samples of 4 tasks: 4000 * (1 - 0.8^10) = 3571.
    run(&mut est, 10, 4, 1, 1000);
    assert!((3560..=3580).contains(&est.quick()), "{}", est.quick());
    run(&mut est, 100, 4, 1, 1000);
    assert_eq!(est.quick(), 4000);
    // One sample with two more runnable tasks moves it by a fifth of that.
    run(&mut est, 1, 6, 1, 1000);
    assert_eq!(est.quick(), 4400);
    // Down to 2 tasks: the quick view is near in 15 samples, the published
    // load (the slow average) far from it.
    run(&mut est, 15, 2, 1, 1000);
    assert!(est.quick() <= 2100, "{}", est.quick());
    assert!(est.load() > 3000, "{}", est.load());
    est.reset();
    assert_eq!(est.quick(), 0);
}
