//! MOSIX's balancing decision: whether to move a process, which one and
//! where, and whether to take one in.
//!
//! Pure and deterministic: the caller gathers its own load entry, its load
//! vector and a description of its local processes, and gets back one
//! [`Decision`]. Nothing here keeps state, reads clocks or draws random
//! numbers; ties are broken by the lowest node id, then the lowest pid, so
//! equal inputs give equal answers on every node.
//!
//! # Load balancing
//!
//! 1. A candidate's *target* is the lightest fresh node of `others` that
//!    its `allowed` mask permits: node id not 0 and not this node, entry at
//!    most `max_info_age_ms` old, taking guests (`no_guests` clear: a
//!    node with `accept` 0 says so in its entry, and is not asked only to
//!    refuse). Loads in a [`LoadEntry`] are already normalized by speed
//!    and CPU count.
//! 2. A candidate process is movable if it is `eligible`, at least
//!    `min_age_ms` old (most processes are short-lived, and one that has
//!    run a while is likely to run a while longer: Harchol-Balter & Downey)
//!    and has stayed at least `min_residency_ms` since its last migration
//!    (no ping-pong), doubled for each time it `bounced` home because it
//!    made a call only its home can serve (a process that forks or execs
//!    every few seconds is a poor guest).
//! 3. Its *demand* `d` (SCALE = it would keep one CPU busy) is estimated
//!    from its recent CPU use `cpu_share`: on a node with more runnable
//!    tasks than CPUs a task that is always runnable gets only a share of a
//!    CPU, so `d = cpu_share × max(1, tasks per CPU here)`, capped at one
//!    CPU. On the target it adds `d × SPEED_REF / (speed × ncpus)` load
//!    units. A demand below [`MIN_DEMAND`] (a tenth of a CPU) is not worth
//!    a migration.
//! 4. The move is worthwhile only if this node's load exceeds the
//!    target's load *after* the move by more than `stability_margin`
//!    (hysteresis: small differences are not worth a migration).
//! 5. Among the worthwhile candidates, those with the lightest target
//!    come first; among them, one that communicates mostly with
//!    the target (`comm_node == target`) is preferred; then the one with
//!    the largest gain per MiB moved, where the gain is `d × age` (the
//!    expected remaining run time is proportional to the age so far; the
//!    age counts in whole seconds up to one day) and the cost is
//!    `rss_mb + 1`; then the lowest pid.
//!
//! # Memory ushering
//!
//! Checked first: if this node's free memory is below `mem_low_mb`, the
//! largest movable process (by `rss_mb`, at least [`MIN_USHER_MB`]) that
//! ran in the last interval (`cpu_share` > 0: a process is handed its
//! migration when it is next switched in, so one asleep for good would
//! never go) and fits on the
//! fresh node with the most free memory — it must have more than
//! `rss_mb + mem_low_mb` free — goes there, whatever the loads. If none
//! fits, load balancing is tried as usual.
//!
//! # Acceptance
//!
//! The target has the last word ([`accept`]): it refuses while blocked,
//! when it already hosts `max_guests` guests, or when it is no longer
//! lighter than the sender by the stability margin (its load may have
//! risen since the sender's information was produced).
//!
//! `core` only, integer arithmetic (no floating point), no panics on any
//! input: every operation is checked or saturating.

use crate::load::{SCALE, SPEED_REF};
use crate::loadvec::LoadEntry;

/// Largest age, in seconds, that still adds to a candidate's gain (1 day).
const MAX_GAIN_AGE_S: u64 = 86_400;

/// The balancing knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunables {
    /// Load units (SCALE = 1.0) by which this node must stay heavier than
    /// the target after the move. Default 300.
    pub stability_margin: u32,
    /// Processes younger than this never move. Default 1000 ms.
    pub min_age_ms: u32,
    /// A process stays at least this long after arriving by migration.
    /// Default 5000 ms.
    pub min_residency_ms: u32,
    /// Load entries older than this are ignored. Default 5000 ms.
    pub max_info_age_ms: u32,
    /// Free memory (MiB) below which memory ushering starts. Default 64.
    pub mem_low_mb: u32,
    /// Most guest processes a node accepts. Default 32.
    pub max_guests: u32,
}

impl Tunables {
    /// The defaults listed on each field.
    pub const DEFAULT: Tunables = Tunables {
        stability_margin: 300,
        min_age_ms: 1000,
        min_residency_ms: 5000,
        max_info_age_ms: 5000,
        mem_low_mb: 64,
        max_guests: 32,
    };

    /// Whether the values make sense together; the error says which one
    /// does not. [`decide`] and [`accept`] never panic on invalid values,
    /// but their answers may be useless.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.stability_margin > 100 * SCALE {
            return Err("stability_margin above 100.0 would never migrate");
        }
        if self.max_info_age_ms == 0 {
            return Err("max_info_age_ms 0 would ignore every load entry");
        }
        if self.max_info_age_ms > 3_600_000 {
            return Err("max_info_age_ms above one hour would trust stale loads");
        }
        if self.min_age_ms > 86_400_000 || self.min_residency_ms > 86_400_000 {
            return Err("min_age_ms and min_residency_ms must be at most one day");
        }
        if self.max_guests == 0 {
            return Err("max_guests 0 refuses every guest (block the node instead)");
        }
        Ok(())
    }
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables::DEFAULT
    }
}

/// A local process the balancer may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Candidate {
    /// Its pid (on its home node).
    pub pid: u32,
    /// Time since it started, ms.
    pub age_ms: u32,
    /// Time since it last arrived here by migration; `u32::MAX` if never.
    pub since_migration_ms: u32,
    /// Recent CPU use: SCALE = one full CPU.
    pub cpu_share: u32,
    /// Resident memory, MiB (what a migration has to copy).
    pub rss_mb: u32,
    /// Whether it may migrate at all (not pinned, not a kernel thread...).
    pub eligible: bool,
    /// The node it communicates with most; 0 for none.
    pub comm_node: u32,
    /// Times it came back home because it made a call that runs only there
    /// (fork, exec...): each doubles the residency it needs before moving
    /// again, up to [`MAX_BOUNCE_SHIFT`] doublings.
    pub bounces: u32,
    /// The nodes it may move to: bit `n - 1` for node `n`; 0 for any.
    pub allowed: u64,
    /// It has root's ids or a capability: nodes that take no privileged
    /// guests (`no_root`) are not targets for it.
    pub privileged: bool,
}

/// Most doublings of the residency for a process that keeps coming home.
pub const MAX_BOUNCE_SHIFT: u32 = 6;

/// Smallest process worth ushering, MiB: moving a small one frees too
/// little to matter.
pub const MIN_USHER_MB: u32 = 16;

/// Smallest demand worth a migration (SCALE = one CPU): a process that
/// keeps less than a tenth of a CPU busy gains nothing that pays for the
/// copy, and near-idle processes (shells, daemons) stay home.
pub const MIN_DEMAND: u64 = SCALE as u64 / 10;

impl Candidate {
    /// Whether it may run on `node`.
    pub const fn allows(&self, node: u32) -> bool {
        allowed_on(self.allowed, node)
    }

    /// Whether the node `e` describes would take it: its allowed nodes
    /// name it, and it takes privileged guests if this one is.
    pub const fn fits(&self, e: &LoadEntry) -> bool {
        self.allows(e.node) && !(self.privileged && e.no_root)
    }

    /// The residency it needs before moving again.
    pub fn residency_needed(&self, t: &Tunables) -> u32 {
        let shift = if self.bounces > MAX_BOUNCE_SHIFT { MAX_BOUNCE_SHIFT } else { self.bounces };
        u32::try_from(u64::from(t.min_residency_ms) << shift).unwrap_or(u32::MAX)
    }
}

/// Whether an allowed-nodes mask (bit `n - 1` for node `n`, 0 for any)
/// lets a process run on `node`. Nodes above 64 are allowed only by an
/// empty mask.
pub const fn allowed_on(mask: u64, node: u32) -> bool {
    if mask == 0 {
        return true;
    }
    if node == 0 || node > 64 {
        return false;
    }
    mask & (1u64 << (node - 1)) != 0
}

/// Why a process is to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// This node is heavier than the target by more than the margin.
    Load,
    /// This node is short of free memory.
    Memory,
}

/// What [`decide`] concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing moves this time.
    Stay,
    /// Move process `pid` to node `to`.
    Migrate {
        /// The process.
        pid: u32,
        /// The target node.
        to: u32,
        /// Why.
        reason: Reason,
    },
}

/// Why a target refuses a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The node takes no guests at the moment (administratively blocked).
    Blocked,
    /// The node already hosts `max_guests` guests.
    Full,
    /// The node is no longer lighter than the sender by the margin.
    NotLighter,
}

/// Whether `e` describes another node and is fresh enough to act on.
fn usable(me: &LoadEntry, e: &LoadEntry, t: &Tunables) -> bool {
    e.node != 0 && e.node != me.node && e.age_ms <= t.max_info_age_ms && !e.no_guests
}

/// Whether `c` may move now.
fn movable(c: &Candidate, t: &Tunables) -> bool {
    c.eligible && c.age_ms >= t.min_age_ms && c.since_migration_ms >= c.residency_needed(t)
}

/// A speed of 0 means "unknown" and counts as the reference speed.
fn speed_of(e: &LoadEntry) -> u64 {
    if e.speed == 0 {
        u64::from(SPEED_REF)
    } else {
        u64::from(e.speed)
    }
}

/// The candidate's demand in SCALE units (SCALE = keeps one CPU busy):
/// its CPU share times the number of tasks per CPU on this node (at least
/// 1), capped at one CPU.
fn demand(me: &LoadEntry, c: &Candidate) -> u64 {
    let scale = u64::from(SCALE);
    // Tasks per CPU here, SCALE-scaled: the load is per reference CPU.
    let per_cpu = u64::from(me.load)
        .saturating_mul(speed_of(me))
        .checked_div(u64::from(SPEED_REF))
        .unwrap_or(0)
        .max(scale);
    u64::from(c.cpu_share).saturating_mul(per_cpu).checked_div(scale).unwrap_or(0).min(scale)
}

/// The load `d` adds to node `e`.
fn added_load(e: &LoadEntry, d: u64) -> u64 {
    let den = speed_of(e).saturating_mul(u64::from(e.ncpus.max(1)));
    d.saturating_mul(u64::from(SPEED_REF)).checked_div(den).unwrap_or(u64::MAX)
}

/// What node `target`'s load becomes when `c` moves there from node `me`
/// (saturating). A sender adds this to its view of the target after a
/// move, until the target's published load shows it.
pub fn load_after_move(me: &LoadEntry, target: &LoadEntry, c: &Candidate) -> u32 {
    let v = u64::from(target.load).saturating_add(added_load(target, demand(me, c)));
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Whether `a` is a better load target than `b` (lighter, then lower id).
fn lighter(a: &LoadEntry, b: &LoadEntry) -> bool {
    (a.load, a.node) < (b.load, b.node)
}

/// Whether `a` is a better memory target than `b` (more free, then lower
/// id).
fn roomier(a: &LoadEntry, b: &LoadEntry) -> bool {
    a.free_mem_mb > b.free_mem_mb || (a.free_mem_mb == b.free_mem_mb && a.node < b.node)
}

/// The best fresh node of `others` that `c` may run on, by `better`.
fn best_target<'a>(
    me: &LoadEntry,
    others: &'a [LoadEntry],
    t: &Tunables,
    c: &Candidate,
    better: fn(&LoadEntry, &LoadEntry) -> bool,
) -> Option<&'a LoadEntry> {
    let mut target: Option<&LoadEntry> = None;
    for e in others.iter().filter(|e| usable(me, e, t) && c.fits(e)) {
        match target {
            Some(b) if !better(e, b) => {}
            _ => target = Some(e),
        }
    }
    target
}

/// Memory ushering: the largest movable process that fits on the fresh
/// node with the most free memory.
fn usher(me: &LoadEntry, others: &[LoadEntry], cands: &[Candidate], t: &Tunables) -> Option<Decision> {
    if me.free_mem_mb >= t.mem_low_mb {
        return None;
    }
    let mut best: Option<(&Candidate, &LoadEntry)> = None;
    for c in cands.iter().filter(|c| movable(c, t) && c.rss_mb >= MIN_USHER_MB && c.cpu_share > 0) {
        let Some(target) = best_target(me, others, t, c, roomier) else { continue };
        let fits = u64::from(target.free_mem_mb) > u64::from(c.rss_mb).saturating_add(u64::from(t.mem_low_mb));
        if !fits {
            continue;
        }
        let better = match best {
            None => true,
            Some((b, _)) => c.rss_mb > b.rss_mb || (c.rss_mb == b.rss_mb && c.pid < b.pid),
        };
        if better {
            best = Some((c, target));
        }
    }
    best.map(|(c, target)| Decision::Migrate { pid: c.pid, to: target.node, reason: Reason::Memory })
}

/// A worthwhile load move: the candidate, whether it talks to the target,
/// its gain and its cost.
#[derive(Clone, Copy)]
struct Scored<'a> {
    c: &'a Candidate,
    talks: bool,
    gain: u64,
    cost: u64,
}

/// Whether `a` is a better choice than `b`.
fn preferred(a: &Scored<'_>, b: &Scored<'_>) -> bool {
    if a.talks != b.talks {
        return a.talks;
    }
    // gain_a / cost_a vs gain_b / cost_b without division: a gain is at
    // most SCALE × MAX_GAIN_AGE_S < 2^27 and a cost at most 2^32, so the
    // products stay below 2^60 (saturating regardless).
    let lhs = a.gain.saturating_mul(b.cost);
    let rhs = b.gain.saturating_mul(a.cost);
    if lhs != rhs {
        return lhs > rhs;
    }
    a.c.pid < b.c.pid
}

/// Load balancing: see the module documentation.
fn balance(me: &LoadEntry, others: &[LoadEntry], cands: &[Candidate], t: &Tunables) -> Option<Decision> {
    let mine = u64::from(me.load);
    let margin = u64::from(t.stability_margin);
    let mut best: Option<(Scored<'_>, &LoadEntry)> = None;
    for c in cands.iter().filter(|c| movable(c, t)) {
        let Some(target) = best_target(me, others, t, c, lighter) else { continue };
        let d = demand(me, c);
        if d < MIN_DEMAND {
            continue;
        }
        let after = u64::from(target.load).saturating_add(added_load(target, d));
        if mine <= after.saturating_add(margin) {
            continue;
        }
        let age_s = u64::from(c.age_ms / 1000).clamp(1, MAX_GAIN_AGE_S);
        let s = Scored {
            c,
            talks: c.comm_node != 0 && c.comm_node == target.node,
            gain: d.saturating_mul(age_s),
            cost: u64::from(c.rss_mb).saturating_add(1),
        };
        // Lighter targets first, then the better candidate.
        let better = match &best {
            None => true,
            Some((b, bt)) => {
                if target.node != bt.node {
                    lighter(target, bt)
                } else {
                    preferred(&s, b)
                }
            }
        };
        if better {
            best = Some((s, target));
        }
    }
    best.map(|(s, target)| Decision::Migrate { pid: s.c.pid, to: target.node, reason: Reason::Load })
}

/// The balancing decision for node `me` (its own, fresh entry), given
/// what it knows about `others` and its local processes `cands`. See the
/// module documentation for the rules. Never targets `me.node`, node 0 or
/// an entry older than `max_info_age_ms`, and never picks a candidate that
/// is ineligible, younger than `min_age_ms` or resident for less than
/// `min_residency_ms`.
pub fn decide(me: &LoadEntry, others: &[LoadEntry], cands: &[Candidate], t: &Tunables) -> Decision {
    usher(me, others, cands, t).or_else(|| balance(me, others, cands, t)).unwrap_or(Decision::Stay)
}

/// The target's side of the negotiation: node `me` (its current entry)
/// hosting `guests` guests is asked by a node of load `sender_load` to take
/// a process. Refuses if `blocked`, if `guests >= max_guests`, or unless
/// the sender is still heavier by more than the stability margin.
pub fn accept(me: &LoadEntry, sender_load: u32, guests: u32, t: &Tunables, blocked: bool) -> Result<(), Refusal> {
    if blocked {
        return Err(Refusal::Blocked);
    }
    if guests >= t.max_guests {
        return Err(Refusal::Full);
    }
    if u64::from(sender_load) <= u64::from(me.load).saturating_add(u64::from(t.stability_margin)) {
        return Err(Refusal::NotLighter);
    }
    Ok(())
}
