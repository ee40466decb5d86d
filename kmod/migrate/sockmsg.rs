// SPDX-License-Identifier: GPL-2.0

//! `sendmsg` and `recvmsg` of a guest made at home whole, with their
//! address, ancillary data (descriptors and credentials included) and
//! flags: the guest packs the program's `msghdr` and what it names into a
//! message image ([`crate::sockmsg`]), the deputy lays it out as a real
//! `msghdr` in its scratch area and, after a receive, packs what the call
//! left, which the guest writes back into the program's `msghdr`, address,
//! ancillary buffer and vectors.
//!
//! `sendmmsg` and `recvmmsg` are made as one forwarded `sendmsg` or
//! `recvmsg` per message ([`super::Mover::forward_mmsg`]).
//!
//! Plain functions over user memory, called by `remote.rs` (the guest's
//! side of `forward_call`) and `native.rs` (the deputy's), and the
//! `mmsg` loop, which calls `forward_call`.

use crate::sockmsg::{self as sm, Check, Image, MsgHdr};
use crate::sys::umem;
use kernel::{alloc::KVVec, prelude::*};

/// What the guest's side makes of the program's `msghdr`.
pub(super) enum Packed {
    /// The request image to forward.
    Image(KVVec<u8>),
    /// Fail the call with this errno, as home would.
    Fail(i64),
    /// Make the call at home.
    Home,
}

fn zeroed(n: usize) -> core::result::Result<KVVec<u8>, i64> {
    crate::sys::bytes::zeroed_kvv(n, GFP_KERNEL).map_err(|_| -12)
}

/// The program's `msghdr` at `ptr` and its vectors: (header, (base,
/// length) pairs, total bytes).
fn read_msghdr(ptr: u64) -> core::result::Result<(MsgHdr, KVVec<(u64, u64)>, Option<u64>), i64> {
    let mut raw = [0u8; sm::MSGHDR_LEN];
    umem::read(ptr, &mut raw).map_err(|_| -14)?;
    let h = MsgHdr::parse(&raw);
    if h.iovlen > sm::MAX_IOV {
        return Ok((h, KVVec::new(), Some(0)));
    }
    let mut raw = zeroed(h.iovlen as usize * sm::IOVEC_LEN)?;
    if h.iovlen > 0 {
        umem::read(h.iov, &mut raw).map_err(|_| -14)?;
    }
    let mut vecs = KVVec::with_capacity(h.iovlen as usize, GFP_KERNEL).map_err(|_| -12)?;
    let mut total: Option<u64> = Some(0);
    for (base, len) in crate::bytes::iovecs(&raw) {
        total = total.and_then(|t| if len > i64::MAX as u64 { None } else { t.checked_add(len) });
        vecs.push((base, len), GFP_KERNEL).map_err(|_| -12)?;
    }
    Ok((h, vecs, total))
}

/// Guest: the request image for the program's `msghdr` at `ptr`.
pub(super) fn pack(ptr: u64, send: bool) -> Packed {
    match pack_inner(ptr, send) {
        Ok(p) => p,
        Err(e) => Packed::Fail(e),
    }
}

fn pack_inner(ptr: u64, send: bool) -> core::result::Result<Packed, i64> {
    let (h, vecs, total) = read_msghdr(ptr)?;
    let (name_cap, control_cap, data_cap) = match sm::check(&h, total, send) {
        Check::Forward { name, control, data } => (name, control, data),
        Check::Fail(e) => return Ok(Packed::Fail(e)),
        Check::Home => return Ok(Packed::Home),
    };
    let (mut name, mut control, mut data) = (KVVec::new(), KVVec::new(), KVVec::new());
    if send {
        name = zeroed(name_cap)?;
        if name_cap > 0 {
            umem::read(h.name, &mut name).map_err(|_| -14)?;
        }
        control = zeroed(control_cap)?;
        if control_cap > 0 {
            umem::read(h.control, &mut control).map_err(|_| -14)?;
        }
        // Gather the vectors (up to what one call carries).
        data = zeroed(data_cap)?;
        let mut at = 0usize;
        for &(base, len) in vecs.iter() {
            if at >= data_cap {
                break;
            }
            let n = (len as usize).min(data_cap - at);
            if n > 0 {
                umem::read(base, &mut data[at..at + n]).map_err(|_| -14)?;
            }
            at += n;
        }
    }
    let img = Image {
        has_name: h.name != 0,
        has_control: h.control != 0,
        // A send's own length (the call checks it); a receive's capacity.
        namelen: if send { h.namelen } else { name_cap as u32 },
        controllen: control_cap as u32,
        flags: 0,
        datalen: data_cap as u32,
        name: &name,
        control: &control,
        data: &data,
    };
    let mut out = zeroed(img.len())?;
    sm::encode(&img, &mut out).map_err(|_| -7)?;
    Ok(Packed::Image(out))
}

/// Deputy: lays request image `seg` out at `base` (room:
/// [`sm::SCRATCH`]); returns the `msghdr`'s address and the address
/// capacity given to the call.
pub(super) fn place(base: u64, seg: &[u8], send: bool) -> core::result::Result<(u64, usize), i64> {
    let parts = sm::request_parts(seg, send).map_err(|_| -22)?;
    let img = sm::decode(seg, parts).map_err(|_| -22)?;
    let (mh, iov, name, control, data) = sm::layout(base);
    if send {
        for (at, part) in [(name, img.name), (control, img.control), (data, img.data)] {
            if !part.is_empty() {
                umem::write(at, part).map_err(|_| -14)?;
            }
        }
    }
    let name_cap = (img.namelen as usize).min(sm::NAME_MAX);
    let h = MsgHdr {
        name: if img.has_name { name } else { 0 },
        namelen: if send { img.namelen } else { name_cap as u32 },
        iov,
        iovlen: 1,
        control: if img.has_control { control } else { 0 },
        controllen: if send { img.control.len() as u64 } else { (img.controllen as usize).min(sm::CONTROL_MAX) as u64 },
        flags: 0,
    };
    let len = if send { img.data.len() } else { (img.datalen as usize).min(sm::DATA_MAX) };
    let mut v = [0u8; sm::IOVEC_LEN];
    v[..8].copy_from_slice(&data.to_le_bytes());
    v[8..].copy_from_slice(&(len as u64).to_le_bytes());
    let mut raw = [0u8; sm::MSGHDR_LEN];
    h.write(&mut raw);
    umem::write(iov, &v).map_err(|_| -14)?;
    umem::write(mh, &raw).map_err(|_| -14)?;
    Ok((mh, name_cap))
}

/// Deputy: the answer image after a receive laid out at `base` returned
/// `result` (an address capacity of `name_cap` was given). None if there
/// is nothing to send back.
pub(super) fn collect(base: u64, name_cap: usize, result: i64) -> Option<KVVec<u8>> {
    if result < 0 {
        return None;
    }
    let (mh, iov, name_at, control_at, data_at) = sm::layout(base);
    let mut raw = [0u8; sm::MSGHDR_LEN];
    umem::read(mh, &mut raw).ok()?;
    let h = MsgHdr::parse(&raw);
    let mut v = [0u8; sm::IOVEC_LEN];
    umem::read(iov, &mut v).ok()?;
    let room = crate::bytes::u64_at(&v, 8) as usize;
    let nl = if h.name != 0 { (h.namelen as usize).min(name_cap).min(sm::NAME_MAX) } else { 0 };
    let cl = if h.control != 0 { (h.controllen as usize).min(sm::CONTROL_MAX) } else { 0 };
    let dl = (result as u64).min(room.min(sm::DATA_MAX) as u64) as usize;
    let mut name = zeroed(nl).ok()?;
    let mut control = zeroed(cl).ok()?;
    let mut data = zeroed(dl).ok()?;
    for (at, part) in [(name_at, &mut name), (control_at, &mut control), (data_at, &mut data)] {
        if !part.is_empty() {
            umem::read(at, part).ok()?;
        }
    }
    let img = Image {
        has_name: h.name != 0,
        has_control: h.control != 0,
        namelen: h.namelen,
        controllen: cl as u32,
        flags: h.flags,
        datalen: dl as u32,
        name: &name,
        control: &control,
        data: &data,
    };
    let mut out = zeroed(img.len()).ok()?;
    sm::encode(&img, &mut out).ok()?;
    Some(out)
}

/// Guest: writes what a receive left (answer image `seg`) into the
/// program's `msghdr` at `ptr`, its address and ancillary buffers and its
/// vectors. An errno if the program's memory cannot take it.
pub(super) fn unpack(ptr: u64, seg: &[u8]) -> core::result::Result<(), i64> {
    let (h, vecs, _) = read_msghdr(ptr)?;
    let name_cap = if h.name == 0 { 0 } else { (h.namelen as usize).min(sm::NAME_MAX) };
    let parts = sm::answer_parts(seg, name_cap).map_err(|_| -5)?;
    let img = sm::decode(seg, parts).map_err(|_| -5)?;
    if h.name != 0 {
        if !img.name.is_empty() {
            umem::write(h.name, img.name).map_err(|_| -14)?;
        }
        umem::write(ptr + sm::OFF_NAMELEN as u64, &img.namelen.to_le_bytes()).map_err(|_| -14)?;
    }
    if h.control != 0 && !img.control.is_empty() {
        let n = img.control.len().min(h.controllen as usize);
        umem::write(h.control, &img.control[..n]).map_err(|_| -14)?;
    }
    umem::write(ptr + sm::OFF_CONTROLLEN as u64, &u64::from(img.controllen).to_le_bytes()).map_err(|_| -14)?;
    umem::write(ptr + sm::OFF_FLAGS as u64, &img.flags.to_le_bytes()).map_err(|_| -14)?;
    let mut at = 0usize;
    for &(base, len) in vecs.iter() {
        if at >= img.data.len() {
            break;
        }
        let n = (len as usize).min(img.data.len() - at);
        if n > 0 {
            umem::write(base, &img.data[at..at + n]).map_err(|_| -14)?;
        }
        at += n;
    }
    Ok(())
}

/// `sendmmsg`'s number.
pub(super) const NR_SENDMMSG: i64 = 307;
/// `recvmmsg`'s number.
pub(super) const NR_RECVMMSG: i64 = 299;
/// Bytes of an x86-64 `struct mmsghdr`: a `msghdr`, `msg_len`, padding.
const MMSGHDR_LEN: u64 = 64;
/// `UIO_MAXIOV`: `vlen` is lowered to it, as the kernel does.
const MAX_VLEN: u64 = 1024;
/// `MSG_WAITFORONE`: after the first message, do not wait.
const MSG_WAITFORONE: u64 = 0x10000;
/// `MSG_DONTWAIT`.
const MSG_DONTWAIT: u64 = 0x40;

/// Whether the hook may hand `nr` with `args` to
/// [`super::Mover::forward_mmsg`]: `sendmmsg`, and `recvmmsg` without a
/// timeout (one with a timeout is made at home).
pub(super) fn is_mmsg(nr: i64, args: &[u64; 6]) -> bool {
    match nr {
        NR_SENDMMSG => true,
        NR_RECVMMSG => args[4] == 0,
        _ => false,
    }
}

impl super::Mover {
    /// In the guest's task_work: `sendmmsg` or `recvmmsg` made as one
    /// forwarded `sendmsg` or `recvmsg` per message, as the kernel makes
    /// them: each message's length goes to its `msg_len`; an error after
    /// the first message ends the call with the count so far (the error
    /// is lost, as the kernel loses it); with `MSG_WAITFORONE` the
    /// receives after the first do not wait. Interrupted before its first
    /// message, the call itself is restarted or fails as a single one
    /// would.
    pub(super) fn forward_mmsg(self: &kernel::sync::Arc<Self>, nr: i64, args: [u64; 6]) {
        let set = |v: i64| crate::sys::uctx::with_pt_regs(|r| r.ax = v as u64 as _);
        let (fd, vec, vlen, mut flags) = (args[0], args[1], args[2].min(MAX_VLEN), args[3]);
        let single = i64::from(if nr == NR_SENDMMSG { crate::fwd::NR_SENDMSG } else { crate::fwd::NR_RECVMSG });
        let mut done = 0u64;
        while done < vlen {
            let hdr = vec + done * MMSGHDR_LEN;
            let targs = [fd, hdr, flags & !MSG_WAITFORONE, 0, 0, 0];
            let Ok((plans, largs)) = crate::fwd::plan(&crate::syscalls::lookup(single as u64), &targs) else {
                return set(-22);
            };
            // The first message: exactly a single call standing for the
            // whole one (its restart re-issues `nr`).
            let restart = if done == 0 { nr } else { single };
            let got = self.forward_call(single, restart, targs, plans, largs);
            let result = match got {
                Some(r) => r,
                None if done == 0 => return,
                None => {
                    // Left to be restarted, or failed before it was made:
                    // the call ends with what was done (undo the restart).
                    crate::sys::uctx::with_pt_regs(|r| {
                        if r.ax as i64 == single {
                            r.ip = (r.ip as u64).wrapping_add(2) as _;
                        }
                    });
                    return set(done as i64);
                }
            };
            if result < 0 {
                return set(if done == 0 { result } else { done as i64 });
            }
            if umem::write(hdr + sm::MSGHDR_LEN as u64, &(result as u32).to_le_bytes()).is_err() {
                return set(if done == 0 { -14 } else { done as i64 });
            }
            done += 1;
            if nr == NR_RECVMMSG && flags & MSG_WAITFORONE != 0 {
                flags |= MSG_DONTWAIT;
            }
        }
        set(done as i64);
    }
}
