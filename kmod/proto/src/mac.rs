//! The frame MAC: the tag of XChaCha20-Poly1305 (RFC 8439's AEAD with
//! the 24-byte nonce of draft-irtf-cfrg-xchacha) over the whole frame as
//! associated data, with nothing encrypted.
//!
//! Each frame's nonce is bytes 12..36 of its header — sender, destination,
//! the sender's session epoch and the frame's sequence number — which no
//! two frames sealed under one key share: a sender numbers its frames to
//! each destination from 1 in each session, and a session's epoch is the
//! time it began, in nanoseconds. Poly1305 with a per-frame key derived
//! from that nonce costs a few multiplications per 16 bytes, where
//! HMAC-SHA256 costs a SHA-256 compression per 64: in an emulated guest
//! that was the bound on every bulk transfer (`docs/transport.md`).
//!
//! `core` only, no `unsafe`, no tables; host-tested against RFC 8439's
//! vectors and the RustCrypto implementation (`tests/mac.rs`).

/// Length of a tag.
pub const TAG_LEN: usize = 16;
/// Length of a key.
pub const KEY_LEN: usize = 32;
/// Length of a nonce.
pub const NONCE_LEN: usize = 24;

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Copies what fits of `src` into `dst` (no length check that could
/// panic: every caller passes equal lengths).
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

fn le32(b: &[u8], i: usize) -> u32 {
    match b.get(i..i + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        Some(w) => u32::from_le_bytes(w),
        None => 0,
    }
}

/// One ChaCha quarter round on four words.
macro_rules! quarter {
    ($a:expr, $b:expr, $c:expr, $d:expr) => {
        $a = $a.wrapping_add($b);
        $d = ($d ^ $a).rotate_left(16);
        $c = $c.wrapping_add($d);
        $b = ($b ^ $c).rotate_left(12);
        $a = $a.wrapping_add($b);
        $d = ($d ^ $a).rotate_left(8);
        $c = $c.wrapping_add($d);
        $b = ($b ^ $c).rotate_left(7);
    };
}

/// The 20 rounds of ChaCha over `s` (without the final addition), on
/// locals: no indexing in the loop.
#[inline(always)]
fn rounds(s: &mut [u32; 16]) {
    let [mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7, mut x8, mut x9, mut x10, mut x11, mut x12, mut x13, mut x14, mut x15] = *s;
    for _ in 0..10 {
        quarter!(x0, x4, x8, x12);
        quarter!(x1, x5, x9, x13);
        quarter!(x2, x6, x10, x14);
        quarter!(x3, x7, x11, x15);
        quarter!(x0, x5, x10, x15);
        quarter!(x1, x6, x11, x12);
        quarter!(x2, x7, x8, x13);
        quarter!(x3, x4, x9, x14);
    }
    *s = [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15];
}

fn initial(key: &[u8; KEY_LEN], tail: [u32; 4]) -> [u32; 16] {
    let k = |i: usize| le32(key, 4 * i);
    [SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3], k(0), k(1), k(2), k(3), k(4), k(5), k(6), k(7), tail[0], tail[1], tail[2], tail[3]]
}

/// The ChaCha20 block for `key`, block counter `counter` and 12-byte
/// `nonce` (RFC 8439 §2.3).
pub fn chacha20_block(key: &[u8; KEY_LEN], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    let start = initial(key, [counter, le32(nonce, 0), le32(nonce, 4), le32(nonce, 8)]);
    let mut s = start;
    rounds(&mut s);
    let mut out = [0u8; 64];
    for (i, (w, x)) in s.iter().zip(start.iter()).enumerate() {
        copy(&mut out[4 * i..4 * i + 4], &w.wrapping_add(*x).to_le_bytes());
    }
    out
}

/// HChaCha20: the subkey for `key` and the first 16 bytes of an extended
/// nonce.
pub fn hchacha20(key: &[u8; KEY_LEN], nonce: &[u8; 16]) -> [u8; KEY_LEN] {
    let mut s = initial(key, [le32(nonce, 0), le32(nonce, 4), le32(nonce, 8), le32(nonce, 12)]);
    rounds(&mut s);
    let mut out = [0u8; KEY_LEN];
    for (i, w) in s[..4].iter().chain(s[12..].iter()).enumerate() {
        copy(&mut out[4 * i..4 * i + 4], &w.to_le_bytes());
    }
    out
}

/// Poly1305 (RFC 8439 §2.5) in three limbs of 44, 44 and 42 bits, with
/// 64x64-bit products.
pub struct Poly1305 {
    r: [u64; 3],
    /// r1 and r2 times 20 (5 · 4: the reduction folded in).
    s: [u64; 2],
    pad: [u64; 2],
    h: [u64; 3],
    /// Bytes of an unfinished block.
    buf: [u8; 16],
    used: usize,
}

const M44: u64 = 0xfff_ffff_ffff;
const M42: u64 = 0x3ff_ffff_ffff;

fn le64(b: &[u8], i: usize) -> u64 {
    match b.get(i..i + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
        Some(w) => u64::from_le_bytes(w),
        None => 0,
    }
}

impl Poly1305 {
    /// A new computation with the one-time key `key` (r, then s).
    pub fn new(key: &[u8; 32]) -> Self {
        let (t0, t1) = (le64(key, 0), le64(key, 8));
        let r0 = t0 & 0xffc_0fff_ffff;
        let r1 = ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff;
        let r2 = (t1 >> 24) & 0x00f_ffff_fc0f;
        Poly1305 { r: [r0, r1, r2], s: [r1 * 20, r2 * 20], pad: [le64(key, 16), le64(key, 24)], h: [0; 3], buf: [0; 16], used: 0 }
    }

    /// One 16-byte block; `hibit` is 2^128 (as 1 << 40 in the top limb)
    /// for whole blocks, 0 for a padded final one.
    #[inline(always)]
    fn block(&mut self, m: &[u8; 16], hibit: u64) {
        let (t0, t1) = (le64(m, 0), le64(m, 8));
        let [r0, r1, r2] = self.r;
        let [s1, s2] = self.s;
        let h0 = self.h[0].wrapping_add(t0 & M44);
        let h1 = self.h[1].wrapping_add(((t0 >> 44) | (t1 << 20)) & M44);
        let h2 = self.h[2].wrapping_add(((t1 >> 24) & M42) | hibit);
        let mul = |a: u64, b: u64| u128::from(a) * u128::from(b);
        let d0 = mul(h0, r0) + mul(h1, s2) + mul(h2, s1);
        let mut d1 = mul(h0, r1) + mul(h1, r0) + mul(h2, s2);
        let mut d2 = mul(h0, r2) + mul(h1, r1) + mul(h2, r0);
        d1 += d0 >> 44;
        let n0 = (d0 as u64) & M44;
        d2 += d1 >> 44;
        let n1 = (d1 as u64) & M44;
        let c = (d2 >> 42) as u64;
        let n2 = (d2 as u64) & M42;
        let n0 = n0 + c * 5;
        self.h = [n0 & M44, n1 + (n0 >> 44), n2];
    }

    /// Adds `data` to the message.
    pub fn update(&mut self, mut data: &[u8]) {
        if self.used > 0 {
            let n = (16 - self.used).min(data.len());
            copy(&mut self.buf[self.used..self.used + n], &data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used < 16 {
                return;
            }
            let b = self.buf;
            self.block(&b, 1 << 40);
            self.used = 0;
        }
        let mut chunks = data.chunks_exact(16);
        for c in &mut chunks {
            if let Ok(b) = <&[u8; 16]>::try_from(c) {
                self.block(b, 1 << 40);
            }
        }
        let rest = chunks.remainder();
        copy(&mut self.buf[..rest.len()], rest);
        self.used = rest.len();
    }

    /// Adds zeros up to the next multiple of 16 bytes (AEAD padding).
    pub fn pad16(&mut self) {
        if self.used > 0 {
            let z = [0u8; 16];
            let n = 16 - self.used;
            self.update(&z[..n]);
        }
    }

    /// The tag.
    pub fn finish(mut self) -> [u8; TAG_LEN] {
        if self.used > 0 {
            let mut b = [0u8; 16];
            copy(&mut b[..self.used], &self.buf[..self.used]);
            b[self.used] = 1;
            self.block(&b, 0);
        }
        let [mut h0, mut h1, mut h2] = self.h;
        // Full carry, twice.
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= M44;
            h0 += (h2 >> 42) * 5;
            h2 &= M42;
            h1 += h0 >> 44;
            h0 &= M44;
        }
        // h - p, taken if it does not go below zero.
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= M44;
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= M44;
        let take_g = (g2 >> 63).wrapping_sub(1);
        h0 = (h0 & !take_g) | (g0 & take_g);
        h1 = (h1 & !take_g) | (g1 & take_g);
        h2 = (h2 & !take_g) | (g2 & take_g);
        // + s, mod 2^128.
        let [t0, t1] = self.pad;
        h0 += t0 & M44;
        let mut c = h0 >> 44;
        h0 &= M44;
        h1 += (((t0 >> 44) | (t1 << 20)) & M44) + c;
        c = h1 >> 44;
        h1 &= M44;
        h2 = (h2 + ((t1 >> 24) & M42) + c) & M42;
        let lo = h0 | (h1 << 44);
        let hi = (h1 >> 20) | (h2 << 24);
        let mut out = [0u8; TAG_LEN];
        copy(&mut out[..8], &lo.to_le_bytes());
        copy(&mut out[8..], &hi.to_le_bytes());
        out
    }
}

/// The XChaCha20-Poly1305 tag of `ad` as associated data with an empty
/// plaintext, under `key` and `nonce`.
pub fn tag(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], ad: &[u8]) -> [u8; TAG_LEN] {
    let mut n16 = [0u8; 16];
    copy(&mut n16, &nonce[..16]);
    let sub = hchacha20(key, &n16);
    let mut n12 = [0u8; 12];
    copy(&mut n12[4..], &nonce[16..]);
    let block = chacha20_block(&sub, 0, &n12);
    let mut otk = [0u8; 32];
    copy(&mut otk, &block[..32]);
    let mut p = Poly1305::new(&otk);
    p.update(ad);
    p.pad16();
    let mut lens = [0u8; 16];
    copy(&mut lens[..8], &(ad.len() as u64).to_le_bytes());
    p.update(&lens);
    p.finish()
}
