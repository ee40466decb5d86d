// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/roam/`: the node's settings and state as text files.
//!
//! Writes are root-only (`CAP_SYS_ADMIN`, on top of the file modes) and
//! fully validated before anything changes; a refused write says why in
//! dmesg and returns `EINVAL` (or `EEXIST`, `ENOENT`, `ENOSPC`, `EBUSY`).

use super::Node;
use crate::abi;
use crate::cluster::{view, Cluster};
use crate::config;
use crate::sys::sysfs::{AttrHandler, AttrSpec, PageWriter};
use core::fmt::Write;
use core::sync::atomic::Ordering;
use kernel::{c_str, prelude::*, sync::Arc};

const NODE_ID: usize = 0;
const VERSION: usize = 1;
const STATE: usize = 2;
const KEY: usize = 3;
const LISTEN: usize = 4;
const PEERS: usize = 5;
const NODES: usize = 6;
const STATS: usize = 7;
const LOAD: usize = 8;
const INTERVAL_MS: usize = 9;
const DOWN_AFTER_MS: usize = 10;
const VECTOR_SIZE: usize = 11;
const SPEED: usize = 12;
const DECAY: usize = 13;
const LOCKED: usize = 14;
const GUESTS: usize = 15;
const AWAY: usize = 16;
const ACCEPT: usize = 17;

/// The files, indexed by the constants above.
pub(crate) const ATTRS: &[AttrSpec] = &[
    AttrSpec { name: c_str!("node_id"), mode: 0o644 },
    AttrSpec { name: c_str!("version"), mode: 0o444 },
    AttrSpec { name: c_str!("state"), mode: 0o444 },
    AttrSpec { name: c_str!("key"), mode: 0o200 },
    AttrSpec { name: c_str!("listen"), mode: 0o644 },
    AttrSpec { name: c_str!("peers"), mode: 0o644 },
    AttrSpec { name: c_str!("nodes"), mode: 0o444 },
    AttrSpec { name: c_str!("stats"), mode: 0o444 },
    AttrSpec { name: c_str!("load"), mode: 0o444 },
    AttrSpec { name: c_str!("interval_ms"), mode: 0o644 },
    AttrSpec { name: c_str!("down_after_ms"), mode: 0o644 },
    AttrSpec { name: c_str!("vector_size"), mode: 0o644 },
    AttrSpec { name: c_str!("speed"), mode: 0o644 },
    AttrSpec { name: c_str!("decay"), mode: 0o644 },
    AttrSpec { name: c_str!("locked"), mode: 0o444 },
    AttrSpec { name: c_str!("guests"), mode: 0o444 },
    AttrSpec { name: c_str!("away"), mode: 0o444 },
    AttrSpec { name: c_str!("accept"), mode: 0o644 },
];

pub(crate) struct RoamAttrs {
    node: Arc<Node>,
    cluster: Arc<Cluster>,
    migration: Arc<crate::migrate::Migration>,
    mover: Arc<crate::migrate::Mover>,
}

impl RoamAttrs {
    pub(crate) fn new(
        node: Arc<Node>,
        cluster: Arc<Cluster>,
        migration: Arc<crate::migrate::Migration>,
        mover: Arc<crate::migrate::Mover>,
    ) -> Result<Self> {
        Ok(RoamAttrs { node, cluster, migration, mover })
    }

    fn set_tunable(&self, name: &str, input: &[u8], lo: u32, hi: u32, slot: &core::sync::atomic::AtomicU32) -> Result {
        match config::parse_ranged(input, lo, hi) {
            Ok(v) => {
                slot.store(v, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                pr_warn!("{}: refused: {} (want {}..={})\n", name, e.reason(), lo, hi);
                Err(EINVAL)
            }
        }
    }
}

impl AttrHandler for RoamAttrs {
    fn show(&self, index: usize, out: &mut PageWriter<'_>) -> Result {
        let c = &self.cluster;
        let t = &c.tun;
        let r = match index {
            NODE_ID => writeln!(out, "{}", self.node.node_id()),
            VERSION => writeln!(out, "{}", abi::ROAM_VERSION),
            STATE => writeln!(out, "{}", self.node.state().name()),
            KEY => writeln!(out, "{}", if c.key().is_some() { "set" } else { "unset" }),
            LISTEN => view::listen(c, out),
            PEERS => view::peers(c, out),
            NODES => view::nodes(c, out),
            STATS => view::stats(c, out),
            LOAD => view::load(c, out),
            INTERVAL_MS => writeln!(out, "{}", t.interval_ms.load(Ordering::Relaxed)),
            DOWN_AFTER_MS => writeln!(out, "{}", t.down_after_ms.load(Ordering::Relaxed)),
            VECTOR_SIZE => writeln!(out, "{}", c.lv.lock().vec.size()),
            SPEED => writeln!(out, "{}", t.speed.load(Ordering::Relaxed)),
            DECAY => {
                let d = c.lv.lock().est.decay();
                writeln!(out, "{} {}", d.slow, d.fast)
            }
            LOCKED => self.migration.locked_pids(out),
            GUESTS => self.mover.show(true, out),
            AWAY => self.mover.show(false, out),
            ACCEPT => writeln!(out, "{}", self.mover.accept.load(Ordering::Relaxed)),
            _ => return Err(EINVAL),
        };
        // A view that does not fit in a page is cut off, not an error.
        let _ = r;
        Ok(())
    }

    fn store(&self, index: usize, input: &[u8]) -> Result {
        if !crate::sys::cred::may_configure() {
            return Err(EPERM);
        }
        let c = &self.cluster;
        let t = &c.tun;
        match index {
            NODE_ID => self.node.set_node_id(input),
            KEY => c.set_key(input),
            LISTEN => c.listen_cmd(input),
            PEERS => c.peer_cmd(input),
            INTERVAL_MS => self.set_tunable("interval_ms", input, 100, 60_000, &t.interval_ms),
            DOWN_AFTER_MS => self.set_tunable("down_after_ms", input, 500, 600_000, &t.down_after_ms),
            VECTOR_SIZE => c.set_vector_size(input),
            SPEED => self.set_tunable("speed", input, 1, 1_000_000, &t.speed),
            DECAY => c.set_decay(input),
            ACCEPT => self.set_tunable("accept", input, 0, 1, &self.mover.accept),
            // Read-only files have no store callback; be safe anyway.
            _ => Err(EACCES),
        }
    }
}
