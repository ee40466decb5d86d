//! A small seeded pseudo-random generator (Marsaglia's xorshift64).
//!
//! Good enough for picking gossip peers and jittering timers; it is not a
//! cryptographic generator and must never be used for keys or nonces.
//! `core` only, no floating point, no panics: the same code runs in the
//! kernel module and in the host simulator.

/// xorshift64 generator (shift triple 13, 7, 17).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorShift64 {
    state: u64,
}

/// Stand-in state used when the seed mixes down to zero: xorshift never
/// leaves the all-zero state, so zero is not a usable state.
const NONZERO_STATE: u64 = 0x9e37_79b9_7f4a_7c15;

/// One splitmix64 round: spreads nearby seeds (1, 2, 3, ...) far apart so
/// that generators seeded with consecutive node ids do not start out
/// correlated.
const fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl XorShift64 {
    /// A generator seeded with `seed`. Every seed, including 0, is valid,
    /// and equal seeds give equal sequences.
    pub const fn new(seed: u64) -> Self {
        let s = splitmix64(seed);
        XorShift64 { state: if s == 0 { NONZERO_STATE } else { s } }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// The next 32 random bits (the high half, which mixes better).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform value in `0..n`; returns 0 when `n` is 0.
    ///
    /// Draws that fall into the short last "bucket" of the 64-bit range are
    /// redrawn, so there is no modulo bias. At most half the range is ever
    /// rejected, so the expected number of draws is below 2.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // 2^64 mod n, computed without 128-bit arithmetic.
        let reject_under = n.wrapping_neg() % n;
        loop {
            let r = self.next_u64();
            if r >= reject_under {
                return r % n;
            }
        }
    }

    /// A uniform value in `lo..=hi` (the bounds may come in either order).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        match b.wrapping_sub(a).checked_add(1) {
            // below(span) <= b - a, so the sum stays within a..=b.
            Some(span) => a.wrapping_add(self.below(span)),
            // The full 0..=u64::MAX range: every value is fair.
            None => self.next_u64(),
        }
    }

    /// True with probability `per_million` / 1,000,000 (integer odds, no
    /// floating point); values above a million count as certainty.
    pub fn chance_ppm(&mut self, per_million: u32) -> bool {
        self.below(1_000_000) < u64::from(per_million)
    }
}

impl Default for XorShift64 {
    fn default() -> Self {
        XorShift64::new(0)
    }
}
