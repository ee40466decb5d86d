//! `wire_replay`: the per-sender replay guard ([`ReplayGuard`]) fed the
//! (epoch, sequence) pairs of authenticated frames, checked against an
//! exact model of what its documentation promises.
//!
//! The input is a list of operations. Each starts with a byte `op`: its
//! low two bits pick the epoch (the current one, twice as likely, the one
//! before, or the next), bit 6 the epoch `u64::MAX` instead; with bit 7
//! set a raw u64 sequence number follows, else an i16 offset from the
//! highest sequence number accepted so far.
//!
//! The model: sequence 0 and older epochs are refused; a newer epoch is
//! accepted and starts afresh; in the same epoch a number above the
//! highest is accepted, one of the 64 below it is accepted once, and
//! anything else is refused. A refusal changes nothing.

use crate::ensure;
use crate::target::{Cx, Target, Violation};
use roam_proto::wire::{ReplayGuard, REPLAY_WINDOW};
use std::collections::HashSet;

/// The `wire_replay` target.
pub struct Replay;

/// The guard's promised behaviour.
#[derive(Default)]
struct Model {
    epoch: u64,
    highest: u64,
    seen: HashSet<u64>,
}

impl Model {
    /// What the guard must answer to (`epoch`, `seq`), and the model
    /// updated as the guard must be.
    fn check_and_update(&mut self, epoch: u64, seq: u64) -> bool {
        if seq == 0 || epoch < self.epoch {
            return false;
        }
        if epoch > self.epoch {
            *self = Model { epoch, highest: seq, seen: HashSet::from([seq]) };
            return true;
        }
        if seq > self.highest {
            self.highest = seq;
            self.seen.insert(seq);
            return true;
        }
        let back = self.highest - seq;
        if back == 0 || back > REPLAY_WINDOW {
            return false;
        }
        self.seen.insert(seq)
    }
}

impl Target for Replay {
    fn name(&self) -> &'static str {
        "wire_replay"
    }

    fn about(&self) -> &'static str {
        "the replay guard (wire::ReplayGuard::check_and_update) against an exact model of its rules"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut inorder = Vec::new();
        for _ in 0..70 {
            inorder.extend_from_slice(&[0, 1, 0]);
        }
        let mut shuffled = Vec::new();
        for d in [5i16, -3, -1, 2, -64, -65, 70, -63, 0, 1] {
            shuffled.push(1);
            shuffled.extend_from_slice(&d.to_le_bytes());
        }
        let raw =
            [vec![0x80], 1u64.to_le_bytes().to_vec(), vec![0x83], u64::MAX.to_le_bytes().to_vec(), vec![0x41, 1, 0]]
                .concat();
        vec![inorder, shuffled, raw, vec![3, 1, 0, 2, 1, 0, 3, 0, 0]]
    }

    fn max_len(&self) -> usize {
        4096
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        let mut g = ReplayGuard::new();
        let mut m = Model::default();
        let mut rest = data;
        while let Some((&op, tail)) = rest.split_first() {
            let epoch = if op & 0x40 != 0 {
                u64::MAX
            } else {
                match op & 3 {
                    2 => g.epoch().saturating_sub(1),
                    3 => g.epoch().saturating_add(1),
                    _ => g.epoch(),
                }
            };
            let seq = if op & 0x80 != 0 {
                let Some((w, t)) = tail.split_first_chunk::<8>() else { break };
                rest = t;
                u64::from_le_bytes(*w)
            } else {
                let Some((w, t)) = tail.split_first_chunk::<2>() else { break };
                rest = t;
                let d = i16::from_le_bytes(*w);
                if d >= 0 {
                    g.highest().saturating_add(d as u64)
                } else {
                    g.highest().saturating_sub(u64::from(d.unsigned_abs()))
                }
            };
            let before = g.clone();
            let got = g.check_and_update(epoch, seq);
            let want = m.check_and_update(epoch, seq);
            cx.hit("replay", if got.is_ok() { "accepted" } else { "refused" });
            ensure!(
                got.is_ok() == want,
                "(epoch {epoch}, seq {seq}) after epoch {} highest {}: guard {got:?}, rules say {}",
                before.epoch(),
                before.highest(),
                if want { "accept" } else { "refuse" }
            );
            if got.is_err() {
                ensure!(g == before, "a refusal changed the guard: {before:?} -> {g:?}");
            }
            ensure!(
                (g.epoch(), g.highest()) == (m.epoch, m.highest),
                "guard at ({}, {}), rules say ({}, {})",
                g.epoch(),
                g.highest(),
                m.epoch,
                m.highest
            );
        }
        Ok(())
    }
}
