//! Host tests of the load vector and its merge rules.

use roam_proto::loadvec::*;
use roam_proto::rng::XorShift64;

fn e(node: u32, age_ms: u32) -> LoadEntry {
    LoadEntry { node, load: node * 100, speed: 1000, ncpus: 2, free_mem_mb: 1024, age_ms, no_guests: false, no_root: false }
}

fn nodes(v: &LoadVector) -> Vec<u32> {
    let mut n: Vec<u32> = v.entries().iter().map(|e| e.node).collect();
    n.sort();
    n
}

#[test]
fn wire_form_round_trip() {
    let x = LoadEntry { node: 0x0102_0304, load: 5, speed: 6, ncpus: 0x0708, free_mem_mb: 9, age_ms: u32::MAX, no_guests: true, no_root: false };
    let b = x.to_bytes();
    assert_eq!(b.len(), ENTRY_WIRE_LEN);
    assert_eq!(&b[0..4], &[4, 3, 2, 1]);
    assert_eq!(&b[12..14], &[8, 7]);
    assert_eq!(b[22], 1);
    assert_eq!(LoadEntry::from_bytes(&b), x);
    assert_eq!(LoadEntry::from_bytes(&LoadEntry { no_guests: false, ..x }.to_bytes()).no_guests, false);
    // Reserved flag bits (refused by `wire::decode_loads`) do not set it.
    let mut b = b;
    b[22] = 0xfc;
    let r = LoadEntry::from_bytes(&b);
    assert!(!r.no_guests && !r.no_root);
    // Bit 1: no privileged guests.
    let nr = LoadEntry { no_root: true, no_guests: false, ..x };
    assert_eq!(nr.to_bytes()[22], 2);
    assert_eq!(LoadEntry::from_bytes(&nr.to_bytes()), nr);
}

#[test]
fn size_is_clamped() {
    assert_eq!(LoadVector::new(1, 0).size(), MIN_SIZE);
    assert_eq!(LoadVector::new(1, 1000).size(), MAX_VECTOR);
    assert_eq!(LoadVector::new(1, DEFAULT_SIZE).size(), 8);
}

#[test]
fn merge_keeps_the_freshest() {
    let mut v = LoadVector::new(1, 8);
    assert_eq!(v.merge(&[e(2, 500)], 10), 1);
    assert_eq!(v.get(2).unwrap().age_ms, 510);
    // Older copy: ignored.
    let mut old = e(2, 900);
    old.load = 1;
    assert_eq!(v.merge(&[old], 10), 0);
    assert_eq!(v.get(2).unwrap().load, 200);
    // Younger copy: wins.
    let mut young = e(2, 100);
    young.load = 7;
    assert_eq!(v.merge(&[young], 10), 1);
    assert_eq!(v.get(2).unwrap(), &LoadEntry { age_ms: 110, ..young });
    // Equal age: the stored one stays.
    let mut same = young;
    same.load = 8;
    v.merge(&[same], 10);
    assert_eq!(v.get(2).unwrap().load, 7);
    assert_eq!(v.len(), 1);
}

#[test]
fn own_entry_and_node_zero_never_stored() {
    let mut v = LoadVector::new(5, 8);
    v.merge(&[e(5, 0), e(0, 0), e(6, 0)], 0);
    assert_eq!(nodes(&v), vec![6]);
    assert!(v.get(5).is_none());
}

#[test]
fn never_exceeds_size_and_evicts_the_oldest() {
    let mut v = LoadVector::new(1, 4);
    v.merge(&[e(2, 400), e(3, 100), e(4, 300), e(5, 200)], 0);
    assert_eq!(v.len(), 4);
    // Older than everything stored: not inserted.
    assert_eq!(v.merge(&[e(6, 500)], 0), 0);
    assert_eq!(nodes(&v), vec![2, 3, 4, 5]);
    // Younger than the oldest (node 2, 400): replaces it.
    assert_eq!(v.merge(&[e(7, 350)], 0), 1);
    assert_eq!(nodes(&v), vec![3, 4, 5, 7]);
    // Next oldest is node 7 (350), then 4 (300).
    v.merge(&[e(8, 0), e(9, 0)], 0);
    assert_eq!(nodes(&v), vec![3, 5, 8, 9]);
    let mut rng = XorShift64::new(1);
    for _ in 0..1000 {
        let n = 2 + rng.below(60) as u32;
        v.merge(&[e(n, rng.below(1000) as u32)], rng.below(50) as u32);
        assert!(v.len() <= v.size());
        let ns = nodes(&v);
        let mut d = ns.clone();
        d.dedup();
        assert_eq!(ns, d, "duplicate node");
    }
}

#[test]
fn outgoing_is_own_plus_newest_half() {
    let mut v = LoadVector::new(1, 8);
    v.set_own(1234, 2000, 8, 4096);
    let mut out = [LoadEntry::default(); MAX_VECTOR + 1];
    // Empty vector: only the own entry.
    assert_eq!(v.outgoing(&mut out), 1);
    assert_eq!(out[0], LoadEntry { node: 1, load: 1234, speed: 2000, ncpus: 8, free_mem_mb: 4096, age_ms: 0, no_guests: false, no_root: false });
    v.merge(&[e(2, 70), e(3, 10), e(4, 50), e(5, 20), e(6, 60), e(7, 30), e(8, 80), e(9, 40)], 0);
    let n = v.outgoing(&mut out);
    assert_eq!(n, 1 + 8 / 2);
    let mut sent: Vec<u32> = out[1..n].iter().map(|e| e.node).collect();
    sent.sort();
    assert_eq!(sent, vec![3, 5, 7, 9]);
    // Bounded by the output buffer too.
    let mut two = [LoadEntry::default(); 2];
    assert_eq!(v.outgoing(&mut two), 2);
    assert_eq!(two[1].node, 3);
    assert_eq!(v.outgoing(&mut []), 0);
    // Odd and maximal sizes.
    for size in MIN_SIZE..=MAX_VECTOR {
        let mut w = LoadVector::new(1, size);
        let many: Vec<_> = (2..100).map(|n| e(n, n)).collect();
        w.merge(&many, 0);
        assert_eq!(w.len(), size);
        assert_eq!(w.outgoing(&mut out), 1 + size / 2);
    }
}

#[test]
fn aging_saturates() {
    let mut v = LoadVector::new(1, 8);
    v.merge(&[e(2, u32::MAX - 5), e(3, 0)], 0);
    v.age(10);
    assert_eq!(v.get(2).unwrap().age_ms, u32::MAX);
    assert_eq!(v.get(3).unwrap().age_ms, 10);
    v.age(u32::MAX);
    assert_eq!(v.get(3).unwrap().age_ms, u32::MAX);
    // Transit time saturates too.
    v.merge(&[e(4, u32::MAX)], u32::MAX);
    assert_eq!(v.me().age_ms, 0);
}

#[test]
fn remove_and_expire() {
    let mut v = LoadVector::new(1, 8);
    v.merge(&[e(2, 100), e(3, 2000), e(4, 300), e(5, 5000)], 0);
    assert!(v.remove(4));
    assert!(!v.remove(4));
    assert_eq!(nodes(&v), vec![2, 3, 5]);
    assert_eq!(v.expire(1999), 2);
    assert_eq!(nodes(&v), vec![2]);
    assert_eq!(v.expire(0), 1);
    assert!(v.is_empty());
}

#[test]
fn shrinking_drops_the_oldest() {
    let mut v = LoadVector::new(1, 8);
    v.merge(&[e(2, 1), e(3, 9), e(4, 5), e(5, 7)], 0);
    assert_eq!(v.set_size(2), 2);
    assert_eq!(nodes(&v), vec![2, 4]);
    assert_eq!(v.set_size(0), MIN_SIZE);
}

#[test]
fn choose_peer_is_uniform() {
    let mut rng = XorShift64::new(9);
    assert_eq!(choose_peer(&mut rng, &[]), None);
    assert_eq!(choose_peer(&mut rng, &[42]), Some(42));
    let c = [10, 20, 30, 40];
    let mut hits = [0u32; 4];
    for _ in 0..8000 {
        let p = choose_peer(&mut rng, &c).unwrap();
        hits[c.iter().position(|&x| x == p).unwrap()] += 1;
    }
    for h in hits {
        assert!((1800..2200).contains(&h), "{hits:?}");
    }
}
