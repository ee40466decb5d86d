// SPDX-License-Identifier: GPL-2.0

//! Automatic load balancing (MOSIX): every exchange interval the balancer
//! thread looks at this node's processes and at the load vector, asks
//! `policy::decide` (the same `no_std` code the simulator runs) whether one
//! should move, and arms the context-switch hook with that process's
//! migration work; the process takes it the next time it is switched in
//! and migrates itself at its return to user mode. The hook is registered
//! only while a work is armed.
//!
//! Per-process profile: age (from its start time), CPU share over the last
//! interval (from the scheduler's own runtime accounting), resident size,
//! time since it arrived here (guests, or processes back home), whether it
//! made forwarded calls to a node (a guest talks to its home), how often
//! it came home because it forked or exec'd there, and the nodes it may
//! run on.
//!
//! The balancer reaches the engine only through [`Engine`]; node controls
//! and tunables are `controls.rs`'s.

use super::controls::Controls;
use super::eligibility::Migration;
use super::events::Cause;
use crate::cluster::Cluster;
use crate::loadvec::LoadEntry;
use crate::policy::{self, Decision, Tunables};
use crate::sys::sched::{self, SwitchHook};
use crate::lists::retain;
use crate::sys::task::TaskRef;
use crate::sys::taskwork::Prepared;
use crate::sys::time;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{bindings, new_mutex, prelude::*, sync::Arc, sync::Mutex};

/// Most processes looked at per decision.
const MAX_PROCS: usize = 1024;
/// A node that refused a guest is not asked again for this long.
const REFUSED_FOR_MS: u64 = 30_000;
/// After a migration, decisions pause this many intervals. One is
/// enough: this node's own load (the quick average) shows the departure
/// within about a second, and what it sent is counted in the target's
/// load until the target's published load shows it.
const COOLDOWN_INTERVALS: u64 = 1;
/// An armed process not switched in within this time is given up.
const ARMED_FOR_MS: u64 = 3_000;
/// A move the balancer started is waited for at most this long before
/// deciding again (a move ends, or fails, well before).
const MOVING_FOR_MS: u64 = 120_000;
/// After sending a process to a node, this node counts it in that node's
/// load for this long (its published load takes many intervals to show
/// it: the fast average follows a step by 7% per interval).
const SENT_FOR_MS: u64 = 30_000;

/// What the balancer needs of a process, beyond the scheduler's numbers.
pub(crate) struct Profile {
    /// It is a deputy (its process runs elsewhere).
    pub(crate) deputy: bool,
    /// It is being captured.
    pub(crate) moving: bool,
    /// It is a guest here.
    pub(crate) guest: bool,
    /// When it arrived here (guests, and processes back home).
    pub(crate) arrived_ms: Option<u64>,
    /// A node it made forwarded calls to since the last look (0: none).
    pub(crate) talks_to: u32,
    /// Times it came home because a call needed its home.
    pub(crate) bounces: u32,
    /// The nodes it may run on (0: any).
    pub(crate) allowed: u64,
    /// Its home node (0: this node).
    pub(crate) home: u32,
}

/// The balancer's narrow view of the migration engine: it only decides,
/// and the engine moves.
pub(crate) trait Engine {
    /// The profile of local process `tgid`.
    fn profile(&self, tgid: u32) -> Option<Profile>;
    /// Whether node `node` is up.
    fn peer_is_up(&self, node: u32) -> bool;
    /// Marks `tgid` as being captured; false if it already is.
    fn claim(&self, tgid: u32) -> bool;
    /// Undoes [`Engine::claim`].
    fn release(&self, tgid: u32);
    /// The work that moves the task running it to node `to`, for the
    /// context-switch hook to hand to the chosen process.
    fn move_work(&self, to: u32, cause: Cause) -> Result<Prepared>;
}

/// CPU-time sample of one process.
#[derive(Clone, Copy)]
struct Sample {
    tgid: u32,
    start_ns: u64,
    runtime_ns: u64,
    switches: u64,
    at_ns: u64,
}

/// An allowed-nodes mask with the process's home added: home is always
/// allowed (an empty mask already allows every node).
fn with_home(mask: u64, home: u32) -> u64 {
    if mask == 0 {
        return 0;
    }
    mask | crate::abi::nodes_mask(&[home]).unwrap_or(0)
}

/// The armed migration.
struct Armed {
    tgid: u32,
    at_ms: u64,
    drop_fn: unsafe fn(*mut bindings::callback_head),
}

struct State {
    samples: KVec<Sample>,
    armed: Option<Armed>,
    /// The process this node's balancer is moving now, and since when
    /// (ms): no decision until its move has ended, since until then it
    /// still counts in this node's load.
    moving: Option<(u32, u64)>,
    /// Nodes that refused recently, and until when.
    refused: KVec<(u32, u64)>,
    /// No decision before this time (ms).
    quiet_until: u64,
    /// Nodes this node sent a process to: (node, the load it has at least,
    /// until when).
    sent: KVec<(u32, u32, u64)>,
    /// What the last decision saw and decided (`balancer` file).
    last: Option<LastTick>,
    /// A load move decided at the previous tick and not made yet: (the
    /// target node, when, in ms). A load move is made only when two ticks
    /// in a row decide it, so that a second's burst of runnable kernel
    /// threads or shell commands here does not send a process away.
    leaning: Option<(u32, u64)>,
}

/// The inputs and outcome of the last decision, for
/// `/sys/kernel/roam/balancer` (why is nothing moving?).
#[derive(Clone, Copy)]
struct LastTick {
    at_ms: u64,
    candidates: u32,
    movable: u32,
    targets: u32,
    load: u32,
    free_mem_mb: u32,
    mem_low_mb: u32,
    /// (pid, node) if it decided to move one.
    moved: Option<(u32, u32)>,
    /// The three largest candidates: pid, rss (MiB), CPU share (per
    /// mille), age (ms), eligible.
    largest: [(u32, u32, u32, u32, bool); 3],
}

/// The three candidates with the largest resident memory.
fn largest(cands: &[policy::Candidate]) -> [(u32, u32, u32, u32, bool); 3] {
    let mut top = [(0u32, 0u32, 0u32, 0u32, false); 3];
    for c in cands {
        let e = (c.pid, c.rss_mb, c.cpu_share, c.age_ms, c.eligible);
        if let Some(i) = top.iter().position(|t| t.0 == 0 || t.1 < e.1) {
            let mut j = top.len() - 1;
            while j > i {
                top[j] = top[j - 1];
                j -= 1;
            }
            top[i] = e;
        }
    }
    top
}

/// The balancer of one node.
#[pin_data]
pub(crate) struct Balancer {
    #[pin]
    state: Mutex<State>,
    hook: SwitchHook,
    /// Migrations the balancer started.
    pub(crate) started: AtomicU64,
    /// Migrations the balancer started that succeeded.
    pub(crate) done: AtomicU64,
}

impl Balancer {
    pub(crate) fn new() -> Result<Arc<Self>> {
        let hook = SwitchHook::install().inspect_err(|e| pr_err!("cannot hook context switches (sched_switch): {:?}\n", e))?;
        Arc::pin_init(
            pin_init!(Balancer {
                state <- new_mutex!(
                    State {
                        samples: KVec::new(),
                        armed: None,
                        moving: None,
                        refused: KVec::new(),
                        quiet_until: 0,
                        sent: KVec::new(),
                        last: None,
                        leaning: None,
                    },
                    "roam_balance"
                ),
                hook,
                started: AtomicU64::new(0),
                done: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// `/sys/kernel/roam/balancer`.
    pub(crate) fn show(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(out, "context_switches {}", sched::switches())?;
        writeln!(out, "migrations_started {}", self.started.load(Ordering::Relaxed))?;
        writeln!(out, "migrations_done {}", self.done.load(Ordering::Relaxed))?;
        let st = self.state.lock();
        if let Some(l) = st.last {
            let ago = time::now_ms().saturating_sub(l.at_ms);
            write!(
                out,
                "last_decision {} ms ago: {} processes ({} movable), {} fresh targets, load {}, free {} MiB (ushering below {}): ",
                ago, l.candidates, l.movable, l.targets, l.load, l.free_mem_mb, l.mem_low_mb
            )?;
            match l.moved {
                Some((pid, node)) => writeln!(out, "pid {} to node {}", pid, node)?,
                None => writeln!(out, "stay")?,
            }
            for (pid, rss, share, age, eligible) in l.largest.iter().filter(|c| c.0 != 0) {
                writeln!(out, "candidate pid {} rss {} MiB cpu_share {} age {} ms {}", pid, rss, share, age, if *eligible { "eligible" } else { "not eligible" })?;
            }
        }
        let now = time::now_ms();
        for r in st.refused.iter().filter(|r| r.1 > now) {
            writeln!(out, "refused_by node {} for {} ms more", r.0, r.1 - now)?;
        }
        Ok(())
    }

    /// Takes back an armed work that was not used.
    fn disarm(&self, st: &mut State) {
        if let Some(a) = st.armed.take() {
            self.hook.disarm(a.drop_fn);
        }
    }

    /// Node `node` refused a balancing migration (it takes no guests, is
    /// full, short of memory or unreachable): leave it alone a while. No
    /// process moved, so the next decision need not wait for the loads to
    /// show one: the cooldown ends, and the process goes elsewhere at the
    /// next tick if another node qualifies.
    pub(crate) fn refused_by(&self, node: u32) {
        let until = time::now_ms() + REFUSED_FOR_MS;
        let mut st = self.state.lock();
        let _ = retain(&mut st.refused, |r| r.0 != node);
        let _ = st.refused.push((node, until), GFP_KERNEL);
        let _ = retain(&mut st.sent, |r| r.0 != node);
        st.quiet_until = 0;
    }

    /// Stops: frees an armed work (module unload).
    pub(crate) fn stop(&self) {
        let mut st = self.state.lock();
        self.disarm(&mut st);
        self.hook.release();
    }

    /// One balancing step (called every exchange interval).
    pub(crate) fn tick(&self, mover: &impl Engine, c: &Cluster, ctl: &Controls, migration: &Migration) {
        let now = time::now_ms();
        let interval = c.tun.interval_ms.load(Ordering::Relaxed) as u64;
        let mut st = self.state.lock();
        if let Some(a) = &st.armed {
            if now > a.at_ms + ARMED_FOR_MS || TaskRef::find(a.tgid).is_err() {
                let tgid = a.tgid;
                self.disarm(&mut st);
                mover.release(tgid);
            } else {
                return;
            }
        }
        // Nothing armed: the scheduler need not call the hook.
        self.hook.release();
        if let Some((_, since)) = st.moving {
            if now < since + MOVING_FOR_MS {
                return;
            }
            st.moving = None;
        }
        let me_id = c.me();
        if ctl.balance.load(Ordering::Relaxed) == 0
            || ctl.stay.load(Ordering::Relaxed) != 0
            || !c.running.load(Ordering::Relaxed)
            || me_id == 0
            || now < st.quiet_until
        {
            return;
        }
        let _ = retain(&mut st.refused, |r| r.1 > now);
        let _ = retain(&mut st.sent, |r| r.2 > now);
        let Ok(procs) = sched::processes(MAX_PROCS) else { return };
        let now_ns = time::now_ns();
        let mut cands = KVec::new();
        let mut samples = KVec::new();
        let lstay = ctl.lstay.load(Ordering::Relaxed) != 0;
        for p in procs.iter() {
            if p.exiting || p.nr_threads != 1 || &p.comm[..10] == b"roam-adopt" {
                continue;
            }
            let _ = samples.push(Sample { tgid: p.tgid, start_ns: p.start_ns, runtime_ns: p.runtime_ns, switches: p.switches, at_ns: now_ns }, GFP_KERNEL);
            let prev = st.samples.iter().find(|s| s.tgid == p.tgid && s.start_ns == p.start_ns).copied();
            let Some(prev) = prev else { continue };
            let dt = now_ns.saturating_sub(prev.at_ns);
            if dt == 0 {
                continue;
            }
            // Per mille of one CPU, and at least 1 if the process ran at
            // all: a process that wakes briefly now and then is still one
            // that will be switched in to take its move. Its context
            // switches show it ran even where the CPU time, counted in
            // jiffies without a usable TSC, did not move.
            let ran = p.runtime_ns.saturating_sub(prev.runtime_ns);
            let woke = p.switches != prev.switches;
            let share = (ran.saturating_mul(1000) / dt).clamp(u64::from(ran > 0 || woke), 1000) as u32;
            let age_ms = (now_ns.saturating_sub(p.start_ns) / 1_000_000).min(u32::MAX as u64) as u32;
            let Some(profile) = mover.profile(p.tgid) else { continue };
            if profile.deputy || profile.moving || (lstay && !profile.guest) {
                continue;
            }
            // Never migrated: no residency to wait for (u32::MAX, as the
            // policy expects).
            let since = profile.arrived_ms.map(|t| now.saturating_sub(t).min(u32::MAX as u64) as u32).unwrap_or(u32::MAX);
            let task = TaskRef::find(p.tgid).ok();
            let eligible = task.as_ref().is_some_and(|t| t.tgid() == p.tgid && migration.reasons(t) == 0);
            let _ = cands.push(
                policy::Candidate {
                    pid: p.tgid,
                    age_ms,
                    since_migration_ms: since,
                    cpu_share: share,
                    rss_mb: (p.rss >> 20).min(u32::MAX as u64) as u32,
                    eligible,
                    comm_node: profile.talks_to,
                    bounces: profile.bounces,
                    allowed: with_home(profile.allowed, profile.home),
                    // Unknown (gone meanwhile): kept off nodes that take no root.
                    privileged: task.as_ref().is_none_or(TaskRef::privileged),
                },
                GFP_KERNEL,
            );
        }
        st.samples = samples;
        // Our own load as it is now; theirs as published, but at least what
        // we sent them lately.
        let me: LoadEntry = c.own_entry_now();
        let mut others = KVec::new();
        {
            let lv = c.lv.lock();
            for e in lv.vec.entries().iter() {
                if e.node != me_id && !st.refused.iter().any(|r| r.0 == e.node) && mover.peer_is_up(e.node) {
                    let floor = st.sent.iter().filter(|r| r.0 == e.node).map(|r| r.1).max().unwrap_or(0);
                    let _ = others.push(LoadEntry { load: e.load.max(floor), ..*e }, GFP_KERNEL);
                }
            }
        }
        let t = Tunables {
            stability_margin: ctl.margin.load(Ordering::Relaxed),
            min_age_ms: ctl.min_age_ms.load(Ordering::Relaxed),
            min_residency_ms: ctl.min_residency_ms.load(Ordering::Relaxed),
            max_info_age_ms: (3 * interval).max(2000) as u32,
            mem_low_mb: ctl.mem_low_mb.load(Ordering::Relaxed),
            max_guests: ctl.max_guests.load(Ordering::Relaxed),
        };
        let decision = policy::decide(&me, &others, &cands, &t);
        st.last = Some(LastTick {
            at_ms: now,
            candidates: cands.len() as u32,
            movable: cands.iter().filter(|c| c.eligible).count() as u32,
            targets: others.len() as u32,
            load: me.load,
            free_mem_mb: me.free_mem_mb,
            mem_low_mb: t.mem_low_mb,
            moved: match decision {
                Decision::Migrate { pid, to, .. } => Some((pid, to)),
                Decision::Stay => None,
            },
            largest: largest(&cands),
        });
        let Decision::Migrate { pid, to, reason } = decision else {
            st.leaning = None;
            return;
        };
        // A load move waits for a second decision for the same target one
        // interval later (memory ushering does not wait: memory runs out).
        if reason == policy::Reason::Load {
            let confirmed = st.leaning.map(|(n, at)| n == to && now.saturating_sub(at) <= 3 * interval).unwrap_or(false);
            if !confirmed {
                st.leaning = Some((to, now));
                return;
            }
        }
        st.leaning = None;
        if let (Some(target), Some(cand)) = (others.iter().find(|e| e.node == to), cands.iter().find(|c| c.pid == pid)) {
            let _ = st.sent.push((to, policy::load_after_move(&me, target, cand), now + SENT_FOR_MS), GFP_KERNEL);
        }
        let cause = match reason {
            policy::Reason::Memory => Cause::Memory,
            policy::Reason::Load => Cause::Load,
        };
        let Ok(work) = mover.move_work(to, cause) else { return };
        if !mover.claim(pid) {
            return;
        }
        let (head, drop_fn) = work.into_raw();
        // SAFETY: `head`/`drop_fn` come from `into_raw` just above.
        let work = unsafe { Prepared::from_raw(head, drop_fn) };
        if let Err(e) = self.hook.choose(pid, work) {
            pr_warn!("balancer: cannot hook context switches (sched_switch): {:?}\n", e);
            mover.release(pid);
            return;
        }
        st.armed = Some(Armed { tgid: pid, at_ms: now, drop_fn });
        st.quiet_until = now + COOLDOWN_INTERVALS * interval;
        self.started.fetch_add(1, Ordering::Relaxed);
        pr_info!("balancer: pid {} goes to node {} ({:?}; load here {}, there {})\n", pid, to, reason, me.load,
            others.iter().find(|e| e.node == to).map(|e| e.load).unwrap_or(0));
    }

    /// The armed process took its work (it is migrating): forget it, and
    /// decide nothing more until its move has ended ([`Self::settled`]).
    pub(crate) fn taken(&self, tgid: u32) {
        let mut st = self.state.lock();
        if st.armed.as_ref().map(|a| a.tgid == tgid).unwrap_or(false) {
            st.armed = None;
            st.moving = Some((tgid, time::now_ms()));
        }
    }

    /// The move of `tgid` ended; if it `moved`, the next decision waits
    /// the cooldown (from now: this node's load starts to show the
    /// departure only now).
    pub(crate) fn settled(&self, tgid: u32, moved: bool, interval_ms: u64) {
        let mut st = self.state.lock();
        if st.moving.map(|m| m.0 == tgid).unwrap_or(false) {
            st.moving = None;
        }
        if moved {
            st.quiet_until = time::now_ms() + COOLDOWN_INTERVALS * interval_ms;
        }
    }
}
