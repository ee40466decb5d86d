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
            (g.home_node, g.home_tgid)
        });
        let Some((home, home_tgid)) = home else { return None };
        let fail = |e: i64| {
            uctx::with_pt_regs(|r| r.ax = e as u64 as _);
            None
        };
        // Inputs.
        let mut bufs: KVec<(u8, KVVec<u8>)> = KVec::new();
        let mut total = 0usize;
        for (i, p) in plans.iter().enumerate() {
            let fwd::Plan::In { len, path } = *p else {
                if let fwd::Plan::InOut { len } = *p {
                    let Ok(mut v) = KVVec::from_elem(0u8, len, GFP_KERNEL) else { return fail(-12) };
                    if umem::read(args[i], &mut v).is_err() {
                        return fail(-14);
                    }
                    total += len + fwd::SEG_HEAD;
                    let _ = bufs.push((i as u8, v), GFP_KERNEL);
                }
                continue;
            };
            let Ok(mut v) = KVVec::from_elem(0u8, len, GFP_KERNEL) else { return fail(-12) };
            if path {
                match umem::read_str(args[i], &mut v) {
                    Ok(n) => {
                        // Keep the NUL.
                        let keep = KVVec::from_elem(0u8, n + 1, GFP_KERNEL);
                        let Ok(mut k) = keep else { return fail(-12) };
                        k[..n].copy_from_slice(&v[..n]);
                        v = k;
                    }
                    Err(e) => return fail(e.to_errno() as i64),
                }
            } else if umem::read(args[i], &mut v).is_err() {
                return fail(-14);
            }
            total += v.len() + fwd::SEG_HEAD;
            let _ = bufs.push((i as u8, v), GFP_KERNEL);
        }
        let id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let payload = {
            let mut segs: KVec<fwd::Segment<'_>> = KVec::new();
            for (i, v) in bufs.iter() {
                let _ = segs.push(fwd::Segment { arg: *i, data: v }, GFP_KERNEL);
            }
            let Ok(mut out) = KVVec::from_elem(0u8, fwd::CALL_HEAD + total, GFP_KERNEL) else { return fail(-12) };
            match fwd::encode_call(id, nr as u32, &largs, &segs, &mut out) {
                Ok(n) => {
                    let mut p = KVVec::new();
                    if p.extend_from_slice(&out[..n], GFP_KERNEL).is_err() {
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
        let sent = self.send(home, MsgType::Call, home_tgid, &payload);
        let ret = if sent.is_ok() { self.wait_ret(&w) } else { None };
        let _ = crate::lists::retain_owned(&mut self.reg.lock().waits, |x| x.id != id);
        let Some(ret) = ret else {
            // Home is gone (this guest is being killed) or we are dying.
            return fail(-5);
        };
        let Ok(r) = fwd::decode_ret(&ret) else { return fail(-5) };
        for seg in r.segs.iter() {
            let i = seg.arg as usize;
            if i < 6 && plans[i].is_out() && args[i] != 0 && seg.data.len() <= plans[i].scratch() {
                if umem::write(args[i], seg.data).is_err() && r.result >= 0 {
                    return fail(-14);
                }
            }
        }
        if r.result == -512 {
            // Interrupted at home by a signal that was forwarded here first:
            // let this kernel's signal code restart it or fail it with EINTR
            // as the handler's flags say. With no signal pending (it was
            // ignored here), simply issue it again.
            if uctx::signal_pending() {
                uctx::with_pt_regs(|rg| {
                    rg.ax = (-512i64) as u64 as _;
                    rg.orig_ax = restart_nr as u64 as _;
                });
            } else {
                uctx::with_pt_regs(|rg| {
                    rg.ax = restart_nr as u64 as _;
                    rg.ip = (rg.ip as u64).wrapping_sub(2) as _;
                });
            }
            return None;
        }
        uctx::with_pt_regs(|rg| rg.ax = r.result as u64 as _);
        Some(r.result)
    }

    /// Waits for the answer to `w`: None if home went down or we are being
    /// killed. Other signals wait until the answer is in (the deputy sends
    /// it right after any signal it forwards).
    fn wait_ret(&self, w: &CallWait) -> Option<KVec<u8>> {
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
            if v.extend_from_slice(payload, GFP_KERNEL).is_ok() {
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
            self.ignored(from, "Recall", home_pid);
            return;
        };
        let Ok(t) = TaskRef::find(pid) else { return };
        let dest = if dest == 0 { from } else { dest };
        let me2 = self.clone();
        let _ = t.queue_work(
            move || {
                match me2.move_current(dest, Cause::Recall) {
                    Ok((pid, _)) => me2.after_departure(dest, pid),
                    Err(code) => {
                        pr_info!("guest pid {} (pid {} of node {}): recalled to node {}, but it cannot move: {}\n", uctx::ids().1, home_pid, from, dest, refusal::explain(code));
                        // Home is waiting for it to show up: tell it now.
                        let _ = me2.send_proc(from, ProcMsg::Stayed { home_pid, code, token });
                    }
                }
            },
            true,
        );
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
