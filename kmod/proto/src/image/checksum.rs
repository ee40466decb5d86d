//! The [`Checksum`] of an image's page batches, which the source sends in
//! `Commit` and the destination recomputes.
//!
//! Calls [`super::pages`] (for a batch's header) and [`super::codec`].

use super::codec::{copy, le64};
use super::pages::PageBatchHeader;

const CK_SEED: u64 = 0xcbf2_9ce4_8422_2325;

const CK_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One word step: FNV-1a's xor-multiply on a whole 64-bit word, then a
/// xor-shift so high bits also reach the low ones. Both steps are
/// bijective, so changing one word always changes the state.
const fn ck_mix(h: u64, w: u64) -> u64 {
    let x = (h ^ w).wrapping_mul(CK_PRIME);
    x ^ (x >> 29)
}

/// A streaming 64-bit checksum of the image's pages.
///
/// FNV-1a over little-endian 64-bit words (8 times fewer multiplications
/// than bytewise FNV-1a), with a xor-shift per word; the last partial word
/// is zero-padded, then the total length is mixed in and the result goes
/// through a final avalanche. It catches lost, repeated, reordered or
/// damaged batches; it is not a cryptographic hash (frames carry an HMAC
/// for that). Feeding the same bytes in any split gives the same result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    h: u64,
    tail: [u8; 8],
    tail_len: usize,
    total: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum::new()
    }
}

impl Checksum {
    /// The checksum of nothing yet.
    pub const fn new() -> Checksum {
        Checksum { h: CK_SEED, tail: [0; 8], tail_len: 0, total: 0 }
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        let mut i = 0;
        // Complete a partial word left by the previous call.
        if self.tail_len > 0 {
            while self.tail_len < 8 {
                match (data.get(i), self.tail.get_mut(self.tail_len)) {
                    (Some(b), Some(slot)) => *slot = *b,
                    _ => return,
                }
                self.tail_len = self.tail_len.saturating_add(1);
                i = i.saturating_add(1);
            }
            self.h = ck_mix(self.h, u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        // Whole words straight from `data`.
        while data.len().saturating_sub(i) >= 8 {
            self.h = ck_mix(self.h, le64(data, i));
            i = i.saturating_add(8);
        }
        // Keep the rest for later.
        while let Some(b) = data.get(i) {
            if let Some(slot) = self.tail.get_mut(self.tail_len) {
                *slot = *b;
            }
            self.tail_len = self.tail_len.saturating_add(1);
            i = i.saturating_add(1);
        }
    }

    /// Adds one page batch: its first address and page count (as two
    /// u64), then its data. Source and destination both use this.
    pub fn add_batch(&mut self, h: &PageBatchHeader, data: &[u8]) {
        self.update(&h.first_addr.to_le_bytes());
        self.update(&u64::from(h.count).to_le_bytes());
        self.update(data);
    }

    /// The checksum of everything added so far (more may be added after).
    pub fn finish(&self) -> u64 {
        let mut h = self.h;
        if self.tail_len > 0 {
            let mut last = [0u8; 8];
            copy(&mut last, self.tail.get(..self.tail_len).unwrap_or(&[]));
            h = ck_mix(h, u64::from_le_bytes(last));
        }
        h = ck_mix(h, self.total);
        // splitmix64's finalizer.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// The [`Checksum`] of `data` in one go.
pub fn checksum(data: &[u8]) -> u64 {
    let mut c = Checksum::new();
    c.update(data);
    c.finish()
}
