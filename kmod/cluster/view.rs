// SPDX-License-Identifier: GPL-2.0

//! Text views of the cluster for `/sys/kernel/roam/` (one record per line,
//! `key=value` fields, so both people and `roamctl` can read them).

use super::Cluster;
use crate::config::fmt_ipv4;
use crate::sys::time;
use crate::wire::Reject;
use core::fmt::{Result, Write};
use core::sync::atomic::Ordering;

/// `nodes`: this node, then every configured peer.
pub(crate) fn nodes(c: &Cluster, w: &mut impl Write) -> Result {
    let now = time::now_ms();
    let (me, listen) = (c.me(), c.cfg.lock().listen);
    let own = c.own_entry();
    write!(w, "node={me} addr=")?;
    match listen {
        Some(l) if l.ip != 0 => fmt_ipv4(l.ip, w)?,
        _ => w.write_str("*")?,
    }
    writeln!(
        w,
        ":{} self=1 state={} load={} speed={} ncpus={} free_mem_mb={} age_ms=0 guests={} root={}",
        listen.map(|l| l.port).unwrap_or(0),
        if c.running.load(Ordering::Relaxed) { "up" } else { "stopped" },
        own.load,
        own.speed,
        own.ncpus,
        own.free_mem_mb,
        if c.tun.accept.load(Ordering::Relaxed) == 0 { "no" } else { "yes" },
        if c.tun.accept_root.load(Ordering::Relaxed) == 0 { "no" } else { "yes" }
    )?;
    let Ok(peers) = c.peers() else { return Ok(()) };
    for p in peers.iter() {
        let e = c.lv.lock().vec.get(p.id).copied();
        let heard = p.last_heard_ms.load(Ordering::Relaxed);
        write!(w, "node={} addr=", p.id)?;
        fmt_ipv4(p.addr.ip, w)?;
        write!(w, ":{} self=0 state={}", p.addr.port, if p.up.load(Ordering::Relaxed) { "up" } else { "down" })?;
        match e {
            Some(e) => write!(
                w,
                " load={} speed={} ncpus={} free_mem_mb={} age_ms={} guests={} root={}",
                e.load,
                e.speed,
                e.ncpus,
                e.free_mem_mb,
                e.age_ms,
                if e.no_guests { "no" } else { "yes" },
                if e.no_root { "no" } else { "yes" }
            )?,
            None => w.write_str(" load=- speed=- ncpus=- free_mem_mb=- age_ms=- guests=- root=-")?,
        }
        if heard == 0 {
            w.write_str(" heard_ms=-")?;
        } else {
            write!(w, " heard_ms={}", now.saturating_sub(heard))?;
        }
        writeln!(
            w,
            " frames_from={} frames_to={}",
            p.frames_from.load(Ordering::Relaxed),
            p.frames_to.load(Ordering::Relaxed)
        )?;
    }
    Ok(())
}

/// `stats`: transport counters, one `name value` per line.
pub(crate) fn stats(c: &Cluster, w: &mut impl Write) -> Result {
    let s = &c.stats;
    let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    writeln!(w, "frames_sent {}", get(&s.frames_sent))?;
    writeln!(w, "frames_received {}", get(&s.frames_received))?;
    writeln!(w, "bytes_sent {}", get(&s.bytes_sent))?;
    writeln!(w, "bytes_received {}", get(&s.bytes_received))?;
    writeln!(w, "load_pushes_sent {}", get(&s.load_pushes_sent))?;
    writeln!(w, "send_failures {}", get(&s.send_failures))?;
    writeln!(w, "connect_failures {}", get(&s.connect_failures))?;
    writeln!(w, "connections_accepted {}", get(&s.connections_accepted))?;
    writeln!(w, "connections_refused {}", get(&s.connections_refused))?;
    writeln!(w, "connections_unauthenticated {}", get(&s.connections_unauthenticated))?;
    writeln!(w, "connections_evicted {}", get(&s.connections_evicted))?;
    writeln!(w, "stale_connections {}", get(&s.stale_connections))?;
    writeln!(w, "receivers {}", c.receivers())?;
    let mut total = get(&s.rejected_addr_mismatch) + get(&s.rejected_no_key);
    for r in Reject::ALL {
        let v = s.rejected.get(r.index()).map(get).unwrap_or(0);
        total += v;
        writeln!(w, "rejected_{} {}", r.name(), v)?;
    }
    writeln!(w, "rejected_addr_mismatch {}", get(&s.rejected_addr_mismatch))?;
    writeln!(w, "rejected_no_key {}", get(&s.rejected_no_key))?;
    writeln!(w, "rejected_total {}", total)?;
    writeln!(w, "ignored_proc_frames {}", get(&s.ignored_proc_frames))?;
    Ok(())
}

/// `load`: the local load estimate and what it is made of.
pub(crate) fn load(c: &Cluster, w: &mut impl Write) -> Result {
    let lv = c.lv.lock();
    let d = lv.est.decay();
    writeln!(w, "load {}", lv.est.load())?;
    writeln!(w, "load_slow {}", lv.est.slow())?;
    writeln!(w, "load_fast {}", lv.est.fast())?;
    writeln!(w, "load_now {}", lv.est.quick())?;
    writeln!(w, "nr_running {}", lv.nr_running)?;
    writeln!(w, "ncpus {}", lv.ncpus)?;
    writeln!(w, "speed {}", c.tun.speed.load(Ordering::Relaxed))?;
    writeln!(w, "free_mem_mb {}", lv.free_mb)?;
    writeln!(w, "decay {} {}", d.slow, d.fast)?;
    writeln!(w, "vector_size {}", lv.vec.size())?;
    writeln!(w, "vector_len {}", lv.vec.len())?;
    Ok(())
}

/// `peers`: the configured peers, in the syntax `peers` accepts.
pub(crate) fn peers(c: &Cluster, w: &mut impl Write) -> Result {
    let Ok(peers) = c.peers() else { return Ok(()) };
    for p in peers.iter() {
        write!(w, "add {} ", p.id)?;
        fmt_ipv4(p.addr.ip, w)?;
        writeln!(w, ":{}", p.addr.port)?;
    }
    Ok(())
}

/// `listen`: the address, or `off`.
pub(crate) fn listen(c: &Cluster, w: &mut impl Write) -> Result {
    match c.cfg.lock().listen {
        Some(l) => {
            if l.ip == 0 {
                w.write_str("0.0.0.0")?;
            } else {
                fmt_ipv4(l.ip, w)?;
            }
            writeln!(w, ":{}", l.port)
        }
        None => writeln!(w, "off"),
    }
}
