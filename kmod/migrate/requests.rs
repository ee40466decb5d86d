// SPDX-License-Identifier: GPL-2.0

//! What people ask of the engine through `/dev/roam` and sysfs: move a
//! process (`ROAM_IOC_MIGRATE`: a local process is captured by its own
//! task_work, a process away is recalled through its host, a guest moves
//! on), where a process runs (`ROAM_IOC_WHERE`), and the `guests`, `away`
//! and `events` files. Errors carry a `refusal` code and an errno.
//!
//! Calls the registry, eligibility (`Migration`), `outgoing.rs` and the
//! send helpers.

use super::events::Cause;
use super::msg::ProcMsg;
use super::deputy::Deputy;
use super::precopy::{Step, SLICE_MS};
use super::{until_nul, wait_ms, Migration, Mover, COMMIT_TIMEOUT_MS, PAGE, READY_TIMEOUT_MS};
use crate::abi::{self, place, refusal, Where};
use crate::image::RefuseReason;
use crate::sys::task::TaskRef;
use crate::sys::{err, time, uctx};
use core::sync::atomic::Ordering;
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

/// caller and completed by the migrating task.
#[pin_data]
pub(super) struct Request {
    #[pin]
    done: Mutex<Option<core::result::Result<(u32, u64), u32>>>,
    #[pin]
    cv: CondVar,
}

/// The result of one step run in a process's task_work.
#[pin_data]
struct Done<R> {
    #[pin]
    v: Mutex<Option<R>>,
    #[pin]
    cv: CondVar,
}

/// After a slice (the process goes on here): a wait that ended with
/// EINTR because the slice's request woke it, not a signal, is made
/// again, as it would still be waiting without roam. (Calls the kernel
/// restarts itself, -ERESTART*, it restarts after the slice.)
fn restart_interrupted_wait() {
    uctx::with_pt_regs(|r| {
        let nr = r.orig_ax as i64;
        if nr >= 0 && r.ax as i64 == -4 && crate::fwd::waits_for_events(nr as u64) && !uctx::real_signal_pending() {
            r.ax = nr as _;
            r.ip = (r.ip as u64).wrapping_sub(2) as _;
        }
    });
}

impl Mover {
    /// `ROAM_IOC_MIGRATE`.
    pub(crate) fn migrate(self: &Arc<Self>, req: &mut abi::Migrate) -> Result {
        let t = Migration::find_permitted(req.pid)?;
        let tgid = t.tgid();
        let me = self.me();
        // A process of ours running elsewhere: ask its host to move it.
        let deputy = self.reg.lock().deputy(tgid);
        if let Some(d) = deputy {
            let node = d.node.load(Ordering::Relaxed);
            let dest = if req.node == abi::NODE_HOME { me } else { req.node };
            if dest == node {
                req.reason = refusal::ALREADY_THERE;
                return Err(err::ealready());
            }
            if dest != me && !self.peer_up(dest) {
                req.reason = refusal::UNKNOWN_NODE;
                return Err(err::ehostunreach());
            }
            let start = time::now_ns();
            d.stayed.store(0, Ordering::Release);
            self.send_proc(node, ProcMsg::Recall { home_pid: tgid, dest: if dest == me { 0 } else { dest }, token: d.token })
                .inspect_err(|_| req.reason = refusal::LINK)?;
            // Wait until it has moved (or came home) or the move failed:
            // the deputy's condition variable is signalled on each (moved,
            // stayed, dropped); a wakeup missed between the check and the
            // wait costs at most one 20 ms round.
            let deadline = time::now_ms() + COMMIT_TIMEOUT_MS + READY_TIMEOUT_MS;
            loop {
                let deputy = self.reg.lock().deputy(tgid);
                match deputy {
                    None => {
                        req.remote_pid = 0;
                        req.bytes = self.reg.lock().homecoming(tgid).map(|h| h.pages * PAGE).unwrap_or(0);
                        break;
                    }
                    Some(d) if d.node.load(Ordering::Acquire) == dest => {
                        req.remote_pid = d.remote_pid.load(Ordering::Relaxed);
                        req.bytes = u64::from(d.pages.load(Ordering::Relaxed)) * PAGE;
                        break;
                    }
                    Some(d) => {
                        let code = d.stayed.swap(0, Ordering::AcqRel);
                        if code != 0 {
                            req.reason = code;
                            return Err(errno_of(code));
                        }
                    }
                }
                if time::now_ms() > deadline {
                    req.reason = refusal::LINK;
                    return Err(crate::sys::err::etimedout());
                }
                if uctx::signal_pending() {
                    return Err(EINTR);
                }
                let mut g = d.ev.lock();
                wait_ms(&d.cv, &mut g, 20);
            }
            req.elapsed_ns = time::now_ns() - start;
            return Ok(());
        }
        // A guest here: it moves on (or home) from here.
        let guest_home = self.reg.lock().guest(tgid).map(|g| g.home_node);
        let dest = match (guest_home, req.node) {
            (Some(h), abi::NODE_HOME) => h,
            (None, abi::NODE_HOME) => {
                req.reason = refusal::ALREADY_THERE;
                return Err(err::ealready());
            }
            (_, n) => n,
        };
        if dest == me {
            req.reason = refusal::ALREADY_THERE;
            return Err(err::ealready());
        }
        let reasons = self.reasons(&t);
        if reasons != 0 {
            req.reason = refusal::CANT_MOVE;
            return Err(cant_move_errno(reasons));
        }
        if !self.cluster.running.load(Ordering::Relaxed) || me == 0 {
            req.reason = refusal::NO_TRANSPORT;
            return Err(err::enotconn());
        }
        if !self.peer_up(dest) {
            req.reason = refusal::UNKNOWN_NODE;
            return Err(err::ehostunreach());
        }
        if !abi::mode::ALL.contains(&req.mode) {
            return Err(EINVAL);
        }
        if !self.reg.lock().claim(tgid) {
            req.reason = refusal::IN_PROGRESS;
            return Err(EBUSY);
        }
        // Pre-copy for a process at home that another task asks to move
        // (a guest moves on stopped, and a process cannot wait for its
        // own slices).
        if req.mode == abi::mode::PRECOPY && guest_home.is_none() && !t.is_current() {
            return self.migrate_precopy(t, tgid, dest, req);
        }
        let request = Arc::pin_init(pin_init!(Request { done <- new_mutex!(None, "roam_req"), cv <- new_condvar!("roam_req") }), GFP_KERNEL)?;
        let rq = request.clone();
        let start = time::now_ns();
        // A process still in its restorer (a guest that just arrived, or
        // one just back home) moves once the restorer has finished:
        // captured now, it would take the restorer's registers, not its own.
        let queued = self.queue_when_restored(&t, move |me| {
            let r = me.move_current(dest, Cause::Manual);
            // Registered as away (or gone from here) before the caller
            // hears of it: its next request sees where it is.
            let deputy = match r {
                Ok((pid, _)) => me.depart(dest, pid),
                Err(_) => {
                    me.reg.lock().release(uctx::ids().1);
                    None
                }
            };
            *rq.done.lock() = Some(r);
            rq.cv.notify_all();
            if let Some(d) = deputy {
                me.deputy_run(&d);
            }
        });
        if let Err(e) = queued {
            self.reg.lock().release(tgid);
            req.reason = refusal::GONE;
            return Err(e);
        }
        if t.is_current() {
            return Ok(());
        }
        drop(t);
        let mut g = request.done.lock();
        loop {
            if let Some(r) = *g {
                req.elapsed_ns = time::now_ns() - start;
                return match r {
                    Ok((pid, bytes)) => {
                        req.remote_pid = pid;
                        req.bytes = bytes;
                        req.freeze_ns = req.elapsed_ns;
                        Ok(())
                    }
                    Err(code) => {
                        req.reason = code;
                        Err(errno_of(code))
                    }
                };
            }
            if uctx::signal_pending() {
                return Err(EINTR);
            }
            wait_ms(&request.cv, &mut g, 200);
            // The process may have exited before it could run the work.
            if g.is_none() && TaskRef::find(tgid).is_err() {
                req.reason = refusal::GONE;
                return Err(ESRCH);
            }
        }
    }

    /// `ROAM_IOC_MIGRATE` with pre-copy (`precopy.rs`), for local process
    /// `t` (claimed): its slices run one after another in its task_work,
    /// with the process running between them for as long as a slice
    /// takes; then the move itself. A failure before the move leaves the
    /// process as it was (the destination is told to drop what it got).
    // Not inlined: its locals stay off the ioctl handler's frame.
    #[inline(never)]
    fn migrate_precopy(self: &Arc<Self>, t: TaskRef, tgid: u32, dest: u32, req: &mut abi::Migrate) -> Result {
        let start = time::now_ns();
        let fail = |me: &Self, req: &mut abi::Migrate, code: u32| {
            me.reg.lock().release(tgid);
            req.reason = code;
            Err(errno_of(code))
        };
        let mut pc = match self.run_slice(&t, tgid, true, move |me| (me.precopy_start(dest), None)) {
            Ok(Ok(pc)) => pc,
            Ok(Err(code)) | Err(code) => return fail(self, req, code),
        };
        let (id, t0) = (pc.out.id, time::now_ns());
        let why = loop {
            // The process runs for as long as a slice may take.
            crate::sys::thread::sleep_ms(SLICE_MS as u32);
            if uctx::signal_pending() {
                self.drop_outgoing(id);
                self.send_abort(dest, id);
                self.reg.lock().release(tgid);
                return Err(EINTR);
            }
            match self.run_slice(&t, tgid, true, move |me| {
                let mut pc = pc;
                let s = me.precopy_slice(&mut pc);
                ((pc, s), None)
            }) {
                Ok((p, Ok(Step::More))) => pc = p,
                Ok((p, Ok(Step::Stop(why)))) => {
                    pc = p;
                    break why;
                }
                Ok((_, Err(code))) | Err(code) => {
                    self.drop_outgoing(id);
                    self.send_abort(dest, id);
                    return fail(self, req, code);
                }
            }
        };
        let (rounds, pre_pages) = (pc.rounds, pc.pages);
        pr_info!(
            "pid {}: pre-copy to node {}: {} rounds, {} pages in {} ms (pages written in each round: {:?}), stopping it ({})\n",
            tgid,
            dest,
            rounds,
            pre_pages,
            (time::now_ns() - t0) / 1_000_000,
            pc.sizes(),
            why.name()
        );
        // The move: the process stopped, only what it wrote since.
        let r = self.run_slice(&t, tgid, false, move |me| {
            let mut pc = pc;
            let t1 = time::now_ns();
            let r = me.move_current_with(dest, Cause::Manual, Some(&mut pc));
            let freeze = time::now_ns() - t1;
            drop(pc);
            let deputy = match r {
                Ok((pid, _)) => me.depart(dest, pid),
                Err(_) => {
                    me.reg.lock().release(uctx::ids().1);
                    None
                }
            };
            ((r, freeze), deputy)
        });
        req.elapsed_ns = time::now_ns() - start;
        req.rounds = rounds;
        match r {
            Ok((Ok((pid, bytes)), freeze)) => {
                req.remote_pid = pid;
                req.bytes = bytes + pre_pages * PAGE;
                req.freeze_ns = freeze;
                Ok(())
            }
            Ok((Err(code), _)) => {
                req.reason = code;
                Err(errno_of(code))
            }
            Err(code) => {
                self.drop_outgoing(id);
                self.send_abort(dest, id);
                fail(self, req, code)
            }
        }
    }

    /// Runs `f` in `t`'s task_work (once it is out of its restorer) and
    /// waits for its result: `GONE` if `t` exits first. With `hold`,
    /// signals wait while `f` works (one would end every interruptible
    /// wait on the way: a full socket, an answer). If `f` gives a deputy
    /// (the process left), the task serves as it once the result is
    /// out; else a wait the task_work's request ended is made again.
    fn run_slice<R, F>(self: &Arc<Self>, t: &TaskRef, tgid: u32, hold: bool, f: F) -> core::result::Result<R, u32>
    where
        R: Send + 'static,
        F: FnOnce(&Arc<Mover>) -> (R, Option<Arc<Deputy>>) + Send + 'static,
    {
        let done = Arc::pin_init(pin_init!(Done::<R> { v <- new_mutex!(None, "roam_slice"), cv <- new_condvar!("roam_slice") }), GFP_KERNEL)
            .map_err(|_| refusal::CAPTURE)?;
        let d = done.clone();
        self.queue_when_restored(t, move |me| {
            let mask = hold.then(uctx::hold_signals);
            let (r, deputy) = f(me);
            if let Some(m) = mask {
                uctx::set_blocked(m);
            }
            if deputy.is_none() {
                restart_interrupted_wait();
            }
            *d.v.lock() = Some(r);
            d.cv.notify_all();
            if let Some(dep) = deputy {
                me.deputy_run(&dep);
            }
        })
        .map_err(|_| refusal::GONE)?;
        loop {
            {
                let mut g = done.v.lock();
                if let Some(r) = g.take() {
                    return Ok(r);
                }
                if !uctx::signal_pending() {
                    wait_ms(&done.cv, &mut g, 200);
                    if let Some(r) = g.take() {
                        return Ok(r);
                    }
                }
            }
            if uctx::signal_pending() {
                // The step owns the migration's state: it is waited for
                // (briefly: a slice, or the move itself) without spinning.
                crate::sys::thread::sleep_ms_uninterruptible(20);
            }
            if TaskRef::find(tgid).is_err() && done.v.lock().is_none() {
                return Err(refusal::GONE);
            }
        }
    }

    /// A tracer (`gdb -p`, `strace -p`) attaching to `pid`, which runs
    /// on another node: the process is brought home first and the
    /// `ptrace` call is then made again, on the process itself. If it
    /// cannot come home, the call fails with why: `EPERM` if the tracer
    /// may not act on it (ptrace's own rule, which its call would have
    /// given too), `ESRCH` if it is gone, else `EAGAIN` (attaching to the
    /// deputy would show the tracer a process that is not there); a
    /// signal that interrupts the wait makes the call again after it.
    /// Task_work of the tracer, whose call the hook skipped.
    pub(super) fn home_for_tracer(self: &Arc<Self>, pid: u32) {
        let tracer = uctx::ids().1;
        let mut req = abi::Migrate { pid, node: abi::NODE_HOME, ..abi::Migrate::default() };
        let again = || {
            uctx::with_pt_regs(|r| {
                r.ax = super::hook::NR_PTRACE as u64 as _;
                r.ip = (r.ip as u64).wrapping_sub(2) as _;
            })
        };
        match self.migrate(&mut req).map_err(|e| e.to_errno()) {
            Ok(()) => {
                pr_info!("pid {}: brought home for tracer pid {}\n", pid, tracer);
                again();
            }
            // Interrupted by a signal: made again once it is handled. Home
            // already (it came back meanwhile): made again, on it.
            Err(-4 | -114) => again(),
            Err(e @ (-1 | -3)) => uctx::with_pt_regs(|r| r.ax = e as u64 as _),
            Err(e) => {
                pr_info!("pid {}: cannot come home for tracer pid {} (errno {}): its attach fails with EAGAIN\n", pid, tracer, -e);
                uctx::with_pt_regs(|r| r.ax = (-11i64) as u64 as _);
            }
        }
    }

    /// `ROAM_IOC_WHERE`.
    pub(crate) fn where_is(&self, pid: u32) -> Result<Where> {
        let t = Migration::find_permitted(pid)?;
        let tgid = t.tgid();
        let me = self.me();
        let deputy = self.reg.lock().deputy(tgid);
        if let Some(d) = deputy {
            return Ok(Where { pid, state: place::AWAY, node: d.node.load(Ordering::Relaxed), other_pid: d.remote_pid.load(Ordering::Relaxed) });
        }
        let r = self.reg.lock();
        if let Some(g) = r.guest(tgid) {
            return Ok(Where { pid, state: place::GUEST, node: g.home_node, other_pid: g.home_tgid });
        }
        if r.is_capturing(tgid) {
            return Ok(Where { pid, state: place::MOVING, node: me, other_pid: 0 });
        }
        Ok(Where { pid, state: place::HOME, node: me, other_pid: 0 })
    }

    /// `/sys/kernel/roam/guests` and `away`: the processes the reader may
    /// see ([`Migration::may_see`]).
    pub(crate) fn show(&self, guests: bool, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        // (pid, node, other pid, comm), copied under the lock; the tasks
        // are looked up after.
        let mut rows: KVec<(u32, u32, u32, [u8; 16])> = KVec::new();
        {
            let r = self.reg.lock();
            if guests {
                for g in r.live_guests() {
                    if rows.push((g.pid, g.home_node, g.home_tgid, g.comm), GFP_KERNEL).is_err() {
                        break;
                    }
                }
            } else {
                for d in r.deputies.iter() {
                    if rows.push((d.tgid, d.node.load(Ordering::Relaxed), d.remote_pid.load(Ordering::Relaxed), [0; 16]), GFP_KERNEL).is_err() {
                        break;
                    }
                }
            }
        }
        for (pid, node, other, comm) in rows.iter().filter(|r| Migration::may_see(r.0)) {
            if guests {
                let comm = core::str::from_utf8(until_nul(comm)).unwrap_or("?");
                writeln!(out, "pid={} home={} home_pid={} comm={}", pid, node, other, comm)?;
            } else {
                writeln!(out, "pid={} node={} remote_pid={}", pid, node, other)?;
            }
        }
        Ok(())
    }

    /// `/sys/kernel/roam/events`: the last 36 migrations started here,
    /// oldest first, one per line (the log keeps 256).
    pub(crate) fn show_events(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let root = crate::sys::cred::may_configure();
        self.events.lock().show(out, |pid| root || Migration::may_see(pid))
    }

    /// `/sys/kernel/roam/migrations`: the migration counters.
    pub(crate) fn show_metrics(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        self.metrics.show(out)?;
        writeln!(out, "adopt_stubs_parked {}", self.pool_parked())
    }
}

pub(super) fn errno_of(code: u32) -> Error {
    match code {
        refusal::UNKNOWN_NODE => err::ehostunreach(),
        refusal::LINK => err::econnreset(),
        refusal::CANT_MOVE => EPERM,
        refusal::ALREADY_THERE => err::ealready(),
        refusal::IN_PROGRESS => EBUSY,
        refusal::GONE => ESRCH,
        refusal::NO_TRANSPORT => err::enotconn(),
        refusal::CAPTURE => EIO,
        c => RefuseReason::from_code(c as u16).map(|r| Error::from_errno(-r.errno())).unwrap_or(EIO),
    }
}

/// The errno for a process that cannot move: EBUSY when only the lock
/// stands in the way (it may move once unlocked), EINVAL otherwise.
fn cant_move_errno(reasons: u32) -> Error {
    if reasons == abi::cantmove::LOCKED {
        EBUSY
    } else {
        EINVAL
    }
}
