//! Host tests of the xorshift generator.

use roam_proto::rng::XorShift64;

#[test]
fn deterministic_and_seed_dependent() {
    let mut a = XorShift64::new(7);
    let mut b = XorShift64::new(7);
    let mut c = XorShift64::new(8);
    let mut same = 0;
    for _ in 0..100 {
        let x = a.next_u64();
        assert_eq!(x, b.next_u64());
        if x == c.next_u64() {
            same += 1;
        }
    }
    assert_eq!(same, 0);
}

#[test]
fn zero_seed_is_usable() {
    let mut r = XorShift64::new(0);
    assert_ne!(r.next_u64(), r.next_u64());
}

#[test]
fn below_stays_in_range_and_covers_it() {
    let mut r = XorShift64::new(3);
    assert_eq!(r.below(0), 0);
    assert_eq!(r.below(1), 0);
    let mut seen = [0u32; 10];
    for _ in 0..10_000 {
        let v = r.below(10) as usize;
        seen[v] += 1;
    }
    for &n in &seen {
        assert!((800..1200).contains(&n), "{seen:?}");
    }
    for _ in 0..1000 {
        assert!(r.below(u64::MAX) < u64::MAX);
        let v = r.between(5, 9);
        assert!((5..=9).contains(&v));
        let v = r.between(9, 5);
        assert!((5..=9).contains(&v));
    }
    let _ = r.between(0, u64::MAX);
}

#[test]
fn chance_extremes() {
    let mut r = XorShift64::new(11);
    for _ in 0..1000 {
        assert!(!r.chance_ppm(0));
        assert!(r.chance_ppm(1_000_000));
        assert!(r.chance_ppm(u32::MAX));
    }
}
