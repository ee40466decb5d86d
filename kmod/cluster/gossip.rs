// SPDX-License-Identifier: GPL-2.0

//! The `roam-gossip` thread: samples the local load every [`TICK_MS`] and,
//! every interval, runs MOSIX's load exchange, marks silent peers down
//! (telling the [`FrameSink`](super::FrameSink)) and reaps finished
//! receivers. Sends through `tx`; takes `lv` only briefly, never while
//! sending.

use super::{tx, Cluster, Peer, TICK_MS};
use crate::config;
use crate::loadvec::{self, LoadEntry, LoadVector, MAX_VECTOR};
use crate::sys::{sysinfo, thread, time};
use crate::wire;
use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

/// Samples the local load and runs the exchange every interval.
pub(crate) fn gossip_loop(c: Arc<Cluster>) {
    let mut last_exchange = time::now_ms();
    let mut next_exchange = last_exchange;
    while !thread::should_stop() {
        let nr = sysinfo::nr_running();
        let ncpus = sysinfo::online_cpus();
        let free = sysinfo::free_mem_mb();
        let speed = c.tun.speed.load(Ordering::Relaxed);
        {
            let mut lv = c.lv.lock();
            lv.est.sample(nr, ncpus, speed);
            lv.nr_running = nr;
            lv.ncpus = ncpus;
            lv.free_mb = free;
            let load = lv.est.load();
            lv.vec.set_own(load, speed, ncpus.min(u16::MAX as u32) as u16, free);
            lv.vec.set_no_guests(c.tun.accept.load(Ordering::Relaxed) == 0);
            lv.vec.set_no_root(c.tun.accept_root.load(Ordering::Relaxed) == 0);
        }
        let now = time::now_ms();
        if now >= next_exchange {
            let elapsed = now.saturating_sub(last_exchange).min(u32::MAX as u64) as u32;
            last_exchange = now;
            exchange(&c, elapsed);
            check_liveness(&c, now);
            c.reap_receivers();
            let interval = c.tun.interval_ms.load(Ordering::Relaxed) as u64;
            // +-10% jitter keeps nodes from falling into lockstep.
            let jitter = c.lv.lock().rng.below(interval / 5 + 1);
            next_exchange = now + interval - interval / 10 + jitter;
        }
        thread::sleep_ms(TICK_MS);
    }
}

/// One MOSIX exchange: age the vector, send its newest half to one random
/// peer known to be up (one interval in four, to a peer believed down, so
/// that nodes coming back are noticed).
fn exchange(c: &Arc<Cluster>, elapsed_ms: u32) {
    if c.tun.quiet.load(Ordering::Relaxed) != 0 {
        c.lv.lock().vec.age(elapsed_ms);
        return;
    }
    let Ok(peers) = c.peers() else { return };
    if peers.is_empty() {
        return;
    }
    let mut out = [LoadEntry::default(); MAX_VECTOR + 1];
    let (target, n) = {
        let mut lv = c.lv.lock();
        lv.vec.age(elapsed_ms);
        let n = lv.vec.outgoing(&mut out);
        let mut up = [0u32; config::MAX_PEERS];
        let mut down = [0u32; config::MAX_PEERS];
        let (mut nup, mut ndown) = (0, 0);
        // The up peer heard of least recently, if its news is older than
        // half the failure timeout: it is asked directly instead of a random
        // peer, so a quiet stretch of random choices never looks like a
        // failure (a direct push is answered at once by a live node).
        let now = time::now_ms();
        let suspect_after = c.tun.down_after_ms.load(Ordering::Relaxed) as u64 / 2;
        let mut suspect: Option<(u64, u32)> = None;
        for p in peers.iter().take(config::MAX_PEERS) {
            if p.up.load(Ordering::Relaxed) {
                up[nup] = p.id;
                nup += 1;
                let age = news_age(p, &lv.vec, now);
                if age > suspect_after && suspect.map_or(true, |(a, _)| age > a) {
                    suspect = Some((age, p.id));
                }
            } else {
                down[ndown] = p.id;
                ndown += 1;
            }
        }
        // One interval in four, probe a peer believed down, so that a node
        // coming back (or one we wrongly gave up on) is found quickly.
        let probe = ndown > 0 && (nup == 0 || lv.rng.below(4) == 0);
        let target = if probe {
            loadvec::choose_peer(&mut lv.rng, &down[..ndown])
        } else if let Some((_, id)) = suspect {
            Some(id)
        } else {
            loadvec::choose_peer(&mut lv.rng, &up[..nup])
        };
        (target, n)
    };
    let Some(target) = target else { return };
    let Some(peer) = peers.iter().find(|p| p.id == target) else { return };
    let mut payload = [0u8; wire::loads_len(MAX_VECTOR + 1)];
    let Ok(len) = wire::encode_loads(&out[..n], &mut payload) else { return };
    if tx::send(c, peer, wire::MsgType::LoadPush, 0, &payload[..len]).is_ok() {
        c.stats.load_pushes_sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// How old the freshest news of `p` is: heard directly, or through another
/// node's load vector.
fn news_age(p: &Peer, vec: &LoadVector, now: u64) -> u64 {
    let direct = p.last_heard_ms.load(Ordering::Relaxed);
    let direct_age = if direct == 0 { u64::MAX } else { now.saturating_sub(direct) };
    let vec_age = vec.get(p.id).map(|e| e.age_ms as u64).unwrap_or(u64::MAX);
    direct_age.min(vec_age)
}

/// Marks peers down when nothing fresh was heard of them for
/// `down_after_ms`, directly or through another node's load vector.
fn check_liveness(c: &Cluster, now: u64) {
    let Ok(peers) = c.peers() else { return };
    let down_after = c.tun.down_after_ms.load(Ordering::Relaxed) as u64;
    for p in peers.iter() {
        let age = news_age(p, &c.lv.lock().vec, now);
        let up = p.up.load(Ordering::Relaxed);
        if up && age > down_after {
            p.up.store(false, Ordering::Relaxed);
            c.lv.lock().vec.remove(p.id);
            tx::disconnect(p);
            pr_info!("node {} is down (nothing heard for {} ms)\n", p.id, age.min(u32::MAX as u64));
            if let Some(s) = c.sink() {
                s.node_down(p.id);
            }
        } else if !up && age <= down_after {
            p.up.store(true, Ordering::Relaxed);
            pr_info!("node {} is up\n", p.id);
        }
    }
}
