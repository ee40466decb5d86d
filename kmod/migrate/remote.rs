// SPDX-License-Identifier: GPL-2.0

//! The guest side of a process that runs here while its home is another
//! node: a forwarded system call (inputs read from the guest's memory,
//! one `Call` frame to the deputy, the answer's outputs written back, the
//! restart semantics of a call interrupted at home), signals and recalls
//! from home, and bringing the process home for a call only home can
//! make.
//!
//! Owns [`CallWait`]. Calls the registry, the send helpers and, to go
//! home, `outgoing.rs`.

use super::events::Cause;
use super::msg::ProcMsg;
use super::{wait_ms, Mover};
use crate::abi::refusal;
use crate::faults::Phase;
use crate::fwd;
use crate::sys::task::TaskRef;
use crate::sys::uctx;
use crate::sys::umem;
use crate::syscalls;
use crate::wire::MsgType;
use core::sync::atomic::Ordering;
use kernel::{
    alloc::KVVec,
    new_condvar, new_mutex,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
};

/// A remote's forwarded call waiting for its answer.
#[pin_data]
pub(super) struct CallWait {
    pub(super) id: u32,
    pub(super) home: u32,
    #[pin]
    pub(super) ret: Mutex<Option<KVec<u8>>>,
    #[pin]
    pub(super) cv: CondVar,
}

impl Mover {
    /// On a guest: makes forwarded call `nr` through the deputy at home.
    /// The call interrupted at home restarts as system call `restart_nr`
    /// with the task's registers (`nr` itself, unless the call stands for
    /// another, as a gathered `writev` for a `write`). Returns the result
    /// it set, or None if it left the call to be restarted or failed it
    /// before it was made.
    pub(super) fn forward_call(self: &Arc<Self>, nr: i64, restart_nr: i64, args: [u64; 6], plans: [fwd::Plan; 6], largs: [u64; 6]) -> Option<i64> {
        let tgid = uctx::ids().1;
        let home = self.reg.lock().guest_mut(tgid).map(|g| {
            g.calls = g.calls.saturating_add(1);
            (g.home_node, g.home_tgid, g.token)
        });
        let Some((home, home_tgid, token)) = home else { return None };
        let fail = |e: i64| {
            uctx::with_pt_regs(|r| r.ax = e as u64 as _);
            None
        };
        // Inputs.
        let mut bufs: KVec<(u8, KVVec<u8>)> = KVec::new();
        let mut total = 0usize;
        // Each sized buffer's capacity (the caller's length word, capped).
        let mut caps = [0usize; 6];
        // The signal mask the call waits with, if it names one.
        let mut mask: Option<u64> = None;
        for (i, p) in plans.iter().enumerate() {
            let v = match *p {
                fwd::Plan::In { len, path: true } => {
                    let Ok(mut v) = crate::sys::bytes::zeroed_kvv(len, GFP_KERNEL) else { return fail(-12) };
                    match umem::read_str(args[i], &mut v) {
                        Ok(n) => {
                            // Keep the NUL.
                            let Ok(mut k) = crate::sys::bytes::zeroed_kvv(n + 1, GFP_KERNEL) else { return fail(-12) };
                            k[..n].copy_from_slice(&v[..n]);
                            k
                        }
                        Err(e) => return fail(e.to_errno() as i64),
                    }
                }
                fwd::Plan::In { len, path: false } | fwd::Plan::InOut { len } => {
                    let Ok(mut v) = crate::sys::bytes::zeroed_kvv(len, GFP_KERNEL) else { return fail(-12) };
                    if umem::read(args[i], &mut v).is_err() {
                        return fail(-14);
                    }
                    v
                }
                fwd::Plan::Sized { max, lenp } => {
                    // The capacity is the length word the caller points
                    // to (none if it is null: the call fails with EFAULT).
                    let lp = args.get(lenp as usize).copied().unwrap_or(0);
                    let mut w = [0u8; 4];
                    if lp != 0 && umem::read(lp, &mut w).is_err() {
                        return fail(-14);
                    }
                    caps[i] = if lp == 0 { 0 } else { fwd::sized_cap(u32::from_le_bytes(w), max) };
                    let Ok(mut v) = crate::sys::bytes::zeroed_kvv(caps[i], GFP_KERNEL) else { return fail(-12) };
                    if umem::read(args[i], &mut v).is_err() {
                        return fail(-14);
                    }
                    v
                }
                fwd::Plan::Msg { send } => match super::sockmsg::pack(args[i], send) {
                    super::sockmsg::Packed::Image(v) => v,
                    super::sockmsg::Packed::Fail(e) => return fail(e),
                    super::sockmsg::Packed::Home => {
                        self.go_home_for(nr);
                        return None;
                    }
                },
                fwd::Plan::Mask { size_arg, pair } => {
                    match read_mask(args[i], args.get(size_arg as usize).copied().unwrap_or(0), pair) {
                        Ok(m) => mask = m,
                        Err(e) => return fail(e),
                    }
                    continue;
                }
                _ => continue,
            };
            total += v.len() + fwd::SEG_HEAD;
            if bufs.push((i as u8, v), GFP_KERNEL).is_err() {
                return fail(-12);
            }
        }
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let payload = {
            let mut segs: KVec<fwd::Segment<'_>> = KVec::new();
            for (i, v) in bufs.iter() {
                let _ = segs.push(fwd::Segment { arg: *i, data: v }, GFP_KERNEL);
            }
            let Ok(mut out) = crate::sys::bytes::zeroed_kvv(fwd::CALL_HEAD + total, GFP_KERNEL) else { return fail(-12) };
            match fwd::encode_call(id, nr as u32, &largs, &segs, &mut out) {
                Ok(n) => {
                    let mut p = KVVec::new();
                    if crate::sys::bytes::extend(&mut p, &out[..n], GFP_KERNEL).is_err() {
                        return fail(-12);
                    }
                    p
                }
                Err(_) => return fail(-7),
            }
        };
        drop(bufs);
        let Ok(w) = Arc::pin_init(pin_init!(CallWait { id, home, ret <- new_mutex!(None, "roam_call"), cv <- new_condvar!("roam_call") }), GFP_KERNEL)
        else {
            return fail(-12);
        };
        if self.reg.lock().waits.push(w.clone(), GFP_KERNEL).is_err() {
            return fail(-12);
        }
        // A call that waits with a mask of its own waits here with it
        // (the deputy, which only forwards signals, gets none): a signal it
        // unblocks that is already pending interrupts it at once, as at home.
        if let Some(m) = mask {
            uctx::temp_mask(m);
            if uctx::real_signal_pending() {
                let _ = crate::lists::retain_owned(&mut self.reg.lock().waits, |x| x.id != id);
                uctx::end_temp_mask(true);
                return fail(-4);
            }
        }
        // Fault injection: the connection home closes just before the
        // call goes (it goes on a new one).
        if self.ctl.failpoint.hit(Phase::CallLink) {
            self.drop_link(home);
        }
        let sent = self.send(home, MsgType::Call, home_tgid, &payload);
        if sent.is_ok() {
            self.metrics.forwarded();
        }
        let ret = if sent.is_ok() { self.wait_ret(&w, home_tgid, token) } else { None };
        let _ = crate::lists::retain_owned(&mut self.reg.lock().waits, |x| x.id != id);
        let decoded = ret.as_deref().map(fwd::decode_ret);
        let Some(Ok(r)) = decoded else {
            if mask.is_some() {
                uctx::end_temp_mask(false);
            }
            // Home is gone (this guest is being killed) or we are dying.
            return fail(-5);
        };
        for seg in r.segs.iter() {
            let i = seg.arg as usize;
            if i >= 6 || !plans[i].is_out() || args[i] == 0 {
                continue;
            }
            if let fwd::Plan::Msg { .. } = plans[i] {
                // What a receive left, written into the program's msghdr.
                if r.result >= 0 {
                    if let Err(e) = super::sockmsg::unpack(args[i], seg.data) {
                        if mask.is_some() {
                            uctx::end_temp_mask(false);
                        }
                        return fail(e);
                    }
                }
                continue;
            }
            let room = if matches!(plans[i], fwd::Plan::Sized { .. }) { caps[i] } else { plans[i].scratch() };
            if seg.data.len() <= room && umem::write(args[i], seg.data).is_err() && r.result >= 0 {
                if mask.is_some() {
                    uctx::end_temp_mask(false);
                }
                return fail(-14);
            }
        }
        if r.result >= 0 {
            if let Err(e) = complete_here(nr, &args) {
                if mask.is_some() {
                    uctx::end_temp_mask(false);
                }
                return fail(e);
            }
        }
        // Interrupted at home before it completed (-ERESTARTSYS): by a
        // signal that was forwarded here, or by the interrupt this side
        // asked for. The signal's handler flags decide, as the kernel's
        // signal code would: `EINTR` if a pending signal's handler lacks
        // `SA_RESTART`; otherwise the call is made again (after the
        // handlers run). The registers are left as a finished call or one
        // not yet made, never mid-restart, so that a move queued behind
        // this work captures a consistent state.
        let mut result = r.result;
        let mut reissue = false;
        if result == -512 {
            if uctx::real_signal_pending() && !uctx::pending_signals_restart() {
                result = -4;
            } else {
                reissue = true;
            }
        }
        // A wait that a signal interrupted at home, where it runs, but
        // that the same signal does not interrupt here (blocked, or
        // ignored): at home it would still be waiting, so it is made
        // again.
        if result == -4 && fwd::waits_for_events(nr as u64) && !uctx::real_signal_pending() {
            reissue = true;
        }
        if mask.is_some() {
            uctx::end_temp_mask(result == -4 && !reissue);
        }
        if reissue {
            uctx::with_pt_regs(|rg| {
                rg.ax = restart_nr as u64 as _;
                rg.ip = (rg.ip as u64).wrapping_sub(2) as _;
            });
            return None;
        }
        uctx::with_pt_regs(|rg| rg.ax = result as u64 as _);
        Some(result)
    }

    /// Waits for the answer to `w` (a call of process `home_tgid`, whose
    /// token is `token`): None if home went down or we are being killed.
    /// A signal that arrives here meanwhile asks home to interrupt
    /// the call, as the signal would have there; the answer then comes
    /// at once (the call's own result, or its restart).
    fn wait_ret(&self, w: &CallWait, home_tgid: u32, token: u64) -> Option<KVec<u8>> {
        let mut asked = 0u32;
        let mut g = w.ret.lock();
        loop {
            if let Some(r) = g.take() {
                return Some(r);
            }
            if uctx::fatal_signal_pending() || !self.peer_up(w.home) {
                return None;
            }
            if uctx::signal_pending() {
                drop(g);
                // A signal (not only work queued for this task, such as a
                // recall, which waits for the answer): ask, and again every
                // 250 rounds (half a second or more) in case the request
                // reached home before the call had started.
                if uctx::real_signal_pending() {
                    if asked % 250 == 0 {
                        let _ = self.send_proc(w.home, ProcMsg::Interrupt { home_pid: home_tgid, id: w.id, token });
                    }
                    asked = asked.wrapping_add(1);
                }
                crate::sys::thread::sleep_ms_uninterruptible(2);
                g = w.ret.lock();
            } else {
                wait_ms(&w.cv, &mut g, 200);
            }
        }
    }

    /// A `Ret` frame from node `from`: the answer to a forwarded call.
    pub(super) fn call_answered(&self, from: u32, payload: &[u8]) {
        let Some(rid) = payload.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else { return };
        let w = self.reg.lock().waits.iter().find(|w| w.id == rid && w.home == from).cloned();
        if let Some(w) = w {
            let mut v = KVec::new();
            if crate::sys::bytes::extend(&mut v, payload, GFP_KERNEL).is_ok() {
                *w.ret.lock() = Some(v);
                w.cv.notify_all();
            }
        }
    }

    /// Home (node `from`) sends signal `sig` to its process `home_pid`.
    pub(super) fn guest_signal(&self, from: u32, home_pid: u32, sig: u32, token: u64) {
        let pid = self.reg.lock().guest_pid(from, home_pid, token);
        if pid.is_none() {
            self.ignored(from, "Signal", home_pid);
        }
        if let Some(t) = pid.and_then(|p| TaskRef::find(p).ok()) {
            t.signal(sig);
        }
    }

    /// Home (node `from`) asks its process `home_pid` to move to `dest`
    /// (0: home).
    pub(super) fn guest_recall(self: &Arc<Self>, from: u32, home_pid: u32, dest: u32, token: u64) {
        let Some(pid) = self.reg.lock().guest_pid(from, home_pid, token) else {
            if !self.keep_early_recall(from, home_pid, dest, token) {
                self.ignored(from, "Recall", home_pid);
            }
            return;
        };
        let Ok(t) = TaskRef::find(pid) else { return };
        let dest = if dest == 0 { from } else { dest };
        let _ = self.queue_when_restored(&t, move |me| match me.move_current(dest, Cause::Recall) {
            Ok((pid, _)) => me.after_departure(dest, pid),
            Err(code) => {
                pr_info!("guest pid {} (pid {} of node {}): recalled to node {}, but it cannot move: {}\n", uctx::ids().1, home_pid, from, dest, refusal::explain(code));
                // Home is waiting for it to show up: tell it now.
                let _ = me.send_proc(from, ProcMsg::Stayed { home_pid, code, token });
            }
        });
    }

    /// In the guest's task_work: call `nr`, skipped by the hook, needs
    /// home; move home, where it is made again.
    pub(super) fn go_home_for(self: &Arc<Self>, nr: i64) {
        // Re-issue the call at home: back to the `syscall` instruction
        // with its number in rax.
        uctx::with_pt_regs(|r| {
            r.ax = nr as u64 as _;
            r.ip = (r.ip as u64).wrapping_sub(2) as _;
        });
        let home = self.reg.lock().guest(uctx::ids().1).map(|g| g.home_node);
        let Some(home) = home else { return };
        match self.move_current(home, Cause::Syscall) {
            Ok((pid, _)) => self.after_departure(home, pid),
            Err(code) => {
                pr_warn!("guest pid {}: cannot go home for syscall {}: {}\n", uctx::ids().1, syscalls::name(nr as u64), refusal::explain(code));
                uctx::with_pt_regs(|r| {
                    r.ip = (r.ip as u64).wrapping_add(2) as _;
                    r.ax = (-5i64) as u64 as _;
                });
            }
        }
    }
}

/// The signal mask a waiting call names at `ptr` (`pair`: `pselect6`'s
/// pointer to a mask pointer and its size; else `size` is the size):
/// None for a null one, or the errno the call would fail with at home.
fn read_mask(ptr: u64, size: u64, pair: bool) -> core::result::Result<Option<u64>, i64> {
    let (at, size) = if pair {
        if ptr == 0 {
            return Ok(None);
        }
        let mut b = [0u8; 16];
        umem::read(ptr, &mut b).map_err(|_| -14i64)?;
        let at = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let size = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        (at, size)
    } else {
        (ptr, size)
    };
    if at == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(-22);
    }
    let mut m = [0u8; 8];
    umem::read(at, &mut m).map_err(|_| -14i64)?;
    Ok(Some(u64::from_le_bytes(m)))
}

/// `times`' number.
const NR_TIMES: i64 = 100;

/// What a forwarded call that succeeded at home still needs from this
/// node, where the process runs: `times` gets the process's own CPU time
/// from here (the children's times and the clock are home's; the task
/// here started from what it had used before). Ok, or the errno.
fn complete_here(nr: i64, args: &[u64; 6]) -> core::result::Result<(), i64> {
    if nr == NR_TIMES && args[0] != 0 {
        let (user, system) = own_times_ticks();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&user.to_le_bytes());
        b[8..].copy_from_slice(&system.to_le_bytes());
        umem::write(args[0], &b).map_err(|_| -14)?;
    }
    Ok(())
}
/// `USER_HZ` on x86-64: `clock_t` ticks per second.
const USER_HZ: u64 = 100;

/// The current process's user and system CPU time in `clock_t` ticks,
/// split as the kernel's `times` splits it: the scheduler's runtime
/// shared in the ratio of the sampled user and system times.
fn own_times_ticks() -> (u64, u64) {
    let c = crate::sys::timers::cputime();
    let sampled = c.utime_ns.saturating_add(c.stime_ns);
    let tick = 1_000_000_000 / USER_HZ;
    let total = c.runtime_ns.max(sampled) / tick;
    // user / sampled, both scaled down to 32 bits so that the product
    // cannot overflow (no 128-bit division in the kernel).
    let (mut u, mut all) = (c.utime_ns, sampled);
    while all > u64::from(u32::MAX) {
        u >>= 1;
        all >>= 1;
    }
    let user = if all == 0 { total } else { total.saturating_mul(u) / all };
    (user, total.saturating_sub(user))
}
