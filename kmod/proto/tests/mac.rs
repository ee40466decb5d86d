//! Host tests of the frame MAC (`mac.rs`): RFC 8439's vectors for the
//! ChaCha20 block and Poly1305, the XChaCha draft's HChaCha20 vector, and
//! the tag against the RustCrypto XChaCha20-Poly1305 for many lengths.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use roam_proto::mac::{chacha20_block, hchacha20, tag, Poly1305};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn key32(v: &[u8]) -> [u8; 32] {
    v.try_into().unwrap()
}

#[test]
fn chacha20_block_rfc8439_2_3_2() {
    let key = key32(&(0u8..32).collect::<Vec<_>>());
    let nonce: [u8; 12] = hex("000000090000004a00000000").try_into().unwrap();
    let out = chacha20_block(&key, 1, &nonce);
    let want = hex(
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
         d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    );
    assert_eq!(out.to_vec(), want);
}

#[test]
fn poly1305_rfc8439_2_5_2() {
    let key = key32(&hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"));
    let msg = b"Cryptographic Forum Research Group";
    let mut p = Poly1305::new(&key);
    p.update(msg);
    assert_eq!(p.finish().to_vec(), hex("a8061dc1305136c6c22b8baf0c0127a9"));
    // The same in pieces of every size.
    for step in 1..=msg.len() {
        let mut p = Poly1305::new(&key);
        for c in msg.chunks(step) {
            p.update(c);
        }
        assert_eq!(p.finish().to_vec(), hex("a8061dc1305136c6c22b8baf0c0127a9"), "step {step}");
    }
}

#[test]
fn poly1305_edge_values() {
    // A.3 #3: s only (r = 0) gives s whatever the message.
    let key = key32(&hex("0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e"));
    let mut p = Poly1305::new(&key);
    p.update(b"Any submission to the IETF intended by the Contributor");
    assert_eq!(p.finish().to_vec(), hex("36e5f6b5c5e06070f0efca96227a863e"));
    // A.3 #6: r = 2, a message of all ones wraps around p.
    let key = key32(&hex("0200000000000000000000000000000000000000000000000000000000000000"));
    let mut p = Poly1305::new(&key);
    p.update(&hex("ffffffffffffffffffffffffffffffff"));
    assert_eq!(p.finish().to_vec(), hex("03000000000000000000000000000000"));
}

#[test]
fn hchacha20_xchacha_draft_2_2_1() {
    let key = key32(&hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
    let nonce: [u8; 16] = hex("000000090000004a0000000031415927").try_into().unwrap();
    assert_eq!(hchacha20(&key, &nonce).to_vec(), hex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"));
}

#[test]
fn tag_matches_rustcrypto_xchacha20poly1305() {
    let key = key32(&(0u8..32).map(|i| i.wrapping_mul(7).wrapping_add(3)).collect::<Vec<_>>());
    let aead = XChaCha20Poly1305::new((&key).into());
    let mut seed = 0x1234_5678_9abc_def0u64;
    for len in (0..300).chain([1023, 1024, 1025, 65536, 131_072 + 44]) {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let nonce: [u8; 24] = core::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ len as u8);
        let want = aead.encrypt(XNonce::from_slice(&nonce), Payload { msg: &[], aad: &data }).unwrap();
        assert_eq!(tag(&key, &nonce, &data).to_vec(), want, "length {len}");
    }
}

#[test]
fn tag_depends_on_every_input() {
    let key = [9u8; 32];
    let nonce = [1u8; 24];
    let data = vec![0x5au8; 100];
    let t = tag(&key, &nonce, &data);
    let mut k2 = key;
    k2[31] ^= 1;
    assert_ne!(tag(&k2, &nonce, &data), t);
    let mut n2 = nonce;
    n2[23] ^= 1;
    assert_ne!(tag(&key, &n2, &data), t);
    let mut d2 = data.clone();
    d2[99] ^= 0x80;
    assert_ne!(tag(&key, &nonce, &d2), t);
    assert_ne!(tag(&key, &nonce, &data[..99]), t);
}
