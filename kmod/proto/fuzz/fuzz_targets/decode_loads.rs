//! Fuzzes the load-message codec and the load-vector merge it feeds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roam_proto::loadvec::{LoadEntry, LoadVector, MAX_VECTOR};
use roam_proto::wire::{decode_loads, encode_loads, loads_len};

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else { return };
    let mut out = [LoadEntry::default(); MAX_VECTOR + 1];
    if let Ok(n) = decode_loads(rest, &mut out) {
        // Whatever decodes re-encodes to the same bytes.
        let mut buf = vec![0u8; loads_len(n)];
        assert_eq!(encode_loads(&out[..n], &mut buf), Ok(rest.len()));
        assert_eq!(&buf[..], rest);
        // And merges without breaking the vector's invariants.
        let mut v = LoadVector::new(1, usize::from(size));
        v.merge(&out[..n], u32::from(size) * 1000);
        assert!(v.len() <= v.size());
        assert!(v.get(1).is_none());
        let mut nodes: Vec<u32> = v.entries().iter().map(|e| e.node).collect();
        nodes.sort_unstable();
        let before = nodes.len();
        nodes.dedup();
        assert_eq!(before, nodes.len(), "duplicate node in the vector");
        let mut msg = [LoadEntry::default(); MAX_VECTOR + 1];
        assert!(v.outgoing(&mut msg) <= 1 + v.size() / 2);
    }
});
