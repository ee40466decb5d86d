// SPDX-License-Identifier: GPL-2.0

//! Frames on a connection: reading them whole ([`FrameReader`]), checking
//! them ([`verify`]), and the kernel HMAC that seals and opens them
//! ([`KernelMac`]).
//!
//! Shared by the receiver threads (`rx`) and by the sending side, which
//! reads the answers to its requests (`tx`); it calls neither of them, only
//! the cluster's state (key, peers, counters) and `sys`.
//!
//! A frame is accepted only if its header is well-formed, its sender is a
//! configured peer connecting from that peer's address, its MAC verifies
//! under the cluster key, it is addressed to this node, and it is not a
//! replay. Everything else is counted by reason and dropped; a frame whose
//! header cannot be trusted to delimit it ends the connection.

use super::{Cluster, Peer};
use crate::sys::socket::{RecvError, TcpSocket};
use crate::sys::{bytes, thread, time};
use crate::wire::{self, Header, Reject, HEADER_LEN};
use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

/// A frame that has started must be complete within this time.
const FRAME_DEADLINE_MS: u64 = 10_000;

/// Fills `buf` completely. `Ok(false)` means nothing arrived yet (the
/// caller may check whether to stop); a partial frame is waited for up to
/// [`FRAME_DEADLINE_MS`]. An error says whether part of `buf` had arrived.
fn recv_exact(sock: &TcpSocket, buf: &mut [u8], started: bool) -> core::result::Result<bool, (RecvError, bool)> {
    let mut got = 0;
    let deadline = time::now_ms() + FRAME_DEADLINE_MS;
    while got < buf.len() {
        match sock.recv_some(&mut buf[got..]) {
            Ok(n) => got += n,
            Err(RecvError::Timeout) => {
                if got == 0 && !started {
                    return Ok(false);
                }
                if thread::should_stop() || time::now_ms() > deadline {
                    return Err((RecvError::Timeout, got > 0 || started));
                }
            }
            Err(e) => return Err((e, got > 0 || started)),
        }
    }
    Ok(true)
}

/// Size of a connection's receive buffer: frames up to this size (all
/// but bulk data) are taken from it whole, usually with one receive call
/// and no allocation.
const READ_BUF: usize = 16 * 1024;

/// A frame just read: in the connection's buffer, or (if larger than it)
/// in its own allocation (virtually contiguous: a frame not yet
/// authenticated never asks for a large physically contiguous block).
pub(crate) enum Frame<'a> {
    Borrowed(&'a [u8]),
    Owned(KVVec<u8>),
}

impl core::ops::Deref for Frame<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Frame::Borrowed(b) => b,
            Frame::Owned(v) => v,
        }
    }
}

/// Buffered frame reading for one connection.
pub(crate) struct FrameReader {
    /// Always `READ_BUF` bytes; `start..end` holds bytes not yet consumed.
    buf: KVec<u8>,
    start: usize,
    end: usize,
}

impl FrameReader {
    pub(crate) fn new() -> Result<Self> {
        let mut buf = KVec::new();
        bytes::extend_zeros(&mut buf, READ_BUF, GFP_KERNEL)?;
        Ok(FrameReader { buf, start: 0, end: 0 })
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// One receive into the free space, after moving what is left to the
    /// front.
    fn fill(&mut self, sock: &TcpSocket) -> core::result::Result<(), RecvError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = sock.recv_some(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(())
    }

    /// Buffers at least `want` bytes (`want <= READ_BUF`). `Ok(false)`:
    /// nothing at all arrived within the receive timeout.
    fn want(&mut self, c: &Cluster, sock: &TcpSocket, want: usize, deadline: u64) -> core::result::Result<bool, ()> {
        while self.buffered() < want {
            match self.fill(sock) {
                Ok(()) => {}
                Err(RecvError::Timeout) => {
                    if self.buffered() == 0 {
                        return Ok(false);
                    }
                    if thread::should_stop() || time::now_ms() > deadline {
                        c.stats.reject(Reject::Truncated);
                        return Err(());
                    }
                }
                Err(_) => {
                    if self.buffered() > 0 {
                        c.stats.reject(Reject::Truncated);
                    }
                    return Err(());
                }
            }
        }
        Ok(true)
    }

    /// Reads one frame. `Ok(None)`: nothing arrived within the socket's
    /// receive timeout. `Err(())`: the connection must be dropped (closed,
    /// broken, or a header that cannot delimit the stream — counted).
    pub(crate) fn next(&mut self, c: &Cluster, sock: &TcpSocket) -> core::result::Result<Option<(Header, Frame<'_>)>, ()> {
        let deadline = time::now_ms() + FRAME_DEADLINE_MS;
        if !self.want(c, sock, HEADER_LEN, deadline)? {
            return Ok(None);
        }
        let h = match Header::decode(&self.buf[self.start..self.end]) {
            Ok(h) => h,
            Err(r) => {
                // The stream can no longer be delimited: count and hang up.
                c.stats.reject(r);
                return Err(());
            }
        };
        let total = wire::frame_len(h.len as usize);
        c.stats.bytes_received.fetch_add(total as u64, Ordering::Relaxed);
        if total <= READ_BUF {
            // A frame that started must complete: "nothing arrived" now
            // means it was cut short.
            if !self.want(c, sock, total, deadline)? {
                c.stats.reject(Reject::Truncated);
                return Err(());
            }
            let range = self.start..self.start + total;
            self.start += total;
            return Ok(Some((h, Frame::Borrowed(&self.buf[range]))));
        }
        // Larger than the buffer, so everything buffered belongs to it.
        let have = self.buffered();
        let mut frame = KVVec::with_capacity(total, GFP_KERNEL).map_err(|_| ())?;
        bytes::extend(&mut frame, &self.buf[self.start..self.end], GFP_KERNEL).map_err(|_| ())?;
        bytes::extend_zeros(&mut frame, total - have, GFP_KERNEL).map_err(|_| ())?;
        self.start = 0;
        self.end = 0;
        if recv_exact(sock, &mut frame[have..], true).is_err() {
            c.stats.reject(Reject::Truncated);
            return Err(());
        }
        Ok(Some((h, Frame::Owned(frame))))
    }
}

/// What to do with a frame that was read.
pub(crate) enum Verdict {
    /// Authentic, fresh, for us, from this peer.
    Accept(Arc<Peer>),
    /// Dropped (counted); the connection may go on.
    Drop,
    /// Dropped (counted); the connection must end.
    HangUp,
}

/// Runs every check on a frame read from a connection whose remote end is
/// `from_ip`, counting refusals by reason.
pub(crate) fn verify(c: &Cluster, h: &Header, frame: &[u8], from_ip: u32) -> Verdict {
    let Some(key) = c.key() else {
        c.stats.rejected_no_key.fetch_add(1, Ordering::Relaxed);
        return Verdict::Drop;
    };
    let Some(peer) = c.peer(h.sender) else {
        c.stats.reject(Reject::UnknownNode);
        return Verdict::Drop;
    };
    // The cheap check first: a frame claiming a node from another
    // address is refused before its MAC is computed.
    if peer.addr.ip != from_ip {
        c.stats.rejected_addr_mismatch.fetch_add(1, Ordering::Relaxed);
        return Verdict::HangUp;
    }
    if let Err(r) = wire::open(frame, &mut &*key) {
        c.stats.reject(r);
        return Verdict::Drop;
    }
    if let Err(r) = h.check_dest(c.me()) {
        c.stats.reject(r);
        return Verdict::Drop;
    }
    {
        let mut guard = peer.rx.lock();
        let before = guard.epoch();
        if let Err(r) = guard.check_and_update(h.epoch, h.seq) {
            c.stats.reject(r);
            return Verdict::Drop;
        }
        // A newer session from a peer heard before: its module was loaded
        // again. The receiver acts on it (`dispatch`); here, where a
        // sender may hold the peer's connection, it is only noted.
        if before != 0 && guard.epoch() != before {
            peer.restarted.store(true, Ordering::Relaxed);
        }
    }
    c.stats.frames_received.fetch_add(1, Ordering::Relaxed);
    peer.frames_from.fetch_add(1, Ordering::Relaxed);
    peer.last_heard_ms.store(time::now_ms().max(1), Ordering::Relaxed);
    if !peer.up.swap(true, Ordering::Relaxed) {
        pr_info!("node {} is up\n", peer.id);
    }
    Verdict::Accept(peer)
}
