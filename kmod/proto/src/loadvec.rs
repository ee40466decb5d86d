//! The MOSIX load vector and its probabilistic exchange.
//!
//! Every node keeps a small, fixed-size vector of what it last heard about
//! the load of a few other nodes, each entry stamped with its age. Once per
//! interval a node sends its own fresh entry plus the newest half of its
//! vector to one peer chosen uniformly at random; the receiver merges the
//! entries into its own vector, keeping whichever copy of a node's entry is
//! younger and, when full, making room by dropping its oldest entry.
//!
//! The cost per node and interval is one message of `1 + size/2` entries,
//! whatever the cluster size, and news about a node spreads gradually
//! (a handful of nodes learn it per interval, not all at once), which keeps
//! a newly idle node from attracting every migration in the cluster at the
//! same moment.
//!
//! The kernel module and the host simulator (`cargo xtask sim`) both run
//! this code. `core` only, fixed-size storage, no panics.

use crate::bytes::{put, take};
use crate::rng::XorShift64;

/// Size of one [`LoadEntry`] on the wire: node, load, speed (u32 each),
/// ncpus (u16), free_mem_mb and age_ms (u32 each), little-endian, then one
/// flags byte (bit 0: the node takes no guests; bit 1: no privileged
/// guests).
pub const ENTRY_WIRE_LEN: usize = 4 + 4 + 4 + 2 + 4 + 4 + 1;

/// Flags bit: the node takes no guests.
pub const FLAG_NO_GUESTS: u8 = 1;
/// Flag bit: the node takes no guest with root's ids or any capability
/// (`accept_root` 0): no balancer sends it such a process.
pub const FLAG_NO_ROOT: u8 = 2;

/// Offset of the flags byte in an entry's wire form; bits other than
/// [`FLAG_NO_GUESTS`] and [`FLAG_NO_ROOT`] are reserved (zero).
pub const ENTRY_FLAGS_AT: usize = 22;

/// Capacity of a [`LoadVector`] (entries about other nodes).
pub const MAX_VECTOR: usize = 32;

/// Smallest allowed vector size.
pub const MIN_SIZE: usize = 2;

/// Default vector size.
pub const DEFAULT_SIZE: usize = 8;

/// What one node last heard about another node's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LoadEntry {
    /// Node id (1..=65534).
    pub node: u32,
    /// Load in `load::SCALE` units (1000 = one runnable task per reference
    /// CPU).
    pub load: u32,
    /// Relative CPU speed (1000 = reference CPU).
    pub speed: u32,
    /// Online CPUs.
    pub ncpus: u16,
    /// Free memory in MiB.
    pub free_mem_mb: u32,
    /// How old the information is, in milliseconds, as of the last aging.
    pub age_ms: u32,
    /// The node takes no guests (`accept` is 0): no balancer sends it a
    /// process, rather than asking and being refused.
    pub no_guests: bool,
    /// The node takes no privileged guests (`accept_root` is 0): no
    /// balancer sends it a process with root's ids or any capability.
    pub no_root: bool,
}

impl LoadEntry {
    /// The entry's wire form.
    pub fn to_bytes(self) -> [u8; ENTRY_WIRE_LEN] {
        let mut b = [0u8; ENTRY_WIRE_LEN];
        put(&mut b, 0, &self.node.to_le_bytes());
        put(&mut b, 4, &self.load.to_le_bytes());
        put(&mut b, 8, &self.speed.to_le_bytes());
        put(&mut b, 12, &self.ncpus.to_le_bytes());
        put(&mut b, 14, &self.free_mem_mb.to_le_bytes());
        put(&mut b, 18, &self.age_ms.to_le_bytes());
        let flags = if self.no_guests { FLAG_NO_GUESTS } else { 0 } | if self.no_root { FLAG_NO_ROOT } else { 0 };
        put(&mut b, ENTRY_FLAGS_AT, &[flags]);
        b
    }

    /// Parses the wire form. Every bit pattern is some entry; whether its
    /// node id is acceptable is for the caller to decide.
    pub fn from_bytes(b: &[u8; ENTRY_WIRE_LEN]) -> LoadEntry {
        LoadEntry {
            node: u32::from_le_bytes(take(b, 0)),
            load: u32::from_le_bytes(take(b, 4)),
            speed: u32::from_le_bytes(take(b, 8)),
            ncpus: u16::from_le_bytes(take(b, 12)),
            free_mem_mb: u32::from_le_bytes(take(b, 14)),
            age_ms: u32::from_le_bytes(take(b, 18)),
            no_guests: take::<1>(b, ENTRY_FLAGS_AT)[0] & FLAG_NO_GUESTS != 0,
            no_root: take::<1>(b, ENTRY_FLAGS_AT)[0] & FLAG_NO_ROOT != 0,
        }
    }
}

/// `size` forced into `MIN_SIZE..=MAX_VECTOR`.
const fn clamp_size(size: usize) -> usize {
    if size < MIN_SIZE {
        MIN_SIZE
    } else if size > MAX_VECTOR {
        MAX_VECTOR
    } else {
        size
    }
}

/// A node's own load entry plus up to `size` entries about other nodes.
///
/// Invariants: `len <= size <= MAX_VECTOR`, no two stored entries name the
/// same node, and none names this node or node 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadVector {
    me: LoadEntry,
    entries: [LoadEntry; MAX_VECTOR],
    len: usize,
    size: usize,
}

impl LoadVector {
    /// An empty vector for node `me_node` holding up to `size` entries
    /// (forced into `MIN_SIZE..=MAX_VECTOR`).
    pub fn new(me_node: u32, size: usize) -> Self {
        LoadVector {
            me: LoadEntry { node: me_node, ..LoadEntry::default() },
            entries: [LoadEntry::default(); MAX_VECTOR],
            len: 0,
            size: clamp_size(size),
        }
    }

    /// This node's id.
    pub fn node(&self) -> u32 {
        self.me.node
    }

    /// This node's own entry (always of age 0).
    pub fn me(&self) -> LoadEntry {
        self.me
    }

    /// How many entries about other nodes the vector may hold.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Changes the size (forced into `MIN_SIZE..=MAX_VECTOR`); when it
    /// shrinks below the number of stored entries, the oldest go first.
    /// Returns the size now in force.
    pub fn set_size(&mut self, size: usize) -> usize {
        self.size = clamp_size(size);
        while self.len > self.size {
            match self.oldest() {
                Some(i) => self.remove_at(i),
                None => break,
            }
        }
        self.size
    }

    /// Number of entries about other nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no other node's entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Updates this node's own figures.
    pub fn set_own(&mut self, load: u32, speed: u32, ncpus: u16, free_mem_mb: u32) {
        self.me.load = load;
        self.me.speed = speed;
        self.me.ncpus = ncpus;
        self.me.free_mem_mb = free_mem_mb;
        self.me.age_ms = 0;
    }

    /// Whether this node's own entry says it takes no privileged guests.
    pub fn set_no_root(&mut self, no_root: bool) {
        self.me.no_root = no_root;
    }

    /// Whether this node's own entry says it takes no guests.
    pub fn set_no_guests(&mut self, no_guests: bool) {
        self.me.no_guests = no_guests;
    }

    /// The stored entries about other nodes, in no particular order.
    pub fn entries(&self) -> &[LoadEntry] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    fn entries_mut(&mut self) -> &mut [LoadEntry] {
        self.entries.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// The entry about `node`, if stored.
    pub fn get(&self, node: u32) -> Option<&LoadEntry> {
        self.entries().iter().find(|e| e.node == node)
    }

    fn position(&self, node: u32) -> Option<usize> {
        self.entries().iter().position(|e| e.node == node)
    }

    /// Index of the oldest stored entry (the first of equals).
    fn oldest(&self) -> Option<usize> {
        let mut best: Option<(usize, u32)> = None;
        for (i, e) in (0..MAX_VECTOR).zip(self.entries()) {
            match best {
                Some((_, age)) if age >= e.age_ms => {}
                _ => best = Some((i, e.age_ms)),
            }
        }
        best.map(|(i, _)| i)
    }

    /// Removes the entry at `i` by moving the last entry into its place.
    fn remove_at(&mut self, i: usize) {
        if i >= self.len {
            return;
        }
        let Some(last) = self.len.checked_sub(1) else {
            return;
        };
        let moved = self.entries.get(last).copied();
        if let (Some(m), Some(slot)) = (moved, self.entries.get_mut(i)) {
            *slot = m;
        }
        self.len = last;
    }

    /// Makes every stored entry `dt_ms` older (saturating at `u32::MAX`).
    pub fn age(&mut self, dt_ms: u32) {
        for e in self.entries_mut() {
            e.age_ms = e.age_ms.saturating_add(dt_ms);
        }
    }

    /// Fills `out` with the message to send this interval: this node's own
    /// entry (age 0) followed by the youngest stored entries, at most
    /// `size / 2` of them (and no more than `out` holds). Returns the number
    /// of entries written: at most `1 + size / 2`, 0 only if `out` is empty.
    pub fn outgoing(&self, out: &mut [LoadEntry]) -> usize {
        let Some((first, rest)) = out.split_first_mut() else {
            return 0;
        };
        *first = LoadEntry { age_ms: 0, ..self.me };
        let want = (self.size / 2).min(self.len).min(rest.len());
        // Pick the `want` youngest entries by repeated minimum search; the
        // vector is tiny, so quadratic time is fine and needs no scratch
        // copy of the entries.
        let mut taken = [false; MAX_VECTOR];
        for slot in rest.iter_mut().take(want) {
            let mut best: Option<(usize, u32)> = None;
            for (j, (e, used)) in (0..MAX_VECTOR).zip(self.entries().iter().zip(taken.iter())) {
                let younger = match best {
                    Some((_, age)) => e.age_ms < age,
                    None => true,
                };
                if !*used && younger {
                    best = Some((j, e.age_ms));
                }
            }
            if let Some((j, _)) = best {
                if let Some(used) = taken.get_mut(j) {
                    *used = true;
                }
                if let Some(e) = self.entries.get(j) {
                    *slot = *e;
                }
            }
        }
        want.saturating_add(1)
    }

    /// Merges entries received from a peer. `transit_ms` is the estimated
    /// time the message spent in flight; it is added to every incoming
    /// entry's age. Entries about this node or about node 0 are ignored.
    /// For a node already stored the younger entry wins; a new node is
    /// inserted, and when the vector is full it replaces the oldest stored
    /// entry, but only if it is younger than that entry.
    ///
    /// Returns how many entries were inserted or replaced.
    pub fn merge(&mut self, incoming: &[LoadEntry], transit_ms: u32) -> usize {
        let mut changed: usize = 0;
        for inc in incoming {
            if inc.node == 0 || inc.node == self.me.node {
                continue;
            }
            let e = LoadEntry { age_ms: inc.age_ms.saturating_add(transit_ms), ..*inc };
            if let Some(i) = self.position(e.node) {
                if let Some(cur) = self.entries.get_mut(i) {
                    if e.age_ms < cur.age_ms {
                        *cur = e;
                        changed = changed.saturating_add(1);
                    }
                }
            } else if self.len < self.size {
                if let Some(slot) = self.entries.get_mut(self.len) {
                    *slot = e;
                    self.len = self.len.saturating_add(1);
                    changed = changed.saturating_add(1);
                }
            } else if let Some(i) = self.oldest() {
                if let Some(cur) = self.entries.get_mut(i) {
                    if e.age_ms < cur.age_ms {
                        *cur = e;
                        changed = changed.saturating_add(1);
                    }
                }
            }
        }
        changed
    }

    /// Drops the entry about `node` (e.g. a node found to be down).
    /// Returns whether there was one.
    pub fn remove(&mut self, node: u32) -> bool {
        match self.position(node) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Drops every entry older than `max_age_ms`; returns how many.
    pub fn expire(&mut self, max_age_ms: u32) -> usize {
        let mut dropped: usize = 0;
        let mut i: usize = 0;
        while i < self.len {
            let stale = self.entries.get(i).is_some_and(|e| e.age_ms > max_age_ms);
            if stale {
                self.remove_at(i);
                dropped = dropped.saturating_add(1);
            } else {
                i = i.saturating_add(1);
            }
        }
        dropped
    }
}

/// A peer chosen uniformly among `candidates`, or `None` if there is none.
pub fn choose_peer(rng: &mut XorShift64, candidates: &[u32]) -> Option<u32> {
    let n = u64::try_from(candidates.len()).ok()?;
    let i = usize::try_from(rng.below(n)).ok()?;
    candidates.get(i).copied()
}
