//! The kernel-to-kernel frame format (carried over TCP).
//!
//! A frame is `header || payload || mac`:
//!
//! | offset | size | field                                           |
//! |-------:|-----:|-------------------------------------------------|
//! | 0      | 4    | magic, the bytes `ROAM` (0x4d414f52 read as LE) |
//! | 4      | 1    | version ([`VERSION`])                           |
//! | 5      | 1    | message type ([`MsgType`])                      |
//! | 6      | 2    | flags                                           |
//! | 8      | 4    | payload length                                  |
//! | 12     | 4    | sender node id (1..=65534)                      |
//! | 16     | 4    | destination node id (0 = any)                   |
//! | 20     | 8    | sender's session epoch                          |
//! | 28     | 8    | sequence number within that epoch (from 1)      |
//! | 36     | 4    | request id (ties a reply to its request)        |
//! | 40     | 4    | reserved, must be 0                             |
//!
//! All integers are little-endian. The MAC is the 16-byte tag of
//! XChaCha20-Poly1305 over header and payload as associated data (nothing
//! encrypted), under the frame key, with bytes 12..36 of the header
//! (sender, destination, epoch, sequence number) as the nonce
//! ([`FrameKey`], `mac.rs`). The frame key is HMAC-SHA256 of
//! [`FRAME_KEY_LABEL`] under the cluster key, computed once when the key
//! is set. Version 1 frames carried HMAC-SHA256 tags of 32 bytes.
//!
//! Receiving a frame is [`open`] (parse, length and MAC checks), then, and
//! only then, [`ReplayGuard::check_and_update`] for the sender.
//!
//! `core` only; every function returns a [`Reject`] instead of panicking,
//! whatever bytes it is given.

use crate::abi::{NODE_ID_MAX, NODE_ID_MIN};
use crate::bytes::{put, take};
use crate::loadvec::{LoadEntry, ENTRY_FLAGS_AT, ENTRY_WIRE_LEN, FLAG_NO_GUESTS, FLAG_NO_ROOT};

/// The first four bytes of every frame: `b"ROAM"` read little-endian.
pub const MAGIC: u32 = 0x4d41_4f52;

/// Frame format version.
pub const VERSION: u8 = 3;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 2 + 4 + 4 + 4 + 8 + 8 + 4 + 4;

/// Length of the trailing MAC (a Poly1305 tag).
pub const MAC_LEN: usize = crate::mac::TAG_LEN;

/// What the cluster key is HMAC-SHA256'd over to give the frame key.
pub const FRAME_KEY_LABEL: &[u8] = b"roam frame key, version 2";

/// Where a frame's nonce lies in its header: sender, destination, epoch
/// and sequence number, which no two frames sealed under one key share.
const NONCE_AT: usize = 12;

/// Largest payload accepted.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Largest frame: header, largest payload and MAC.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD + MAC_LEN;

const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_TYPE: usize = 5;
const OFF_FLAGS: usize = 6;
const OFF_LEN: usize = 8;
const OFF_SENDER: usize = 12;
const OFF_DEST: usize = 16;
const OFF_EPOCH: usize = 20;
const OFF_SEQ: usize = 28;
const OFF_REQUEST: usize = 36;
const OFF_RESERVED: usize = 40;

/// Length of a whole frame carrying `payload_len` payload bytes
/// (saturating).
pub const fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN.saturating_add(payload_len).saturating_add(MAC_LEN)
}

/// Computes the frame MAC over `header || payload`, which frames always
/// hold contiguously (so it is computed in place, without a copy).
pub trait FrameMac {
    /// The tag of `data` (a frame's header followed by its payload).
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN];
}

/// The frame key: the MAC every node computes ([`FrameMac`]).
#[derive(Clone)]
pub struct FrameKey([u8; crate::mac::KEY_LEN]);

impl FrameKey {
    /// The frame key whose bytes are `k` (HMAC-SHA256 of
    /// [`FRAME_KEY_LABEL`] under the cluster key).
    pub const fn new(k: [u8; crate::mac::KEY_LEN]) -> Self {
        FrameKey(k)
    }
}

impl Drop for FrameKey {
    fn drop(&mut self) {
        // Not left behind in freed memory: written through `black_box`,
        // which the compiler cannot drop as a dead store.
        for b in self.0.iter_mut() {
            *core::hint::black_box(b) = 0;
        }
    }
}

impl FrameMac for &FrameKey {
    fn mac(&mut self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut nonce = [0u8; crate::mac::NONCE_LEN];
        if let Some(n) = data.get(NONCE_AT..NONCE_AT + crate::mac::NONCE_LEN) {
            for (d, s) in nonce.iter_mut().zip(n) {
                *d = *s;
            }
        }
        crate::mac::tag(&self.0, &nonce, data)
    }
}

/// Frame types.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    /// Connection opening: who I am.
    Hello = 1,
    /// Answer to `Hello`.
    Welcome = 2,
    /// A load-vector gossip message (payload: [`encode_loads`]).
    LoadPush = 3,
    /// Answer to `LoadPush`: the receiver's own entry.
    LoadReply = 4,
    /// Liveness probe.
    Ping = 5,
    /// Answer to `Ping`.
    Pong = 6,
    /// A chunk of bulk data (e.g. migrating process state).
    Bulk = 7,
    /// Acknowledges `Bulk` data.
    BulkAck = 8,
    /// Orderly goodbye.
    Bye = 9,
    /// A process migration message (`image/`); `request_id` names the
    /// migration.
    Migrate = 10,
    /// An event about a migrated process (exit, signal, recall, move).
    Proc = 11,
    /// A forwarded system call, remote to deputy (`fwd.rs`); `request_id`
    /// is the process's pid at home.
    Call = 12,
    /// The answer to a `Call`, deputy to remote.
    Ret = 13,
}

impl MsgType {
    /// The type with wire value `v`, if any.
    pub const fn from_u8(v: u8) -> Option<MsgType> {
        Some(match v {
            1 => MsgType::Hello,
            2 => MsgType::Welcome,
            3 => MsgType::LoadPush,
            4 => MsgType::LoadReply,
            5 => MsgType::Ping,
            6 => MsgType::Pong,
            7 => MsgType::Bulk,
            8 => MsgType::BulkAck,
            9 => MsgType::Bye,
            10 => MsgType::Migrate,
            11 => MsgType::Proc,
            12 => MsgType::Call,
            13 => MsgType::Ret,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Why a frame (or payload) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Fewer bytes than the header or the announced length require, or an
    /// output buffer too small.
    Truncated,
    /// The first four bytes are not `ROAM`.
    BadMagic,
    /// A frame version this code does not speak.
    BadVersion,
    /// Unknown message type.
    BadType,
    /// Length field too large, or not matching the bytes present.
    BadLength,
    /// The MAC does not match (wrong key or altered frame).
    BadMac,
    /// A sequence number or epoch seen before, or too old to tell.
    Replay,
    /// A node id outside 1..=65534 (or not a cluster member).
    UnknownNode,
    /// Addressed to another node.
    WrongDest,
    /// A reserved field is not zero.
    Reserved,
}

impl Reject {
    /// Every reason, in [`Reject::index`] order.
    pub const ALL: [Reject; 10] = [
        Reject::Truncated,
        Reject::BadMagic,
        Reject::BadVersion,
        Reject::BadType,
        Reject::BadLength,
        Reject::BadMac,
        Reject::Replay,
        Reject::UnknownNode,
        Reject::WrongDest,
        Reject::Reserved,
    ];

    /// A dense index in `0..ALL.len()`, e.g. for an array of counters.
    pub const fn index(self) -> usize {
        match self {
            Reject::Truncated => 0,
            Reject::BadMagic => 1,
            Reject::BadVersion => 2,
            Reject::BadType => 3,
            Reject::BadLength => 4,
            Reject::BadMac => 5,
            Reject::Replay => 6,
            Reject::UnknownNode => 7,
            Reject::WrongDest => 8,
            Reject::Reserved => 9,
        }
    }

    /// The snake_case name used for counters (e.g. `bad_mac`).
    pub const fn name(self) -> &'static str {
        match self {
            Reject::Truncated => "truncated",
            Reject::BadMagic => "bad_magic",
            Reject::BadVersion => "bad_version",
            Reject::BadType => "bad_type",
            Reject::BadLength => "bad_length",
            Reject::BadMac => "bad_mac",
            Reject::Replay => "replay",
            Reject::UnknownNode => "unknown_node",
            Reject::WrongDest => "wrong_dest",
            Reject::Reserved => "reserved",
        }
    }
}

/// Whether `id` is a valid node id.
const fn valid_node(id: u32) -> bool {
    id >= NODE_ID_MIN && id <= NODE_ID_MAX
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message type.
    pub msg_type: MsgType,
    /// Type-specific flags.
    pub flags: u16,
    /// Payload length in bytes (at most [`MAX_PAYLOAD`]).
    pub len: u32,
    /// Sending node (1..=65534).
    pub sender: u32,
    /// Destination node, 0 for "whoever is at the other end".
    pub dest: u32,
    /// Sender's session epoch; grows across the sender's restarts.
    pub epoch: u64,
    /// Sequence number within the epoch, from 1.
    pub seq: u64,
    /// Request id; a reply carries its request's id.
    pub request_id: u32,
}

impl Header {
    /// Writes the header's wire form (reserved bytes zero).
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        put(out, OFF_MAGIC, &MAGIC.to_le_bytes());
        put(out, OFF_VERSION, &[VERSION]);
        put(out, OFF_TYPE, &[self.msg_type.as_u8()]);
        put(out, OFF_FLAGS, &self.flags.to_le_bytes());
        put(out, OFF_LEN, &self.len.to_le_bytes());
        put(out, OFF_SENDER, &self.sender.to_le_bytes());
        put(out, OFF_DEST, &self.dest.to_le_bytes());
        put(out, OFF_EPOCH, &self.epoch.to_le_bytes());
        put(out, OFF_SEQ, &self.seq.to_le_bytes());
        put(out, OFF_REQUEST, &self.request_id.to_le_bytes());
        put(out, OFF_RESERVED, &0u32.to_le_bytes());
    }

    /// Parses and checks a header from the first [`HEADER_LEN`] bytes of
    /// `buf` (later bytes are ignored). Checks, in this order: length,
    /// magic, version, type, reserved field, payload length, sender id.
    pub fn decode(buf: &[u8]) -> Result<Header, Reject> {
        let b: [u8; HEADER_LEN] = match buf.get(..HEADER_LEN) {
            Some(s) => <[u8; HEADER_LEN]>::try_from(s).map_err(|_| Reject::Truncated)?,
            None => return Err(Reject::Truncated),
        };
        if u32::from_le_bytes(take(&b, OFF_MAGIC)) != MAGIC {
            return Err(Reject::BadMagic);
        }
        if take::<1>(&b, OFF_VERSION)[0] != VERSION {
            return Err(Reject::BadVersion);
        }
        let msg_type = MsgType::from_u8(take::<1>(&b, OFF_TYPE)[0]).ok_or(Reject::BadType)?;
        if u32::from_le_bytes(take(&b, OFF_RESERVED)) != 0 {
            return Err(Reject::Reserved);
        }
        let len = u32::from_le_bytes(take(&b, OFF_LEN));
        let too_long = match usize::try_from(len) {
            Ok(l) => l > MAX_PAYLOAD,
            Err(_) => true,
        };
        if too_long {
            return Err(Reject::BadLength);
        }
        let sender = u32::from_le_bytes(take(&b, OFF_SENDER));
        if !valid_node(sender) {
            return Err(Reject::UnknownNode);
        }
        Ok(Header {
            msg_type,
            flags: u16::from_le_bytes(take(&b, OFF_FLAGS)),
            len,
            sender,
            dest: u32::from_le_bytes(take(&b, OFF_DEST)),
            epoch: u64::from_le_bytes(take(&b, OFF_EPOCH)),
            seq: u64::from_le_bytes(take(&b, OFF_SEQ)),
            request_id: u32::from_le_bytes(take(&b, OFF_REQUEST)),
        })
    }

    /// Whether this frame is for node `me`: `dest` is `me` or 0 (any).
    pub fn check_dest(&self, me: u32) -> Result<(), Reject> {
        if self.dest == 0 || self.dest == me {
            Ok(())
        } else {
            Err(Reject::WrongDest)
        }
    }
}

/// Compares two tags in time independent of where they differ.
fn tags_equal(a: &[u8; MAC_LEN], b: &[u8; MAC_LEN]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // Keep the optimizer from turning the fold into an early-exit compare.
    core::hint::black_box(diff) == 0
}

/// Finishes a frame whose payload the caller already placed in `frame`:
/// `frame` must be exactly [`frame_len`]`(h.len)` bytes with the payload at
/// `HEADER_LEN..`; this writes the header and the tag around it. It saves
/// the payload copy [`seal`] makes, which matters for bulk transfers.
pub fn seal_in_place(h: &Header, frame: &mut [u8], mac: &mut impl FrameMac) -> Result<(), Reject> {
    let len = usize::try_from(h.len).map_err(|_| Reject::BadLength)?;
    if len > MAX_PAYLOAD || frame.len() != frame_len(len) {
        return Err(Reject::BadLength);
    }
    if !valid_node(h.sender) {
        return Err(Reject::UnknownNode);
    }
    let mut head = [0u8; HEADER_LEN];
    h.encode(&mut head);
    put(frame, 0, &head);
    let body_end = HEADER_LEN.saturating_add(len);
    let tag = mac.mac(frame.get(..body_end).unwrap_or(&[]));
    put(frame, body_end, &tag);
    Ok(())
}

/// Writes the frame for header `h` and `payload` into `out` and returns
/// its length. Fails with `BadLength` if `payload.len()` differs from
/// `h.len` or exceeds [`MAX_PAYLOAD`], `UnknownNode` if `h.sender` is not a
/// valid node id, `Truncated` if `out` is too small.
pub fn seal(h: &Header, payload: &[u8], mac: &mut impl FrameMac, out: &mut [u8]) -> Result<usize, Reject> {
    if payload.len() > MAX_PAYLOAD || usize::try_from(h.len) != Ok(payload.len()) {
        return Err(Reject::BadLength);
    }
    if !valid_node(h.sender) {
        return Err(Reject::UnknownNode);
    }
    let total = frame_len(payload.len());
    let frame = out.get_mut(..total).ok_or(Reject::Truncated)?;
    let mut head = [0u8; HEADER_LEN];
    h.encode(&mut head);
    put(frame, 0, &head);
    put(frame, HEADER_LEN, payload);
    let body_end = HEADER_LEN.saturating_add(payload.len());
    let tag = mac.mac(frame.get(..body_end).unwrap_or(&[]));
    put(frame, body_end, &tag);
    Ok(total)
}

/// Checks one complete frame and returns its header and payload.
///
/// `frame` must be exactly one frame: shorter than the header or than the
/// header's length field announces gives `Truncated`, longer gives
/// `BadLength`. Header errors are reported before the MAC is checked; the
/// MAC comparison takes the same time wherever the tags differ.
///
/// A frame that passes is authentic but may be a replay: the caller must
/// then run the sender's [`ReplayGuard`].
pub fn open<'a>(frame: &'a [u8], mac: &mut impl FrameMac) -> Result<(Header, &'a [u8]), Reject> {
    let h = Header::decode(frame)?;
    let len = usize::try_from(h.len).map_err(|_| Reject::BadLength)?;
    let body_end = HEADER_LEN.checked_add(len).ok_or(Reject::BadLength)?;
    let total = body_end.checked_add(MAC_LEN).ok_or(Reject::BadLength)?;
    if frame.len() < total {
        return Err(Reject::Truncated);
    }
    if frame.len() > total {
        return Err(Reject::BadLength);
    }
    let payload = frame.get(HEADER_LEN..body_end).ok_or(Reject::Truncated)?;
    let tag: [u8; MAC_LEN] = frame
        .get(body_end..total)
        .and_then(|t| <[u8; MAC_LEN]>::try_from(t).ok())
        .ok_or(Reject::Truncated)?;
    let want = mac.mac(frame.get(..body_end).unwrap_or(&[]));
    if !tags_equal(&want, &tag) {
        return Err(Reject::BadMac);
    }
    Ok((h, payload))
}

/// Per-sender replay protection: the sender's current epoch, the highest
/// sequence number accepted in it, and a bitmap of which of the 64
/// sequence numbers just below the highest have been accepted (bit `k` is
/// `highest - 1 - k`).
///
/// Feed it only frames whose MAC [`open`] has verified: otherwise a forged
/// frame with a huge epoch or sequence number would advance the state and
/// lock out the genuine sender.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReplayGuard {
    epoch: u64,
    highest: u64,
    window: u64,
}

/// Number of sequence numbers below the highest that the guard tracks.
pub const REPLAY_WINDOW: u64 = 64;

impl ReplayGuard {
    /// A guard that has seen nothing (epoch 0, no sequence number).
    pub const fn new() -> Self {
        ReplayGuard { epoch: 0, highest: 0, window: 0 }
    }

    /// The sender epoch currently tracked.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The highest sequence number accepted in the current epoch (0 if
    /// none yet).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Decides whether (`epoch`, `seq`) is new and, if so, records it.
    ///
    /// * `seq == 0` is never valid;
    /// * an epoch older than the tracked one is a replay;
    /// * a newer epoch (the sender restarted) resets the guard and accepts;
    /// * in the same epoch: a sequence number above the highest is accepted
    ///   and the window slides; one of the 64 below the highest is accepted
    ///   once; the highest itself, repeats and anything older are replays.
    pub fn check_and_update(&mut self, epoch: u64, seq: u64) -> Result<(), Reject> {
        if seq == 0 || epoch < self.epoch {
            return Err(Reject::Replay);
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.highest = seq;
            self.window = 0;
            return Ok(());
        }
        if seq > self.highest {
            let shift = seq.saturating_sub(self.highest);
            self.window = if shift > REPLAY_WINDOW {
                0
            } else {
                // The old highest becomes bit `shift - 1`; shift is 1..=64.
                let moved = u32::try_from(shift).ok().and_then(|s| self.window.checked_shl(s)).unwrap_or(0);
                let old_top = u32::try_from(shift.saturating_sub(1)).ok().and_then(|s| 1u64.checked_shl(s)).unwrap_or(0);
                // Before any frame of the epoch was accepted there is no
                // old highest to remember.
                if self.highest == 0 {
                    moved
                } else {
                    moved | old_top
                }
            };
            self.highest = seq;
            return Ok(());
        }
        let back = self.highest.saturating_sub(seq);
        if back == 0 || back > REPLAY_WINDOW {
            return Err(Reject::Replay);
        }
        let bit = u32::try_from(back.saturating_sub(1)).ok().and_then(|s| 1u64.checked_shl(s)).unwrap_or(0);
        if bit == 0 || self.window & bit != 0 {
            return Err(Reject::Replay);
        }
        self.window |= bit;
        Ok(())
    }
}

/// Payload length of a load message with `count` entries (saturating).
pub const fn loads_len(count: usize) -> usize {
    2usize.saturating_add(count.saturating_mul(ENTRY_WIRE_LEN))
}

/// Encodes a load message: the entry count as u16, then the entries.
/// Returns the bytes written. Fails with `BadLength` for more than 65535
/// entries, `Truncated` if `out` is too small.
pub fn encode_loads(entries: &[LoadEntry], out: &mut [u8]) -> Result<usize, Reject> {
    let count = u16::try_from(entries.len()).map_err(|_| Reject::BadLength)?;
    let total = loads_len(entries.len());
    let buf = out.get_mut(..total).ok_or(Reject::Truncated)?;
    put(buf, 0, &count.to_le_bytes());
    // Plain indexing rather than chunk iterators: objtool (in the kernel
    // build) cannot follow the latter's panic paths.
    for (i, e) in entries.iter().enumerate() {
        put(buf, 2 + i * ENTRY_WIRE_LEN, &e.to_bytes());
    }
    Ok(total)
}

/// Decodes a load message into `out` and returns the number of entries.
///
/// The buffer must be exactly the count and that many entries: fewer bytes
/// give `Truncated`, more give `BadLength`, and so does a count larger than
/// `out`. An entry whose node id is not in 1..=65534 gives `UnknownNode`,
/// one with a reserved flag bit set `Reserved`.
/// On error `out` may be partly written.
pub fn decode_loads(buf: &[u8], out: &mut [LoadEntry]) -> Result<usize, Reject> {
    let count = usize::from(u16::from_le_bytes(
        buf.get(..2).and_then(|s| <[u8; 2]>::try_from(s).ok()).ok_or(Reject::Truncated)?,
    ));
    if count > out.len() {
        return Err(Reject::BadLength);
    }
    let total = loads_len(count);
    if buf.len() < total {
        return Err(Reject::Truncated);
    }
    if buf.len() > total {
        return Err(Reject::BadLength);
    }
    let body = buf.get(2..total).ok_or(Reject::Truncated)?;
    for (i, slot) in out.iter_mut().take(count).enumerate() {
        let at = i * ENTRY_WIRE_LEN;
        let raw: [u8; ENTRY_WIRE_LEN] = take(body, at);
        if body.len() < at + ENTRY_WIRE_LEN {
            return Err(Reject::Truncated);
        }
        let e = LoadEntry::from_bytes(&raw);
        if !valid_node(e.node) {
            return Err(Reject::UnknownNode);
        }
        if take::<1>(&raw, ENTRY_FLAGS_AT)[0] & !(FLAG_NO_GUESTS | FLAG_NO_ROOT) != 0 {
            return Err(Reject::Reserved);
        }
        *slot = e;
    }
    Ok(count)
}
