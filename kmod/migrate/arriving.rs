// SPDX-License-Identifier: GPL-2.0

//! A guest that has just arrived is not yet itself: until its restorer's
//! `rt_sigreturn`, its registers are the restorer's, in a scratch area
//! that is not part of the process. A move captured then would carry the
//! restorer's state without its code (the process would fault where it
//! lands), so work that moves a guest (a recall, an expel, a `roamctl
//! migrate` on its host) or a process just back home (a `roamctl
//! migrate` there) waits for the restorer to finish:
//! [`Mover::when_restored`] holds it, and the hook releases it at that
//! `rt_sigreturn` ([`Mover::release_restored`]).
//!
//! A recall can even come before the guest exists here: home hears of the
//! move's success (the Go) before the stub here has taken the process
//! over. Such a recall, about a process whose arrival from that node with
//! that token is under way here, is kept ([`Mover::keep_early_recall`])
//! and delivered once the guest is registered.
//!
//! Calls the registry, the hook table and `remote.rs`.

use super::registry::Registry;
use super::Mover;
use crate::sys::task::TaskRef;
use crate::sys::taskwork::Prepared;
use crate::sys::{time, uctx};
use kernel::{prelude::*, sync::Arc};

/// Work held for a guest until its restorer has finished.
pub(super) struct Held {
    pid: u32,
    work: Prepared,
}

/// A recall that came before its guest was registered.
#[derive(Clone, Copy)]
pub(super) struct EarlyRecall {
    from: u32,
    home_pid: u32,
    dest: u32,
    token: u64,
    at_ms: u64,
}

/// Most early recalls kept at once; and how long one is kept.
const MAX_EARLY: usize = 64;
const EARLY_MS: u64 = 60_000;

impl Mover {
    /// Runs `f` now, in the current task's context, or, if the current
    /// task is a guest still in its restorer, once the restorer has
    /// finished.
    pub(super) fn when_restored(self: &Arc<Self>, f: impl FnOnce() + Send + 'static) {
        let tgid = uctx::ids().1;
        let restoring = {
            let mut t = self.hook_ids.lock();
            match t.iter_mut().find(|s| s.pid == tgid && tgid != 0) {
                Some(s) if s.restoring => {
                    s.held = true;
                    true
                }
                _ => false,
            }
        };
        if !restoring {
            f();
            return;
        }
        pr_info!("pid {}: a move is held until its restorer finishes\n", tgid);
        let pushed = match Prepared::new(f) {
            Ok(b) => self.reg.lock().held.push(Held { pid: tgid, work: b }, GFP_KERNEL).is_ok(),
            Err(_) => false,
        };
        if !pushed {
            pr_warn!("guest pid {}: out of memory holding work until its restore ends; dropped\n", tgid);
        }
    }

    /// Queues `f` on task `t` (interrupting it), to run in its context by
    /// [`Self::when_restored`]: at once, or once its restorer has
    /// finished. Every move of a process by another task goes through it.
    pub(super) fn queue_when_restored<F>(self: &Arc<Self>, t: &TaskRef, f: F) -> Result
    where
        F: FnOnce(&Arc<Mover>) + Send + 'static,
    {
        let me = self.clone();
        t.queue_work(
            move || {
                let me2 = me.clone();
                me.when_restored(move || f(&me2))
            },
            true,
        )
    }

    /// The hook saw guest `tgid`'s restorer finish (in its context, from
    /// task_work): the restorer's scratch area is unmapped, so that the
    /// process's `/proc/PID/maps` here shows only its own areas, and the
    /// work held for it (if `held`) runs.
    pub(super) fn release_restored(&self, tgid: u32, held: bool) {
        let scratch = self.reg.lock().guest_mut(tgid).map(|g| core::mem::take(&mut g.scratch)).unwrap_or(0);
        unmap_scratch(tgid, scratch);
        if !held {
            return;
        }
        let held = {
            let mut r = self.reg.lock();
            crate::lists::take_where(&mut r.held, |h| h.pid == tgid).unwrap_or_default()
        };
        for h in held.into_iter() {
            h.work.run();
        }
    }

    /// Process `tgid`, back home, finished its restorer (in its context,
    /// from task_work): the restorer's scratch area is unmapped and the
    /// hook forgets the process ([`Self::release_restored`] runs after
    /// it, for work held meanwhile).
    pub(super) fn back_restored(&self, tgid: u32) {
        let start = crate::sys::task::TaskRef::find(tgid).map(|t| t.start_time()).unwrap_or(0);
        let scratch = self.reg.lock().homecoming_mut(tgid).filter(|h| h.start == start).map(|h| core::mem::take(&mut h.scratch)).unwrap_or(0);
        unmap_scratch(tgid, scratch);
        self.unhook(tgid);
    }

    /// The work held for `pid` (a guest that ended before its restorer
    /// finished), for the caller to drop outside the registry lock.
    pub(super) fn take_held(&self, r: &mut Registry, pid: u32) -> KVec<Held> {
        crate::lists::take_where(&mut r.held, |h| h.pid == pid).unwrap_or_default()
    }

    /// A recall from `from` about `home_pid` found no guest: kept if a
    /// process with that home and token is arriving here (true).
    pub(super) fn keep_early_recall(&self, from: u32, home_pid: u32, dest: u32, token: u64) -> bool {
        let arriving = {
            let r = self.reg.lock();
            let mut v = KVec::new();
            for i in r.incoming.iter().filter(|i| i.from == from && !i.home) {
                if v.push(i.clone(), GFP_KERNEL).is_err() {
                    return false;
                }
            }
            v
        };
        let ours = arriving.iter().any(|i| {
            let st = i.state.lock();
            st.header.tgid == home_pid && st.header.token == token
        });
        if !ours {
            return false;
        }
        let now = time::now_ms();
        let mut r = self.reg.lock();
        let _ = crate::lists::retain(&mut r.early_recalls, |e| now.saturating_sub(e.at_ms) < EARLY_MS);
        if r.early_recalls.len() >= MAX_EARLY {
            return false;
        }
        r.early_recalls.push(EarlyRecall { from, home_pid, dest, token, at_ms: now }, GFP_KERNEL).is_ok()
    }

    /// Guest `home_pid` of node `home` (with `token`) is registered here:
    /// a recall that came early is delivered now (and held until its
    /// restorer finishes, as any).
    pub(super) fn deliver_early_recall(self: &Arc<Self>, home: u32, home_pid: u32, token: u64) {
        let early = {
            let mut r = self.reg.lock();
            crate::lists::take_where(&mut r.early_recalls, |e| e.from == home && e.home_pid == home_pid && e.token == token).unwrap_or_default()
        };
        if let Some(e) = early.iter().next() {
            pr_info!("pid {} of node {}: a recall that came before it was taken over here is carried out\n", home_pid, home);
            self.guest_recall(e.from, e.home_pid, e.dest, e.token);
        }
    }
}

/// A buffer in a guest's address space for a call forwarded on its behalf
/// with data the module puts there (the gathered bytes of a vectored
/// call, a `stat` of a file to map): mapped for the call, unmapped when
/// dropped, so that between calls the process holds nothing of roam's.
pub(super) struct CallBuffer {
    /// Its address; `restore::SCRATCH_LEN` bytes, read-write.
    pub(super) addr: u64,
}

impl Drop for CallBuffer {
    fn drop(&mut self) {
        let _ = crate::sys::umem::unmap(self.addr, crate::restore::SCRATCH_LEN as u64);
    }
}

impl Mover {
    /// A [`CallBuffer`] in the current task, guest `tgid`; `None` if it is
    /// not a guest here or the mapping fails.
    pub(super) fn call_buffer(&self, tgid: u32) -> Option<CallBuffer> {
        self.reg.lock().guest(tgid)?;
        let rw = crate::image::PROT_READ | crate::image::PROT_WRITE;
        crate::sys::umem::map_anon(0, crate::restore::SCRATCH_LEN as u64, rw, false).ok().map(|addr| CallBuffer { addr })
    }
}

/// Unmaps the restorer's scratch area at `scratch` (0: none) of the
/// current task, process `tgid`.
fn unmap_scratch(tgid: u32, scratch: u64) {
    if scratch == 0 {
        return;
    }
    if let Err(e) = crate::sys::umem::unmap(scratch, crate::restore::SCRATCH_LEN as u64) {
        pr_warn!("pid {}: cannot unmap its restorer's scratch area at {:#x}: {:?}\n", tgid, scratch, e);
    }
}
