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
    let mut w = [0u8; 4];
    if let Some(s) = b.get(i..i + 4) {
        copy(&mut w, s);
    }
    u32::from_le_bytes(w)
}

fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The 20 rounds of ChaCha over `s` (without the final addition).
fn rounds(s: &mut [u32; 16]) {
    for _ in 0..10 {
        quarter(s, 0, 4, 8, 12);
        quarter(s, 1, 5, 9, 13);
        quarter(s, 2, 6, 10, 14);
        quarter(s, 3, 7, 11, 15);
        quarter(s, 0, 5, 10, 15);
        quarter(s, 1, 6, 11, 12);
        quarter(s, 2, 7, 8, 13);
        quarter(s, 3, 4, 9, 14);
    }
}

fn initial(key: &[u8; KEY_LEN], tail: [u32; 4]) -> [u32; 16] {
    let mut s = [0u32; 16];
    copy(&mut s[..4], &SIGMA);
    for i in 0..8 {
        s[4 + i] = le32(key, 4 * i);
    }
    copy(&mut s[12..], &tail);
    s
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

/// Poly1305 (RFC 8439 §2.5) in five 26-bit limbs.
pub struct Poly1305 {
    r: [u32; 5],
    s: [u32; 4],
    h: [u32; 5],
    /// Bytes of an unfinished block.
    buf: [u8; 16],
    used: usize,
}

impl Poly1305 {
    /// A new computation with the one-time key `key` (r, then s).
    pub fn new(key: &[u8; 32]) -> Self {
        Poly1305 {
            r: [
                le32(key, 0) & 0x03ff_ffff,
                (le32(key, 3) >> 2) & 0x03ff_ff03,
                (le32(key, 6) >> 4) & 0x03ff_c0ff,
                (le32(key, 9) >> 6) & 0x03f0_3fff,
                (le32(key, 12) >> 8) & 0x000f_ffff,
            ],
            s: [le32(key, 16), le32(key, 20), le32(key, 24), le32(key, 28)],
            h: [0; 5],
            buf: [0; 16],
            used: 0,
        }
    }

    /// One 16-byte block; `hibit` is 2^128 (as 1 << 24 in the top limb)
    /// for whole blocks, 0 for a padded final one.
    fn block(&mut self, m: &[u8], hibit: u32) {
        let [r0, r1, r2, r3, r4] = self.r.map(u64::from);
        let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5);
        let h = &mut self.h;
        let h0 = u64::from(h[0] + (le32(m, 0) & 0x03ff_ffff));
        let h1 = u64::from(h[1] + ((le32(m, 3) >> 2) & 0x03ff_ffff));
        let h2 = u64::from(h[2] + ((le32(m, 6) >> 4) & 0x03ff_ffff));
        let h3 = u64::from(h[3] + ((le32(m, 9) >> 6) & 0x03ff_ffff));
        let h4 = u64::from(h[4] + ((le32(m, 12) >> 8) | hibit));
        let d0 = h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1;
        let mut d1 = h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2;
        let mut d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3;
        let mut d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4;
        let mut d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
        const M: u64 = 0x03ff_ffff;
        d1 += d0 >> 26;
        d2 += d1 >> 26;
        d3 += d2 >> 26;
        d4 += d3 >> 26;
        let mut n0 = (d0 & M) + (d4 >> 26) * 5;
        let n1 = (d1 & M) + (n0 >> 26);
        n0 &= M;
        *h = [n0 as u32, n1 as u32, (d2 & M) as u32, (d3 & M) as u32, (d4 & M) as u32];
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
            self.block(&b, 1 << 24);
            self.used = 0;
        }
        let mut chunks = data.chunks_exact(16);
        for c in &mut chunks {
            self.block(c, 1 << 24);
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
        let [mut h0, mut h1, mut h2, mut h3, mut h4] = self.h;
        const M: u32 = 0x03ff_ffff;
        let mut c;
        c = h1 >> 26;
        h1 &= M;
        h2 += c;
        c = h2 >> 26;
        h2 &= M;
        h3 += c;
        c = h3 >> 26;
        h3 &= M;
        h4 += c;
        c = h4 >> 26;
        h4 &= M;
        h0 += c * 5;
        c = h0 >> 26;
        h0 &= M;
        h1 += c;
        // h - p: taken if it does not go below zero.
        let mut g0 = h0.wrapping_add(5);
        c = g0 >> 26;
        g0 &= M;
        let mut g1 = h1.wrapping_add(c);
        c = g1 >> 26;
        g1 &= M;
        let mut g2 = h2.wrapping_add(c);
        c = g2 >> 26;
        g2 &= M;
        let mut g3 = h3.wrapping_add(c);
        c = g3 >> 26;
        g3 &= M;
        let g4 = h4.wrapping_add(c).wrapping_sub(1 << 26);
        let take_g = (g4 >> 31).wrapping_sub(1);
        let keep_h = !take_g;
        h0 = (h0 & keep_h) | (g0 & take_g);
        h1 = (h1 & keep_h) | (g1 & take_g);
        h2 = (h2 & keep_h) | (g2 & take_g);
        h3 = (h3 & keep_h) | (g3 & take_g);
        h4 = (h4 & keep_h) | (g4 & take_g);
        let w = [h0 | (h1 << 26), (h1 >> 6) | (h2 << 20), (h2 >> 12) | (h3 << 14), (h3 >> 18) | (h4 << 8)];
        let mut out = [0u8; TAG_LEN];
        let mut carry = 0u64;
        for i in 0..4 {
            let f = u64::from(w[i]) + u64::from(self.s[i]) + carry;
            copy(&mut out[4 * i..4 * i + 4], &(f as u32).to_le_bytes());
            carry = f >> 32;
        }
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
