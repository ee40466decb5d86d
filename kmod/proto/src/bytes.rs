//! Little-endian byte helpers for the fixed-layout encoders.
//!
//! Owns [`put`] and [`take`], which [`crate::wire`] and [`crate::loadvec`]
//! both use, so that neither has to import the other for them. Calls
//! nothing outside `core`; never panics, whatever the lengths.

/// Copies `src` into `out` from offset `at`; bytes past the end of `out`
/// are dropped (callers size `out` so that none are).
pub(crate) fn put(out: &mut [u8], at: usize, src: &[u8]) {
    for (d, s) in out.iter_mut().skip(at).zip(src) {
        *d = *s;
    }
}

/// The `N` bytes of `b` from offset `at`, or zeros if `b` is too short.
pub(crate) fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}
