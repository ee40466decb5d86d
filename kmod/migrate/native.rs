// SPDX-License-Identifier: GPL-2.0

//! The deputy's native calls: a call forwarded by its remote is made in
//! user mode at home — inputs copied into the deputy's scratch area,
//! registers pointed at the call trampoline ([`Mover::start_native`]) —
//! and its end is caught at the next kernel entry, through the `MAGIC_RET`
//! gate or the signal gate ([`Mover::after_native`]), which sends the
//! result and the outputs back and lets the deputy serve again.
//!
//! Calls `deputy.rs` (its types and serving loop, through [`Mover`]).

use super::deputy::{Deputy, Inflight, CALL_OFF, DATA_OFF, DEPUTY_SCRATCH_LEN, INTERRUPT_SIG, MAGIC_RET, MAGIC_SIG};
use super::msg::ProcMsg;
use super::Mover;
use crate::fwd;
use crate::sys::{uctx, umem};
use crate::syscalls;
use crate::wire::MsgType;
use core::sync::atomic::Ordering;
use kernel::{alloc::KVVec, prelude::*, sync::Arc};

impl Mover {
    /// Sets the deputy up to make the forwarded call in `payload` natively
    /// on its return to user mode. False if the call was answered at once
    /// (malformed, or its buffers did not fit).
    pub(super) fn start_native(self: &Arc<Self>, d: &Arc<Deputy>, payload: &[u8]) -> bool {
        let Ok(call) = fwd::decode_call(payload) else { return false };
        let node = d.node.load(Ordering::Relaxed);
        let info = syscalls::lookup(call.nr as u64);
        // Only what this node's own table forwards is made here: a peer
        // cannot make the deputy run any other call.
        let forwarded = matches!(info.disposition, syscalls::Disposition::Forward);
        let answer = |me: &Self, result: i64| {
            let mut b = [0u8; fwd::RET_HEAD];
            if let Ok(n) = fwd::encode_ret(call.id, result, &[], &mut b) {
                let _ = me.send(node, MsgType::Ret, d.tgid, &b[..n]);
            }
        };
        if !forwarded {
            answer(self, -38); // ENOSYS
            return false;
        }
        let Ok((plans, mut args)) = fwd::plan(&info, &call.args) else {
            answer(self, -38); // ENOSYS
            return false;
        };
        // Lay the buffers out in the scratch data area and copy inputs in.
        let mut addrs = [0u64; 6];
        // Sized buffers' capacities; a msghdr's address capacity.
        let mut caps = [0usize; 6];
        let mut at = d.scratch + DATA_OFF;
        let end = d.scratch + DEPUTY_SCRATCH_LEN;
        for i in 0..6 {
            let need = plans[i].scratch() as u64;
            if need == 0 {
                continue;
            }
            at = (at + 15) & !15;
            if at + need > end {
                answer(self, -7); // E2BIG
                return false;
            }
            addrs[i] = at;
            args[i] = at;
            if let fwd::Plan::Msg { send } = plans[i] {
                // A msghdr: laid out from its image, pointing at its parts.
                let placed = match call.segs.get(i as u8) {
                    Some(seg) => super::sockmsg::place(at, seg.data, send),
                    None => Err(-14),
                };
                match placed {
                    Ok((_, name_cap)) => caps[i] = name_cap,
                    Err(e) => {
                        answer(self, e);
                        return false;
                    }
                }
                at += need;
                continue;
            }
            if plans[i].is_in() {
                if let Some(seg) = call.segs.get(i as u8) {
                    // No more than the argument's room: a longer input is a
                    // malformed call, not one to spill into the next buffer.
                    if seg.data.len() as u64 > need {
                        answer(self, -22); // EINVAL
                        return false;
                    }
                    if umem::write(at, seg.data).is_err() {
                        answer(self, -14); // EFAULT
                        return false;
                    }
                }
            }
            at += need;
        }
        // A sized buffer's length word says how much the call may write:
        // no more than the buffer's room here.
        for i in 0..6 {
            let fwd::Plan::Sized { max, lenp } = plans[i] else { continue };
            let Some(&lp) = addrs.get(lenp as usize) else { continue };
            // The length word as the call brought it (already in place).
            let Some(w) = call.segs.get(lenp).and_then(|s| <[u8; 4]>::try_from(s.data).ok()) else { continue };
            if addrs[i] == 0 || lp == 0 {
                continue;
            }
            let v = u32::from_le_bytes(w);
            caps[i] = fwd::sized_cap(v, max);
            if (v as i32) >= 0 && v as usize > max && umem::write(lp, &(max as u32).to_le_bytes()).is_err() {
                answer(self, -14); // EFAULT
                return false;
            }
        }
        d.ev.lock().inflight = Some(Inflight { id: call.id, plans, addrs, caps });
        d.native.store(true, Ordering::Release);
        self.enter_call(d, call.nr as u64, args);
        true
    }

    /// Back from a native call (`gate` is the magic number the trampoline
    /// or the signal gate used; `a`, `b`, `c` its registers).
    pub(super) fn after_native(self: &Arc<Self>, gate: i64, a: u64, b: u64, c: u64) {
        let tgid = uctx::ids().1;
        let Some(d) = self.reg.lock().deputy(tgid) else { return };
        d.native.store(false, Ordering::Release);
        if core::mem::take(&mut d.ev.lock().pausing) {
            // Back from a stop at home: through the signal gate, the
            // signal that ended it (SIGCONT) is the remote's too.
            if gate == MAGIC_SIG {
                uctx::set_blocked(0);
                if !(c as u32 == INTERRUPT_SIG && d.interrupting.swap(false, Ordering::AcqRel)) {
                    let _ = self.send_proc(d.node.load(Ordering::Relaxed), ProcMsg::Signal { home_pid: tgid, sig: c as u32, token: d.token });
                }
            }
            self.deputy_serve(&d);
            return;
        }
        let chore = core::mem::take(&mut d.ev.lock().chore_running);
        if chore {
            if !self.next_chore(&d) {
                self.deputy_start(&d);
            }
            return;
        }
        let node = d.node.load(Ordering::Relaxed);
        let inflight = d.ev.lock().inflight.take();
        let Some(inf) = inflight else {
            self.deputy_serve(&d);
            return;
        };
        let call_insn = d.scratch + CALL_OFF;
        let result: i64 = if gate == MAGIC_RET {
            a as i64
        } else {
            // A signal arrived: the remote decides what it means. The
            // call had not run, or is to be restarted, if the interrupted
            // ip is the `syscall` instruction itself.
            // The gate was entered as a handler, with every signal
            // blocked, and is left without `sigreturn`: unblock them again,
            // or the next signal could not interrupt the next call.
            uctx::set_blocked(0);
            // The remote's own interrupt request is not a signal for it.
            let requested = c as u32 == INTERRUPT_SIG && d.interrupting.swap(false, Ordering::AcqRel);
            if !requested {
                let _ = self.send_proc(node, ProcMsg::Signal { home_pid: tgid, sig: c as u32, token: d.token });
            }
            if b == call_insn {
                -512 // ERESTARTSYS
            } else if b == call_insn + 2 {
                a as i64
            } else {
                -4 // EINTR
            }
        };
        // Outputs: how many bytes of each go back (a sized buffer's from
        // the length word the call left).
        let mut lens = [0usize; 6];
        let mut total = 0usize;
        // A receive's msghdr goes back as an image of what the call left.
        let mut images: KVec<(u8, KVVec<u8>)> = KVec::new();
        for (i, p) in inf.plans.iter().enumerate() {
            if !p.is_out() || inf.addrs[i] == 0 {
                continue;
            }
            if let fwd::Plan::Msg { .. } = *p {
                if let Some(img) = super::sockmsg::collect(inf.addrs[i], inf.caps[i], result) {
                    total += img.len() + fwd::SEG_HEAD;
                    let _ = images.push((i as u8, img), GFP_KERNEL);
                }
                continue;
            }
            lens[i] = match *p {
                fwd::Plan::Sized { lenp, .. } => {
                    let mut w = [0u8; 4];
                    let lp = inf.addrs.get(lenp as usize).copied().unwrap_or(0);
                    if lp == 0 || umem::read(lp, &mut w).is_err() {
                        0
                    } else {
                        fwd::sized_out_len(inf.caps[i], u32::from_le_bytes(w), result)
                    }
                }
                _ => fwd::out_len(p, result),
            };
            total += lens[i] + fwd::SEG_HEAD;
        }
        let mut bufs = images;
        for (i, p) in inf.plans.iter().enumerate() {
            if !p.is_out() || inf.addrs[i] == 0 || matches!(p, fwd::Plan::Msg { .. }) {
                continue;
            }
            let n = lens[i];
            let Ok(mut v) = crate::sys::bytes::zeroed_kvv(n, GFP_KERNEL) else { continue };
            if umem::read(inf.addrs[i], &mut v).is_ok() {
                let _ = bufs.push((i as u8, v), GFP_KERNEL);
            }
        }
        let mut segs: KVec<fwd::Segment<'_>> = KVec::new();
        for (i, v) in bufs.iter() {
            let _ = segs.push(fwd::Segment { arg: *i, data: v }, GFP_KERNEL);
        }
        if let Ok(mut out) = crate::sys::bytes::zeroed_kvv(fwd::RET_HEAD + total, GFP_KERNEL) {
            if let Ok(n) = fwd::encode_ret(inf.id, result, &segs, &mut out) {
                let _ = self.send(node, MsgType::Ret, tgid, &out[..n]);
            }
        }
        drop(segs);
        drop(bufs);
        self.deputy_serve(&d);
    }
}
