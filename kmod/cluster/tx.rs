// SPDX-License-Identifier: GPL-2.0

//! Sending frames: one outgoing connection per peer, opened on demand and
//! reopened with exponential backoff after a failure.

use super::{Cluster, Peer};
use crate::sys::socket::TcpSocket;
use crate::sys::time;
use crate::wire::{self, FrameMac, Header, MsgType, MAC_LEN};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// How long a connect or a blocked send may take.
pub(crate) const IO_TIMEOUT_MS: u32 = 1000;
const BACKOFF_MIN_MS: u32 = 250;
const BACKOFF_MAX_MS: u32 = 8000;

/// The sending side of one peer.
pub(crate) struct TxState {
    sock: Option<TcpSocket>,
    /// Sequence number of the last frame sent in this session.
    seq: u64,
    /// No reconnect before this monotonic time (ms).
    retry_at_ms: u64,
    backoff_ms: u32,
}

impl TxState {
    pub(crate) fn new() -> Self {
        TxState { sock: None, seq: 0, retry_at_ms: 0, backoff_ms: 0 }
    }
}

/// The kernel's HMAC as the frame MAC.
pub(crate) struct KernelMac<'a>(pub(crate) &'a crate::sys::crypto::HmacSha256);

impl FrameMac for KernelMac<'_> {
    fn mac(&mut self, header: &[u8], payload: &[u8]) -> [u8; MAC_LEN] {
        let r = if payload.is_empty() {
            self.0.digest(header)
        } else {
            // The transform digests one buffer: join header and payload
            // (bounded by the frame size limit).
            let mut v = KVec::new();
            match v.extend_from_slice(header, GFP_KERNEL).and_then(|_| v.extend_from_slice(payload, GFP_KERNEL)) {
                Ok(()) => self.0.digest(&v),
                Err(_) => Err(ENOMEM),
            }
        };
        // A failed digest yields a tag that matches nothing a peer sent, so
        // the frame is refused rather than trusted.
        r.unwrap_or([0u8; MAC_LEN])
    }
}

fn fail(tx: &mut TxState, now: u64) {
    tx.sock = None;
    tx.backoff_ms = (tx.backoff_ms.saturating_mul(2)).clamp(BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    tx.retry_at_ms = now + tx.backoff_ms as u64;
}

/// Sends one frame to `peer`, connecting first if needed.
pub(crate) fn send(c: &Cluster, peer: &Peer, ty: MsgType, request_id: u32, payload: &[u8]) -> Result {
    let Some(key) = c.key() else { return Err(EINVAL) };
    let len = wire::frame_len(payload.len());
    let mut frame = KVec::new();
    frame.extend_with(len, 0u8, GFP_KERNEL)?;
    let mut tx = peer.tx.lock();
    let now = time::now_ms();
    if tx.sock.is_none() {
        if now < tx.retry_at_ms {
            return Err(EAGAIN);
        }
        match TcpSocket::connect(peer.addr, IO_TIMEOUT_MS) {
            Ok(s) => {
                s.set_timeouts(IO_TIMEOUT_MS, IO_TIMEOUT_MS);
                tx.sock = Some(s);
                tx.backoff_ms = 0;
            }
            Err(e) => {
                c.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                fail(&mut tx, now);
                return Err(e);
            }
        }
    }
    tx.seq += 1;
    let h = Header {
        msg_type: ty,
        flags: 0,
        len: payload.len() as u32,
        sender: c.me(),
        dest: peer.id,
        epoch: c.epoch,
        seq: tx.seq,
        request_id,
    };
    let n = wire::seal(&h, payload, &mut KernelMac(&key), &mut frame).map_err(|_| EINVAL)?;
    let r = match tx.sock.as_ref() {
        Some(s) => s.send_all(&frame[..n]),
        None => Err(EPIPE),
    };
    match r {
        Ok(()) => {
            c.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
            c.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
            peer.frames_to.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            c.stats.send_failures.fetch_add(1, Ordering::Relaxed);
            fail(&mut tx, now);
            Err(e)
        }
    }
}

/// Closes the outgoing connection (the next send reconnects at once).
pub(crate) fn disconnect(peer: &Peer) {
    let mut tx = peer.tx.lock();
    if let Some(s) = tx.sock.take() {
        s.shutdown();
    }
    tx.retry_at_ms = 0;
    tx.backoff_ms = 0;
}

/// Tells a connected peer we are leaving, so it marks us down at once.
pub(crate) fn say_bye(c: &Cluster, peer: &Peer) {
    if peer.tx.lock().sock.is_some() {
        let _ = send(c, peer, MsgType::Bye, 0, &[]);
    }
}
