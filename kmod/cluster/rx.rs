// SPDX-License-Identifier: GPL-2.0

//! Receiving: the listener and one receiver thread per connection, which
//! reads frames, has them checked (`frame`) and hands the accepted ones to
//! `dispatch`. Never sends: answers are `dispatch`'s business.

use super::dispatch::dispatch;
use super::frame::{verify, FrameReader, Verdict};
use super::{Cluster, Receiver, IO_TIMEOUT_MS, MAX_CONNS};
use crate::sys::socket::{RecvError, TcpSocket};
use crate::sys::thread::{self, KThread};
use crate::sys::time;
use crate::wire::HEADER_LEN;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{c_str, prelude::*, sync::Arc};

/// A connection that has not delivered one authentic frame within this
/// time is closed, so idle or garbage-only connections cannot hold the
/// receiver slots (at most `MAX_CONNS`) that real peers need.
const UNAUTHENTICATED_MS: u64 = 10_000;

/// Most connections read at once from one address. A member needs one
/// (its sending connection) and a second while it replaces a broken one;
/// anyone able to use a member's address gets no more than this of the
/// [`MAX_CONNS`] receiver slots. At the limit a new connection takes the
/// place of one that has not authenticated yet, so that idle connections
/// cannot keep the member itself out (it authenticates with its first
/// frame); only if all have authenticated is it refused.
pub(crate) const MAX_CONNS_PER_ADDR: usize = 4;

pub(crate) fn listen_loop(c: Arc<Cluster>, sock: Arc<TcpSocket>) {
    while !thread::should_stop() {
        let conn = match sock.accept() {
            Ok(s) => s,
            Err(RecvError::Timeout) => continue,
            Err(_) => {
                // Shut down (stopping) or a transient error: don't spin.
                thread::sleep_ms(50);
                continue;
            }
        };
        c.stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
        // Only members' addresses get a receiver: others cannot hold the
        // slots real peers need (nor make this node allocate for them).
        if !conn.peer_addr().is_ok_and(|a| c.is_member_ip(a.ip)) {
            c.stats.connections_refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let ip = conn.peer_addr().map(|a| a.ip).unwrap_or(0);
        if c.receivers_from(ip) >= MAX_CONNS_PER_ADDR {
            // Counted as refused either way: the one closed, or this one.
            c.stats.connections_refused.fetch_add(1, Ordering::Relaxed);
            if !c.evict_unauthenticated(ip) {
                pr_warn!("refused a connection: {} authenticated connections from that address already\n", MAX_CONNS_PER_ADDR);
                continue;
            }
        }
        conn.set_nodelay();
        conn.set_timeouts(200, IO_TIMEOUT_MS);
        if let Err(e) = spawn_receiver(&c, conn, ip) {
            c.stats.connections_refused.fetch_add(1, Ordering::Relaxed);
            pr_warn!("refused a connection: {:?} (at most {} at once)\n", e, MAX_CONNS);
        }
    }
}

fn spawn_receiver(c: &Arc<Cluster>, conn: TcpSocket, ip: u32) -> Result {
    if c.receivers() >= MAX_CONNS {
        return Err(EBUSY);
    }
    let sock = Arc::new(conn, GFP_KERNEL)?;
    let done = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
    let authed = Arc::new(AtomicBool::new(false), GFP_KERNEL)?;
    let (c2, s2, d2, a2) = (c.clone(), sock.clone(), done.clone(), authed.clone());
    let thread = KThread::spawn(c_str!("roam-rx"), move || {
        receive_loop(&c2, &s2, &a2);
        s2.shutdown();
        d2.store(true, Ordering::Release);
    })?;
    c.add_receiver(Receiver { ip, authed, sock, done, _thread: thread }).map_err(|_| EBUSY)
}

fn receive_loop(c: &Cluster, sock: &TcpSocket, authed: &AtomicBool) {
    let from = match sock.peer_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let Ok(mut reader) = FrameReader::new() else { return };
    let opened = time::now_ms();
    let mut authenticated = false;
    while !thread::should_stop() {
        if !authenticated && time::now_ms().saturating_sub(opened) > UNAUTHENTICATED_MS {
            c.stats.connections_unauthenticated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let (h, frame) = match reader.next(c, sock) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(()) => return,
        };
        match verify(c, &h, &frame, from.ip) {
            Verdict::Accept(peer) => {
                authenticated = true;
                authed.store(true, Ordering::Release);
                let payload = frame.get(HEADER_LEN..HEADER_LEN + h.len as usize).unwrap_or(&[]);
                dispatch(c, &peer, &h, payload, sock);
            }
            Verdict::Drop => {}
            Verdict::HangUp => return,
        }
    }
}
