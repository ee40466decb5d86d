// SPDX-License-Identifier: GPL-2.0

//! Migration counters since the module loaded
//! (`/sys/kernel/roam/migrations`, which `roamctl metrics` turns into
//! Prometheus text): moves started here by cause and result, how long each
//! successful one kept its process frozen (a histogram) and where that
//! time went (phase sums, both sides), arrivals, and system calls
//! forwarded and served. Lock-free counters; calls nothing of the
//! engine's.

use super::events::Cause;
use core::sync::atomic::{AtomicU64, Ordering};

/// The causes, in the order the file lists them.
const CAUSES: [Cause; 6] = [Cause::Manual, Cause::Load, Cause::Memory, Cause::Recall, Cause::Expel, Cause::Syscall];

/// Upper bounds (ms) of the freeze-time buckets; a last, unbounded bucket
/// follows. From a null process on a LAN (milliseconds) to a large one on
/// an emulator (tens of seconds).
pub(crate) const FREEZE_BOUNDS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

/// The phases of a move out, in order, as the file names them (each
/// `phase_out_NAME_us` is a sum over the successful moves): capturing the
/// process; from `Begin` sent to the destination ready (admission, the
/// target started and its address space cleared); the rest of the image
/// sent (signals, timers, credentials, areas, pages); from `Commit` sent
/// to the destination's acceptance (the restorer built).
pub(crate) const OUT_PHASES: [&str; 4] = ["capture", "ready", "send", "commit"];

/// The phases of an accepted arrival, as seen here: from `Begin` to the
/// target checked in with its address space cleared; from then to
/// `Commit` received (the image written in as it arrives); the commit
/// itself (image checked, restorer written).
pub(crate) const IN_PHASES: [&str; 3] = ["target", "receive", "commit"];

/// Time stamps of a move in progress: [`Phases::mark`] ends the current
/// phase and starts the next.
pub(super) struct Phases {
    last_ns: u64,
    next: usize,
    pub(super) us: [u64; 4],
}

impl Phases {
    /// Phase 0 starts at `start_ns`.
    pub(super) fn new(start_ns: u64) -> Self {
        Phases { last_ns: start_ns, next: 0, us: [0; 4] }
    }

    /// Ends the current phase now (phases past the last are ignored).
    pub(super) fn mark(&mut self) {
        let now = crate::sys::time::now_ns();
        if let Some(u) = self.us.get_mut(self.next) {
            *u = now.saturating_sub(self.last_ns) / 1000;
        }
        self.last_ns = now;
        self.next += 1;
    }
}

/// The counters.
pub(super) struct Metrics {
    /// Per cause (index in [`CAUSES`]): moves that succeeded, that failed.
    moves: [[AtomicU64; 2]; 6],
    /// Successful moves by freeze time: one count per bound, then over.
    freeze: [AtomicU64; 11],
    freeze_sum_us: AtomicU64,
    /// Sums (µs) of the phases of successful moves out and of accepted
    /// arrivals ([`OUT_PHASES`], [`IN_PHASES`]).
    out_phase_us: [AtomicU64; 4],
    in_phase_us: [AtomicU64; 3],
    /// Arrivals accepted here; arrivals refused or failed.
    arrivals: [AtomicU64; 2],
    /// Calls this node's guests sent home; calls deputies here served.
    calls_forwarded: AtomicU64,
    calls_served: AtomicU64,
    /// Pages of areas that destinations mapped from their own files
    /// instead of receiving them (moves out that succeeded).
    pages_from_files: AtomicU64,
    /// Arrivals here whose process was a parked stub of the pool; ones
    /// for which a stub was started.
    adoptions: [AtomicU64; 2],
}

const ZERO: AtomicU64 = AtomicU64::new(0);
const ROW: [AtomicU64; 2] = [ZERO; 2];

impl Metrics {
    pub(super) const fn new() -> Self {
        Metrics { moves: [ROW; 6], freeze: [ZERO; 11], freeze_sum_us: ZERO, out_phase_us: [ZERO; 4], in_phase_us: [ZERO; 3], arrivals: [ZERO; 2], calls_forwarded: ZERO, calls_served: ZERO, pages_from_files: ZERO, adoptions: [ZERO; 2] }
    }

    /// A move started here ended: `ok`, after `frozen_us` with its process
    /// stopped, spent as `phases` says.
    pub(super) fn moved(&self, cause: Cause, ok: bool, frozen_us: u64, phases: &Phases) {
        let i = CAUSES.iter().position(|c| *c == cause).unwrap_or(0);
        if let Some(row) = self.moves.get(i) {
            row[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
        }
        if ok {
            let b = FREEZE_BOUNDS_MS.iter().position(|&m| frozen_us <= m * 1000).unwrap_or(FREEZE_BOUNDS_MS.len());
            if let Some(c) = self.freeze.get(b) {
                c.fetch_add(1, Ordering::Relaxed);
            }
            self.freeze_sum_us.fetch_add(frozen_us, Ordering::Relaxed);
            for (sum, us) in self.out_phase_us.iter().zip(phases.us.iter()) {
                sum.fetch_add(*us, Ordering::Relaxed);
            }
        }
    }

    /// An accepted arrival spent `us` in the phases of [`IN_PHASES`].
    pub(super) fn arrival_phases(&self, us: [u64; 3]) {
        for (sum, us) in self.in_phase_us.iter().zip(us.iter()) {
            sum.fetch_add(*us, Ordering::Relaxed);
        }
    }

    /// A process's image arrived whole and was accepted here (`ok`), or
    /// its arrival was refused or failed.
    pub(super) fn arrived(&self, ok: bool) {
        self.arrivals[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn forwarded(&self) {
        self.calls_forwarded.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn from_files(&self, pages: u64) {
        self.pages_from_files.fetch_add(pages, Ordering::Relaxed);
    }

    /// An arrival was given a parked stub (`pooled`) or a new one.
    pub(super) fn adopted(&self, pooled: bool) {
        self.adoptions[usize::from(!pooled)].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn served(&self) {
        self.calls_served.fetch_add(1, Ordering::Relaxed);
    }

    /// The file: `name value` lines. The freeze buckets are cumulative, as
    /// Prometheus histograms are (`freeze_le_ms_B` counts moves frozen for
    /// at most B ms; `freeze_count` counts them all).
    pub(super) fn show(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (c, row) in CAUSES.iter().zip(self.moves.iter()) {
            writeln!(w, "moves_{}_ok {}", c.name(), get(&row[0]))?;
            writeln!(w, "moves_{}_failed {}", c.name(), get(&row[1]))?;
        }
        let mut below = 0;
        for (bound, c) in FREEZE_BOUNDS_MS.iter().zip(self.freeze.iter()) {
            below += get(c);
            writeln!(w, "freeze_le_ms_{} {}", bound, below)?;
        }
        below += self.freeze.last().map(get).unwrap_or(0);
        writeln!(w, "freeze_count {}", below)?;
        writeln!(w, "freeze_sum_us {}", get(&self.freeze_sum_us))?;
        for (name, sum) in OUT_PHASES.iter().zip(self.out_phase_us.iter()) {
            writeln!(w, "phase_out_{}_us {}", name, get(sum))?;
        }
        for (name, sum) in IN_PHASES.iter().zip(self.in_phase_us.iter()) {
            writeln!(w, "phase_in_{}_us {}", name, get(sum))?;
        }
        writeln!(w, "arrivals_accepted {}", get(&self.arrivals[0]))?;
        writeln!(w, "arrivals_refused {}", get(&self.arrivals[1]))?;
        writeln!(w, "calls_forwarded {}", get(&self.calls_forwarded))?;
        writeln!(w, "calls_served {}", get(&self.calls_served))?;
        writeln!(w, "pages_from_files {}", get(&self.pages_from_files))?;
        writeln!(w, "adoptions_parked {}", get(&self.adoptions[0]))?;
        writeln!(w, "adoptions_started {}", get(&self.adoptions[1]))
    }
}
