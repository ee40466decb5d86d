//! The fuzzer's random numbers: a seeded SplitMix64 stream, so that a run
//! with the same seed makes the same inputs in the same order.
//!
//! Owns [`Rng`] only; calls nothing.

/// A SplitMix64 generator (Steele, Lea and Flood): one 64-bit state word,
/// full period, good enough to pick mutations and fast.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream depends only on `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift: no division, bias below 2^-64 * n.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True once in `n` draws on average (always for `n` <= 1).
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// An element of `items` (`None` if it is empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// A length or offset that prefers small values: uniform below a
    /// bound that is itself drawn from 1, 2, 4, ... `max`.
    pub fn small(&mut self, max: usize) -> usize {
        let bits = usize::BITS - max.leading_zeros();
        let cap = 1usize << self.below(bits as usize + 1).min(63);
        self.below(cap.min(max).saturating_add(1))
    }

    /// A child generator for a separate purpose (e.g. building seeds), so
    /// that drawing from it does not shift this stream.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64() ^ 0x5eed_5eed_5eed_5eed)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn bounds_hold() {
        let mut r = Rng::new(1);
        for n in 1..50 {
            for _ in 0..50 {
                assert!(r.below(n) < n);
                assert!(r.small(n) <= n);
            }
        }
        assert_eq!(r.below(0), 0);
        assert!(r.pick::<u8>(&[]).is_none());
    }
}
