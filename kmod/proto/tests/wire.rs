//! Host tests of the frame format: round trips, every rejection reason,
//! replay windows, and property tests over arbitrary input.

use proptest::prelude::*;
use roam_proto::loadvec::{LoadEntry, ENTRY_WIRE_LEN};
use roam_proto::wire::*;

/// The frame MAC under a fixed key, as the kernel computes it.
struct TestKey(FrameKey);

impl FrameMac for TestKey {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        (&self.0).mac(data)
    }
}

fn key() -> TestKey {
    TestKey(FrameKey::new(*b"roam test cluster key, 32 bytes!"))
}

fn header(len: usize) -> Header {
    Header {
        msg_type: MsgType::LoadPush,
        flags: 0x0102,
        len: len as u32,
        sender: 7,
        dest: 9,
        epoch: 0x1122_3344_5566_7788,
        seq: 42,
        request_id: 0xdead_beef,
    }
}

fn sealed(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; frame_len(payload.len())];
    let n = seal(&header(payload.len()), payload, &mut key(), &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

#[test]
fn header_len_is_the_field_sum() {
    assert_eq!(HEADER_LEN, 44);
    assert_eq!(MAC_LEN, 16);
    assert_eq!(MAGIC.to_le_bytes(), *b"ROAM");
    assert_eq!(frame_len(10), 44 + 10 + 16);
}

#[test]
fn header_round_trip_and_layout() {
    let h = header(300);
    let mut b = [0u8; HEADER_LEN];
    h.encode(&mut b);
    assert_eq!(&b[0..4], b"ROAM");
    assert_eq!(b[4], VERSION);
    assert_eq!(b[5], MsgType::LoadPush as u8);
    assert_eq!(&b[6..8], &0x0102u16.to_le_bytes());
    assert_eq!(&b[8..12], &300u32.to_le_bytes());
    assert_eq!(&b[12..16], &7u32.to_le_bytes());
    assert_eq!(&b[16..20], &9u32.to_le_bytes());
    assert_eq!(&b[20..28], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&b[28..36], &42u64.to_le_bytes());
    assert_eq!(&b[36..40], &0xdead_beefu32.to_le_bytes());
    assert_eq!(&b[40..44], &[0, 0, 0, 0]);
    assert_eq!(Header::decode(&b), Ok(h));
}

#[test]
fn msg_type_values() {
    for v in 0..=255u8 {
        match MsgType::from_u8(v) {
            Some(t) => {
                assert!((1..=13).contains(&v));
                assert_eq!(t.as_u8(), v);
            }
            None => assert!(v == 0 || v > 13),
        }
    }
}

#[test]
fn reject_names_and_indices() {
    for (i, r) in Reject::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        let n = r.name();
        assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{n}");
    }
    assert_eq!(Reject::BadMac.name(), "bad_mac");
    let mut names: Vec<_> = Reject::ALL.iter().map(|r| r.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Reject::ALL.len());
}

#[test]
fn seal_open_round_trip() {
    for len in [0usize, 1, 31, 44, 1000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let f = sealed(&payload);
        let (h, p) = open(&f, &mut key()).unwrap();
        assert_eq!(h, header(len));
        assert_eq!(p, &payload[..]);
    }
}

#[test]
fn seal_max_payload_and_refusals() {
    let payload = vec![0xabu8; MAX_PAYLOAD];
    let mut out = vec![0u8; MAX_FRAME];
    let n = seal(&header(MAX_PAYLOAD), &payload, &mut key(), &mut out).unwrap();
    assert_eq!(n, MAX_FRAME);
    assert!(open(&out, &mut key()).is_ok());

    // Too large a payload.
    let big = vec![0u8; MAX_PAYLOAD + 1];
    let mut out = vec![0u8; MAX_FRAME + 1];
    assert_eq!(seal(&header(big.len()), &big, &mut key(), &mut out), Err(Reject::BadLength));
    // Header length disagreeing with the payload.
    let mut out = vec![0u8; 200];
    assert_eq!(seal(&header(5), &[1, 2, 3], &mut key(), &mut out), Err(Reject::BadLength));
    // Output too small, by one byte.
    let mut small = vec![0u8; frame_len(3) - 1];
    assert_eq!(seal(&header(3), &[1, 2, 3], &mut key(), &mut small), Err(Reject::Truncated));
    // Invalid sender.
    for sender in [0, 65535, u32::MAX] {
        let h = Header { sender, ..header(0) };
        assert_eq!(seal(&h, &[], &mut key(), &mut out), Err(Reject::UnknownNode));
    }
    // A larger output buffer is fine; only the frame is written.
    let mut roomy = vec![0x55u8; 500];
    let n = seal(&header(3), &[1, 2, 3], &mut key(), &mut roomy).unwrap();
    assert_eq!(n, frame_len(3));
    assert!(roomy[n..].iter().all(|&b| b == 0x55));
    assert!(open(&roomy[..n], &mut key()).is_ok());
}

#[test]
fn truncated_at_every_length() {
    let f = sealed(b"some payload bytes");
    for cut in 0..f.len() {
        let r = open(&f[..cut], &mut key());
        assert_eq!(r.err(), Some(Reject::Truncated), "cut at {cut}");
    }
    let mut long = f.clone();
    long.push(0);
    assert_eq!(open(&long, &mut key()).err(), Some(Reject::BadLength));
}

#[test]
fn every_header_check() {
    let f = sealed(b"abc");
    let with = |at: usize, bytes: &[u8]| {
        let mut g = f.clone();
        g[at..at + bytes.len()].copy_from_slice(bytes);
        open(&g, &mut key()).err()
    };
    assert_eq!(with(0, b"MAOR"), Some(Reject::BadMagic));
    assert_eq!(with(4, &[2]), Some(Reject::BadVersion));
    assert_eq!(with(4, &[4]), Some(Reject::BadVersion));
    assert_eq!(with(4, &[0]), Some(Reject::BadVersion));
    assert_eq!(with(5, &[0]), Some(Reject::BadType));
    assert_eq!(with(5, &[14]), Some(Reject::BadType));
    assert_eq!(with(40, &[0, 0, 0, 1]), Some(Reject::Reserved));
    assert_eq!(with(8, &((MAX_PAYLOAD + 1) as u32).to_le_bytes()), Some(Reject::BadLength));
    assert_eq!(with(8, &u32::MAX.to_le_bytes()), Some(Reject::BadLength));
    assert_eq!(with(12, &0u32.to_le_bytes()), Some(Reject::UnknownNode));
    assert_eq!(with(12, &65535u32.to_le_bytes()), Some(Reject::UnknownNode));
    // A valid sender id that is not the one sealed: the MAC catches it.
    assert_eq!(with(12, &8u32.to_le_bytes()), Some(Reject::BadMac));
    // Length field claiming more / fewer bytes than present.
    assert_eq!(with(8, &4u32.to_le_bytes()), Some(Reject::Truncated));
    assert_eq!(with(8, &2u32.to_le_bytes()), Some(Reject::BadLength));
    // Header alone, too short.
    assert_eq!(Header::decode(&f[..HEADER_LEN - 1]), Err(Reject::Truncated));
    assert!(Header::decode(&f[..HEADER_LEN]).is_ok());
}

#[test]
fn destination_check() {
    let h = header(0);
    assert_eq!(h.check_dest(9), Ok(()));
    assert_eq!(h.check_dest(8), Err(Reject::WrongDest));
    let any = Header { dest: 0, ..h };
    assert_eq!(any.check_dest(8), Ok(()));
}

#[test]
fn flipped_bit_in_each_region() {
    let f = sealed(b"payload under test");
    for i in 0..f.len() {
        for bit in 0..8 {
            let mut g = f.clone();
            g[i] ^= 1 << bit;
            let r = open(&g, &mut key());
            let e = r.err().unwrap_or_else(|| panic!("byte {i} bit {bit} accepted"));
            if i >= HEADER_LEN {
                // Payload or MAC.
                assert_eq!(e, Reject::BadMac, "byte {i}");
            }
        }
    }
}

#[test]
fn wrong_key_is_bad_mac() {
    let f = sealed(b"x");
    let mut other = TestKey(FrameKey::new([7u8; 32]));
    assert_eq!(open(&f, &mut other).err(), Some(Reject::BadMac));
}

#[test]
fn replay_guard_basics() {
    let mut g = ReplayGuard::new();
    assert_eq!(g.check_and_update(1, 0), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 1), Ok(()));
    assert_eq!(g.check_and_update(1, 1), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 2), Ok(()));
    assert_eq!(g.check_and_update(1, 5), Ok(()));
    assert_eq!(g.check_and_update(1, 4), Ok(()));
    assert_eq!(g.check_and_update(1, 3), Ok(()));
    for s in 1..=5 {
        assert_eq!(g.check_and_update(1, s), Err(Reject::Replay), "seq {s}");
    }
    assert_eq!((g.epoch(), g.highest()), (1, 5));
    // Old epoch after a newer one.
    assert_eq!(g.check_and_update(2, 1), Ok(()));
    assert_eq!(g.check_and_update(1, 100), Err(Reject::Replay));
    assert_eq!(g.check_and_update(2, 1), Err(Reject::Replay));
    assert_eq!(g.check_and_update(2, 2), Ok(()));
    // A restart may begin at any sequence number.
    assert_eq!(g.check_and_update(3, 1000), Ok(()));
    assert_eq!(g.check_and_update(3, 999), Ok(()));
    assert_eq!(g.check_and_update(3, 1000), Err(Reject::Replay));
    assert_eq!(g.check_and_update(3, 0), Err(Reject::Replay));
}

#[test]
fn replay_window_edges() {
    let mut g = ReplayGuard::new();
    assert_eq!(g.check_and_update(1, 100), Ok(()));
    // 64 below the highest is the last tracked one; 65 below is too old.
    assert_eq!(g.check_and_update(1, 100 - 65), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 100 - 64), Ok(()));
    assert_eq!(g.check_and_update(1, 100 - 64), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 99), Ok(()));
    // Slide by exactly 64: the old highest (100) becomes the oldest bit.
    assert_eq!(g.check_and_update(1, 164), Ok(()));
    assert_eq!(g.check_and_update(1, 100), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 99), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, 101), Ok(()));
    // Slide by more than 64 clears the window.
    assert_eq!(g.check_and_update(1, 1000), Ok(()));
    assert_eq!(g.check_and_update(1, 1000 - 64), Ok(()));
    assert_eq!(g.check_and_update(1, 1000 - 65), Err(Reject::Replay));
    // Extremes.
    assert_eq!(g.check_and_update(1, u64::MAX), Ok(()));
    assert_eq!(g.check_and_update(1, u64::MAX), Err(Reject::Replay));
    assert_eq!(g.check_and_update(1, u64::MAX - 1), Ok(()));
    assert_eq!(g.check_and_update(u64::MAX, u64::MAX), Ok(()));
    assert_eq!(g.check_and_update(u64::MAX - 1, 1), Err(Reject::Replay));
}

#[test]
fn replay_window_matches_a_set_model() {
    use std::collections::HashSet;
    let mut rng = roam_proto::rng::XorShift64::new(5);
    let mut g = ReplayGuard::new();
    let mut seen = HashSet::new();
    let mut highest = 0u64;
    for _ in 0..20_000 {
        let s = highest.saturating_sub(70) + rng.below(80) + 1;
        let want_ok = !seen.contains(&s) && (s > highest || highest - s <= 64);
        let got = g.check_and_update(9, s);
        assert_eq!(got.is_ok(), want_ok, "seq {s} highest {highest}");
        if want_ok {
            seen.insert(s);
            highest = highest.max(s);
        }
    }
}

fn entry(node: u32) -> LoadEntry {
    LoadEntry { node, load: node * 10, speed: 1000, ncpus: 4, free_mem_mb: 512, age_ms: node * 3, no_guests: node % 3 == 0, no_root: false }
}

#[test]
fn loads_round_trip() {
    let entries: Vec<_> = (1..=17).map(entry).collect();
    let mut buf = vec![0u8; loads_len(entries.len())];
    assert_eq!(encode_loads(&entries, &mut buf), Ok(2 + 17 * ENTRY_WIRE_LEN));
    let mut out = [LoadEntry::default(); 17];
    assert_eq!(decode_loads(&buf, &mut out), Ok(17));
    assert_eq!(&out[..], &entries[..]);
    // Empty.
    let mut b0 = [0u8; 2];
    assert_eq!(encode_loads(&[], &mut b0), Ok(2));
    assert_eq!(decode_loads(&b0, &mut []), Ok(0));
}

#[test]
fn loads_refusals() {
    let entries: Vec<_> = (1..=3).map(entry).collect();
    let mut buf = vec![0u8; loads_len(3)];
    encode_loads(&entries, &mut buf).unwrap();
    let mut small = vec![0u8; loads_len(3) - 1];
    assert_eq!(encode_loads(&entries, &mut small), Err(Reject::Truncated));
    let many = vec![entry(1); 65536];
    let mut huge = vec![0u8; loads_len(65536)];
    assert_eq!(encode_loads(&many, &mut huge), Err(Reject::BadLength));

    let mut out = [LoadEntry::default(); 3];
    // Count larger than the output.
    assert_eq!(decode_loads(&buf, &mut out[..2]), Err(Reject::BadLength));
    // Every truncation.
    for cut in 0..buf.len() {
        assert_eq!(decode_loads(&buf[..cut], &mut out), Err(Reject::Truncated), "cut {cut}");
    }
    // Trailing bytes.
    let mut long = buf.clone();
    long.push(0);
    assert_eq!(decode_loads(&long, &mut out), Err(Reject::BadLength));
    // Count larger than the bytes present.
    let mut lying = buf.clone();
    lying[0] = 200;
    let mut big_out = [LoadEntry::default(); 300];
    assert_eq!(decode_loads(&lying, &mut big_out), Err(Reject::Truncated));
    // Invalid node ids.
    for bad in [0u32, 65535, u32::MAX] {
        let mut b = buf.clone();
        b[2 + ENTRY_WIRE_LEN..2 + ENTRY_WIRE_LEN + 4].copy_from_slice(&bad.to_le_bytes());
        assert_eq!(decode_loads(&b, &mut out), Err(Reject::UnknownNode));
    }
    // A reserved flag bit; the defined ones are fine.
    for (flags, want) in [(0x04u8, Err(Reject::Reserved)), (0x81, Err(Reject::Reserved)), (0x01, Ok(out.len())), (0x02, Ok(out.len())), (0x03, Ok(out.len()))] {
        let mut b = buf.clone();
        b[2 + ENTRY_WIRE_LEN + 22] = flags;
        assert_eq!(decode_loads(&b, &mut out), want, "flags {flags:#x}");
    }
}

fn arb_header() -> impl Strategy<Value = (Header, Vec<u8>)> {
    (
        1u8..=9,
        any::<u16>(),
        1u32..=65534,
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(t, flags, sender, dest, epoch, seq, request_id, payload)| {
            let h = Header {
                msg_type: MsgType::from_u8(t).unwrap(),
                flags,
                len: payload.len() as u32,
                sender,
                dest,
                epoch,
                seq,
                request_id,
            };
            (h, payload)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn prop_seal_open_round_trip((h, payload) in arb_header()) {
        let mut out = vec![0u8; frame_len(payload.len())];
        let n = seal(&h, &payload, &mut key(), &mut out).unwrap();
        prop_assert_eq!(n, out.len());
        let (h2, p2) = open(&out, &mut key()).unwrap();
        prop_assert_eq!(h2, h);
        prop_assert_eq!(p2, &payload[..]);
    }

    #[test]
    fn prop_open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = open(&bytes, &mut key());
        let _ = Header::decode(&bytes);
        let mut out = [LoadEntry::default(); 8];
        let _ = decode_loads(&bytes, &mut out);
    }

    #[test]
    fn prop_open_never_panics_on_plausible_headers(
        mut bytes in proptest::collection::vec(any::<u8>(), HEADER_LEN..400),
        t in 0u8..=10,
        len in 0u32..500,
    ) {
        bytes[0..4].copy_from_slice(b"ROAM");
        bytes[4] = VERSION;
        bytes[5] = t;
        bytes[8..12].copy_from_slice(&len.to_le_bytes());
        bytes[40..44].fill(0);
        let r = open(&bytes, &mut key());
        // Random bytes never carry a valid MAC.
        prop_assert!(r.is_err());
    }

    #[test]
    fn prop_any_single_byte_mutation_is_rejected(
        (h, payload) in arb_header(),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let mut out = vec![0u8; frame_len(payload.len())];
        seal(&h, &payload, &mut key(), &mut out).unwrap();
        let i = pos.index(out.len());
        out[i] = out[i].wrapping_add(delta);
        prop_assert!(open(&out, &mut key()).is_err());
    }

    #[test]
    fn prop_loads_round_trip(raw in proptest::collection::vec(
        (1u32..=65534, any::<u32>(), any::<u32>(), any::<u16>(), any::<u32>(), any::<u32>()), 0..40)
    ) {
        let entries: Vec<LoadEntry> = raw.iter().map(|&(node, load, speed, ncpus, free_mem_mb, age_ms)| {
            LoadEntry { node, load, speed, ncpus, free_mem_mb, age_ms, no_guests: load % 2 == 1, no_root: false }
        }).collect();
        let mut buf = vec![0u8; loads_len(entries.len())];
        prop_assert_eq!(encode_loads(&entries, &mut buf), Ok(buf.len()));
        let mut out = vec![LoadEntry::default(); entries.len()];
        prop_assert_eq!(decode_loads(&buf, &mut out), Ok(entries.len()));
        prop_assert_eq!(out, entries);
    }

    #[test]
    fn prop_replay_guard_never_accepts_twice(ops in proptest::collection::vec((0u64..4, 0u64..200), 0..300)) {
        let mut g = ReplayGuard::new();
        let mut accepted = std::collections::HashSet::new();
        for (epoch, seq) in ops {
            if g.check_and_update(epoch, seq).is_ok() {
                prop_assert!(seq != 0);
                prop_assert!(accepted.insert((epoch, seq)), "({}, {}) accepted twice", epoch, seq);
                prop_assert_eq!(g.epoch(), epoch);
            }
        }
    }
}

#[test]
fn seal_in_place_matches_seal() {
    for len in [0usize, 1, 100, 4096] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
        let h = header(len);
        let mut a = vec![0u8; frame_len(len)];
        seal(&h, &payload, &mut key(), &mut a).unwrap();
        let mut b = vec![0u8; frame_len(len)];
        b[HEADER_LEN..HEADER_LEN + len].copy_from_slice(&payload);
        roam_proto::wire::seal_in_place(&h, &mut b, &mut key()).unwrap();
        assert_eq!(a, b, "payload of {len} bytes");
    }
    let h = header(10);
    let mut short = vec![0u8; frame_len(9)];
    assert_eq!(roam_proto::wire::seal_in_place(&h, &mut short, &mut key()), Err(Reject::BadLength));
}
