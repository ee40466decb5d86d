// SPDX-License-Identifier: GPL-2.0

//! A migration going out, in the migrating task's own context (its
//! task_work, at a clean return to user mode): capture registers, xstate,
//! signal state, pending signals, layout and areas; send the image (`image` messages in
//! `Migrate` frames carrying the migration's id); wait for the
//! destination's verdict; give the Go at the commit point. Until then
//! nothing at the source changed but its pending signals, taken off to
//! travel: a refusal or a lost link puts them back and leaves the process
//! running where it was. After a departure a guest ends here and
//! a home process becomes its deputy (`deputy.rs`).
//!
//! Owns [`Outgoing`]. Calls the engine's send helpers, the event log and,
//! after a departure, the deputy.

use super::deputy::Deputy;
use super::events::{Cause, Event};
use super::metrics::Phases;
use super::msg::{ProcMsg, Verdict};
use super::pagesend::PageSender;
use super::precopy::{FinalPlan, Precopy};
use super::{has_pages, wait_ms, Mover, COMMIT_TIMEOUT_MS, PAGE, READY_TIMEOUT_MS, SIGKILL};
use crate::abi::refusal;
use crate::faults::Phase;
use crate::image::{self, Creds, ImageHeader, MmLayout, MsgKind, PendingSignal, Regs, SigState, TimerState, Vma};
use crate::restore;
use crate::sys::{cred, placement, time, timers, uctx, umem};
use core::sync::atomic::Ordering;
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

/// A migration this node is sending.
#[pin_data]
pub(super) struct Outgoing {
    pub(super) id: u32,
    pub(super) dest: u32,
    #[pin]
    verdict: Mutex<Option<Verdict>>,
    #[pin]
    cv: CondVar,
}

impl Outgoing {
    /// The destination answered.
    pub(super) fn answer(&self, v: Verdict) {
        *self.verdict.lock() = Some(v);
        self.cv.notify_all();
    }
}

impl Mover {
    /// Captures the current task and sends it to `dest`. On success the
    /// destination runs it; the caller decides what becomes of this task.
    /// [`Self::move_inner`], recorded in the event log.
    pub(super) fn move_current(&self, dest: u32, cause: Cause) -> core::result::Result<(u32, u64), u32> {
        self.move_current_with(dest, cause, None)
    }

    /// [`Self::move_current`], ending pre-copy `pre` if given: the pages
    /// it sent while the process ran are not sent again unless written
    /// since.
    pub(super) fn move_current_with(&self, dest: u32, cause: Cause, pre: Option<&mut Precopy>) -> core::result::Result<(u32, u64), u32> {
        let (_, tgid) = uctx::ids();
        let comm = uctx::comm();
        let from = self.me();
        let t0 = time::now_ns();
        let mut phases = Phases::new(t0);
        let r = self.move_inner(dest, cause, &mut phases, pre);
        self.metrics.moved(cause, r.is_ok(), time::now_ns().saturating_sub(t0) / 1000, &phases);
        self.events.lock().record(Event::new(tgid, comm, from, dest, cause, r.err().unwrap_or(0)));
        r
    }

    /// Who the current process is to the cluster: its home node, pid and
    /// tgid, the restorer's scratch area, where it may run, its clock
    /// offsets and its token (`token`, if given, for one leaving home;
    /// else a new one).
    pub(super) fn identity(&self, token: Option<u64>) -> core::result::Result<Identity, u32> {
        let (pid, tgid) = uctx::ids();
        // Home identity: ours, or the one we carry as a guest.
        let guest = self.reg.lock().guest(tgid).map(|g| Identity {
            home_node: g.home_node,
            home_pid: g.home_pid,
            home_tgid: g.home_tgid,
            scratch: g.scratch,
            allowed: g.allowed,
            clock_off: g.clock_off,
            token: g.token,
        });
        match guest {
            Some(g) => Ok(g),
            None => {
                // Leaving home: a new token, which its deputy will keep.
                let token = token.unwrap_or_else(time::random_u64);
                self.reg.lock().set_token(tgid, token).map_err(|_| refusal::CAPTURE)?;
                let scratch = self.reg.lock().homecoming(tgid).map(|h| h.scratch).unwrap_or(0);
                Ok(Identity { home_node: self.me(), home_pid: pid, home_tgid: tgid, scratch, allowed: self.migration.allowed_of(tgid), clock_off: (0, 0), token })
            }
        }
    }

    /// The current process's registers (a call interrupted by the move's
    /// request set to be made again where it lands), xstate, signal
    /// state, layout and areas (the restorer's scratch area left out),
    /// and the image header that describes them.
    pub(super) fn capture_state(&self, id: &Identity, cause: Cause) -> core::result::Result<State, u32> {
        let clock_off = id.clock_off;
        // The clocks as the process sees them: this node's plus its time
        // namespace's offsets (none at home).
        let mono_ns = (time::now_ns() as i64).saturating_add(clock_off.0).max(0) as u64;
        let boot_ns = (time::boot_ns() as i64).saturating_add(clock_off.1).max(0) as u64;
        let mut regs = uctx::regs().map_err(|_| refusal::CAPTURE)?;
        // Interrupted in a system call that the kernel would restart: make
        // the destination re-issue it instead of seeing -ERESTART*; one a
        // pending signal's handler ends ends as the kernel's signal code
        // ends it (EINTR, the handler runs where the process lands).
        let nr = regs.orig_rax;
        let mut again = false;
        if (nr as i64) >= 0 {
            match regs.rax as i64 {
                -514 | -516 if uctx::handler_pending() => regs.rax = (-4i64) as u64,
                -512 if !uctx::pending_signals_restart() => regs.rax = (-4i64) as u64,
                -512 | -513 | -514 => {
                    reissue(&mut regs, nr);
                    again = true;
                }
                // A sleep or poll the kernel would go on with through its
                // restart block, which does not travel: made again as a
                // call that means the same (EINTR if it cannot be).
                -516 => {
                    again = reissue_wait(&mut regs);
                    if !again {
                        regs.rax = (-4i64) as u64;
                    }
                }
                // A wait that ends with EINTR on any pending notification
                // (`semtimedop`, `epoll_wait`, ...) was ended by this
                // move's own request, not by a signal, if none is
                // pending: at home it would still be waiting, so it is
                // made again where the process lands.
                -4 if crate::fwd::waits_for_events(nr) && !uctx::real_signal_pending() => {
                    reissue(&mut regs, nr);
                    again = true;
                }
                _ => {}
            }
        }
        // A call the hook skipped whose work (forwarding it, or going home
        // for it) is queued behind this move: not made yet, so it is made
        // on arrival. (The work, run here after a move, finds no guest.)
        if let Some(nr) = self.skipped_call(regs.orig_rax, regs.rax) {
            reissue(&mut regs, nr as u64);
            again = true;
        }
        regs.orig_rax = u64::MAX;
        let mut xstate = KVec::new();
        uctx::xstate(&mut xstate).map_err(|_| refusal::CAPTURE)?;
        let mut sig = uctx::sig_state().map_err(|_| refusal::CAPTURE)?;
        // A call with a mask of its own (`ppoll`, `rt_sigsuspend`, ...)
        // blocks that mask and holds the process's for the signal code.
        // Made again where it lands, it blocks its mask again: the image
        // carries the process's own. Ended, with the signal that ended it
        // still to be delivered: both travel, and the handler's frame
        // saves the held one there as it would here.
        if let Some(m) = uctx::saved_mask() {
            if again {
                sig.blocked = m;
            } else {
                sig.saved = Some(m);
            }
        }
        let layout = umem::layout().map_err(|_| refusal::CAPTURE)?;
        let vdso = uctx::vdso();
        let all = umem::areas(vdso).map_err(|_| refusal::CAPTURE)?;
        let mut vmas = KVec::new();
        // The restorer's scratch area (of its arrival here, or of its last
        // homecoming) is not the process's: left out, also when it merged
        // with a neighbouring area of the same kind.
        let (lo, hi) = if id.scratch != 0 { (id.scratch, id.scratch + restore::SCRATCH_LEN as u64) } else { (0, 0) };
        for v in all.iter() {
            for part in v.without(lo, hi).into_iter().flatten() {
                vmas.push(part, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            }
        }
        let nr_pages: u64 = vmas.iter().filter(|v| has_pages(v)).map(|v| v.pages()).sum();
        let (uid, gid, euid, egid) = cred::current_ids();
        // Its cgroup and label, which it takes on where it runs.
        let ctx = placement::read().map_err(|e| {
            pr_info!("pid {}: its cgroup path or security label cannot go with it ({:?}): not moved\n", id.home_tgid, e);
            refusal::CANT_MOVE
        })?;
        let header = ImageHeader {
            version: image::IMAGE_VERSION,
            home_node: id.home_node,
            pid: id.home_pid,
            tgid: id.home_tgid,
            uid,
            gid,
            euid,
            egid,
            comm: uctx::comm(),
            nr_vmas: vmas.len() as u32,
            nr_pages,
            xstate_len: xstate.len() as u32,
            cause: cause.code(),
            sender_load: self.cluster.own_entry_now().load,
            allowed: id.allowed,
            mono_ns,
            boot_ns,
            token: id.token,
            ctx,
        };
        Ok(State { header: KBox::new(header, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?, regs, layout, sig, xstate, vmas })
    }

    /// A new outgoing migration to `dest`, registered for its answers.
    pub(super) fn new_outgoing(&self, dest: u32) -> core::result::Result<Arc<Outgoing>, u32> {
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let out = Arc::pin_init(
            pin_init!(Outgoing { id, dest, verdict <- new_mutex!(None, "roam_out"), cv <- new_condvar!("roam_out") }),
            GFP_KERNEL,
        )
        .map_err(|_| refusal::CAPTURE)?;
        self.reg.lock().outgoing.push(out.clone(), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        Ok(out)
    }

    /// Forgets outgoing migration `id`.
    pub(super) fn drop_outgoing(&self, id: u32) {
        let _ = crate::lists::retain_owned(&mut self.reg.lock().outgoing, |o| o.id != id);
    }

    fn move_inner(&self, dest: u32, cause: Cause, phases: &mut Phases, mut pre: Option<&mut Precopy>) -> core::result::Result<(u32, u64), u32> {
        let peer = self.cluster.peer(dest).ok_or(refusal::UNKNOWN_NODE)?;
        if !peer.up.load(Ordering::Relaxed) {
            return Err(refusal::UNKNOWN_NODE);
        }
        if uctx::fatal_signal_pending() {
            return Err(refusal::GONE);
        }
        let (pid, tgid) = uctx::ids();
        let ident = self.identity(pre.as_ref().map(|p| p.token()))?;
        let st = self.capture_state(&ident, cause)?;
        let out = match pre.as_ref() {
            Some(p) => p.out.clone(),
            None => self.new_outgoing(dest)?,
        };
        let id = out.id;
        // The timers as they are now (nothing changes here: the deputy
        // deletes them after a departure; a guest's end with it).
        let mine = [pid, tgid, ident.home_pid, ident.home_tgid];
        let timers = match timers::read(st.header.mono_ns, &mine) {
            Ok(t) => Ok(t),
            Err(timers::Unmovable::Threads) => Err(refusal::CANT_MOVE),
            Err(timers::Unmovable::NoMemory) => Err(refusal::CAPTURE),
            Err(_) => Err(refusal::TIMERS),
        };
        let timers = match timers {
            Ok(t) => t,
            Err(e) => {
                self.drop_outgoing(id);
                return Err(e);
            }
        };
        // Its credentials and limits (a guest holds its home ones).
        let mut groups = KVec::new();
        let creds = match cred::read(&mut groups) {
            Ok(c) => c,
            Err(_) => {
                self.drop_outgoing(id);
                return Err(refusal::CANT_MOVE);
            }
        };
        // Taken last, so that every failure after it is one of send_image's.
        let mut pending = match take_pending() {
            Ok(p) => p,
            Err(e) => {
                self.drop_outgoing(id);
                return Err(e);
            }
        };
        for p in pending.iter_mut() {
            forget_timer_requeue(p);
        }
        let state = Captured {
            header: &st.header,
            regs: &st.regs,
            layout: &st.layout,
            sig: &st.sig,
            pending: &pending,
            timers: &timers,
            creds: &creds,
            groups: &groups,
            xstate: &st.xstate,
            vmas: &st.vmas,
        };
        // Signals arriving while it sends itself stay pending: a
        // pending signal would end every interruptible wait on the way
        // (a connect, a full socket, the destination's answer) at once.
        let mask = uctx::hold_signals();
        let r = self.send_image(&out, &state, phases, pre.as_deref_mut());
        if r.is_err() {
            uctx::set_blocked(mask);
        }
        self.drop_outgoing(id);
        if r.is_err() {
            // The process stays: its signals are pending here again. (On
            // success they are gone from here, so the deputy does not
            // forward them a second time.)
            give_back(&pending);
            self.send_abort(dest, id);
        }
        r
    }

    /// Tells `dest` that migration `id` is abandoned.
    pub(super) fn send_abort(&self, dest: u32, id: u32) {
        let mut b = [0u8; image::ABORT_LEN];
        if let Ok(n) = image::encode_abort(&mut b) {
            let _ = self.send_image_msg(dest, id, &b[..n]);
        }
    }

    fn wait_verdict(&self, out: &Outgoing, ms: u64) -> Option<Verdict> {
        let deadline = time::now_ms() + ms;
        let mut g = out.verdict.lock();
        loop {
            if let Some(v) = g.take() {
                return Some(v);
            }
            if time::now_ms() > deadline || uctx::fatal_signal_pending() {
                return None;
            }
            if !self.peer_up(out.dest) {
                return None;
            }
            wait_ms(&out.cv, &mut g, 100);
        }
    }

    /// The largest message a migration going out sends.
    pub(super) fn image_buf_len(xstate_len: usize, groups: usize) -> usize {
        image::batch_len(image::MAX_BATCH_PAGES)
            .max(image::begin_len(xstate_len))
            .max(image::vmas_len(image::MAX_VMAS_PER_MSG))
            .max(image::signals_len(image::MAX_PENDING))
            .max(image::timers_len(image::MAX_TIMERS))
            .max(image::creds_len(groups))
            .max(image::files_max_len())
    }

    /// Sends the `Begin` the first `begin_len` bytes of `buf` hold, then
    /// the file offers for `vmas` (built in `buf` over it), and waits
    /// until the destination is ready: the indices in `vmas` of the areas
    /// it maps from its own files.
    pub(super) fn send_head(&self, out: &Outgoing, begin_len: usize, vmas: &[Vma], buf: &mut [u8]) -> core::result::Result<KVec<u32>, u32> {
        let link = |_| refusal::LINK;
        self.send_image_msg(out.dest, out.id, &buf[..begin_len]).map_err(link)?;
        // While the destination gets ready: the areas it may map from its
        // own files (`fileareas.rs`); its answer says which it does.
        let offers = self.file_offers(vmas);
        let wire: KVec<image::FileOffer<'_>> = {
            let mut w = KVec::with_capacity(offers.len(), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            for o in offers.iter() {
                w.push(o.wire(), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            }
            w
        };
        let n = image::encode_files(&wire, buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(out.dest, out.id, &buf[..n]).map_err(link)?;
        let have = match self.wait_verdict(out, READY_TIMEOUT_MS) {
            Some(Verdict::Ready(have)) => have,
            Some(Verdict::Refused(code)) => return Err(code),
            _ => return Err(refusal::LINK),
        };
        // The areas the destination maps itself, by index in `vmas`.
        let mut skip = KVec::new();
        for (i, o) in offers.iter().enumerate() {
            if i < 64 && have & (1u64 << i) != 0 {
                skip.push(o.vma, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
            }
        }
        Ok(skip)
    }

    fn send_image(&self, out: &Outgoing, c: &Captured<'_>, phases: &mut Phases, pre: Option<&mut Precopy>) -> core::result::Result<(u32, u64), u32> {
        let (dest, id) = (out.dest, out.id);
        let (xstate, vmas) = (c.xstate, c.vmas);
        let link = |_| refusal::LINK;
        let mut buf = crate::sys::bytes::zeroed_kvv(Self::image_buf_len(xstate.len(), c.groups.len()), GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        let n = image::encode_begin(c.header, c.regs, c.layout, c.sig, xstate, &mut buf).map_err(|_| refusal::CAPTURE)?;
        phases.mark();
        // Without pre-copy: Begin, the file offers, the destination's
        // Ready. After pre-copy the destination is ready already: the
        // state of the stopped process replaces its Begin's.
        let plan = match pre {
            None => {
                let skip = self.send_head(out, n, vmas, &mut buf)?;
                FinalPlan::plain(vmas, skip)?
            }
            Some(p) => {
                image::retag(&mut buf[..n], MsgKind::Begin, MsgKind::Final).map_err(|_| refusal::CAPTURE)?;
                self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
                p.plan(vmas)?
            }
        };
        phases.mark();
        let n = image::encode_signals(c.pending, &mut buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        let n = image::encode_timers(c.timers, &mut buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        let n = image::encode_creds(c.creds, c.groups, &mut buf).map_err(|_| refusal::CAPTURE)?;
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        for (i, chunk) in plan.vmas.chunks(image::MAX_VMAS_PER_MSG).enumerate() {
            let n = image::encode_vmas((i * image::MAX_VMAS_PER_MSG) as u32, chunk, &mut buf).map_err(|_| refusal::CAPTURE)?;
            self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        }
        let mut pages = PageSender::new(self, dest, id, MsgKind::Pages, &mut buf)?;
        let mut from_files = 0;
        for i in 0..plan.vmas.len() {
            let v = plan.vmas[i];
            if !has_pages(&v) {
                continue;
            }
            if plan.from_file(i) {
                from_files += v.pages();
                continue;
            }
            let want = plan.wants(i);
            pages.area(&v, 0, &mut |p| want.want(p), None, 0)?;
        }
        let (sum, count) = (pages.sum.finish(), pages.pages);
        let n = image::encode_commit(count, sum, &mut buf).map_err(|_| refusal::CAPTURE)?;
        phases.mark();
        self.send_image_msg(dest, id, &buf[..n]).map_err(link)?;
        match self.wait_verdict(out, COMMIT_TIMEOUT_MS) {
            // The commit point: once Go is sent, the process is there. If the
            // destination never sees it, it drops the prepared process and
            // the deputy, hearing nothing, ends it (never two copies).
            Some(Verdict::Accepted(pid)) => {
                phases.mark();
                self.metrics.from_files(from_files);
                // Fault injection: the Go is lost on the way (the
                // destination never hears; this side goes on as sent).
                if !self.ctl.failpoint.hit(Phase::OutGo) {
                    self.send_proc(dest, ProcMsg::Go { id }).map_err(link)?;
                }
                Ok((pid, count * PAGE))
            }
            Some(Verdict::Refused(code)) => Err(code),
            _ => Err(refusal::LINK),
        }
    }

    /// After a successful departure: a guest ends here silently; a home
    /// process becomes its deputy and serves it.
    pub(super) fn after_departure(self: &Arc<Self>, dest: u32, remote_pid: u32) {
        if let Some(d) = self.depart(dest, remote_pid) {
            self.deputy_run(&d);
        }
    }

    /// The first half of [`Self::after_departure`], done before anyone is
    /// told that the move succeeded: a guest is marked gone and ended; a
    /// home process is registered as away (its deputy, returned).
    pub(super) fn depart(self: &Arc<Self>, dest: u32, remote_pid: u32) -> Option<Arc<Deputy>> {
        let (pid, tgid) = uctx::ids();
        let was_guest = {
            let mut r = self.reg.lock();
            r.guest_mut(tgid).map(|g| g.left = true).is_some()
        };
        if was_guest {
            self.reg.lock().release(tgid);
            self.unhook(tgid);
            // The new host tells home itself (ProcMsg::Moved).
            uctx::signal_self(SIGKILL);
            return None;
        }
        self.become_deputy(pid, tgid, dest, remote_pid)
    }
}

/// Who a process is to the cluster ([`Mover::identity`]).
#[derive(Clone, Copy)]
pub(super) struct Identity {
    pub(super) home_node: u32,
    pub(super) home_pid: u32,
    pub(super) home_tgid: u32,
    pub(super) scratch: u64,
    pub(super) allowed: u64,
    pub(super) clock_off: (i64, i64),
    pub(super) token: u64,
}

/// A process's state as [`Mover::capture_state`] takes it.
pub(super) struct State {
    pub(super) header: KBox<ImageHeader>,
    pub(super) regs: Regs,
    pub(super) layout: MmLayout,
    pub(super) sig: KBox<SigState>,
    pub(super) xstate: KVec<u8>,
    pub(super) vmas: KVec<Vma>,
}

/// What [`Mover::send_image`] sends: the state captured in `move_inner`.
struct Captured<'a> {
    header: &'a ImageHeader,
    regs: &'a Regs,
    layout: &'a MmLayout,
    sig: &'a SigState,
    pending: &'a [PendingSignal],
    timers: &'a TimerState,
    creds: &'a Creds,
    groups: &'a [u32],
    xstate: &'a [u8],
    vmas: &'a [Vma],
}

/// Sets `regs` to make system call `nr` again on return to user mode: the
/// number in `rax`, `rip` back over the 2-byte `syscall` instruction.
fn reissue(regs: &mut Regs, nr: u64) {
    regs.rax = nr;
    regs.rip = regs.rip.wrapping_sub(2);
}

/// `nanosleep`'s, `poll`'s, `clock_nanosleep`'s and `futex`'s numbers.
const NR_NANOSLEEP: u64 = 35;
const NR_POLL: u64 = 7;
const NR_CLOCK_NANOSLEEP: u64 = 230;
const NR_FUTEX: u64 = 202;
/// `futex`'s command with an absolute deadline, and the option bits
/// (`FUTEX_PRIVATE_FLAG`, `FUTEX_CLOCK_REALTIME`) beside a command.
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_OPTIONS: u64 = 128 | 256;

/// `ns` in whole milliseconds, rounded up, as `poll`'s timeout (an int).
fn poll_ms(ns: u64) -> u64 {
    ns.div_ceil(1_000_000).min(i32::MAX as u64)
}

/// Sets `regs` (those of a relative `nanosleep` or `clock_nanosleep`, or
/// of a `poll`, that a move's request ended with
/// `-ERESTART_RESTARTBLOCK`) to make a call that goes on with the same
/// wait where the process lands, for the time it had left: the same
/// sleep for what is left, written where the call says the kernel writes
/// it (its `rem` argument, as a signal would have); without a `rem`, a
/// `poll` of nothing for that long, rounded up to the millisecond (0 when
/// it ends, EINTR for a signal, as the sleep); a `poll` for what is left,
/// rounded up likewise, or without end as before. Nothing is written
/// anywhere else: a signal delivered before the call is made again would
/// write its frame below the stack pointer. A `futex` wait with an
/// absolute deadline (`FUTEX_WAIT_BITSET`) is made again unchanged: the
/// same instant of its clock where it lands (the time namespace keeps
/// its CLOCK_MONOTONIC going on). False: left as it was (a CPU or alarm
/// clock, `rem` could not be written, or a `FUTEX_WAIT`, whose relative
/// deadline only its restart block knows).
fn reissue_wait(regs: &mut Regs) -> bool {
    let nr = regs.orig_rax;
    if nr == NR_FUTEX {
        if regs.rsi & 0xffff_ffff & !FUTEX_OPTIONS == FUTEX_WAIT_BITSET {
            reissue(regs, nr);
            return true;
        }
        return false;
    }
    let sleeping = matches!(nr, NR_NANOSLEEP | NR_CLOCK_NANOSLEEP);
    if !sleeping && nr != NR_POLL {
        return false;
    }
    let Some(wait) = timers::restart_wait(!sleeping) else { return false };
    match wait {
        timers::RestartWait::Sleep { left } => {
            let rem = if nr == NR_NANOSLEEP { regs.rsi } else { regs.r10 };
            if rem == 0 {
                reissue(regs, NR_POLL);
                regs.rdi = 0;
                regs.rsi = 0;
                regs.rdx = poll_ms(left);
                return true;
            }
            let mut ts = [0u8; 16];
            ts[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
            ts[8..].copy_from_slice(&(left % 1_000_000_000).to_le_bytes());
            if umem::write(rem, &ts).is_err() {
                return false;
            }
            reissue(regs, nr);
            if nr == NR_NANOSLEEP {
                regs.rdi = rem;
            } else {
                // clock_nanosleep(clockid, 0, rem, rem): the clock stays.
                regs.rsi = 0;
                regs.rdx = rem;
            }
        }
        timers::RestartWait::Poll { ufds, nfds, left } => {
            reissue(regs, NR_POLL);
            regs.rdi = ufds;
            regs.rsi = nfds as u64;
            regs.rdx = left.map_or(u64::MAX, poll_ms);
        }
    }
    true
}

/// Takes every pending signal but SIGKILL and SIGSTOP off the current
/// task, private queue first, each in order. With more than an image
/// carries ([`image::MAX_PENDING`]) they all go back and the move is
/// refused (`SIGNALS`).
fn take_pending() -> core::result::Result<KVec<PendingSignal>, u32> {
    let mut v = KVec::new();
    while let Some(s) = uctx::take_signal() {
        if v.push(s, GFP_KERNEL).is_err() {
            // Out of memory: what was taken goes back behind what was
            // not (the order of same-numbered real-time signals suffers).
            give_back(&v);
            give_back(&[s]);
            return Err(refusal::CAPTURE);
        }
    }
    if v.len() > image::MAX_PENDING {
        give_back(&v);
        return Err(refusal::SIGNALS);
    }
    Ok(v)
}

/// A POSIX timer's signal names its timer's requeue count in
/// `si_sys_private` (bytes 32..36 of the `siginfo`); dequeueing it here
/// already rearmed the timer, and the copy queued at the destination is
/// an ordinary signal, so the count goes (it would make the destination
/// rearm a timer that is not waiting for it).
fn forget_timer_requeue(p: &mut PendingSignal) {
    const SI_TIMER: i32 = -2;
    if p.code() == SI_TIMER {
        p.info[32..36].fill(0);
    }
}

/// Queues signals taken by [`take_pending`] on the current task again,
/// in order, when it does not move after all. Each goes on the private
/// queue, whatever queue it came from: the kernel exports no way to
/// queue a `siginfo` on the shared one. For a single-threaded process
/// (the only kind that moves) nothing but the order of delivery between
/// a private and a shared signal can tell, and every one is delivered.
fn give_back(sigs: &[PendingSignal]) {
    for s in sigs {
        if let Err(e) = uctx::give_signal(s) {
            let (_, tgid) = uctx::ids();
            pr_warn!("pid {}: signal {} could not be queued again ({:?}): it is lost\n", tgid, s.signo, e);
        }
    }
}
