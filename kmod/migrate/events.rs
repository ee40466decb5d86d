// SPDX-License-Identifier: GPL-2.0

//! The migration event log (`/sys/kernel/roam/events`): why each process
//! moved and how it ended. Owns [`Cause`], [`Event`] and the ring they are
//! kept in; calls nothing of the engine's.

use crate::abi::refusal;
use crate::image;
use kernel::prelude::*;

/// Why a process moved (the event log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Cause {
    /// `roamctl migrate`.
    #[default]
    Manual,
    /// The balancer: load.
    Load,
    /// The balancer: memory ushering.
    Memory,
    /// Its home asked (`migrate PID home/NODE` at home, `bring`).
    Recall,
    /// This node expelled its guests.
    Expel,
    /// A call that must run at home (fork, exec, ...).
    Syscall,
}

impl Cause {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Cause::Manual => "manual",
            Cause::Load => "load",
            Cause::Memory => "memory",
            Cause::Recall => "recall",
            Cause::Expel => "expel",
            Cause::Syscall => "syscall",
        }
    }

    /// Its code in the image header ([`image::cause`]).
    pub(super) const fn code(self) -> u16 {
        match self {
            Cause::Manual => image::cause::MANUAL,
            Cause::Load => image::cause::LOAD,
            Cause::Memory => image::cause::MEMORY,
            Cause::Recall => image::cause::RECALL,
            Cause::Expel => image::cause::EXPEL,
            Cause::Syscall => image::cause::SYSCALL,
        }
    }
}

/// One migration, as `/sys/kernel/roam/events` shows it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Event {
    seq: u64,
    ms: u64,
    pid: u32,
    comm: [u8; 16],
    from: u32,
    to: u32,
    cause: Cause,
    /// 0, or the `refusal` code it failed with.
    result: u32,
}

impl Event {
    /// The move of `pid` (named `comm`) from node `from` to `to`, now,
    /// which ended with `result` (0: it moved).
    pub(super) fn new(pid: u32, comm: [u8; 16], from: u32, to: u32, cause: Cause, result: u32) -> Self {
        Event { seq: 0, ms: crate::sys::time::now_ms(), pid, comm, from, to, cause, result }
    }
}

/// The last [`EVENTS`] migrations started from this node.
pub(super) const EVENTS: usize = 256;

/// The ring of the last [`EVENTS`] events.
pub(super) struct EventLog {
    /// `EVENTS` slots (allocated once: too big for the stack).
    ring: KVec<Event>,
    next: u64,
}

impl EventLog {
    pub(super) fn new() -> Result<Self> {
        Ok(EventLog { ring: KVec::from_elem(Event::default(), EVENTS, GFP_KERNEL)?, next: 1 })
    }

    /// Adds `e`, numbered next.
    pub(super) fn record(&mut self, mut e: Event) {
        e.seq = self.next;
        self.next += 1;
        let i = (e.seq as usize) % EVENTS;
        if let Some(slot) = self.ring.get_mut(i) {
            *slot = e;
        }
    }

    /// The last 36 events, oldest first, one per line (the log keeps 256),
    /// of the processes `visible` admits.
    pub(super) fn show(&self, out: &mut impl core::fmt::Write, visible: impl Fn(u32) -> bool) -> core::fmt::Result {
        // The newest SHOWN fit in one sysfs page.
        const SHOWN: u64 = 36;
        let first = self.next.saturating_sub(SHOWN).max(1);
        for seq in first..self.next {
            let Some(e) = self.ring.get((seq as usize) % EVENTS) else { continue };
            if e.seq != seq || !visible(e.pid) {
                continue;
            }
            let comm = core::str::from_utf8(super::until_nul(&e.comm)).unwrap_or("?");
            writeln!(
                out,
                "seq={} ms={} pid={} comm={} from={} to={} cause={} result={}",
                e.seq,
                e.ms,
                e.pid,
                comm,
                e.from,
                e.to,
                e.cause.name(),
                refusal::name(e.result)
            )?;
        }
        Ok(())
    }
}
