// SPDX-License-Identifier: GPL-2.0

//! Migration counters since the module loaded
//! (`/sys/kernel/roam/migrations`, which `roamctl metrics` turns into
//! Prometheus text): moves started here by cause and result, how long each
//! successful one kept its process frozen (a histogram), arrivals, and
//! system calls forwarded and served. Lock-free counters; calls nothing of
//! the engine's.

use super::events::Cause;
use core::sync::atomic::{AtomicU64, Ordering};

/// The causes, in the order the file lists them.
const CAUSES: [Cause; 6] = [Cause::Manual, Cause::Load, Cause::Memory, Cause::Recall, Cause::Expel, Cause::Syscall];

/// Upper bounds (ms) of the freeze-time buckets; a last, unbounded bucket
/// follows. From a null process on a LAN (milliseconds) to a large one on
/// an emulator (tens of seconds).
pub(crate) const FREEZE_BOUNDS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000];

/// The counters.
pub(super) struct Metrics {
    /// Per cause (index in [`CAUSES`]): moves that succeeded, that failed.
    moves: [[AtomicU64; 2]; 6],
    /// Successful moves by freeze time: one count per bound, then over.
    freeze: [AtomicU64; 11],
    freeze_sum_us: AtomicU64,
    /// Arrivals accepted here; arrivals refused or failed.
    arrivals: [AtomicU64; 2],
    /// Calls this node's guests sent home; calls deputies here served.
    calls_forwarded: AtomicU64,
    calls_served: AtomicU64,
}

const ZERO: AtomicU64 = AtomicU64::new(0);
const ROW: [AtomicU64; 2] = [ZERO; 2];

impl Metrics {
    pub(super) const fn new() -> Self {
        Metrics { moves: [ROW; 6], freeze: [ZERO; 11], freeze_sum_us: ZERO, arrivals: [ZERO; 2], calls_forwarded: ZERO, calls_served: ZERO }
    }

    /// A move started here ended: `ok`, after `frozen_us` with its process
    /// stopped.
    pub(super) fn moved(&self, cause: Cause, ok: bool, frozen_us: u64) {
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
        writeln!(w, "arrivals_accepted {}", get(&self.arrivals[0]))?;
        writeln!(w, "arrivals_refused {}", get(&self.arrivals[1]))?;
        writeln!(w, "calls_forwarded {}", get(&self.calls_forwarded))?;
        writeln!(w, "calls_served {}", get(&self.calls_served))
    }
}
