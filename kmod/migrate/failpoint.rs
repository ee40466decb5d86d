// SPDX-License-Identifier: GPL-2.0

//! The node's armed failpoint (`/sys/kernel/roam/failpoint`, root only):
//! one migration phase ([`crate::faults::Phase`]) that fails once, after
//! a number of passes, as it would fail by itself. The phases' code asks
//! [`Failpoint::hit`] and takes its own error path when told to. For
//! tests: nothing is armed unless root writes the file.
//!
//! Calls `faults` (the names and the parser) only.

use crate::faults::{self, Armed, Phase};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

/// One armed phase (0: none) and the passes it lets go by first.
pub(crate) struct Failpoint {
    phase: AtomicU32,
    skip: AtomicU32,
}

impl Failpoint {
    pub(crate) const fn new() -> Self {
        Failpoint { phase: AtomicU32::new(0), skip: AtomicU32::new(0) }
    }

    /// A write to `failpoint`: arms a phase or disarms. EINVAL (and why,
    /// in the log) for anything else.
    pub(crate) fn store(&self, input: &[u8]) -> Result {
        match faults::parse(input) {
            Ok(Armed::None) => self.phase.store(0, Ordering::Release),
            Ok(Armed::At { phase, skip }) => {
                self.phase.store(0, Ordering::Release);
                self.skip.store(skip, Ordering::Release);
                self.phase.store(phase as u32, Ordering::Release);
                pr_info!("failpoint {} armed: fails after {} pass(es)\n", phase.name(), skip);
            }
            Err(e) => {
                pr_warn!("failpoint: refused: {}\n", e.reason());
                return Err(EINVAL);
            }
        }
        Ok(())
    }

    /// What `failpoint` shows: `none`, or the armed phase and the passes
    /// it still lets go by.
    pub(crate) fn show(&self, out: &mut impl Write) -> core::fmt::Result {
        match Phase::from_u32(self.phase.load(Ordering::Acquire)) {
            Some(p) => writeln!(out, "{} {}", p.name(), self.skip.load(Ordering::Acquire)),
            None => writeln!(out, "none"),
        }
    }

    /// Whether `p` fails now: true once, after the armed passes, and the
    /// failpoint is disarmed. Any context (atomics only, and a log line
    /// when it fires).
    pub(crate) fn hit(&self, p: Phase) -> bool {
        if self.phase.load(Ordering::Acquire) != p as u32 {
            return false;
        }
        if self.skip.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
            return false;
        }
        let fired = self.phase.compare_exchange(p as u32, 0, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if fired {
            pr_info!("failpoint {}: failure injected\n", p.name());
        }
        fired
    }
}
