// SPDX-License-Identifier: GPL-2.0

//! Sending frames: one outgoing connection per peer, opened on demand and
//! reopened with exponential backoff after a failure. A request's answer
//! is read back on the same connection with `frame`'s reader and checks;
//! never calls the receiving side (`rx`).

use super::frame::{verify, FrameReader, Verdict};
use super::{Cluster, Peer, IO_TIMEOUT_MS};
use crate::sys::bytes;
use crate::sys::socket::TcpSocket;
use crate::sys::time;
use crate::wire::{self, Header, MsgType, HEADER_LEN, MAC_LEN};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

const BACKOFF_MIN_MS: u32 = 250;
const BACKOFF_MAX_MS: u32 = 8000;

/// The sending side of one peer.
pub(crate) struct TxState {
    sock: Option<TcpSocket>,
    /// Reads answers that come back on this connection (`request`).
    reader: Option<FrameReader>,
    /// No reconnect before this monotonic time (ms).
    retry_at_ms: u64,
    backoff_ms: u32,
}

impl TxState {
    pub(crate) fn new() -> Self {
        TxState { sock: None, reader: None, retry_at_ms: 0, backoff_ms: 0 }
    }
}

fn fail(tx: &mut TxState, now: u64) {
    tx.sock = None;
    tx.reader = None;
    tx.backoff_ms = (tx.backoff_ms.saturating_mul(2)).clamp(BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    tx.retry_at_ms = now + tx.backoff_ms as u64;
}

/// Seals one frame for `peer` with the node's next sequence number; the
/// caller holds the peer's sender (`_held`), so frames to a peer are
/// numbered in the order they are sent.
fn seal_frame(c: &Cluster, peer: &Peer, _held: &mut TxState, ty: MsgType, request_id: u32, payload: &[u8]) -> Result<KVec<u8>> {
    let Some(key) = c.key() else { return Err(EINVAL) };
    // Header room, the payload, tag room: one copy of the payload, no
    // zero-filling of the bulk of the buffer.
    let mut frame = KVec::with_capacity(wire::frame_len(payload.len()), GFP_KERNEL)?;
    bytes::extend_zeros(&mut frame, HEADER_LEN, GFP_KERNEL)?;
    bytes::extend(&mut frame, payload, GFP_KERNEL)?;
    bytes::extend_zeros(&mut frame, MAC_LEN, GFP_KERNEL)?;
    let seq = c.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let h = Header {
        msg_type: ty,
        flags: 0,
        len: payload.len() as u32,
        sender: c.me(),
        dest: peer.id,
        epoch: c.epoch,
        seq,
        request_id,
    };
    wire::seal_in_place(&h, &mut frame, &mut &*key).map_err(|_| EINVAL)?;
    Ok(frame)
}

/// Makes sure `tx` has a connection, connecting (with backoff) if not.
fn ensure_connected(c: &Cluster, peer: &Peer, tx: &mut TxState, now: u64) -> Result {
    match tx.sock.as_ref() {
        Some(s) if s.is_established() => return Ok(()),
        // The peer closed or reset it (its module restarted, its receiver
        // gave up): frames written now would be lost with it, so a fresh
        // connection replaces it at once, without backoff.
        Some(_) => {
            tx.sock = None;
            tx.reader = None;
            tx.retry_at_ms = 0;
            tx.backoff_ms = 0;
            c.stats.stale_connections.fetch_add(1, Ordering::Relaxed);
        }
        None => {}
    }
    if now < tx.retry_at_ms {
        return Err(EAGAIN);
    }
    match TcpSocket::connect(peer.addr, IO_TIMEOUT_MS) {
        Ok(s) => {
            s.set_timeouts(IO_TIMEOUT_MS, IO_TIMEOUT_MS);
            // Requests and answers travel on different connections, so
            // Nagle's algorithm would hold a small frame until the delayed
            // ACK of the previous one: every frame goes out at once.
            s.set_nodelay();
            tx.sock = Some(s);
            tx.backoff_ms = 0;
            Ok(())
        }
        Err(e) => {
            c.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
            fail(tx, now);
            Err(e)
        }
    }
}

fn count_sent(c: &Cluster, peer: &Peer, n: usize) {
    c.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
    c.stats.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    peer.frames_to.fetch_add(1, Ordering::Relaxed);
}

/// Sends on the held connection; drops it on failure.
/// Send timeouts in a row a migration frame may wait through (a slow
/// destination holds up only its own migration); other frames give up
/// after one, so that a wedged peer never holds up heartbeats.
const MIGRATE_STALLS: u32 = 3;

fn send_locked(c: &Cluster, peer: &Peer, tx: &mut TxState, frame: &[u8], now: u64, stalls: u32) -> Result {
    let r = match tx.sock.as_ref() {
        Some(s) => s.send_all_patient(frame, stalls),
        None => Err(EPIPE),
    };
    match r {
        Ok(()) => {
            count_sent(c, peer, frame.len());
            Ok(())
        }
        Err(e) => {
            c.stats.send_failures.fetch_add(1, Ordering::Relaxed);
            fail(tx, now);
            Err(e)
        }
    }
}

/// Sends one frame to `peer`, connecting first if needed. A connection
/// held from before that turns out dead (the peer restarted its transport
/// or reset it) is replaced once at once, so the frame is not lost to a
/// stale socket.
pub(crate) fn send(c: &Cluster, peer: &Peer, ty: MsgType, request_id: u32, payload: &[u8]) -> Result {
    let mut tx = peer.tx.lock();
    let now = time::now_ms();
    let held = tx.sock.is_some();
    ensure_connected(c, peer, &mut tx, now)?;
    let frame = seal_frame(c, peer, &mut tx, ty, request_id, payload)?;
    let stalls = if ty == MsgType::Migrate { MIGRATE_STALLS } else { 1 };
    match send_locked(c, peer, &mut tx, &frame, now, stalls) {
        Err(e) if held && (e == EPIPE || e == crate::sys::err::econnreset()) => {
            tx.retry_at_ms = 0;
            tx.backoff_ms = 0;
            ensure_connected(c, peer, &mut tx, now)?;
            let frame = seal_frame(c, peer, &mut tx, ty, request_id, payload)?;
            send_locked(c, peer, &mut tx, &frame, now, stalls)
        }
        r => r,
    }
}

/// Answers a request on the connection it arrived on.
pub(crate) fn reply_on(c: &Cluster, peer: &Peer, sock: &TcpSocket, ty: MsgType, request_id: u32, payload: &[u8]) -> Result {
    let frame = {
        let mut tx = peer.tx.lock();
        seal_frame(c, peer, &mut tx, ty, request_id, payload)?
    };
    sock.send_all(&frame)?;
    count_sent(c, peer, frame.len());
    Ok(())
}

/// Sends a request and waits (up to `timeout_ms`) for its answer on the
/// same connection, which the caller holds for the whole exchange.
pub(crate) fn request(c: &Cluster, peer: &Peer, ty: MsgType, request_id: u32, payload: &[u8], timeout_ms: u64) -> Result {
    let mut tx = peer.tx.lock();
    let now = time::now_ms();
    ensure_connected(c, peer, &mut tx, now)?;
    let frame = seal_frame(c, peer, &mut tx, ty, request_id, payload)?;
    send_locked(c, peer, &mut tx, &frame, now, 1)?;
    let deadline = now + timeout_ms;
    if tx.reader.is_none() {
        tx.reader = Some(FrameReader::new()?);
    }
    loop {
        let answered = {
            let TxState { sock, reader, .. } = &mut *tx;
            match (sock.as_ref(), reader.as_mut()) {
                (Some(s), Some(r)) => match r.next(c, s) {
                    Ok(Some((h, f))) => Ok(matches!(
                        verify(c, &h, &f, peer.addr.ip),
                        Verdict::Accept(ref from)
                            if from.id == peer.id && h.msg_type == MsgType::Pong && h.request_id == request_id
                    )),
                    Ok(None) => Ok(false),
                    Err(()) => Err(()),
                },
                _ => Err(()),
            }
        };
        match answered {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(()) => {
                fail(&mut tx, now);
                return Err(EPIPE);
            }
        }
        if time::now_ms() > deadline {
            // The answer may still come; a fresh connection avoids reading it
            // as the answer to the next request.
            fail(&mut tx, now);
            return Err(crate::sys::err::etimedout());
        }
        if kernel::current!().signal_pending() {
            fail(&mut tx, now);
            return Err(EINTR);
        }
    }
}

/// Closes the outgoing connection (the next send reconnects at once).
pub(crate) fn disconnect(peer: &Peer) {
    let mut tx = peer.tx.lock();
    if let Some(s) = tx.sock.take() {
        s.shutdown();
    }
    tx.reader = None;
    tx.retry_at_ms = 0;
    tx.backoff_ms = 0;
}

/// Tells a connected peer we are leaving, so it marks us down at once.
pub(crate) fn say_bye(c: &Cluster, peer: &Peer) {
    if peer.tx.lock().sock.is_some() {
        let _ = send(c, peer, MsgType::Bye, 0, &[]);
    }
}
