// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/roam/`: the node's settings and state as text files.
//!
//! Writes are root-only (`CAP_SYS_ADMIN`, on top of the file modes) and
//! fully validated before anything changes; a refused write says why in
//! dmesg and returns `EINVAL` (or `EEXIST`, `ENOENT`, `ENOSPC`, `EBUSY`).

use crate::abi;
use crate::cluster::{view, Cluster, Node};
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
const BALANCE: usize = 18;
const MARGIN: usize = 19;
const MIN_AGE_MS: usize = 20;
const MIN_RESIDENCY_MS: usize = 21;
const MAX_GUESTS: usize = 22;
const STAY: usize = 23;
const LSTAY: usize = 24;
const QUIET: usize = 25;
const EXPEL: usize = 26;
const BRING: usize = 27;
const BALANCER: usize = 28;
const EVENTS: usize = 29;
const MEM_LOW_MB: usize = 30;
const FAIL_ARRIVALS: usize = 31;
const MIGRATIONS: usize = 32;
const ADOPT_POOL: usize = 33;
const ACCEPT_ROOT: usize = 34;
const FAILPOINT: usize = 35;

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
    AttrSpec { name: c_str!("balance"), mode: 0o644 },
    AttrSpec { name: c_str!("stability_margin"), mode: 0o644 },
    AttrSpec { name: c_str!("min_age_ms"), mode: 0o644 },
    AttrSpec { name: c_str!("min_residency_ms"), mode: 0o644 },
    AttrSpec { name: c_str!("max_guests"), mode: 0o644 },
    AttrSpec { name: c_str!("stay"), mode: 0o644 },
    AttrSpec { name: c_str!("lstay"), mode: 0o644 },
    AttrSpec { name: c_str!("quiet"), mode: 0o644 },
    AttrSpec { name: c_str!("expel"), mode: 0o200 },
    AttrSpec { name: c_str!("bring"), mode: 0o200 },
    AttrSpec { name: c_str!("balancer"), mode: 0o444 },
    AttrSpec { name: c_str!("events"), mode: 0o444 },
    AttrSpec { name: c_str!("mem_low_mb"), mode: 0o644 },
    AttrSpec { name: c_str!("fail_arrivals"), mode: 0o644 },
    AttrSpec { name: c_str!("migrations"), mode: 0o444 },
    AttrSpec { name: c_str!("adopt_pool"), mode: 0o644 },
    AttrSpec { name: c_str!("accept_root"), mode: 0o644 },
    AttrSpec { name: c_str!("failpoint"), mode: 0o644 },
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

impl RoamAttrs {
    /// Runs a node action (`expel`, `bring`) on a write of "1".
    fn action(&self, name: &str, input: &[u8], f: impl FnOnce(&Arc<crate::migrate::Mover>) -> Result) -> Result {
        match config::parse_ranged(input, 1, 1) {
            Ok(_) => f(&self.mover),
            Err(e) => {
                pr_warn!("{}: refused: {} (write 1)\n", name, e.reason());
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
            ACCEPT => writeln!(out, "{}", t.accept.load(Ordering::Relaxed)),
            BALANCE => writeln!(out, "{}", self.mover.ctl.balance.load(Ordering::Relaxed)),
            MARGIN => writeln!(out, "{}", self.mover.ctl.margin.load(Ordering::Relaxed)),
            MIN_AGE_MS => writeln!(out, "{}", self.mover.ctl.min_age_ms.load(Ordering::Relaxed)),
            MIN_RESIDENCY_MS => writeln!(out, "{}", self.mover.ctl.min_residency_ms.load(Ordering::Relaxed)),
            MAX_GUESTS => writeln!(out, "{}", self.mover.ctl.max_guests.load(Ordering::Relaxed)),
            MEM_LOW_MB => writeln!(out, "{}", self.mover.ctl.mem_low_mb.load(Ordering::Relaxed)),
            FAIL_ARRIVALS => writeln!(out, "{}", self.mover.ctl.fail_arrivals.load(Ordering::Relaxed)),
            STAY => writeln!(out, "{}", self.mover.ctl.stay.load(Ordering::Relaxed)),
            LSTAY => writeln!(out, "{}", self.mover.ctl.lstay.load(Ordering::Relaxed)),
            QUIET => writeln!(out, "{}", t.quiet.load(Ordering::Relaxed)),
            BALANCER => self.mover.show_balancer(out),
            EVENTS => self.mover.show_events(out),
            MIGRATIONS => self.mover.show_metrics(out),
            ADOPT_POOL => writeln!(out, "{}", self.mover.ctl.adopt_pool.load(Ordering::Relaxed)),
            ACCEPT_ROOT => writeln!(out, "{}", t.accept_root.load(Ordering::Relaxed)),
            FAILPOINT => self.mover.ctl.failpoint.show(out),
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
            ACCEPT => self.set_tunable("accept", input, 0, 1, &t.accept),
            BALANCE => self.set_tunable("balance", input, 0, 1, &self.mover.ctl.balance),
            MARGIN => self.set_tunable("stability_margin", input, 0, 100_000, &self.mover.ctl.margin),
            MIN_AGE_MS => self.set_tunable("min_age_ms", input, 0, 86_400_000, &self.mover.ctl.min_age_ms),
            MIN_RESIDENCY_MS => self.set_tunable("min_residency_ms", input, 0, 86_400_000, &self.mover.ctl.min_residency_ms),
            MAX_GUESTS => self.set_tunable("max_guests", input, 0, 256, &self.mover.ctl.max_guests),
            MEM_LOW_MB => self.set_tunable("mem_low_mb", input, 0, 1 << 20, &self.mover.ctl.mem_low_mb),
            FAIL_ARRIVALS => self.set_tunable("fail_arrivals", input, 0, 16, &self.mover.ctl.fail_arrivals),
            STAY => self.set_tunable("stay", input, 0, 1, &self.mover.ctl.stay),
            ACCEPT_ROOT => self.set_tunable("accept_root", input, 0, 1, &t.accept_root),
            FAILPOINT => self.mover.ctl.failpoint.store(input),
            LSTAY => self.set_tunable("lstay", input, 0, 1, &self.mover.ctl.lstay),
            QUIET => self.set_tunable("quiet", input, 0, 1, &t.quiet),
            EXPEL => self.action("expel", input, |m| m.expel()),
            BRING => self.action("bring", input, |m| m.bring()),
            ADOPT_POOL => {
                self.set_tunable("adopt_pool", input, 0, crate::migrate::pool::MAX_POOL, &self.mover.ctl.adopt_pool)?;
                self.mover.pool_fill();
                Ok(())
            }
            // Read-only files have no store callback; be safe anyway.
            _ => Err(EACCES),
        }
    }
}
