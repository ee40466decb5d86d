//! Fuzzes frame parsing: arbitrary bytes into `wire::open` under a fixed
//! key, and the same bytes read as a sequence of (epoch, seq) pairs for a
//! `ReplayGuard`, checked against a simple model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roam_proto::wire::{self, FrameKey, FrameMac, ReplayGuard, HEADER_LEN, MAC_LEN};
use std::collections::HashSet;

struct FixedKey;

impl FrameMac for FixedKey {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        (&FrameKey::new(*b"roam fuzz key, thirty-two bytes.")).mac(data)
    }
}

fn replay_sequence(data: &[u8]) {
    let mut g = ReplayGuard::new();
    let mut accepted = HashSet::new();
    // Each op: 1 byte of epoch (small, so epochs repeat) + 2 bytes of seq
    // offset around the current highest.
    for op in data.chunks_exact(3) {
        let epoch = u64::from(op[0] & 3);
        let delta = i64::from(i16::from_le_bytes([op[1], op[2]]));
        let seq = if delta >= 0 {
            g.highest().saturating_add(delta as u64)
        } else {
            g.highest().saturating_sub(delta.unsigned_abs())
        };
        let before = (g.epoch(), g.highest());
        if g.check_and_update(epoch, seq).is_ok() {
            assert!(seq != 0, "sequence 0 accepted");
            assert!(epoch >= before.0, "older epoch accepted");
            assert!(accepted.insert((epoch, seq)), "({epoch}, {seq}) accepted twice");
            if epoch == before.0 && seq < before.1 {
                assert!(before.1 - seq <= 64, "accepted beyond the window");
            }
        } else {
            assert_eq!((g.epoch(), g.highest()), before, "a refusal changed the state");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match wire::open(data, &mut FixedKey) {
        Ok((h, payload)) => {
            // Only reachable with a valid MAC: re-sealing must give the
            // same bytes back.
            let mut out = vec![0u8; wire::frame_len(payload.len())];
            let n = wire::seal(&h, payload, &mut FixedKey, &mut out).expect("reseal");
            assert_eq!(&out[..n], data);
        }
        Err(_) => {}
    }
    // Parsing a header alone must agree with open() on header errors.
    if let Err(e) = wire::Header::decode(data) {
        assert_eq!(wire::open(data, &mut FixedKey).err(), Some(e));
    } else {
        assert!(data.len() >= HEADER_LEN);
    }
    replay_sequence(data);
});
