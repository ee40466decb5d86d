//! Randomness helpers on top of `roam_proto::rng` shared by both
//! simulators. Calls nothing else in the crate.

use roam_proto::rng::XorShift64;

/// A uniform float in [0, 1) from the crate's generator.
pub(crate) fn unit(rng: &mut XorShift64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
