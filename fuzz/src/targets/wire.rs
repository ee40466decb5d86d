//! `wire_frame`: what a receiver thread does with the bytes of one frame
//! (`kmod/cluster/rx.rs`, `frame.rs`, `dispatch.rs`): the header checks
//! ([`Header::decode`]), the length and MAC checks ([`wire::open`]), the
//! destination check, then the payload decoder its type goes to.
//!
//! The MAC here is [`FuzzMac`], a keyed non-cryptographic stand-in: the
//! format does no cryptography itself, and the fixup can recompute it so
//! that mutated frames get past the MAC to the payload decoders.
//!
//! Checks: `open` reports the header's error when the header alone is bad;
//! an opened frame is exactly `frame_len(h.len)` bytes, its payload is the
//! `h.len` bytes after the header, its sender a valid node id, and sealing
//! its header and payload again gives the same bytes (the encoding is
//! canonical: reserved bytes must be zero).

use super::{fwd, image, loads, proc};
use crate::ensure;
use crate::mutate;
use crate::rng::Rng;
use crate::target::{Cx, Field, Target, Violation};
use roam_proto::wire::{self, FrameMac, Header, MsgType, Reject, HEADER_LEN, MAC_LEN, MAX_PAYLOAD};

/// A keyed hash standing in for the frame MAC: four SplitMix-style lanes
/// over the data's 64-bit words, the first ones of which make the tag.
/// Deterministic; not secure.
pub struct FuzzMac;

impl FrameMac for FuzzMac {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        mac_of(data)
    }
}

/// [`FuzzMac`]'s tag of `data`.
pub fn mac_of(data: &[u8]) -> [u8; MAC_LEN] {
    let mut lanes: [u64; 4] =
        [0x726f_616d_6b65_7931, 0x9e37_79b9_7f4a_7c15, 0xbf58_476d_1ce4_e5b9, 0x94d0_49bb_1331_11eb];
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for (i, chunk) in data.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let lane = &mut lanes[i % 4];
        *lane = mix(*lane ^ u64::from_le_bytes(w));
    }
    let mut out = [0u8; MAC_LEN];
    for (i, l) in lanes.iter().enumerate().take(MAC_LEN / 8) {
        let v = mix(*l ^ data.len() as u64 ^ ((i as u64) << 56));
        out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Every frame type.
const TYPES: [MsgType; 13] = [
    MsgType::Hello,
    MsgType::Welcome,
    MsgType::LoadPush,
    MsgType::LoadReply,
    MsgType::Ping,
    MsgType::Pong,
    MsgType::Bulk,
    MsgType::BulkAck,
    MsgType::Bye,
    MsgType::Migrate,
    MsgType::Proc,
    MsgType::Call,
    MsgType::Ret,
];

/// The node the frames are received on.
const ME: u32 = 1;

/// A sealed frame of type `ty` carrying `payload`.
pub fn frame(ty: MsgType, sender: u32, seq: u64, payload: &[u8]) -> Vec<u8> {
    let h = Header {
        msg_type: ty,
        flags: 0,
        len: payload.len() as u32,
        sender,
        dest: if seq.is_multiple_of(2) { 0 } else { ME },
        epoch: 7,
        seq,
        request_id: seq as u32 * 3,
    };
    let mut out = vec![0u8; wire::frame_len(payload.len())];
    let n = wire::seal(&h, payload, &mut FuzzMac, &mut out).expect("seed frames fit");
    out.truncate(n);
    out
}

/// The payloads the seeds carry for frame type `ty`.
fn payloads(ty: MsgType) -> Vec<Vec<u8>> {
    let mut p = match ty {
        MsgType::LoadPush | MsgType::LoadReply => loads::samples(),
        MsgType::Proc => proc::samples(),
        MsgType::Call => fwd::call_samples().into_iter().take(12).collect(),
        MsgType::Ret => fwd::ret_samples(),
        MsgType::Migrate => image::msg_samples(),
        _ => vec![b"ping".to_vec()],
    };
    p.push(Vec::new());
    p
}

/// The `wire_frame` target.
pub struct Frames;

static FIELDS: [Field; 6] = [
    Field::len(8, 4, HEADER_LEN + MAC_LEN, 1),
    Field::value(4, 1),
    Field::value(5, 1),
    Field::value(12, 4),
    Field::value(16, 4),
    Field::value(40, 4),
];

impl Target for Frames {
    fn name(&self) -> &'static str {
        "wire_frame"
    }

    fn about(&self) -> &'static str {
        "frame header, length and MAC (wire::Header::decode, wire::open), then the payload decoder of its type"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, ty) in TYPES.iter().enumerate() {
            for (j, p) in payloads(*ty).iter().enumerate() {
                out.push(frame(*ty, 2 + (i % 3) as u32, 1 + (i * 16 + j) as u64, p));
            }
        }
        out
    }

    fn max_len(&self) -> usize {
        HEADER_LEN + 16 * 1024 + MAC_LEN
    }

    fn fields(&self) -> &'static [Field] {
        &FIELDS
    }

    fn fixup(&self, data: &mut Vec<u8>, rng: &mut Rng) {
        if data.len() < HEADER_LEN + MAC_LEN {
            return;
        }
        if rng.one_in(3) {
            let len = (data.len() - HEADER_LEN - MAC_LEN) as u64;
            mutate::write(data, 8, 4, len);
        }
        let body = data.len() - MAC_LEN;
        let tag = mac_of(&data[..body]);
        data[body..].copy_from_slice(&tag);
    }

    fn run(&self, data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
        check(data, cx)
    }
}

/// The receiver's checks on one frame, then its payload's decoder.
pub fn check(data: &[u8], cx: &mut Cx) -> Result<(), Violation> {
    let header = Header::decode(data);
    cx.hit("header", header.map_or_else(Reject::name, |_| "ok"));
    let opened = wire::open(data, &mut FuzzMac);
    let (h, payload) = match opened {
        Err(e) => {
            cx.hit("open", e.name());
            if let Err(he) = header {
                ensure!(he == e, "header error {he:?} but open says {e:?}");
            }
            return Ok(());
        }
        Ok(x) => x,
    };
    cx.hit("open", "ok");
    ensure!(header == Ok(h), "open gave header {h:?}, decode {header:?}");
    let len = h.len as usize;
    ensure!(len <= MAX_PAYLOAD, "payload length {len} above MAX_PAYLOAD");
    ensure!(data.len() == wire::frame_len(len), "opened a {}-byte frame announcing {len}", data.len());
    ensure!(payload.len() == len, "payload of {} bytes, header says {len}", payload.len());
    ensure!(
        std::ptr::eq(payload.as_ptr(), data[HEADER_LEN..].as_ptr()),
        "payload does not start right after the header"
    );
    ensure!((1..=65534).contains(&h.sender), "sender {} accepted", h.sender);
    let mut again = vec![0u8; data.len()];
    let sealed = wire::seal(&h, payload, &mut FuzzMac, &mut again);
    ensure!(sealed == Ok(data.len()), "resealing gave {sealed:?}");
    ensure!(again == data, "the frame is not canonical: resealing its header and payload differs");
    let mut in_place = data.to_vec();
    ensure!(wire::seal_in_place(&h, &mut in_place, &mut FuzzMac).is_ok(), "seal_in_place refused an opened frame");
    ensure!(in_place == data, "seal_in_place differs from the frame");
    let for_me = h.check_dest(ME);
    cx.hit("dest", if for_me.is_ok() { "ok" } else { "wrong_dest" });
    ensure!(for_me.is_ok() == (h.dest == 0 || h.dest == ME), "check_dest({ME}) with dest {}: {for_me:?}", h.dest);
    if for_me.is_err() {
        return Ok(());
    }
    match h.msg_type {
        MsgType::LoadPush | MsgType::LoadReply => loads::check(payload, cx),
        MsgType::Proc => proc::check(payload, cx),
        MsgType::Call => fwd::check_call(payload, cx),
        MsgType::Ret => fwd::check_ret(payload, cx),
        MsgType::Migrate => image::check_msg(payload, cx),
        _ => {
            cx.hit("payload", "ignored");
            Ok(())
        }
    }
}
