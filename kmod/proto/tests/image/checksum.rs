//! The page checksum: any split gives the same sum, any change a different
//! one.

use super::*;

#[test]
fn checksum_streaming_equals_one_shot() {
    let data: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
    let whole = checksum(&data);
    for a in 0..=data.len() {
        for b in (a..=data.len()).step_by(7) {
            let mut c = Checksum::new();
            c.update(&data[..a]);
            c.update(&data[a..b]);
            c.update(&data[b..]);
            assert_eq!(c.finish(), whole, "split {a} {b}");
        }
    }
    // Byte by byte.
    let mut c = Checksum::default();
    for byte in &data {
        c.update(std::slice::from_ref(byte));
    }
    assert_eq!(c.finish(), whole);
    // finish() does not consume: more can follow.
    let mut c = Checksum::new();
    c.update(&data[..50]);
    assert_eq!(c.finish(), checksum(&data[..50]));
    c.update(&data[50..]);
    assert_eq!(c.finish(), whole);
}

#[test]
fn checksum_sees_changes() {
    let mut data = page_data(1, 5);
    data.extend_from_slice(&page_data(1, 6));
    let base = checksum(&data);
    for at in [0usize, 7, 8, 4095, 4096, 8191] {
        for bit in [0u8, 3, 7] {
            let mut d = data.clone();
            d[at] ^= 1 << bit;
            assert_ne!(checksum(&d), base, "byte {at} bit {bit}");
        }
    }
    // Trailing zeros and length matter; swapped pages differ.
    assert_ne!(checksum(&[]), checksum(&[0]));
    assert_ne!(checksum(&[0; 8]), checksum(&[0; 16]));
    assert_ne!(checksum(&[1, 0]), checksum(&[1]));
    let mut swapped = data[4096..].to_vec();
    swapped.extend_from_slice(&data[..4096]);
    assert_ne!(checksum(&swapped), base);
    // add_batch covers the address too.
    let h1 = PageBatchHeader { first_addr: 0x1000, count: 2 };
    let h2 = PageBatchHeader { first_addr: 0x3000, count: 2 };
    let (mut a, mut b) = (Checksum::new(), Checksum::new());
    a.add_batch(&h1, &data);
    b.add_batch(&h2, &data);
    assert_ne!(a.finish(), b.finish());
    let mut flat = Vec::new();
    flat.extend_from_slice(&0x1000u64.to_le_bytes());
    flat.extend_from_slice(&2u64.to_le_bytes());
    flat.extend_from_slice(&data);
    assert_eq!(a.finish(), checksum(&flat));
}
