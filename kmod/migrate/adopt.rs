// SPDX-License-Identifier: GPL-2.0

//! The target of an arrival takes the process over. On a destination a
//! `roam-guest` kthread starts the adopt stub (`/bin/roam-adopt TICKET`),
//! which checks in from `ROAM_IOC_ADOPT`, waits for the image to be
//! installed in its address space, takes the owner's identity and returns
//! into the restorer — it is now the guest, and its end is reported home.
//! At home the deputy checks in the same way and takes its process back.
//! Usually the stub is already running, parked in the pool (`pool.rs`),
//! and adopts with ticket 0.
//!
//! Calls the registry, the hook table (`hook.rs`) and the send helpers;
//! owns no type.

use super::incoming::{Incoming, Install};
use super::hook::GuestIds;
use super::msg::ProcMsg;
use super::{wait_ms, Mover, COMMIT_TIMEOUT_MS, READY_TIMEOUT_MS, SIGKILL};
use crate::faults::Phase;
use crate::image;
use crate::sys::taskwork::ModuleRef;
use crate::sys::thread::KThread;
use crate::image::CpuTimes;
use crate::sys::{cred, err, placement, time, timers, uctx, umem, umh};
use crate::image::Context;
use core::sync::atomic::Ordering;
use kernel::{bindings, c_str, prelude::*, sync::Arc};

/// Where the adopt stub lives on every node.
pub(super) const STUB: &kernel::str::CStr = c_str!("/bin/roam-adopt");

impl Mover {
    /// Gives the arrival `inc` a process to become: a parked stub of the
    /// pool (`pool.rs`) if one is ready, else a stub started for it.
    pub(super) fn start_stub(self: &Arc<Self>, inc: &Arc<Incoming>) -> Result {
        if self.pool_give(inc) {
            return Ok(());
        }
        self.metrics.adopted(false);
        let me2 = self.clone();
        let inc2 = inc.clone();
        let th = KThread::spawn(c_str!("roam-guest"), move || me2.run_stub(&inc2))?;
        // Reap the threads of stubs that ended, outside the lock (each
        // `kthread_stop` waits for its thread to notice).
        let (ended, pushed) = {
            let mut r = self.reg.lock();
            let ended = take_done(&mut r.stubs);
            (ended, r.stubs.push((inc.ticket, th), GFP_KERNEL))
        };
        drop(ended);
        pushed.map_err(Into::into)
    }

    /// Body of a `roam-guest` thread: runs the stub (which becomes the
    /// guest) and reports its end to its home node.
    fn run_stub(&self, inc: &Arc<Incoming>) {
        let _mref = ModuleRef::new();
        let mut arg = [0u8; 24];
        let s = fmt_u64(inc.ticket, &mut arg);
        let Ok(cs) = kernel::str::CStr::from_bytes_with_nul(s) else { return };
        let status = umh::run_and_wait(STUB, &[cs]);
        self.stub_ended(inc, status);
        // This thread's handle is joined on unload (joining ourselves here
        // would deadlock).
    }

    /// The stub that was to become (or became) `inc`'s process ended with
    /// `status`: the arrival fails if it has not yet; a guest's end is
    /// reported to its home node.
    pub(super) fn stub_ended(&self, inc: &Arc<Incoming>, status: Result<i32>) {
        let (home_node, home_tgid) = {
            let st = inc.state.lock();
            (st.header.home_node, st.header.tgid)
        };
        // Not started: the arrival fails (if it has not yet).
        {
            let mut t = inc.target.lock();
            if t.install == Install::Waiting {
                t.install = Install::Failed;
            }
        }
        inc.cv.notify_all();
        let pid = inc.target.lock().pid;
        let (left, held) = {
            let mut r = self.reg.lock();
            let left = r.guests.iter().find(|g| g.pid == pid && g.home_tgid == home_tgid).map(|g| (g.left, g.token));
            let _ = crate::lists::retain_owned(&mut r.guests, |g| !(g.pid == pid && g.home_tgid == home_tgid));
            (left, self.take_held(&mut r, pid))
        };
        // Work held for a restore that never ended goes unrun.
        drop(held);
        self.unhook(pid);
        if let Some((false, token)) = left {
            let status = status.unwrap_or(SIGKILL as i32) as u32;
            pr_info!("guest pid {} (pid {} of node {}) ended: status {:#x}\n", pid, home_tgid, home_node, status);
            let _ = self.send_proc(home_node, ProcMsg::Exit { home_pid: home_tgid, status, token });
        }
    }

    /// `ROAM_IOC_ADOPT`, in the stub's context.
    /// Ticket 0 names the arrival given to the calling parked stub. Once
    /// the process is adopted, the pool is topped up (from its context,
    /// after the move, so that starting stubs does not slow the arrival).
    pub(crate) fn adopt(self: &Arc<Self>, ticket: u64) -> Result {
        let inc = self.stub_arrival(ticket)?;
        let (home, home_pid, token) = self.take_over_as_stub(&inc)?;
        self.deliver_early_recall(home, home_pid, token);
        self.pool_fill();
        Ok(())
    }

    /// `ROAM_IOC_ADOPT_CLOCKS`, in the stub's context before it adopts:
    /// the offsets its time namespace needs (monotonic, boottime, ns).
    pub(crate) fn adopt_clocks(&self, ticket: u64) -> Result<(i64, i64)> {
        Ok(self.stub_arrival(ticket)?.clock_off)
    }

    /// `ROAM_IOC_ADOPT_USER`, in the stub's context before it adopts: the
    /// arriving process's real uid, which the stub takes on (see
    /// `AdoptUser`) so that this node counts the process as its user's.
    /// With it, the cgroup and the label the stub must take on, each
    /// empty where the stub has it already.
    pub(crate) fn adopt_user(&self, ticket: u64) -> Result<(u32, Context)> {
        let (uid, ctx) = {
            let inc = self.stub_arrival(ticket)?;
            let st = inc.state.lock();
            (st.header.uid, st.header.ctx)
        };
        Ok((uid, ctx.missing_from(&placement::read()?)))
    }

    /// The arrival a stub asks about with `ticket`; only a root process
    /// started by the module's kernel thread may ask.
    fn stub_arrival(&self, ticket: u64) -> Result<Arc<Incoming>> {
        if !cred::may_configure() || !cred::parent_is_kthread() {
            return Err(EPERM);
        }
        // Ticket 0: the arrival given to this parked stub.
        let ticket = if ticket == 0 { self.pool_claim().ok_or(ENOENT)? } else { ticket };
        self.reg.lock().incoming.iter().find(|i| i.ticket == ticket && !i.home).cloned().ok_or(ENOENT)
    }

    /// Checks in as `inc`'s target and waits for the install; on success
    /// the current task's registers point into the restorer.
    fn wait_install(&self, inc: &Incoming) -> Result<(u64, u64, u64, Option<u32>)> {
        // The stub took the process's real uid, cgroup and label
        // (`ROAM_IOC_ADOPT_USER`), so the kernel counts it as that user's
        // here and it runs where and as it did at home; a stub that did
        // not is refused before anything of the image is installed (the
        // image's credentials must name the header's user, checked as
        // they arrive).
        let ruid = cred::current_ids().0;
        let (uid, tgid, ctx) = {
            let st = inc.state.lock();
            (st.header.uid, st.header.tgid, st.header.ctx)
        };
        if !inc.home {
            if ruid != uid {
                pr_info!("pid {}: its stub runs as uid {} instead of the process's uid {}; refused (it would be counted as another user's)\n", tgid, ruid, uid);
                return Err(EPERM);
            }
            let mine = placement::read()?;
            if !ctx.is_had_by(&mine) {
                let s = placement::text;
                pr_info!(
                    "pid {}: its stub is in cgroup {} with label {} instead of the process's {} and {}; refused\n",
                    tgid, s(mine.cgroup()), s(mine.label()), s(ctx.cgroup()), s(ctx.label())
                );
                return Err(EPERM);
            }
        }
        let mm = Arc::new(umem::MmRef::current()?, GFP_KERNEL)?;
        {
            let mut t = inc.target.lock();
            if t.mm.is_some() || t.install != Install::Waiting {
                return Err(EBUSY);
            }
            t.mm = Some(mm);
            t.vdso = uctx::vdso();
            t.pid = uctx::ids().1;
        }
        inc.cv.notify_all();
        let deadline = time::now_ms() + READY_TIMEOUT_MS + 2 * COMMIT_TIMEOUT_MS;
        let mut t = inc.target.lock();
        loop {
            // Once accepted, the Go follows at once or not at all.
            let accepted = inc.accepted_ms.load(Ordering::Acquire);
            let deadline = if accepted != 0 { deadline.min(accepted + READY_TIMEOUT_MS) } else { deadline };
            if t.install == Install::Waiting && time::now_ms() > deadline {
                // The source never gave the Go: it kept the process (or,
                // if it had it, the Go was lost: see the deputy's
                // homecoming).
                t.install = Install::Failed;
                drop(t);
                self.reg.lock().drop_incoming(inc.from, inc.id);
                t = inc.target.lock();
            }
            match t.install {
                Install::Done { entry, stack, scratch, timer_id } => return Ok((entry, stack, scratch, timer_id)),
                Install::Failed => {
                    let cleared = t.mm.take().is_some();
                    drop(t);
                    if cleared && !inc.home {
                        // A stub whose address space was already cleared
                        // has nothing to return to.
                        uctx::signal_self(SIGKILL);
                    }
                    return Err(err::ecanceled());
                }
                Install::Waiting => {}
            }
            if uctx::fatal_signal_pending() {
                t.install = Install::Failed;
                t.mm = None;
                return Err(EINTR);
            }
            wait_ms(&inc.cv, &mut t, 200);
        }
    }

    /// Returns the process's home node, home pid and token.
    fn take_over_as_stub(&self, inc: &Incoming) -> Result<(u32, u32, u64)> {
        let (entry, stack, scratch, timer_id) = self.wait_install(inc)?;
        let (h, cpu, saved) = {
            let st = inc.state.lock();
            // Exactly its home credentials, groups and limits. After the
            // Go the stub's own program is gone: a stub that cannot take
            // the process over ends (home, never told it runs here, ends
            // the process when the confirmation does not come).
            let applied = if self.ctl.failpoint.hit(Phase::InAdopt) { Err(EIO) } else { cred::apply(&st.creds, &st.groups) };
            if let Err(e) = applied {
                pr_warn!("pid {} of node {}: its stub cannot take it over ({:?}); the stub ends\n", st.header.tgid, st.header.home_node, e);
                uctx::signal_self(SIGKILL);
                return Err(e);
            }
            // And how it ran: nice value, policy, personality, prctl state.
            if cred::apply_attrs(&st.creds.attrs).is_err() {
                pr_info!("pid {}: its scheduling policy {:#x} cannot be set here; it runs with this node's default\n", st.header.tgid, st.creds.attrs.policy);
            }
            (*st.header, st.timers.cpu, st.sig.saved)
        };
        uctx::set_comm(&h.comm);
        let pid = uctx::ids().1;
        self.reg.lock().add_guest(pid, &h, scratch, inc.clock_off, time::now_ms())?;
        if !self.hook(GuestIds { pid, home_pid: h.pid, home_tgid: h.tgid, deputy: false, restoring: true, held: false, skipped: 0, back: false, saved }) {
            let _ = crate::lists::retain_owned(&mut self.reg.lock().guests, |g| g.pid != pid);
            uctx::signal_self(SIGKILL);
            return Err(EBUSY);
        }
        // Its CPU clocks go on from what it used so far (the stub's own
        // few milliseconds are not counted).
        timers::raise_cputime(&cpu);
        enter_restorer(entry, stack, timer_id);
        inc.target.lock().mm = None;
        pr_info!("pid {} of node {} runs here as pid {}\n", h.tgid, h.home_node, pid);
        // Tell home where it runs now (this also confirms the start).
        let pages = inc.state.lock().progress.pages_received().min(u32::MAX as u64) as u32;
        let _ = self.send_proc(h.home_node, ProcMsg::Moved { home_pid: h.tgid, pid, pages, token: h.token });
        Ok((h.home_node, h.tgid, h.token))
    }

    /// The deputy takes its process back. `cpu_left` is the CPU time the
    /// task had used when the process left: what it used since as the
    /// deputy is added to what the process used away. Returns where the
    /// restorer's scratch area is (it stays mapped), or None if the
    /// homecoming failed.
    pub(super) fn take_over(&self, inc: &Incoming, cpu_left: &CpuTimes) -> Option<u64> {
        let Ok((entry, stack, scratch, timer_id)) = self.wait_install(inc) else { return None };
        // Attributes it changed away (personality, prctl state) are its own
        // again here; its credentials and limits never changed away.
        let (away, attrs) = {
            let st = inc.state.lock();
            (st.timers.cpu, st.creds.attrs)
        };
        let _ = cred::apply_attrs(&attrs);
        let here = timers::cputime();
        timers::raise_cputime(&CpuTimes {
            utime_ns: away.utime_ns.saturating_add(here.utime_ns.saturating_sub(cpu_left.utime_ns)),
            stime_ns: away.stime_ns.saturating_add(here.stime_ns.saturating_sub(cpu_left.stime_ns)),
            runtime_ns: away.runtime_ns.saturating_add(here.runtime_ns.saturating_sub(cpu_left.runtime_ns)),
        });
        enter_restorer(entry, stack, timer_id);
        inc.target.lock().mm = None;
        Some(scratch)
    }

}

/// Longest a homecoming waits for the home clock to catch up. Synced
/// clocks on real machines are milliseconds apart; guests whose clock is
/// jiffies under TCG lose ticks when starved and drift apart by seconds
/// in a minute (13.4 s in the debug kernel's run of 2026-12-06, with 5 s
/// here the process saw CLOCK_MONOTONIC step back): a frozen process is
/// better than a clock that goes back.
const CATCH_UP_MAX_MS: u64 = 60_000;

/// Coming home, where the process's clocks are the node's own again: if
/// they ran ahead elsewhere (nodes' clocks drift apart, by a few parts per
/// million on hardware and by far more under emulation), wait until this
/// node's CLOCK_MONOTONIC has passed `seen_ns`, what the process last
/// saw, so that it never sees time go back. The process is frozen in
/// its move meanwhile (a SIGKILL ends the wait); a wait beyond
/// [`CATCH_UP_MAX_MS`] is cut short and reported.
pub(super) fn catch_up_clock(seen_ns: u64) {
    let ahead_ms = seen_ns.saturating_sub(time::now_ns()).div_ceil(1_000_000);
    if ahead_ms == 0 {
        return;
    }
    if ahead_ms > CATCH_UP_MAX_MS {
        pr_warn!("pid {}: its clock ran {} ms ahead while away; it will see CLOCK_MONOTONIC step back\n", uctx::ids().1, ahead_ms);
    }
    let until = time::now_ms() + ahead_ms.min(CATCH_UP_MAX_MS);
    // In short steps, so that a SIGKILL is not kept waiting.
    while time::now_ms() < until && !uctx::fatal_signal_pending() {
        crate::sys::thread::sleep_ms_uninterruptible(until.saturating_sub(time::now_ms()).clamp(1, 20) as u32);
    }
}

/// Sets the current task's registers to start the restorer; if the
/// restorer makes timers, `timer_id` is the id the first must get.
pub(super) fn enter_restorer(entry: u64, stack: u64, timer_id: Option<u32>) {
    uctx::block_all_signals();
    if let Some(id) = timer_id {
        timers::next_id(id);
    }
    uctx::with_pt_regs(|r| {
        *r = bindings::pt_regs::default();
        r.ip = entry as _;
        r.sp = stack as _;
        r.__bindgen_anon_1.csx = image::USER_CS;
        r.__bindgen_anon_2.ssx = image::USER_DS;
        r.flags = 0x202;
        r.orig_ax = u64::MAX as _;
    });
}

/// Ends the current (deputy) task with wait status `status` by returning
/// into a trampoline: `exit_group(code)`, or the default action of the

/// `v` in decimal, NUL-terminated, in `buf`.
fn fmt_u64(mut v: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut i = buf.len() - 1;
    buf[i] = 0;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Takes the stub threads whose work has ended out of `v`, for the caller
/// to drop (reap). On allocation failure nothing is taken.
pub(super) fn take_done(v: &mut KVec<(u64, KThread)>) -> KVec<(u64, KThread)> {
    let mut done = KVec::new();
    let _ = crate::lists::split_off(v, &mut done, |t| t.1.finished());
    done
}
