// SPDX-License-Identifier: GPL-2.0

//! What an accepted frame does: loads are merged (and a push answered),
//! pings answered, a goodbye marks the peer down, and frames about
//! processes go to the [`FrameSink`](super::FrameSink).
//!
//! Called by the receiver threads (`rx`) with no lock held. May call `tx`
//! (answers), the cluster's state and the sink; never reads a connection.

use super::{tx, Cluster, Peer};
use crate::loadvec::{LoadEntry, MAX_VECTOR};
use crate::sys::socket::TcpSocket;
use crate::wire::{self, Header, MsgType, Reject};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// Acts on a frame that [`verify`](super::frame::verify) accepted from `peer`,
/// which arrived on `sock`.
pub(crate) fn dispatch(c: &Cluster, peer: &Peer, h: &Header, payload: &[u8], sock: &TcpSocket) {
    if peer.restarted.swap(false, Ordering::Relaxed) {
        // The peer's module was loaded again, perhaps faster than it could
        // be missed: whatever it hosted for us, or we hosted for it, went
        // with its old session, and our connection to it is dead.
        pr_info!("node {} restarted (a new session)\n", peer.id);
        tx::disconnect(peer);
        if let Some(s) = c.sink() {
            s.node_down(peer.id);
        }
    }
    match h.msg_type {
        MsgType::LoadPush | MsgType::LoadReply => {
            let mut entries = [LoadEntry::default(); MAX_VECTOR + 1];
            let Ok(n) = wire::decode_loads(payload, &mut entries) else {
                c.stats.reject(Reject::BadLength);
                return;
            };
            c.merge_loads(&entries[..n]);
            if h.msg_type == MsgType::LoadPush {
                // Answer with our own current load (MOSIX).
                let me = [c.own_entry()];
                let mut buf = [0u8; wire::loads_len(1)];
                if let Ok(len) = wire::encode_loads(&me, &mut buf) {
                    let _ = tx::send(c, peer, MsgType::LoadReply, h.request_id, &buf[..len]);
                }
            }
        }
        MsgType::Ping => {
            // Answer on the connection the request came in on: the
            // requester is waiting on it, so no other thread is involved.
            let _ = tx::reply_on(c, peer, sock, MsgType::Pong, h.request_id, payload);
        }
        MsgType::Bye => {
            if peer.up.swap(false, Ordering::Relaxed) {
                pr_info!("node {} left the cluster\n", peer.id);
                if let Some(s) = c.sink() {
                    s.node_down(peer.id);
                }
            }
            peer.last_heard_ms.store(0, Ordering::Relaxed);
            c.lv.lock().vec.remove(peer.id);
            tx::disconnect(peer);
        }
        // Pongs come back on the requester's own connection (tx::request).
        // Bulk frames are only counted (they carry benchmark data).
        MsgType::Hello | MsgType::Welcome | MsgType::Pong | MsgType::Bulk | MsgType::BulkAck => {}
        MsgType::Migrate | MsgType::Proc | MsgType::Call | MsgType::Ret => {
            if let Some(s) = c.sink() {
                s.on_frame(peer.id, h.msg_type, h.request_id, payload);
            }
        }
    }
}
