// SPDX-License-Identifier: GPL-2.0

//! The page path of a migration going out: read an area's pages from the
//! current process's memory, leave out the pages not wanted (and zero
//! pages where the destination already reads zero), and send the rest
//! in batches of runs, as `Pages` (the image proper, counted and
//! checksummed) or `PrePages` (pre-copy rounds while the process runs).
//!
//! Owns [`PageSender`], [`Want`] and [`Bits`]; calls `sys::umem` and the
//! engine's send helper. Used by `outgoing.rs` and `precopy.rs`.

use super::{is_zero, Mover, PAGE};
use crate::abi::refusal;
use crate::image::{self, MsgKind, PageBatchHeader, Vma};
use crate::sys::{time, uctx, umem};
use kernel::prelude::*;

/// What becomes of one page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Not sent (the destination has it already, or maps it itself).
    No,
    /// Sent unless it is zero (the destination's copy reads zero).
    IfNonZero,
    /// Sent whatever it holds (the destination's copy may be stale).
    Always,
}

/// One bit per page of an area.
pub(super) struct Bits(KVec<u64>);

impl Bits {
    /// `pages` bits, all clear.
    pub(super) fn new(pages: u64) -> Result<Bits> {
        let words = pages.div_ceil(64) as usize;
        let mut v = KVec::with_capacity(words, GFP_KERNEL)?;
        for _ in 0..words {
            v.push(0, GFP_KERNEL)?;
        }
        Ok(Bits(v))
    }

    pub(super) fn get(&self, i: u64) -> bool {
        self.0.get((i / 64) as usize).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(super) fn set(&mut self, i: u64, on: bool) {
        if let Some(w) = self.0.get_mut((i / 64) as usize) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

/// Sends pages of migration `id` to `dest` as messages of kind `kind`.
pub(super) struct PageSender<'a> {
    pub(super) mover: &'a Mover,
    pub(super) dest: u32,
    pub(super) id: u32,
    pub(super) kind: MsgKind,
    /// A message buffer of at least `batch_len(MAX_BATCH_PAGES)` bytes.
    pub(super) buf: &'a mut [u8],
    data: KVVec<u8>,
    /// The checksum and count of every batch sent.
    pub(super) sum: image::Checksum,
    pub(super) pages: u64,
}

impl<'a> PageSender<'a> {
    pub(super) fn new(mover: &'a Mover, dest: u32, id: u32, kind: MsgKind, buf: &'a mut [u8]) -> core::result::Result<Self, u32> {
        let data = crate::sys::bytes::zeroed_kvv(image::MAX_BATCH_PAGES as usize * image::PAGE_SIZE, GFP_KERNEL).map_err(|_| refusal::CAPTURE)?;
        Ok(PageSender { mover, dest, id, kind, buf, data, sum: image::Checksum::new(), pages: 0 })
    }

    /// Sends the wanted pages of area `v` from page index `from`, until
    /// its end or until `until_ns` (0: no limit) has passed at a batch's
    /// end. `sent`, if given, says which pages the destination holds
    /// non-zero (such a page goes even as zeros) and is kept up to date. Returns the index it stopped at (the area's page
    /// count when done).
    pub(super) fn area(
        &mut self,
        v: &Vma,
        from: u64,
        want: &mut dyn FnMut(u64) -> Want,
        mut sent: Option<&mut Bits>,
        until_ns: u64,
    ) -> core::result::Result<u64, u32> {
        let total = v.pages();
        let mut idx = from;
        while idx < total {
            if uctx::fatal_signal_pending() {
                return Err(refusal::GONE);
            }
            if until_ns != 0 && time::now_ns() > until_ns {
                return Ok(idx);
            }
            let n = (total - idx).min(image::MAX_BATCH_PAGES as u64) as usize;
            let mut wants = [Want::No; image::MAX_BATCH_PAGES as usize];
            for (k, w) in wants.iter_mut().take(n).enumerate() {
                let p = idx + k as u64;
                *w = match want(p) {
                    Want::IfNonZero if sent.as_deref().is_some_and(|b| b.get(p)) => Want::Always,
                    x => x,
                };
            }
            if wants[..n].iter().all(|w| *w == Want::No) {
                idx += n as u64;
                continue;
            }
            let addr = v.start + idx * PAGE;
            let chunk = &mut self.data[..n * image::PAGE_SIZE];
            read_pages(addr, chunk);
            // Runs of pages to send become batches.
            let mut k = 0;
            while k < n {
                let go = |k: usize, chunk: &[u8]| match wants[k] {
                    Want::No => false,
                    Want::IfNonZero => !is_zero(&chunk[k * image::PAGE_SIZE..(k + 1) * image::PAGE_SIZE]),
                    Want::Always => true,
                };
                if !go(k, chunk) {
                    k += 1;
                    continue;
                }
                let s = k;
                while k < n && go(k, chunk) {
                    k += 1;
                }
                let h = PageBatchHeader { first_addr: addr + s as u64 * PAGE, count: (k - s) as u32 };
                let body = &chunk[s * image::PAGE_SIZE..k * image::PAGE_SIZE];
                let len = image::encode_batch(&h, body, self.buf).map_err(|_| refusal::CAPTURE)?;
                if self.kind != MsgKind::Pages {
                    image::retag(&mut self.buf[..len], MsgKind::Pages, self.kind).map_err(|_| refusal::CAPTURE)?;
                }
                self.mover.send_image_msg(self.dest, self.id, &self.buf[..len]).map_err(|_| refusal::LINK)?;
                self.sum.add_batch(&h, body);
                self.pages += h.count as u64;
                if let Some(bits) = sent.as_deref_mut() {
                    for j in s..k {
                        let zero = is_zero(&chunk[j * image::PAGE_SIZE..(j + 1) * image::PAGE_SIZE]);
                        bits.set(idx + j as u64, !zero);
                    }
                }
            }
            idx += n as u64;
        }
        Ok(total)
    }
}

/// Reads pages at `addr` into `chunk` as the process reads them; a page
/// that cannot be read so (not readable: PROT_NONE, write- or exec-only;
/// or a file mapping past the end of its file) is read page by page,
/// forcing the protection, and what is not there is zero.
fn read_pages(addr: u64, chunk: &mut [u8]) {
    if umem::read(addr, chunk).is_ok() {
        return;
    }
    for (k, pg) in chunk.chunks_mut(image::PAGE_SIZE).enumerate() {
        let at = addr + k as u64 * PAGE;
        if umem::read(at, pg).is_err() {
            let got = umem::read_forced(at, pg);
            pg[got..].fill(0);
        }
    }
}
