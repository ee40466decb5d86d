// SPDX-License-Identifier: GPL-2.0

//! The pool of parked adopt stubs: processes started ahead of time, so
//! that an arrival does not wait for a user program to start (a fork, an
//! `execve` and the C library's start-up took about half of a null move
//! under emulation).
//!
//! A pool thread (`roam-guest`) starts `/bin/roam-adopt --park` as a
//! usermode helper. Before the program runs, the new process is noted in
//! its slot and gets SIGUSR1 blocked; the stub then waits for that signal
//! holding nothing of the module (no open `/dev/roam`, no module
//! reference), so a node with parked stubs unloads like one without. An
//! arrival takes a parked stub ([`Mover::pool_give`]): its slot gets the
//! arrival and a module reference, and the stub SIGUSR1. The stub opens
//! `/dev/roam` and adopts with ticket 0, which names the arrival given to
//! the calling stub ([`Mover::pool_claim`]). From there on it is an
//! ordinary stub: when it ends, its thread reports the end as
//! [`Mover::stub_ended`] does for any stub.
//!
//! Why parked processes rather than creating the task from the kernel: a
//! process made by the module would need the exec-time set-up the kernel
//! does only inside `execve` (a fresh mm, credentials, the vDSO, the
//! personality), which a module cannot call piecemeal; a parked stub has
//! all of that already and differs from a freshly started one only in its
//! pid and start time.
//!
//! The pool is refilled after each adoption (from the adopted process,
//! once it runs) and by the balancer's tick; `/sys/kernel/roam/adopt_pool`
//! sets its size (0 turns it off). Unloading kills the parked stubs.

use super::adopt::{take_done, STUB};
use crate::abi::{cantmove, Why};
use super::incoming::Incoming;
use super::{Migration, Mover, SIGKILL};
use crate::sys::task::TaskRef;
use crate::sys::taskwork::ModuleRef;
use crate::sys::thread::KThread;
use crate::sys::umh;
use core::sync::atomic::Ordering;
use kernel::{c_str, prelude::*, sync::Arc};

/// Most stubs a node keeps parked (`adopt_pool`'s upper bound).
pub(crate) const MAX_POOL: u32 = 8;
/// Stubs parked by default.
pub(crate) const DEFAULT_POOL: u32 = 2;

const SIGUSR1: u32 = 10;

/// A pool stub: starting, parked, or given an arrival.
pub(super) struct Parked {
    id: u64,
    /// Its process, once started (noted before it runs the stub program).
    task: Option<TaskRef>,
    /// The arrival it was given, and the module reference that a stub
    /// becoming a guest holds (as every stub thread does).
    given: Option<(Arc<Incoming>, ModuleRef)>,
    /// Its thread's handle could not be kept: the stub must end (or never
    /// run) so that the thread can be joined at once.
    cancel: bool,
}

/// The pool's part of the registry.
pub(super) struct Pool {
    parked: KVec<Parked>,
    next_id: u64,
    /// Cleared on unload: no stub is started any more.
    open: bool,
}

impl Pool {
    pub(super) const fn new() -> Self {
        Pool { parked: KVec::new(), next_id: 1, open: true }
    }

    /// Stubs started or parked and not yet given an arrival.
    fn idle(&self) -> usize {
        self.parked.iter().filter(|s| s.given.is_none()).count()
    }
}

impl Mover {
    /// Starts stubs until `adopt_pool` of them are idle; kills the idle
    /// parked ones beyond that.
    pub(crate) fn pool_fill(self: &Arc<Self>) {
        let want = self.ctl.adopt_pool.load(Ordering::Relaxed).min(MAX_POOL) as usize;
        {
            let r = self.reg.lock();
            let mut idle = r.pool.idle();
            for s in r.pool.parked.iter().filter(|s| s.given.is_none()) {
                if idle <= want {
                    break;
                }
                if let Some(t) = &s.task {
                    t.signal(SIGKILL);
                    idle -= 1;
                }
            }
        }
        for _ in 0..MAX_POOL {
            let id = {
                let mut r = self.reg.lock();
                if !r.pool.open || r.pool.idle() >= want {
                    return;
                }
                let id = r.pool.next_id;
                r.pool.next_id += 1;
                if r.pool.parked.push(Parked { id, task: None, given: None, cancel: false }, GFP_KERNEL).is_err() {
                    return;
                }
                id
            };
            let me2 = self.clone();
            match KThread::spawn(c_str!("roam-guest"), move || me2.run_parked(id)) {
                Ok(th) => {
                    let mut r = self.reg.lock();
                    let ended = take_done(&mut r.stubs);
                    // Room first, under the same lock, so that the push
                    // cannot fail and drop (join) the handle of a stub
                    // that is parked.
                    if r.stubs.reserve(1, GFP_KERNEL).is_ok() {
                        let _ = r.stubs.push((0, th), GFP_KERNEL);
                        drop(r);
                        drop(ended);
                    } else {
                        // Out of memory: the stub goes (or never runs),
                        // then its thread is joined.
                        if let Some(s) = r.pool.parked.iter_mut().find(|s| s.id == id) {
                            s.cancel = true;
                            if let Some(t) = &s.task {
                                t.signal(SIGKILL);
                            }
                        }
                        drop(r);
                        drop(ended);
                        drop(th);
                        return;
                    }
                }
                Err(_) => {
                    let _ = crate::lists::retain_owned(&mut self.reg.lock().pool.parked, |s| s.id != id);
                    return;
                }
            }
        }
    }

    /// Body of a pool thread: runs a parked stub and, once it ended, what
    /// it was given (if anything) ends with it.
    fn run_parked(&self, id: u64) {
        let note = |t: TaskRef| -> bool {
            let mut r = self.reg.lock();
            let open = r.pool.open;
            match r.pool.parked.iter_mut().find(|s| s.id == id) {
                Some(s) if open && !s.cancel => {
                    s.task = Some(t);
                    true
                }
                _ => false,
            }
        };
        let status = umh::run_and_wait_noting(STUB, &[c_str!("--park")], 1 << (SIGUSR1 - 1), &note);
        let slot = {
            let mut r = self.reg.lock();
            crate::lists::take_where(&mut r.pool.parked, |s| s.id == id).ok().and_then(|v| v.into_iter().next())
        };
        if let Some((inc, _mref)) = slot.and_then(|s| s.given) {
            self.stub_ended(&inc, status);
        }
    }

    /// Gives the arrival `inc` to a parked stub and wakes it; false if
    /// none is parked.
    pub(super) fn pool_give(&self, inc: &Arc<Incoming>) -> bool {
        let mut r = self.reg.lock();
        let Some(s) = r.pool.parked.iter_mut().find(|s| s.given.is_none() && s.task.as_ref().is_some_and(|t| !t.is_exiting())) else {
            return false;
        };
        s.given = Some((inc.clone(), ModuleRef::new()));
        if let Some(t) = &s.task {
            t.signal(SIGUSR1);
        }
        drop(r);
        self.metrics.adopted(true);
        true
    }

    /// The ticket of the arrival given to the calling task, if it is a
    /// parked stub that was given one.
    pub(super) fn pool_claim(&self) -> Option<u64> {
        let r = self.reg.lock();
        let s = r.pool.parked.iter().find(|s| s.task.as_ref().is_some_and(|t| t.is_current()))?;
        s.given.as_ref().map(|g| g.0.ticket)
    }

    /// Why `t` cannot migrate: the eligibility rules, plus `adopt-stub`
    /// for a stub of the pool (which they cannot know).
    pub(super) fn reasons(&self, t: &TaskRef) -> u32 {
        let ours = self.reg.lock().pool.parked.iter().any(|s| s.task.as_ref().is_some_and(|p| p.same(t)));
        self.migration.reasons(t) | if ours { cantmove::ADOPT_STUB } else { 0 }
    }

    /// `ROAM_IOC_WHY`, with [`Self::reasons`].
    pub(crate) fn why(&self, pid: u32) -> Result<Why> {
        let t = Migration::find_permitted(pid)?;
        Ok(Why { pid, reasons: self.reasons(&t), nr_threads: t.nr_threads() })
    }

    /// Idle stubs parked now (`/sys/kernel/roam/migrations`).
    pub(super) fn pool_parked(&self) -> usize {
        self.reg.lock().pool.parked.iter().filter(|s| s.given.is_none() && s.task.is_some()).count()
    }

    /// Unload: no more stubs; the parked ones are killed, so that their
    /// threads end and can be joined.
    pub(super) fn pool_close(&self) {
        let mut r = self.reg.lock();
        r.pool.open = false;
        for s in r.pool.parked.iter().filter(|s| s.given.is_none()) {
            if let Some(t) = &s.task {
                t.signal(SIGKILL);
            }
        }
    }
}
