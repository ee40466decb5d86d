//! Little-endian byte helpers for the fixed-layout encoders.
//!
//! Owns [`put`] and [`take`], which [`crate::wire`] and [`crate::loadvec`]
//! both use, so that neither has to import the other for them, and the
//! readers of words and `struct iovec` arrays as a program lays them out
//! ([`u64_at`], [`u32_at`], [`iovecs`]), which the message image and the
//! module's vectored, message and file-mapping calls use. Calls nothing
//! outside `core`; never panics, whatever the lengths.

/// Copies `src` into `out` from offset `at`; bytes past the end of `out`
/// are dropped (callers size `out` so that none are).
pub(crate) fn put(out: &mut [u8], at: usize, src: &[u8]) {
    let Some(out) = out.get_mut(at..) else { return };
    let n = out.len().min(src.len());
    let (Some(out), Some(src)) = (out.get_mut(..n), src.get(..n)) else { return };
    // 64 bytes at a time (a page is 64 blocks): a byte loop stays a loop
    // on the debug kernel, with a KASAN check per byte.
    let mut d = out.chunks_exact_mut(64);
    let mut s = src.chunks_exact(64);
    for (d, s) in (&mut d).zip(&mut s) {
        if let (Ok(d), Ok(s)) = (<&mut [u8; 64]>::try_from(d), <&[u8; 64]>::try_from(s)) {
            *d = *s;
        }
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// The `N` bytes of `b` from offset `at`, or zeros if `b` is too short.
pub(crate) fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

/// The little-endian `u64` at offset `at` of `b` (0 if `b` is too short).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(take(b, at))
}

/// The little-endian `u32` at offset `at` of `b` (0 if `b` is too short).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(take(b, at))
}

/// Bytes of one x86-64 `struct iovec`.
pub(crate) const IOVEC_LEN: usize = 16;

/// The (base, length) pairs of an array of `struct iovec` as a program
/// lays it out; a trailing partial entry is ignored. (The module's calls
/// use it; the host crate has no caller but its tests.)
#[allow(dead_code)]
pub(crate) fn iovecs(raw: &[u8]) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
    raw.chunks_exact(IOVEC_LEN).map(|c| (u64_at(c, 0), u64_at(c, 8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_iovecs() {
        let mut b = [0u8; 40];
        put(&mut b, 0, &0x1122_3344_5566_7788u64.to_le_bytes());
        put(&mut b, 8, &5u64.to_le_bytes());
        put(&mut b, 16, &0x9000u64.to_le_bytes());
        put(&mut b, 24, &7u64.to_le_bytes());
        assert_eq!(u64_at(&b, 0), 0x1122_3344_5566_7788);
        assert_eq!(u32_at(&b, 4), 0x1122_3344);
        assert_eq!(u64_at(&b, 36), 0, "too short: zero");
        let v: [(u64, u64); 2] = [(0x1122_3344_5566_7788, 5), (0x9000, 7)];
        assert!(iovecs(&b).eq(v), "the 8 trailing bytes are no entry");
    }

    #[test]
    fn put_copies_what_fits_at_any_offset() {
        let src: [u8; 300] = core::array::from_fn(|i| (i * 7 + 1) as u8);
        for out_len in [0usize, 1, 63, 64, 65, 130, 200, 300] {
            for at in [0usize, 1, 5, 64, 199, 400] {
                for src_len in [0usize, 1, 64, 129, 300] {
                    let mut out = [0xeeu8; 300];
                    put(&mut out[..out_len], at, &src[..src_len]);
                    // The byte-by-byte meaning of put.
                    let mut want = [0xeeu8; 300];
                    for (d, s) in want[..out_len].iter_mut().skip(at).zip(&src[..src_len]) {
                        *d = *s;
                    }
                    assert_eq!(out, want, "out_len {out_len}, at {at}, src_len {src_len}");
                }
            }
        }
    }
}
