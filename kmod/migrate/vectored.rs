// SPDX-License-Identifier: GPL-2.0

//! Scatter/gather calls of a guest made at home: `readv`, `writev`,
//! `preadv`, `pwritev`, and `preadv2`/`pwritev2` without flags. The
//! guest gathers what a write gives into its scratch area (the
//! restorer's, unused once the process runs), and the call is forwarded
//! as the one `write`/`pwrite64` it is equivalent to (one call: a pipe
//! sees it as atomic as the vectored one); a read is forwarded as one
//! `read`/`pread64` into the scratch area, and what it returned is
//! scattered over the vectors. Interrupted at home, the vectored call
//! itself is restarted. As for `read` and `write`, a call larger than a
//! forwarded buffer is a short one.
//!
//! Calls `remote.rs` (`forward_call`) and the registry.

use super::Mover;
use crate::fwd;
use crate::restore;
use crate::sys::{uctx, umem};
use crate::syscalls;
use kernel::{prelude::*, sync::Arc};

pub(super) const NR_READV: i64 = 19;
pub(super) const NR_WRITEV: i64 = 20;
pub(super) const NR_PREADV: i64 = 295;
pub(super) const NR_PWRITEV: i64 = 296;
pub(super) const NR_PREADV2: i64 = 327;
pub(super) const NR_PWRITEV2: i64 = 328;

/// `UIO_MAXIOV`: more vectors fail with EINVAL, as at home.
const UIO_MAXIOV: u64 = 1024;

/// Whether the hook may hand call `nr` with arguments `args` to
/// [`Mover::forward_vectored`]: the vectored calls, the `2` forms only
/// without flags (others are made at home).
pub(super) fn is_vectored(nr: i64, args: &[u64; 6]) -> bool {
    match nr {
        NR_READV | NR_WRITEV | NR_PREADV | NR_PWRITEV => true,
        NR_PREADV2 | NR_PWRITEV2 => args[5] == 0,
        _ => false,
    }
}

impl Mover {
    /// In the guest's task_work: vectored call `nr` with `args`, made at
    /// home as one plain read or write (see the top of the file).
    pub(super) fn forward_vectored(self: &Arc<Self>, nr: i64, args: [u64; 6]) {
        let fail = |e: i64| uctx::with_pt_regs(|r| r.ax = e as u64 as _);
        let tgid = uctx::ids().1;
        let Some(buf) = self.call_buffer(tgid) else { return fail(-12) };
        let scratch = buf.addr;
        let (fd, iov, count) = (args[0], args[1], args[2]);
        if count > UIO_MAXIOV {
            return fail(-22);
        }
        let write = matches!(nr, NR_WRITEV | NR_PWRITEV | NR_PWRITEV2);
        // The 2 forms take offset -1 as "the current position".
        let offset = match nr {
            NR_PREADV | NR_PWRITEV => Some(args[3]),
            NR_PREADV2 | NR_PWRITEV2 if args[3] as i64 != -1 => Some(args[3]),
            _ => None,
        };
        // The vectors: (base, length) pairs.
        let Ok(mut raw) = crate::sys::bytes::zeroed_kvv((count as usize) * crate::bytes::IOVEC_LEN, GFP_KERNEL) else { return fail(-12) };
        if count > 0 && umem::read(iov, &mut raw).is_err() {
            return fail(-14);
        }
        let vecs = crate::bytes::iovecs(&raw);
        let mut total: u64 = 0;
        for (_, len) in vecs.clone() {
            if len > i64::MAX as u64 {
                return fail(-22);
            }
            total = total.saturating_add(len);
        }
        if total > i64::MAX as u64 {
            return fail(-22);
        }
        let cap = restore::SCRATCH_LEN.min(fwd::MAX_BUF) as u64;
        let len = total.min(cap) as usize;
        if write {
            // Gather.
            let Ok(mut buf) = crate::sys::bytes::zeroed_kvv(len, GFP_KERNEL) else { return fail(-12) };
            let mut at = 0usize;
            for (base, l) in vecs.clone() {
                if at >= len {
                    break;
                }
                let n = (l as usize).min(len - at);
                if n > 0 && umem::read(base, &mut buf[at..at + n]).is_err() {
                    return fail(-14);
                }
                at += n;
            }
            if umem::write(scratch, &buf).is_err() {
                return fail(-14);
            }
        }
        let (target, targs) = match (write, offset) {
            (false, None) => (0i64, [fd, scratch, len as u64, 0, 0, 0]),
            (true, None) => (1i64, [fd, scratch, len as u64, 0, 0, 0]),
            (false, Some(o)) => (17i64, [fd, scratch, len as u64, o, 0, 0]),
            (true, Some(o)) => (18i64, [fd, scratch, len as u64, o, 0, 0]),
        };
        let Ok((plans, largs)) = fwd::plan(&syscalls::lookup(target as u64), &targs) else { return fail(-22) };
        let Some(got) = self.forward_call(target, nr, targs, plans, largs) else { return };
        if write || got <= 0 {
            return;
        }
        // Scatter what was read.
        let got = (got as usize).min(len);
        let Ok(mut buf) = crate::sys::bytes::zeroed_kvv(got, GFP_KERNEL) else { return fail(-12) };
        if umem::read(scratch, &mut buf).is_err() {
            return fail(-14);
        }
        let mut at = 0usize;
        for (base, l) in vecs {
            if at >= got {
                break;
            }
            let n = (l as usize).min(got - at);
            if n > 0 && umem::write(base, &buf[at..at + n]).is_err() {
                return fail(-14);
            }
            at += n;
        }
    }
}
