// SPDX-License-Identifier: GPL-2.0

//! Applying what root writes to `/sys/kernel/roam/`: the cluster key, the
//! peer list, the listen address and the load tunables. Input is parsed and
//! checked by [`crate::config`] before anything changes; a refusal says why
//! in dmesg. May call the transport's start and stop (`listen`) and `tx`
//! (closing removed peers' connections); never sends a frame itself.

use super::{tx, Cluster, Peer};
use crate::config::{self, ConfigError, ListenCmd, PeerCmd};
use crate::lists::take_where;
use crate::load::Decay;
use crate::loadvec::{MAX_VECTOR, MIN_SIZE};
use crate::sys::crypto::HmacSha256;
use crate::sys::socket::SockAddr;
use crate::wire::{self, FrameKey};
use kernel::{prelude::*, sync::Arc};

fn refuse(what: &str, e: ConfigError) -> Error {
    pr_warn!("{}: refused: {}\n", what, e.reason());
    match e {
        ConfigError::DuplicateId | ConfigError::DuplicateAddr => EEXIST,
        ConfigError::NoSuchPeer => ENOENT,
        ConfigError::Full => ENOSPC,
        _ => EINVAL,
    }
}

impl Cluster {
    /// `/sys/kernel/roam/key`: a hex key, root only.
    pub(crate) fn set_key(&self, input: &[u8]) -> Result {
        let mut raw = [0u8; config::KEY_MAX];
        let n = config::parse_key_hex(input, &mut raw).map_err(|e| refuse("key", e))?;
        // The frame key: HMAC-SHA256 of a fixed label under the cluster key
        // (`wire.rs`), so that a key of any length gives the 32 bytes the
        // frame MAC takes.
        let h = HmacSha256::new(&raw[..n]);
        raw.fill(0);
        let mut k = h?.digest(wire::FRAME_KEY_LABEL)?;
        let key = Arc::new(FrameKey::new(k), GFP_KERNEL);
        k.fill(0);
        self.cfg.lock().key = Some(key?);
        pr_info!("cluster key set ({} bytes)\n", n);
        Ok(())
    }

    /// `/sys/kernel/roam/peers`: add, del or clear.
    pub(crate) fn peer_cmd(&self, input: &[u8]) -> Result {
        let cmd = config::parse_peer_cmd(input).map_err(|e| refuse("peers", e))?;
        let me = self.me();
        // Built before taking the lock: allocation may sleep, and a refused
        // command must change nothing.
        let new_peer = match cmd {
            PeerCmd::Add { id, ip, port } => Some(Peer::new(id, SockAddr { ip, port })?),
            _ => None,
        };
        let mut removed = KVec::new();
        {
            let mut cfg = self.cfg.lock();
            match cmd {
                PeerCmd::Add { id, ip, port } => {
                    let listen = cfg.listen;
                    if let Some(l) = listen {
                        if l.ip == ip && l.port == port {
                            return Err(refuse("peers", ConfigError::DuplicateAddr));
                        }
                    }
                    config::check_new_peer(
                        me,
                        cfg.peers.iter().map(|p| (p.id, p.addr.ip, p.addr.port)),
                        cfg.peers.len(),
                        id,
                        ip,
                        port,
                    )
                    .map_err(|e| refuse("peers", e))?;
                    if let Some(p) = new_peer {
                        cfg.peers.push(p, GFP_KERNEL)?;
                    }
                    pr_info!("peer {} added\n", id);
                }
                PeerCmd::Del { id } => {
                    if !cfg.peers.iter().any(|p| p.id == id) {
                        return Err(refuse("peers", ConfigError::NoSuchPeer));
                    }
                    removed = take_where(&mut cfg.peers, |p| p.id == id)?;
                    pr_info!("peer {} removed\n", id);
                }
                PeerCmd::Clear => {
                    removed = core::mem::take(&mut cfg.peers);
                    pr_info!("all peers removed\n");
                }
            }
        }
        let mut lv = self.lv.lock();
        for p in removed.iter() {
            lv.vec.remove(p.id);
        }
        drop(lv);
        // Dropping `removed` closes their outgoing connections.
        for p in removed.iter() {
            tx::disconnect(p);
        }
        Ok(())
    }

    /// `/sys/kernel/roam/listen`: start the transport on an address, or stop it.
    pub(crate) fn listen_cmd(self: &Arc<Self>, input: &[u8]) -> Result {
        match config::parse_listen(input).map_err(|e| refuse("listen", e))? {
            ListenCmd::Off => {
                self.stop();
                Ok(())
            }
            ListenCmd::On { ip, port } => self.start(SockAddr { ip, port }),
        }
    }

    /// Tunables shared with the load estimator and vector.
    pub(crate) fn set_vector_size(&self, input: &[u8]) -> Result {
        let v = config::parse_ranged(input, MIN_SIZE as u32, MAX_VECTOR as u32).map_err(|e| refuse("vector_size", e))?;
        self.lv.lock().vec.set_size(v as usize);
        Ok(())
    }

    pub(crate) fn set_decay(&self, input: &[u8]) -> Result {
        let s = config::trim_nl(input);
        let mut it = s.split(|&c| c == b' ');
        let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
            return Err(refuse("decay", ConfigError::Syntax));
        };
        let slow = config::parse_ranged(a, 1, 999).map_err(|e| refuse("decay", e))?;
        let fast = config::parse_ranged(b, 1, 999).map_err(|e| refuse("decay", e))?;
        if !self.lv.lock().est.set_decay(Decay { slow, fast }) {
            return Err(refuse("decay", ConfigError::Range));
        }
        Ok(())
    }
}
