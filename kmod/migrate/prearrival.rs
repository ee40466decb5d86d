// SPDX-License-Identifier: GPL-2.0

//! The destination's side of a pre-copy (`precopy.rs`): the areas as
//! they were when the migration began (`PreVmas`) are mapped into the
//! target and filled by the rounds (`PrePages`); `Final` brings the
//! stopped process's state in place of its `Begin`'s; the final list of
//! areas then keeps each area marked `VMA_KEEP` as the rounds built it,
//! maps the others afresh, and unmaps what the process no longer has.
//!
//! Calls `incoming.rs`'s target and `fileareas.rs`.

use super::fileareas::{in_taken, map_taken};
use super::incoming::{Arrival, Incoming};
use super::{has_pages, Mover};
use crate::image::{self, BeginView, PageBatchHeader, Vma, VmasView};
use crate::sys::umem;
use kernel::prelude::*;

impl Mover {
    /// `PreVmas`: maps the run of areas into the target, each from its
    /// file if the offer for it was taken.
    #[inline(never)]
    pub(super) fn pre_vmas(&self, inc: &Incoming, v: &VmasView<'_>) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        st.progress.pre_vmas(v).map_err(|_| EINVAL)?;
        let first = st.pre_vmas.len();
        for i in 0..v.len() {
            let a = v.get(i).ok_or(EINVAL)?;
            st.pre_vmas.push(a, GFP_KERNEL)?;
            st.pre_kept.push(false, GFP_KERNEL)?;
        }
        let st = &mut *st;
        let list = &st.pre_vmas[first..];
        let taken = &mut st.files;
        mm.borrow(|| -> Result {
            for (i, a) in list.iter().enumerate() {
                if a.flags & (image::VMA_VDSO | image::VMA_VVAR) != 0 {
                    continue;
                }
                if map_taken(taken, (first + i) as u32, a)? {
                    continue;
                }
                let prot = if has_pages(a) { a.prot | image::PROT_READ | image::PROT_WRITE } else { a.prot };
                umem::map_anon(a.start, a.end - a.start, prot, a.flags & image::VMA_GROWSDOWN != 0)?;
            }
            Ok(())
        })?
    }

    /// `PrePages`: a batch copied while the process ran, written over
    /// whatever an earlier round put there.
    #[inline(never)]
    pub(super) fn pre_pages(&self, inc: &Incoming, h: &PageBatchHeader, data: &[u8]) -> Result {
        let (mm, _) = Self::target_mm(inc)?;
        let mut st = inc.state.lock();
        if !image::batch_in_vmas(h, &st.pre_vmas) || data.len() != h.data_len() || in_taken(&st.files, h.first_addr, data.len() as u64) {
            return Err(EINVAL);
        }
        st.progress.pre_pages(h).map_err(|_| EINVAL)?;
        drop(st);
        mm.borrow(|| umem::write(h.first_addr, data))?
    }

    /// `Final`: the stopped process's header, registers, layout, signal
    /// state and xstate replace its `Begin`'s (same process, user and
    /// token).
    #[inline(never)]
    pub(super) fn final_state(&self, inc: &Incoming, b: &BeginView<'_>) -> Result {
        if !b.regs.user_mode_ok() {
            pr_warn!("migration {} from node {}: registers not of a user process: refused\n", inc.id, inc.from);
            return Err(EINVAL);
        }
        let mut st = inc.state.lock();
        let first = *st.header;
        st.progress.finish_precopy(&b.header, &first).map_err(|_| EINVAL)?;
        *st.header = b.header;
        st.regs = b.regs;
        st.mm = b.mm;
        b.sig_state_into(&mut st.sig);
        let mut x = KVec::new();
        crate::sys::bytes::extend(&mut x, b.xstate, GFP_KERNEL)?;
        st.xstate = x;
        Ok(())
    }
}

/// Final area `a` (index `index`) of a pre-copied arrival, with the
/// target's mm borrowed: `Ok(true)` if it is kept as the rounds built it
/// (`VMA_KEEP`, which must name an unchanged pre-copy area), `Ok(false)`
/// if it must be mapped afresh.
pub(super) fn keep_area(st: &mut Arrival, a: &Vma) -> Result<bool> {
    if a.flags & image::VMA_KEEP == 0 {
        return Ok(false);
    }
    let Some(j) = st.pre_vmas.iter().position(|p| p.same_area(a)) else { return Err(EINVAL) };
    match st.pre_kept.get_mut(j) {
        Some(k) if !*k => *k = true,
        _ => return Err(EINVAL),
    }
    Ok(true)
}

/// Once every final area is in place (target's mm borrowed): unmaps what
/// the rounds mapped that no final area covers, and forgets file areas
/// that were not kept (mapped over or gone).
pub(super) fn drop_stale(st: &mut Arrival) -> Result {
    for (j, p) in st.pre_vmas.iter().enumerate() {
        if st.pre_kept.get(j).copied().unwrap_or(true) || p.flags & image::VMA_NO_PAGES != 0 {
            continue;
        }
        let mut cur = p.start;
        for a in st.vmas.iter().filter(|a| a.start < p.end && a.end > p.start) {
            if a.start > cur {
                umem::unmap(cur, a.start - cur)?;
            }
            cur = cur.max(a.end);
        }
        if cur < p.end {
            umem::unmap(cur, p.end - cur)?;
        }
        for t in st.files.iter_mut().filter(|t| t.vma == j as u32) {
            t.start = 0;
            t.end = 0;
        }
    }
    Ok(())
}
