// SPDX-License-Identifier: GPL-2.0

//! Private file mappings made by a guest: `mmap` of a descriptor (which
//! lives at home) with `MAP_PRIVATE`. The guest maps private anonymous
//! memory where `mmap` would have put the file, with the protection and
//! placement flags asked for, and fills it with the file's bytes, read at
//! home (`fstat` for the size, then `pread64` in pieces through the
//! guest's scratch area, written into the mapping whatever its
//! protection). What the process sees is what a private mapping shows
//! when every page is touched at once: the file's bytes up to its end,
//! zeros after them in the last page. Two differences from home remain:
//! the pages are a copy taken at `mmap` time (a private mapping at home
//! sees later writes to the file in pages it has not touched), and a page
//! wholly beyond the end of the file reads as zeros instead of raising
//! `SIGBUS`; `/proc/PID/maps` shows the area without the file's name.
//!
//! Shared mappings (their writes must reach the file, and others' writes
//! must show), huge-page mappings, anything but a regular file, and
//! files of more than [`MAX_COPY`] bytes past the offset bring the
//! process home, where the call is made as it is.
//!
//! Calls `remote.rs` (`forward_call`, `go_home_for`) and the registry.

use super::Mover;
use crate::fwd;
use crate::restore;
use crate::sys::{uctx, umem};
use crate::syscalls;
use kernel::{prelude::*, sync::Arc};

pub(super) const NR_MMAP: i64 = 9;
const NR_PREAD64: i64 = 17;
const NR_FSTAT: i64 = 5;

/// `mmap` flags.
pub(super) const MAP_ANONYMOUS: u64 = 0x20;
const MAP_TYPE: u64 = 0x0f;
const MAP_PRIVATE: u64 = 0x02;
const MAP_HUGETLB: u64 = 0x40000;

/// The most bytes of a file copied into a guest's mapping.
pub(super) const MAX_COPY: u64 = 64 << 20;

const PAGE: u64 = 4096;
/// `struct stat` (x86-64): its size, and where `st_mode` and `st_size` are.
const STAT_LEN: usize = 144;
const STAT_MODE: usize = 24;
const STAT_SIZE: usize = 48;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

const EBADF: i64 = -9;
const ENOMEM: i64 = -12;
const EACCES: i64 = -13;
const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const EOVERFLOW: i64 = -75;

/// Whether a guest's `mmap` with `flags` is one [`Mover::map_home_file`]
/// makes where the guest runs (private, not huge pages); other file
/// mappings bring it home.
pub(super) fn copies(flags: u64) -> bool {
    flags & MAP_TYPE == MAP_PRIVATE && flags & MAP_HUGETLB == 0
}

impl Mover {
    /// Call `nr` with `args` made at home for a guest's `mmap` (restarted
    /// as that `mmap` if a signal interrupts it there): its result, or
    /// None if it left the registers to the caller's return (failed to
    /// reach home, or restarting).
    fn for_mmap(self: &Arc<Self>, nr: i64, args: [u64; 6]) -> Option<i64> {
        let Ok((plans, largs)) = fwd::plan(&syscalls::lookup(nr as u64), &args) else {
            uctx::with_pt_regs(|r| r.ax = EINVAL as u64 as _);
            return None;
        };
        self.forward_call(nr, NR_MMAP, args, plans, largs)
    }

    /// In the guest's task_work: `mmap(addr, len, prot, flags, fd, off)`
    /// of a home file with `MAP_PRIVATE` (see the top of the file).
    pub(super) fn map_home_file(self: &Arc<Self>, args: [u64; 6]) {
        let set = |v: i64| uctx::with_pt_regs(|r| r.ax = v as u64 as _);
        let [addr, len, prot, flags, fd, off] = args;
        // What mmap checks before it looks at the file.
        if len == 0 || off & (PAGE - 1) != 0 || prot & !7 != 0 {
            return set(EINVAL);
        }
        let Some(plen) = len.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1)) else { return set(ENOMEM) };
        if off.checked_add(plen).is_none_or(|e| e > i64::MAX as u64) {
            return set(EOVERFLOW);
        }
        let Some(call_buf) = self.call_buffer(uctx::ids().1) else { return set(ENOMEM) };
        let scratch = call_buf.addr;
        // The file: a regular one, and how much of it the mapping shows.
        match self.for_mmap(NR_FSTAT, [fd, scratch, 0, 0, 0, 0]) {
            Some(0) => {}
            _ => return,
        }
        let mut st = [0u8; STAT_LEN];
        if umem::read(scratch, &mut st).is_err() {
            return set(EFAULT);
        }
        let mode = crate::bytes::u64_at(&st, STAT_MODE) as u32;
        let size = crate::bytes::u64_at(&st, STAT_SIZE);
        let want = size.saturating_sub(off).min(plen);
        if mode & S_IFMT != S_IFREG || want > MAX_COPY {
            // Unmapped first: a move home would carry it along.
            drop(call_buf);
            return self.go_home_for(NR_MMAP);
        }
        let at = match umem::map_private_anon(addr, plen, prot as u32, flags as u32) {
            Ok(a) => a,
            Err(e) => return set(e),
        };
        let undo = |e: Option<i64>| {
            let _ = umem::unmap(at, plen);
            if let Some(e) = e {
                set(e);
            }
        };
        let chunk = restore::SCRATCH_LEN.min(fwd::MAX_BUF) as u64;
        let Ok(mut buf) = crate::sys::bytes::zeroed_kvv(chunk as usize, GFP_KERNEL) else { return undo(Some(ENOMEM)) };
        let mut done = 0u64;
        while done < want {
            let n = chunk.min(want - done);
            let got = match self.for_mmap(NR_PREAD64, [fd, scratch, n, off + done, 0, 0]) {
                // Not open for reading: mmap says EACCES.
                Some(EBADF) => return undo(Some(EACCES)),
                Some(r) if r < 0 => return undo(Some(r)),
                // The file shrank meanwhile: the rest reads as zeros.
                Some(0) => break,
                Some(r) => (r as u64).min(n) as usize,
                None => return undo(None),
            };
            if umem::read(scratch, &mut buf[..got]).is_err() || !umem::write_forced(at + done, &buf[..got]) {
                return undo(Some(EFAULT));
            }
            done += got as u64;
        }
        set(at as i64);
    }
}
